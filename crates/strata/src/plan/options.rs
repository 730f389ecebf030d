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
    /// `host` (see [`Tier::chain`](super::Tier::chain)), each spilling to the next placement
    /// when the heap budget or cap of the current one has no room left.
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

/// Byte caps per named placement, to simulate a smaller device (`--vram-limit 8GiB`, ...).
///
/// A cap limits the bytes planned into one placement, on top of the heap budget that all
/// placements of a heap share. `type=N` and `auto` have no cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PlacementCaps {
    /// Cap for `vram`.
    pub vram: Option<u64>,
    /// Cap for `vram-mapped`.
    pub vram_mapped: Option<u64>,
    /// Cap for `host`.
    pub host: Option<u64>,
    /// Cap for `host-cached`.
    pub host_cached: Option<u64>,
}

impl PlacementCaps {
    /// The cap of a placement, if any.
    pub fn get(&self, placement: Placement) -> Option<u64> {
        match placement {
            Placement::Vram => self.vram,
            Placement::VramMapped => self.vram_mapped,
            Placement::Host => self.host,
            Placement::HostCached => self.host_cached,
            _ => None,
        }
    }

    /// Sets the cap of a named placement; returns `false` (and changes nothing) for `type=N`
    /// and `auto`, which cannot be capped.
    pub fn set(&mut self, placement: Placement, bytes: Option<u64>) -> bool {
        let slot = match placement {
            Placement::Vram => &mut self.vram,
            Placement::VramMapped => &mut self.vram_mapped,
            Placement::Host => &mut self.host,
            Placement::HostCached => &mut self.host_cached,
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
    /// Per-placement byte caps.
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
        assert_eq!(caps.get(Placement::Vram), Some(8 << 30));
        assert_eq!(caps.get(Placement::VramMapped), None);
        assert_eq!(caps.get(Placement::Type(1)), None);
    }
}
