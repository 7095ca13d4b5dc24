//! The [`Transition`] trait: one step of a Markov chain (or of an optimiser) on a batch of chains,
//! and the [`ChainState`] a transition carries from one step to the next. Every sampler implements
//! `Transition`; [`crate::Sampler`] is implemented once, for all of them, on top.
//!
//! A transition steps with `&self`: everything that changes during a run (positions, cached
//! energies and gradients, velocities) lives in its state, and the step size, scheduled or
//! adapted, is handed to it by the run (the adaptation lives in [`crate::adaptation`]).

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Bool, Tensor};
use ebm_core::schedule::Schedule;
use ebm_core::{Energy, Inner};

use crate::SampleError;
use crate::adaptation::DualAveraging;
use crate::noise::Noise;

/// The state of a batch of chains between two steps: at least their positions `[N, D]`.
pub trait ChainState<Bk: Backend>: Clone {
    /// The positions `[N, D]`.
    fn positions(&self) -> &Tensor<Bk, 2>;

    /// The positions, consuming the state.
    fn into_positions(self) -> Tensor<Bk, 2>;

    /// `E(x)` per chain `[N]`, if the state knows it (the run's NaN/Inf check and diagnostics
    /// use it rather than evaluating the energy again).
    fn energies(&self) -> Option<&Tensor<Bk, 1>> {
        None
    }

    /// Restarts the chains whose rows `mask` (`[N, D]`) marks at `fresh`, dropping whatever the
    /// state derived from their old positions.
    fn restart(self, mask: Tensor<Bk, 2, Bool>, fresh: Tensor<Bk, 2>) -> Self;
}

/// Samplers that carry nothing but positions (Langevin, gradient descent) use the tensor itself.
impl<Bk: Backend> ChainState<Bk> for Tensor<Bk, 2> {
    fn positions(&self) -> &Tensor<Bk, 2> {
        self
    }

    fn into_positions(self) -> Tensor<Bk, 2> {
        self
    }

    fn restart(self, mask: Tensor<Bk, 2, Bool>, fresh: Tensor<Bk, 2>) -> Self {
        self.mask_where(mask, fresh)
    }
}

/// Positions with the energy and gradient there, for samplers that reuse them from one step to
/// the next (MALA and HMC: the accepted proposal's energy and gradient are the next step's).
#[derive(Debug, Clone)]
pub struct CachedGradient<Bk: Backend> {
    /// Positions `[N, D]`.
    pub x: Tensor<Bk, 2>,
    /// `(E(x), ∇E(x))` if known.
    pub cached: Option<(Tensor<Bk, 1>, Tensor<Bk, 2>)>,
}

impl<Bk: Backend> CachedGradient<Bk> {
    /// A state with nothing cached.
    pub fn new(x: Tensor<Bk, 2>) -> Self {
        Self { x, cached: None }
    }

    /// `(E(x), ∇E(x))`, from the cache or evaluated.
    pub fn energy_and_grad<B, E>(&self, energy: &E) -> (Tensor<Bk, 1>, Tensor<Bk, 2>)
    where
        B: AutodiffBackend<InnerBackend = Bk>,
        E: Energy<B> + ?Sized,
    {
        match &self.cached {
            Some(cached) => cached.clone(),
            None => energy.energy_and_grad(self.x.clone()),
        }
    }
}

impl<Bk: Backend> ChainState<Bk> for CachedGradient<Bk> {
    fn positions(&self) -> &Tensor<Bk, 2> {
        &self.x
    }

    fn into_positions(self) -> Tensor<Bk, 2> {
        self.x
    }

    fn energies(&self) -> Option<&Tensor<Bk, 1>> {
        self.cached.as_ref().map(|(e, _)| e)
    }

    fn restart(self, mask: Tensor<Bk, 2, Bool>, fresh: Tensor<Bk, 2>) -> Self {
        Self::new(self.x.mask_where(mask, fresh))
    }
}

/// The index of a step and the step size it uses, as the run hands them to a transition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Step index from 0 (warm-up steps included), for the transition's other schedules.
    pub index: usize,
    /// The step size: the schedule's value at `index`, or the adaptation's.
    pub size: f64,
}

/// What one step reports besides the new state.
#[derive(Debug, Clone, Default)]
pub struct StepInfo<Bk: Backend> {
    /// Per chain, 1 if the proposal was accepted and 0 if not (Metropolis samplers only).
    pub accepted: Option<Tensor<Bk, 1>>,
    /// Per chain, the log Metropolis ratio `log α` of the proposal (NaN for a non-finite one).
    /// Step-size adaptation averages the acceptance probabilities `min(1, α)`: their mean has
    /// the same expectation as the 0/1 outcomes and less variance. Only an adapting run turns
    /// them into probabilities, so a step pays nothing for it otherwise.
    pub log_acceptance: Option<Tensor<Bk, 1>>,
    /// Per chain, 1 if the transition diverged (HMC, and MALA for a non-finite proposal).
    pub divergent: Option<Tensor<Bk, 1>>,
}

/// One transition of a sampler.
pub trait Transition<B: AutodiffBackend> {
    /// What the chains carry from one step to the next.
    type State: ChainState<Inner<B>>;

    /// Checks the sampler's parameters.
    fn validate(&self) -> Result<(), SampleError>;

    /// The state at the start of a run, from positions `[N, D]`; checks the parameters that
    /// depend on the state's shape (HMC's diagonal mass).
    fn init_state(&self, x: Tensor<Inner<B>, 2>) -> Result<Self::State, SampleError>;

    /// Advances every chain by one step.
    fn step<E: Energy<B> + ?Sized>(
        &self,
        energy: &E,
        state: Self::State,
        step: Step,
        noise: &mut Noise,
    ) -> (Self::State, StepInfo<Inner<B>>);

    /// The step-size schedule (the starting value when adapting).
    fn step_size(&self) -> &Schedule;

    /// A fresh step-size adaptation for a run's warm-up, if configured, starting from the
    /// schedule's first value. The run feeds it the mean acceptance probability of every warm-up
    /// step (one host read per step) and then uses its averaged step size.
    fn adaptation(&self) -> Option<DualAveraging> {
        None
    }

    /// Adapts what the state carries besides positions (HMC's mass matrix) after warm-up step
    /// `k` of `n_warmup`; returns the state and whether the geometry the chains move in
    /// changed, in which case the run restarts its step-size adaptation from the averaged step.
    /// The default adapts nothing.
    fn adapt_state(&self, state: Self::State, k: usize, n_warmup: usize) -> (Self::State, bool) {
        let _ = (k, n_warmup);
        (state, false)
    }
}
