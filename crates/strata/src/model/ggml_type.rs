//! The element types of ggml, the tensor library behind GGUF files: ids, names and block sizes.
//!
//! A ggml tensor is stored as whole *blocks*: `block_size()` elements packed into
//! `block_bytes()` bytes (one element of 4 bytes for `f32`, 256 elements in 144 bytes for
//! `q4_K`). A row of `n` elements therefore takes `n / block_size() * block_bytes()` bytes, and
//! only when `n` is a whole number of blocks. This is everything Strata needs to place, split and
//! verify a quantized tensor without knowing its numeric format.
//!
//! Where every number comes from (ggml as in llama.cpp's `ggml/` tree, 2025):
//! - the ids are `enum ggml_type` in `ggml/include/ggml.h`; ids 4, 5 (`Q4_2`, `Q4_3`), 31–33
//!   (`Q4_0_4_4`, `Q4_0_4_8`, `Q4_0_8_8`) and 36–38 (`IQ4_NL_4_4`, `IQ4_NL_4_8`, `IQ4_NL_8_8`)
//!   were removed from ggml and are unknown types here, as ggml's `type_traits` marks them;
//! - the names, block sizes and bytes per block are `type_traits[]` in `ggml/src/ggml.c`
//!   (`type_name`, `blck_size`, `type_size`), where `type_size` is `sizeof(block_…)`; each block
//!   struct's size is fixed by the `static_assert` next to it in `ggml/src/ggml-common.h`
//!   (`QK_K` = 256); the unit tests below recompute every size from those formulas.
//!
//! The Python `gguf` package (`gguf.constants.GGML_QUANT_SIZES`, 0.19) agrees with every size
//! except `q8_1`, which it still gives as 40 bytes (two `f32`); ggml's `block_q8_1` is two `f16`
//! and 32 quants, 36 bytes. `q8_1` and `q8_K` are ggml's intermediate types for dot products and
//! do not occur in model files, but a file that holds them is still read by ggml's sizes.

use std::fmt;
use std::str::FromStr;

/// A ggml element type, as a GGUF tensor info names it by id.
///
/// The variants are ggml's `GGML_TYPE_*` names and carry ggml's ids as discriminants
/// ([`GgmlType::id`]); [`GgmlType::name`] is ggml's own lower-case name (`q4_K`).
#[allow(non_camel_case_types, clippy::upper_case_acronyms)] // ggml's own names, kept as spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[repr(u32)]
pub enum GgmlType {
    /// `f32`: IEEE single precision.
    F32 = 0,
    /// `f16`: IEEE half precision.
    F16 = 1,
    /// `q4_0`: 32 4-bit quants and one `f16` scale.
    Q4_0 = 2,
    /// `q4_1`: 32 4-bit quants, an `f16` scale and an `f16` minimum.
    Q4_1 = 3,
    /// `q5_0`: 32 5-bit quants and one `f16` scale.
    Q5_0 = 6,
    /// `q5_1`: 32 5-bit quants, an `f16` scale and an `f16` minimum.
    Q5_1 = 7,
    /// `q8_0`: 32 8-bit quants and one `f16` scale.
    Q8_0 = 8,
    /// `q8_1`: 32 8-bit quants, an `f16` scale and an `f16` sum (ggml's dot-product input).
    Q8_1 = 9,
    /// `q2_K`: 256-element super-block of 2-bit quants.
    Q2_K = 10,
    /// `q3_K`: 256-element super-block of 3-bit quants.
    Q3_K = 11,
    /// `q4_K`: 256-element super-block of 4-bit quants (4.5 bits per weight).
    Q4_K = 12,
    /// `q5_K`: 256-element super-block of 5-bit quants.
    Q5_K = 13,
    /// `q6_K`: 256-element super-block of 6-bit quants.
    Q6_K = 14,
    /// `q8_K`: 256 8-bit quants with an `f32` scale and block sums (ggml's dot-product input).
    Q8_K = 15,
    /// `iq2_xxs`: 2.0625 bits per weight.
    IQ2_XXS = 16,
    /// `iq2_xs`: 2.3125 bits per weight.
    IQ2_XS = 17,
    /// `iq3_xxs`: 3.0625 bits per weight.
    IQ3_XXS = 18,
    /// `iq1_s`: 1.5625 bits per weight.
    IQ1_S = 19,
    /// `iq4_nl`: 32 non-linear 4-bit quants and one `f16` scale.
    IQ4_NL = 20,
    /// `iq3_s`: 3.4375 bits per weight.
    IQ3_S = 21,
    /// `iq2_s`: 2.5625 bits per weight.
    IQ2_S = 22,
    /// `iq4_xs`: 4.25 bits per weight.
    IQ4_XS = 23,
    /// `i8`: signed 8-bit integer.
    I8 = 24,
    /// `i16`: signed 16-bit integer.
    I16 = 25,
    /// `i32`: signed 32-bit integer.
    I32 = 26,
    /// `i64`: signed 64-bit integer.
    I64 = 27,
    /// `f64`: IEEE double precision.
    F64 = 28,
    /// `iq1_m`: 1.75 bits per weight.
    IQ1_M = 29,
    /// `bf16`: bfloat16.
    BF16 = 30,
    /// `tq1_0`: ternary, 1.6875 bits per weight.
    TQ1_0 = 34,
    /// `tq2_0`: ternary, 2.0625 bits per weight.
    TQ2_0 = 35,
    /// `mxfp4`: OCP MXFP4, 32 E2M1 values and one E8M0 scale.
    MXFP4 = 39,
    /// `nvfp4`: 64 E2M1 values with four UE4M3 scales.
    NVFP4 = 40,
    /// `q1_0`: 128 1-bit quants and one `f16` scale.
    Q1_0 = 41,
}

