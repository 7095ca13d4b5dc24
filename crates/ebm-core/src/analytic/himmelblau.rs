//! Himmelblau's function `E(x, y) = (x² + y − 11)² + (x + y² − 7)²`.

use crate::cpu_kernels::CpuKernels;
use burn::tensor::Tensor;

use super::{AnalyticEnergy, column};

/// Himmelblau's 2-D function: four minima of energy 0, one at `(3, 2)`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Himmelblau;

impl Himmelblau {
    fn residuals<Bk: CpuKernels>(
        x: &Tensor<Bk, 2>,
    ) -> (Tensor<Bk, 2>, Tensor<Bk, 2>, Tensor<Bk, 2>, Tensor<Bk, 2>) {
        let (x1, x2) = (column(x, 0), column(x, 1));
        let u = x1.clone().square() + x2.clone() - 11.0;
        let w = x1.clone() + x2.clone().square() - 7.0;
        (x1, x2, u, w)
    }
}

impl AnalyticEnergy for Himmelblau {
    fn input_dim(&self) -> Option<usize> {
        Some(2)
    }

    fn energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 1> {
        let n = x.dims()[0];
        let (_, _, u, w) = Self::residuals(&x);
        (u.square() + w.square()).reshape([n])
    }

    fn grad_energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        let (x1, x2, u, w) = Self::residuals(&x);
        let g1 = (x1 * u.clone()).mul_scalar(4.0) + w.clone().mul_scalar(2.0);
        let g2 = u.mul_scalar(2.0) + (x2 * w).mul_scalar(4.0);
        Tensor::cat(vec![g1, g2], 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytic::reference::{case, check_against_reference};

    #[test]
    fn matches_reference() {
        check_against_reference(&Himmelblau, &case("himmelblau_2d"), 1e-5, 1e-4);
    }
}
