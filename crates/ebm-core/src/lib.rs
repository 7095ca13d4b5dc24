//! # ebm-core
//!
//! The foundation of the `ebm` workspace: the [`Energy`] abstraction, analytic energies, neural
//! energies as Burn modules, combinators that build energies from energies, schedules, and
//! diagnostics helpers.
//!
//! The sign convention (energy, gradient, score) is stated once, in the [`energy`] module.
//!
//! | module | what it holds |
//! |---|---|
//! | [`energy`] | [`Energy`], [`SecondOrderEnergy`], input checks |
//! | [`analytic`] | Gaussian, DoubleWell, Harmonic, Rosenbrock, Ackley, Rastrigin, Himmelblau, Booth, Styblinski–Tang, Neal's funnel, banana |
//! | [`combinators`] | Composite, Mixture, Spherical, FromLogDensity |
//! | [`neural`] | Mlp, Cnn, Hybrid and their activations |
//! | [`check`] | the energy checker and its report |
//! | [`grid`] | energies on a 2-D grid, for plots |
//! | [`interpolant`] | probability paths between noise and data (linear, cosine, VP), velocity/score/noise conversions |
//! | [`schedule`] | step-size, noise and learning-rate schedules |
//! | [`random_stream`] | one seed per run, a named stream per consumer |
//! | [`error`] | [`EnergyError`] |
//! | `device_constant.rs` | [`DeviceConstant`]: host parameters uploaded once per device |
#![warn(missing_docs)]

pub mod analytic;
pub mod check;
pub mod combinators;
pub mod cpu_kernels;
mod device_constant;
pub mod energy;
pub mod error;
pub mod grid;
pub mod interpolant;
pub mod json_config;
pub mod neural;
pub mod random_stream;
pub mod schedule;

/// The Burn this crate is built on (the pinned version), for macros and users' own modules.
pub use burn;
pub use cpu_kernels::{CpuKernels, EbmBackend, HostKernels, HostValues};
pub use device_constant::DeviceConstant;
pub use energy::{
    Energy, Inner, SecondOrderEnergy, assert_batch, assert_probes, autodiff_energy_and_grad,
    batch_from_data, check_batch,
};
pub use error::{
    EnergyError, InvalidParameter, MAX_TENSOR_ELEMENTS, ParamValue, Result, require_size,
};
