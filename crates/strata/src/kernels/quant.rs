//! Quantized GEMV: y = W·x for weights in one of ggml's block types (the raw blocks of a GGUF
//! tensor), a batch of 1 to 8 f32 vectors, f32 sums. The weights stay quantized in memory and
//! are decoded in registers, exactly as ggml decodes them.
//!
//! [`Context::gemv`] and [`Recording::gemv`] take a [`GemvSpec`] with a quantized
//! [`KernelDtype`]: the shapes, row parts and buffers are checked as for float weights (rows are
//! whole blocks: `cols` a multiple of the block size), then this module records the kernel:
//! where the device has subgroups, `gemv_quant.wgsl` (a workgroup per few rows, subgroup and
//! shared-memory reduction) or `gemv_quant_sg.wgsl` (rows per subgroup, no shared memory; needs
//! a fixed subgroup size), as [`quant_gemv_config`] or the caller's [`GemvConfig`] says; else
//! `gemv_quant_any.wgsl` (shared-memory tree). Each has the block decoder of the type
//! (`quant_*.wgsl`) spliced in. `docs/KERNELS.md` ("Quantized GEMV") has the design and the
//! bounds argument.

use super::dtype::KernelDtype;
use super::tuning::{GEMV_ANY_THREADS, GemvConfig, GemvEngine, MAX_GEMV_BATCH, Tuning};
use super::{GemvSpec, KernelPath, RunOptions, SharedMemory};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::recording::{Access, Operand, Recording, Step};
use crate::shaders::{self, KernelText, ShaderSource};

/// How a type's decoder cuts a block: chunks per block, and bytes of the chunk's own data
/// (for sizing the loads in flight).
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// The decoder, `shaders/quant_*.wgsl`.
    source: ShaderSource,
    /// Chunks per block (the shader's `TPB`).
    chunks: u32,
}

/// Which of a type's decoders an engine splices in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decoding {
    /// The decoder every engine can take (`quant_*.wgsl`).
    Standard,
    /// Fewer, larger chunks a block where the type has such a decoder (Q4_0:
    /// `quant_q4_0_wide.wgsl`, two chunks of 16 weights instead of four of 8), else the
    /// standard one.
    Wide,
}

/// The decoding a GEMV of `batch` vectors on `engine` uses: wide on the workgroup engine at
/// batch 1, standard elsewhere. Measured on an H200 at 4096×14336 Q4_0 (2026-12-03, run 12):
/// batch 1 21.9 µs wide against 25.1 standard; at batch 8 on the subgroup engine the wide
/// decoder took 220.8 µs against 80.3 (run 11), so the batch engines keep the standard one.
pub(crate) fn decoding(batch: u32, engine: GemvEngine) -> Decoding {
    if batch <= 1 && engine == GemvEngine::Workgroup {
        Decoding::Wide
    } else {
        Decoding::Standard
    }
}

fn layout(dtype: KernelDtype, decoding: Decoding) -> Option<Layout> {
    let (source, chunks) = match dtype {
        KernelDtype::Q4_0 if decoding == Decoding::Wide => (shaders::QUANT_Q4_0_WIDE, 2),
        KernelDtype::Q4_0 => (shaders::QUANT_Q4_0, 4),
        KernelDtype::Q4_1 => (shaders::QUANT_Q4_1, 4),
        KernelDtype::Q5_0 => (shaders::QUANT_Q5_0, 4),
        KernelDtype::Q5_1 => (shaders::QUANT_Q5_1, 4),
        KernelDtype::Q8_0 => (shaders::QUANT_Q8_0, 4),
        KernelDtype::Q2K => (shaders::QUANT_Q2_K, 8),
        KernelDtype::Q3K => (shaders::QUANT_Q3_K, 8),
        KernelDtype::Q4K => (shaders::QUANT_Q4_K, 8),
        KernelDtype::Q5K => (shaders::QUANT_Q5_K, 8),
        KernelDtype::Q6K => (shaders::QUANT_Q6_K, 8),
        KernelDtype::F32 | KernelDtype::F16 | KernelDtype::Bf16 => return None,
    };
    Some(Layout { source, chunks })
}

