//! Sampler benchmarks, with the names and parameters of the benchmark issue.

use ebm::burn::tensor::{Distribution, Tensor};
use ebm::ebm_sample::{HmcConfig, LangevinConfig, RunConfig, Sampler};
use ebm::prelude::*;
use serde_json::json;

use crate::Options;
use crate::record::{Record, print_row, throughput};

/// A Langevin benchmark: name, energy, batch, dimension, steps, extra parameters.
type LangevinCase<'a, B> = (
    &'static str,
    &'a dyn Energy<B>,
    usize,
    usize,
    usize,
    serde_json::Value,
);

/// Runs the Langevin and HMC benchmarks whose names contain the filter.
pub fn run<B: EbmBackend>(
    options: &Options,
    device: &ebm::burn::tensor::Device<Inner<B>>,
) -> Vec<Record>
where
    Gaussian: Energy<B>,
    DoubleWell: Energy<B>,
{
    let repeats = if options.quick { 3 } else { 5 };
    // --quick shrinks the step counts tenfold so CI can smoke-test the suite.
    let steps = |n: usize| if options.quick { (n / 10).max(1) } else { n };
    let mut records = Vec::new();

    let mlp_small = MlpConfig::new(2, vec![128, 128])
        .init::<B>(device)
        .expect("valid MLP");
    let mlp_wide = MlpConfig::new(64, vec![256, 256])
        .init::<B>(device)
        .expect("valid MLP");
    let gaussian = Gaussian::standard(2).expect("valid");
    let double_well = DoubleWell::new(2.0, 1.0).expect("valid");
    let langevin_cases: Vec<LangevinCase<'_, B>> = vec![
        (
            "langevin_mlp_small",
            &mlp_small,
            1024,
            2,
            steps(100),
            json!({"energy": "mlp 2-128-128-1 silu"}),
        ),
        (
            "langevin_mlp_wide",
            &mlp_wide,
            4096,
            64,
            steps(50),
            json!({"energy": "mlp 64-256-256-1 silu"}),
        ),
        (
            "langevin_gaussian",
            &gaussian,
            10_000,
            2,
            steps(1000),
            json!({"energy": "gaussian d=2, mean 0, identity"}),
        ),
        (
            "langevin_doublewell",
            &double_well,
            10_000,
            2,
            steps(1000),
            json!({"energy": "doublewell h=2 b=1 d=2"}),
        ),
    ];
    for (name, energy, batch, dim, n_steps, mut params) in langevin_cases {
        if !options.selected(name) {
            continue;
        }
        let sampler = LangevinConfig::new().step_size(0.01).init().expect("valid");
        let run = RunConfig::new(n_steps).with_check_every(n_steps);
        let init =
            Tensor::<Inner<B>, 2>::random([batch, dim], Distribution::Normal(0.0, 1.0), device);
        let times = crate::record::time_runs(repeats, || {
            let out =
                Sampler::<B>::sample(&sampler, energy, init.clone(), &run).expect("sampling runs");
            let _ = out.final_state.into_data();
        });
        params["batch"] = json!(batch);
        params["steps"] = json!(n_steps);
        params["step_size"] = json!(0.01);
        params["noise_scale"] = json!(1.0);
        let record = throughput(
            name,
            &options.backend,
            "grad_evals_per_s",
            (batch * n_steps) as f64,
            &times,
            params,
        );
        print_row(&record, "grad evals/s");
        records.push(record);
    }

    if options.selected("hmc_gaussian") {
        let energy = Gaussian::standard(10).expect("valid");
        let (batch, n_steps) = (1000, steps(100));
        let hmc = HmcConfig::new()
            .step_size(0.1)
            .with_n_leapfrog(10)
            .init()
            .expect("valid");
        let run = RunConfig::new(n_steps).with_check_every(n_steps);
        let init =
            Tensor::<Inner<B>, 2>::random([batch, 10], Distribution::Normal(0.0, 1.0), device);
        let times = crate::record::time_runs(repeats, || {
            let out =
                Sampler::<B>::sample(&hmc, &energy, init.clone(), &run).expect("sampling runs");
            let _ = out.final_state.into_data();
        });
        let params = json!({"energy": "gaussian d=10", "batch": batch, "steps": n_steps, "n_leapfrog": 10, "step_size": 0.1});
        let record = throughput(
            "hmc_gaussian",
            &options.backend,
            "chain_steps_per_s",
            (batch * n_steps) as f64,
            &times,
            params,
        );
        print_row(&record, "chain steps/s");
        records.push(record);
    }
    records
}
