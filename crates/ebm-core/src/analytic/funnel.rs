//! Neal's funnel: `v ~ N(0, σ²)` and, given `v`, `zᵢ ~ N(0, eᵛ)` for the other `d − 1`
//! coordinates.

use crate::cpu_kernels::CpuKernels;
use burn::tensor::Tensor;

use super::{AnalyticEnergy, column};
use crate::error::{EnergyError, Result, require_positive};

/// Neal's funnel (Neal 2003, "Slice sampling", §8) in `d ≥ 2` dimensions, the first coordinate
/// being the log-variance `v` of the others:
/// `E(v, z) = v²/(2σ²) + ½·e^{−v}·‖z‖² + (d − 1)·v/2`.
///
/// Normalised, `exp(−E)` has mean 0, `Var v = σ²` and `Var zᵢ = e^{σ²/2}` (90.0 for the
/// standard `σ = 3`). Its neck, where the scale of `z` shrinks by `e^{−3σ/2}` within three
/// standard deviations of `v`, defeats any single step size: the classic test of adaptation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Funnel {
    dim: usize,
    sigma: f64,
}

impl Funnel {
    /// A funnel in `dim ≥ 2` dimensions whose log-variance has standard deviation `sigma > 0`.
    pub fn new(dim: usize, sigma: f64) -> Result<Self> {
        if dim < 2 {
            return Err(EnergyError::TooFewDimensions {
                energy: "Funnel",
                min: 2,
                got: dim,
            });
        }
        require_positive("sigma", sigma)?;
        Ok(Self { dim, sigma })
    }

    /// Neal's `σ = 3`.
    pub fn standard(dim: usize) -> Result<Self> {
        Self::new(dim, 3.0)
    }

    /// The exact variance of each coordinate: `σ²` for `v`, `e^{σ²/2}` for the others.
    pub fn variances(&self) -> Vec<f64> {
        let mut v = vec![(self.sigma * self.sigma / 2.0).exp(); self.dim];
        v[0] = self.sigma * self.sigma;
        v
    }

    /// `(v [N, 1], z [N, d − 1], e^{−v} [N, 1])`.
    fn pieces<Bk: CpuKernels>(
        &self,
        x: Tensor<Bk, 2>,
    ) -> (Tensor<Bk, 2>, Tensor<Bk, 2>, Tensor<Bk, 2>) {
        let v = column(&x, 0);
        let z = x.narrow(1, 1, self.dim - 1);
        let inv_scale = v.clone().neg().exp();
        (v, z, inv_scale)
    }
}

impl AnalyticEnergy for Funnel {
    fn input_dim(&self) -> Option<usize> {
        Some(self.dim)
    }

    fn energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 1> {
        let n = x.dims()[0];
        let (v, z, inv_scale) = self.pieces(x);
        let half_z2 = z.square().sum_dim(1).mul_scalar(0.5) * inv_scale;
        let var = self.sigma * self.sigma;
        let e =
            v.clone().square().div_scalar(2.0 * var) + half_z2 + v * (0.5 * (self.dim - 1) as f64);
        e.reshape([n])
    }

    fn grad_energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        self.energy_and_grad(x).1
    }

    fn energy_and_grad<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> (Tensor<Bk, 1>, Tensor<Bk, 2>) {
        let n = x.dims()[0];
        let (v, z, inv_scale) = self.pieces(x);
        let half_z2 = z.clone().square().sum_dim(1).mul_scalar(0.5) * inv_scale.clone();
        let var = self.sigma * self.sigma;
        let half_rest = 0.5 * (self.dim - 1) as f64;
        let e = v.clone().square().div_scalar(2.0 * var) + half_z2.clone() + v.clone() * half_rest;
        let dv = v.div_scalar(var) - half_z2 + half_rest;
        let dz = z * inv_scale;
        (e.reshape([n]), Tensor::cat(vec![dv, dz], 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckConfig, check_energy};
    use ebm_testing::{TestBackend, TestInner};

    #[test]
    fn energy_and_gradient_match_the_formula_and_autodiff() {
        let funnel = Funnel::standard(3).unwrap();
        let x = Tensor::<TestInner, 2>::from_data([[0.5, 1.0, -2.0]], &Default::default());
        let (e, g) = funnel.energy_and_grad(x.clone());
        // By hand in f64: v = 0.5, ‖z‖² = 5, e^{−v} = 0.60653066.
        let s = (-0.5f64).exp();
        let expected_e = 0.25 / 18.0 + 2.5 * s + 0.5;
        let expected_g = [0.5 / 9.0 - 2.5 * s + 1.0, s, -2.0 * s];
        let e = e.into_data().to_vec::<f32>().unwrap()[0] as f64;
        assert!((e - expected_e).abs() < 1e-6, "{e} vs {expected_e}");
        for (a, b) in g
            .into_data()
            .to_vec::<f32>()
            .unwrap()
            .iter()
            .zip(expected_g)
        {
            assert!((*a as f64 - b).abs() < 1e-6, "{a} vs {b}");
        }
        let x = ebm_testing::normal::<TestInner, 2>([64, 10], 1.5, 4, &Default::default());
        let report = check_energy::<TestBackend, _>(
            &Funnel::standard(10).unwrap(),
            x,
            &CheckConfig::default(),
        )
        .unwrap();
        assert!(report.max_gradient_error < 1e-5, "{report:?}");
        assert_eq!(report.non_finite_gradients, 0);
    }

    #[test]
    fn parameters_are_checked_and_variances_known() {
        assert!(matches!(
            Funnel::standard(1),
            Err(EnergyError::TooFewDimensions { min: 2, got: 1, .. })
        ));
        assert!(Funnel::new(3, 0.0).is_err());
        let v = Funnel::standard(3).unwrap().variances();
        assert_eq!(v[0], 9.0);
        assert!((v[1] - 90.017_131).abs() < 1e-5 && v[1] == v[2]);
    }
}
