//! Non-coherent memory, in whole atoms.
//!
//! Host writes to memory without `HOST_COHERENT` reach the GPU only after
//! `vkFlushMappedMemoryRanges`, and GPU writes reach the host only after
//! `vkInvalidateMappedMemoryRanges`, on ranges whose ends are multiples of `nonCoherentAtomSize`
//! (or the end of the memory object). Rounding a range out to atoms reaches into a neighbour's
//! bytes when two sub-allocations share an atom, and an invalidate there throws away writes the
//! neighbour has not flushed yet. So sub-allocations of non-coherent types start on an atom and
//! are sized in whole atoms ([`suballocation_requirements`]), and every rounded range is clamped
//! to the allocation's own bytes ([`atom_range`]): a flush or invalidate never touches a
//! neighbour.

use crate::error::VkError;
use ash::vk;

/// The bytes of one memory object that a placed buffer owns: `start..end` of a memory object of
/// `memory_size` bytes (a dedicated allocation owns all of it; a sub-allocation a part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OwnedRange {
    /// First byte, as an offset into the memory object.
    pub(crate) start: u64,
    /// One past the last byte.
    pub(crate) end: u64,
    /// Size of the whole memory object, or `u64::MAX` when unknown (a sub-allocation: its
    /// block's size is the allocator's, and its whole atoms never need the clamp to it).
    pub(crate) memory_size: u64,
}

/// What to ask the sub-allocator for, for a buffer with `requirements` in a memory type that is
/// `coherent` or not: unchanged for coherent memory; otherwise aligned to `atom` and rounded up
/// to whole atoms, so that no other allocation shares an atom with this one. `None` when the
/// rounded size overflows.
///
/// Vulkan makes both the buffer's alignment and `nonCoherentAtomSize` powers of two, so their
/// maximum is a valid alignment.
pub(crate) fn suballocation_requirements(
    requirements: vk::MemoryRequirements,
    coherent: bool,
    atom: u64,
) -> Option<vk::MemoryRequirements> {
    if coherent {
        return Some(requirements);
    }
    let atom = atom.max(1);
    Some(vk::MemoryRequirements {
        alignment: requirements.alignment.max(atom),
        size: requirements.size.checked_next_multiple_of(atom)?,
        ..requirements
    })
}

