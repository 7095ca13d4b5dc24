//! The pinwheel (spiral blades).

use burn::config::Config;
use rand::Rng;

use super::rng;
use crate::error::{DataError, non_negative, positive, positive_count};
use crate::points::{PointDataset, normal, shuffled, split_counts};

/// For blade k (`n/K` points, +1 for `k < n % K`): `t = √u`, `r = radial_scale·t`,
/// `θ = 2πk/K + spiral_scale·t + angular_scale·ξ`, point `r(cos θ, sin θ)`; shuffled, then
/// `+ noise·N(0, I)`.
#[derive(Config, Debug)]
pub struct PinwheelConfig {
    /// Number of points.
    #[config(default = 2000)]
    pub n_samples: usize,
    /// Number of blades K.
    #[config(default = 5)]
    pub n_classes: usize,
    /// Standard deviation of the added noise.
    #[config(default = 0.05)]
    pub noise: f64,
    /// Blade length.
    #[config(default = 2.0)]
    pub radial_scale: f64,
    /// Angular spread of a blade.
    #[config(default = 0.1)]
    pub angular_scale: f64,
    /// Twist.
    #[config(default = 5.0)]
    pub spiral_scale: f64,
    /// Seed.
    #[config(default = 0)]
    pub seed: u64,
}

ebm_core::json_config!(
    PinwheelConfig,
    required = [],
    template = PinwheelConfig::new()
);

impl PinwheelConfig {
    /// Draws the points.
    pub fn generate(&self) -> Result<PointDataset, DataError> {
        positive_count("n_samples", self.n_samples)?;
        positive_count("n_classes", self.n_classes)?;
        non_negative("noise", self.noise)?;
        positive("radial_scale", self.radial_scale)?;
        non_negative("angular_scale", self.angular_scale)?;
        let mut rng = rng(self.seed);
        let mut points = Vec::with_capacity(self.n_samples);
        for (k, count) in split_counts(self.n_samples, self.n_classes).enumerate() {
            for _ in 0..count {
                let t = rng.random::<f64>().sqrt();
                let r = self.radial_scale * t;
                let theta = std::f64::consts::TAU * k as f64 / self.n_classes as f64
                    + self.spiral_scale * t
                    + self.angular_scale * normal(&mut rng);
                points.push([(r * theta.cos()) as f32, (r * theta.sin()) as f32]);
            }
        }
        let points = shuffled(points, &mut rng)
            .into_iter()
            .map(|p| {
                [
                    (p[0] as f64 + self.noise * normal(&mut rng)) as f32,
                    (p[1] as f64 + self.noise * normal(&mut rng)) as f32,
                ]
            })
            .collect();
        Ok(PointDataset::new(points))
    }
}
