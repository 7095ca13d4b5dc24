//! Energy Matching (Balcerak et al., 2025): one time-independent potential `V(x)` whose
//! descent `−∇V` transports noise to data (phase 1, optimal-transport flow matching) and whose
//! Boltzmann density `e^{−V/ε_max}` is sharpened near the data by a contrastive term (phase 2).

use burn::config::Config;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use ebm_core::interpolant::Interpolant;
use ebm_core::schedule::Schedule;
use ebm_core::{Inner, SecondOrderEnergy};
use ebm_sample::noise::Noise;
use ebm_sample::{LangevinConfig, NonFinitePolicy, RunConfig, Sampler};

use crate::TrainError;
use crate::coupling::Coupling;
use crate::error::invalid;
use crate::flow_path::{PathBatch, draw_paths, validate};
use crate::metrics::Metrics;
use crate::objective::{LossOutput, Objective, TrainStep};
use crate::time_sampler::TimeSampler;

/// Builds an [`EnergyMatching`] objective. The defaults are the paper's 2-D configuration, as
/// in TorchEBM 0.8.9's `EnergyMatchingLoss`.
#[derive(Config, Debug)]
pub struct EnergyMatchingConfig {
    /// The path from noise (t = 0) to data (t = 1).
    #[config(default = "Interpolant::Linear")]
    pub interpolant: Interpolant,
    /// How noise is paired with data (the paper: exact optimal transport).
    #[config(default = "Coupling::ExactOt")]
    pub coupling: Coupling,
    /// The training times of the flow term.
    #[config(default = "TimeSampler::uniform()")]
    pub time: TimeSampler,
    /// Standard deviation of the noise added to the path points (≥ 0).
    #[config(default = 0.1)]
    pub sigma: f64,
    /// The flow term's weight is `min(1, max(0, (1 − t)/(1 − a)))` for this `a`; ≥ 1 weighs
    /// every time fully.
    #[config(default = 0.8)]
    pub flow_weight_cutoff: f64,
    /// Optimiser steps of phase 1 (the flow term alone, no Langevin chains).
    #[config(default = 0)]
    pub warmup_steps: usize,
    /// `λ_CD`, the contrastive term's weight from step `warmup_steps` on (≥ 0; 0 never leaves
    /// phase 1).
    #[config(default = 2.0)]
    pub contrastive_weight: f64,
    /// The plateau temperature `ε_max` of the negatives' chains (> 0).
    #[config(default = 0.15)]
    pub epsilon_max: f64,
    /// The switch time `τ*` from transport to diffusion, in `[0, 1)`.
    #[config(default = 0.8)]
    pub tau_star: f64,
    /// Langevin steps per negative chain (≥ 1).
    #[config(default = 200)]
    pub langevin_steps: usize,
    /// The chains' step size (> 0).
    #[config(default = 0.01)]
    pub langevin_step_size: f64,
    /// Fraction of the negatives started from N(0, I), sweeping the temperature from 0 to
    /// `ε_max`; the others start at data rows and stay at `ε_max`. In `[0, 1]`.
    #[config(default = 0.5)]
    pub noise_fraction: f64,
    /// Fraction of the highest-energy negatives left out of their mean, in `[0, 1)`.
    #[config(default = 0.1)]
    pub trim_fraction: f64,
    /// The contrastive term is floored at `−clamp` for stability (`None`: no floor).
    #[config(default = "Some(0.02)")]
    pub contrastive_clamp: Option<f64>,
}

ebm_core::json_config!(
    EnergyMatchingConfig,
    required = [],
    template = EnergyMatchingConfig::new()
);

