//! The [`Objective`] trait shared by every learner.

use burn::record::Record;
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use ebm_core::Inner;
use ebm_core::random_stream::stream_seed;

use crate::TrainError;
use crate::metrics::Metrics;

/// A loss and what practitioners watch while it trains. Metric tensors stay on the device; the
/// trainer reads them once per logging interval.
#[derive(Debug, Clone)]
pub struct LossOutput<B: AutodiffBackend> {
    /// Scalar loss (shape `[1]`), differentiable in the energy's parameters.
    pub loss: Tensor<B, 1>,
    /// The metrics the loss computed anyway (the data and negative energies of contrastive
    /// divergence, the sampler's acceptance rate), by name ([`crate::metrics::names`]). Metrics
    /// that cost extra work belong in [`Objective::log_metrics`].
    pub metrics: Metrics<Inner<B>>,
    /// The negative chains' final states `[chains, D]` (contrastive objectives): read only when
    /// the loss is not finite, to name the chains that diverged in
    /// [`TrainError::NonFiniteLoss`].
    pub negatives: Option<Tensor<Inner<B>, 2>>,
}

impl<B: AutodiffBackend> LossOutput<B> {
    /// An output with only its loss: for objectives that draw no negatives and compute no
    /// metric on the way (score matching never evaluates `E` itself, so the trainer asks for
    /// the data energy, [`Objective::data_energy`], at logged steps only).
    pub fn loss_only(loss: Tensor<B, 1>) -> Self {
        Self {
            loss,
            metrics: Metrics::new(),
            negatives: None,
        }
    }
}

/// The step an objective computes its loss for: the optimiser step (from 0) and the run's seed.
///
/// An objective draws every random number from named streams of it ([`TrainStep::stream`]), so
/// one seed, the trainer's, decides a whole run, and a run resumed from a checkpoint draws the
/// same numbers as a straight one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainStep {
    /// The optimiser step, from 0.
    pub index: usize,
    /// The run's seed ([`crate::TrainerConfig::seed`] under the trainer).
    pub seed: u64,
}

impl TrainStep {
    /// Step `index` of a run seeded with `seed`.
    pub fn new(index: usize, seed: u64) -> Self {
        Self { index, seed }
    }

    /// The seed of the stream `name` at this step.
    pub fn stream(&self, name: &str) -> u64 {
        stream_seed(self.seed, name, self.index as u64)
    }
}

/// A training objective for a model `M`: an energy for contrastive divergence and score
/// matching, a vector field ([`ebm_core::neural::FieldModel`]) for flow and equilibrium matching.
///
/// Objectives are `Clone`: the trainer keeps the copy it held at its last check of the loss, to
/// roll back to if a later step was not finite. Device tensors are reference-counted, so a copy
/// of a replay buffer costs nothing until one of the two is written.
pub trait Objective<B: AutodiffBackend, M>: Clone {
    /// The state that must survive a checkpoint, as a Burn record (persistent CD: its replay
    /// buffer), saved by the same recorder as the model. `()` for a stateless objective.
    type Record: Record<Inner<B>> + Default;

    /// Checks a data batch's shape `[N, D]` against the model: the trainer calls it on the data
    /// set before the first step and on every batch of a loader. [`crate::energy_model_hooks!`] writes
    /// it (and [`Objective::data_energy`]) for objectives of energies.
    fn check_batch(&self, model: &M, dims: [usize; 2]) -> Result<(), TrainError>;

    /// The mean energy of a data batch, logged as [`crate::metrics::names::POS_ENERGY`] at
    /// logged steps where the loss did not report it; `None` (the default) for models that are
    /// not energies.
    fn data_energy(&self, _model: &M, _batch: &Tensor<B, 2>) -> Option<Tensor<Inner<B>, 1>> {
        None
    }

    /// The loss on a data batch `[N, D]`.
    fn loss(
        &mut self,
        model: &M,
        batch: Tensor<B, 2>,
        step: TrainStep,
    ) -> Result<LossOutput<B>, TrainError>;

    /// Metrics worth computing only at logged steps (an extra forward pass, say), for the step
    /// whose batch and output are given. The trainer calls this at logged steps only, and adds
    /// the result to [`LossOutput::metrics`].
    fn log_metrics(
        &self,
        _model: &M,
        _batch: &Tensor<B, 2>,
        _output: &LossOutput<B>,
    ) -> Metrics<Inner<B>> {
        Metrics::new()
    }

    /// The state to checkpoint (the default record for a stateless objective).
    fn to_record(&self) -> Self::Record {
        Self::Record::default()
    }

    /// Restores what [`Objective::to_record`] returned.
    fn load_record(&mut self, _record: Self::Record) {}

    /// The objective's configuration, recorded in checkpoints: loading a checkpoint whose
    /// objective was configured otherwise is a [`TrainError::CheckpointMismatch`] naming the
    /// field. `Null` (the default) records nothing.
    fn describe(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// Writes [`Objective::check_batch`] and [`Objective::data_energy`] inside an
/// `impl Objective<B, M> for …` block whose model `M` is an [`ebm_core::Energy`].
#[macro_export]
macro_rules! energy_model_hooks {
    () => {
        fn check_batch(&self, model: &M, dims: [usize; 2]) -> Result<(), $crate::TrainError> {
            Ok(ebm_core::Energy::check_input(model, dims)?)
        }

        fn data_energy(
            &self,
            model: &M,
            batch: &burn::tensor::Tensor<B, 2>,
        ) -> Option<burn::tensor::Tensor<ebm_core::Inner<B>, 1>> {
            let x = batch.clone().detach().inner();
            Some(ebm_core::Energy::energy_value(model, x).mean())
        }
    };
}

/// Mean of a `[N]` energy tensor, detached, on the inner backend.
pub(crate) fn mean_inner<B: AutodiffBackend>(e: &Tensor<B, 1>) -> Tensor<Inner<B>, 1> {
    e.clone().detach().inner().mean()
}
