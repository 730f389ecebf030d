//! Model files: safetensors, single-file and sharded, read over memory maps.
//!
//! [`Model::open`] takes a `.safetensors` file, a sharded model's
//! `model.safetensors.index.json`, or a directory holding either. Each file is memory-mapped
//! and its header checked completely before anything else happens: offsets in range, no
//! overlap and no hole, shape × dtype size equal to the offsets, known dtypes, and for a sharded
//! model agreement between index and shards. Every failure is a [`ModelError`] that names the
//! file and the tensor. Tensor bytes are then served straight from the maps, uncopied, with
//! [`Model::tensor_data`]; every dtype is loaded as bytes.
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
//! [`parse_header`] and [`ModelIndex::parse`] check a header or an index held in memory, with
//! no filesystem access, for fuzzing. [`write_safetensors`] and [`write_sharded`] write models.

mod dtype;
mod error;
mod ggml_type;
mod index;
mod json;
#[allow(clippy::module_inception)] // `model::model`: the opened model, in the model module.
mod model;
mod shard;
mod tensor;
mod writer;

pub use dtype::{Dtype, UnknownDtype};
pub use error::ModelError;
pub use ggml_type::{GgmlType, UnknownGgmlType};
pub use index::{INDEX_FILE_NAME, MAX_INDEX_LEN, ModelIndex};
pub use model::{Model, SINGLE_FILE_NAME};
pub use shard::{MAX_HEADER_LEN, Shard, ShardHeader, parse_header};
pub use tensor::TensorInfo;
pub use writer::{write_safetensors, write_sharded};
