//! Gradient descent with Nesterov momentum on a learned gradient field: Equilibrium Matching's
//! sampler, for a field that need not be the gradient of any energy (implicit EqM).

use burn::config::Config;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use ebm_core::neural::FieldModel;

use crate::error::{SampleError, invalid};
use crate::flow::check_labels;
use crate::non_finite_chains;

/// Builds a [`FieldDescent`]. The defaults are TorchEBM 0.8.9's `NesterovSampler`'s.
#[derive(Config, Debug)]
pub struct FieldDescentConfig {
    /// Step size η (> 0).
    #[config(default = 1e-3)]
    pub step_size: f64,
    /// Momentum μ, in [0, 1) (0 is plain gradient descent).
    #[config(default = 0.9)]
    pub momentum: f64,
    /// Steps (≥ 1).
    #[config(default = 100)]
    pub steps: usize,
}

ebm_core::json_config!(
    FieldDescentConfig,
    required = [],
    template = FieldDescentConfig::new()
);

impl FieldDescentConfig {
    /// Builds the sampler, checking the parameters.
    pub fn init(&self) -> Result<FieldDescent, SampleError> {
        if !(self.step_size > 0.0 && self.step_size.is_finite()) {
            return Err(invalid(
                "step_size",
                self.step_size,
                "must be finite and > 0",
            ));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(invalid("momentum", self.momentum, "must be in [0, 1)"));
        }
        if self.steps == 0 {
            return Err(invalid("steps", 0usize, "must be >= 1"));
        }
        Ok(FieldDescent {
            config: self.clone(),
        })
    }
}

/// `v ← μv − η·f(x + μv, 0)`, `x ← x + v` from `v = 0`: descent along a field `f ≈ ∇g` at the
/// time-invariant clock 0, as Equilibrium Matching samples (TorchEBM's `NesterovSampler` on its
/// `EqMEnergy` wrapper).
#[derive(Debug, Clone)]
pub struct FieldDescent {
    config: FieldDescentConfig,
}

impl FieldDescent {
    /// Descends from `x0` (`[N, D]`); pass a model on a plain backend (no graph is needed).
    /// A non-finite row is an error naming the step and the rows (one check, at the end).
    pub fn descend<Bk: Backend, M: FieldModel<Bk>>(
        &self,
        model: &M,
        x0: Tensor<Bk, 2>,
        labels: Option<&[usize]>,
    ) -> Result<Tensor<Bk, 2>, SampleError> {
        let [n, d] = x0.dims();
        ebm_core::check_batch(Some(model.input_dim()), [n, d])?;
        check_labels(model.classes(), labels, n)?;
        let FieldDescentConfig {
            step_size,
            momentum,
            steps,
        } = self.config;
        let (mut x, mut v) = (x0.clone(), x0.zeros_like());
        for _ in 0..steps {
            let look_ahead = x.clone() + v.clone().mul_scalar(momentum);
            let f = model.field_at(look_ahead, 0.0, labels);
            v = v.mul_scalar(momentum) - f.mul_scalar(step_size);
            x = x + v.clone();
        }
        let chains = non_finite_chains(&x);
        match chains.is_empty() {
            true => Ok(x),
            false => Err(SampleError::NonFinite {
                step: steps - 1,
                chains,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::test_field::FnField;
    use ebm_testing::TestInner;

    /// `f(x) = A·(x − a)`, the gradient of `½(x − a)ᵀA(x − a)` for a diagonal `A`.
    fn bowl() -> FnField {
        FnField::new(|x, _| {
            let a = Tensor::<TestInner, 2>::from_data([[1.0, -2.0]], &x.device());
            let curvature = Tensor::<TestInner, 2>::from_data([[1.0, 10.0]], &x.device());
            (x - a) * curvature
        })
    }

    #[test]
    fn descent_reaches_the_fields_zero_and_momentum_gets_there_sooner() {
        let x0 = ebm_testing::normal::<TestInner, 2>([16, 2], 3.0, 4, &Default::default());
        let target = Tensor::<TestInner, 2>::from_data([[1.0, -2.0]], &Default::default());
        let error = |momentum: f64, steps: usize| {
            let descent = FieldDescentConfig::new()
                .with_step_size(0.05)
                .with_momentum(momentum)
                .with_steps(steps)
                .init()
                .unwrap();
            let x = descent.descend(&bowl(), x0.clone(), None).unwrap();
            (x - target.clone()).abs().max().into_scalar() as f64
        };
        assert!(error(0.0, 400) < 1e-4);
        assert!(error(0.5, 400) < 1e-4);
        // The slow coordinate (curvature 1) contracts by 0.95 per plain step; momentum 0.5
        // roughly doubles its speed.
        assert!(
            error(0.5, 60) < 0.5 * error(0.0, 60),
            "{} vs {}",
            error(0.5, 60),
            error(0.0, 60)
        );
    }

    #[test]
    fn bad_configs_are_errors() {
        assert!(
            FieldDescentConfig::new()
                .with_step_size(0.0)
                .init()
                .is_err()
        );
        assert!(FieldDescentConfig::new().with_momentum(1.0).init().is_err());
        assert!(FieldDescentConfig::new().with_steps(0).init().is_err());
    }
}
