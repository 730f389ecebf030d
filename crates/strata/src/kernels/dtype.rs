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
///
/// The quantized types are ggml's (the types of GGUF files), stored as their raw blocks: a row
/// of `cols` weights is `cols / block_elements()` consecutive blocks of `block_bytes()` bytes,
/// exactly ggml's `block_q4_0` … `block_q6_K` structs (`ggml/src/ggml-common.h` in llama.cpp:
/// little-endian, f16 scales, no padding), so `cols` must be a multiple of the block size. A
/// buffer of blocks is padded to a whole 32-bit word. Quantized weights are read by GEMV (and by
/// GEMM as its B operand); `crate::reference::quant` decodes them on the CPU exactly as ggml does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelDtype {
    /// IEEE single precision.
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16: the high 16 bits of an f32 (WGSL has no such type; shaders unpack it).
    Bf16,
    /// ggml `Q4_0`: 32 weights in 18 bytes, an f16 scale `d` and 4-bit `q`; w = d·(q − 8).
    #[serde(rename = "q4_0")]
    Q4_0,
    /// ggml `Q4_1`: 32 weights in 20 bytes, f16 `d` and `m`, 4-bit `q`; w = d·q + m.
    #[serde(rename = "q4_1")]
    Q4_1,
    /// ggml `Q5_0`: 32 weights in 22 bytes, f16 `d`, 5-bit `q` (4 low bits, 1 high bit apart);
    /// w = d·(q − 16).
    #[serde(rename = "q5_0")]
    Q5_0,
    /// ggml `Q5_1`: 32 weights in 24 bytes, f16 `d` and `m`, 5-bit `q`; w = d·q + m.
    #[serde(rename = "q5_1")]
    Q5_1,
    /// ggml `Q8_0`: 32 weights in 34 bytes, f16 `d` and 8-bit signed `q`; w = d·q.
    #[serde(rename = "q8_0")]
    Q8_0,
    /// ggml `Q2_K`: 256 weights in 84 bytes, 16 groups of 16 with 4-bit scales and mins under
    /// f16 `d` and `dmin`, 2-bit `q`.
    #[serde(rename = "q2_k")]
    Q2K,
    /// ggml `Q3_K`: 256 weights in 110 bytes, 16 groups of 16 with 6-bit scales under f16 `d`,
    /// 3-bit `q` (2 low bits, 1 high bit apart).
    #[serde(rename = "q3_k")]
    Q3K,
    /// ggml `Q4_K`: 256 weights in 144 bytes, 8 groups of 32 with 6-bit scales and mins under
    /// f16 `d` and `dmin`, 4-bit `q`.
    #[serde(rename = "q4_k")]
    Q4K,
    /// ggml `Q5_K`: 256 weights in 176 bytes, as `Q4_K` with 5-bit `q` (1 high bit apart).
    #[serde(rename = "q5_k")]
    Q5K,
    /// ggml `Q6_K`: 256 weights in 210 bytes, 16 groups of 16 with 8-bit signed scales under
    /// f16 `d`, 6-bit `q` (4 low bits, 2 high bits apart).
    #[serde(rename = "q6_k")]
    Q6K,
}

impl KernelDtype {
    /// The float dtypes (f32, f16, bf16): every dtype both GEMM operands and the float GEMV
    /// kernels take. The quantized ones are [`KernelDtype::QUANTIZED`].
    pub const ALL: [KernelDtype; 3] = [KernelDtype::F32, KernelDtype::F16, KernelDtype::Bf16];

    /// Every quantized (ggml block) dtype.
    pub const QUANTIZED: [KernelDtype; 10] = [
        KernelDtype::Q4_0,
        KernelDtype::Q4_1,
        KernelDtype::Q5_0,
        KernelDtype::Q5_1,
        KernelDtype::Q8_0,
        KernelDtype::Q2K,
        KernelDtype::Q3K,
        KernelDtype::Q4K,
        KernelDtype::Q5K,
        KernelDtype::Q6K,
    ];

    /// `true` for ggml's block types.
    pub fn is_quantized(self) -> bool {
        !matches!(
            self,
            KernelDtype::F32 | KernelDtype::F16 | KernelDtype::Bf16
        )
    }