/// The block decoder of a quantized dtype, or an error for a float one.
pub(crate) fn decoder(dtype: KernelDtype, decoding: Decoding) -> Result<ShaderSource, String> {
    layout(dtype, decoding)
        .map(|l| l.source)
        .ok_or_else(|| format!("{dtype} is not a quantized dtype"))
}

/// Chunks (one thread's share of a block) per block of a quantized dtype (1 for a float one).
pub(crate) fn chunks_per_block(dtype: KernelDtype, decoding: Decoding) -> u32 {
    layout(dtype, decoding).map_or(1, |l| l.chunks)
}

/// Chunks in a row of `cols` quantized weights.
fn chunks_per_row(dtype: KernelDtype, decoding: Decoding, cols: u32) -> u32 {
    cols / dtype.block_elements() * chunks_per_block(dtype, decoding)
}

/// Types whose batch-1 GEMV runs faster on workgroups of at most 128 threads (see
/// [`quant_gemv_engine_config`]).
const BATCH1_128_THREADS: [KernelDtype; 3] =
    [KernelDtype::Q4_0, KernelDtype::Q5K, KernelDtype::Q6K];

/// Loads in flight per thread aim at this many bytes of the weights' own data: with a few
/// workgroups per SM that covers DRAM latency at full bandwidth on a large GPU.
const BYTES_IN_FLIGHT: f64 = 32.0;

/// The quantized GEMV parameters the table picks for `batch` vectors of `dtype` weights with
/// rows of `cols`: the subgroup-rows engine above batch 1 on discrete GPUs with a fixed
/// subgroup size, else the workgroup engine, with that engine's parameters
/// ([`quant_gemv_engine_config`]). `strata gemv --engine --threads --rows-per-group
/// --unroll` overrides them.
pub fn quant_gemv_config(tuning: &Tuning, batch: u32, dtype: KernelDtype, cols: u32) -> GemvConfig {
    quant_gemv_engine_config(
        tuning,
        batch,
        dtype,
        cols,
        table_engine(tuning, batch, dtype),
    )
}

/// Rows per subgroup and chunks in flight per row of the subgroup-rows engine, for batches (2
/// rows; 4 chunks for the 32-element block types, 2 for the K-quants) and for batch 1 when asked
/// for by name (2 rows, 2 chunks). Measured on an H200 at 4096×14336 batch 8 (`gpu-run.sh
/// quant-sg`, 2026-12-02): q4_0 80.1 µs with 2/4 against 90.8 with 2/2, q4_K 134.2 with 2/2
/// against 157.1 with 2/4; one row per subgroup was slower for every type.
fn subgroup_rows_unroll(batch: u32, dtype: KernelDtype) -> (u32, u32) {
    match batch {
        0..=1 => (2, 2),
        _ if dtype.block_elements() == 256 => (2, 2),
        _ => (2, 4),
    }
}

/// Whether the device can run the subgroup-rows engine with the table's threads: a fixed
/// subgroup size dividing them.
fn subgroup_engine_fits(tuning: &Tuning) -> bool {
    tuning
        .fixed_subgroup
        .is_some_and(|sg| tuning.gemv_threads >= sg && tuning.gemv_threads.is_multiple_of(sg))
}

/// The engine the table runs a quantized GEMV on: the subgroup-rows engine
/// (`gemv_quant_sg.wgsl`) for batches of 2 to 8 on discrete GPUs where it fits, the workgroup
/// engine otherwise. Measured on an H200 at 4096×14336 (2026-12-02): at batch 8 the subgroup
/// engine took q4_0 80.1 µs against 147.4 on the workgroup engine, q8_0 97.8 against 159.1,
/// q4_K 134.2 against 186.4, q5_K 138.5 against 193.5, q6_K 89.3 against 133.7; at batch 1 it
/// was slower for every type but Q6_K (q4_K 52.5 against 48.3, q8_0 35.1 against 27.5, Q6_K
/// 30.1 against 30.5): the block decoding, not the reduction, sets the batch-1 time. Other
/// devices keep the workgroup engine until measured.
fn table_engine(tuning: &Tuning, batch: u32, dtype: KernelDtype) -> GemvEngine {
    let on_subgroups = dtype.is_quantized() && batch >= 2 && tuning.name == "discrete-gpu";
    if on_subgroups && subgroup_engine_fits(tuning) {
        GemvEngine::Subgroup
    } else {
        GemvEngine::Workgroup
    }
}

