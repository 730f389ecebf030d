//! A streaming read: sums a buffer of f32, to measure how fast the GPU reads its memory.

use super::{Operand, Timing};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::shaders;

/// Workgroups of the streaming kernel: enough to fill a large GPU many times over.
const GROUPS: u32 = 4096;

impl Context {
    /// Sums every f32 in `parts` (each a multiple of 16 bytes) on the GPU. Returns the sum and
    /// the GPU time of the reads (the parts' timings added).
    pub fn stream_sum(&self, parts: &[Operand<'_>]) -> Result<(f64, Timing)> {
        let kernel = self.kernel("stream_sum", || {
            Ok(shaders::KernelText::of(&shaders::STREAM_SUM))
        })?;
        let partials = self.create_storage_buffer(u64::from(GROUPS) * 4, "stream_sum partials")?;
        let mut total = 0f64;
        let mut seconds = 0f64;
        let mut clock = super::Clock::GpuTimestamps;
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
            // A CPU driver runs workgroups on a few cores and pays for every barrier: fewer,
            // longer workgroups; a GPU wants many in flight.
            let max_groups = if self.adapter_info().device_type == wgpu::DeviceType::Cpu {
                64
            } else {
                GROUPS
            };
            let groups = vec4s.div_ceil(256).clamp(1, max_groups);
            let params = [vec4s, 0, 0, 0];
            let timing = self.dispatch(
                "stream_sum",
                &kernel,
                &[*part, Operand::from(&partials)],
                bytemuck::cast_slice(&params),
                [groups, 1, 1],
                1,
            )?;
            seconds += timing.seconds;
            clock = timing.clock;
            let sums = self.read_back::<f32>(&partials, groups as usize)?;
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
