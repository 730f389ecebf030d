//! Placement: which exact Vulkan memory type a buffer lands in, and the proof that it did.

mod meaning;
mod place;
pub(crate) mod placed_buffer;
mod policy;
pub(crate) mod proof;
mod prove;
pub(crate) mod request;
mod split;
pub(crate) mod staging;
pub(crate) mod staging_ring;
mod support;
pub(crate) mod tensor;

pub use meaning::describe_memory_type;
pub use placed_buffer::{Fallback, PlacementInfo, UploadPath};
pub use policy::{
    MemoryChoice, PolicyError, choose_for_size, choose_memory_type, placements_served_by,
};
pub use proof::{AmdgpuCounters, UsageSnapshot, Verification, verify};
pub use prove::ProvedPlacement;
pub use request::{FlagRule, SLOW, UNUSABLE, UnknownPlacement};
pub use split::{PartLimit, row_bytes, split_into_parts};
pub use staging::{READBACK_SLOTS, SLOT_BYTES, UPLOAD_SLOTS};
pub use support::{PlacementFeature, PlacementSupport};
// The placement vocabulary is public at the crate root; these paths are the crate's own.
pub(crate) use placed_buffer::{PlaceOptions, PlacedBuffer};
pub(crate) use request::{Placement, Usage};
pub(crate) use tensor::PlacedTensor;
