//! Contrastive divergence (CD-k) and persistent CD with a replay buffer.

use burn::config::Config;
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use ebm_core::{Energy, Inner};
use ebm_sample::noise::Noise;
use ebm_sample::{NonFinitePolicy, RunConfig, Sampler};

use crate::TrainError;
use crate::error::invalid;
use crate::metrics::{Metrics, names};
use crate::objective::{LossOutput, Objective, TrainStep, mean_inner};
use crate::replay_buffer::ReplayBuffer;
use ebm_core::random_stream::stream_seed;

/// Where the negative chains of [`ContrastiveDivergence`] start.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum ChainStart {
    /// At the data batch (classic CD-k).
    Data,
    /// At N(0, I) noise of the batch's shape.
    Noise,
}

/// `mean E(x⁺) − mean E(x⁻) + λ·(mean E(x⁺)² + mean E(x⁻)²)` with the negatives treated as
/// constants; returns the loss and the mean positive and negative energies.
pub fn contrastive_loss<B: AutodiffBackend, M: Energy<B>>(
    model: &M,
    batch: Tensor<B, 2>,
    negatives: Tensor<Inner<B>, 2>,
    reg_weight: f64,
) -> (Tensor<B, 1>, Tensor<Inner<B>, 1>, Tensor<Inner<B>, 1>) {
    let pos = model.energy(batch);
    let neg = model.energy(Tensor::from_inner(negatives));
    let reg = (pos.clone().square().mean() + neg.clone().square().mean()).mul_scalar(reg_weight);
    let (pos_mean, neg_mean) = (mean_inner(&pos), mean_inner(&neg));
    (pos.mean() - neg.mean() + reg, pos_mean, neg_mean)
}

/// Runs `k` sampler steps from `start` and returns the contrastive loss output and the
/// negatives (for persistent CD to write back).
fn sample_and_contrast<B: AutodiffBackend, M: Energy<B>, S: Sampler<B>>(
    sampler: &S,
    model: &M,
    batch: Tensor<B, 2>,
    start: Tensor<Inner<B>, 2>,
    k: usize,
    seed: u64,
    reg_weight: f64,
) -> Result<(LossOutput<B>, Tensor<Inner<B>, 2>), TrainError> {
    // No checks inside the run (each would be a host read per training step): a non-finite
    // negative makes the loss non-finite, which the trainer catches under its own policy and
    // reports with the training step and the diverged chains.
    let run = RunConfig::new(k)
        .with_seed(seed)
        .with_on_non_finite(NonFinitePolicy::Propagate);
    let samples = sampler.sample(model, start, &run)?;
    let (loss, pos, neg) = contrastive_loss(model, batch, samples.final_state.clone(), reg_weight);
    let output = LossOutput {
        loss,
        metrics: Metrics::new()
            .with(names::POS_ENERGY, pos)
            .with(names::NEG_ENERGY, neg)
            .with_some(names::ACCEPTANCE_RATE, samples.acceptance.clone()),
        negatives: Some(samples.final_state.clone()),
    };
    Ok((output, samples.final_state))
}

fn check_common(k: usize, reg_weight: f64) -> Result<(), TrainError> {
    if k == 0 {
        return Err(invalid(
            "k",
            0usize,
            "the sampler must take at least one step",
        ));
    }
    if !(reg_weight.is_finite() && reg_weight >= 0.0) {
        return Err(invalid(
            "energy_reg_weight",
            reg_weight,
            "must be finite and >= 0",
        ));
    }
    Ok(())
}

/// Builds a [`ContrastiveDivergence`] objective.
#[derive(Config, Debug)]
pub struct ContrastiveDivergenceConfig {
    /// Sampler steps per negative batch (k ≥ 1).
    #[config(default = 10)]
    pub k: usize,
    /// λ of the energy regulariser `λ·(mean E(x⁺)² + mean E(x⁻)²)` (TorchEBM's default).
    #[config(default = 0.001)]
    pub energy_reg_weight: f64,
    /// Where the chains start.
    #[config(default = "ChainStart::Data")]
    pub start: ChainStart,
}

ebm_core::json_config!(
    ContrastiveDivergenceConfig,
    required = [],
    template = ContrastiveDivergenceConfig::new()
);

impl ContrastiveDivergenceConfig {
    /// Builds the objective around `sampler`.
    pub fn init<S>(&self, sampler: S) -> Result<ContrastiveDivergence<S>, TrainError> {
        check_common(self.k, self.energy_reg_weight)?;
        Ok(ContrastiveDivergence {
            config: self.clone(),
            sampler,
        })
    }
}

/// CD-k: negatives from `k` sampler steps started at the data (or at noise), treated as
/// constants; loss `mean E(x⁺) − mean E(x⁻) + λ·(mean E(x⁺)² + mean E(x⁻)²)`.
#[derive(Debug, Clone)]
pub struct ContrastiveDivergence<S> {
    config: ContrastiveDivergenceConfig,
    sampler: S,
}

impl<B, M, S> Objective<B, M> for ContrastiveDivergence<S>
where
    B: AutodiffBackend,
    M: Energy<B>,
    S: Sampler<B> + Clone,
{
    type Record = ();

    crate::energy_model_hooks!();

    fn loss(
        &mut self,
        model: &M,
        batch: Tensor<B, 2>,
        step: TrainStep,
    ) -> Result<LossOutput<B>, TrainError> {
        model.check_input(batch.dims())?;
        let start = match self.config.start {
            ChainStart::Data => batch.clone().detach().inner(),
            ChainStart::Noise => {
                let x = batch.clone().detach().inner();
                Noise::new(step.stream("cd/start")).normal(x.dims(), &x)
            }
        };
        let cfg = &self.config;
        let (output, _) = sample_and_contrast(
            &self.sampler,
            model,
            batch,
            start,
            cfg.k,
            step.stream("cd/sampler"),
            cfg.energy_reg_weight,
        )?;
        Ok(output)
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "contrastive_divergence": &self.config })
    }
}

