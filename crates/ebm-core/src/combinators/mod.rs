//! Energies built from other energies.
//!
//! The combinators hold their parts by value ([`EnergyParts`]: a `Vec` or a tuple of energies).
//! When every part is a Burn module, the combination is a module too, so a network inside a
//! [`Composite`], a [`Mixture`] or a [`Spherical`] trains with it; when every part is a
//! [`crate::SecondOrderEnergy`], so are [`Composite`] and [`Mixture`], and score matching trains
//! them.
//!
//! ```
//! use burn::backend::{Autodiff, NdArray};
//! use burn::module::Module;
//! use ebm_core::analytic::Gaussian;
//! use ebm_core::combinators::{Composite, Operation};
//! use ebm_core::neural::MlpConfig;
//!
//! type B = Autodiff<NdArray>;
//! let device = Default::default();
//! // A known prior plus a learned correction: the MLP's parameters are the composite's.
//! let mlp = MlpConfig::new(2, vec![16]).init::<B>(&device).unwrap();
//! let params = mlp.num_params();
//! let energy = Composite::new(
//!     (Gaussian::standard(2).unwrap(), mlp),
//!     vec![1.0, 0.1],
//!     Operation::Sum,
//! )
//! .unwrap();
//! assert_eq!(energy.num_params(), params);
//! ```

mod at_noise_level;
mod composite;
mod log_density;
mod mixture;
mod module_of_parts;
mod parts;
mod spherical;

pub use at_noise_level::{AtNoiseLevel, with_level_plane};
pub use composite::{Composite, Operation};
pub use log_density::FromLogDensity;
pub use mixture::Mixture;
pub use parts::{BoxedEnergy, EnergyParts, SecondOrderParts};
pub use spherical::Spherical;

use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::energy::Energy;
use crate::error::{EnergyError, Result};

/// The parts in order.
fn each<B: AutodiffBackend, P: EnergyParts<B>>(parts: &P) -> impl Iterator<Item = &dyn Energy<B>> {
    (0..parts.count()).map(|k| parts.part(k))
}

/// The common input width of several energies, with a typed error when they disagree.
fn common_dim<B: AutodiffBackend, P: EnergyParts<B>>(parts: &P) -> Result<Option<usize>> {
    let mut dim = None;
    for part in each(parts) {
        match (dim, part.input_dim()) {
            (Some(a), Some(b)) if a != b => {
                return Err(EnergyError::LengthMismatch {
                    what: "input dimensions of the combined energies",
                    left: a,
                    right: b,
                });
            }
            (None, Some(b)) => dim = Some(b),
            _ => {}
        }
    }
    Ok(dim)
}

/// Validates combination weights: non-empty, as many as energies, finite.
fn check_weights(weights: &[f64], n_energies: usize) -> Result<()> {
    if n_energies == 0 {
        return Err(EnergyError::Empty { what: "energies" });
    }
    if weights.is_empty() {
        return Err(EnergyError::Empty { what: "weights" });
    }
    if weights.len() != n_energies {
        return Err(EnergyError::LengthMismatch {
            what: "weights vs energies",
            left: weights.len(),
            right: n_energies,
        });
    }
    if weights.iter().any(|w| !w.is_finite()) {
        return Err(EnergyError::NonFinite { what: "weights" });
    }
    Ok(())
}

/// A per-sample column `[N, 1]` repeated for `p` probes per sample, `[P·N, 1]` (row `j·N + i`
/// holds sample `i`). Built with `cat`: Burn 0.21's backward of `repeat_dim` over several rows
/// sums the wrong rows, and these columns carry parameter gradients.
fn per_probe<Bk: Backend>(column: Tensor<Bk, 2>, p: usize) -> Tensor<Bk, 2> {
    if p == 1 {
        column
    } else {
        Tensor::cat(vec![column; p], 0)
    }
}

/// Row-wise dot products `[M, D] · [M, D] → [M, 1]`.
fn row_dot<Bk: Backend>(a: Tensor<Bk, 2>, b: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
    (a * b).sum_dim(1)
}

#[cfg(test)]
pub(crate) mod second_order_check {
    //! The check every second-order combinator passes: its tracked gradient equals its
    //! graph-free one, and its Hessian-vector products (two probes per sample) match central
    //! differences of that gradient.

    use burn::tensor::Tensor;
    use ebm_testing::{TestBackend, TestInner};

    use crate::energy::SecondOrderEnergy;

    type B = TestBackend;

    pub(crate) fn assert_agrees<E: SecondOrderEnergy<B>>(energy: &E, x: Tensor<TestInner, 2>) {
        let [n, d] = x.dims();
        let device = x.device();
        let v = ebm_testing::normal::<TestInner, 2>([2 * n, d], 1.0, 31, &device);
        let values = |t: Tensor<TestInner, 2>| t.into_data().to_vec::<f32>().unwrap();
        let close = |a: &[f32], b: &[f32], tol: f32, what: &str| {
            for (a, b) in a.iter().zip(b) {
                assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{what}: {a} vs {b}");
            }
        };
        let graph_free = values(energy.energy_and_grad(x.clone()).1);
        let tracked = energy.grad_energy_tracked(Tensor::from_inner(x.clone()));
        close(&values(tracked.inner()), &graph_free, 1e-5, "∇E tracked");
        let (g, hv) = energy
            .grad_and_hvps_tracked(Tensor::from_inner(x.clone()), Tensor::from_inner(v.clone()));
        close(&values(g.inner()), &graph_free, 1e-5, "∇E with H·v");
        let h = 4e-3;
        let x2 = Tensor::cat(vec![x.clone(), x], 0);
        let grad = |t: Tensor<TestInner, 2>| energy.grad_energy(t);
        let fd = (grad(x2.clone() + v.clone().mul_scalar(h)) - grad(x2 - v.mul_scalar(h)))
            .div_scalar(2.0 * h);
        close(&values(hv.inner()), &values(fd), 2e-3, "H·v");
        // One probe per sample goes through the same path.
        let x1 = ebm_testing::normal::<TestInner, 2>([n, d], 1.0, 32, &device);
        let v1 = ebm_testing::normal::<TestInner, 2>([n, d], 1.0, 33, &device);
        let (_, one) = energy.grad_and_hvp_tracked(
            Tensor::from_inner(x1.clone()),
            Tensor::from_inner(v1.clone()),
        );
        let fd = (grad(x1.clone() + v1.clone().mul_scalar(h)) - grad(x1 - v1.mul_scalar(h)))
            .div_scalar(2.0 * h);
        close(&values(one.inner()), &values(fd), 2e-3, "H·v, one probe");
    }
}
