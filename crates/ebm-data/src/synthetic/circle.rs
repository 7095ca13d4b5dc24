//! A noisy circle.

use burn::config::Config;
use rand::Rng;

use super::rng;
use crate::error::{DataError, non_negative, positive, positive_count};
use crate::points::{PointDataset, normal};

/// `radius·(cos 2πu, sin 2πu) + noise·N(0, I)`.
#[derive(Config, Debug)]
pub struct CircleConfig {
    /// Number of points.
    #[config(default = 2000)]
    pub n_samples: usize,
    /// Standard deviation of the added noise.
    #[config(default = 0.05)]
    pub noise: f64,
    /// Radius.
    #[config(default = 1.0)]
    pub radius: f64,
    /// Seed.
    #[config(default = 0)]
    pub seed: u64,
}

ebm_core::json_config!(CircleConfig, required = [], template = CircleConfig::new());

impl CircleConfig {
    /// Draws the points.
    pub fn generate(&self) -> Result<PointDataset, DataError> {
        positive_count("n_samples", self.n_samples)?;
        non_negative("noise", self.noise)?;
        positive("radius", self.radius)?;
        let mut rng = rng(self.seed);
        let points = (0..self.n_samples)
            .map(|_| {
                let a = std::f64::consts::TAU * rng.random::<f64>();
                [
                    (self.radius * a.cos() + self.noise * normal(&mut rng)) as f32,
                    (self.radius * a.sin() + self.noise * normal(&mut rng)) as f32,
                ]
            })
            .collect();
        Ok(PointDataset::new(points))
    }
}