/// The `(offset, size)` to flush or invalidate for `len` bytes at `offset` of the buffer
/// (relative to `owned.start`): rounded out to `atom`, and clamped to the owned bytes. `None`
/// for `len == 0` (nothing to do).
///
/// Errors when the bytes lie outside the owned range, or when the owned range itself is not
/// made of whole atoms (its start a multiple of `atom`; its end a multiple, or the end of the
/// memory object), which [`suballocation_requirements`] and dedicated allocations guarantee.
pub(crate) fn atom_range(
    owned: OwnedRange,
    atom: u64,
    offset: u64,
    len: u64,
) -> Result<Option<(u64, u64)>, VkError> {
    let atom = atom.max(1);
    let misaligned = || VkError::Vulkan {
        call: "vkFlushMappedMemoryRanges",
        result: format!(
            "bytes {}..{} of a memory object of {} are not whole atoms of {atom}",
            owned.start, owned.end, owned.memory_size
        ),
    };
    if !owned.start.is_multiple_of(atom)
        || !(owned.end.is_multiple_of(atom) || owned.end == owned.memory_size)
        || owned.end > owned.memory_size
    {
        return Err(misaligned());
    }
    let owned_len = owned.end - owned.start;
    let end = offset.saturating_add(len);
    if end > owned_len {
        return Err(VkError::OutOfRange {
            offset,
            end,
            len: owned_len,
        });
    }
    if len == 0 {
        return Ok(None);
    }
    let start = owned.start + offset;
    let aligned_start = start - start % atom;
    let aligned_end = (owned.start + end)
        .checked_next_multiple_of(atom)
        .map_or(owned.end, |e| e.min(owned.end));
    Ok(Some((aligned_start, aligned_end - aligned_start)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{MemoryFlags, MemoryTable};

    /// `nonCoherentAtomSize` of the driver the recorded table comes from (Mesa ANV).
    const ANV_ATOM: u64 = 64;

    fn no_llc_table() -> MemoryTable {
        MemoryTable::from_json(include_str!(
            "../../strata/tests/devices/intel-anv-no-llc.json"
        ))
        .expect("the recorded table parses")
    }

    /// A tiny deterministic generator (the test needs no crate for this).
    fn lcg(state: &mut u64) -> u64 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *state >> 33
    }

    /// Packs allocations one after the other in one block, as a linear sub-allocator does:
    /// each at the next offset its alignment allows.
    fn pack(requests: &[vk::MemoryRequirements], block: u64) -> Vec<OwnedRange> {
        let mut next = 0u64;
        requests
            .iter()
            .map(|r| {
                let start = next.next_multiple_of(r.alignment);
                next = start + r.size;
                assert!(next <= block, "the test block is large enough");
                OwnedRange {
                    start,
                    end: next,
                    memory_size: block,
                }
            })
            .collect()
    }

    fn storage_buffer(size: u64, alignment: u64) -> vk::MemoryRequirements {
        vk::MemoryRequirements {
            size,
            alignment,
            memory_type_bits: 0b11,
        }
    }

    #[test]
    fn the_recorded_table_has_a_non_coherent_host_visible_type() {
        let table = no_llc_table();
        let non_coherent: Vec<u32> = table
            .types
            .iter()
            .filter(|t| {
                t.flags.contains(MemoryFlags::HOST_VISIBLE)
                    && !t.flags.contains(MemoryFlags::HOST_COHERENT)
            })
            .map(|t| t.index)
            .collect();
        assert_eq!(non_coherent, vec![0]);
    }

    #[test]
    fn unrounded_neighbours_share_an_atom_which_is_why_we_round() {
        // Without rounding, a 100-byte buffer aligned to 16 ends mid-atom and the next starts
        // in the same atom: rounding the first one's flush out to the atom reaches the second.
        let layout = pack(&[storage_buffer(100, 16), storage_buffer(100, 16)], 1 << 20);
        assert_eq!(layout[0].end / ANV_ATOM, layout[1].start / ANV_ATOM);
    }

    #[test]
    fn flushes_of_non_coherent_suballocations_never_touch_a_neighbour() {
        let table = no_llc_table();
        let mut seed = 2026u64;
        for memory_type in &table.types {
            if !memory_type.flags.contains(MemoryFlags::HOST_VISIBLE) {
                continue;
            }
            let coherent = memory_type.flags.contains(MemoryFlags::HOST_COHERENT);
            // Sizes from a few bytes to a few atoms, alignments 4 to 256 (powers of two).
            let buffers: Vec<u64> = (0..200).map(|_| 1 + lcg(&mut seed) % 700).collect();
            let requests: Vec<vk::MemoryRequirements> = buffers
                .iter()
                .map(|&size| {
                    let alignment = 4u64 << (lcg(&mut seed) % 7);
                    let req = storage_buffer(size.next_multiple_of(4), alignment);
                    suballocation_requirements(req, coherent, ANV_ATOM).expect("no overflow")
                })
                .collect();
            let layout = pack(&requests, 1 << 20);
            if coherent {
                // Coherent memory is never flushed: its requirements are left as they are.
                assert!(
                    requests
                        .iter()
                        .zip(&buffers)
                        .all(|(r, &b)| r.size == b.next_multiple_of(4))
                );
                continue;
            }
            for (i, (&owned, &bytes)) in layout.iter().zip(&buffers).enumerate() {
                assert_eq!(owned.start % ANV_ATOM, 0, "type {}", memory_type.index);
                assert_eq!(owned.end % ANV_ATOM, 0, "type {}", memory_type.index);
                let len = owned.end - owned.start;
                assert!(len >= bytes);
                // Every write the mapping allows: whole buffer, first and last byte, and
                // random slices.
                let mut writes = vec![(0, bytes), (0, 1), (bytes - 1, 1)];
                for _ in 0..16 {
                    let offset = lcg(&mut seed) % bytes;
                    writes.push((offset, 1 + lcg(&mut seed) % (bytes - offset)));
                }
                for (offset, n) in writes {
                    let (start, size) = atom_range(owned, ANV_ATOM, offset, n)
                        .expect("a valid range")
                        .expect("a non-empty range");
                    let end = start + size;
                    // The rounded range covers the bytes written...
                    assert!(start <= owned.start + offset && end >= owned.start + offset + n);
                    // ...in whole atoms (VUID-VkMappedMemoryRange-offset-00687, -size-01390)...
                    assert_eq!(start % ANV_ATOM, 0);
                    assert!(end % ANV_ATOM == 0 || end == owned.memory_size);
                    // ...and stays inside this allocation: no neighbour is touched.
                    assert!(start >= owned.start && end <= owned.end, "allocation {i}");
                    if i + 1 < layout.len() {
                        assert!(end <= layout[i + 1].start);
                    }
                    if i > 0 {
                        assert!(start >= layout[i - 1].end);
                    }
                }
            }
        }
    }

    #[test]
    fn a_dedicated_allocation_clamps_to_the_end_of_its_memory() {
        // A dedicated allocation owns its whole memory object, whose size need not be a
        // multiple of the atom: the last range ends at the object's end, as Vulkan allows.
        let owned = OwnedRange {
            start: 0,
            end: 1000,
            memory_size: 1000,
        };
        assert_eq!(
            atom_range(owned, ANV_ATOM, 990, 10).unwrap(),
            Some((960, 40))
        );
        assert_eq!(atom_range(owned, ANV_ATOM, 0, 1).unwrap(), Some((0, 64)));
        assert_eq!(atom_range(owned, ANV_ATOM, 5, 0).unwrap(), None);
        assert!(matches!(
            atom_range(owned, ANV_ATOM, 990, 11),
            Err(VkError::OutOfRange { .. })
        ));
    }

    #[test]
    fn ranges_that_are_not_whole_atoms_are_refused() {
        let mid_atom = OwnedRange {
            start: 32,
            end: 128,
            memory_size: 4096,
        };
        assert!(atom_range(mid_atom, ANV_ATOM, 0, 4).is_err());
        let ragged_end = OwnedRange {
            start: 64,
            end: 100,
            memory_size: 4096,
        };
        assert!(atom_range(ragged_end, ANV_ATOM, 0, 4).is_err());
    }

    #[test]
    fn rounding_overflow_is_reported() {
        assert!(suballocation_requirements(storage_buffer(u64::MAX - 3, 4), false, 64).is_none());
        let same = suballocation_requirements(storage_buffer(u64::MAX - 3, 4), true, 64);
        assert_eq!(same.map(|r| r.size), Some(u64::MAX - 3));
    }
}
