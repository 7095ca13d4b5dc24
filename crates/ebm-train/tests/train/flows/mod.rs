//! The flow objectives' tests: against TorchEBM's float64 reference (`reference.rs`) and
//! against known answers (`known_answers.rs`).

mod known_answers;
mod reference;
