//! The element types a safetensors file can declare.
//!
//! Strata loads every dtype as bytes: the reader needs only each type's width to check a
//! tensor's size against its offsets, never its numeric format.

use std::fmt;
use std::str::FromStr;

/// An element type of a safetensors tensor, named as the format names it (`"BF16"`, `"F8_E4M3"`).
///
/// This is every dtype of the `safetensors` crate 0.8, sub-byte types included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Dtype {
    /// `BOOL`: one byte per element.
    Bool,
    /// `F4`: 4-bit float (OCP MXFP4, E2M1).
    F4,
    /// `F6_E2M3`: 6-bit float (OCP MXFP6).
    F6E2M3,
    /// `F6_E3M2`: 6-bit float (OCP MXFP6).
    F6E3M2,
    /// `U8`: unsigned 8-bit integer.
    U8,
    /// `I8`: signed 8-bit integer.
    I8,
    /// `F8_E5M2`: 8-bit float.
    F8E5M2,
    /// `F8_E4M3`: 8-bit float.
    F8E4M3,
    /// `F8_E8M0`: 8-bit exponent-only scale (OCP MX).
    F8E8M0,
    /// `F8_E4M3FNUZ`: 8-bit float, finite, no negative zero.
    F8E4M3Fnuz,
    /// `F8_E5M2FNUZ`: 8-bit float, finite, no negative zero.
    F8E5M2Fnuz,
    /// `I16`: signed 16-bit integer.
    I16,
    /// `U16`: unsigned 16-bit integer.
    U16,
    /// `F16`: IEEE half precision.
    F16,
    /// `BF16`: bfloat16.
    BF16,
    /// `I32`: signed 32-bit integer.
    I32,
    /// `U32`: unsigned 32-bit integer.
    U32,
    /// `F32`: IEEE single precision.
    F32,
    /// `C64`: complex number of two `F32`.
    C64,
    /// `F64`: IEEE double precision.
    F64,
    /// `I64`: signed 64-bit integer.
    I64,
    /// `U64`: unsigned 64-bit integer.
    U64,
}

/// Every dtype with its name and width in bits, in the `safetensors` crate's order.
const TABLE: [(Dtype, &str, u32); 22] = [
    (Dtype::Bool, "BOOL", 8),
    (Dtype::F4, "F4", 4),
    (Dtype::F6E2M3, "F6_E2M3", 6),
    (Dtype::F6E3M2, "F6_E3M2", 6),
    (Dtype::U8, "U8", 8),
    (Dtype::I8, "I8", 8),
    (Dtype::F8E5M2, "F8_E5M2", 8),
    (Dtype::F8E4M3, "F8_E4M3", 8),
    (Dtype::F8E8M0, "F8_E8M0", 8),
    (Dtype::F8E4M3Fnuz, "F8_E4M3FNUZ", 8),
    (Dtype::F8E5M2Fnuz, "F8_E5M2FNUZ", 8),
    (Dtype::I16, "I16", 16),
    (Dtype::U16, "U16", 16),
    (Dtype::F16, "F16", 16),
    (Dtype::BF16, "BF16", 16),
    (Dtype::I32, "I32", 32),
    (Dtype::U32, "U32", 32),
    (Dtype::F32, "F32", 32),
    (Dtype::C64, "C64", 64),
    (Dtype::F64, "F64", 64),
    (Dtype::I64, "I64", 64),
    (Dtype::U64, "U64", 64),
];

impl Dtype {
    /// Every dtype, in the `safetensors` crate's order (increasing alignment).
    pub const ALL: [Dtype; 22] = {
        let mut all = [Dtype::Bool; 22];
        let mut i = 0;
        while i < TABLE.len() {
            all[i] = TABLE[i].0;
            i += 1;
        }
        all
    };

    fn entry(self) -> (Dtype, &'static str, u32) {
        // `TABLE` lists the variants in declaration order, so the discriminant is the index.
        TABLE[self as usize]
    }

    /// The name the safetensors format uses, e.g. `"BF16"`.
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// The width of one element in bits (4 for `F4`, 16 for `BF16`).
    pub fn bits(self) -> u32 {
        self.entry().2
    }

