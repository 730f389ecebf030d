//! Matrix multiply, f32, row-major: the shape and tile types shared by the GEMM kernels, and
//! the original `matmul` entry points (now served by [`Context::gemm`]).

use crate::error::{Error, Result};
use serde::Serialize;

/// The shape of C = A·B: A is `m×k`, B is `k×n`, C is `m×n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MatmulShape {
    /// Rows of A and C.
    pub m: u32,
    /// Columns of B and C.
    pub n: u32,
    /// Columns of A, rows of B.
    pub k: u32,
}

impl MatmulShape {
    /// Floating-point operations of one multiply (2·m·n·k).
    pub fn flops(&self) -> f64 {
        2.0 * f64::from(self.m) * f64::from(self.n) * f64::from(self.k)
    }
}

/// Tile sizes of the GEMM kernels: a BM×BN tile of C per workgroup, TM×TN per thread, K in
/// steps of BK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MatmulConfig {
    /// Rows of C per workgroup.
    pub bm: u32,
    /// Columns of C per workgroup.
    pub bn: u32,
    /// K step through shared memory.
    pub bk: u32,
    /// Rows of C per thread.
    pub tm: u32,
    /// Columns of C per thread.
    pub tn: u32,
}

impl Default for MatmulConfig {
    fn default() -> Self {
        Self {
            bm: 64,
            bn: 64,
            bk: 16,
            tm: 4,
            tn: 4,
        }
    }
}

impl std::str::FromStr for MatmulConfig {
    type Err = Error;

    /// Parses `BMxBNxBK/TMxTN`, e.g. `128x128x16/8x8` (the form of the variant names).
    fn from_str(text: &str) -> Result<Self> {
        let bad = || {
            Error::InvalidArgument(format!(
                "tiles `{text}`: expected BMxBNxBK/TMxTN, e.g. 128x128x16/8x8"
            ))
        };
        let (block, thread) = text.split_once('/').ok_or_else(bad)?;
        let numbers = |part: &str| -> Result<Vec<u32>> {
            part.split('x')
                .map(|n| n.trim().parse::<u32>().map_err(|_| bad()))
                .collect()
        };
        match (numbers(block)?.as_slice(), numbers(thread)?.as_slice()) {
            (&[bm, bn, bk], &[tm, tn]) => Ok(MatmulConfig { bm, bn, bk, tm, tn }),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for MatmulConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}x{}x{}/{}x{}",
            self.bm, self.bn, self.bk, self.tm, self.tn
        )
    }
}

impl MatmulConfig {
    /// Shared memory the edge kernel (`gemm_any.wgsl`) needs with these tiles, in bytes.
    pub fn shared_bytes(&self) -> u64 {
        4 * u64::from(self.bk) * u64::from(self.bm + self.bn)
    }

    /// Shared memory the fast kernel (`gemm.wgsl`, double-buffered) needs, in bytes.
    pub fn fast_shared_bytes(&self) -> u64 {
        2 * self.shared_bytes()
    }

    /// Threads per workgroup.
    pub fn threads(&self) -> u32 {
        (self.bm / self.tm.max(1)) * (self.bn / self.tn.max(1))
    }

    /// Tiles divide evenly into per-thread blocks.
    pub(crate) fn shape_ok(&self) -> bool {
        self.tm > 0
            && self.tn > 0
            && self.bk > 0
            && self.bm.is_multiple_of(self.tm)
            && self.bn.is_multiple_of(self.tn)
            && self.threads() > 0
    }

    /// The fast kernel's extra rules: 4×4 sub-blocks, BK a multiple of 4, and each tile's
    /// vec4s shared evenly among the threads.
    pub(crate) fn fast_path_shape_ok(&self) -> bool {
        let threads = self.threads();
        self.shape_ok()
            && self.tm.is_multiple_of(4)
            && self.tn.is_multiple_of(4)
            && self.bk.is_multiple_of(4)
            && (self.bk * self.bm / 4).is_multiple_of(threads)
            && (self.bk * self.bn / 4).is_multiple_of(threads)
            && self.bk * self.bm / 4 >= threads
            && self.bk * self.bn / 4 >= threads
    }

    fn fits_threads(&self, limits: &wgpu::Limits) -> bool {
        self.threads() <= limits.max_compute_invocations_per_workgroup
            && self.bn / self.tn.max(1) <= limits.max_compute_workgroup_size_x
            && self.bm / self.tm.max(1) <= limits.max_compute_workgroup_size_y
    }

    /// The edge kernel with these tiles runs within `limits`.
    pub(crate) fn fits(&self, limits: &wgpu::Limits) -> bool {
        self.shape_ok()
            && self.fits_threads(limits)
            && self.shared_bytes() <= u64::from(limits.max_compute_workgroup_storage_size)
    }

    /// The fast kernel with these tiles runs within `limits`.
    pub(crate) fn fits_fast(&self, limits: &wgpu::Limits) -> bool {
        self.fast_path_shape_ok()
            && self.fits_threads(limits)
            && self.fast_shared_bytes() <= u64::from(limits.max_compute_workgroup_storage_size)
    }

    /// Checks that the fast (`fast`: `gemm.wgsl`) or edge (`gemm_any.wgsl`) kernel can run
    /// with these tiles on a device with `limits`: an [`Error::InvalidArgument`] saying why not.
    pub fn check(&self, limits: &wgpu::Limits, fast: bool) -> Result<()> {
        let (ok, shared, kernel) = if fast {
            (
                self.fits_fast(limits),
                self.fast_shared_bytes(),
                "gemm.wgsl (TM, TN, BK multiples of 4; tiles shared evenly by the threads)",
            )
        } else {
            (self.fits(limits), self.shared_bytes(), "gemm_any.wgsl")
        };
        if !ok {
            return Err(Error::InvalidArgument(format!(
                "tiles {self:?} ({} threads, {shared} bytes of shared memory) do not suit {kernel} \
                 on this device (max {} threads, {} bytes)",
                self.threads(),
                limits.max_compute_invocations_per_workgroup,
                limits.max_compute_workgroup_storage_size
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_parse_and_print() {
        let t: MatmulConfig = "128x128x16/8x8".parse().unwrap();
        assert_eq!(
            t,
            MatmulConfig {
                bm: 128,
                bn: 128,
                bk: 16,
                tm: 8,
                tn: 8
            }
        );
        assert_eq!(t.to_string(), "128x128x16/8x8");
        assert!("128x128/8x8".parse::<MatmulConfig>().is_err());
        assert!("128x128x16".parse::<MatmulConfig>().is_err());
    }

    #[test]
    fn tile_checks_name_the_kernel() {
        let limits = wgpu::Limits::default();
        let odd = MatmulConfig {
            bm: 30,
            bn: 30,
            bk: 6,
            tm: 3,
            tn: 3,
        };
        assert!(odd.check(&limits, false).is_ok());
        assert!(matches!(
            odd.check(&limits, true),
            Err(Error::InvalidArgument(_))
        ));
        let big = MatmulConfig {
            bm: 128,
            bn: 128,
            bk: 16,
            tm: 8,
            tn: 8,
        };
        assert!(
            big.check(&limits, true).is_err(),
            "32 KiB exceeds the default 16 KiB"
        );
    }
}
