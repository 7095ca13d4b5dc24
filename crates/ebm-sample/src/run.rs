//! The [`Sampler`] contract and the run loop shared by every sampler.
//!
//! # Semantics of a run
//!
//! * A run takes `n_warmup + n_steps` steps from the initial state, numbered `k = 0, 1, …`;
//!   schedules are evaluated at `k`, so the first step uses a schedule's start value.
//! * Warm-up steps are never kept; MALA and HMC adapt their step size during them when configured.
//! * Of the `n_steps` sampling steps, counted `i = 0, 1, …`, the state after step `i` is kept when
//!   `(i + 1) % thin == 0`: `n_steps / thin` states, the initial state not among them.
//! * The trajectory is chain-major, `[n_chains, n_kept, D]`.
//! * Chains are checked for NaN/Inf every `check_every` steps and after the last step. With
//!   [`NonFinitePolicy::Error`] the run stops with [`SampleError::NonFinite`] naming the step of
//!   the check and the chains; with [`NonFinitePolicy::Reset`] those chains restart from fresh
//!   N(0, I) draws and are counted in [`Samples::resets`].
//! * Everything stays on the device except: these checks (one scalar read when all is well), the
//!   per-kept-step diagnostics when asked for, and one acceptance read per warm-up step while a
//!   step size adapts.

use burn::config::Config;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Bool, Tensor};
use ebm_core::random_stream::stream_seed;
use ebm_core::{Energy, Inner};

use crate::diagnostics::{Diagnostics, StepRecord, chain_statistics};
use crate::error::{SampleError, invalid};
use crate::noise::Noise;
use crate::transition::{ChainState, StepInfo, Transition};

/// What to do when a chain becomes NaN or infinite.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum NonFinitePolicy {
    /// Stop with [`SampleError::NonFinite`] (the default).
    Error,
    /// Restart the affected chains from N(0, I) and count them.
    Reset,
    /// No checks and no host reads: non-finite chains flow into the result. For callers that
    /// check downstream, such as the learners, whose loss turns non-finite with a bad negative
    /// and is caught by the trainer's policy.
    Propagate,
}

/// How long to run and what to record.
#[derive(Config, Debug)]
pub struct RunConfig {
    /// Number of sampling steps.
    pub n_steps: usize,
    /// Warm-up steps before them (not kept; step sizes adapt here).
    #[config(default = 0)]
    pub n_warmup: usize,
    /// Keep every `thin`-th state (≥ 1).
    #[config(default = 1)]
    pub thin: usize,
    /// Return the kept states as `[n_chains, n_kept, D]`.
    #[config(default = false)]
    pub keep_trajectory: bool,
    /// Record per-step diagnostics, ESS and split-R̂ (reads every recorded state to the host).
    #[config(default = false)]
    pub diagnostics: bool,
    /// Bound the diagnostics' memory: record at most `2·max` kept steps, evenly spread over the
    /// run. When the records reach `2·max`, every other one is dropped and from then on only
    /// every second kept step is recorded (and so on, doubling), so memory stays flat however
    /// long the run. ESS and split-R̂ are then those of the recorded, thinned draws: ESS counts
    /// thinned draws, a lower bound on the full run's. `None` records every kept step (about
    /// `8·chains·D` bytes each). At least 2.
    #[config(default = "None")]
    pub max_diagnostic_records: Option<usize>,
    /// Seed of the run's noise (and of the initial state in [`Sampler::sample_from_noise`]).
    #[config(default = 0)]
    pub seed: u64,
    /// Steps between NaN/Inf checks (≥ 1).
    #[config(default = 10)]
    pub check_every: usize,
    /// What to do with non-finite chains.
    #[config(default = "NonFinitePolicy::Error")]
    pub on_non_finite: NonFinitePolicy,
}

ebm_core::json_config!(
    RunConfig,
    required = ["n_steps"],
    template = RunConfig::new(0)
);

