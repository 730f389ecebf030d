//! An opened model: one safetensors file, or the shards of a sharded model, memory-mapped.

use super::index::{INDEX_FILE_NAME, ModelIndex};
use super::shard::{Shard, io_error};
use super::{ModelError, TensorInfo};
use crate::plan::TensorSpec;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The file name of a single-file model in a model directory.
pub const SINGLE_FILE_NAME: &str = "model.safetensors";

/// A model's tensors, read from safetensors files that stay memory-mapped while it lives.
///
/// Opening checks every header completely (see [`ModelError`]); the tensors' bytes are not read
/// until [`Model::tensor_data`] is used, and then come straight from the map, uncopied.
/// The files must not be modified or truncated while the model is open
/// (see [`strata_vk::file_map`]).
#[derive(Debug)]
pub struct Model {
    path: PathBuf,
    shards: Vec<Shard>,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
    total_bytes: u64,
}

impl Model {
    /// Opens a model from `path`, which is one of:
    /// - a safetensors file;
    /// - a sharded model's index (a path ending in `.json`, usually
    ///   `model.safetensors.index.json`), whose shards lie in the same directory;
    /// - a directory holding `model.safetensors` or `model.safetensors.index.json` (the single
    ///   file wins when both are there, as in Hugging Face `transformers`).
    ///
    /// Every shard's header is checked in full, and a sharded model must agree with its index:
    /// every listed tensor is in the shard the index names, and every shard's tensor is listed.
    ///
    /// # Errors
    /// A [`ModelError`] naming the file, and the tensor where one is at fault.
    pub fn open(path: impl AsRef<Path>) -> Result<Model, ModelError> {
        let path = path.as_ref();
        let metadata = std::fs::metadata(path).map_err(|error| io_error(path, error))?;
        if metadata.is_dir() {
            let single = path.join(SINGLE_FILE_NAME);
            if single.exists() {
                return Model::open_single(&single);
            }
            let index = path.join(INDEX_FILE_NAME);
            if index.exists() {
                return Model::open_sharded(&index);
            }
            return Err(ModelError::NoModelInDirectory {
                dir: path.to_path_buf(),
            });
        }
        if path.extension().is_some_and(|ext| ext == "json") {
            Model::open_sharded(path)
        } else {
            Model::open_single(path)
        }
    }

    fn open_single(path: &Path) -> Result<Model, ModelError> {
        Model::from_shards(path, vec![Shard::open(path)?])
    }

    fn open_sharded(index_path: &Path) -> Result<Model, ModelError> {
        let index = ModelIndex::read(index_path)?;
        let dir = index_path.parent().unwrap_or(Path::new(""));
        let shard_files = index.shard_files();

        let mut shards = Vec::with_capacity(shard_files.len());
        for &name in &shard_files {
            let shard_path = dir.join(name);
            match Shard::open(&shard_path) {
                Ok(shard) => shards.push(shard),
                Err(ModelError::MissingFile { .. }) => {
                    let tensor = index.weight_map.iter().find(|(_, shard)| shard == name);
                    return Err(ModelError::MissingShard {
                        index: index_path.to_path_buf(),
                        shard: shard_path,
                        tensor: tensor.map(|(t, _)| t.clone()).unwrap_or_default(),
                    });
                }
                Err(error) => return Err(error),
            }
        }
        let model = Model::from_shards(index_path, shards)?;

        let shard_of: HashMap<&str, usize> = shard_files
            .iter()
            .enumerate()
            .map(|(i, &name)| (name, i))
            .collect();
        for (tensor, shard_name) in &index.weight_map {
            let expected = shard_of.get(shard_name.as_str()).copied();
            if model.tensor(tensor).map(|info| info.shard) != expected {
                return Err(ModelError::TensorNotInShard {
                    index: index_path.to_path_buf(),
                    shard: dir.join(shard_name),
                    tensor: tensor.clone(),
                });
            }
        }
        let listed: HashSet<&str> = index.weight_map.iter().map(|(t, _)| t.as_str()).collect();
        if let Some(extra) = model
            .tensors
            .iter()
            .find(|t| !listed.contains(t.name.as_str()))
        {
            return Err(ModelError::TensorNotInIndex {
                index: index_path.to_path_buf(),
                shard: model.shard_path(extra.shard),
                tensor: extra.name.clone(),
            });
        }
        Ok(model)
    }

    /// Gathers the shards' tensors in file order, refusing a name defined twice.
    fn from_shards(path: &Path, mut shards: Vec<Shard>) -> Result<Model, ModelError> {
        for (index, shard) in shards.iter_mut().enumerate() {
            shard.set_index(index);
        }
        let mut tensors: Vec<TensorInfo> = Vec::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut total_bytes = 0u64;
        for shard in &shards {
            for tensor in &shard.header().tensors {
                if let Some(first) = by_name.get(&tensor.name).and_then(|&i| tensors.get(i)) {
                    let first_path = shards.get(first.shard).map(Shard::path);
                    return Err(ModelError::DuplicateTensor {
                        tensor: tensor.name.clone(),
                        first: first_path.unwrap_or(shard.path()).to_path_buf(),
                        second: shard.path().to_path_buf(),
                    });
                }
                by_name.insert(tensor.name.clone(), tensors.len());
                total_bytes = total_bytes.saturating_add(tensor.bytes);
                tensors.push(tensor.clone());
            }
        }
        Ok(Model {
            path: path.to_path_buf(),
            shards,
            tensors,
            by_name,
            total_bytes,
        })
    }

    /// The path the model was opened from (a directory's model file or index, resolved).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The model's shard files: one for a single-file model, in shard-name order otherwise.
    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// The path of shard `index`, or an empty path when there is no such shard.
    fn shard_path(&self, index: usize) -> PathBuf {
        self.shards
            .get(index)
            .map(|shard| shard.path().to_path_buf())
            .unwrap_or_default()
    }

    /// Every tensor, in file order: by shard, then by offset within the shard.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor named `name`, if the model has it.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name.get(name).and_then(|&i| self.tensors.get(i))
    }

    /// The bytes of a tensor of this model, as a slice of the file's map (no copy).
    ///
    /// `None` when `info` is not one of this model's tensors (one from another model, or
    /// altered): a [`TensorInfo`] is plain data, so this is checked, not assumed.
    pub fn tensor_data(&self, info: &TensorInfo) -> Option<&[u8]> {
        let own = self.tensor(&info.name).filter(|own| *own == info)?;
        self.shards.get(own.shard)?.data(own)
    }

    /// The sum of all tensors' sizes in bytes (headers excluded).
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// The tensors as the planner takes them, in file order.
    pub fn to_specs(&self) -> Vec<TensorSpec> {
        self.tensors
            .iter()
            .map(|tensor| TensorSpec {
                name: tensor.name.clone(),
                dtype: tensor.dtype.name().to_string(),
                shape: tensor.shape.clone(),
                bytes: tensor.bytes,
            })
            .collect()
    }
}
