//! `strata`: adapters and memory tables, checked kernels, placement, plans, loading, benchmarks.
#![allow(
    unreachable_pub,
    reason = "a binary has no public API; `pub` marks what subcommands share"
)]

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
    /// Plan where every tensor of a model goes (this adapter, or a recorded --device-table).
    Plan(cmd::plan::Args),
    /// Load a model as planned for this adapter; --verify checks every tensor against the file.
    Load(cmd::load::Args),
    /// Allocate one buffer in a placement, fill it, read it back, prove where it landed.
    Alloc(cmd::alloc::Args),
    /// Multiply random matrices (f32/f16/bf16, nn/nt) on the GPU; --check compares with a CPU reference.
    Matmul(cmd::matmul::Args),
    /// Matrix-vector product of random weights (f32/f16/bf16, batch 1-8); GB/s, --check.
    Gemv(cmd::gemv::Args),
    /// The placement benchmark: upload, download, GPU read, GEMV and GEMM per placement.
    Bench(cmd::bench::Args),
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info(args) => cmd::info::run(args),
        Command::Plan(args) => cmd::plan::run(args),
        Command::Load(args) => cmd::load::run(args),
        Command::Alloc(args) => cmd::alloc::run(args),
        Command::Matmul(args) => cmd::matmul::run(args),
        Command::Gemv(args) => cmd::gemv::run(args),
        Command::Bench(args) => cmd::bench::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