/// The result of a run.
#[derive(Debug, Clone)]
pub struct Samples<B: AutodiffBackend> {
    /// The state after the last step, `[n_chains, D]`.
    pub final_state: Tensor<Inner<B>, 2>,
    /// The kept states, `[n_chains, n_kept, D]`, if asked for.
    pub trajectory: Option<Tensor<Inner<B>, 3>>,
    /// Diagnostics, if asked for.
    pub diagnostics: Option<Diagnostics>,
    /// Mean acceptance over the sampling steps and chains, `[1]`, on the device (Metropolis
    /// samplers); [`Samples::acceptance_rate`] reads it.
    pub acceptance: Option<Tensor<Inner<B>, 1>>,
    /// Number of divergent transitions over the sampling steps, `[1]`, on the device (HMC: an
    /// energy error beyond the threshold; MALA: a proposal whose acceptance ratio is not
    /// finite); [`Samples::divergences`] reads it.
    pub divergent: Option<Tensor<Inner<B>, 1>>,
    /// The same over the warm-up steps; [`Samples::warmup_divergences`] reads it.
    pub warmup_divergent: Option<Tensor<Inner<B>, 1>>,
    /// Number of chain restarts under [`NonFinitePolicy::Reset`].
    pub resets: usize,
    /// Step size of the last step (after adaptation, if any).
    pub final_step_size: f64,
}

impl<B: AutodiffBackend> Samples<B> {
    /// Fraction of accepted proposals over the sampling steps (Metropolis samplers). One host
    /// read.
    pub fn acceptance_rate(&self) -> Option<f64> {
        self.acceptance
            .clone()
            .map(|t| burn::tensor::ElementConversion::elem::<f64>(t.into_scalar()))
    }

    /// Number of divergent transitions over the sampling steps (HMC and MALA; 0 for the
    /// others). The warm-up's are counted apart, in [`Samples::warmup_divergences`]. One host
    /// read.
    pub fn divergences(&self) -> usize {
        read_count(&self.divergent)
    }

    /// Number of divergent transitions during the warm-up, while step sizes adapt. One host
    /// read.
    pub fn warmup_divergences(&self) -> usize {
        read_count(&self.warmup_divergent)
    }
}

fn read_count<Bk: Backend>(count: &Option<Tensor<Bk, 1>>) -> usize {
    count.clone().map_or(0, |t| {
        burn::tensor::ElementConversion::elem::<f64>(t.into_scalar()) as usize
    })
}

/// A sampler: runs chains on an energy. Implemented for every [`Transition`].
pub trait Sampler<B: AutodiffBackend> {
    /// Runs from the given initial state `[n_chains, D]`.
    fn sample<E: Energy<B> + ?Sized>(
        &mut self,
        energy: &E,
        init: Tensor<Inner<B>, 2>,
        run: &RunConfig,
    ) -> Result<Samples<B>, SampleError>;

    /// Runs from `n_chains` draws of N(0, I) in `dim` dimensions, seeded by `run.seed`.
    fn sample_from_noise<E: Energy<B> + ?Sized>(
        &mut self,
        energy: &E,
        n_chains: usize,
        dim: usize,
        device: &burn::tensor::Device<Inner<B>>,
        run: &RunConfig,
    ) -> Result<Samples<B>, SampleError> {
        if n_chains == 0 {
            return Err(invalid("n_chains", 0.0, "must be > 0"));
        }
        if dim == 0 {
            return Err(invalid("dim", 0.0, "must be > 0"));
        }
        ebm_core::require_size(
            "initial chains",
            &[n_chains, dim],
            ebm_core::MAX_TENSOR_ELEMENTS,
        )?;
        let mut noise = Noise::new(stream_seed(run.seed, "sampler/init", 0));
        let like = Tensor::<Inner<B>, 2>::zeros([1, 1], device);
        let init = noise.normal([n_chains, dim], &like);
        self.sample(energy, init, run)
    }
}

impl<B: AutodiffBackend, T: Transition<B>> Sampler<B> for T {
    fn sample<E: Energy<B> + ?Sized>(
        &mut self,
        energy: &E,
        init: Tensor<Inner<B>, 2>,
        run: &RunConfig,
    ) -> Result<Samples<B>, SampleError> {
        run_chains(self, energy, init, run)
    }
}

fn validate_run(run: &RunConfig) -> Result<(), SampleError> {
    if run.thin == 0 {
        return Err(invalid("thin", 0.0, "must be >= 1"));
    }
    if run.check_every == 0 {
        return Err(invalid("check_every", 0.0, "must be >= 1"));
    }
    if let Some(max) = run.max_diagnostic_records
        && max < 2
    {
        return Err(invalid(
            "max_diagnostic_records",
            max as f64,
            "must be >= 2 (ESS and split-R̂ need 4 draws)",
        ));
    }
    Ok(())
}

