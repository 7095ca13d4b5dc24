//! Metropolis-adjusted Langevin algorithm (MALA).

use burn::config::Config;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use ebm_core::schedule::Schedule;
use ebm_core::{Energy, Inner};

use crate::adaptation::{DualAveraging, DualAveragingConfig};
use crate::error::SampleError;
use crate::noise::Noise;
use crate::transition::{CachedGradient, Step, StepInfo, Transition};

/// Builds a [`Mala`] sampler.
#[derive(Config, Debug)]
pub struct MalaConfig {
    /// Step size η (constant or scheduled; the starting value when adapting).
    #[config(default = "Schedule::constant(1e-2)")]
    pub step_size: Schedule,
    /// Adapt η by dual averaging during warm-up towards this acceptance rate (0.574 is optimal
    /// for MALA in high dimensions); `None` keeps the schedule.
    #[config(default = "None")]
    pub target_acceptance: Option<f64>,
    /// The constants of the adaptation (used with `target_acceptance`).
    #[config(default = "DualAveragingConfig::new()")]
    pub dual_averaging: DualAveragingConfig,
}

ebm_core::json_config!(MalaConfig, required = [], template = MalaConfig::new());
ebm_core::schedule_setters!(MalaConfig { step_size });

impl MalaConfig {
    /// Builds the sampler, checking the parameters.
    pub fn init(&self) -> Result<Mala, SampleError> {
        let mala = Mala {
            config: self.clone(),
        };
        mala.check()?;
        Ok(mala)
    }
}

/// Checks a Metropolis sampler's step-size adaptation, if it has one.
pub(crate) fn check_adaptation(
    target: Option<f64>,
    dual_averaging: &DualAveragingConfig,
) -> Result<(), SampleError> {
    match target {
        Some(t) => dual_averaging.validate(t),
        None => Ok(()),
    }
}

/// MALA: the Langevin proposal `y = x − η∇E(x) + √(2η)·ξ` accepted per chain with probability
/// `min(1, exp(E(x) − E(y) + log q(x|y) − log q(y|x)))`, where
/// `log q(a|b) = −‖a − b + η∇E(b)‖²/(4η)`. Exact for `exp(−E)` at any step size; the acceptance
/// rate is reported. A proposal with a non-finite energy is rejected.
#[derive(Debug, Clone)]
pub struct Mala {
    config: MalaConfig,
}

/// `log q(to | from)` up to a constant, per chain.
fn log_proposal<Bk: Backend>(
    to: &Tensor<Bk, 2>,
    from: &Tensor<Bk, 2>,
    grad_from: &Tensor<Bk, 2>,
    eta: f64,
) -> Tensor<Bk, 1> {
    let n = to.dims()[0];
    let r = to.clone() - from.clone() + grad_from.clone().mul_scalar(eta);
    r.square().sum_dim(1).reshape([n]).div_scalar(-4.0 * eta)
}

impl Mala {
    fn check(&self) -> Result<(), SampleError> {
        self.config.step_size.check_positive("step_size")?;
        check_adaptation(self.config.target_acceptance, &self.config.dual_averaging)
    }
}

impl<B: AutodiffBackend> Transition<B> for Mala {
    type State = CachedGradient<Inner<B>>;

    fn validate(&self) -> Result<(), SampleError> {
        self.check()
    }

    fn init_state(&self, x: Tensor<Inner<B>, 2>) -> Result<Self::State, SampleError> {
        Ok(CachedGradient::new(x))
    }

    fn step<E: Energy<B> + ?Sized>(
        &self,
        energy: &E,
        state: Self::State,
        step: Step,
        noise: &mut Noise,
    ) -> (Self::State, StepInfo<Inner<B>>) {
        let eta = step.size;
        let (e_x, g_x) = state.energy_and_grad(energy);
        let x = state.x;
        let [n, d] = x.dims();
        let y = x.clone() - g_x.clone().mul_scalar(eta)
            + noise.normal([n, d], &x).mul_scalar((2.0 * eta).sqrt());
        let (e_y, g_y) = energy.energy_and_grad(y.clone());
        let log_alpha = e_x.clone() - e_y.clone() + log_proposal(&x, &y, &g_y, eta)
            - log_proposal(&y, &x, &g_x, eta);
        // NaN compares false, so a non-finite proposal is rejected; it is counted as divergent,
        // so that an energy that turns NaN shows in `Samples::divergences`.
        let divergent = log_alpha.clone().is_finite().bool_not();
        let accept = noise.log_uniform(n, &x).lower(log_alpha.clone());
        let accept_rows = accept.clone().unsqueeze_dim::<2>(1).expand([n, d]);
        let next = CachedGradient {
            x: x.mask_where(accept_rows.clone(), y),
            cached: Some((
                e_x.mask_where(accept.clone(), e_y),
                g_x.mask_where(accept_rows, g_y),
            )),
        };
        (
            next,
            StepInfo {
                accepted: Some(accept.float()),
                log_acceptance: Some(log_alpha),
                divergent: Some(divergent.float()),
            },
        )
    }

    fn step_size(&self) -> &Schedule {
        &self.config.step_size
    }

    fn adaptation(&self) -> Option<DualAveraging> {
        let config = &self.config;
        (config.dual_averaging).start(config.target_acceptance, &config.step_size)
    }
}
