//! Equilibrium Matching (Wang & Du, 2025): a time-invariant gradient field whose descent carries
//! noise to data, learned directly (implicit) or as the input gradient of an explicit energy.

use burn::config::Config;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use ebm_core::Energy;
use ebm_core::interpolant::Interpolant;
use ebm_core::neural::FieldModel;

use crate::TrainError;
use crate::coupling::Coupling;
use crate::error::invalid;
use crate::flow_path::{PathBatch, check_field_batch, draw_paths, validate};
use crate::objective::{LossOutput, Objective, TrainStep};
use crate::time_sampler::TimeSampler;

/// How the model's output `f(x)` gives the gradient field `∇g` that Equilibrium Matching fits.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum EquilibriumEnergy {
    /// The field is `f` itself (implicit EqM, TorchEBM's `energy_type="none"`).
    Implicit,
    /// `g(x) = x·f(x)`, field `∇g = f + (∂f/∂x)ᵀx` (TorchEBM's `"dot"`).
    Dot,
    /// `g(x) = −½‖f(x)‖²`, field `∇g = −(∂f/∂x)ᵀf` (TorchEBM's `"l2"`).
    L2,
}

/// The scale `c(t)` of the target `−u_t·c(t)`, each with the gradient multiplier `λ`.
#[derive(Config, Debug, Copy, PartialEq)]
pub enum TargetScale {
    /// `λ·min(1, (1 − t)/(1 − a))`: full strength up to `t = a`, then decaying to 0 at the data
    /// (TorchEBM's default, `a = 0.8`, `λ = 4`).
    Truncated {
        /// The threshold `a`, in (0, 1).
        threshold: f64,
        /// `λ` (> 0).
        multiplier: f64,
    },
    /// `λ·(1 − t)`.
    Linear {
        /// `λ` (> 0).
        multiplier: f64,
    },
    /// `λ`: with `λ = 1` and the true time, the negated flow-matching objective.
    Constant {
        /// `λ` (> 0).
        multiplier: f64,
    },
}

impl TargetScale {
    fn validate(&self) -> Result<(), TrainError> {
        let (TargetScale::Truncated { multiplier, .. }
        | TargetScale::Linear { multiplier }
        | TargetScale::Constant { multiplier }) = *self;
        if !(multiplier > 0.0 && multiplier.is_finite()) {
            return Err(invalid("multiplier", multiplier, "must be finite and > 0"));
        }
        if let TargetScale::Truncated { threshold, .. } = *self
            && !(threshold > 0.0 && threshold < 1.0)
        {
            return Err(invalid("threshold", threshold, "must be in (0, 1)"));
        }
        Ok(())
    }

    /// `c(t)` for each time: `[N] → [N]`.
    pub fn scale<Bk: Backend>(&self, t: Tensor<Bk, 1>) -> Tensor<Bk, 1> {
        match *self {
            TargetScale::Truncated {
                threshold,
                multiplier,
            } => t
                .neg()
                .add_scalar(1.0)
                .div_scalar(1.0 - threshold)
                .clamp_max(1.0)
                .mul_scalar(multiplier),
            TargetScale::Linear { multiplier } => t.neg().add_scalar(1.0).mul_scalar(multiplier),
            TargetScale::Constant { multiplier } => t.ones_like().mul_scalar(multiplier),
        }
    }
}

/// Builds an [`EquilibriumMatching`] objective.
#[derive(Config, Debug)]
pub struct EquilibriumMatchingConfig {
    /// The path from noise (t = 0) to data (t = 1).
    #[config(default = "Interpolant::Linear")]
    pub interpolant: Interpolant,
    /// How noise is paired with data.
    #[config(default = "Coupling::Independent")]
    pub coupling: Coupling,
    /// The training times.
    #[config(default = "TimeSampler::uniform()")]
    pub time: TimeSampler,
    /// The target's scale `c(t)`.
    #[config(default = "TargetScale::Truncated { threshold: 0.8, multiplier: 4.0 }")]
    pub target_scale: TargetScale,
    /// Implicit, or an explicit energy built from the model's output.
    #[config(default = "EquilibriumEnergy::Implicit")]
    pub energy: EquilibriumEnergy,
    /// Show the model time 0 instead of the sampled time (the EqM convention).
    #[config(default = true)]
    pub time_invariant: bool,
}

ebm_core::json_config!(
    EquilibriumMatchingConfig,
    required = [],
    template = EquilibriumMatchingConfig::new()
);