/// The quantized GEMV parameters on `engine` for `batch` vectors of `dtype` weights with rows
/// of `cols`, whatever the table would choose (for `strata gemv --engine`).
///
/// Workgroup engine: the table's threads (fewer when a row has fewer chunks than threads ×
/// chunks in flight, so no thread idles), rows per workgroup and chunks in flight. Above batch
/// 1: 4 rows (each x vector read serves every row), chunks in flight for about 32 bytes of
/// weight data per thread. At batch 1: 1 row for Q2_K and Q3_K, 4 for every other type, at
/// most 128 threads for Q4_0 (decoded in two chunks a block at batch 1), Q5_K and Q6_K, and
/// chunks in flight rounded down. Measured on an H200 at
/// 4096×14336, the best of rows 2/4/6/8 at 128 and 256 threads (BENCHMARKS.md): run 12
/// (2026-12-03) q5_K 26.8 µs at 128 threads and 4 rows against 27.5 at 256 and 2, q6_K 29.9
/// against 30.6, Q4_0 (wide) 21.9 against 22.6 at 256 threads, while q4_K (23.6 against 25.8)
/// and q8_0 (27.6 against 29.6) keep 256; run 11 (2026-12-02) q4_K 23.6 µs with 4 rows against
/// 37.8 with 1, q5_K 27.4 with 2 against 38.2 with 1.
///
/// Subgroup engine: the table's threads (at least one subgroup), rows per subgroup and chunks
/// in flight from `subgroup_rows_unroll`, no column slices.
/// On a device without a fixed subgroup size this is a configuration that
/// [`Tuning::gemv_override`], and so the GEMV, refuses. Any other engine gets the workgroup
/// engine's parameters (quantized weights have no third engine).
pub fn quant_gemv_engine_config(
    tuning: &Tuning,
    batch: u32,
    dtype: KernelDtype,
    cols: u32,
    engine: GemvEngine,
) -> GemvConfig {
    if engine == GemvEngine::Subgroup {
        let (rows, unroll) = subgroup_rows_unroll(batch, dtype);
        let threads = tuning.gemv_threads.max(tuning.fixed_subgroup.unwrap_or(1));
        return GemvConfig {
            threads,
            rows,
            unroll,
            max_subgroups: (threads / tuning.min_subgroup).max(1),
            f16_loads: false,
            engine,
            splits: 1,
        };
    }
    let rows = match (batch, dtype) {
        (0..=1, KernelDtype::Q2K | KernelDtype::Q3K) => 1,
        _ => 4,
    };
    let max_threads = if batch <= 1 && BATCH1_128_THREADS.contains(&dtype) {
        tuning.gemv_threads.min(128)
    } else {
        tuning.gemv_threads
    };
    let decoding = decoding(batch, GemvEngine::Workgroup);
    let chunk_bytes = match layout(dtype, decoding) {
        Some(l) => dtype.bytes() as f64 / f64::from(l.chunks),
        None => 16.0,
    };
    let in_flight = BYTES_IN_FLIGHT / (f64::from(rows) * chunk_bytes);
    let unroll = if batch <= 1 {
        in_flight.floor()
    } else {
        in_flight.round()
    }
    .clamp(1.0, 8.0) as u32;
    let chunks = chunks_per_row(dtype, decoding, cols);
    let floor = tuning.min_subgroup.max(GEMV_ANY_THREADS).min(max_threads);
    let mut threads = max_threads;
    while threads > floor && threads * unroll > chunks {
        threads /= 2;
    }
    GemvConfig {
        threads,
        rows,
        unroll,
        max_subgroups: (threads / tuning.min_subgroup).max(1),
        f16_loads: false,
        engine: GemvEngine::Workgroup,
        splits: 1,
    }
}

