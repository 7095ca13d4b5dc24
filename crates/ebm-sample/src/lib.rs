//! # ebm-sample
//!
//! Samplers for any [`ebm_core::Energy`], analytic or neural, on any backend, with the
//! diagnostics that tell whether the chains can be trusted.
//!
//! | sampler | file | kind |
//! |---|---|---|
//! | [`Langevin`] | `langevin.rs` | unadjusted Langevin (Euler–Maruyama), scheduled step and noise, optional clamp |
//! | [`Mala`] | `mala.rs` | Metropolis-adjusted Langevin, per-chain accept/reject |
//! | [`Hmc`] | `hmc.rs` | Hamiltonian Monte Carlo, leapfrog, scalar or diagonal mass (or one estimated from the ensemble in warm-up, `mass_adaptation.rs`), step jitter, ChEES trajectory-length adaptation (`trajectory_adaptation.rs`), divergence guard |
//! | [`NoiseLadder`] | `noise_ladder.rs` | annealed Langevin down a geometric ladder of noise levels (score-based sampling) |
//! | [`AnnealedImportance`] | `annealed_importance.rs` | `log Z` with its standard error, annealing from a Gaussian base over any transition |
//! | [`ReplicaExchange`] | `replica_exchange.rs` | parallel tempering around any transition: a ladder of temperatures with even–odd swaps |
//! | [`FlowSampler`] | `flow.rs` | a learned velocity field from noise to data: ODE on any integrator, or reverse SDE with a last step |
//! | [`FieldDescent`] | `field_descent.rs` | Nesterov descent along a learned gradient field (Equilibrium Matching) |
//! | [`GradientDescent`], [`Nesterov`] | `gradient_descent.rs`, `nesterov.rs` | deterministic minimisers |
//!
//! The [`integrator`] module holds the ODE and SDE integrators (explicit and adaptive
//! Runge–Kutta, Euler–Maruyama, leapfrog), usable on their own; HMC calls its leapfrog.
//! [`diagnostics`] computes ESS and split-R̂ of a run, and `nested_rhat.rs` the nested R̂
//! ([`nested_rhat`]) of many short chains grouped into superchains.
//!
//! Every sampler implements [`Transition`] (one step on a batch of chains, with `&self`: what a
//! run changes lives in the transition's [`ChainState`]); the [`Sampler`]
//! trait, implemented once for all of them, runs the chains with thinning, trajectories,
//! diagnostics, NaN/Inf handling and warm-up adaptation. The exact semantics of a run are in
//! [`run`]. Chains never build an autodiff graph: samplers call only the graph-free methods of
//! [`ebm_core::Energy`], which analytic energies answer in closed form.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod adaptation;
mod annealed_importance;
mod box_muller;
pub mod diagnostics;
mod error;
mod field_descent;
mod flow;
mod gradient_descent;
mod hmc;
pub mod integrator;
mod langevin;
mod mala;
pub mod mass_adaptation;
mod nested_rhat;
mod nesterov;
pub mod noise;
mod noise_ladder;
mod non_finite_guard;
mod replica_exchange;
pub mod run;
mod run_recorder;
mod trajectory_adaptation;
mod transition;

pub use adaptation::{AcceptanceMean, DualAveraging, DualAveragingConfig};
pub use annealed_importance::{
    AnnealedImportance, AnnealedImportanceConfig, AnnealingSpacing, LogPartition,
};
pub use diagnostics::{Diagnostics, StepRecord};
pub use error::SampleError;
pub use field_descent::{FieldDescent, FieldDescentConfig};
pub use flow::{
    Diffusion, FlowIntegrator, FlowMode, FlowSampler, FlowSamplerConfig, FlowSamples, LastStep,
};
pub use gradient_descent::{GradientDescent, GradientDescentConfig};
pub use hmc::{Hmc, HmcConfig, HmcState, Mass};
pub use langevin::{Langevin, LangevinConfig};
pub use mala::{Mala, MalaConfig};
pub use mass_adaptation::MassAdaptationConfig;
pub use nested_rhat::{nested_rhat, nested_rhat_per_coordinate};
pub use nesterov::{MomentumState, Nesterov, NesterovConfig};
pub use noise_ladder::{NoiseLadder, NoiseLadderConfig};
pub use non_finite_guard::non_finite_chains;
pub use replica_exchange::{Ladder, ReplicaExchange, ReplicaExchangeConfig, ReplicaSamples};
pub use run::{NonFinitePolicy, RunConfig, Sampler, Samples};
pub use trajectory_adaptation::TrajectoryAdaptationConfig;
pub use transition::{CachedGradient, ChainState, Step, StepInfo, Transition};

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_core::json_config::assert_round_trip;

    #[test]
    fn every_config_round_trips_through_json_and_refuses_unknown_keys() {
        assert_round_trip(&RunConfig::new(100).with_max_diagnostic_records(Some(50)));
        assert_round_trip(&GradientDescentConfig::new());
        assert_round_trip(&HmcConfig::new());
        assert_round_trip(&integrator::AdaptiveConfig::new().with_initial_step(Some(0.01)));
        assert_round_trip(&LangevinConfig::new().with_clamp(Some((-1.0, 1.0))));
        assert_round_trip(&MalaConfig::new());
        assert_round_trip(
            &HmcConfig::new()
                .with_target_acceptance(Some(0.8))
                .with_dual_averaging(DualAveragingConfig::new().with_gamma(0.1)),
        );
        assert_round_trip(&DualAveragingConfig::new());
        assert_round_trip(
            &HmcConfig::new()
                .with_mass_adaptation(Some(MassAdaptationConfig::new().with_final_buffer(20))),
        );
        assert_round_trip(&NesterovConfig::new());
        assert_round_trip(&NoiseLadderConfig::new());
        assert_round_trip(&FieldDescentConfig::new());
        assert_round_trip(&AnnealedImportanceConfig::new());
        assert_round_trip(
            &ReplicaExchangeConfig::new().with_ladder(Ladder::Adaptive { rate: 1.0 }),
        );
        assert_round_trip(&FlowSamplerConfig::new().with_mode(FlowMode::sde()));
        assert_round_trip(&FlowSamplerConfig::new().with_mode(FlowMode::Ode {
            integrator: FlowIntegrator::Fixed {
                method: integrator::FixedStep::Rk4,
                steps: 20,
            },
        }));
    }
}
