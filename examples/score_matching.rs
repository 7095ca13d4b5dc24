//! The quickstart's task (the seeds' 5-component Gaussian mixture) trained with denoising score
//! matching and with sliced score matching, compared by the same metrics.
//!
//! `cargo run --release -p ebm-examples --example score_matching -- [--quick] [--backend B] [--out DIR]`

#[path = "common/mod.rs"]
mod common;

use std::time::Instant;

use common::{Args, evaluate, mixture_energy, model_samples, pairs, rows};
use ebm::burn::optim::AdamConfig;
use ebm::ebm_data::synthetic::GaussianMixtureConfig;
use ebm::ebm_plot::{LandscapeOptions, plot_landscape};
use ebm::ebm_train::Objective;
use ebm::prelude::*;

const RANGE: f64 = 3.0;

fn train_and_report<B: EbmBackend, L: Objective<B, Mlp<B>>>(name: &str, objective: L, args: &Args)
where
    Gaussian: Energy<B>,
{
    let started = Instant::now();
    let device = Default::default();
    let mixture = GaussianMixtureConfig::new()
        .with_n_samples(1000)
        .with_n_components(5)
        .with_std(0.1)
        .with_radius(1.5);
    let data = mixture
        .clone()
        .with_seed(42)
        .generate()
        .expect("valid")
        .to_tensor::<B>(&device);
    let held = rows(
        mixture
            .clone()
            .with_seed(43)
            .generate()
            .expect("valid")
            .to_tensor::<Inner<B>>(&device),
    );
    let model = MlpConfig::new(2, vec![64, 64])
        .with_activation(Activation::Silu)
        .with_seed(1)
        .init::<B>(&device)
        .expect("valid");
    let epochs = if args.quick { 5 } else { 300 };
    let config = TrainerConfig::new(epochs)
        .with_batch_size(128)
        .learning_rate(2e-3)
        .with_log_every(100)
        .with_seed(3);
    let mut trainer =
        Trainer::new(model, AdamConfig::new().init(), objective, config).expect("valid trainer");
    trainer.fit(&data).expect("training runs");
    let model = trainer.model();
    let samples = model_samples::<B, _>(model, args.quick, &device);
    let grid = energy_grid::<B, _>(model, (-RANGE, RANGE), (-RANGE, RANGE), [200, 200], &device)
        .expect("grid");
    let options = LandscapeOptions {
        title: format!("{name}: learned energy and MALA samples"),
        ..Default::default()
    };
    plot_landscape(
        args.out.join(format!("{name}.png")),
        &grid,
        &options,
        Some(&pairs(&samples)),
        None,
    )
    .expect("plot");
    let truth = mixture_energy::<B>(&mixture);
    let report = evaluate::<B, _, _>(model, &truth, &samples, &held, RANGE, &device);
    report.print(&format!(
        "{name} ({:.1} s)",
        started.elapsed().as_secs_f64()
    ));
}

fn run<B: EbmBackend>(args: &Args)
where
    Gaussian: Energy<B>,
{
    let dsm = DenoisingScoreMatchingConfig::new()
        .sigma(0.05)
        .init()
        .expect("valid");
    train_and_report::<B, _>("dsm", dsm, args);
    let ssm = SlicedScoreMatchingConfig::new()
        .with_projections(4)
        .init()
        .expect("valid");
    train_and_report::<B, _>("ssm", ssm, args);
}

fn main() {
    let args = Args::parse("out/score_matching");
    ebm::with_backend!(args.backend.as_str(), B => run::<B>(&args))
        .unwrap_or_else(common::unknown_backend);
}
