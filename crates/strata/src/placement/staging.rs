//! Data paths into and out of placed buffers.
//!
//! - Host-visible placements are written by memcpy into their persistent mapping (split across
//!   threads for large copies, flushed when the memory is not HOST_COHERENT).
//! - Other placements (`vram` on a discrete GPU) are written through a ring of small, reusable
//!   staging buffers: the CPU fills one slot while the GPU copies the previous ones, so an upload
//!   of any size needs only [`UPLOAD_SLOTS`] × [`SLOT_BYTES`] of staging memory.
//! - Read-back goes through a ring of HOST_CACHED buffers (reading write-combined or BAR memory
//!   with the CPU is very slow), except from placements that are host-cached themselves.
//! - Plain wgpu buffers (`auto` off Vulkan) go through [`Context::write_buffer`] and
//!   [`Context::read_buffer`], which wgpu stages itself.

use super::placed_buffer::{PlacedBuffer, UploadPath};
use super::request::{Placement, Usage};
pub use super::staging_ring::SLOT_BYTES;
use super::staging_ring::{Ring, lock};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::table::MemoryFlags;

/// Upload slots in flight. Each is host-visible memory that the driver pins as it allocates
/// it, one allocation at a time, so a context's first load waits for every slot: on an H200
/// (2026-12-03, run 16 in BENCHMARKS.md) loads of 4.5 GiB took 0.160 s with 3 slots against
/// 0.181 with 4 and 0.171 with 2 (where the copy engine fell behind); a 1.9 GiB model of 340
/// tensors 0.122 s against 0.134 and 0.112.
pub const UPLOAD_SLOTS: usize = 3;
/// Read-back slots in flight.
pub const READBACK_SLOTS: usize = 2;

