//! # ebm-reference
//!
//! Float64 reference vectors from PyTorch and TorchEBM, and what the reference tests of several
//! crates build from them (an MLP with the reference's own parameters, the comparisons). A
//! test-only crate: ebm-core's and ebm-train's integration tests depend on it, so that neither
//! reaches into the other's test folder. `data/README.md` says where the files come from and how
//! to compute more.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod mlp;
