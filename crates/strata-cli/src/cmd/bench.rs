//! `strata bench`: the placement benchmark (VRAM vs mapped VRAM vs GTT/system memory).

use super::bench_report::{Report, SplitDecodeRow, print_table, to_csv};
use crate::common::AdapterArgs;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use strata::bench::{self, BenchConfig, BenchOp};
use strata::plan::parse_bytes;
use strata::table::human_bytes;
use strata::{KernelDtype, Placement};

/// Options of `strata bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Placements to compare (default: every named placement; ones the device lacks are shown
    /// as not available).
    #[arg(long, value_delimiter = ',')]
    placements: Vec<Placement>,
    /// Operations: upload, download, read, gemv, gemm, decode, replay (default: all).
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
    /// Layers of the `decode` op's model (default: 32 on a GPU, 8 on a CPU driver).
    #[arg(long)]
    layers: Option<u32>,
    /// Hidden size of the `decode` op's model (default: 4096 on a GPU, 256 on a CPU driver).
    #[arg(long)]
    hidden: Option<u32>,
    /// MLP size of the `decode` op's model (default: 14336 on a GPU, 512 on a CPU driver).
    #[arg(long)]
    intermediate: Option<u32>,
    /// Weight type of the `decode` op's model: f32, f16, bf16.
    #[arg(long, default_value = "bf16")]
    decode_dtype: String,
    /// Tokens the `decode` op times (default: 20 on a GPU, 10 on a CPU driver).
    #[arg(long)]
    tokens: Option<usize>,
    /// Dispatches in the `replay` op's recording.
    #[arg(long, default_value_t = 1000)]
    replay_ops: usize,
    /// Also run the `decode` op split across these adapters (indices or names, e.g. `0,1`;
    /// one adapter twice, `0,0`, exercises the split on one GPU): contiguous layer ranges,
    /// the activation hopping through host memory.
    #[arg(long, value_delimiter = ',')]
    devices: Vec<String>,
    /// Shares of the layers per device for `--devices` (default: equal), e.g. `3,1`.
    #[arg(long, value_delimiter = ',')]
    split: Vec<f64>,
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

/// The decode op split across `args.devices`, for each placement the devices serve.
fn split_decode(args: &Args, config: &BenchConfig) -> anyhow::Result<Vec<SplitDecodeRow>> {
    let contexts = args
        .devices
        .iter()
        .map(|d| {
            let adapter = AdapterArgs {
                adapter: Some(d.clone()),
                validation: args.adapter.validation,
            };
            adapter.context()
        })
        .collect::<strata::Result<Vec<_>>>()?;
    let refs: Vec<&strata::Context> = contexts.iter().collect();
    let weights = if args.split.is_empty() {
        vec![1.0; refs.len()]
    } else {
        args.split.clone()
    };
    let layers = bench::split_layer_counts(config.decode.layers, &weights)?;
    let mut rows = Vec::new();
    for &placement in &config.placements {
        eprintln!(
            "decode across {} devices, weights in {placement}",
            refs.len()
        );
        match bench::measure_decode_across(
            &refs,
            config.decode,
            &layers,
            placement,
            config.tokens,
            bench::WARM_UP,
            config.seed,
        ) {
            Ok(figures) => rows.push(SplitDecodeRow {
                placement,
                figures: Some(figures),
                note: None,
            }),
            Err(
                e @ (strata::Error::Placement(_)
                | strata::Error::OutOfMemory(_)
                | strata::Error::TooLarge { .. }
                | strata::Error::NeedsVulkan { .. }),
            ) => rows.push(SplitDecodeRow {
                placement,
                figures: None,
                note: Some(e.to_string()),
            }),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(rows)
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
    let default_shape = bench::DecodeShape::default_for(&ctx);
    let decode = bench::DecodeShape {
        layers: args.layers.unwrap_or(default_shape.layers),
        hidden: args.hidden.unwrap_or(default_shape.hidden),
        intermediate: args.intermediate.unwrap_or(default_shape.intermediate),
        dtype: args.decode_dtype.parse()?,
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
        decode,
        tokens: args.tokens.unwrap_or_else(|| bench::default_tokens(&ctx)),
        replay_ops: args.replay_ops,
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
    let split_decode = if args.devices.is_empty() || !config.ops.contains(&BenchOp::Decode) {
        Vec::new()
    } else {
        split_decode(&args, &config)?
    };
    let report = Report {
        adapter: info.name.clone(),
        driver: format!("{} {}", info.driver, info.driver_info),
        size,
        dtype: dtype.to_string(),
        gemv_dtype: args.gemv_dtype.map(|d| d.to_string()),
        iters: config.iters,
        rows,
        split_decode,
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
