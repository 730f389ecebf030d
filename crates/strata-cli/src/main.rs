//! `strata`: adapters and memory tables, checked kernels, placement, plans, loading, benchmarks.
#![allow(unreachable_pub, reason = "a binary has no public API; `pub` marks what subcommands share")]

mod cmd;
mod common;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Strata: GPU compute with weights placed in exact Vulkan memory types.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every adapter: backend, driver, limits, features, memory heaps and types.
    Info(cmd::info::Args),
    /// Multiply random matrices on the GPU; --check compares with a CPU reference.
    Matmul(cmd::matmul::Args),
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info(args) => cmd::info::run(args),
        Command::Matmul(args) => cmd::matmul::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
