//! The training loop.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use burn::config::Config;
use burn::data::dataloader::DataLoader;
use burn::module::{AutodiffModule, ModuleDisplay};
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use ebm_core::Inner;
use ebm_core::schedule::Schedule;
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::checkpoint::{self, Manifest, ModelSummary, TrainerState};
use crate::checkpoint_store;
use crate::ema::update_ema;
use crate::error::invalid;
use crate::grad_norm::{clip_to_norm, gradient_norm};
use crate::metrics::{Metrics, names};
use crate::objective::{LossOutput, Objective, TrainStep};

/// What to do when a step's loss or parameter gradient is NaN or infinite.
///
/// Either way, no update from such a step reaches the model, the optimiser state, the EMA or
/// the objective's state. The trainer does not read the loss every step (on a GPU each read is a
/// sync): it accumulates a finiteness flag on the device and reads it at log steps, checkpoints
/// and epoch ends. If the flag shows a bad step, the trainer restores what it held at the previous
/// check and replays the steps since then one at a time, each checked before its update. Replays
/// draw the same random numbers, so the outcome is the same as checking every step.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum NonFiniteLoss {
    /// Stop with [`TrainError::NonFiniteLoss`] or [`TrainError::NonFiniteGradient`] naming the
    /// step (the default). The trainer keeps the state from before that step.
    Error,
    /// Skip the step and count it (see [`Trainer::skipped_steps`]), up to
    /// [`TrainerConfig::max_consecutive_skips`] in a row.
    Skip,
}

/// What [`Trainer::fit`] does with the last batch of an epoch when the batch size does not
/// divide the dataset.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum LastBatch {
    /// Top it up to the full batch size with the first rows of the epoch's order (the default),
    /// so every step has the same shape: GPU kernels are compiled and tuned once per run, and
    /// every step's loss averages the same number of samples.
    Fill,
    /// Keep it smaller.
    Keep,
}

/// Configuration of a [`Trainer`].
#[derive(Config, Debug)]
pub struct TrainerConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// Samples per batch of [`Trainer::fit`] ([`Trainer::fit_loader`] takes the loader's).
    #[config(default = 128)]
    pub batch_size: usize,
    /// Learning rate per optimiser step: a constant (`.learning_rate(1e-3)`) or any
    /// [`Schedule`] of the step.
    #[config(default = "Schedule::Constant { value: 1e-3 }")]
    pub learning_rate: Schedule,
    /// Clip the global gradient norm to this value.
    #[config(default = "None")]
    pub grad_clip_norm: Option<f64>,
    /// Keep an exponential moving average of the parameters with this decay (e.g. 0.999).
    #[config(default = "None")]
    pub ema_decay: Option<f64>,
    /// The last, partial batch of an epoch.
    #[config(default = "LastBatch::Fill")]
    pub last_batch: LastBatch,
    /// Policy for non-finite losses and gradients.
    #[config(default = "NonFiniteLoss::Error")]
    pub on_non_finite: NonFiniteLoss,
    /// With [`NonFiniteLoss::Skip`], this many skipped steps in a row stop the run with
    /// [`TrainError::TooManySkips`]: a model that keeps producing NaN does not recover by itself.
    #[config(default = 10)]
    pub max_consecutive_skips: usize,
    /// Seed of the data order.
    #[config(default = 0)]
    pub seed: u64,
    /// Steps between metric records. The trainer reads the device only at these steps, at
    /// checkpoints and at the end of each epoch; a non-finite loss or gradient in between is
    /// still kept from the parameters (see [`NonFiniteLoss`]).
    #[config(default = 10)]
    pub log_every: usize,
    /// Write a checkpoint to `checkpoint_dir` every this many steps.
    #[config(default = "None")]
    pub checkpoint_every: Option<usize>,
    /// Where periodic checkpoints go: a directory of versions, switched atomically (see
    /// [`Trainer::save_checkpoint`]). Set both or neither of `checkpoint_every` and
    /// `checkpoint_dir`.
    #[config(default = "None")]
    pub checkpoint_dir: Option<String>,
    /// Checkpoint versions kept in the directory (the newest ones), at least 1.
    #[config(default = 2)]
    pub checkpoint_keep: usize,
    /// Hide the progress bar (it is also hidden when stderr is not a terminal).
    #[config(default = false)]
    pub quiet: bool,
}

