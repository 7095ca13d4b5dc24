//! # ebm-eval
//!
//! Numbers that say how good a model is.
//!
//! | file | metric |
//! |---|---|
//! | `mmd.rs` | [`mmd_squared`]: maximum mean discrepancy between samples and data (Gaussian kernel, median heuristic) |
//! | `ksd.rs` | [`kernel_stein_discrepancy`]: how well samples fit an energy, from its score alone |
//! | `partition.rs` | [`log_partition_2d`] and [`negative_log_likelihood_2d`]: exact log Z by quadrature for 2-D energies |
//!
//! Samples are host rows (`&[Vec<f64>]`); the pairwise metrics are `O(n²)`, meant for a few
//! thousand points.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ksd;
mod mmd;
mod partition;

pub use ksd::kernel_stein_discrepancy;
pub use mmd::{MmdResult, median_bandwidth, mmd_squared};
pub use partition::{log_partition_2d, negative_log_likelihood_2d};

use thiserror::Error;

/// Errors of the metrics.
#[derive(Debug, Error, PartialEq)]
pub enum EvalError {
    /// Too few samples for the estimator.
    #[error("{what} needs at least {min} samples, got {got}")]
    TooFewSamples {
        /// Which input.
        what: &'static str,
        /// Minimum.
        min: usize,
        /// Given.
        got: usize,
    },
    /// Samples of different dimensions.
    #[error("dimension mismatch: {left} vs {right}")]
    DimensionMismatch {
        /// One dimension.
        left: usize,
        /// The other.
        right: usize,
    },
    /// The energy could not be evaluated on the input.
    #[error("energy: {0}")]
    Energy(#[from] ebm_core::EnergyError),
    /// An input or a computed value (an energy, a score) is NaN or infinite.
    #[error("{what} is not finite at row {row}")]
    NonFinite {
        /// Which input or value.
        what: &'static str,
        /// The first offending row (grid point, for a grid).
        row: usize,
    },
    /// The range holds no probability mass: every energy on the grid is +∞.
    #[error("no probability mass in the range: every energy on the grid is +inf")]
    NoMass,
    /// A parameter is out of range.
    #[error(transparent)]
    InvalidParameter(#[from] ebm_core::InvalidParameter),
}

/// Squared Euclidean distance.
pub(crate) fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Checks that `rows` has at least `min` rows of one common dimension, which it returns.
pub(crate) fn check_rows(
    what: &'static str,
    rows: &[Vec<f64>],
    min: usize,
) -> Result<usize, EvalError> {
    if rows.len() < min {
        return Err(EvalError::TooFewSamples {
            what,
            min,
            got: rows.len(),
        });
    }
    let d = rows[0].len();
    if let Some(r) = rows.iter().find(|r| r.len() != d) {
        return Err(EvalError::DimensionMismatch {
            left: d,
            right: r.len(),
        });
    }
    require_finite_rows(what, rows.iter().map(|r| r.as_slice()))?;
    Ok(d)
}

/// [`EvalError::NonFinite`] naming the first row with a NaN or an infinity.
pub(crate) fn require_finite_rows<'a>(
    what: &'static str,
    rows: impl IntoIterator<Item = &'a [f64]>,
) -> Result<(), EvalError> {
    match rows
        .into_iter()
        .position(|r| r.iter().any(|v| !v.is_finite()))
    {
        Some(row) => Err(EvalError::NonFinite { what, row }),
        None => Ok(()),
    }
}
