//! [`TimeSampler`]: the distribution of the training times of the flow objectives.

use burn::config::Config;
use ebm_core::random_stream::seeded_rng;
use rand::Rng;
use rand_distr::StandardNormal;

use crate::TrainError;
use crate::error::invalid;

/// The training-time distribution of flow matching, Equilibrium Matching and Energy Matching.
#[derive(Config, Debug, PartialEq)]
pub enum TimeSampler {
    /// `t ~ U(start, end)` (TorchEBM's `"uniform"` with `train_eps = start = 1 − end`).
    Uniform {
        /// Lower end (≥ 0).
        start: f64,
        /// Upper end (≤ 1, > `start`).
        end: f64,
    },
    /// EDM's skew: `t = 1 / (1 + exp(z·std + mean))`, `z ~ N(0, 1)`, clamped to `[1e-4, 1]`
    /// (TorchEBM's `"lognormal"`, defaults −1.2 and 1.2).
    LogNormal {
        /// Location.
        mean: f64,
        /// Scale (> 0).
        std: f64,
    },
}

impl TimeSampler {
    /// `U(0, 1)`.
    pub fn uniform() -> Self {
        TimeSampler::Uniform {
            start: 0.0,
            end: 1.0,
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), TrainError> {
        match *self {
            TimeSampler::Uniform { start, end } => {
                if !(0.0..1.0).contains(&start) {
                    return Err(invalid("start", start, "must be in [0, 1)"));
                }
                if !(end > start && end <= 1.0) {
                    return Err(invalid("end", end, "must be in (start, 1]"));
                }
            }
            TimeSampler::LogNormal { mean, std } => {
                if !mean.is_finite() {
                    return Err(invalid("mean", mean, "must be finite"));
                }
                if !(std > 0.0 && std.is_finite()) {
                    return Err(invalid("std", std, "must be finite and > 0"));
                }
            }
        }
        Ok(())
    }

    /// `n` times drawn from a generator seeded with `seed`.
    pub fn draw(&self, n: usize, seed: u64) -> Vec<f32> {
        let mut rng = seeded_rng(seed);
        (0..n)
            .map(|_| match *self {
                TimeSampler::Uniform { start, end } => {
                    (start + (end - start) * rng.random::<f64>()) as f32
                }
                TimeSampler::LogNormal { mean, std } => {
                    let z: f64 = rng.sample(StandardNormal);
                    (1.0 / (1.0 + (z * std + mean).exp())).clamp(1e-4, 1.0) as f32
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_have_the_moments_of_their_law() {
        let n = 40_000;
        let uniform = TimeSampler::Uniform {
            start: 0.2,
            end: 0.6,
        }
        .draw(n, 1);
        let mean = uniform.iter().map(|&t| t as f64).sum::<f64>() / n as f64;
        assert!(uniform.iter().all(|&t| (0.2..0.6).contains(&t)));
        // Standard error 0.4/√(12n) ≈ 6e-4.
        assert!((mean - 0.4).abs() < 3e-3, "{mean}");
        // t = 1/(1 + e^{σz+μ}) has median 1/(1 + e^μ).
        let mut skewed = TimeSampler::LogNormal {
            mean: -1.2,
            std: 1.2,
        }
        .draw(n, 2);
        skewed.sort_by(f32::total_cmp);
        let median = skewed[n / 2] as f64;
        assert!(
            (median - 1.0 / (1.0 + (-1.2f64).exp())).abs() < 0.01,
            "{median}"
        );
        assert_eq!(
            TimeSampler::uniform().draw(5, 3),
            TimeSampler::uniform().draw(5, 3)
        );
    }

    #[test]
    fn bad_intervals_are_errors() {
        for (start, end) in [(-0.1, 1.0), (0.5, 0.5), (0.0, 1.5)] {
            assert!(TimeSampler::Uniform { start, end }.validate().is_err());
        }
        let bad = TimeSampler::LogNormal {
            mean: 0.0,
            std: 0.0,
        };
        assert!(bad.validate().is_err());
    }
}
