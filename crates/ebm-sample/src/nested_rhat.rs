//! Nested R̂ (Margossian et al. 2024, "Nested R̂: assessing the convergence of Markov chain Monte
//! Carlo when running many short chains"): the convergence check for many parallel chains that
//! are each too short for split-R̂.
//!
//! The chains are grouped into `K` superchains of `M` subchains; the subchains of a superchain
//! start from the same point, so they agree only once the run has forgotten that start. With
//! `N` draws per subchain, `θ̄ₘₖ` a subchain's mean, `θ̄ₖ` a superchain's and `θ̄` the grand mean:
//!
//! * between superchains: `B = 1/(K−1) Σₖ (θ̄ₖ − θ̄)²`;
//! * within a superchain: `B̃ₖ = 1/(M−1) Σₘ (θ̄ₘₖ − θ̄ₖ)²` (0 when `M = 1`) and
//!   `W̃ₖ = 1/M Σₘ 1/(N−1) Σₙ (θₙₘₖ − θ̄ₘₖ)²` (0 when `N = 1`), `W = 1/K Σₖ (B̃ₖ + W̃ₖ)`;
//! * `nR̂ = √(1 + B/W)`.
//!
//! Values near 1 mean the superchains agree; the paper suggests `nR̂ < 1 + δ` with `δ` around
//! 0.01 when the chains are many. Even independent draws give `√(1 + 1/(M·N))` on average.

use crate::error::{SampleError, invalid};

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    sum / n as f64
}

/// Nested R̂ of one coordinate: `draws[k][m][n]` is draw `n` of subchain `m` of superchain `k`.
/// Needs at least two superchains, equal shapes, finite draws, and `M ≥ 2` or `N ≥ 2`.
pub fn nested_rhat(draws: &[Vec<Vec<f64>>]) -> Result<f64, SampleError> {
    let k = draws.len();
    if k < 2 {
        return Err(invalid("superchains", k, "must be >= 2"));
    }
    let m = draws[0].len();
    let n = draws[0].first().map_or(0, Vec::len);
    if m == 0 || n == 0 {
        return Err(invalid("draws per superchain", m * n, "must be >= 1"));
    }
    if m == 1 && n == 1 {
        return Err(invalid(
            "subchains × draws",
            1usize,
            "needs two subchains per superchain or two draws per subchain",
        ));
    }
    for (i, superchain) in draws.iter().enumerate() {
        if superchain.len() != m || superchain.iter().any(|c| c.len() != n) {
            return Err(invalid(
                "superchain shape",
                i,
                "every superchain needs the same number of subchains and draws",
            ));
        }
        if superchain.iter().flatten().any(|v| !v.is_finite()) {
            return Err(invalid("draws", i, "superchain holds a non-finite draw"));
        }
    }
    let sub_means: Vec<Vec<f64>> = draws
        .iter()
        .map(|s| s.iter().map(|c| mean(c.iter().copied())).collect())
        .collect();
    let super_means: Vec<f64> = sub_means.iter().map(|s| mean(s.iter().copied())).collect();
    let grand = mean(super_means.iter().copied());
    let between = super_means.iter().map(|x| (x - grand).powi(2)).sum::<f64>() / (k - 1) as f64;
    let within = mean(draws.iter().zip(&sub_means).zip(&super_means).map(
        |((superchain, subs), &centre)| {
            let b = match m {
                1 => 0.0,
                _ => subs.iter().map(|x| (x - centre).powi(2)).sum::<f64>() / (m - 1) as f64,
            };
            let w = match n {
                1 => 0.0,
                _ => mean(superchain.iter().zip(subs).map(|(c, mu)| {
                    c.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / (n - 1) as f64
                })),
            };
            b + w
        },
    ));
    if within <= 0.0 {
        return Err(invalid(
            "draws",
            within,
            "no variation within the superchains",
        ));
    }
    Ok((1.0 + between / within).sqrt())
}

