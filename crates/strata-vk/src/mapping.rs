//! Persistent mappings of host-visible memory, reached only through bounds-checked copies.

use crate::error::VkError;
use ash::vk;
use std::ptr::NonNull;

/// A persistent CPU mapping of one placed buffer's bytes.
///
/// Copies in and out are bounds-checked; non-coherent memory is flushed after writes and
/// invalidated before reads. Large copies are split across threads, since one CPU core cannot
/// saturate a PCIe 5 link or a write-combined BAR window.
pub struct MappedMemory {
    ptr: NonNull<u8>,
    len: u64,
    memory: vk::DeviceMemory,
    /// Offset of `ptr` inside `memory` (sub-allocations share one `VkDeviceMemory`).
    offset_in_memory: u64,
    /// Size of the whole `VkDeviceMemory`, to clamp flush ranges.
    memory_size: u64,
    coherent: bool,
    atom: u64,
    device: ash::Device,
}

// SAFETY: the mapping is plain memory owned by the allocation (invariant 3); it is only reached
// through `copy_nonoverlapping` on bounds-checked ranges, never through Rust references, so
// sharing the pointer across threads cannot create aliasing references. Concurrent copies to the
// same bytes give unspecified data, never memory unsafety.
unsafe impl Send for MappedMemory {}
// SAFETY: see `Send` above; every method takes `&self` and performs only raw copies and
// Vulkan flush/invalidate calls, which are thread-safe on distinct or equal ranges.
unsafe impl Sync for MappedMemory {}

impl std::fmt::Debug for MappedMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedMemory")
            .field("len", &self.len)
            .field("coherent", &self.coherent)
            .finish()
    }
}

/// Copies at or above this size are split across threads.
const PARALLEL_THRESHOLD: usize = 8 << 20;

impl MappedMemory {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        ptr: NonNull<u8>,
        len: u64,
        memory: vk::DeviceMemory,
        offset_in_memory: u64,
        memory_size: u64,
        coherent: bool,
        atom: u64,
        device: ash::Device,
    ) -> Self {
        Self {
            ptr,
            len,
            memory,
            offset_in_memory,
            memory_size,
            coherent,
            atom: atom.max(1),
            device,
        }
    }

    /// Length of the mapping in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// `true` for an empty mapping (never the case for a placed buffer).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `true` when the memory is HOST_COHERENT (no flush/invalidate needed).
    pub fn is_coherent(&self) -> bool {
        self.coherent
    }

    fn check(&self, offset: u64, len: usize) -> Result<(), VkError> {
        let end = offset.saturating_add(len as u64);
        if end > self.len {
            return Err(VkError::OutOfRange {
                offset,
                end,
                len: self.len,
            });
        }
        Ok(())
    }

    /// Copies `data` into the mapping at `offset`, then flushes if the memory is not coherent.
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), VkError> {
        self.check(offset, data.len())?;
        parallel_chunks(data.len(), |start, end| {
            // SAFETY: `check` proved offset + data.len() <= self.len, and the mapping of `len`
            // bytes is live (invariant 3); source and destination cannot overlap because the
            // source is a Rust slice, never a view of this mapping.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    data.as_ptr().add(start),
                    self.ptr.as_ptr().add(offset as usize + start),
                    end - start,
                );
            }
        });
        if !self.coherent {
            self.flush(offset, data.len() as u64)?;
        }
        Ok(())
    }

    /// Copies bytes at `offset` into `out`, invalidating first if the memory is not coherent.
    pub fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), VkError> {
        self.check(offset, out.len())?;
        if !self.coherent {
            self.invalidate(offset, out.len() as u64)?;
        }
        let out_ptr = SendPtr(out.as_mut_ptr());
        parallel_chunks(out.len(), |start, end| {
            let out_ptr = &out_ptr;
            // SAFETY: bounds as in `write`; each thread writes a disjoint range of `out`.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.ptr.as_ptr().add(offset as usize + start),
                    out_ptr.0.add(start),
                    end - start,
                );
            }
        });
        Ok(())
    }

    fn atom_range(&self, offset: u64, len: u64) -> vk::MappedMemoryRange<'static> {
        let start = self.offset_in_memory + offset;
        let aligned_start = start / self.atom * self.atom;
        let end = (start + len).div_ceil(self.atom) * self.atom;
        let size = if end >= self.memory_size {
            vk::WHOLE_SIZE
        } else {
            end - aligned_start
        };
        vk::MappedMemoryRange::default()
            .memory(self.memory)
            .offset(aligned_start)
            .size(size)
    }

    fn flush(&self, offset: u64, len: u64) -> Result<(), VkError> {
        let range = self.atom_range(offset, len);
        // SAFETY: `memory` is mapped for the allocation's life (invariant 3) and the range is
        // atom-aligned and inside the memory object (invariant 4).
        unsafe { self.device.flush_mapped_memory_ranges(&[range]) }
            .map_err(|e| VkError::from_vk("vkFlushMappedMemoryRanges", e))
    }

    fn invalidate(&self, offset: u64, len: u64) -> Result<(), VkError> {
        let range = self.atom_range(offset, len);
        // SAFETY: as in `flush`.
        unsafe { self.device.invalidate_mapped_memory_ranges(&[range]) }
            .map_err(|e| VkError::from_vk("vkInvalidateMappedMemoryRanges", e))
    }
}

struct SendPtr(*mut u8);
// SAFETY: used only to hand disjoint sub-ranges of one `&mut [u8]` to scoped threads.
unsafe impl Send for SendPtr {}
// SAFETY: as above; threads never touch the same bytes.
unsafe impl Sync for SendPtr {}

/// Runs `copy(start, end)` over `0..len`, split across the rayon pool's threads for large
/// copies (a persistent pool: no thread is started per copy).
fn parallel_chunks(len: usize, copy: impl Fn(usize, usize) + Sync) {
    use rayon::prelude::*;
    let threads = rayon::current_num_threads().min(16);
    if len < PARALLEL_THRESHOLD || threads == 1 {
        copy(0, len);
        return;
    }
    // Chunks of whole 64-byte lines keep write-combining buffers full.
    let chunk = len.div_ceil(threads).div_ceil(64) * 64;
    (0..len.div_ceil(chunk)).into_par_iter().for_each(|i| {
        let start = i * chunk;
        copy(start, (start + chunk).min(len));
    });
}