/// Every type: `(type, ggml name, elements per block, bytes per block)`, in id order.
///
/// `QK_K` is 256. The byte counts are `sizeof(block_…)` from `ggml/src/ggml-common.h`.
const TABLE: [(GgmlType, &str, u64, u64); 34] = [
    (GgmlType::F32, "f32", 1, 4),
    (GgmlType::F16, "f16", 1, 2),
    (GgmlType::Q4_0, "q4_0", 32, 18),
    (GgmlType::Q4_1, "q4_1", 32, 20),
    (GgmlType::Q5_0, "q5_0", 32, 22),
    (GgmlType::Q5_1, "q5_1", 32, 24),
    (GgmlType::Q8_0, "q8_0", 32, 34),
    (GgmlType::Q8_1, "q8_1", 32, 36),
    (GgmlType::Q2_K, "q2_K", 256, 84),
    (GgmlType::Q3_K, "q3_K", 256, 110),
    (GgmlType::Q4_K, "q4_K", 256, 144),
    (GgmlType::Q5_K, "q5_K", 256, 176),
    (GgmlType::Q6_K, "q6_K", 256, 210),
    (GgmlType::Q8_K, "q8_K", 256, 292),
    (GgmlType::IQ2_XXS, "iq2_xxs", 256, 66),
    (GgmlType::IQ2_XS, "iq2_xs", 256, 74),
    (GgmlType::IQ3_XXS, "iq3_xxs", 256, 98),
    (GgmlType::IQ1_S, "iq1_s", 256, 50),
    (GgmlType::IQ4_NL, "iq4_nl", 32, 18),
    (GgmlType::IQ3_S, "iq3_s", 256, 110),
    (GgmlType::IQ2_S, "iq2_s", 256, 82),
    (GgmlType::IQ4_XS, "iq4_xs", 256, 136),
    (GgmlType::I8, "i8", 1, 1),
    (GgmlType::I16, "i16", 1, 2),
    (GgmlType::I32, "i32", 1, 4),
    (GgmlType::I64, "i64", 1, 8),
    (GgmlType::F64, "f64", 1, 8),
    (GgmlType::IQ1_M, "iq1_m", 256, 56),
    (GgmlType::BF16, "bf16", 1, 2),
    (GgmlType::TQ1_0, "tq1_0", 256, 54),
    (GgmlType::TQ2_0, "tq2_0", 256, 66),
    (GgmlType::MXFP4, "mxfp4", 32, 17),
    (GgmlType::NVFP4, "nvfp4", 64, 36),
    (GgmlType::Q1_0, "q1_0", 128, 18),
];

/// The ids ggml once had and removed (`type_traits` marks them deprecated or removed).
const REMOVED_IDS: [u32; 8] = [4, 5, 31, 32, 33, 36, 37, 38];

impl GgmlType {
    /// Every type, in id order.
    pub const ALL: [GgmlType; 34] = {
        let mut all = [GgmlType::F32; 34];
        let mut i = 0;
        while i < TABLE.len() {
            all[i] = TABLE[i].0;
            i += 1;
        }
        all
    };

    fn entry(self) -> (GgmlType, &'static str, u64, u64) {
        // `TABLE` holds every variant exactly once (tested), so the search always succeeds;
        // the fallback is never taken.
        TABLE
            .iter()
            .copied()
            .find(|entry| entry.0 == self)
            .unwrap_or(TABLE[0])
    }

