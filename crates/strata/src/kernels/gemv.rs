//! GEMV: y[b, r] = Σ_c W[r, c]·x[b, c] for weights `[rows, cols]` (row-major, `[out, in]`) in
//! f32, f16 or bf16, a batch of 1 to 8 f32 vectors, f32 accumulation.
//!
//! The weights may be split by rows into parts (a tensor larger than one storage binding is
//! stored that way, see [`crate::placement`]); one dispatch per part writes its rows of y, all
//! in one compute pass. The fast paths run when the device has subgroups and rows hold a
//! multiple of 4 (f32) or 8 (f16, bf16) columns: `gemv.wgsl` (a workgroup per few rows) or
//! `gemv_sg.wgsl` (rows per subgroup, for batches and short rows, its columns optionally split
//! into slices added up by [`super::slices`]), as the per-device table chooses
//! ([`super::Tuning::gemv_for`]); f16 batches of 2 to 8 run on cooperative matrices where the
//! table and the device allow ([`super::gemv_coop`]). The generic path (`gemv_any.wgsl`: scalar
//! loads, shared-memory tree) runs otherwise.

use super::dtype::KernelDtype;
use super::gemv_spec::{GemvSpec, row_groups};
use super::slices::{Split, SplitOutput};
use super::tuning::{GEMV_ANY_THREADS, GemvConfig, GemvEngine, MAX_GEMV_BATCH, Tuning};
use super::{KernelPath, KernelRun, RunOptions, SharedMemory};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::recording::{Access, Operand, Recording, Step};
use crate::shaders::{self, KernelText};

/// The WGSL of a fast path (`config.engine` says which).
pub(crate) fn fast_source(
    dtype: KernelDtype,
    batch: u32,
    config: &GemvConfig,
) -> Result<KernelText, String> {
    let mut params = vec![
        ("WG", config.threads),
        ("BATCH", batch),
        ("UNROLL", config.unroll),
    ];
    let engine = match config.engine {
        GemvEngine::Workgroup => {
            params.push(("ROWS", config.rows));
            params.push(("MAX_SUBGROUPS", config.max_subgroups));
            &shaders::GEMV
        }
        GemvEngine::Subgroup => {
            params.push(("RT", config.rows));
            params.push(("SG", subgroup_of(config)));
            &shaders::GEMV_SG
        }
        GemvEngine::Cooperative => {
            return super::gemv_coop::source(batch, config, subgroup_of(config));
        }
    };
    let text = match dtype {
        KernelDtype::F32 => KernelText::of(engine),
        KernelDtype::F16 if config.f16_loads => shaders::splice(engine, &shaders::GEMV_F16)?,
        KernelDtype::F16 | KernelDtype::Bf16 => {
            params.push(("WEIGHTS_BF16", u32::from(dtype == KernelDtype::Bf16)));
            shaders::splice(engine, &shaders::GEMV_16BIT)?
        }
        quantized => return Err(format!("{quantized} weights take the quantized GEMV")),
    };
    shaders::specialize_text(&text, &params)
}

/// The subgroup size a subgroup-engine configuration was made for: its threads over its
/// subgroup slots (both set from the device by [`Tuning::gemv_override`] and
/// [`Tuning::gemv_for`], whose subgroup size is fixed for this engine).
fn subgroup_of(config: &GemvConfig) -> u32 {
    (config.threads / config.max_subgroups.max(1)).max(1)
}

/// Rows a workgroup of the fast path covers.
fn rows_per_group(config: &GemvConfig) -> u32 {
    match config.engine {
        GemvEngine::Workgroup => config.rows,
        GemvEngine::Subgroup => config.rows * config.max_subgroups,
        GemvEngine::Cooperative => 16 * config.rows,
    }
}

/// The WGSL of the generic path.
pub(crate) fn any_source(dtype: KernelDtype, batch: u32) -> Result<KernelText, String> {
    shaders::specialize(
        &shaders::GEMV_ANY,
        &[
            ("WG", GEMV_ANY_THREADS),
            ("BATCH", batch),
            ("DTYPE", dtype.code()),
        ],
    )
}

