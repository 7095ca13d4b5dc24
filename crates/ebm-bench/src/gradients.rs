//! Input-gradient benchmarks: the closed-form (hand-written) gradient paths against Burn's
//! autodiff on the same energy, showing what the fast paths buy.

use ebm::burn::tensor::{Distribution, Tensor};
use ebm::prelude::*;
use serde_json::json;

use crate::Options;
use crate::record::{Record, print_row, throughput};

/// Runs every gradient benchmark whose name contains the filter, printing markdown rows.
pub fn run<B: EbmBackend>(
    options: &Options,
    device: &ebm::burn::tensor::Device<Inner<B>>,
) -> Vec<Record>
where
    Gaussian: Energy<B>,
    DoubleWell: Energy<B>,
{
    let (evals, repeats) = if options.quick { (5, 3) } else { (100, 7) };
    let gaussian = Gaussian::standard(2).expect("valid");
    let double_well = DoubleWell::new(2.0, 1.0).expect("valid");
    let mlp = MlpConfig::new(2, vec![128, 128])
        .init::<B>(device)
        .expect("valid");
    let cases: Vec<(&str, &dyn Energy<B>, usize)> = vec![
        ("gaussian", &gaussian, 10_000),
        ("doublewell", &double_well, 10_000),
        ("mlp_2_128_128_1", &mlp, 1024),
    ];
    let mut records = Vec::new();
    for (energy_name, energy, batch) in cases {
        let x = Tensor::<Inner<B>, 2>::random([batch, 2], Distribution::Normal(0.0, 1.0), device);
        for path in ["closed_form", "autodiff"] {
            let name = format!("grad_{energy_name}_{path}");
            if !options.selected(&name) {
                continue;
            }
            let times = crate::record::time_runs(repeats, || {
                let mut acc = x.clone();
                for _ in 0..evals {
                    let g = if path == "closed_form" {
                        energy.grad_energy(acc.clone())
                    } else {
                        ebm::ebm_core::autodiff_energy_and_grad::<B, _>(energy, acc.clone()).1
                    };
                    // Feed the result back so no evaluation can be skipped or reordered.
                    acc = acc - g.mul_scalar(1e-6);
                }
                let _ = acc.into_data();
            });
            let params = json!({"energy": energy_name, "batch": batch, "dim": 2, "evaluations": evals, "path": path});
            let record = throughput(
                &name,
                &options.backend,
                "grad_evals_per_s",
                (batch * evals) as f64,
                &times,
                params,
            );
            print_row(&record, "grad evals/s");
            records.push(record);
        }
    }
    records
}
