//! Harmonic (isotropic quadratic) energy `E(x) = ½·k·‖x‖²`.

use crate::cpu_kernels::CpuKernels;
use burn::tensor::Tensor;

use super::{AnalyticEnergy, AnalyticHessian, row_sum};
use crate::error::{Result, require_positive};

/// Harmonic oscillator potential with stiffness `k`: the energy of `N(0, I/k)`. Any dimension.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Harmonic {
    k: f64,
}

impl Harmonic {
    /// A harmonic energy with stiffness `k > 0`.
    pub fn new(k: f64) -> Result<Self> {
        require_positive("k", k)?;
        Ok(Self { k })
    }

    /// The stiffness `k`.
    pub fn k(&self) -> f64 {
        self.k
    }
}

impl AnalyticEnergy for Harmonic {
    fn input_dim(&self) -> Option<usize> {
        None
    }

    fn energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 1> {
        row_sum(x.square()).mul_scalar(0.5 * self.k)
    }

    fn grad_energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        x.mul_scalar(self.k)
    }
}

impl AnalyticHessian for Harmonic {
    fn hvp<Bk: CpuKernels>(&self, _x: Tensor<Bk, 2>, v: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        v.mul_scalar(self.k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytic::reference::{case, check_against_reference, check_hvp, param};
    use crate::error::EnergyError;

    #[test]
    fn matches_reference() {
        for name in ["harmonic_2d_k1.0", "harmonic_3d_k2.5"] {
            let case = case(name);
            let h = Harmonic::new(param(&case, "k")).unwrap();
            check_against_reference(&h, &case, 1e-5, 1e-5);
            check_hvp(&h, &case);
        }
    }

    #[test]
    fn rejects_non_positive_stiffness() {
        assert!(matches!(
            Harmonic::new(-1.0),
            Err(EnergyError::InvalidParameter(crate::InvalidParameter {
                name: "k",
                ..
            }))
        ));
    }
}
