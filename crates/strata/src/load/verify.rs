//! Verification of a load: every tensor compared with the file (read back in bounded chunks,
//! or by checksum), and every heap's usage before and after compared with the plan.

use super::timings::{Clock, Phase};
use super::upload::BorrowedRing;
use super::verify_method::VerifyMethod;
use crate::checksum;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::placement::proof::usage_tolerance;
use crate::placement::{PlacedBuffer, PlacedTensor, Verification};
use crate::table::{MemoryFlags, human_bytes};
use std::collections::VecDeque;
use strata_vk::MappedMemory;

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

/// Read-back slots a verifying load keeps (the context's read-back ring grows to this many):
/// the GPU has up to three chunks' copies queued while the CPU compares a fourth, so the
/// comparison rarely waits for a copy that queued behind the upload's. 128 MiB of host memory.
pub(crate) const LOAD_READBACK_SLOTS: usize = 4;

/// Compares tensors with the file, on a thread of its own while later tensors upload.
///
/// By [`VerifyMethod::Checksum`], the GPU computes a checksum of each part where it lies and
/// the CPU the same checksum of the file's bytes ([`crate::checksum`]). By
/// [`VerifyMethod::Bytes`], a tensor whose bytes were written into a host-cached mapping is compared straight from that
/// mapping. Every other tensor is read back by the GPU into the read-back ring
/// ([`LOAD_READBACK_SLOTS`]: the GPU copies the next chunks while the CPU compares one), in the
/// same queue as its upload, so the read-back sees the uploaded bytes. Comparisons are split
/// across the CPU's threads; host-cached bytes are compared in place
/// ([`MappedMemory::same_as`]), others through a small copy (see [`same_bytes`]).
pub(crate) struct Verifier<'c> {
    ctx: &'c Context,
    clock: &'c Clock,
    ring: Option<BorrowedRing<'c>>,
}

/// Bytes each thread of a comparison takes at once.
const COMPARE_PIECE: usize = 1 << 20;

impl<'c> Verifier<'c> {
    /// A verifier; `ring` is the read-back ring when the load started it (its slots are being
    /// made meanwhile), otherwise it is made when a tensor first needs it.
    pub(crate) fn new(ctx: &'c Context, clock: &'c Clock, ring: Option<BorrowedRing<'c>>) -> Self {
        Self { ctx, clock, ring }
    }

    /// Compares `placed` with `data` (the file's bytes) by `method` (`Bytes` or `Checksum`,
    /// from [`VerifyMethod::for_tensor`]). `staged` says the bytes went through the staging
    /// ring (then `Bytes` reads them back the same way, by the GPU). Calls `on_chunk` with the
    /// bytes of each chunk compared, and may stop it by returning an error (a cancellation).
    /// Stops comparing at the first difference (the rest is reported to `on_chunk` at once).
    pub(crate) fn matches_file<E: From<Error>>(
        &mut self,
        placed: &PlacedTensor,
        data: &[u8],
        staged: bool,
        method: VerifyMethod,
        mut on_chunk: impl FnMut(u64) -> Result<(), E>,
    ) -> Result<bool, E> {
        let mut at = 0usize;
        let mut compared = 0u64;
        for part in placed.parts() {
            let file = data
                .get(at..at + part.bytes() as usize)
                .ok_or_else(|| Error::InvalidArgument("a part beyond the file's bytes".into()))?;
            let same = match part.mapping() {
                _ if method == VerifyMethod::Checksum => {
                    let same = self.compare_checksum(part, file)?;
                    compared += file.len() as u64;
                    on_chunk(file.len() as u64)?;
                    same
                }
                Some(mapping) if !staged && host_cached(part) => {
                    self.compare_mapped(mapping, file, &mut compared, &mut on_chunk)?
                }
                _ => self.compare_read_back(part, file, &mut compared, &mut on_chunk)?,
            };
            if !same {
                on_chunk(placed.bytes().saturating_sub(compared))?;
                return Ok(false);
            }
            at += part.bytes() as usize;
        }
        Ok(compared == data.len() as u64)
    }

    /// Compares the checksum the GPU computes of `part` with the one the CPU computes of
    /// `file`, both at once (the GPU's on a thread of its own, which mostly waits).
    fn compare_checksum(&self, part: &PlacedBuffer, file: &[u8]) -> Result<bool> {
        let (ctx, clock) = (self.ctx, self.clock);
        std::thread::scope(|scope| {
            let on_gpu = scope.spawn(|| {
                clock.time(Phase::VerifyReadback, || {
                    ctx.checksum(part.buffer(), 0, file.len() as u64)
                })
            });
            let on_cpu = clock.time(Phase::VerifyCompare, || checksum::of_bytes(file));
            let on_gpu = on_gpu
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            Ok(on_gpu == on_cpu)
        })
    }

