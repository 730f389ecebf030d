//! A GGUF file's header: magic, version, counts, metadata, tensor infos; then the data section.
//!
//! The layout (GGUF versions 2 and 3, little-endian; `ggml/docs/gguf.md`):
//!
//! ```text
//! "GGUF"  u32 version  u64 tensor_count  u64 metadata_count
//! metadata_count × (string key, u32 value type, value)
//! tensor_count × (string name, u32 n_dims, n_dims × u64 ne, u32 ggml type, u64 offset)
//! padding to `general.alignment` (32 by default)
//! data section: each tensor at its offset, a multiple of the alignment
//! ```
//!
//! A string is a `u64` length and UTF-8 bytes. `ne[0]` is the innermost dimension (the row
//! length); Strata's shapes are outermost first, so the dimensions are reversed.
//!
//! Beyond the format, the checks are those ggml's own reader (`gguf.cpp`) makes, stated
//! order-independently: tensors lie inside the data section, at aligned offsets, do not
//! overlap, and leave no hole larger than the alignment padding; rows are whole blocks of their
//! type; sizes do not overflow.

use super::cursor::Cursor;
use super::value::{GgufMetadata, GgufValue, read_entry};
use crate::model::tensor::element_count;
use crate::model::{GgmlType, ModelError, TensorInfo, TensorType};
use std::collections::HashSet;
use std::path::Path;

/// The four bytes every GGUF file starts with.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";

/// The alignment of tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// ggml's limit on a tensor's dimensions (`GGML_MAX_DIMS`).
const MAX_DIMS: u32 = 4;

/// The fewest bytes a tensor info takes: an empty name (8), `n_dims` (4), type (4), offset (8).
const MIN_TENSOR_INFO_BYTES: u64 = 24;

/// The fewest bytes a metadata entry takes: an empty key (8), type (4), a one-byte value.
const MIN_ENTRY_BYTES: u64 = 13;

/// The most entries reserved ahead of reading them (memory follows the bytes read).
const MAX_RESERVE: u64 = 1 << 16;

/// The parsed, checked header of one GGUF file.
#[derive(Clone, Debug, PartialEq)]
pub struct GgufHeader {
    /// The format version (2 or 3).
    pub version: u32,
    /// The alignment of tensor data (`general.alignment`, 32 by default).
    pub alignment: u64,
    /// The metadata, in file order.
    pub metadata: GgufMetadata,
    /// The tensors, in file order (by data offset, then name). `data_offset` is from the start
    /// of the file; each `shard` field is the index of this file in its model (0 here).
    pub tensors: Vec<TensorInfo>,
    /// Where the data section starts: the end of the tensor infos, padded to the alignment.
    pub data_start: u64,
    /// The length of the data section: from `data_start` to the end of the file.
    pub data_len: u64,
}

/// One tensor info as written, before it is checked against the others.
struct RawTensor {
    name: String,
    ne: Vec<u64>,
    ty: GgmlType,
    offset: u64,
}

