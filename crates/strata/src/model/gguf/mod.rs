//! GGUF files: the header parser, metadata values, split models and a writer.
//!
//! The parser is written here rather than taken from a crate: the Rust GGUF readers available
//! (`ggus`, `gguf-rs-lib`, candle's `gguf_file`) either reserve room from counts read from the
//! file before checking them against its length (a hostile count aborts on allocation), panic
//! or overflow on hostile lengths and offsets, read through `Read` into owned buffers rather
//! than over a memory map, accept only version 3, or do not say which tensor is at fault. The
//! format is small (a header of counts, strings, typed values and tensor infos); this reader
//! is a few hundred lines, bounds every read, checks every count against the bytes left before
//! allocating, and reports each failure as a [`ModelError`](super::ModelError) naming the file
//! and tensor. `strata-fuzz gguf_header` fuzzes it.

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
