//! The state every placed buffer of one device shares: the raw handles, the sub-allocator, the
//! device's fixed properties and the live-allocation counters.

use crate::table::MemoryFlags;
use ash::vk;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

/// Limits of the Vulkan device that decide how buffers are split and mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VulkanLimits {
    /// `maxMemoryAllocationSize` (Vulkan 1.1).
    pub max_allocation_size: u64,
    /// `maxStorageBufferRange`.
    pub max_storage_buffer_range: u64,
    /// `nonCoherentAtomSize`: flush/invalidate granularity of non-coherent memory.
    pub non_coherent_atom_size: u64,
    /// `maxMemoryAllocationCount`.
    pub max_allocation_count: u32,
}

/// What importing host pages needs (`VK_EXT_external_memory_host`).
pub(crate) struct HostImport {
    pub(crate) fns: ash::ext::external_memory_host::Device,
    /// `minImportedHostPointerAlignment`: of the pages' start and of their length.
    pub(crate) alignment: u64,
    /// `memoryTypeBits` of a placed buffer created for imported memory.
    pub(crate) buffer_type_bits: u32,
}

/// Held in an `Arc` by the device handle, by every placed buffer's memory and by their drop
/// callbacks, so it outlives all of them.
pub(crate) struct DeviceShared {
    // Field order matters: the allocator must drop (freeing its blocks) before the wgpu device
    // clone below, which may be the last reference keeping the VkDevice alive.
    pub(crate) allocator: Mutex<Option<gpu_allocator::vulkan::Allocator>>,
    pub(crate) instance: ash::Instance,
    pub(crate) device: ash::Device,
    pub(crate) physical: vk::PhysicalDevice,
    pub(crate) has_budget: bool,
    pub(crate) has_priority: bool,
    /// `VK_EXT_external_memory_host` is enabled and placed buffers can be bound to imported
    /// host pages.
    pub(crate) host_import: Option<HostImport>,
    pub(crate) limits: VulkanLimits,
    /// Flags of each memory type (fixed for the device's life).
    pub(crate) memory_types: Vec<MemoryFlags>,
    /// `memoryTypeBits` of a placed storage buffer (the same for every size, by the spec).
    pub(crate) storage_type_bits: u32,
    /// Placed buffers whose memory is allocated now, and their bytes (for leak checks).
    pub(crate) live_buffers: AtomicU64,
    pub(crate) live_bytes: AtomicU64,
    pub(crate) device_name: String,
    pub(crate) wgpu_device: wgpu::Device,
}

impl Drop for DeviceShared {
    /// Frees the sub-allocator's blocks before the device handle goes (see the field order).
    fn drop(&mut self) {
        if let Ok(mut guard) = self.allocator.lock() {
            guard.take();
        }
    }
}
