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
#![warn(missing_docs)]

pub mod digits;
mod error;
pub mod idx;
pub mod points;
pub mod synthetic;
pub mod transforms;

pub use error::{DataError, MAX_SAMPLES};
pub use points::{PointBatcher, PointDataset};
