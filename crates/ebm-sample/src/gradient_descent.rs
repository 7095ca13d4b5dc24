//! Gradient descent as a deterministic "sampler", for finding energy minima.

use burn::config::Config;
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use ebm_core::schedule::Schedule;
use ebm_core::{Energy, Inner};

use crate::error::SampleError;
use crate::noise::Noise;
use crate::transition::{Step, StepInfo, Transition};

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
        self.step_size.check_positive("step_size")?;
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
    type State = Tensor<Inner<B>, 2>;

    fn validate(&self) -> Result<(), SampleError> {
        Ok(self.step_size.check_positive("step_size")?)
    }

    fn init_state(&self, x: Tensor<Inner<B>, 2>) -> Result<Self::State, SampleError> {
        Ok(x)
    }

    fn step<E: Energy<B> + ?Sized>(
        &self,
        energy: &E,
        x: Self::State,
        step: Step,
        _noise: &mut Noise,
    ) -> (Self::State, StepInfo<Inner<B>>) {
        let grad = energy.grad_energy(x.clone());
        (x - grad.mul_scalar(step.size), StepInfo::default())
    }

    fn step_size(&self) -> &Schedule {
        &self.step_size
    }
}
