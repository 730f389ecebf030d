//! Proof of placement: did the bytes land on the heap the placement says?
//!
//! Two witnesses, when the system has them:
//! - `VK_EXT_memory_budget`: the heap's usage before and after the allocation;
//! - Linux amdgpu: `/sys/class/drm/card*/device/mem_info_vram_used` and `mem_info_gtt_used`
//!   (what `rocm-smi --showmeminfo` reads), for the device-local and the other heaps.
//!
//! With no witness (lavapipe, or a driver without the budget extension) the result is
//! `unverifiable`, never `verified`.

use crate::table::{HeapFlags, MemoryTable, human_bytes};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "result")]
pub enum Verification {
    /// A witness saw the intended heap grow by the allocation and no other heap grow as much.
    Verified {
        /// Which witness.
        witness: String,
    },
    /// A witness saw something else.
    Mismatch {
        /// Which witness and what it saw.
        detail: String,
    },
    /// Nothing on this system can tell.
    Unverifiable {
        /// Why.
        reason: String,
    },
}

impl Verification {
    /// `verified`, `mismatch` or `unverifiable`.
    pub fn word(&self) -> &'static str {
        match self {
            Verification::Verified { .. } => "verified",
            Verification::Mismatch { .. } => "mismatch",
            Verification::Unverifiable { .. } => "unverifiable",
        }
    }

    /// The witness, what it saw, or why nothing can tell.
    pub fn detail(&self) -> &str {
        match self {
            Verification::Verified { witness } => witness,
            Verification::Mismatch { detail } => detail,
            Verification::Unverifiable { reason } => reason,
        }
    }
}

/// A snapshot of every witness, taken before and after an allocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageSnapshot {
    /// `heapUsage` per heap (VK_EXT_memory_budget), if reported.
    pub heap_usage: Option<Vec<u64>>,
    /// amdgpu counters, if this is an amdgpu device on Linux.
    pub amdgpu: Option<AmdgpuCounters>,
}

/// The amdgpu driver's own counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AmdgpuCounters {
    /// `mem_info_vram_used`.
    pub vram_used: u64,
    /// `mem_info_gtt_used`.
    pub gtt_used: u64,
}

impl UsageSnapshot {
    /// A snapshot with no witness at all (a device with no Vulkan memory table).
    pub fn empty() -> Self {
        Self {
            heap_usage: None,
            amdgpu: None,
        }
    }

    /// Reads the witnesses now. `pci` is the adapter's PCI vendor and device id.
    pub fn take(table: &MemoryTable, pci: (u32, u32)) -> Self {
        let heap_usage = table
            .has_budget()
            .then(|| table.heaps.iter().map(|h| h.usage.unwrap_or(0)).collect());
        Self {
            heap_usage,
            amdgpu: amdgpu_card(pci).and_then(|dir| read_amdgpu(&dir)),
        }
    }
}

/// How far a heap's growth may differ from allocations of `bytes`: drivers round to pages, and
/// other allocations (wgpu's own) may land at the same time. Loads judge heaps by it too.
pub(crate) fn usage_tolerance(bytes: u64) -> u64 {
    (bytes / 50).max(4 << 20)
}

/// Compares two snapshots for an allocation of `bytes` on `heap`.
///
/// `dedicated` says whether the allocation had its own memory object: a sub-allocation may
/// fit in a block that already existed, so the heap need not move; it is then `unverifiable`.
pub fn verify(
    table: &MemoryTable,
    heap: u32,
    bytes: u64,
    dedicated: bool,
    before: &UsageSnapshot,
    after: &UsageSnapshot,
) -> Verification {
    if !dedicated {
        return Verification::Unverifiable {
            reason: "a sub-allocated buffer shares a memory block; only dedicated allocations move the heap by their size".into(),
        };
    }
    let tol = usage_tolerance(bytes);
    let grew_by = |b: u64, a: u64| a.saturating_sub(b);
    let close = |delta: u64| delta.abs_diff(bytes) <= tol;
    let mut findings = Vec::new();

    if let (Some(b), Some(a)) = (&before.heap_usage, &after.heap_usage) {
        let deltas: Vec<u64> = b.iter().zip(a).map(|(&b, &a)| grew_by(b, a)).collect();
        let target = deltas.get(heap as usize).copied().unwrap_or(0);
        let others_grew = deltas
            .iter()
            .enumerate()
            .any(|(i, &d)| i != heap as usize && d >= bytes / 2);
        if close(target) && !others_grew {
            return Verification::Verified {
                witness: format!(
                    "VK_EXT_memory_budget: heap {heap} usage {} -> {} (+{})",
                    human_bytes(b[heap as usize]),
                    human_bytes(a[heap as usize]),
                    human_bytes(target)
                ),
            };
        }
        findings.push(format!(
            "VK_EXT_memory_budget: heap {heap} grew by {} for an allocation of {}; growth per heap: {}",
            human_bytes(target),
            human_bytes(bytes),
            deltas.iter().map(|&d| human_bytes(d)).collect::<Vec<_>>().join(", ")
        ));
    }

    if let (Some(b), Some(a)) = (before.amdgpu, after.amdgpu) {
        let device_local = table
            .heaps
            .get(heap as usize)
            .is_some_and(|h| h.flags.contains(HeapFlags::DEVICE_LOCAL));
        let (vram, gtt) = (
            grew_by(b.vram_used, a.vram_used),
            grew_by(b.gtt_used, a.gtt_used),
        );
        let (mine, other, name) = if device_local {
            (vram, gtt, "vram")
        } else {
            (gtt, vram, "gtt")
        };
        if close(mine) && other < bytes / 2 {
            return Verification::Verified {
                witness: format!("amdgpu mem_info_{name}_used +{}", human_bytes(mine)),
            };
        }
        findings.push(format!(
            "amdgpu counters: vram +{}, gtt +{} for an allocation of {} meant for {name}",
            human_bytes(vram),
            human_bytes(gtt),
            human_bytes(bytes)
        ));
    }

    if findings.is_empty() {
        Verification::Unverifiable {
            reason: "no witness: the driver reports no heap usage (VK_EXT_memory_budget) and no amdgpu counters exist".into(),
        }
    } else {
        Verification::Mismatch {
            detail: findings.join("; "),
        }
    }
}

