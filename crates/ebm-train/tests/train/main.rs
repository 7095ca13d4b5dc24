//! `ebm-train`'s integration tests, one binary: each test binary instantiates Burn's generics
//! anew (separate binaries took ~570 s of compile time on two cores, most of it the same
//! monomorphisations six times).
//!
//! - `cnn_score_matching`: score matching trains convolutional energies;
//! - `flows`: the flow objectives against TorchEBM's float64 reference and known answers;
//! - `recovery`: every objective recovers a Gaussian's precision (sign and scale);
//! - `reference_losses`: the losses against TorchEBM's float64 reference;
//! - `replay_buffer`: a replay buffer on a fixed target keeps its moments;
//! - `trainer`: resume, checkpoints, non-finite losses and bad input.

mod cnn_score_matching;
mod flows;
mod recovery;
mod reference_losses;
mod replay_buffer;
mod trainer;
