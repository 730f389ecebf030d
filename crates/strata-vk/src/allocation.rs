//! Buffers allocated in one exact memory type and handed to wgpu.
//!
//! Large buffers get a dedicated `VkDeviceMemory` (with a priority when `VK_EXT_memory_priority`
//! is on); small ones are sub-allocated from shared blocks of the same type by gpu-allocator,
//! forced to that type through `memoryTypeBits`, so thousands of tensors stay far below the
//! driver's allocation-count limit. Sub-allocations of non-coherent types are whole
//! `nonCoherentAtomSize` atoms (see [`crate::atoms`]).
//!
//! The memory and its mapping are owned by a [`MemoryCore`] that the buffer's drop callback and
//! the returned [`PlacedAllocation`] share (invariant 2 of this crate).

use crate::atoms::suballocation_requirements;
use crate::error::VkError;
use crate::host_import;
use crate::mapping::{self, MappedMemory};
use crate::memory::MemoryCore;
use crate::shared::DeviceShared;
use crate::table::MemoryFlags;
use ash::vk;
use gpu_allocator::vulkan::{AllocationCreateDesc, AllocationScheme};
use std::ptr::NonNull;
use std::sync::Arc;
use wgpu_hal::api::Vulkan;

/// Buffers of at least this size get their own `VkDeviceMemory`.
pub const DEDICATED_THRESHOLD: u64 = 32 << 20;

/// Buffers of at least this size in system memory or GTT are bound to imported host pages by
/// default ([`HostMemory::Auto`]). Each import is a `VkDeviceMemory` of its own, so smaller
/// buffers stay sub-allocated; 8 MiB keeps a model's count of imports to its weight matrices
/// (a few hundred), far below drivers' allocation-count limits.
pub const IMPORT_THRESHOLD: u64 = 8 << 20;

/// Vulkan usages of every placed buffer: what wgpu's STORAGE | COPY_SRC | COPY_DST map to.
pub(crate) const PLACED_USAGE: vk::BufferUsageFlags = vk::BufferUsageFlags::from_raw(
    vk::BufferUsageFlags::STORAGE_BUFFER.as_raw()
        | vk::BufferUsageFlags::TRANSFER_SRC.as_raw()
        | vk::BufferUsageFlags::TRANSFER_DST.as_raw(),
);

/// What to allocate.
#[derive(Debug, Clone)]
pub struct AllocationRequest<'a> {
    /// Size in bytes (> 0).
    pub size: u64,
    /// The exact memory type index.
    pub memory_type: u32,
    /// Memory priority in `0.0..=1.0` (used when `VK_EXT_memory_priority` is enabled).
    pub priority: f32,
    /// Debug label of the wgpu buffer.
    pub label: Option<&'a str>,
    /// Who provides the pages of a host-visible type.
    pub host_memory: HostMemory,
}

/// Who provides the pages behind a buffer of a host-visible memory type. The memory type, and so
/// the placement and its proof, is the one asked for either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostMemory {
    /// [`HostMemory::Imported`] for types that are host-visible but not device-local (system
    /// memory, GTT), for buffers of at least [`IMPORT_THRESHOLD`] bytes; the driver's pages
    /// otherwise. Drivers fill those types' own allocations slowly (NVIDIA's at 2.7 GB/s).
    #[default]
    Auto,
    /// The driver allocates the memory (`vkAllocateMemory`).
    Driver,
    /// Anonymous pages Strata maps and faults in on every core, which the driver imports
    /// (`VK_EXT_external_memory_host`), whenever the device can import into the type; the
    /// driver's pages where it cannot ([`PlacedAllocation::is_host_imported`] says which).
    Imported,
}

/// A host-memory choice that is not `auto`, `driver` or `imported`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown host memory `{0}`: expected auto, driver or imported")]
pub struct UnknownHostMemory(pub String);

impl std::str::FromStr for HostMemory {
    type Err = UnknownHostMemory;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(HostMemory::Auto),
            "driver" => Ok(HostMemory::Driver),
            "imported" => Ok(HostMemory::Imported),
            _ => Err(UnknownHostMemory(s.trim().to_string())),
        }
    }
}