/// The variant name (and kernel cache key) of a GEMV pipeline; a split run reports it with
/// `/sN` (N slices) appended.
pub(crate) fn variant_name(dtype: KernelDtype, batch: u32, fast: Option<&GemvConfig>) -> String {
    match fast {
        Some(c) => {
            let loads = if c.f16_loads && dtype == KernelDtype::F16 {
                "/f16loads"
            } else {
                ""
            };
            match c.engine {
                GemvEngine::Workgroup => format!(
                    "gemv/{dtype}/b{batch}/{}t/{}r/u{}/sg{}{loads}",
                    c.threads, c.rows, c.unroll, c.max_subgroups
                ),
                GemvEngine::Subgroup => format!(
                    "gemv_sg/{dtype}/b{batch}/{}t/sg{}/{}r/u{}{loads}",
                    c.threads,
                    subgroup_of(c),
                    c.rows,
                    c.unroll
                ),
                GemvEngine::Cooperative => super::gemv_coop::variant_name(batch, c, subgroup_of(c)),
            }
        }
        None => format!("gemv_any/{dtype}/b{batch}/{GEMV_ANY_THREADS}t"),
    }
}

/// Subgroup-engine settings worth measuring against the table's (`strata gemv --engine sg
/// --threads T --rows-per-group R --unroll U`, the `sweep15` stage of `scripts/gpu-run.sh`):
/// (threads, rows per subgroup, unroll). The shader tests validate each for subgroups of 32.
pub const SWEEP: &[(u32, u32, u32)] = &[
    (256, 1, 4),
    (256, 2, 2),
    (256, 2, 4),
    (256, 4, 1),
    (256, 4, 2),
    (256, 8, 1),
    (128, 4, 2),
    (128, 8, 1),
    (512, 2, 2),
    (512, 4, 1),
];

/// Every (variant name, WGSL) the table can produce, and the sweep's, for the shader tests.
pub(crate) fn variant_sources() -> Result<Vec<(String, String)>, String> {
    let mut configs = Vec::new();
    for tuning in Tuning::all() {
        for dtype in KernelDtype::ALL {
            for batch in 1..=MAX_GEMV_BATCH {
                for cols in [4096, 16384] {
                    configs.push((dtype, batch, tuning.gemv_for(batch, dtype, cols)));
                }
                configs.push((dtype, batch, tuning.gemv(batch)));
            }
        }
    }
    for &(threads, rows, unroll) in SWEEP {
        for dtype in KernelDtype::ALL {
            for batch in [1, 2, 4, 8] {
                let config = GemvConfig {
                    threads,
                    rows,
                    unroll,
                    max_subgroups: threads / 32,
                    f16_loads: false,
                    engine: GemvEngine::Subgroup,
                    splits: 0,
                };
                configs.push((dtype, batch, config));
            }
        }
    }
    let mut sources = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (dtype, batch, config) in configs {
        for f16_loads in [false, true] {
            let config = GemvConfig {
                f16_loads,
                ..config
            };
            let name = variant_name(dtype, batch, Some(&config));
            if seen.insert(name.clone()) {
                let text = fast_source(dtype, batch, &config)?;
                sources.push((name, text.as_str().to_string()));
            }
        }
        let name = variant_name(dtype, batch, None);
        if seen.insert(name.clone()) {
            sources.push((name, any_source(dtype, batch)?.as_str().to_string()));
        }
    }
    Ok(sources)
}

/// The uniform block of the GEMV shaders (`Params`; the last two words are the subgroup
/// engine's column slices, padding for the others).
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Params {
    rows: u32,
    cols: u32,
    row_base: u32,
    y_stride: u32,
    groups: u32,
    groups_x: u32,
    slice_chunks: u32,
    slice_stride: u32,
}

impl Context {
    /// y = W·x for a batch of vectors; see [`GemvSpec`] and the module docs.
    ///
    /// `weights` are the row parts of W in order, each a whole number of rows starting at
    /// its operand's offset: every part but the last holds `size / row_bytes` rows (so its
    /// size should be exactly its rows' bytes), the last holds the rest (its size may be
    /// rounded up to whole words). A single buffer holding all of W is one part; a larger one
    /// can be cut with [`Context::gemv_parts`]; [`crate::PlacedTensor::operands`] gives the
    /// parts of a placed tensor. Returns the time (all parts together) and the variant.
    ///
    /// A one-op recording run at once; in a loop, record the GEMVs once instead
    /// ([`Recording::gemv`]).
    pub fn gemv<'a>(
        &self,
        weights: &[Operand<'a>],
        x: impl Into<Operand<'a>>,
        y: impl Into<Operand<'a>>,
        spec: GemvSpec,
    ) -> Result<KernelRun> {
        self.gemv_with(weights, x, y, spec, RunOptions::default())
    }

