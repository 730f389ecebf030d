//! Placement: which exact Vulkan memory type a buffer lands in, and the proof that it did.

pub mod meaning;
mod place;
pub mod placed_buffer;
pub mod policy;
pub mod proof;
pub mod request;
pub mod split;
pub(crate) mod staging;
pub(crate) mod staging_ring;
pub mod support;
pub mod tensor;

pub use meaning::describe_memory_type;
pub use placed_buffer::{Fallback, PlaceOptions, PlacedBuffer, PlacementInfo, UploadPath};
pub use policy::{
    MemoryChoice, PolicyError, choose_for_size, choose_memory_type, placements_served_by,
};
pub use proof::{UsageSnapshot, Verification, verify};
pub use request::{FlagRule, Placement, UnknownPlacement, Usage};
pub use split::{PartLimit, row_bytes, split_into_parts};
pub use staging::{READBACK_SLOTS, SLOT_BYTES, UPLOAD_SLOTS};
pub use support::{PlacementFeature, PlacementSupport};
pub use tensor::PlacedTensor;
