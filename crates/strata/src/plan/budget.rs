//! Heap budgets and caps: how many bytes a plan may still put where.
//!
//! Budgets are per heap: `vram` and `vram-mapped` draw on the same heap on RADV APUs and on
//! ReBAR GPUs (the H100, the H200), and every byte planned into either shrinks what is left for
//! both. A heap's usable budget is its `VK_EXT_memory_budget` budget (its size when the table has
//! none), less the safety margin, less what the process already uses there.
//!
//! Caps make a plan behave as on a smaller device (see [`PlacementCaps`]):
//!
//! - the **VRAM cap** shrinks the heaps that `vram` and `vram-mapped` draw on, together, to the
//!   cap (then the margin applies), so a plan spills down the chain to the next heap exactly as
//!   on a device with that much VRAM;
//! - the **host cap** does the same for the heap(s) that `host` and `host-cached` draw on (a
//!   smaller GTT, or the system memory one lets the GPU pin);
//! - the **`vram-mapped` cap** limits one placement, not a heap: the CPU-visible window of a card
//!   without resizable BAR.

use super::options::PlacementCaps;
use crate::placement::{Placement, choose_memory_type};
use crate::table::{MemoryHeap, MemoryTable, human_bytes};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What stops a tensor from fitting: a heap's budget, a heap cap, or the placement's cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "bytes")]
pub enum Limit {
    /// The heap's usable budget (after the safety margin), in bytes.
    HeapBudget(u64),
    /// The VRAM cap (`--vram-limit`), in bytes, shared by the heaps `vram` and `vram-mapped`
    /// draw on; the usable part is the cap less the safety margin and what is in use.
    VramCap(u64),
    /// The host-memory cap (`--host-limit`), in bytes, on the heap(s) `host` and `host-cached`
    /// draw on.
    HostCap(u64),
    /// The placement's own cap (`--vram-mapped-limit`), in bytes.
    Cap(u64),
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::HeapBudget(b) => write!(f, "the heap budget of {}", human_bytes(*b)),
            Limit::VramCap(b) => write!(f, "the VRAM cap of {}", human_bytes(*b)),
            Limit::HostCap(b) => write!(f, "the host-memory cap of {}", human_bytes(*b)),
            Limit::Cap(b) => write!(f, "the placement cap of {}", human_bytes(*b)),
        }
    }
}

/// `safety_margin` (a fraction, clamped to `[0, 1]`) of `base`, rounded up so that the margin
/// is never smaller than asked.
fn margin_of(base: u64, safety_margin: f64) -> u64 {
    // `as` saturates; the margin never exceeds `base` since the fraction is at most 1.
    (base as f64 * safety_margin.clamp(0.0, 1.0)).ceil() as u64
}

/// The bytes a plan may use on `heap`: its reported budget (never more than its size), or its
/// size when the table reports no budget, less `safety_margin` (a fraction in `[0, 1)`) of that
/// figure, rounded so that the margin is never smaller than asked, less what the process already
/// uses there (`heapUsage`, when reported: the budget counts it).
pub fn usable_budget(heap: &MemoryHeap, safety_margin: f64) -> u64 {
    let base = heap.budget.map_or(heap.size, |b| b.min(heap.size));
    base.saturating_sub(margin_of(base, safety_margin))
        .saturating_sub(heap.usage.unwrap_or(0))
}

/// The bytes a plan may use on heaps capped at `cap` together: the cap less the safety margin
/// of it, less what the process already uses on those heaps, as on a device whose heaps are
/// `cap` large.
pub fn usable_cap(cap: u64, heaps: &[&MemoryHeap], safety_margin: f64) -> u64 {
    let usage: u64 = heaps.iter().filter_map(|h| h.usage).sum();
    cap.saturating_sub(margin_of(cap, safety_margin))
        .saturating_sub(usage)
}

/// The heaps the VRAM cap binds: those that `vram` and `vram-mapped` resolve to on `table`.
pub fn vram_heaps(table: &MemoryTable) -> Vec<u32> {
    heaps_of(table, &[Placement::Vram, Placement::VramMapped])
}

/// The heaps the host-memory cap binds: those that `host` and `host-cached` resolve to.
pub fn host_heaps(table: &MemoryTable) -> Vec<u32> {
    heaps_of(table, &[Placement::Host, Placement::HostCached])
}

fn heaps_of(table: &MemoryTable, placements: &[Placement]) -> Vec<u32> {
    let mut heaps: Vec<u32> = placements
        .iter()
        .filter_map(|&p| choose_memory_type(table, p, u32::MAX).ok())
        .map(|choice| choice.heap)
        .collect();
    heaps.sort_unstable();
    heaps.dedup();
    heaps
}

/// A cap on a group of heaps: together they hold at most `usable` bytes.
#[derive(Debug, Clone)]
struct HeapCap {
    /// How the cap is reported (carries the cap as the user gave it).
    limit: Limit,
    heaps: Vec<u32>,
    usable: u64,
}

