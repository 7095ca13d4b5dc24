//! A checkerboard of unit cells.

use burn::config::Config;
use rand::Rng;

use super::rng;
use crate::error::{DataError, non_negative, positive, positive_count};
use crate::points::{PointDataset, normal};

/// Uniform points on `[−L, L)²` kept where `⌊x⌋ + ⌊y⌋` is odd (cells of side 1 whatever `L`),
/// plus `noise·N(0, I)` (0 by default, as in TorchEBM 0.8.9).
#[derive(Config, Debug)]
pub struct CheckerboardConfig {
    /// Number of points.
    #[config(default = 2000)]
    pub n_samples: usize,
    /// Half-width L of the square.
    #[config(default = 4.0)]
    pub range_limit: f64,
    /// Standard deviation of the added noise.
    #[config(default = 0.0)]
    pub noise: f64,
    /// Seed.
    #[config(default = 0)]
    pub seed: u64,
}

ebm_core::json_config!(
    CheckerboardConfig,
    required = [],
    template = CheckerboardConfig::new()
);

impl CheckerboardConfig {
    /// Draws the points.
    pub fn generate(&self) -> Result<PointDataset, DataError> {
        positive_count("n_samples", self.n_samples)?;
        positive("range_limit", self.range_limit)?;
        non_negative("noise", self.noise)?;
        if self.range_limit < 1.0 {
            return Err(crate::error::invalid(
                "range_limit",
                self.range_limit,
                "must be >= 1 so that odd cells exist",
            ));
        }
        // Beyond 2^52 the cells are narrower than an f64 step: there is no board left to draw.
        if self.range_limit > (1u64 << 52) as f64 {
            return Err(crate::error::invalid(
                "range_limit",
                self.range_limit,
                "must be <= 2^52, where unit cells are still representable",
            ));
        }
        let mut rng = rng(self.seed);
        let l = self.range_limit;
        let mut points = Vec::with_capacity(self.n_samples);
        while points.len() < self.n_samples {
            let x = rng.random_range(-l..l);
            let y = rng.random_range(-l..l);
            if (x.floor() as i64 + y.floor() as i64).rem_euclid(2) == 1 {
                points.push([
                    (x + self.noise * normal(&mut rng)) as f32,
                    (y + self.noise * normal(&mut rng)) as f32,
                ]);
            }
        }
        Ok(PointDataset::new(points))
    }
}
