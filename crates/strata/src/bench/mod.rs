//! The placement benchmark: how fast data moves into, out of and through each placement.
//!
//! For every placement asked for, on the same buffer size:
//! - `upload`: host → placement, from ordinary (pageable) memory, through each upload path that
//!   applies (a mapping, and the staging ring);
//! - `download`: placement → host;
//! - `read`: a GPU kernel streaming the whole buffer (GPU read bandwidth of that memory);
//! - `gemv`: matrix × vector with the weights in that placement (in `gemv_dtype` when given,
//!   quantized types included);
//! - `gemm`: matrix × matrix with both operands there;
//! - `decode`: a transformer-shaped decode loop (see [`DecodeShape`]) with its weights there,
//!   recorded once and replayed token after token: tokens/s, wall and kernel time per token;
//! - `replay`: what a replayed recording costs the CPU per op (1,000 tiny dispatches; measured
//!   once, whatever the placements).
//!
//! Every result is checked before it is timed; each op is warmed up once, then timed `iters`
//! times; the median and spread are reported, with the clock used. A placement the device does
//! not offer gives a row saying so instead of aborting the run.

mod decode;
mod decode_split;
mod ops;
mod replay_cost;
mod stats;

pub use decode::{DecodeFigures, DecodeModel, DecodeShape, measure_decode};
pub use decode_split::{SplitDecodeFigures, measure_decode_across, split_layer_counts};
pub use ops::{KernelTimes, SAMPLE_SECONDS, WARM_UP, repeats_for, time_kernel};
pub use replay_cost::{ReplayFigures, measure_replay_cost};
pub use stats::Samples;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::placement::{Placement, UploadPath};
use crate::recording::Clock;
use crate::table::MemoryFlags;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// One benchmark operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchOp {
    /// Host → placement.
    Upload,
    /// Placement → host.
    Download,
    /// GPU streaming read.
    Read,
    /// Matrix × vector, weights in the placement.
    Gemv,
    /// Matrix × matrix, operands in the placement.
    Gemm,
    /// A decode loop, weights in the placement.
    Decode,
    /// CPU cost per op of a replayed recording (placement-independent).
    Replay,
}

impl BenchOp {
    /// Every op, in report order.
    pub const ALL: [BenchOp; 7] = [
        BenchOp::Upload,
        BenchOp::Download,
        BenchOp::Read,
        BenchOp::Gemv,
        BenchOp::Gemm,
        BenchOp::Decode,
        BenchOp::Replay,
    ];
}

impl fmt::Display for BenchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BenchOp::Upload => "upload",
            BenchOp::Download => "download",
            BenchOp::Read => "read",
            BenchOp::Gemv => "gemv",
            BenchOp::Gemm => "gemm",
            BenchOp::Decode => "decode",
            BenchOp::Replay => "replay",
        })
    }
}

