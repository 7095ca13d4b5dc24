//! Energy on the direction of `x`: `E(x) = E_base(x/‖x‖)`.

use std::marker::PhantomData;

use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

use super::BoxedEnergy;
use super::module_of_parts::module_of_parts;
use crate::energy::{Energy, Inner};

/// Smallest norm used when normalising; below it the direction is undefined, and the gradient is
/// damped rather than infinite.
const MIN_NORM: f64 = 1e-12;

/// Evaluates a base energy on the unit sphere: `E(x) = E_base(u)`, `u = x/‖x‖`.
///
/// The gradient is the base gradient projected onto the tangent space and scaled by `1/‖x‖`:
/// `∇E = (I − uuᵀ)·∇E_base(u) / ‖x‖`, which is radially constant, as it must be.
///
/// The base is any energy (boxed by default); when it is a Burn module, so is the wrapper.
pub struct Spherical<B, E = BoxedEnergy<B>> {
    base: E,
    backend: PhantomData<fn() -> B>,
}

impl<B, E> Spherical<B, E> {
    /// Wraps `base`.
    pub fn new(base: E) -> Self {
        Self {
            base,
            backend: PhantomData,
        }
    }

    /// The base energy.
    pub fn base(&self) -> &E {
        &self.base
    }

    /// The same wrapper around another base (of another backend, for Burn's module methods).
    fn map_parts<C, F>(self, f: impl FnOnce(E) -> F) -> Spherical<C, F> {
        Spherical::new(f(self.base))
    }
}

impl<B, E: Clone> Clone for Spherical<B, E> {
    fn clone(&self) -> Self {
        Self::new(self.base.clone())
    }
}

impl<B, E: std::fmt::Debug> std::fmt::Debug for Spherical<B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spherical")
            .field("base", &self.base)
            .finish()
    }
}

module_of_parts!(Spherical, base);

fn normalise<Bk: Backend>(x: Tensor<Bk, 2>) -> (Tensor<Bk, 2>, Tensor<Bk, 2>) {
    let r = x.clone().square().sum_dim(1).sqrt().clamp_min(MIN_NORM);
    (x / r.clone(), r)
}

impl<B: AutodiffBackend, E: Energy<B>> Energy<B> for Spherical<B, E> {
    fn input_dim(&self) -> Option<usize> {
        self.base.input_dim()
    }

    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        self.base.energy(normalise(x).0)
    }

    fn energy_value(&self, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        self.base.energy_value(normalise(x).0)
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
        let (u, r) = normalise(x);
        let (e, g) = self.base.energy_and_grad(u.clone());
        let radial = (g.clone() * u.clone()).sum_dim(1);
        ((e), (g - u * radial) / r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytic::Gaussian;
    use crate::check::{CheckConfig, check_energy};
    use ebm_testing::{TestBackend, TestInner};

    type B = TestBackend;

    #[test]
    fn depends_only_on_direction_and_gradient_matches_autodiff() {
        let base = Gaussian::new(vec![1.0, 0.0], vec![vec![0.5, 0.0], vec![0.0, 0.5]]).unwrap();
        let s = Spherical::<B, _>::new(base);
        let x = Tensor::<TestInner, 2>::from_data(
            [[1.0, 1.0], [3.0, 3.0], [-0.5, 2.0]],
            &Default::default(),
        );
        let e = s
            .energy_value(x.clone())
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert!((e[0] - e[1]).abs() < 1e-6, "{e:?}");
        let report = check_energy::<B, _>(&s, x, &CheckConfig::default()).unwrap();
        assert!(report.max_gradient_error < 1e-4, "{report:?}");
    }
}
