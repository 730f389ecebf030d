//! GEMM: C = A·B (or A·Bᵀ) with f32, f16 or bf16 operands and f32 accumulation.
//!
//! Three kernels: cooperative matrices (`gemm_coop.wgsl`, see [`super::coop`]) for f16 where
//! the device has them, the fast path (`gemm.wgsl`: vec4 loads, register-blocked
//! double-buffered tiles) when K and N are multiples of 4, and the edge path (`gemm_any.wgsl`:
//! scalar loads) for every other shape. Tiles come from the per-device table in
//! [`super::tuning`].

use super::coop;
use super::dtype::{KernelDtype, Layout};
use super::matmul::{MatmulConfig, MatmulShape};
use super::{KernelPath, KernelRun, RunOptions, SharedMemory};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::recording::{Access, Operand, Recording, Step, Timing};
use crate::shaders::{self, KernelText};
use serde::Serialize;

/// What to multiply: C = A·B with A `[m, k]` row-major and C `[m, n]` row-major f32.
///
/// B is `[k, n]` row-major for [`Layout::NN`] and `[n, k]` row-major for [`Layout::NT`] (weights
/// stored `[out, in]`, as in safetensors files). A and B are both of `dtype`; products and sums
/// are f32. 16-bit operands are packed two per 32-bit word (see [`KernelDtype`]). A quantized
/// `dtype` is B's alone (ggml blocks, layout `nt`, K whole blocks), with A f32: see
/// `kernels::quant_gemm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GemmSpec {
    /// Rows of A and C.
    pub m: u32,
    /// Columns of C (columns of B for `nn`, rows of B for `nt`).
    pub n: u32,
    /// The reduced dimension: columns of A.
    pub k: u32,
    /// Element type of A and B.
    pub dtype: KernelDtype,
    /// How B is stored.
    pub layout: Layout,
}

impl GemmSpec {
    /// Floating-point operations of one multiply (2·m·n·k).
    pub fn flops(&self) -> f64 {
        2.0 * f64::from(self.m) * f64::from(self.n) * f64::from(self.k)
    }

    /// Bytes A, B and C must hold (16-bit matrices rounded up to whole words; with a quantized
    /// dtype, A is f32 and B whole blocks).
    pub fn operand_bytes(&self) -> Result<[u64; 3]> {
        let (m, n, k) = (u64::from(self.m), u64::from(self.n), u64::from(self.k));
        let a_dtype = if self.dtype.is_quantized() {
            KernelDtype::F32
        } else {
            self.dtype
        };
        Ok([
            a_dtype.buffer_bytes(m * k)?,
            self.dtype.buffer_bytes(k * n)?,
            KernelDtype::F32.buffer_bytes(m * n)?,
        ])
    }

    /// `true` when the fast path's 4-element vectors line up with every row (K and N are
    /// multiples of 4).
    pub fn vector_aligned(&self) -> bool {
        self.k.is_multiple_of(4) && self.n.is_multiple_of(4)
    }

    fn check(&self) -> Result<()> {
        if self.m == 0 || self.n == 0 || self.k == 0 {
            return Err(Error::Shape(format!(
                "gemm needs m, n, k >= 1, got m={} n={} k={}",
                self.m, self.n, self.k
            )));
        }
        Ok(())
    }
}

/// The WGSL of the fast path for `dtype`, `layout` and `tiles`.
pub(crate) fn fast_source(
    dtype: KernelDtype,
    layout: Layout,
    tiles: &MatmulConfig,
) -> Result<KernelText, String> {
    let engine = match dtype {
        KernelDtype::F32 => KernelText::of(&shaders::GEMM),
        KernelDtype::F16 => shaders::splice(&shaders::GEMM, &shaders::GEMM_F16)?,
        KernelDtype::Bf16 => shaders::splice(&shaders::GEMM, &shaders::GEMM_BF16)?,
        quantized => return Err(format!("{quantized} B takes the quantized GEMM")),
    };
    shaders::specialize_text(
        &engine,
        &[
            ("BM", tiles.bm),
            ("BN", tiles.bn),
            ("BK", tiles.bk),
            ("TM", tiles.tm),
            ("TN", tiles.tn),
            ("B_NT", u32::from(layout == Layout::NT)),
        ],
    )
}

/// The WGSL of the edge path for `dtype`, `layout` and `tiles`.
pub(crate) fn any_source(
    dtype: KernelDtype,
    layout: Layout,
    tiles: &MatmulConfig,
) -> Result<KernelText, String> {
    shaders::specialize(
        &shaders::GEMM_ANY,
        &[
            ("BM", tiles.bm),
            ("BN", tiles.bn),
            ("BK", tiles.bk),
            ("TM", tiles.tm),
            ("TN", tiles.tn),
            ("B_NT", u32::from(layout == Layout::NT)),
            ("DTYPE", dtype.code()),
        ],
    )
}

