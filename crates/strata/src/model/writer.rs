//! Writing safetensors files and sharded models, for tests, examples and benchmarks.
//!
//! A tensor to write is a tuple `(name, dtype, shape, data)`: the name as any string type, the
//! data as any byte container (`Vec<u8>`, `&[u8]`). Files are written by the `safetensors`
//! crate (to a temporary file, then renamed into place, so a file that is mapped elsewhere is
//! never truncated under its readers), which orders tensors by dtype alignment, then name.

use super::index::INDEX_FILE_NAME;
use super::shard::io_error;
use super::{Dtype, ModelError};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// One tensor to write, borrowed and checked, in the form the `safetensors` crate serializes.
struct Checked<'a> {
    name: &'a str,
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    data: &'a [u8],
}

impl safetensors::View for &Checked<'_> {
    fn dtype(&self) -> safetensors::Dtype {
        self.dtype
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.data)
    }

    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Checks one tensor's data length against its shape × dtype, as the reader will.
fn check<'a, S: AsRef<str>, D: AsRef<[u8]>>(
    file: &Path,
    (name, dtype, shape, data): &'a (S, Dtype, Vec<u64>, D),
) -> Result<Checked<'a>, ModelError> {
    let name = name.as_ref();
    let data = data.as_ref();
    let elements = shape.iter().try_fold(1u64, |n, &dim| n.checked_mul(dim));
    let usize_shape: Result<Vec<usize>, _> = shape.iter().map(|&d| usize::try_from(d)).collect();
    let (Some(elements), Ok(usize_shape)) = (elements, usize_shape) else {
        return Err(ModelError::ShapeOverflow {
            file: file.to_path_buf(),
            tensor: name.to_string(),
            dtype: dtype.name().to_string(),
            shape: shape.clone(),
        });
    };
    let Some(expected) = dtype.bytes_for(elements) else {
        return Err(ModelError::PartialByte {
            file: file.to_path_buf(),
            tensor: name.to_string(),
            dtype: dtype.name().to_string(),
            elements,
        });
    };
    if expected != data.len() as u64 {
        return Err(ModelError::SizeMismatch {
            file: file.to_path_buf(),
            tensor: name.to_string(),
            dtype: dtype.name().to_string(),
            shape: shape.clone(),
            expected,
            actual: data.len() as u64,
        });
    }
    Ok(Checked {
        name,
        dtype: (*dtype).into(),
        shape: usize_shape,
        data,
    })
}

/// Writes one safetensors file at `path` holding `tensors`, each `(name, dtype, shape, data)`.
///
/// An existing file at `path` is replaced atomically.
///
/// ```no_run
/// use strata::model::{Dtype, write_safetensors};
/// let weights: Vec<u8> = vec![0; 2 * 3 * 4];
/// write_safetensors("tiny.safetensors", &[("w", Dtype::F32, vec![2, 3], weights)])?;
/// # Ok::<(), strata::model::ModelError>(())
/// ```
///
/// # Errors
/// [`ModelError::SizeMismatch`] when a tensor's data is not shape × dtype bytes,
/// [`ModelError::ShapeOverflow`], [`ModelError::PartialByte`], [`ModelError::DuplicateTensor`],
/// [`ModelError::Io`], or [`ModelError::Write`] for an error of the serializer.
pub fn write_safetensors<S, D>(
    path: impl AsRef<Path>,
    tensors: &[(S, Dtype, Vec<u64>, D)],
) -> Result<(), ModelError>
where
    S: AsRef<str>,
    D: AsRef<[u8]>,
{
    let path = path.as_ref();
    let checked = tensors
        .iter()
        .map(|tensor| check(path, tensor))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = HashMap::with_capacity(checked.len());
    for tensor in &checked {
        if seen.insert(tensor.name, ()).is_some() {
            return Err(ModelError::DuplicateTensor {
                tensor: tensor.name.to_string(),
                first: path.to_path_buf(),
                second: path.to_path_buf(),
            });
        }
    }
    let views = checked.iter().map(|tensor| (tensor.name, tensor));
    safetensors::serialize_to_file(views, None, path).map_err(|error| match error {
        safetensors::SafeTensorError::IoError(error) => io_error(path, error),
        other => ModelError::Write {
            file: path.to_path_buf(),
            reason: other.to_string(),
        },
    })
}

/// Writes a sharded model into `dir` (created if needed): one file per element of `shards`,
/// named `model-00001-of-0000N.safetensors` and so on, and `model.safetensors.index.json`
/// mapping every tensor to its shard, with `metadata.total_size` the sum of the tensors' bytes.
/// Returns the index's path, which [`Model::open`](super::Model::open) accepts, as it does `dir`.
///
/// # Errors
/// Those of [`write_safetensors`], and [`ModelError::DuplicateTensor`] for a name in two shards.
pub fn write_sharded<T, S, D>(dir: impl AsRef<Path>, shards: &[T]) -> Result<PathBuf, ModelError>
where
    T: AsRef<[(S, Dtype, Vec<u64>, D)]>,
    S: AsRef<str>,
    D: AsRef<[u8]>,
{
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|error| io_error(dir, error))?;
    let count = shards.len();
    let shard_name = |i: usize| format!("model-{:05}-of-{count:05}.safetensors", i + 1);

    // Refuse a name in two shards before writing anything.
    let mut weight_map: BTreeMap<&str, String> = BTreeMap::new();
    for (i, shard) in shards.iter().enumerate() {
        for (name, ..) in shard.as_ref() {
            if let Some(first) = weight_map.insert(name.as_ref(), shard_name(i)) {
                return Err(ModelError::DuplicateTensor {
                    tensor: name.as_ref().to_string(),
                    first: dir.join(first),
                    second: dir.join(shard_name(i)),
                });
            }
        }
    }

    let mut total_size = 0u64;
    for (i, shard) in shards.iter().enumerate() {
        let tensors = shard.as_ref();
        write_safetensors(dir.join(shard_name(i)), tensors)?;
        let bytes: u64 = tensors.iter().map(|t| t.3.as_ref().len() as u64).sum();
        total_size = total_size.saturating_add(bytes);
    }

    let index_path = dir.join(INDEX_FILE_NAME);
    let index = serde_json::json!({
        "metadata": { "total_size": total_size },
        "weight_map": weight_map,
    });
    let text = serde_json::to_vec_pretty(&index).map_err(|error| ModelError::Write {
        file: index_path.clone(),
        reason: error.to_string(),
    })?;
    std::fs::write(&index_path, text).map_err(|error| io_error(&index_path, error))?;
    Ok(index_path)
}
