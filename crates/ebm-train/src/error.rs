//! Training errors.

use ebm_core::EnergyError;
use ebm_sample::SampleError;
use thiserror::Error;

/// The underlying error of a checkpoint failure, kept so that callers can inspect it (an
/// [`std::io::Error`]'s kind, say) through [`std::error::Error::source`].
pub type ErrorSource = Box<dyn std::error::Error + Send + Sync>;

/// Errors raised by objectives, the trainer and checkpoints.
#[derive(Debug, Error)]
pub enum TrainError {
    /// The batch does not fit the energy (wrong width, empty batch), or an energy parameter is bad.
    #[error("energy: {0}")]
    Energy(#[from] EnergyError),
    /// Drawing negatives failed.
    #[error("sampler: {0}")]
    Sample(#[from] SampleError),
    /// A learner or trainer parameter is out of range.
    #[error(transparent)]
    InvalidParameter(#[from] ebm_core::InvalidParameter),
    /// A schedule (the learning rate, DSM's σ) cannot be used.
    #[error(transparent)]
    Schedule(#[from] ebm_core::schedule::InvalidSchedule),
    /// The dataset holds no samples.
    #[error("the dataset is empty")]
    EmptyDataset,
    /// The loss became NaN or infinite (and the trainer was configured to stop).
    #[error("non-finite loss {loss} at step {step}{}", non_finite_chains(chains))]
    NonFiniteLoss {
        /// Optimiser step (from 0) whose loss was non-finite.
        step: usize,
        /// The value.
        loss: f64,
        /// The negative chains (rows of the step's negatives) that were not finite, for
        /// contrastive objectives; empty otherwise.
        chains: Vec<usize>,
    },
    /// A parameter gradient became NaN or infinite while the loss was finite (and the trainer was
    /// configured to stop).
    #[error("non-finite parameter gradient at step {step}")]
    NonFiniteGradient {
        /// Optimiser step (from 0) whose gradient was non-finite.
        step: usize,
    },
    /// [`crate::TrainerConfig::max_consecutive_skips`] steps in a row were non-finite.
    #[error("{consecutive} consecutive steps skipped for non-finite values, up to step {step}")]
    TooManySkips {
        /// The last skipped step.
        step: usize,
        /// How many were skipped in a row.
        consecutive: usize,
    },
    /// A checkpoint could not be written or read (no checkpoint there, an I/O error, a path
    /// that holds something else).
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint path.
        path: String,
        /// What went wrong (the source's message, when there is a source).
        reason: String,
        /// The error that caused it (an [`std::io::Error`], a recorder's or serde's), if any.
        #[source]
        source: Option<ErrorSource>,
    },
    /// A checkpoint file is damaged: its digest, its layout or its contents are not what was
    /// written. Nothing was loaded.
    #[error("corrupt checkpoint file {path}: {reason}")]
    CheckpointCorrupt {
        /// The damaged file.
        path: String,
        /// What the check found (the source's message, when there is a source).
        reason: String,
        /// The error that revealed the damage (a failed read or decode), if any.
        #[source]
        source: Option<ErrorSource>,
    },
    /// A sound checkpoint was written by a different model, objective or trainer config.
    /// Nothing was loaded.
    #[error(
        "checkpoint {path} does not fit this run: `{field}` is {saved} there and {current} here"
    )]
    CheckpointMismatch {
        /// The checkpoint version directory.
        path: String,
        /// The first field that differs, e.g. `trainer.batch_size` or `model.parameter_shapes`.
        field: String,
        /// Its value in the checkpoint.
        saved: String,
        /// Its value in this run.
        current: String,
    },
}

fn non_finite_chains(chains: &[usize]) -> String {
    match chains.len() {
        0 => String::new(),
        n if n <= 8 => format!(" (non-finite negative chains {chains:?})"),
        n => format!(
            " ({n} non-finite negative chains, the first {:?})",
            &chains[..8]
        ),
    }
}

pub(crate) use ebm_core::error::invalid;
