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
/// The smallest piece of a split copy.
const MIN_PIECE: usize = 512 << 10;

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
        check_range(offset, len, self.len)?;
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
        self.write_split(offset, data, 1)
    }

    /// [`MappedMemory::write`] for a copy that runs beside other work on the same threads (a
    /// load submits the previous staging slot while it fills the next): split in four pieces
    /// a thread, so that a thread busy elsewhere delays a quarter of its share, not the copy.
    pub fn write_balanced(&self, offset: u64, data: &[u8]) -> Result<(), VkError> {
        self.write_split(offset, data, 4)
    }

    fn write_split(&self, offset: u64, data: &[u8], pieces: usize) -> Result<(), VkError> {
        self.check(offset, data.len(), "writing a mapped buffer")?;
        parallel_chunks(data.len(), pieces, |start, end| {
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
        parallel_chunks(out.len(), 1, |start, end| {
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

    /// `true` when the mapping's bytes at `offset` equal `expected`, compared in place: no copy
    /// out of the mapping and no scratch memory, so each byte crosses the memory bus once.
    /// Invalidates first if the memory is not coherent. Large comparisons are split across
    /// threads like copies, and stop early once one thread finds a difference.
    ///
    /// Meant for HOST_CACHED memory: in write-combined or uncached memory every CPU load goes
    /// over the bus, and [`MappedMemory::read`] (a `memcpy`, with the widest loads the CPU has)
    /// into cached memory is the faster way to look at the bytes.
    ///
    /// [`VkError::Destroyed`] once the buffer was destroyed; [`VkError::OutOfRange`] for bytes
    /// outside the mapping (an empty `expected` at an offset up to the mapping's length is
    /// equal).
    pub fn same_as(&self, offset: u64, expected: &[u8]) -> Result<bool, VkError> {
        self.check(offset, expected.len(), "comparing a mapped buffer")?;
        self.core.invalidate(offset, expected.len() as u64)?;
        let differs = std::sync::atomic::AtomicBool::new(false);
        parallel_chunks(expected.len(), 1, |start, end| {
            if differs.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            // SAFETY: `check` proved offset + expected.len() <= self.len <= the owned bytes,
            // which stay mapped while `self.core` lives (invariant 3), and start..end lies inside
            // 0..expected.len(), so the mapping holds end - start readable bytes from there.
            // `equal_at` only reads them through raw unaligned loads into locals (no reference
            // to mapped memory is formed); bytes the GPU changes meanwhile give a wrong answer,
            // not memory unsafety (invariant 3).
            let same = unsafe {
                equal_at(
                    self.base.as_ptr().add(offset as usize + start),
                    &expected[start..end],
                )
            };
            if !same {
                differs.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        });
        Ok(!differs.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// `offset + len` when that range lies inside a mapping of `mapping_len` bytes.
fn check_range(offset: u64, len: usize, mapping_len: u64) -> Result<u64, VkError> {
    let end = offset.saturating_add(len as u64);
    if end > mapping_len {
        return Err(VkError::OutOfRange {
            offset,
            end,
            len: mapping_len,
        });
    }
    Ok(end)
}

/// Bytes of one line of [`equal_at`]'s comparison.
const LINE: usize = 64;
/// Lines whose differences [`equal_at`] gathers before it looks at them (4 KiB): no branch per
/// line, so the loop stays a stream of loads, XORs and ORs.
const LINES_PER_CHECK: usize = 64;

/// `true` when the `expected.len()` bytes at `src` equal `expected`.
///
/// # Safety
/// `src..src + expected.len()` must be readable for the whole call. It is read only through
/// `ptr::read_unaligned` into locals, never through a reference, so it may be memory that others
/// (the GPU) write meanwhile: then the answer is unspecified, but nothing else goes wrong.
unsafe fn equal_at(src: *const u8, expected: &[u8]) -> bool {
    let mut lines = expected.chunks_exact(LINE);
    let mut at = 0usize;
    loop {
        let mut diff = 0u8;
        let mut seen = 0usize;
        for want in lines.by_ref().take(LINES_PER_CHECK) {
            // SAFETY: `at + LINE <= expected.len()` (this line of `expected` is whole), and the
            // caller promised that many bytes at `src` are readable; an unaligned read of a byte
            // array into a local is a raw copy.
            let got: [u8; LINE] = unsafe { std::ptr::read_unaligned(src.add(at).cast()) };
            diff |= got.iter().zip(want).fold(0u8, |d, (a, b)| d | (a ^ b));
            at += LINE;
            seen += 1;
        }
        if diff != 0 {
            return false;
        }
        if seen < LINES_PER_CHECK {
            break;
        }
    }
    lines.remainder().iter().enumerate().all(|(k, &want)| {
        // SAFETY: `at + k < expected.len()`, inside the readable range the caller promised.
        let got = unsafe { src.add(at + k).read_unaligned() };
        got == want
    })
}

/// The destination of one `read`, handed to the copy threads.
struct SendPtr(*mut u8);
// SAFETY: used only inside one `read` call, to hand disjoint sub-ranges of the caller's
// `&mut [u8]` (borrowed for the whole call) to the rayon pool's threads.
unsafe impl Send for SendPtr {}
// SAFETY: as above; threads never touch the same bytes.
unsafe impl Sync for SendPtr {}

/// Runs `copy(start, end)` over `0..len`, split across the rayon pool's threads for large
/// copies (a persistent pool: no thread is started per copy), in `pieces` pieces a thread.
fn parallel_chunks(len: usize, pieces: usize, copy: impl Fn(usize, usize) + Sync) {
    use rayon::prelude::*;
    let threads = rayon::current_num_threads().min(16);
    if len < PARALLEL_THRESHOLD || threads == 1 {
        copy(0, len);
        return;
    }
    // Pieces of at least MIN_PIECE; whole 64-byte lines keep write-combining buffers full.
    let chunk = len
        .div_ceil(threads * pieces.max(1))
        .max(MIN_PIECE)
        .div_ceil(64)
        * 64;
    (0..len.div_ceil(chunk)).into_par_iter().for_each(|i| {
        let start = i * chunk;
        copy(start, (start + chunk).min(len));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `equal_at` over ordinary memory, as `same_as` calls it on a checked range.
    fn equal(got: &[u8], expected: &[u8]) -> bool {
        assert!(expected.len() <= got.len());
        // SAFETY: `got` is a live slice of at least `expected.len()` bytes.
        unsafe { equal_at(got.as_ptr(), expected) }
    }

    #[test]
    fn in_place_comparisons_find_every_difference() {
        // Lengths around a line, a check of 64 lines, and their tails.
        for len in [0usize, 1, 7, 63, 64, 65, 4095, 4096, 4097, 3 * 4096 + 129] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            assert!(equal(&bytes, &bytes), "{len}");
            for at in [0, len / 2, len.saturating_sub(1)] {
                if at >= len {
                    continue;
                }
                let mut other = bytes.clone();
                other[at] ^= 0x10;
                assert!(!equal(&bytes, &other), "{len}: a difference at {at}");
            }
        }
        // A prefix of longer memory compares only its own bytes.
        let long = vec![5u8; 200];
        assert!(equal(&long, &[5u8; 130]));
        // Unaligned starts.
        let bytes: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        assert!(equal(&bytes[3..], &bytes[3..250]));
        assert!(!equal(&bytes[3..], &bytes[4..251]));
    }

    #[test]
    fn ranges_are_checked_against_the_mapping() {
        assert_eq!(check_range(0, 16, 16), Ok(16));
        assert_eq!(check_range(16, 0, 16), Ok(16));
        assert_eq!(check_range(4, 8, 16), Ok(12));
        assert_eq!(
            check_range(9, 8, 16),
            Err(VkError::OutOfRange {
                offset: 9,
                end: 17,
                len: 16
            })
        );
        assert!(check_range(17, 0, 16).is_err());
        // No wrap-around: a hostile offset saturates and is refused.
        assert_eq!(
            check_range(u64::MAX - 2, 8, 16),
            Err(VkError::OutOfRange {
                offset: u64::MAX - 2,
                end: u64::MAX,
                len: 16
            })
        );
    }
}
