//! The flow-era records of the flow issue: optimiser steps of flow matching, Equilibrium
//! Matching and Energy Matching (a 2-256-256-2 field, or its energy 2-256-256-1, batch 256,
//! Adam), and Dopri5 sampling of a flow field.

use ebm::burn::module::{Module, ModuleMapper, Param};

use ebm::burn::tensor::{Distribution, Tensor, TensorData};
use ebm::ebm_core::neural::{ConditionedMlp, ConditionedMlpConfig};
use ebm::ebm_sample::FlowSamplerConfig;
use ebm::ebm_train::{EnergyMatchingConfig, EquilibriumMatchingConfig, FlowMatchingConfig};
use ebm::prelude::*;
use serde_json::json;

use crate::Options;
use crate::record::{Record, print_row, throughput};
use crate::training::time_steps;

const BATCH: usize = 256;

/// Every weight `W[i][j] = sin(1 + 0.7i + 1.3j)/√fan_in` and bias `b[j] = 0.1·cos(j)` (`i` the
/// input, `j` the output): a network that `bench/torchebm_reference.py` builds identically, so
/// that adaptive integrators take comparable steps on both sides.
struct Deterministic;

impl<Bk: CpuKernels> ModuleMapper<Bk> for Deterministic {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<Bk, D>>) -> Param<Tensor<Bk, D>> {
        let dims = param.val().dims();
        let device = param.val().device();
        let values: Vec<f32> = match D {
            2 => {
                let (fan_in, out) = (dims[0], dims[1]);
                (0..fan_in * out)
                    .map(|k| {
                        let (i, j) = ((k / out) as f64, (k % out) as f64);
                        ((1.0 + 0.7 * i + 1.3 * j).sin() / (fan_in as f64).sqrt()) as f32
                    })
                    .collect()
            }
            _ => (0..dims[0])
                .map(|j| (0.1 * (j as f64).cos()) as f32)
                .collect(),
        };
        Param::from_tensor(Tensor::from_data(TensorData::new(values, dims), &device))
    }
}

fn field<Bk: CpuKernels>(time: bool, device: &ebm::burn::tensor::Device<Bk>) -> ConditionedMlp<Bk> {
    ConditionedMlpConfig::new(2, vec![256, 256])
        .with_time(time)
        .init::<Bk>(device)
        .expect("valid field")
}

/// Runs the flow benchmarks whose names contain the filter.
pub fn run<B: EbmBackend>(
    options: &Options,
    device: &ebm::burn::tensor::Device<Inner<B>>,
) -> Vec<Record> {
    let steps = if options.quick { 3 } else { 40 };
    let data =
        Tensor::<Inner<B>, 2>::random([BATCH * steps, 2], Distribution::Normal(0.0, 1.0), device);
    let base = json!({"batch": BATCH, "optimizer": "adam"});
    let with = |extra: serde_json::Value| {
        let mut p = base.clone();
        p.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        p
    };
    let mut records = Vec::new();
    let mut push = |record: Record, unit: &str| {
        print_row(&record, unit);
        records.push(record);
    };
    if options.selected("fm_step") {
        let fm = FlowMatchingConfig::new().init().expect("valid");
        let model = field::<B>(true, &Default::default());
        let params = with(
            json!({"model": "time-conditioned mlp 2(+256)-256-256-2 silu, concat", "interpolant": "linear", "coupling": "independent"}),
        );
        push(
            time_steps::<B, _, _>("fm_step", options, &model, fm, &data, BATCH, params),
            "s/step",
        );
    }
    if options.selected("eqm_step") {
        let eqm = EquilibriumMatchingConfig::new().init().expect("valid");
        let model = field::<B>(false, &Default::default());
        let params = with(
            json!({"model": "mlp 2-256-256-2 silu", "energy": "implicit", "target_scale": "truncated 0.8 x 4"}),
        );
        push(
            time_steps::<B, _, _>("eqm_step", options, &model, eqm, &data, BATCH, params),
            "s/step",
        );
    }
    if options.selected("em_step") {
        // Phase 2: the OT flow term and the contrastive term with its 200-step Langevin chains;
        // five steps, as TorchEBM's reference times.
        let em_steps = if options.quick { 1 } else { 5 };
        let em_data = data.clone().narrow(0, 0, BATCH * em_steps);
        let em = EnergyMatchingConfig::new().init().expect("valid");
        let model = MlpConfig::new(2, vec![256, 256])
            .init::<B>(&Default::default())
            .expect("valid MLP");
        let params = with(
            json!({"model": "mlp 2-256-256-1 silu", "coupling": "exact ot", "langevin_steps": 200, "phase": 2}),
        );
        push(
            time_steps::<B, _, _>("em_step", options, &model, em, &em_data, BATCH, params),
            "s/step",
        );
    }
    if options.selected("flow_sample_dopri5") {
        let n = 1024;
        let model = field::<Inner<B>>(true, device).map(&mut Deterministic);
        let sampler = FlowSamplerConfig::new().init().expect("valid");
        let x0 = Tensor::<Inner<B>, 2>::random([n, 2], Distribution::Normal(0.0, 1.0), device);
        let mut evaluations = 0;
        let timings = crate::record::time_runs(if options.quick { 2 } else { 5 }, || {
            let out = sampler
                .sample(&model, x0.clone(), None, 0)
                .expect("finite samples");
            evaluations = out.evaluations;
            let _ = out.samples.into_data();
        });
        let params = json!({"model": "time-conditioned mlp 2(+256)-256-256-2 silu, deterministic weights", "samples": n, "atol": 1e-6, "rtol": 1e-3, "evaluations": evaluations});
        let mut record = throughput(
            "flow_sample_dopri5",
            &options.backend,
            "samples_per_s",
            n as f64,
            &timings,
            params,
        );
        record.unit = "samples/s".to_string();
        push(record, "samples/s");
    }
    records
}
