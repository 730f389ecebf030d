//! Timing recordings: GPU timestamps where the device has them, the wall clock always.

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use serde::Serialize;
use std::time::Duration;

/// Which clock measured a [`Timing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Clock {
    /// GPU timestamp queries around the dispatches.
    GpuTimestamps,
    /// Host wall clock from submit to completion (includes submission overhead).
    WallClock,
}

/// How long a kernel took.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timing {
    /// Seconds per run (total divided by runs).
    pub seconds: f64,
    /// How many runs were timed together.
    pub runs: u32,
    /// The clock used.
    pub clock: Clock,
}

impl Timing {
    pub(crate) fn wall(elapsed: Duration, runs: u32) -> Self {
        Self {
            seconds: elapsed.as_secs_f64() / f64::from(runs.max(1)),
            runs,
            clock: Clock::WallClock,
        }
    }
}

/// What one submission of a recording cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// Host time spent encoding the command buffer and submitting it.
    pub encode: Duration,
    /// Host wall time from the start of the submission (encoding included) until the wait saw
    /// it complete and its timestamps and reads were on the host.
    pub wall: Duration,
    /// GPU time from the first to the last timestamp of the recording (its dispatches, and the
    /// copies between them where the device has timestamps inside encoders); `None` when the
    /// device has no timestamp queries or the recording turned them off.
    pub gpu: Option<Duration>,
    /// GPU time of each dispatch op, in recording order, when the recording asked for it
    /// ([`Recording::time_each_op`](crate::Recording::time_each_op)) and the device allows
    /// timestamps inside compute passes; empty otherwise.
    pub ops: Vec<Duration>,
}

impl RunReport {
    /// The kernel time per run of `runs` runs recorded back to back: GPU timestamps when there
    /// are any, else the wall clock.
    pub fn timing(&self, runs: u32) -> Timing {
        match self.gpu {
            Some(gpu) => Timing {
                seconds: gpu.as_secs_f64() / f64::from(runs.max(1)),
                runs,
                clock: Clock::GpuTimestamps,
            },
            None => Timing::wall(self.wall, runs),
        }
    }
}

/// Where a recording's timestamps go: a query set, the buffer it resolves into and a mapped
/// copy of that, all made once per prepared recording.
#[derive(Debug)]
pub(crate) struct Timestamps {
    pub(crate) queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    count: u32,
    period_ns: f64,
    /// The start and end are written by the encoder (so copies are inside the span) rather
    /// than by the first and last compute pass.
    pub(crate) in_encoder: bool,
    /// Each dispatch op is bracketed by two timestamps inside its pass.
    pub(crate) per_op: bool,
}

/// Query indices: 0 and 1 bracket the recording; op `i` has `2 + 2i` and `3 + 2i`.
pub(crate) const START: u32 = 0;
pub(crate) const END: u32 = 1;

/// wgpu's largest query set.
const MAX_QUERIES: u32 = wgpu::QUERY_SET_MAX_QUERIES;

