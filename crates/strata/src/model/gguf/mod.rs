//! GGUF files: the header parser, metadata values, split models and a writer.
//!
//! The parser is written here rather than taken from a crate. The maintained zero-copy reader,
//! `ggus` 0.5, does not hold up against hostile input: it reserves room from counts read from
//! the file before checking them against its length (`IndexMap::with_capacity` of the metadata
//! count), unwraps on hostile string lengths (`Layout::array(len).unwrap()`), adds offsets and
//! subtracts lengths unchecked when the data section is short, accepts only version 3, and its
//! errors do not say which tensor is at fault. The format is small (a header of counts, strings,
//! typed values and tensor infos); this reader is a few hundred lines, bounds every read, checks
//! every count against the bytes left before allocating, and reports each failure as a
//! [`ModelError`](super::ModelError) naming the file and tensor. `strata-fuzz gguf_header`
//! fuzzes it; `tests/gguf.rs` checks it against files the Python `gguf` package wrote.

mod cursor;
mod header;
mod split;
mod value;
mod writer;

pub use header::{DEFAULT_ALIGNMENT, GGUF_MAGIC, GgufHeader, parse_gguf};
pub use split::{SPLIT_COUNT, SPLIT_NO, SPLIT_TENSORS_COUNT, SplitName};
pub(crate) use split::{check_parts, check_single};
pub use value::{GgufArray, GgufMetadata, GgufValue, GgufValueType, MAX_ARRAY_DEPTH};
pub use writer::{GgufTensor, GgufWriter};