/// The variant name (and kernel cache key) of a GEMM pipeline.
pub(crate) fn variant_name(
    fast: bool,
    dtype: KernelDtype,
    layout: Layout,
    t: &MatmulConfig,
) -> String {
    let kernel = if fast { "gemm" } else { "gemm_any" };
    format!("{kernel}/{dtype}/{layout}/{t}")
}

/// The kernel a GEMM runs, with its tiles.
#[derive(Debug, Clone, Copy)]
enum GemmKernel {
    /// Cooperative matrices (`gemm_coop.wgsl`).
    Coop(coop::CoopConfig),
    /// The vector FMA fast path (`gemm.wgsl`).
    Fast(MatmulConfig),
    /// The edge path (`gemm_any.wgsl`).
    Any(MatmulConfig),
}

impl GemmKernel {
    /// The variant name, also the pipeline cache key.
    fn variant(&self, spec: &GemmSpec) -> String {
        match self {
            GemmKernel::Coop(c) => coop::variant_name(spec.layout, c),
            GemmKernel::Fast(t) => variant_name(true, spec.dtype, spec.layout, t),
            GemmKernel::Any(t) => variant_name(false, spec.dtype, spec.layout, t),
        }
    }

    /// Rows and columns of C per workgroup.
    fn tile(&self) -> (u32, u32) {
        match self {
            GemmKernel::Coop(c) => (c.bm, c.bn),
            GemmKernel::Fast(t) | GemmKernel::Any(t) => (t.bm, t.bn),
        }
    }

    /// The WGSL, built only when the pipeline is not cached yet.
    fn source(&self, spec: &GemmSpec) -> Result<KernelText, String> {
        match self {
            GemmKernel::Coop(c) => coop::source(spec.layout, c),
            GemmKernel::Fast(t) => fast_source(spec.dtype, spec.layout, t),
            GemmKernel::Any(t) => any_source(spec.dtype, spec.layout, t),
        }
    }
}

impl MatmulShape {
    /// The GEMM of this shape with f32 operands, layout `nn`.
    fn f32_spec(&self) -> GemmSpec {
        GemmSpec {
            m: self.m,
            n: self.n,
            k: self.k,
            dtype: KernelDtype::F32,
            layout: Layout::NN,
        }
    }
}

impl Context {
    /// C = A·B (layout `nn`) or C = A·Bᵀ (layout `nt`); see [`GemmSpec`] for the operands.
    ///
    /// Chooses cooperative matrices for f16 with K and N multiples of 8 where the device has
    /// them ([`Context::cooperative_gemm`]), else the fast path when K and N are multiples of
    /// 4, the edge path otherwise, with tiles from the per-device table
    /// ([`Context::kernel_tuning`]). Returns the time and the variant that ran. Shapes that do
    /// not fit the buffers are [`Error::Shape`]; operands larger than a storage binding are
    /// [`Error::TooLarge`]; f16 needs the device feature `SHADER_F16` ([`Error::DeviceLacks`]).
    ///
    /// A one-op recording run at once ([`Recording::gemm`] records it among other ops).
    pub fn gemm<'a>(
        &self,
        a: impl Into<Operand<'a>>,
        b: impl Into<Operand<'a>>,
        c: impl Into<Operand<'a>>,
        spec: GemmSpec,
    ) -> Result<KernelRun> {
        self.gemm_with(a, b, c, spec, RunOptions::default())
    }

    /// [`Context::gemm`] with options: repeats in one pass (for timing), the kernel path, and
    /// tiles other than the table's.
    pub fn gemm_with<'a>(
        &self,
        a: impl Into<Operand<'a>>,
        b: impl Into<Operand<'a>>,
        c: impl Into<Operand<'a>>,
        spec: GemmSpec,
        options: RunOptions,
    ) -> Result<KernelRun> {
        let mut recording = self.record().label("gemm");
        let variant = recording.gemm_with(a, b, c, spec, options)?;
        let report = recording.run()?;
        Ok(KernelRun {
            timing: report.timing(options.repeats.max(1)),
            variant,
        })
    }

    /// C = A·B on buffers of f32 (row-major): [`Context::gemm`] with f32 operands, layout `nn`.
    pub fn matmul<'a>(
        &self,
        a: impl Into<Operand<'a>>,
        b: impl Into<Operand<'a>>,
        c: impl Into<Operand<'a>>,
        shape: MatmulShape,
    ) -> Result<Timing> {
        Ok(self.gemm(a, b, c, shape.f32_spec())?.timing)
    }

    /// C = A·B (f32, row-major) with the edge kernel (`gemm_any.wgsl`) and explicit tiles, run
    /// `repeats` times in one pass: for experiments with tile sizes.
    pub fn matmul_with<'a>(
        &self,
        a: impl Into<Operand<'a>>,
        b: impl Into<Operand<'a>>,
        c: impl Into<Operand<'a>>,
        shape: MatmulShape,
        config: MatmulConfig,
        repeats: u32,
    ) -> Result<Timing> {
        let options = RunOptions {
            repeats,
            path: KernelPath::Generic,
            gemm_tiles: Some(config),
            ..RunOptions::default()
        };
        Ok(self.gemm_with(a, b, c, shape.f32_spec(), options)?.timing)
    }
}

