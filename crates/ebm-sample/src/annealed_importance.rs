//! Annealed importance sampling (Neal, 2001): `log Z` of an energy, with its standard error,
//! by annealing chains from a Gaussian base along the geometric path of densities
//! `p_β ∝ exp(−((1 − β)·E₀ + β·E))` and weighting them by the work done.
//!
//! At each stage `βₜ₋₁ → βₜ` every chain's log weight grows by `−(βₜ − βₜ₋₁)(E(x) − E₀(x))`, then
//! any [`Transition`] moves it on `p_{βₜ}`. `log Z = log Z₀ + log mean exp(log w)`; the standard
//! error is the delta method's `sd(w)/(√N·mean w)`, and the weights' effective sample size
//! `(Σw)²/Σw²` says whether the estimate can be trusted (a few percent of `N` cannot).

use burn::config::Config;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Bool, Tensor};
use ebm_core::random_stream::stream_seed;
use ebm_core::{Energy, Inner};

use crate::error::{SampleError, invalid};
use crate::noise::Noise;
use crate::transition::{ChainState, Step, Transition};

/// How the inverse temperatures `0 = β₀ < … < β_T = 1` are spaced.
#[derive(Config, Debug, Copy, PartialEq)]
pub enum AnnealingSpacing {
    /// `βₜ = t/T`.
    Linear,
    /// `βₜ = first^{(T − t)/(T − 1)}` for `t ≥ 1` (after `β₀ = 0`): from `β₁ = first` to
    /// `β_T = 1` in equal ratios, fine steps near the base where the densities change fastest.
    Geometric {
        /// `β₁`, in (0, 1).
        first: f64,
    },
}

/// Builds an [`AnnealedImportance`] estimator around a transition.
#[derive(Config, Debug)]
pub struct AnnealedImportanceConfig {
    /// Annealing stages `T` (≥ 1).
    #[config(default = 1000)]
    pub stages: usize,
    /// Transition steps per stage (≥ 1).
    #[config(default = 1)]
    pub steps_per_stage: usize,
    /// The spacing of the `β`s.
    #[config(default = "AnnealingSpacing::Geometric { first: 1e-4 }")]
    pub spacing: AnnealingSpacing,
    /// The base's standard deviation `σ₀` (> 0): `E₀ = ‖x − μ₀‖²/(2σ₀²)`.
    #[config(default = 1.0)]
    pub base_std: f64,
    /// The base's mean `μ₀` (every coordinate).
    #[config(default = 0.0)]
    pub base_mean: f64,
}

ebm_core::json_config!(
    AnnealedImportanceConfig,
    required = [],
    template = AnnealedImportanceConfig::new()
);

impl AnnealedImportanceConfig {
    /// Wraps `transition`, checking the parameters.
    pub fn init<T>(&self, transition: T) -> Result<AnnealedImportance<T>, SampleError> {
        if self.stages == 0 || self.steps_per_stage == 0 {
            return Err(invalid(
                "stages and steps_per_stage",
                0usize,
                "must be >= 1",
            ));
        }
        if !(self.base_std > 0.0 && self.base_std.is_finite()) {
            return Err(invalid("base_std", self.base_std, "must be finite and > 0"));
        }
        if !self.base_mean.is_finite() {
            return Err(invalid("base_mean", self.base_mean, "must be finite"));
        }
        if let AnnealingSpacing::Geometric { first } = self.spacing
            && !(first > 0.0 && first < 1.0)
        {
            return Err(invalid("first", first, "must be in (0, 1)"));
        }
        Ok(AnnealedImportance {
            config: self.clone(),
            transition,
        })
    }
}

/// Annealed importance sampling around a transition `T` ([`AnnealedImportanceConfig`]).
#[derive(Debug, Clone)]
pub struct AnnealedImportance<T> {
    config: AnnealedImportanceConfig,
    transition: T,
}

/// An estimate of `log Z`.
#[derive(Debug, Clone)]
pub struct LogPartition<Bk: Backend> {
    /// `log Z`.
    pub log_z: f64,
    /// Its standard error (delta method).
    pub standard_error: f64,
    /// The weights' effective sample size `(Σw)²/Σw²`, out of the number of chains.
    pub effective_sample_size: f64,
    /// Each chain's log weight `[N]`.
    pub log_weights: Vec<f64>,
    /// The chains at `β = 1` `[N, D]` (weighted by `exp(log_weights)` they sample `exp(−E)/Z`).
    pub samples: Tensor<Bk, 2>,
}