    /// The type with ggml id `id`.
    ///
    /// # Errors
    /// [`UnknownGgmlType::Id`] for an id ggml does not define (a removed one included).
    pub fn from_id(id: u32) -> Result<GgmlType, UnknownGgmlType> {
        TABLE
            .iter()
            .find(|entry| entry.0 as u32 == id)
            .map(|entry| entry.0)
            .ok_or(UnknownGgmlType::Id(id))
    }

    /// ggml's id of this type (`GGML_TYPE_Q4_K` = 12), as GGUF tensor infos store it.
    pub fn id(self) -> u32 {
        self as u32
    }

    /// ggml's name of this type (`type_traits[].type_name`), e.g. `"q4_K"`, `"bf16"`.
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// The number of elements in one block (1 for the plain types, 256 for the K-quants).
    pub fn block_size(self) -> u64 {
        self.entry().2
    }

    /// The number of bytes one block takes (`sizeof(block_q4_K)` = 144).
    pub fn block_bytes(self) -> u64 {
        self.entry().3
    }

    /// Whether the type packs several elements into a block (ggml's `is_quantized`, except that
    /// the plain integer and float types are all `false` here).
    pub fn is_quantized(self) -> bool {
        self.block_size() > 1
    }

    /// The bytes `elements` consecutive elements take: a row of a tensor, or a whole tensor.
    ///
    /// `None` when `elements` is not a whole number of blocks, or the size overflows `u64`.
    pub fn row_bytes(self, elements: u64) -> Option<u64> {
        let block = self.block_size();
        if !elements.is_multiple_of(block) {
            return None;
        }
        (elements / block).checked_mul(self.block_bytes())
    }

    /// The type named `name`: ggml's name, compared without regard to case (`q4_K`, `Q4_K` and
    /// `q4_k` are all [`GgmlType::Q4_K`]).
    pub fn from_name(name: &str) -> Option<GgmlType> {
        TABLE
            .iter()
            .find(|entry| entry.1.eq_ignore_ascii_case(name))
            .map(|entry| entry.0)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GgmlType {
    type Err = UnknownGgmlType;

    fn from_str(name: &str) -> Result<GgmlType, UnknownGgmlType> {
        GgmlType::from_name(name).ok_or_else(|| UnknownGgmlType::Name(name.to_string()))
    }
}

impl TryFrom<u32> for GgmlType {
    type Error = UnknownGgmlType;

    fn try_from(id: u32) -> Result<GgmlType, UnknownGgmlType> {
        GgmlType::from_id(id)
    }
}

/// A ggml type id or name that ggml does not define.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnknownGgmlType {
    /// A type id outside ggml's table, or one ggml removed.
    #[error("unknown ggml type id {0}{removed}", removed = removed_note(*.0))]
    Id(u32),
    /// A name that is not one of ggml's type names.
    #[error("unknown ggml type `{0}` (known: {known})", known = known_names())]
    Name(String),
}

fn removed_note(id: u32) -> &'static str {
    if REMOVED_IDS.contains(&id) {
        " (removed from ggml; convert the file with a current llama.cpp)"
    } else {
        ""
    }
}

