//! One model file (a safetensors file, or a GGUF file or split part): its header, parsed and
//! checked, over a memory map of the file.
//!
//! The format: an unsigned little-endian 64-bit header length `N`, then `N` bytes of JSON
//! (`{"name": {"dtype": "BF16", "shape": [..], "data_offsets": [start, end]}, ...,
//! "__metadata__": {..}}`), then the data section. Offsets are relative to the data section,
//! and the tensors must cover it exactly: no overlap, no hole, nothing after the last tensor.
//!
//! The checks follow the `safetensors` crate's reader, but are done here, on the parsed JSON,
//! so that each failure is a [`ModelError`] that names the file and the tensor. (The crate
//! reports an unknown dtype or a bad offset as a JSON error without saying which tensor.)

use super::gguf::{GgufHeader, parse_gguf};
use super::json::Entries;
use super::{Dtype, ModelError, TensorInfo};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use strata_vk::file_map::{Mmap, map_read_only};

/// The largest header accepted, in bytes: the `safetensors` crate's limit (100 MB).
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// The length of the header-length prefix that starts every file.
const LEN_PREFIX: u64 = 8;

/// The key of the free-form string map that a header may hold besides its tensors.
const METADATA_KEY: &str = "__metadata__";

/// The parsed, checked header of one safetensors file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardHeader {
    /// The length of the JSON header in bytes, padding included.
    pub header_len: u64,
    /// Where the data section starts in the file: `8 + header_len`.
    pub data_start: u64,
    /// The tensors in file order (by data offset, then name). Each `shard` field is the index of
    /// this file in its model (0 from [`parse_header`]).
    pub tensors: Vec<TensorInfo>,
    /// The header's `__metadata__` map (empty when absent).
    pub metadata: BTreeMap<String, String>,
}

/// One tensor's header entry, as written.
#[derive(Deserialize)]
struct RawEntry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// A tensor whose entry is well formed, before its offsets are checked against the others.
struct Entry {
    name: String,
    dtype: Dtype,
    shape: Vec<u64>,
    bytes: u64,
    start: u64,
    end: u64,
}

/// Parses and checks the header of a safetensors file whose whole content is `bytes`.
///
/// `file` is used only to name the file in errors; nothing is read from the filesystem, so a
/// fuzzer can call this on arbitrary bytes. It never panics.
///
/// # Errors
/// [`ModelError::Truncated`], [`ModelError::HeaderBeyondFile`], [`ModelError::HeaderTooLarge`],
/// [`ModelError::InvalidHeader`], [`ModelError::InvalidTensorEntry`],
/// [`ModelError::UnknownDtype`], [`ModelError::ShapeOverflow`], [`ModelError::PartialByte`],
/// [`ModelError::DuplicateTensor`], [`ModelError::OffsetsOutOfRange`],
/// [`ModelError::OverlappingTensors`], [`ModelError::Gap`], [`ModelError::SizeMismatch`] and
/// [`ModelError::TrailingBytes`].
pub fn parse_header(file: &Path, bytes: &[u8]) -> Result<ShardHeader, ModelError> {
    let file_len = bytes.len() as u64;
    let Some((prefix, rest)) = bytes.split_first_chunk::<8>() else {
        return Err(ModelError::Truncated {
            file: file.to_path_buf(),
            len: file_len,
        });
    };
    let header_len = u64::from_le_bytes(*prefix);
    let split = usize::try_from(header_len)
        .ok()
        .and_then(|len| rest.split_at_checked(len));
    let Some((header, data)) = split else {
        return Err(ModelError::HeaderBeyondFile {
            file: file.to_path_buf(),
            header_len,
            file_len,
        });
    };
    if header_len > MAX_HEADER_LEN {
        return Err(ModelError::HeaderTooLarge {
            file: file.to_path_buf(),
            header_len,
            max: MAX_HEADER_LEN,
        });
    }

    let (entries, metadata) = parse_entries(file, header)?;
    let data_start = LEN_PREFIX + header_len;
    let tensors = check_offsets(file, entries, data.len() as u64)?
        .into_iter()
        .map(|entry| TensorInfo {
            name: entry.name,
            dtype: entry.dtype.into(),
            shape: entry.shape,
            bytes: entry.bytes,
            shard: 0,
            data_offset: data_start + entry.start,
        })
        .collect();
    Ok(ShardHeader {
        header_len,
        data_start,
        tensors,
        metadata,
    })
}