impl FromStr for BenchOp {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        BenchOp::ALL
            .into_iter()
            .find(|op| op.to_string() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown benchmark op `{s}`: expected upload, download, read, gemv, gemm, \
                     decode or replay"
                ))
            })
    }
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Placements to measure (each one the device lacks gets a "not available" row).
    pub placements: Vec<Placement>,
    /// Operations.
    pub ops: Vec<BenchOp>,
    /// Bytes of the buffer moved or read (weights for gemv).
    pub size: u64,
    /// Element type of gemv weights and gemm operands (a float dtype).
    pub dtype: crate::kernels::KernelDtype,
    /// Element type of the gemv weights instead of `dtype`: any kernel dtype, ggml's quantized
    /// types included (random valid blocks; the row's rate is then mostly weight bandwidth).
    pub gemv_dtype: Option<crate::kernels::KernelDtype>,
    /// Timed runs per measurement, after one warm-up.
    pub iters: u32,
    /// Seed of the random data.
    pub seed: u64,
    /// The model of the `decode` op.
    pub decode: DecodeShape,
    /// Tokens timed by the `decode` op.
    pub tokens: usize,
    /// Dispatches in the `replay` op's recording.
    pub replay_ops: usize,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// The op.
    pub op: BenchOp,
    /// The placement.
    pub placement: Placement,
    /// For uploads: the path measured (`mapped` or `staging`).
    pub path: Option<UploadPath>,
    /// `false` when the placement is not available (see `note`).
    pub available: bool,
    /// Why a row has no figure, or what a figure means.
    pub note: Option<String>,
    /// Memory type used.
    pub memory_type: Option<u32>,
    /// Its heap.
    pub heap: Option<u32>,
    /// Its flags.
    pub flags: Option<MemoryFlags>,
    /// Bytes moved (or read) per run.
    pub bytes: u64,
    /// Timings.
    pub seconds: Option<Samples>,
    /// The clock.
    pub clock: Option<Clock>,
    /// Bytes per second / 1e9, from the median.
    pub gb_per_s: Option<f64>,
    /// FLOP/s / 1e9 (gemv, gemm).
    pub gflops: Option<f64>,
    /// gemv: bytes of the weights alone per second / 1e9 (`gb_per_s` counts x and y too).
    pub weight_gb_per_s: Option<f64>,
    /// The kernel variant used (gemv, gemm, read).
    pub kernel: Option<String>,
    /// Result checked against a CPU reference before timing.
    pub checked: bool,
    /// The `decode` op's figures.
    pub decode: Option<DecodeFigures>,
    /// The `replay` op's figures.
    pub replay: Option<ReplayFigures>,
}

impl BenchRow {
    pub(crate) fn unavailable(op: BenchOp, placement: Placement, why: String) -> Self {
        Self {
            op,
            placement,
            path: None,
            available: false,
            note: Some(why),
            memory_type: None,
            heap: None,
            flags: None,
            bytes: 0,
            seconds: None,
            clock: None,
            gb_per_s: None,
            gflops: None,
            weight_gb_per_s: None,
            kernel: None,
            checked: false,
            decode: None,
            replay: None,
        }
    }
}

/// A default buffer size for this adapter: well above a GPU's L2 and sized for its speed
/// (small on a CPU driver), never more than a quarter of the smallest heap.
pub fn default_size(ctx: &Context) -> u64 {
    let base: u64 = match ctx.adapter_info().device_type {
        wgpu::DeviceType::Cpu => 64 << 20,
        wgpu::DeviceType::IntegratedGpu => 512 << 20,
        _ => 1 << 30,
    };
    let smallest_heap = ctx
        .vulkan("bench")
        .ok()
        .map(|vk| vk.memory_table())
        .and_then(|t| t.heaps.iter().map(|h| h.budget.unwrap_or(h.size)).min())
        .unwrap_or(u64::MAX);
    base.min(smallest_heap / 4).max(1 << 20)
}

/// Default tokens the `decode` op times on this adapter.
pub fn default_tokens(ctx: &Context) -> usize {
    match ctx.adapter_info().device_type {
        wgpu::DeviceType::Cpu => 10,
        _ => 20,
    }
}

/// Default timed runs for this adapter.
pub fn default_iters(ctx: &Context) -> u32 {
    match ctx.adapter_info().device_type {
        wgpu::DeviceType::Cpu => 3,
        _ => 20,
    }
}

/// Runs the benchmark, calling `progress(done, total, label)` before each measurement.
pub fn run(
    ctx: &Context,
    config: &BenchConfig,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<Vec<BenchRow>> {
    if config.iters == 0 {
        return Err(Error::InvalidArgument("--iters must be at least 1".into()));
    }
    if config.size < 4096 {
        return Err(Error::InvalidArgument(
            "the benchmark size must be at least 4 KiB".into(),
        ));
    }
    let total = config.placements.len() * config.ops.len();
    let mut rows = Vec::new();
    let mut done = 0;
    for &op in &config.ops {
        for (i, &placement) in config.placements.iter().enumerate() {
            progress(done, total, &format!("{op} {placement}"));
            done += 1;
            // The replay cost does not depend on where weights are: measured once.
            if op == BenchOp::Replay && i > 0 {
                continue;
            }
            rows.extend(ops::measure(ctx, config, op, placement)?);
        }
    }
    progress(total, total, "done");
    Ok(rows)
}
