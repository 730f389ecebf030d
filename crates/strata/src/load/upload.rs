//! How a load writes bytes: a memcpy from the file map into the tensor's mapping, or into a
//! staging slot that the GPU then copies from (the copy engine keeps the bus busy while the CPU
//! fills the next slot).
//!
//! The staging and read-back rings are the context's own (`staging_ring.rs`): a load takes them
//! out for its duration, so no lock is held while it streams and later loads find them made,
//! and puts them back when it ends, whether it succeeded or not. A ring the context does not
//! have yet is made with its slots allocated in parallel (each is host-visible memory that the
//! driver may pin page by page).

use super::options::UploadChoice;
use super::timings::{Clock, Phase};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::placement::staging_ring::{Ring, lock};
use crate::placement::{PlacedBuffer, Placement, SLOT_BYTES, UploadPath, Usage};
use crate::table::MemoryFlags;
use std::sync::Mutex;
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
pub(crate) struct BorrowedRing<'c> {
    home: Option<&'c Mutex<Option<Ring>>>,
    ring: Option<Ring>,
}

impl<'c> BorrowedRing<'c> {
    /// The context's upload ring, made if it has none; or, with `memory`, a ring of the load's
    /// own in that placement.
    pub(crate) fn upload(ctx: &'c Context, memory: Option<Placement>) -> Result<Self> {
        if let Some(placement) = memory {
            let slots = make_slots(ctx, placement, crate::placement::UPLOAD_SLOTS)?;
            return Ok(Self {
                home: None,
                ring: Some(Ring::of(slots)),
            });
        }
        Self::take(
            ctx,
            &ctx.staging.upload,
            Placement::Auto(Usage::Staging),
            crate::placement::UPLOAD_SLOTS,
        )
    }

    /// The context's read-back ring, made if it has none.
    pub(crate) fn readback(ctx: &'c Context) -> Result<Self> {
        Self::take(
            ctx,
            &ctx.staging.readback,
            Placement::Auto(Usage::Readback),
            crate::placement::READBACK_SLOTS,
        )
    }

    fn take(
        ctx: &Context,
        home: &'c Mutex<Option<Ring>>,
        placement: Placement,
        slots: usize,
    ) -> Result<Self> {
        let ring = match lock(home)?.take() {
            Some(ring) => ring,
            None => Ring::of(make_slots(ctx, placement, slots)?),
        };
        Ok(Self {
            home: Some(home),
            ring: Some(ring),
        })
    }

    pub(crate) fn ring(&mut self) -> Result<&mut Ring> {
        self.ring
            .as_mut()
            .ok_or_else(|| Error::InvalidArgument("the load's ring was given back".into()))
    }
}

impl Drop for BorrowedRing<'_> {
    fn drop(&mut self) {
        // Back into the context, unless another thread made a ring of its own meanwhile (then
        // this one is freed once the GPU is done with it).
        let Some(home) = self.home else { return };
        if let (Some(ring), Ok(mut home)) = (self.ring.take(), home.lock()) {
            if home.is_none() {
                *home = Some(ring);
            }
        }
    }
}

/// `count` host-visible slots of [`SLOT_BYTES`] in `placement`, allocated on as many threads.
fn make_slots(ctx: &Context, placement: Placement, count: usize) -> Result<Vec<PlacedBuffer>> {
    let slots: Vec<Result<PlacedBuffer>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .map(|_| scope.spawn(|| ctx.place(SLOT_BYTES, placement)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::InvalidArgument(
                        "a staging allocation panicked".into(),
                    ))
                })
            })
            .collect()
    });
    let slots = slots.into_iter().collect::<Result<Vec<_>>>()?;
    if let Some(slot) = slots.iter().find(|s| s.mapping().is_none()) {
        return Err(Error::InvalidArgument(format!(
            "the staging buffer in {placement} ({}) is not host-visible",
            slot.location()
        )));
    }
    Ok(slots)
}

/// Writes a load's bytes, each chunk by its path, clocking every step.
pub(crate) struct Writer<'c> {
    ctx: &'c Context,
    clock: &'c Clock,
    ring: Option<BorrowedRing<'c>>,
}

impl<'c> Writer<'c> {
    /// A writer; `staging` makes (or takes) the upload ring for loads that need it, in
    /// `memory` when given (see [`super::LoadTuning::staging_memory`]).
    pub(crate) fn new(
        ctx: &'c Context,
        clock: &'c Clock,
        staging: bool,
        memory: Option<Placement>,
    ) -> Result<Self> {
        let ring = if staging {
            Some(clock.time(Phase::StagingSetup, || BorrowedRing::upload(ctx, memory))?)
        } else {
            None
        };
        Ok(Self { ctx, clock, ring })
    }

    /// Writes `data` into `buffer` at `offset` (a multiple of 4; `data` at most
    /// [`SLOT_BYTES`], a multiple of 4 unless it ends the buffer) by `path`.
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
            return self
                .clock
                .time(Phase::Copy, || mapping.write(offset, data))
                .map_err(Error::from);
        }
        if data.len() as u64 > SLOT_BYTES {
            return Err(Error::InvalidArgument(format!(
                "a staged write of {} bytes is larger than a slot",
                data.len()
            )));
        }
        let ctx = self.ctx;
        let clock = self.clock;
        let ring = self
            .ring
            .as_mut()
            .ok_or_else(|| Error::InvalidArgument("a staged write without a ring".into()))?
            .ring()?;
        let waited = Instant::now();
        let slot = ring.take(|pending| ctx.wait_for(pending))?;
        clock.add(Phase::WaitStaging, waited.elapsed());
        let staging = slot
            .buffer
            .mapping()
            .ok_or_else(|| Error::InvalidArgument("staging slot lost its mapping".into()))?;
        clock.time(Phase::Copy, || staging.write(0, data))?;
        let copy_len = (data.len() as u64).next_multiple_of(4);
        let submitted = clock.time(Phase::Submit, || {
            let mut encoder = ctx.gpu.device.create_command_encoder(&Default::default());
            encoder.copy_buffer_to_buffer(
                slot.buffer.buffer(),
                0,
                buffer.buffer(),
                offset,
                copy_len,
            );
            ctx.scoped("staging upload", || {
                ctx.gpu.queue.submit([encoder.finish()])
            })
        })?;
        slot.pending = Some(submitted);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