/// Reads the header JSON into well-formed entries (in header order) and the metadata map.
fn parse_entries(
    file: &Path,
    header: &[u8],
) -> Result<(Vec<Entry>, BTreeMap<String, String>), ModelError> {
    let invalid_header = |reason: String| ModelError::InvalidHeader {
        file: file.to_path_buf(),
        reason,
    };
    let Entries(raw) = serde_json::from_slice::<Entries<serde_json::Value>>(header)
        .map_err(|error| invalid_header(error.to_string()))?;

    let mut metadata = None;
    let mut entries = Vec::with_capacity(raw.len());
    for (name, value) in raw {
        if name == METADATA_KEY {
            if metadata.is_some() {
                return Err(invalid_header(format!("`{METADATA_KEY}` appears twice")));
            }
            let map =
                serde_json::from_value::<BTreeMap<String, String>>(value).map_err(|error| {
                    invalid_header(format!("`{METADATA_KEY}` is not a map of strings: {error}"))
                })?;
            metadata = Some(map);
        } else {
            entries.push(check_entry(file, name, value)?);
        }
    }

    let mut seen = HashSet::with_capacity(entries.len());
    for entry in &entries {
        if !seen.insert(entry.name.as_str()) {
            return Err(ModelError::DuplicateTensor {
                tensor: entry.name.clone(),
                first: file.to_path_buf(),
                second: file.to_path_buf(),
            });
        }
    }
    Ok((entries, metadata.unwrap_or_default()))
}

/// Checks one tensor's entry on its own: its form, dtype and size.
fn check_entry(file: &Path, name: String, value: serde_json::Value) -> Result<Entry, ModelError> {
    let raw = match serde_json::from_value::<RawEntry>(value) {
        Ok(raw) => raw,
        Err(error) => {
            return Err(ModelError::InvalidTensorEntry {
                file: file.to_path_buf(),
                tensor: name,
                reason: error.to_string(),
            });
        }
    };
    let Some(dtype) = Dtype::from_name(&raw.dtype) else {
        return Err(ModelError::UnknownDtype {
            file: file.to_path_buf(),
            tensor: name,
            dtype: raw.dtype,
        });
    };
    let elements = raw
        .shape
        .iter()
        .try_fold(1u64, |n, &dim| n.checked_mul(dim));
    let bits = elements.and_then(|n| n.checked_mul(u64::from(dtype.bits())));
    let (Some(elements), Some(bits)) = (elements, bits) else {
        return Err(ModelError::ShapeOverflow {
            file: file.to_path_buf(),
            tensor: name,
            dtype: dtype.name().to_string(),
            shape: raw.shape,
        });
    };
    if !bits.is_multiple_of(8) {
        return Err(ModelError::PartialByte {
            file: file.to_path_buf(),
            tensor: name,
            dtype: dtype.name().to_string(),
            elements,
        });
    }
    let (start, end) = raw.data_offsets;
    Ok(Entry {
        name,
        dtype,
        shape: raw.shape,
        bytes: bits / 8,
        start,
        end,
    })
}

/// Puts the entries in file order and checks that they tile the data section exactly.
fn check_offsets(
    file: &Path,
    mut entries: Vec<Entry>,
    data_len: u64,
) -> Result<Vec<Entry>, ModelError> {
    entries.sort_by(|a, b| (a.start, a.end, &a.name).cmp(&(b.start, b.end, &b.name)));
    let mut covered = 0; // Where the previous tensor ends.
    let mut previous: Option<&Entry> = None;
    for entry in &entries {
        if entry.start > entry.end || entry.end > data_len {
            return Err(ModelError::OffsetsOutOfRange {
                file: file.to_path_buf(),
                tensor: entry.name.clone(),
                start: entry.start,
                end: entry.end,
                data_len,
            });
        }
        if let Some(other) = previous.filter(|_| entry.start < covered) {
            return Err(ModelError::OverlappingTensors {
                file: file.to_path_buf(),
                tensor: entry.name.clone(),
                start: entry.start,
                end: entry.end,
                other: other.name.clone(),
                other_end: covered,
            });
        }
        if entry.start > covered {
            return Err(ModelError::Gap {
                file: file.to_path_buf(),
                tensor: entry.name.clone(),
                start: covered,
                end: entry.start,
            });
        }
        if entry.end - entry.start != entry.bytes {
            return Err(ModelError::SizeMismatch {
                file: file.to_path_buf(),
                tensor: entry.name.clone(),
                dtype: entry.dtype.name().to_string(),
                shape: entry.shape.clone(),
                expected: entry.bytes,
                actual: entry.end - entry.start,
            });
        }
        covered = entry.end;
        previous = Some(entry);
    }
    if covered != data_len {
        return Err(ModelError::TrailingBytes {
            file: file.to_path_buf(),
            start: covered,
            end: data_len,
        });
    }
    Ok(entries)
}

