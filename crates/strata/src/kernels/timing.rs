//! Timing dispatches: GPU timestamps where the device has them, the wall clock otherwise.

use crate::context::Context;
use crate::error::{Error, Result};
use serde::Serialize;
use std::time::Duration;

/// Which clock measured a [`Timing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Clock {
    /// GPU timestamp queries around the compute pass.
    GpuTimestamps,
    /// Host wall clock from submit to completion (includes submission overhead).
    WallClock,
}

/// How long a dispatch took.
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

/// Two timestamps around a compute pass.
pub(crate) struct Timer {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    period_ns: f32,
}

impl Timer {
    /// A timer, or `None` when the device has no timestamp queries.
    pub(crate) fn new(ctx: &Context) -> Option<Self> {
        if !ctx.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return None;
        }
        let queries = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("strata timer"),
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        });
        let resolve = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("strata timer resolve"),
            size: 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let readback = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("strata timer read-back"),
            size: 16,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Some(Self {
            queries,
            resolve,
            readback,
            period_ns: ctx.queue.get_timestamp_period(),
        })
    }

    pub(crate) fn pass_writes(&self) -> wgpu::ComputePassTimestampWrites<'_> {
        wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(0),
            end_of_pass_write_index: Some(1),
        }
    }

    pub(crate) fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.resolve_query_set(&self.queries, 0..2, &self.resolve, 0);
        encoder.copy_buffer_to_buffer(&self.resolve, 0, &self.readback, 0, 16);
    }

    /// Reads the timestamps after the submission finished.
    pub(crate) fn read(&self, ctx: &Context, runs: u32, wall: Duration) -> Result<Timing> {
        let slice = self.readback.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        ctx.wait_idle()?;
        match rx.recv() {
            Ok(Ok(())) => {}
            _ => return Err(Error::ReadBack("timestamp read-back failed".into())),
        }
        let ticks: [u64; 2] = {
            let data = slice
                .get_mapped_range()
                .map_err(|e| Error::ReadBack(format!("timestamps: {e}")))?;
            let mut t = [0u64; 2];
            bytemuck::cast_slice_mut::<u64, u8>(&mut t).copy_from_slice(&data[..16]);
            t
        };
        self.readback.unmap();
        let ns = ticks[1].saturating_sub(ticks[0]) as f64 * f64::from(self.period_ns);
        if ns <= 0.0 {
            // Some drivers report zeros for empty or tiny passes: fall back honestly.
            return Ok(Timing::wall(wall, runs));
        }
        Ok(Timing {
            seconds: ns * 1e-9 / f64::from(runs.max(1)),
            runs,
            clock: Clock::GpuTimestamps,
        })
    }
}
