//! Quantized GEMV: y = W·x for weights in one of ggml's block types (the raw blocks of a GGUF
//! tensor), a batch of 1 to 8 f32 vectors, f32 sums. The weights stay quantized in memory and
//! are decoded in registers, exactly as ggml decodes them.
//!
//! [`Context::gemv`] and [`Recording::gemv`] take a [`GemvSpec`] with a quantized
//! [`KernelDtype`]: the shapes, row parts and buffers are checked as for float weights (rows are
//! whole blocks: `cols` a multiple of the block size), then this module records the kernel:
//! `gemv_quant.wgsl` (subgroup reduction) where the device has subgroups, else
//! `gemv_quant_any.wgsl` (shared-memory tree), each with the block decoder of the type
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

fn layout(dtype: KernelDtype) -> Option<Layout> {
    let (source, chunks) = match dtype {
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
pub(crate) fn decoder(dtype: KernelDtype) -> Result<ShaderSource, String> {
    layout(dtype)
        .map(|l| l.source)
        .ok_or_else(|| format!("{dtype} is not a quantized dtype"))
}

/// Chunks (one thread's share of a block) per block of a quantized dtype (1 for a float one).
pub(crate) fn chunks_per_block(dtype: KernelDtype) -> u32 {
    layout(dtype).map_or(1, |l| l.chunks)
}

/// Chunks in a row of `cols` quantized weights.
fn chunks_per_row(dtype: KernelDtype, cols: u32) -> u32 {
    cols / dtype.block_elements() * chunks_per_block(dtype)
}

/// Loads in flight per thread aim at this many bytes of the weights' own data: with a few
/// workgroups per SM that covers DRAM latency at full bandwidth on a large GPU.
const BYTES_IN_FLIGHT: f64 = 32.0;

/// The quantized GEMV parameters for `batch` vectors of `dtype` weights with rows of `cols`:
/// the table's threads (fewer when a row has fewer chunks than threads × chunks in flight, so
/// no thread idles), rows per workgroup and chunks in flight. Above batch 1: 4 rows (each x
/// vector read serves every row), chunks in flight for about 32 bytes of weight data per
/// thread. At batch 1: 1 row for the K-quants but Q6_K, 2 for Q6_K, 4 for the 32-element block
/// types, and chunks in flight rounded down. These are the best of 27 thread/row/unroll
/// settings on an H200 at 4096×14336 (2026-12-02: q4_K 48.3 µs and q5_K 51.0 with 1 row
/// against 55.4 and 60.5 with 2; q4_0 25.3 with 4 rows and 1 chunk against 27.2 with 2; Q6_K
/// 30.5 with 2 rows against 33.1 with 1; BENCHMARKS.md). `strata gemv --threads
/// --rows-per-group --unroll` overrides it.
pub fn quant_gemv_config(tuning: &Tuning, batch: u32, dtype: KernelDtype, cols: u32) -> GemvConfig {
    let rows = match (batch, dtype) {
        (2.., _) => 4,
        (_, KernelDtype::Q6K) => 2,
        (_, d) if d.block_elements() == 256 => 1,
        _ => 4,
    };
    let chunk_bytes = match layout(dtype) {
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
    let chunks = chunks_per_row(dtype, cols);
    let floor = tuning
        .min_subgroup
        .max(GEMV_ANY_THREADS)
        .min(tuning.gemv_threads);
    let mut threads = tuning.gemv_threads;
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

/// The WGSL of the subgroup kernel.
pub(crate) fn fast_source(
    dtype: KernelDtype,
    batch: u32,
    config: &GemvConfig,
) -> Result<KernelText, String> {
    let engine = shaders::splice(&shaders::GEMV_QUANT, &decoder(dtype)?)?;
    shaders::specialize_text(
        &engine,
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
    let engine = shaders::splice(&shaders::GEMV_QUANT_ANY, &decoder(dtype)?)?;
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
        Some(c) => format!(
            "gemv_quant/{dtype}/b{batch}/{}t/{}r/u{}/sg{}",
            c.threads, c.rows, c.unroll, c.max_subgroups
        ),
        None => format!("gemv_quant_any/{dtype}/b{batch}/{GEMV_ANY_THREADS}t"),
    }
}

/// Every (variant name, WGSL) the table can produce for quantized weights, for the shader
/// tests: each type, batch and tuning, with every thread count the shape rule can pick.
pub(crate) fn variant_sources() -> Result<Vec<(String, String)>, String> {
    let mut sources = Vec::new();
    for dtype in KernelDtype::QUANTIZED {
        for batch in 1..=MAX_GEMV_BATCH {
            for tuning in Tuning::all() {
                // Rows of one block, and rows long enough for every thread.
                for cols in [dtype.block_elements(), 1 << 16] {
                    let config = quant_gemv_config(&tuning, batch, dtype, cols);
                    let text = fast_source(dtype, batch, &config)?;
                    sources.push((
                        variant_name(dtype, batch, Some(&config)),
                        text.as_str().to_string(),
                    ));
                }
            }
            let text = any_source(dtype, batch)?;
            sources.push((variant_name(dtype, batch, None), text.as_str().to_string()));
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
    /// The quantized GEMV parameters the table picks for this device (see
    /// [`quant_gemv_config`]), or the float GEMV's for a float dtype.
    pub fn gemv_config(&self, batch: u32, dtype: KernelDtype, cols: u32) -> GemvConfig {
        let tuning = self.kernel_tuning();
        if dtype.is_quantized() {
            quant_gemv_config(&tuning, batch, dtype, cols)
        } else {
            tuning.gemv_for(batch, dtype, cols)
        }
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
    let variant = variant_name(spec.dtype, batch, fast.then_some(&config));
    let kernel = ctx.kernel_with(&variant, SharedMemory::WrittenBeforeRead, || {
        if fast {
            fast_source(spec.dtype, batch, &config)
        } else {
            any_source(spec.dtype, batch)
        }
    })?;
    let rows_per_group = if fast { config.rows } else { ANY_ROWS };
    let steps = parts
        .iter()
        .map(|&(part, row_base, part_rows)| {
            let groups = part_rows.div_ceil(rows_per_group);
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
        assert_eq!((c.rows, c.unroll), (1, 1));
        assert!(c.threads * c.unroll <= 448 && c.threads >= 64, "{c:?}");
        assert_eq!(c.max_subgroups, c.threads / 32);
        // Q4_0 chunks are 4.5 bytes: 4 rows of one chunk each in flight.
        let c = quant_gemv_config(&t, 1, KernelDtype::Q4_0, 14336);
        assert_eq!((c.rows, c.unroll), (4, 1));
        assert_eq!(c.threads, 256);
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

    #[test]
    fn every_quantized_dtype_has_a_decoder() {
        for dtype in KernelDtype::QUANTIZED {
            let l = layout(dtype).expect("a layout");
            assert!(l.source.name().starts_with("quant_"), "{dtype}");
            // Whole chunks of 4-weight vectors per block.
            assert_eq!(dtype.block_elements() % (4 * l.chunks), 0, "{dtype}");
        }
        assert!(decoder(KernelDtype::F16).is_err());
    }
}