/// The sysfs folder of the amdgpu card with this PCI vendor/device id, if any.
fn amdgpu_card((vendor, device): (u32, u32)) -> Option<PathBuf> {
    const AMD: u32 = 0x1002;
    if vendor != AMD {
        return None;
    }
    let entries = std::fs::read_dir("/sys/class/drm").ok()?;
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("device"))
        .find(|dir| {
            read_hex(&dir.join("vendor")) == Some(vendor)
                && read_hex(&dir.join("device")) == Some(device)
                && dir.join("mem_info_vram_used").exists()
        })
}

fn read_hex(path: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(path).ok()?;
    u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

fn read_amdgpu(dir: &Path) -> Option<AmdgpuCounters> {
    let read = |name: &str| -> Option<u64> {
        std::fs::read_to_string(dir.join(name))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    Some(AmdgpuCounters {
        vram_used: read("mem_info_vram_used")?,
        gtt_used: read("mem_info_gtt_used")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{MemoryFlags, MemoryHeap, MemoryType};

    fn table() -> MemoryTable {
        MemoryTable {
            heaps: vec![
                MemoryHeap {
                    index: 0,
                    size: 80 << 30,
                    flags: HeapFlags::DEVICE_LOCAL,
                    budget: Some(79 << 30),
                    usage: Some(0),
                },
                MemoryHeap {
                    index: 1,
                    size: 90 << 30,
                    flags: HeapFlags::NONE,
                    budget: Some(90 << 30),
                    usage: Some(0),
                },
            ],
            types: vec![MemoryType {
                index: 0,
                heap: 0,
                flags: MemoryFlags::DEVICE_LOCAL,
            }],
        }
    }

    fn snap(h0: u64, h1: u64) -> UsageSnapshot {
        UsageSnapshot {
            heap_usage: Some(vec![h0, h1]),
            amdgpu: None,
        }
    }

    #[test]
    fn growth_on_the_intended_heap_verifies() {
        let v = verify(
            &table(),
            0,
            1 << 30,
            true,
            &snap(1 << 20, 0),
            &snap((1 << 30) + (1 << 20), 0),
        );
        assert_eq!(v.word(), "verified", "{v:?}");
    }

    #[test]
    fn growth_on_another_heap_is_a_mismatch() {
        let v = verify(&table(), 0, 1 << 30, true, &snap(0, 0), &snap(0, 1 << 30));
        assert_eq!(v.word(), "mismatch", "{v:?}");
    }

    #[test]
    fn no_witness_is_unverifiable() {
        let none = UsageSnapshot::empty();
        let v = verify(&table(), 0, 1 << 30, true, &none, &none);
        assert_eq!(v.word(), "unverifiable");
    }

    #[test]
    fn amdgpu_counters_are_a_witness() {
        let before = UsageSnapshot {
            heap_usage: None,
            amdgpu: Some(AmdgpuCounters {
                vram_used: 1_100_000_000,
                gtt_used: 0,
            }),
        };
        let after = UsageSnapshot {
            heap_usage: None,
            amdgpu: Some(AmdgpuCounters {
                vram_used: 1_100_000_000 + (1 << 30),
                gtt_used: 0,
            }),
        };
        assert_eq!(
            verify(&table(), 0, 1 << 30, true, &before, &after).word(),
            "verified"
        );
        assert_eq!(
            verify(&table(), 1, 1 << 30, true, &before, &after).word(),
            "mismatch"
        );
    }
}