    /// Elements of one storage unit: 1 for the float dtypes, the block size for the quantized
    /// ones (32 for `Q4_0` … `Q8_0`, 256 for the K-quants; ggml's `QK4_0` … `QK_K`).
    pub fn block_elements(self) -> u32 {
        match self {
            KernelDtype::F32 | KernelDtype::F16 | KernelDtype::Bf16 => 1,
            KernelDtype::Q4_0
            | KernelDtype::Q4_1
            | KernelDtype::Q5_0
            | KernelDtype::Q5_1
            | KernelDtype::Q8_0 => 32,
            KernelDtype::Q2K
            | KernelDtype::Q3K
            | KernelDtype::Q4K
            | KernelDtype::Q5K
            | KernelDtype::Q6K => 256,
        }
    }

    /// Bytes of one storage unit: one element of a float dtype, one block of a quantized one
    /// (`sizeof(block_q4_0)` … `sizeof(block_q6_K)` in ggml-common.h).
    pub fn bytes(self) -> u64 {
        match self {
            KernelDtype::F32 => 4,
            KernelDtype::F16 | KernelDtype::Bf16 => 2,
            // d, qs[16]
            KernelDtype::Q4_0 => 2 + 16,
            // d, m, qs[16]
            KernelDtype::Q4_1 => 2 + 2 + 16,
            // d, qh[4], qs[16]
            KernelDtype::Q5_0 => 2 + 4 + 16,
            // d, m, qh[4], qs[16]
            KernelDtype::Q5_1 => 2 + 2 + 4 + 16,
            // d, qs[32]
            KernelDtype::Q8_0 => 2 + 32,
            // scales[16], qs[64], d, dmin
            KernelDtype::Q2K => 16 + 64 + 2 + 2,
            // hmask[32], qs[64], scales[12], d
            KernelDtype::Q3K => 32 + 64 + 12 + 2,
            // d, dmin, scales[12], qs[128]
            KernelDtype::Q4K => 2 + 2 + 12 + 128,
            // d, dmin, scales[12], qh[32], qs[128]
            KernelDtype::Q5K => 2 + 2 + 12 + 32 + 128,
            // ql[128], qh[64], scales[16], d
            KernelDtype::Q6K => 128 + 64 + 16 + 2,
        }
    }

    /// Bytes of one block of a quantized dtype ([`KernelDtype::bytes`]; one element for a float
    /// dtype).
    pub fn block_bytes(self) -> u64 {
        self.bytes()
    }

    /// Bytes of a row of `cols` elements: for a quantized dtype, of its whole blocks (a row must
    /// be whole blocks: see [`KernelDtype::check_row`]).
    pub fn row_bytes(self, cols: u32) -> u64 {
        u64::from(cols / self.block_elements()) * self.bytes()
    }

    /// Checks that a row of `cols` elements is whole storage units: a [`Error::Shape`] naming
    /// `what` when a quantized row is not a whole number of blocks.
    pub fn check_row(self, what: &str, cols: u32) -> Result<()> {
        let block = self.block_elements();
        if !cols.is_multiple_of(block) {
            return Err(Error::Shape(format!(
                "{what}: rows of {self} weights are whole blocks of {block} elements, got {cols} \
                 columns ({} blocks and {} left over)",
                cols / block,
                cols % block
            )));
        }
        Ok(())
    }