    /// The width of one element in whole bytes, or `None` for the sub-byte types
    /// (`F4`, `F6_E2M3`, `F6_E3M2`), whose tensors are sized in bits.
    pub fn size_bytes(self) -> Option<u32> {
        let bits = self.bits();
        bits.is_multiple_of(8).then_some(bits / 8)
    }

    /// The dtype named `name` (exactly as the format spells it), if any.
    pub fn from_name(name: &str) -> Option<Dtype> {
        TABLE
            .iter()
            .find(|entry| entry.1 == name)
            .map(|entry| entry.0)
    }

    /// The number of bytes `elements` elements take, or `None` when that overflows `u64` or is
    /// not a whole number of bytes (an odd number of `F4`, for example).
    pub fn bytes_for(self, elements: u64) -> Option<u64> {
        let bits = elements.checked_mul(u64::from(self.bits()))?;
        bits.is_multiple_of(8).then_some(bits / 8)
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a dtype name that the safetensors format does not define.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown dtype `{0}` (known: BOOL, U8, I8, F16, BF16, F32, F64, I16, U16, I32, U32, I64, U64, C64, F8_E4M3, F8_E5M2, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ, F4, F6_E2M3, F6_E3M2)"
)]
pub struct UnknownDtype(pub String);

impl FromStr for Dtype {
    type Err = UnknownDtype;

    fn from_str(name: &str) -> Result<Dtype, UnknownDtype> {
        Dtype::from_name(name).ok_or_else(|| UnknownDtype(name.to_string()))
    }
}

impl From<Dtype> for safetensors::Dtype {
    fn from(dtype: Dtype) -> safetensors::Dtype {
        use safetensors::Dtype as S;
        match dtype {
            Dtype::Bool => S::BOOL,
            Dtype::F4 => S::F4,
            Dtype::F6E2M3 => S::F6_E2M3,
            Dtype::F6E3M2 => S::F6_E3M2,
            Dtype::U8 => S::U8,
            Dtype::I8 => S::I8,
            Dtype::F8E5M2 => S::F8_E5M2,
            Dtype::F8E4M3 => S::F8_E4M3,
            Dtype::F8E8M0 => S::F8_E8M0,
            Dtype::F8E4M3Fnuz => S::F8_E4M3FNUZ,
            Dtype::F8E5M2Fnuz => S::F8_E5M2FNUZ,
            Dtype::I16 => S::I16,
            Dtype::U16 => S::U16,
            Dtype::F16 => S::F16,
            Dtype::BF16 => S::BF16,
            Dtype::I32 => S::I32,
            Dtype::U32 => S::U32,
            Dtype::F32 => S::F32,
            Dtype::C64 => S::C64,
            Dtype::F64 => S::F64,
            Dtype::I64 => S::I64,
            Dtype::U64 => S::U64,
        }
    }
}

impl TryFrom<safetensors::Dtype> for Dtype {
    type Error = UnknownDtype;

    /// Converts through the name, so a dtype added by a newer `safetensors` is an error, not a
    /// panic.
    fn try_from(dtype: safetensors::Dtype) -> Result<Dtype, UnknownDtype> {
        dtype.to_string().parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_declaration_order() {
        for (index, (dtype, _, _)) in TABLE.iter().enumerate() {
            assert_eq!(*dtype as usize, index);
        }
    }

    #[test]
    fn names_and_widths_agree_with_the_safetensors_crate() {
        for dtype in Dtype::ALL {
            let theirs = safetensors::Dtype::from(dtype);
            assert_eq!(theirs.to_string(), dtype.name());
            assert_eq!(theirs.bitsize(), dtype.bits() as usize);
            assert_eq!(Dtype::try_from(theirs), Ok(dtype));
            assert_eq!(dtype.name().parse::<Dtype>(), Ok(dtype));
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(Dtype::BF16.size_bytes(), Some(2));
        assert_eq!(Dtype::F4.size_bytes(), None);
        assert_eq!(Dtype::F4.bytes_for(3), None);
        assert_eq!(Dtype::F4.bytes_for(4), Some(2));
        assert_eq!(Dtype::F6E2M3.bytes_for(4), Some(3));
        assert_eq!(Dtype::F64.bytes_for(u64::MAX), None);
        assert!("bf16".parse::<Dtype>().is_err());
    }
}