/// Indices of the rows of `x` (`[chains, D]`) holding a NaN or an infinity. One scalar read
/// when every row is finite, two when some are not.
pub fn non_finite_chains<Bk: Backend>(x: &Tensor<Bk, 2>) -> Vec<usize> {
    non_finite(x, None).0
}

/// The chains whose position, or whose cached energy, is not finite: a chain stuck where the
/// energy is NaN rejects every proposal and would otherwise look healthy.
fn non_finite_chain_states<Bk: Backend>(
    state: &ChainState<Bk>,
) -> (Vec<usize>, Option<Tensor<Bk, 2, Bool>>) {
    non_finite(&state.x, state.cached.as_ref().map(|(e, _)| e))
}

fn non_finite<Bk: Backend>(
    x: &Tensor<Bk, 2>,
    energy: Option<&Tensor<Bk, 1>>,
) -> (Vec<usize>, Option<Tensor<Bk, 2, Bool>>) {
    let mut total = x.clone().sum();
    if let Some(e) = energy {
        total = total + e.clone().sum();
    }
    let total: f64 = burn::tensor::ElementConversion::elem(total.into_scalar());
    if total.is_finite() {
        return (vec![], None);
    }
    let [n, d] = x.dims();
    let mut bad_rows = x.clone().is_finite().bool_not().any_dim(1); // [N, 1]
    if let Some(e) = energy {
        bad_rows = bad_rows.bool_or(e.clone().is_finite().bool_not().unsqueeze_dim(1));
    }
    // Read as integers: backends store booleans differently (NdArray natively, WGPU as u32).
    let flags = bad_rows.clone().int().into_data();
    let rows = flags
        .iter::<i64>()
        .enumerate()
        .filter_map(|(i, bad)| (bad != 0).then_some(i))
        .collect::<Vec<usize>>();
    // A finite batch whose sum overflowed has no bad row.
    if rows.is_empty() {
        return (rows, None);
    }
    (rows, Some(bad_rows.expand([n, d])))
}

