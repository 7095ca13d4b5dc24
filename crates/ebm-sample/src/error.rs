//! Sampler errors.

use ebm_core::EnergyError;
use thiserror::Error;

/// Errors raised by samplers: bad parameters, input that does not fit the energy, and chains that
/// became non-finite.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SampleError {
    /// The initial state does not fit the energy (wrong width, empty batch).
    #[error("initial state: {0}")]
    Input(#[from] EnergyError),
    /// A sampler or run parameter is out of range.
    #[error(transparent)]
    InvalidParameter(#[from] ebm_core::InvalidParameter),
    /// A schedule (a step size, a noise scale) cannot be used.
    #[error("`{field}`: {source}")]
    Schedule {
        /// The config field that holds the schedule.
        field: &'static str,
        /// What is wrong with it.
        source: ebm_core::schedule::ScheduleError,
    },
    /// Chains became NaN or infinite (and the run was configured to stop).
    #[error("non-finite state detected at step {step} in chains {chains:?}")]
    NonFinite {
        /// The step (from 0) after which the check found them.
        step: usize,
        /// Indices of the non-finite chains.
        chains: Vec<usize>,
    },
}

pub(crate) fn invalid(
    name: &'static str,
    value: impl Into<ebm_core::ParamValue>,
    requirement: &'static str,
) -> SampleError {
    SampleError::InvalidParameter(ebm_core::InvalidParameter::new(name, value, requirement))
}

/// Checks a schedule of positive values (step sizes, noise scales), naming `field` in the error.
pub(crate) fn check_positive_schedule(
    field: &'static str,
    schedule: &ebm_core::schedule::Schedule,
) -> Result<(), SampleError> {
    schedule
        .validate(true)
        .map_err(|source| SampleError::Schedule { field, source })
}
