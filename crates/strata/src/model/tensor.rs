//! What a model file says about one tensor.

use super::Dtype;

/// One tensor of a model file: its name, dtype, shape, size, and where its bytes are.
///
/// Every field has been checked against the file by the reader: `bytes` is shape × dtype size,
/// and `data_offset .. data_offset + bytes` lies inside the shard file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorInfo {
    /// The tensor's name, e.g. `model.layers.0.mlp.up_proj.weight`.
    pub name: String,
    /// Its element type. Strata loads every dtype as bytes.
    pub dtype: Dtype,
    /// Its shape, outermost dimension first (empty for a scalar).
    pub shape: Vec<u64>,
    /// Its size in bytes.
    pub bytes: u64,
    /// The index of the shard file that holds it, in [`Model::shards`](super::Model::shards)
    /// (0 for a single-file model).
    pub shard: usize,
    /// The offset of its first byte from the start of the shard file (not of the data section),
    /// so a reader can `pread` it without knowing the header's length.
    pub data_offset: u64,
}
