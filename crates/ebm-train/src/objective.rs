//! The [`Objective`] trait shared by every learner.

use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use ebm_core::Inner;

use crate::TrainError;

/// A loss and what practitioners watch while it trains. Metric tensors stay on the device; the
/// trainer reads them once per logging interval.
#[derive(Debug, Clone)]
pub struct LossOutput<B: AutodiffBackend> {
    /// Scalar loss (shape `[1]`), differentiable in the energy's parameters.
    pub loss: Tensor<B, 1>,
    /// Mean energy of the data batch, when the loss computed it anyway. `None` (score matching,
    /// which never evaluates `E` itself) lets the trainer evaluate it at logged steps only.
    pub pos_energy: Option<Tensor<Inner<B>, 1>>,
    /// Mean energy of the negatives (contrastive objectives).
    pub neg_energy: Option<Tensor<Inner<B>, 1>>,
    /// Acceptance rate of the sampler that drew the negatives, `[1]`, when it reports one.
    pub acceptance_rate: Option<Tensor<Inner<B>, 1>>,
    /// The negative chains' final states `[chains, D]` (contrastive objectives): read only when
    /// the loss is not finite, to name the chains that diverged in
    /// [`TrainError::NonFiniteLoss`].
    pub negatives: Option<Tensor<Inner<B>, 2>>,
}

/// A training objective for an energy model `M`.
///
/// `step` is the optimiser step (from 0). Objectives derive all their randomness from their
/// seed and `step` (through [`ebm_core::random_stream::stream_seed`], one stream per use), so a run resumed from a checkpoint draws the same numbers as a straight one.
///
/// Objectives are `Clone`: the trainer keeps the copy it held at its last check of the loss, to
/// roll back to if a later step was not finite. Device tensors are reference-counted, so a copy
/// of a replay buffer costs nothing until one of the two is written.
pub trait Objective<B: AutodiffBackend, M>: Clone {
    /// The loss on a data batch `[N, D]`.
    fn loss(
        &mut self,
        model: &M,
        batch: Tensor<B, 2>,
        step: usize,
    ) -> Result<LossOutput<B>, TrainError>;

    /// State that must survive a checkpoint (the replay buffer of persistent CD), if any.
    fn state(&self) -> Option<Tensor<Inner<B>, 2>> {
        None
    }

    /// Restores what [`Objective::state`] returned.
    fn restore(&mut self, _state: Tensor<Inner<B>, 2>) {}

    /// The objective's configuration, recorded in checkpoints: loading a checkpoint whose
    /// objective was configured otherwise is a [`TrainError::CheckpointMismatch`] naming the
    /// field. `Null` (the default) records nothing.
    fn describe(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// Mean of a `[N]` energy tensor, detached, on the inner backend.
pub(crate) fn mean_inner<B: AutodiffBackend>(e: &Tensor<B, 1>) -> Tensor<Inner<B>, 1> {
    e.clone().detach().inner().mean()
}
