//! Separable double well `E(x) = h·Σᵢ (xᵢ² − b²)²`.

use crate::cpu_kernels::CpuKernels;
use burn::tensor::Tensor;

use super::{AnalyticEnergy, AnalyticHessian, row_sum};
use crate::error::{Result, require_positive};

/// Double well with barrier height `h` and wells at `xᵢ = ±b` in every coordinate (2ᵈ minima of
/// energy 0; the barrier at `xᵢ = 0` is `h·b⁴` per coordinate). Works in any dimension.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DoubleWell {
    barrier_height: f64,
    well_position: f64,
}

impl DoubleWell {
    /// A double well with barrier height `h > 0` and well position `b > 0`.
    pub fn new(barrier_height: f64, well_position: f64) -> Result<Self> {
        require_positive("barrier_height", barrier_height)?;
        require_positive("well_position", well_position)?;
        Ok(Self {
            barrier_height,
            well_position,
        })
    }

    /// Barrier height `h`.
    pub fn barrier_height(&self) -> f64 {
        self.barrier_height
    }

    /// Well position `b`.
    pub fn well_position(&self) -> f64 {
        self.well_position
    }
}

impl Default for DoubleWell {
    /// TorchEBM's defaults: `h = 2`, `b = 1`.
    fn default() -> Self {
        Self {
            barrier_height: 2.0,
            well_position: 1.0,
        }
    }
}

impl AnalyticEnergy for DoubleWell {
    fn input_dim(&self) -> Option<usize> {
        None
    }

    fn energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 1> {
        let b2 = self.well_position * self.well_position;
        row_sum(x.square().sub_scalar(b2).square()).mul_scalar(self.barrier_height)
    }

    fn grad_energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        let b2 = self.well_position * self.well_position;
        // On NdArray, one pass instead of four tensor ops (the same float32 operations, in the
        // same order); `energy_and_grad` takes the same path, so every sampler runs this code.
        {
            let (b2, k) = (b2 as f32, (4.0 * self.barrier_height) as f32);
            if let Some(grad) = crate::cpu_kernels::map_f32(&x, |v| v * (v * v - b2) * k) {
                return grad;
            }
        }
        let t = x.clone().square().sub_scalar(b2);
        (x * t).mul_scalar(4.0 * self.barrier_height)
    }

    fn energy_and_grad<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> (Tensor<Bk, 1>, Tensor<Bk, 2>) {
        let b2 = self.well_position * self.well_position;
        {
            let (b2, k) = (b2 as f32, (4.0 * self.barrier_height) as f32);
            let h = self.barrier_height as f32;
            let row = |row: &[f32], grad: &mut [f32]| {
                let mut e = 0f32;
                for (&v, g) in row.iter().zip(grad) {
                    let t = v * v - b2;
                    *g = v * t * k;
                    e += t * t;
                }
                e * h
            };
            if let Some(both) = crate::cpu_kernels::rows_energy_and_grad_f32(&x, row) {
                return both;
            }
        }
        let t = x.clone().square().sub_scalar(b2);
        let e = row_sum(t.clone().square()).mul_scalar(self.barrier_height);
        (e, (x * t).mul_scalar(4.0 * self.barrier_height))
    }
}

impl AnalyticHessian for DoubleWell {
    fn hvp<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>, v: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        let b2 = self.well_position * self.well_position;
        let diag = x
            .square()
            .mul_scalar(3.0)
            .sub_scalar(b2)
            .mul_scalar(4.0 * self.barrier_height);
        diag * v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytic::reference::{case, check_against_reference, check_hvp, param};
    use crate::error::EnergyError;

    #[test]
    fn matches_reference() {
        for name in ["double_well_2d", "double_well_5d"] {
            let case = case(name);
            let dw = DoubleWell::new(param(&case, "barrier_height"), param(&case, "b")).unwrap();
            check_against_reference(&dw, &case, 1e-5, 1e-5);
            check_hvp(&dw, &case);
        }
    }

    /// On NdArray the gradient, alone or with the energy, takes a one-pass host path; it must
    /// equal the tensor-op formula (the gradient to the bit: the same float32 operations in the
    /// same order; the energy to rounding, its sum runs in another order).
    #[test]
    fn every_backend_path_gives_the_tensor_op_gradient() {
        use ebm_testing::TestInner;
        let device = Default::default();
        let x = ebm_testing::normal::<TestInner, 2>([257, 3], 1.5, 9, &device);
        let dw = DoubleWell::new(2.0, 1.3).unwrap();
        let b2 = 1.3 * 1.3;
        let t = x.clone().square().sub_scalar(b2);
        let by_ops = (x.clone() * t.clone()).mul_scalar(8.0).into_data();
        let e_by_ops = row_sum(t.square()).mul_scalar(2.0).into_data();
        let values = |d: burn::tensor::TensorData| d.to_vec::<f32>().unwrap();
        assert_eq!(
            values(dw.grad_energy(x.clone()).into_data()),
            values(by_ops.clone())
        );
        let (e, g) = dw.energy_and_grad(x.clone());
        assert_eq!(values(g.into_data()), values(by_ops));
        for (a, b) in values(e.into_data()).iter().zip(values(e_by_ops)) {
            assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "energy {a} vs {b}");
        }
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(matches!(
            DoubleWell::new(0.0, 1.0),
            Err(EnergyError::InvalidParameter(crate::InvalidParameter {
                name: "barrier_height",
                ..
            }))
        ));
        assert!(matches!(
            DoubleWell::new(1.0, f64::NAN),
            Err(EnergyError::InvalidParameter(crate::InvalidParameter {
                name: "well_position",
                ..
            }))
        ));
    }
}