impl EnergyMatchingConfig {
    /// Builds the objective, checking the parameters.
    pub fn init(&self) -> Result<EnergyMatching, TrainError> {
        validate(&self.interpolant, &self.coupling, &self.time)?;
        let finite_at_least = |name, v: f64, low: f64| -> Result<(), TrainError> {
            match v.is_finite() && v >= low {
                true => Ok(()),
                false if low == 0.0 => Err(invalid(name, v, "must be finite and >= 0")),
                false => Err(invalid(name, v, "must be finite")),
            }
        };
        finite_at_least("sigma", self.sigma, 0.0)?;
        finite_at_least("flow_weight_cutoff", self.flow_weight_cutoff, f64::MIN)?;
        finite_at_least("contrastive_weight", self.contrastive_weight, 0.0)?;
        if !(self.epsilon_max > 0.0 && self.epsilon_max.is_finite()) {
            return Err(invalid(
                "epsilon_max",
                self.epsilon_max,
                "must be finite and > 0",
            ));
        }
        if !(0.0..1.0).contains(&self.tau_star) {
            return Err(invalid("tau_star", self.tau_star, "must be in [0, 1)"));
        }
        if self.langevin_steps == 0 {
            return Err(invalid("langevin_steps", 0usize, "must be >= 1"));
        }
        if !(0.0..=1.0).contains(&self.noise_fraction) {
            return Err(invalid(
                "noise_fraction",
                self.noise_fraction,
                "must be in [0, 1]",
            ));
        }
        if !(0.0..1.0).contains(&self.trim_fraction) {
            return Err(invalid(
                "trim_fraction",
                self.trim_fraction,
                "must be in [0, 1)",
            ));
        }
        if let Some(c) = self.contrastive_clamp {
            finite_at_least("contrastive_clamp", c, 0.0)?;
        }
        let chains = |noise_scale: Schedule| {
            LangevinConfig::new()
                .step_size(self.langevin_step_size)
                .noise_scale(noise_scale)
                .init()
        };
        Ok(EnergyMatching {
            sweep: chains(Schedule::temperature(
                self.epsilon_max,
                self.tau_star,
                self.langevin_steps,
            ))?,
            plateau: chains(Schedule::constant(self.epsilon_max.sqrt()))?,
            config: self.clone(),
        })
    }
}

/// Energy Matching's objective: `L_OT + λ_CD·L_CD` with
/// `L_OT = mean w(t)·‖−∇V(x_t + σξ) − u_t‖²` over optimal-transport pairs and
/// `L_CD = max(−clamp, λ_CD·(mean V(x⁺) − trimmed mean V(x⁻)))`, the negatives from Langevin
/// chains under the temperature schedule ([`Schedule::Temperature`]). `λ_CD` is 0 for the first
/// [`EnergyMatchingConfig::warmup_steps`] steps. Sample a trained potential with Langevin under
/// the same schedule.
#[derive(Debug, Clone)]
pub struct EnergyMatching {
    config: EnergyMatchingConfig,
    sweep: ebm_sample::Langevin,
    plateau: ebm_sample::Langevin,
}

/// The flow term on given paths: `mean_i w(tᵢ)·mean_d (−∇V(x_t + σξ) − u_t)²`, with `smoothing`
/// the noise `σξ` already scaled (or `None`). Differentiable in the potential's parameters.
pub fn energy_matching_flow_loss<B: AutodiffBackend, M: SecondOrderEnergy<B>>(
    model: &M,
    paths: &PathBatch<B>,
    smoothing: Option<Tensor<B, 2>>,
    flow_weight_cutoff: f64,
) -> Tensor<B, 1> {
    let n = paths.t.dims()[0];
    let x = match smoothing {
        Some(s) => paths.xt.clone() + s,
        None => paths.xt.clone(),
    };
    let grad = model.grad_energy_tracked(x.detach());
    let per_pair = (grad.neg() - paths.ut.clone())
        .square()
        .mean_dim(1)
        .reshape([n]);
    let weight = match flow_weight_cutoff >= 1.0 {
        true => paths.t.ones_like(),
        false => paths
            .t
            .clone()
            .neg()
            .add_scalar(1.0)
            .div_scalar(1.0 - flow_weight_cutoff)
            .clamp(0.0, 1.0),
    };
    (per_pair * weight).mean()
}

/// The contrastive term `max(−clamp, weight·(mean V(data) − trimmed mean V(negatives)))`, the
/// trimmed mean leaving out the `⌊trim·n⌋` highest negative energies; also returns the
/// unweighted difference. Differentiable in the potential's parameters (the negatives are
/// constants).
pub fn energy_matching_contrastive_loss<B: AutodiffBackend, M: SecondOrderEnergy<B>>(
    model: &M,
    data: Tensor<B, 2>,
    negatives: Tensor<Inner<B>, 2>,
    weight: f64,
    trim_fraction: f64,
    clamp: Option<f64>,
) -> (Tensor<B, 1>, Tensor<Inner<B>, 1>) {
    let pos = model.energy(data).mean();
    let neg = model.energy(Tensor::from_inner(negatives));
    let n = neg.dims()[0];
    let dropped = (trim_fraction * n as f64) as usize;
    let neg = match dropped {
        0 => neg.mean(),
        _ => {
            // The kept rows are chosen on the host: one read of n energies per step.
            let values = neg.clone().detach().inner().into_data().convert::<f64>();
            let values = values.to_vec::<f64>().expect("converted to f64");
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
            let kept: Vec<i64> = order[..n - dropped].iter().map(|&i| i as i64).collect();
            let kept =
                Tensor::<B, 1, Int>::from_data(TensorData::new(kept, [n - dropped]), &neg.device());
            neg.select(0, kept).mean()
        }
    };
    let difference = pos - neg;
    let value = difference.clone().detach().inner();
    let loss = difference.mul_scalar(weight);
    let loss = match clamp {
        Some(c) => loss.clamp_min(-c),
        None => loss,
    };
    (loss, value)
}

