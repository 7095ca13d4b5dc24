//! Evaluates every analytic energy, its gradient and score at a few points, runs the energy
//! checker on each, prints the table and writes it to `OUT/energies.csv`:
//! `cargo run --release -p ebm-examples --example energies -- [--quick] [--backend B] [--out DIR]`
//! (`--quick`: the first point only).

#[path = "common/mod.rs"]
mod common;

use std::fmt::Write as _;

use ebm::burn::backend::Autodiff;
use ebm::prelude::*;

/// An energy with its label, on the autodiff backend over `IB`.
type Named<IB> = (&'static str, Box<dyn Energy<Autodiff<IB>>>);

/// Prints one energy's rows and appends them to `csv`.
fn show<B: EbmBackend>(
    name: &str,
    energy: &dyn Energy<B>,
    points: &[[f32; 2]],
    csv: &mut String,
) -> Result<(), EnergyError> {
    let device = Default::default();
    let flat: Vec<f32> = points.iter().flatten().copied().collect();
    let x = Tensor::<Inner<B>, 1>::from_floats(flat.as_slice(), &device).reshape([points.len(), 2]);
    let report = check_energy(energy, x.clone(), &CheckConfig::default())?;
    let (e, g) = energy.energy_and_grad(x);
    let e = e.into_data().to_vec::<f32>().expect("f32");
    let g = g.into_data().to_vec::<f32>().expect("f32");
    let healthy = if report.is_healthy() {
        "healthy"
    } else {
        "issues"
    };
    println!(
        "{name}  (checker: {healthy}, max |∇E − autodiff| = {:.1e})",
        report.max_gradient_error
    );
    // Adding 0.0 turns −0.0 into 0.0 for display.
    let (g, s): (Vec<f32>, Vec<f32>) = g.iter().map(|v| (v + 0.0, 0.0 - v)).unzip();
    for (i, p) in points.iter().enumerate() {
        let (gx, gy, sx, sy) = (g[2 * i], g[2 * i + 1], s[2 * i], s[2 * i + 1]);
        println!(
            "    x = ({:>6.2}, {:>6.2})   E = {:>12.5}   ∇E = ({gx:>11.4}, {gy:>11.4})   score = ({sx:>11.4}, {sy:>11.4})",
            p[0], p[1], e[i]
        );
        writeln!(
            csv,
            "\"{name}\",{},{},{},{gx},{gy},{sx},{sy},{healthy}",
            p[0], p[1], e[i]
        )
        .expect("writing to a string");
    }
    Ok(())
}

/// Generic over the inner backend `IB`: the analytic energies are energies on `Autodiff<IB>`.
fn run<IB: CpuKernels>(args: &common::Args) -> Result<(), Box<dyn std::error::Error>> {
    let points = [[0.0, 0.0], [1.0, -1.0], [0.5, 2.0], [-2.0, 3.0]];
    let points = if args.quick {
        &points[..1]
    } else {
        &points[..]
    };
    let gaussian = Gaussian::new(vec![1.0, -1.0], vec![vec![1.0, 0.5], vec![0.5, 2.0]])?;
    let energies: Vec<Named<IB>> = vec![
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
    let mut csv = String::from("energy,x,y,E,dE_dx,dE_dy,score_x,score_y,checker\n");
    for (name, energy) in &energies {
        show(name, energy.as_ref(), points, &mut csv)?;
    }
    let path = args.out.join("energies.csv");
    std::fs::write(&path, csv)?;
    println!("wrote {}", path.display());
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = common::Args::parse("out/energies");
    ebm::with_backend!(args.backend.as_str(), B => run::<Inner<B>>(&args))
        .unwrap_or_else(common::unknown_backend)
}
