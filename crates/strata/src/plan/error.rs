//! Why a plan failed, and what each tensor tried on its way down the chain.

use super::budget::Limit;
use super::tier::Tier;
use crate::placement::{Placement, PolicyError};
use crate::table::{TableError, human_bytes};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One placement a tensor tried and could not use, on its way down a tiered chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Attempt {
    /// The device has no memory type for this placement (e.g. `host` on lavapipe).
    Unavailable {
        /// The placement skipped.
        placement: Placement,
    },
    /// The placement's heap budget or cap had too little room left.
    Full {
        /// The placement tried.
        placement: Placement,
        /// The memory type it resolves to.
        memory_type: u32,
        /// That type's heap.
        heap: u32,
        /// Bytes the tensor needs.
        needed: u64,
        /// Bytes that were left.
        free: u64,
        /// The limit that ran out.
        limit: Limit,
    },
}

impl fmt::Display for Attempt {
    /// `host not served by this device`, `vram-mapped heap 1 full (needs 2.00 GiB, 1.10 GiB
    /// left)`, `vram heap 0 full (needs 2.00 GiB, 0.50 GiB left under the VRAM cap of
    /// 16.00 GiB)`, `vram-mapped cap full (needs 2.00 GiB, 0.20 GiB left of 256.00 MiB)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attempt::Unavailable { placement } => {
                write!(f, "{placement} not served by this device")
            }
            Attempt::Full {
                placement,
                heap,
                needed,
                free,
                limit,
                ..
            } => match limit {
                Limit::HeapBudget(_) => write!(
                    f,
                    "{placement} heap {heap} full (needs {}, {} left)",
                    human_bytes(*needed),
                    human_bytes(*free)
                ),
                Limit::VramCap(cap) | Limit::HostCap(cap) => write!(
                    f,
                    "{placement} heap {heap} full (needs {}, {} left under the {} cap of {})",
                    human_bytes(*needed),
                    human_bytes(*free),
                    if matches!(limit, Limit::VramCap(_)) {
                        "VRAM"
                    } else {
                        "host-memory"
                    },
                    human_bytes(*cap)
                ),
                Limit::Cap(cap) => write!(
                    f,
                    "{placement} cap full (needs {}, {} left of {})",
                    human_bytes(*needed),
                    human_bytes(*free),
                    human_bytes(*cap)
                ),
            },
        }
    }
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The memory table contradicts itself.
    #[error("invalid memory table: {0}")]
    Table(#[from] TableError),
    /// The safety margin is not a fraction in `[0, 1)`.
    #[error("safety margin {0} is not a fraction in [0, 1) (0.05 leaves 5% of each heap free)")]
    SafetyMargin(f64),
    /// Two tensors share a name.
    #[error("tensor `{0}` appears more than once")]
    DuplicateTensor(String),
    /// The placement of an `only=` policy is not available on this device.
    #[error(transparent)]
    Placement(#[from] PolicyError),
    /// Under an `only=` policy, a tensor does not fit in the one placement allowed.
    #[error(
        "policy only={placement}: tensor `{tensor}` ({}) does not fit in memory type {memory_type} (heap {heap}): {} left of {limit} with {} already planned; all {tensors} tensor(s) together need {}",
        human_bytes(*bytes), human_bytes(*free), human_bytes(*planned), human_bytes(*total)
    )]
    DoesNotFit {
        /// The first tensor that does not fit.
        tensor: String,
        /// Its size.
        bytes: u64,
        /// The placement of the policy.
        placement: Placement,
        /// The memory type it resolves to.
        memory_type: u32,
        /// That type's heap.
        heap: u32,
        /// Bytes that were left for it.
        free: u64,
        /// The limit that ran out.
        limit: Limit,
        /// Bytes already planned into the placement before this tensor.
        planned: u64,
        /// How many tensors the plan has.
        tensors: usize,
        /// Bytes of all tensors together.
        total: u64,
    },
    /// Under the tiered policy, a tensor fits in no placement of its chain.
    #[error(
        "tensor `{tensor}` ({}, {tier}) fits nowhere on this device: {}",
        human_bytes(*bytes), attempts.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    FitsNowhere {
        /// The tensor.
        tensor: String,
        /// Its size.
        bytes: u64,
        /// Its tier.
        tier: Tier,
        /// Every placement of its chain, and why it could not be used.
        attempts: Vec<Attempt>,
    },
    /// A split across devices cannot be made (see [`plan_across`](super::plan_across)).
    #[error("split across devices: {0}")]
    Split(String),
    /// One device's share of a split plan cannot be planned.
    #[error("device {device}: {source}")]
    OnDevice {
        /// The device's position in the list.
        device: usize,
        /// Why its share failed.
        source: Box<PlanError>,
    },
}
