//! The [`Energy`] trait: the one abstraction that samplers and learners are written against.
//!
//! # Sign convention
//!
//! This is the single place where the convention is stated; everything in the workspace follows it.
//!
//! * An energy `E(x)` defines the density `p(x) ∝ exp(−E(x))`: **low energy means high probability**.
//! * [`Energy::grad_energy`] returns **`+∇ₓE`**, the gradient *of the energy* (the same as TorchEBM's
//!   `gradient`).
//! * [`Energy::score`] returns **`∇ₓ log p = −∇ₓE`**. Samplers drift along the score.
//!
//! # Two paths: tracked and graph-free
//!
//! [`Energy::energy`] runs on the autodiff backend `B` and keeps the graph, so a learner can
//! differentiate it in the parameters. The sampler-facing methods ([`Energy::energy_value`],
//! [`Energy::grad_energy`], [`Energy::energy_and_grad`]) take and return tensors on
//! `B::InnerBackend`: whatever they do internally, they hand back plain tensors with no graph, so a
//! chain of a thousand steps never grows one. Energies with a closed-form gradient override them and
//! never touch autodiff.

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};

use crate::error::{EnergyError, Result};

/// The backend that an autodiff backend `B` wraps: where graph-free computation happens.
pub type Inner<B> = <B as AutodiffBackend>::InnerBackend;

/// An energy function over batches of flattened samples `[N, D] → [N]`.
///
/// # Panics
///
/// Every energy of the workspace checks the input shape at each method (no device sync) and
/// panics with a message naming the expected shape on an empty batch or a wrong width (see
/// [`assert_batch`]). [`Energy::check_input`] returns the same verdict as a typed error; the
/// samplers and learners call it, so their users get [`EnergyError`]s instead.
///
/// Images and other structured samples are flattened row-major (`[N, C·H·W]`); energies that need
/// the structure (such as [`crate::neural::Cnn`]) reshape internally and document their layout.
///
/// Implementors must provide [`Energy::energy`]. The default input gradient uses autodiff on the
/// inner graph of `B` and hands back a detached tensor; override [`Energy::energy_and_grad`] (and
/// [`Energy::energy_value`]) when a cheaper exact path exists.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::Tensor;
/// use ebm_core::{analytic::Harmonic, Energy};
///
/// let device = Default::default();
/// let energy = Harmonic::new(2.0).unwrap();
/// let x = Tensor::<NdArray, 2>::from_data([[1.0, -1.0]], &device);
/// // E = ½·k·‖x‖² = 2, ∇E = k·x, score = −k·x.
/// // The backend is inferred from the tensor: an analytic energy is an energy on `Autodiff<IB>`
/// // for the tensor's backend `IB`.
/// let e = energy.energy_value(x.clone());
/// let s = energy.score(x);
/// assert_eq!(e.into_data().to_vec::<f32>().unwrap(), vec![2.0]);
/// assert_eq!(s.into_data().to_vec::<f32>().unwrap(), vec![-2.0, 2.0]);
/// ```
pub trait Energy<B: AutodiffBackend>: Send + Sync {
    /// Number of features per sample that the energy accepts, or `None` if any width works.
    fn input_dim(&self) -> Option<usize>;

    /// Energy of every sample, `[N, D] → [N]`, with the autodiff graph kept (for learning).
    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1>;