impl std::fmt::Display for HostMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HostMemory::Auto => "auto",
            HostMemory::Driver => "driver",
            HostMemory::Imported => "imported",
        })
    }
}

impl HostMemory {
    /// Whether a buffer of `size` bytes in a type with `flags` asks for imported pages.
    pub fn wants_import(self, flags: MemoryFlags, size: u64) -> bool {
        let host_visible = flags.contains(MemoryFlags::HOST_VISIBLE);
        match self {
            HostMemory::Driver => false,
            HostMemory::Imported => host_visible,
            HostMemory::Auto => {
                host_visible
                    && !flags.contains(MemoryFlags::DEVICE_LOCAL)
                    && size >= IMPORT_THRESHOLD
            }
        }
    }
}

/// A buffer bound to memory of one exact type, wrapped as a [`wgpu::Buffer`].
///
/// Whatever is done with the `wgpu::Buffer` (cloned, destroyed, its clones dropped), the memory
/// stays allocated until both this record and wgpu are done with it; after
/// `wgpu::Buffer::destroy`, [`PlacedAllocation::is_destroyed`] is `true` and the mapping refuses
/// copies with [`VkError::Destroyed`].
#[derive(Debug)]
pub struct PlacedAllocation {
    // Field order: the mapping (and its hold on the memory) goes before the buffer handle.
    mapping: Option<MappedMemory>,
    buffer: wgpu::Buffer,
    memory_type: u32,
    flags: MemoryFlags,
    size: u64,
    dedicated: bool,
    imported: bool,
}

impl PlacedAllocation {
    /// The wgpu buffer (usages: STORAGE, COPY_SRC, COPY_DST).
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// The memory type the buffer is bound to.
    pub fn memory_type(&self) -> u32 {
        self.memory_type
    }

    /// That type's flags.
    pub fn flags(&self) -> MemoryFlags {
        self.flags
    }

    /// Buffer size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The buffer has its own `VkDeviceMemory`.
    pub fn is_dedicated(&self) -> bool {
        self.dedicated
    }

    /// The buffer is bound to host pages the driver imported ([`HostMemory::Imported`]).
    pub fn is_host_imported(&self) -> bool {
        self.imported
    }

    /// The CPU mapping, for host-visible types.
    pub fn mapping(&self) -> Option<&MappedMemory> {
        self.mapping.as_ref()
    }

    /// `true` once `wgpu::Buffer::destroy` was called on the buffer (or one of its clones):
    /// its bytes can no longer be read or written, by the GPU or through the mapping.
    pub fn is_destroyed(&self) -> bool {
        mapping::is_destroyed(&self.buffer)
    }
}

/// Destroys a `vk::Buffer` that was never handed to wgpu, unless disarmed.
pub(crate) struct BufferGuard<'a> {
    shared: &'a DeviceShared,
    buffer: Option<vk::Buffer>,
}

impl<'a> BufferGuard<'a> {
    /// Guards `buffer`, just created on `shared`'s device.
    pub(crate) fn new(shared: &'a DeviceShared, buffer: vk::Buffer) -> Self {
        Self {
            shared,
            buffer: Some(buffer),
        }
    }

    /// Gives the buffer up (to wgpu's drop callback).
    fn disarm(mut self) -> vk::Buffer {
        self.buffer.take().unwrap_or_default()
    }
}

impl Drop for BufferGuard<'_> {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            // SAFETY: the buffer was created on this device and never handed out or used by
            // the GPU (an error path of `allocate`).
            unsafe { self.shared.device.destroy_buffer(buffer, None) };
        }
    }
}