/// `(1 − β)·E₀ + β·E` for the Gaussian base `E₀ = ‖x − μ₀‖²/(2σ₀²)`.
struct Bridge<'a, E: ?Sized> {
    energy: &'a E,
    beta: f64,
    mean: f64,
    precision: f64,
}

impl<E: ?Sized> Bridge<'_, E> {
    fn base<Bk: Backend>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 1> {
        let n = x.dims()[0];
        x.sub_scalar(self.mean)
            .square()
            .sum_dim(1)
            .reshape([n])
            .mul_scalar(0.5 * self.precision)
    }
}

impl<B: AutodiffBackend, E: Energy<B> + ?Sized> Energy<B> for Bridge<'_, E> {
    fn input_dim(&self) -> Option<usize> {
        self.energy.input_dim()
    }

    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        let base = self.base(x.clone()).mul_scalar(1.0 - self.beta);
        base + self.energy.energy(x).mul_scalar(self.beta)
    }

    fn energy_and_grad(
        &self,
        x: Tensor<Inner<B>, 2>,
    ) -> (Tensor<Inner<B>, 1>, Tensor<Inner<B>, 2>) {
        let (e, g) = self.energy.energy_and_grad(x.clone());
        let base = self.base(x.clone()).mul_scalar(1.0 - self.beta);
        let base_grad = x
            .sub_scalar(self.mean)
            .mul_scalar(self.precision * (1.0 - self.beta));
        (
            base + e.mul_scalar(self.beta),
            base_grad + g.mul_scalar(self.beta),
        )
    }
}

impl<T> AnnealedImportance<T> {
    /// The inverse temperatures `β₀ = 0, …, β_T = 1`.
    pub fn betas(&self) -> Vec<f64> {
        let t = self.config.stages;
        (0..=t)
            .map(|s| match self.config.spacing {
                _ if s == 0 => 0.0,
                AnnealingSpacing::Linear => s as f64 / t as f64,
                AnnealingSpacing::Geometric { first } if t > 1 => {
                    first.powf((t - s) as f64 / (t - 1) as f64)
                }
                AnnealingSpacing::Geometric { .. } => 1.0,
            })
            .collect()
    }

