//! What a plan is asked to do: the policy, the tier rules, caps and the safety margin.

use super::rules::TierRule;
use crate::placement::Placement;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How tensors are spread over placements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PlanPolicy {
    /// Critical tensors walk `vram` → `vram-mapped` → `host`, bulk tensors `vram-mapped` →
    /// `vram` → `host` (see [`Tier::chain`](super::Tier::chain)), each spilling to the next
    /// placement when the heap budget or cap of the current one has no room left.
    #[default]
    Tiered,
    /// Every tensor in this one placement, or an error naming the first tensor that does not fit.
    Only(Placement),
}

/// A policy string that is not `tiered` or `only=PLACEMENT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown plan policy `{0}`: expected `tiered` or `only=PLACEMENT` (only=vram, only=vram-mapped, only=host, only=host-cached, only=type=N, only=auto)"
)]
pub struct UnknownPolicy(pub String);

impl FromStr for PlanPolicy {
    type Err = UnknownPolicy;
    /// Parses `tiered`, `only=vram`, `only=host`, `only=type=4`, ...
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if trimmed.eq_ignore_ascii_case("tiered") {
            return Ok(PlanPolicy::Tiered);
        }
        trimmed
            .split_once('=')
            .filter(|(head, _)| head.trim().eq_ignore_ascii_case("only"))
            .and_then(|(_, placement)| placement.parse::<Placement>().ok())
            .map(PlanPolicy::Only)
            .ok_or_else(|| UnknownPolicy(trimmed.to_string()))
    }
}

impl fmt::Display for PlanPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanPolicy::Tiered => f.write_str("tiered"),
            PlanPolicy::Only(p) => write!(f, "only={p}"),
        }
    }
}

impl Serialize for PlanPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PlanPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Caps that make a plan behave as on a smaller device (`--vram-limit 16GiB`, ...).
///
/// - `vram` caps **the VRAM heap(s)**: the heaps that `vram` and `vram-mapped` resolve to hold
///   at most this many bytes together, less the safety margin, as on a device with that much
///   VRAM. Both placements share the capped budget, and what does not fit spills down the tier
///   chain to the next heap (`host`: system memory, GTT on an APU).
/// - `host` caps the heap(s) that `host` and `host-cached` resolve to the same way: a smaller
///   GTT on an APU, or the system memory one lets the GPU pin on a discrete card.
/// - `vram_mapped` caps one placement, not a heap: the bytes planned into `vram-mapped`, as on a
///   card without resizable BAR, whose CPU-visible window is about 256 MiB (bulk tensors then go
///   to `vram`, as they would there).
///
/// `vram` and `host` caps never raise a heap's budget: a cap above what the heap has changes
/// nothing. `type=N`, `host-cached` and `auto` have no placement cap of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PlacementCaps {
    /// Cap of the VRAM heap(s), shared by `vram` and `vram-mapped`.
    pub vram: Option<u64>,
    /// Cap of the `vram-mapped` placement alone.
    pub vram_mapped: Option<u64>,
    /// Cap of the host-memory heap(s), shared by `host` and `host-cached`.
    pub host: Option<u64>,
}

impl PlacementCaps {
    /// The cap named after a placement (`vram`, `vram-mapped`, `host`), if any. Every byte
    /// planned into that placement counts against it, so it bounds the bytes there.
    pub fn get(&self, placement: Placement) -> Option<u64> {
        match placement {
            Placement::Vram => self.vram,
            Placement::VramMapped => self.vram_mapped,
            Placement::Host => self.host,
            _ => None,
        }
    }

    /// Sets the cap named after a placement; returns `false` (and changes nothing) for
    /// placements that have none (`host-cached`, `type=N`, `auto`).
    pub fn set(&mut self, placement: Placement, bytes: Option<u64>) -> bool {
        let slot = match placement {
            Placement::Vram => &mut self.vram,
            Placement::VramMapped => &mut self.vram_mapped,
            Placement::Host => &mut self.host,
            _ => return false,
        };
        *slot = bytes;
        true
    }
}

/// The default safety margin: 5% of each heap's budget is left unplanned.
pub const DEFAULT_SAFETY_MARGIN: f64 = 0.05;

/// Everything a plan takes besides the tensors and the memory table.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOptions {
    /// How tensors are spread over placements.
    pub policy: PlanPolicy,
    /// The user's tier rules, tried first, in order (first match wins).
    pub rules: Vec<TierRule>,
    /// Whether the default rules (embeddings, norms, output head, first and last layer) apply
    /// after the user's.
    pub default_rules: bool,
    /// Caps that simulate a smaller device: the VRAM heap, the host heap, the `vram-mapped`
    /// window.
    pub caps: PlacementCaps,
    /// Fraction of each heap's budget left unplanned, in `[0, 1)`; default
    /// [`DEFAULT_SAFETY_MARGIN`].
    pub safety_margin: f64,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            policy: PlanPolicy::Tiered,
            rules: Vec::new(),
            default_rules: true,
            caps: PlacementCaps::default(),
            safety_margin: DEFAULT_SAFETY_MARGIN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_print() {
        let cases = [
            ("tiered", PlanPolicy::Tiered),
            ("only=vram", PlanPolicy::Only(Placement::Vram)),
            ("only=host", PlanPolicy::Only(Placement::Host)),
            ("only=gtt", PlanPolicy::Only(Placement::Host)),
            ("only=vram-mapped", PlanPolicy::Only(Placement::VramMapped)),
            ("only=type=4", PlanPolicy::Only(Placement::Type(4))),
        ];
        for (text, policy) in cases {
            assert_eq!(text.parse::<PlanPolicy>(), Ok(policy), "{text}");
        }
        assert_eq!(
            PlanPolicy::Only(Placement::Type(4)).to_string(),
            "only=type=4"
        );
        for bad in [
            "",
            "vram",
            "only=",
            "only=fast",
            "some=vram",
            "only=type=99",
        ] {
            assert!(bad.parse::<PlanPolicy>().is_err(), "{bad}");
        }
    }

    #[test]
    fn caps_are_per_named_placement() {
        let mut caps = PlacementCaps::default();
        assert!(caps.set(Placement::Vram, Some(8 << 30)));
        assert!(!caps.set(Placement::Type(1), Some(1)));
        assert!(!caps.set(Placement::HostCached, Some(1)));
        assert_eq!(caps.get(Placement::Vram), Some(8 << 30));
        assert_eq!(caps.get(Placement::VramMapped), None);
        assert_eq!(caps.get(Placement::Type(1)), None);
    }
}