/// Allocates a storage buffer of `request.size` bytes in exactly `request.memory_type`, maps it
/// when the type is host-visible, and wraps it as a `wgpu::Buffer`.
///
/// Refuses sizes over `maxMemoryAllocationSize` ([`VkError::TooLarge`]); splitting large
/// tensors is the caller's job. Nothing is leaked on any error.
pub(crate) fn allocate(
    shared: &Arc<DeviceShared>,
    request: &AllocationRequest<'_>,
) -> Result<PlacedAllocation, VkError> {
    let flags = *shared
        .memory_types
        .get(request.memory_type as usize)
        .ok_or(VkError::NoSuchType {
            index: request.memory_type,
            count: shared.memory_types.len(),
        })?;
    if request.size == 0 {
        return Err(VkError::ZeroSize);
    }
    if request.size > shared.limits.max_allocation_size {
        return Err(VkError::TooLarge {
            bytes: request.size,
            max: shared.limits.max_allocation_size,
        });
    }

    let imported = if request.host_memory.wants_import(flags, request.size) {
        host_import::bind_imported(shared, request, flags)?
    } else {
        None
    };
    let (guard, core, dedicated, imported) = match imported {
        Some(binding) => (binding.guard, binding.core, true, true),
        None => {
            let (guard, core, dedicated) = bind_driver_memory(shared, request, flags)?;
            (guard, core, dedicated, false)
        }
    };

    let core = Arc::new(core);
    let callback_core = Arc::clone(&core);
    let buffer = guard.disarm();
    let drop_callback: wgpu_hal::DropCallback = Box::new(move || {
        // SAFETY: wgpu runs this once, when no submitted GPU work uses the buffer any more
        // (invariant 2): nothing uses the `vk::Buffer` after it. Its memory is not freed here:
        // this closure's `Arc` is let go afterwards, and the memory goes with the last holder.
        unsafe { callback_core.shared().device.destroy_buffer(buffer, None) };
        drop(callback_core);
    });
    // SAFETY: `buffer` is bound to memory we own; wgpu will not destroy it and will run
    // `drop_callback` once it is done with it (invariant 2). wgpu never maps it: its usages
    // include no MAP_* flag.
    let hal_buffer =
        unsafe { wgpu_hal::vulkan::Buffer::from_raw_externally_owned(buffer, drop_callback) };
    let descriptor = wgpu::BufferDescriptor {
        label: request.label,
        size: request.size,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    };
    // SAFETY: the hal buffer was created on this wgpu device's VkDevice with exactly the
    // Vulkan usages that STORAGE | COPY_SRC | COPY_DST map to, and `size` matches.
    let wgpu_buffer = unsafe {
        shared
            .wgpu_device
            .create_buffer_from_hal::<Vulkan>(hal_buffer, &descriptor)
    };
    let mapping = MappedMemory::new(core, wgpu_buffer.clone(), request.size);
    Ok(PlacedAllocation {
        mapping,
        buffer: wgpu_buffer,
        memory_type: request.memory_type,
        flags,
        size: request.size,
        dedicated,
        imported,
    })
}

/// Creates the buffer and binds it to memory the driver allocates: a dedicated allocation, or
/// a sub-allocation from gpu-allocator's blocks. Returns whether it is dedicated.
fn bind_driver_memory<'a>(
    shared: &'a Arc<DeviceShared>,
    request: &AllocationRequest<'_>,
    flags: MemoryFlags,
) -> Result<(BufferGuard<'a>, MemoryCore, bool), VkError> {
    let info = vk::BufferCreateInfo::default()
        .size(request.size)
        .usage(PLACED_USAGE)
        .sharing_mode(vk::SharingMode::EXCLUSIVE);
    // SAFETY: valid create info (non-zero size, exclusive sharing) on a live device (inv. 1).
    let buffer = unsafe { shared.device.create_buffer(&info, None) }
        .map_err(|e| VkError::from_alloc("vkCreateBuffer", e, request.size, request.memory_type))?;
    let guard = BufferGuard::new(shared, buffer);

    let mut dedicated_req = vk::MemoryDedicatedRequirements::default();
    let mut req2 = vk::MemoryRequirements2::default().push_next(&mut dedicated_req);
    let req_info = vk::BufferMemoryRequirementsInfo2::default().buffer(buffer);
    // SAFETY: `buffer` is live; the output chain is made of locals (invariant 5).
    unsafe {
        shared
            .device
            .get_buffer_memory_requirements2(&req_info, &mut req2)
    };
    let requirements = req2.memory_requirements;
    let wants_dedicated = dedicated_req.prefers_dedicated_allocation == vk::TRUE
        || dedicated_req.requires_dedicated_allocation == vk::TRUE;
    if requirements.memory_type_bits & (1 << request.memory_type) == 0 {
        return Err(VkError::TypeNotAllowed {
            index: request.memory_type,
            allowed: requirements.memory_type_bits,
        });
    }

    let dedicated = wants_dedicated || requirements.size >= DEDICATED_THRESHOLD;
    let core = if dedicated {
        allocate_dedicated(shared, buffer, requirements, request, flags)?
    } else {
        suballocate(shared, requirements, request, flags)?
    };
    let (memory, offset) = core.binding();
    // SAFETY: the memory is of the requested type (checked against the buffer's memoryTypeBits),
    // at least `requirements.size` long from `offset`, which is aligned to
    // `requirements.alignment` (offset 0 of a dedicated allocation, or gpu-allocator's aligned
    // offset). On failure `core` frees the memory and `guard` the buffer.
    unsafe { shared.device.bind_buffer_memory(buffer, memory, offset) }
        .map_err(|e| VkError::from_vk("vkBindBufferMemory", e))?;
    Ok((guard, core, dedicated))
}

