//! `strata matmul`: multiply random matrices on the GPU (GEMM), time it, optionally check it.

use crate::common::{AdapterArgs, print_json};
use serde::Serialize;
use std::process::ExitCode;
use strata::kernels::{CoopConfig, KernelPath, KernelRun, MatmulConfig, RunOptions};
use strata::reference::{self, Comparison};
use strata::{
    Clock, Context, GemmSpec, KernelDtype, Layout, PlacedBuffer, Placement, Timing, wgpu,
};

/// Options of `strata matmul`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rows of A and C.
    #[arg(long)]
    m: u32,
    /// Columns of A; rows of B (nn) or columns of B (nt).
    #[arg(long)]
    k: u32,
    /// Columns of C.
    #[arg(long)]
    n: u32,
    /// Element type of A and B: f32, f16 (needs SHADER_F16) or bf16. Or a ggml block type
    /// (q4_0 … q6_k) for B alone, with --layout nt and k whole blocks: A is then f32, B is
    /// decoded once per run and multiplied on the GEMM kernels. C is always f32.
    #[arg(long, default_value = "f32")]
    dtype: KernelDtype,
    /// Layout of B: nn (B is [k, n]) or nt (B is [n, k], weights stored [out, in]).
    #[arg(long, default_value = "nn")]
    layout: Layout,
    /// Run the generic (edge) kernel whatever the shape, for comparison.
    #[arg(long, conflicts_with = "fma")]
    generic: bool,
    /// Run the vector FMA kernel even where cooperative matrices (tensor cores) would serve
    /// f16, for comparison.
    #[arg(long)]
    fma: bool,
    /// Tiles instead of the per-device table's, as BMxBNxBK/TMxTN (e.g. 128x128x16/8x8), for
    /// tuning experiments.
    #[arg(long, value_name = "BMxBNxBK/TMxTN")]
    tiles: Option<MatmulConfig>,
    /// Cooperative-matrix tiles instead of the table's, as BMxBNxBK/SGMxSGN[/1buf|/2buf] (e.g.
    /// 128x128x32/2x2/2buf: a 128×128 tile of C per workgroup of 2×2 subgroups, K 32 deep,
    /// double-buffered), for f16 or bf16 on a device with cooperative matrices.
    #[arg(long, value_name = "BMxBNxBK/SGMxSGN[/Nbuf]", conflicts_with_all = ["tiles", "fma", "generic"])]
    coop_tiles: Option<CoopConfig>,
    /// Cooperative-matrix GEMM: slices of K, added up by a second dispatch (1: no split),
    /// instead of the table's choice.
    #[arg(long)]
    splits: Option<u32>,
    /// Compare with an f64 CPU reference (sampled rows for very large shapes); exit non-zero
    /// on mismatch.
    #[arg(long)]
    check: bool,
    /// Timed samples (after a warm-up); the median is reported. Each sample runs the kernel
    /// back to back, in one pass, for about 2 ms of GPU time (at least once).
    #[arg(long, default_value_t = 5)]
    iters: u32,
    /// Seed of the random inputs (default: fresh every run).
    #[arg(long)]
    seed: Option<u64>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Where A, B and C live: vram, vram-mapped, host (gtt), host-cached, type=N or auto.
    /// Default: ordinary wgpu buffers.
    #[arg(long)]
    placement: Option<Placement>,
    #[command(flatten)]
    adapter: AdapterArgs,
}

#[derive(Debug, Serialize)]
struct Report {
    adapter: String,
    m: u32,
    n: u32,
    k: u32,
    dtype: KernelDtype,
    layout: Layout,
    /// The kernel variant that ran.
    /// Where A, B and C lived (`--placement`), or null for ordinary buffers.
    placement: Option<String>,
    variant: String,
    /// Median seconds per run.
    seconds: f64,
    clock: Clock,
    iters: usize,
    /// Back-to-back runs per timed sample (`seconds` is per run).
    repeats: u32,
    gflops: f64,
    /// Operand bytes (A + B + C) over the time: the least traffic a run needs.
    gb_per_s: f64,
    /// `all`, `N sampled rows`, or null without --check.
    checked: Option<String>,
    rel_error: Option<f64>,
    max_abs_error: Option<f64>,
    non_finite: Option<usize>,
    tolerance: f64,
    ok: Option<bool>,
}

/// The relative error allowed against the f64 reference on the unrounded f32 inputs (for
/// quantized B, on its dequantized weights: the cooperative-matrix path rounds A to f16).
fn tolerance(dtype: KernelDtype) -> f64 {
    if dtype.is_quantized() {
        reference::F16_ROUNDING_TOLERANCE
    } else {
        reference::end_to_end_tolerance(dtype)
    }
}

