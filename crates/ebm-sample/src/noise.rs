//! Seeded random numbers for the chains.
//!
//! Noise is drawn on the host from a seeded generator and uploaded, rather than from Burn's
//! backend RNG, which is one global generator per backend: two runs in parallel threads would
//! interleave its draws. Host noise makes a run's numbers depend only on its seed, and makes them
//! identical on every backend (NdArray, WGPU, CUDA), which the cross-backend tests rely on.
//! Normal draws use a vectorised Box–Muller transform (`box_muller.rs`).

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use ebm_core::random_stream::{StreamRng, seeded_rng};
use rand::Rng;

use crate::box_muller::fill_normal;

/// A seeded source of standard-normal and uniform tensors.
#[derive(Debug, Clone)]
pub struct Noise {
    rng: StreamRng,
    /// Normal draws to hand out first, in order (see [`Noise::replay`]).
    replay: std::collections::VecDeque<f32>,
}

impl Noise {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: seeded_rng(seed),
            replay: Default::default(),
        }
    }

    /// A generator whose normal draws are `values`, in order, before it falls back to a
    /// generator seeded with 0: for reproducing published trajectories step by step, or for
    /// common random numbers across samplers.
    pub fn replay(values: Vec<f32>) -> Self {
        Self {
            rng: seeded_rng(0),
            replay: values.into(),
        }
    }

    /// `[n, d]` draws of N(0, 1), with the dtype and device of `like`.
    pub fn normal<Bk: Backend>(
        &mut self,
        shape: [usize; 2],
        like: &Tensor<Bk, 2>,
    ) -> Tensor<Bk, 2> {
        self.normal_scaled(shape, 1.0, like)
    }

    /// `[n, d]` draws of N(0, scale²): the scaling happens on the host while the values are
    /// written, which saves the hot loops of the samplers one tensor operation per step.
    pub fn normal_scaled<Bk: Backend>(
        &mut self,
        shape: [usize; 2],
        scale: f64,
        like: &Tensor<Bk, 2>,
    ) -> Tensor<Bk, 2> {
        let count = shape[0] * shape[1];
        let scale = scale as f32;
        let from_replay = count.min(self.replay.len());
        let mut values = vec![0.0f32; count];
        for (v, r) in values.iter_mut().zip(self.replay.drain(..from_replay)) {
            *v = r * scale;
        }
        fill_normal(&mut self.rng, &mut values[from_replay..], scale);
        Tensor::from_data(
            TensorData::new(values, shape),
            (&like.device(), like.dtype()),
        )
    }

    /// `n` indices drawn uniformly from `0..count` (`count ≥ 1`), on the host: for example the
    /// noise level of each sample of a batch.
    pub fn indices(&mut self, n: usize, count: usize) -> Vec<usize> {
        assert!(count >= 1, "Noise::indices: count must be >= 1");
        (0..n).map(|_| self.rng.random_range(0..count)).collect()
    }

    /// One draw of U(low, high) on the host: a per-step scalar, such as a jittered step size.
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.rng.random::<f64>()
    }

    /// `[n]` draws of `log U(0, 1)` (for Metropolis tests), with the dtype and device of `like`.
    pub fn log_uniform<Bk: Backend>(&mut self, n: usize, like: &Tensor<Bk, 2>) -> Tensor<Bk, 1> {
        let values: Vec<f32> = (0..n)
            .map(|_| (1.0 - self.rng.random::<f32>()).ln())
            .collect();
        Tensor::from_data(TensorData::new(values, [n]), (&like.device(), like.dtype()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_testing::TestInner;

    /// Value stability: the noise of a seed is part of what a run reproduces.
    #[test]
    fn the_noise_of_a_seed_is_pinned() {
        let like = Tensor::<TestInner, 2>::zeros([1, 1], &Default::default());
        let mut noise = Noise::new(7);
        let normal = noise
            .normal([1, 4], &like)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let indices = noise.indices(4, 10);
        let log_u = noise
            .log_uniform(2, &like)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let close = |got: &[f32], pinned: &[f32]| {
            got.len() == pinned.len() && got.iter().zip(pinned).all(|(a, b)| (a - b).abs() < 1e-6)
        };
        assert!(
            close(
                &normal,
                &[0.385_177_17, 0.971_017_24, 2.046_805_6, -0.307_957_6]
            ),
            "{normal:?}"
        );
        assert_eq!(indices, [4, 3, 5, 3]);
        assert!(close(&log_u, &[-0.263_294_76, -0.520_805_8]), "{log_u:?}");
    }
}
