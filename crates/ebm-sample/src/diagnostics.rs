//! Run diagnostics: per-step records, effective sample size and split-R̂.
//!
//! # Estimators
//!
//! Both follow Vehtari et al. (2021), "Rank-normalization, folding, and localization: an improved
//! R̂", without the rank normalisation:
//!
//! * **split-R̂** — each chain's kept draws are split in halves, giving `2M` chains of length `n`.
//!   With `W` the mean within-chain variance and `B/n` the variance of the chain means,
//!   `var⁺ = (n−1)/n·W + B/n` and `R̂ = √(var⁺/W)`. Values near 1 (below 1.01–1.05) indicate mixing.
//! * **ESS** — per coordinate, from the autocorrelation combined across chains,
//!   `ρ_t = 1 − (W − mean_m γ_{m,t}) / var⁺`, where `γ_{m,t}` is chain m's autocovariance at lag t.
//!   Sums of pairs `ρ_{2k} + ρ_{2k+1}` are accumulated while positive and non-increasing (Geyer's
//!   initial monotone sequence), `τ = −1 + 2Σ`, and `ESS = M·N/τ`.

use serde::{Deserialize, Serialize};

/// What a run recorded at one kept step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step index (from 0, counting warm-up).
    pub step: usize,
    /// Mean energy over the finite chains.
    pub mean_energy: f64,
    /// Fraction of chains whose proposal was accepted at this step (Metropolis samplers).
    pub acceptance_rate: Option<f64>,
    /// Number of chains whose state is NaN or infinite.
    pub non_finite: usize,
}

/// Diagnostics of a whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnostics {
    /// One record per kept step.
    pub steps: Vec<StepRecord>,
    /// Effective sample size per coordinate (`None` with fewer than 4 kept steps).
    pub ess: Option<Vec<f64>>,
    /// Split-R̂ per coordinate (`None` with fewer than 4 kept steps).
    pub split_rhat: Option<Vec<f64>>,
}

/// Draws of one coordinate: `chains[m][t]`.
type Draws = Vec<Vec<f64>>;

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// `(W, var⁺)` of a set of equal-length chains.
fn variances(chains: &Draws) -> (f64, f64) {
    let n = chains[0].len() as f64;
    let means: Vec<f64> = chains.iter().map(|c| mean(c)).collect();
    let w = chains
        .iter()
        .zip(&means)
        .map(|(c, m)| c.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0))
        .sum::<f64>()
        / chains.len() as f64;
    let grand = mean(&means);
    let b_over_n = means.iter().map(|m| (m - grand).powi(2)).sum::<f64>()
        / (means.len() as f64 - 1.0).max(1.0);
    (w, (n - 1.0) / n * w + b_over_n)
}

/// Split-R̂ of one coordinate.
pub fn split_rhat(chains: &Draws) -> f64 {
    let half = chains[0].len() / 2;
    let split: Draws = chains
        .iter()
        .flat_map(|c| [c[..half].to_vec(), c[c.len() - half..].to_vec()])
        .collect();
    let (w, var_plus) = variances(&split);
    if w <= 0.0 {
        return f64::NAN;
    }
    (var_plus / w).sqrt()
}

/// Effective sample size of one coordinate.
pub fn effective_sample_size(chains: &Draws) -> f64 {
    let m = chains.len();
    let n = chains[0].len();
    let (w, var_plus) = variances(chains);
    if var_plus <= 0.0 {
        return f64::NAN;
    }
    let centred: Draws = chains
        .iter()
        .map(|c| {
            let mu = mean(c);
            c.iter().map(|v| v - mu).collect()
        })
        .collect();
    let rho = |t: usize| {
        let gamma: f64 = centred
            .iter()
            .map(|c| {
                c[..n - t]
                    .iter()
                    .zip(&c[t..])
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
                    / n as f64
            })
            .sum::<f64>()
            / m as f64;
        1.0 - (w - gamma) / var_plus
    };
    let mut sum = 0.0;
    let mut previous = f64::INFINITY;
    let mut t = 0;
    while t + 1 < n {
        let pair = rho(t) + rho(t + 1);
        if pair <= 0.0 {
            break;
        }
        let pair = pair.min(previous);
        sum += pair;
        previous = pair;
        t += 2;
    }
    let tau = (-1.0 + 2.0 * sum).max(1.0 / (m * n) as f64);
    (m * n) as f64 / tau
}

/// ESS and split-R̂ per coordinate from host draws `draws[m][t][j]`.
pub(crate) fn chain_statistics(draws: &[Vec<Vec<f64>>]) -> (Vec<f64>, Vec<f64>) {
    let d = draws[0][0].len();
    (0..d)
        .map(|j| {
            let coord: Draws = draws
                .iter()
                .map(|c| c.iter().map(|x| x[j]).collect())
                .collect();
            (effective_sample_size(&coord), split_rhat(&coord))
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use rand_distr::StandardNormal;

    fn ar1(phi: f64, m: usize, n: usize, seed: u64) -> Draws {
        let mut rng = SmallRng::seed_from_u64(seed);
        (0..m)
            .map(|_| {
                let mut x: f64 = rng.sample(StandardNormal);
                (0..n)
                    .map(|_| {
                        let e: f64 = rng.sample(StandardNormal);
                        x = phi * x + (1.0 - phi * phi).sqrt() * e;
                        x
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn ess_matches_ar1_theory() {
        // For AR(1) with coefficient φ, τ = (1 + φ)/(1 − φ): φ = 0.5 gives τ = 3.
        let draws = ar1(0.5, 8, 4000, 1);
        let ess = effective_sample_size(&draws);
        let expected = 8.0 * 4000.0 / 3.0;
        assert!(
            (ess / expected - 1.0).abs() < 0.1,
            "ess {ess} vs {expected}"
        );
        let independent = effective_sample_size(&ar1(0.0, 8, 2000, 2));
        assert!((independent / 16000.0 - 1.0).abs() < 0.1, "{independent}");
    }

    #[test]
    fn split_rhat_flags_chains_that_disagree() {
        let good = ar1(0.3, 4, 1000, 3);
        assert!((split_rhat(&good) - 1.0).abs() < 0.02);
        let mut bad = good.clone();
        for v in bad[0].iter_mut() {
            *v += 3.0;
        }
        assert!(split_rhat(&bad) > 1.2);
    }
}
