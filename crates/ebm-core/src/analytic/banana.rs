//! The banana (Haario et al. 1999's twisted Gaussian): a Gaussian bent along a parabola.

use crate::cpu_kernels::CpuKernels;
use burn::tensor::Tensor;

use super::{AnalyticEnergy, column, row_sum};
use crate::error::{Result, require_finite, require_positive};

/// A 2-D Gaussian `N(0, diag(s², 1))` twisted by `x₂ ↦ x₂ − b·(x₁² − s²)`:
/// `E(x) = x₁²/(2s²) + ½·(x₂ − b·x₁² + b·s²)²`.
///
/// The twist preserves volume, so `exp(−E)` is normalised by `2π·s` and has mean 0,
/// `Var x₁ = s²` and `Var x₂ = 1 + 2b²s⁴` (19 for the standard `s = 10`, `b = 0.03`). The
/// curved ridge needs small steps across it and long trajectories along it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Banana {
    scale: f64,
    twist: f64,
}

impl Banana {
    /// A banana with `x₁`-scale `s > 0` and twist `b` (finite; 0 is a plain Gaussian).
    pub fn new(scale: f64, twist: f64) -> Result<Self> {
        require_positive("scale", scale)?;
        require_finite("twist", twist)?;
        Ok(Self { scale, twist })
    }

    /// `s = 10`, `b = 0.03`.
    pub fn standard() -> Self {
        Self {
            scale: 10.0,
            twist: 0.03,
        }
    }

    /// The exact variances `[s², 1 + 2b²s⁴]`.
    pub fn variances(&self) -> [f64; 2] {
        let s2 = self.scale * self.scale;
        [s2, 1.0 + 2.0 * self.twist * self.twist * s2 * s2]
    }

    /// `(x₁ [N, 1], r = x₂ − b·x₁² + b·s² [N, 1])`.
    fn pieces<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> (Tensor<Bk, 2>, Tensor<Bk, 2>) {
        let x1 = column(&x, 0);
        let r = column(&x, 1) - x1.clone().square().mul_scalar(self.twist)
            + self.twist * self.scale * self.scale;
        (x1, r)
    }
}

impl AnalyticEnergy for Banana {
    fn input_dim(&self) -> Option<usize> {
        Some(2)
    }

    fn energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 1> {
        let (x1, r) = self.pieces(x);
        let s2 = self.scale * self.scale;
        row_sum(x1.square().div_scalar(2.0 * s2) + r.square().mul_scalar(0.5))
    }

    fn grad_energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        self.energy_and_grad(x).1
    }

    fn energy_and_grad<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> (Tensor<Bk, 1>, Tensor<Bk, 2>) {
        let (x1, r) = self.pieces(x);
        let s2 = self.scale * self.scale;
        let e =
            row_sum(x1.clone().square().div_scalar(2.0 * s2) + r.clone().square().mul_scalar(0.5));
        let d1 = x1.clone().div_scalar(s2) - (x1 * r.clone()).mul_scalar(2.0 * self.twist);
        (e, Tensor::cat(vec![d1, r], 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckConfig, check_energy};
    use ebm_testing::{TestBackend, TestInner};

    #[test]
    fn energy_and_gradient_match_the_formula_and_autodiff() {
        let banana = Banana::standard();
        let x = Tensor::<TestInner, 2>::from_data([[4.0, 1.5]], &Default::default());
        let (e, g) = banana.energy_and_grad(x.clone());
        // By hand: r = 1.5 − 0.03·16 + 3 = 4.02.
        let r = 4.02f64;
        let expected_e = 16.0 / 200.0 + 0.5 * r * r;
        let expected_g = [4.0 / 100.0 - 2.0 * 0.03 * 4.0 * r, r];
        let e = e.into_data().to_vec::<f32>().unwrap()[0] as f64;
        assert!((e - expected_e).abs() < 1e-5, "{e} vs {expected_e}");
        for (a, b) in g
            .into_data()
            .to_vec::<f32>()
            .unwrap()
            .iter()
            .zip(expected_g)
        {
            assert!((*a as f64 - b).abs() < 1e-5, "{a} vs {b}");
        }
        let x = ebm_testing::normal::<TestInner, 2>([64, 2], 5.0, 4, &Default::default());
        let report = check_energy::<TestBackend, _>(&banana, x, &CheckConfig::default()).unwrap();
        assert!(report.max_gradient_error < 1e-5, "{report:?}");
    }

    #[test]
    fn parameters_are_checked_and_variances_known() {
        assert!(Banana::new(0.0, 0.1).is_err());
        assert!(Banana::new(1.0, f64::NAN).is_err());
        let [v1, v2] = Banana::standard().variances();
        assert_eq!(v1, 100.0);
        assert!((v2 - 19.0).abs() < 1e-9);
    }
}
