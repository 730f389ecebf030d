//! The element types and matrix layouts the kernels read.

use crate::error::{Error, Result};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// The element type of a kernel's matrix operands (GEMM's A and B, GEMV's weights).
///
/// Accumulation and outputs are always f32. 16-bit values are stored as little-endian pairs in
/// 32-bit words (element 2i in the low half of word i), which is simply their byte order in a
/// safetensors file; buffers of an odd count are padded to a whole word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelDtype {
    /// IEEE single precision.
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16: the high 16 bits of an f32 (WGSL has no such type; shaders unpack it).
    Bf16,
}

impl KernelDtype {
    /// Every kernel dtype.
    pub const ALL: [KernelDtype; 3] = [KernelDtype::F32, KernelDtype::F16, KernelDtype::Bf16];

    /// Bytes of one element.
    pub fn bytes(self) -> u64 {
        match self {
            KernelDtype::F32 => 4,
            KernelDtype::F16 | KernelDtype::Bf16 => 2,
        }
    }

    /// The lowercase name: `f32`, `f16`, `bf16`.
    pub fn name(self) -> &'static str {
        match self {
            KernelDtype::F32 => "f32",
            KernelDtype::F16 => "f16",
            KernelDtype::Bf16 => "bf16",
        }
    }

    /// Bytes a buffer of `elements` elements must hold: rounded up to whole 32-bit words,
    /// as the shaders read words. A [`Error::TooLarge`] when that overflows `u64`.
    pub fn buffer_bytes(self, elements: u64) -> Result<u64> {
        elements
            .checked_mul(self.bytes())
            .and_then(|b| b.checked_add(3))
            .map(|b| b / 4 * 4)
            .ok_or_else(|| Error::TooLarge {
                what: format!("{elements} {self} elements"),
                bytes: u64::MAX,
                limit_name: "u64 byte count",
                limit: u64::MAX,
            })
    }

    /// The value of the `DTYPE` constant of the generic shaders.
    pub(crate) fn code(self) -> u32 {
        match self {
            KernelDtype::F32 => 0,
            KernelDtype::F16 => 1,
            KernelDtype::Bf16 => 2,
        }
    }
}

impl fmt::Display for KernelDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KernelDtype {
    type Err = Error;

    /// Parses `f32`, `f16` or `bf16` (any case).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(KernelDtype::F32),
            "f16" => Ok(KernelDtype::F16),
            "bf16" => Ok(KernelDtype::Bf16),
            _ => Err(Error::InvalidArgument(format!(
                "unknown kernel dtype `{s}` (expected f32, f16 or bf16)"
            ))),
        }
    }
}

impl TryFrom<crate::model::Dtype> for KernelDtype {
    type Error = Error;

    /// The kernel dtype of a safetensors dtype; the kernels read only F32, F16 and BF16.
    fn try_from(dtype: crate::model::Dtype) -> Result<Self> {
        use crate::model::Dtype as D;
        match dtype {
            D::F32 => Ok(KernelDtype::F32),
            D::F16 => Ok(KernelDtype::F16),
            D::BF16 => Ok(KernelDtype::Bf16),
            other => Err(Error::InvalidArgument(format!(
                "the kernels read F32, F16 and BF16 tensors, not {other}"
            ))),
        }
    }
}

/// How GEMM's B operand is stored (A is always [M, K] row-major, C [M, N] row-major).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(clippy::upper_case_acronyms, reason = "the BLAS names of the layouts")]
pub enum Layout {
    /// B is [K, N] row-major: C = A·B.
    NN,
    /// B is [N, K] row-major (weights as `[out, in]`, the safetensors convention): C = A·Bᵀ.
    NT,
}

impl Layout {
    /// `nn` or `nt`.
    pub fn name(self) -> &'static str {
        match self {
            Layout::NN => "nn",
            Layout::NT => "nt",
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Layout {
    type Err = Error;

    /// Parses `nn` or `nt` (any case).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "nn" => Ok(Layout::NN),
            "nt" => Ok(Layout::NT),
            _ => Err(Error::InvalidArgument(format!(
                "unknown layout `{s}` (expected nn or nt)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for dtype in KernelDtype::ALL {
            assert_eq!(dtype.name().parse::<KernelDtype>().unwrap(), dtype);
        }
        assert_eq!("BF16".parse::<KernelDtype>().unwrap(), KernelDtype::Bf16);
        assert!("i8".parse::<KernelDtype>().is_err());
        assert_eq!("NT".parse::<Layout>().unwrap(), Layout::NT);
        assert!("tn".parse::<Layout>().is_err());
    }

    #[test]
    fn buffer_bytes_round_up_to_words() {
        assert_eq!(KernelDtype::F16.buffer_bytes(1).unwrap(), 4);
        assert_eq!(KernelDtype::Bf16.buffer_bytes(4).unwrap(), 8);
        assert_eq!(KernelDtype::F32.buffer_bytes(3).unwrap(), 12);
        assert!(KernelDtype::F32.buffer_bytes(u64::MAX).is_err());
    }

    #[test]
    fn safetensors_dtypes() {
        use crate::model::Dtype as D;
        assert_eq!(KernelDtype::try_from(D::BF16).unwrap(), KernelDtype::Bf16);
        assert!(KernelDtype::try_from(D::I8).is_err());
    }
}
