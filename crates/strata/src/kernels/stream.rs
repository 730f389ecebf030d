//! A streaming read: sums a buffer of f32, to measure how fast the GPU reads its memory.

use crate::context::Context;
use crate::error::{Error, Result};
use crate::recording::{Access, Clock, Operand, Step, Timing};
use crate::shaders;

/// vec4s one workgroup reads per step (`WG · UNROLL` of `stream_sum.wgsl`).
const STEP: u32 = 256 * 8;
/// Steps per workgroup on a GPU.
const STEPS_PER_GROUP: u32 = 2;
/// At most this many workgroups (one grid dimension; the partial sums buffer is this long).
const MAX_GROUPS: u32 = 65535;

impl Context {
    /// Sums every f32 in `parts` (each a multiple of 16 bytes) on the GPU. Returns the sum and
    /// the GPU time of the reads (the parts' timings added).
    pub fn stream_sum(&self, parts: &[Operand<'_>]) -> Result<(f64, Timing)> {
        self.stream_sum_timed(parts, 1)
    }

    /// [`Context::stream_sum`], reading each part `repeats` times back to back in one pass;
    /// the time is per read of all parts.
    pub fn stream_sum_timed(&self, parts: &[Operand<'_>], repeats: u32) -> Result<(f64, Timing)> {
        let kernel = self.kernel("stream_sum", || {
            Ok(shaders::KernelText::of(&shaders::STREAM_SUM))
        })?;
        let partials =
            self.create_storage_buffer(u64::from(MAX_GROUPS) * 4, "stream_sum partials")?;
        let mut total = 0f64;
        let mut seconds = 0f64;
        let mut clock = Clock::GpuTimestamps;
        for part in parts {
            if part.size % 16 != 0 || part.size == 0 {
                return Err(Error::Shape(format!(
                    "stream_sum needs parts of a multiple of 16 bytes, got {}",
                    part.size
                )));
            }
            self.check_binding("stream_sum input", part)?;
            let vec4s = u32::try_from(part.size / 16).map_err(|_| Error::TooLarge {
                what: "stream_sum part".into(),
                bytes: part.size,
                limit_name: "u32 vec4 index",
                limit: u64::from(u32::MAX) * 16,
            })?;
            // A CPU driver runs workgroups on a few cores and pays for every barrier: a few
            // long slices; a GPU wants many workgroups in flight, each a few steps of
            // WG·UNROLL vec4s (as the GEMV's rows are).
            let groups = if self.adapter_info().device_type == wgpu::DeviceType::Cpu {
                vec4s.div_ceil(STEP).clamp(1, 64)
            } else {
                vec4s.div_ceil(STEP * STEPS_PER_GROUP).clamp(1, MAX_GROUPS)
            };
            let per_group = vec4s.div_ceil(groups).next_multiple_of(STEP);
            let params = [vec4s, per_group, 0, 0];
            let mut recording = self.record().label("stream_sum");
            let step = Step {
                operands: vec![
                    (*part, Access::Read),
                    (Operand::from(&partials), Access::ReadWrite),
                ],
                uniforms: bytemuck::cast_slice(&params).to_vec(),
                workgroups: [groups, 1, 1],
            };
            recording.push_steps("stream_sum", &kernel, vec![step], repeats)?;
            let sums = recording.read(&partials, 0, u64::from(groups) * 4)?;
            let mut replay = recording.finish()?;
            let timing = replay.submit()?.wait()?.timing(repeats.max(1));
            seconds += timing.seconds;
            clock = timing.clock;
            let sums: Vec<f32> = replay.read_vec(&sums)?;
            total += sums.iter().map(|&s| f64::from(s)).sum::<f64>();
        }
        Ok((
            total,
            Timing {
                seconds,
                runs: 1,
                clock,
            },
        ))
    }
}