/// Parses and checks the header of a GGUF file whose whole content is `bytes`.
///
/// `file` only names the file in errors: nothing is read from the filesystem, so a fuzzer can
/// call this on arbitrary bytes. It never panics, and allocates no more than a small multiple
/// of the header bytes it has read.
///
/// # Errors
/// [`ModelError::NotGguf`], [`ModelError::GgufVersion`], [`ModelError::GgufTruncated`],
/// [`ModelError::GgufLengthBeyondFile`], [`ModelError::GgufInvalidString`],
/// [`ModelError::GgufInvalidValue`], [`ModelError::GgufDuplicateKey`],
/// [`ModelError::GgufAlignment`], [`ModelError::GgufDimensions`],
/// [`ModelError::UnknownGgmlType`], [`ModelError::ShapeOverflow`], [`ModelError::PartialBlock`],
/// [`ModelError::DuplicateTensor`], [`ModelError::GgufMisaligned`],
/// [`ModelError::OffsetsOutOfRange`], [`ModelError::OverlappingTensors`], [`ModelError::Gap`]
/// and [`ModelError::TrailingBytes`].
pub fn parse_gguf(file: &Path, bytes: &[u8]) -> Result<GgufHeader, ModelError> {
    let mut cursor = Cursor::new(file, bytes);
    let magic = bytes.get(..4).unwrap_or(bytes);
    if magic.len() < 4 && GGUF_MAGIC.starts_with(magic) {
        return Err(ModelError::GgufTruncated {
            file: file.to_path_buf(),
            what: "the magic".into(),
            offset: 0,
            needed: 4,
            file_len: bytes.len() as u64,
        });
    }
    if magic != GGUF_MAGIC {
        return Err(ModelError::NotGguf {
            file: file.to_path_buf(),
            magic: magic.to_vec(),
        });
    }
    cursor.take(4, || "the magic".into())?;
    let version = cursor.u32(|| "the version".into())?;
    if !(2..=3).contains(&version) {
        return Err(ModelError::GgufVersion {
            file: file.to_path_buf(),
            version,
        });
    }
    let tensor_count = cursor.u64(|| "the tensor count".into())?;
    let entry_count = cursor.count(MIN_ENTRY_BYTES, || "the metadata count".into())?;

    let mut metadata = GgufMetadata::default();
    for number in 0..entry_count {
        let (key, value) = read_entry(&mut cursor, number)?;
        metadata
            .insert(key, value)
            .map_err(|key| ModelError::GgufDuplicateKey {
                file: file.to_path_buf(),
                key,
            })?;
    }
    let alignment = alignment(file, &metadata)?;

    let needed = tensor_count.saturating_mul(MIN_TENSOR_INFO_BYTES);
    if needed > cursor.remaining() {
        return Err(ModelError::GgufLengthBeyondFile {
            file: file.to_path_buf(),
            what: "the tensor count".into(),
            length: tensor_count,
            needed,
            offset: cursor.offset(),
            remaining: cursor.remaining(),
        });
    }
    let mut raw = Vec::with_capacity(tensor_count.min(MAX_RESERVE) as usize);
    for number in 0..tensor_count {
        raw.push(read_tensor_info(&mut cursor, number)?);
    }

    let file_len = bytes.len() as u64;
    let header_end = cursor.offset();
    // A file without tensors may end before the padding.
    let data_start = align_up(header_end, alignment)
        .filter(|&start| start <= file_len || raw.is_empty())
        .map(|start| start.min(file_len))
        .ok_or_else(|| ModelError::GgufTruncated {
            file: file.to_path_buf(),
            what: "the padding before the data section".into(),
            offset: header_end,
            needed: alignment - header_end % alignment,
            file_len,
        })?;
    let data_len = file_len - data_start;
    let tensors = check_tensors(file, raw, alignment, data_start, data_len)?;
    Ok(GgufHeader {
        version,
        alignment,
        metadata,
        tensors,
        data_start,
        data_len,
    })
}

/// `general.alignment`: a `u32` power of two, 32 when absent.
fn alignment(file: &Path, metadata: &GgufMetadata) -> Result<u64, ModelError> {
    let error = |reason: String| ModelError::GgufAlignment {
        file: file.to_path_buf(),
        reason,
    };
    match metadata.get("general.alignment") {
        None => Ok(DEFAULT_ALIGNMENT),
        Some(GgufValue::U32(n)) if n.is_power_of_two() => Ok(u64::from(*n)),
        Some(GgufValue::U32(n)) => Err(error(format!("is {n}, not a power of two"))),
        Some(other) => Err(error(format!(
            "is a {} ({other}), not a u32",
            other.value_type()
        ))),
    }
}

/// `value` rounded up to a multiple of the power of two `alignment`, if that fits in `u64`.
pub(crate) fn align_up(value: u64, alignment: u64) -> Option<u64> {
    let mask = alignment.checked_sub(1)?;
    value.checked_add(mask).map(|v| v & !mask)
}

/// Reads tensor info `number`: name, dimensions, type, offset.
fn read_tensor_info(cursor: &mut Cursor<'_>, number: u64) -> Result<RawTensor, ModelError> {
    let name = cursor
        .string(|| format!("the name of tensor #{number}"))?
        .to_string();
    let what = || format!("the tensor info of `{name}`");
    let dims = cursor.u32(what)?;
    if dims > MAX_DIMS {
        return Err(ModelError::GgufDimensions {
            file: cursor.file().to_path_buf(),
            tensor: name,
            dims,
        });
    }
    let mut ne = Vec::with_capacity(dims as usize);
    for _ in 0..dims {
        ne.push(cursor.u64(what)?);
    }
    let type_id = cursor.u32(what)?;
    let ty = GgmlType::from_id(type_id).map_err(|source| ModelError::UnknownGgmlType {
        file: cursor.file().to_path_buf(),
        tensor: name.clone(),
        source,
    })?;
    let offset = cursor.u64(what)?;
    Ok(RawTensor {
        name,
        ne,
        ty,
        offset,
    })
}

