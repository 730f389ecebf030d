//! The element type of a model tensor, in either file format: a safetensors dtype or a ggml type.

use super::{Dtype, GgmlType};
use std::fmt;

/// What a tensor's elements are: a safetensors [`Dtype`] (`BF16`) or a ggml [`GgmlType`]
/// (`q4_K`). The two formats' names never collide (safetensors spells them in upper case, ggml in
/// lower case), so [`TensorType::name`] alone says which it is.
///
/// Strata loads every type as bytes; what it needs of a type is its size rule: how many bytes a
/// run of elements takes ([`TensorType::bytes_for`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TensorType {
    /// A safetensors dtype.
    Safetensors(Dtype),
    /// A ggml type, as GGUF files store them.
    Ggml(GgmlType),
}

impl TensorType {
    /// The name as the file format spells it: `"BF16"`, `"q4_K"`.
    pub fn name(self) -> &'static str {
        match self {
            TensorType::Safetensors(dtype) => dtype.name(),
            TensorType::Ggml(ty) => ty.name(),
        }
    }

    /// The bytes `elements` consecutive elements take, or `None` when that overflows `u64` or
    /// does not fill whole bytes (an odd number of `F4`) or whole blocks (100 elements of `q4_K`).
    pub fn bytes_for(self, elements: u64) -> Option<u64> {
        match self {
            TensorType::Safetensors(dtype) => dtype.bytes_for(elements),
            TensorType::Ggml(ty) => ty.row_bytes(elements),
        }
    }

    /// The smallest run of elements that fills whole bytes: 1 for whole-byte dtypes, 2 for `F4`,
    /// 4 for the 6-bit floats, the block size for ggml types (256 for `q4_K`).
    pub fn block_size(self) -> u64 {
        match self {
            TensorType::Safetensors(dtype) => {
                let bits = u64::from(dtype.bits());
                (1..=8).find(|n| (n * bits).is_multiple_of(8)).unwrap_or(8)
            }
            TensorType::Ggml(ty) => ty.block_size(),
        }
    }

    /// The safetensors dtype, for a safetensors tensor.
    pub fn safetensors(self) -> Option<Dtype> {
        match self {
            TensorType::Safetensors(dtype) => Some(dtype),
            TensorType::Ggml(_) => None,
        }
    }

    /// The ggml type, for a GGUF tensor.
    pub fn ggml(self) -> Option<GgmlType> {
        match self {
            TensorType::Ggml(ty) => Some(ty),
            TensorType::Safetensors(_) => None,
        }
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<Dtype> for TensorType {
    fn from(dtype: Dtype) -> TensorType {
        TensorType::Safetensors(dtype)
    }
}

impl From<GgmlType> for TensorType {
    fn from(ty: GgmlType) -> TensorType {
        TensorType::Ggml(ty)
    }
}

impl PartialEq<Dtype> for TensorType {
    fn eq(&self, other: &Dtype) -> bool {
        *self == TensorType::Safetensors(*other)
    }
}

impl PartialEq<GgmlType> for TensorType {
    fn eq(&self, other: &GgmlType) -> bool {
        *self == TensorType::Ggml(*other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_never_collide() {
        let mut names = HashSet::new();
        for dtype in Dtype::ALL {
            assert!(names.insert(TensorType::from(dtype).name()));
        }
        for ty in GgmlType::ALL {
            assert!(names.insert(TensorType::from(ty).name()), "{ty}");
        }
    }

    #[test]
    fn sizes_and_blocks() {
        assert_eq!(TensorType::from(Dtype::BF16).bytes_for(3), Some(6));
        assert_eq!(TensorType::from(GgmlType::Q4_K).bytes_for(512), Some(288));
        assert_eq!(TensorType::from(GgmlType::Q4_K).bytes_for(100), None);
        assert_eq!(TensorType::from(Dtype::F4).block_size(), 2);
        assert_eq!(TensorType::from(Dtype::F6E2M3).block_size(), 4);
        assert_eq!(TensorType::from(Dtype::U8).block_size(), 1);
        assert_eq!(TensorType::from(GgmlType::Q6_K).block_size(), 256);
        assert_eq!(TensorType::from(Dtype::F32), Dtype::F32);
        assert_eq!(TensorType::from(GgmlType::F32), GgmlType::F32);
        assert_ne!(
            TensorType::from(GgmlType::F32),
            TensorType::from(Dtype::F32)
        );
    }
}
