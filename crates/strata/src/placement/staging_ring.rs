//! The context's staging rings: a few reusable host-visible buffers that uploads to and
//! read-backs from device-only memory go through (the data paths are `staging.rs`).

use super::placed_buffer::PlacedBuffer;
use crate::error::{Error, Result};
use std::sync::{Mutex, MutexGuard};

/// Size of one staging slot.
pub const SLOT_BYTES: u64 = 32 << 20;

/// The context's staging rings, created on first use.
#[derive(Debug, Default)]
pub(crate) struct StagingRings {
    pub(crate) upload: Mutex<Option<Ring>>,
    pub(crate) readback: Mutex<Option<Ring>>,
}

/// Slots used in turn: the CPU fills (or reads) one while the GPU copies the others.
#[derive(Debug)]
pub(crate) struct Ring {
    pub(crate) slots: Vec<Slot>,
    pub(crate) next: usize,
}

/// One staging buffer and the submission that last copied through it.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) buffer: PlacedBuffer,
    pub(crate) pending: Option<wgpu::SubmissionIndex>,
}

impl Ring {
    /// A ring of `buffers`, each a host-visible placed buffer of [`SLOT_BYTES`].
    pub(crate) fn of(buffers: Vec<PlacedBuffer>) -> Self {
        let slots = buffers
            .into_iter()
            .map(|buffer| Slot {
                buffer,
                pending: None,
            })
            .collect();
        Self { slots, next: 0 }
    }

    /// The next slot, after `wait` has waited for the GPU to finish its previous copy.
    pub(crate) fn take(
        &mut self,
        wait: impl FnOnce(wgpu::SubmissionIndex) -> Result<()>,
    ) -> Result<&mut Slot> {
        let index = self.next;
        self.next = (self.next + 1) % self.slots.len().max(1);
        let slot = self
            .slots
            .get_mut(index)
            .ok_or_else(|| Error::InvalidArgument("a staging ring without slots".into()))?;
        if let Some(pending) = slot.pending.take() {
            wait(pending)?;
        }
        Ok(slot)
    }
}

/// Locks one ring, turning a poisoned lock into an error.
pub(crate) fn lock(ring: &Mutex<Option<Ring>>) -> Result<MutexGuard<'_, Option<Ring>>> {
    ring.lock().map_err(|_| Error::Gpu {
        during: "staging".into(),
        message: "the staging ring was poisoned by a panic on another thread".into(),
    })
}

impl StagingRings {
    /// Buffers and bytes the rings hold (they live as long as the context).
    pub(crate) fn footprint(&self) -> (u64, u64) {
        [&self.upload, &self.readback]
            .iter()
            .filter_map(|ring| ring.lock().ok())
            .filter_map(|guard| guard.as_ref().map(|r| r.slots.len() as u64))
            .fold((0, 0), |(n, b), slots| (n + slots, b + slots * SLOT_BYTES))
    }
}
