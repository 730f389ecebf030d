//! `strata bench`: the placement benchmark (VRAM vs mapped VRAM vs GTT/system memory).

use crate::common::AdapterArgs;
use serde::Serialize;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use strata::Placement;
use strata::bench::{self, BenchConfig, BenchOp, BenchRow};
use strata::kernels::KernelDtype;
use strata::plan::parse_bytes;
use strata::table::human_bytes;

/// Options of `strata bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Placements to compare (default: every named placement; ones the device lacks are shown
    /// as not available).
    #[arg(long, value_delimiter = ',')]
    placements: Vec<Placement>,
    /// Operations: upload, download, read, gemv, gemm (default: all).
    #[arg(long, value_delimiter = ',')]
    ops: Vec<BenchOp>,
    /// Buffer size, e.g. 1GiB (default: sized to the adapter, well above its L2).
    #[arg(long)]
    size: Option<String>,
    /// Element type of gemv weights and gemm operands: f32, f16, bf16.
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// Element type of the gemv weights instead of --dtype: f32, f16, bf16 or a ggml block
    /// type (q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k, q4_k, q5_k, q6_k); the gemv row's note
    /// gives the bandwidth of the weights alone.
    #[arg(long)]
    gemv_dtype: Option<KernelDtype>,
    /// Timed runs per measurement, after a warm-up (default: 20 on a GPU, 3 on a CPU driver).
    #[arg(long)]
    iters: Option<u32>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the results as CSV to this file.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Draw a bar chart per op and placement to this SVG file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Seed of the random data (default: fresh every run).
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    adapter: AdapterArgs,
}

/// The JSON document.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Adapter name.
    pub adapter: String,
    /// Driver.
    pub driver: String,
    /// Buffer size.
    pub size: u64,
    /// Element type.
    pub dtype: String,
    /// Element type of the gemv weights when it differs from `dtype`.
    pub gemv_dtype: Option<String>,
    /// Timed runs per measurement.
    pub iters: u32,
    /// Every measurement.
    pub rows: Vec<BenchRow>,
}

