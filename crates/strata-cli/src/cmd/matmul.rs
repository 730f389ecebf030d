//! `strata matmul`: multiply random matrices on the GPU, time it, optionally check it.

use crate::common::{AdapterArgs, print_json};
use serde::Serialize;
use std::process::ExitCode;
use strata::reference::{self, Comparison};
use strata::{Clock, MatmulShape};

/// Options of `strata matmul`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rows of A and C.
    #[arg(long)]
    m: u32,
    /// Columns of A, rows of B.
    #[arg(long)]
    k: u32,
    /// Columns of B and C.
    #[arg(long)]
    n: u32,
    /// Compare with an f64 CPU reference; exit non-zero on mismatch.
    #[arg(long)]
    check: bool,
    /// Timed runs (after one warm-up); the median is reported.
    #[arg(long, default_value_t = 5)]
    iters: u32,
    /// Seed of the random inputs (default: fresh every run).
    #[arg(long)]
    seed: Option<u64>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    adapter: AdapterArgs,
}

#[derive(Debug, Serialize)]
struct Report {
    adapter: String,
    m: u32,
    n: u32,
    k: u32,
    dtype: &'static str,
    kernel: String,
    seconds: f64,
    clock: Clock,
    gflops: f64,
    rel_error: Option<f64>,
    max_abs_error: Option<f64>,
    tolerance: f64,
    ok: Option<bool>,
}

/// f32 operands with f32 accumulation.
const TOLERANCE: f64 = 1e-5;

/// Runs `strata matmul`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ctx = args.adapter.context()?;
    let shape = MatmulShape { m: args.m, n: args.n, k: args.k };
    let seed = args.seed.unwrap_or_else(rand_seed);
    let (m, n, k) = (args.m as usize, args.n as usize, args.k as usize);
    let a = reference::random_f32(m * k, seed);
    let b = reference::random_f32(k * n, seed.wrapping_add(1));
    let a_buf = ctx.upload(&a)?;
    let b_buf = ctx.upload(&b)?;
    // Poisoned output: NaN everywhere, so an element the kernel never wrote cannot pass.
    let c_buf = ctx.upload(&vec![f32::NAN; m * n])?;

    let first = ctx.matmul(&a_buf, &b_buf, &c_buf, shape)?;
    let mut comparison: Option<Comparison> = None;
    if args.check {
        let c = ctx.read_back::<f32>(&c_buf, m * n)?;
        comparison = Some(reference::compare(&c, &reference::matmul(&a, &b, m, n, k)));
    }
    let mut times = vec![first];
    for _ in 0..args.iters.max(1) {
        times.push(ctx.matmul(&a_buf, &b_buf, &c_buf, shape)?);
    }
    times.remove(0); // the warm-up
    times.sort_by(|x, y| x.seconds.total_cmp(&y.seconds));
    let median = times[times.len() / 2];
    let ok = comparison.map(|c| c.passes(TOLERANCE));
    let report = Report {
        adapter: ctx.adapter_info().name,
        m: args.m,
        n: args.n,
        k: args.k,
        dtype: "f32",
        kernel: "matmul_f32 tiled 64x64x16, 4x4 per thread".into(),
        seconds: median.seconds,
        clock: median.clock,
        gflops: shape.flops() / median.seconds / 1e9,
        rel_error: comparison.map(|c| c.rel_error),
        max_abs_error: comparison.map(|c| c.max_abs_error),
        tolerance: TOLERANCE,
        ok,
    };
    if args.json {
        print_json(&report)?;
    } else {
        println!(
            "matmul {}x{}x{} f32 on {}: {:.3} ms ({:?}), {:.1} GFLOP/s",
            report.m, report.k, report.n, report.adapter, report.seconds * 1e3, report.clock, report.gflops
        );
        if let Some(c) = comparison {
            println!(
                "check: rel error {:.2e}, max abs error {:.2e}, non-finite {} -> {}",
                c.rel_error,
                c.max_abs_error,
                c.non_finite,
                if c.passes(TOLERANCE) { "ok" } else { "MISMATCH" }
            );
        }
    }
    Ok(if ok == Some(false) { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// A seed from the clock, so every run checks fresh inputs.
pub fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
