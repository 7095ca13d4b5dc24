//! Replica exchange (parallel tempering): `K` copies of the chains at inverse temperatures
//! `1 = β₀ > β₁ > … > β_{K−1}`, each stepped by any [`Transition`] on the tempered energy `β·E`,
//! with swaps between neighbouring temperatures. Hot replicas cross the barriers between modes;
//! swaps carry what they find down to `β = 1`, whose chains sample `exp(−E)`.
//!
//! All replicas step as one batch of `K·N` chains (one call of the transition per step, on any
//! backend). Swaps follow the deterministic even–odd scheme (pairs `(0,1), (2,3), …` on even
//! rounds and `(1,2), (3,4), …` on odd ones), which makes replicas travel the ladder faster than
//! random pair choices. The step size is the transition's, the same at every temperature.

use burn::config::Config;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Bool, Int, Tensor, TensorData};
use ebm_core::random_stream::{stream_rng, stream_seed};
use ebm_core::{Energy, Inner};
use rand::Rng;

use crate::error::{SampleError, invalid};
use crate::noise::Noise;
use crate::transition::{ChainState, Step, Transition};

/// How the inverse temperatures are spaced.
#[derive(Config, Debug, Copy, PartialEq)]
pub enum Ladder {
    /// `βₖ = β_min^{k/(K−1)}`: equal ratios.
    Geometric,
    /// Geometric to start, then during warm-up the gaps in `log β` are moved to equalise the
    /// neighbouring pairs' swap acceptance (both ends fixed), with a gain `rate/(1 + round/10)`.
    Adaptive {
        /// The initial gain (> 0).
        rate: f64,
    },
}

/// Builds a [`ReplicaExchange`] around a transition.
#[derive(Config, Debug)]
pub struct ReplicaExchangeConfig {
    /// Number of temperatures `K` (≥ 2).
    #[config(default = 8)]
    pub replicas: usize,
    /// The hottest inverse temperature `β_{K−1}`, in (0, 1).
    #[config(default = 0.05)]
    pub min_beta: f64,
    /// The spacing of the ladder.
    #[config(default = "Ladder::Geometric")]
    pub ladder: Ladder,
    /// Transition steps between two swap rounds (≥ 1).
    #[config(default = 1)]
    pub swap_every: usize,
}

ebm_core::json_config!(
    ReplicaExchangeConfig,
    required = [],
    template = ReplicaExchangeConfig::new()
);

impl ReplicaExchangeConfig {
    /// Wraps `transition` (MALA, HMC, Langevin, …), checking the parameters.
    pub fn init<T>(&self, transition: T) -> Result<ReplicaExchange<T>, SampleError> {
        if self.replicas < 2 {
            return Err(invalid("replicas", self.replicas, "must be >= 2"));
        }
        if !(self.min_beta > 0.0 && self.min_beta < 1.0) {
            return Err(invalid("min_beta", self.min_beta, "must be in (0, 1)"));
        }
        if self.swap_every == 0 {
            return Err(invalid("swap_every", 0usize, "must be >= 1"));
        }
        if let Ladder::Adaptive { rate } = self.ladder
            && !(rate > 0.0 && rate.is_finite())
        {
            return Err(invalid("rate", rate, "must be finite and > 0"));
        }
        Ok(ReplicaExchange {
            config: self.clone(),
            transition,
        })
    }
}

/// Replica exchange around a transition `T` ([`ReplicaExchangeConfig`]).
#[derive(Debug, Clone)]
pub struct ReplicaExchange<T> {
    config: ReplicaExchangeConfig,
    transition: T,
}

