//! # ebm: energy-based models in Rust
//!
//! The facade of the workspace. It re-exports the member crates and picks the compute backend
//! through cargo features:
//!
//! | feature | backend alias | needs |
//! |---|---|---|
//! | `ndarray` (default) | `backend::Cpu` | nothing |
//! | `flex` | `backend::Flex` | nothing (the faster CPU backend for convolutional energies) |
//! | `wgpu` | `backend::Wgpu` | a Vulkan, Metal or DX12 driver (Mesa's lavapipe works on CPU) |
//! | `cuda` | `backend::Cuda` | an NVIDIA GPU and driver at run time |
//!
//! Every alias is an autodiff backend, so the same model code trains and samples on all of them.
//! `wgpu` and `cuda` build Burn's kernel fusion and autotuning, as Burn does by default: the first
//! steps of a run compile and tune kernels, later ones run faster. `wgpu-unfused` and
//! `cuda-unfused` build the same aliases without them, for short runs where that warm-up costs more
//! than it saves (cargo features only add, so they have no effect next to `wgpu` or `cuda`).
//!
//! [`with_backend!`] picks one of the enabled aliases by name at run time.
//!
//! ```
//! use ebm::prelude::*;
//!
//! let energy = DoubleWell::default();
//! // The tensor's backend (NdArray) decides the energy's: Autodiff<NdArray>, `backend::Cpu`.
//! let x: Tensor<ebm::burn::backend::NdArray, 2> = Tensor::from_data([[0.0, 1.0]], &Default::default());
//! let e = energy.energy_value(x);
//! assert_eq!(e.into_data().to_vec::<f32>().unwrap(), vec![2.0]);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use burn;
pub use ebm_core;
pub use ebm_data;
pub use ebm_eval;
pub use ebm_plot;
pub use ebm_sample;
pub use ebm_train;

pub mod backend;

/// The names most programs need: `use ebm::prelude::*;`.
///
/// It brings the [`Energy`](ebm_core::Energy) trait into scope, so every energy's methods
/// (`energy_value`, `grad_energy`, `energy_and_grad`, `score`) work in method-call syntax; the
/// backend is inferred from the tensors. It leaves out
/// [`AnalyticEnergy`](ebm_core::analytic::AnalyticEnergy), whose methods share those names: import
/// it where you implement a formula of your own. It also brings `burn` itself and Burn's
/// `Module` and `Config` (trait and derive) into scope, so that `#[derive(Module)]` works in a
/// crate that reaches Burn only through `ebm` (the derive needs the backend parameter to be
/// called `B`).
pub mod prelude {
    pub use burn;
    pub use burn::config::Config;
    pub use burn::module::Module;
    pub use burn::optim::{AdamConfig, AdamWConfig, SgdConfig};
    pub use burn::tensor::Tensor;
    pub use burn::tensor::backend::{AutodiffBackend, Backend};
    pub use ebm_core::analytic::{
        Ackley, Banana, Booth, DoubleWell, Funnel, Gaussian, Harmonic, Himmelblau, Rastrigin,
        Rosenbrock, StyblinskiTang,
    };
    pub use ebm_core::check::{CheckConfig, EnergyReport, check_energy};
    pub use ebm_core::combinators::{Composite, FromLogDensity, Mixture, Operation, Spherical};
    pub use ebm_core::grid::{EnergyGrid, energy_grid};
    pub use ebm_core::json_config::{ConfigError, JsonConfig};
    pub use ebm_core::neural::{Activation, Cnn, CnnConfig, Hybrid, HybridConfig, Mlp, MlpConfig};
    pub use ebm_core::random_stream::{data_seed, model_seed};
    pub use ebm_core::schedule::Schedule;
    pub use ebm_core::{CpuKernels, EbmBackend, Energy, EnergyError, Inner, SecondOrderEnergy};
    pub use ebm_data::synthetic::{
        CheckerboardConfig, CircleConfig, EightGaussiansConfig, GaussianMixtureConfig, GridConfig,
        PinwheelConfig, SwissRollConfig, TwoMoonsConfig,
    };
    pub use ebm_sample::noise::Noise;
    pub use ebm_sample::{
        GradientDescentConfig, HmcConfig, LangevinConfig, MalaConfig, NesterovConfig,
        NoiseLadderConfig, RunConfig, Sampler, Samples,
    };
    pub use ebm_train::{
        ChainStart, ContrastiveDivergenceConfig, DenoisingScoreMatchingConfig, EpochLog,
        LevelConditioning, MultiscaleDenoisingScoreMatchingConfig, Objective,
        PersistentContrastiveDivergenceConfig, Probe, ScoreMatchingConfig,
        SlicedScoreMatchingConfig, StepLog, TraceMethod, Trainer, TrainerConfig,
    };
}

/// The README's code blocks, compiled and run as doctests so that the README stays true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[cfg(test)]
mod bad_inputs;