impl EnergyMatching {
    /// `λ_CD` at optimiser step `step`: 0 in phase 1.
    pub fn contrastive_weight(&self, step: usize) -> f64 {
        match step < self.config.warmup_steps {
            true => 0.0,
            false => self.config.contrastive_weight,
        }
    }

    /// The negatives of one step: noise-started chains under the temperature sweep, then
    /// data-started chains at the plateau temperature.
    fn negatives<B: AutodiffBackend, M: SecondOrderEnergy<B>>(
        &self,
        model: &M,
        data: Tensor<Inner<B>, 2>,
        step: TrainStep,
    ) -> Result<Tensor<Inner<B>, 2>, TrainError> {
        let [n, d] = data.dims();
        let from_noise = (n as f64 * self.config.noise_fraction).round() as usize;
        let run = |stream: &str| {
            RunConfig::new(self.config.langevin_steps)
                .with_seed(step.stream(stream))
                .with_on_non_finite(NonFinitePolicy::Propagate)
        };
        let mut parts = Vec::with_capacity(2);
        if from_noise > 0 {
            let start = Noise::new(step.stream("energy_matching/chain_start"))
                .normal([from_noise, d], &data);
            let run = run("energy_matching/sweep");
            parts.push(Sampler::<B>::sample(&self.sweep, model, start, &run)?.final_state);
        }
        if from_noise < n {
            let rows =
                Noise::new(step.stream("energy_matching/data_rows")).indices(n - from_noise, n);
            let rows: Vec<i64> = rows.into_iter().map(|i| i as i64).collect();
            let rows = Tensor::<Inner<B>, 1, Int>::from_data(
                TensorData::new(rows, [n - from_noise]),
                &data.device(),
            );
            let run = run("energy_matching/plateau");
            let start = data.select(0, rows);
            parts.push(Sampler::<B>::sample(&self.plateau, model, start, &run)?.final_state);
        }
        Ok(Tensor::cat(parts, 0))
    }
}

impl<B: AutodiffBackend, M: SecondOrderEnergy<B>> Objective<B, M> for EnergyMatching {
    type Record = ();

    crate::energy_model_hooks!();

    fn loss(
        &mut self,
        model: &M,
        batch: Tensor<B, 2>,
        step: TrainStep,
    ) -> Result<LossOutput<B>, TrainError> {
        model.check_input(batch.dims())?;
        let c = &self.config;
        let data = batch.detach();
        let paths = draw_paths(
            "energy_matching",
            &c.interpolant,
            &c.coupling,
            &c.time,
            data.clone(),
            step,
        )?;
        let smoothing = (c.sigma > 0.0).then(|| {
            Noise::new(step.stream("energy_matching/smoothing")).normal_scaled(
                data.dims(),
                c.sigma,
                &data,
            )
        });
        let flow = energy_matching_flow_loss(model, &paths, smoothing, c.flow_weight_cutoff);
        let weight = self.contrastive_weight(step.index);
        let mut metrics = Metrics::new().with("flow_loss", flow.clone().detach().inner());
        if weight == 0.0 {
            return Ok(LossOutput {
                loss: flow,
                metrics,
                negatives: None,
            });
        }
        let negatives = self.negatives(model, data.clone().inner(), step)?;
        let (contrastive, difference) = energy_matching_contrastive_loss(
            model,
            data.clone(),
            negatives.clone(),
            weight,
            c.trim_fraction,
            c.contrastive_clamp,
        );
        metrics.insert("contrastive_difference", difference);
        Ok(LossOutput {
            loss: flow + contrastive,
            metrics,
            negatives: Some(negatives),
        })
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "energy_matching": &self.config })
    }
}
