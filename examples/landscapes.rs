//! Plots every analytic energy as a landscape PNG.
//!
//! `cargo run --release -p ebm-examples --example landscapes -- [--quick] [--backend B] [--out DIR]`

#[path = "common/mod.rs"]
mod common;

use common::Args;
use ebm::burn::backend::Autodiff;
use ebm::ebm_plot::{LandscapeOptions, plot_landscape};
use ebm::prelude::*;

/// An energy to plot: file name, energy, and the square `[lo, hi]²` to show.
type Plot<IB> = (&'static str, Box<dyn Energy<Autodiff<IB>>>, f64, f64);

/// Generic over the inner backend `IB`: the analytic energies are energies on `Autodiff<IB>`.
fn run<IB: CpuKernels>(args: &Args) {
    let device = Default::default();
    let resolution = if args.quick { 60 } else { 300 };
    let gaussian =
        Gaussian::new(vec![1.0, -1.0], vec![vec![1.0, 0.5], vec![0.5, 2.0]]).expect("valid");
    let energies: Vec<Plot<IB>> = vec![
        ("gaussian", Box::new(gaussian), -4.0, 4.0),
        ("double_well", Box::new(DoubleWell::default()), -2.0, 2.0),
        (
            "harmonic",
            Box::new(Harmonic::new(1.0).expect("valid")),
            -3.0,
            3.0,
        ),
        (
            "rosenbrock",
            Box::new(Rosenbrock::standard(2).expect("valid")),
            -2.0,
            2.5,
        ),
        ("ackley", Box::new(Ackley::default()), -4.0, 4.0),
        ("rastrigin", Box::new(Rastrigin::default()), -4.0, 4.0),
        ("himmelblau", Box::new(Himmelblau), -5.0, 5.0),
        ("booth", Box::new(Booth), -4.0, 6.0),
        ("styblinski_tang", Box::new(StyblinskiTang), -5.0, 5.0),
    ];
    for (name, energy, lo, hi) in &energies {
        let grid = energy_grid(
            energy.as_ref(),
            (*lo, *hi),
            (*lo, *hi),
            [resolution, resolution],
            &device,
        )
        .expect("2-D energy");
        let path = args.out.join(format!("{name}.png"));
        plot_landscape(
            &path,
            &grid,
            &LandscapeOptions {
                title: name.replace('_', " "),
                ..Default::default()
            },
            None,
            None,
        )
        .expect("plot");
        println!("wrote {}", path.display());
    }
}

fn main() {
    let args = Args::parse("out/landscapes");
    ebm::with_backend!(args.backend.as_str(), B => run::<Inner<B>>(&args))
        .unwrap_or_else(common::unknown_backend);
}