    /// [`Context::gemv`] with options: repeats in one pass (for timing) and the kernel path.
    pub fn gemv_with<'a>(
        &self,
        weights: &[Operand<'a>],
        x: impl Into<Operand<'a>>,
        y: impl Into<Operand<'a>>,
        spec: GemvSpec,
        options: RunOptions,
    ) -> Result<KernelRun> {
        let mut recording = self.record().label("gemv");
        let variant = recording.gemv_with(weights, x, y, spec, options)?;
        let report = recording.run()?;
        Ok(KernelRun {
            timing: report.timing(options.repeats.max(1)),
            variant,
        })
    }

    /// Cuts one buffer range holding all of W (rows contiguous) into row parts that each fit
    /// a storage binding of this device, for [`Context::gemv`].
    pub fn gemv_parts<'a>(
        &self,
        weights: impl Into<Operand<'a>>,
        spec: &GemvSpec,
    ) -> Result<Vec<Operand<'a>>> {
        let weights = weights.into();
        let limits = self.limits();
        let ranges = spec.part_ranges(
            limits.max_storage_buffer_binding_size,
            u64::from(limits.min_storage_buffer_offset_alignment),
        )?;
        let need = ranges.last().map_or(0, |r| r.end);
        if weights.size < need {
            return Err(Error::Shape(format!(
                "gemv weights {}x{} {} need {need} bytes, the buffer range has {}",
                spec.rows, spec.cols, spec.dtype, weights.size
            )));
        }
        Ok(ranges
            .into_iter()
            .map(|r| Operand {
                buffer: weights.buffer,
                offset: weights.offset + r.start,
                size: r.end - r.start,
            })
            .collect())
    }

    /// Pairs each part with its first row and row count, checking that the parts hold exactly
    /// the matrix's rows.
    fn assign_rows<'a>(
        &self,
        weights: &[Operand<'a>],
        spec: &GemvSpec,
    ) -> Result<Vec<(Operand<'a>, u32, u32)>> {
        if weights.is_empty() {
            return Err(Error::Shape("gemv needs at least one weight part".into()));
        }
        let row_bytes = spec.row_bytes();
        let mut parts = Vec::with_capacity(weights.len());
        let mut next_row = 0u32;
        for (i, part) in weights.iter().enumerate() {
            let what = format!("gemv weight part {i}");
            let remaining = spec.rows - next_row;
            if remaining == 0 {
                return Err(Error::Shape(format!(
                    "{what}: the parts before it already hold all {} rows",
                    spec.rows
                )));
            }
            let part_rows = if i + 1 == weights.len() {
                remaining
            } else {
                let whole = u32::try_from(part.size / row_bytes).unwrap_or(u32::MAX);
                if whole == 0 {
                    return Err(Error::Shape(format!(
                        "{what}: {} bytes hold no whole row of {row_bytes} bytes",
                        part.size
                    )));
                }
                whole.min(remaining)
            };
            let bytes = spec
                .dtype
                .buffer_bytes(u64::from(part_rows) * u64::from(spec.cols))?;
            self.check_operand(
                &what,
                part,
                bytes,
                &format!("{part_rows}x{} {}", spec.cols, spec.dtype),
            )?;
            parts.push((*part, next_row, part_rows));
            next_row += part_rows;
        }
        Ok(parts)
    }
}

