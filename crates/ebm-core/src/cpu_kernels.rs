//! Which host kernels a backend runs: Burn's backend-extension pattern, in one place.
//!
//! Every energy has one definition in Burn tensor ops, generic over the backend, and every
//! backend runs it. On the CPU backends a few computations also have a host kernel that reads
//! the tensors' storage in place, because each NdArray or Flex op is its own pass over memory
//! with its own allocation. [`CpuKernels`] is the extension trait through which a backend says
//! which of them it takes, and lends its float32 storage to them; every default says "none", so
//! a backend without kernels is an empty `impl`:
//!
//! | kernel | file | backends | agreement test |
//! |---|---|---|---|
//! | the MLP's energy and input gradient, fused | `neural/host_mlp.rs` | NdArray | `neural::mlp` tests, random architectures × activations |
//! | the CNN's convolutions, transposes and activations | `neural/host_cnn.rs` | NdArray, Flex | `neural::cnn` tests |
//! | the same as autodiff operations, for training | `neural/host_autodiff.rs` | `Autodiff` over NdArray or Flex | `neural::host_autodiff` tests |
//! | element-wise and per-row formulas (`DoubleWell`) | `analytic/double_well.rs` | NdArray | `analytic::double_well` tests |
//!
//! The backends with an implementation: NdArray and Flex (with kernels, behind the `ndarray` and
//! `flex` features), `Autodiff` over any of them (the training kernels, when its inner backend
//! has the CNN's), and with the `gpu` feature Burn's GPU backends, fused or not (none). Each
//! kernel's caller falls back to the tensor ops on a backend without it and on other dtypes, and
//! each kernel has a test that compares it with the tensor-op definition, so a change to the math
//! that a kernel does not follow fails a test instead of being silently ignored on one backend.
//!
//! [`EbmBackend`] is the bound generic code writes: an autodiff backend whose both levels
//! implement [`CpuKernels`]. The neural energies are energies on exactly these.
//!
//! The CPU's instruction set is detected in one place, `detected_arch` (pulp's detection,
//! cached): the kernels choose their vector type from it (`neural/instruction_set.rs`), and
//! [`vectorize`] compiles other host loops, such as the samplers' Gaussian noise, for it.

use std::borrow::Cow;

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{DType, Tensor};

use crate::neural::Activation;

/// The widest instruction set this CPU has (AVX-512, AVX2 with FMA, or none on x86-64), as pulp
/// detects it once per process: the one CPU-feature detection of the workspace.
pub(crate) fn detected_arch() -> pulp::Arch {
    pulp::Arch::new()
}

/// A host loop that [`vectorize`] compiles for the widest instruction set the CPU has.
///
/// Implement [`VectorLoop::run`] with `#[inline(always)]`, and write the loop in
/// `#[inline(always)]` functions: only code inlined into it is compiled with the instruction
/// set's target features (a closure would be an ordinary function, compiled for the baseline).
pub trait VectorLoop {
    /// What the loop returns.
    type Output;
    /// Runs the loop.
    fn run(self) -> Self::Output;
}

/// Runs `op` compiled for the widest instruction set this CPU has, so that the loops it inlines
/// are vectorised for it.
///
/// ```
/// use ebm_core::cpu_kernels::{VectorLoop, vectorize};
///
/// struct Affine<'a>(&'a mut [f32]);
///
/// impl VectorLoop for Affine<'_> {
///     type Output = ();
///     #[inline(always)]
///     fn run(self) {
///         self.0.iter_mut().for_each(|x| *x = *x * 2.0 + 1.0);
///     }
/// }
///
/// let mut v = vec![1.0f32; 1024];
/// vectorize(Affine(&mut v));
/// assert!(v.iter().all(|&x| x == 3.0));
/// ```
pub fn vectorize<Op: VectorLoop>(op: Op) -> Op::Output {
    detected_arch().dispatch(InTargetFeatures(op))
}

/// A [`VectorLoop`] as pulp's entry point takes it.
struct InTargetFeatures<Op>(Op);

impl<Op: VectorLoop> pulp::WithSimd for InTargetFeatures<Op> {
    type Output = Op::Output;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> Op::Output {
        self.0.run()
    }
}

/// The host kernels a backend runs on its float32 tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostKernels {
    /// The MLP's fused energy and input gradient (`neural/host_mlp.rs`).
    pub mlp: bool,
    /// The CNN's graph-free energy and input gradient (`neural/host_cnn.rs`).
    pub cnn: bool,
    /// Element-wise and per-row formulas of analytic energies.
    pub elementwise: bool,
}

impl HostKernels {
    /// No host kernel: every computation runs as Burn tensor ops.
    pub const NONE: Self = Self {
        mlp: false,
        cnn: false,
        elementwise: false,
    };
}

