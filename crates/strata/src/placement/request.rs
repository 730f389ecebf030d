//! The placement vocabulary: where a buffer should live, named by Vulkan flags.

use crate::table::MemoryFlags;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a buffer is for, which decides what [`Placement::Auto`] picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Usage {
    /// Read by GPU kernels many times (model weights): device-local memory first.
    #[default]
    Weights,
    /// Written by the CPU once, copied by the GPU (upload staging): host-visible, uncached.
    Staging,
    /// Written by the GPU, read by the CPU (read-back): host-visible, cached if possible.
    Readback,
}

/// Where a buffer should live. See the crate docs for the full table.
///
/// | placement | required | avoided | forbidden |
/// |---|---|---|---|
/// | `vram` | DEVICE_LOCAL | HOST_VISIBLE | |
/// | `vram-mapped` | DEVICE_LOCAL, HOST_VISIBLE | HOST_CACHED | |
/// | `host` (`gtt`) | HOST_VISIBLE | HOST_CACHED | DEVICE_LOCAL |
/// | `host-cached` | HOST_VISIBLE, HOST_CACHED | | DEVICE_LOCAL |
/// | `type=N` | exactly memory type N | | |
/// | `auto` | what the [`Usage`] calls for | | |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Placement {
    /// Device-local memory, written through a staging buffer unless it is host-visible too.
    Vram,
    /// Device-local memory the CPU can map (ReBAR/SAM window, CPU-visible VRAM on an APU).
    VramMapped,
    /// Host memory the GPU reads over the bus (AMD GTT, pinned system RAM on NVIDIA).
    Host,
    /// Cached host memory, for read-back.
    HostCached,
    /// Exactly this memory type index (expert override).
    Type(u32),
    /// Whatever the usage calls for.
    Auto(Usage),
}

/// The flag rule one placement stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagRule {
    /// A type must have all of these.
    pub required: MemoryFlags,
    /// A type should have these; more is better (used by `auto`).
    pub preferred: MemoryFlags,
    /// A type should lack these; fewer is better.
    pub avoided: MemoryFlags,
    /// A type must have none of these.
    pub forbidden: MemoryFlags,
}

/// Flags no named placement ever picks: memory a compute buffer cannot use.
pub const UNUSABLE: MemoryFlags = MemoryFlags::PROTECTED.union(MemoryFlags::LAZILY_ALLOCATED);
/// Flags every named placement avoids: AMD's device-coherent types are slow for bulk data.
pub const SLOW: MemoryFlags =
    MemoryFlags::DEVICE_COHERENT_AMD.union(MemoryFlags::DEVICE_UNCACHED_AMD);

impl Placement {
    /// The flag rule, or `None` for `type=N` (which names its type).
    pub fn rule(self) -> Option<FlagRule> {
        use MemoryFlags as F;
        let rule = |required, preferred, avoided, forbidden: MemoryFlags| FlagRule {
            required,
            preferred,
            avoided: avoided | SLOW,
            forbidden: forbidden | UNUSABLE,
        };
        Some(match self {
            Placement::Vram => rule(F::DEVICE_LOCAL, F::NONE, F::HOST_VISIBLE, F::NONE),
            Placement::VramMapped => rule(
                F::DEVICE_LOCAL | F::HOST_VISIBLE,
                F::NONE,
                F::HOST_CACHED,
                F::NONE,
            ),
            Placement::Host => rule(F::HOST_VISIBLE, F::NONE, F::HOST_CACHED, F::DEVICE_LOCAL),
            Placement::HostCached => rule(
                F::HOST_VISIBLE | F::HOST_CACHED,
                F::NONE,
                F::NONE,
                F::DEVICE_LOCAL,
            ),
            Placement::Auto(Usage::Weights) => {
                rule(F::NONE, F::DEVICE_LOCAL, F::HOST_VISIBLE, F::NONE)
            }
            Placement::Auto(Usage::Staging) => rule(
                F::HOST_VISIBLE,
                F::HOST_COHERENT,
                F::HOST_CACHED | F::DEVICE_LOCAL,
                F::NONE,
            ),
            Placement::Auto(Usage::Readback) => rule(
                F::HOST_VISIBLE,
                F::HOST_CACHED | F::HOST_COHERENT,
                F::DEVICE_LOCAL,
                F::NONE,
            ),
            Placement::Type(_) => return None,
        })
    }

    /// The canonical name, as the CLI takes it.
    pub fn name(self) -> String {
        self.to_string()
    }

    /// The named placements, in the order tiered plans and the benchmark use them.
    pub const NAMED: [Placement; 4] = [
        Placement::Vram,
        Placement::VramMapped,
        Placement::Host,
        Placement::HostCached,
    ];
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Placement::Vram => f.write_str("vram"),
            Placement::VramMapped => f.write_str("vram-mapped"),
            Placement::Host => f.write_str("host"),
            Placement::HostCached => f.write_str("host-cached"),
            Placement::Type(n) => write!(f, "type={n}"),
            Placement::Auto(Usage::Weights) => f.write_str("auto"),
            Placement::Auto(Usage::Staging) => f.write_str("auto:staging"),
            Placement::Auto(Usage::Readback) => f.write_str("auto:readback"),
        }
    }
}

/// A placement name that is not in the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown placement `{0}`: expected vram, vram-mapped, host (or gtt), host-cached, type=N or auto"
)]
pub struct UnknownPlacement(pub String);

impl FromStr for Placement {
    type Err = UnknownPlacement;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "vram" => Placement::Vram,
            "vram-mapped" | "vram_mapped" => Placement::VramMapped,
            "host" | "gtt" => Placement::Host,
            "host-cached" | "host_cached" => Placement::HostCached,
            "auto" | "auto:weights" => Placement::Auto(Usage::Weights),
            "auto:staging" => Placement::Auto(Usage::Staging),
            "auto:readback" => Placement::Auto(Usage::Readback),
            other => {
                let n = other
                    .strip_prefix("type=")
                    .and_then(|n| n.parse::<u32>().ok())
                    .filter(|&n| n < 32)
                    .ok_or_else(|| UnknownPlacement(s.to_string()))?;
                Placement::Type(n)
            }
        })
    }
}

impl Serialize for Placement {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Placement {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in [
            Placement::Vram,
            Placement::VramMapped,
            Placement::Host,
            Placement::HostCached,
            Placement::Type(4),
            Placement::Auto(Usage::Weights),
            Placement::Auto(Usage::Staging),
            Placement::Auto(Usage::Readback),
        ] {
            assert_eq!(p.to_string().parse::<Placement>().unwrap(), p);
        }
        assert_eq!("gtt".parse::<Placement>().unwrap(), Placement::Host);
    }

    #[test]
    fn bad_names_are_errors() {
        for bad in ["", "vrma", "type=", "type=-1", "type=32", "type=x"] {
            assert!(bad.parse::<Placement>().is_err(), "{bad}");
        }
    }
}