ebm_core::json_config!(
    TrainerConfig,
    required = ["epochs"],
    template = TrainerConfig::new(0)
);
ebm_core::schedule_setters!(TrainerConfig { learning_rate });

/// Metrics of one logged step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLog {
    /// Optimiser step (from 0).
    pub step: usize,
    /// Epoch (from 0).
    pub epoch: usize,
    /// Loss.
    pub loss: f64,
    /// Global parameter-gradient norm before clipping.
    pub grad_norm: f64,
    /// Learning rate used.
    pub learning_rate: f64,
    /// The objective's metrics by name ([`crate::metrics::names`] for the built-in ones). The
    /// mean data energy, `pos_energy`, is always there: when the objective does not compute it,
    /// the trainer evaluates it at the logged step.
    pub metrics: BTreeMap<String, f64>,
}

impl StepLog {
    /// The metric `name`, if the step reported it.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics.get(name).copied()
    }
}

/// A function called with every logged step.
type Callback = Box<dyn FnMut(&StepLog)>;

/// What an epoch-end callback sees: the epoch just completed and its logged steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochLog<'a> {
    /// The epoch just completed (from 0).
    pub epoch: usize,
    /// Optimiser steps taken so far, in the whole run.
    pub step: usize,
    /// The epoch's logged steps (every step when `log_every` is 1).
    pub logs: &'a [StepLog],
}

impl EpochLog<'_> {
    /// The mean loss over the epoch's logged steps, or `None` if none was logged.
    pub fn mean_loss(&self) -> Option<f64> {
        (!self.logs.is_empty())
            .then(|| self.logs.iter().map(|l| l.loss).sum::<f64>() / self.logs.len() as f64)
    }
}

