//! GEMM: C = A·B (or A·Bᵀ) with f32, f16 or bf16 operands and f32 accumulation.
//!
//! Three kernels: cooperative matrices (`gemm_coop.wgsl`, see [`super::coop`]) for f16, and
//! bf16 where the table says so, when the device has them (K split into slices when the tiles
//! of C alone would leave the device idle), the fast path (`gemm.wgsl`: vec4 loads,
//! register-blocked double-buffered tiles) when K and N are multiples of 4, and the edge path
//! (`gemm_any.wgsl`: scalar loads) for every other shape. Tiles come from the per-device table
//! in [`super::tuning`].

use super::coop::{self, CoopConfig};
use super::dtype::{KernelDtype, Layout};
use super::matmul::{MatmulConfig, MatmulShape};
use super::slices::{Split, SplitOutput};
use super::tuning::MAX_SPLITS;
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
    /// Cooperative matrices (`gemm_coop.wgsl`), K in slices.
    Coop(CoopConfig, Split),
    /// The vector FMA fast path (`gemm.wgsl`).
    Fast(MatmulConfig),
    /// The edge path (`gemm_any.wgsl`).
    Any(MatmulConfig),
}

impl GemmKernel {
    /// The variant name, also the pipeline cache key.
    fn variant(&self, spec: &GemmSpec) -> String {
        match self {
            GemmKernel::Coop(c, _) => coop::variant_name(spec.dtype, spec.layout, c),
            GemmKernel::Fast(t) => variant_name(true, spec.dtype, spec.layout, t),
            GemmKernel::Any(t) => variant_name(false, spec.dtype, spec.layout, t),
        }
    }

    /// Rows and columns of C per workgroup.
    fn tile(&self) -> (u32, u32) {
        match self {
            GemmKernel::Coop(c, _) => (c.bm, c.bn),
            GemmKernel::Fast(t) | GemmKernel::Any(t) => (t.bm, t.bn),
        }
    }

