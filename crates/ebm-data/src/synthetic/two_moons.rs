//! Two interleaved half circles.

use burn::config::Config;

use super::rng;
use crate::error::{DataError, non_negative, positive_count};
use crate::points::{PointDataset, normal, shuffled};

fn linspace(n: usize, hi: f64) -> impl Iterator<Item = f64> {
    (0..n).map(move |i| {
        if n == 1 {
            0.0
        } else {
            hi * i as f64 / (n - 1) as f64
        }
    })
}

/// `n/2` points `(cos t, sin t)` and `n − n/2` points `(1 − cos t, 1 − sin t − 0.5)` with `t`
/// evenly spaced on `[0, π]`, plus `noise·N(0, I)`; shuffled (TorchEBM is not).
#[derive(Config, Debug)]
pub struct TwoMoonsConfig {
    /// Number of points.
    #[config(default = 2000)]
    pub n_samples: usize,
    /// Standard deviation of the added noise.
    #[config(default = 0.05)]
    pub noise: f64,
    /// Seed.
    #[config(default = 0)]
    pub seed: u64,
}

ebm_core::json_config!(
    TwoMoonsConfig,
    required = [],
    template = TwoMoonsConfig::new()
);

impl TwoMoonsConfig {
    /// Draws the points.
    pub fn generate(&self) -> Result<PointDataset, DataError> {
        positive_count("n_samples", self.n_samples)?;
        non_negative("noise", self.noise)?;
        let mut rng = rng(self.seed);
        let n_out = self.n_samples / 2;
        let pi = std::f64::consts::PI;
        let outer = linspace(n_out, pi).map(|t| [t.cos(), t.sin()]);
        let inner =
            linspace(self.n_samples - n_out, pi).map(|t| [1.0 - t.cos(), 1.0 - t.sin() - 0.5]);
        let points: Vec<[f32; 2]> = outer
            .chain(inner)
            .collect::<Vec<_>>()
            .into_iter()
            .map(|p| {
                [
                    (p[0] + self.noise * normal(&mut rng)) as f32,
                    (p[1] + self.noise * normal(&mut rng)) as f32,
                ]
            })
            .collect();
        Ok(PointDataset::new(shuffled(points, &mut rng)))
    }
}