impl Timestamps {
    /// Timestamps for a recording of `dispatches` dispatch ops, or `None` where the device has
    /// none. Per-op timestamps need `TIMESTAMP_QUERY_INSIDE_PASSES`; without it `per_op` is
    /// dropped.
    pub(crate) fn new(
        gpu: &Gpu,
        features: wgpu::Features,
        dispatches: usize,
        per_op: bool,
    ) -> Result<Option<Self>> {
        if !features.contains(wgpu::Features::TIMESTAMP_QUERY) {
            return Ok(None);
        }
        let per_op = per_op && features.contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES);
        let count = if per_op {
            u32::try_from(dispatches)
                .ok()
                .and_then(|n| n.checked_mul(2))
                .and_then(|n| n.checked_add(2))
                .filter(|&n| n <= MAX_QUERIES)
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "timing each of {dispatches} dispatches needs more than the {MAX_QUERIES} \
                         timestamp queries wgpu allows; time fewer ops or the recording as a whole"
                    ))
                })?
        } else {
            2
        };
        let bytes = u64::from(count) * 8;
        let made = gpu.scoped("creating timestamp queries", || {
            let queries = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("strata timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count,
            });
            let resolve = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("strata timestamps resolve"),
                size: bytes,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let readback = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("strata timestamps read-back"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            (queries, resolve, readback)
        })?;
        let (queries, resolve, readback) = made;
        Ok(Some(Self {
            queries,
            resolve,
            readback,
            count,
            period_ns: f64::from(gpu.queue.get_timestamp_period()),
            in_encoder: features.contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS),
            per_op,
        }))
    }

    /// Resolves every query and copies them where the CPU can map them.
    pub(crate) fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.resolve_query_set(&self.queries, 0..self.count, &self.resolve, 0);
        encoder.copy_buffer_to_buffer(
            &self.resolve,
            0,
            &self.readback,
            0,
            u64::from(self.count) * 8,
        );
    }

    /// The mapped copy of the queries, for [`map_for_reading`].
    pub(crate) fn slice(&self) -> wgpu::BufferSlice<'_> {
        self.readback.slice(..)
    }

    /// Decodes the timestamps once their copy is mapped ([`map_for_reading`] on
    /// [`Timestamps::slice`]), then unmaps it: the span of the recording and, with `per_op`,
    /// each op's span (into `ops`, cleared first; `ticks` is scratch space). A span that reads
    /// as zero or negative (some drivers report zeros for tiny work) is `None`.
    pub(crate) fn decode_mapped(
        &self,
        ticks: &mut Vec<u64>,
        ops: &mut Vec<Duration>,
    ) -> Result<Option<Duration>> {
        let slice = self.readback.slice(..);
        let span = |ticks: &[u64], a: usize, b: usize| -> Option<Duration> {
            let (start, end) = (*ticks.get(a)?, *ticks.get(b)?);
            let ns = end.checked_sub(start)? as f64 * self.period_ns;
            (ns > 0.0).then(|| Duration::from_nanos(ns as u64))
        };
        let total = {
            let data = slice
                .get_mapped_range()
                .map_err(|e| Error::ReadBack(format!("timestamps: {e}")))?;
            // Mapped memory carries no alignment promise for u64: decode byte by byte.
            ticks.clear();
            ticks.extend(
                data.chunks_exact(8)
                    .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])),
            );
            let ticks = ticks.as_slice();
            ops.clear();
            if self.per_op {
                let n = (self.count as usize - 2) / 2;
                ops.extend((0..n).map(|i| span(ticks, 2 + 2 * i, 3 + 2 * i).unwrap_or_default()));
            }
            span(ticks, START as usize, END as usize)
        };
        self.readback.unmap();
        Ok(total)
    }
}

/// Maps every slice for reading once `submission` (the last to write them) is done, with one
/// wait for all of them (each wait is a round trip to the driver).
pub(crate) fn map_for_reading(
    gpu: &Gpu,
    slices: &[wgpu::BufferSlice<'_>],
    submission: wgpu::SubmissionIndex,
    what: &str,
) -> Result<()> {
    let receivers: Vec<_> = slices
        .iter()
        .map(|slice| {
            let (tx, rx) = std::sync::mpsc::channel();
            slice.map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
            rx
        })
        .collect();
    gpu.wait_for(submission)?;
    for rx in receivers {
        let mapped = match rx.try_recv() {
            Ok(result) => result,
            // The callback runs inside a poll; one that waits for everything certainly runs it.
            Err(_) => {
                gpu.wait_idle()?;
                rx.recv()
                    .map_err(|_| Error::ReadBack(format!("{what}: the map callback never ran")))?
            }
        };
        mapped.map_err(|e| Error::ReadBack(format!("{what}: {e}")))?;
    }
    Ok(())
}
