//! Reading and writing model files: JSON configs, safetensors weights, and whole folders
//! written into a temporary sibling that is renamed into place (a killed process leaves the
//! old folder or the new one). Errors name the file at fault.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::files::sibling;

/// A model file that cannot be read or written, or holds what kibble must not trust.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    /// A tokenizer that cannot be loaded or built (its message names the file when there is one).
    #[error("{0}")]
    Tokenizer(String),
}

pub fn file_err(path: &Path, message: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::File {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), CheckpointError> {
    let json = serde_json::to_string_pretty(value).map_err(|e| file_err(path, e))?;
    std::fs::write(path, json).map_err(|e| file_err(path, e))
}

/// Fills a temporary sibling folder with `write`, syncs every file in it, then renames it to
/// `dir`: a killed process leaves the old folder or the new one, never half of one.
pub fn write_folder_atomically(
    dir: &Path,
    write: impl FnOnce(&Path) -> Result<(), CheckpointError>,
) -> Result<(), CheckpointError> {
    let tmp = sibling(dir, &format!(".tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| file_err(&tmp, e))?;
    let written = write(&tmp).and_then(|_| {
        for entry in std::fs::read_dir(&tmp).map_err(|e| file_err(&tmp, e))? {
            let p = entry.map_err(|e| file_err(&tmp, e))?.path();
            std::fs::File::open(&p)
                .and_then(|f| f.sync_all())
                .map_err(|e| file_err(&p, e))?;
        }
        Ok(())
    });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    // Replace: move the old folder aside first, so there is always one complete checkpoint.
    let old = sibling(dir, ".old");
    if dir.exists() {
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(dir, &old).map_err(|e| file_err(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| file_err(dir, e))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, CheckpointError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| file_err(path, format!("cannot read: {e}")))?;
    serde_json::from_str(&text).map_err(|e| file_err(path, format!("malformed JSON: {e}")))
}

pub fn read_weights(
    path: &Path,
    device: &Device,
) -> Result<BTreeMap<String, Tensor>, CheckpointError> {
    if !path.exists() {
        return Err(file_err(path, "missing"));
    }
    let map = candle_core::safetensors::load(path, device)
        .map_err(|e| file_err(path, format!("not a valid safetensors file: {e}")))?;
    Ok(map.into_iter().collect())
}
