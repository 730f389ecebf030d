//! What a model file says about one tensor.

use super::TensorType;

/// One tensor of a model file: its name, element type, shape, size, and where its bytes are.
///
/// Every field has been checked against the file by the reader: `bytes` is shape × type size,
/// and `data_offset .. data_offset + bytes` lies inside the shard file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorInfo {
    /// The tensor's name, e.g. `model.layers.0.mlp.up_proj.weight` or `blk.0.attn_q.weight`.
    pub name: String,
    /// Its element type: a safetensors dtype or a ggml type. Strata loads every type as bytes.
    pub dtype: TensorType,
    /// Its shape, outermost dimension first (empty for a scalar). GGUF files list dimensions
    /// innermost first (`ne[0]`, the row length, first); the reader reverses them, so the last
    /// dimension here is always the row length, in both formats.
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

/// The number of elements of a tensor of this shape: 0 when any dimension is 0 (whatever the
/// others), else their product; `None` when that overflows `u64`. Independent of the order of
/// the dimensions.
pub fn element_count(shape: &[u64]) -> Option<u64> {
    if shape.contains(&0) {
        return Some(0);
    }
    shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d))
}

impl TensorInfo {
    /// The unit a tensor may be split at when it is larger than one buffer may be
    /// ([`split_into_parts`](crate::placement::split_into_parts)): one slice of its outermost
    /// dimension, that is the bytes of all dimensions but the first.
    ///
    /// - A 1-D tensor splits at its smallest whole unit: one element, or one block of a
    ///   quantized ggml type (144 bytes of `q4_K`), or the fewest sub-byte elements that fill
    ///   whole bytes.
    /// - A slice that is not whole bytes (an odd run of `F4`) cannot be split at: the unit is
    ///   then the whole tensor. GGUF tensors always have whole-block rows (the reader checks).
    /// - A scalar's unit is itself.
    pub fn row_bytes(&self) -> u64 {
        let whole = self.bytes.max(1);
        match self.shape.len() {
            0 => whole,
            1 => self
                .dtype
                .bytes_for(self.dtype.block_size())
                .filter(|&b| b > 0)
                .unwrap_or(whole),
            _ => element_count(&self.shape[1..])
                .and_then(|n| self.dtype.bytes_for(n))
                .filter(|&b| b > 0)
                .unwrap_or(whole),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Dtype, GgmlType};

    fn info(dtype: impl Into<TensorType>, shape: &[u64]) -> TensorInfo {
        let dtype = dtype.into();
        let elements = shape.iter().product();
        TensorInfo {
            name: "t".into(),
            dtype,
            shape: shape.to_vec(),
            bytes: dtype.bytes_for(elements).unwrap(),
            shard: 0,
            data_offset: 0,
        }
    }

    #[test]
    fn rows_of_whole_and_sub_byte_dtypes() {
        assert_eq!(info(Dtype::BF16, &[10, 20]).row_bytes(), 40);
        assert_eq!(info(Dtype::F32, &[7]).row_bytes(), 4);
        assert_eq!(info(Dtype::F32, &[]).row_bytes(), 4);
        assert_eq!(info(Dtype::F4, &[10, 20]).row_bytes(), 10);
        assert_eq!(info(Dtype::F4, &[3, 4, 3]).row_bytes(), 6);
        assert_eq!(
            info(Dtype::F4, &[4, 3]).row_bytes(),
            6,
            "half-byte rows: whole"
        );
        assert_eq!(info(Dtype::F4, &[8]).row_bytes(), 1);
        assert_eq!(info(Dtype::F6E2M3, &[8]).row_bytes(), 3);
    }

    #[test]
    fn element_counts_do_not_depend_on_order() {
        assert_eq!(element_count(&[]), Some(1));
        assert_eq!(element_count(&[2, 3]), Some(6));
        assert_eq!(element_count(&[1 << 40, 1 << 40, 0]), Some(0));
        assert_eq!(element_count(&[0, 1 << 40, 1 << 40]), Some(0));
        assert_eq!(element_count(&[1 << 40, 1 << 40]), None);
    }

    #[test]
    fn rows_of_ggml_types_are_whole_blocks() {
        assert_eq!(info(GgmlType::Q4_K, &[4, 512]).row_bytes(), 2 * 144);
        assert_eq!(info(GgmlType::Q6_K, &[2, 3, 256]).row_bytes(), 3 * 210);
        assert_eq!(info(GgmlType::Q8_0, &[64]).row_bytes(), 34);
        assert_eq!(info(GgmlType::F32, &[64]).row_bytes(), 4);
        assert_eq!(info(GgmlType::MXFP4, &[3, 32]).row_bytes(), 17);
        assert_eq!(info(GgmlType::F16, &[0, 8]).row_bytes(), 16);
    }
}