    /// Estimates `log Z = log ∫ exp(−E)` with `n` chains in `dim` dimensions on `device`;
    /// `seed` draws the base samples and the transition's noise. A non-finite weight stops the
    /// run with [`SampleError::NonFinite`] naming the chains.
    pub fn log_partition<B, E>(
        &self,
        energy: &E,
        n: usize,
        dim: usize,
        device: &burn::tensor::Device<Inner<B>>,
        seed: u64,
    ) -> Result<LogPartition<Inner<B>>, SampleError>
    where
        B: AutodiffBackend,
        E: Energy<B> + ?Sized,
        T: Transition<B>,
    {
        self.transition.validate()?;
        energy.check_input([n, dim])?;
        let c = &self.config;
        let like = Tensor::<Inner<B>, 2>::zeros([1, dim], device);
        let x = Noise::new(stream_seed(seed, "annealed_importance/base", 0))
            .normal_scaled([n, dim], c.base_std, &like)
            .add_scalar(c.base_mean);
        let mut noise = Noise::new(stream_seed(seed, "annealed_importance/transition", 0));
        let mut bridge = Bridge {
            energy,
            beta: 0.0,
            mean: c.base_mean,
            precision: 1.0 / (c.base_std * c.base_std),
        };
        let mut state = self.transition.init_state(x)?;
        let mut log_w = Tensor::<Inner<B>, 1>::zeros([n], device);
        let all = Tensor::<Inner<B>, 2, Bool>::from_data(
            burn::tensor::TensorData::new(vec![true; n * dim], [n, dim]),
            device,
        );
        let betas = self.betas();
        let mut index = 0;
        for pair in betas.windows(2) {
            let x = state.positions().clone();
            let work = energy.energy_value(x.clone()) - bridge.base(x.clone());
            log_w = log_w - work.mul_scalar(pair[1] - pair[0]);
            bridge.beta = pair[1];
            // What the state cached belongs to the previous β.
            state = state.restart(all.clone(), x);
            for _ in 0..c.steps_per_stage {
                let size = self.transition.step_size().value_at(index);
                state = self
                    .transition
                    .step(&bridge, state, Step { index, size }, &mut noise)
                    .0;
                index += 1;
            }
        }
        let log_weights = log_w
            .into_data()
            .convert::<f64>()
            .to_vec::<f64>()
            .expect("f64");
        let bad: Vec<usize> = (0..n).filter(|&i| !log_weights[i].is_finite()).collect();
        if !bad.is_empty() {
            return Err(SampleError::NonFinite {
                step: index,
                chains: bad,
            });
        }
        let max = log_weights
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = log_weights.iter().map(|l| (l - max).exp()).collect();
        let mean = w.iter().sum::<f64>() / n as f64;
        let var =
            w.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n as f64 - 1.0).max(1.0);
        let log_z_base = dim as f64 * (c.base_std.ln() + 0.5 * (2.0 * std::f64::consts::PI).ln());
        Ok(LogPartition {
            log_z: log_z_base + max + mean.ln(),
            standard_error: var.sqrt() / (mean * (n as f64).sqrt()),
            effective_sample_size: w.iter().sum::<f64>().powi(2)
                / w.iter().map(|v| v * v).sum::<f64>(),
            log_weights,
            samples: state.into_positions(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MalaConfig;
    use ebm_core::analytic::Gaussian;
    use ebm_testing::TestBackend as B;

    /// `log ∫ exp(−½(x − m)ᵀΣ⁻¹(x − m)) = ½ log det(2πΣ)`.
    fn exact_log_z(variances: &[f64]) -> f64 {
        variances
            .iter()
            .map(|v| 0.5 * (2.0 * std::f64::consts::PI * v).ln())
            .sum()
    }

    #[test]
    fn the_log_partition_of_gaussians_is_recovered_within_two_standard_errors() {
        // d = 50 (3000 stages) on NdArray only: the estimator is host-side arithmetic around a
        // transition that the other tests check on every backend, and on lavapipe it takes
        // minutes.
        let cases: &[(usize, usize)] = match ebm_testing::BACKEND_NAME {
            "ndarray" => &[(2, 500), (10, 500), (50, 3000)],
            _ => &[(2, 500), (10, 500)],
        };
        for &(d, stages) in cases {
            // Variances from 0.3 to 3 and a shifted mean: far from the base in 50 dimensions.
            let variances: Vec<f64> = (0..d)
                .map(|i| 0.3 + 2.7 * i as f64 / (d - 1) as f64)
                .collect();
            let covariance = (0..d)
                .map(|i| {
                    (0..d)
                        .map(|j| if i == j { variances[i] } else { 0.0 })
                        .collect()
                })
                .collect();
            let target = Gaussian::new(vec![0.5; d], covariance).unwrap();
            let mala = MalaConfig::new().step_size(0.1).init().unwrap();
            let ais = AnnealedImportanceConfig::new()
                .with_stages(stages)
                .init(mala)
                .unwrap();
            let out = ais
                .log_partition::<B, _>(&target, 256, d, &Default::default(), 3)
                .unwrap();
            let exact = exact_log_z(&variances);
            let err = (out.log_z - exact).abs();
            assert!(
                err < 2.0 * out.standard_error,
                "d {d}: {} vs {exact} (se {})",
                out.log_z,
                out.standard_error
            );
            assert!(out.standard_error < 0.2, "d {d}: se {}", out.standard_error);
            assert!(
                out.effective_sample_size > 25.0,
                "d {d}: ESS {}",
                out.effective_sample_size
            );
        }
    }

    #[test]
    fn the_ladders_run_from_zero_to_one() {
        let mala = MalaConfig::new().init().unwrap();
        let geometric = AnnealedImportanceConfig::new()
            .with_stages(4)
            .init(mala.clone())
            .unwrap();
        let b = geometric.betas();
        assert_eq!((b.len(), b[0], b[4]), (5, 0.0, 1.0));
        assert!((b[1] - 1e-4).abs() < 1e-12 && b.windows(2).all(|w| w[0] < w[1]));
        let linear = AnnealedImportanceConfig::new()
            .with_stages(4)
            .with_spacing(AnnealingSpacing::Linear)
            .init(mala.clone())
            .unwrap();
        assert_eq!(linear.betas(), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert!(
            AnnealedImportanceConfig::new()
                .with_stages(0)
                .init(mala.clone())
                .is_err()
        );
        assert!(
            AnnealedImportanceConfig::new()
                .with_base_std(0.0)
                .init(mala.clone())
                .is_err()
        );
        let bad = AnnealedImportanceConfig::new()
            .with_spacing(AnnealingSpacing::Geometric { first: 1.0 });
        assert!(bad.init(mala).is_err());
    }
}
