//! Tiers: how important a tensor is, and the placement chain each tier walks down.

use crate::placement::Placement;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How important a tensor is to keep close to the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// Read on every step and small or latency-sensitive (embeddings, norms, first and last
    /// layers): VRAM first.
    Critical,
    /// Everything else: the next tier first, so that VRAM stays free for critical tensors.
    Bulk,
}

/// The placements a critical tensor tries, in order: `vram` → `vram-mapped` → `host`.
pub const CRITICAL_CHAIN: &[Placement] = &[Placement::Vram, Placement::VramMapped, Placement::Host];

/// The placements a bulk tensor tries, in order: `vram-mapped` → `vram` → `host`.
///
/// `vram` after `vram-mapped` changes nothing where both share a heap (RADV APUs, ReBAR GPUs
/// such as the H100), and keeps bulk tensors in VRAM on a card whose CPU-visible window is a
/// small heap of its own (no ReBAR) instead of sending them to system memory.
pub const BULK_CHAIN: &[Placement] = &[Placement::VramMapped, Placement::Vram, Placement::Host];

impl Tier {
    /// The spill chain of a tiered plan for this tier: the placements tried in order, the
    /// first one whose heap budget (and cap) still has room for the tensor wins.
    ///
    /// | tier | chain |
    /// |---|---|
    /// | critical | `vram` → `vram-mapped` → `host` |
    /// | bulk | `vram-mapped` → `host` |
    pub fn chain(self) -> &'static [Placement] {
        match self {
            Tier::Critical => CRITICAL_CHAIN,
            Tier::Bulk => BULK_CHAIN,
        }
    }

    /// The tier's name: `critical` or `bulk`.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Critical => "critical",
            Tier::Bulk => "bulk",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A tier name that is neither `critical` nor `bulk`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tier `{0}`: expected critical or bulk")]
pub struct UnknownTier(pub String);

impl FromStr for Tier {
    type Err = UnknownTier;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" => Ok(Tier::Critical),
            "bulk" => Ok(Tier::Bulk),
            _ => Err(UnknownTier(s.trim().to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_parse_and_print() {
        assert_eq!("critical".parse::<Tier>(), Ok(Tier::Critical));
        assert_eq!(" Bulk ".parse::<Tier>(), Ok(Tier::Bulk));
        assert!("hot".parse::<Tier>().is_err());
        assert_eq!(Tier::Critical.to_string(), "critical");
    }

    #[test]
    fn chains_start_where_the_tier_belongs() {
        assert_eq!(Tier::Critical.chain()[0], Placement::Vram);
        assert_eq!(Tier::Bulk.chain()[0], Placement::VramMapped);
        assert_eq!(Tier::Critical.chain().last(), Tier::Bulk.chain().last());
    }
}
