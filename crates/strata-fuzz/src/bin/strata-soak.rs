//! `strata-soak --cycles N [--seed S] [--json]`: allocate/upload/read-back/free cycles across
//! every placement the adapter serves, under the Khronos validation layer, then checks that
//! placed buffers, heap usage and resident memory came back.
//!
//! `strata-soak contexts --cycles N --threads T [--rounds R] [--json]`: N contexts created,
//! used and dropped one after another, then R rounds of T threads creating theirs at once;
//! checks every context and that resident memory, open files and threads stayed flat.
//!
//! Exits 0 when every check passed, 1 when one failed or Strata returned an error, 77 when there
//! is no adapter or validation layer to run on.

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use strata_fuzz::contexts::{CyclesConfig, cycles};
use strata_fuzz::soak::{SoakConfig, soak};

/// Exit code when the soak could not run at all (no adapter, no validation layer).
const SKIPPED: u8 = 77;

/// Allocate/upload/read-back/free soak of Strata's placement engine, and context cycles.
#[derive(Debug, Parser)]
#[command(name = "strata-soak", args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    soak: Args,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, use and drop contexts: one after another, then several threads at once.
    Contexts(ContextArgs),
}

/// Options of `strata-soak contexts`.
#[derive(Debug, clap::Args)]
struct ContextArgs {
    /// Contexts created, used and dropped one after another (after a warm-up of 4).
    #[arg(long, default_value_t = 1000)]
    cycles: u64,
    /// Threads creating their contexts at the same moment, per round.
    #[arg(long, default_value_t = 8)]
    threads: usize,
    /// Rounds of threads.
    #[arg(long, default_value_t = 8)]
    rounds: u64,
    /// Bytes placed, written and read back per context (e.g. 1MiB).
    #[arg(long, default_value = "1MiB", value_parser = strata::plan::parse_bytes)]
    bytes: u64,
    /// Contexts without the Khronos validation layer.
    #[arg(long)]
    no_validation: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Options of the allocation soak (no subcommand).
#[derive(Debug, clap::Args)]
struct Args {
    /// Measured cycles (after a short warm-up).
    #[arg(long, default_value_t = 10_000)]
    cycles: u64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Smallest buffer in bytes.
    #[arg(long, default_value_t = 4 << 10)]
    min_bytes: u64,
    /// Largest buffer in bytes.
    #[arg(long, default_value_t = 64 << 20)]
    max_bytes: u64,
    /// Buffers kept alive at once.
    #[arg(long, default_value_t = 4)]
    pool: usize,
    /// Run without the Khronos validation layer.
    #[arg(long)]
    no_validation: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Instead of cycling: fill the heap of `--placement` with `--chunk` buffers until the device
    /// refuses, then check the refusal is a typed out-of-memory error and that memory comes back.
    #[arg(long)]
    fill_heap: bool,
    /// The placement `--fill-heap` fills.
    #[arg(long, default_value = "vram")]
    placement: strata::Placement,
    /// Buffer size of `--fill-heap` (e.g. 256MiB, 1GiB).
    #[arg(long, default_value = "256MiB", value_parser = strata::plan::parse_bytes)]
    chunk: u64,
    /// Linux: before `--fill-heap`, limit this process's address space to this much above its
    /// current size (with `prlimit`), so that a driver whose device memory is host memory
    /// (lavapipe, which does not enforce its heap size) runs out.
    #[arg(long, value_parser = strata::plan::parse_bytes)]
    address_space_headroom: Option<u64>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Prints warnings and errors, and counts the validation layer's messages (they fail the run).
    strata::validation::capture();
    if let Some(Command::Contexts(args)) = cli.command {
        return contexts(&args);
    }
    let args = cli.soak;
    let validation = !args.no_validation;
    if validation && !strata::adapter::validation_layer_available() {
        eprintln!(
            "strata-soak: the Khronos validation layer is not installed (or pass --no-validation)"
        );
        return ExitCode::from(SKIPPED);
    }
    let ctx = match strata::Context::builder().validation(validation).build() {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("strata-soak: no GPU context: {e}");
            return ExitCode::from(SKIPPED);
        }
    };
    if args.fill_heap {
        return fill(&ctx, &args);
    }
    let config = SoakConfig {
        cycles: args.cycles,
        seed: args.seed,
        min_bytes: args.min_bytes,
        max_bytes: args.max_bytes,
        pool: args.pool,
    };
    let report = match soak(&ctx, &config) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("strata-soak: {e}");
            return ExitCode::FAILURE;
        }
    };
    drop(ctx);
    let messages = strata::validation::message_count();
    let ok = report.checks.all() && messages == 0;
    if args.json {
        let mut value = serde_json::to_value(&report).unwrap_or_default();
        value["validation"] = serde_json::json!(validation);
        value["validation_messages"] = serde_json::json!(messages);
        value["ok"] = serde_json::json!(ok);
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        let rss = |r: Option<u64>| r.map_or("n/a".into(), |b| format!("{:.1} MiB", mib(b)));
        println!("adapter: {} ({})", report.adapter, report.driver);
        println!(
            "cycles: {} (+{} warm-up) in {:.1} s, seed {}, placements {}",
            report.cycles,
            report.warmup_cycles,
            report.seconds,
            report.seed,
            report.placements.join(", ")
        );
        println!(
            "uploads: {} mapped, {} staging; {:.1} MiB written, {:.1} MiB read back, {} mismatches",
            report.mapped_uploads,
            report.staging_uploads,
            mib(report.bytes_written),
            mib(report.bytes_read),
            report.data_mismatches
        );
        println!(
            "live placed buffers: start {:?}, end {:?}, peak {}",
            report.start.live, report.end.live, report.peak_live_buffers
        );
        println!(
            "heap usage: start {:?}, end {:?}",
            report.start.heap_usage, report.end.heap_usage
        );
        let signed = |g: Option<i64>| {
            g.map_or("n/a".into(), |g| {
                format!("{:+.1} MiB", g as f64 / (1 << 20) as f64)
            })
        };
        println!(
            "RSS: start {}, middle {}, end {}, peak {}; growth {} (tolerance {:.0} MiB), second half {} (tolerance {:.0} MiB)",
            rss(report.start.rss),
            rss(report.middle.rss),
            rss(report.end.rss),
            rss(report.rss_peak),
            signed(report.rss_growth),
            mib(report.rss_tolerance),
            signed(report.rss_growth_second_half),
            mib(report.rss_second_half_tolerance)
        );
        println!(
            "validation messages: {messages}{}",
            if validation { "" } else { " (validation off)" }
        );
        println!(
            "checks: {:?} -> {}",
            report.checks,
            if ok { "PASS" } else { "FAIL" }
        );
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--fill-heap`: fills one heap and reports.
fn fill(ctx: &strata::Context, args: &Args) -> ExitCode {
    let limit = match args.address_space_headroom {
        Some(headroom) => match strata_fuzz::rss::limit_address_space(headroom) {
            Ok(limit) => Some(limit),
            Err(e) => {
                eprintln!("strata-soak: {e}");
                return ExitCode::from(SKIPPED);
            }
        },
        None => None,
    };
    let report = match strata_fuzz::soak::fill_heap(ctx, args.placement, args.chunk) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("strata-soak: {e}");
            return ExitCode::FAILURE;
        }
    };
    let messages = strata::validation::message_count();
    let ok = report.passed() && messages == 0;
    if args.json {
        let mut value = serde_json::to_value(&report).unwrap_or_default();
        value["address_space_limit"] = serde_json::json!(limit);
        value["validation_messages"] = serde_json::json!(messages);
        value["ok"] = serde_json::json!(ok);
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        println!("{report:#?}");
        println!("address space limit: {limit:?}; validation messages: {messages}");
        println!("{}", if ok { "PASS" } else { "FAIL" });
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `strata-soak contexts`: context cycles, then the report.
fn contexts(args: &ContextArgs) -> ExitCode {
    let validation = !args.no_validation;
    if validation && !strata::adapter::validation_layer_available() {
        eprintln!(
            "strata-soak: the Khronos validation layer is not installed (or pass --no-validation)"
        );
        return ExitCode::from(SKIPPED);
    }
    let config = CyclesConfig {
        cycles: args.cycles,
        threads: args.threads,
        rounds: args.rounds,
        bytes: args.bytes,
        validation,
    };
    let report = match cycles(&config) {
        Ok(report) => report,
        Err(e @ (strata::Error::NoAdapter { .. } | strata::Error::AdapterNotFound { .. })) => {
            eprintln!("strata-soak: no GPU context: {e}");
            return ExitCode::from(SKIPPED);
        }
        Err(e) => {
            eprintln!("strata-soak: the first context failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let messages = strata::validation::message_count();
    let ok = report.checks.all() && messages == 0;
    if args.json {
        let mut value = serde_json::to_value(&report).unwrap_or_default();
        value["validation_messages"] = serde_json::json!(messages);
        value["ok"] = serde_json::json!(ok);
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        let mib = |b: Option<u64>| {
            b.map_or("n/a".into(), |b| {
                format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
            })
        };
        let n = |v: Option<u64>| v.map_or("n/a".into(), |v| v.to_string());
        println!("adapter: {} ({})", report.adapter, report.driver);
        println!(
            "{} contexts checked ({} sequential in {:.1} s, {:.1} ms each; {} rounds of {} threads in {:.1} s), {} failures",
            report.contexts_checked,
            report.cycles,
            report.seconds_sequential,
            report.ms_per_cycle,
            report.rounds,
            report.threads,
            report.seconds_threads,
            report.failures
        );
        for failure in &report.first_failures {
            println!("  failure: {failure}");
        }
        for (name, r) in [
            ("start", report.start),
            ("middle", report.middle),
            ("end", report.end),
            ("mid rounds", report.middle_round),
            ("last round", report.last_round),
        ] {
            println!(
                "{name:>12}: RSS {}, open files {}, threads {}",
                mib(r.rss),
                n(r.open_files),
                n(r.threads)
            );
        }
        if let Some(why) = &report.rss_not_checked {
            println!("RSS: {why}");
        }
        println!(
            "validation messages: {messages}{}",
            if validation { "" } else { " (validation off)" }
        );
        println!(
            "checks: {:?} -> {}",
            report.checks,
            if ok { "PASS" } else { "FAIL" }
        );
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
