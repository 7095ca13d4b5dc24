//! The classic "eight Gaussians".

use burn::config::Config;

use super::rng;
use crate::error::{DataError, non_negative, positive, positive_count};
use crate::points::{PointDataset, normal, shuffled, split_counts};

/// Eight Gaussians of standard deviation `std` at `scale` times (1,0), (−1,0), (0,1), (0,−1),
/// (q,q), (q,−q), (−q,q), (−q,−q) with q = 1/√2 (in that order for the `n/8` split), shuffled.
#[derive(Config, Debug)]
pub struct EightGaussiansConfig {
    /// Number of points.
    #[config(default = 2000)]
    pub n_samples: usize,
    /// Standard deviation of each component.
    #[config(default = 0.02)]
    pub std: f64,
    /// Distance of the centres from the origin.
    #[config(default = 2.0)]
    pub scale: f64,
    /// Seed.
    #[config(default = 0)]
    pub seed: u64,
}

ebm_core::json_config!(
    EightGaussiansConfig,
    required = [],
    template = EightGaussiansConfig::new()
);

impl EightGaussiansConfig {
    /// The centres.
    pub fn centres(&self) -> Vec<[f64; 2]> {
        let q = std::f64::consts::FRAC_1_SQRT_2;
        [
            [1.0, 0.0],
            [-1.0, 0.0],
            [0.0, 1.0],
            [0.0, -1.0],
            [q, q],
            [q, -q],
            [-q, q],
            [-q, -q],
        ]
        .iter()
        .map(|c| [self.scale * c[0], self.scale * c[1]])
        .collect()
    }

    /// Draws the points.
    pub fn generate(&self) -> Result<PointDataset, DataError> {
        positive_count("n_samples", self.n_samples)?;
        non_negative("std", self.std)?;
        positive("scale", self.scale)?;
        let mut rng = rng(self.seed);
        let mut points = Vec::with_capacity(self.n_samples);
        for (c, count) in self
            .centres()
            .into_iter()
            .zip(split_counts(self.n_samples, 8))
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
