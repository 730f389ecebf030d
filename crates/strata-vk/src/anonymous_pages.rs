//! Anonymous host pages for a buffer the driver imports (`VK_EXT_external_memory_host`).
//!
//! Drivers fill their own host allocations slowly: NVIDIA's 580 driver gives host-visible memory
//! at 2.7 GB/s, one allocation at a time (BENCHMARKS.md, 2026-12-03 runs 13 and 15), and the
//! first touch of fresh anonymous pages on one thread is about as slow. Pages asked for as
//! transparent huge pages and touched by every core at once are ready far sooner, and the driver
//! then only pins them. No crate offers page memory prepared this way, so it is built here on
//! `memmap2`'s anonymous maps.

use rayon::prelude::*;

/// Transparent huge pages are 2 MiB on x86-64 and on arm64 with 4 KiB base pages; the start is
/// aligned to this so the kernel can back the whole range with them.
const HUGE_PAGE: usize = 2 << 20;
/// The smallest base page of the platforms Strata runs on: touching one byte in every stretch of
/// this many bytes faults in every page.
const BASE_PAGE: usize = 4 << 10;
/// Pieces touched by one thread at a time.
const TOUCH_PIECE: usize = 16 << 20;

/// `len` bytes of zeroed, faulted-in anonymous memory, starting on a multiple of `alignment`.
///
/// Only [`AnonymousPages::as_ptr`] reaches the bytes once they are made: they are handed to the
/// driver, and are unmapped when this is dropped, which must come after the driver's memory
/// object that imported them was freed.
pub(crate) struct AnonymousPages {
    map: memmap2::MmapMut,
    offset: usize,
    len: usize,
}

impl AnonymousPages {
    /// Maps `len` bytes aligned to `alignment` (a power of two) and faults every page in, on all
    /// of rayon's threads. `None` when `len` overflows with the alignment; an I/O error when the
    /// system has no memory to map.
    pub(crate) fn new(len: usize, alignment: usize) -> Option<std::io::Result<Self>> {
        let alignment = alignment.max(HUGE_PAGE);
        if !alignment.is_power_of_two() || len == 0 {
            return None;
        }
        let mapped_len = len.checked_add(alignment)?;
        let mut map = match memmap2::MmapOptions::new().len(mapped_len).map_anon() {
            Ok(map) => map,
            Err(e) => return Some(Err(e)),
        };
        let start = map.as_ptr() as usize;
        let offset = start.next_multiple_of(alignment) - start;
        #[cfg(target_os = "linux")]
        if let Err(e) = map.advise(memmap2::Advice::HugePage) {
            // Only speed depends on it: the pages come as base pages.
            log::debug!("madvise(MADV_HUGEPAGE) was refused: {e}");
        }
        map[offset..offset + len]
            .par_chunks_mut(TOUCH_PIECE)
            .for_each(|piece| piece.iter_mut().step_by(BASE_PAGE).for_each(|b| *b = 0));
        Some(Ok(Self { map, offset, len }))
    }

    /// The first byte, for the driver to import.
    pub(crate) fn as_ptr(&self) -> *const u8 {
        self.map[self.offset..].as_ptr()
    }

    /// Bytes given to the driver.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_start_aligned_and_are_zero() {
        let pages = AnonymousPages::new(3 * HUGE_PAGE + 4096, 1 << 22)
            .expect("a valid size")
            .expect("memory to map");
        assert_eq!(pages.as_ptr() as usize % (1 << 22), 0);
        assert_eq!(pages.len(), 3 * HUGE_PAGE + 4096);
        let bytes = &pages.map[pages.offset..pages.offset + pages.len];
        assert!(bytes.iter().all(|&b| b == 0));
    }

    #[test]
    fn bad_sizes_and_alignments_are_refused() {
        assert!(AnonymousPages::new(0, 4096).is_none());
        assert!(AnonymousPages::new(4096, (1 << 22) + 1).is_none());
        assert!(AnonymousPages::new(usize::MAX - 100, 4096).is_none());
    }
}
