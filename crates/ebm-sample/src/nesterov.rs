//! Nesterov accelerated gradient as a deterministic "sampler", for finding energy minima.

use burn::config::Config;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use ebm_core::schedule::Schedule;
use ebm_core::{Energy, Inner};

use crate::error::{SampleError, check_positive_schedule, invalid};
use crate::noise::Noise;
use crate::transition::{ChainState, StepInfo, Transition};

/// Builds a [`Nesterov`] sampler.
#[derive(Config, Debug)]
pub struct NesterovConfig {
    /// Step size η (constant or scheduled).
    #[config(default = "Schedule::constant(1e-3)")]
    pub step_size: Schedule,
    /// Momentum μ in `[0, 1)`.
    #[config(default = 0.9)]
    pub momentum: f64,
}

ebm_core::json_config!(
    NesterovConfig,
    required = [],
    template = NesterovConfig::new()
);
ebm_core::schedule_setters!(NesterovConfig { step_size });

impl NesterovConfig {
    /// Builds the sampler for chains on backend `Bk` (the inner backend of the energy's autodiff
    /// backend), checking the parameters.
    pub fn init<Bk: Backend>(&self) -> Result<Nesterov<Bk>, SampleError> {
        let n = Nesterov {
            step_size: self.step_size.clone(),
            momentum: self.momentum,
            velocity: None,
        };
        n.check()?;
        Ok(n)
    }
}

/// `v ← μv − η∇E(x + μv)`, `x ← x + v`, from `v = 0` at the start of every run.
#[derive(Debug, Clone)]
pub struct Nesterov<Bk: Backend> {
    step_size: Schedule,
    momentum: f64,
    velocity: Option<Tensor<Bk, 2>>,
}

impl<Bk: Backend> Nesterov<Bk> {
    fn check(&self) -> Result<(), SampleError> {
        check_positive_schedule("step_size", &self.step_size)?;
        if !(self.momentum >= 0.0 && self.momentum < 1.0) {
            return Err(invalid("momentum", self.momentum, "must be in [0, 1)"));
        }
        Ok(())
    }
}

impl<B: AutodiffBackend> Transition<B> for Nesterov<Inner<B>> {
    fn validate(&self) -> Result<(), SampleError> {
        self.check()
    }

    fn begin(&mut self, state: &ChainState<Inner<B>>) -> Result<(), SampleError> {
        self.velocity = Some(state.x.zeros_like());
        Ok(())
    }

    fn step<E: Energy<B> + ?Sized>(
        &mut self,
        energy: &E,
        state: ChainState<Inner<B>>,
        k: usize,
        _noise: &mut Noise,
    ) -> (ChainState<Inner<B>>, StepInfo<Inner<B>>) {
        let v = self.velocity.take().unwrap_or_else(|| state.x.zeros_like());
        let lookahead = state.x.clone() + v.clone().mul_scalar(self.momentum);
        let grad = energy.grad_energy(lookahead);
        let v = v.mul_scalar(self.momentum) - grad.mul_scalar(self.step_size.value_at(k));
        self.velocity = Some(v.clone());
        (ChainState::new(state.x + v), StepInfo::default())
    }

    fn step_size(&self, k: usize) -> f64 {
        self.step_size.value_at(k)
    }
}
