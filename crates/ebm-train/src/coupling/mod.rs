//! Minibatch couplings: which data row each noise row travels to.
//!
//! A flow-matching loss interpolates between a noise batch `x₀` and a data batch `x₁`. Pairing
//! them independently gives crossing paths; pairing them by a (regularised) optimal transport
//! plan on the squared Euclidean cost gives straighter ones (OT-CFM, Energy Matching's warm-up).
//!
//! | coupling | file | pairing |
//! |---|---|---|
//! | [`Coupling::Independent`] | here | as given |
//! | [`Coupling::ExactOt`] | `exact_ot.rs` | the assignment of least total cost (Jonker–Volgenant, the `lsap` crate) |
//! | [`Coupling::Sinkhorn`] | `sinkhorn.rs` | one data row per noise row, drawn from its row of the entropic plan |
//! | [`Coupling::Greedy`] | `greedy.rs` | the cheapest free pair first |
//!
//! As in TorchEBM 0.8.9, the noise rows keep their order and the data rows are reindexed, and the
//! cost is `‖x₀ⁱ − x₁ʲ‖²` divided by its largest entry (so Sinkhorn's `epsilon` is relative to
//! the batch's spread). Costs are computed on the host in float64: the solvers are sequential.

mod exact_ot;
mod greedy;
mod sinkhorn;

use burn::config::Config;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use ebm_core::EnergyError;
use ebm_core::random_stream::seeded_rng;

use crate::TrainError;
use crate::error::invalid;

pub use sinkhorn::{SinkhornPlan, sinkhorn_plan};

/// How a noise batch is paired with a data batch.
#[derive(Config, Debug, PartialEq)]
pub enum Coupling {
    /// Keep the given pairing (classical flow matching).
    Independent,
    /// The exact minibatch optimal-transport assignment.
    ExactOt,
    /// Entropic optimal transport by log-domain Sinkhorn iterations; each noise row's partner
    /// is drawn from its row of the plan, so a data row can be drawn twice.
    Sinkhorn {
        /// Entropic regularisation, relative to the largest cost (> 0; TorchEBM's default 0.05).
        epsilon: f64,
        /// Most iterations (≥ 1; TorchEBM runs exactly 100).
        max_iterations: usize,
        /// Stop once the row marginals' total deviation from uniform is below this (≥ 0; 0 runs
        /// every iteration).
        tolerance: f64,
    },
    /// The cheapest still-free pair first: deterministic, cheaper than exact, not optimal.
    Greedy,
}

