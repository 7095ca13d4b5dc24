//! A Gaussian-shaped energy with learnable mean and precision.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::cpu_kernels::{CpuKernels, EbmBackend};
use crate::energy::{Energy, Inner, SecondOrderEnergy};
use crate::error::{EnergyError, Result};

/// Builds a [`Quadratic`] energy.
#[derive(Config, Debug)]
pub struct QuadraticConfig {
    /// Dimension.
    pub dim: usize,
    /// Initial precision `p·I`.
    #[config(default = 1.0)]
    pub initial_precision: f64,
}

crate::json_config!(
    QuadraticConfig,
    required = ["dim"],
    template = QuadraticConfig::new(0)
);

impl QuadraticConfig {
    /// Builds the energy with mean 0 and precision `initial_precision·I`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Quadratic<B>> {
        if self.dim == 0 {
            return Err(EnergyError::Empty { what: "dimension" });
        }
        crate::error::require_finite("initial_precision", self.initial_precision)?;
        Ok(Quadratic {
            mean: Param::from_tensor(Tensor::zeros([self.dim], device)),
            precision: Param::from_tensor(
                Tensor::eye(self.dim, device).mul_scalar(self.initial_precision),
            ),
        })
    }
}

/// `E(x) = ½ (x − μ)ᵀ P (x − μ)` with learnable `μ` and `P` (only the symmetric part of the
/// stored matrix enters). `P` is *not* constrained to be positive definite, on purpose: a learner
/// with a sign error drives it negative, which the recovery tests detect.
#[derive(Module, Debug)]
pub struct Quadratic<B: Backend> {
    /// Mean `μ`, `[D]`.
    pub mean: Param<Tensor<B, 1>>,
    /// Precision matrix, `[D, D]` (symmetrised when used).
    pub precision: Param<Tensor<B, 2>>,
}

impl<B: CpuKernels> Quadratic<B> {
    /// The symmetric precision `(P + Pᵀ)/2` as row-major host values.
    pub fn precision_matrix(&self) -> Vec<f64> {
        self.sym_precision(self.precision.val())
            .into_data()
            .convert::<f64>()
            .to_vec()
            .expect("float data")
    }

    fn sym_precision<Bk: CpuKernels>(&self, p: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        (p.clone() + p.transpose()).mul_scalar(0.5)
    }

    fn parts<Bk: CpuKernels>(
        &self,
        mean: Tensor<Bk, 1>,
        p: Tensor<Bk, 2>,
        x: Tensor<Bk, 2>,
    ) -> (Tensor<Bk, 1>, Tensor<Bk, 2>) {
        let n = x.dims()[0];
        let diff = x - mean.unsqueeze_dim(0);
        let grad = diff.clone().matmul(self.sym_precision(p));
        (
            (grad.clone() * diff)
                .sum_dim(1)
                .reshape([n])
                .mul_scalar(0.5),
            grad,
        )
    }
}

impl<B: EbmBackend> Energy<B> for Quadratic<B> {
    fn input_dim(&self) -> Option<usize> {
        Some(self.mean.dims()[0])
    }

    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        self.parts(self.mean.val(), self.precision.val(), x).0
    }

    fn energy_and_grad(
        &self,
        x: Tensor<Inner<B>, 2>,
    ) -> (Tensor<Inner<B>, 1>, Tensor<Inner<B>, 2>) {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        self.parts(self.mean.val().inner(), self.precision.val().inner(), x)
    }
}

impl<B: EbmBackend> SecondOrderEnergy<B> for Quadratic<B> {
    fn grad_energy_tracked(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        self.parts(self.mean.val(), self.precision.val(), x).1
    }

    fn grad_and_hvp_tracked(
        &self,
        x: Tensor<B, 2>,
        v: Tensor<B, 2>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );

        crate::assert_probes(std::any::type_name::<Self>(), x.dims(), v.dims(), false);
        let p = self.precision.val();
        let grad = self.parts(self.mean.val(), p.clone(), x).1;
        (grad, v.matmul(self.sym_precision(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckConfig, check_energy};
    use ebm_testing::{TestBackend, TestInner};

    type B = TestBackend;

    #[test]
    fn gradient_matches_autodiff() {
        let device = Default::default();
        let mut q = QuadraticConfig::new(2)
            .with_initial_precision(2.0)
            .init::<B>(&device)
            .unwrap();
        q.precision = Param::from_tensor(Tensor::from_data([[2.0, 0.3], [-0.1, 1.0]], &device));
        let x = Tensor::<TestInner, 2>::from_data([[1.0, -2.0], [0.5, 0.5]], &device);
        let report = check_energy::<B, _>(&q, x, &CheckConfig::default()).unwrap();
        assert!(report.max_gradient_error < 1e-6, "{report:?}");
        for (ours, want) in q.precision_matrix().iter().zip([2.0, 0.1, 0.1, 1.0]) {
            assert!((ours - want).abs() < 1e-6, "{ours} vs {want}");
        }
    }
}