/// A backend's host kernels (Burn's backend-extension pattern): which of them it runs, and the
/// float32 storage it lends them. Every method has a default that means "none", so a backend
/// without kernels, such as a GPU backend, implements it with an empty body.
///
/// ```
/// use ebm_core::{CpuKernels, HostKernels};
/// use burn::backend::NdArray;
///
/// assert!(<NdArray as CpuKernels>::KERNELS.mlp);
/// assert_eq!(<burn::backend::Autodiff<NdArray> as CpuKernels>::KERNELS, HostKernels::NONE);
/// ```
pub trait CpuKernels: Backend {
    /// The graph-free host kernels this backend runs on float32 tensors.
    const KERNELS: HostKernels = HostKernels::NONE;

    /// The values of a float32 tensor in row-major order, lent in place where the storage is
    /// host memory laid out that way. Default: a copy through `into_data`.
    fn host_f32<const D: usize>(t: Tensor<Self, D>) -> HostValues {
        HostValues::copied(t)
    }

    /// `W ⋆ x + b` (3×3 kernel `[C_out, C_in, 3, 3]`, stride `stride`, padding 1) as one
    /// autodiff operation of the host kernel, or `None` where this backend has none.
    fn conv3x3_tracked(
        _x: &Tensor<Self, 4>,
        _weight: &Tensor<Self, 4>,
        _bias: Option<&Tensor<Self, 1>>,
        _stride: usize,
    ) -> Option<Tensor<Self, 4>> {
        None
    }

    /// `Wᵀ ⋆ g`, the adjoint of [`conv3x3_tracked`](Self::conv3x3_tracked)'s linear part for
    /// inputs of `input_size`, or `None`.
    fn conv3x3_transpose_tracked(
        _g: &Tensor<Self, 4>,
        _weight: &Tensor<Self, 4>,
        _stride: usize,
        _input_size: [usize; 2],
    ) -> Option<Tensor<Self, 4>> {
        None
    }

    /// `(f(z), f′(z))`, both differentiable in `z`, in one host pass, or `None`.
    fn activation_and_slope_tracked<const D: usize>(
        _z: &Tensor<Self, D>,
        _activation: Activation,
    ) -> Option<(Tensor<Self, D>, Tensor<Self, D>)> {
        None
    }
}

/// The backends ebm's neural energies run on: an autodiff backend whose inner backend (the
/// samplers' graph-free level) and whose own level (the learners' tracked one) both implement
/// [`CpuKernels`]. Every alias in `ebm::backend` is one; generic code writes `B: EbmBackend`
/// where it would write `B: AutodiffBackend`.
pub trait EbmBackend: AutodiffBackend<InnerBackend: CpuKernels> + CpuKernels {}

impl<B> EbmBackend for B
where
    B: AutodiffBackend + CpuKernels,
    B::InnerBackend: CpuKernels,
{
}

/// A float32 tensor's values, lent by its backend ([`CpuKernels::host_f32`]): the storage
/// itself where it can be read in place, else a copy.
pub struct HostValues(Lent);

enum Lent {
    Copied(Vec<f32>),
    #[cfg(feature = "ndarray")]
    NdArray(burn::backend::ndarray::NdArrayTensor),
    #[cfg(feature = "flex")]
    Flex(burn::backend::flex::FlexTensor),
}

impl HostValues {
    fn copied<Bk: Backend, const D: usize>(t: Tensor<Bk, D>) -> Self {
        let values = t
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .expect("converted to float32");
        Self(Lent::Copied(values))
    }

    /// The values in row-major order: borrowed from the storage when it is laid out that way
    /// (always, for the tensors the samplers pass), else copied.
    pub fn values(&self) -> Cow<'_, [f32]> {
        match &self.0 {
            Lent::Copied(values) => Cow::Borrowed(values),
            #[cfg(feature = "ndarray")]
            Lent::NdArray(t) => {
                let burn::backend::ndarray::NdArrayTensor::F32(storage) = t else {
                    unreachable!("lent only for float32")
                };
                let view = storage.view();
                match view.to_slice() {
                    Some(values) => Cow::Borrowed(values),
                    None => Cow::Owned(view.iter().copied().collect()),
                }
            }
            #[cfg(feature = "flex")]
            Lent::Flex(t) => Cow::Borrowed(t.as_slice::<f32>().expect("lent only when contiguous")),
        }
    }
}

#[cfg(feature = "ndarray")]
impl<E, I, Q> CpuKernels for burn::backend::NdArray<E, I, Q>
where
    E: burn::backend::ndarray::FloatNdArrayElement,
    I: burn::backend::ndarray::IntNdArrayElement,
    Q: burn::backend::ndarray::QuantElement,
    burn::backend::ndarray::NdArrayTensor:
        From<burn::backend::ndarray::SharedArray<E>> + From<burn::backend::ndarray::SharedArray<I>>,
{
    const KERNELS: HostKernels = HostKernels {
        mlp: true,
        cnn: true,
        elementwise: true,
    };

    fn host_f32<const D: usize>(t: Tensor<Self, D>) -> HostValues {
        if t.dtype() != DType::F32 {
            return HostValues::copied(t);
        }
        HostValues(Lent::NdArray(t.into_primitive().tensor()))
    }
}

