//! Styblinski–Tang function `E(x) = ½·Σᵢ (xᵢ⁴ − 16xᵢ² + 5xᵢ)`.

use crate::cpu_kernels::CpuKernels;
use burn::tensor::Tensor;

use super::{AnalyticEnergy, AnalyticHessian, row_sum};

/// The Styblinski–Tang function in any dimension: global minimum ≈ −39.166·d at
/// `xᵢ ≈ −2.9035`. Its energy is negative near the minimum; only differences matter.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StyblinskiTang;

impl AnalyticEnergy for StyblinskiTang {
    fn input_dim(&self) -> Option<usize> {
        None
    }

    fn energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 1> {
        let x2 = x.clone().square();
        row_sum(x2.clone().square() - x2.mul_scalar(16.0) + x.mul_scalar(5.0)).mul_scalar(0.5)
    }

    fn grad_energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        x.clone().powi_scalar(3).mul_scalar(2.0) - x.mul_scalar(16.0) + 2.5
    }
}

impl AnalyticHessian for StyblinskiTang {
    fn hvp<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>, v: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        x.square().mul_scalar(6.0).sub_scalar(16.0) * v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytic::reference::{case, check_against_reference, check_hvp};

    #[test]
    fn matches_reference() {
        let case = case("styblinski_tang_3d");
        check_against_reference(&StyblinskiTang, &case, 1e-5, 1e-4);
        check_hvp(&StyblinskiTang, &case);
    }
}