/// A `VkDeviceMemory` of the buffer's own, mapped whole when the type is host-visible.
fn allocate_dedicated(
    shared: &Arc<DeviceShared>,
    buffer: vk::Buffer,
    requirements: vk::MemoryRequirements,
    request: &AllocationRequest<'_>,
    flags: MemoryFlags,
) -> Result<MemoryCore, VkError> {
    let mut dedicated_info = vk::MemoryDedicatedAllocateInfo::default().buffer(buffer);
    let mut priority_info =
        vk::MemoryPriorityAllocateInfoEXT::default().priority(request.priority.clamp(0.0, 1.0));
    let mut info = vk::MemoryAllocateInfo::default()
        .allocation_size(requirements.size)
        .memory_type_index(request.memory_type)
        .push_next(&mut dedicated_info);
    if shared.has_priority {
        info = info.push_next(&mut priority_info);
    }
    // SAFETY: the type index was checked against the buffer's memoryTypeBits; the size comes
    // from the buffer's requirements; the p_next chain is made of locals (invariant 5).
    let memory = unsafe { shared.device.allocate_memory(&info, None) }.map_err(|e| {
        VkError::from_alloc(
            "vkAllocateMemory",
            e,
            requirements.size,
            request.memory_type,
        )
    })?;
    let mapped = if flags.contains(MemoryFlags::HOST_VISIBLE) {
        Some(map_whole(shared, memory)?)
    } else {
        None
    };
    Ok(MemoryCore::dedicated(
        shared,
        memory,
        requirements.size,
        mapped,
        flags.contains(MemoryFlags::HOST_COHERENT),
        request.size,
    ))
}

/// Maps all of `memory`, a fresh allocation of a HOST_VISIBLE type, for its whole life. On
/// failure the memory is freed.
pub(crate) fn map_whole(
    shared: &DeviceShared,
    memory: vk::DeviceMemory,
) -> Result<NonNull<u8>, VkError> {
    // SAFETY: the caller gives memory of a HOST_VISIBLE type that is not mapped yet; it stays
    // mapped until `vkFreeMemory` (in `MemoryCore`'s drop) unmaps it.
    let ptr = unsafe {
        shared
            .device
            .map_memory(memory, 0, vk::WHOLE_SIZE, vk::MemoryMapFlags::empty())
    };
    match ptr.map(|p| NonNull::new(p.cast::<u8>())) {
        Ok(Some(ptr)) => Ok(ptr),
        other => {
            // SAFETY: the memory was just allocated; nothing is bound to it or uses it.
            unsafe { shared.device.free_memory(memory, None) };
            Err(VkError::Vulkan {
                call: "vkMapMemory",
                result: match other {
                    Err(e) => format!("{e:?}"),
                    _ => "a null pointer".into(),
                },
            })
        }
    }
}

