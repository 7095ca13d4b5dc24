//! Nesterov accelerated gradient as a deterministic "sampler", for finding energy minima.

use burn::config::Config;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Bool, Tensor};
use ebm_core::schedule::Schedule;
use ebm_core::{Energy, Inner};

use crate::error::{SampleError, invalid};
use crate::noise::Noise;
use crate::transition::{ChainState, Step, StepInfo, Transition};

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
    /// Builds the minimiser, checking the parameters.
    pub fn init(&self) -> Result<Nesterov, SampleError> {
        let n = Nesterov {
            step_size: self.step_size.clone(),
            momentum: self.momentum,
        };
        n.check()?;
        Ok(n)
    }
}

/// `v ← μv − η∇E(x + μv)`, `x ← x + v`, from `v = 0` at the start of every run.
#[derive(Debug, Clone)]
pub struct Nesterov {
    step_size: Schedule,
    momentum: f64,
}

/// Nesterov's chains: positions and velocities, both `[N, D]`.
#[derive(Debug, Clone)]
pub struct MomentumState<Bk: Backend> {
    /// Positions.
    pub x: Tensor<Bk, 2>,
    /// Velocities (zero at the start of a run and for restarted chains).
    pub velocity: Tensor<Bk, 2>,
}

impl<Bk: Backend> ChainState<Bk> for MomentumState<Bk> {
    fn positions(&self) -> &Tensor<Bk, 2> {
        &self.x
    }

    fn into_positions(self) -> Tensor<Bk, 2> {
        self.x
    }

    fn restart(self, mask: Tensor<Bk, 2, Bool>, fresh: Tensor<Bk, 2>) -> Self {
        let still = self.velocity.zeros_like();
        Self {
            x: self.x.mask_where(mask.clone(), fresh),
            velocity: self.velocity.mask_where(mask, still),
        }
    }
}

impl Nesterov {
    fn check(&self) -> Result<(), SampleError> {
        self.step_size.check_positive("step_size")?;
        if !(self.momentum >= 0.0 && self.momentum < 1.0) {
            return Err(invalid("momentum", self.momentum, "must be in [0, 1)"));
        }
        Ok(())
    }
}

impl<B: AutodiffBackend> Transition<B> for Nesterov {
    type State = MomentumState<Inner<B>>;

    fn validate(&self) -> Result<(), SampleError> {
        self.check()
    }

    fn init_state(&self, x: Tensor<Inner<B>, 2>) -> Result<Self::State, SampleError> {
        Ok(MomentumState {
            velocity: x.zeros_like(),
            x,
        })
    }

    fn step<E: Energy<B> + ?Sized>(
        &self,
        energy: &E,
        state: Self::State,
        step: Step,
        _noise: &mut Noise,
    ) -> (Self::State, StepInfo<Inner<B>>) {
        let MomentumState { x, velocity } = state;
        let lookahead = x.clone() + velocity.clone().mul_scalar(self.momentum);
        let grad = energy.grad_energy(lookahead);
        let velocity = velocity.mul_scalar(self.momentum) - grad.mul_scalar(step.size);
        (
            MomentumState {
                x: x + velocity.clone(),
                velocity,
            },
            StepInfo::default(),
        )
    }

    fn step_size(&self) -> &Schedule {
        &self.step_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_testing::TestInner;

    #[test]
    fn a_restarted_chain_starts_at_rest() {
        let device = Default::default();
        let state = MomentumState::<TestInner> {
            x: Tensor::from_data([[1.0, 2.0], [3.0, 4.0]], &device),
            velocity: Tensor::from_data([[0.5, 0.5], [0.7, 0.7]], &device),
        };
        let mask = Tensor::<TestInner, 2, Bool>::from_data([[false, false], [true, true]], &device);
        let fresh = Tensor::from_data([[9.0, 9.0], [8.0, 8.0]], &device);
        let restarted = state.restart(mask, fresh);
        let x = restarted.x.into_data().to_vec::<f32>().unwrap();
        let v = restarted.velocity.into_data().to_vec::<f32>().unwrap();
        assert_eq!(x, [1.0, 2.0, 8.0, 8.0]);
        assert_eq!(v, [0.5, 0.5, 0.0, 0.0]);
    }
}
