//! Maximum mean discrepancy with a Gaussian kernel.

use crate::{EvalError, check_rows, sq_dist};

/// An MMD estimate and the bandwidth it used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmdResult {
    /// Unbiased estimate of MMD² (can be slightly negative when the distributions agree).
    pub mmd2: f64,
    /// Kernel bandwidth σ in `k(a, b) = exp(−‖a − b‖²/(2σ²))`.
    pub bandwidth: f64,
}

/// The median heuristic: σ = median of the pairwise distances of the pooled samples (over at most
/// the first 1000 points of each set, to stay cheap).
pub fn median_bandwidth(x: &[Vec<f64>], y: &[Vec<f64>]) -> f64 {
    let pooled: Vec<&Vec<f64>> = x.iter().take(1000).chain(y.iter().take(1000)).collect();
    let mut d: Vec<f64> = Vec::with_capacity(pooled.len() * pooled.len() / 2);
    for i in 0..pooled.len() {
        for j in i + 1..pooled.len() {
            d.push(sq_dist(pooled[i], pooled[j]).sqrt());
        }
    }
    d.sort_by(f64::total_cmp);
    d.get(d.len() / 2)
        .copied()
        .filter(|m| *m > 0.0)
        .unwrap_or(1.0)
}

/// Unbiased MMD² between samples `x` and `y` (each ≥ 2 rows of equal dimension) with the Gaussian
/// kernel; `bandwidth = None` uses [`median_bandwidth`].
///
/// `MMD² = mean_{i≠j} k(xᵢ,xⱼ) + mean_{i≠j} k(yᵢ,yⱼ) − 2·mean_{i,j} k(xᵢ,yⱼ)`.
pub fn mmd_squared(
    x: &[Vec<f64>],
    y: &[Vec<f64>],
    bandwidth: Option<f64>,
) -> Result<MmdResult, EvalError> {
    let dx = check_rows("x", x, 2)?;
    let dy = check_rows("y", y, 2)?;
    if dx != dy {
        return Err(EvalError::DimensionMismatch {
            left: dx,
            right: dy,
        });
    }
    let bandwidth = bandwidth.unwrap_or_else(|| median_bandwidth(x, y));
    if !(bandwidth.is_finite() && bandwidth > 0.0) {
        return Err(EvalError::InvalidParameter(
            ebm_core::InvalidParameter::new("bandwidth", bandwidth, "must be finite and > 0"),
        ));
    }
    let gamma = 1.0 / (2.0 * bandwidth * bandwidth);
    let k = |a: &[f64], b: &[f64]| (-gamma * sq_dist(a, b)).exp();
    let within = |s: &[Vec<f64>]| {
        let n = s.len();
        let mut total = 0.0;
        for i in 0..n {
            for j in i + 1..n {
                total += k(&s[i], &s[j]);
            }
        }
        2.0 * total / (n * (n - 1)) as f64
    };
    let mut cross = 0.0;
    for a in x {
        for b in y {
            cross += k(a, b);
        }
    }
    cross /= (x.len() * y.len()) as f64;
    Ok(MmdResult {
        mmd2: within(x) + within(y) - 2.0 * cross,
        bandwidth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use rand_distr::StandardNormal;

    fn gaussian(n: usize, shift: f64, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = SmallRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                vec![
                    rng.sample::<f64, _>(StandardNormal) + shift,
                    rng.sample::<f64, _>(StandardNormal),
                ]
            })
            .collect()
    }

    #[test]
    fn zero_for_the_same_distribution_and_positive_otherwise() {
        let x = gaussian(500, 0.0, 1);
        let identical = mmd_squared(&x, &x, None).unwrap();
        assert!(identical.mmd2.abs() < 0.01, "{identical:?}");
        let same = mmd_squared(&x, &gaussian(500, 0.0, 2), None).unwrap();
        assert!(same.mmd2.abs() < 0.01, "{same:?}");
        let shifted = mmd_squared(&x, &gaussian(500, 1.0, 3), None).unwrap();
        assert!(shifted.mmd2 > 0.1, "{shifted:?}");
        assert!(matches!(
            mmd_squared(&x[..1], &x, None),
            Err(EvalError::TooFewSamples { .. })
        ));
        assert!(matches!(
            mmd_squared(&x, &[vec![0.0], vec![1.0]], None),
            Err(EvalError::DimensionMismatch { .. })
        ));
    }
}
