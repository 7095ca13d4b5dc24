//! The one place where a backend is recognised: the CPU kernels' dispatch.
//!
//! Every energy has one definition in Burn tensor ops, generic over the backend, and every
//! backend runs it. On the CPU backends a few computations also have a host kernel that reads
//! the tensors' storage in place, because each NdArray or Flex op is its own pass over memory
//! with its own allocation:
//!
//! | kernel | file | backends | agreement test |
//! |---|---|---|---|
//! | the MLP's energy and input gradient, fused | `neural/host_mlp.rs` | NdArray, f32 | `neural::mlp` tests, random architectures × activations |
//! | the CNN's convolutions, transposes and activations | `neural/host_cnn.rs` | NdArray, Flex, f32 | `neural::cnn` tests |
//! | the same as autodiff operations, for training | `neural/host_autodiff.rs` | `Autodiff<NdArray>`, `Autodiff<Flex>`, f32 | `neural::host_autodiff` tests |
//! | element-wise and per-row formulas (`DoubleWell`) | here | NdArray, f32 | `analytic::double_well` tests |
//!
//! A kernel is picked only through [`is_backend`] (a `TypeId` comparison) and entered only
//! through [`cast`]; both live here and nowhere else. Each kernel's caller falls back to the
//! tensor ops on any other backend or dtype, and each kernel has a test that compares it with
//! the tensor-op definition, so a change to the math that a kernel does not follow fails a test
//! instead of being silently ignored on one backend.

use std::any::{Any, TypeId};

/// Whether the backend (or tensor primitive) type `T` is `Target`.
pub(crate) fn is_backend<T: 'static, Target: 'static>() -> bool {
    TypeId::of::<T>() == TypeId::of::<Target>()
}

/// `value` as the type [`is_backend`] found it to be.
pub(crate) fn cast<T: 'static, U: 'static>(value: T) -> U {
    match (Box::new(value) as Box<dyn Any>).downcast::<U>() {
        Ok(value) => *value,
        Err(_) => unreachable!("checked by is_backend"),
    }
}

#[cfg(feature = "ndarray")]
pub(crate) use ndarray_views::*;

#[cfg(feature = "ndarray")]
mod ndarray_views {
    use std::borrow::Cow;

    use burn::backend::ndarray::NdArrayTensor;
    use burn::tensor::backend::Backend;
    use burn::tensor::{DType, Tensor, TensorData};

    use super::{cast, is_backend};

    /// Whether tensors of `Bk` with this dtype are NdArray float32 tensors.
    pub(crate) fn is_ndarray_f32<Bk: Backend>(dtype: DType) -> bool {
        is_backend::<Bk, burn::backend::NdArray>() && dtype == DType::F32
    }

    /// The values of a float32 NdArray tensor, holding its storage (a reference count, not a copy).
    pub(crate) struct HostF32(NdArrayTensor);

    impl HostF32 {
        /// `t` must be a float32 tensor of the NdArray backend (see [`is_ndarray_f32`]).
        pub(crate) fn new<Bk: Backend, const D: usize>(t: Tensor<Bk, D>) -> Self {
            Self(cast::<_, NdArrayTensor>(t.into_primitive().tensor()))
        }

        /// The values in row-major order: borrowed when the storage is laid out that way (always,
        /// for the tensors the samplers pass), else copied.
        pub(crate) fn values(&self) -> Cow<'_, [f32]> {
            let NdArrayTensor::F32(storage) = &self.0 else {
                unreachable!("checked by `is_ndarray_f32`: float32")
            };
            let view = storage.view();
            match view.to_slice() {
                Some(values) => Cow::Borrowed(values),
                None => Cow::Owned(view.iter().copied().collect()),
            }
        }
    }

    /// `f` applied to every element in one pass, when `x` is an NdArray float32 tensor; `None`
    /// (use tensor ops) otherwise.
    pub(crate) fn map_f32<Bk: Backend, const D: usize>(
        x: &Tensor<Bk, D>,
        f: impl Fn(f32) -> f32,
    ) -> Option<Tensor<Bk, D>> {
        if !is_ndarray_f32::<Bk>(x.dtype()) {
            return None;
        }
        let (shape, device) = (x.dims(), x.device());
        let values: Vec<f32> = HostF32::new(x.clone())
            .values()
            .iter()
            .map(|&v| f(v))
            .collect();
        Some(Tensor::from_data(TensorData::new(values, shape), &device))
    }

    /// Per row of `x` `[N, D]`, `f(row, grad_row)` writes the row's gradient and returns its energy,
    /// in one pass, when `x` is an NdArray float32 tensor; `None` (use tensor ops) otherwise.
    pub(crate) fn rows_energy_and_grad_f32<Bk: Backend>(
        x: &Tensor<Bk, 2>,
        f: impl Fn(&[f32], &mut [f32]) -> f32,
    ) -> Option<(Tensor<Bk, 1>, Tensor<Bk, 2>)> {
        if !is_ndarray_f32::<Bk>(x.dtype()) {
            return None;
        }
        let ([n, d], device) = (x.dims(), x.device());
        let host = HostF32::new(x.clone());
        let values = host.values();
        let mut grad = vec![0f32; n * d];
        let energy: Vec<f32> = values
            .chunks(d.max(1))
            .zip(grad.chunks_mut(d.max(1)))
            .map(|(row, g)| f(row, g))
            .collect();
        Some((
            Tensor::from_data(TensorData::new(energy, [n]), &device),
            Tensor::from_data(TensorData::new(grad, [n, d]), &device),
        ))
    }
}
