//! Strata's native Vulkan layer, and the only crate of Strata with `unsafe` code.
//!
//! It reads a device's memory table and budgets, creates the wgpu device with the memory
//! extensions placement needs, allocates buffers in one exact memory type, maps them, and hands
//! them to wgpu as ordinary [`wgpu::Buffer`]s. Policy (which type to use) lives in `strata`.
//!
//! # Invariants every `unsafe` block here relies on
//!
//! 1. **Handles come from one live device.** Every `ash::Device`/`ash::Instance` used here is a
//!    clone of the handles inside a wgpu device, taken through `wgpu::Device::as_hal`. A
//!    [`VulkanDevice`] holds a `wgpu::Device` clone, so the `VkDevice` outlives everything it made.
//! 2. **wgpu owns a placed buffer's handle; an `Arc` owns its memory.** A placed `vk::Buffer` is
//!    wrapped with `from_raw_externally_owned`: wgpu never destroys it itself and calls our drop
//!    callback once, when `wgpu::Buffer::destroy` is called or when the last handle goes, in both
//!    cases only once no submitted GPU work uses the buffer (wgpu-core 30's `destroy` takes the raw
//!    buffer out at once and schedules it after the buffer's last submission). The callback
//!    destroys only the `vk::Buffer`. Its memory (a dedicated `VkDeviceMemory`, a gpu-allocator
//!    sub-allocation, or a `VkDeviceMemory` that imported anonymous pages Strata mapped) and mapping
//!    belong to a `MemoryCore` that the callback and the [`PlacedAllocation`] hold through an `Arc`;
//!    the last holder frees it, so memory is never freed while the GPU or a mapping can reach it,
//!    nor handed to a neighbour before. Imported pages are unmapped only after the memory that
//!    imported them was freed, and their address goes to nobody but the driver. Before the wrap,
//!    every error path destroys what was made so far.
//! 3. **Mapped memory is reached only through raw copies, and only while it is allocated.** No Rust
//!    reference to mapped memory is ever formed; [`MappedMemory`] copies bytes in or out with
//!    bounds checked against the mapping, and holds the `Arc` of invariant 2, so its pointer is
//!    valid whatever the caller does with the `wgpu::Buffer`. Once the buffer was destroyed, copies
//!    are refused ([`VkError::Destroyed`]: `wgpu::Buffer::as_hal` then returns `None`); a copy that
//!    races `destroy()` lands in memory that is still ours, and its bytes are lost. A host access
//!    that races GPU work on the same bytes gives wrong data, not memory unsafety: ordering host and
//!    GPU access is the caller's job (Strata waits for the GPU before it touches a buffer the GPU
//!    used).
//! 4. **Non-coherent memory is flushed after writes and invalidated before reads**, on ranges
//!    rounded out to `nonCoherentAtomSize` and clamped to the buffer's own bytes. Sub-allocations
//!    of non-coherent types start on an atom and are whole atoms, so a rounded range never reaches
//!    a neighbour (`atoms.rs`).
//! 5. **Structures passed to Vulkan outlive the call**: every `p_next` chain is built from locals
//!    that live until the call returns.
//! 6. **A mapped file is not changed by others while mapped** (see [`file_map`]).
//! 7. **Every loop of Strata's kernels terminates**, so they are compiled without wgpu's
//!    loop-bounding counters (bounds checks stay on). Only [`shaders::KernelText`], which is built
//!    from the sources in `shaders/` and nothing else, reaches [`shaders::create_kernel_module`].
//!    Each loop steps a `u32` index by a constant of at least 1 (checked when parameters are set)
//!    towards a bound that is a constant or a dimension below 2^31 (the host checks each dimension
//!    against the size of the buffer bound for it), so no index wraps and no loop runs forever.
//! 8. **Experimental wgpu features are opted into only for cooperative matrices**, and only
//!    `gemm_coop.wgsl` uses them: each of its cooperative loads reads a 16×16 block that lies
//!    inside a shared-memory tile of its own, and each cooperative store writes either its own
//!    shared staging area or a 16×16 block of C inside the tile it has checked to be inside C
//!    (the host checks C's binding holds M·N elements).

#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod allocation;
mod anonymous_pages;
mod atoms;
#[cfg(feature = "validation-canary")]
mod canary;
mod device;
mod error;
pub mod file_map;
mod host_import;
pub mod loader;
mod mapping;
mod memory;
mod open;
pub mod shaders;
mod shared;
pub mod table;

pub use allocation::{AllocationRequest, HostMemory, PlacedAllocation, UnknownHostMemory};
pub use allocation::{DEDICATED_THRESHOLD, IMPORT_THRESHOLD};
#[cfg(feature = "validation-canary")]
pub use canary::CANARY_VUID;
pub use device::{VulkanDevice, adapter_memory_extensions, adapter_memory_table};
pub use error::VkError;
pub use mapping::{MappedMemory, is_destroyed};
pub use open::{OpenedDevice, experimental_features_for, open_device, open_device_async};
pub use shared::VulkanLimits;

#[cfg(test)]
mod tests {
    /// `docs/ARCHITECTURE.md` carries the invariants above word for word.
    #[test]
    fn architecture_doc_carries_the_invariants() {
        let source = include_str!("lib.rs");
        let doc = include_str!("../../../docs/ARCHITECTURE.md");
        let invariants: Vec<&str> = source
            .lines()
            .skip_while(|line| !line.starts_with("//! # Invariants"))
            .skip(2)
            .take_while(|line| line.starts_with("//!"))
            .map(|line| line.strip_prefix("//! ").unwrap_or(""))
            .collect();
        assert!(
            invariants.len() > 6,
            "the invariants were not found in lib.rs"
        );
        let text = invariants.join("\n");
        assert!(
            doc.contains(&text),
            "the invariants in docs/ARCHITECTURE.md differ from crates/strata-vk/src/lib.rs; copy these over:\n{text}"
        );
    }
}
