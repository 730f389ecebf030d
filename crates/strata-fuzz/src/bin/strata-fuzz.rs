//! `strata-fuzz TARGET --seconds N [--seed S] [--corpus DIR]`: fuzz one target (or `all`) for a
//! fixed time on stable Rust. Exits 1 when a crash was found (each crashing input is written to
//! the crash folder), 0 otherwise.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use strata_fuzz::runner::{RunConfig, run, run_one};
use strata_fuzz::targets::{TARGETS, Target, target};

/// Coverage-free mutational fuzzing of Strata's parsers and planner.
#[derive(Debug, Parser)]
#[command(name = "strata-fuzz")]
struct Args {
    /// model_header, gguf_header, model_index, memory_table_json, plan_rules, `all`, or `list`.
    target: String,
    /// Seconds per target.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Stop each target after this many inputs.
    #[arg(long)]
    runs: Option<u64>,
    /// Seed of the mutator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Folder of extra starting inputs; inputs with new outcomes are saved there (with `all`,
    /// one subfolder per target).
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Where crashing inputs are written.
    #[arg(long, default_value = "fuzz-crashes")]
    crashes: PathBuf,
    /// Print the reports as JSON.
    #[arg(long)]
    json: bool,
    /// Run the target once on each of these files instead of fuzzing.
    #[arg(long, num_args = 1..)]
    replay: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.target == "list" {
        for t in &TARGETS {
            println!("{:<18} {}", t.name, t.about);
        }
        return ExitCode::SUCCESS;
    }
    let targets: Vec<&Target> = if args.target == "all" {
        TARGETS.iter().collect()
    } else {
        match target(&args.target) {
            Some(t) => vec![t],
            None => {
                let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
                eprintln!(
                    "unknown target `{}`; targets: {}, all",
                    args.target,
                    names.join(", ")
                );
                return ExitCode::from(2);
            }
        }
    };
    if !args.replay.is_empty() {
        return replay(&targets, &args.replay);
    }
    if !(args.seconds.is_finite() && args.seconds >= 0.0) {
        eprintln!("--seconds must be a non-negative number");
        return ExitCode::from(2);
    }
    let mut crashed = false;
    let mut reports = Vec::new();
    for t in targets {
        let corpus_dir = args.corpus.as_ref().map(|dir| {
            if args.target == "all" {
                dir.join(t.name)
            } else {
                dir.clone()
            }
        });
        let config = RunConfig {
            duration: Duration::from_secs_f64(args.seconds),
            max_runs: args.runs,
            seed: args.seed,
            corpus_dir,
            crash_dir: Some(args.crashes.clone()),
        };
        match run(t, &config) {
            Ok(report) => {
                crashed |= !report.crashes.is_empty();
                if !args.json {
                    println!("{}", report.summary());
                }
                reports.push(report);
            }
            Err(e) => {
                eprintln!("{}: cannot read the corpus: {e}", t.name);
                return ExitCode::from(2);
            }
        }
    }
    if args.json {
        match serde_json::to_string_pretty(&reports) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("cannot write JSON: {e}"),
        }
    }
    if crashed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs each target once on each file; exit 1 when any of them panics.
fn replay(targets: &[&Target], files: &[PathBuf]) -> ExitCode {
    let mut crashed = false;
    for file in files {
        let input = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        for t in targets {
            match run_one(t, &input) {
                Ok(outcome) => println!("{} {}: ok ({outcome})", t.name, file.display()),
                Err(message) => {
                    crashed = true;
                    println!("{} {}: CRASH {message}", t.name, file.display());
                }
            }
        }
    }
    if crashed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
