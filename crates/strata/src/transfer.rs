//! Typed upload and read-back for ordinary wgpu buffers (any backend).
//!
//! Both directions move data in chunks of at most [`TRANSFER_CHUNK`] bytes, so moving gigabytes
//! never needs gigabytes of staging memory.

use crate::context::Context;
use crate::error::{Error, Result};
use bytemuck::Pod;

/// Largest piece moved at once by [`Context::write_buffer`] and [`Context::read_buffer`].
pub const TRANSFER_CHUNK: u64 = 64 << 20;

/// Bytes written between waits, bounding wgpu's internal staging memory.
const WRITE_WINDOW: u64 = 4 * TRANSFER_CHUNK;

impl Context {
    /// Creates a storage buffer (STORAGE | COPY_SRC | COPY_DST) holding `data`.
    ///
    /// The buffer is placed wherever wgpu puts it (`auto`); use [`Context::place`] to choose the
    /// memory type on Vulkan.
    pub fn upload<T: Pod>(&self, data: &[T]) -> Result<wgpu::Buffer> {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let buffer = self.create_storage_buffer(bytes.len() as u64, "strata upload")?;
        self.write_buffer(&buffer, 0, bytes)?;
        Ok(buffer)
    }

    /// Creates an uninitialised-by-us (wgpu zeroes it) storage buffer of `bytes` bytes.
    pub fn create_storage_buffer(&self, bytes: u64, label: &str) -> Result<wgpu::Buffer> {
        if bytes == 0 {
            return Err(Error::InvalidArgument(format!(
                "{label}: a buffer of 0 bytes"
            )));
        }
        let max = self.limits().max_buffer_size;
        if bytes > max {
            return Err(Error::TooLarge {
                what: label.to_string(),
                bytes,
                limit_name: "max_buffer_size",
                limit: max,
            });
        }
        // wgpu wants sizes that are multiples of 4 for copies; round up.
        let size = bytes.div_ceil(4) * 4;
        self.scoped(label, || {
            self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })
    }

    /// Writes `data` into `buffer` at `offset` (both multiples of 4 bytes).
    pub fn write_buffer(&self, buffer: &wgpu::Buffer, offset: u64, data: &[u8]) -> Result<()> {
        check_range("write_buffer", buffer, offset, data.len() as u64)?;
        if !offset.is_multiple_of(4) || !data.len().is_multiple_of(4) {
            return Err(Error::InvalidArgument(format!(
                "write_buffer: offset {offset} and length {} must be multiples of 4",
                data.len()
            )));
        }
        let mut since_wait = 0u64;
        for (i, chunk) in data.chunks(TRANSFER_CHUNK as usize).enumerate() {
            let at = offset + i as u64 * TRANSFER_CHUNK;
            self.scoped("write_buffer", || {
                self.gpu.queue.write_buffer(buffer, at, chunk)
            })?;
            since_wait += chunk.len() as u64;
            if since_wait >= WRITE_WINDOW {
                let submission = self.gpu.queue.submit([]);
                self.wait_for(submission)?;
                since_wait = 0;
            }
        }
        self.gpu.queue.submit([]);
        Ok(())
    }

    /// Reads `len` bytes of `buffer` from `offset` (multiples of 4) back to the CPU.
    pub fn read_buffer(&self, buffer: &wgpu::Buffer, offset: u64, len: u64) -> Result<Vec<u8>> {
        check_range("read_buffer", buffer, offset, len)?;
        if !offset.is_multiple_of(4) || !len.is_multiple_of(4) {
            return Err(Error::InvalidArgument(format!(
                "read_buffer: offset {offset} and length {len} must be multiples of 4"
            )));
        }
        let len_usize = usize::try_from(len).map_err(|_| {
            Error::InvalidArgument(format!("read_buffer: {len} bytes do not fit in memory"))
        })?;
        let mut out = Vec::with_capacity(len_usize);
        let staging_size = len.clamp(4, TRANSFER_CHUNK);
        let staging = self.scoped("read_buffer staging", || {
            self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("strata read-back"),
                size: staging_size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(staging_size);
            let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
            encoder.copy_buffer_to_buffer(buffer, offset + done, &staging, 0, n);
            let submission = self.scoped("read_buffer copy", || {
                self.gpu.queue.submit([encoder.finish()])
            })?;
            self.wait_for(submission)?;
            self.map_read(&staging, n, &mut out)?;
            done += n;
        }
        Ok(out)
    }

    /// Reads `count` elements of type `T` from the start of `buffer`.
    pub fn read_back<T: Pod>(&self, buffer: &wgpu::Buffer, count: usize) -> Result<Vec<T>> {
        let bytes = (count as u64)
            .checked_mul(std::mem::size_of::<T>() as u64)
            .ok_or_else(|| Error::InvalidArgument("read_back: size overflows".into()))?;
        let padded = bytes.div_ceil(4) * 4;
        let raw = self.read_buffer(buffer, 0, padded)?;
        let raw = &raw[..bytes as usize];
        let mut out = vec![T::zeroed(); count];
        bytemuck::cast_slice_mut::<T, u8>(&mut out).copy_from_slice(raw);
        Ok(out)
    }

    /// Maps `staging`, appends its first `n` bytes to `out`, unmaps.
    fn map_read(&self, staging: &wgpu::Buffer, n: u64, out: &mut Vec<u8>) -> Result<()> {
        let slice = staging.slice(0..n);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait_idle()?;
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::ReadBack(e.to_string())),
            Err(_) => return Err(Error::ReadBack("the map callback never ran".into())),
        }
        {
            let data = slice
                .get_mapped_range()
                .map_err(|e| Error::ReadBack(e.to_string()))?;
            out.extend_from_slice(&data);
        }
        staging.unmap();
        Ok(())
    }
}

fn check_range(what: &str, buffer: &wgpu::Buffer, offset: u64, len: u64) -> Result<()> {
    let end = offset
        .checked_add(len)
        .ok_or_else(|| Error::InvalidArgument(format!("{what}: range overflows")))?;
    if end > buffer.size() {
        return Err(Error::InvalidArgument(format!(
            "{what}: range {offset}..{end} is outside the buffer of {} bytes",
            buffer.size()
        )));
    }
    Ok(())
}
