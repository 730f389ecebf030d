//! How a load writes bytes: a memcpy from the file map into the tensor's mapping, or into a
//! staging slot that the GPU then copies from (the copy engine keeps the bus busy while the CPU
//! fills the next slot).
//!
//! The staging and read-back rings are the context's own (`staging_ring.rs`): a load takes them
//! out for its duration, so no lock is held while it streams and later loads find them made,
//! and puts them back when it ends, whether it succeeded or not. The slots a ring lacks are
//! made on threads of the load's own from its start, one thread a slot (each is host-visible
//! memory that the driver may pin page by page), beside the allocation of the first tensors:
//! the copy starts as soon as one slot exists, and the others join the ring as they arrive.

use super::options::UploadChoice;
use super::timings::{Clock, Phase};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::placement::staging_ring::{Ring, lock};
use crate::placement::{PlacedBuffer, Placement, SLOT_BYTES, UploadPath, Usage};
use crate::table::MemoryFlags;
use std::sync::Mutex;
use std::thread::Scope;
use std::time::Instant;

/// The path bytes take into memory of these flags (see [`UploadChoice::Auto`]).
pub(crate) fn choose_path(flags: MemoryFlags, choice: UploadChoice, discrete: bool) -> UploadPath {
    let mappable = flags.contains(MemoryFlags::HOST_VISIBLE);
    match choice {
        _ if !mappable => UploadPath::Staging,
        UploadChoice::Staging => UploadPath::Staging,
        UploadChoice::Mapped => UploadPath::Mapped,
        UploadChoice::Auto if discrete && flags.contains(MemoryFlags::DEVICE_LOCAL) => {
            UploadPath::Staging
        }
        UploadChoice::Auto => UploadPath::Mapped,
    }
}

/// One of the context's rings, taken out for a load and put back when it ends (or a ring of
/// the load's own, with no home, freed when it ends).
///
/// Its missing slots are made on threads of the load's scope; when it is dropped it first waits
/// for them, so a ring goes back to the context only with every slot, and a ring one of whose
/// slots could not be made is not kept at all (its slots are freed once the GPU is done with
/// them, and the next use makes a new ring).
pub(crate) struct BorrowedRing<'c> {
    home: Option<&'c Mutex<Option<Ring>>>,
    ring: Option<Ring>,
}

impl<'c> BorrowedRing<'c> {
    /// The context's upload ring, or, with `memory`, a ring of the load's own in that
    /// placement; the slots it lacks are being made on threads of `scope` when it returns.
    pub(crate) fn upload<'scope>(
        scope: &'scope Scope<'scope, '_>,
        ctx: &'c Context,
        memory: Option<Placement>,
    ) -> Result<Self>
    where
        'c: 'scope,
    {
        let slots = crate::placement::UPLOAD_SLOTS;
        match memory {
            Some(placement) => Self::start(scope, ctx, None, placement, slots),
            None => Self::start(
                scope,
                ctx,
                Some(&ctx.staging.upload),
                Placement::Auto(Usage::Staging),
                slots,
            ),
        }
    }

    /// The context's read-back ring with at least `slots` slots: those it lacks (all of them
    /// when the context has none) are being made on threads of `scope` when it returns.
    pub(crate) fn readback<'scope>(
        scope: &'scope Scope<'scope, '_>,
        ctx: &'c Context,
        slots: usize,
    ) -> Result<Self>
    where
        'c: 'scope,
    {
        Self::start(
            scope,
            ctx,
            Some(&ctx.staging.readback),
            Placement::Auto(Usage::Readback),
            slots,
        )
    }

    fn start<'scope>(
        scope: &'scope Scope<'scope, '_>,
        ctx: &'c Context,
        home: Option<&'c Mutex<Option<Ring>>>,
        placement: Placement,
        slots: usize,
    ) -> Result<Self>
    where
        'c: 'scope,
    {
        let taken = match home {
            Some(home) => lock(home)?.take(),
            None => None,
        };
        let mut ring = taken.unwrap_or_else(|| Ring::of(Vec::new()));
        let makers = ring.grow(slots.saturating_sub(ring.planned()))?;
        // From here on the ring is ours: dropped (on any error too) it goes home or is freed.
        let borrowed = Self {
            home,
            ring: Some(ring),
        };
        for maker in makers {
            scope.spawn(move || maker.deliver(make_slot(ctx, placement)));
        }
        Ok(borrowed)
    }

    pub(crate) fn ring(&mut self) -> Result<&mut Ring> {
        self.ring
            .as_mut()
            .ok_or_else(|| Error::InvalidArgument("the load's ring was given back".into()))
    }
}

