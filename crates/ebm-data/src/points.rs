//! [`PointDataset`]: an in-memory set of 2-D points, as a Burn dataset with a batcher.

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::StandardNormal;

/// A set of 2-D points (the output of every synthetic generator).
#[derive(Debug, Clone, PartialEq)]
pub struct PointDataset {
    points: Vec<[f32; 2]>,
}

impl PointDataset {
    /// Wraps points.
    pub fn new(points: Vec<[f32; 2]>) -> Self {
        Self { points }
    }

    /// The points.
    pub fn points(&self) -> &[[f32; 2]] {
        &self.points
    }

    /// All points as one tensor `[N, 2]` on `device`.
    pub fn to_tensor<Bk: Backend>(&self, device: &Bk::Device) -> Tensor<Bk, 2> {
        let flat: Vec<f32> = self.points.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [self.points.len(), 2]), device)
    }

    /// Splits off the last `fraction` of the points (e.g. a held-out set; the generators already
    /// shuffle where it matters).
    pub fn split(mut self, fraction: f64) -> (Self, Self) {
        let cut = ((1.0 - fraction.clamp(0.0, 1.0)) * self.points.len() as f64).round() as usize;
        let rest = self.points.split_off(cut);
        (self, Self::new(rest))
    }
}

impl Dataset<[f32; 2]> for PointDataset {
    fn get(&self, index: usize) -> Option<[f32; 2]> {
        self.points.get(index).copied()
    }

    fn len(&self) -> usize {
        self.points.len()
    }
}

/// Stacks points into a `[batch, 2]` tensor.
#[derive(Debug, Clone, Copy, Default)]
pub struct PointBatcher;

impl<B: Backend> Batcher<B, [f32; 2], Tensor<B, 2>> for PointBatcher {
    fn batch(&self, items: Vec<[f32; 2]>, device: &B::Device) -> Tensor<B, 2> {
        let n = items.len();
        let flat: Vec<f32> = items.into_iter().flatten().collect();
        Tensor::from_data(TensorData::new(flat, [n, 2]), device)
    }
}

/// Helpers shared by the generators.
pub(crate) fn normal(rng: &mut impl Rng) -> f64 {
    rng.sample(StandardNormal)
}

/// Component sizes of TorchEBM's mixtures: `n / k` each, plus one for the first `n % k`.
pub(crate) fn split_counts(n: usize, k: usize) -> impl Iterator<Item = usize> {
    (0..k).map(move |i| n / k + usize::from(i < n % k))
}

pub(crate) fn shuffled(mut points: Vec<[f32; 2]>, rng: &mut impl Rng) -> Vec<[f32; 2]> {
    points.shuffle(rng);
    points
}
