//! # Strata
//!
//! A GPU compute runtime: WGSL kernels (matrix multiply, matrix-vector) on any wgpu backend, and
//! on Vulkan an escape hatch that places each weight buffer in the exact memory type the caller
//! names, as a plain [`wgpu::Buffer`], with proof of where it landed.
//!
//! Everything starts from a [`Context`]: create one ([`Context::new`], or
//! [`Context::new_async`]), or wrap a wgpu device you already have ([`Context::from_wgpu`]).
//!
//! ```
//! use strata::{Context, MatmulShape};
//!
//! let ctx = Context::new()?; // the best adapter; Mesa's lavapipe when there is no GPU
//! let a = ctx.upload(&[1.0f32, 2.0, 3.0, 4.0])?; // 2x2, row-major
//! let b = ctx.upload(&[5.0f32, 6.0, 7.0, 8.0])?;
//! let c = ctx.create_storage_buffer(16, "c")?;
//! ctx.matmul(&a, &b, &c, MatmulShape { m: 2, n: 2, k: 2 })?;
//! assert_eq!(ctx.read_back::<f32>(&c, 4)?, [19.0, 22.0, 43.0, 50.0]);
//! # Ok::<(), strata::Error>(())
//! ```
//!
//! Placing a buffer in an exact memory type, writing it and reading it back (on Vulkan; other
//! backends serve only [`Placement::Auto`] and return [`Error::NeedsVulkan`] for the rest):
//!
//! ```
//! use strata::{Context, Placement};
//!
//! let ctx = Context::new()?;
//! let data: Vec<u8> = (0..=255).collect();
//! let placed = ctx.place(data.len() as u64, Placement::Vram)?;
//! ctx.write_placed(&placed, 0, &data)?;
//! assert_eq!(ctx.read_placed(&placed, 0, placed.bytes())?, data);
//! if let (Some(memory_type), Some(heap)) = (placed.memory_type(), placed.heap()) {
//!     println!("vram: memory type {memory_type}, heap {heap}");
//! }
//! # Ok::<(), strata::Error>(())
//! ```
//!
//! | module | what it holds |
//! |---|---|
//! | [`adapter`] | finding and choosing adapters; environment variables |
//! | [`Recording`] | many ops in one submission: Strata's kernels, your own WGSL kernels, copies, writes, reads; replayed with new data |
//! | [`kernels`] | GEMM, GEMV and matmul on any buffers, per-device tuning |
//! | [`placement`] | the placement vocabulary, placed buffers and tensors, proof of placement |
//! | [`plan`] | tiered placement plans, computed without allocating |
//! | [`model`] | safetensors files: reading (memory-mapped) and writing |
//! | [`load`] | carrying a plan out: loading a model's tensors where the plan says |
//! | [`table`] | the memory table model: heaps and memory types as plain data |
//! | [`reference`](mod@reference) | CPU references for checking kernels |
//!
//! `docs/ARCHITECTURE.md` describes the layers, the data paths and the unsafe invariants;
//! `examples/` holds complete programs.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// The README's code blocks, compiled and run as doctests so that they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

pub mod adapter;
pub mod bench;
mod builder;
mod context;
mod error;
mod gpu;
pub mod kernels;
pub mod load;
pub mod model;
mod pipeline;
pub mod placement;
pub mod plan;
mod recording;
pub mod reference;
pub use strata_vk::shaders;
mod transfer;

/// The memory table model: heaps and memory types as plain data.
pub mod table {
    pub use strata_vk::table::*;
}

pub use adapter::{AdapterSelector, VALIDATION_ENV};
pub use builder::{ContextBuilder, WANTED_FEATURES};
pub use context::Context;
pub use error::{Error, NO_ADAPTER_HINT, Result};
pub use kernels::{
    GemmSpec, GemvSpec, KernelDtype, KernelPath, KernelRun, Layout, MatmulConfig, MatmulShape,
    RunOptions, Tuning,
};
pub use load::{LoadError, LoadOptions, LoadedModel, LoadedTensor};
pub use model::{Dtype, GgmlType, Model, ModelError, TensorInfo, TensorType};
pub use placement::{
    PlaceOptions, PlacedBuffer, PlacedTensor, Placement, PlacementSupport, Usage, Verification,
};
pub use plan::{Plan, PlanError, PlanOptions, PlanPolicy, TensorSpec, Tier, TierRule};
pub use recording::{
    Access, Clock, KernelSource, OpId, Operand, ReadSlot, Recording, Replay, RunReport, Submission,
    Timing, UserKernel, WriteSlot,
};
pub use table::{MemoryFlags, MemoryTable};
pub use transfer::TRANSFER_CHUNK;
pub use wgpu;
