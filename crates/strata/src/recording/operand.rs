//! What a dispatch binds: byte ranges of buffers, and the checks every binding passes before
//! anything is recorded.

use crate::context::Context;
use crate::error::{Error, Result};

/// One operand of a dispatch: a whole buffer or a byte range of one.
#[derive(Debug, Clone, Copy)]
pub struct Operand<'a> {
    /// The buffer.
    pub buffer: &'a wgpu::Buffer,
    /// Start of the range in bytes.
    pub offset: u64,
    /// Length of the range in bytes.
    pub size: u64,
}

impl<'a> From<&'a wgpu::Buffer> for Operand<'a> {
    fn from(buffer: &'a wgpu::Buffer) -> Self {
        Self {
            buffer,
            offset: 0,
            size: buffer.size(),
        }
    }
}

impl<'a> Operand<'a> {
    /// The bytes `offset .. offset + size` of `buffer`.
    pub fn range(buffer: &'a wgpu::Buffer, offset: u64, size: u64) -> Self {
        Self {
            buffer,
            offset,
            size,
        }
    }
}

/// How a kernel uses one of its storage bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read only (`var<storage, read>`).
    Read,
    /// Read and written (`var<storage, read_write>`).
    ReadWrite,
}

impl Context {
    /// Checks that an operand may be bound as a storage buffer on this device.
    pub(crate) fn check_binding(&self, what: &str, operand: &Operand<'_>) -> Result<()> {
        let limits = self.device_limits();
        if !operand.buffer.usage().contains(wgpu::BufferUsages::STORAGE) {
            return Err(Error::InvalidArgument(format!(
                "{what}: the buffer was created without STORAGE usage (it has {:?})",
                operand.buffer.usage()
            )));
        }
        let limit = limits.max_storage_buffer_binding_size;
        if operand.size > limit {
            return Err(Error::TooLarge {
                what: what.to_string(),
                bytes: operand.size,
                limit_name: "max_storage_buffer_binding_size",
                limit,
            });
        }
        if operand.size == 0 || !operand.size.is_multiple_of(4) {
            return Err(Error::InvalidArgument(format!(
                "{what}: a storage binding of {} bytes; bindings must be whole 4-byte words",
                operand.size
            )));
        }
        let alignment = u64::from(limits.min_storage_buffer_offset_alignment);
        if !operand.offset.is_multiple_of(alignment) {
            return Err(Error::InvalidArgument(format!(
                "{what}: offset {} is not a multiple of the device's storage offset alignment {alignment}",
                operand.offset
            )));
        }
        check_inside(what, operand)
    }

    /// Checks that `operand` holds at least `bytes` (else [`Error::Shape`], naming `shape`) and
    /// may be bound as a storage buffer.
    pub(crate) fn check_operand(
        &self,
        what: &str,
        operand: &Operand<'_>,
        bytes: u64,
        shape: &str,
    ) -> Result<()> {
        if operand.size < bytes {
            return Err(Error::Shape(format!(
                "{what} must hold {shape} ({bytes} bytes), the buffer range has {}",
                operand.size
            )));
        }
        self.check_binding(what, operand)
    }

    /// A grid of `groups` workgroups: one row of them, or several rows of the device's
    /// maximum when there are more (the shader recomputes the linear index and skips the
    /// overshoot).
    pub(crate) fn grid(&self, groups: u32) -> [u32; 3] {
        let max = self
            .device_limits()
            .max_compute_workgroups_per_dimension
            .max(1);
        if groups <= max {
            [groups, 1, 1]
        } else {
            [max, groups.div_ceil(max), 1]
        }
    }
}

/// Checks that `operand`'s range lies inside its buffer.
pub(crate) fn check_inside(what: &str, operand: &Operand<'_>) -> Result<()> {
    let end = operand
        .offset
        .checked_add(operand.size)
        .ok_or_else(|| Error::InvalidArgument(format!("{what}: the range overflows")))?;
    if end > operand.buffer.size() {
        return Err(Error::InvalidArgument(format!(
            "{what}: range {}..{end} is outside the buffer of {} bytes",
            operand.offset,
            operand.buffer.size()
        )));
    }
    Ok(())
}
