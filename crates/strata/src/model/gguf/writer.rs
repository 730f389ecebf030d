//! Writing GGUF files, for tests, examples and benchmarks: any ggml type from its raw block
//! bytes, metadata of every value type, a chosen alignment and version, and split models.
//!
//! Tensors are laid out in the order given, each at the next multiple of the alignment, and the
//! file ends padded to the alignment, as ggml and the Python `gguf` package write them.

use super::header::{DEFAULT_ALIGNMENT, GGUF_MAGIC, align_up};
use super::split::{SPLIT_COUNT, SPLIT_NO, SPLIT_TENSORS_COUNT, SplitName};
use super::value::{GgufArray, GgufValue};
use crate::model::shard::io_error;
use crate::model::tensor::element_count;
use crate::model::{GgmlType, ModelError};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One tensor to write: its raw bytes (whole blocks of its type), shape outermost first.
#[derive(Clone, Debug)]
pub struct GgufTensor<'a> {
    /// The tensor's name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Its ggml type.
    pub ggml_type: GgmlType,
    /// Its shape, outermost dimension first (written reversed, innermost first, as GGUF wants).
    pub shape: Vec<u64>,
    /// Its bytes as the file stores them.
    pub data: &'a [u8],
}

/// A GGUF file to write. Tensors are laid out in the order given, each at the next multiple of
/// the alignment, and the file ends padded to the alignment, as ggml and the Python `gguf`
/// package write them.
///
/// ```
/// use strata::model::{GgmlType, GgufWriter, Model};
/// let dir = std::env::temp_dir().join(format!("strata-doc-gguf-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let q8 = vec![0u8; 2 * 34]; // two rows of one q8_0 block (32 elements in 34 bytes)
/// let norm = vec![0u8; 4 * 32];
/// GgufWriter::new()
///     .metadata("general.architecture", "llama")
///     .tensor("blk.0.attn_q.weight", GgmlType::Q8_0, [2, 32], &q8)
///     .tensor("blk.0.attn_norm.weight", GgmlType::F32, [32], &norm)
///     .write(dir.join("tiny.gguf"))?;
/// let model = Model::open(dir.join("tiny.gguf"))?;
/// assert_eq!(model.tensor("blk.0.attn_q.weight").unwrap().bytes, 68);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), strata::model::ModelError>(())
/// ```
#[derive(Clone, Debug)]
pub struct GgufWriter<'a> {
    version: u32,
    alignment: Option<u32>,
    metadata: Vec<(String, GgufValue)>,
    tensors: Vec<GgufTensor<'a>>,
}

