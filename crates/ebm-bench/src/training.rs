//! Optimiser-step benchmarks of the learners (MLP 2-64-64-1 SELU, batch 128, Adam).

use ebm::burn::optim::AdamConfig;
use ebm::burn::tensor::{Distribution, Tensor};
use ebm::ebm_sample::LangevinConfig;
use ebm::ebm_train::{
    ContrastiveDivergenceConfig, DenoisingScoreMatchingConfig, Objective,
    PersistentContrastiveDivergenceConfig, ScoreMatchingConfig, SlicedScoreMatchingConfig, Trainer,
    TrainerConfig,
};
use ebm::prelude::*;
use serde_json::json;

use crate::Options;
use crate::record::{Record, print_row, throughput};

/// Times one epoch of Adam on `model` over `data` in batches of `batch` rows (so `data` holds
/// the steps: its rows are a whole number of batches) and records seconds per step.
pub fn time_steps<B, M, L>(
    name: &str,
    options: &Options,
    model: &M,
    objective: L,
    data: &Tensor<Inner<B>, 2>,
    batch: usize,
    params: serde_json::Value,
) -> Record
where
    B: EbmBackend,
    M: ebm::burn::module::AutodiffModule<B> + ebm::burn::module::ModuleDisplay,
    L: Objective<B, M> + Clone,
{
    let repeats = if options.quick { 3 } else { 5 };
    let rows = data.dims()[0];
    assert!(
        rows > 0 && rows.is_multiple_of(batch),
        "{name}: {rows} rows are not whole batches of {batch}"
    );
    // Counted from the data, so the divisor is the number of steps the epoch ran.
    let steps = rows / batch;
    let data = Tensor::<B, 2>::from_inner(data.clone());
    let times = crate::record::time_runs(repeats, || {
        let config = TrainerConfig::new(1)
            .with_batch_size(batch)
            .with_quiet(true)
            .with_log_every(steps);
        let mut trainer = Trainer::new(
            model.clone(),
            AdamConfig::new().init(),
            objective.clone(),
            config,
        )
        .expect("valid trainer");
        trainer.fit(&data).expect("training runs");
        // Reading a result back makes the clock see all the device work.
        read_back(trainer.model());
    });
    // One repeat is one epoch of `steps` steps: report seconds per step.
    let per_step = times.per(steps);
    let mut record = throughput(name, &options.backend, "s_per_step", 1.0, &per_step, params);
    record.value = record.median_s;
    record.unit = "s".to_string();
    record
}

/// Reads the model's first parameter back to the host: the clock then sees all the device work
/// that produced it.
pub fn read_back<B: EbmBackend, M: ebm::burn::module::Module<B>>(model: &M) {
    struct FirstParameter(bool);
    impl<B: ebm::burn::tensor::backend::Backend> ebm::burn::module::ModuleVisitor<B>
        for FirstParameter
    {
        fn visit_float<const D: usize>(&mut self, param: &ebm::burn::module::Param<Tensor<B, D>>) {
            if !self.0 {
                let _ = param.val().into_data();
                self.0 = true;
            }
        }
    }
    model.visit(&mut FirstParameter(false));
}

/// Runs the training-step benchmarks whose names contain the filter.
pub fn run<B: EbmBackend>(
    options: &Options,
    device: &ebm::burn::tensor::Device<Inner<B>>,
) -> Vec<Record> {
    let steps = if options.quick { 5 } else { 40 };
    let data =
        Tensor::<Inner<B>, 2>::random([128 * steps, 2], Distribution::Normal(0.0, 1.0), device);
    let langevin = LangevinConfig::new().step_size(0.01).init().expect("valid");
    let base = json!({"model": "mlp 2-64-64-1 selu", "batch": 128, "optimizer": "adam"});
    let with = |extra: serde_json::Value| {
        let mut p = base.clone();
        p.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        p
    };
    let model = MlpConfig::new(2, vec![64, 64])
        .with_activation(Activation::Selu)
        .init::<B>(device)
        .expect("valid MLP");
    let mut records = Vec::new();
    let mut push = |record: Record| {
        print_row(&record, "s/step");
        records.push(record);
    };
    if options.selected("cd_step") {
        let cd = ContrastiveDivergenceConfig::new()
            .with_k(10)
            .init(langevin.clone())
            .expect("valid");
        push(time_steps::<B, _, _>(
            "cd_step",
            options,
            &model,
            cd,
            &data,
            128,
            with(json!({"k": 10, "sampler": "langevin 0.01"})),
        ));
    }
    if options.selected("pcd_step") {
        let pcd = PersistentContrastiveDivergenceConfig::new()
            .with_k(10)
            .init::<B, _>(langevin.clone())
            .expect("valid");
        push(time_steps::<B, _, _>(
            "pcd_step",
            options,
            &model,
            pcd,
            &data,
            128,
            with(json!({"k": 10, "buffer": 10000})),
        ));
    }
    if options.selected("sm_exact_step") {
        let sm = ScoreMatchingConfig::new().init().expect("valid");
        push(time_steps::<B, _, _>(
            "sm_exact_step",
            options,
            &model,
            sm,
            &data,
            128,
            with(json!({"trace": "exact"})),
        ));
    }
    if options.selected("ssm_step") {
        let ssm = SlicedScoreMatchingConfig::new()
            .with_projections(5)
            .init()
            .expect("valid");
        push(time_steps::<B, _, _>(
            "ssm_step",
            options,
            &model,
            ssm,
            &data,
            128,
            with(json!({"projections": 5})),
        ));
    }
    if options.selected("dsm_step") {
        let dsm = DenoisingScoreMatchingConfig::new().init().expect("valid");
        push(time_steps::<B, _, _>(
            "dsm_step",
            options,
            &model,
            dsm,
            &data,
            128,
            with(json!({"sigma": 0.1})),
        ));
    }
    records
}
