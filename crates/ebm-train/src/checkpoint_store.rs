//! A checkpoint directory that always holds a complete checkpoint: versions written beside each
//! other and switched to by one atomic rename.
//!
//! Layout of the directory the user names:
//!
//! ```text
//! run/
//!   LATEST              "v0000000007 <SHA-256 of v0000000007/manifest.json>"
//!   v0000000006/        the previous version (the last `keep` are kept)
//!   v0000000007/        manifest.json and the files it lists
//! ```
//!
//! A save writes a new version into a uniquely named temporary directory, fsyncs its files and
//! the directory, renames it to the next free `vNNNNNNNNNN` name, and then replaces `LATEST` by
//! writing a uniquely named temporary file, fsyncing it and renaming it over `LATEST` (fsyncing
//! the directory after each rename). `LATEST` names a complete, durable version at every instant:
//! before its rename it names the previous version, after it the new one. Older versions are
//! deleted only after the switch.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::TrainError;
use crate::checkpoint::{damaged, error, refused};

/// The file naming the current version.
pub(crate) const LATEST: &str = "LATEST";
/// Prefix of temporary entries, followed by the writer's process id.
const TMP_PREFIX: &str = ".tmp-";
/// Distinguishes the temporary names of one process's concurrent writers.
static WRITER: AtomicU64 = AtomicU64::new(0);

/// SHA-256 of `bytes`, as lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn version_name(generation: u64) -> String {
    format!("v{generation:010}")
}