impl Recording<'_> {
    /// Records C = A·B or A·Bᵀ (see [`Context::gemm`]); returns the kernel variant.
    pub fn gemm<'a>(
        &mut self,
        a: impl Into<Operand<'a>>,
        b: impl Into<Operand<'a>>,
        c: impl Into<Operand<'a>>,
        spec: GemmSpec,
    ) -> Result<String> {
        self.gemm_with(a, b, c, spec, RunOptions::default())
    }

    /// Records C = A·B on f32 buffers (see [`Context::matmul`]); returns the kernel variant.
    pub fn matmul<'a>(
        &mut self,
        a: impl Into<Operand<'a>>,
        b: impl Into<Operand<'a>>,
        c: impl Into<Operand<'a>>,
        shape: MatmulShape,
    ) -> Result<String> {
        self.gemm(a, b, c, shape.f32_spec())
    }

    /// [`Recording::gemm`] with options.
    pub fn gemm_with<'a>(
        &mut self,
        a: impl Into<Operand<'a>>,
        b: impl Into<Operand<'a>>,
        c: impl Into<Operand<'a>>,
        spec: GemmSpec,
        options: RunOptions,
    ) -> Result<String> {
        let ctx = self.context();
        let (a, b, c) = (a.into(), b.into(), c.into());
        spec.check()?;
        if spec.dtype.is_quantized() {
            return super::quant_gemm::record(self, a, b, c, spec, options);
        }
        if spec.dtype == KernelDtype::F16 && !ctx.features().contains(wgpu::Features::SHADER_F16) {
            return Err(Error::DeviceLacks {
                what: "f16 GEMM".into(),
                reason: "the device does not offer SHADER_F16 (16-bit floats in shaders); use \
                         f32 or bf16 operands"
                    .into(),
            });
        }
        let [a_bytes, b_bytes, c_bytes] = spec.operand_bytes()?;
        let (m, n, k) = (spec.m, spec.n, spec.k);
        let b_shape = match spec.layout {
            Layout::NN => format!("{k}x{n}"),
            Layout::NT => format!("{n}x{k}"),
        };
        ctx.check_operand("gemm A", &a, a_bytes, &format!("{m}x{k} {}", spec.dtype))?;
        ctx.check_operand("gemm B", &b, b_bytes, &format!("{b_shape} {}", spec.dtype))?;
        ctx.check_operand("gemm C", &c, c_bytes, &format!("{m}x{n} f32"))?;

        let coop = (options.path == KernelPath::Auto
            && options.gemm_tiles.is_none()
            && spec.dtype == KernelDtype::F16
            && coop::CoopConfig::takes(k, n))
        .then(|| ctx.cooperative_gemm())
        .flatten();
        let choice = match coop {
            Some(config) => GemmKernel::Coop(config),
            None => {
                let fast = options.path != KernelPath::Generic && spec.vector_aligned();
                let tiles = match (options.gemm_tiles, fast) {
                    (Some(tiles), _) => {
                        tiles.check(ctx.device_limits(), fast)?;
                        tiles
                    }
                    (None, true) => ctx.kernel_tuning().gemm,
                    (None, false) => ctx.kernel_tuning().gemm_any,
                };
                if fast {
                    GemmKernel::Fast(tiles)
                } else {
                    GemmKernel::Any(tiles)
                }
            }
        };
        let variant = choice.variant(&spec);
        let (tile_m, tile_n) = choice.tile();
        let kernel = ctx.kernel_with(&variant, SharedMemory::WrittenBeforeRead, || {
            choice.source(&spec)
        })?;
        let step = Step {
            operands: vec![(a, Access::Read), (b, Access::Read), (c, Access::ReadWrite)],
            uniforms: bytemuck::cast_slice(&[m, n, k, 0]).to_vec(),
            workgroups: [n.div_ceil(tile_n), m.div_ceil(tile_m), 1],
        };
        self.push_steps(&variant, &kernel, vec![step], options.repeats)?;
        Ok(variant)
    }
}
