//! The 2-D swiss roll.

use burn::config::Config;
use rand::Rng;

use super::rng;
use crate::error::{DataError, non_negative, positive};
use crate::points::{PointDataset, normal};

/// `t = arclength·π·(1 + 2u)`, points `(t cos t, t sin t) + noise·N(0, I)`, then standardised by
/// the sample's own mean and the mean of its two (unbiased) standard deviations, doubled: the
/// sample mean is 0 and the average standard deviation is exactly 0.5.
#[derive(Config, Debug)]
pub struct SwissRollConfig {
    /// Number of points (≥ 2).
    #[config(default = 2000)]
    pub n_samples: usize,
    /// Standard deviation of the added noise (before standardising).
    #[config(default = 0.05)]
    pub noise: f64,
    /// Length of the roll in half turns.
    #[config(default = 3.0)]
    pub arclength: f64,
    /// Seed.
    #[config(default = 0)]
    pub seed: u64,
}

ebm_core::json_config!(
    SwissRollConfig,
    required = [],
    template = SwissRollConfig::new()
);

impl SwissRollConfig {
    /// Draws the points.
    pub fn generate(&self) -> Result<PointDataset, DataError> {
        if self.n_samples < 2 {
            return Err(crate::error::invalid(
                "n_samples",
                self.n_samples,
                "must be >= 2 to standardise",
            ));
        }
        non_negative("noise", self.noise)?;
        positive("arclength", self.arclength)?;
        let mut rng = rng(self.seed);
        let raw: Vec<[f64; 2]> = (0..self.n_samples)
            .map(|_| {
                let t = self.arclength * std::f64::consts::PI * (1.0 + 2.0 * rng.random::<f64>());
                [
                    t * t.cos() + self.noise * normal(&mut rng),
                    t * t.sin() + self.noise * normal(&mut rng),
                ]
            })
            .collect();
        let n = raw.len() as f64;
        let mean = [0, 1].map(|j| raw.iter().map(|p| p[j]).sum::<f64>() / n);
        let std = [0, 1].map(|j| {
            (raw.iter().map(|p| (p[j] - mean[j]).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        });
        let scale = 2.0 * (std[0] + std[1]) / 2.0;
        Ok(PointDataset::new(
            raw.iter()
                .map(|p| {
                    [
                        ((p[0] - mean[0]) / scale) as f32,
                        ((p[1] - mean[1]) / scale) as f32,
                    ]
                })
                .collect(),
        ))
    }
}