/// The subgroup size a subgroup-engine configuration was made for: its threads over its
/// subgroup slots (both set from the device by [`Tuning::gemv_override`] and
/// [`quant_gemv_engine_config`], whose subgroup size is fixed for this engine).
fn subgroup_of(config: &GemvConfig) -> u32 {
    (config.threads / config.max_subgroups.max(1)).max(1)
}

/// Rows a workgroup of the fast path covers.
fn rows_per_group(config: &GemvConfig) -> u32 {
    if config.engine == GemvEngine::Subgroup {
        config.rows * (config.threads / subgroup_of(config))
    } else {
        config.rows
    }
}

/// Subgroup-engine settings worth measuring against the table's (rows per subgroup, unroll)
/// at batch 1 and at batch 8, with 256 threads: what `scripts/gpu-run.sh quant-sg` runs. The
/// shader tests validate each for subgroups of 32.
const SG_SWEEP_BATCH1: &[(u32, u32)] = &[
    (1, 2),
    (1, 4),
    (1, 8),
    (2, 2),
    (2, 4),
    (2, 8),
    (4, 2),
    (4, 4),
    (4, 8),
];
const SG_SWEEP_BATCH8: &[(u32, u32)] = &[(1, 2), (1, 4), (2, 2), (2, 4)];

/// The WGSL of a kernel with subgroup operations (`config.engine` says which).
pub(crate) fn fast_source(
    dtype: KernelDtype,
    batch: u32,
    config: &GemvConfig,
) -> Result<KernelText, String> {
    let decoder = decoder(dtype, decoding(batch, config.engine))?;
    if config.engine == GemvEngine::Subgroup {
        return shaders::specialize_text(
            &shaders::splice(&shaders::GEMV_QUANT_SG, &decoder)?,
            &[
                ("WG", config.threads),
                ("SG", subgroup_of(config)),
                ("RT", config.rows),
                ("BATCH", batch),
                ("UNROLL", config.unroll),
            ],
        );
    }
    shaders::specialize_text(
        &shaders::splice(&shaders::GEMV_QUANT, &decoder)?,
        &[
            ("WG", config.threads),
            ("ROWS", config.rows),
            ("BATCH", batch),
            ("UNROLL", config.unroll),
            ("MAX_SUBGROUPS", config.max_subgroups),
        ],
    )
}

/// Parameters of the kernel without subgroups: one row, two chunks in flight.
const ANY_ROWS: u32 = 1;
const ANY_UNROLL: u32 = 2;

/// The WGSL of the kernel without subgroups.
pub(crate) fn any_source(dtype: KernelDtype, batch: u32) -> Result<KernelText, String> {
    let engine = shaders::splice(
        &shaders::GEMV_QUANT_ANY,
        &decoder(dtype, Decoding::Standard)?,
    )?;
    shaders::specialize_text(
        &engine,
        &[
            ("WG", GEMV_ANY_THREADS),
            ("ROWS", ANY_ROWS),
            ("BATCH", batch),
            ("UNROLL", ANY_UNROLL),
        ],
    )
}

/// The variant name (and kernel cache key) of a quantized GEMV pipeline.
pub(crate) fn variant_name(dtype: KernelDtype, batch: u32, fast: Option<&GemvConfig>) -> String {
    match fast {
        Some(c) if c.engine == GemvEngine::Subgroup => format!(
            "gemv_quant_sg/{dtype}/b{batch}/{}t/sg{}/{}r/u{}",
            c.threads,
            subgroup_of(c),
            c.rows,
            c.unroll
        ),
        Some(c) => format!(
            "gemv_quant/{dtype}/b{batch}/{}t/{}r/u{}/sg{}",
            c.threads, c.rows, c.unroll, c.max_subgroups
        ),
        None => format!("gemv_quant_any/{dtype}/b{batch}/{GEMV_ANY_THREADS}t"),
    }
}