/// Nested R̂ per coordinate of a run's kept draws `draws[chain][t][j]`, with the chains grouped
/// into `superchains` runs of consecutive chains (chains `0..M` the first superchain, and so
/// on): start the chains of each run from one point.
pub fn nested_rhat_per_coordinate(
    draws: &[Vec<Vec<f64>>],
    superchains: usize,
) -> Result<Vec<f64>, SampleError> {
    if superchains < 2 || !draws.len().is_multiple_of(superchains) {
        return Err(invalid(
            "superchains",
            superchains,
            "must be >= 2 and divide the number of chains",
        ));
    }
    let per = draws.len() / superchains;
    let d = draws.first().and_then(|c| c.first()).map_or(0, Vec::len);
    if d == 0 || draws.iter().flatten().any(|x| x.len() != d) {
        return Err(invalid(
            "draw width",
            d,
            "every draw needs the same width >= 1",
        ));
    }
    (0..d)
        .map(|j| {
            let coordinate: Vec<Vec<Vec<f64>>> = draws
                .chunks(per)
                .map(|s| s.iter().map(|c| c.iter().map(|x| x[j]).collect()).collect())
                .collect();
            nested_rhat(&coordinate)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rand_distr::{Distribution, StandardNormal};

    use super::*;

    fn normal_draws(
        k: usize,
        m: usize,
        n: usize,
        offset: impl Fn(usize) -> f64,
    ) -> Vec<Vec<Vec<f64>>> {
        let mut rng = ebm_core::random_stream::seeded_rng(5);
        (0..k)
            .map(|s| {
                (0..m)
                    .map(|_| {
                        (0..n)
                            .map(|_| {
                                offset(s) + Distribution::<f64>::sample(&StandardNormal, &mut rng)
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_small_case_by_hand() {
        // Superchain means 1.5 and 3.5 (grand 2.5): B = 2. Subchain means 1, 2 and 3, 4:
        // B̃ = 0.5 each; within-subchain variances 0 and 2, 0 and 2: W̃ = 1 each. W = 1.5.
        let draws = vec![
            vec![vec![1.0, 1.0], vec![1.0, 3.0]],
            vec![vec![3.0, 3.0], vec![3.0, 5.0]],
        ];
        let r = nested_rhat(&draws).unwrap();
        assert!((r - (1.0 + 2.0 / 1.5f64).sqrt()).abs() < 1e-12, "{r}");
    }

    #[test]
    fn independent_draws_give_the_floor_and_unmixed_superchains_do_not() {
        let (k, m, n) = (16, 32, 8);
        let r = nested_rhat(&normal_draws(k, m, n, |_| 0.0)).unwrap();
        let floor = (1.0 + 1.0 / (m * n) as f64).sqrt();
        assert!(
            (r - floor).abs() < 0.005 && r < 1.01,
            "nR̂ {r}, floor {floor}"
        );
        // Superchains stuck at their starts ±1 apart: B ≈ 1 against W ≈ 1.
        let stuck = nested_rhat(&normal_draws(k, m, n, |s| (s % 2) as f64 * 2.0 - 1.0)).unwrap();
        assert!(stuck > 1.3, "{stuck}");
        // One draw per chain works when the superchains have several subchains.
        let single = nested_rhat(&normal_draws(k, 64, 1, |_| 0.0)).unwrap();
        assert!(single < 1.02, "{single}");
    }

    #[test]
    fn per_coordinate_groups_consecutive_chains() {
        // 4 chains × 3 draws × 2 coordinates; coordinate 1 separates chains {0,1} from {2,3}.
        let chain = |c: usize| -> Vec<Vec<f64>> {
            (0..3)
                .map(|t| {
                    vec![
                        ((c + t) % 3) as f64,
                        if c < 2 {
                            t as f64 * 0.1
                        } else {
                            10.0 + t as f64 * 0.1
                        },
                    ]
                })
                .collect()
        };
        let draws: Vec<Vec<Vec<f64>>> = (0..4).map(chain).collect();
        let r = nested_rhat_per_coordinate(&draws, 2).unwrap();
        assert!(r[0] < 1.2 && r[1] > 10.0, "{r:?}");
        assert!(nested_rhat_per_coordinate(&draws, 3).is_err());
        assert!(nested_rhat_per_coordinate(&draws, 1).is_err());
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(
            nested_rhat(&[vec![vec![1.0, 2.0]]]).is_err(),
            "one superchain"
        );
        assert!(
            nested_rhat(&[vec![vec![1.0]], vec![vec![2.0]]]).is_err(),
            "M = N = 1"
        );
        assert!(
            nested_rhat(&[vec![vec![1.0, 2.0]], vec![vec![2.0]]]).is_err(),
            "ragged"
        );
        assert!(
            nested_rhat(&[vec![vec![1.0, f64::NAN]], vec![vec![2.0, 3.0]]]).is_err(),
            "non-finite"
        );
        assert!(
            nested_rhat(&[vec![vec![1.0, 1.0]], vec![vec![2.0, 2.0]]]).is_err(),
            "no variation within"
        );
    }
}
