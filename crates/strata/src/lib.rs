//! # Strata
//!
//! A GPU compute runtime: WGSL kernels (matrix multiply, matrix-vector) on any wgpu backend, and
//! on Vulkan an escape hatch that places each weight buffer in the exact memory type the caller
//! names, as a plain [`wgpu::Buffer`], with proof of where it landed.
#![forbid(unsafe_code)]

pub mod adapter;
mod context;
mod error;
pub mod kernels;
pub mod load;
pub mod model;
pub mod placement;
pub mod plan;
pub mod reference;
pub mod shaders;
mod transfer;

/// The memory table model: heaps and memory types as plain data.
pub mod table {
    pub use strata_vk::table::*;
}

pub use adapter::{AdapterSelector, VALIDATION_ENV};
pub use context::{Context, ContextBuilder, WANTED_FEATURES};
pub use error::{Error, NO_ADAPTER_HINT, Result};
pub use load::{LoadError, LoadOptions, LoadedModel, LoadedTensor};
pub use kernels::{
    Clock, GemmSpec, GemvSpec, KernelDtype, KernelPath, KernelRun, Layout, MatmulConfig, MatmulShape, Operand,
    RunOptions, Timing, Tuning,
};
pub use model::{Dtype, Model, ModelError, TensorInfo};
pub use placement::{
    PlaceOptions, PlacedBuffer, PlacedTensor, Placement, PlacementSupport, Usage, Verification,
};
pub use plan::{Plan, PlanError, PlanOptions, PlanPolicy, TensorSpec, Tier, TierRule};
pub use table::{MemoryFlags, MemoryTable};
pub use transfer::TRANSFER_CHUNK;
pub use wgpu;