impl Default for GgufWriter<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> GgufWriter<'a> {
    /// An empty GGUF version 3 file with the default alignment (32).
    pub fn new() -> Self {
        GgufWriter {
            version: 3,
            alignment: None,
            metadata: Vec::new(),
            tensors: Vec::new(),
        }
    }

    /// Writes GGUF version `version` (2 and 3 are the versions readers accept).
    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// Aligns tensor data to `alignment` bytes, recorded as `general.alignment`.
    pub fn alignment(mut self, alignment: u32) -> Self {
        self.alignment = Some(alignment);
        self
    }

    /// Adds a metadata key and value (`"llama"`, `4096u32`, a [`GgufArray`], ...).
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<GgufValue>) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }

    /// Adds a tensor: `shape` outermost first, `data` its bytes (whole blocks of `ggml_type`).
    pub fn tensor(
        mut self,
        name: impl Into<String>,
        ggml_type: GgmlType,
        shape: impl Into<Vec<u64>>,
        data: &'a [u8],
    ) -> Self {
        self.tensors.push(GgufTensor {
            name: name.into(),
            ggml_type,
            shape: shape.into(),
            data,
        });
        self
    }

    fn alignment_bytes(&self, file: &Path) -> Result<u64, ModelError> {
        let alignment = self.alignment.map_or(DEFAULT_ALIGNMENT, u64::from);
        if !alignment.is_power_of_two() {
            return Err(ModelError::GgufAlignment {
                file: file.to_path_buf(),
                reason: format!("is {alignment}, not a power of two"),
            });
        }
        Ok(alignment)
    }

    /// The header of a file holding `tensors` with `metadata` (and `general.alignment`), up to
    /// the start of the data section, and each tensor's offset in the data section.
    fn header(
        &self,
        file: &Path,
        metadata: &[(String, GgufValue)],
        tensors: &[GgufTensor<'_>],
    ) -> Result<(Vec<u8>, Vec<u64>, u64), ModelError> {
        if !(2..=3).contains(&self.version) {
            return Err(ModelError::GgufVersion {
                file: file.to_path_buf(),
                version: self.version,
            });
        }
        let alignment = self.alignment_bytes(file)?;
        let mut keys = HashSet::new();
        let alignment_entry = self
            .alignment
            .map(|a| ("general.alignment".to_string(), GgufValue::U32(a)));
        let entries: Vec<&(String, GgufValue)> =
            alignment_entry.iter().chain(metadata.iter()).collect();
        for (key, _) in &entries {
            if !keys.insert(key.as_str()) {
                return Err(ModelError::GgufDuplicateKey {
                    file: file.to_path_buf(),
                    key: key.clone(),
                });
            }
        }

        let mut out = GGUF_MAGIC.to_vec();
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
        for (key, value) in entries {
            put_string(&mut out, key);
            out.extend_from_slice(&value.value_type().id().to_le_bytes());
            put_value(&mut out, value);
        }

        let mut names = HashSet::new();
        let mut offsets = Vec::with_capacity(tensors.len());
        let mut offset = 0u64;
        for tensor in tensors {
            if !names.insert(tensor.name.as_str()) {
                return Err(ModelError::DuplicateTensor {
                    tensor: tensor.name.clone(),
                    first: file.to_path_buf(),
                    second: file.to_path_buf(),
                });
            }
            let bytes = tensor_bytes(file, tensor)?;
            put_string(&mut out, &tensor.name);
            out.extend_from_slice(&(tensor.shape.len() as u32).to_le_bytes());
            for dim in tensor.shape.iter().rev() {
                out.extend_from_slice(&dim.to_le_bytes());
            }
            out.extend_from_slice(&tensor.ggml_type.id().to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            offsets.push(offset);
            offset = offset
                .checked_add(bytes)
                .and_then(|end| align_up(end, alignment))
                .ok_or_else(|| too_large(file, tensor))?;
        }
        let padded = align_up(out.len() as u64, alignment).unwrap_or(out.len() as u64);
        out.resize(padded as usize, 0);
        Ok((out, offsets, offset))
    }

    /// The file's bytes up to the start of the data section (header and padding), and the
    /// length of the data section, padding included. Tensor data is not looked at, so a test
    /// can lay out a large model's header without its data (a sparse file, say).
    ///
    /// # Errors
    /// As [`GgufWriter::write`], except for data lengths.
    pub fn header_bytes(&self) -> Result<(Vec<u8>, u64), ModelError> {
        let (header, _, data_len) =
            self.header(Path::new(IN_MEMORY), &self.metadata, &self.tensors)?;
        Ok((header, data_len))
    }

    /// Writes the whole file to `out`, streaming each tensor's bytes (no copy of the data).
    fn emit(
        &self,
        file: &Path,
        metadata: &[(String, GgufValue)],
        tensors: &[GgufTensor<'_>],
        out: &mut impl Write,
    ) -> Result<(), ModelError> {
        let (header, offsets, data_len) = self.header(file, metadata, tensors)?;
        // Every tensor's data is checked before anything is written.
        for tensor in tensors {
            let expected = tensor_bytes(file, tensor)?;
            if tensor.data.len() as u64 != expected {
                return Err(ModelError::SizeMismatch {
                    file: file.to_path_buf(),
                    tensor: tensor.name.clone(),
                    dtype: tensor.ggml_type.name().to_string(),
                    shape: tensor.shape.clone(),
                    expected,
                    actual: tensor.data.len() as u64,
                });
            }
        }
        let io = |e| io_error(file, e);
        out.write_all(&header).map_err(io)?;
        let mut at = 0u64; // Bytes of the data section written so far.
        let zeros = [0u8; 4096];
        let pad_to = |out: &mut dyn Write, at: &mut u64, to: u64| -> std::io::Result<()> {
            while *at < to {
                let n = (to - *at).min(zeros.len() as u64);
                out.write_all(&zeros[..n as usize])?;
                *at += n;
            }
            Ok(())
        };
        for (tensor, offset) in tensors.iter().zip(offsets) {
            pad_to(out, &mut at, offset).map_err(io)?;
            out.write_all(tensor.data).map_err(io)?;
            at += tensor.data.len() as u64;
        }
        pad_to(out, &mut at, data_len).map_err(io)?;
        Ok(())
    }

    fn file_bytes(
        &self,
        file: &Path,
        metadata: &[(String, GgufValue)],
        tensors: &[GgufTensor<'_>],
    ) -> Result<Vec<u8>, ModelError> {
        let mut out = Vec::new();
        self.emit(file, metadata, tensors, &mut out)?;
        Ok(out)
    }

    /// Writes a file at `path`, streamed through a buffer.
    fn write_file(
        &self,
        path: &Path,
        metadata: &[(String, GgufValue)],
        tensors: &[GgufTensor<'_>],
    ) -> Result<(), ModelError> {
        let file = std::fs::File::create(path).map_err(|e| io_error(path, e))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let written = self.emit(path, metadata, tensors, &mut out);
        if written.is_err() {
            // Leave no partial file behind.
            drop(out);
            let _ = std::fs::remove_file(path);
            return written;
        }
        let file = out
            .into_inner()
            .map_err(|e| io_error(path, e.into_error()))?;
        file.sync_all().map_err(|e| io_error(path, e))
    }

    /// The whole file in memory.
    ///
    /// # Errors
    /// As [`GgufWriter::write`], naming the file `(in memory)`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ModelError> {
        self.file_bytes(Path::new(IN_MEMORY), &self.metadata, &self.tensors)
    }

    /// Writes the file at `path`.
    ///
    /// # Errors
    /// [`ModelError::GgufVersion`], [`ModelError::GgufAlignment`],
    /// [`ModelError::GgufDuplicateKey`], [`ModelError::DuplicateTensor`],
    /// [`ModelError::PartialBlock`] (a row not whole blocks), [`ModelError::ShapeOverflow`],
    /// [`ModelError::SizeMismatch`] (data not shape × type bytes) and [`ModelError::Io`].
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        let path = path.as_ref();
        self.write_file(path, &self.metadata, &self.tensors)
    }

    /// Writes a split model of `parts` files, `PREFIX-00001-of-0000N.gguf` and on, as
    /// llama.cpp's `gguf-split` does: the tensors in order, in `parts` runs of (nearly) equal
    /// counts; the first part holds the metadata; every part holds `split.no`, `split.count`
    /// and `split.tensors.count`. Returns the parts' paths.
    ///
    /// # Errors
    /// As [`GgufWriter::write`]; [`ModelError::SplitMismatch`] for 0 parts or more than 99999.
    pub fn write_split(
        &self,
        prefix: impl AsRef<Path>,
        parts: u32,
    ) -> Result<Vec<PathBuf>, ModelError> {
        let prefix = prefix.as_ref();
        if parts == 0 || parts > 99_999 {
            return Err(ModelError::SplitMismatch {
                file: prefix.to_path_buf(),
                reason: format!("cannot write {parts} parts (1 to 99999)"),
            });
        }
        let split = SplitName {
            prefix: prefix.to_path_buf(),
            part: 1,
            count: parts,
        };
        let per_part = self.tensors.len().div_ceil(parts as usize).max(1);
        let total = i32::try_from(self.tensors.len()).unwrap_or(i32::MAX);
        let mut paths = Vec::with_capacity(parts as usize);
        for part in 0..parts {
            let path = split.part_path(part + 1);
            let first = (part as usize * per_part).min(self.tensors.len());
            let last = (first + per_part).min(self.tensors.len());
            let mut metadata = if part == 0 {
                self.metadata.clone()
            } else {
                Vec::new()
            };
            metadata.push((SPLIT_NO.into(), GgufValue::U16(part as u16)));
            metadata.push((SPLIT_COUNT.into(), GgufValue::U16(parts as u16)));
            metadata.push((SPLIT_TENSORS_COUNT.into(), GgufValue::I32(total)));
            self.write_file(&path, &metadata, &self.tensors[first..last])?;
            paths.push(path);
        }
        Ok(paths)
    }
}

/// How files written to memory are named in errors.
const IN_MEMORY: &str = "(in memory)";

fn too_large(file: &Path, tensor: &GgufTensor<'_>) -> ModelError {
    ModelError::ShapeOverflow {
        file: file.to_path_buf(),
        tensor: tensor.name.clone(),
        dtype: tensor.ggml_type.name().to_string(),
        shape: tensor.shape.clone(),
    }
}

/// A tensor's size from its shape and type, refusing rows that are not whole blocks.
fn tensor_bytes(file: &Path, tensor: &GgufTensor<'_>) -> Result<u64, ModelError> {
    let ty = tensor.ggml_type;
    let row = tensor.shape.last().copied().unwrap_or(1);
    if !row.is_multiple_of(ty.block_size()) {
        return Err(ModelError::PartialBlock {
            file: file.to_path_buf(),
            tensor: tensor.name.clone(),
            dtype: ty.name().to_string(),
            row,
            block: ty.block_size(),
        });
    }
    // As the reader: dimensions and element counts fit ggml's `int64_t`.
    element_count(&tensor.shape)
        .filter(|&n| i64::try_from(n).is_ok())
        .filter(|_| tensor.shape.iter().all(|&d| i64::try_from(d).is_ok()))
        .and_then(|elements| ty.row_bytes(elements))
        .ok_or_else(|| too_large(file, tensor))
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, value: &GgufValue) {
    match value {
        GgufValue::U8(v) => out.extend_from_slice(&v.to_le_bytes()),
        GgufValue::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
        GgufValue::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
        GgufValue::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
        GgufValue::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
        GgufValue::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
        GgufValue::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        GgufValue::Bool(v) => out.push(u8::from(*v)),
        GgufValue::String(v) => put_string(out, v),
        GgufValue::Array(a) => put_array(out, a),
        GgufValue::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        GgufValue::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        GgufValue::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
    }
}

fn put_array(out: &mut Vec<u8>, array: &GgufArray) {
    out.extend_from_slice(&array.element_type().id().to_le_bytes());
    out.extend_from_slice(&(array.len() as u64).to_le_bytes());
    macro_rules! each {
        ($v:expr) => {
            for x in $v {
                out.extend_from_slice(&x.to_le_bytes());
            }
        };
    }
    match array {
        GgufArray::U8(v) => each!(v),
        GgufArray::I8(v) => each!(v),
        GgufArray::U16(v) => each!(v),
        GgufArray::I16(v) => each!(v),
        GgufArray::U32(v) => each!(v),
        GgufArray::I32(v) => each!(v),
        GgufArray::F32(v) => each!(v),
        GgufArray::U64(v) => each!(v),
        GgufArray::I64(v) => each!(v),
        GgufArray::F64(v) => each!(v),
        GgufArray::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        GgufArray::String(v) => v.iter().for_each(|s| put_string(out, s)),
        GgufArray::Array(v) => v.iter().for_each(|a| put_array(out, a)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::gguf::{GgufMetadata, parse_gguf};
    use crate::model::{TensorInfo, TensorType};

    fn parse(bytes: &[u8]) -> Result<crate::model::GgufHeader, ModelError> {
        parse_gguf(Path::new("t.gguf"), bytes)
    }

    fn every_value() -> Vec<(&'static str, GgufValue)> {
        vec![
            ("u8", 7u8.into()),
            ("i8", (-7i8).into()),
            ("u16", 700u16.into()),
            ("i16", (-700i16).into()),
            ("u32", 70_000u32.into()),
            ("i32", (-70_000i32).into()),
            ("f32", 0.5f32.into()),
            ("bool", true.into()),
            ("string", "héllo".into()),
            ("u64", u64::MAX.into()),
            ("i64", i64::MIN.into()),
            ("f64", (-0.25f64).into()),
            ("arr.u8", GgufArray::from(vec![1u8, 2]).into()),
            ("arr.f32", GgufArray::from(vec![1.5f32, -2.0]).into()),
            (
                "arr.str",
                GgufArray::from(vec!["a".to_string(), String::new()]).into(),
            ),
            ("arr.bool", GgufArray::from(vec![true, false]).into()),
            ("arr.i64", GgufArray::from(Vec::<i64>::new()).into()),
            (
                "arr.nested",
                GgufArray::from(vec![
                    GgufArray::from(vec![1u32]),
                    GgufArray::from(vec!["x".to_string()]),
                ])
                .into(),
            ),
        ]
    }

    #[test]
    fn round_trip_of_every_value_and_type() {
        let data: Vec<Vec<u8>> = GgmlType::ALL
            .iter()
            .enumerate()
            .map(|(i, ty)| {
                (0..2 * ty.block_bytes())
                    .map(|b| (b as usize * 7 + i) as u8)
                    .collect()
            })
            .collect();
        let mut writer = GgufWriter::new().alignment(64);
        for (key, value) in every_value() {
            writer = writer.metadata(key, value);
        }
        for (ty, data) in GgmlType::ALL.iter().zip(&data) {
            writer = writer.tensor(format!("t.{ty}"), *ty, [2, ty.block_size()], data);
        }
        let bytes = writer.to_bytes().unwrap();
        let header = parse(&bytes).unwrap();
        assert_eq!((header.version, header.alignment), (3, 64));
        assert_eq!(
            header.metadata.get("general.alignment"),
            Some(&GgufValue::U32(64))
        );
        for (key, value) in every_value() {
            assert_eq!(header.metadata.get(key), Some(&value), "{key}");
        }
        assert_eq!(header.tensors.len(), GgmlType::ALL.len());
        for ((ty, data), info) in GgmlType::ALL.iter().zip(&data).zip(&header.tensors) {
            assert_eq!(info.name, format!("t.{ty}"));
            assert_eq!(info.dtype, TensorType::Ggml(*ty));
            assert_eq!(info.shape, [2, ty.block_size()]);
            assert_eq!(info.bytes, 2 * ty.block_bytes());
            assert_eq!(info.data_offset % 64, 0);
            let start = info.data_offset as usize;
            assert_eq!(&bytes[start..start + data.len()], data.as_slice());
        }
        assert_eq!(header.data_start % 64, 0);
        assert_eq!(bytes.len() as u64, header.data_start + header.data_len);
    }

    #[test]
    fn version_2_and_empty_files() {
        let bytes = GgufWriter::new().version(2).to_bytes().unwrap();
        let header = parse(&bytes).unwrap();
        assert_eq!(header.version, 2);
        assert!(header.tensors.is_empty());
        assert_eq!(header.metadata, GgufMetadata::default());
        assert!(GgufWriter::new().version(1).to_bytes().is_err());
        assert!(GgufWriter::new().alignment(48).to_bytes().is_err());
    }

    #[test]
    fn shapes_are_reversed_and_scalars_and_empty_tensors_read() {
        let data = [0u8; 4 * 6];
        let bytes = GgufWriter::new()
            .tensor("m", GgmlType::F32, [2, 3], &data)
            .tensor("s", GgmlType::F32, [], &data[..4])
            .tensor("e", GgmlType::Q4_K, [0, 256], &[])
            .to_bytes()
            .unwrap();
        // ne[0] (the row) is written first.
        let header = parse(&bytes).unwrap();
        let by_name = |n: &str| header.tensors.iter().find(|t| t.name == n).unwrap();
        let m: &TensorInfo = by_name("m");
        assert_eq!(
            (m.shape.as_slice(), m.bytes, m.row_bytes()),
            (&[2u64, 3][..], 24, 12)
        );
        assert_eq!((by_name("s").bytes, by_name("s").row_bytes()), (4, 4));
        assert_eq!(by_name("e").bytes, 0);
    }

    #[test]
    fn writer_refuses_bad_tensors() {
        let err = GgufWriter::new()
            .tensor("q", GgmlType::Q4_K, [1, 100], &[])
            .to_bytes()
            .unwrap_err();
        assert!(
            matches!(
                err,
                ModelError::PartialBlock {
                    row: 100,
                    block: 256,
                    ..
                }
            ),
            "{err}"
        );
        let err = GgufWriter::new()
            .tensor("q", GgmlType::Q8_0, [1, 32], &[0; 3])
            .to_bytes()
            .unwrap_err();
        assert!(
            matches!(
                err,
                ModelError::SizeMismatch {
                    expected: 34,
                    actual: 3,
                    ..
                }
            ),
            "{err}"
        );
        let err = GgufWriter::new()
            .metadata("k", 1u8)
            .metadata("k", 2u8)
            .to_bytes()
            .unwrap_err();
        assert!(matches!(err, ModelError::GgufDuplicateKey { .. }), "{err}");
    }
}
