//! The Vulkan side of a wgpu device: raw handles, memory table, budgets, limits.

use crate::allocation::{self, AllocationRequest, PlacedAllocation, storage_buffer_type_bits};
use crate::error::VkError;
use crate::host_import;
use crate::shared::{DeviceShared, VulkanLimits};
use crate::table::{HeapFlags, MemoryFlags, MemoryHeap, MemoryTable, MemoryType};
use ash::vk;
use std::ffi::CStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use wgpu_hal::api::Vulkan;

/// The Vulkan handles behind a wgpu device, for placing buffers in exact memory types.
///
/// Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct VulkanDevice {
    inner: Arc<DeviceShared>,
}

impl std::fmt::Debug for VulkanDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VulkanDevice")
            .field("name", &self.inner.device_name)
            .field("memory_budget", &self.inner.has_budget)
            .field("memory_priority", &self.inner.has_priority)
            .field("host_import", &self.inner.host_import.is_some())
            .field("limits", &self.inner.limits)
            .finish()
    }
}

impl VulkanDevice {
    /// What the device's placed buffers share (its raw handles among them).
    #[cfg(feature = "validation-canary")]
    pub(crate) fn shared(&self) -> &DeviceShared {
        &self.inner
    }

    /// The Vulkan side of `device`, or [`VkError::NotVulkan`] when it runs on another backend.
    ///
    /// Works for any wgpu device, also one the application created: placement then uses the
    /// extensions that device has ([`Self::has_memory_budget`], [`Self::has_memory_priority`]).
    pub fn from_wgpu(device: &wgpu::Device) -> Result<Self, VkError> {
        // SAFETY: `as_hal` only borrows the hal device for the guard's lifetime; we clone the ash
        // handles (function tables + raw handles) and keep `device` itself alive in the returned
        // value (invariant 1), so the handles stay valid as long as we use them.
        let hal = unsafe { device.as_hal::<Vulkan>() };
        let Some(hal) = hal else {
            return Err(VkError::NotVulkan {
                backend: format!("{:?}", device.adapter_info().backend),
            });
        };
        let instance = hal.shared_instance().raw_instance().clone();
        let raw = hal.raw_device().clone();
        let physical = hal.raw_physical_device();
        let enabled = hal.enabled_device_extensions();
        let has = |name: &CStr| enabled.contains(&name);
        let has_budget = has(ash::ext::memory_budget::NAME);
        let has_priority = has(ash::ext::memory_priority::NAME);
        let has_host_import = has(ash::ext::external_memory_host::NAME);
        drop(hal);

        let mut maintenance3 = vk::PhysicalDeviceMaintenance3Properties::default();
        let mut host_memory = vk::PhysicalDeviceExternalMemoryHostPropertiesEXT::default();
        let mut props2 = vk::PhysicalDeviceProperties2::default().push_next(&mut maintenance3);
        if has_host_import {
            props2 = props2.push_next(&mut host_memory);
        }
        // SAFETY: `physical` belongs to `instance` (both from the same hal device); `props2` and
        // the structs it chains to (that of an extension only when it is enabled) are locals
        // that outlive the call (invariant 5).
        unsafe { instance.get_physical_device_properties2(physical, &mut props2) };
        let props = props2.properties;
        let limits = VulkanLimits {
            max_allocation_size: maintenance3.max_memory_allocation_size,
            max_storage_buffer_range: u64::from(props.limits.max_storage_buffer_range),
            non_coherent_atom_size: props.limits.non_coherent_atom_size.max(1),
            max_allocation_count: props.limits.max_memory_allocation_count,
        };
        let device_name = props
            .device_name_as_c_str()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();

        let allocator =
            gpu_allocator::vulkan::Allocator::new(&gpu_allocator::vulkan::AllocatorCreateDesc {
                instance: instance.clone(),
                device: raw.clone(),
                physical_device: physical,
                debug_settings: {
                    let mut settings = gpu_allocator::AllocatorDebugSettings::default();
                    settings.log_leaks_on_shutdown = false;
                    settings
                },
                buffer_device_address: false,
                allocation_sizes: gpu_allocator::AllocationSizes::new(64 << 20, 64 << 20),
            })
            .map_err(|e| VkError::Vulkan {
                call: "gpu_allocator::Allocator::new",
                result: e.to_string(),
            })?;

        let memory_types = read_memory_table(&instance, physical, false)
            .types
            .iter()
            .map(|t| t.flags)
            .collect();
        let storage_type_bits = storage_buffer_type_bits(&raw)?;
        let host_import = if has_host_import {
            host_import::probe(
                &instance,
                &raw,
                physical,
                host_memory.min_imported_host_pointer_alignment,
            )
        } else {
            None
        };
        Ok(Self {
            inner: Arc::new(DeviceShared {
                storage_type_bits,
                live_buffers: AtomicU64::new(0),
                live_bytes: AtomicU64::new(0),
                memory_types,
                allocator: Mutex::new(Some(allocator)),
                instance,
                device: raw,
                physical,
                has_budget,
                has_priority,
                host_import,
                limits,
                device_name,
                wgpu_device: device.clone(),
            }),
        })
    }

    /// Allocates a storage buffer of `request.size` bytes in exactly `request.memory_type`,
    /// maps it when the type is host-visible, and wraps it as a `wgpu::Buffer`.
    ///
    /// Refuses sizes over `maxMemoryAllocationSize` ([`VkError::TooLarge`]); splitting large
    /// tensors is the caller's job. Nothing is leaked on any error.
    pub fn allocate(&self, request: &AllocationRequest<'_>) -> Result<PlacedAllocation, VkError> {
        allocation::allocate(&self.inner, request)
    }