/// What a replica-exchange run returns.
#[derive(Debug, Clone)]
pub struct ReplicaSamples<Bk: Backend> {
    /// The `β = 1` chains' positions at every kept step after warm-up, stacked:
    /// `[kept·N, D]`, step-major.
    pub samples: Tensor<Bk, 2>,
    /// Every replica's final positions `[K·N, D]`, replica-major (rows `k·N..(k+1)·N` at `βₖ`).
    pub final_state: Tensor<Bk, 2>,
    /// The inverse temperatures `β₀ = 1, …, β_{K−1}` (after adaptation, if any).
    pub betas: Vec<f64>,
    /// Per neighbouring pair `(k, k+1)`, the fraction of swaps accepted after warm-up.
    pub swap_acceptance: Vec<f64>,
    /// Round trips after warm-up: a chain's walk from `β = 1` to the hottest replica and back.
    pub round_trips: usize,
}

/// `β·E` with one inverse temperature per row.
struct Tempered<'a, E: ?Sized, Bk: Backend> {
    energy: &'a E,
    betas: Tensor<Bk, 1>,
}

impl<B: AutodiffBackend, E: Energy<B> + ?Sized> Energy<B> for Tempered<'_, E, Inner<B>> {
    fn input_dim(&self) -> Option<usize> {
        self.energy.input_dim()
    }

    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        self.energy.energy(x) * Tensor::from_inner(self.betas.clone())
    }

    fn energy_value(&self, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 1> {
        self.energy.energy_value(x) * self.betas.clone()
    }

    fn energy_and_grad(
        &self,
        x: Tensor<Inner<B>, 2>,
    ) -> (Tensor<Inner<B>, 1>, Tensor<Inner<B>, 2>) {
        let (e, g) = self.energy.energy_and_grad(x);
        let beta = self.betas.clone();
        (e * beta.clone(), g * beta.unsqueeze_dim(1))
    }
}

/// The `β`s of a geometric ladder, or of the gaps `log βₖ − log βₖ₊₁`.
fn betas_from_gaps(gaps: &[f64]) -> Vec<f64> {
    let mut log_beta = 0.0;
    let mut betas = vec![1.0];
    for g in gaps {
        log_beta -= g;
        betas.push(log_beta.exp());
    }
    betas
}

/// Where each chain's walk on the ladder stands, for counting round trips.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Leg {
    /// Not yet at either end.
    Unknown,
    /// Last end visited: the cold one.
    FromCold,
    /// Last end visited: the hot one, having come from the cold one.
    FromHot,
}

impl<T> ReplicaExchange<T> {
    /// The ladder's starting inverse temperatures.
    pub fn initial_betas(&self) -> Vec<f64> {
        let k = self.config.replicas;
        let gap = -self.config.min_beta.ln() / (k - 1) as f64;
        betas_from_gaps(&vec![gap; k - 1])
    }

