//! Splitting tensors that are larger than one buffer may be.
//!
//! The rule: a part may be at most `limit` bytes, where `limit` is the smallest of the device's
//! storage binding size, `maxMemoryAllocationSize` and wgpu's maximum buffer size, rounded down
//! to a multiple of 256 bytes. Parts hold whole rows, as many as fit; every part but the last
//! holds the same number of rows. A single row larger than the limit cannot be split by this
//! rule and is refused as too large.
//!
//! The row is the caller's: a model tensor gives its own ([`TensorInfo::row_bytes`]: one slice
//! of the outermost dimension, which for a quantized ggml type is whole blocks), and
//! [`row_bytes`] computes it for plain element types (the product of all dimensions but the
//! first, times the element size).
//!
//! [`TensorInfo::row_bytes`]: crate::model::TensorInfo::row_bytes

use crate::error::{Error, Result};

/// Why parts are capped at this size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartLimit {
    /// The cap in bytes.
    pub bytes: u64,
    /// Which device limit set it.
    pub name: &'static str,
}

impl PartLimit {
    /// The smallest of the given limits, rounded down to 256 bytes.
    pub fn smallest(limits: &[(u64, &'static str)]) -> Self {
        let (bytes, name) = limits
            .iter()
            .copied()
            .min_by_key(|(b, _)| *b)
            .unwrap_or((u64::MAX, "none"));
        Self {
            bytes: bytes / 256 * 256,
            name,
        }
    }
}

/// Byte sizes of the parts of a tensor of `total` bytes made of rows of `row_bytes`.
pub fn split_into_parts(
    total: u64,
    row_bytes: u64,
    limit: PartLimit,
    what: &str,
) -> Result<Vec<u64>> {
    if total == 0 {
        return Err(Error::InvalidArgument(format!(
            "{what}: an empty tensor cannot be placed"
        )));
    }
    if total <= limit.bytes {
        return Ok(vec![total]);
    }
    let row_bytes = row_bytes.max(1);
    if !total.is_multiple_of(row_bytes) {
        return Err(Error::Shape(format!(
            "{what}: {total} bytes are not a whole number of rows of {row_bytes} bytes"
        )));
    }
    if row_bytes > limit.bytes {
        return Err(Error::TooLarge {
            what: format!("{what}: one row of {row_bytes} bytes (cannot split inside a row)"),
            bytes: row_bytes,
            limit_name: limit.name,
            limit: limit.bytes,
        });
    }
    // Whole rows per part; at a multiple of 4 bytes so kernels can address parts by words.
    let mut rows_per_part = limit.bytes / row_bytes;
    while rows_per_part > 1 && !(rows_per_part * row_bytes).is_multiple_of(4) {
        rows_per_part -= 1;
    }
    let part = rows_per_part * row_bytes;
    let mut parts = vec![part; (total / part) as usize];
    if !total.is_multiple_of(part) {
        parts.push(total % part);
    }
    Ok(parts)
}

/// Row size in bytes of a tensor of a plain element type with this shape and element size (see
/// the module docs; model tensors give their own with `TensorInfo::row_bytes`).
pub fn row_bytes(shape: &[u64], element_bytes: u64) -> u64 {
    let inner: u64 = shape.iter().skip(1).product();
    if shape.len() <= 1 {
        element_bytes
    } else {
        inner.saturating_mul(element_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB128: PartLimit = PartLimit {
        bytes: 128 << 20,
        name: "max_storage_buffer_binding_size",
    };

    #[test]
    fn small_tensors_stay_whole() {
        assert_eq!(split_into_parts(1000, 10, MIB128, "t").unwrap(), vec![1000]);
    }

    #[test]
    fn large_tensors_split_at_whole_rows() {
        let row = 4 * 1000;
        let total = 300u64 << 20; // 300 MiB is not a multiple of 4000: use rows
        let rows = total / row;
        let total = rows * row;
        let parts = split_into_parts(total, row, MIB128, "t").unwrap();
        assert_eq!(parts.iter().sum::<u64>(), total);
        assert!(
            parts
                .iter()
                .all(|&p| p <= MIB128.bytes && p.is_multiple_of(row))
        );
        assert_eq!(parts.len(), 3);
    }

    #[test]
    fn a_row_over_the_limit_is_too_large() {
        let err = split_into_parts(200 << 20, 200 << 20, MIB128, "t").unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    }

    #[test]
    fn row_bytes_of_shapes() {
        assert_eq!(row_bytes(&[10, 20], 2), 40);
        assert_eq!(row_bytes(&[7], 4), 4);
        assert_eq!(row_bytes(&[2, 3, 4], 4), 48);
        assert_eq!(row_bytes(&[], 4), 4);
    }
}
