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
//! Every item has one path. The root holds [`Context`] and what a first program names: its
//! builder, [`Error`] and [`Result`], the recording types ([`Recording`], [`Replay`], ...), and
//! the vocabulary of the kernel and placement calls ([`MatmulShape`], [`GemmSpec`],
//! [`GemvSpec`], [`KernelDtype`], [`Layout`], [`Placement`], [`Usage`], [`PlacedBuffer`],
//! [`PlacedTensor`], [`PlaceOptions`]). Everything else lives in one module, and only there:
//!
//! | module | what it holds |
//! |---|---|
//! | [`adapter`] | finding and choosing adapters; environment variables; the installed validation layer |
//! | [`validation`] | the validation layer's messages: the one detector, a capturing logger, printed logs |
//! | [`kernels`] | kernel options and results, cooperative-matrix and GEMV settings, per-device tuning |
//! | [`placement`] | placement policy, fallbacks, what a device supports, proof of placement, tensor splitting |
//! | [`plan`] | tiered placement plans, computed without allocating |
//! | [`model`] | safetensors and GGUF files: reading (memory-mapped) and writing |
//! | [`load`] | carrying a plan out: loading a model's tensors where the plan says |
//! | [`checksum`] | block checksums of bytes, computed alike by the CPU and the GPU |
//! | [`table`] | the memory table model: heaps and memory types as plain data |
//! | [`bench`](mod@bench) | the placement benchmark and the decode workload |
//! | [`reference`](mod@reference) | CPU references and comparisons for checking kernels |
//! | [`shaders`] | the WGSL sources of the kernels |
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
pub mod checksum;
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
#[cfg(test)]
mod test_context;
pub use strata_vk::HostMemory;
pub use strata_vk::shaders;
mod transfer;
pub mod validation;

/// The memory table model: heaps and memory types as plain data.
pub mod table {
    pub use strata_vk::table::*;
}

// One path per item (the crate docs above): what the root re-exports, its module does not
// export again; the files inside a public module are private, the module re-exports them.
pub use builder::{ContextBuilder, WANTED_FEATURES};
pub use context::Context;
pub use error::{Error, NO_ADAPTER_HINT, Result};
pub use kernels::dtype::{KernelDtype, Layout};
pub use kernels::gemm::GemmSpec;
pub use kernels::gemv_spec::GemvSpec;
pub use kernels::matmul::MatmulShape;
pub use placement::placed_buffer::{PlaceOptions, PlacedBuffer};
pub use placement::request::{Placement, Usage};
pub use placement::tensor::PlacedTensor;
pub use recording::{
    Access, Clock, KernelSource, OpId, Operand, ReadSlot, Recording, Replay, RunReport, Submission,
    Timing, UserKernel, WriteSlot,
};
pub use transfer::TRANSFER_CHUNK;
pub use wgpu;