impl Drop for BorrowedRing<'_> {
    fn drop(&mut self) {
        let Some(mut ring) = self.ring.take() else {
            return;
        };
        // The slots still being made end their threads soon (one allocation each); a ring that
        // lacks one is not kept.
        if ring.finish().is_err() || !ring.is_complete() {
            return;
        }
        // Back into the context, unless another thread made a ring of its own meanwhile (then
        // this one is freed once the GPU is done with it).
        let Some(home) = self.home else { return };
        if let Ok(mut home) = home.lock() {
            if home.is_none() {
                *home = Some(ring);
            }
        }
    }
}

/// One host-visible slot of [`SLOT_BYTES`] in `placement`.
fn make_slot(ctx: &Context, placement: Placement) -> Result<PlacedBuffer> {
    let slot = ctx.place(SLOT_BYTES, placement)?;
    if slot.mapping().is_none() {
        return Err(Error::InvalidArgument(format!(
            "the staging buffer in {placement} ({}) is not host-visible",
            slot.location()
        )));
    }
    Ok(slot)
}

/// Writes a load's bytes, each chunk by its path, clocking every step.
///
/// Staged chunks are packed into the ring's slots: small tensors share a slot and one
/// submission, so a model of many small tensors does not pay a submission each. A slot is
/// submitted when the next chunk needs a slot of its own, and that submission runs beside the
/// next chunk's copy into the new slot (the driver's part of a submission costs a few hundred
/// microseconds on some drivers: that much less copy time per 32 MiB otherwise).
/// [`Writer::flush`] submits the last slot.
pub(crate) struct Writer<'c> {
    ctx: &'c Context,
    clock: &'c Clock,
    ring: Option<BorrowedRing<'c>>,
    /// The slot being filled: copied into, not yet submitted.
    open: Option<OpenSlot>,
}

/// A staging slot holding copied bytes whose GPU copies are not yet submitted.
struct OpenSlot {
    /// The slot's index in the ring.
    slot: usize,
    /// Bytes of the slot in use (a multiple of 4, as a copy's source offset must be).
    filled: u64,
    copies: Vec<SlotCopy>,
}

/// One GPU copy out of an open slot.
struct SlotCopy {
    target: wgpu::Buffer,
    /// Where the bytes go in `target`.
    offset: u64,
    /// Where they lie in the slot.
    from: u64,
    len: u64,
}

impl<'c> Writer<'c> {
    /// A writer; `ring` is the upload ring for loads that stage (being filled with slots
    /// meanwhile: see [`BorrowedRing::upload`]).
    pub(crate) fn new(ctx: &'c Context, clock: &'c Clock, ring: Option<BorrowedRing<'c>>) -> Self {
        Self {
            ctx,
            clock,
            ring,
            open: None,
        }
    }