/// A checked tensor: its info and its range in the data section.
struct Checked {
    info: TensorInfo,
    start: u64,
    end: u64,
}

/// Checks each tensor on its own (size, alignment) and all together (distinct names, inside
/// the data section, no overlap, no hole beyond the padding), and puts them in file order.
fn check_tensors(
    file: &Path,
    raw: Vec<RawTensor>,
    alignment: u64,
    data_start: u64,
    data_len: u64,
) -> Result<Vec<TensorInfo>, ModelError> {
    let mut names = HashSet::with_capacity(raw.len());
    for tensor in &raw {
        if !names.insert(tensor.name.as_str()) {
            return Err(ModelError::DuplicateTensor {
                tensor: tensor.name.clone(),
                first: file.to_path_buf(),
                second: file.to_path_buf(),
            });
        }
    }
    let mut checked = Vec::with_capacity(raw.len());
    for tensor in raw {
        checked.push(check_tensor(file, tensor, alignment, data_start)?);
    }
    checked.sort_by(|a, b| (a.start, a.end, &a.info.name).cmp(&(b.start, b.end, &b.info.name)));

    let mut covered = 0u64; // Where the previous tensor ends, in the data section.
    let mut previous: Option<&Checked> = None;
    for tensor in &checked {
        if tensor.end > data_len {
            return Err(ModelError::OffsetsOutOfRange {
                file: file.to_path_buf(),
                tensor: tensor.info.name.clone(),
                start: tensor.start,
                end: tensor.end,
                data_len,
            });
        }
        if let Some(other) = previous.filter(|_| tensor.start < covered) {
            return Err(ModelError::OverlappingTensors {
                file: file.to_path_buf(),
                tensor: tensor.info.name.clone(),
                start: tensor.start,
                end: tensor.end,
                other: other.info.name.clone(),
                other_end: covered,
            });
        }
        // `covered` is at most `data_len`, so its padded value fits.
        let padded = align_up(covered, alignment).unwrap_or(covered);
        if tensor.start > padded {
            return Err(ModelError::Gap {
                file: file.to_path_buf(),
                tensor: tensor.info.name.clone(),
                start: covered,
                end: tensor.start,
            });
        }
        covered = covered.max(tensor.end);
        previous = Some(tensor);
    }
    let padded = align_up(covered, alignment).unwrap_or(covered);
    if data_len > padded {
        return Err(ModelError::TrailingBytes {
            file: file.to_path_buf(),
            start: covered,
            end: data_len,
        });
    }
    Ok(checked.into_iter().map(|c| c.info).collect())
}

/// Checks one tensor's shape, type and offset, and gives its info.
fn check_tensor(
    file: &Path,
    tensor: RawTensor,
    alignment: u64,
    data_start: u64,
) -> Result<Checked, ModelError> {
    let RawTensor {
        name,
        ne,
        ty,
        offset,
    } = tensor;
    let shape: Vec<u64> = ne.iter().rev().copied().collect();
    let overflow = |name: String, shape: Vec<u64>| ModelError::ShapeOverflow {
        file: file.to_path_buf(),
        tensor: name,
        dtype: ty.name().to_string(),
        shape,
    };
    // ggml holds dimensions and element counts in `int64_t`: a dimension past `i64::MAX` is
    // negative there, whatever the other dimensions are.
    let elements = element_count(&ne)
        .filter(|&n| i64::try_from(n).is_ok())
        .filter(|_| ne.iter().all(|&d| i64::try_from(d).is_ok()));
    let Some(elements) = elements else {
        return Err(overflow(name, shape));
    };
    let row = ne.first().copied().unwrap_or(1);
    if !row.is_multiple_of(ty.block_size()) {
        return Err(ModelError::PartialBlock {
            file: file.to_path_buf(),
            tensor: name,
            dtype: ty.name().to_string(),
            row,
            block: ty.block_size(),
        });
    }
    let Some(bytes) = ty.row_bytes(elements) else {
        return Err(overflow(name, shape));
    };
    // Saturated ends fail the range check against the data section.
    let end = offset.saturating_add(bytes);
    if !offset.is_multiple_of(alignment) {
        return Err(ModelError::GgufMisaligned {
            file: file.to_path_buf(),
            tensor: name,
            offset,
            alignment,
        });
    }
    Ok(Checked {
        info: TensorInfo {
            name,
            dtype: TensorType::Ggml(ty),
            shape,
            bytes,
            shard: 0,
            data_offset: data_start.saturating_add(offset),
        },
        start: offset,
        end,
    })
}
