//! The main job: train an MLP energy with persistent contrastive divergence on the seeds'
//! Gaussian mixture (5 components, std 0.1, radius 1.5, seed 42), write pictures of the learned
//! landscape, samples on it and the training curves, and print MMD, KSD and held-out NLL against
//! the true mixture.
//!
//! `cargo run --release -p ebm-examples --example quickstart -- [--quick] [--backend B] [--out DIR]`

#[path = "common/mod.rs"]
mod common;

use std::time::Instant;

use common::{Args, evaluate, mixture_energy, model_samples, pairs, rows, tensor};
use ebm::burn::optim::AdamConfig;
use ebm::ebm_data::synthetic::GaussianMixtureConfig;
use ebm::ebm_plot::{LandscapeOptions, Series, plot_curves, plot_landscape};
use ebm::prelude::*;

const RANGE: f64 = 3.0;

fn run<B: EbmBackend>(args: &Args)
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
    let train = mixture
        .clone()
        .with_seed(42)
        .generate()
        .expect("valid data");
    let held_out = mixture
        .clone()
        .with_seed(43)
        .generate()
        .expect("valid data");
    let data = train.to_tensor::<B>(&device);

    let model = MlpConfig::new(2, vec![64, 64])
        .with_activation(Activation::Silu)
        .with_seed(1)
        .init::<B>(&device)
        .expect("valid MLP");
    let sampler = LangevinConfig::new()
        .step_size(0.01)
        .init()
        .expect("valid sampler");
    let pcd = PersistentContrastiveDivergenceConfig::new()
        .with_k(20)
        .with_buffer_size(5000)
        .with_energy_reg_weight(0.1)
        .init::<B, _>(sampler)
        .expect("valid objective");
    let epochs = if args.quick { 10 } else { 250 };
    let config = TrainerConfig::new(epochs)
        .with_batch_size(128)
        .learning_rate(2e-3)
        .with_log_every(50)
        .with_seed(3);
    let total_steps = epochs * 1000usize.div_ceil(128);
    println!(
        "training an MLP 2-64-64-1 energy with PCD-20 for {epochs} epochs ({total_steps} steps) on {} points",
        train.points().len()
    );
    let mut trainer = Trainer::new(model, AdamConfig::new().init(), pcd, config)
        .expect("valid trainer")
        .with_callback(move |log| {
            if log.step % 250 == 0 {
                println!(
                    "  step {:>5}/{total_steps}  loss {:>8.4}  E(data) {:>8.3}  E(samples) {:>8.3}  |∇θ| {:.3}",
                    log.step,
                    log.loss,
                    log.metric("pos_energy").unwrap_or(f64::NAN),
                    log.metric("neg_energy").unwrap_or(f64::NAN),
                    log.grad_norm
                );
            }
        });
    trainer.fit(&data).expect("training runs");
    let trained_in = started.elapsed().as_secs_f64();
    let model = trainer.model();

    let sample_rows = model_samples::<B, _>(model, args.quick, &device);

    let grid = energy_grid::<B, _>(model, (-RANGE, RANGE), (-RANGE, RANGE), [200, 200], &device)
        .expect("2-D grid");
    let options = LandscapeOptions {
        title: "learned energy (PCD)".into(),
        ..Default::default()
    };
    let out = &args.out;
    plot_landscape(out.join("landscape.png"), &grid, &options, None, None).expect("plot");
    let options = LandscapeOptions {
        title: "model samples (MALA) on the learned energy".into(),
        ..options
    };
    plot_landscape(
        out.join("samples.png"),
        &grid,
        &options,
        Some(&pairs(&sample_rows)),
        None,
    )
    .expect("plot");
    let data_options = LandscapeOptions {
        title: "training data on the learned energy".into(),
        ..Default::default()
    };
    plot_landscape(
        out.join("data.png"),
        &grid,
        &data_options,
        Some(&pairs(&rows(data.clone()))),
        None,
    )
    .expect("plot");
    let history = trainer.history();
    let curve = |name: &str, f: &dyn Fn(&ebm::ebm_train::StepLog) -> f64| Series {
        name: name.into(),
        points: history.iter().map(|l| (l.step as f64, f(l))).collect(),
    };
    let curves = [
        curve("loss", &|l| l.loss),
        curve("E(data)", &|l| l.metric("pos_energy").unwrap_or(f64::NAN)),
        curve("E(samples)", &|l| {
            l.metric("neg_energy").unwrap_or(f64::NAN)
        }),
    ];
    plot_curves(
        out.join("loss.png"),
        "PCD training",
        "step",
        &curves,
        (900, 500),
    )
    .expect("plot");

    let truth = mixture_energy::<B>(&mixture);
    let held = rows(held_out.to_tensor::<Inner<B>>(&device));
    let report = evaluate::<B, _, _>(model, &truth, &sample_rows, &held, RANGE, &device);
    // The modes: local minima of the learned energy found by descending from a ring of starts.
    let gd = GradientDescentConfig::new()
        .step_size(0.01)
        .init()
        .expect("valid");
    let starts: Vec<Vec<f64>> = (0..40)
        .map(|i| {
            let a = std::f64::consts::TAU * i as f64 / 40.0;
            vec![1.5 * a.cos(), 1.5 * a.sin()]
        })
        .collect();
    let minima = rows(
        Sampler::<B>::sample(&gd, model, tensor(&starts, &device), &RunConfig::new(2000))
            .expect("descent")
            .final_state,
    );
    let mut modes: Vec<[f64; 2]> = vec![];
    for m in &minima {
        if modes.iter().all(|q| (q[0] - m[0]).hypot(q[1] - m[1]) > 0.3) {
            modes.push([m[0], m[1]]);
        }
    }
    println!(
        "done in {:.1} s (training {trained_in:.1} s); pictures in {}",
        started.elapsed().as_secs_f64(),
        out.display()
    );
    println!(
        "modes of the learned energy ({}): {}",
        modes.len(),
        modes
            .iter()
            .map(|m| format!("({:.2}, {:.2})", m[0], m[1]))
            .collect::<Vec<_>>()
            .join(" ")
    );
    report.print("quickstart");
}

fn main() {
    let args = Args::parse("out/quickstart");
    ebm::with_backend!(args.backend.as_str(), B => run::<B>(&args))
        .unwrap_or_else(common::unknown_backend);
}