    /// Writes `data` into `buffer` at `offset` (a multiple of 4; `data` at most
    /// [`SLOT_BYTES`], a multiple of 4 unless it ends the buffer) by `path`. A staged write
    /// reaches the GPU's queue at a later write or at [`Writer::flush`].
    ///
    /// Time spent waiting for the ring's first slot to be made is `staging_setup`; waiting for
    /// a slot's previous GPU copy is `wait_staging`.
    pub(crate) fn write(
        &mut self,
        buffer: &PlacedBuffer,
        offset: u64,
        data: &[u8],
        path: UploadPath,
    ) -> Result<()> {
        if path == UploadPath::Mapped {
            let mapping = buffer.mapping().ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "{} is not host-visible: it has no mapped upload path",
                    buffer.location()
                ))
            })?;
            // Imported pages take four pieces a thread: 5% faster in run 21, where the pool
            // is also faulting in the next tensor's pages. The driver's own memory keeps one
            // piece a thread: four were 3-10% slower there (run 13).
            let imported = buffer.info().host_imported;
            return self
                .clock
                .time(Phase::Copy, || {
                    if imported {
                        mapping.write_balanced(offset, data)
                    } else {
                        mapping.write(offset, data)
                    }
                })
                .map_err(Error::from);
        }
        let len = (data.len() as u64).next_multiple_of(4);
        if len > SLOT_BYTES {
            return Err(Error::InvalidArgument(format!(
                "a staged write of {} bytes is larger than a slot",
                data.len()
            )));
        }
        let (ctx, clock) = (self.ctx, self.clock);
        let ring = ring_of(&mut self.ring)?;
        let target = buffer.buffer().clone();
        // Room left in the open slot: the bytes join it.
        if let Some(open) = self.open.as_mut().filter(|o| o.filled + len <= SLOT_BYTES) {
            let staging = staging_of(&ring.slot(open.slot)?.buffer)?;
            clock.time(Phase::Copy, || staging.write_balanced(open.filled, data))?;
            open.copies.push(SlotCopy {
                target,
                offset,
                from: open.filled,
                len,
            });
            open.filled += len;
            return Ok(());
        }
        // A new slot; the full one is submitted beside the copy into it.
        let mut full = self.open.take();
        let waited = Instant::now();
        let taken = ring.take(|pending| ctx.wait_for(pending))?;
        clock.add(Phase::StagingSetup, taken.setup);
        clock.add(
            Phase::WaitStaging,
            waited.elapsed().saturating_sub(taken.setup),
        );
        let index = taken.index;
        if let Some(stale) = full.take_if(|f| f.slot == index) {
            // A ring of one slot (the others still being made) hands out the full one again:
            // nothing to overlap, and its bytes must reach the GPU before they are overwritten.
            submit(ctx, clock, ring, stale)?;
            let slot = ring.slot_mut(index)?;
            // Forgotten only once known finished, as `Ring::take` does.
            if let Some(pending) = slot.pending.clone() {
                ctx.wait_for(pending)?;
                slot.pending = None;
            }
        }
        let staging = staging_of(&ring.slot(index)?.buffer)?;
        let copy = || clock.time(Phase::Copy, || staging.write_balanced(0, data));
        let copied = match &full {
            Some(full) => {
                let source = ring.slot(full.slot)?.buffer.buffer();
                let (copied, submitted) =
                    rayon::join(copy, || encode_and_submit(ctx, clock, source, full));
                // A submitted slot waits for its copies whatever became of the other half:
                // the ring outlives this load.
                ring.slot_mut(full.slot)?.pending = Some(submitted?);
                copied
            }
            None => copy(),
        };
        copied?;
        self.open = Some(OpenSlot {
            slot: index,
            filled: len,
            copies: vec![SlotCopy {
                target,
                offset,
                from: 0,
                len,
            }],
        });
        Ok(())
    }

    /// Submits the copies of the slot being filled, if any: after this every byte written
    /// so far is on the GPU's queue.
    pub(crate) fn flush(&mut self) -> Result<()> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        submit(self.ctx, self.clock, ring_of(&mut self.ring)?, open)
    }
}

/// The ring a staged write goes through.
fn ring_of<'r>(ring: &'r mut Option<BorrowedRing<'_>>) -> Result<&'r mut Ring> {
    ring.as_mut()
        .ok_or_else(|| Error::InvalidArgument("a staged write without a ring".into()))?
        .ring()
}

