//! The [`Transition`] trait: one step of a Markov chain (or of an optimiser) on a batch of chains.
//! Every sampler implements it; [`crate::Sampler`] is implemented once, for all of them, on top.

use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use ebm_core::{Energy, Inner};

use crate::SampleError;
use crate::noise::Noise;

/// The state of a batch of chains `[N, D]`, with the energy and gradient at `x` when a sampler
/// already knows them (MALA and HMC reuse them from the previous step).
#[derive(Debug, Clone)]
pub struct ChainState<Bk: Backend> {
    /// Positions `[N, D]`.
    pub x: Tensor<Bk, 2>,
    /// `(E(x), ∇E(x))` if known.
    pub cached: Option<(Tensor<Bk, 1>, Tensor<Bk, 2>)>,
}

impl<Bk: Backend> ChainState<Bk> {
    /// A state with nothing cached.
    pub fn new(x: Tensor<Bk, 2>) -> Self {
        Self { x, cached: None }
    }

    /// `(E(x), ∇E(x))`, from the cache or evaluated (and then cached).
    pub fn energy_and_grad<B, E>(&mut self, energy: &E) -> (Tensor<Bk, 1>, Tensor<Bk, 2>)
    where
        B: AutodiffBackend<InnerBackend = Bk>,
        E: Energy<B> + ?Sized,
    {
        if self.cached.is_none() {
            self.cached = Some(energy.energy_and_grad(self.x.clone()));
        }
        self.cached.clone().expect("just filled")
    }
}

/// What one step reports besides the new state.
#[derive(Debug, Clone, Default)]
pub struct StepInfo<Bk: Backend> {
    /// Per chain, 1 if the proposal was accepted and 0 if not (Metropolis samplers only).
    pub accepted: Option<Tensor<Bk, 1>>,
    /// Per chain, 1 if the transition diverged (HMC only).
    pub divergent: Option<Tensor<Bk, 1>>,
}

/// One transition of a sampler.
pub trait Transition<B: AutodiffBackend> {
    /// Checks the sampler's parameters.
    fn validate(&self) -> Result<(), SampleError>;

    /// Called once at the start of a run, before the first step (reset momenta, adaptation,
    /// checks that depend on the state's shape).
    fn begin(&mut self, _state: &ChainState<Inner<B>>) -> Result<(), SampleError> {
        Ok(())
    }

    /// Advances every chain by one step; `k` is the step index from 0, for schedules.
    fn step<E: Energy<B> + ?Sized>(
        &mut self,
        energy: &E,
        state: ChainState<Inner<B>>,
        k: usize,
        noise: &mut Noise,
    ) -> (ChainState<Inner<B>>, StepInfo<Inner<B>>);

    /// Whether this sampler adapts its step size during warm-up (it then gets [`Transition::adapt`]
    /// calls with the mean acceptance of every warm-up step, which costs one host read per step).
    fn adapts(&self) -> bool {
        false
    }

    /// Feeds the mean acceptance rate of a warm-up step to the step-size adaptation.
    fn adapt(&mut self, _mean_acceptance: f64) {}

    /// Ends warm-up: an adapting sampler fixes its final step size.
    fn end_warmup(&mut self) {}

    /// The step size that step `k` uses (after adaptation, if any), for reports.
    fn step_size(&self, k: usize) -> f64;
}
