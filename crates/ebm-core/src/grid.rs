//! Energies on a regular 2-D grid: the data behind landscape plots.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::energy::{Energy, Inner};
use crate::error::{EnergyError, Result};

/// A 2-D energy evaluated on a `nx × ny` grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyGrid {
    /// The `nx` x-coordinates, increasing.
    pub xs: Vec<f64>,
    /// The `ny` y-coordinates, increasing.
    pub ys: Vec<f64>,
    /// Energies, row-major with y outermost: `energies[iy * nx + ix]` is `E(xs[ix], ys[iy])`.
    pub energies: Vec<f64>,
}

impl EnergyGrid {
    /// `E(xs[ix], ys[iy])`.
    pub fn at(&self, ix: usize, iy: usize) -> f64 {
        self.energies[iy * self.xs.len() + ix]
    }
}
/// The most points [`energy_grid`] evaluates: 2²⁶ (a 8192 × 8192 grid).
pub const MAX_GRID_POINTS: u128 = 1 << 26;

/// Evaluates a 2-D `energy` on `resolution = [nx, ny]` evenly spaced points spanning
/// `x_range` × `y_range` (ends included), in one batch on `device`.
///
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use ebm_core::{analytic::Harmonic, grid::energy_grid};
///
/// type B = Autodiff<NdArray>;
/// let grid = energy_grid::<B, _>(&Harmonic::new(1.0).unwrap(), (-1.0, 1.0), (-1.0, 1.0), [3, 3], &Default::default()).unwrap();
/// assert_eq!(grid.at(1, 1), 0.0);
/// assert_eq!(grid.at(2, 2), 1.0);
/// ```
pub fn energy_grid<B: AutodiffBackend, E: Energy<B> + ?Sized>(
    energy: &E,
    x_range: (f64, f64),
    y_range: (f64, f64),
    resolution: [usize; 2],
    device: &burn::tensor::Device<Inner<B>>,
) -> Result<EnergyGrid> {
    if let Some(d) = energy.input_dim()
        && d != 2
    {
        return Err(EnergyError::Dimension {
            expected: d,
            got: 2,
        });
    }
    let axis = |name: &'static str, (lo, hi): (f64, f64), n: usize| -> Result<Vec<f64>> {
        if n < 2 {
            return Err(EnergyError::InvalidParameter(crate::InvalidParameter::new(
                "grid resolution",
                n,
                "at least 2 points per axis",
            )));
        }
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(EnergyError::InvalidParameter(crate::InvalidParameter::new(
                name,
                lo,
                "range must be finite with low < high",
            )));
        }
        Ok((0..n)
            .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
            .collect())
    };
    crate::error::require_size("energy grid", &resolution, MAX_GRID_POINTS)?;
    let xs = axis("x range", x_range, resolution[0])?;
    let ys = axis("y range", y_range, resolution[1])?;
    let mut points = Vec::with_capacity(xs.len() * ys.len() * 2);
    for &y in &ys {
        for &x in &xs {
            points.push(x);
            points.push(y);
        }
    }
    let batch =
        Tensor::<Inner<B>, 2>::from_data(TensorData::new(points, [xs.len() * ys.len(), 2]), device);
    let energies = energy
        .energy_value(batch)
        .into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .expect("float data");
    Ok(EnergyGrid { xs, ys, energies })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytic::{Gaussian, Himmelblau};
    use ebm_testing::TestBackend;

    type B = TestBackend;

    #[test]
    fn layout_is_y_outer_x_inner() {
        let grid = energy_grid::<B, _>(
            &Himmelblau,
            (0.0, 3.0),
            (0.0, 2.0),
            [4, 3],
            &Default::default(),
        )
        .unwrap();
        assert_eq!(grid.energies.len(), 12);
        // (3, 2) is a minimum of Himmelblau's function.
        assert!(grid.at(3, 2).abs() < 1e-5);
        assert_eq!(grid.at(0, 0), 11.0 * 11.0 + 7.0 * 7.0);
    }

    #[test]
    fn rejects_bad_grids() {
        let g = Gaussian::standard(3).unwrap();
        assert!(matches!(
            energy_grid::<B, _>(&g, (0.0, 1.0), (0.0, 1.0), [4, 4], &Default::default()),
            Err(EnergyError::Dimension {
                expected: 3,
                got: 2
            })
        ));
        assert!(matches!(
            energy_grid::<B, _>(
                &Himmelblau,
                (1.0, 0.0),
                (0.0, 1.0),
                [4, 4],
                &Default::default()
            ),
            Err(EnergyError::InvalidParameter(
                crate::InvalidParameter { .. }
            ))
        ));
    }
}