/// The mapping of a staging slot.
fn staging_of(slot: &PlacedBuffer) -> Result<&strata_vk::MappedMemory> {
    slot.mapping()
        .ok_or_else(|| Error::InvalidArgument("staging slot lost its mapping".into()))
}

/// Submits `open`'s copies and marks its slot as waiting for them.
fn submit(ctx: &Context, clock: &Clock, ring: &mut Ring, open: OpenSlot) -> Result<()> {
    let slot = ring.slot_mut(open.slot)?;
    let submission = encode_and_submit(ctx, clock, slot.buffer.buffer(), &open)?;
    slot.pending = Some(submission);
    Ok(())
}

/// One submission of every copy out of `open` (whose slot is `source`).
fn encode_and_submit(
    ctx: &Context,
    clock: &Clock,
    source: &wgpu::Buffer,
    open: &OpenSlot,
) -> Result<wgpu::SubmissionIndex> {
    clock.time(Phase::Submit, || {
        let mut encoder = ctx.gpu.device.create_command_encoder(&Default::default());
        for copy in &open.copies {
            encoder.copy_buffer_to_buffer(source, copy.from, &copy.target, copy.offset, copy.len);
        }
        ctx.scoped("staging upload", || {
            ctx.gpu.queue.submit([encoder.finish()])
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A context on a Vulkan device (lavapipe where there is no GPU), or `None` to skip (said
    /// loudly; a failure in CI).
    fn vulkan_context() -> Option<Context> {
        let ctx = crate::test_context::gpu("the staging ring tests")?;
        ctx.vulkan("ring tests").is_ok().then_some(ctx)
    }

    #[test]
    fn borrowed_rings_fill_on_threads_and_go_back_to_the_context_whole() {
        let Some(ctx) = vulkan_context() else { return };
        std::thread::scope(|scope| {
            let mut borrowed = BorrowedRing::readback(scope, &ctx, 3).unwrap();
            let ring = borrowed.ring().unwrap();
            assert_eq!(ring.planned(), 3);
            // The first take waits for a slot, not for the ring.
            let taken = ring.take(|p| ctx.wait_for(p)).unwrap();
            assert!(taken.slot.buffer.mapping().is_some());
            // Out of the context while borrowed.
            assert_eq!(ctx.staging.footprint(), (0, 0));
        });
        assert_eq!(ctx.staging.footprint(), (3, 3 * SLOT_BYTES));
        // Borrowed again for more slots, the same ring grows; for fewer it stays as it is.
        std::thread::scope(|scope| {
            let mut borrowed = BorrowedRing::readback(scope, &ctx, 4).unwrap();
            assert_eq!(borrowed.ring().unwrap().planned(), 4);
        });
        assert_eq!(ctx.staging.footprint(), (4, 4 * SLOT_BYTES));
        std::thread::scope(|scope| {
            let mut borrowed = BorrowedRing::readback(scope, &ctx, 2).unwrap();
            let ring = borrowed.ring().unwrap();
            assert!(ring.is_complete());
            assert_eq!(ring.planned(), 4);
        });
        ctx.wait_idle().unwrap();
        assert_eq!(ctx.live_allocations(), (0, 0), "ring slots are not counted");
    }

    #[test]
    fn a_ring_whose_slots_cannot_be_made_fails_its_take_and_is_not_kept() {
        let Some(ctx) = vulkan_context() else { return };
        // A memory type no device has: every slot fails, with a typed error.
        let bad = Some(Placement::Type(9999));
        std::thread::scope(|scope| {
            let mut borrowed = BorrowedRing::upload(scope, &ctx, bad).unwrap();
            let ring = borrowed.ring().unwrap();
            assert!(ring.take(|p| ctx.wait_for(p)).is_err());
            assert!(!ring.is_complete());
        });
        // The context's own ring was not touched, and nothing is left behind.
        assert_eq!(ctx.staging.footprint(), (0, 0));
        ctx.wait_idle().unwrap();
        let (vk_buffers, _) = ctx.vulkan("ring tests").unwrap().live_allocations();
        assert_eq!(vk_buffers, 0);
        // The context's upload ring, made on threads, serves a staged write afterwards.
        std::thread::scope(|scope| {
            let ring = BorrowedRing::upload(scope, &ctx, None).unwrap();
            let clock = Clock::default();
            let mut writer = Writer::new(&ctx, &clock, Some(ring));
            let target = ctx.place(1 << 20, Placement::Auto(Usage::Staging)).unwrap();
            let bytes: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
            writer
                .write(&target, 0, &bytes, UploadPath::Staging)
                .unwrap();
            writer.flush().unwrap();
            ctx.wait_idle().unwrap();
            assert_eq!(ctx.read_placed(&target, 0, 1 << 20).unwrap(), bytes);
        });
        assert_eq!(
            ctx.staging.footprint(),
            (
                crate::placement::UPLOAD_SLOTS as u64,
                crate::placement::UPLOAD_SLOTS as u64 * SLOT_BYTES
            )
        );
    }

    #[test]
    fn a_ring_of_one_slot_submits_each_full_slot_before_refilling_it() {
        let Some(ctx) = vulkan_context() else { return };
        let slot = make_slot(&ctx, Placement::Auto(Usage::Staging)).unwrap();
        let ring = BorrowedRing {
            home: None,
            ring: Some(Ring::of(vec![slot])),
        };
        let clock = Clock::default();
        let mut writer = Writer::new(&ctx, &clock, Some(ring));
        // Three writes of 20 MiB: each after the first needs the one slot again. Then two
        // small ones that share it.
        let piece = 20usize << 20;
        let total = 3 * piece + 8;
        let target = ctx
            .place(total as u64, Placement::Auto(Usage::Staging))
            .unwrap();
        let bytes: Vec<u8> = (0..total).map(|i| (i % 253) as u8).collect();
        for (at, len) in [
            (0, piece),
            (piece, piece),
            (2 * piece, piece),
            (3 * piece, 4),
            (3 * piece + 4, 4),
        ] {
            writer
                .write(
                    &target,
                    at as u64,
                    &bytes[at..at + len],
                    UploadPath::Staging,
                )
                .unwrap();
        }
        writer.flush().unwrap();
        ctx.wait_idle().unwrap();
        assert!(ctx.read_placed(&target, 0, total as u64).unwrap() == bytes);
    }

    #[test]
    fn paths_follow_the_memory_and_the_device() {
        use MemoryFlags as F;
        let vram = F::DEVICE_LOCAL;
        let bar = F::DEVICE_LOCAL | F::HOST_VISIBLE | F::HOST_COHERENT;
        let host = F::HOST_VISIBLE | F::HOST_COHERENT;
        let (auto, mapped, staging) = (
            UploadChoice::Auto,
            UploadChoice::Mapped,
            UploadChoice::Staging,
        );
        // Memory the CPU cannot map is always staged.
        for choice in [auto, mapped, staging] {
            for discrete in [false, true] {
                assert_eq!(choose_path(vram, choice, discrete), UploadPath::Staging);
            }
        }
        // A discrete GPU's BAR window takes the copy engine; its host memory a memcpy.
        assert_eq!(choose_path(bar, auto, true), UploadPath::Staging);
        assert_eq!(choose_path(host, auto, true), UploadPath::Mapped);
        // On an integrated GPU or a CPU driver, mappings are ordinary memory.
        assert_eq!(choose_path(bar, auto, false), UploadPath::Mapped);
        assert_eq!(choose_path(host, auto, false), UploadPath::Mapped);
        // Forced paths.
        assert_eq!(choose_path(bar, mapped, true), UploadPath::Mapped);
        assert_eq!(choose_path(host, staging, false), UploadPath::Staging);
    }
}