#[cfg(feature = "flex")]
impl CpuKernels for burn::backend::Flex {
    const KERNELS: HostKernels = HostKernels {
        mlp: false,
        cnn: true,
        elementwise: false,
    };

    fn host_f32<const D: usize>(t: Tensor<Self, D>) -> HostValues {
        let flex = t.into_primitive().tensor();
        if flex.dtype() == DType::F32 && flex.as_slice::<f32>().is_some() {
            return HostValues(Lent::Flex(flex));
        }
        HostValues::copied(Tensor::<Self, D>::from_primitive(
            burn::tensor::TensorPrimitive::Float(flex),
        ))
    }
}

/// The training kernels, on an autodiff backend over a backend with the CNN's host kernel. Its
/// graph-free kernels are none: an autodiff backend's graph must see every op.
impl<I: CpuKernels, C: burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy> CpuKernels
    for burn::backend::Autodiff<I, C>
{
    #[cfg(any(feature = "ndarray", feature = "flex"))]
    fn conv3x3_tracked(
        x: &Tensor<Self, 4>,
        weight: &Tensor<Self, 4>,
        bias: Option<&Tensor<Self, 1>>,
        stride: usize,
    ) -> Option<Tensor<Self, 4>> {
        (I::KERNELS.cnn && x.dtype() == DType::F32).then(|| {
            crate::neural::host_autodiff::conv_tracked::<I, C>(
                x.clone(),
                weight.clone(),
                bias.cloned(),
                stride,
            )
        })
    }

    #[cfg(any(feature = "ndarray", feature = "flex"))]
    fn conv3x3_transpose_tracked(
        g: &Tensor<Self, 4>,
        weight: &Tensor<Self, 4>,
        stride: usize,
        input_size: [usize; 2],
    ) -> Option<Tensor<Self, 4>> {
        (I::KERNELS.cnn && g.dtype() == DType::F32).then(|| {
            crate::neural::host_autodiff::conv_transpose_tracked::<I, C>(
                g.clone(),
                weight.clone(),
                stride,
                input_size,
            )
        })
    }

    #[cfg(any(feature = "ndarray", feature = "flex"))]
    fn activation_and_slope_tracked<const D: usize>(
        z: &Tensor<Self, D>,
        activation: Activation,
    ) -> Option<(Tensor<Self, D>, Tensor<Self, D>)> {
        if !I::KERNELS.cnn {
            return None;
        }
        crate::neural::host_autodiff::activation_and_slope::<I, C, D>(z, activation)
    }
}

#[cfg(feature = "gpu")]
impl<R, F, I, BT> CpuKernels for burn_cubecl::CubeBackend<R, F, I, BT>
where
    R: burn_cubecl::CubeRuntime,
    F: burn_cubecl::FloatElement,
    I: burn_cubecl::IntElement,
    BT: burn_cubecl::BoolElement,
    Self: Backend,
{
}

#[cfg(feature = "gpu")]
impl<B: burn_fusion::FusionBackend> CpuKernels for burn_fusion::Fusion<B> {}

/// `f` applied to every element in one pass, when `Bk` runs element-wise host kernels and `x`
/// is float32; `None` (use tensor ops) otherwise.
pub(crate) fn map_f32<Bk: CpuKernels, const D: usize>(
    x: &Tensor<Bk, D>,
    f: impl Fn(f32) -> f32,
) -> Option<Tensor<Bk, D>> {
    if !Bk::KERNELS.elementwise || x.dtype() != DType::F32 {
        return None;
    }
    let (shape, device) = (x.dims(), x.device());
    let values: Vec<f32> = Bk::host_f32(x.clone())
        .values()
        .iter()
        .map(|&v| f(v))
        .collect();
    Some(Tensor::from_data(
        burn::tensor::TensorData::new(values, shape),
        &device,
    ))
}

/// Per row of `x` `[N, D]`, `f(row, grad_row)` writes the row's gradient and returns its energy,
/// in one pass, when `Bk` runs element-wise host kernels and `x` is float32; `None` otherwise.
pub(crate) fn rows_energy_and_grad_f32<Bk: CpuKernels>(
    x: &Tensor<Bk, 2>,
    f: impl Fn(&[f32], &mut [f32]) -> f32,
) -> Option<(Tensor<Bk, 1>, Tensor<Bk, 2>)> {
    if !Bk::KERNELS.elementwise || x.dtype() != DType::F32 {
        return None;
    }
    let ([n, d], device) = (x.dims(), x.device());
    let host = Bk::host_f32(x.clone());
    let values = host.values();
    let mut grad = vec![0f32; n * d];
    let energy: Vec<f32> = values
        .chunks(d.max(1))
        .zip(grad.chunks_mut(d.max(1)))
        .map(|(row, g)| f(row, g))
        .collect();
    Some((
        Tensor::from_data(burn::tensor::TensorData::new(energy, [n]), &device),
        Tensor::from_data(burn::tensor::TensorData::new(grad, [n, d]), &device),
    ))
}
