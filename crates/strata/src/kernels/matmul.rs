//! Matrix multiply: C = A·B, f32, row-major.

use super::{Operand, Timing};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::shaders;
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

    fn check(&self) -> Result<()> {
        if self.m == 0 || self.n == 0 || self.k == 0 {
            return Err(Error::Shape(format!(
                "matmul needs m, n, k >= 1, got m={} n={} k={}",
                self.m, self.n, self.k
            )));
        }
        Ok(())
    }
}

/// Tile sizes of the tiled matmul kernel.
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

impl MatmulConfig {
    /// Shared memory the configuration needs, in bytes.
    pub fn shared_bytes(&self) -> u64 {
        4 * u64::from(self.bk) * u64::from(self.bm + self.bn)
    }

    fn check(&self, ctx: &Context) -> Result<()> {
        let ok = self.bm % self.tm == 0 && self.bn % self.tn == 0 && self.tm > 0 && self.tn > 0 && self.bk > 0;
        let threads = (self.bm / self.tm.max(1)) * (self.bn / self.tn.max(1));
        let limits = ctx.limits();
        if !ok || threads == 0 || threads > limits.max_compute_invocations_per_workgroup {
            return Err(Error::InvalidArgument(format!(
                "matmul tiles {self:?} give {threads} threads per workgroup (device max {})",
                limits.max_compute_invocations_per_workgroup
            )));
        }
        if self.shared_bytes() > u64::from(limits.max_compute_workgroup_storage_size) {
            return Err(Error::InvalidArgument(format!(
                "matmul tiles {self:?} need {} bytes of shared memory (device max {})",
                self.shared_bytes(),
                limits.max_compute_workgroup_storage_size
            )));
        }
        Ok(())
    }

    fn key(&self) -> String {
        format!("matmul_f32/{}x{}x{}/{}x{}", self.bm, self.bn, self.bk, self.tm, self.tn)
    }
}

impl Context {
    /// C = A·B on buffers of f32 (row-major), with the default tiles.
    pub fn matmul<'a>(
        &self,
        a: impl Into<Operand<'a>>,
        b: impl Into<Operand<'a>>,
        c: impl Into<Operand<'a>>,
        shape: MatmulShape,
    ) -> Result<Timing> {
        self.matmul_with(a, b, c, shape, MatmulConfig::default(), 1)
    }

    /// C = A·B with explicit tiles, run `repeats` times in one pass (for timing).
    pub fn matmul_with<'a>(
        &self,
        a: impl Into<Operand<'a>>,
        b: impl Into<Operand<'a>>,
        c: impl Into<Operand<'a>>,
        shape: MatmulShape,
        config: MatmulConfig,
        repeats: u32,
    ) -> Result<Timing> {
        let (a, b, c) = (a.into(), b.into(), c.into());
        shape.check()?;
        config.check(self)?;
        let need = |what: &str, op: &Operand<'_>, rows: u32, cols: u32| -> Result<()> {
            let bytes = 4 * u64::from(rows) * u64::from(cols);
            if op.size < bytes {
                return Err(Error::Shape(format!(
                    "matmul {what} must hold {rows}x{cols} f32 ({bytes} bytes), the buffer range has {}",
                    op.size
                )));
            }
            self.check_binding(&format!("matmul {what}"), op)
        };
        need("A", &a, shape.m, shape.k)?;
        need("B", &b, shape.k, shape.n)?;
        need("C", &c, shape.m, shape.n)?;
        let kernel = self.kernel(&config.key(), || {
            shaders::specialize(
                &shaders::MATMUL_F32,
                &[
                    ("BM", config.bm),
                    ("BN", config.bn),
                    ("BK", config.bk),
                    ("TM", config.tm),
                    ("TN", config.tn),
                ],
            )
        })?;
        let dims = [shape.m, shape.n, shape.k, 0];
        let groups = [shape.n.div_ceil(config.bn), shape.m.div_ceil(config.bm), 1];
        self.dispatch("matmul_f32", &kernel, &[a, b, c], bytemuck::cast_slice(&dims), groups, repeats)
    }
}
