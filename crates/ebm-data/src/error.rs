//! Data errors.

use thiserror::Error;

/// Errors raised when building or reading datasets.
#[derive(Debug, Error)]
pub enum DataError {
    /// A generator or transform parameter is out of range.
    #[error(transparent)]
    InvalidParameter(#[from] ebm_core::InvalidParameter),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file is truncated or not in the expected format.
    #[error("{path} is malformed: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

pub(crate) use ebm_core::error::invalid;

/// The most points a generator draws: 2³¹ (a larger request is a typo, and would abort).
pub const MAX_SAMPLES: usize = 1 << 31;

pub(crate) fn positive_count(name: &'static str, value: usize) -> Result<(), DataError> {
    if value == 0 {
        Err(invalid(name, 0usize, "must be > 0"))
    } else if value > MAX_SAMPLES {
        Err(invalid(name, value, "must be <= 2^31"))
    } else {
        Ok(())
    }
}

pub(crate) fn non_negative(name: &'static str, value: f64) -> Result<(), DataError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(invalid(name, value, "must be finite and >= 0"))
    }
}

pub(crate) fn positive(name: &'static str, value: f64) -> Result<(), DataError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(invalid(name, value, "must be finite and > 0"))
    }
}
