//! `strata gemv`: y = W·x for random weights `[rows, cols]` and a batch of vectors on the GPU,
//! timed in bytes per second (GEMV is memory-bound), optionally checked. Weights are f32, f16,
//! bf16 or one of ggml's quantized types (random valid blocks, checked against their exact
//! dequantization).

use super::matmul::{clock_name, median_of, rand_seed};
use crate::common::{AdapterArgs, print_json};
use serde::Serialize;
use std::process::ExitCode;
use strata::kernels::{GemvConfig, GemvEngine, KernelPath, RunOptions, quant_gemv_engine_config};
use strata::reference::{self, Comparison, quant};
use strata::{
    Clock, Context, GemvSpec, KernelDtype, Operand, PlaceOptions, PlacedTensor, Placement, wgpu,
};

/// Options of `strata gemv`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rows of the weights (output features).
    #[arg(long)]
    rows: u32,
    /// Columns of the weights (input features).
    #[arg(long)]
    cols: u32,
    /// Vectors in the batch, 1 to 8.
    #[arg(long, default_value_t = 1)]
    batch: u32,
    /// Element type of the weights: f32, f16, bf16, or a ggml block type: q4_0, q4_1, q5_0,
    /// q5_1, q8_0, q2_k, q3_k, q4_k, q5_k, q6_k (cols a multiple of the block size: 32, or 256
    /// for the K-quants). x and y are f32.
    #[arg(long, default_value = "f32")]
    dtype: KernelDtype,
    /// Run the generic kernel (no subgroup operations, shared-memory reduction) whatever the
    /// shape.
    #[arg(long)]
    generic: bool,
    /// Fast path: threads per workgroup instead of the per-device table's (tuning experiments).
    #[arg(long)]
    threads: Option<u32>,
    /// Fast path: rows per workgroup instead of the table's.
    #[arg(long)]
    rows_per_group: Option<u32>,
    /// Fast path: loads per row in flight per thread instead of the table's (16-byte loads
    /// for float weights, one thread's share of a block for quantized ones).
    #[arg(long)]
    unroll: Option<u32>,
    /// Fast path, f16 weights: read them as f16 vectors (true; needs SHADER_F16) or decode u32
    /// words with integer arithmetic (false), instead of the table's choice.
    #[arg(long)]
    f16_loads: Option<bool>,
    /// Fast path kernel: wg (a workgroup per few rows: gemv.wgsl, or gemv_quant.wgsl for
    /// quantized weights) or sg (rows per subgroup: gemv_sg.wgsl, gemv_quant_sg.wgsl; needs a
    /// fixed subgroup size), instead of the table's choice. With sg, --rows-per-group is rows
    /// per subgroup.
    #[arg(long, value_name = "wg|sg")]
    engine: Option<GemvEngine>,
    /// Subgroup engine, float weights: column slices, added up by a second dispatch (1: none),
    /// instead of the table's choice (quantized weights take no slices).
    #[arg(long)]
    splits: Option<u32>,
    /// Compare with an f64 CPU reference (on the weights as the GPU reads them: rounded to
    /// f16/bf16, or dequantized exactly as ggml does); exit non-zero on mismatch.
    #[arg(long)]
    check: bool,
    /// Timed samples (after a warm-up); the median is reported. Each sample runs the kernel
    /// back to back, in one pass, for about 2 ms of GPU time (at least once).
    #[arg(long, default_value_t = 20)]
    iters: u32,
    /// Seed of the random inputs (default: fresh every run).
    #[arg(long)]
    seed: Option<u64>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Where the weights live: vram, vram-mapped, host (gtt), host-cached, type=N or auto.
    /// Default: an ordinary wgpu buffer.
    #[arg(long)]
    placement: Option<Placement>,
    #[command(flatten)]
    adapter: AdapterArgs,
}

#[derive(Debug, Serialize)]
struct Report {
    adapter: String,
    rows: u32,
    cols: u32,
    batch: u32,
    dtype: KernelDtype,
    /// The kernel variant that ran.
    variant: String,
    /// Row parts the weights were split into (each at most one storage binding).
    parts: usize,
    /// Median seconds per run.
    seconds: f64,
    clock: Clock,
    iters: usize,
    /// Back-to-back runs per timed sample (`seconds` is per run).
    repeats: u32,
    gflops: f64,
    /// Bytes moved (weights + x + y) per run.
    bytes: u64,
    gb_per_s: f64,
    rel_error: Option<f64>,
    max_abs_error: Option<f64>,
    non_finite: Option<usize>,
    tolerance: f64,
    ok: Option<bool>,
}

