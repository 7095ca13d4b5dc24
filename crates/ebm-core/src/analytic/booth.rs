//! Booth's function `E(x, y) = (x + 2y − 7)² + (2x + y − 5)²`.

use crate::cpu_kernels::CpuKernels;
use burn::tensor::Tensor;

use super::{AnalyticEnergy, AnalyticHessian, column};

/// Booth's 2-D quadratic: one minimum of energy 0 at `(1, 3)`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Booth;

impl Booth {
    fn residuals<Bk: CpuKernels>(x: &Tensor<Bk, 2>) -> (Tensor<Bk, 2>, Tensor<Bk, 2>) {
        let (x1, x2) = (column(x, 0), column(x, 1));
        let p = x1.clone() + x2.clone().mul_scalar(2.0) - 7.0;
        let q = x1.mul_scalar(2.0) + x2 - 5.0;
        (p, q)
    }
}

impl AnalyticEnergy for Booth {
    fn input_dim(&self) -> Option<usize> {
        Some(2)
    }

    fn energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 1> {
        let n = x.dims()[0];
        let (p, q) = Self::residuals(&x);
        (p.square() + q.square()).reshape([n])
    }

    fn grad_energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        let (p, q) = Self::residuals(&x);
        let g1 = p.clone().mul_scalar(2.0) + q.clone().mul_scalar(4.0);
        let g2 = p.mul_scalar(4.0) + q.mul_scalar(2.0);
        Tensor::cat(vec![g1, g2], 1)
    }
}

impl AnalyticHessian for Booth {
    fn hvp<Bk: CpuKernels>(&self, _x: Tensor<Bk, 2>, v: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        // The Hessian is the constant [[10, 8], [8, 10]]; scalar ops need no upload.
        let (v1, v2) = (column(&v, 0), column(&v, 1));
        Tensor::cat(
            vec![
                v1.clone().mul_scalar(10.0) + v2.clone().mul_scalar(8.0),
                v1.mul_scalar(8.0) + v2.mul_scalar(10.0),
            ],
            1,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytic::reference::{case, check_against_reference, check_hvp};

    #[test]
    fn matches_reference() {
        let case = case("booth_2d");
        check_against_reference(&Booth, &case, 1e-5, 1e-4);
        check_hvp(&Booth, &case);
    }
}