fn parse_version(name: &str) -> Option<u64> {
    let digits = name.strip_prefix('v')?;
    (digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The versions under `root`, oldest first.
fn versions(root: &Path) -> Result<Vec<u64>, TrainError> {
    let mut found = vec![];
    for entry in fs::read_dir(root).map_err(|e| error(root, e))? {
        let entry = entry.map_err(|e| error(root, e))?;
        if let Some(g) = entry.file_name().to_str().and_then(parse_version) {
            found.push(g);
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// Flushes a directory's entries (new names, renames) to disk.
fn sync_dir(dir: &Path) -> Result<(), TrainError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| error(dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes `bytes` to `file` and fsyncs it.
fn write_durably(file: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let mut f = File::create(file).map_err(|e| error(file, e))?;
    f.write_all(bytes).map_err(|e| error(file, e))?;
    f.sync_all().map_err(|e| error(file, e))
}

/// Fsyncs every file in `dir`, then `dir` itself.
fn sync_tree(dir: &Path) -> Result<(), TrainError> {
    for entry in fs::read_dir(dir).map_err(|e| error(dir, e))? {
        let path = entry.map_err(|e| error(dir, e))?.path();
        File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| error(&path, e))?;
    }
    sync_dir(dir)
}

/// A pause at the named point of the switch, set by `EBM_CHECKPOINT_FAULT_DELAY_MS`, so that the
/// crash test can kill a writer inside it.
#[cfg(feature = "fault-injection")]
fn fault_point() {
    if let Some(ms) = std::env::var("EBM_CHECKPOINT_FAULT_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

#[cfg(not(feature = "fault-injection"))]
fn fault_point() {}

/// Checks that `root` is a checkpoint directory, or can become one, without touching anything
/// that is not ours; removes the temporary entries of writers that no longer run (a crash
/// mid-save).
fn prepare_root(root: &Path) -> Result<(), TrainError> {
    match fs::metadata(root) {
        Ok(m) if !m.is_dir() => {
            return Err(refused(
                root,
                "exists and is not a directory; a checkpoint is a directory",
            ));
        }
        Ok(_) => {
            for entry in fs::read_dir(root).map_err(|e| error(root, e))? {
                let entry = entry.map_err(|e| error(root, e))?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if let Some(rest) = name.strip_prefix(TMP_PREFIX) {
                    if !writer_alive(rest) {
                        let path = entry.path();
                        let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
                    }
                } else if name != LATEST && parse_version(&name).is_none() {
                    return Err(refused(
                        root,
                        format!(
                            "holds `{name}`, which is not part of a checkpoint; refusing to write into it"
                        ),
                    ));
                }
            }
        }
        Err(_) => {
            fs::create_dir_all(root).map_err(|e| error(root, e))?;
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
    }
    Ok(())
}

/// Whether the writer of the temporary entry `<pid>-<n>` may still run (always, where `/proc`
/// cannot tell).
fn writer_alive(temporary: &str) -> bool {
    let pid = temporary.split('-').next().unwrap_or_default();
    pid == std::process::id().to_string()
        || !Path::new("/proc").is_dir()
        || Path::new("/proc").join(pid).exists()
}

fn temporary_name() -> String {
    format!(
        "{TMP_PREFIX}{}-{}",
        std::process::id(),
        WRITER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes a new version of the checkpoint at `root` and switches `LATEST` to it, keeping the
/// newest `keep` versions. `fill` writes the version's files, manifest last, into the directory
/// it is given (plain writes: every file is fsynced here before the switch); it returns the
/// manifest's bytes.
pub(crate) fn save_version(
    root: &Path,
    keep: usize,
    fill: impl FnOnce(&Path) -> Result<Vec<u8>, TrainError>,
) -> Result<(), TrainError> {
    prepare_root(root)?;
    let tmp = root.join(temporary_name());
    fs::create_dir(&tmp).map_err(|e| error(&tmp, e))?;
    let written = fill(&tmp).and_then(|manifest| sync_tree(&tmp).map(|()| manifest));
    let manifest = match written {
        Ok(m) => m,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    // Rename onto the next free version; another writer may take a number first.
    let mut generation = versions(root)?.last().map_or(1, |g| g + 1);
    let name = loop {
        let name = version_name(generation);
        match fs::rename(&tmp, root.join(&name)) {
            Ok(()) => break name,
            Err(_) if root.join(&name).exists() => generation += 1,
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(error(root, e));
            }
        }
    };
    sync_dir(root)?;
    fault_point();
    let pointer = root.join(temporary_name());
    write_durably(
        &pointer,
        format!("{name} {}\n", sha256_hex(&manifest)).as_bytes(),
    )?;
    fault_point();
    fs::rename(&pointer, root.join(LATEST)).map_err(|e| error(root, e))?;
    sync_dir(root)?;
    fault_point();
    let all = versions(root)?;
    for &old in all.iter().rev().skip(keep.max(1)) {
        if old < generation {
            let _ = fs::remove_dir_all(root.join(version_name(old)));
        }
    }
    Ok(())
}

/// The version directory `LATEST` names under `root`, and the SHA-256 its manifest must have.
/// A directory that is itself a version (it holds `manifest.json`) is returned as is, with no
/// expected digest, so that an older version can be loaded by its path.
pub(crate) fn current_version(
    root: &Path,
    manifest: &str,
) -> Result<(PathBuf, Option<String>), TrainError> {
    if root.join(manifest).is_file() {
        return Ok((root.to_path_buf(), None));
    }
    let latest = root.join(LATEST);
    let text = fs::read(&latest).map_err(|e| {
        if root.is_dir() {
            error(&latest, e)
        } else {
            refused(root, "no checkpoint here")
        }
    })?;
    let corrupt = || damaged(&latest, "expected `vNNNNNNNNNN <sha-256>`");
    let text = std::str::from_utf8(&text).map_err(|_| corrupt())?;
    let mut parts = text.trim_end_matches('\n').split(' ');
    let (Some(name), Some(digest), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(corrupt());
    };
    if parse_version(name).is_none()
        || digest.len() != 64
        || !digest.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(corrupt());
    }
    Ok((root.join(name), Some(digest.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_round_trip_and_reject_others() {
        assert_eq!(parse_version(&version_name(7)), Some(7));
        assert_eq!(parse_version("v123"), None);
        assert_eq!(parse_version("vabcdefghij"), None);
        assert_eq!(parse_version("LATEST"), None);
    }

    #[test]
    fn sha256_matches_a_known_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
