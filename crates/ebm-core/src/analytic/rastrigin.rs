//! Rastrigin energy `E(x) = a·d + Σᵢ (xᵢ² − a·cos 2πxᵢ)`.

use std::f64::consts::TAU;

use crate::cpu_kernels::CpuKernels;
use burn::tensor::Tensor;

use super::{AnalyticEnergy, AnalyticHessian, row_sum};
use crate::error::{Result, require_positive};

/// The Rastrigin function: a regular lattice of local minima, global minimum 0 at the origin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rastrigin {
    a: f64,
}

impl Rastrigin {
    /// A Rastrigin energy with amplitude `a > 0` (usually 10).
    pub fn new(a: f64) -> Result<Self> {
        require_positive("a", a)?;
        Ok(Self { a })
    }
}

impl Default for Rastrigin {
    /// `a = 10`.
    fn default() -> Self {
        Self { a: 10.0 }
    }
}

impl AnalyticEnergy for Rastrigin {
    fn input_dim(&self) -> Option<usize> {
        None
    }

    fn energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 1> {
        let d = x.dims()[1] as f64;
        let terms = x.clone().square() - x.mul_scalar(TAU).cos().mul_scalar(self.a);
        row_sum(terms).add_scalar(self.a * d)
    }

    fn grad_energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        x.clone().mul_scalar(2.0) + x.mul_scalar(TAU).sin().mul_scalar(TAU * self.a)
    }
}

impl AnalyticHessian for Rastrigin {
    fn hvp<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>, v: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        let diag = x
            .mul_scalar(TAU)
            .cos()
            .mul_scalar(TAU * TAU * self.a)
            .add_scalar(2.0);
        diag * v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytic::reference::{case, check_against_reference, check_hvp, param};
    use crate::error::EnergyError;

    #[test]
    fn matches_reference() {
        let case = case("rastrigin_2d");
        let r = Rastrigin::new(param(&case, "a")).unwrap();
        // At (4.523, 4.523) the gradient is ~1e-3, the difference of two terms of ~9 whose
        // derivative is ~400: the f32 rounding of x alone (3e-7) moves it by ~1e-4.
        check_against_reference(&r, &case, 1e-5, 1e-3);
        check_hvp(&r, &case);
    }

    #[test]
    fn rejects_bad_amplitude() {
        assert!(matches!(
            Rastrigin::new(f64::INFINITY),
            Err(EnergyError::InvalidParameter(crate::InvalidParameter {
                name: "a",
                ..
            }))
        ));
    }
}
