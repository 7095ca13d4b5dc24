//! The [`Sampler`] contract and the run loop shared by every sampler.
//!
//! # Semantics of a run
//!
//! * A run takes `n_warmup + n_steps` steps from the initial state, numbered `k = 0, 1, …`;
//!   schedules are evaluated at `k`, so the first step uses a schedule's start value.
//! * Warm-up steps are never kept; MALA and HMC adapt their step size during them when
//!   configured, and HMC its diagonal mass (after the NaN/Inf check of the step, so a restarted
//!   chain is not in the estimate).
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
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use ebm_core::random_stream::stream_seed;
use ebm_core::{Energy, Inner};

use crate::adaptation::RunStepSize;
use crate::diagnostics::Diagnostics;
use crate::error::{SampleError, invalid};
use crate::noise::Noise;
use crate::non_finite_guard::NonFiniteGuard;
use crate::run_recorder::RunRecorder;
use crate::transition::{ChainState, Step, StepInfo, Transition};

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
        &self,
        energy: &E,
        init: Tensor<Inner<B>, 2>,
        run: &RunConfig,
    ) -> Result<Samples<B>, SampleError>;

    /// Runs from `n_chains` draws of N(0, I) in `dim` dimensions, seeded by `run.seed`.
    fn sample_from_noise<E: Energy<B> + ?Sized>(
        &self,
        energy: &E,
        n_chains: usize,
        dim: usize,
        device: &burn::tensor::Device<Inner<B>>,
        run: &RunConfig,
    ) -> Result<Samples<B>, SampleError> {
        if n_chains == 0 {
            return Err(invalid("n_chains", 0usize, "must be > 0"));
        }
        if dim == 0 {
            return Err(invalid("dim", 0usize, "must be > 0"));
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
        &self,
        energy: &E,
        init: Tensor<Inner<B>, 2>,
        run: &RunConfig,
    ) -> Result<Samples<B>, SampleError> {
        run_chains(self, energy, init, run)
    }
}

fn validate_run(run: &RunConfig) -> Result<(), SampleError> {
    if run.thin == 0 {
        return Err(invalid("thin", 0usize, "must be >= 1"));
    }
    if run.check_every == 0 {
        return Err(invalid("check_every", 0usize, "must be >= 1"));
    }
    if let Some(max) = run.max_diagnostic_records
        && max < 2
    {
        return Err(invalid(
            "max_diagnostic_records",
            max,
            "must be >= 2 (ESS and split-R̂ need 4 draws)",
        ));
    }
    Ok(())
}

/// Sums over a run of what the steps report, kept on the device.
#[derive(Default)]
struct StepTotals<Bk: Backend> {
    accepted: Option<Tensor<Bk, 1>>,
    divergent: Option<Tensor<Bk, 1>>,
    warmup_divergent: Option<Tensor<Bk, 1>>,
}

impl<Bk: Backend> StepTotals<Bk> {
    fn add(&mut self, info: &StepInfo<Bk>, warming: bool) {
        fn accumulate<Bk: Backend>(total: &mut Option<Tensor<Bk, 1>>, step: &Tensor<Bk, 1>) {
            let s = step.clone().sum();
            *total = Some(match total.take() {
                Some(t) => t + s,
                None => s,
            });
        }
        if let Some(div) = &info.divergent {
            let total = if warming {
                &mut self.warmup_divergent
            } else {
                &mut self.divergent
            };
            accumulate(total, div);
        }
        if !warming && let Some(acc) = &info.accepted {
            accumulate(&mut self.accepted, acc);
        }
    }
}

fn run_chains<B: AutodiffBackend, T: Transition<B> + ?Sized, E: Energy<B> + ?Sized>(
    kernel: &T,
    energy: &E,
    init: Tensor<Inner<B>, 2>,
    run: &RunConfig,
) -> Result<Samples<B>, SampleError> {
    validate_run(run)?;
    kernel.validate()?;
    let [n, d] = init.dims();
    energy.check_input([n, d])?;
    let mut noise = Noise::new(stream_seed(run.seed, "sampler/noise", 0));
    let mut state = kernel.init_state(init)?;
    let mut step_size = RunStepSize::new(kernel.step_size(), kernel.adaptation());
    let mut totals = StepTotals::default();
    let mut guard = NonFiniteGuard::new(run);
    let mut recorder = RunRecorder::new(run);

    let total_steps = run.n_warmup + run.n_steps;
    for k in 0..total_steps {
        let step = Step {
            index: k,
            size: step_size.at(k),
        };
        let (next, info) = kernel.step(energy, state, step, &mut noise);
        let warming = k < run.n_warmup;
        totals.add(&info, warming);
        if warming
            && step_size.adapts()
            && let Some(log_alpha) = &info.log_acceptance
        {
            step_size.update(log_alpha);
        }
        state = guard.after_step(k, next, &mut noise)?;
        if warming {
            let (adapted, geometry_changed) = kernel.adapt_state(state, k, run.n_warmup);
            state = adapted;
            if geometry_changed {
                step_size.restart();
            }
            if k + 1 == run.n_warmup {
                step_size.end_warmup();
            }
        } else {
            let i = k - run.n_warmup;
            recorder.after_step::<B, E, T::State>(i, k, energy, &state, info.accepted.as_ref());
        }
    }

    let (trajectory, diagnostics) = recorder.finish(n, d);
    let n_sampling = run.n_steps as f64 * n as f64;
    Ok(Samples {
        final_state: state.into_positions(),
        trajectory,
        diagnostics,
        acceptance: totals.accepted.map(|t| t.div_scalar(n_sampling)),
        divergent: totals.divergent,
        warmup_divergent: totals.warmup_divergent,
        resets: guard.resets,
        final_step_size: step_size.at(total_steps.saturating_sub(1)),
    })
}
