//! What a replayed recording costs the CPU per op: a recording of many tiny dispatches (one
//! workgroup each, a few nanoseconds of GPU work), submitted again and again.

use super::stats::Samples;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::recording::{Access, KernelSource};
use serde::Serialize;

/// The kernel: adds one to each of 64 floats. Every dispatch depends on the one before.
const INCREMENT: &str = "
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    y[id.x] = y[id.x] + 1.0;
}";

/// What [`measure_replay_cost`] measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayFigures {
    /// Dispatches in the recording.
    pub ops: usize,
    /// Submissions timed.
    pub submissions: usize,
    /// Median host time to encode and submit, per op, µs.
    pub encode_us_per_op: f64,
    /// Median wall time from submit to completion, per op, µs.
    pub wall_us_per_op: f64,
    /// Median GPU time, per op, µs (when the device has timestamps).
    pub gpu_us_per_op: Option<f64>,
    /// Host encode times of the submissions, seconds.
    pub encode: Samples,
}

/// Records `ops` tiny dispatches once, submits the replay `submissions` times (after one
/// untimed), checks the result, and reports the per-op costs.
pub fn measure_replay_cost(ctx: &Context, ops: usize, submissions: usize) -> Result<ReplayFigures> {
    let kernel = ctx.compile_kernel(&KernelSource {
        label: "increment",
        wgsl: INCREMENT,
        entry_point: "main",
        bindings: &[Access::ReadWrite],
        uniform_bytes: 0,
    })?;
    let y = ctx.upload(&[0f32; 64])?;
    let mut recording = ctx.record().label("replay cost");
    for _ in 0..ops.max(1) {
        recording.dispatch(&kernel, &[(&y).into()], &[], [1, 1, 1])?;
    }
    let mut replay = recording.finish()?;
    replay.submit()?.wait()?;
    let mut encode = Vec::with_capacity(submissions);
    let mut wall = Vec::with_capacity(submissions);
    let mut gpu = Vec::with_capacity(submissions);
    for _ in 0..submissions.max(1) {
        let report = replay.submit()?.wait()?;
        encode.push(report.encode.as_secs_f64());
        wall.push(report.wall.as_secs_f64());
        if let Some(g) = report.gpu {
            gpu.push(g.as_secs_f64());
        }
    }
    let expected = ((submissions.max(1) + 1) * ops.max(1)) as f32;
    let got = ctx.read_back::<f32>(&y, 64)?;
    if got.iter().any(|&v| v != expected) {
        return Err(Error::Gpu {
            during: "checking the replay-cost recording".into(),
            message: format!("expected every value {expected}, got {:?}", &got[..4]),
        });
    }
    let n = ops.max(1) as f64;
    let encode = Samples::of(encode).ok_or_else(|| Error::InvalidArgument("no runs".into()))?;
    let wall = Samples::of(wall).map_or(0.0, |s| s.median);
    Ok(ReplayFigures {
        ops: ops.max(1),
        submissions: submissions.max(1),
        encode_us_per_op: encode.median * 1e6 / n,
        wall_us_per_op: wall * 1e6 / n,
        gpu_us_per_op: Samples::of(gpu).map(|s| s.median * 1e6 / n),
        encode,
    })
}
