//! The typed errors shared by every crate of the workspace.

use thiserror::Error;

/// The value given for a parameter: a real number, or a count (sizes, steps, levels), printed as
/// the integer it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamValue {
    /// A real-valued parameter (a step size, a rate, a bound).
    Real(f64),
    /// A count (a batch size, a number of steps or levels).
    Count(usize),
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Real(v) => write!(f, "{v}"),
            ParamValue::Count(n) => write!(f, "{n}"),
        }
    }
}

impl From<f64> for ParamValue {
    fn from(v: f64) -> Self {
        ParamValue::Real(v)
    }
}

impl From<usize> for ParamValue {
    fn from(n: usize) -> Self {
        ParamValue::Count(n)
    }
}

/// A parameter outside its valid range: the one parameter error of the workspace, which every
/// crate's error wraps (`EnergyError::InvalidParameter`, `SampleError::InvalidParameter`, …).
///
/// ```
/// use ebm_core::{InvalidParameter, ParamValue};
///
/// let e = InvalidParameter::new("batch_size", 0usize, "must be > 0");
/// assert_eq!(e.value, ParamValue::Count(0));
/// assert_eq!(e.to_string(), "invalid parameter `batch_size` = 0: must be > 0");
/// ```
#[derive(Debug, Clone, PartialEq, Error)]
#[error("invalid parameter `{name}` = {value}: {requirement}")]
pub struct InvalidParameter {
    /// Parameter name (a config field's name where there is one).
    pub name: &'static str,
    /// The rejected value.
    pub value: ParamValue,
    /// The rule it broke.
    pub requirement: &'static str,
}

impl InvalidParameter {
    /// The error for `name` = `value` breaking `requirement`.
    pub fn new(
        name: &'static str,
        value: impl Into<ParamValue>,
        requirement: &'static str,
    ) -> Self {
        Self {
            name,
            value: value.into(),
            requirement,
        }
    }
}

/// Errors raised when an energy is built with bad parameters or called with bad input.
///
/// Every variant names the offending quantity so that the message alone tells the user what to fix.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EnergyError {
    /// The input tensor has the wrong number of dimensions.
    #[error("expected an input of rank {expected} ({layout}), got rank {got}")]
    Rank {
        /// Rank the energy needs.
        expected: usize,
        /// Rank that was given.
        got: usize,
        /// Human-readable layout, e.g. `[N, D]`.
        layout: &'static str,
    },
    /// The feature dimension of the input does not match the energy.
    #[error("input has {got} features per sample but the energy expects {expected}")]
    Dimension {
        /// Features the energy needs.
        expected: usize,
        /// Features that were given.
        got: usize,
    },
    /// The batch holds no samples.
    #[error("the input batch is empty")]
    EmptyBatch,
    /// A matrix that must be square is not.
    #[error("{name} must be square, got shape {rows}x{cols}")]
    NotSquare {
        /// Which matrix.
        name: &'static str,
        /// Number of rows.
        rows: usize,
        /// Number of columns.
        cols: usize,
    },
    /// A covariance matrix is not symmetric positive definite.
    #[error("{name} is not symmetric positive definite ({reason})")]
    NotPositiveDefinite {
        /// Which matrix.
        name: &'static str,
        /// Why the check failed.
        reason: String,
    },
    /// Two parameters that must agree in length do not.
    #[error("{what}: lengths differ ({left} vs {right})")]
    LengthMismatch {
        /// What was compared.
        what: &'static str,
        /// First length.
        left: usize,
        /// Second length.
        right: usize,
    },
    /// A parameter is outside its valid range.
    #[error(transparent)]
    InvalidParameter(#[from] InvalidParameter),
    /// The energy needs at least `min` dimensions.
    #[error("{energy} needs at least {min} dimensions, got {got}")]
    TooFewDimensions {
        /// Which energy.
        energy: &'static str,
        /// Minimum dimension.
        min: usize,
        /// Dimension that was given.
        got: usize,
    },
    /// A list that must not be empty is empty (weights, components, layers).
    #[error("{what} must not be empty")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// A value that must be finite is not.
    #[error("{what} contains a non-finite value")]
    NonFinite {
        /// What held the value.
        what: &'static str,
    },
    /// A requested size is beyond what the library allocates (a tensor of more than
    /// [`MAX_TENSOR_ELEMENTS`] elements, for example).
    #[error("{what} would hold {size} elements, more than the limit of {limit}")]
    TooLarge {
        /// What would have been allocated.
        what: &'static str,
        /// Its number of elements (exact, even where `usize` would overflow).
        size: u128,
        /// The limit.
        limit: u128,
    },
}

/// The largest tensor the library allocates: 2³¹ elements (8 GiB of f32). GPU backends index
/// with 32-bit integers, and a larger request is far more often a typo than a model.
pub const MAX_TENSOR_ELEMENTS: u128 = 1 << 31;

/// The number of elements of a tensor of shape `dims`, or [`EnergyError::TooLarge`] beyond
/// `limit` (computed without overflow).
pub fn require_size(what: &'static str, dims: &[usize], limit: u128) -> Result<usize> {
    let size = dims
        .iter()
        .try_fold(1u128, |acc, &d| acc.checked_mul(d as u128))
        .unwrap_or(u128::MAX);
    if size > limit {
        return Err(EnergyError::TooLarge { what, size, limit });
    }
    Ok(size as usize)
}

/// Shorthand for results whose error is [`EnergyError`].
pub type Result<T, E = EnergyError> = std::result::Result<T, E>;

/// The error of `name` = `value` breaking `requirement`, as any error that wraps
/// [`InvalidParameter`] (`EnergyError`, `SampleError`, `TrainError`, …): the one constructor
/// every crate uses.
pub fn invalid<E: From<InvalidParameter>>(
    name: &'static str,
    value: impl Into<ParamValue>,
    requirement: &'static str,
) -> E {
    E::from(InvalidParameter::new(name, value, requirement))
}

pub(crate) fn require_positive(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(invalid(name, value, "must be finite and > 0"))
    }
}

pub(crate) fn require_finite(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(invalid(name, value, "must be finite"))
    }
}

/// [`EnergyError::NonFinite`] if `t` holds a NaN or an infinity (one host read).
pub(crate) fn require_finite_tensor<Bk: burn::tensor::backend::Backend, const D: usize>(
    what: &'static str,
    t: &burn::tensor::Tensor<Bk, D>,
) -> Result<()> {
    let finite = t.clone().is_finite().all().into_scalar();
    if burn::tensor::ElementConversion::elem::<bool>(finite) {
        Ok(())
    } else {
        Err(EnergyError::NonFinite { what })
    }
}
