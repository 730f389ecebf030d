//! Tiered placement plans: which memory type every tensor of a model goes to, computed without
//! allocating anything.
//!
//! A plan takes tensors ([`TensorSpec`]), a device's [`MemoryTable`](crate::table::MemoryTable)
//! and [`PlanOptions`] (policy, tier rules, caps, safety margin), and gives a [`Plan`]: for every
//! tensor its [`Tier`], placement, memory type, heap and a one-line explanation, and for every
//! heap its usable budget, planned bytes and headroom. Plans are pure data: they can be printed
//! ([`Plan::render_table`]), serialised ([`Plan::to_report`], the JSON shared with the loader),
//! and tested against recorded tables of devices we do not have.
//!
//! ```
//! use strata::plan::{PlanOptions, TensorSpec, plan};
//! use strata::table::MemoryTable;
//!
//! let table = MemoryTable::from_json(r#"{
//!   "heaps": [{"index": 0, "size": 1073741824, "flags": ["DEVICE_LOCAL"]}],
//!   "types": [{"index": 0, "heap": 0, "flags": ["DEVICE_LOCAL", "HOST_VISIBLE", "HOST_COHERENT"]}]
//! }"#)?;
//! let tensors = [TensorSpec::new("model.embed_tokens.weight", "BF16", [1024, 64], 131072)];
//! let plan = plan(&tensors, &table, &PlanOptions::default())?;
//! assert_eq!(plan.tensors[0].memory_type, 0);
//! assert_eq!(plan.tensors[0].explanation, "critical (default *embed*): vram type 0 heap 0");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod across;
mod budget;
mod bytes;
mod error;
mod options;
mod planner;
mod report;
mod rules;
mod tensor;
mod tier;

pub use across::{DevicePlan, SplitPlan, SplitPolicy, plan_across};
pub use budget::{Limit, host_heaps, usable_budget, usable_cap, vram_heaps};
pub use bytes::{ByteSizeError, parse_bytes};
pub use error::{Attempt, PlanError};
pub use options::{DEFAULT_SAFETY_MARGIN, PlacementCaps, PlanOptions, PlanPolicy, UnknownPolicy};
pub use planner::{HeapPlan, Plan, PlannedTensor, plan};
pub use report::{HeapReport, LoadReport, TensorReport};
pub use rules::{
    Classification, Classifier, DEFAULT_RULES, LAYER_CONTAINERS, RuleError, TierReason, TierRule,
    layer_of,
};
pub use tensor::{TensorSpec, shape_string};
pub use tier::{BULK_CHAIN, CRITICAL_CHAIN, Tier, UnknownTier};
