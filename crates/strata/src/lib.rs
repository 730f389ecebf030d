//! # Strata
//!
//! A GPU compute runtime: WGSL kernels (matrix multiply, matrix-vector) on any wgpu backend, and
//! on Vulkan an escape hatch that places each weight buffer in the exact memory type the caller
//! names, as a plain [`wgpu::Buffer`], with proof of where it landed.
#![forbid(unsafe_code)]

pub mod placement;

/// The memory table model: heaps and memory types as plain data.
pub mod table {
    pub use strata_vk::table::*;
}

pub use placement::{Placement, Usage};
pub use table::{MemoryFlags, MemoryTable};
