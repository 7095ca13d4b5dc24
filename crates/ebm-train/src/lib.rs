//! # ebm-train
//!
//! Learners that fit an [`ebm_core::Energy`] to data, and the loop that runs them.
//!
//! | file | contents |
//! |---|---|
//! | `objective.rs` | [`Objective`]: a loss and its metrics for a data batch |
//! | `contrastive_divergence.rs` | [`ContrastiveDivergence`] (CD-k) and [`PersistentContrastiveDivergence`] |
//! | [`coupling`] | [`Coupling`]: independent, exact OT, Sinkhorn and greedy pairings of noise with data |
//! | `replay_buffer.rs` | [`ReplayBuffer`] of persistent CD |
//! | `score_matching.rs` | [`ScoreMatching`] (exact or Hutchinson), [`SlicedScoreMatching`], [`DenoisingScoreMatching`], [`MultiscaleDenoisingScoreMatching`] |
//! | `flow_matching.rs` | [`FlowMatching`]: a velocity field regressed onto a path's velocity (CFM, OT-CFM) |
//! | `equilibrium_matching.rs` | [`EquilibriumMatching`]: a time-invariant gradient field, implicit or the gradient of an explicit energy ([`ExplicitEnergy`]) |
//! | `energy_matching.rs` | [`EnergyMatching`]: a potential whose descent is an OT flow, then sharpened contrastively under a temperature schedule |
//! | `flow_path.rs`, `time_sampler.rs` | [`PathBatch`]: the noise, pairing, times and path points of a flow step; [`TimeSampler`] |
//! | `trainer.rs` | [`Trainer`]: epochs, optimiser, clipping, schedules, EMA, NaN policy, progress |
//! | `checkpoint.rs` | what a checkpoint holds: digests, configs, the checks before a load |
//! | `checkpoint_store.rs` | versioned checkpoint directories, switched atomically and durably |
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod checkpoint;
mod checkpoint_store;
mod contrastive_divergence;
pub mod coupling;
mod ema;
mod energy_matching;
mod equilibrium_matching;
mod error;
mod flow_matching;
mod flow_path;
mod grad_norm;
pub mod metrics;
mod objective;
mod replay_buffer;
mod score_matching;
mod time_sampler;
mod trainer;

pub use checkpoint::TrainerState;
pub use contrastive_divergence::{
    ChainStart, ContrastiveDivergence, ContrastiveDivergenceConfig,
    PersistentContrastiveDivergence, PersistentContrastiveDivergenceConfig, contrastive_loss,
};
pub use coupling::Coupling;
pub use energy_matching::{
    EnergyMatching, EnergyMatchingConfig, energy_matching_contrastive_loss,
    energy_matching_flow_loss,
};
pub use equilibrium_matching::{
    EquilibriumEnergy, EquilibriumMatching, EquilibriumMatchingConfig, ExplicitEnergy, TargetScale,
    equilibrium_field, equilibrium_matching_loss,
};
pub use error::{ErrorSource, TrainError};
pub use flow_matching::{FlowMatching, FlowMatchingConfig, flow_matching_loss};
pub use flow_path::PathBatch;
pub use metrics::Metrics;
pub use objective::{LossOutput, Objective, TrainStep};
pub use replay_buffer::ReplayBuffer;
pub use score_matching::{
    DenoisingScoreMatching, DenoisingScoreMatchingConfig, LevelConditioning,
    MultiscaleDenoisingScoreMatching, MultiscaleDenoisingScoreMatchingConfig, Probe, ScoreMatching,
    ScoreMatchingConfig, SlicedScoreMatching, SlicedScoreMatchingConfig, TraceMethod,
    conditioned_denoising_score_matching_loss, denoising_score_matching_loss,
    exact_score_matching_loss, hutchinson_score_matching_loss,
    multiscale_denoising_score_matching_loss, sliced_score_matching_loss,
};
pub use time_sampler::TimeSampler;
pub use trainer::{EpochLog, LastBatch, NonFiniteLoss, StepLog, Trainer, TrainerConfig};

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_core::json_config::{ConfigError, JsonConfig, assert_round_trip};

    #[test]
    fn every_config_round_trips_through_json_and_refuses_unknown_keys() {
        assert_round_trip(&TrainerConfig::new(3).with_checkpoint_dir(Some("run".into())));
        assert_round_trip(&ContrastiveDivergenceConfig::new());
        assert_round_trip(&PersistentContrastiveDivergenceConfig::new());
        assert_round_trip(&ScoreMatchingConfig::new());
        assert_round_trip(&SlicedScoreMatchingConfig::new());
        assert_round_trip(&DenoisingScoreMatchingConfig::new());
        assert_round_trip(&MultiscaleDenoisingScoreMatchingConfig::new());
        assert_round_trip(&FlowMatchingConfig::new().with_coupling(Coupling::sinkhorn()));
        assert_round_trip(&EnergyMatchingConfig::new().with_contrastive_clamp(None));
        assert_round_trip(
            &EquilibriumMatchingConfig::new()
                .with_energy(EquilibriumEnergy::Dot)
                .with_time(TimeSampler::LogNormal {
                    mean: -1.2,
                    std: 1.2,
                }),
        );
    }

    #[test]
    fn a_trainer_config_from_json_takes_defaults_and_refuses_typos() {
        let config = TrainerConfig::from_json(r#"{"epochs": 3}"#).unwrap();
        assert_eq!((config.epochs, config.batch_size), (3, 128));
        let config = TrainerConfig::from_json(
            r#"{"epochs": 3, "learning_rate": {"kind": "cosine", "start": 0.01, "end": 0.0001, "n_steps": 10}}"#,
        )
        .unwrap();
        assert_eq!(
            config.learning_rate,
            ebm_core::schedule::Schedule::cosine(0.01, 0.0001, 10)
        );
        assert_eq!(
            TrainerConfig::from_json(r#"{"epochs": 3, "learning_rte": 0.1}"#).unwrap_err(),
            ConfigError::UnknownKey {
                config: "TrainerConfig",
                path: "learning_rte".into()
            }
        );
        assert_eq!(
            TrainerConfig::from_json(r#"{"batch_size": 3}"#).unwrap_err(),
            ConfigError::Missing {
                config: "TrainerConfig",
                field: "epochs"
            }
        );
        // A nested config: its omitted fields take their defaults, its typos are errors.
        let ladder =
            MultiscaleDenoisingScoreMatchingConfig::from_json(r#"{"ladder": {"levels": 4}}"#)
                .unwrap();
        assert_eq!(ladder.ladder.levels, 4);
        assert!(matches!(
            MultiscaleDenoisingScoreMatchingConfig::from_json(r#"{"ladder": {"levls": 4}}"#),
            Err(ConfigError::UnknownKey { path, .. }) if path == "ladder.levls"
        ));
    }
}
