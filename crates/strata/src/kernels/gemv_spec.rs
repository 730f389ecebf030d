//! The shape of a GEMV ([`GemvSpec`]): what every GEMV kernel (`gemv.rs`, `gemv_coop.rs`,
//! `quant.rs`) multiplies, its checks, and how weights larger than one binding are cut into row
//! parts.

use super::dtype::KernelDtype;
use super::tuning::MAX_GEMV_BATCH;
use crate::error::{Error, Result};
use crate::recording::Operand;
use serde::Serialize;

/// What to multiply: weights `[rows, cols]` of `dtype` times `batch` vectors x `[batch, cols]`
/// f32, into y `[batch, rows]` f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GemvSpec {
    /// Rows of the weights (output features).
    pub rows: u32,
    /// Columns of the weights (input features).
    pub cols: u32,
    /// Vectors in the batch, 1 to 8.
    pub batch: u32,
    /// Element type of the weights.
    pub dtype: KernelDtype,
}

impl GemvSpec {
    /// Floating-point operations of one product (2·rows·cols·batch).
    pub fn flops(&self) -> f64 {
        2.0 * f64::from(self.rows) * f64::from(self.cols) * f64::from(self.batch)
    }

    /// Bytes moved by one product: weights + x + y.
    pub fn bytes_moved(&self) -> u64 {
        let (rows, cols, batch) = (
            u64::from(self.rows),
            u64::from(self.cols),
            u64::from(self.batch),
        );
        rows * self.row_bytes() + 4 * batch * cols + 4 * batch * rows
    }

    /// Bytes of one row of weights (whole blocks for a quantized dtype).
    pub fn row_bytes(&self) -> u64 {
        self.dtype.row_bytes(self.cols)
    }

    /// Elements per 16-byte load of the fast path (4 for f32, 8 for f16 and bf16).
    pub(crate) fn chunk(&self) -> u32 {
        (16 / self.dtype.bytes()) as u32
    }

    /// Byte ranges of the row parts of a weight tensor stored contiguously, for binding it in
    /// parts no larger than `max_part_bytes`, each starting at a multiple of
    /// `offset_alignment` (both device limits: [`crate::Context::gemv_parts`] applies them). Every
    /// part but the last holds the same number of rows.
    pub fn part_ranges(
        &self,
        max_part_bytes: u64,
        offset_alignment: u64,
    ) -> Result<Vec<std::ops::Range<u64>>> {
        self.check()?;
        let row_bytes = self.row_bytes();
        let total = self
            .dtype
            .buffer_bytes(u64::from(self.rows) * u64::from(self.cols))?;
        if total <= max_part_bytes {
            return Ok(std::iter::once(0..total).collect());
        }
        // Rows per part: as many as fit, a multiple of `step` so the next part starts aligned.
        let align = offset_alignment.max(4);
        let step = align / gcd(row_bytes, align);
        let rows_per_part = max_part_bytes / row_bytes / step * step;
        if rows_per_part == 0 {
            return Err(Error::TooLarge {
                what: format!(
                    "gemv weights: {step} rows of {row_bytes} bytes (the smallest aligned row part)"
                ),
                bytes: step * row_bytes,
                limit_name: "max_storage_buffer_binding_size",
                limit: max_part_bytes,
            });
        }
        let part = rows_per_part * row_bytes;
        let mut ranges = Vec::new();
        let mut start = 0;
        while start < total {
            let end = (start + part).min(total);
            ranges.push(start..end);
            start = end;
        }
        Ok(ranges)
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.rows == 0 || self.cols == 0 || !(1..=MAX_GEMV_BATCH).contains(&self.batch) {
            return Err(Error::Shape(format!(
                "gemv needs rows, cols >= 1 and batch 1..={MAX_GEMV_BATCH}, got rows={} cols={} batch={}",
                self.rows, self.cols, self.batch
            )));
        }
        self.dtype.check_row("gemv weights", self.cols)
    }
}

/// Workgroups of `group_rows` rows that the row parts (operand, first row, rows) need in all.
pub(crate) fn row_groups(parts: &[(Operand<'_>, u32, u32)], group_rows: u32) -> u32 {
    parts
        .iter()
        .map(|&(_, _, rows)| rows.div_ceil(group_rows.max(1)))
        .sum()
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(rows: u32, cols: u32, dtype: KernelDtype) -> GemvSpec {
        GemvSpec {
            rows,
            cols,
            batch: 1,
            dtype,
        }
    }

    #[test]
    fn small_weights_are_one_part() {
        assert_eq!(
            spec(10, 10, KernelDtype::F32)
                .part_ranges(1 << 20, 256)
                .unwrap(),
            vec![0..400]
        );
        // 3 bf16 elements round up to 8 bytes.
        assert_eq!(
            spec(3, 1, KernelDtype::Bf16)
                .part_ranges(1 << 20, 256)
                .unwrap(),
            vec![0..8]
        );
    }

    #[test]
    fn large_weights_split_at_aligned_whole_rows() {
        let s = spec(40_000, 1000, KernelDtype::F32);
        let limit = 128 << 20;
        let ranges = s.part_ranges(limit, 256).unwrap();
        assert_eq!(ranges.len(), 2);
        assert_eq!(ranges[1].end, 160_000_000);
        for r in &ranges {
            assert!(r.end - r.start <= limit);
            assert_eq!(r.start % 256, 0);
            assert_eq!(r.start % 4000, 0);
        }
    }

    #[test]
    fn a_row_larger_than_a_part_is_too_large() {
        let err = spec(4, 1000, KernelDtype::F32)
            .part_ranges(1000, 256)
            .unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    }

    #[test]
    fn bytes_moved_counts_weights_x_and_y() {
        let s = GemvSpec {
            rows: 2,
            cols: 3,
            batch: 2,
            dtype: KernelDtype::Bf16,
        };
        assert_eq!(s.bytes_moved(), 2 * 3 * 2 + 4 * 2 * 3 + 4 * 2 * 2);
    }
}
