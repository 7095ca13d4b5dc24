//! # ebm-data
//!
//! Data to train energy-based models on.
//!
//! | module | contents |
//! |---|---|
//! | [`synthetic`] | seeded 2-D generators: Gaussian mixture, eight Gaussians, two moons, swiss roll, circle, checkerboard, pinwheel, grid |
//! | [`points`] | [`PointDataset`] (a Burn `Dataset`) and [`PointBatcher`] |
//! | [`digits`] | the 8×8 handwritten digits (1797 images, shipped in the repository) |
//! | [`idx`] | a reader for MNIST-format IDX files |
//! | [`transforms`] | scaling to [−1, 1], dequantisation noise, flips |
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod digits;
mod error;
pub mod idx;
pub mod points;
pub mod synthetic;
pub mod transforms;

pub use error::{DataError, MAX_SAMPLES};
pub use points::{PointBatcher, PointDataset};

#[cfg(test)]
mod tests {
    use crate::synthetic::*;
    use ebm_core::json_config::assert_round_trip;

    #[test]
    fn every_config_round_trips_through_json_and_refuses_unknown_keys() {
        assert_round_trip(&CheckerboardConfig::new());
        assert_round_trip(&CircleConfig::new());
        assert_round_trip(&EightGaussiansConfig::new());
        assert_round_trip(&GaussianMixtureConfig::new());
        assert_round_trip(&GridConfig::new());
        assert_round_trip(&PinwheelConfig::new());
        assert_round_trip(&SwissRollConfig::new());
        assert_round_trip(&TwoMoonsConfig::new());
    }
}
