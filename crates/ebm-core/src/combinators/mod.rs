//! Energies built from other energies.

mod composite;
mod log_density;
mod mixture;
mod spherical;

pub use composite::{Composite, Operation};
pub use log_density::FromLogDensity;
pub use mixture::Mixture;
pub use spherical::Spherical;

use crate::energy::Energy;
use crate::error::{EnergyError, Result};

/// A boxed energy, so that combinators can hold energies of different types.
pub type BoxedEnergy<B> = Box<dyn Energy<B>>;

/// The common input width of several energies, with a typed error when they disagree.
fn common_dim<B: burn::tensor::backend::AutodiffBackend>(
    parts: &[BoxedEnergy<B>],
) -> Result<Option<usize>> {
    let mut dim = None;
    for part in parts {
        match (dim, part.input_dim()) {
            (Some(a), Some(b)) if a != b => {
                return Err(EnergyError::LengthMismatch {
                    what: "input dimensions of the combined energies",
                    left: a,
                    right: b,
                });
            }
            (None, Some(b)) => dim = Some(b),
            _ => {}
        }
    }
    Ok(dim)
}

/// Validates combination weights: non-empty, as many as energies, finite.
fn check_weights(weights: &[f64], n_energies: usize) -> Result<()> {
    if n_energies == 0 {
        return Err(EnergyError::Empty { what: "energies" });
    }
    if weights.is_empty() {
        return Err(EnergyError::Empty { what: "weights" });
    }
    if weights.len() != n_energies {
        return Err(EnergyError::LengthMismatch {
            what: "weights vs energies",
            left: weights.len(),
            right: n_energies,
        });
    }
    if weights.iter().any(|w| !w.is_finite()) {
        return Err(EnergyError::NonFinite { what: "weights" });
    }
    Ok(())
}
