//! Flow matching: regress a time-conditioned velocity field onto the velocity of a path from
//! noise to data (conditional flow matching; OT-CFM with an optimal-transport coupling).

use burn::config::Config;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use ebm_core::interpolant::Interpolant;
use ebm_core::neural::FieldModel;

use crate::TrainError;
use crate::coupling::Coupling;
use crate::flow_path::{PathBatch, check_field_batch, draw_paths, validate};
use crate::objective::{LossOutput, Objective, TrainStep};
use crate::time_sampler::TimeSampler;

/// Builds a [`FlowMatching`] objective.
#[derive(Config, Debug)]
pub struct FlowMatchingConfig {
    /// The path from noise (t = 0) to data (t = 1).
    #[config(default = "Interpolant::Linear")]
    pub interpolant: Interpolant,
    /// How noise is paired with data.
    #[config(default = "Coupling::Independent")]
    pub coupling: Coupling,
    /// The training times.
    #[config(default = "TimeSampler::uniform()")]
    pub time: TimeSampler,
    /// Regress onto `−u_t` (data → noise), the sign gradient-descent samplers assume.
    #[config(default = false)]
    pub negate_velocity: bool,
}

ebm_core::json_config!(
    FlowMatchingConfig,
    required = [],
    template = FlowMatchingConfig::new()
);

impl FlowMatchingConfig {
    /// Builds the objective, checking the parameters.
    pub fn init(&self) -> Result<FlowMatching, TrainError> {
        validate(&self.interpolant, &self.coupling, &self.time)?;
        Ok(FlowMatching {
            config: self.clone(),
        })
    }
}

/// Conditional flow matching, `mean ‖v_θ(x_t, t) − u_t‖²` over the batch and the features, as
/// TorchEBM 0.8.9's `FlowMatchingLoss`. Sample the trained field with the flow sampler
/// (`ebm_sample::flow`).
#[derive(Debug, Clone)]
pub struct FlowMatching {
    config: FlowMatchingConfig,
}

/// The flow-matching loss on given paths: `mean ‖v_θ(x_t, t, y) − u_t‖²` (or `+ u_t` with
/// `negate_velocity`), differentiable in the field's parameters.
pub fn flow_matching_loss<Bk: Backend, M: FieldModel<Bk>>(
    model: &M,
    paths: &PathBatch<Bk>,
    labels: Option<&[usize]>,
    negate_velocity: bool,
) -> Tensor<Bk, 1> {
    let target = match negate_velocity {
        true => paths.ut.clone().neg(),
        false => paths.ut.clone(),
    };
    let pred = model.field(paths.xt.clone(), paths.t.clone(), labels);
    (pred - target).square().mean()
}

impl<B: AutodiffBackend, M: FieldModel<B>> Objective<B, M> for FlowMatching {
    type Record = ();

    fn check_batch(&self, model: &M, dims: [usize; 2]) -> Result<(), TrainError> {
        check_field_batch(model.input_dim(), dims)
    }

    fn loss(
        &mut self,
        model: &M,
        batch: Tensor<B, 2>,
        step: TrainStep,
    ) -> Result<LossOutput<B>, TrainError> {
        self.check_batch(model, batch.dims())?;
        let c = &self.config;
        let paths = draw_paths(
            "flow_matching",
            &c.interpolant,
            &c.coupling,
            &c.time,
            batch.detach(),
            step,
        )?;
        Ok(LossOutput::loss_only(flow_matching_loss(
            model,
            &paths,
            None,
            c.negate_velocity,
        )))
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "flow_matching": &self.config })
    }
}