    /// The WGSL, built only when the pipeline is not cached yet.
    fn source(&self, spec: &GemmSpec) -> Result<KernelText, String> {
        match self {
            GemmKernel::Coop(c, _) => coop::source(spec.dtype, spec.layout, c),
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
        let (a, b, c) = (a.into(), b.into(), c.into());
        // Several dispatches (a decode of quantized B, a sum of slices): all or none.
        self.all_or_nothing(|rec| rec.record_gemm(a, b, c, spec, options))
    }

    fn record_gemm(
        &mut self,
        a: Operand<'_>,
        b: Operand<'_>,
        c: Operand<'_>,
        spec: GemmSpec,
        options: RunOptions,
    ) -> Result<String> {
        let ctx = self.context();
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

        let choice = match coop_choice(ctx, &spec, &options)? {
            Some((config, split)) => GemmKernel::Coop(config, split),
            None => {
                if options.splits.is_some_and(|s| s > 1) {
                    return Err(Error::InvalidArgument(format!(
                        "gemm {m}x{n}x{k} {} {}: only the cooperative-matrix kernel splits K, and \
                         it does not run this GEMM here",
                        spec.dtype, spec.layout
                    )));
                }
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
        let key = choice.variant(&spec);
        let (tile_m, tile_n) = choice.tile();
        let kernel = ctx.kernel_with(&key, SharedMemory::WrittenBeforeRead, || {
            choice.source(&spec)
        })?;
        let GemmKernel::Coop(_, split) = choice else {
            let step = Step {
                operands: vec![(a, Access::Read), (b, Access::Read), (c, Access::ReadWrite)],
                uniforms: bytemuck::cast_slice(&[m, n, k, 0]).to_vec(),
                workgroups: [n.div_ceil(tile_n), m.div_ceil(tile_m), 1],
            };
            self.push_steps(&key, &kernel, vec![step], options.repeats)?;
            return Ok(key);
        };
        // Split K: each slice writes its own copy of C into scratch memory, added up after.
        let output = SplitOutput::new(ctx, split, u64::from(m) * u64::from(n), "gemm slices")?;
        let (out, c_stride) = (output.target(c), output.stride());
        let step = Step {
            operands: vec![
                (a, Access::Read),
                (b, Access::Read),
                (out, Access::ReadWrite),
            ],
            uniforms: bytemuck::cast_slice(&[m, n, k, split.per_slice, c_stride, 0, 0, 0]).to_vec(),
            workgroups: [n.div_ceil(tile_n), m.div_ceil(tile_m), split.count],
        };
        self.push_steps(&key, &kernel, vec![step], options.repeats)?;
        output.finish(self, c, key, "split", options.repeats)
    }
}

/// The cooperative-matrix tiles and K slices for `spec`, or `None` when the GEMM runs on
/// the FMA paths: the path is not `Auto`, FMA tiles were asked for, the dtype is f32 (or bf16
/// where the table leaves bf16 on the FMA path), K or N is not a multiple of 8, or the device
/// has no cooperative matrices. Tiles asked for in `options` that cannot run are an error.
fn coop_choice(
    ctx: &Context,
    spec: &GemmSpec,
    options: &RunOptions,
) -> Result<Option<(CoopConfig, Split)>> {
    let tuning = ctx.kernel_tuning();
    let dtype_ok = match spec.dtype {
        KernelDtype::F16 => true,
        // Asking for cooperative tiles asks for the cooperative kernel.
        KernelDtype::Bf16 => tuning.coop_bf16 || options.coop_tiles.is_some(),
        // f32, and quantized B (decoded to f16 first: that GEMM asks for f16 itself).
        _ => false,
    };
    let wanted = options.path == KernelPath::Auto
        && options.gemm_tiles.is_none()
        && dtype_ok
        && CoopConfig::takes(spec.k, spec.n);
    let subgroup = ctx.coop_subgroup();
    let (config, subgroup) = match (options.coop_tiles, wanted, subgroup) {
        (Some(tiles), true, Some(subgroup)) => {
            let config = tiles.with_subgroup(subgroup);
            config.check(ctx.device_limits())?;
            (config, subgroup)
        }
        (Some(tiles), _, None) => {
            return Err(Error::DeviceLacks {
                what: format!("cooperative tiles {tiles}"),
                reason: "the device offers no cooperative-matrix GEMM (see \
                         Context::cooperative_gemm)"
                    .into(),
            });
        }
        (Some(tiles), false, Some(_)) => {
            return Err(Error::InvalidArgument(format!(
                "cooperative tiles {tiles}: the cooperative-matrix GEMM takes f16 or bf16 with K \
                 and N multiples of 8 on the automatic path, not {}x{}x{} {} {:?}",
                spec.m, spec.n, spec.k, spec.dtype, options.path
            )));
        }
        (None, true, Some(subgroup)) => match ctx.cooperative_gemm() {
            Some(default) => (default, subgroup),
            None => return Ok(None),
        },
        (None, _, _) => return Ok(None),
    };
    let groups = |c: &CoopConfig| spec.n.div_ceil(c.bn) * spec.m.div_ceil(c.bm);
    // The table's first tiles whose grid fills the device, else its last (with split K).
    let config = if options.coop_tiles.is_some() {
        config
    } else {
        let limits = ctx.device_limits();
        let fitting: Vec<CoopConfig> = tuning
            .coop_tiles
            .iter()
            .map(|t| t.with_subgroup(subgroup))
            .filter(|c| c.fits(limits))
            .collect();
        fitting
            .iter()
            .find(|c| groups(c) >= tuning.target_groups)
            .or(fitting.last())
            .copied()
            .unwrap_or(config)
    };
    let steps = spec.k.div_ceil(config.bk);
    let wanted_splits = match options.splits {
        Some(0) | None => Split::wanted(tuning.target_groups, groups(&config)),
        Some(s) if s <= MAX_SPLITS => s,
        Some(s) => {
            return Err(Error::InvalidArgument(format!(
                "{s} slices of K: at most {MAX_SPLITS}"
            )));
        }
    };
    // Each slice at least 4 steps of BK; slices a whole number of steps.
    let split = Split::of(steps, wanted_splits, 4, 1);
    let split = Split {
        count: split.count,
        per_slice: split.per_slice * config.bk,
    };
    Ok(Some((config, split)))
}