/// Builds a [`PersistentContrastiveDivergence`] objective.
#[derive(Config, Debug)]
pub struct PersistentContrastiveDivergenceConfig {
    /// Sampler steps per batch (k ≥ 1).
    #[config(default = 10)]
    pub k: usize,
    /// Replay buffer size (≥ batch size).
    #[config(default = 10000)]
    pub buffer_size: usize,
    /// Fraction ρ of each batch's chains restarted from noise instead of the buffer.
    #[config(default = 0.05)]
    pub restart_fraction: f64,
    /// Standard deviation of the noise the buffer and restarts are drawn from.
    #[config(default = 1.0)]
    pub init_scale: f64,
    /// λ of the energy regulariser.
    #[config(default = 0.001)]
    pub energy_reg_weight: f64,
}

ebm_core::json_config!(
    PersistentContrastiveDivergenceConfig,
    required = [],
    template = PersistentContrastiveDivergenceConfig::new()
);

impl PersistentContrastiveDivergenceConfig {
    /// Builds the objective around `sampler`; the buffer is created on the first batch (when
    /// the dimension and device are known), or restored with
    /// [`PersistentContrastiveDivergence::set_buffer`].
    pub fn init<B: AutodiffBackend, S>(
        &self,
        sampler: S,
    ) -> Result<PersistentContrastiveDivergence<B, S>, TrainError> {
        check_common(self.k, self.energy_reg_weight)?;
        if !(0.0..=1.0).contains(&self.restart_fraction) {
            return Err(invalid(
                "restart_fraction",
                self.restart_fraction,
                "must be in [0, 1]",
            ));
        }
        if !(self.init_scale.is_finite() && self.init_scale > 0.0) {
            return Err(invalid(
                "init_scale",
                self.init_scale,
                "must be finite and > 0",
            ));
        }
        if self.buffer_size == 0 {
            return Err(invalid("buffer_size", 0usize, "must be > 0"));
        }
        Ok(PersistentContrastiveDivergence {
            config: self.clone(),
            sampler,
            buffer: None,
        })
    }
}

/// Persistent CD: chains persist across batches in a [`ReplayBuffer`]. Each batch draws
/// distinct random slots; the first `round(ρ·batch)` of its chains restart from noise; after `k`
/// sampler steps every chain is written back to its slot. Same loss as CD.
#[derive(Debug, Clone)]
pub struct PersistentContrastiveDivergence<B: AutodiffBackend, S> {
    config: PersistentContrastiveDivergenceConfig,
    sampler: S,
    buffer: Option<ReplayBuffer<Inner<B>>>,
}

impl<B: AutodiffBackend, S> PersistentContrastiveDivergence<B, S> {
    /// The replay buffer, once created.
    pub fn buffer(&self) -> Option<&ReplayBuffer<Inner<B>>> {
        self.buffer.as_ref()
    }

    /// Replaces the buffer (restoring a checkpoint).
    pub fn set_buffer(&mut self, buffer: ReplayBuffer<Inner<B>>) {
        self.buffer = Some(buffer);
    }
}

impl<B, M, S> Objective<B, M> for PersistentContrastiveDivergence<B, S>
where
    B: AutodiffBackend,
    M: Energy<B>,
    S: Sampler<B> + Clone,
{
    /// The replay buffer's chains `[buffer_size, D]`, once the first step has filled it.
    type Record = Option<Tensor<Inner<B>, 2>>;

    crate::energy_model_hooks!();

    fn loss(
        &mut self,
        model: &M,
        batch: Tensor<B, 2>,
        step: TrainStep,
    ) -> Result<LossOutput<B>, TrainError> {
        let [n, d] = batch.dims();
        model.check_input([n, d])?;
        let cfg = &self.config;
        let buffer = match self.buffer.take() {
            Some(b) => b,
            None => ReplayBuffer::new(
                cfg.buffer_size,
                d,
                cfg.init_scale,
                stream_seed(step.seed, "pcd/buffer", 0),
                &batch.device(),
            )?,
        };
        let buffer = self.buffer.insert(buffer);
        if buffer.states().dims()[1] != d {
            return Err(TrainError::Energy(ebm_core::EnergyError::Dimension {
                expected: buffer.states().dims()[1],
                got: d,
            }));
        }
        let slots = buffer.draw_slots(n, step.stream("pcd/slots"))?;
        let index = buffer.slot_index(&slots);
        let mut start = buffer.gather(&index);
        let n_restart = (cfg.restart_fraction * n as f64).round() as usize;
        if n_restart > 0 {
            let fresh = Noise::new(step.stream("pcd/restarts"))
                .normal([n_restart, d], &start)
                .mul_scalar(cfg.init_scale);
            start = start.slice_assign([0..n_restart, 0..d], fresh);
        }
        let (output, negatives) = sample_and_contrast(
            &self.sampler,
            model,
            batch,
            start,
            cfg.k,
            step.stream("pcd/sampler"),
            cfg.energy_reg_weight,
        )?;
        buffer.write(&index, negatives);
        Ok(output)
    }

    fn to_record(&self) -> Self::Record {
        self.buffer.as_ref().map(|b| b.states().clone())
    }

    fn load_record(&mut self, record: Self::Record) {
        self.buffer = record.map(ReplayBuffer::from_states);
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "persistent_contrastive_divergence": &self.config })
    }
}
