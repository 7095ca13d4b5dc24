//! # ebm-train
//!
//! Learners that fit an [`ebm_core::Energy`] to data, and the loop that runs them.
//!
//! | file | contents |
//! |---|---|
//! | `objective.rs` | [`Objective`]: a loss and its metrics for a data batch |
//! | `contrastive_divergence.rs` | [`ContrastiveDivergence`] (CD-k) and [`PersistentContrastiveDivergence`] |
//! | `replay_buffer.rs` | [`ReplayBuffer`] of persistent CD |
//! | `score_matching.rs` | [`ScoreMatching`] (exact or Hutchinson), [`SlicedScoreMatching`], [`DenoisingScoreMatching`], [`MultiscaleDenoisingScoreMatching`] |
//! | `trainer.rs` | [`Trainer`]: epochs, optimiser, clipping, schedules, EMA, NaN policy, progress |
//! | `checkpoint.rs` | what a checkpoint holds: digests, configs, the checks before a load |
//! | `checkpoint_store.rs` | versioned checkpoint directories, switched atomically and durably |
#![warn(missing_docs)]

mod checkpoint;
mod checkpoint_store;
mod contrastive_divergence;
mod ema;
mod error;
mod grad_norm;
mod objective;
mod replay_buffer;
mod score_matching;
mod trainer;

pub use checkpoint::TrainerState;
pub use contrastive_divergence::{
    ChainStart, ContrastiveDivergence, ContrastiveDivergenceConfig,
    PersistentContrastiveDivergence, PersistentContrastiveDivergenceConfig, contrastive_loss,
};
pub use error::TrainError;
pub use objective::{LossOutput, Objective};
pub use replay_buffer::ReplayBuffer;
pub use score_matching::{
    DenoisingScoreMatching, DenoisingScoreMatchingConfig, MultiscaleDenoisingScoreMatching,
    MultiscaleDenoisingScoreMatchingConfig, Probe, ScoreMatching, ScoreMatchingConfig,
    SlicedScoreMatching, SlicedScoreMatchingConfig, TraceMethod, denoising_score_matching_loss,
    exact_score_matching_loss, hutchinson_score_matching_loss,
    multiscale_denoising_score_matching_loss, sliced_score_matching_loss,
};
pub use trainer::{LastBatch, NonFiniteLoss, StepLog, Trainer, TrainerConfig};
