//! # ebm-data
//!
//! Datasets for energy-based models (filled by the data work). This crate is part of the `ebm` workspace and is empty for now: it exists so that the
//! workspace layout and the facade's re-exports are stable while it is being built.
#![warn(missing_docs)]