/// What a model file is, with its checked header.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ShardFormat {
    /// A safetensors file.
    Safetensors(ShardHeader),
    /// A GGUF file (one part of a split model, or the whole model).
    Gguf(GgufHeader),
}

/// One file of a model, memory-mapped, with its checked header: a safetensors file or a GGUF
/// file.
///
/// The file must not be modified or truncated while the shard is open (see
/// [`strata_vk::file_map`]).
#[derive(Debug)]
pub struct Shard {
    path: PathBuf,
    map: Mmap,
    format: ShardFormat,
}

/// Opens `path` as a regular file and maps it, refusing files shorter than `min_len` (which
/// `short` turns into the format's error) before mapping them.
fn open_map(
    path: &Path,
    min_len: u64,
    short: impl FnOnce(u64) -> ModelError,
) -> Result<Mmap, ModelError> {
    let file = File::open(path).map_err(|error| io_error(path, error))?;
    let metadata = file.metadata().map_err(|error| io_error(path, error))?;
    if !metadata.is_file() {
        let error = io::Error::new(io::ErrorKind::InvalidInput, "not a regular file");
        return Err(io_error(path, error));
    }
    if metadata.len() < min_len {
        // Too short to hold a header; also spares mapping an empty file.
        return Err(short(metadata.len()));
    }
    drop(file);
    map_read_only(path).map_err(|error| io_error(path, error))
}

impl Shard {
    /// Opens, maps and checks one safetensors file.
    ///
    /// # Errors
    /// [`ModelError::MissingFile`], [`ModelError::Io`] (also for a path that is not a regular
    /// file), and every error of [`parse_header`].
    pub fn open(path: impl AsRef<Path>) -> Result<Shard, ModelError> {
        let path = path.as_ref();
        let map = open_map(path, LEN_PREFIX, |len| ModelError::Truncated {
            file: path.to_path_buf(),
            len,
        })?;
        let header = parse_header(path, &map)?;
        Ok(Shard {
            path: path.to_path_buf(),
            map,
            format: ShardFormat::Safetensors(header),
        })
    }

    /// Opens, maps and checks one GGUF file (a whole model or one part of a split model).
    ///
    /// # Errors
    /// [`ModelError::MissingFile`], [`ModelError::Io`], and every error of [`parse_gguf`].
    pub fn open_gguf(path: impl AsRef<Path>) -> Result<Shard, ModelError> {
        let path = path.as_ref();
        let map = open_map(path, 1, |_| {
            parse_gguf(path, &[])
                .err()
                .unwrap_or_else(|| io_error(path, io::ErrorKind::UnexpectedEof.into()))
        })?;
        let header = parse_gguf(path, &map)?;
        Ok(Shard {
            path: path.to_path_buf(),
            map,
            format: ShardFormat::Gguf(header),
        })
    }

    /// The file's path, as it was opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's format and checked header.
    pub fn format(&self) -> &ShardFormat {
        &self.format
    }

    /// The safetensors header, for a safetensors file.
    pub fn header(&self) -> Option<&ShardHeader> {
        match &self.format {
            ShardFormat::Safetensors(header) => Some(header),
            ShardFormat::Gguf(_) => None,
        }
    }

    /// The GGUF header, for a GGUF file.
    pub fn gguf(&self) -> Option<&GgufHeader> {
        match &self.format {
            ShardFormat::Gguf(header) => Some(header),
            ShardFormat::Safetensors(_) => None,
        }
    }

