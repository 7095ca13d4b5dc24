//! Equilibrium Matching on the checkerboard: a time-invariant gradient field trained to point
//! from data towards noise, sampled by Nesterov descent along it from N(0, I). Writes the field's
//! magnitude with the samples, the data for comparison, and the training loss.
//!
//! `cargo run --release -p ebm-examples --example equilibrium_matching -- [--quick] [--backend B] [--out DIR]`

#[path = "common/mod.rs"]
mod common;

use std::time::Instant;

use common::{Args, pairs, rows};
use ebm::burn::module::AutodiffModule;
use ebm::burn::optim::AdamConfig;
use ebm::burn::tensor::{Tensor, TensorData};
use ebm::ebm_core::neural::{ConditionedMlp, ConditionedMlpConfig, FieldModel};
use ebm::ebm_data::synthetic::CheckerboardConfig;
use ebm::ebm_eval::mmd_squared;
use ebm::ebm_plot::{LandscapeOptions, Series, plot_curves, plot_landscape};
use ebm::ebm_sample::FieldDescentConfig;
use ebm::ebm_train::EquilibriumMatchingConfig;
use ebm::prelude::*;

const RANGE: f64 = 3.0;

/// `‖f(x, 0)‖` on a square grid: the field vanishes where descent stops, on the data.
fn field_magnitude<Bk: CpuKernels>(field: &ConditionedMlp<Bk>, resolution: usize) -> EnergyGrid {
    let device = Default::default();
    let axis: Vec<f64> = (0..resolution)
        .map(|i| -RANGE + 2.0 * RANGE * i as f64 / (resolution - 1) as f64)
        .collect();
    let points: Vec<f32> = axis
        .iter()
        .flat_map(|&y| axis.iter().flat_map(move |&x| [x as f32, y as f32]))
        .collect();
    let n = resolution * resolution;
    let x = Tensor::<Bk, 2>::from_data(TensorData::new(points, [n, 2]), &device);
    let f = field.field(x, Tensor::zeros([n], &device), None);
    let norms = f.square().sum_dim(1).sqrt().into_data().convert::<f64>();
    EnergyGrid {
        xs: axis.clone(),
        ys: axis,
        energies: norms.to_vec::<f64>().expect("converted"),
    }
}

fn run<B: EbmBackend>(args: &Args) {
    let started = Instant::now();
    let device = Default::default();
    // Cells of side ½ in [−2, 2]², about the noise's scale.
    let board = CheckerboardConfig::new()
        .with_range_limit(2.0)
        .with_n_samples(if args.quick { 512 } else { 8000 });
    let data = board.clone().with_seed(1).generate().expect("valid");
    let held = rows(
        board
            .with_seed(2)
            .generate()
            .expect("valid")
            .to_tensor::<Inner<B>>(&device),
    );
    let hidden = if args.quick {
        vec![32, 32]
    } else {
        vec![256, 256, 256]
    };
    let field = ConditionedMlpConfig::new(2, hidden)
        .with_time(false)
        .with_seed(model_seed(7))
        .init::<B>(&device)
        .expect("valid");
    let objective = EquilibriumMatchingConfig::new().init().expect("valid");
    let epochs = if args.quick { 2 } else { 200 };
    let config = TrainerConfig::new(epochs)
        .with_batch_size(256)
        .with_learning_rate(ebm::ebm_core::schedule::Schedule::cosine(
            2e-3,
            1e-4,
            epochs * 32,
        ))
        .with_log_every(20)
        .with_seed(7);
    let mut trainer =
        Trainer::new(field, AdamConfig::new().init(), objective, config).expect("valid trainer");
    let history = trainer
        .fit(&data.to_tensor::<B>(&device))
        .expect("training runs")
        .to_vec();
    let field = trainer.model().valid();
    let trained = started.elapsed().as_secs_f64();

    // Descent to convergence collapses onto the field's zeros; EqM stops after a budget of
    // steps. The example reports the sample quality for several budgets.
    let n = held.len().min(2000);
    let mut noise = ebm::ebm_sample::noise::Noise::new(data_seed(7));
    let x0 = noise.normal([n, 2], &Tensor::<Inner<B>, 2>::zeros([1, 2], &device));
    let budgets: &[usize] = if args.quick {
        &[5]
    } else {
        &[10, 15, 20, 30, 40, 80]
    };
    let mut best: Option<(f64, usize, Vec<Vec<f64>>)> = None;
    for &steps in budgets {
        let descent = FieldDescentConfig::new()
            .with_step_size(0.01)
            .with_momentum(0.35)
            .with_steps(steps)
            .init()
            .expect("valid");
        let samples = rows(
            descent
                .descend(&field, x0.clone(), None)
                .expect("finite samples"),
        );
        let mmd = mmd_squared(&samples, &held[..n], None)
            .expect("2-D points")
            .mmd2;
        println!("  {steps:>4} descent steps: MMD² to held-out data {mmd:.4}");
        if best.as_ref().is_none_or(|(m, _, _)| mmd < *m) {
            best = Some((mmd, steps, samples));
        }
    }
    let (mmd, steps, samples) = best.expect("at least one budget");

    let resolution = if args.quick { 60 } else { 240 };
    let grid = field_magnitude(&field, resolution);
    let landscape = |name: &str, title: &str, points: &[Vec<f64>]| {
        let options = LandscapeOptions {
            title: title.into(),
            log_scale: false,
            ..Default::default()
        };
        plot_landscape(
            args.out.join(name),
            &grid,
            &options,
            Some(&pairs(points)),
            None,
        )
        .expect("plot");
    };
    let title = format!("EqM: |f(x)| and samples after {steps} Nesterov steps");
    landscape("samples.png", &title, &samples);
    landscape("data.png", "EqM: |f(x)| and held-out data", &held[..n]);
    let losses = Series {
        name: "loss".into(),
        points: history.iter().map(|s| (s.step as f64, s.loss)).collect(),
    };
    plot_curves(
        args.out.join("loss.png"),
        "EqM training loss",
        "step",
        &[losses],
        (800, 500),
    )
    .expect("plot");
    println!(
        "equilibrium matching on the checkerboard: {epochs} epochs in {trained:.1} s, \
         best MMD² {mmd:.4} after {steps} descent steps; pictures in {}",
        args.out.display()
    );
}

fn main() {
    let args = Args::parse("out/equilibrium_matching");
    ebm::with_backend!(args.backend.as_str(), B => run::<B>(&args))
        .unwrap_or_else(common::unknown_backend);
}
