//! Neural energies as Burn modules, each with a `Config` that builds it.
//!
//! | energy | input | second order (score matching) |
//! |---|---|---|
//! | [`Mlp`] | `[N, D]` | yes: the input gradient and Hessian-vector products are written with primitive tensor ops |
//! | [`Hybrid`] | `[N, D]` | yes, when its analytic part implements [`crate::analytic::AnalyticHessian`] |
//! | [`Cnn`] | `[N, C·H·W]` (flattened images) | yes: convolutions and their transposes, written with Burn's conv ops |
//! | [`ConditionedMlp`] | `[N, D]`, a time `[N]` and class labels | yes, at a fixed time and class ([`ConditionedMlp::at`]); as a [`FieldModel`] it is the velocity or gradient field of flow and equilibrium matching |
//! | [`Quadratic`] | `[N, D]` | yes (learnable Gaussian shape, for tests and baselines) |
//!
//! [`layers`] holds the second-order building blocks for energies that users write themselves.
//! `column_product.rs` computes every scalar output layer (a Burn fusion defect, see there).

mod activation;
mod cnn;
mod column_product;
mod conditioned_mlp;
#[cfg(any(feature = "ndarray", feature = "flex"))]
mod cores;
mod field_model;
#[cfg(any(feature = "ndarray", feature = "flex"))]
mod host_activation;
#[cfg(any(feature = "ndarray", feature = "flex"))]
pub(crate) mod host_autodiff;
#[cfg(any(feature = "ndarray", feature = "flex"))]
mod host_cnn;
#[cfg(feature = "ndarray")]
mod host_mlp;
mod hybrid;
mod init;
#[cfg(any(feature = "ndarray", feature = "flex"))]
mod instruction_set;
pub mod layers;
mod mlp;
#[cfg(any(feature = "ndarray", feature = "flex"))]
mod panel_product;
mod quadratic;
mod time_embedding;

pub use activation::Activation;
pub use cnn::{Cnn, CnnConfig, ConvLayerConfig, ConvParameters};
pub use conditioned_mlp::{AtCondition, ConditionedMlp, ConditionedMlpConfig};
pub use field_model::{Cotangent, FieldModel};
pub use hybrid::{Hybrid, HybridConfig};
pub use mlp::{Dense, Mlp, MlpConfig};
pub use quadratic::{Quadratic, QuadraticConfig};
pub use time_embedding::{TimeEmbedding, TimeEmbeddingConfig};
