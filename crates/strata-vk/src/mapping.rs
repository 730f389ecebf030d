//! Persistent mappings of host-visible memory, reached only through bounds-checked copies.

use crate::error::VkError;
use crate::memory::{MappedPtr, MemoryCore};
use std::sync::Arc;
use wgpu_hal::api::Vulkan;

/// A persistent CPU mapping of one placed buffer's bytes.
///
/// Copies in and out are bounds-checked; non-coherent memory is flushed after writes and
/// invalidated before reads. Large copies are split across threads, since one CPU core cannot
/// saturate a PCIe 5 link or a write-combined BAR window.
///
/// The mapping holds the buffer's memory alive (invariants 2 and 3 of this crate), so no call
/// here can touch freed memory whatever is done with the `wgpu::Buffer`. Once the buffer was
/// destroyed (`wgpu::Buffer::destroy`), copies are refused with [`VkError::Destroyed`]; a copy
/// that races a `destroy()` on another thread lands in memory that is still allocated, and its
/// bytes are simply lost.
pub struct MappedMemory {
    core: Arc<MemoryCore>,
    /// The buffer the memory is bound to: asked whether it was destroyed before each copy.
    buffer: wgpu::Buffer,
    /// Where the buffer's bytes are mapped (inside `core`'s mapping).
    base: MappedPtr,
    len: u64,
}

impl std::fmt::Debug for MappedMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedMemory")
            .field("len", &self.len)
            .field("coherent", &self.core.is_coherent())
            .finish()
    }
}

/// Copies at or above this size are split across threads.
const PARALLEL_THRESHOLD: usize = 8 << 20;

/// `true` once `wgpu::Buffer::destroy` was called on `buffer`. Only meaningful for a buffer of
/// a Vulkan device: for any other it is `true` too.
pub fn is_destroyed(buffer: &wgpu::Buffer) -> bool {
    // SAFETY: the guard is dropped at once and the hal buffer is not used: we only ask whether
    // wgpu still holds it. wgpu-core 30 takes it out (`snatch`) in `Buffer::destroy`, after which
    // `as_hal` returns `None`; the guard's read lock only delays a concurrent `destroy`.
    unsafe { buffer.as_hal::<Vulkan>() }.is_none()
}

impl MappedMemory {
    /// A mapping of the first `len` bytes of `core`, which must be mapped and bound to `buffer`.
    /// `None` when the memory is not mapped or holds fewer than `len` bytes.
    pub(crate) fn new(core: Arc<MemoryCore>, buffer: wgpu::Buffer, len: u64) -> Option<Self> {
        let base = core.mapped()?;
        (len <= core.owned_len()).then_some(Self {
            core,
            buffer,
            base,
            len,
        })
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
        self.core.is_coherent()
    }

    /// Checks that `offset..offset + len` lies inside the mapping and that the buffer was not
    /// destroyed.
    fn check(&self, offset: u64, len: usize, what: &'static str) -> Result<(), VkError> {
        let end = offset.saturating_add(len as u64);
        if end > self.len {
            return Err(VkError::OutOfRange {
                offset,
                end,
                len: self.len,
            });
        }
        if is_destroyed(&self.buffer) {
            return Err(VkError::Destroyed { what });
        }
        Ok(())
    }

    /// Copies `data` into the mapping at `offset`, then flushes if the memory is not coherent.
    ///
    /// [`VkError::Destroyed`] once the buffer was destroyed; [`VkError::OutOfRange`] for bytes
    /// outside the mapping.
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), VkError> {
        self.check(offset, data.len(), "writing a mapped buffer")?;
        parallel_chunks(data.len(), |start, end| {
            // SAFETY: `check` proved offset + data.len() <= self.len <= the owned bytes, which
            // stay mapped while `self.core` lives (invariant 3); source and destination cannot
            // overlap because the source is a Rust slice, never a view of this mapping.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    data.as_ptr().add(start),
                    self.base.as_ptr().add(offset as usize + start),
                    end - start,
                );
            }
        });
        self.core.flush(offset, data.len() as u64)
    }

    /// Copies bytes at `offset` into `out`, invalidating first if the memory is not coherent.
    ///
    /// [`VkError::Destroyed`] once the buffer was destroyed; [`VkError::OutOfRange`] for bytes
    /// outside the mapping.
    pub fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), VkError> {
        self.check(offset, out.len(), "reading a mapped buffer")?;
        self.core.invalidate(offset, out.len() as u64)?;
        let out_ptr = SendPtr(out.as_mut_ptr());
        parallel_chunks(out.len(), |start, end| {
            let out_ptr = &out_ptr;
            // SAFETY: bounds as in `write`; each thread writes a disjoint range of `out`.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.base.as_ptr().add(offset as usize + start),
                    out_ptr.0.add(start),
                    end - start,
                );
            }
        });
        Ok(())
    }
}

/// The destination of one `read`, handed to the copy threads.
struct SendPtr(*mut u8);
// SAFETY: used only inside one `read` call, to hand disjoint sub-ranges of the caller's
// `&mut [u8]` (borrowed for the whole call) to the rayon pool's threads.
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
