//! One file per subcommand.

pub mod alloc;
pub mod bench;
mod bench_plot;
mod bench_report;
mod document;
pub mod gemv;
pub mod info;
pub mod load;
pub mod matmul;
pub mod plan;
mod split;
