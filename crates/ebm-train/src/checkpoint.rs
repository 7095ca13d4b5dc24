//! What a checkpoint holds, and the checks that decide whether it may be loaded.
//!
//! A version directory (see `checkpoint_store.rs` for how versions are switched atomically)
//! holds `model.bin`, `optimizer.bin` and `ema.bin` (if any) from Burn's full-precision binary
//! recorder, `objective.bin` (the objective's record, from the same recorder), and
//! `manifest.json`: the SHA-256 of each of those files, the trainer's counters, the trainer's
//! config, the model's structure and parameter shapes, and the objective's config. Loading
//! verifies every digest before it decodes a byte, and compares the configs before it touches
//! the trainer.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{AutodiffModule, Module, ModuleDisplay, ModuleVisitor, Param};
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::TrainError;
use crate::checkpoint_store::sha256_hex;
use crate::error::ErrorSource;

/// Version of the checkpoint layout.
pub(crate) const FORMAT: u32 = 3;
/// The manifest's file name inside a version directory.
pub(crate) const MANIFEST: &str = "manifest.json";
pub(crate) const MODEL: &str = "model.bin";
pub(crate) const OPTIMIZER: &str = "optimizer.bin";
pub(crate) const EMA: &str = "ema.bin";
pub(crate) const OBJECTIVE: &str = "objective.bin";

/// Trainer config fields that may differ on resume: they set how long and how visibly the run
/// goes on, not what it computes.
pub(crate) const RESUMABLE_FIELDS: [&str; 6] = [
    "epochs",
    "log_every",
    "checkpoint_every",
    "checkpoint_dir",
    "checkpoint_keep",
    "quiet",
];

/// The trainer's counters, saved in the checkpoint's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    pub consecutive_skips: usize,
}

/// The model's identity: what a checkpoint must match before its parameters are decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelSummary {
    /// Shapes of the float parameters, in visiting order.
    pub parameter_shapes: Vec<Vec<usize>>,
    /// Burn's display of the module: its layers, their sizes and its non-parameter fields
    /// (activation, input size).
    pub structure: String,
}

impl ModelSummary {
    pub(crate) fn of<B: Backend, M: Module<B> + ModuleDisplay>(model: &M) -> Self {
        Self {
            parameter_shapes: shapes(model),
            structure: model.format(Default::default()),
        }
    }
}

/// Everything about a checkpoint except the bulk of its tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    pub format: u32,
    pub state: TrainerState,
    pub trainer: Value,
    pub model: ModelSummary,
    pub objective: Value,
    /// SHA-256 of each file of the version, by name.
    pub files: BTreeMap<String, String>,
}

pub(crate) fn recorder() -> BinBytesRecorder<FullPrecisionSettings> {
    BinBytesRecorder::<FullPrecisionSettings>::default()
}

/// An error a checkpoint failure keeps as its source (an I/O, serde or recorder error).
pub(crate) trait Cause: std::error::Error + Send + Sync + 'static {}
impl<E: std::error::Error + Send + Sync + 'static> Cause for E {}

/// A checkpoint error at `path`: `reason`, the error that caused it if any, and whether it is
/// damage ([`TrainError::CheckpointCorrupt`]) rather than a failure to read or write.
fn at(path: &Path, reason: String, source: Option<ErrorSource>, damage: bool) -> TrainError {
    let path = path.display().to_string();
    if damage {
        TrainError::CheckpointCorrupt {
            path,
            reason,
            source,
        }
    } else {
        TrainError::Checkpoint {
            path,
            reason,
            source,
        }
    }
}

/// [`TrainError::Checkpoint`] caused by `source`.
pub(crate) fn error(path: &Path, source: impl Cause) -> TrainError {
    at(path, source.to_string(), Some(Box::new(source)), false)
}

/// [`TrainError::Checkpoint`] found by a check of ours.
pub(crate) fn refused(path: &Path, reason: impl std::fmt::Display) -> TrainError {
    at(path, reason.to_string(), None, false)
}

/// [`TrainError::CheckpointCorrupt`] revealed by `source`.
pub(crate) fn corrupt(path: &Path, source: impl Cause) -> TrainError {
    at(path, source.to_string(), Some(Box::new(source)), true)
}