/// Room left for one placement on one heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Room {
    /// Bytes that still fit.
    pub(crate) free: u64,
    /// Which limit `free` comes from.
    pub(crate) limit: Limit,
}

/// Running totals of a plan in progress.
#[derive(Debug)]
pub(crate) struct Ledger {
    /// Usable budget of each heap: its own, or the usable part of a cap that binds it, whichever
    /// is smaller.
    pub(crate) budgets: Vec<u64>,
    /// Bytes planned on each heap so far.
    pub(crate) planned: Vec<u64>,
    /// Heap caps (VRAM, host).
    heap_caps: Vec<HeapCap>,
    /// The `vram-mapped` cap, and the bytes planned into `vram-mapped` so far.
    vram_mapped_cap: Option<u64>,
    vram_mapped_planned: u64,
}

impl Ledger {
    pub(crate) fn new(table: &MemoryTable, safety_margin: f64, caps: PlacementCaps) -> Self {
        let group = |cap: Option<u64>, heaps: Vec<u32>, limit: fn(u64) -> Limit| {
            let cap = cap?;
            let members: Vec<&MemoryHeap> = heaps
                .iter()
                .filter_map(|&h| table.heaps.get(h as usize))
                .collect();
            Some(HeapCap {
                limit: limit(cap),
                usable: usable_cap(cap, &members, safety_margin),
                heaps,
            })
        };
        let heap_caps: Vec<HeapCap> = [
            group(caps.vram, vram_heaps(table), Limit::VramCap),
            group(caps.host, host_heaps(table), Limit::HostCap),
        ]
        .into_iter()
        .flatten()
        .collect();
        let budgets = table
            .heaps
            .iter()
            .map(|heap| {
                heap_caps
                    .iter()
                    .filter(|cap| cap.heaps.contains(&heap.index))
                    .map(|cap| cap.usable)
                    .fold(usable_budget(heap, safety_margin), u64::min)
            })
            .collect();
        Self {
            budgets,
            planned: vec![0; table.heaps.len()],
            heap_caps,
            vram_mapped_cap: caps.vram_mapped,
            vram_mapped_planned: 0,
        }
    }

    /// The room left for `placement` on `heap`: the smallest of the heap's, its caps' and the
    /// placement's cap's.
    pub(crate) fn room(&self, placement: Placement, heap: u32) -> Room {
        let index = heap as usize;
        let budget = self.budgets.get(index).copied().unwrap_or(0);
        let planned = self.planned.get(index).copied().unwrap_or(0);
        let mut room = Room {
            free: budget.saturating_sub(planned),
            limit: Limit::HeapBudget(budget),
        };
        for cap in self.heap_caps.iter().filter(|c| c.heaps.contains(&heap)) {
            let used: u64 = cap
                .heaps
                .iter()
                .filter_map(|&h| self.planned.get(h as usize))
                .sum();
            let free = cap.usable.saturating_sub(used);
            // A cap that set this heap's budget is the limit that runs out, even when the
            // heap's own arithmetic gives the same figure.
            if free < room.free || (free == room.free && cap.usable == budget) {
                room = Room {
                    free,
                    limit: cap.limit,
                };
            }
        }
        if placement == Placement::VramMapped {
            if let Some(cap) = self.vram_mapped_cap {
                let free = cap.saturating_sub(self.vram_mapped_planned);
                if free < room.free {
                    room = Room {
                        free,
                        limit: Limit::Cap(cap),
                    };
                }
            }
        }
        room
    }