    /// Compares a host-cached mapping with `file`, chunk by chunk.
    fn compare_mapped<E: From<Error>>(
        &self,
        mapping: &MappedMemory,
        file: &[u8],
        compared: &mut u64,
        on_chunk: &mut impl FnMut(u64) -> Result<(), E>,
    ) -> Result<bool, E> {
        for (offset, len) in chunks(file.len() as u64) {
            let expected = &file[offset as usize..(offset + len) as usize];
            let same = self.clock.time(Phase::VerifyCompare, || {
                same_bytes(mapping, offset, expected, true)
            })?;
            *compared += len;
            on_chunk(len)?;
            if !same {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Reads `part` back through the read-back ring and compares it with `file`.
    fn compare_read_back<E: From<Error>>(
        &mut self,
        part: &PlacedBuffer,
        file: &[u8],
        compared: &mut u64,
        on_chunk: &mut impl FnMut(u64) -> Result<(), E>,
    ) -> Result<bool, E> {
        let (ctx, clock) = (self.ctx, self.clock);
        if self.ring.is_none() {
            // Made here, all at once (the scope ends when its slot threads have).
            self.ring = Some(clock.time(Phase::VerifySetup, || {
                std::thread::scope(|scope| BorrowedRing::readback(scope, ctx, LOAD_READBACK_SLOTS))
            })?);
        }
        let ring = self
            .ring
            .as_mut()
            .ok_or_else(|| Error::InvalidArgument("no read-back ring".into()))?
            .ring()?;
        let buffer_size = part.buffer().size();
        let mut in_flight: VecDeque<(usize, u64, u64)> = VecDeque::new();
        let mut pieces = chunks(file.len() as u64).peekable();
        let mut same = true;
        while same && (pieces.peek().is_some() || !in_flight.is_empty()) {
            // Keep every slot busy: submit until the ring is full or the part is done. Fewer
            // chunks in flight than slots in the ring (slots still being made join it as they
            // arrive), so `take` (least recently used first) never hands out a slot whose chunk
            // is still to be compared.
            ring.refresh()?;
            let slots = ring.len().max(1);
            if let Some(&(offset, len)) = pieces.peek().filter(|_| in_flight.len() < slots) {
                pieces.next();
                let taken = ring.take(|pending| ctx.wait_for(pending))?;
                clock.add(Phase::VerifySetup, taken.setup);
                let (index, slot) = (taken.index, taken.slot);
                let copy_len = len.next_multiple_of(4).min(buffer_size - offset);
                let mut encoder = ctx.gpu.device.create_command_encoder(&Default::default());
                encoder.copy_buffer_to_buffer(
                    part.buffer(),
                    offset,
                    slot.buffer.buffer(),
                    0,
                    copy_len,
                );
                slot.pending = Some(ctx.scoped("read-back copy", || {
                    ctx.gpu.queue.submit([encoder.finish()])
                })?);
                in_flight.push_back((index, offset, len));
                continue;
            }
            let Some((index, offset, len)) = in_flight.pop_front() else {
                break;
            };
            let slot = ring.slot_mut(index)?;
            if let Some(pending) = &slot.pending {
                clock.time(Phase::VerifyReadback, || ctx.wait_for(pending.clone()))?;
                slot.pending = None;
            }
            let cached = slot
                .buffer
                .flags()
                .is_some_and(|f| f.contains(MemoryFlags::HOST_CACHED));
            let mapping = slot
                .buffer
                .mapping()
                .ok_or_else(|| Error::InvalidArgument("read-back slot lost its mapping".into()))?;
            let expected = &file[offset as usize..(offset + len) as usize];
            same = clock.time(Phase::VerifyCompare, || {
                same_bytes(mapping, 0, expected, cached)
            })?;
            *compared += len;
            on_chunk(len)?;
        }
        // Copies still in flight after a difference finish on their own; their slots are
        // waited for when next taken.
        Ok(same)
    }
}

/// Whether `part`'s memory is host-visible and host-cached.
pub(crate) fn host_cached(part: &PlacedBuffer) -> bool {
    part.mapping().is_some()
        && part
            .flags()
            .is_some_and(|f| f.contains(MemoryFlags::HOST_CACHED))
}

/// `true` when the mapping's bytes from `offset` equal `expected`, compared in pieces across
/// the CPU's threads, stopping soon after a piece differs.
///
/// `cached` (HOST_CACHED memory) compares each piece in place, each byte of the mapping read
/// once. Other memory (write-combined system memory, a BAR window) is uncached for the CPU:
/// every load from it goes over the bus, so each piece is copied out with `memcpy` (which
/// streams it with the widest loads the CPU has, picked at run time, where the in-place loop is
/// compiled for the baseline target) into a buffer that lives as long as the thread, and
/// compared there, in the cache (no comparison allocates, or faults in fresh pages).
fn same_bytes(mapping: &MappedMemory, offset: u64, expected: &[u8], cached: bool) -> Result<bool> {
    use rayon::prelude::*;
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let pieces = expected.len().div_ceil(COMPARE_PIECE);
    let differs = (0..pieces)
        .into_par_iter()
        .map(|k| -> Result<bool> {
            let start = k * COMPARE_PIECE;
            let end = (start + COMPARE_PIECE).min(expected.len());
            let at = offset + start as u64;
            if cached {
                return Ok(mapping.same_as(at, &expected[start..end])?);
            }
            let compare = |back: &mut [u8]| -> Result<bool> {
                mapping.read(at, back)?;
                Ok(*back == expected[start..end])
            };
            SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
                Ok(mut scratch) => {
                    if scratch.len() < COMPARE_PIECE {
                        scratch.resize(COMPARE_PIECE, 0);
                    }
                    compare(&mut scratch[..end - start])
                }
                // Only if a copy ever ran other pieces on this thread while it waited.
                Err(_) => compare(&mut vec![0u8; end - start]),
            })
        })
        .find_any(|piece| !matches!(piece, Ok(true)));
    match differs {
        None => Ok(true),
        Some(piece) => piece.map(|_| false),
    }
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

/// The verdict on one heap: did its usage move as the load says? `None` when nothing was
/// planned on the heap and it did not grow suspiciously.
///
/// - no usage reported (no `VK_EXT_memory_budget`, as on lavapipe): unverifiable;
/// - nothing in dedicated allocations: unverifiable (sub-allocations may fit in blocks that
///   already existed);
/// - usage grew by at least the dedicated bytes (less a tolerance): verified; otherwise a
///   mismatch;
/// - a heap with nothing planned that grew by half the load's dedicated bytes or more, and by
///   more than `own` (the memory the load takes for itself: its staging and read-back rings, and
///   the blocks wgpu allocates for a verification's small buffers): a mismatch.
pub(crate) fn heap_verdict(
    heap: u32,
    load: HeapLoad,
    all_dedicated: u64,
    own: u64,
    usage: (Option<u64>, Option<u64>),
) -> Option<Verification> {
    let (Some(before), Some(after)) = usage else {
        return (load.planned > 0).then(|| Verification::Unverifiable {
            reason: "the device reports no heap usage (no VK_EXT_memory_budget)".into(),
        });
    };
    let growth = after.saturating_sub(before);
    if load.planned == 0 {
        let suspicious = all_dedicated > 0 && growth > (all_dedicated / 2).max(own);
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
    } else if growth.saturating_add(usage_tolerance(load.dedicated)) >= load.dedicated {
        Verification::Verified { witness: seen }
    } else {
        Verification::Mismatch { detail: seen }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;
    const OWN: u64 = 256 << 20;

    #[test]
    fn mapped_bytes_compare_in_place_and_through_a_copy_alike() {
        use crate::placement::{Placement, Usage};
        let test = "mapped_bytes_compare_in_place_and_through_a_copy_alike";
        let Some(ctx) = crate::test_context::gpu(test) else {
            return;
        };
        let len = 3 * COMPARE_PIECE + 12;
        let Ok(buffer) = ctx.place(len as u64, Placement::Auto(Usage::Readback)) else {
            return;
        };
        let Some(mapping) = buffer.mapping() else {
            return; // a plain wgpu buffer (no Vulkan): nothing mapped to compare
        };
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + i / 4096) as u8).collect();
        mapping.write(0, &bytes).unwrap();
        // The mapping may be a little longer than asked (the buffer rounded up).
        let end = mapping.len();
        assert!(end >= len as u64);
        for cached in [true, false] {
            assert!(same_bytes(mapping, 0, &bytes, cached).unwrap());
            assert!(same_bytes(mapping, 8, &bytes[8..], cached).unwrap());
            for at in [0, COMPARE_PIECE + 5, len - 1] {
                let mut other = bytes.clone();
                other[at] ^= 1;
                assert!(!same_bytes(mapping, 0, &other, cached).unwrap(), "{at}");
            }
            // Past the end of the mapping: a typed error, not a verdict.
            assert!(same_bytes(mapping, end - 8, &bytes, cached).is_err());
        }
        // `same_as` itself: bounds, empty ranges, a difference in the last byte.
        assert!(mapping.same_as(end, &[]).unwrap());
        assert!(matches!(
            mapping.same_as(end + 1, &[]),
            Err(strata_vk::VkError::OutOfRange { .. })
        ));
        assert!(matches!(
            mapping.same_as(u64::MAX, &bytes[..4]),
            Err(strata_vk::VkError::OutOfRange { .. })
        ));
        let mut last = bytes[len - 4..].to_vec();
        assert!(mapping.same_as(len as u64 - 4, &last).unwrap());
        last[3] ^= 0x80;
        assert!(!mapping.same_as(len as u64 - 4, &last).unwrap());
        // Refused once the buffer was destroyed.
        buffer.buffer().destroy();
        assert!(matches!(
            mapping.same_as(0, &bytes[..4]),
            Err(strata_vk::VkError::Destroyed { .. })
        ));
    }

    #[test]
    fn every_method_finds_a_changed_byte_and_passes_equal_bytes() {
        use crate::placement::{PlaceOptions, Placement, Usage};
        let test = "every_method_finds_a_changed_byte_and_passes_equal_bytes";
        let Some(ctx) = crate::test_context::gpu(test) else {
            return;
        };
        let clock = Clock::default();
        let len = 2 * LOAD_CHUNK as usize + 4096 * 3 + 5;
        let data: Vec<u8> = (0..len).map(|i| (i * 31 + i / 4099) as u8).collect();
        let options = PlaceOptions::new(Placement::Auto(Usage::Weights));
        let (placed, _) = ctx.place_tensor(len as u64, 1, &options).unwrap();
        ctx.write_tensor(&placed, &data).unwrap();
        let mut verifier = Verifier::new(&ctx, &clock, None);
        for method in [VerifyMethod::Bytes, VerifyMethod::Checksum] {
            for staged in [false, true] {
                let label = format!("{method} staged={staged}");
                let mut reported = 0u64;
                let same = verifier
                    .matches_file(&placed, &data, staged, method, |bytes| {
                        reported += bytes;
                        Ok::<(), Error>(())
                    })
                    .unwrap();
                assert!(same, "{label}");
                assert_eq!(reported, len as u64, "{label}");
                for at in [0, LOAD_CHUNK as usize + 17, len - 1] {
                    let mut file = data.clone();
                    file[at] ^= 0x01;
                    let same = verifier
                        .matches_file(&placed, &file, staged, method, |_| Ok::<(), Error>(()))
                        .unwrap();
                    assert!(!same, "{label}: a change at {at} passed");
                }
            }
        }
        let phases = clock.phases(0.0);
        assert!(phases.verify_readback > 0.0 && phases.verify_compare > 0.0);
    }

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
            word(heap_verdict(
                0,
                load,
                2 * GIB,
                OWN,
                (Some(GIB), Some(3 * GIB))
            )),
            Some("verified")
        );
        assert_eq!(
            word(heap_verdict(0, load, 2 * GIB, OWN, (Some(GIB), Some(GIB)))),
            Some("mismatch")
        );
        assert_eq!(
            word(heap_verdict(0, load, 2 * GIB, OWN, (None, None))),
            Some("unverifiable")
        );
        let small = HeapLoad {
            planned: 1 << 20,
            dedicated: 0,
        };
        assert_eq!(
            word(heap_verdict(0, small, 0, OWN, (Some(0), Some(0)))),
            Some("unverifiable")
        );
        let empty = HeapLoad::default();
        assert_eq!(
            word(heap_verdict(1, empty, 2 * GIB, OWN, (Some(0), Some(0)))),
            None
        );
        assert_eq!(
            word(heap_verdict(
                1,
                empty,
                2 * GIB,
                OWN,
                (Some(0), Some(2 * GIB))
            )),
            Some("mismatch")
        );
        assert_eq!(
            word(heap_verdict(1, empty, 2 * GIB, OWN, (None, None))),
            None
        );
        // What the load takes for itself does not count against a heap with nothing planned.
        let small_load = 400 << 20;
        let grown = (Some(0), Some(300 << 20));
        assert_eq!(
            word(heap_verdict(1, empty, small_load, OWN, grown)),
            Some("mismatch")
        );
        assert_eq!(
            word(heap_verdict(1, empty, small_load, 320 << 20, grown)),
            None
        );
    }
}