/// Runs `strata bench`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ctx = args.adapter.context()?;
    let info = ctx.adapter_info();
    let dtype: KernelDtype = args.dtype.parse()?;
    if dtype.is_quantized() {
        anyhow::bail!(
            "--dtype {dtype}: gemm operands are float (f32, f16, bf16); measure quantized gemv \
             weights with --gemv-dtype {dtype}"
        );
    }
    let size = match &args.size {
        Some(s) => parse_bytes(s)?,
        None => bench::default_size(&ctx),
    };
    let config = BenchConfig {
        placements: if args.placements.is_empty() {
            Placement::NAMED.to_vec()
        } else {
            args.placements.clone()
        },
        ops: if args.ops.is_empty() {
            BenchOp::ALL.to_vec()
        } else {
            args.ops.clone()
        },
        size,
        dtype,
        gemv_dtype: args.gemv_dtype,
        iters: args.iters.unwrap_or_else(|| bench::default_iters(&ctx)),
        seed: args.seed.unwrap_or_else(crate::cmd::matmul::rand_seed),
    };
    eprintln!(
        "benchmarking {} ({}, {}) with {} buffers, {} timed runs each",
        info.name,
        strata::adapter::backend_name(info.backend),
        info.driver_info,
        human_bytes(size),
        config.iters
    );
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new((config.ops.len() * config.placements.len()) as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed}]")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let rows = bench::run(&ctx, &config, &mut |done, _, label| {
        if let Some(bar) = &bar {
            bar.set_position(done as u64);
            bar.set_message(label.to_string());
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = Report {
        adapter: info.name.clone(),
        driver: format!("{} {}", info.driver, info.driver_info),
        size,
        dtype: dtype.to_string(),
        gemv_dtype: args.gemv_dtype.map(|d| d.to_string()),
        iters: config.iters,
        rows,
    };
    print_table(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.csv {
        std::fs::write(path, to_csv(&report))?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.plot {
        super::bench_plot::draw(&report, path)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The figure a row is judged by: GB/s, or GFLOP/s for gemm.
pub(crate) fn row_figure(row: &BenchRow) -> Option<f64> {
    if row.op == BenchOp::Gemm {
        row.gflops
    } else {
        row.gb_per_s
    }
}

pub(crate) fn op_unit(op: BenchOp) -> &'static str {
    if op == BenchOp::Gemm {
        "GFLOP/s"
    } else {
        "GB/s"
    }
}

/// The `vram` figure of the same op (and upload path) that a row is compared with.
fn vram_figure(report: &Report, row: &BenchRow) -> Option<f64> {
    report
        .rows
        .iter()
        .find(|r| {
            r.op == row.op && r.placement == Placement::Vram && r.path == row.path && r.available
        })
        .and_then(row_figure)
}

fn print_table(report: &Report) {
    println!("{} — {}", report.adapter, report.driver);
    println!(
        "{:<9} {:<12} {:<8} {:>11} {:>10} {:>7} {:>8}  {:>4} {:>4}  flags",
        "op", "placement", "path", "median", "rate", "spread", "vs vram", "type", "heap"
    );
    let mut unavailable: Vec<(Placement, String)> = Vec::new();
    for row in &report.rows {
        if !row.available {
            let note = row.note.as_deref().unwrap_or("");
            let first_line = note.lines().next().unwrap_or("").to_string();
            if !unavailable.iter().any(|(p, _)| *p == row.placement) {
                unavailable.push((row.placement, first_line));
            }
            continue;
        }
        let path = row.path.map_or("", |p| match p {
            strata::placement::UploadPath::Mapped => "mapped",
            strata::placement::UploadPath::Staging => "staging",
        });
        let median = row
            .seconds
            .map_or(String::new(), |s| format!("{:.3} ms", s.median * 1e3));
        let spread = row
            .seconds
            .map_or(String::new(), |s| format!("{:.1}%", s.spread() * 100.0));
        let rate = row_figure(row).map_or(String::new(), |f| format!("{f:.1}"));
        let ratio = match (row_figure(row), vram_figure(report, row)) {
            (Some(f), Some(v)) if v > 0.0 => format!("{:.2}x", f / v),
            _ => String::new(),
        };
        println!(
            "{:<9} {:<12} {:<8} {:>11} {:>10} {:>7} {:>8}  {:>4} {:>4}  {}",
            row.op.to_string(),
            row.placement.to_string(),
            path,
            median,
            rate,
            spread,
            ratio,
            row.memory_type.map_or(String::new(), |t| t.to_string()),
            row.heap.map_or(String::new(), |h| h.to_string()),
            row.flags.map_or(String::new(), |f| f.to_string()),
        );
    }
    for row in report
        .rows
        .iter()
        .filter(|r| r.op == BenchOp::Gemv && r.available)
    {
        if let (Some(rate), Some(kernel)) = (row.weight_gb_per_s, &row.kernel) {
            println!(
                "gemv {}: weights at {rate:.1} GB/s, kernel {kernel}",
                row.placement
            );
        }
    }
    for (placement, why) in unavailable {
        println!("{placement}: not available — {why}");
    }
    println!(
        "rate: GB/s (gemm: GFLOP/s); upload/download timed on the wall clock, read/gemv/gemm on GPU timestamps when the device has them"
    );
}

fn to_csv(report: &Report) -> String {
    let mut out = String::from(
        "adapter,op,placement,path,available,memory_type,heap,flags,bytes,median_s,min_s,max_s,gb_per_s,gflops,clock,kernel,note\n",
    );
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for r in &report.rows {
        let path = r
            .path
            .map(|p| format!("{p:?}").to_lowercase())
            .unwrap_or_default();
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            quote(&report.adapter),
            r.op,
            r.placement,
            path,
            r.available,
            r.memory_type.map_or(String::new(), |t| t.to_string()),
            r.heap.map_or(String::new(), |h| h.to_string()),
            quote(&r.flags.map_or(String::new(), |f| f.to_string())),
            r.bytes,
            opt(r.seconds.map(|s| s.median)),
            opt(r.seconds.map(|s| s.min)),
            opt(r.seconds.map(|s| s.max)),
            opt(r.gb_per_s),
            opt(r.gflops),
            r.clock.map(|c| format!("{c:?}")).unwrap_or_default(),
            quote(r.kernel.as_deref().unwrap_or("")),
            quote(r.note.as_deref().unwrap_or("").lines().next().unwrap_or("")),
        ));
    }
    out
}
