//! The energy checker: one call that tells whether an energy is safe to sample and train.

use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::energy::{Energy, Inner, autodiff_energy_and_grad};
use crate::error::Result;

/// Thresholds used by [`check_energy`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckConfig {
    /// A score norm above this counts as exploding.
    pub max_score_norm: f64,
    /// A spread `max E − min E` above this is reported as a problem.
    pub max_energy_range: f64,
    /// Largest accepted `|∇E − ∇E_autodiff| / (1 + |∇E_autodiff|)`.
    pub gradient_tolerance: f64,
}

impl Default for CheckConfig {
    /// The thresholds of TorchEBM's `debug_energy_function`: score norm 1e3, energy range 1e6,
    /// and a gradient tolerance of 1e-3 (float32).
    fn default() -> Self {
        Self {
            max_score_norm: 1e3,
            max_energy_range: 1e6,
            gradient_tolerance: 1e-3,
        }
    }
}

/// One problem found by [`check_energy`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Issue {
    /// Samples whose energy is NaN or infinite (their row indices).
    NonFiniteEnergy(Vec<usize>),
    /// Samples whose gradient has a NaN or infinite entry.
    NonFiniteGradient(Vec<usize>),
    /// The energy's own gradient disagrees with autodiff by this much (relative).
    GradientMismatch(f64),
    /// This many samples have a score norm above the threshold.
    ExplodingScore(usize),
    /// The energies span more than the threshold.
    LargeEnergyRange(f64),
}

/// What [`check_energy`] measured on a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyReport {
    /// Number of samples checked.
    pub n_samples: usize,
    /// Samples with a non-finite energy.
    pub non_finite_energies: usize,
    /// Samples with a non-finite gradient.
    pub non_finite_gradients: usize,
    /// Largest `|∇E − ∇E_autodiff| / (1 + |∇E_autodiff|)` over finite entries.
    pub max_gradient_error: f64,
    /// Largest score norm `‖∇E‖` over finite rows.
    pub max_score_norm: f64,
    /// Smallest finite energy.
    pub energy_min: f64,
    /// Largest finite energy.
    pub energy_max: f64,
    /// Mean of the finite energies.
    pub energy_mean: f64,
    /// Everything that crossed a threshold; empty for a healthy energy.
    pub issues: Vec<Issue>,
}

impl EnergyReport {
    /// `true` when no issue was found.
    pub fn is_healthy(&self) -> bool {
        self.issues.is_empty()
    }
}