impl EquilibriumMatchingConfig {
    /// Builds the objective, checking the parameters.
    pub fn init(&self) -> Result<EquilibriumMatching, TrainError> {
        validate(&self.interpolant, &self.coupling, &self.time)?;
        self.target_scale.validate()?;
        Ok(EquilibriumMatching {
            config: self.clone(),
        })
    }
}

/// Equilibrium Matching: `mean ‖∇g(x_t) + u_t·c(t)‖²`, the field evaluated at time 0 unless
/// configured otherwise, as TorchEBM 0.8.9's `EquilibriumMatchingLoss` with
/// `prediction="velocity"`. The target `−u_t·c(t)` points from data to noise, so samples come
/// from descending the field: [`ExplicitEnergy`] makes an explicit model an energy for the
/// gradient-descent samplers, and the flow sampler descends an implicit one.
#[derive(Debug, Clone)]
pub struct EquilibriumMatching {
    config: EquilibriumMatchingConfig,
}

/// `∇g` at `x` for the energy parameterisation `energy`, differentiable in the parameters.
pub fn equilibrium_field<Bk: Backend, M: FieldModel<Bk>>(
    model: &M,
    energy: EquilibriumEnergy,
    x: Tensor<Bk, 2>,
    t: Tensor<Bk, 1>,
    labels: Option<&[usize]>,
) -> Tensor<Bk, 2> {
    match energy {
        EquilibriumEnergy::Implicit => model.field(x, t, labels),
        EquilibriumEnergy::Dot => {
            let (f, jt_x) = model.field_and_vjp(x, t, labels, &|x, _| x.clone());
            f + jt_x
        }
        EquilibriumEnergy::L2 => model.field_and_vjp(x, t, labels, &|_, f| f.clone().neg()).1,
    }
}

/// The Equilibrium Matching loss on given paths, differentiable in the parameters.
pub fn equilibrium_matching_loss<Bk: Backend, M: FieldModel<Bk>>(
    model: &M,
    config: &EquilibriumMatchingConfig,
    paths: &PathBatch<Bk>,
    labels: Option<&[usize]>,
) -> Tensor<Bk, 1> {
    let c = config.target_scale.scale(paths.t.clone()).unsqueeze_dim(1);
    let target = paths.ut.clone().neg() * c;
    let t = match config.time_invariant {
        true => paths.t.zeros_like(),
        false => paths.t.clone(),
    };
    let field = equilibrium_field(model, config.energy, paths.xt.clone(), t, labels);
    (field - target).square().mean()
}

impl<B: AutodiffBackend, M: FieldModel<B>> Objective<B, M> for EquilibriumMatching {
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
            "equilibrium_matching",
            &c.interpolant,
            &c.coupling,
            &c.time,
            batch.detach(),
            step,
        )?;
        Ok(LossOutput::loss_only(equilibrium_matching_loss(
            model, c, &paths, None,
        )))
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "equilibrium_matching": &self.config })
    }
}

/// The energy `g(x) = x·f(x, 0)` or `−½‖f(x, 0)‖²` of a model trained by explicit Equilibrium
/// Matching: its gradient is the learned field, so the gradient-descent samplers (Nesterov's,
/// EqM's own) and the MCMC samplers take it.
#[derive(Debug, Clone, Copy)]
pub struct ExplicitEnergy<'a, M> {
    model: &'a M,
    energy: EquilibriumEnergy,
}

impl<'a, M> ExplicitEnergy<'a, M> {
    /// The energy of `model` under `energy` (`Dot` or `L2`; `Implicit` learns no energy).
    pub fn new(model: &'a M, energy: EquilibriumEnergy) -> Result<Self, TrainError> {
        if energy == EquilibriumEnergy::Implicit {
            return Err(invalid(
                "energy",
                0usize,
                "an implicit Equilibrium Matching model has no energy; descend its field",
            ));
        }
        Ok(Self { model, energy })
    }
}

impl<B: AutodiffBackend, M: FieldModel<B> + Send + Sync> Energy<B> for ExplicitEnergy<'_, M> {
    fn input_dim(&self) -> Option<usize> {
        Some(self.model.input_dim())
    }

    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        let n = x.dims()[0];
        let t = Tensor::zeros([n], &x.device());
        let f = self.model.field(x.clone(), t, None);
        let g = match self.energy {
            EquilibriumEnergy::L2 => f.square().mul_scalar(-0.5),
            _ => x * f,
        };
        g.sum_dim(1).reshape([n])
    }
}
