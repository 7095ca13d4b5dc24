//! Adapter from a log-density to an energy: `E(x) = −log p(x)`.

use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;

use crate::energy::Energy;

/// Turns any differentiable log-density `log p(x)` (`[N, D] → [N]`, written with Burn tensor
/// ops) into the energy `E(x) = −log p(x)`. The normalising constant is irrelevant, so an
/// unnormalised log-density works too. Its gradient comes from autodiff.
///
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use burn::tensor::Tensor;
/// use ebm_core::{combinators::FromLogDensity, Energy};
///
/// type B = Autodiff<NdArray>;
/// // log p(x) = −‖x‖⁴, a "flat-bottomed" density.
/// let e = FromLogDensity::new(Some(2), |x: Tensor<B, 2>| {
///     let n = x.dims()[0];
///     x.square().sum_dim(1).square().neg().reshape([n])
/// });
/// let x = Tensor::<NdArray, 2>::from_data([[1.0, 0.0]], &Default::default());
/// let g = e.grad_energy(x).into_data().to_vec::<f32>().unwrap();
/// assert_eq!(g, vec![4.0, 0.0]);
/// ```
pub struct FromLogDensity<F> {
    log_density: F,
    dim: Option<usize>,
}

impl<F> FromLogDensity<F> {
    /// Wraps `log_density`, which accepts `dim` features per sample (`None`: any).
    pub fn new(dim: Option<usize>, log_density: F) -> Self {
        Self { log_density, dim }
    }
}

impl<B, F> Energy<B> for FromLogDensity<F>
where
    B: AutodiffBackend,
    F: Fn(Tensor<B, 2>) -> Tensor<B, 1> + Send + Sync,
{
    fn input_dim(&self) -> Option<usize> {
        self.dim
    }

    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        (self.log_density)(x).neg()
    }
}
