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
    #[error(transparent)]
    Schedule(#[from] ebm_core::schedule::InvalidSchedule),
    /// Chains became NaN or infinite (and the run was configured to stop).
    #[error("non-finite state detected at step {step} in chains {chains:?}")]
    NonFinite {
        /// The step (from 0) after which the check found them.
        step: usize,
        /// Indices of the non-finite chains.
        chains: Vec<usize>,
    },
    /// An adaptive integrator could not reach the end time.
    #[error("the integrator stopped at t = {time} after {steps} steps: {reason}")]
    Integration {
        /// The time reached.
        time: f64,
        /// Steps taken, accepted and rejected.
        steps: usize,
        /// Why: too many steps, or a step size too small to progress (a non-finite field).
        reason: &'static str,
    },
}

pub(crate) use ebm_core::error::invalid;