    /// `VK_EXT_memory_budget` is enabled: heap budget and usage can be read.
    pub fn has_memory_budget(&self) -> bool {
        self.inner.has_budget
    }

    /// `VK_EXT_memory_priority` is enabled: dedicated allocations carry a priority.
    pub fn has_memory_priority(&self) -> bool {
        self.inner.has_priority
    }

    /// `VK_EXT_external_memory_host` is enabled and placed buffers can be bound to imported host
    /// pages ([`crate::HostMemory::Imported`]).
    pub fn can_import_host_memory(&self) -> bool {
        self.inner.host_import.is_some()
    }

    /// Allocation and binding limits.
    pub fn limits(&self) -> VulkanLimits {
        self.inner.limits
    }

    /// The memory types a placed storage buffer may use (`memoryTypeBits`). Vulkan guarantees
    /// the same bits for every buffer of the same usage, whatever its size.
    pub fn storage_type_bits(&self) -> u32 {
        self.inner.storage_type_bits
    }

    /// Placed buffers whose memory is still allocated, and their total bytes. A buffer counts
    /// until wgpu has released it (after the GPU finished with it), so poll the device first.
    pub fn live_allocations(&self) -> (u64, u64) {
        (
            self.inner.live_buffers.load(Ordering::Acquire),
            self.inner.live_bytes.load(Ordering::Acquire),
        )
    }

    /// The wgpu device these handles belong to.
    pub fn wgpu_device(&self) -> &wgpu::Device {
        &self.inner.wgpu_device
    }

    /// The device's memory table, with budget and usage when `VK_EXT_memory_budget` is enabled.
    pub fn memory_table(&self) -> MemoryTable {
        read_memory_table(
            &self.inner.instance,
            self.inner.physical,
            self.inner.has_budget,
        )
    }
}

/// Reads the memory table of a physical device.
fn read_memory_table(
    instance: &ash::Instance,
    physical: vk::PhysicalDevice,
    with_budget: bool,
) -> MemoryTable {
    let mut budget = vk::PhysicalDeviceMemoryBudgetPropertiesEXT::default();
    let mut props2 = vk::PhysicalDeviceMemoryProperties2::default();
    if with_budget {
        props2 = props2.push_next(&mut budget);
    }
    // SAFETY: `physical` belongs to `instance`; the budget struct is chained only when the
    // extension is supported, and both structs are locals that outlive the call (invariant 5).
    unsafe { instance.get_physical_device_memory_properties2(physical, &mut props2) };
    let props = props2.memory_properties;
    let heap_count = (props.memory_heap_count as usize).min(vk::MAX_MEMORY_HEAPS);
    let type_count = (props.memory_type_count as usize).min(vk::MAX_MEMORY_TYPES);
    let heaps = (0..heap_count)
        .map(|i| MemoryHeap {
            index: i as u32,
            size: props.memory_heaps[i].size,
            flags: HeapFlags::from_bits(props.memory_heaps[i].flags.as_raw()),
            budget: with_budget.then(|| budget.heap_budget[i]),
            usage: with_budget.then(|| budget.heap_usage[i]),
        })
        .collect();
    let types = (0..type_count)
        .map(|i| MemoryType {
            index: i as u32,
            heap: props.memory_types[i].heap_index,
            flags: MemoryFlags::from_bits(props.memory_types[i].property_flags.as_raw()),
        })
        .collect();
    MemoryTable { heaps, types }
}

/// Reads the memory table of a wgpu adapter without creating a device (for `strata info`).
/// `None` when the adapter is not a Vulkan adapter.
pub fn adapter_memory_table(adapter: &wgpu::Adapter) -> Option<MemoryTable> {
    // SAFETY: the guard borrows the hal adapter; we use the instance handle and physical device
    // only inside this function, while `adapter` (and so the instance) is alive.
    let hal = unsafe { adapter.as_hal::<Vulkan>() }?;
    let has_budget = hal
        .physical_device_capabilities()
        .supports_extension(ash::ext::memory_budget::NAME);
    let instance = hal.shared_instance().raw_instance();
    Some(read_memory_table(
        instance,
        hal.raw_physical_device(),
        has_budget,
    ))
}

/// Device extensions of a Vulkan adapter that matter for placement, and whether each is there.
pub fn adapter_memory_extensions(adapter: &wgpu::Adapter) -> Option<Vec<(&'static str, bool)>> {
    // SAFETY: as in `adapter_memory_table`: the hal adapter is only borrowed for this call.
    let hal = unsafe { adapter.as_hal::<Vulkan>() }?;
    Some(
        [
            ("VK_EXT_memory_budget", ash::ext::memory_budget::NAME),
            ("VK_EXT_memory_priority", ash::ext::memory_priority::NAME),
            (
                "VK_EXT_pageable_device_local_memory",
                ash::ext::pageable_device_local_memory::NAME,
            ),
            (
                "VK_EXT_external_memory_host",
                ash::ext::external_memory_host::NAME,
            ),
            (
                "VK_KHR_cooperative_matrix",
                ash::khr::cooperative_matrix::NAME,
            ),
        ]
        .into_iter()
        .map(|(name, ext)| {
            (
                name,
                hal.physical_device_capabilities().supports_extension(ext),
            )
        })
        .collect(),
    )
}