/// Every (variant name, WGSL) the table can produce for quantized weights, for the shader
/// tests: each type, batch and tuning, with every thread count the shape rule can pick, the
/// subgroup engine wherever the tuning has a fixed subgroup size, and the subgroup-engine
/// sweep.
pub(crate) fn variant_sources() -> Result<Vec<(String, String)>, String> {
    let mut configs = Vec::new();
    for dtype in KernelDtype::QUANTIZED {
        for batch in 1..=MAX_GEMV_BATCH {
            for tuning in Tuning::all() {
                // Rows of one block, and rows long enough for every thread.
                for cols in [dtype.block_elements(), 1 << 16] {
                    configs.push((dtype, batch, quant_gemv_config(&tuning, batch, dtype, cols)));
                }
                if tuning.fixed_subgroup.is_some() {
                    let engine = GemvEngine::Subgroup;
                    let config = quant_gemv_engine_config(&tuning, batch, dtype, 1 << 16, engine);
                    configs.push((dtype, batch, config));
                }
            }
        }
        for (batch, sweep) in [(1, SG_SWEEP_BATCH1), (8, SG_SWEEP_BATCH8)] {
            for &(rows, unroll) in sweep {
                let config = GemvConfig {
                    threads: 256,
                    rows,
                    unroll,
                    max_subgroups: 256 / 32,
                    f16_loads: false,
                    engine: GemvEngine::Subgroup,
                    splits: 1,
                };
                configs.push((dtype, batch, config));
            }
        }
    }
    let mut sources = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (dtype, batch, config) in configs {
        let name = variant_name(dtype, batch, Some(&config));
        if seen.insert(name.clone()) {
            let text = fast_source(dtype, batch, &config)?;
            sources.push((name, text.as_str().to_string()));
        }
        let name = variant_name(dtype, batch, None);
        if seen.insert(name.clone()) {
            sources.push((name, any_source(dtype, batch)?.as_str().to_string()));
        }
    }
    Ok(sources)
}

/// The uniform block of both quantized GEMV shaders (`Params`).
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Params {
    rows: u32,
    cols: u32,
    row_base: u32,
    y_stride: u32,
    groups: u32,
    groups_x: u32,
    pad: [u32; 2],
}

/// The largest weight part the shaders index: they form byte offsets in u32 (a block's offset
/// plus its size), so a part stays below 2 GiB (the binding limits are smaller on every device
/// wgpu knows).
const MAX_PART_BYTES: u64 = 1 << 31;

impl Context {
    /// The GEMV parameters the table picks for this device: the quantized GEMV's (see
    /// [`quant_gemv_config`]), the cooperative-matrix GEMV's for f16 batches where this device
    /// runs it and `cols` suits it (a multiple of 16; weight parts must also hold 16 rows), or
    /// the float FMA kernels' ([`Tuning::gemv_for`]).
    pub fn gemv_config(&self, batch: u32, dtype: KernelDtype, cols: u32) -> GemvConfig {
        let tuning = self.kernel_tuning();
        if dtype.is_quantized() {
            return quant_gemv_config(&tuning, batch, dtype, cols);
        }
        super::gemv_coop::table_config(self, batch, dtype, cols)
            .unwrap_or_else(|| tuning.gemv_for(batch, dtype, cols))
    }
}

