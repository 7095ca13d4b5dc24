//! `ebm-core`'s integration tests, one binary (each test binary instantiates Burn's generics
//! anew):
//!
//! - `cnn_reference`: the CNN energy against PyTorch's float64 reference;
//! - `mlp_reference`: the MLP energy against TorchEBM's float64 reference;
//! - `second_order_layers`: which of Burn's layers survive second order.

mod cnn_reference;
mod mlp_reference;
mod second_order_layers;