    /// Runs `n_warmup + n_steps` steps from `init` (`[N, D]`, copied to every replica), keeping
    /// the cold chains every `thin` steps after warm-up. `seed` drives the transition's noise
    /// and the swaps. A non-finite energy stops the run with [`SampleError::NonFinite`].
    pub fn sample<B, E>(
        &self,
        energy: &E,
        init: Tensor<Inner<B>, 2>,
        n_warmup: usize,
        n_steps: usize,
        thin: usize,
        seed: u64,
    ) -> Result<ReplicaSamples<Inner<B>>, SampleError>
    where
        B: AutodiffBackend,
        E: Energy<B> + ?Sized,
        T: Transition<B>,
    {
        self.transition.validate()?;
        energy.check_input(init.dims())?;
        if n_steps == 0 || thin == 0 {
            return Err(invalid("n_steps and thin", 0usize, "must be >= 1"));
        }
        let [n, d] = init.dims();
        let k = self.config.replicas;
        let device = init.device();
        let mut gaps = vec![-self.config.min_beta.ln() / (k - 1) as f64; k - 1];
        let mut betas = betas_from_gaps(&gaps);
        let beta_rows = |betas: &[f64]| {
            let rows: Vec<f32> = betas
                .iter()
                .flat_map(|&b| std::iter::repeat_n(b as f32, n))
                .collect();
            Tensor::<Inner<B>, 1>::from_data(TensorData::new(rows, [k * n]), &device)
        };
        let mut tempered = Tempered {
            energy,
            betas: beta_rows(&betas),
        };
        let start = Tensor::cat(vec![init; k], 0);
        let mut state = self.transition.init_state(start)?;
        let mut noise = Noise::new(stream_seed(seed, "replica_exchange/transition", 0));
        let mut swap_rng = stream_rng(seed, "replica_exchange/swaps", 0);
        // walker[row] is the chain that now sits in `row`; legs[chain] its walk so far.
        let mut walker: Vec<usize> = (0..k * n).collect();
        let mut legs = vec![Leg::Unknown; k * n];
        let (mut tried, mut accepted) = (vec![0usize; k - 1], vec![0usize; k - 1]);
        let mut round_trips = 0;
        let mut kept = Vec::with_capacity(n_steps / thin);
        let mut round = 0usize;
        for index in 0..n_warmup + n_steps {
            let size = self.transition.step_size().value_at(index);
            let step = Step { index, size };
            state = self.transition.step(&tempered, state, step, &mut noise).0;
            let measuring = index >= n_warmup;
            if (index + 1).is_multiple_of(self.config.swap_every) {
                let x = state.positions().clone();
                let e = energy.energy_value(x.clone()).into_data().convert::<f64>();
                let e = e.to_vec::<f64>().expect("converted to f64");
                if let Some(bad) = e.iter().position(|v| !v.is_finite()) {
                    return Err(SampleError::NonFinite {
                        step: index,
                        chains: vec![bad],
                    });
                }
                let mut perm: Vec<usize> = (0..k * n).collect();
                let mut round_accepted = vec![0usize; k - 1];
                for pair in (round % 2..k - 1).step_by(2) {
                    let dbeta = betas[pair] - betas[pair + 1];
                    for i in 0..n {
                        let (a, b) = (pair * n + i, (pair + 1) * n + i);
                        let log_ratio = dbeta * (e[a] - e[b]);
                        if log_ratio >= 0.0 || swap_rng.random::<f64>().ln() < log_ratio {
                            perm.swap(a, b);
                            walker.swap(a, b);
                            round_accepted[pair] += 1;
                        }
                    }
                    if measuring {
                        tried[pair] += n;
                        accepted[pair] += round_accepted[pair];
                    }
                }
                if perm.iter().enumerate().any(|(r, &p)| r != p) {
                    let moved: Vec<bool> = perm
                        .iter()
                        .enumerate()
                        .flat_map(|(r, &p)| std::iter::repeat_n(r != p, d))
                        .collect();
                    let index: Vec<i64> = perm.iter().map(|&p| p as i64).collect();
                    let index = Tensor::<Inner<B>, 1, Int>::from_data(
                        TensorData::new(index, [k * n]),
                        &device,
                    );
                    let mask = Tensor::<Inner<B>, 2, Bool>::from_data(
                        TensorData::new(moved, [k * n, d]),
                        &device,
                    );
                    state = state.restart(mask, x.select(0, index));
                }
                if measuring {
                    for (row, &chain) in walker.iter().enumerate() {
                        legs[chain] = match (row / n, legs[chain]) {
                            (0, Leg::FromHot) => {
                                round_trips += 1;
                                Leg::FromCold
                            }
                            (0, _) => Leg::FromCold,
                            (r, Leg::FromCold) if r == k - 1 => Leg::FromHot,
                            (_, leg) => leg,
                        };
                    }
                } else if let Ladder::Adaptive { rate } = self.config.ladder {
                    // Tried pairs only: the others keep their gaps this round.
                    let pairs: Vec<usize> = (round % 2..k - 1).step_by(2).collect();
                    let mean = pairs.iter().map(|&p| round_accepted[p] as f64).sum::<f64>()
                        / (pairs.len() * n) as f64;
                    let gain = rate / (1.0 + round as f64 / 10.0);
                    for &p in &pairs {
                        let deviation = round_accepted[p] as f64 / n as f64 - mean;
                        gaps[p] *= (gain * deviation).exp();
                    }
                    let total: f64 = gaps.iter().sum();
                    let target = -self.config.min_beta.ln();
                    gaps.iter_mut().for_each(|g| *g *= target / total);
                    betas = betas_from_gaps(&gaps);
                    tempered.betas = beta_rows(&betas);
                    // The cached tempered energies of every row are stale.
                    let all = Tensor::<Inner<B>, 2, Bool>::from_data(
                        TensorData::new(vec![true; k * n * d], [k * n, d]),
                        &device,
                    );
                    let x = state.positions().clone();
                    state = state.restart(all, x);
                }
                round += 1;
            }
            if measuring && (index - n_warmup + 1).is_multiple_of(thin) {
                kept.push(state.positions().clone().narrow(0, 0, n));
            }
        }
        let swap_acceptance = tried
            .iter()
            .zip(&accepted)
            .map(|(&t, &a)| {
                if t == 0 {
                    f64::NAN
                } else {
                    a as f64 / t as f64
                }
            })
            .collect();
        Ok(ReplicaSamples {
            samples: Tensor::cat(kept, 0),
            final_state: state.into_positions(),
            betas,
            swap_acceptance,
            round_trips,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MalaConfig;
    use ebm_core::analytic::{DoubleWell, Gaussian};
    use ebm_core::combinators::Mixture;
    use ebm_testing::{TestBackend as B, TestInner};

    /// 0.7·N((−2.5, 0), 0.4²I) + 0.3·N((2.5, 0), 0.4²I): modes 12.5 standard deviations
    /// apart, a barrier of about 20 nats.
    fn two_modes() -> Mixture<B, Vec<Gaussian>> {
        let mode =
            |x: f64| Gaussian::new(vec![x, 0.0], vec![vec![0.16, 0.0], vec![0.0, 0.16]]).unwrap();
        Mixture::new(vec![mode(-2.5), mode(2.5)], vec![0.7, 0.3]).unwrap()
    }

    /// The fraction of rows whose first coordinate is negative.
    fn left_fraction(x: Tensor<TestInner, 2>) -> f64 {
        let v = x.into_data().convert::<f64>().to_vec::<f64>().unwrap();
        let d = 2;
        v.chunks(d).filter(|r| r[0] < 0.0).count() as f64 / (v.len() / d) as f64
    }

    fn start(n: usize, at: [f32; 2]) -> Tensor<TestInner, 2> {
        Tensor::<TestInner, 2>::from_data([at], &Default::default()).repeat_dim(0, n)
    }

    /// What these measure is the swap logic on the host around a transition that the other
    /// tests check on every backend; on lavapipe their 5000 swap rounds, each reading the
    /// energies back, would take minutes.
    fn host_statistics_only() -> bool {
        ebm_testing::BACKEND_NAME == "ndarray"
    }

    #[test]
    fn it_recovers_unequal_mode_weights_where_mala_alone_stays_put() {
        if !host_statistics_only() {
            return;
        }
        let energy = two_modes();
        let mala = MalaConfig::new().step_size(0.12).init().unwrap();
        let pt = ReplicaExchangeConfig::new()
            .with_replicas(6)
            .with_min_beta(0.05)
            .init(mala.clone())
            .unwrap();
        // Every chain starts in the lighter mode. This seed gives 0.699; others gave 0.700, 0.693
        // and 0.711.
        let out = pt
            .sample::<B, _>(&energy, start(64, [2.5, 0.0]), 1000, 4000, 1, 1)
            .unwrap();
        let left = left_fraction(out.samples);
        assert!((left - 0.7).abs() < 0.02, "replica exchange: {left}");
        assert!(out.round_trips > 0);
        assert!(
            out.swap_acceptance.iter().all(|&a| a > 0.05 && a < 1.0),
            "{:?}",
            out.swap_acceptance
        );
        assert_eq!(out.final_state.dims(), [384, 2]);
        // MALA alone never leaves the mode it starts in.
        let run = crate::RunConfig::new(5000).with_seed(1);
        let alone =
            crate::Sampler::<B>::sample(&mala, &energy, start(64, [2.5, 0.0]), &run).unwrap();
        assert!(left_fraction(alone.final_state) < 0.05);
    }

    #[test]
    fn it_recovers_the_well_fractions_of_a_high_barrier() {
        if !host_statistics_only() {
            return;
        }
        // Wells at ±1.5 with a barrier of 2·1.5⁴ ≈ 10 nats in each coordinate: equal fractions
        // (this seed gives 0.502 and 0.509).
        let energy = DoubleWell::new(2.0, 1.5).unwrap();
        let mala = MalaConfig::new().step_size(0.02).init().unwrap();
        let pt = ReplicaExchangeConfig::new()
            .with_replicas(6)
            .with_min_beta(0.05)
            .init(mala)
            .unwrap();
        let out = pt
            .sample::<B, _>(&energy, start(128, [1.5, 1.5]), 1000, 4000, 1, 9)
            .unwrap();
        let v = out
            .samples
            .into_data()
            .convert::<f64>()
            .to_vec::<f64>()
            .unwrap();
        for coordinate in 0..2 {
            let negative = v
                .iter()
                .skip(coordinate)
                .step_by(2)
                .filter(|&&x| x < 0.0)
                .count();
            let fraction = negative as f64 / (v.len() / 2) as f64;
            assert!(
                (fraction - 0.5).abs() < 0.02,
                "coordinate {coordinate}: {fraction}"
            );
        }
    }

    #[test]
    fn an_adaptive_ladder_evens_out_the_swap_acceptance() {
        if !host_statistics_only() {
            return;
        }
        let energy = two_modes();
        let mala = MalaConfig::new().step_size(0.12).init().unwrap();
        let spread = |ladder: Ladder| {
            let pt = ReplicaExchangeConfig::new()
                .with_replicas(6)
                .with_min_beta(0.01)
                .with_ladder(ladder)
                .init(mala.clone())
                .unwrap();
            let out = pt
                .sample::<B, _>(&energy, start(100, [3.0, 0.0]), 1500, 500, 1, 2)
                .unwrap();
            assert!((out.betas[0] - 1.0).abs() < 1e-12 && (out.betas[5] - 0.01).abs() < 1e-9);
            let a = &out.swap_acceptance;
            a.iter().fold(0.0f64, |m, &x| m.max(x)) - a.iter().fold(1.0f64, |m, &x| m.min(x))
        };
        let (geometric, adaptive) = (
            spread(Ladder::Geometric),
            spread(Ladder::Adaptive { rate: 2.0 }),
        );
        assert!(
            adaptive < 0.5 * geometric,
            "adaptive {adaptive} vs geometric {geometric}"
        );
    }

    #[test]
    fn bad_configs_and_energies_are_errors() {
        let mala = MalaConfig::new().init().unwrap();
        assert!(
            ReplicaExchangeConfig::new()
                .with_replicas(1)
                .init(mala.clone())
                .is_err()
        );
        assert!(
            ReplicaExchangeConfig::new()
                .with_min_beta(1.0)
                .init(mala.clone())
                .is_err()
        );
        assert!(
            ReplicaExchangeConfig::new()
                .with_swap_every(0)
                .init(mala.clone())
                .is_err()
        );
        let pt = ReplicaExchangeConfig::new()
            .with_replicas(2)
            .init(mala)
            .unwrap();
        let energy = Gaussian::standard(2).unwrap();
        let wide = Tensor::<TestInner, 2>::zeros([3, 5], &Default::default());
        assert!(matches!(
            pt.sample::<B, _>(&energy, wide, 0, 10, 1, 0),
            Err(SampleError::Input(_))
        ));
        let far = start(2, [f32::NAN, 0.0]);
        assert!(matches!(
            pt.sample::<B, _>(&energy, far, 0, 10, 1, 0),
            Err(SampleError::NonFinite { step: 0, .. })
        ));
    }
}