/// A ring of `slots` host-visible buffers of [`SLOT_BYTES`] for `usage`.
fn new_ring(ctx: &Context, usage: Usage, slots: usize) -> Result<Ring> {
    let buffers = (0..slots)
        .map(|_| {
            let buffer = ctx.place(SLOT_BYTES, Placement::Auto(usage))?;
            if buffer.mapping().is_none() {
                return Err(Error::InvalidArgument(format!(
                    "the {usage:?} staging buffer ({}) is not host-visible",
                    buffer.location()
                )));
            }
            Ok(buffer)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Ring::of(buffers))
}

fn check_range(buffer: &PlacedBuffer, offset: u64, len: u64) -> Result<()> {
    let end = offset.saturating_add(len);
    if end > buffer.bytes() {
        return Err(Error::InvalidArgument(format!(
            "range {offset}..{end} is outside the placed buffer of {} bytes",
            buffer.bytes()
        )));
    }
    if !offset.is_multiple_of(4) {
        return Err(Error::InvalidArgument(format!(
            "offset {offset} into a placed buffer must be a multiple of 4"
        )));
    }
    Ok(())
}

impl Context {
    /// Placed buffers alive now and their bytes, not counting the context's own staging
    /// buffers. A dropped buffer counts until the GPU is done with it: call
    /// [`Context::wait_idle`] first. Zero on a device without the Vulkan layer.
    pub fn live_allocations(&self) -> (u64, u64) {
        let Ok(vk) = self.vulkan("live allocations") else {
            return (0, 0);
        };
        let (buffers, bytes) = vk.live_allocations();
        let (ring_buffers, ring_bytes) = self.staging.footprint();
        (
            buffers.saturating_sub(ring_buffers),
            bytes.saturating_sub(ring_bytes),
        )
    }

    /// Writes `data` into `buffer` at `offset` by the buffer's upload path.
    ///
    /// `offset` must be a multiple of 4; `data.len()` too, unless the write ends the buffer.
    pub fn write_placed(&self, buffer: &PlacedBuffer, offset: u64, data: &[u8]) -> Result<()> {
        self.write_placed_with(buffer, offset, data, buffer.upload_path())
    }

    /// Like [`Context::write_placed`], through the given path: `Staging` works for every
    /// placement; `Mapped` only for host-visible ones.
    pub fn write_placed_with(
        &self,
        buffer: &PlacedBuffer,
        offset: u64,
        data: &[u8],
        path: UploadPath,
    ) -> Result<()> {
        self.check_lost("writing a placed buffer")?;
        buffer.check_not_destroyed("writing a placed buffer")?;
        check_range(buffer, offset, data.len() as u64)?;
        let ends_buffer = offset + data.len() as u64 == buffer.bytes();
        if !data.len().is_multiple_of(4) && !ends_buffer {
            return Err(Error::InvalidArgument(format!(
                "a write of {} bytes not ending the buffer must be a multiple of 4 bytes",
                data.len()
            )));
        }
        if !buffer.is_exact() {
            if path == UploadPath::Mapped {
                return Err(Error::InvalidArgument(
                    "a plain wgpu buffer (`auto` off Vulkan) has no mapped upload path".into(),
                ));
            }
            return self.write_wgpu_buffer(buffer.buffer(), offset, data);
        }
        if path == UploadPath::Mapped {
            let mapping = buffer.mapping().ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "{} is not host-visible: it has no mapped upload path",
                    buffer.location()
                ))
            })?;
            return Ok(mapping.write(offset, data)?);
        }
        let mut guard = lock(&self.staging.upload)?;
        if guard.is_none() {
            *guard = Some(new_ring(self, Usage::Staging, UPLOAD_SLOTS)?);
        }
        let ring = guard
            .as_mut()
            .ok_or_else(|| Error::InvalidArgument("no staging ring".into()))?;
        let mut done = 0usize;
        while done < data.len() {
            let n = (data.len() - done).min(SLOT_BYTES as usize);
            let slot = ring.take(|pending| self.wait_for(pending))?.slot;
            let staging = slot
                .buffer
                .mapping()
                .ok_or_else(|| Error::InvalidArgument("staging slot lost its mapping".into()))?;
            staging.write(0, &data[done..done + n])?;
            let copy_len = (n as u64).next_multiple_of(4);
            let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
            encoder.copy_buffer_to_buffer(
                slot.buffer.buffer(),
                0,
                buffer.buffer(),
                offset + done as u64,
                copy_len,
            );
            slot.pending = Some(self.scoped("staging upload", || {
                self.gpu.queue.submit([encoder.finish()])
            })?);
            done += n;
        }
        Ok(())
    }

    /// Reads `len` bytes of `buffer` from `offset` back to the CPU (waits for pending GPU work).
    pub fn read_placed(&self, buffer: &PlacedBuffer, offset: u64, len: u64) -> Result<Vec<u8>> {
        let len_usize = usize::try_from(len)
            .map_err(|_| Error::InvalidArgument(format!("{len} bytes do not fit in memory")))?;
        let mut out = vec![0u8; len_usize];
        self.read_placed_into(buffer, offset, &mut out)?;
        Ok(out)
    }

    /// Like [`Context::read_placed`], into memory the caller owns: no allocation per call, which
    /// matters when the same gigabytes are read again and again.
    pub fn read_placed_into(
        &self,
        buffer: &PlacedBuffer,
        offset: u64,
        out: &mut [u8],
    ) -> Result<()> {
        self.check_lost("reading a placed buffer")?;
        buffer.check_not_destroyed("reading a placed buffer")?;
        let len = out.len() as u64;
        check_range(buffer, offset, len)?;
        if !buffer.is_exact() {
            // The buffer is rounded up to whole words, so the rounded read stays inside it.
            let words = self.read_buffer(buffer.buffer(), offset, len.next_multiple_of(4))?;
            out.copy_from_slice(&words[..out.len()]);
            return Ok(());
        }
        if let Some(mapping) = buffer.mapping() {
            if buffer
                .flags()
                .is_some_and(|f| f.contains(MemoryFlags::HOST_CACHED))
            {
                self.wait_idle()?;
                mapping.read(offset, out)?;
                return Ok(());
            }
        }
        let mut guard = lock(&self.staging.readback)?;
        if guard.is_none() {
            *guard = Some(new_ring(self, Usage::Readback, READBACK_SLOTS)?);
        }
        let ring = guard
            .as_mut()
            .ok_or_else(|| Error::InvalidArgument("no read-back ring".into()))?;
        // Double-buffered: the GPU copies chunk i+1 while the CPU reads chunk i.
        let chunks: Vec<(u64, u64)> = (0..len)
            .step_by(SLOT_BYTES as usize)
            .map(|start| (start, (len - start).min(SLOT_BYTES)))
            .collect();
        let submit = |ring: &mut Ring, (start, n): (u64, u64)| -> Result<usize> {
            let taken = ring.take(|pending| self.wait_for(pending))?;
            let (index, slot) = (taken.index, taken.slot);
            let copy_len = n
                .next_multiple_of(4)
                .min(buffer.buffer().size() - offset - start);
            let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
            encoder.copy_buffer_to_buffer(
                buffer.buffer(),
                offset + start,
                slot.buffer.buffer(),
                0,
                copy_len,
            );
            slot.pending = Some(self.scoped("read-back copy", || {
                self.gpu.queue.submit([encoder.finish()])
            })?);
            Ok(index)
        };
        // Fewer chunks in flight than the ring has slots, so the slot `take` hands out (the least
        // recently used) is never one whose chunk is still to be read.
        let depth = READBACK_SLOTS.min(ring.len()).max(1);
        let mut in_flight = std::collections::VecDeque::new();
        for (i, &chunk) in chunks.iter().enumerate() {
            in_flight.push_back((submit(ring, chunk)?, chunk));
            let last = i + 1 == chunks.len();
            while in_flight.len() >= depth || (last && !in_flight.is_empty()) {
                let Some((index, (start, n))) = in_flight.pop_front() else {
                    break;
                };
                let slot = ring.slot_mut(index)?;
                if let Some(pending) = slot.pending.take() {
                    self.wait_for(pending)?;
                }
                let mapping = slot.buffer.mapping().ok_or_else(|| {
                    Error::InvalidArgument("read-back slot lost its mapping".into())
                })?;
                mapping.read(0, &mut out[start as usize..(start + n) as usize])?;
            }
        }
        Ok(())
    }

    /// Writes `data` at `offset` (a multiple of 4) into a plain wgpu buffer; a last partial
    /// word is padded with zeros (the buffer is rounded up to whole words).
    fn write_wgpu_buffer(&self, buffer: &wgpu::Buffer, offset: u64, data: &[u8]) -> Result<()> {
        let whole = data.len() - data.len() % 4;
        if whole > 0 {
            self.write_buffer(buffer, offset, &data[..whole])?;
        }
        if whole < data.len() {
            let mut tail = [0u8; 4];
            tail[..data.len() - whole].copy_from_slice(&data[whole..]);
            self.write_buffer(buffer, offset + whole as u64, &tail)?;
        }
        Ok(())
    }
}