/// Records y = W·x for quantized weights whose parts, x and y `Recording::gemv_with` has
/// checked: `parts` pairs each weight part with its first row and row count.
pub(crate) fn record_gemv(
    rec: &mut Recording<'_>,
    parts: &[(Operand<'_>, u32, u32)],
    x: Operand<'_>,
    y: Operand<'_>,
    spec: GemvSpec,
    options: RunOptions,
) -> Result<String> {
    let ctx = rec.context();
    let (rows, cols, batch) = (spec.rows, spec.cols, spec.batch);
    if let Some((part, _, _)) = parts.iter().find(|(p, _, _)| p.size > MAX_PART_BYTES) {
        return Err(Error::TooLarge {
            what: format!("gemv {} weight part", spec.dtype),
            bytes: part.size,
            limit_name: "quantized GEMV part size (u32 byte offsets)",
            limit: MAX_PART_BYTES,
        });
    }
    let fast =
        options.path != KernelPath::Generic && ctx.features().contains(wgpu::Features::SUBGROUP);
    let tuning = ctx.kernel_tuning();
    let config = match options.gemv {
        Some(config) => tuning.gemv_override(config, ctx.device_limits())?,
        None => quant_gemv_config(&tuning, batch, spec.dtype, cols),
    };
    if !matches!(config.engine, GemvEngine::Workgroup | GemvEngine::Subgroup) {
        return Err(Error::InvalidArgument(format!(
            "GEMV parameters {config:?}: quantized weights run on the workgroup or the subgroup \
             engine (wg or sg)"
        )));
    }
    // Rows of quantized weights are short (a few hundred chunks): no engine slices them.
    if config.splits > 1 {
        return Err(Error::InvalidArgument(format!(
            "GEMV parameters {config:?}: the quantized GEMV does not split columns (splits 0 or 1)"
        )));
    }
    let variant = variant_name(spec.dtype, batch, fast.then_some(&config));
    let kernel = ctx.kernel_with(&variant, SharedMemory::WrittenBeforeRead, || {
        if fast {
            fast_source(spec.dtype, batch, &config)
        } else {
            any_source(spec.dtype, batch)
        }
    })?;
    let group_rows = if fast {
        rows_per_group(&config)
    } else {
        ANY_ROWS
    };
    let steps = parts
        .iter()
        .map(|&(part, row_base, part_rows)| {
            let groups = part_rows.div_ceil(group_rows);
            let workgroups = ctx.grid(groups);
            let params = Params {
                rows: part_rows,
                cols,
                row_base,
                y_stride: rows,
                groups,
                groups_x: workgroups[0],
                pad: [0; 2],
            };
            Step {
                operands: vec![
                    (part, Access::Read),
                    (x, Access::Read),
                    (y, Access::ReadWrite),
                ],
                uniforms: bytemuck::bytes_of(&params).to_vec(),
                workgroups,
            }
        })
        .collect::<Vec<_>>();
    rec.push_steps(&variant, &kernel, steps, options.repeats)?;
    Ok(variant)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuning(threads: u32, min_subgroup: u32) -> Tuning {
        Tuning {
            gemv_threads: threads,
            min_subgroup,
            ..Tuning::all()[0]
        }
    }

    #[test]
    fn configs_fit_the_row() {
        let t = tuning(256, 32);
        // 4096x14336 Q4_K: 56 blocks of 8 chunks = 448 chunks a row.
        let c = quant_gemv_config(&t, 1, KernelDtype::Q4K, 14336);
        assert_eq!((c.rows, c.unroll), (4, 1));
        assert!(c.threads * c.unroll <= 448 && c.threads >= 64, "{c:?}");
        assert_eq!(c.max_subgroups, c.threads / 32);
        // Q4_0 at batch 1 decodes 9-byte chunks (two a block): 4 rows of one chunk each in
        // flight, on 128 threads.
        let c = quant_gemv_config(&t, 1, KernelDtype::Q4_0, 14336);
        assert_eq!((c.rows, c.unroll), (4, 1));
        assert_eq!(c.threads, 128);
        // Batches decode 4.5-byte chunks on the table's threads.
        let c = quant_gemv_config(&t, 2, KernelDtype::Q4_0, 14336);
        assert_eq!((c.threads, c.rows, c.unroll), (256, 4, 2));
        for dtype in [KernelDtype::Q5K, KernelDtype::Q6K] {
            let c = quant_gemv_config(&t, 1, dtype, 14336);
            assert_eq!((c.threads, c.rows, c.unroll), (128, 4, 1), "{dtype}");
        }
        let c = quant_gemv_config(&t, 1, KernelDtype::Q3K, 14336);
        assert_eq!(c.rows, 1);
        let c = quant_gemv_config(&t, 2, KernelDtype::Q3K, 14336);
        assert_eq!(c.rows, 4);
        // A row of one block keeps the floor of 64 threads.
        let c = quant_gemv_config(&t, 8, KernelDtype::Q6K, 256);
        assert_eq!((c.threads, c.rows, c.unroll), (64, 4, 1));
        // Every config passes the override's checks.
        let limits = wgpu::Limits::default();
        for dtype in KernelDtype::QUANTIZED {
            for batch in 1..=MAX_GEMV_BATCH {
                for cols in [256, 4096, 14336, 1 << 16] {
                    let c = quant_gemv_config(&t, batch, dtype, cols);
                    assert_eq!(t.gemv_override(c, &limits).unwrap(), c, "{dtype} {cols}");
                }
            }
        }
    }

    /// The discrete-GPU entry with a fixed subgroup size of 32, as on the H100/H200.
    fn discrete(fixed_subgroup: Option<u32>) -> Tuning {
        Tuning {
            fixed_subgroup,
            ..tuning(256, 32)
        }
    }

    #[test]
    fn the_table_runs_batches_on_subgroups_on_discrete_gpus_only() {
        let limits = wgpu::Limits::default();
        let t = discrete(Some(32));
        assert_eq!(t.name, "discrete-gpu");
        for dtype in KernelDtype::QUANTIZED {
            // 4 chunks in flight for the 32-weight types, 2 for the K-quants.
            let unroll = if dtype.block_elements() == 256 { 2 } else { 4 };
            for batch in 2..=MAX_GEMV_BATCH {
                let c = quant_gemv_config(&t, batch, dtype, 14336);
                assert_eq!(c.engine, GemvEngine::Subgroup, "{dtype} b{batch}");
                assert_eq!(
                    (c.threads, c.rows, c.unroll, c.splits),
                    (256, 2, unroll, 1),
                    "{dtype} b{batch}"
                );
                assert_eq!(subgroup_of(&c), 32);
                // 8 subgroups of 2 rows.
                assert_eq!(rows_per_group(&c), 16);
                assert_eq!(t.gemv_override(c, &limits).unwrap(), c, "{dtype}");
            }
            // Batch 1 stays on the workgroup engine.
            let b1 = quant_gemv_config(&t, 1, dtype, 14336);
            assert_eq!(b1.engine, GemvEngine::Workgroup, "{dtype}");
        }
        // No fixed subgroup size, or one that does not divide the threads: workgroups.
        for fixed in [None, Some(512)] {
            let c = quant_gemv_config(&discrete(fixed), 8, KernelDtype::Q4K, 14336);
            assert_eq!(c.engine, GemvEngine::Workgroup, "{fixed:?}");
        }
        // Other entries (lavapipe's `cpu` included) keep the workgroup engine.
        for tuning in Tuning::all()
            .into_iter()
            .filter(|t| t.name != "discrete-gpu")
        {
            let c = quant_gemv_config(&tuning, 8, KernelDtype::Q4K, 14336);
            assert_eq!(c.engine, GemvEngine::Workgroup, "{}", tuning.name);
        }
    }

    #[test]
    fn the_subgroup_engine_on_request() {
        let limits = wgpu::Limits::default();
        let sg = GemvEngine::Subgroup;
        // Lavapipe: 64 threads, subgroups of 8.
        let lavapipe = Tuning {
            name: "cpu",
            fixed_subgroup: Some(8),
            ..tuning(64, 8)
        };
        let c = quant_gemv_engine_config(&lavapipe, 8, KernelDtype::Q6K, 256, sg);
        assert_eq!((c.threads, c.rows, c.unroll, c.engine), (64, 2, 2, sg));
        assert_eq!(lavapipe.gemv_override(c, &limits).unwrap(), c);
        assert_eq!(rows_per_group(&c), 16);
        assert_eq!(
            variant_name(KernelDtype::Q6K, 8, Some(&c)),
            "gemv_quant_sg/q6_k/b8/64t/sg8/2r/u2"
        );
        // Threads are at least one subgroup.
        let wide = Tuning {
            fixed_subgroup: Some(128),
            ..tuning(64, 128)
        };
        let c = quant_gemv_engine_config(&wide, 1, KernelDtype::Q4_0, 4096, sg);
        assert_eq!((c.threads, c.max_subgroups, subgroup_of(&c)), (128, 1, 128));
        // Without a fixed subgroup size the override refuses it.
        let varying = tuning(256, 32);
        let c = quant_gemv_engine_config(&varying, 1, KernelDtype::Q4K, 14336, sg);
        assert!(matches!(
            varying.gemv_override(c, &limits),
            Err(Error::InvalidArgument(_))
        ));
        // The workgroup engine on request is the table's workgroup configuration.
        let t = discrete(Some(32));
        let wg = quant_gemv_engine_config(&t, 1, KernelDtype::Q4K, 14336, GemvEngine::Workgroup);
        assert_eq!(
            wg,
            quant_gemv_config(&discrete(None), 1, KernelDtype::Q4K, 14336)
        );
        assert_eq!(
            variant_name(KernelDtype::Q4K, 1, Some(&wg)),
            format!("gemv_quant/q4_k/b1/{}t/4r/u1/sg8", wg.threads)
        );
        let table = quant_gemv_config(&t, 8, KernelDtype::Q4K, 14336);
        assert_eq!(
            variant_name(KernelDtype::Q4K, 8, Some(&table)),
            "gemv_quant_sg/q4_k/b8/256t/sg32/2r/u2"
        );
    }

    #[test]
    fn variant_sources_cover_the_subgroup_engine_for_every_type() {
        let sources = variant_sources().unwrap();
        for dtype in KernelDtype::QUANTIZED {
            for name in [
                format!("gemv_quant_sg/{dtype}/b1/256t/sg32/2r/u4"),
                format!("gemv_quant_sg/{dtype}/b1/256t/sg32/4r/u8"),
                format!("gemv_quant_sg/{dtype}/b8/256t/sg32/2r/u4"),
                format!(
                    "gemv_quant_sg/{dtype}/b3/64t/sg8/2r/u{}",
                    subgroup_rows_unroll(3, dtype).1
                ),
            ] {
                let (_, text) = sources
                    .iter()
                    .find(|(n, _)| *n == name)
                    .unwrap_or_else(|| panic!("{name} is not among the variants"));
                assert!(text.contains("fn load_w(blk: u32, part: u32)"), "{name}");
            }
        }
        for dtype in KernelDtype::QUANTIZED {
            for prefix in ["gemv_quant/", "gemv_quant_any/"] {
                let prefix = format!("{prefix}{dtype}/b8/");
                assert!(
                    sources.iter().any(|(n, _)| n.starts_with(&prefix)),
                    "{prefix}"
                );
            }
        }
        let names: std::collections::BTreeSet<&String> = sources.iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), sources.len(), "no variant twice");
    }

    #[test]
    fn every_quantized_dtype_has_a_decoder() {
        for decoding in [Decoding::Standard, Decoding::Wide] {
            for dtype in KernelDtype::QUANTIZED {
                let l = layout(dtype, decoding).expect("a layout");
                assert!(l.source.name().starts_with("quant_"), "{dtype}");
                // Whole chunks of 4-weight vectors per block.
                assert_eq!(dtype.block_elements() % (4 * l.chunks), 0, "{dtype}");
            }
            assert!(decoder(KernelDtype::F16, decoding).is_err());
        }
        // Only Q4_0 has a wide decoder; only the batch-1 workgroup engine takes it.
        let wide = layout(KernelDtype::Q4_0, Decoding::Wide).unwrap();
        assert_eq!(
            (wide.source.name(), wide.chunks),
            ("quant_q4_0_wide.wgsl", 2)
        );
        assert_eq!(decoding(1, GemvEngine::Workgroup), Decoding::Wide);
        assert_eq!(decoding(1, GemvEngine::Subgroup), Decoding::Standard);
        assert_eq!(decoding(2, GemvEngine::Workgroup), Decoding::Standard);
        let t = tuning(256, 32);
        let b1 = quant_gemv_config(&t, 1, KernelDtype::Q4_0, 14336);
        assert!(
            fast_source(KernelDtype::Q4_0, 1, &b1)
                .unwrap()
                .as_str()
                .contains("const TPB: u32 = 2u;")
        );
        let b2 = quant_gemv_config(&t, 2, KernelDtype::Q4_0, 14336);
        assert!(
            fast_source(KernelDtype::Q4_0, 2, &b2)
                .unwrap()
                .as_str()
                .contains("const TPB: u32 = 4u;")
        );
    }
}