impl Recording<'_> {
    /// Records y = W·x (see [`Context::gemv`]); returns the kernel variant.
    pub fn gemv<'a>(
        &mut self,
        weights: &[Operand<'a>],
        x: impl Into<Operand<'a>>,
        y: impl Into<Operand<'a>>,
        spec: GemvSpec,
    ) -> Result<String> {
        self.gemv_with(weights, x, y, spec, RunOptions::default())
    }

    /// [`Recording::gemv`] with options (`repeats` dispatches each part that many times).
    pub fn gemv_with<'a>(
        &mut self,
        weights: &[Operand<'a>],
        x: impl Into<Operand<'a>>,
        y: impl Into<Operand<'a>>,
        spec: GemvSpec,
        options: RunOptions,
    ) -> Result<String> {
        let (x, y) = (x.into(), y.into());
        // Several dispatches (parts, x's preparation, a sum of slices): all or none.
        self.all_or_nothing(|rec| rec.record_gemv(weights, x, y, spec, options))
    }

    fn record_gemv(
        &mut self,
        weights: &[Operand<'_>],
        x: Operand<'_>,
        y: Operand<'_>,
        spec: GemvSpec,
        options: RunOptions,
    ) -> Result<String> {
        let ctx = self.context();
        spec.check()?;
        let (rows, cols, batch) = (spec.rows, spec.cols, spec.batch);
        let parts = ctx.assign_rows(weights, &spec)?;
        let words = |n: u64| KernelDtype::F32.buffer_bytes(n);
        ctx.check_operand(
            "gemv x",
            &x,
            words(u64::from(batch) * u64::from(cols))?,
            &format!("{batch}x{cols} f32"),
        )?;
        ctx.check_operand(
            "gemv y",
            &y,
            words(u64::from(batch) * u64::from(rows))?,
            &format!("{batch}x{rows} f32"),
        )?;

        if spec.dtype.is_quantized() {
            return super::quant::record_gemv(self, &parts, x, y, spec, options);
        }
        let tuning = ctx.kernel_tuning();
        // Batches of f16 on cooperative matrices: where the table asks and the device and the
        // shape allow, else on the FMA kernels below; asked for by name, or nothing.
        let coop = match options.gemv {
            Some(config) if config.engine == GemvEngine::Cooperative => {
                Some((tuning.gemv_override(config, ctx.device_limits())?, true))
            }
            Some(_) => None,
            None => {
                super::gemv_coop::table_config(ctx, batch, spec.dtype, cols).map(|c| (c, false))
            }
        };
        if let Some((config, forced)) = coop.filter(|_| options.path != KernelPath::Generic) {
            match super::gemv_coop::eligible(ctx, spec.dtype, batch, cols, &parts, &config) {
                Ok(subgroup) => {
                    let config = GemvConfig {
                        max_subgroups: config.threads / subgroup,
                        ..config
                    };
                    return super::gemv_coop::record(self, &parts, x, y, spec, config, options);
                }
                Err(why) if forced => return Err(Error::InvalidArgument(why)),
                Err(_) => {}
            }
        }
        let fast = options.path != KernelPath::Generic
            && ctx.features().contains(wgpu::Features::SUBGROUP)
            && cols.is_multiple_of(spec.chunk());
        let mut config = match options.gemv {
            Some(config) => tuning.gemv_override(config, ctx.device_limits())?,
            None => tuning.gemv_for(batch, spec.dtype, cols),
        };
        // f16 loads need 16-bit floats in shaders.
        config.f16_loads &= ctx.features().contains(wgpu::Features::SHADER_F16);
        let key = variant_name(spec.dtype, batch, fast.then_some(&config));
        let kernel = ctx.kernel_with(&key, SharedMemory::WrittenBeforeRead, || {
            if fast {
                fast_source(spec.dtype, batch, &config)
            } else {
                any_source(spec.dtype, batch)
            }
        })?;
        let group_rows = if fast { rows_per_group(&config) } else { 1 };
        let chunks = cols / spec.chunk();
        let split = if fast && config.engine == GemvEngine::Subgroup {
            let groups = row_groups(&parts, group_rows);
            let wanted = Split::asked(config.splits, tuning.target_groups, groups);
            let lanes = subgroup_of(&config);
            Split::of(chunks, wanted, lanes * config.unroll, lanes)
        } else {
            Split {
                count: 1,
                per_slice: chunks,
            }
        };
        // With slices, each writes its own copy of y into scratch memory, added up after.
        let output = SplitOutput::new(
            ctx,
            split,
            u64::from(batch) * u64::from(rows),
            "gemv slices",
        )?;
        let (out, slice_stride) = (output.target(y), output.stride());
        let steps = parts
            .iter()
            .map(|&(part, row_base, part_rows)| {
                let groups = part_rows.div_ceil(group_rows);
                let mut workgroups = ctx.grid(groups);
                workgroups[2] = split.count;
                let params = Params {
                    rows: part_rows,
                    cols,
                    row_base,
                    y_stride: rows,
                    groups,
                    groups_x: workgroups[0],
                    slice_chunks: split.per_slice,
                    slice_stride,
                };
                Step {
                    operands: vec![
                        (part, Access::Read),
                        (x, Access::Read),
                        (out, Access::ReadWrite),
                    ],
                    uniforms: bytemuck::bytes_of(&params).to_vec(),
                    workgroups,
                }
            })
            .collect::<Vec<_>>();
        self.push_steps(&key, &kernel, steps, options.repeats)?;
        output.finish(self, y, key, "s", options.repeats)
    }
}
