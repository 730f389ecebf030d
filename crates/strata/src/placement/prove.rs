//! Placing with proof: every witness read before and after one placement, and the verdict on
//! where it landed, in one call that the CLI, the examples and the tests share.

use super::placed_buffer::{Fallback, PlaceOptions, PlacedBuffer};
use super::proof::{UsageSnapshot, Verification, verify};
use crate::context::Context;
use crate::error::Result;
use crate::table::MemoryTable;

/// A buffer placed by [`Context::place_proved`], with the proof of where it landed.
#[derive(Debug)]
pub struct ProvedPlacement {
    /// The buffer.
    pub buffer: PlacedBuffer,
    /// Placements of the fallback chain skipped before one served, with their reasons.
    pub fallbacks: Vec<Fallback>,
    /// The verdict: `verified` only when a witness saw the buffer's heap grow by its size.
    pub verification: Verification,
    /// The witnesses just before the allocation.
    pub before: UsageSnapshot,
    /// The witnesses just after it.
    pub after: UsageSnapshot,
}

impl ProvedPlacement {
    /// The usage of the buffer's heap before and after (`VK_EXT_memory_budget`), where the
    /// device reports it.
    pub fn heap_usage(&self) -> (Option<u64>, Option<u64>) {
        let Some(heap) = self.buffer.heap() else {
            return (None, None);
        };
        let usage = |s: &UsageSnapshot| {
            s.heap_usage
                .as_ref()
                .and_then(|u| u.get(heap as usize).copied())
        };
        (usage(&self.before), usage(&self.after))
    }
}

impl Context {
    /// Places `bytes` as [`Context::place_with`] does, and proves where the buffer landed:
    /// every witness (heap usage from `VK_EXT_memory_budget`, amdgpu's counters) is read just
    /// before and just after the allocation, and [`verify`] gives the verdict.
    ///
    /// Heap usage is process-wide: another allocation at the same moment (another thread, or
    /// another context in this process) can make the verdict a mismatch. A buffer whose memory
    /// wgpu chose (`auto` off Vulkan) is [`Verification::Unverifiable`].
    ///
    /// ```
    /// use strata::{Context, PlaceOptions, Placement, Usage};
    /// use strata::placement::Verification;
    ///
    /// let ctx = Context::new()?;
    /// let proved = ctx.place_proved(32 << 20, &PlaceOptions::new(Placement::Auto(Usage::Weights)))?;
    /// match &proved.verification {
    ///     Verification::Verified { witness } => println!("landed where asked: {witness}"),
    ///     Verification::Unverifiable { reason } => println!("no witness here: {reason}"),
    ///     Verification::Mismatch { detail } => println!("landed elsewhere: {detail}"),
    /// }
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn place_proved(&self, bytes: u64, options: &PlaceOptions) -> Result<ProvedPlacement> {
        let before = self.usage_snapshot().map(|(_, s)| s);
        let (buffer, fallbacks) = self.place_with(bytes, options)?;
        let after = self.usage_snapshot();
        let (verification, before, after) = match (before, after, buffer.heap()) {
            (Some(before), Some((table, after)), Some(heap)) => {
                let dedicated = buffer.info().dedicated;
                let verification = verify(&table, heap, buffer.bytes(), dedicated, &before, &after);
                (verification, before, after)
            }
            _ => (
                Verification::Unverifiable {
                    reason:
                        "wgpu chose the memory (no Vulkan memory table): there is no heap to watch"
                            .into(),
                },
                UsageSnapshot::empty(),
                UsageSnapshot::empty(),
            ),
        };
        Ok(ProvedPlacement {
            buffer,
            fallbacks,
            verification,
            before,
            after,
        })
    }

    /// The live memory table and every witness now; `None` off Vulkan.
    fn usage_snapshot(&self) -> Option<(MemoryTable, UsageSnapshot)> {
        let table = self.vulkan("proof of placement").ok()?.memory_table();
        let info = self.adapter_info();
        let snapshot = UsageSnapshot::take(&table, (info.vendor, info.device));
        Some((table, snapshot))
    }
}
