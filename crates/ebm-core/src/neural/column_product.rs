//! `x·w` for a weight matrix that may be a single column (a scalar output layer).
//!
//! A one-column `w` is computed as a broadcast product and a row sum, not as a matmul: Burn
//! 0.21's fused matmul autotune can run a vector-matrix kernel on this matrix-vector shape and
//! return wrong numbers (tracel-ai/burn#5122). It showed here as wrong CNN energies on fused
//! WGPU (docs/gpu.md). Every other shape stays a matmul.

use crate::cpu_kernels::CpuKernels;
use burn::tensor::Tensor;

/// `x·w` for `x` `[N, K]` and `w` `[K, M]`: `[N, M]`.
pub(crate) fn column_product<Bk: CpuKernels>(x: Tensor<Bk, 2>, w: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
    let [k, m] = w.dims();
    if m == 1 {
        (x * w.reshape([1, k])).sum_dim(1)
    } else {
        x.matmul(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_testing::TestInner as Bk;

    #[test]
    fn a_column_and_a_matrix_give_the_matmul() {
        let device = Default::default();
        let x = Tensor::<Bk, 2>::from_floats([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], &device);
        let w = Tensor::<Bk, 2>::from_floats([[0.5, 1.0], [-1.0, 2.0], [0.25, -0.5]], &device);
        for w in [w.clone(), w.slice([0..3, 1..2])] {
            let ours = column_product(x.clone(), w.clone()).into_data();
            ours.assert_approx_eq::<f32>(&x.clone().matmul(w).into_data(), Default::default());
        }
    }
}