fn run_chains<B: AutodiffBackend, T: Transition<B> + ?Sized, E: Energy<B> + ?Sized>(
    kernel: &mut T,
    energy: &E,
    init: Tensor<Inner<B>, 2>,
    run: &RunConfig,
) -> Result<Samples<B>, SampleError> {
    validate_run(run)?;
    kernel.validate()?;
    let [n, d] = init.dims();
    energy.check_input([n, d])?;
    let mut noise = Noise::new(stream_seed(run.seed, "sampler/noise", 0));
    let mut state = ChainState::new(init);
    kernel.begin(&state)?;

    let total_steps = run.n_warmup + run.n_steps;
    let mut kept: Vec<Tensor<Inner<B>, 2>> = Vec::new();
    let mut host_draws: Vec<Vec<f64>> = Vec::new(); // [recorded][chain·D + dim], for ESS/R̂
    // Kept steps seen, and the spacing of those recorded (doubles under a record bound).
    let (mut diagnostic_count, mut diagnostic_stride) = (0usize, 1usize);
    let mut records = Vec::new();
    let mut accepted_total: Option<Tensor<Inner<B>, 1>> = None;
    let mut divergent_total: Option<Tensor<Inner<B>, 1>> = None;
    let mut warmup_divergent_total: Option<Tensor<Inner<B>, 1>> = None;
    let mut resets = 0;

    for k in 0..total_steps {
        let (next, info) = kernel.step(energy, state, k, &mut noise);
        state = next;
        let warming = k < run.n_warmup;
        let StepInfo {
            accepted,
            divergent,
        } = info;
        if let Some(div) = divergent {
            let s = div.sum();
            let total = if warming {
                &mut warmup_divergent_total
            } else {
                &mut divergent_total
            };
            *total = Some(match total.take() {
                Some(t) => t + s,
                None => s,
            });
        }
        if warming {
            if kernel.adapts()
                && let Some(acc) = &accepted
            {
                let rate: f64 =
                    burn::tensor::ElementConversion::elem(acc.clone().mean().into_scalar());
                kernel.adapt(rate);
            }
            if k + 1 == run.n_warmup {
                kernel.end_warmup();
            }
        } else if let Some(acc) = &accepted {
            let s = acc.clone().sum();
            accepted_total = Some(match accepted_total {
                Some(t) => t + s,
                None => s,
            });
        }

        let last = k + 1 == total_steps;
        let due = (k + 1).is_multiple_of(run.check_every) || last;
        if due && run.on_non_finite != NonFinitePolicy::Propagate {
            let (bad, mask) = non_finite_chain_states(&state);
            if let Some(mask) = mask {
                if run.on_non_finite == NonFinitePolicy::Error {
                    return Err(SampleError::NonFinite {
                        step: k,
                        chains: bad,
                    });
                }
                resets += bad.len();
                let fresh = noise.normal([n, d], &state.x);
                state = ChainState::new(state.x.mask_where(mask, fresh));
            }
        }

        if !warming {
            let i = k - run.n_warmup;
            if (i + 1).is_multiple_of(run.thin) {
                if run.keep_trajectory {
                    kept.push(state.x.clone());
                }
                if run.diagnostics && diagnostic_count.is_multiple_of(diagnostic_stride) {
                    records.push(step_record::<B, E>(
                        energy,
                        &mut state,
                        k,
                        accepted.as_ref(),
                        &mut host_draws,
                    ));
                    if let Some(max) = run.max_diagnostic_records
                        && records.len() >= 2 * max
                    {
                        records = records.into_iter().step_by(2).collect();
                        host_draws = host_draws.into_iter().step_by(2).collect();
                        diagnostic_stride *= 2;
                    }
                }
                diagnostic_count += 1;
            }
        }
    }

    let n_sampling = run.n_steps as f64 * n as f64;
    let acceptance = accepted_total.map(|t| t.div_scalar(n_sampling));
    let diagnostics = run.diagnostics.then(|| {
        let (ess, rhat) = if host_draws.len() >= 4 {
            // host_draws is [recorded][chain·D + dim]; the statistics want [chain][kept][dim].
            let by_chain: Vec<Vec<Vec<f64>>> = (0..n)
                .map(|c| {
                    host_draws
                        .iter()
                        .map(|s| s[c * d..(c + 1) * d].to_vec())
                        .collect()
                })
                .collect();
            let (e, r) = chain_statistics(&by_chain);
            (Some(e), Some(r))
        } else {
            (None, None)
        };
        Diagnostics {
            steps: records,
            ess,
            split_rhat: rhat,
        }
    });
    let trajectory = (run.keep_trajectory && !kept.is_empty()).then(|| Tensor::stack(kept, 1));
    Ok(Samples {
        final_state: state.x,
        trajectory,
        diagnostics,
        acceptance,
        divergent: divergent_total,
        warmup_divergent: warmup_divergent_total,
        resets,
        final_step_size: kernel.step_size(total_steps.saturating_sub(1)),
    })
}

fn step_record<B: AutodiffBackend, E: Energy<B> + ?Sized>(
    energy: &E,
    state: &mut ChainState<Inner<B>>,
    k: usize,
    accepted: Option<&Tensor<Inner<B>, 1>>,
    host_draws: &mut Vec<Vec<f64>>,
) -> StepRecord {
    let [_, d] = state.x.dims();
    let energies = match &state.cached {
        Some((e, _)) => e.clone(),
        None => energy.energy_value(state.x.clone()),
    };
    let e: Vec<f64> = energies
        .into_data()
        .convert::<f64>()
        .to_vec()
        .expect("float data");
    let x: Vec<f64> = state
        .x
        .clone()
        .into_data()
        .convert::<f64>()
        .to_vec()
        .expect("float data");
    let non_finite = x
        .chunks(d)
        .filter(|r| r.iter().any(|v| !v.is_finite()))
        .count();
    let finite: Vec<f64> = e.iter().copied().filter(|v| v.is_finite()).collect();
    host_draws.push(x);
    StepRecord {
        step: k,
        mean_energy: finite.iter().sum::<f64>() / finite.len().max(1) as f64,
        acceptance_rate: accepted
            .map(|a| burn::tensor::ElementConversion::elem::<f64>(a.clone().mean().into_scalar())),
        non_finite,
    }
}
