//! Seeded synthetic 2-D datasets, with TorchEBM 0.8.9's defaults and generation rules.
//!
//! Every generator is a `Config` with a `seed`; `generate()` draws from its own generator seeded
//! with it (never a global RNG), so the same config gives the same points.
//!
//! One deliberate difference: [`TwoMoonsConfig`] shuffles its points (TorchEBM returns the outer
//! moon first), so that any prefix is a fair sample.

mod checkerboard;
mod circle;
mod eight_gaussians;
mod gaussian_mixture;
mod grid;
mod pinwheel;
mod swiss_roll;
mod two_moons;

pub use checkerboard::CheckerboardConfig;
pub use circle::CircleConfig;
pub use eight_gaussians::EightGaussiansConfig;
pub use gaussian_mixture::GaussianMixtureConfig;
pub use grid::GridConfig;
pub use pinwheel::PinwheelConfig;
pub use swiss_roll::SwissRollConfig;
pub use two_moons::TwoMoonsConfig;

use ebm_core::random_stream::StreamRng;

/// The generator every dataset draws from.
fn rng(seed: u64) -> StreamRng {
    ebm_core::random_stream::seeded_rng(seed)
}
