//! Unadjusted Langevin dynamics (Euler–Maruyama).

use burn::config::Config;
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use ebm_core::schedule::Schedule;
use ebm_core::{Energy, Inner};

use crate::error::{SampleError, invalid};
use crate::noise::Noise;
use crate::transition::{Step, StepInfo, Transition};

/// Builds a [`Langevin`] sampler.
#[derive(Config, Debug)]
pub struct LangevinConfig {
    /// Step size η (a constant or a schedule; every value > 0).
    #[config(default = "Schedule::constant(1e-3)")]
    pub step_size: Schedule,
    /// Noise scale σ (a constant or a schedule; every value ≥ 0). σ = 1 samples `exp(−E)`;
    /// in general the stationary law is `∝ exp(−E/σ²)`; σ = 0 is gradient descent (Energy
    /// Matching's transport phase, [`ebm_core::schedule::Schedule::Temperature`]).
    #[config(default = "Schedule::constant(1.0)")]
    pub noise_scale: Schedule,
    /// Optional box `[low, high]` every coordinate is clamped to after each step.
    #[config(default = "None")]
    pub clamp: Option<(f64, f64)>,
}

ebm_core::json_config!(
    LangevinConfig,
    required = [],
    template = LangevinConfig::new()
);
ebm_core::schedule_setters!(LangevinConfig {
    step_size,
    noise_scale
});

impl LangevinConfig {
    /// Builds the sampler, checking the parameters.
    pub fn init(&self) -> Result<Langevin, SampleError> {
        check(self)?;
        Ok(Langevin {
            config: self.clone(),
        })
    }
}

fn check(config: &LangevinConfig) -> Result<(), SampleError> {
    config.step_size.check_positive("step_size")?;
    config.noise_scale.check_non_negative("noise_scale")?;
    if let Some((lo, hi)) = config.clamp
        && !(lo.is_finite() && hi.is_finite() && lo < hi)
    {
        return Err(invalid(
            "clamp",
            lo,
            "the box must be finite with low < high",
        ));
    }
    Ok(())
}

/// Unadjusted Langevin dynamics: `x ← x − η∇E(x) + σ·√(2η)·ξ`, `ξ ~ N(0, I)`, then the optional
/// clamp. One gradient evaluation per step; no energy evaluations. Biased by O(η) (no Metropolis
/// correction: see [`crate::Mala`]).
///
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use ebm_core::analytic::Harmonic;
/// use ebm_sample::{LangevinConfig, RunConfig, Sampler};
///
/// type B = Autodiff<NdArray>;
/// let langevin = LangevinConfig::new().step_size(0.05).init().unwrap();
/// let run = RunConfig::new(200).with_seed(1);
/// let out = Sampler::<B>::sample_from_noise(&langevin, &Harmonic::new(1.0).unwrap(), 500, 2, &Default::default(), &run).unwrap();
/// assert_eq!(out.final_state.dims(), [500, 2]);
/// ```
#[derive(Debug, Clone)]
pub struct Langevin {
    config: LangevinConfig,
}

impl<B: AutodiffBackend> Transition<B> for Langevin {
    type State = Tensor<Inner<B>, 2>;

    fn validate(&self) -> Result<(), SampleError> {
        check(&self.config)
    }

    fn init_state(&self, x: Tensor<Inner<B>, 2>) -> Result<Self::State, SampleError> {
        Ok(x)
    }

    fn step<E: Energy<B> + ?Sized>(
        &self,
        energy: &E,
        x: Self::State,
        step: Step,
        noise: &mut Noise,
    ) -> (Self::State, StepInfo<Inner<B>>) {
        let eta = step.size;
        let sigma = self.config.noise_scale.value_at(step.index);
        let scaled_noise = noise.normal_scaled(x.dims(), sigma * (2.0 * eta).sqrt(), &x);
        let grad = energy.grad_energy(x.clone());
        let mut next = x - grad.mul_scalar(eta) + scaled_noise;
        if let Some((lo, hi)) = self.config.clamp {
            next = next.clamp(lo, hi);
        }
        (next, StepInfo::default())
    }

    fn step_size(&self) -> &Schedule {
        &self.config.step_size
    }
}
