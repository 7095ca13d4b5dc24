//! The flow objectives' tests, one binary (each test binary links Burn's generics anew):
//! against TorchEBM's float64 reference (`reference.rs`) and against known answers
//! (`known_answers.rs`).

mod known_answers;
mod reference;
