//! Neural energies as Burn modules, each with a `Config` that builds it.
//!
//! | energy | input | second order (score matching) |
//! |---|---|---|
//! | [`Mlp`] | `[N, D]` | yes: the input gradient and Hessian-vector products are written with primitive tensor ops |
//! | [`Hybrid`] | `[N, D]` | yes, when its analytic part implements [`crate::analytic::AnalyticHessian`] |
//! | [`Cnn`] | `[N, C·H·W]` (flattened images) | yes: convolutions and their transposes, written with Burn's conv ops |
//! | [`Quadratic`] | `[N, D]` | yes (learnable Gaussian shape, for tests and baselines) |
//!
//! [`layers`] holds the second-order building blocks for energies that users write themselves.
//! `column_product.rs` computes every scalar output layer (a Burn fusion defect, see there).

mod activation;
mod cnn;
mod column_product;
#[cfg(any(feature = "ndarray", feature = "flex"))]
mod cores;
#[cfg(any(feature = "ndarray", feature = "flex"))]
mod host_activation;
#[cfg(any(feature = "ndarray", feature = "flex"))]
mod host_autodiff;
#[cfg(any(feature = "ndarray", feature = "flex"))]
mod host_cnn;
#[cfg(feature = "ndarray")]
mod host_mlp;
mod hybrid;
mod init;
pub mod layers;
mod mlp;
#[cfg(any(feature = "ndarray", feature = "flex"))]
mod panel_product;
mod quadratic;

pub use activation::Activation;
pub use cnn::{Cnn, CnnConfig, ConvLayerConfig, ConvParameters};
pub use hybrid::{Hybrid, HybridConfig};
pub use mlp::{Dense, Mlp, MlpConfig};
pub use quadratic::{Quadratic, QuadraticConfig};