/// A function called at the end of every epoch.
type EpochCallback = Box<dyn FnMut(&EpochLog<'_>)>;

/// Trains an energy model `M` with an [`Objective`] and any Burn optimiser.
///
/// Data is an in-memory tensor `[N, D]` on the device; every epoch visits it in a fresh order
/// drawn from `seed` and the epoch number, in batches of `batch_size` (the last one smaller).
/// Everything random in a run derives from seeds and the step counter, so a run resumed from a
/// checkpoint continues exactly as the uninterrupted run would have.
pub struct Trainer<B: AutodiffBackend, M, O, L> {
    model: M,
    ema: Option<M>,
    optimizer: O,
    objective: L,
    config: TrainerConfig,
    state: TrainerState,
    history: Vec<StepLog>,
    callbacks: Vec<Callback>,
    epoch_callbacks: Vec<EpochCallback>,
    /// The steps since the last check, and what to roll back to.
    window: Option<Window<B, M, O, L>>,
    /// The metrics of the last logged step, until they are read.
    pending_log: Option<PendingLog<B>>,
}

/// What the trainer held at the last check, and the batches it has taken since.
struct Window<B: AutodiffBackend, M, O, L> {
    model: M,
    ema: Option<M>,
    optimizer: O,
    objective: L,
    state: TrainerState,
    /// Each step's batch and its index in the epoch, to replay them.
    batches: Vec<(Tensor<B, 2>, usize)>,
    /// 0 while every loss and gradient norm in the window was finite, NaN once one was not.
    health: Option<Tensor<Inner<B>, 1>>,
}

/// A logged step's metrics, still on the device.
struct PendingLog<B: AutodiffBackend> {
    step: usize,
    epoch: usize,
    loss: Tensor<Inner<B>, 1>,
    grad_norm: Option<Tensor<Inner<B>, 1>>,
    metrics: Metrics<Inner<B>>,
    learning_rate: f64,
}

/// A step's loss and gradients, before they are applied.
struct Prepared<B: AutodiffBackend> {
    output: LossOutput<B>,
    batch: Tensor<B, 2>,
    grads: GradientsParams,
    norm: Option<Tensor<Inner<B>, 1>>,
}

impl<B: AutodiffBackend> Prepared<B> {
    /// 0 if the loss and the gradient norm are finite, NaN otherwise (`0·x` is NaN exactly
    /// for infinite or NaN `x`), without leaving the device.
    fn health(&self) -> Tensor<Inner<B>, 1> {
        let loss = self.output.loss.clone().detach().inner().mul_scalar(0.0);
        match &self.norm {
            Some(norm) => loss + norm.clone().mul_scalar(0.0),
            None => loss,
        }
    }
}

/// The order in which a run seeded with `seed` visits `n` rows in `epoch`.
fn epoch_order(seed: u64, n: usize, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = ebm_core::random_stream::stream_rng(seed, "trainer/order", epoch as u64);
    order.shuffle(&mut rng);
    order
}

fn read(t: Tensor<impl burn::tensor::backend::Backend, 1>) -> f64 {
    t.into_scalar().elem::<f64>()
}

impl<B, M, O, L> Trainer<B, M, O, L>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + ModuleDisplay,
    O: Optimizer<M, B>,
    L: Objective<B, M>,
{
    /// A trainer at step 0.
    pub fn new(
        model: M,
        optimizer: O,
        objective: L,
        config: TrainerConfig,
    ) -> Result<Self, TrainError> {
        if config.batch_size == 0 {
            return Err(invalid("batch_size", 0usize, "must be > 0"));
        }
        if config.log_every == 0 {
            return Err(invalid("log_every", 0usize, "must be > 0"));
        }
        config.learning_rate.check_positive("learning_rate")?;
        if let Some(c) = config.grad_clip_norm
            && !(c.is_finite() && c > 0.0)
        {
            return Err(invalid("grad_clip_norm", c, "must be finite and > 0"));
        }
        if let Some(d) = config.ema_decay
            && !(0.0..1.0).contains(&d)
        {
            return Err(invalid("ema_decay", d, "must be in [0, 1)"));
        }
        if config.max_consecutive_skips == 0 {
            return Err(invalid("max_consecutive_skips", 0usize, "must be > 0"));
        }
        if config.checkpoint_every == Some(0) {
            return Err(invalid("checkpoint_every", 0usize, "must be > 0"));
        }
        match (&config.checkpoint_every, &config.checkpoint_dir) {
            (Some(every), None) => {
                return Err(invalid(
                    "checkpoint_every",
                    *every,
                    "needs checkpoint_dir: periodic checkpoints need a place",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "checkpoint_dir",
                    f64::NAN,
                    "needs checkpoint_every: without it no checkpoint is written",
                ));
            }
            _ => {}
        }
        if config.checkpoint_keep == 0 {
            return Err(invalid("checkpoint_keep", 0usize, "must be > 0"));
        }
        let ema = config.ema_decay.map(|_| model.clone());
        let state = TrainerState {
            step: 0,
            epoch: 0,
            batch_in_epoch: 0,
            skipped_steps: 0,
            consecutive_skips: 0,
        };
        Ok(Self {
            model,
            ema,
            optimizer,
            objective,
            config,
            state,
            history: vec![],
            callbacks: vec![],
            epoch_callbacks: vec![],
            window: None,
            pending_log: None,
        })
    }

    /// Calls `callback` with every logged step (every `log_every` steps), e.g. to print progress
    /// where no terminal shows the progress bar, or to stop a run early by inspection.
    pub fn with_callback(mut self, callback: impl FnMut(&StepLog) + 'static) -> Self {
        self.callbacks.push(Box::new(callback));
        self
    }

    /// Calls `callback` at the end of every epoch, after the epoch's steps have been checked
    /// and logged, with the epoch's logged steps (e.g. to print the epoch's mean loss, or to
    /// evaluate the model once per epoch).
    ///
    /// ```
    /// # use ebm_train::{EpochLog, StepLog};
    /// let print = |e: &EpochLog<'_>| {
    ///     if (e.epoch + 1) % 10 == 0 {
    ///         println!("epoch {}: loss {:.4}", e.epoch + 1, e.mean_loss().unwrap_or(f64::NAN));
    ///     }
    /// };
    /// # let logs = [StepLog { step: 0, epoch: 9, loss: 0.5, grad_norm: 1.0, learning_rate: 1e-3,
    /// #     metrics: Default::default() }];
    /// # print(&EpochLog { epoch: 9, step: 1, logs: &logs });
    /// ```
    pub fn with_epoch_callback(mut self, callback: impl FnMut(&EpochLog<'_>) + 'static) -> Self {
        self.epoch_callbacks.push(Box::new(callback));
        self
    }

    /// The model being trained.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The EMA of the parameters, if configured.
    pub fn ema(&self) -> Option<&M> {
        self.ema.as_ref()
    }

    /// The objective (e.g. to inspect a replay buffer).
    pub fn objective(&self) -> &L {
        &self.objective
    }

    /// The trained model (or its EMA if configured).
    pub fn into_model(self) -> M {
        self.ema.unwrap_or(self.model)
    }

    /// Logged metrics so far.
    pub fn history(&self) -> &[StepLog] {
        &self.history
    }

    /// Optimiser steps taken.
    pub fn step(&self) -> usize {
        self.state.step
    }

    /// Steps skipped because of a non-finite loss or gradient.
    pub fn skipped_steps(&self) -> usize {
        self.state.skipped_steps
    }

    fn learning_rate(&self) -> f64 {
        self.config.learning_rate.value_at(self.state.step)
    }

    /// Trains until `epochs` epochs are complete (continuing where a loaded checkpoint stopped),
    /// on an in-memory dataset `[N, D]` visited in a seeded order per epoch, in batches of
    /// `batch_size` (see [`LastBatch`] for the last one). Resuming from a checkpoint is
    /// bit-exact on NdArray.
    ///
    /// The data is a tensor on the autodiff backend `B`, like the batches that
    /// [`Objective::loss`] receives; no graph is built from it.
    pub fn fit(&mut self, data: &Tensor<B, 2>) -> Result<&[StepLog], TrainError> {
        let data = data.clone().inner();
        let [n, d] = data.dims();
        if n == 0 {
            return Err(TrainError::EmptyDataset);
        }
        self.objective.check_batch(&self.model, [n.min(1), d])?;
        let batches_per_epoch = n.div_ceil(self.config.batch_size);
        let progress = self.progress_bar(batches_per_epoch);
        let started = (Instant::now(), self.state.step);
        let bs = self.config.batch_size;
        let rows_per_epoch = match self.config.last_batch {
            LastBatch::Fill => batches_per_epoch * bs,
            LastBatch::Keep => n,
        };
        while self.state.epoch < self.config.epochs {
            // The epoch's row order, uploaded once; each batch is a slice of it.
            let order = epoch_order(self.config.seed, n, self.state.epoch);
            let idx: Vec<i64> = (0..rows_per_epoch).map(|i| order[i % n] as i64).collect();
            let idx = Tensor::<Inner<B>, 1, Int>::from_data(
                TensorData::new(idx, [rows_per_epoch]),
                &data.device(),
            );
            for b in self.state.batch_in_epoch..batches_per_epoch {
                let start = b * bs;
                let rows = idx.clone().narrow(0, start, bs.min(rows_per_epoch - start));
                self.batch_step(
                    Tensor::from_inner(data.clone().select(0, rows)),
                    b,
                    &progress,
                    started,
                )?;
            }
            self.end_epoch()?;
        }
        progress.finish_and_clear();
        Ok(&self.history)
    }

    /// Like [`Trainer::fit`], over a Burn data loader (e.g. built with `DataLoaderBuilder` from
    /// an `ebm-data` dataset and its batcher). Each epoch is one pass of `loader.iter()`; after a
    /// resume the batches already done in the current epoch are skipped, which reproduces the
    /// uninterrupted run exactly when the loader yields the same order each time it is iterated.
    pub fn fit_loader(
        &mut self,
        loader: &dyn DataLoader<B, Tensor<B, 2>>,
    ) -> Result<&[StepLog], TrainError> {
        if loader.num_items() == 0 {
            return Err(TrainError::EmptyDataset);
        }
        // The loader's batch size is the first batch's row count: `batch_size` of the config
        // plays no part here.
        let progress = self.progress_bar(0);
        let started = (Instant::now(), self.state.step);
        while self.state.epoch < self.config.epochs {
            for (b, batch) in loader.iter().enumerate().skip(self.state.batch_in_epoch) {
                self.objective.check_batch(&self.model, batch.dims())?;
                if progress.length() == Some(0) {
                    let batches_per_epoch = loader.num_items().div_ceil(batch.dims()[0]);
                    progress.set_length(self.remaining_steps(batches_per_epoch) as u64);
                }
                self.batch_step(batch, b, &progress, started)?;
            }
            self.end_epoch()?;
        }
        progress.finish_and_clear();
        Ok(&self.history)
    }

    /// Steps left in the run, at `batches_per_epoch` steps per epoch.
    fn remaining_steps(&self, batches_per_epoch: usize) -> usize {
        self.config.epochs.saturating_sub(self.state.epoch) * batches_per_epoch
            - self.state.batch_in_epoch.min(batches_per_epoch)
    }

    /// A bar over the steps left (its length set later when `batches_per_epoch` is 0).
    fn progress_bar(&self, batches_per_epoch: usize) -> ProgressBar {
        let remaining = self.remaining_steps(batches_per_epoch);
        let progress = if self.config.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(remaining as u64)
        };
        progress.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} steps {msg} [{elapsed_precise}<{eta_precise}]",
            )
            .expect("valid template"),
        );
        progress
    }

    /// One step on batch `b` of the current epoch, then progress and periodic checkpoints.
    fn batch_step(
        &mut self,
        batch: Tensor<B, 2>,
        b: usize,
        progress: &ProgressBar,
        started: (Instant, usize),
    ) -> Result<(), TrainError> {
        let window = self.window.get_or_insert_with(|| Window {
            model: self.model.clone(),
            ema: self.ema.clone(),
            optimizer: self.optimizer.clone(),
            objective: self.objective.clone(),
            state: self.state.clone(),
            batches: vec![],
            health: None,
        });
        window.batches.push((batch.clone(), b));
        let prepared = self.prepare(batch)?;
        let health = prepared.health();
        let window = self.window.as_mut().expect("opened above");
        window.health = Some(match window.health.take() {
            Some(h) => h + health,
            None => health,
        });
        self.commit(prepared);
        self.state.batch_in_epoch = b + 1;
        let checkpoint_due = self.config.checkpoint_dir.is_some()
            && self
                .config
                .checkpoint_every
                .is_some_and(|every| self.state.step.is_multiple_of(every));
        if self.pending_log.is_some() || checkpoint_due {
            self.verify()?;
        }
        progress.inc(1);
        if let Some(last) = self
            .history
            .last()
            .filter(|l| l.step + 1 == self.state.step)
        {
            let rate =
                (self.state.step - started.1) as f64 / started.0.elapsed().as_secs_f64().max(1e-9);
            let metrics: String = last
                .metrics
                .iter()
                .map(|(name, v)| format!(" {name} {v:.3}"))
                .collect();
            progress.set_message(format!("loss {:.4}{metrics} {rate:.1} steps/s", last.loss));
        }
        if checkpoint_due && let Some(dir) = &self.config.checkpoint_dir {
            self.save_checkpoint(Path::new(dir))?;
        }
        Ok(())
    }

    fn end_epoch(&mut self) -> Result<(), TrainError> {
        self.verify()?;
        if !self.epoch_callbacks.is_empty() {
            let epoch = self.state.epoch;
            let first = self.history.partition_point(|l| l.epoch < epoch);
            let log = EpochLog {
                epoch,
                step: self.state.step,
                logs: &self.history[first..],
            };
            for callback in &mut self.epoch_callbacks {
                callback(&log);
            }
        }
        self.state.epoch += 1;
        self.state.batch_in_epoch = 0;
        Ok(())
    }

    /// The loss and parameter gradients of the next step on `batch`; nothing is updated yet.
    fn prepare(&mut self, batch: Tensor<B, 2>) -> Result<Prepared<B>, TrainError> {
        let output = self.objective.loss(
            &self.model,
            batch.clone(),
            TrainStep::new(self.state.step, self.config.seed),
        )?;
        let grads = output.loss.backward();
        let grads = GradientsParams::from_grads(grads, &self.model);
        let norm = gradient_norm::<B, M>(&self.model, &grads);
        Ok(Prepared {
            output,
            batch,
            grads,
            norm,
        })
    }

    /// Applies a prepared step: clipping, the optimiser update, the EMA, and the step's metrics
    /// if it is a logged step.
    fn commit(&mut self, prepared: Prepared<B>) {
        let Prepared {
            output,
            batch,
            mut grads,
            norm,
        } = prepared;
        let step = self.state.step;
        if let (Some(max), Some(norm)) = (self.config.grad_clip_norm, norm.clone()) {
            clip_to_norm::<B, M>(&self.model, &mut grads, norm, max);
        }
        let lr = self.learning_rate();
        if step.is_multiple_of(self.config.log_every) {
            let mut metrics = output.metrics.clone();
            metrics.extend(self.objective.log_metrics(&self.model, &batch, &output));
            if metrics.get(names::POS_ENERGY).is_none()
                && let Some(e) = self.objective.data_energy(&self.model, &batch)
            {
                metrics.insert(names::POS_ENERGY, e);
            }
            self.pending_log = Some(PendingLog {
                step,
                epoch: self.state.epoch,
                loss: output.loss.detach().inner(),
                grad_norm: norm,
                metrics,
                learning_rate: lr,
            });
        }
        self.model = self.optimizer.step(lr, self.model.clone(), grads);
        if let (Some(decay), Some(ema)) = (self.config.ema_decay, self.ema.take()) {
            self.ema = Some(update_ema(ema, &self.model, decay));
        }
        self.state.step += 1;
    }

    /// Reads the window's finiteness flag. If every step was finite, the window closes and the
    /// pending metrics are logged; if not, the trainer goes back to the start of the window and
    /// replays its steps one at a time, each checked before its update.
    fn verify(&mut self) -> Result<(), TrainError> {
        let Some(window) = self.window.take() else {
            return Ok(());
        };
        if window.health.is_none_or(|h| read(h).is_finite()) {
            self.state.consecutive_skips = 0;
            self.flush_log();
            return Ok(());
        }
        self.model = window.model;
        self.ema = window.ema;
        self.optimizer = window.optimizer;
        self.objective = window.objective;
        self.state = window.state;
        self.pending_log = None;
        for (batch, b) in window.batches {
            self.checked_step(batch)?;
            self.state.batch_in_epoch = b + 1;
            self.flush_log();
        }
        Ok(())
    }

    /// One step whose loss and gradient norm are read before the update.
    fn checked_step(&mut self, batch: Tensor<B, 2>) -> Result<(), TrainError> {
        let step = self.state.step;
        let objective = self.objective.clone();
        let prepared = self.prepare(batch)?;
        let loss = read(prepared.output.loss.clone().detach().inner());
        let norm = prepared.norm.clone().map_or(0.0, read);
        if loss.is_finite() && norm.is_finite() {
            self.commit(prepared);
            self.state.consecutive_skips = 0;
            return Ok(());
        }
        // The bad step leaves no trace: no NaN chains in a replay buffer, for example.
        self.objective = objective;
        let error = if loss.is_finite() {
            TrainError::NonFiniteGradient { step }
        } else {
            let chains = prepared
                .output
                .negatives
                .as_ref()
                .map(ebm_sample::non_finite_chains)
                .unwrap_or_default();
            TrainError::NonFiniteLoss { step, loss, chains }
        };
        match self.config.on_non_finite {
            NonFiniteLoss::Error => Err(error),
            NonFiniteLoss::Skip => {
                self.state.skipped_steps += 1;
                self.state.consecutive_skips += 1;
                self.state.step += 1;
                if self.state.consecutive_skips >= self.config.max_consecutive_skips {
                    return Err(TrainError::TooManySkips {
                        step,
                        consecutive: self.state.consecutive_skips,
                    });
                }
                Ok(())
            }
        }
    }

    /// Reads the pending metrics (the only device reads of a healthy window), records them and
    /// calls the callbacks.
    fn flush_log(&mut self) {
        let Some(pending) = self.pending_log.take() else {
            return;
        };
        let log = StepLog {
            step: pending.step,
            epoch: pending.epoch,
            loss: read(pending.loss),
            grad_norm: pending.grad_norm.map(read).unwrap_or(0.0),
            learning_rate: pending.learning_rate,
            metrics: pending
                .metrics
                .read()
                .into_iter()
                .map(|(name, v)| (name.to_string(), v))
                .collect(),
        };
        for callback in &mut self.callbacks {
            callback(&log);
        }
        self.history.push(log);
    }

    /// Writes a checkpoint: model, optimiser state, EMA, objective state, counters and configs.
    ///
    /// `path` is a directory of versions; the new version is written beside the old ones,
    /// fsynced, and switched to by one atomic rename, after which all but the newest
    /// [`TrainerConfig::checkpoint_keep`] versions are deleted. At every instant — including a
    /// crash or kill in the middle of a save — `path` holds a complete checkpoint that
    /// [`Trainer::load_checkpoint`] restores, once the first save has returned. A `path` that is a
    /// file, or a directory holding anything else, is refused and left untouched.
    pub fn save_checkpoint(&self, path: &Path) -> Result<(), TrainError> {
        checkpoint_store::save_version(path, self.config.checkpoint_keep, |dir| {
            let mut files: Vec<(&str, Vec<u8>)> = vec![
                (
                    checkpoint::MODEL,
                    checkpoint::encode::<B, _>(
                        self.model.clone().into_record(),
                        checkpoint::MODEL,
                    )?,
                ),
                (
                    checkpoint::OPTIMIZER,
                    checkpoint::encode::<B, _>(self.optimizer.to_record(), checkpoint::OPTIMIZER)?,
                ),
            ];
            if let Some(ema) = &self.ema {
                files.push((
                    checkpoint::EMA,
                    checkpoint::encode::<B, _>(ema.clone().into_record(), checkpoint::EMA)?,
                ));
            }
            files.push((
                checkpoint::OBJECTIVE,
                checkpoint::encode::<Inner<B>, _>(
                    self.objective.to_record(),
                    checkpoint::OBJECTIVE,
                )?,
            ));
            let state = self.state.clone();
            let mut digests = std::collections::BTreeMap::new();
            for (name, bytes) in &files {
                checkpoint::write_file(&dir.join(name), bytes)?;
                digests.insert(name.to_string(), checkpoint_store::sha256_hex(bytes));
            }
            let manifest = Manifest {
                format: checkpoint::FORMAT,
                state,
                trainer: serde_json::to_value(&self.config).expect("config serialises"),
                model: ModelSummary::of(&self.model),
                objective: self.objective.describe(),
                files: digests,
            };
            let bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
            checkpoint::write_file(&dir.join(checkpoint::MANIFEST), &bytes)?;
            Ok(bytes)
        })
    }

    /// Restores a checkpoint written by [`Trainer::save_checkpoint`]: the version `LATEST`
    /// names, or the version directory `path` itself (to go back to an older one).
    ///
    /// Everything is verified before the trainer changes: each file's SHA-256 against the
    /// manifest ([`TrainError::CheckpointCorrupt`]), then the model's parameter shapes and
    /// structure, the objective's config and the trainer's config against this run's
    /// ([`TrainError::CheckpointMismatch`], naming the first field that differs). Fields that
    /// only set how long or how visibly the run goes on (`epochs`, `log_every`, the checkpoint
    /// settings, `quiet`) may differ. A failed load leaves the trainer as it was.
    pub fn load_checkpoint(&mut self, path: &Path) -> Result<(), TrainError> {
        let device = self.model.devices().into_iter().next().unwrap_or_default();
        let (dir, digest) = checkpoint_store::current_version(path, checkpoint::MANIFEST)?;
        let manifest = checkpoint::read_manifest(&dir, digest.as_deref())?;
        let mismatch =
            |field: String, saved: String, current: String| TrainError::CheckpointMismatch {
                path: dir.display().to_string(),
                field,
                saved,
                current,
            };
        let model = ModelSummary::of(&self.model);
        if manifest.model.parameter_shapes != model.parameter_shapes {
            return Err(mismatch(
                "model.parameter_shapes".into(),
                format!("{:?}", manifest.model.parameter_shapes),
                format!("{:?}", model.parameter_shapes),
            ));
        }
        if manifest.model.structure != model.structure {
            let (saved, current) =
                checkpoint::first_different_line(&manifest.model.structure, &model.structure);
            return Err(mismatch("model.structure".into(), saved, current));
        }
        if let Some((field, saved, current)) = checkpoint::first_difference(
            &manifest.objective,
            &self.objective.describe(),
            "objective",
            &[],
        ) {
            return Err(mismatch(field, saved, current));
        }
        let trainer = serde_json::to_value(&self.config).expect("config serialises");
        if let Some((field, saved, current)) = checkpoint::first_difference(
            &manifest.trainer,
            &trainer,
            "trainer",
            &checkpoint::RESUMABLE_FIELDS,
        ) {
            return Err(mismatch(field, saved, current));
        }
        let mut wanted = vec![
            checkpoint::MODEL,
            checkpoint::OPTIMIZER,
            checkpoint::OBJECTIVE,
        ];
        if self.ema.is_some() {
            wanted.push(checkpoint::EMA);
        }
        let mut files = checkpoint::read_files(&dir, &manifest, &wanted)?;
        let mut take = |name: &str| files.remove(name).expect("read_files checked the names");
        let model = checkpoint::decode_module::<B, M>(
            &self.model,
            take(checkpoint::MODEL),
            &dir.join(checkpoint::MODEL),
            &device,
        )?;
        let record = checkpoint::decode::<B, O::Record>(
            take(checkpoint::OPTIMIZER),
            &dir.join(checkpoint::OPTIMIZER),
            &device,
        )?;
        let ema = match &self.ema {
            Some(template) => Some(checkpoint::decode_module::<B, M>(
                template,
                take(checkpoint::EMA),
                &dir.join(checkpoint::EMA),
                &device,
            )?),
            None => None,
        };
        let objective = checkpoint::decode::<Inner<B>, L::Record>(
            take(checkpoint::OBJECTIVE),
            &dir.join(checkpoint::OBJECTIVE),
            &device,
        )?;
        self.model = model;
        self.optimizer = self.optimizer.clone().load_record(record);
        self.ema = ema;
        self.objective.load_record(objective);
        self.state = manifest.state;
        self.window = None;
        self.pending_log = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Value stability: the data order of a seed is part of what a run reproduces.
    #[test]
    fn the_data_order_of_a_seed_is_pinned() {
        assert_eq!(epoch_order(5, 10, 0), [1, 9, 8, 4, 2, 0, 6, 7, 5, 3]);
        assert_eq!(epoch_order(5, 10, 1), [1, 2, 9, 5, 7, 8, 6, 0, 4, 3]);
    }
}
