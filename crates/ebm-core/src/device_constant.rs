//! [`DeviceConstant`]: host numbers uploaded to each device once, then reused.

use std::any::Any;
use std::sync::{Arc, Mutex};

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorData};

/// A constant tensor kept on the host in f64 and uploaded on first use, once per backend, device
/// and dtype. Analytic energies and samplers hold their parameters (a Gaussian's mean, HMC's
/// masses) this way, so that a gradient call on a GPU does not pay a host-to-device copy.
///
/// Clones share the uploads. Equality and `Debug` look at the values only.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::Tensor;
/// use ebm_core::DeviceConstant;
///
/// let mean = DeviceConstant::new(vec![1.0, -2.0], [1, 2]);
/// let x = Tensor::<NdArray, 2>::zeros([3, 2], &Default::default());
/// let centred = x.clone() - mean.tensor(&x);
/// assert_eq!(centred.dims(), [3, 2]);
/// assert_eq!(mean.values(), &[1.0, -2.0]);
/// ```
#[derive(Clone)]
pub struct DeviceConstant {
    values: Arc<[f64]>,
    shape: Vec<usize>,
    uploads: Arc<Mutex<Vec<Box<dyn Any + Send + Sync>>>>,
}

/// One upload: the tensor with the device and dtype it was made for.
struct Upload<Bk: Backend, const D: usize> {
    device: Bk::Device,
    dtype: DType,
    tensor: Tensor<Bk, D>,
}

impl DeviceConstant {
    /// A constant with `values` in row-major order and the given shape.
    ///
    /// # Panics
    /// If the shape does not hold exactly `values.len()` numbers (a bug in the caller, which
    /// builds both from the same data).
    pub fn new<const D: usize>(values: Vec<f64>, shape: [usize; D]) -> Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            values.len(),
            "DeviceConstant: shape {shape:?} does not hold {} values",
            values.len()
        );
        Self {
            values: values.into(),
            shape: shape.to_vec(),
            uploads: Default::default(),
        }
    }

    /// The values, row-major.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The constant on the device and in the float dtype of `like`, uploaded the first time it
    /// is asked for there.
    ///
    /// # Panics
    /// If `D` is not the rank given to [`DeviceConstant::new`].
    pub fn tensor<Bk: Backend, const D: usize, const L: usize>(
        &self,
        like: &Tensor<Bk, L>,
    ) -> Tensor<Bk, D> {
        self.on::<Bk, D>(&like.device(), like.dtype())
    }

    fn on<Bk: Backend, const D: usize>(&self, device: &Bk::Device, dtype: DType) -> Tensor<Bk, D> {
        assert_eq!(self.shape.len(), D, "DeviceConstant: rank {D} requested");
        // A poisoned lock only means another thread panicked mid-push; the list is still valid.
        let mut uploads = self.uploads.lock().unwrap_or_else(|e| e.into_inner());
        let found = uploads.iter().find_map(|u| {
            u.downcast_ref::<Upload<Bk, D>>()
                .filter(|u| &u.device == device && u.dtype == dtype)
        });
        if let Some(u) = found {
            return u.tensor.clone();
        }
        let shape: [usize; D] = self.shape.clone().try_into().expect("rank checked");
        let data = TensorData::new(self.values.to_vec(), shape);
        let tensor = Tensor::<Bk, D>::from_data(data, (device, dtype));
        uploads.push(Box::new(Upload::<Bk, D> {
            device: device.clone(),
            dtype,
            tensor: tensor.clone(),
        }));
        tensor
    }
}

impl std::fmt::Debug for DeviceConstant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceConstant")
            .field("values", &self.values)
            .field("shape", &self.shape)
            .finish()
    }
}

impl PartialEq for DeviceConstant {
    fn eq(&self, other: &Self) -> bool {
        self.values == other.values && self.shape == other.shape
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_testing::TestInner;

    #[test]
    fn uploads_once_per_device_and_dtype() {
        let c = DeviceConstant::new(vec![1.0, 2.0, 3.0], [1, 3]);
        let like = Tensor::<TestInner, 2>::zeros([2, 2], &Default::default());
        let a: Tensor<TestInner, 2> = c.tensor(&like);
        let b: Tensor<TestInner, 2> = c.clone().tensor(&like);
        assert_eq!(c.uploads.lock().unwrap().len(), 1);
        assert_eq!(a.into_data().to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(b.dims(), [1, 3]);
        let wide: Tensor<TestInner, 2> = c.tensor(&like.cast(DType::F64));
        assert_eq!(wide.dtype(), DType::F64);
        assert_eq!(c.uploads.lock().unwrap().len(), 2);
    }
}