/// Runs `strata gemv`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ctx = args.adapter.context()?;
    let spec = GemvSpec {
        rows: args.rows,
        cols: args.cols,
        batch: args.batch,
        dtype: args.dtype,
    };
    let seed = args.seed.unwrap_or_else(rand_seed);
    let (rows, cols, batch) = (args.rows as usize, args.cols as usize, args.batch as usize);
    spec.dtype.check_row("--cols", spec.cols)?;
    let (bytes, w) = weights(&spec, seed)?;
    let x = reference::random_f32(batch * cols, seed.wrapping_add(1));
    let (w_bufs, placed) = match args.placement {
        None => (upload_weights(&ctx, &bytes, &spec)?, None),
        Some(placement) => (
            Vec::new(),
            Some(place_weights(&ctx, &bytes, &spec, placement)?),
        ),
    };
    let parts: Vec<Operand<'_>> = match &placed {
        Some(tensor) => tensor.operands(),
        None => w_bufs.iter().map(Operand::from).collect(),
    };
    let x_buf = ctx.upload(&x)?;
    // Poisoned output: NaN everywhere, so an element the kernel never wrote cannot pass.
    let y_buf = ctx.upload(&vec![f32::NAN; batch * rows])?;
    let options = RunOptions {
        repeats: 1,
        path: if args.generic {
            KernelPath::Generic
        } else {
            KernelPath::Auto
        },
        gemv: gemv_config(&ctx, &args),
        ..RunOptions::default()
    };
    let mut gemv = |repeats: u32| {
        ctx.gemv_with(
            &parts,
            &x_buf,
            &y_buf,
            spec,
            RunOptions { repeats, ..options },
        )
    };

    // The warm-up run, which the check reads.
    gemv(1)?;
    let mut comparison: Option<Comparison> = None;
    if args.check {
        let y = ctx.read_back::<f32>(&y_buf, batch * rows)?;
        comparison = Some(reference::compare(
            &y,
            &reference::gemv(&w, &x, rows, cols, batch),
        ));
    }
    let (median, runs, repeats) = median_of(args.iters, &mut gemv)?;
    // Quantized weights are compared with their exact values: only the f32 sums differ.
    let tolerance = reference::end_to_end_tolerance(args.dtype);
    let ok = comparison.map(|c| c.passes(tolerance));
    let seconds = median.timing.seconds;
    let report = Report {
        adapter: ctx.adapter_info().name,
        rows: args.rows,
        cols: args.cols,
        batch: args.batch,
        dtype: args.dtype,
        variant: median.variant.clone(),
        parts: parts.len(),
        seconds,
        clock: median.timing.clock,
        iters: runs,
        repeats,
        gflops: spec.flops() / seconds / 1e9,
        bytes: spec.bytes_moved(),
        gb_per_s: spec.bytes_moved() as f64 / seconds / 1e9,
        rel_error: comparison.map(|c| c.rel_error),
        max_abs_error: comparison.map(|c| c.max_abs_error),
        non_finite: comparison.map(|c| c.non_finite),
        tolerance,
        ok,
    };
    if args.json {
        print_json(&report)?;
    } else {
        println!(
            "gemv {}x{} {} batch {} on {} ({} part(s)): {:.3} ms ({}), {:.1} GB/s, {:.1} GFLOP/s, kernel {}",
            report.rows,
            report.cols,
            report.dtype,
            report.batch,
            report.adapter,
            report.parts,
            seconds * 1e3,
            clock_name(report.clock),
            report.gb_per_s,
            report.gflops,
            report.variant
        );
        if let Some(c) = comparison {
            println!(
                "check: rel error {:.2e}, max abs error {:.2e}, non-finite {} -> {}",
                c.rel_error,
                c.max_abs_error,
                c.non_finite,
                if c.passes(tolerance) {
                    "ok"
                } else {
                    "MISMATCH"
                }
            );
        }
    }
    Ok(if ok == Some(false) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The table's GEMV parameters with the options' overrides, or `None` when none is given.
fn gemv_config(ctx: &Context, args: &Args) -> Option<GemvConfig> {
    if args.threads.is_none()
        && args.rows_per_group.is_none()
        && args.unroll.is_none()
        && args.f16_loads.is_none()
        && args.engine.is_none()
        && args.splits.is_none()
    {
        return None;
    }
    let tuning = ctx.kernel_tuning();
    let table = ctx.gemv_config(args.batch, args.dtype, args.cols);
    // Another engine than the table's starts from that engine's defaults.
    let base = match args.engine {
        Some(engine) if engine != table.engine && args.dtype.is_quantized() => {
            quant_gemv_engine_config(&tuning, args.batch, args.dtype, args.cols, engine)
        }
        Some(GemvEngine::Cooperative) if table.engine != GemvEngine::Cooperative => tuning
            .gemv_coop_for(args.batch, args.dtype)
            .unwrap_or(GemvConfig {
                threads: 128,
                rows: 1,
                unroll: 4,
                max_subgroups: 0,
                f16_loads: false,
                engine: GemvEngine::Cooperative,
                splits: 0,
            }),
        Some(engine) if engine != table.engine => {
            let workgroup = tuning.gemv(args.batch);
            GemvConfig {
                engine,
                rows: if engine == GemvEngine::Subgroup {
                    4
                } else {
                    workgroup.rows
                },
                ..workgroup
            }
        }
        _ => table,
    };
    Some(GemvConfig {
        threads: args.threads.unwrap_or(base.threads),
        rows: args.rows_per_group.unwrap_or(base.rows),
        unroll: args.unroll.unwrap_or(base.unroll),
        max_subgroups: base.max_subgroups,
        f16_loads: args.f16_loads.unwrap_or(table.f16_loads),
        // The engine asked for, which the kernel call accepts or refuses by name.
        engine: args.engine.unwrap_or(base.engine),
        splits: args.splits.unwrap_or(base.splits),
    })
}

/// Random weights as the kernel reads them (bytes) and as the f32 values the check compares
/// with: random f32 values (encoded in the dtype: the check's tolerance covers the rounding to
/// f16/bf16), or random valid blocks of a quantized dtype (random bits, finite f16 scales of
/// every kind) with their exact values.
fn weights(spec: &GemvSpec, seed: u64) -> anyhow::Result<(Vec<u8>, Vec<f32>)> {
    let elements = spec.rows as usize * spec.cols as usize;
    if spec.dtype.is_quantized() {
        let blocks = elements / spec.dtype.block_elements() as usize;
        let bytes = quant::random_blocks(spec.dtype, blocks, seed)?;
        let values = quant::dequantize(spec.dtype, &bytes)?;
        return Ok((bytes, values));
    }
    let values = reference::random_f32(elements, seed);
    Ok((reference::encode(&values, spec.dtype), values))
}

/// The weights placed in `placement` (split into row parts by the engine).
fn place_weights(
    ctx: &Context,
    bytes: &[u8],
    spec: &GemvSpec,
    placement: Placement,
) -> anyhow::Result<PlacedTensor> {
    let row_bytes = spec.row_bytes();
    if (bytes.len() as u64) != row_bytes * u64::from(spec.rows) {
        anyhow::bail!(
            "--placement needs rows of whole 32-bit words (a row's bytes a multiple of 4)"
        );
    }
    let (tensor, _) =
        ctx.place_tensor(bytes.len() as u64, row_bytes, &PlaceOptions::new(placement))?;
    ctx.write_tensor(&tensor, bytes)?;
    eprintln!(
        "weights in {placement}: {}, {} part(s)",
        tensor.first().location(),
        tensor.parts().len()
    );
    Ok(tensor)
}

/// The weights, one buffer per row part no larger than a storage binding (or a buffer), each
/// padded to whole words.
fn upload_weights(
    ctx: &Context,
    bytes: &[u8],
    spec: &GemvSpec,
) -> anyhow::Result<Vec<wgpu::Buffer>> {
    let limits = ctx.limits();
    let max_part = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    // Separate buffers need no offset alignment beyond whole words.
    let ranges = spec.part_ranges(max_part, 4)?;
    let mut buffers = Vec::with_capacity(ranges.len());
    for range in ranges {
        let (start, end) = (range.start as usize, (range.end as usize).min(bytes.len()));
        let mut part = bytes[start..end].to_vec();
        part.resize(part.len().next_multiple_of(4), 0);
        buffers.push(ctx.upload(&part)?);
    }
    Ok(buffers)
}
