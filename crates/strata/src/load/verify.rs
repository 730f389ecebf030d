//! Verification of a load: every tensor read back in bounded chunks and compared with the
//! file, and every heap's usage before and after compared with the plan.

use crate::context::Context;
use crate::error::Result;
use crate::placement::{PlacedTensor, Verification};
use crate::table::human_bytes;

/// The largest piece of a tensor handled at once, on the way in and on the way back: one
/// staging slot. Host memory held by a load never exceeds a few of these, whatever the model's
/// size.
pub const LOAD_CHUNK: u64 = crate::placement::SLOT_BYTES;

/// The `(offset, length)` chunks of `len` bytes, each at most [`LOAD_CHUNK`] (a multiple of 4,
/// as offsets into placed buffers must be).
pub(crate) fn chunks(len: u64) -> impl Iterator<Item = (u64, u64)> {
    (0..len)
        .step_by(LOAD_CHUNK as usize)
        .map(move |start| (start, (len - start).min(LOAD_CHUNK)))
}

/// Reads `placed` back chunk by chunk and compares it with `data` (the file's bytes). Calls
/// `on_chunk` with the bytes of each chunk compared. Stops comparing at the first difference
/// (the rest is reported to `on_chunk` at once).
pub(crate) fn matches_file(
    ctx: &Context,
    placed: &PlacedTensor,
    data: &[u8],
    mut on_chunk: impl FnMut(u64),
) -> Result<bool> {
    let mut at = 0usize;
    let mut compared = 0u64;
    for part in placed.parts() {
        for (offset, len) in chunks(part.bytes()) {
            let back = ctx.read_placed(part, offset, len)?;
            let start = at + offset as usize;
            let same = data.get(start..start + len as usize) == Some(back.as_slice());
            compared += len;
            on_chunk(len);
            if !same {
                on_chunk(placed.bytes().saturating_sub(compared));
                return Ok(false);
            }
        }
        at += part.bytes() as usize;
    }
    Ok(compared == data.len() as u64)
}

/// What a load put on one heap, for the verdict on its usage.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HeapLoad {
    /// Bytes planned (and placed) on the heap.
    pub(crate) planned: u64,
    /// Of those, bytes in dedicated allocations (each with its own `VkDeviceMemory`), which
    /// must show in the heap's usage. Sub-allocated bytes may land in blocks that existed.
    pub(crate) dedicated: u64,
}

/// How far usage may differ from the allocations: drivers round to pages, and wgpu allocates
/// too (as in [`crate::placement::verify`]).
fn tolerance(bytes: u64) -> u64 {
    (bytes / 50).max(4 << 20)
}

/// The verdict on one heap: did its usage move as the load says? `None` when nothing was
/// planned on the heap and it did not grow suspiciously.
///
/// - no usage reported (no `VK_EXT_memory_budget`, as on lavapipe): unverifiable;
/// - nothing in dedicated allocations: unverifiable (sub-allocations may fit in blocks that
///   already existed);
/// - usage grew by at least the dedicated bytes (less a tolerance): verified; otherwise a
///   mismatch;
/// - a heap with nothing planned that grew by half the load's dedicated bytes or more (and more
///   than the staging rings take): a mismatch.
pub(crate) fn heap_verdict(
    heap: u32,
    load: HeapLoad,
    all_dedicated: u64,
    usage: (Option<u64>, Option<u64>),
) -> Option<Verification> {
    let (Some(before), Some(after)) = usage else {
        return (load.planned > 0).then(|| Verification::Unverifiable {
            reason: "the device reports no heap usage (no VK_EXT_memory_budget)".into(),
        });
    };
    let growth = after.saturating_sub(before);
    if load.planned == 0 {
        let suspicious = all_dedicated > 0 && growth >= (all_dedicated / 2).max(256 << 20);
        return suspicious.then(|| Verification::Mismatch {
            detail: format!(
                "heap {heap} grew by {} although nothing was planned on it",
                human_bytes(growth)
            ),
        });
    }
    let seen = format!(
        "VK_EXT_memory_budget: heap {heap} usage {} -> {} (+{}) for {} planned, {} of it in dedicated allocations",
        human_bytes(before),
        human_bytes(after),
        human_bytes(growth),
        human_bytes(load.planned),
        human_bytes(load.dedicated)
    );
    Some(if load.dedicated == 0 {
        Verification::Unverifiable {
            reason: format!("{seen}: sub-allocated buffers may fit in blocks that existed"),
        }
    } else if growth.saturating_add(tolerance(load.dedicated)) >= load.dedicated {
        Verification::Verified { witness: seen }
    } else {
        Verification::Mismatch { detail: seen }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn chunks_cover_the_length_in_slot_sized_pieces() {
        let pieces: Vec<_> = chunks(2 * LOAD_CHUNK + 8).collect();
        assert_eq!(
            pieces,
            vec![
                (0, LOAD_CHUNK),
                (LOAD_CHUNK, LOAD_CHUNK),
                (2 * LOAD_CHUNK, 8)
            ]
        );
        assert_eq!(chunks(0).count(), 0);
        assert_eq!(chunks(7).collect::<Vec<_>>(), vec![(0, 7)]);
    }

    #[test]
    fn heap_verdicts() {
        let load = HeapLoad {
            planned: 2 * GIB,
            dedicated: 2 * GIB,
        };
        let word = |v: Option<Verification>| v.map(|v| v.word());
        assert_eq!(
            word(heap_verdict(0, load, 2 * GIB, (Some(GIB), Some(3 * GIB)))),
            Some("verified")
        );
        assert_eq!(
            word(heap_verdict(0, load, 2 * GIB, (Some(GIB), Some(GIB)))),
            Some("mismatch")
        );
        assert_eq!(
            word(heap_verdict(0, load, 2 * GIB, (None, None))),
            Some("unverifiable")
        );
        let small = HeapLoad {
            planned: 1 << 20,
            dedicated: 0,
        };
        assert_eq!(
            word(heap_verdict(0, small, 0, (Some(0), Some(0)))),
            Some("unverifiable")
        );
        let empty = HeapLoad::default();
        assert_eq!(
            word(heap_verdict(1, empty, 2 * GIB, (Some(0), Some(0)))),
            None
        );
        assert_eq!(
            word(heap_verdict(1, empty, 2 * GIB, (Some(0), Some(2 * GIB)))),
            Some("mismatch")
        );
        assert_eq!(word(heap_verdict(1, empty, 2 * GIB, (None, None))), None);
    }
}
