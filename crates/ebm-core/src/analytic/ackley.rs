//! Ackley energy `E(x) = −a·exp(−b·√(Σxᵢ²/d)) − exp(Σcos(c·xᵢ)/d) + a + e`.

use crate::cpu_kernels::CpuKernels;
use burn::tensor::Tensor;

use super::{AnalyticEnergy, row_sum};
use crate::error::{Result, require_positive};

/// The Ackley function: many local minima, global minimum 0 at the origin. Any dimension.
///
/// The energy has a cone-shaped kink at the origin. Autodiff (and so TorchEBM) returns NaN there;
/// this closed form returns the zero subgradient, so a chain that lands exactly on the minimum
/// stays finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ackley {
    a: f64,
    b: f64,
    c: f64,
}

impl Ackley {
    /// An Ackley energy with positive, finite `a`, `b`, `c`.
    pub fn new(a: f64, b: f64, c: f64) -> Result<Self> {
        require_positive("a", a)?;
        require_positive("b", b)?;
        require_positive("c", c)?;
        Ok(Self { a, b, c })
    }

    fn radius<Bk: CpuKernels>(&self, x: &Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        let d = x.dims()[1] as f64;
        x.clone().square().sum_dim(1).div_scalar(d).sqrt()
    }
}

impl Default for Ackley {
    /// The usual `a = 20`, `b = 0.2`, `c = 2π`.
    fn default() -> Self {
        Self {
            a: 20.0,
            b: 0.2,
            c: std::f64::consts::TAU,
        }
    }
}

impl AnalyticEnergy for Ackley {
    fn input_dim(&self) -> Option<usize> {
        None
    }

    fn energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 1> {
        let d = x.dims()[1] as f64;
        let r = self.radius(&x).reshape([x.dims()[0]]);
        let cos_mean = row_sum(x.mul_scalar(self.c).cos()).div_scalar(d);
        r.mul_scalar(-self.b).exp().mul_scalar(-self.a) - cos_mean.exp()
            + (self.a + std::f64::consts::E)
    }

    fn grad_energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        let d = x.dims()[1] as f64;
        let r = self.radius(&x);
        // a·b·e^{−b r}·xᵢ/(d·r); at r = 0 every xᵢ is 0, so clamping r gives the 0 subgradient.
        let radial = r
            .clone()
            .mul_scalar(-self.b)
            .exp()
            .mul_scalar(self.a * self.b / d)
            / r.clamp_min(1e-30);
        let cx = x.clone().mul_scalar(self.c);
        let cos_mean = cx.clone().cos().sum_dim(1).div_scalar(d);
        let periodic = cos_mean.exp().mul_scalar(self.c / d);
        x * radial + cx.sin() * periodic
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytic::reference::{case, check_against_reference, param};
    use crate::error::EnergyError;

    #[test]
    fn matches_reference_and_is_finite_at_the_origin() {
        for name in ["ackley_2d", "ackley_3d"] {
            let case = case(name);
            let a = Ackley::new(param(&case, "a"), param(&case, "b"), param(&case, "c")).unwrap();
            // The energy is a + e − a − e at the origin: f32 cancellation leaves ~1e-6.
            check_against_reference(&a, &case, 1e-5, 1e-5);
        }
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(matches!(
            Ackley::new(20.0, 0.0, 1.0),
            Err(EnergyError::InvalidParameter(crate::InvalidParameter {
                name: "b",
                ..
            }))
        ));
    }
}