    /// The file's tensors, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        match &self.format {
            ShardFormat::Safetensors(header) => &header.tensors,
            ShardFormat::Gguf(header) => &header.tensors,
        }
    }

    /// Where the file's data section starts and how long it is.
    pub fn data_section(&self) -> (u64, u64) {
        match &self.format {
            ShardFormat::Safetensors(header) => (
                header.data_start,
                (self.bytes().len() as u64).saturating_sub(header.data_start),
            ),
            ShardFormat::Gguf(header) => (header.data_start, header.data_len),
        }
    }

    /// The whole file's bytes (header included), straight from the map.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// The bytes of the tensor at `info.data_offset` of size `info.bytes`, or `None` when that
    /// range is not inside the file.
    pub fn data(&self, info: &TensorInfo) -> Option<&[u8]> {
        let start = usize::try_from(info.data_offset).ok()?;
        let len = usize::try_from(info.bytes).ok()?;
        self.bytes().get(start..start.checked_add(len)?)
    }

    /// Sets the shard index recorded in this file's tensors.
    pub(crate) fn set_index(&mut self, index: usize) {
        let tensors = match &mut self.format {
            ShardFormat::Safetensors(header) => &mut header.tensors,
            ShardFormat::Gguf(header) => &mut header.tensors,
        };
        for tensor in tensors {
            tensor.shard = index;
        }
    }
}

/// An I/O error on `path`; "not found" becomes [`ModelError::MissingFile`].
pub(crate) fn io_error(path: &Path, error: io::Error) -> ModelError {
    if error.kind() == io::ErrorKind::NotFound {
        ModelError::MissingFile {
            file: path.to_path_buf(),
        }
    } else {
        ModelError::Io {
            file: path.to_path_buf(),
            source: error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_of(header: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    fn parse(bytes: &[u8]) -> Result<ShardHeader, ModelError> {
        parse_header(Path::new("t.safetensors"), bytes)
    }

    #[test]
    fn parses_in_offset_order() {
        let header = r#"{"b":{"dtype":"F16","shape":[2],"data_offsets":[4,8]},
            "a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},
            "__metadata__":{"format":"pt"}}"#;
        let parsed = parse(&file_of(header, &[0; 8])).unwrap();
        let names: Vec<_> = parsed.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(parsed.tensors[1].data_offset, 8 + header.len() as u64 + 4);
        assert_eq!(parsed.metadata["format"], "pt");
    }

    #[test]
    fn empty_header_and_zero_sized_tensors() {
        assert!(parse(&file_of("{}", &[])).unwrap().tensors.is_empty());
        let header = r#"{"z":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},
            "s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}"#;
        assert_eq!(parse(&file_of(header, &[0; 4])).unwrap().tensors.len(), 2);
    }

    #[test]
    fn typed_errors() {
        let one = |entry: &str, data: &[u8]| parse(&file_of(&format!("{{\"t\":{entry}}}"), data));
        assert!(matches!(
            parse(&[1, 2]),
            Err(ModelError::Truncated { len: 2, .. })
        ));
        assert!(matches!(
            parse(&u64::MAX.to_le_bytes()),
            Err(ModelError::HeaderBeyondFile { .. })
        ));
        assert!(matches!(
            parse(&file_of("[]", &[])),
            Err(ModelError::InvalidHeader { .. })
        ));
        assert!(matches!(
            one(r#"{"dtype":"F32"}"#, &[]),
            Err(ModelError::InvalidTensorEntry { .. })
        ));
        assert!(matches!(
            one(r#"{"dtype":"Q4","shape":[],"data_offsets":[0,1]}"#, &[0]),
            Err(ModelError::UnknownDtype { .. })
        ));
        assert!(matches!(
            one(r#"{"dtype":"F4","shape":[3],"data_offsets":[0,1]}"#, &[0]),
            Err(ModelError::PartialByte { elements: 3, .. })
        ));
        assert!(matches!(
            one(
                r#"{"dtype":"U8","shape":[2],"data_offsets":[0,2]}"#,
                &[0, 0, 0]
            ),
            Err(ModelError::TrailingBytes {
                start: 2,
                end: 3,
                ..
            })
        ));
    }
}
