//! Gradient descent as a deterministic "sampler", for finding energy minima.

use burn::config::Config;
use burn::tensor::backend::AutodiffBackend;
use ebm_core::schedule::Schedule;
use ebm_core::{Energy, Inner};

use crate::error::{SampleError, check_positive_schedule};
use crate::noise::Noise;
use crate::transition::{ChainState, StepInfo, Transition};

/// Builds a [`GradientDescent`] sampler.
#[derive(Config, Debug)]
pub struct GradientDescentConfig {
    /// Step size η (constant or scheduled).
    #[config(default = "Schedule::constant(1e-3)")]
    pub step_size: Schedule,
}

ebm_core::json_config!(
    GradientDescentConfig,
    required = [],
    template = GradientDescentConfig::new()
);
ebm_core::schedule_setters!(GradientDescentConfig { step_size });

impl GradientDescentConfig {
    /// Builds the sampler, checking the parameters.
    pub fn init(&self) -> Result<GradientDescent, SampleError> {
        check_positive_schedule("step_size", &self.step_size)?;
        Ok(GradientDescent {
            step_size: self.step_size.clone(),
        })
    }
}

/// `x ← x − η∇E(x)`: every chain descends to a nearby minimum. No noise is drawn.
#[derive(Debug, Clone)]
pub struct GradientDescent {
    step_size: Schedule,
}

impl<B: AutodiffBackend> Transition<B> for GradientDescent {
    fn validate(&self) -> Result<(), SampleError> {
        check_positive_schedule("step_size", &self.step_size)
    }

    fn step<E: Energy<B> + ?Sized>(
        &mut self,
        energy: &E,
        state: ChainState<Inner<B>>,
        k: usize,
        _noise: &mut Noise,
    ) -> (ChainState<Inner<B>>, StepInfo<Inner<B>>) {
        let grad = energy.grad_energy(state.x.clone());
        (
            ChainState::new(state.x - grad.mul_scalar(self.step_size.value_at(k))),
            StepInfo::default(),
        )
    }

    fn step_size(&self, k: usize) -> f64 {
        self.step_size.value_at(k)
    }
}
