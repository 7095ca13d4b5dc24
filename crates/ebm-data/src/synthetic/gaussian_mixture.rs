//! Gaussian mixture with components evenly spaced on a circle.

use burn::config::Config;

use super::rng;
use crate::error::{DataError, non_negative, positive, positive_count};
use crate::points::{PointDataset, normal, shuffled, split_counts};

/// `n_components` isotropic Gaussians of standard deviation `std` centred at
/// `radius·(cos 2πk/K, sin 2πk/K)`; component k gets `n/K` points (+1 for `k < n % K`), then the
/// points are shuffled. The seeds' quickstart uses `n = 1000, K = 5, std = 0.1, radius = 1.5`.
#[derive(Config, Debug)]
pub struct GaussianMixtureConfig {
    /// Number of points.
    #[config(default = 2000)]
    pub n_samples: usize,
    /// Number of components K.
    #[config(default = 8)]
    pub n_components: usize,
    /// Standard deviation of each component.
    #[config(default = 0.05)]
    pub std: f64,
    /// Radius of the circle of centres.
    #[config(default = 1.0)]
    pub radius: f64,
    /// Seed.
    #[config(default = 0)]
    pub seed: u64,
}

ebm_core::json_config!(
    GaussianMixtureConfig,
    required = [],
    template = GaussianMixtureConfig::new()
);

impl GaussianMixtureConfig {
    /// The component centres.
    pub fn centres(&self) -> Vec<[f64; 2]> {
        let k = self.n_components as f64;
        (0..self.n_components)
            .map(|i| {
                let theta = std::f64::consts::TAU * i as f64 / k;
                [self.radius * theta.cos(), self.radius * theta.sin()]
            })
            .collect()
    }

    /// Draws the points.
    pub fn generate(&self) -> Result<PointDataset, DataError> {
        positive_count("n_samples", self.n_samples)?;
        positive_count("n_components", self.n_components)?;
        non_negative("std", self.std)?;
        positive("radius", self.radius)?;
        let mut rng = rng(self.seed);
        let mut points = Vec::with_capacity(self.n_samples);
        for (c, count) in self
            .centres()
            .into_iter()
            .zip(split_counts(self.n_samples, self.n_components))
        {
            for _ in 0..count {
                points.push([
                    (c[0] + self.std * normal(&mut rng)) as f32,
                    (c[1] + self.std * normal(&mut rng)) as f32,
                ]);
            }
        }
        Ok(PointDataset::new(shuffled(points, &mut rng)))
    }
}
