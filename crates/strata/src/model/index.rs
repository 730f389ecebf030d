//! The index of a sharded model: `model.safetensors.index.json`.
//!
//! Its form, as Hugging Face writes it:
//! `{"metadata": {"total_size": N}, "weight_map": {"tensor name": "shard file name", ...}}`.
//! Only `weight_map` is read; shard file names are relative to the index's directory.

use super::ModelError;
use super::json::Entries;
use super::shard::io_error;
use serde::Deserialize;
use std::collections::{BTreeSet, HashSet};
use std::io::Read;
use std::path::{Component, Path};

/// The file name of a sharded model's index.
pub const INDEX_FILE_NAME: &str = "model.safetensors.index.json";

/// The largest index file accepted, in bytes (real ones are well under a megabyte).
pub const MAX_INDEX_LEN: u64 = 100_000_000;

/// The parsed, checked index of a sharded model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelIndex {
    /// Each tensor's name and the file name of the shard that holds it, in the index's order.
    /// Names are unique, and every shard name is a relative path with no `..`.
    pub weight_map: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct RawIndex {
    weight_map: Entries<String>,
}

impl ModelIndex {
    /// Reads and checks the index file at `path`.
    ///
    /// # Errors
    /// [`ModelError::MissingFile`], [`ModelError::Io`], and the errors of [`ModelIndex::parse`].
    pub fn read(path: &Path) -> Result<ModelIndex, ModelError> {
        let file = std::fs::File::open(path).map_err(|error| io_error(path, error))?;
        let mut bytes = Vec::new();
        // Read one byte past the limit to tell "at the limit" from "over it".
        file.take(MAX_INDEX_LEN + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| io_error(path, error))?;
        if bytes.len() as u64 > MAX_INDEX_LEN {
            return Err(ModelError::InvalidIndex {
                file: path.to_path_buf(),
                reason: format!("larger than {MAX_INDEX_LEN} bytes"),
            });
        }
        ModelIndex::parse(path, &bytes)
    }

    /// Parses and checks an index whose content is `bytes`. `file` only names it in errors.
    /// Never panics, whatever the bytes.
    ///
    /// # Errors
    /// [`ModelError::InvalidIndex`] for invalid JSON, a missing or malformed `weight_map`, a
    /// tensor listed twice, or a shard name that is empty, absolute or contains `..`.
    pub fn parse(file: &Path, bytes: &[u8]) -> Result<ModelIndex, ModelError> {
        let invalid = |reason: String| ModelError::InvalidIndex {
            file: file.to_path_buf(),
            reason,
        };
        let raw: RawIndex =
            serde_json::from_slice(bytes).map_err(|error| invalid(error.to_string()))?;
        let Entries(weight_map) = raw.weight_map;

        let mut seen = HashSet::with_capacity(weight_map.len());
        for (tensor, shard) in &weight_map {
            if !seen.insert(tensor.as_str()) {
                return Err(invalid(format!("tensor `{tensor}` is listed twice")));
            }
            let inside = Path::new(shard)
                .components()
                .all(|part| matches!(part, Component::Normal(_)));
            if shard.is_empty() || !inside {
                return Err(invalid(format!(
                    "tensor `{tensor}`: shard `{shard}` is not a relative path inside the index's directory"
                )));
            }
        }
        Ok(ModelIndex { weight_map })
    }

    /// The distinct shard file names, sorted (so `model-00001-of-00003.safetensors` comes first).
    pub fn shard_files(&self) -> Vec<&str> {
        let names: BTreeSet<&str> = self.weight_map.iter().map(|(_, s)| s.as_str()).collect();
        names.into_iter().collect()
    }
}
