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
//! ```
//! use ebm::prelude::*;
//! use ebm::backend::Cpu;
//! use burn::tensor::Tensor;
//!
//! let energy = DoubleWell::default();
//! let x = Tensor::<Inner<Cpu>, 2>::from_data([[0.0, 1.0]], &Default::default());
//! let e = Energy::<Cpu>::energy_value(&energy, x);
//! assert_eq!(e.into_data().to_vec::<f32>().unwrap(), vec![2.0]);
//! ```
#![warn(missing_docs)]

pub use burn;
pub use ebm_core;
pub use ebm_data;
pub use ebm_eval;
pub use ebm_plot;
pub use ebm_sample;
pub use ebm_train;

/// Autodiff backends selected by the cargo features.
pub mod backend {
    /// NdArray on the CPU, with autodiff.
    #[cfg(feature = "ndarray")]
    pub type Cpu = burn::backend::Autodiff<burn::backend::NdArray>;
    /// Burn's Flex CPU backend (SIMD kernels, `gemm` matmul), with autodiff.
    #[cfg(feature = "flex")]
    pub type Flex = burn::backend::Autodiff<burn::backend::Flex>;
    /// WGPU (any GPU), with autodiff.
    #[cfg(feature = "wgpu-unfused")]
    pub type Wgpu = burn::backend::Autodiff<burn::backend::Wgpu>;
    /// CUDA (NVIDIA GPUs), with autodiff.
    #[cfg(feature = "cuda-unfused")]
    pub type Cuda = burn::backend::Autodiff<burn::backend::Cuda>;
}

/// The names most programs need.
pub mod prelude {
    pub use ebm_core::analytic::{
        Ackley, AnalyticEnergy, AnalyticHessian, Booth, DoubleWell, Gaussian, Harmonic, Himmelblau,
        Rastrigin, Rosenbrock, StyblinskiTang,
    };
    pub use ebm_core::check::{CheckConfig, EnergyReport, check_energy};
    pub use ebm_core::combinators::{Composite, FromLogDensity, Mixture, Operation, Spherical};
    pub use ebm_core::grid::{EnergyGrid, energy_grid};
    pub use ebm_core::json_config::{ConfigError, JsonConfig};
    pub use ebm_core::neural::{Activation, Cnn, CnnConfig, Hybrid, HybridConfig, Mlp, MlpConfig};
    pub use ebm_core::schedule::Schedule;
    pub use ebm_core::{Energy, EnergyError, Inner, SecondOrderEnergy};
    pub use ebm_sample::{
        GradientDescentConfig, HmcConfig, LangevinConfig, MalaConfig, NesterovConfig,
        NoiseLadderConfig, RunConfig, Sampler, Samples,
    };
    pub use ebm_train::{
        ContrastiveDivergenceConfig, DenoisingScoreMatchingConfig,
        MultiscaleDenoisingScoreMatchingConfig, PersistentContrastiveDivergenceConfig,
        ScoreMatchingConfig, SlicedScoreMatchingConfig, Trainer, TrainerConfig,
    };
}

/// The README's code blocks, compiled and run as doctests so that the README stays true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[cfg(test)]
mod bad_inputs;
