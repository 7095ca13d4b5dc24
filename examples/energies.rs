//! Evaluates every analytic energy, its gradient and score at a few points, and runs the energy
//! checker on each: `cargo run --release -p ebm-examples --example energies -- [--backend B]`.

#[path = "common/mod.rs"]
mod common;

use ebm::burn::tensor::Tensor;
use ebm::burn::tensor::backend::AutodiffBackend;
use ebm::prelude::*;

fn show<B: AutodiffBackend>(
    name: &str,
    energy: &dyn Energy<B>,
    points: &[[f32; 2]],
) -> Result<(), EnergyError> {
    let device = Default::default();
    let flat: Vec<f32> = points.iter().flatten().copied().collect();
    let x = Tensor::<Inner<B>, 1>::from_floats(flat.as_slice(), &device).reshape([points.len(), 2]);
    let report = check_energy::<B, _>(energy, x.clone(), &CheckConfig::default())?;
    let (e, g) = energy.energy_and_grad(x);
    let e = e.into_data().to_vec::<f32>().expect("f32");
    let g = g.into_data().to_vec::<f32>().expect("f32");
    println!(
        "{name}  (checker: {}, max |∇E − autodiff| = {:.1e})",
        if report.is_healthy() {
            "healthy"
        } else {
            "issues"
        },
        report.max_gradient_error
    );
    // Adding 0.0 turns −0.0 into 0.0 for display.
    let (g, s): (Vec<f32>, Vec<f32>) = g.iter().map(|v| (v + 0.0, 0.0 - v)).unzip();
    for (i, p) in points.iter().enumerate() {
        println!(
            "    x = ({:>6.2}, {:>6.2})   E = {:>12.5}   ∇E = ({:>11.4}, {:>11.4})   score = ({:>11.4}, {:>11.4})",
            p[0],
            p[1],
            e[i],
            g[2 * i],
            g[2 * i + 1],
            s[2 * i],
            s[2 * i + 1]
        );
    }
    Ok(())
}

fn run<B: AutodiffBackend>() -> Result<(), EnergyError> {
    let points = [[0.0, 0.0], [1.0, -1.0], [0.5, 2.0], [-2.0, 3.0]];
    let gaussian = Gaussian::new(vec![1.0, -1.0], vec![vec![1.0, 0.5], vec![0.5, 2.0]])?;
    let energies: Vec<(&str, Box<dyn Energy<B>>)> = vec![
        ("Gaussian μ=(1,−1), Σ=[[1,.5],[.5,2]]", Box::new(gaussian)),
        ("DoubleWell h=2, b=1", Box::new(DoubleWell::default())),
        ("Harmonic k=1", Box::new(Harmonic::new(1.0)?)),
        ("Rosenbrock a=1, b=100", Box::new(Rosenbrock::standard(2)?)),
        ("Ackley", Box::new(Ackley::default())),
        ("Rastrigin a=10", Box::new(Rastrigin::default())),
        ("Himmelblau", Box::new(Himmelblau)),
        ("Booth", Box::new(Booth)),
        ("Styblinski–Tang", Box::new(StyblinskiTang)),
    ];
    for (name, energy) in &energies {
        show::<B>(name, energy.as_ref(), &points)?;
    }
    Ok(())
}

fn main() -> Result<(), EnergyError> {
    let args = common::Args::parse("out/energies");
    with_backend!(args, B => run::<B>())
}