/// Above this many multiply-adds the check samples rows instead of computing all of C.
const FULL_CHECK_MACS: u64 = 1 << 31;
const SAMPLED_ROWS: usize = 64;

/// Runs `strata matmul`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ctx = args.adapter.context()?;
    let spec = GemmSpec {
        m: args.m,
        n: args.n,
        k: args.k,
        dtype: args.dtype,
        layout: args.layout,
    };
    let seed = args.seed.unwrap_or_else(rand_seed);
    let (m, n, k) = (args.m as usize, args.n as usize, args.k as usize);
    let a = reference::random_f32(m * k, seed);
    let b = reference::random_f32(k * n, seed.wrapping_add(1));
    let operands = upload_operands(&ctx, &a, &b, &spec, args.placement)?;
    let [a_buf, b_buf, c_buf] = operands.buffers();
    let options = RunOptions {
        repeats: 1,
        path: if args.generic {
            KernelPath::Generic
        } else if args.fma {
            KernelPath::Fma
        } else {
            KernelPath::Auto
        },
        gemm_tiles: args.tiles,
        coop_tiles: args.coop_tiles,
        splits: args.splits,
        ..RunOptions::default()
    };
    let mut gemm =
        |repeats: u32| ctx.gemm_with(a_buf, b_buf, c_buf, spec, RunOptions { repeats, ..options });

    // The warm-up run, which the check reads.
    gemm(1)?;
    let mut comparison: Option<(Comparison, String)> = None;
    if args.check {
        let c = operands.read_c(&ctx, m * n)?;
        // A quantized B is compared as the kernel reads it (its exact dequantization).
        let b_values = if spec.dtype.is_quantized() {
            reference::round_to(&b, spec.dtype)
        } else {
            b.clone()
        };
        comparison = Some(check(&a, &b_values, &c, &spec, seed));
    }
    let (median, runs, repeats) = median_of(args.iters, &mut gemm)?;
    let tolerance = tolerance(args.dtype);
    let ok = comparison.as_ref().map(|(c, _)| c.passes(tolerance));
    let [a_bytes, b_bytes, c_bytes] = spec.operand_bytes()?;
    let report = Report {
        adapter: ctx.adapter_info().name,
        m: args.m,
        n: args.n,
        k: args.k,
        dtype: args.dtype,
        layout: args.layout,
        placement: args.placement.map(|p| p.to_string()),
        variant: median.variant.clone(),
        seconds: median.timing.seconds,
        clock: median.timing.clock,
        iters: runs,
        repeats,
        gflops: spec.flops() / median.timing.seconds / 1e9,
        gb_per_s: (a_bytes + b_bytes + c_bytes) as f64 / median.timing.seconds / 1e9,
        checked: comparison.as_ref().map(|(_, how)| how.clone()),
        rel_error: comparison.as_ref().map(|(c, _)| c.rel_error),
        max_abs_error: comparison.as_ref().map(|(c, _)| c.max_abs_error),
        non_finite: comparison.as_ref().map(|(c, _)| c.non_finite),
        tolerance,
        ok,
    };
    if args.json {
        print_json(&report)?;
    } else {
        println!(
            "matmul {}x{}x{} {} {} on {}: {:.3} ms ({}), {:.1} GFLOP/s, kernel {}",
            report.m,
            report.k,
            report.n,
            report.dtype,
            report.layout,
            report.adapter,
            report.seconds * 1e3,
            clock_name(report.clock),
            report.gflops,
            report.variant
        );
        if let Some((c, how)) = &comparison {
            println!(
                "check ({how}): rel error {:.2e}, max abs error {:.2e}, non-finite {} -> {}",
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

/// A, B and C: ordinary buffers, or buffers placed by `--placement`.
enum Operands {
    Plain([wgpu::Buffer; 3]),
    Placed([PlacedBuffer; 3]),
}

impl Operands {
    fn buffers(&self) -> [&wgpu::Buffer; 3] {
        match self {
            Operands::Plain(b) => [&b[0], &b[1], &b[2]],
            Operands::Placed(p) => [p[0].buffer(), p[1].buffer(), p[2].buffer()],
        }
    }

    /// The `len` elements of C, read back by the buffer's own path.
    fn read_c(&self, ctx: &Context, len: usize) -> strata::Result<Vec<f32>> {
        match self {
            Operands::Plain(b) => ctx.read_back::<f32>(&b[2], len),
            Operands::Placed(p) => {
                let bytes = ctx.read_placed(&p[2], 0, len as u64 * 4)?;
                Ok(bytes
                    .chunks_exact(4)
                    .map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                    .collect())
            }
        }
    }
}

/// A, B (in `spec.dtype`) and C (poisoned with NaN, so an element the kernel never wrote
/// cannot pass), in ordinary buffers or in `placement`.
fn upload_operands(
    ctx: &Context,
    a: &[f32],
    b: &[f32],
    spec: &GemmSpec,
    placement: Option<Placement>,
) -> anyhow::Result<Operands> {
    // With a quantized dtype only B is quantized; A is f32.
    let a_dtype = if spec.dtype.is_quantized() {
        KernelDtype::F32
    } else {
        spec.dtype
    };
    let contents = [
        reference::encode(a, a_dtype),
        reference::encode(b, spec.dtype),
        reference::encode(
            &vec![f32::NAN; spec.m as usize * spec.n as usize],
            KernelDtype::F32,
        ),
    ];
    let Some(placement) = placement else {
        let [a, b, c] = contents;
        return Ok(Operands::Plain([
            ctx.upload(&a)?,
            ctx.upload(&b)?,
            ctx.upload(&c)?,
        ]));
    };
    let mut placed = Vec::with_capacity(3);
    for (name, bytes) in ["A", "B", "C"].iter().zip(&contents) {
        let buffer = ctx.place(bytes.len() as u64, placement)?;
        ctx.write_placed(&buffer, 0, bytes)?;
        eprintln!("{name} in {placement}: {}", buffer.location());
        placed.push(buffer);
    }
    let placed: [PlacedBuffer; 3] = placed
        .try_into()
        .map_err(|_| anyhow::anyhow!("three operands"))?;
    Ok(Operands::Placed(placed))
}

/// Compares C with the f64 reference on the unrounded f32 inputs: all of C, or sampled rows
/// when the shape is very large.
fn check(a: &[f32], b: &[f32], c: &[f32], spec: &GemmSpec, seed: u64) -> (Comparison, String) {
    let (m, n, k) = (spec.m as usize, spec.n as usize, spec.k as usize);
    let reference_of = |a: &[f32], rows: usize| match spec.layout {
        Layout::NN => reference::matmul(a, b, rows, n, k),
        Layout::NT => reference::matmul_nt(a, b, rows, n, k),
    };
    if (m as u64) * (n as u64) * (k as u64) <= FULL_CHECK_MACS || m <= SAMPLED_ROWS {
        return (reference::compare(c, &reference_of(a, m)), "all".into());
    }
    // Rows spread over C, from the seed.
    let picks = reference::random_f32(SAMPLED_ROWS, seed ^ 0xC4EC);
    let rows: Vec<usize> = picks
        .iter()
        .map(|p| ((p + 1.0) / 2.0 * m as f32) as usize % m)
        .collect();
    let sub_a: Vec<f32> = rows
        .iter()
        .flat_map(|&i| a[i * k..(i + 1) * k].iter().copied())
        .collect();
    let sub_c: Vec<f32> = rows
        .iter()
        .flat_map(|&i| c[i * n..(i + 1) * n].iter().copied())
        .collect();
    (
        reference::compare(&sub_c, &reference_of(&sub_a, rows.len())),
        format!("{} sampled rows", rows.len()),
    )
}

/// Times `run` (called with the number of back-to-back runs per sample) by
/// [`strata::bench::time_kernel`]. Returns the median time per run (and the variant that ran),
/// the number of timed samples and the runs per sample.
pub fn median_of(
    iters: u32,
    mut run: impl FnMut(u32) -> strata::Result<KernelRun>,
) -> anyhow::Result<(KernelRun, usize, u32)> {
    let mut variant = String::new();
    let times = strata::bench::time_kernel(iters, |repeats| {
        run(repeats).map(|r| {
            variant = r.variant;
            r.timing
        })
    })?;
    let median = KernelRun {
        timing: Timing {
            seconds: times.samples.median,
            runs: times.repeats,
            clock: times.clock,
        },
        variant,
    };
    Ok((median, times.samples.runs, times.repeats))
}

/// `gpu-timestamps` or `wall-clock`.
pub fn clock_name(clock: Clock) -> &'static str {
    match clock {
        Clock::GpuTimestamps => "gpu-timestamps",
        Clock::WallClock => "wall-clock",
    }
}

/// A seed from the clock, so every run checks fresh inputs.
pub fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
