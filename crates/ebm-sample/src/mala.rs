//! Metropolis-adjusted Langevin algorithm (MALA).

use burn::config::Config;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use ebm_core::schedule::Schedule;
use ebm_core::{Energy, Inner};

use crate::adaptation::StepSize;
use crate::error::{SampleError, check_positive_schedule, invalid};
use crate::noise::Noise;
use crate::transition::{ChainState, StepInfo, Transition};

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
}

ebm_core::json_config!(MalaConfig, required = [], template = MalaConfig::new());
ebm_core::schedule_setters!(MalaConfig { step_size });

impl MalaConfig {
    /// Builds the sampler, checking the parameters.
    pub fn init(&self) -> Result<Mala, SampleError> {
        let mala = Mala {
            step: StepSize::new(self.step_size.clone(), self.target_acceptance),
        };
        mala.check()?;
        Ok(mala)
    }
}

pub(crate) fn check_target(target: Option<f64>) -> Result<(), SampleError> {
    match target {
        Some(t) if !(t > 0.0 && t < 1.0) => {
            Err(invalid("target_acceptance", t, "must be in (0, 1)"))
        }
        _ => Ok(()),
    }
}

/// MALA: the Langevin proposal `y = x − η∇E(x) + √(2η)·ξ` accepted per chain with probability
/// `min(1, exp(E(x) − E(y) + log q(x|y) − log q(y|x)))`, where
/// `log q(a|b) = −‖a − b + η∇E(b)‖²/(4η)`. Exact for `exp(−E)` at any step size; the acceptance
/// rate is reported. A proposal with a non-finite energy is rejected.
#[derive(Debug, Clone)]
pub struct Mala {
    step: StepSize,
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
        check_positive_schedule("step_size", self.step.schedule())?;
        check_target(self.step.target())
    }
}

impl<B: AutodiffBackend> Transition<B> for Mala {
    fn validate(&self) -> Result<(), SampleError> {
        self.check()
    }

    fn begin(&mut self, _state: &ChainState<Inner<B>>) -> Result<(), SampleError> {
        self.step.begin();
        Ok(())
    }

    fn step<E: Energy<B> + ?Sized>(
        &mut self,
        energy: &E,
        mut state: ChainState<Inner<B>>,
        k: usize,
        noise: &mut Noise,
    ) -> (ChainState<Inner<B>>, StepInfo<Inner<B>>) {
        let eta = self.step.value(k);
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
        let accept = noise.log_uniform(n, &x).lower(log_alpha);
        let accept_rows = accept.clone().unsqueeze_dim::<2>(1).expand([n, d]);
        let next = ChainState {
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
                divergent: Some(divergent.float()),
            },
        )
    }

    fn adapts(&self) -> bool {
        self.step.adapts()
    }

    fn adapt(&mut self, mean_acceptance: f64) {
        self.step.update(mean_acceptance);
    }

    fn end_warmup(&mut self) {
        self.step.end_warmup();
    }

    fn step_size(&self, k: usize) -> f64 {
        self.step.value(k)
    }
}
