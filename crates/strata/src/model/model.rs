//! An opened model, memory-mapped: one safetensors file or the shards of a sharded model; one
//! GGUF file or the parts of a split GGUF model.

use super::gguf::{GGUF_MAGIC, GgufMetadata, SplitName, check_parts, check_single};
use super::index::{INDEX_FILE_NAME, ModelIndex};
use super::shard::{Shard, ShardFormat, io_error};
use super::{ModelError, TensorInfo};
use crate::plan::TensorSpec;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The file name of a single-file model in a model directory.
pub const SINGLE_FILE_NAME: &str = "model.safetensors";

/// Which file format a model is in (serialised as `"safetensors"` or `"gguf"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ModelFormat {
    /// safetensors: one file, or shards named by an index.
    Safetensors,
    /// GGUF: one file, or the parts of a split model.
    Gguf,
}

impl ModelFormat {
    /// `"safetensors"` or `"gguf"`.
    pub fn name(self) -> &'static str {
        match self {
            ModelFormat::Safetensors => "safetensors",
            ModelFormat::Gguf => "gguf",
        }
    }
}

impl std::fmt::Display for ModelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A model's tensors, read from safetensors or GGUF files that stay memory-mapped while it
/// lives. Both formats give the same view: names, element types, shapes (outermost first),
/// byte sizes, split units ([`TensorInfo::row_bytes`]) and bytes straight from the map.
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
    /// - a GGUF file (recognised by its magic or a `.gguf` name);
    /// - any part of a split GGUF model (`NAME-00002-of-00003.gguf`): all its parts are opened,
    ///   from the first;
    /// - a directory holding `model.safetensors` or `model.safetensors.index.json` (the single
    ///   file wins when both are there, as in Hugging Face `transformers`), or else one GGUF
    ///   model (one `.gguf` file, or the parts of one split model).
    ///
    /// Every file's header is checked in full. A sharded model must agree with its index:
    /// every listed tensor is in the shard the index names, and every shard's tensor is listed.
    /// A split GGUF model must have every part, each saying (`split.no`, `split.count`) it is
    /// the part its name says, and their tensors must add up to `split.tensors.count`.
    ///
    /// # Errors
    /// A [`ModelError`] naming the file, and the tensor where one is at fault.
    pub fn open(path: impl AsRef<Path>) -> Result<Model, ModelError> {
        let path = path.as_ref();
        let metadata = std::fs::metadata(path).map_err(|error| io_error(path, error))?;
        if metadata.is_dir() {
            return Model::open_dir(path);
        }
        if path.extension().is_some_and(|ext| ext == "json") {
            Model::open_sharded(path)
        } else if is_gguf(path) {
            Model::open_gguf(path)
        } else {
            Model::open_single(path)
        }
    }

    fn open_dir(dir: &Path) -> Result<Model, ModelError> {
        let single = dir.join(SINGLE_FILE_NAME);
        if single.exists() {
            return Model::open_single(&single);
        }
        let index = dir.join(INDEX_FILE_NAME);
        if index.exists() {
            return Model::open_sharded(&index);
        }
        let entries = std::fs::read_dir(dir).map_err(|error| io_error(dir, error))?;
        let mut ggufs = Vec::new();
        for entry in entries {
            let path = entry.map_err(|error| io_error(dir, error))?.path();
            if path.is_file() && path.extension().is_some_and(|ext| ext == "gguf") {
                ggufs.push(path);
            }
        }
        ggufs.sort();
        // One model: one file, or parts of one split model (the same prefix and count).
        let model_of = |path: &PathBuf| match SplitName::parse(path) {
            Some(split) => (split.prefix, split.count),
            None => (path.clone(), 0),
        };
        match ggufs.first() {
            None => Err(ModelError::NoModelInDirectory {
                dir: dir.to_path_buf(),
            }),
            Some(first) if ggufs.iter().all(|p| model_of(p) == model_of(first)) => {
                Model::open_gguf(first)
            }
            Some(_) => Err(ModelError::SeveralModels {
                dir: dir.to_path_buf(),
                files: ggufs,
            }),
        }
    }

    /// Opens a GGUF file, or every part of the split model `path` is a part of.
    fn open_gguf(path: &Path) -> Result<Model, ModelError> {
        let Some(split) = SplitName::parse(path).filter(|split| split.count > 1) else {
            let shard = Shard::open_gguf(path)?;
            if let Some(header) = shard.gguf() {
                check_single(path, header)?;
            }
            return Model::from_shards(path, vec![shard]);
        };
        let first = split.part_path(1);
        let mut shards = Vec::with_capacity(split.count as usize);
        for part in 1..=split.count {
            let part_path = split.part_path(part);
            match Shard::open_gguf(&part_path) {
                Ok(shard) => shards.push(shard),
                Err(ModelError::MissingFile { .. }) => {
                    return Err(ModelError::MissingSplit {
                        first: first.clone(),
                        missing: part_path,
                        part,
                        count: split.count,
                    });
                }
                Err(error) => return Err(error),
            }
        }
        let headers: Vec<_> = shards
            .iter()
            .filter_map(|shard| Some((shard.path().to_path_buf(), shard.gguf()?)))
            .collect();
        check_parts(&split, &headers)?;
        Model::from_shards(&first, shards)
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
            for tensor in shard.tensors() {
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

    /// The model's shard files: one for a single-file model, in shard-name order (part order
    /// for a split GGUF model) otherwise.
    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// The model's file format.
    pub fn format(&self) -> ModelFormat {
        match self.shards.first().map(Shard::format) {
            Some(ShardFormat::Gguf(_)) => ModelFormat::Gguf,
            _ => ModelFormat::Safetensors,
        }
    }

    /// A GGUF model's metadata (its first part's, which holds the model's keys in a split
    /// model); `None` for a safetensors model.
    pub fn gguf_metadata(&self) -> Option<&GgufMetadata> {
        self.shards
            .first()
            .and_then(Shard::gguf)
            .map(|header| &header.metadata)
    }

    /// The bytes of every file's data section, added up: for a GGUF model, the tensors'
    /// bytes plus the alignment padding between them.
    pub fn data_section_bytes(&self) -> u64 {
        self.shards
            .iter()
            .map(|shard| shard.data_section().1)
            .fold(0, u64::saturating_add)
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

    /// The tensors as the planner takes them, in file order; `dtype` is the type's name in its
    /// format (`BF16`, `q4_K`).
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

/// Whether `path` is a GGUF file: a `.gguf` name, or the GGUF magic at its start.
fn is_gguf(path: &Path) -> bool {
    use std::io::Read;
    if path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("gguf"))
    {
        return true;
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut magic))
        .is_ok_and(|()| magic == GGUF_MAGIC)
}
