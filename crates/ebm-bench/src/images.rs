//! Image-scale benchmarks: the seeds' CNN (3×3 convs 32-32/2-64-64/2-128-128/2, SELU, head
//! 2048→128→1) on 1×28×28 images, batch 64.

use ebm::burn::tensor::{Distribution, Tensor};
use ebm::ebm_sample::{LangevinConfig, RunConfig, Sampler};
use ebm::ebm_train::{ContrastiveDivergenceConfig, DenoisingScoreMatchingConfig};
use ebm::prelude::*;
use serde_json::json;

use crate::Options;
use crate::record::{Record, print_row, throughput, time_runs};
use crate::training::time_steps;

const BATCH: usize = 64;
const PIXELS: usize = 28 * 28;

fn model<B: EbmBackend>(device: &ebm::burn::tensor::Device<B>) -> Cnn<B> {
    CnnConfig::new(1, 28, 28)
        .init::<B>(device)
        .expect("valid CNN")
}

fn params(extra: serde_json::Value) -> serde_json::Value {
    let mut p = json!({"model": "seeds' cnn 1x28x28 selu", "batch": BATCH});
    p.as_object_mut()
        .expect("object")
        .extend(extra.as_object().expect("object").clone());
    p
}

/// Runs the CNN benchmarks whose names contain the filter.
pub fn run<B: EbmBackend>(
    options: &Options,
    device: &ebm::burn::tensor::Device<Inner<B>>,
) -> Vec<Record> {
    let repeats = if options.quick { 2 } else { 5 };
    let mut records = Vec::new();
    let mut push = |record: Record, unit: &str| {
        print_row(&record, unit);
        records.push(record);
    };
    let cnn = model::<B>(device);
    let x = Tensor::<Inner<B>, 2>::random([BATCH, PIXELS], Distribution::Normal(0.0, 1.0), device);

    if options.selected("cnn_energy_grad") {
        let evals = if options.quick { 1 } else { 5 };
        let times = time_runs(repeats, || {
            let mut acc = x.clone();
            for _ in 0..evals {
                let (_, g) = cnn.energy_and_grad(acc.clone());
                acc = acc - g.mul_scalar(1e-6);
            }
            let _ = acc.into_data();
        });
        push(
            throughput(
                "cnn_energy_grad",
                &options.backend,
                "grad_evals_per_s",
                (BATCH * evals) as f64,
                &times,
                params(json!({"evaluations": evals})),
            ),
            "grad evals/s",
        );
    }

    if options.selected("cnn_langevin") {
        let n_steps = if options.quick { 2 } else { 20 };
        let sampler = LangevinConfig::new().step_size(0.01).init().expect("valid");
        let run = RunConfig::new(n_steps).with_check_every(n_steps);
        let times = time_runs(repeats, || {
            let out = Sampler::<B>::sample(&sampler, &cnn, x.clone(), &run).expect("sampling runs");
            let _ = out.final_state.into_data();
        });
        push(
            throughput(
                "cnn_langevin",
                &options.backend,
                "grad_evals_per_s",
                (BATCH * n_steps) as f64,
                &times,
                params(json!({"steps": n_steps, "step_size": 0.01, "noise_scale": 1.0})),
            ),
            "grad evals/s",
        );
    }

    let steps = if options.quick { 1 } else { 4 };
    let data = Tensor::<Inner<B>, 2>::random(
        [BATCH * steps, PIXELS],
        Distribution::Uniform(0.0, 1.0),
        device,
    );
    if options.selected("cnn_cd_step") {
        let langevin = LangevinConfig::new().step_size(0.01).init().expect("valid");
        let cd = ContrastiveDivergenceConfig::new()
            .with_k(10)
            .init(langevin)
            .expect("valid");
        push(
            time_steps::<B, _, _>(
                "cnn_cd_step",
                options,
                &cnn,
                cd,
                &data,
                BATCH,
                params(json!({"k": 10, "sampler": "langevin 0.01", "optimizer": "adam"})),
            ),
            "s/step",
        );
    }
    if options.selected("cnn_dsm_step") {
        let dsm = DenoisingScoreMatchingConfig::new().init().expect("valid");
        push(
            time_steps::<B, _, _>(
                "cnn_dsm_step",
                options,
                &cnn,
                dsm,
                &data,
                BATCH,
                params(json!({"sigma": 0.1, "optimizer": "adam"})),
            ),
            "s/step",
        );
    }
    records
}
