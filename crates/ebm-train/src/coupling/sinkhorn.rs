//! Entropic optimal transport by Sinkhorn's iterations in the log domain, which stay finite for
//! small `epsilon` where the plain iterations under- and overflow.

use rand::Rng;

/// An entropic transport plan between two uniform marginals of `n` points.
#[derive(Debug, Clone)]
pub struct SinkhornPlan {
    /// `π_ij`, row-major `[n, n]`, summing to 1.
    pub plan: Vec<f64>,
    /// Points per side.
    pub n: usize,
    /// Iterations run.
    pub iterations: usize,
    /// The row marginals' total deviation `Σᵢ |Σⱼ π_ij − 1/n|` at the end (the columns match
    /// exactly after each iteration's last half-step).
    pub marginal_error: f64,
}

impl SinkhornPlan {
    /// For each row `i`, a column drawn from row `i` of the plan (TorchEBM's row-conditional
    /// draw).
    pub fn draw_rows<R: Rng>(&self, rng: &mut R) -> Vec<usize> {
        self.plan
            .chunks(self.n)
            .map(|row| {
                let total: f64 = row.iter().sum();
                let mut u = rng.random::<f64>() * total;
                for (j, &p) in row.iter().enumerate() {
                    u -= p;
                    if u < 0.0 {
                        return j;
                    }
                }
                // Rounding left `u` at (or a hair above) zero: the last column with mass.
                row.iter().rposition(|&p| p > 0.0).unwrap_or(self.n - 1)
            })
            .collect()
    }

    /// The plan's expected cost `Σ π_ij C_ij`, times `n` (so that it compares with the total
    /// cost of an assignment).
    pub fn expected_cost(&self, cost: &[f64]) -> f64 {
        self.n as f64 * self.plan.iter().zip(cost).map(|(p, c)| p * c).sum::<f64>()
    }
}

/// `log Σⱼ exp(vⱼ)` without overflow.
fn log_sum_exp(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + values.map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// The plan `π = diag(eᶠ)·exp(−C/ε)·diag(eᵍ)` with uniform marginals, by alternately fitting the
/// potentials `f` (rows) and `g` (columns) from zero, as TorchEBM 0.8.9's `_sinkhorn_log`; stops
/// after `max_iterations` or once the row marginals are within `tolerance`.
pub fn sinkhorn_plan(
    cost: &[f64],
    n: usize,
    epsilon: f64,
    max_iterations: usize,
    tolerance: f64,
) -> SinkhornPlan {
    let log_marginal = -(n as f64).ln();
    let m: Vec<f64> = cost.iter().map(|c| -c / epsilon).collect();
    let (mut f, mut g) = (vec![0.0; n], vec![0.0; n]);
    let row_error = |f: &[f64], g: &[f64]| {
        (0..n)
            .map(|i| {
                let mass: f64 = (0..n).map(|j| (m[i * n + j] + f[i] + g[j]).exp()).sum();
                (mass - 1.0 / n as f64).abs()
            })
            .sum::<f64>()
    };
    let mut iterations = 0;
    let mut marginal_error = f64::INFINITY;
    while iterations < max_iterations {
        for i in 0..n {
            f[i] = log_marginal - log_sum_exp((0..n).map(|j| m[i * n + j] + g[j]));
        }
        for j in 0..n {
            g[j] = log_marginal - log_sum_exp((0..n).map(|i| m[i * n + j] + f[i]));
        }
        iterations += 1;
        if tolerance > 0.0 {
            marginal_error = row_error(&f, &g);
            if marginal_error <= tolerance {
                break;
            }
        }
    }
    if tolerance == 0.0 {
        marginal_error = row_error(&f, &g);
    }
    let plan = (0..n * n)
        .map(|k| (m[k] + f[k / n] + g[k % n]).exp())
        .collect();
    SinkhornPlan {
        plan,
        n,
        iterations,
        marginal_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_core::random_stream::seeded_rng;

    fn cost(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = seeded_rng(seed);
        (0..n * n).map(|_| rng.random::<f64>()).collect()
    }

    #[test]
    fn the_plan_has_uniform_marginals_and_approaches_the_assignment_as_epsilon_shrinks() {
        let n = 6;
        let c = cost(n, 4);
        let exact = super::super::pairing_cost(&c, &super::super::exact_ot::assignment(&c, n));
        let mut last = f64::INFINITY;
        for epsilon in [1.0, 0.1, 0.01, 0.001] {
            // Convergence slows as ε shrinks (the rate is set by e^{−C/ε}).
            let plan = sinkhorn_plan(&c, n, epsilon, 20_000, 1e-12);
            let bound = if epsilon >= 0.1 { 1e-12 } else { 1e-4 };
            assert!(
                plan.marginal_error <= bound,
                "{epsilon}: {}",
                plan.marginal_error
            );
            for j in 0..n {
                let column: f64 = (0..n).map(|i| plan.plan[i * n + j]).sum();
                assert!((column - 1.0 / n as f64).abs() < 1e-12);
            }
            let expected = plan.expected_cost(&c);
            assert!(
                expected >= exact - 1e-9 && expected < last,
                "{epsilon}: {expected}"
            );
            last = expected;
        }
        // At ε = 0.001 the plan is the assignment, up to its entropy's share ε·log n.
        assert!(last - exact < 0.01, "{last} vs {exact}");
    }

    #[test]
    fn a_small_epsilon_stays_finite_in_the_log_domain() {
        let plan = sinkhorn_plan(&cost(8, 5), 8, 1e-6, 50, 0.0);
        assert_eq!(plan.iterations, 50);
        assert!(plan.plan.iter().all(|p| p.is_finite()));
        let total: f64 = plan.plan.iter().sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
    }

    #[test]
    fn row_draws_follow_the_plan() {
        // Two points each, cost favouring the diagonal: π = [[a, b], [b, a]] / 2 with known a.
        let c = [0.0, 1.0, 1.0, 0.0];
        let plan = sinkhorn_plan(&c, 2, 1.0, 1000, 1e-14);
        let a = 1.0 / (1.0 + (-1.0f64).exp());
        assert!((plan.plan[0] * 2.0 - a).abs() < 1e-12, "{:?}", plan.plan);
        let mut rng = seeded_rng(3);
        let draws = 20_000;
        let diagonal = (0..draws)
            .map(|_| plan.draw_rows(&mut rng))
            .flat_map(|p| [p[0] == 0, p[1] == 1])
            .filter(|&d| d)
            .count() as f64
            / (2 * draws) as f64;
        // Binomial standard error √(a(1−a)/40000) ≈ 0.002.
        assert!((diagonal - a).abs() < 0.01, "{diagonal} vs {a}");
    }
}
