//! Heap budgets and placement caps: how many bytes a plan may still put where.
//!
//! Budgets are per heap: `vram` and `vram-mapped` draw on the same heap on RADV APUs and on the
//! H100, and every byte planned into either shrinks what is left for both. A heap's usable
//! budget is its `VK_EXT_memory_budget` budget (its size when the table has none), less the
//! safety margin. Caps limit one named placement further.

use super::options::PlacementCaps;
use crate::placement::Placement;
use crate::table::{MemoryHeap, human_bytes};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What stops a tensor from fitting: the heap's budget or the placement's cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "bytes")]
pub enum Limit {
    /// The heap's usable budget (after the safety margin), in bytes.
    HeapBudget(u64),
    /// The placement's cap, in bytes.
    Cap(u64),
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::HeapBudget(b) => write!(f, "the heap budget of {}", human_bytes(*b)),
            Limit::Cap(b) => write!(f, "the placement cap of {}", human_bytes(*b)),
        }
    }
}

/// The bytes a plan may use on `heap`: its reported budget (never more than its size), or its
/// size when the table reports no budget, less `safety_margin` (a fraction in `[0, 1)`) of that
/// figure, rounded so that the margin is never smaller than asked, less what the process already
/// uses there (`heapUsage`, when reported: the budget counts it).
pub fn usable_budget(heap: &MemoryHeap, safety_margin: f64) -> u64 {
    let base = heap.budget.map_or(heap.size, |b| b.min(heap.size));
    let margin = (base as f64 * safety_margin.clamp(0.0, 1.0)).ceil();
    // `as` saturates; the margin never exceeds `base` since the fraction is at most 1.
    base.saturating_sub(margin as u64)
        .saturating_sub(heap.usage.unwrap_or(0))
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
    /// Usable budget of each heap.
    pub(crate) budgets: Vec<u64>,
    /// Bytes planned on each heap so far.
    pub(crate) planned: Vec<u64>,
    caps: PlacementCaps,
    /// Bytes planned per capped placement so far (vram, vram-mapped, host, host-cached).
    by_placement: [u64; 4],
}

fn named_slot(placement: Placement) -> Option<usize> {
    Placement::NAMED.iter().position(|&p| p == placement)
}

impl Ledger {
    pub(crate) fn new(heaps: &[MemoryHeap], safety_margin: f64, caps: PlacementCaps) -> Self {
        Self {
            budgets: heaps
                .iter()
                .map(|h| usable_budget(h, safety_margin))
                .collect(),
            planned: vec![0; heaps.len()],
            caps,
            by_placement: [0; 4],
        }
    }

    /// The room left for `placement` on `heap`: the smaller of the heap's and the cap's.
    pub(crate) fn room(&self, placement: Placement, heap: u32) -> Room {
        let heap = heap as usize;
        let budget = self.budgets.get(heap).copied().unwrap_or(0);
        let planned = self.planned.get(heap).copied().unwrap_or(0);
        let heap_room = Room {
            free: budget.saturating_sub(planned),
            limit: Limit::HeapBudget(budget),
        };
        let cap_room = self.caps.get(placement).and_then(|cap| {
            let used = named_slot(placement).map_or(0, |i| self.by_placement[i]);
            let free = cap.saturating_sub(used);
            (free < heap_room.free).then_some(Room {
                free,
                limit: Limit::Cap(cap),
            })
        });
        cap_room.unwrap_or(heap_room)
    }

    /// Records `bytes` planned into `placement` on `heap`. The caller checked the room first.
    pub(crate) fn take(&mut self, placement: Placement, heap: u32, bytes: u64) {
        if let Some(planned) = self.planned.get_mut(heap as usize) {
            *planned = planned.saturating_add(bytes);
        }
        if let Some(i) = named_slot(placement) {
            self.by_placement[i] = self.by_placement[i].saturating_add(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::HeapFlags;

    fn heap(size: u64, budget: Option<u64>) -> MemoryHeap {
        MemoryHeap {
            index: 0,
            size,
            flags: HeapFlags::DEVICE_LOCAL,
            budget,
            usage: None,
        }
    }

    #[test]
    fn budget_is_reported_budget_or_size_less_margin() {
        assert_eq!(usable_budget(&heap(1000, None), 0.05), 950);
        assert_eq!(usable_budget(&heap(1000, Some(800)), 0.05), 760);
        assert_eq!(usable_budget(&heap(1000, Some(5000)), 0.0), 1000);
        assert_eq!(usable_budget(&heap(999, None), 0.05), 949);
        assert_eq!(usable_budget(&heap(u64::MAX, None), 0.0), u64::MAX);
    }

    #[test]
    fn placements_on_one_heap_share_it_and_caps_bind_one_placement() {
        let caps = PlacementCaps {
            vram: Some(300),
            ..PlacementCaps::default()
        };
        let mut ledger = Ledger::new(&[heap(1000, None)], 0.0, caps);
        assert_eq!(ledger.room(Placement::Vram, 0).free, 300);
        assert_eq!(ledger.room(Placement::Vram, 0).limit, Limit::Cap(300));
        ledger.take(Placement::Vram, 0, 200);
        ledger.take(Placement::VramMapped, 0, 700);
        assert_eq!(ledger.room(Placement::Vram, 0).free, 100);
        assert_eq!(ledger.room(Placement::VramMapped, 0).free, 100);
        assert_eq!(
            ledger.room(Placement::VramMapped, 0).limit,
            Limit::HeapBudget(1000)
        );
        ledger.take(Placement::VramMapped, 0, 50);
        assert_eq!(ledger.room(Placement::Vram, 0).free, 50);
        assert_eq!(
            ledger.room(Placement::Vram, 0).limit,
            Limit::HeapBudget(1000)
        );
    }
}
