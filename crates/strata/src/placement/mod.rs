//! Placement: which exact Vulkan memory type a buffer lands in, and the proof that it did.

pub mod meaning;
pub mod policy;
pub mod request;

pub use meaning::describe_memory_type;
pub use policy::{
    MemoryChoice, PolicyError, choose_for_size, choose_memory_type, placements_served_by,
};
pub use request::{FlagRule, Placement, UnknownPlacement, Usage};
