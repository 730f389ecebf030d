//! Errors of reading (and writing) model files. Every error names the file, and the tensor
//! where one is at fault.

use std::io;
use std::path::PathBuf;

/// Why a model file could not be read or written.
///
/// Each variant names the file it concerns (`file`, or `index` and `shard` for a sharded model)
/// and, where one tensor is at fault, that tensor. The `Display` text says both, so a printed
/// error is enough to find the problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The path does not exist.
    #[error("{file}: no such file", file = file.display())]
    MissingFile {
        /// The path that was asked for.
        file: PathBuf,
    },

    /// A directory holds neither `model.safetensors`, `model.safetensors.index.json` nor a
    /// `.gguf` file.
    #[error(
        "{dir}: no model.safetensors, model.safetensors.index.json or .gguf file in this directory",
        dir = dir.display()
    )]
    NoModelInDirectory {
        /// The directory.
        dir: PathBuf,
    },

    /// The file could not be opened, inspected, mapped or written.
    #[error("{file}: {source}", file = file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },

    /// The file is shorter than the 8-byte header length that starts every safetensors file.
    #[error(
        "{file}: truncated: {len} bytes, shorter than the 8-byte header length",
        file = file.display()
    )]
    Truncated {
        /// The file.
        file: PathBuf,
        /// Its length in bytes.
        len: u64,
    },

    /// The header length runs past the end of the file (a file truncated inside its header, or a
    /// corrupt length).
    #[error(
        "{file}: header length {header_len} runs past the end of the file ({file_len} bytes): truncated or not a safetensors file",
        file = file.display()
    )]
    HeaderBeyondFile {
        /// The file.
        file: PathBuf,
        /// The header length the file declares.
        header_len: u64,
        /// The file's length in bytes.
        file_len: u64,
    },

    /// The header is longer than the format allows (100 MB, the `safetensors` crate's limit).
    #[error(
        "{file}: header length {header_len} exceeds the limit of {max} bytes",
        file = file.display()
    )]
    HeaderTooLarge {
        /// The file.
        file: PathBuf,
        /// The header length the file declares.
        header_len: u64,
        /// The largest header accepted.
        max: u64,
    },

    /// The header is not a JSON object of tensor entries (bad UTF-8, bad JSON, wrong shape of
    /// document, or a `__metadata__` that is not a map of strings).
    #[error("{file}: invalid header JSON: {reason}", file = file.display())]
    InvalidHeader {
        /// The file.
        file: PathBuf,
        /// What is wrong, with the JSON parser's position where it has one.
        reason: String,
    },

    /// One tensor's header entry is not `{"dtype": .., "shape": [..], "data_offsets": [a, b]}`.
    #[error("{file}: tensor `{tensor}`: invalid header entry: {reason}", file = file.display())]
    InvalidTensorEntry {
        /// The file.
        file: PathBuf,
        /// The tensor.
        tensor: String,
        /// What is wrong.
        reason: String,
    },

    /// A tensor declares a dtype the safetensors format does not define.
    #[error(
        "{file}: tensor `{tensor}`: unknown dtype `{dtype}`",
        file = file.display()
    )]
    UnknownDtype {
        /// The file.
        file: PathBuf,
        /// The tensor.
        tensor: String,
        /// The dtype string as written.
        dtype: String,
    },

    /// A tensor's element count, or its size in bits, overflows 64 bits.
    #[error(
        "{file}: tensor `{tensor}`: shape {shape:?} of {dtype} overflows a 64-bit size",
        file = file.display()
    )]
    ShapeOverflow {
        /// The file.
        file: PathBuf,
        /// The tensor.
        tensor: String,
        /// Its dtype.
        dtype: String,
        /// Its shape.
        shape: Vec<u64>,
    },

    /// A tensor of a sub-byte dtype (`F4`, `F6_*`) does not fill a whole number of bytes.
    #[error(
        "{file}: tensor `{tensor}`: {elements} elements of {dtype} are not a whole number of bytes",
        file = file.display()
    )]
    PartialByte {
        /// The file.
        file: PathBuf,
        /// The tensor.
        tensor: String,
        /// Its dtype.
        dtype: String,
        /// Its element count.
        elements: u64,
    },

    /// A tensor's data offsets are reversed or run past the end of the data (also how a file
    /// truncated inside its data shows).
    #[error(
        "{file}: tensor `{tensor}`: data offsets [{start}, {end}) out of range: the file holds {data_len} bytes of data (truncated, or corrupt offsets)",
        file = file.display()
    )]
    OffsetsOutOfRange {
        /// The file.
        file: PathBuf,
        /// The tensor.
        tensor: String,
        /// Its start offset, relative to the data section.
        start: u64,
        /// Its end offset, relative to the data section.
        end: u64,
        /// The length of the data section.
        data_len: u64,
    },

    /// Two tensors' byte ranges overlap.
    #[error(
        "{file}: tensor `{tensor}` (data offsets [{start}, {end})) overlaps tensor `{other}`, which ends at {other_end}",
        file = file.display()
    )]
    OverlappingTensors {
        /// The file.
        file: PathBuf,
        /// The later tensor (by start offset).
        tensor: String,
        /// Its start offset.
        start: u64,
        /// Its end offset.
        end: u64,
        /// The earlier tensor it overlaps.
        other: String,
        /// The earlier tensor's end offset.
        other_end: u64,
    },

    /// Bytes of the data section before a tensor belong to no tensor. The format forbids holes
    /// (as the `safetensors` crate does), so that no file can hide other content.
    #[error(
        "{file}: data bytes [{start}, {end}) before tensor `{tensor}` belong to no tensor",
        file = file.display()
    )]
    Gap {
        /// The file.
        file: PathBuf,
        /// The tensor after the gap.
        tensor: String,
        /// The gap's start offset.
        start: u64,
        /// The gap's end offset (the tensor's start).
        end: u64,
    },

    /// Bytes at the end of the data section belong to no tensor (forbidden like a [`Gap`](Self::Gap)).
    #[error(
        "{file}: data bytes [{start}, {end}) after the last tensor belong to no tensor",
        file = file.display()
    )]
    TrailingBytes {
        /// The file.
        file: PathBuf,
        /// Where the last tensor ends.
        start: u64,
        /// The length of the data section.
        end: u64,
    },

    /// A tensor's shape × dtype size disagrees with the length of its data offsets (or, when
    /// writing, with the length of the data given).
    #[error(
        "{file}: tensor `{tensor}`: shape {shape:?} of {dtype} needs {expected} bytes, but its data is {actual} bytes",
        file = file.display()
    )]
    SizeMismatch {
        /// The file.
        file: PathBuf,
        /// The tensor.
        tensor: String,
        /// Its dtype.
        dtype: String,
        /// Its shape.
        shape: Vec<u64>,
        /// The size shape × dtype calls for.
        expected: u64,
        /// The size the offsets (or the data given) have.
        actual: u64,
    },

    /// Two tensors have the same name, in one file or across the shards of a model.
    #[error(
        "tensor `{tensor}` is defined twice: in {first} and in {second}",
        first = first.display(),
        second = second.display()
    )]
    DuplicateTensor {
        /// The tensor.
        tensor: String,
        /// The file that defines it first.
        first: PathBuf,
        /// The file that defines it again (the same file for a duplicate within one file).
        second: PathBuf,
    },

    /// A sharded model's index is not valid JSON of the expected form
    /// (`{"weight_map": {"tensor": "shard file", ...}}`), or names a shard outside its directory.
    #[error("{file}: invalid index: {reason}", file = file.display())]
    InvalidIndex {
        /// The index file.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A shard file that the index names does not exist.
    #[error(
        "{index}: shard {shard} (holding tensor `{tensor}`) does not exist",
        index = index.display(),
        shard = shard.display()
    )]
    MissingShard {
        /// The index file.
        index: PathBuf,
        /// The missing shard's path.
        shard: PathBuf,
        /// A tensor that the index places in that shard.
        tensor: String,
    },

    /// The index places a tensor in a shard that does not contain it.
    #[error(
        "{index}: tensor `{tensor}` is mapped to {shard}, which does not contain it",
        index = index.display(),
        shard = shard.display()
    )]
    TensorNotInShard {
        /// The index file.
        index: PathBuf,
        /// The shard the index names.
        shard: PathBuf,
        /// The tensor.
        tensor: String,
    },

    /// A shard contains a tensor that the index does not list (a shard from another model or
    /// another revision, most likely).
    #[error(
        "{index}: shard {shard} contains tensor `{tensor}`, which the index does not list",
        index = index.display(),
        shard = shard.display()
    )]
    TensorNotInIndex {
        /// The index file.
        index: PathBuf,
        /// The shard.
        shard: PathBuf,
        /// The tensor.
        tensor: String,
    },

    /// A directory holds several models (GGUF files that are not the parts of one split
    /// model): name the file to open.
    #[error(
        "{dir}: several models in this directory ({files}): name the file to open",
        dir = dir.display(),
        files = files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    SeveralModels {
        /// The directory.
        dir: PathBuf,
        /// The model files found.
        files: Vec<PathBuf>,
    },

    /// A file opened as GGUF (by its `.gguf` name) does not start with the magic `GGUF`.
    #[error(
        "{file}: not a GGUF file: it starts with {magic:02x?}, not the magic `GGUF`",
        file = file.display()
    )]
    NotGguf {
        /// The file.
        file: PathBuf,
        /// Its first bytes (up to 4).
        magic: Vec<u8>,
    },

    /// A GGUF version other than 2 and 3 (version 1 used 32-bit counts; a big-endian file shows
    /// its version byte-swapped).
    #[error(
        "{file}: GGUF version {version} is not supported (versions 2 and 3, little-endian){hint}",
        file = file.display(),
        hint = if version.swap_bytes() == 2 || version.swap_bytes() == 3 {
            ": this is a big-endian file"
        } else {
            ""
        }
    )]
    GgufVersion {
        /// The file.
        file: PathBuf,
        /// The version it declares.
        version: u32,
    },

    /// The file ends inside its GGUF header: a field of `needed` bytes at `offset` is cut off.
    #[error(
        "{file}: truncated: {what} needs {needed} bytes at offset {offset}, but the file ends at {file_len}",
        file = file.display()
    )]
    GgufTruncated {
        /// The file.
        file: PathBuf,
        /// The field being read, e.g. ``the tensor info of `blk.0.attn_q.weight` ``.
        what: String,
        /// Where the field starts.
        offset: u64,
        /// Its size.
        needed: u64,
        /// The file's length.
        file_len: u64,
    },

    /// A count or length read from a GGUF header (a string's length, an array's, the number of
    /// tensors or metadata entries) needs more bytes than the file has left. Checked before
    /// anything is allocated for it.
    #[error(
        "{file}: {what} is {length}, which needs at least {needed} bytes at offset {offset}, but only {remaining} remain in the file",
        file = file.display()
    )]
    GgufLengthBeyondFile {
        /// The file.
        file: PathBuf,
        /// What the length counts, e.g. "the length of metadata key #3".
        what: String,
        /// The length as written.
        length: u64,
        /// The fewest bytes that many items take (saturated at `u64::MAX`).
        needed: u64,
        /// Where the items would start.
        offset: u64,
        /// The bytes left in the file from there.
        remaining: u64,
    },

    /// A GGUF string (a key, a tensor name or a string value) is not UTF-8.
    #[error("{file}: {what} is not valid UTF-8", file = file.display())]
    GgufInvalidString {
        /// The file.
        file: PathBuf,
        /// Which string.
        what: String,
    },

    /// A GGUF metadata value cannot be read: an unknown value type, or arrays nested deeper
    /// than [`MAX_ARRAY_DEPTH`](super::MAX_ARRAY_DEPTH).
    #[error("{file}: metadata `{key}`: {reason}", file = file.display())]
    GgufInvalidValue {
        /// The file.
        file: PathBuf,
        /// The metadata key.
        key: String,
        /// What is wrong.
        reason: String,
    },

    /// A GGUF metadata key appears twice.
    #[error("{file}: metadata key `{key}` appears twice", file = file.display())]
    GgufDuplicateKey {
        /// The file.
        file: PathBuf,
        /// The key.
        key: String,
    },

    /// `general.alignment` is not a `u32` power of two.
    #[error(
        "{file}: general.alignment {reason} (it must be a u32 power of two, 32 by default)",
        file = file.display()
    )]
    GgufAlignment {
        /// The file.
        file: PathBuf,
        /// What it is instead.
        reason: String,
    },

    /// A GGUF tensor has more dimensions than ggml's four.
    #[error(
        "{file}: tensor `{tensor}`: {dims} dimensions (ggml allows at most 4)",
        file = file.display()
    )]
    GgufDimensions {
        /// The file.
        file: PathBuf,
        /// The tensor.
        tensor: String,
        /// The dimension count it declares.
        dims: u32,
    },

    /// A GGUF tensor's type id is not a ggml type (or one ggml removed).
    #[error("{file}: tensor `{tensor}`: {source}", file = file.display())]
    UnknownGgmlType {
        /// The file.
        file: PathBuf,
        /// The tensor.
        tensor: String,
        /// The unknown id.
        source: super::UnknownGgmlType,
    },

    /// A ggml tensor's row (its innermost dimension) is not a whole number of blocks.
    #[error(
        "{file}: tensor `{tensor}`: rows of {row} elements are not whole {dtype} blocks of {block} elements",
        file = file.display()
    )]
    PartialBlock {
        /// The file.
        file: PathBuf,
        /// The tensor.
        tensor: String,
        /// Its ggml type.
        dtype: String,
        /// Its row length (innermost dimension).
        row: u64,
        /// The type's block size.
        block: u64,
    },

    /// A GGUF tensor's offset is not a multiple of the file's alignment.
    #[error(
        "{file}: tensor `{tensor}`: data offset {offset} is not a multiple of the alignment {alignment}",
        file = file.display()
    )]
    GgufMisaligned {
        /// The file.
        file: PathBuf,
        /// The tensor.
        tensor: String,
        /// Its offset, relative to the data section.
        offset: u64,
        /// The file's alignment.
        alignment: u64,
    },

    /// A part of a split GGUF model (`NAME-0000K-of-0000N.gguf`) does not exist.
    #[error(
        "{first}: split model of {count} parts: part {part}, {missing}, does not exist",
        first = first.display(),
        missing = missing.display()
    )]
    MissingSplit {
        /// The model's first part (or the part that was opened).
        first: PathBuf,
        /// The missing part's path.
        missing: PathBuf,
        /// Its number, from 1.
        part: u32,
        /// The number of parts.
        count: u32,
    },

    /// A split GGUF part's `split.*` metadata disagrees with its name or with the other parts.
    #[error("{file}: split model: {reason}", file = file.display())]
    SplitMismatch {
        /// The part at fault.
        file: PathBuf,
        /// What disagrees.
        reason: String,
    },

    /// Writing a model file failed for a reason other than I/O (an error of the `safetensors`
    /// serializer, or a shape that does not fit this machine's `usize`).
    #[error("{file}: cannot write: {reason}", file = file.display())]
    Write {
        /// The file being written.
        file: PathBuf,
        /// What went wrong.
        reason: String,
    },
}