fn known_names() -> String {
    TABLE
        .iter()
        .map(|entry| entry.1)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// `QK_K` and the half/float sizes as `ggml-common.h` uses them.
    const QK_K: u64 = 256;
    const HALF: u64 = 2;

    /// Each block's size, written as the `static_assert` in `ggml/src/ggml-common.h` states it.
    fn ggml_common_size(ty: GgmlType) -> (u64, u64) {
        use GgmlType as T;
        match ty {
            T::F32 | T::I32 => (1, 4),
            T::F16 | T::BF16 | T::I16 => (1, 2),
            T::I8 => (1, 1),
            T::I64 | T::F64 => (1, 8),
            T::Q4_0 => (32, HALF + 32 / 2),
            T::Q4_1 => (32, 2 * HALF + 32 / 2),
            T::Q5_0 => (32, HALF + 4 + 32 / 2),
            T::Q5_1 => (32, 2 * HALF + 4 + 32 / 2),
            T::Q8_0 => (32, HALF + 32),
            T::Q8_1 => (32, 2 * HALF + 32),
            T::Q2_K => (QK_K, 2 * HALF + QK_K / 16 + QK_K / 4),
            T::Q3_K => (QK_K, HALF + QK_K / 4 + QK_K / 8 + 12),
            T::Q4_K => (QK_K, 2 * HALF + 12 + QK_K / 2),
            T::Q5_K => (QK_K, 2 * HALF + 12 + QK_K / 2 + QK_K / 8),
            T::Q6_K => (QK_K, HALF + QK_K / 16 + 3 * QK_K / 4),
            T::Q8_K => (QK_K, 4 + QK_K + QK_K / 16 * 2),
            T::IQ2_XXS => (QK_K, HALF + QK_K / 8 * 2),
            T::IQ2_XS => (QK_K, HALF + QK_K / 8 * 2 + QK_K / 32),
            T::IQ2_S => (QK_K, HALF + QK_K / 4 + QK_K / 16),
            T::IQ3_XXS => (QK_K, HALF + 3 * (QK_K / 8)),
            T::IQ3_S => (QK_K, HALF + 13 * (QK_K / 32) + QK_K / 64),
            T::IQ1_S => (QK_K, HALF + QK_K / 8 + QK_K / 16),
            T::IQ1_M => (QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32),
            T::IQ4_NL => (32, HALF + 32 / 2),
            T::IQ4_XS => (QK_K, HALF + 2 + QK_K / 64 + QK_K / 2),
            T::TQ1_0 => (QK_K, HALF + QK_K / 64 + (QK_K - 4 * QK_K / 64) / 5),
            T::TQ2_0 => (QK_K, HALF + QK_K / 4),
            T::MXFP4 => (32, 1 + 32 / 2),
            T::NVFP4 => (64, 64 / 16 + 64 / 2),
            T::Q1_0 => (128, HALF + 128 / 8),
        }
    }

    #[test]
    fn every_size_is_ggml_commons() {
        for ty in GgmlType::ALL {
            assert_eq!(
                (ty.block_size(), ty.block_bytes()),
                ggml_common_size(ty),
                "{ty}"
            );
        }
    }

    #[test]
    fn ids_names_and_table_agree() {
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for (index, ty) in GgmlType::ALL.iter().copied().enumerate() {
            assert_eq!(TABLE[index].0, ty);
            assert!(ids.insert(ty.id()), "{ty} id twice");
            assert!(names.insert(ty.name()), "{ty} name twice");
            assert_eq!(GgmlType::from_id(ty.id()), Ok(ty));
            assert_eq!(ty.name().parse::<GgmlType>(), Ok(ty));
            assert_eq!(ty.name().to_uppercase().parse::<GgmlType>(), Ok(ty));
            assert_eq!(ty.to_string(), ty.name());
        }
        let mut sorted: Vec<u32> = ids.iter().copied().collect();
        sorted.sort_unstable();
        assert_eq!(sorted, GgmlType::ALL.map(GgmlType::id), "table in id order");
        assert_eq!(GgmlType::Q4_K.id(), 12);
        assert_eq!(GgmlType::BF16.id(), 30);
        assert_eq!(GgmlType::MXFP4.id(), 39);
        assert_eq!(GgmlType::Q4_K.name(), "q4_K");
    }

    #[test]
    fn removed_and_unknown_ids_are_errors() {
        for id in REMOVED_IDS {
            let error = GgmlType::from_id(id).unwrap_err();
            assert_eq!(error, UnknownGgmlType::Id(id));
            assert!(error.to_string().contains("removed"), "{error}");
        }
        for id in [42, 1000, u32::MAX] {
            let error = GgmlType::from_id(id).unwrap_err();
            assert!(!error.to_string().contains("removed"), "{error}");
        }
        let every_id: HashSet<u32> = GgmlType::ALL.iter().map(|t| t.id()).collect();
        for id in 0..=41 {
            assert_eq!(
                every_id.contains(&id),
                !REMOVED_IDS.contains(&id),
                "id {id}"
            );
        }
        let error = "q4_KM".parse::<GgmlType>().unwrap_err();
        assert!(error.to_string().contains("q4_K"), "{error}");
    }

    #[test]
    fn row_bytes() {
        assert_eq!(GgmlType::F32.row_bytes(3), Some(12));
        assert_eq!(GgmlType::Q4_K.row_bytes(4096), Some(16 * 144));
        assert_eq!(GgmlType::Q6_K.row_bytes(5120), Some(20 * 210));
        assert_eq!(GgmlType::Q8_0.row_bytes(64), Some(68));
        assert_eq!(GgmlType::Q4_K.row_bytes(0), Some(0));
        assert_eq!(GgmlType::Q4_K.row_bytes(100), None, "not whole blocks");
        assert_eq!(GgmlType::F64.row_bytes(u64::MAX), None, "overflow");
        assert_eq!(
            GgmlType::Q8_0.row_bytes(u64::MAX / 32 * 32),
            None,
            "overflow"
        );
        assert!(GgmlType::Q4_K.is_quantized());
        assert!(!GgmlType::BF16.is_quantized());
    }
}
