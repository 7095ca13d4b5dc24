//! Host views of NdArray float32 tensors, for kernels that beat a chain of NdArray ops.
//!
//! Why: each NdArray op is its own pass over memory with its own allocation. Where a whole
//! computation is one formula per element (an analytic gradient) or a fused kernel (the MLP), it
//! is cheaper to read the tensor's storage in place and write the result once. Everything here
//! applies only to `NdArray` with float32 (never to its autodiff wrapper, whose graph must see
//! every op); callers fall back to tensor ops otherwise.

use std::any::{Any, TypeId};
use std::borrow::Cow;

use burn::backend::ndarray::NdArrayTensor;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorData};

/// Whether tensors of `Bk` with this dtype are NdArray float32 tensors.
pub(crate) fn is_ndarray_f32<Bk: Backend>(dtype: DType) -> bool {
    TypeId::of::<Bk>() == TypeId::of::<burn::backend::NdArray>() && dtype == DType::F32
}

/// The values of a float32 NdArray tensor, holding its storage (a reference count, not a copy).
pub(crate) struct HostF32(NdArrayTensor);

impl HostF32 {
    /// `t` must be a float32 tensor of the NdArray backend (see [`is_ndarray_f32`]).
    pub(crate) fn new<Bk: Backend, const D: usize>(t: Tensor<Bk, D>) -> Self {
        let primitive: Box<dyn Any> = Box::new(t.into_primitive().tensor());
        match primitive.downcast::<NdArrayTensor>() {
            Ok(tensor) => Self(*tensor),
            Err(_) => unreachable!("checked by `is_ndarray_f32`: an NdArray tensor"),
        }
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