/// A sub-allocation from gpu-allocator's blocks of exactly `request.memory_type`.
fn suballocate(
    shared: &Arc<DeviceShared>,
    requirements: vk::MemoryRequirements,
    request: &AllocationRequest<'_>,
    flags: MemoryFlags,
) -> Result<MemoryCore, VkError> {
    let coherent = flags.contains(MemoryFlags::HOST_COHERENT);
    let needs_atoms = flags.contains(MemoryFlags::HOST_VISIBLE) && !coherent;
    let requirements = suballocation_requirements(
        requirements,
        !needs_atoms,
        shared.limits.non_coherent_atom_size,
    )
    .ok_or(VkError::TooLarge {
        bytes: requirements.size,
        max: shared.limits.max_allocation_size,
    })?;
    let forced = vk::MemoryRequirements {
        memory_type_bits: 1 << request.memory_type,
        ..requirements
    };
    let mut guard = shared.allocator.lock().map_err(|_| VkError::Vulkan {
        call: "allocator lock",
        result: "poisoned by a panic on another thread".into(),
    })?;
    let allocator = guard.as_mut().ok_or(VkError::DeviceLost {
        call: "sub-allocation",
    })?;
    let allocation = allocator
        .allocate(&AllocationCreateDesc {
            name: request.label.unwrap_or("strata buffer"),
            requirements: forced,
            location: gpu_allocator::MemoryLocation::Unknown,
            linear: true,
            allocation_scheme: AllocationScheme::GpuAllocatorManaged,
        })
        .map_err(|e| match e {
            gpu_allocator::AllocationError::OutOfMemory => VkError::OutOfMemory {
                kind: "device",
                bytes: requirements.size,
                memory_type: request.memory_type,
            },
            other => VkError::Vulkan {
                call: "gpu_allocator::allocate",
                result: other.to_string(),
            },
        })?;
    if flags.contains(MemoryFlags::HOST_VISIBLE) && allocation.mapped_ptr().is_none() {
        // gpu-allocator maps every block of a host-visible type; without a mapping the buffer
        // could not be written the way its placement promises.
        if let Err(e) = allocator.free(allocation) {
            log::error!("freeing a sub-allocation failed: {e}");
        }
        return Err(VkError::Vulkan {
            call: "gpu_allocator::allocate",
            result: "a block of a host-visible type is not mapped".into(),
        });
    }
    drop(guard);
    Ok(MemoryCore::suballocated(
        shared,
        allocation,
        coherent,
        request.size,
    ))
}

/// `memoryTypeBits` of a storage buffer with the usages placed buffers get.
pub(crate) fn storage_buffer_type_bits(device: &ash::Device) -> Result<u32, VkError> {
    let info = vk::BufferCreateInfo::default()
        .size(256)
        .usage(PLACED_USAGE)
        .sharing_mode(vk::SharingMode::EXCLUSIVE);
    // SAFETY: a valid create info on a live device; the buffer is destroyed right below and
    // never bound or used.
    let buffer = unsafe { device.create_buffer(&info, None) }
        .map_err(|e| VkError::from_vk("vkCreateBuffer", e))?;
    // SAFETY: `buffer` is live until the destroy call after it.
    let requirements = unsafe { device.get_buffer_memory_requirements(buffer) };
    // SAFETY: the buffer was never used by the GPU.
    unsafe { device.destroy_buffer(buffer, None) };
    Ok(requirements.memory_type_bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_imports_are_for_large_buffers_in_host_memory_only() {
        let host = MemoryFlags::HOST_VISIBLE | MemoryFlags::HOST_COHERENT;
        let bar = host | MemoryFlags::DEVICE_LOCAL;
        let auto = HostMemory::Auto;
        assert!(auto.wants_import(host, IMPORT_THRESHOLD));
        assert!(!auto.wants_import(host, IMPORT_THRESHOLD - 4));
        assert!(!auto.wants_import(bar, 1 << 30));
        assert!(!auto.wants_import(MemoryFlags::DEVICE_LOCAL, 1 << 30));
        assert!(HostMemory::Imported.wants_import(bar, 4));
        assert!(!HostMemory::Imported.wants_import(MemoryFlags::DEVICE_LOCAL, 1 << 30));
        assert!(!HostMemory::Driver.wants_import(host, 1 << 30));
        for choice in [HostMemory::Auto, HostMemory::Driver, HostMemory::Imported] {
            assert_eq!(choice.to_string().parse::<HostMemory>(), Ok(choice));
        }
        assert!("pinned".parse::<HostMemory>().is_err());
    }
}
