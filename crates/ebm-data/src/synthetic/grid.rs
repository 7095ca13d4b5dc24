//! A regular grid of points.

use burn::config::Config;

use super::rng;
use crate::error::{DataError, non_negative, positive};
use crate::points::{PointDataset, normal};

/// `m²` points: all pairs of `linspace(−L, L, m)` in "ij" order (row `i·m + j` is
/// `(nodes[i], nodes[j])`), plus `noise·N(0, I)`.
#[derive(Config, Debug)]
pub struct GridConfig {
    /// Points per axis m (≥ 2).
    #[config(default = 10)]
    pub n_samples_per_dim: usize,
    /// Half-width L.
    #[config(default = 1.0)]
    pub range_limit: f64,
    /// Standard deviation of the added noise.
    #[config(default = 0.01)]
    pub noise: f64,
    /// Seed.
    #[config(default = 0)]
    pub seed: u64,
}

ebm_core::json_config!(GridConfig, required = [], template = GridConfig::new());

impl GridConfig {
    /// Draws the points.
    pub fn generate(&self) -> Result<PointDataset, DataError> {
        let m = self.n_samples_per_dim;
        if m < 2 {
            return Err(crate::error::invalid(
                "n_samples_per_dim",
                m,
                "must be >= 2",
            ));
        }
        positive("range_limit", self.range_limit)?;
        non_negative("noise", self.noise)?;
        let mut rng = rng(self.seed);
        let l = self.range_limit;
        let nodes: Vec<f64> = (0..m)
            .map(|i| -l + 2.0 * l * i as f64 / (m - 1) as f64)
            .collect();
        let mut points = Vec::with_capacity(m * m);
        for &a in &nodes {
            for &b in &nodes {
                points.push([
                    (a + self.noise * normal(&mut rng)) as f32,
                    (b + self.noise * normal(&mut rng)) as f32,
                ]);
            }
        }
        Ok(PointDataset::new(points))
    }
}