/// Evaluates `energy` on `x` and reports non-finite energies or gradients, disagreement between
/// the energy's gradient and autodiff, exploding score norms and the energy range.
///
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use burn::tensor::Tensor;
/// use ebm_core::{analytic::DoubleWell, check::{check_energy, CheckConfig}};
///
/// type B = Autodiff<NdArray>;
/// let x = Tensor::<NdArray, 2>::from_data([[0.5, -1.0], [1.5, 0.0]], &Default::default());
/// let report = check_energy::<B, _>(&DoubleWell::default(), x, &CheckConfig::default()).unwrap();
/// assert!(report.is_healthy());
/// assert!(report.max_gradient_error < 1e-5);
/// ```
pub fn check_energy<B: AutodiffBackend, E: Energy<B> + ?Sized>(
    energy: &E,
    x: Tensor<Inner<B>, 2>,
    config: &CheckConfig,
) -> Result<EnergyReport> {
    let [n, d] = x.dims();
    energy.check_input([n, d])?;
    let (e, g) = energy.energy_and_grad(x.clone());
    let (_, g_ad) = autodiff_energy_and_grad::<B, E>(energy, x);
    let to_vec =
        |t: burn::tensor::TensorData| t.convert::<f64>().to_vec::<f64>().expect("float data");
    let e = to_vec(e.into_data());
    let g = to_vec(g.into_data());
    let g_ad = to_vec(g_ad.into_data());

    let bad_e: Vec<usize> = (0..n).filter(|&i| !e[i].is_finite()).collect();
    let bad_g: Vec<usize> = (0..n)
        .filter(|&i| g[i * d..(i + 1) * d].iter().any(|v| !v.is_finite()))
        .collect();
    let finite_e: Vec<f64> = e.iter().copied().filter(|v| v.is_finite()).collect();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in &finite_e {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let mean = finite_e.iter().sum::<f64>() / finite_e.len().max(1) as f64;
    let mut max_err: f64 = 0.0;
    for (a, b) in g.iter().zip(&g_ad) {
        if a.is_finite() && b.is_finite() {
            max_err = max_err.max((a - b).abs() / (1.0 + b.abs()));
        }
    }
    let norms: Vec<f64> = (0..n)
        .filter(|i| !bad_g.contains(i))
        .map(|i| {
            g[i * d..(i + 1) * d]
                .iter()
                .map(|v| v * v)
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    let max_norm = norms.iter().copied().fold(0.0, f64::max);
    let exploding = norms.iter().filter(|&&v| v > config.max_score_norm).count();

    let mut issues = Vec::new();
    if !bad_e.is_empty() {
        issues.push(Issue::NonFiniteEnergy(bad_e.clone()));
    }
    if !bad_g.is_empty() {
        issues.push(Issue::NonFiniteGradient(bad_g.clone()));
    }
    if max_err > config.gradient_tolerance {
        issues.push(Issue::GradientMismatch(max_err));
    }
    if exploding > 0 {
        issues.push(Issue::ExplodingScore(exploding));
    }
    if hi - lo > config.max_energy_range {
        issues.push(Issue::LargeEnergyRange(hi - lo));
    }
    Ok(EnergyReport {
        n_samples: n,
        non_finite_energies: bad_e.len(),
        non_finite_gradients: bad_g.len(),
        max_gradient_error: max_err,
        max_score_norm: max_norm,
        energy_min: lo,
        energy_max: hi,
        energy_mean: mean,
        issues,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytic::{Ackley, Rosenbrock};
    use crate::combinators::FromLogDensity;
    use crate::error::EnergyError;
    use ebm_testing::{TestBackend, TestInner};

    type B = TestBackend;

    #[test]
    fn reports_non_finite_energies_and_exploding_scores() {
        // log p = −x²·log|x|: NaN energy at 0 (0·−∞), huge score far out.
        let e = FromLogDensity::new(Some(1), |x: Tensor<B, 2>| {
            let n = x.dims()[0];
            (x.clone().square() * x.abs().log()).neg().reshape([n])
        });
        let x = Tensor::<TestInner, 2>::from_data([[0.0], [1.0], [1e4]], &Default::default());
        let report = check_energy::<B, _>(&e, x, &CheckConfig::default()).unwrap();
        assert_eq!(report.non_finite_energies, 1);
        assert!(
            report.issues.contains(&Issue::NonFiniteEnergy(vec![0])),
            "{report:?}"
        );
        assert!(
            report
                .issues
                .iter()
                .any(|i| matches!(i, Issue::ExplodingScore(1))),
            "{report:?}"
        );
        assert!(
            report
                .issues
                .iter()
                .any(|i| matches!(i, Issue::LargeEnergyRange(_))),
            "{report:?}"
        );
        assert!(!report.is_healthy());
    }

    #[test]
    fn ackley_origin_is_finite_here() {
        let x = Tensor::<TestInner, 2>::from_data([[0.0, 0.0], [0.3, -0.2]], &Default::default());
        let report = check_energy::<B, _>(&Ackley::default(), x, &CheckConfig::default()).unwrap();
        assert_eq!(report.non_finite_gradients, 0, "{report:?}");
    }

    #[test]
    fn wrong_width_and_empty_batch_are_typed_errors() {
        let r = Rosenbrock::standard(3).unwrap();
        let x = Tensor::<TestInner, 2>::zeros([4, 2], &Default::default());
        let err = check_energy::<B, _>(&r, x, &CheckConfig::default()).unwrap_err();
        assert_eq!(
            err,
            EnergyError::Dimension {
                expected: 3,
                got: 2
            }
        );
        let x = Tensor::<TestInner, 2>::zeros([0, 3], &Default::default());
        let err = check_energy::<B, _>(&r, x, &CheckConfig::default()).unwrap_err();
        assert_eq!(err, EnergyError::EmptyBatch);
    }
}