    /// The lowercase name: `f32`, `f16`, `bf16`, `q4_0`, …, `q6_k`.
    pub fn name(self) -> &'static str {
        match self {
            KernelDtype::F32 => "f32",
            KernelDtype::F16 => "f16",
            KernelDtype::Bf16 => "bf16",
            KernelDtype::Q4_0 => "q4_0",
            KernelDtype::Q4_1 => "q4_1",
            KernelDtype::Q5_0 => "q5_0",
            KernelDtype::Q5_1 => "q5_1",
            KernelDtype::Q8_0 => "q8_0",
            KernelDtype::Q2K => "q2_k",
            KernelDtype::Q3K => "q3_k",
            KernelDtype::Q4K => "q4_k",
            KernelDtype::Q5K => "q5_k",
            KernelDtype::Q6K => "q6_k",
        }
    }

    /// Bytes a buffer of `elements` elements must hold: rounded up to whole 32-bit words,
    /// as the shaders read words. For a quantized dtype `elements` must be whole blocks (else
    /// [`Error::Shape`]). [`Error::LimitExceeded`] when that overflows `u64`.
    pub fn buffer_bytes(self, elements: u64) -> Result<u64> {
        let block = u64::from(self.block_elements());
        if !elements.is_multiple_of(block) {
            return Err(Error::Shape(format!(
                "{elements} {self} elements are not whole blocks of {block}"
            )));
        }
        (elements / block)
            .checked_mul(self.bytes())
            .and_then(|b| b.checked_add(3))
            .map(|b| b / 4 * 4)
            .ok_or_else(|| Error::LimitExceeded {
                what: format!("a buffer of {self} elements"),
                count: elements,
                limit_name: "elements whose bytes a u64 counts",
                limit: ((u64::MAX - 3) / self.bytes()).saturating_mul(block),
            })
    }

    /// The value of the `DTYPE` constant of the generic float shaders. Quantized dtypes never
    /// reach those shaders (GEMV and GEMM send them to their own kernels first); their codes
    /// are distinct so that no quantized dtype could pass for a float one.
    pub(crate) fn code(self) -> u32 {
        match self {
            KernelDtype::F32 => 0,
            KernelDtype::F16 => 1,
            KernelDtype::Bf16 => 2,
            KernelDtype::Q4_0 => 100,
            KernelDtype::Q4_1 => 101,
            KernelDtype::Q5_0 => 102,
            KernelDtype::Q5_1 => 103,
            KernelDtype::Q8_0 => 104,
            KernelDtype::Q2K => 105,
            KernelDtype::Q3K => 106,
            KernelDtype::Q4K => 107,
            KernelDtype::Q5K => 108,
            KernelDtype::Q6K => 109,
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

    /// Parses `f32`, `f16`, `bf16` or a quantized name (`q4_0`, …, `q6_k`; ggml's `q4_K` too),
    /// in any case.
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.to_ascii_lowercase();
        KernelDtype::ALL
            .into_iter()
            .chain(KernelDtype::QUANTIZED)
            .find(|d| d.name() == lower)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown kernel dtype `{s}` (expected f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, \
                     q8_0, q2_k, q3_k, q4_k, q5_k or q6_k)"
                ))
            })
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
    fn quantized_blocks_are_ggmls() {
        // (dtype, block elements, block bytes) as in ggml-common.h's static_asserts.
        let table = [
            (KernelDtype::Q4_0, 32, 18),
            (KernelDtype::Q4_1, 32, 20),
            (KernelDtype::Q5_0, 32, 22),
            (KernelDtype::Q5_1, 32, 24),
            (KernelDtype::Q8_0, 32, 34),
            (KernelDtype::Q2K, 256, 84),
            (KernelDtype::Q3K, 256, 110),
            (KernelDtype::Q4K, 256, 144),
            (KernelDtype::Q5K, 256, 176),
            (KernelDtype::Q6K, 256, 210),
        ];
        assert_eq!(table.len(), KernelDtype::QUANTIZED.len());
        for (dtype, elements, bytes) in table {
            assert!(dtype.is_quantized());
            assert_eq!(dtype.block_elements(), elements, "{dtype}");
            assert_eq!(dtype.block_bytes(), bytes, "{dtype}");
            assert_eq!(dtype.name().parse::<KernelDtype>().unwrap(), dtype);
            assert_eq!(dtype.row_bytes(3 * elements), 3 * bytes);
            assert!(dtype.check_row("w", 3 * elements).is_ok());
            assert!(matches!(
                dtype.check_row("w", elements + 1),
                Err(Error::Shape(_))
            ));
            assert!(matches!(
                dtype.buffer_bytes(u64::from(elements) - 1),
                Err(Error::Shape(_))
            ));
            // Buffers of blocks are padded to whole words.
            assert_eq!(
                dtype.buffer_bytes(u64::from(elements)).unwrap(),
                bytes.next_multiple_of(4)
            );
        }
        assert!(KernelDtype::ALL.iter().all(|d| !d.is_quantized()));
        assert_eq!("Q4_K".parse::<KernelDtype>().unwrap(), KernelDtype::Q4K);
        assert_eq!(
            serde_json::to_string(&KernelDtype::Q6K).unwrap(),
            "\"q6_k\""
        );
        assert_eq!(
            serde_json::to_string(&KernelDtype::Q8_0).unwrap(),
            "\"q8_0\""
        );
    }

    #[test]
    fn safetensors_dtypes() {
        use crate::model::Dtype as D;
        assert_eq!(KernelDtype::try_from(D::BF16).unwrap(), KernelDtype::Bf16);
        assert!(KernelDtype::try_from(D::I8).is_err());
    }
}