    /// Energy of every sample with no graph.
    fn energy_value(&self, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 1> {
        self.energy(Tensor::from_inner(x)).inner()
    }

    /// Energy and `+∇ₓE` together, with no graph (samplers that need both call this once).
    fn energy_and_grad(
        &self,
        x: Tensor<Inner<B>, 2>,
    ) -> (Tensor<Inner<B>, 1>, Tensor<Inner<B>, 2>) {
        autodiff_energy_and_grad(self, x)
    }

    /// `+∇ₓE` for every sample, `[N, D] → [N, D]`, with no graph.
    fn grad_energy(&self, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 2> {
        self.energy_and_grad(x).1
    }

    /// The score `∇ₓ log p = −∇ₓE`, with no graph.
    fn score(&self, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 2> {
        self.grad_energy(x).neg()
    }

    /// Checks an input shape `[N, D]` against the energy: a non-empty batch of the right width.
    fn check_input(&self, dims: [usize; 2]) -> Result<()> {
        check_batch(self.input_dim(), dims)
    }
}

/// Energies whose input gradient can itself be differentiated in the parameters.
///
/// Score matching needs `∂/∂θ` of expressions in `∇ₓE` and in Hessian-vector products. Burn's
/// nested autodiff cannot differentiate fused ops such as `linear` twice, so implementors write the
/// input gradient and the Hessian-vector product explicitly with primitive tensor ops on `B`; a
/// single (first-order) backward pass then gives the parameter gradients. This also works on every
/// backend, WGPU and CUDA included.
///
/// Implemented by [`crate::neural::Mlp`], [`crate::neural::Cnn`], [`crate::neural::Hybrid`] and
/// the analytic energies with a closed-form Hessian.
pub trait SecondOrderEnergy<B: AutodiffBackend>: Energy<B> {
    /// `+∇ₓE` on the autodiff backend, differentiable in the parameters.
    fn grad_energy_tracked(&self, x: Tensor<B, 2>) -> Tensor<B, 2>;

    /// `(∇ₓE, H·v)` for each row, both differentiable in the parameters, where `H = ∇ₓ²E(x)` and
    /// `v` has the shape of `x`.
    fn grad_and_hvp_tracked(
        &self,
        x: Tensor<B, 2>,
        v: Tensor<B, 2>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>);

    /// `(∇ₓE, H·vₚ)` with `P` probes per sample in one call: `x` is `[N, D]` and `v` is
    /// `[P·N, D]`, row `p·N + i` a probe for sample `i`. Returns `∇ₓE` (`[N, D]`) and the
    /// products (`[P·N, D]`), both differentiable in the parameters.
    ///
    /// The default runs [`SecondOrderEnergy::grad_and_hvp_tracked`] on `x` repeated `P` times;
    /// [`crate::neural::Mlp`] overrides it to take the forward and gradient pass once and only the
    /// tangents `P` times.
    ///
    /// # Panics
    /// If `v`'s row count is not a positive multiple of `x`'s (a caller's bug, not bad data).
    fn grad_and_hvps_tracked(
        &self,
        x: Tensor<B, 2>,
        v: Tensor<B, 2>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let [n, d] = x.dims();
        let p = probes_per_row(n, v.dims()[0]);
        // Only the input is repeated, and nothing is differentiated through the repeat: Burn
        // 0.21's backward of `repeat_dim` over several rows sums the wrong rows.
        let (g, hv) = self.grad_and_hvp_tracked(x.repeat_dim(0, p), v);
        (g.slice([0..n, 0..d]), hv)
    }

    /// `(∇ₓE, tr ∇ₓ²E)` for each row with the exact Laplacian (`D` Hessian-vector products, so meant
    /// for low dimensions), both differentiable in the parameters.
    fn grad_and_laplacian_tracked(&self, x: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let [n, d] = x.dims();
        let device = x.device();
        // Probe k of sample i is the basis vector e_k, so one batched pass gives all of H's
        // diagonal entries.
        let basis = Tensor::<B, 2>::eye(d, &device)
            .unsqueeze_dim::<3>(1)
            .expand([d, n, d])
            .reshape([d * n, d]);
        let (grad, hv) = self.grad_and_hvps_tracked(x, basis.clone());
        let diag = (hv * basis).sum_dim(1).reshape([d, n]);
        (grad, diag.sum_dim(0).reshape([n]))
    }
}

/// `E(x)` and `∇ₓE` by reverse-mode autodiff on the autodiff backend, returned detached.
///
/// This is the default of [`Energy::energy_and_grad`] and the reference the energy checker
/// compares closed-form gradients against.
pub fn autodiff_energy_and_grad<B: AutodiffBackend, E: Energy<B> + ?Sized>(
    energy: &E,
    x: Tensor<Inner<B>, 2>,
) -> (Tensor<Inner<B>, 1>, Tensor<Inner<B>, 2>) {
    let x_tracked = Tensor::<B, 2>::from_inner(x).require_grad();
    let e = energy.energy(x_tracked.clone());
    let grads = e.clone().sum().backward();
    let grad = x_tracked
        .grad(&grads)
        // An energy that ignores its input has a zero gradient, not a missing one.
        .unwrap_or_else(|| Tensor::zeros(x_tracked.dims(), &x_tracked.device()));
    (e.inner(), grad)
}

/// Checks that `dims = [N, D]` is a non-empty batch whose width matches `expected` (if any).
pub fn check_batch(expected: Option<usize>, dims: [usize; 2]) -> Result<()> {
    let [n, d] = dims;
    if n == 0 {
        return Err(EnergyError::EmptyBatch);
    }
    match expected {
        Some(expected) if expected != d => Err(EnergyError::Dimension { expected, got: d }),
        _ => Ok(()),
    }
}

/// The input contract of every [`Energy`] and [`SecondOrderEnergy`] method of the workspace's
/// energies: panics with a message that names the energy and the expected shape unless `dims`
/// is a non-empty batch `[N ≥ 1, D]` of width `expected` (any width for `None`). It reads only
/// the shape, which is host metadata: no device sync. Call [`Energy::check_input`] first to get
/// a typed error instead; samplers and learners do.
///
/// ```should_panic
/// // "Mlp: input [5, 3] rejected (dimension mismatch ...); expected [N ≥ 1, 2]"
/// ebm_core::assert_batch("Mlp", Some(2), [5, 3]);
/// ```
#[track_caller]
pub fn assert_batch(energy: &str, expected: Option<usize>, dims: [usize; 2]) {
    if let Err(e) = check_batch(expected, dims) {
        let width = expected.map_or("D".to_string(), |d| d.to_string());
        panic!(
            "{}: input {dims:?} rejected ({e}); expected [N ≥ 1, {width}]",
            short_type_name(energy)
        );
    }
}

/// [`SecondOrderEnergy::grad_and_hvp_tracked`] for an energy whose batched path is its fast one
/// (the CNN, the hybrid): one probe per sample is that path with `P = 1`.
#[track_caller]
pub(crate) fn one_probe_per_sample<B: AutodiffBackend, E: SecondOrderEnergy<B>>(
    energy: &E,
    x: Tensor<B, 2>,
    v: Tensor<B, 2>,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    assert_probes(std::any::type_name::<E>(), x.dims(), v.dims(), false);
    energy.grad_and_hvps_tracked(x, v)
}

/// The input contract of a Hessian-vector product on `energy`: `x` a batch it takes
/// ([`assert_batch`]) and `v` its probes ([`assert_probes`]).
#[track_caller]
pub(crate) fn assert_hvp_input<B: AutodiffBackend, E: Energy<B>>(
    energy: &E,
    x: [usize; 2],
    v: [usize; 2],
    multiple: bool,
) {
    let name = std::any::type_name::<E>();
    assert_batch(name, energy.input_dim(), x);
    assert_probes(name, x, v, multiple);
}

/// The input contract of the Hessian-vector products: probes `v` of the width of `x`, with as
/// many rows (`multiple = false`) or a positive multiple of them (`multiple = true`).
#[track_caller]
pub fn assert_probes(energy: &str, x: [usize; 2], v: [usize; 2], multiple: bool) {
    let rows_ok = if multiple {
        v[0] > 0 && v[0].is_multiple_of(x[0].max(1))
    } else {
        v[0] == x[0]
    };
    if v[1] != x[1] || !rows_ok {
        let rows = if multiple { "P·N" } else { "N" };
        panic!(
            "{}: probes {v:?} for inputs {x:?}; expected [{rows}, {}]",
            short_type_name(energy),
            x[1]
        );
    }
}

/// `ebm_core::neural::mlp::Mlp<burn::…>` → `Mlp`.
fn short_type_name(name: &str) -> &str {
    let head = name.split('<').next().unwrap_or(name);
    head.rsplit("::").next().unwrap_or(head)
}

/// Builds a `[N, D]` batch from data of unknown shape, with a typed error instead of a panic when
/// the rank is not 2 (for input read from files or other languages).
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::TensorData;
/// use ebm_core::{batch_from_data, EnergyError};
///
/// let bad = TensorData::new(vec![0.0f32; 8], [2, 2, 2]);
/// let err = batch_from_data::<NdArray>(bad, &Default::default()).unwrap_err();
/// assert!(matches!(err, EnergyError::Rank { expected: 2, got: 3, .. }));
/// ```
pub fn batch_from_data<B: Backend>(data: TensorData, device: &B::Device) -> Result<Tensor<B, 2>> {
    let rank = data.shape.len();
    if rank != 2 {
        return Err(EnergyError::Rank {
            expected: 2,
            got: rank,
            layout: "[N, D]",
        });
    }
    Ok(Tensor::from_data(data, device))
}

/// Probes per sample when `probe_rows` probes go with `rows` samples (see
/// [`SecondOrderEnergy::grad_and_hvps_tracked`]).
pub(crate) fn probes_per_row(rows: usize, probe_rows: usize) -> usize {
    assert!(
        rows > 0 && probe_rows > 0 && probe_rows.is_multiple_of(rows),
        "{probe_rows} probe rows for {rows} samples: need a positive multiple"
    );
    probe_rows / rows
}