impl Coupling {
    /// Sinkhorn with TorchEBM's defaults (`epsilon` 0.05, 100 iterations), stopping early once
    /// the marginals are within 1e-9.
    pub fn sinkhorn() -> Self {
        Coupling::Sinkhorn {
            epsilon: 0.05,
            max_iterations: 100,
            tolerance: 1e-9,
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), TrainError> {
        if let Coupling::Sinkhorn {
            epsilon,
            max_iterations,
            tolerance,
        } = *self
        {
            if !(epsilon > 0.0 && epsilon.is_finite()) {
                return Err(invalid("epsilon", epsilon, "must be positive and finite"));
            }
            if max_iterations == 0 {
                return Err(invalid("max_iterations", 0usize, "must be >= 1"));
            }
            if !(tolerance >= 0.0 && tolerance.is_finite()) {
                return Err(invalid("tolerance", tolerance, "must be >= 0 and finite"));
            }
        }
        Ok(())
    }

    /// For each noise row `i` of `x0` (`[N, D]`, row-major on the host), the data row of `x1`
    /// it is paired with. `seed` drives Sinkhorn's draws; the other couplings are deterministic.
    pub fn partners(
        &self,
        x0: &[f64],
        x1: &[f64],
        dim: usize,
        seed: u64,
    ) -> Result<Vec<usize>, TrainError> {
        self.validate()?;
        if dim == 0 {
            return Err(invalid("coupling dimension", 0usize, "must be >= 1"));
        }
        if x0.len() != x1.len() || !x0.len().is_multiple_of(dim) {
            return Err(EnergyError::LengthMismatch {
                what: "coupled noise and data batches",
                left: x0.len(),
                right: x1.len(),
            }
            .into());
        }
        let n = x0.len() / dim;
        if n <= 1 || *self == Coupling::Independent {
            return Ok((0..n).collect());
        }
        let cost = normalised_cost(x0, x1, dim);
        if cost.iter().any(|c| !c.is_finite()) {
            return Err(EnergyError::NonFinite {
                what: "a coupled noise or data batch",
            }
            .into());
        }
        Ok(match *self {
            Coupling::Independent => unreachable!("handled above"),
            Coupling::ExactOt => exact_ot::assignment(&cost, n),
            Coupling::Greedy => greedy::assignment(&cost, n),
            Coupling::Sinkhorn {
                epsilon,
                max_iterations,
                tolerance,
            } => {
                let plan = sinkhorn_plan(&cost, n, epsilon, max_iterations, tolerance);
                plan.draw_rows(&mut seeded_rng(seed))
            }
        })
    }

    /// Reorders the data batch `x1` to its partners of the noise batch `x0` (both `[N, D]`):
    /// returns `x1'` with row `i` paired with `x0`'s row `i`. Reads both batches to the host
    /// once, unless the coupling is independent.
    pub fn couple<Bk: Backend>(
        &self,
        x0: &Tensor<Bk, 2>,
        x1: Tensor<Bk, 2>,
        seed: u64,
    ) -> Result<Tensor<Bk, 2>, TrainError> {
        if x0.dims() != x1.dims() {
            return Err(EnergyError::LengthMismatch {
                what: "coupled noise and data batches (elements)",
                left: x0.dims().iter().product(),
                right: x1.dims().iter().product(),
            }
            .into());
        }
        if *self == Coupling::Independent {
            return Ok(x1);
        }
        let [n, d] = x1.dims();
        let host = |t: &Tensor<Bk, 2>| t.to_data().convert::<f64>().to_vec::<f64>();
        let (Ok(a), Ok(b)) = (host(x0), host(&x1)) else {
            unreachable!("converted to f64")
        };
        let partners = self.partners(&a, &b, d, seed)?;
        let index = partners.iter().map(|&j| j as i64).collect::<Vec<_>>();
        let index = Tensor::<Bk, 1, Int>::from_data(TensorData::new(index, [n]), &x1.device());
        Ok(x1.select(0, index))
    }
}

/// `C_ij = ‖x₀ⁱ − x₁ʲ‖² / max C`, row-major `[N, N]` (all zeros if every cost is 0).
fn normalised_cost(x0: &[f64], x1: &[f64], dim: usize) -> Vec<f64> {
    let mut cost: Vec<f64> = x0
        .chunks(dim)
        .flat_map(|a| {
            x1.chunks(dim)
                .map(move |b| a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum())
        })
        .collect();
    let max = cost.iter().copied().fold(0.0, f64::max);
    if max > 0.0 {
        cost.iter_mut().for_each(|c| *c /= max);
    }
    cost
}

/// The total cost `Σᵢ C[i, partners[i]]` of a pairing.
pub fn pairing_cost(cost: &[f64], partners: &[usize]) -> f64 {
    let n = partners.len();
    partners
        .iter()
        .enumerate()
        .map(|(i, &j)| cost[i * n + j])
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_testing::TestInner;
    use rand::Rng;

    fn points(seed: u64, n: usize, dim: usize, shift: f64) -> Vec<f64> {
        let mut rng = seeded_rng(seed);
        (0..n * dim)
            .map(|_| rng.random::<f64>() * 2.0 - 1.0 + shift)
            .collect()
    }

    /// Every permutation of `0..n`, by Heap's algorithm.
    fn permutations(n: usize) -> Vec<Vec<usize>> {
        fn heap(k: usize, p: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
            if k <= 1 {
                out.push(p.clone());
                return;
            }
            for i in 0..k {
                heap(k - 1, p, out);
                let j = if k.is_multiple_of(2) { i } else { 0 };
                p.swap(j, k - 1);
            }
        }
        let mut out = Vec::new();
        heap(n, &mut (0..n).collect(), &mut out);
        out
    }

    fn is_permutation(p: &[usize]) -> bool {
        let mut seen = vec![false; p.len()];
        p.iter()
            .all(|&j| j < p.len() && !std::mem::replace(&mut seen[j], true))
    }

    #[test]
    fn exact_ot_reaches_the_brute_force_optimum() {
        assert_eq!(permutations(4).len(), 24);
        for n in 2..=7 {
            for trial in 0..6u64 {
                let dim = 1 + (trial as usize % 3);
                let (x0, x1) = (points(trial, n, dim, 0.0), points(100 + trial, n, dim, 0.5));
                let cost = normalised_cost(&x0, &x1, dim);
                let best = permutations(n)
                    .iter()
                    .map(|p| pairing_cost(&cost, p))
                    .fold(f64::INFINITY, f64::min);
                let exact = Coupling::ExactOt.partners(&x0, &x1, dim, 0).unwrap();
                assert!(is_permutation(&exact));
                let found = pairing_cost(&cost, &exact);
                assert!(found <= best + 1e-12, "n {n}: {found} > optimum {best}");
                // Greedy is a permutation, never better than the optimum.
                let greedy = Coupling::Greedy.partners(&x0, &x1, dim, 0).unwrap();
                assert!(is_permutation(&greedy));
                assert!(pairing_cost(&cost, &greedy) >= best - 1e-12);
            }
        }
    }

    #[test]
    fn transport_pairs_cost_less_than_independent_ones() {
        let (n, dim) = (128, 2);
        let (x0, x1) = (points(1, n, dim, 0.0), points(2, n, dim, 0.0));
        let cost = normalised_cost(&x0, &x1, dim);
        let of = |c: Coupling| {
            let p = c.partners(&x0, &x1, dim, 9).unwrap();
            pairing_cost(&cost, &p) / n as f64
        };
        let independent = of(Coupling::Independent);
        let exact = of(Coupling::ExactOt);
        let greedy = of(Coupling::Greedy);
        let sinkhorn = of(Coupling::Sinkhorn {
            epsilon: 0.005,
            max_iterations: 2000,
            tolerance: 1e-9,
        });
        // Uniform squares: independent pairs cost a third of the largest cost, optimal ones a
        // small fraction of it.
        assert!(exact < independent / 5.0, "{exact} vs {independent}");
        assert!(exact <= greedy && greedy < independent / 3.0, "{greedy}");
        assert!(sinkhorn < independent / 3.0, "{sinkhorn}");
    }

    #[test]
    fn couple_reorders_the_data_batch_on_the_device() {
        let device = Default::default();
        let x0 = Tensor::<TestInner, 2>::from_data([[0.0, 0.0], [10.0, 10.0], [5.0, 0.0]], &device);
        let x1 = Tensor::<TestInner, 2>::from_data([[9.0, 9.0], [4.0, 1.0], [1.0, 0.0]], &device);
        for coupling in [Coupling::ExactOt, Coupling::Greedy, Coupling::sinkhorn()] {
            let paired = coupling.couple(&x0, x1.clone(), 0).unwrap();
            let rows = paired.into_data().to_vec::<f32>().unwrap();
            assert_eq!(rows, vec![1.0, 0.0, 9.0, 9.0, 4.0, 1.0], "{coupling:?}");
        }
        let same = Coupling::Independent.couple(&x0, x1.clone(), 0).unwrap();
        assert_eq!(same.into_data(), x1.into_data());
    }

    #[test]
    fn bad_couplings_and_batches_are_errors() {
        let bad = Coupling::Sinkhorn {
            epsilon: 0.0,
            max_iterations: 10,
            tolerance: 0.0,
        };
        assert!(
            matches!(bad.validate(), Err(TrainError::InvalidParameter(p)) if p.name == "epsilon")
        );
        let bad = Coupling::Sinkhorn {
            epsilon: 0.1,
            max_iterations: 0,
            tolerance: 0.0,
        };
        assert!(bad.validate().is_err());
        let err = Coupling::ExactOt.partners(&[0.0; 4], &[0.0; 6], 2, 0);
        assert!(matches!(
            err,
            Err(TrainError::Energy(EnergyError::LengthMismatch {
                left: 4,
                right: 6,
                ..
            }))
        ));
        let err = Coupling::Greedy.partners(&[0.0, f64::NAN], &[0.0, 1.0], 1, 0);
        assert!(matches!(
            err,
            Err(TrainError::Energy(EnergyError::NonFinite { .. }))
        ));
        let device = Default::default();
        let x0 = Tensor::<TestInner, 2>::zeros([3, 2], &device);
        let x1 = Tensor::<TestInner, 2>::zeros([4, 2], &device);
        assert!(Coupling::ExactOt.couple(&x0, x1, 0).is_err());
    }
}