/// [`TrainError::CheckpointCorrupt`] found by a check of ours.
pub(crate) fn damaged(path: &Path, reason: impl std::fmt::Display) -> TrainError {
    at(path, reason.to_string(), None, true)
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

/// Writes one file of a version (the store fsyncs the version before switching to it).
pub(crate) fn write_file(file: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    std::fs::write(file, bytes).map_err(|e| error(file, e))
}

/// Encodes a record with the binary recorder.
pub(crate) fn encode<B: Backend, R: burn::record::Record<B>>(
    record: R,
    name: &str,
) -> Result<Vec<u8>, TrainError> {
    Recorder::<B>::record(&recorder(), record, ()).map_err(|e| error(Path::new(name), e))
}

/// Decodes a record whose digest was verified.
pub(crate) fn decode<B: Backend, R: burn::record::Record<B>>(
    bytes: Vec<u8>,
    file: &Path,
    device: &B::Device,
) -> Result<R, TrainError> {
    Recorder::<B>::load(&recorder(), bytes, device).map_err(|e| corrupt(file, e))
}

/// Decodes a module record into a copy of `template`.
pub(crate) fn decode_module<B: AutodiffBackend, M: AutodiffModule<B>>(
    template: &M,
    bytes: Vec<u8>,
    file: &Path,
    device: &B::Device,
) -> Result<M, TrainError> {
    let record = decode::<B, M::Record>(bytes, file, device)?;
    let loaded = template.clone().load_record(record);
    if shapes(&loaded) != shapes(template) {
        return Err(damaged(file, "parameter shapes differ from the manifest's"));
    }
    Ok(loaded)
}

/// Reads a version's manifest, checks its digest (when `LATEST` gave one) and its format.
pub(crate) fn read_manifest(
    dir: &Path,
    expected_digest: Option<&str>,
) -> Result<Manifest, TrainError> {
    let file = dir.join(MANIFEST);
    let bytes = std::fs::read(&file).map_err(|e| corrupt(&file, e))?;
    if let Some(want) = expected_digest
        && sha256_hex(&bytes) != want
    {
        return Err(damaged(
            &file,
            "its SHA-256 differs from the one LATEST records",
        ));
    }
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| corrupt(&file, e))?;
    if manifest.format != FORMAT {
        return Err(damaged(
            &file,
            format!(
                "layout version {}, this build reads {FORMAT}",
                manifest.format
            ),
        ));
    }
    Ok(manifest)
}

/// Reads the files the manifest lists, each checked against its digest; `wanted` says which
/// must be there, and no other may be.
pub(crate) fn read_files(
    dir: &Path,
    manifest: &Manifest,
    wanted: &[&str],
) -> Result<BTreeMap<String, Vec<u8>>, TrainError> {
    let listed: Vec<&str> = manifest.files.keys().map(String::as_str).collect();
    let mut wanted_sorted = wanted.to_vec();
    wanted_sorted.sort_unstable();
    if listed != wanted_sorted {
        return Err(damaged(
            &dir.join(MANIFEST),
            format!("lists files {listed:?}, expected {wanted_sorted:?}"),
        ));
    }
    let mut out = BTreeMap::new();
    for (name, digest) in &manifest.files {
        let file = dir.join(name);
        let bytes = std::fs::read(&file).map_err(|e| corrupt(&file, e))?;
        if &sha256_hex(&bytes) != digest {
            return Err(damaged(&file, "its SHA-256 differs from the manifest's"));
        }
        out.insert(name.clone(), bytes);
    }
    Ok(out)
}

/// The first place where `saved` and `current` differ, as a dotted path with both values.
pub(crate) fn first_difference(
    saved: &Value,
    current: &Value,
    path: &str,
    ignore: &[&str],
) -> Option<(String, String, String)> {
    match (saved, current) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort_unstable();
            keys.dedup();
            keys.into_iter()
                .filter(|k| !ignore.contains(&k.as_str()))
                .find_map(|k| {
                    let null = Value::Null;
                    first_difference(
                        a.get(k).unwrap_or(&null),
                        b.get(k).unwrap_or(&null),
                        &format!("{path}.{k}"),
                        &[],
                    )
                })
        }
        (a, b) if a == b => None,
        (a, b) => Some((path.to_string(), a.to_string(), b.to_string())),
    }
}

/// The first line where two module displays differ, for a mismatch message.
pub(crate) fn first_different_line(saved: &str, current: &str) -> (String, String) {
    let mut a = saved.lines().map(str::trim);
    let mut b = current.lines().map(str::trim);
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (x, y) => {
                return (
                    x.unwrap_or("(end)").to_string(),
                    y.unwrap_or("(end)").to_string(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_difference_is_named_by_its_path() {
        let saved = json!({"a": 1, "b": {"c": [1, 2], "d": "x"}, "epochs": 3});
        let current = json!({"a": 1, "b": {"c": [1, 2], "d": "y"}, "epochs": 9});
        assert_eq!(
            first_difference(&saved, &current, "trainer", &["epochs"]),
            Some(("trainer.b.d".into(), "\"x\"".into(), "\"y\"".into()))
        );
        assert_eq!(first_difference(&saved, &saved, "trainer", &[]), None);
        // A key only one side has differs from null.
        let extra = json!({"a": 1, "b": {"c": [1, 2], "d": "x"}, "epochs": 3, "z": 0});
        assert_eq!(
            first_difference(&saved, &extra, "t", &[]).map(|d| d.0),
            Some("t.z".into())
        );
    }
}