    /// Records `bytes` planned into `placement` on `heap`. The caller checked the room first.
    pub(crate) fn take(&mut self, placement: Placement, heap: u32, bytes: u64) {
        if let Some(planned) = self.planned.get_mut(heap as usize) {
            *planned = planned.saturating_add(bytes);
        }
        if placement == Placement::VramMapped {
            self.vram_mapped_planned = self.vram_mapped_planned.saturating_add(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{HeapFlags, MemoryFlags, MemoryType};

    fn heap(size: u64, budget: Option<u64>) -> MemoryHeap {
        MemoryHeap {
            index: 0,
            size,
            flags: HeapFlags::DEVICE_LOCAL,
            budget,
            usage: None,
        }
    }

    /// A ReBAR GPU: heap 0 VRAM (`vram` type 0, `vram-mapped` type 1), heap 1 system memory
    /// (`host` type 2).
    fn rebar(vram: u64, system: u64) -> MemoryTable {
        use MemoryFlags as F;
        let ty = |index, heap, flags| MemoryType { index, heap, flags };
        MemoryTable {
            heaps: vec![
                MemoryHeap {
                    index: 0,
                    ..heap(vram, None)
                },
                MemoryHeap {
                    index: 1,
                    flags: HeapFlags::NONE,
                    ..heap(system, None)
                },
            ],
            types: vec![
                ty(0, 0, F::DEVICE_LOCAL),
                ty(1, 0, F::DEVICE_LOCAL | F::HOST_VISIBLE | F::HOST_COHERENT),
                ty(2, 1, F::HOST_VISIBLE | F::HOST_COHERENT),
            ],
        }
    }

    #[test]
    fn budget_is_reported_budget_or_size_less_margin() {
        assert_eq!(usable_budget(&heap(1000, None), 0.05), 950);
        assert_eq!(usable_budget(&heap(1000, Some(800)), 0.05), 760);
        assert_eq!(usable_budget(&heap(1000, Some(5000)), 0.0), 1000);
        assert_eq!(usable_budget(&heap(999, None), 0.05), 949);
        assert_eq!(usable_budget(&heap(u64::MAX, None), 0.0), u64::MAX);
        let used = MemoryHeap {
            usage: Some(50),
            ..heap(1000, None)
        };
        assert_eq!(usable_budget(&used, 0.05), 900);
        assert_eq!(usable_cap(400, &[&used], 0.05), 400 - 20 - 50);
    }

    #[test]
    fn placements_on_one_heap_share_it() {
        let table = rebar(1000, 4000);
        let mut ledger = Ledger::new(&table, 0.0, PlacementCaps::default());
        ledger.take(Placement::Vram, 0, 200);
        ledger.take(Placement::VramMapped, 0, 700);
        assert_eq!(ledger.room(Placement::Vram, 0).free, 100);
        assert_eq!(ledger.room(Placement::VramMapped, 0).free, 100);
        assert_eq!(
            ledger.room(Placement::VramMapped, 0).limit,
            Limit::HeapBudget(1000)
        );
        assert_eq!(ledger.room(Placement::Host, 1).free, 4000);
    }

    #[test]
    fn the_vram_cap_shrinks_the_heap_both_device_local_placements_share() {
        let table = rebar(1000, 4000);
        let caps = PlacementCaps {
            vram: Some(400),
            ..PlacementCaps::default()
        };
        let mut ledger = Ledger::new(&table, 0.05, caps);
        // 400 less 5%: the heap of a device with 400 bytes of VRAM.
        assert_eq!(ledger.budgets, vec![380, 3800]);
        assert_eq!(
            ledger.room(Placement::Vram, 0),
            Room {
                free: 380,
                limit: Limit::VramCap(400)
            }
        );
        ledger.take(Placement::Vram, 0, 300);
        let mapped = ledger.room(Placement::VramMapped, 0);
        assert_eq!((mapped.free, mapped.limit), (80, Limit::VramCap(400)));
        // The host heap is untouched by the VRAM cap.
        assert_eq!(ledger.room(Placement::Host, 1).free, 3800);
    }

    #[test]
    fn the_host_cap_binds_the_system_heap_and_the_vram_mapped_cap_one_placement() {
        let table = rebar(1000, 4000);
        let caps = PlacementCaps {
            host: Some(500),
            vram_mapped: Some(100),
            ..PlacementCaps::default()
        };
        let mut ledger = Ledger::new(&table, 0.0, caps);
        assert_eq!(
            ledger.room(Placement::Host, 1),
            Room {
                free: 500,
                limit: Limit::HostCap(500)
            }
        );
        assert_eq!(
            ledger.room(Placement::VramMapped, 0),
            Room {
                free: 100,
                limit: Limit::Cap(100)
            }
        );
        ledger.take(Placement::VramMapped, 0, 100);
        assert_eq!(ledger.room(Placement::VramMapped, 0).free, 0);
        // `vram` on the same heap is limited by the heap only.
        assert_eq!(
            ledger.room(Placement::Vram, 0),
            Room {
                free: 900,
                limit: Limit::HeapBudget(1000)
            }
        );
    }

    #[test]
    fn a_vram_cap_over_two_heaps_binds_their_sum() {
        use MemoryFlags as F;
        // No ReBAR: `vram` on heap 0, `vram-mapped` on a small heap 2 of its own.
        let mut table = rebar(1000, 4000);
        table.heaps.push(MemoryHeap {
            index: 2,
            ..heap(256, None)
        });
        table.types[1].heap = 2;
        table.types.push(MemoryType {
            index: 3,
            heap: 1,
            flags: F::HOST_VISIBLE | F::HOST_COHERENT | F::HOST_CACHED,
        });
        assert_eq!(vram_heaps(&table), vec![0, 2]);
        assert_eq!(host_heaps(&table), vec![1]);
        let caps = PlacementCaps {
            vram: Some(300),
            ..PlacementCaps::default()
        };
        let mut ledger = Ledger::new(&table, 0.0, caps);
        assert_eq!(ledger.budgets, vec![300, 4000, 256]);
        ledger.take(Placement::VramMapped, 2, 200);
        assert_eq!(
            ledger.room(Placement::Vram, 0),
            Room {
                free: 100,
                limit: Limit::VramCap(300)
            }
        );
    }
}
