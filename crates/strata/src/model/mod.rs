//! Model files: safetensors (single-file and sharded) and GGUF (single-file and split), read
//! over memory maps, behind one [`Model`].
//!
//! [`Model::open`] takes a `.safetensors` file, a sharded model's
//! `model.safetensors.index.json`, a `.gguf` file or any part of a split GGUF model, or a
//! directory holding one model. Each file is memory-mapped and its header checked completely
//! before anything else happens: offsets in range, no overlap and no hole, shape × type size
//! equal to the offsets, known types, and for a sharded or split model agreement between its
//! files. Every failure is a [`ModelError`] that names the file and the tensor. Tensor bytes
//! are then served straight from the maps, uncopied, with [`Model::tensor_data`]; every type is
//! loaded as bytes, the quantized ggml types ([`GgmlType`]) included.
//!
//! ```no_run
//! use strata::model::Model;
//! let model = Model::open("models/llama")?;
//! for tensor in model.tensors() {
//!     let bytes = model.tensor_data(tensor).unwrap_or_default();
//!     println!("{} {} {:?} {} bytes", tensor.name, tensor.dtype, tensor.shape, bytes.len());
//! }
//! # Ok::<(), strata::model::ModelError>(())
//! ```
//!
//! [`parse_header`], [`parse_gguf`] and [`ModelIndex::parse`] check a header or an index held
//! in memory, with no filesystem access, for fuzzing. [`write_safetensors`],
//! [`write_sharded`] and [`GgufWriter`] write models.

mod dtype;
mod error;
mod ggml_type;
mod gguf;
mod index;
mod json;
#[allow(clippy::module_inception)] // `model::model`: the opened model, in the model module.
mod model;
mod shard;
mod tensor;
mod tensor_type;
mod writer;

pub use dtype::{Dtype, UnknownDtype};
pub use error::ModelError;
pub use ggml_type::{GgmlType, UnknownGgmlType};
pub use gguf::{
    DEFAULT_ALIGNMENT, GGUF_MAGIC, GgufArray, GgufHeader, GgufMetadata, GgufTensor, GgufValue,
    GgufValueType, GgufWriter, MAX_ARRAY_DEPTH, SPLIT_COUNT, SPLIT_NO, SPLIT_TENSORS_COUNT,
    SplitName, parse_gguf,
};
pub use index::{INDEX_FILE_NAME, MAX_INDEX_LEN, ModelIndex};
pub use model::{Model, ModelFormat, SINGLE_FILE_NAME};
pub use shard::{MAX_HEADER_LEN, Shard, ShardFormat, ShardHeader, parse_header};
pub use tensor::{TensorInfo, element_count};
pub use tensor_type::TensorType;
pub use writer::{write_safetensors, write_sharded};
