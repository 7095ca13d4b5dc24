//! Atomic checkpoints: model, optimiser state, EMA, objective state (replay buffer) and the
//! trainer's counters, written to a temporary directory and then renamed into place.
//!
//! Layout of a checkpoint directory: `model.bin`, `optimizer.bin`, `ema.bin` (if any) through
//! Burn's full-precision binary recorder; `objective.bin` (raw little-endian f32) with its shape in
//! `state.json`; and `state.json` with the step, epoch, position in the epoch and the config.

use std::path::{Path, PathBuf};

use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// The trainer's counters, saved in `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimiser steps taken.
    pub step: usize,
    /// Epochs completed.
    pub epoch: usize,
    /// Batches of the current epoch already done.
    pub batch_in_epoch: usize,
    /// Steps skipped because of a non-finite loss or gradient.
    pub skipped_steps: usize,
    /// Skipped steps in a row, up to the last step.
    #[serde(default)]
    pub consecutive_skips: usize,
    /// Shape of the objective state in `objective.bin`, if any.
    pub objective_state_shape: Option<[usize; 2]>,
    /// Config of the run that wrote the checkpoint.
    pub config: serde_json::Value,
}

pub(crate) fn recorder() -> BinFileRecorder<FullPrecisionSettings> {
    BinFileRecorder::<FullPrecisionSettings>::new()
}

pub(crate) fn error(path: &Path, reason: impl std::fmt::Display) -> TrainError {
    TrainError::Checkpoint {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// The shapes of a module's float parameters, in visiting order.
struct Shapes(Vec<Vec<usize>>);

impl<B: Backend> ModuleVisitor<B> for Shapes {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.0.push(param.val().dims().to_vec());
    }
}

pub(crate) fn shapes<B: Backend, M: Module<B>>(module: &M) -> Vec<Vec<usize>> {
    let mut s = Shapes(vec![]);
    module.visit(&mut s);
    s.0
}

/// Loads `file` into a copy of `template`, checking that every parameter keeps its shape (a
/// record from another architecture is an error, and `template` is left untouched).
pub(crate) fn load_module<B: AutodiffBackend, M: AutodiffModule<B>>(
    template: &M,
    file: &Path,
    device: &B::Device,
) -> Result<M, TrainError> {
    let loaded = template
        .clone()
        .load_file(file.to_path_buf(), &recorder(), device)
        .map_err(|e| error(file, e))?;
    let (want, got) = (shapes(template), shapes(&loaded));
    if want != got {
        return Err(error(
            file,
            format!("parameter shapes {got:?} do not match the model's {want:?}"),
        ));
    }
    Ok(loaded)
}

pub(crate) fn write_tensor<Bk: Backend>(
    file: &Path,
    tensor: &Tensor<Bk, 2>,
) -> Result<[usize; 2], TrainError> {
    let values: Vec<f32> = tensor
        .clone()
        .into_data()
        .convert::<f32>()
        .to_vec()
        .map_err(|e| error(file, format!("{e:?}")))?;
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(file, bytes).map_err(|e| error(file, e))?;
    Ok(tensor.dims())
}

pub(crate) fn read_tensor<Bk: Backend>(
    file: &Path,
    shape: [usize; 2],
    device: &Bk::Device,
) -> Result<Tensor<Bk, 2>, TrainError> {
    let bytes = std::fs::read(file).map_err(|e| error(file, e))?;
    if bytes.len() != shape[0] * shape[1] * 4 {
        return Err(error(
            file,
            format!(
                "{} bytes, expected {} for shape {shape:?}",
                bytes.len(),
                shape[0] * shape[1] * 4
            ),
        ));
    }
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Tensor::from_data(TensorData::new(values, shape), device))
}

/// Writes a checkpoint atomically: `fill` writes the files into a fresh temporary directory
/// beside `path`, which then replaces `path` by renames. A crash leaves either the old
/// checkpoint or the new one, never a mixture.
pub(crate) fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&Path) -> Result<(), TrainError>,
) -> Result<(), TrainError> {
    let name = path
        .file_name()
        .ok_or_else(|| error(path, "a checkpoint path needs a final component"))?;
    let parent = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&parent).map_err(|e| error(path, e))?;
    let tmp = parent.join(format!(".{}.tmp", name.to_string_lossy()));
    let old = parent.join(format!(".{}.old", name.to_string_lossy()));
    for stale in [&tmp, &old] {
        if stale.exists() {
            std::fs::remove_dir_all(stale).map_err(|e| error(stale, e))?;
        }
    }
    std::fs::create_dir_all(&tmp).map_err(|e| error(&tmp, e))?;
    fill(&tmp)?;
    if path.exists() {
        std::fs::rename(path, &old).map_err(|e| error(path, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| error(path, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| error(&old, e))?;
    }
    Ok(())
}

/// Saves a record with the binary recorder.
pub(crate) fn save_record<B: Backend, R: burn::record::Record<B>>(
    record: R,
    file: &Path,
) -> Result<(), TrainError> {
    Recorder::<B>::record(&recorder(), record, file.to_path_buf()).map_err(|e| error(file, e))
}

/// Loads a record with the binary recorder.
pub(crate) fn load_record<B: Backend, R: burn::record::Record<B>>(
    file: &Path,
    device: &B::Device,
) -> Result<R, TrainError> {
    Recorder::<B>::load(&recorder(), file.to_path_buf(), device).map_err(|e| error(file, e))
}
