//! Chained Rosenbrock energy `E(x) = Σ_{i<d} (a − xᵢ)² + b·(xᵢ₊₁ − xᵢ²)²`.

use crate::cpu_kernels::CpuKernels;
use burn::tensor::Tensor;

use super::{AnalyticEnergy, row_sum};
use crate::error::{EnergyError, Result, require_finite, require_positive};

/// The chained Rosenbrock function in `d ≥ 2` dimensions, minimum 0 at `(a, a², …)`; for the
/// default `a = 1` that is `(1, …, 1)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rosenbrock {
    dim: usize,
    a: f64,
    b: f64,
}

impl Rosenbrock {
    /// A Rosenbrock energy in `dim ≥ 2` dimensions with finite `a` and `b > 0`.
    pub fn new(dim: usize, a: f64, b: f64) -> Result<Self> {
        if dim < 2 {
            return Err(EnergyError::TooFewDimensions {
                energy: "Rosenbrock",
                min: 2,
                got: dim,
            });
        }
        require_finite("a", a)?;
        require_positive("b", b)?;
        Ok(Self { dim, a, b })
    }

    /// The classic `a = 1`, `b = 100`.
    pub fn standard(dim: usize) -> Result<Self> {
        Self::new(dim, 1.0, 100.0)
    }

    fn pieces<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> (Tensor<Bk, 2>, Tensor<Bk, 2>) {
        let lo = x.clone().narrow(1, 0, self.dim - 1);
        let hi = x.narrow(1, 1, self.dim - 1);
        let r = hi - lo.clone().square();
        (lo, r)
    }
}

impl AnalyticEnergy for Rosenbrock {
    fn input_dim(&self) -> Option<usize> {
        Some(self.dim)
    }

    fn energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 1> {
        let (lo, r) = self.pieces(x);
        row_sum(lo.neg().add_scalar(self.a).square() + r.square().mul_scalar(self.b))
    }

    fn grad_energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        let [n, _] = x.dims();
        let device = x.device();
        let (lo, r) = self.pieces(x);
        // ∂/∂xᵢ from the terms where xᵢ is the "low" coordinate, and from those where it is "high".
        let from_lo = lo.clone().sub_scalar(self.a).mul_scalar(2.0)
            - (lo * r.clone()).mul_scalar(4.0 * self.b);
        let from_hi = r.mul_scalar(2.0 * self.b);
        let zero = Tensor::<Bk, 2>::zeros([n, 1], &device);
        Tensor::cat(vec![from_lo, zero.clone()], 1) + Tensor::cat(vec![zero, from_hi], 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytic::reference::{case, check_against_reference, param};

    #[test]
    fn matches_reference() {
        for (name, dim) in [("rosenbrock_2d", 2), ("rosenbrock_4d", 4)] {
            let case = case(name);
            let r = Rosenbrock::new(dim, param(&case, "a"), param(&case, "b")).unwrap();
            check_against_reference(&r, &case, 1e-5, 1e-4);
        }
    }

    #[test]
    fn needs_two_dimensions() {
        assert!(matches!(
            Rosenbrock::standard(1),
            Err(EnergyError::TooFewDimensions { min: 2, got: 1, .. })
        ));
        assert!(matches!(
            Rosenbrock::new(3, 1.0, -1.0),
            Err(EnergyError::InvalidParameter(crate::InvalidParameter {
                name: "b",
                ..
            }))
        ));
    }
}
