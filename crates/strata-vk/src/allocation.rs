//! Buffers allocated in one exact memory type and handed to wgpu.
//!
//! Large buffers get a dedicated `VkDeviceMemory` (with a priority when `VK_EXT_memory_priority`
//! is on); small ones are sub-allocated from shared blocks of the same type by gpu-allocator,
//! forced to that type through `memoryTypeBits`, so thousands of tensors stay far below the
//! driver's allocation-count limit.

use crate::device::{DeviceShared, VulkanDevice};
use crate::error::VkError;
use crate::mapping::MappedMemory;
use crate::table::MemoryFlags;
use ash::vk;
use gpu_allocator::vulkan::{Allocation, AllocationCreateDesc, AllocationScheme};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use wgpu_hal::api::Vulkan;

/// Buffers of at least this size get their own `VkDeviceMemory`.
pub const DEDICATED_THRESHOLD: u64 = 32 << 20;

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
}

/// A buffer bound to memory of one exact type, wrapped as a [`wgpu::Buffer`].
#[derive(Debug)]
pub struct PlacedAllocation {
    buffer: wgpu::Buffer,
    memory_type: u32,
    flags: MemoryFlags,
    size: u64,
    dedicated: bool,
    mapping: Option<MappedMemory>,
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

    /// The CPU mapping, for host-visible types.
    pub fn mapping(&self) -> Option<&MappedMemory> {
        self.mapping.as_ref()
    }
}

/// The memory behind a placed buffer, freed by wgpu's drop callback.
enum Backing {
    Dedicated(vk::DeviceMemory),
    SubAllocated(Allocation),
}

/// Frees a `vk::Buffer` and its memory. Used on error paths and by the drop callback.
fn release(shared: &DeviceShared, buffer: vk::Buffer, backing: Option<Backing>) {
    // SAFETY: `buffer` was created on `shared.device` and is no longer used: either wgpu has
    // finished with it (drop callback, invariant 2) or it was never handed out (error path).
    unsafe { shared.device.destroy_buffer(buffer, None) };
    match backing {
        // SAFETY: the memory was allocated on this device and its only user, `buffer`, is gone.
        Some(Backing::Dedicated(memory)) => unsafe { shared.device.free_memory(memory, None) },
        Some(Backing::SubAllocated(allocation)) => {
            if let Ok(mut guard) = shared.allocator.lock() {
                if let Some(allocator) = guard.as_mut() {
                    if let Err(e) = allocator.free(allocation) {
                        log::error!("freeing a sub-allocation failed: {e}");
                    }
                }
            }
        }
        None => {}
    }
}

impl VulkanDevice {
    /// Allocates a storage buffer of `request.size` bytes in exactly `request.memory_type`,
    /// maps it when the type is host-visible, and wraps it as a `wgpu::Buffer`.
    ///
    /// Refuses sizes over `maxMemoryAllocationSize` ([`VkError::TooLarge`]); splitting large
    /// tensors is the caller's job. Nothing is leaked on any error.
    pub fn allocate(&self, request: &AllocationRequest<'_>) -> Result<PlacedAllocation, VkError> {
        let shared = &self.inner;
        let types = &shared.memory_types;
        let flags = *types
            .get(request.memory_type as usize)
            .ok_or(VkError::NoSuchType {
                index: request.memory_type,
                count: types.len(),
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

        let info = vk::BufferCreateInfo::default()
            .size(request.size)
            .usage(PLACED_USAGE)
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        // SAFETY: valid create info (non-zero size, exclusive sharing) on a live device (inv. 1).
        let buffer = unsafe { shared.device.create_buffer(&info, None) }.map_err(|e| {
            VkError::from_alloc("vkCreateBuffer", e, request.size, request.memory_type)
        })?;

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
            release(shared, buffer, None);
            return Err(VkError::TypeNotAllowed {
                index: request.memory_type,
                allowed: requirements.memory_type_bits,
            });
        }

        let dedicated = wants_dedicated || requirements.size >= DEDICATED_THRESHOLD;
        let bound = if dedicated {
            self.bind_dedicated(buffer, requirements, request, flags)
        } else {
            self.bind_suballocated(buffer, requirements, request, flags)
        };
        let (backing, mapping) = match bound {
            Ok(b) => b,
            Err(e) => {
                release(shared, buffer, None);
                return Err(e);
            }
        };

        let callback_shared: Arc<DeviceShared> = Arc::clone(shared);
        let mut backing = Some(backing);
        let size = request.size;
        shared.live_buffers.fetch_add(1, Ordering::AcqRel);
        shared.live_bytes.fetch_add(size, Ordering::AcqRel);
        let drop_callback: wgpu_hal::DropCallback = Box::new(move || {
            release(&callback_shared, buffer, backing.take());
            callback_shared.live_buffers.fetch_sub(1, Ordering::AcqRel);
            callback_shared.live_bytes.fetch_sub(size, Ordering::AcqRel);
        });
        // SAFETY: `buffer` is bound to memory we own; wgpu will not destroy it and will run
        // `drop_callback` once it is done with it, which frees both (invariant 2). wgpu never maps
        // it: its usages include no MAP_* flag.
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
        Ok(PlacedAllocation {
            buffer: wgpu_buffer,
            memory_type: request.memory_type,
            flags,
            size: request.size,
            dedicated,
            mapping,
        })
    }

    fn bind_dedicated(
        &self,
        buffer: vk::Buffer,
        requirements: vk::MemoryRequirements,
        request: &AllocationRequest<'_>,
        flags: MemoryFlags,
    ) -> Result<(Backing, Option<MappedMemory>), VkError> {
        let shared = &self.inner;
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
        let free = || {
            // SAFETY: `memory` was just allocated and nothing is bound to it or uses it yet.
            unsafe { shared.device.free_memory(memory, None) }
        };
        // SAFETY: offset 0 satisfies any alignment; the memory is large enough by construction.
        if let Err(e) = unsafe { shared.device.bind_buffer_memory(buffer, memory, 0) } {
            free();
            return Err(VkError::from_vk("vkBindBufferMemory", e));
        }
        let mapping = if flags.contains(MemoryFlags::HOST_VISIBLE) {
            // SAFETY: the type is HOST_VISIBLE and the memory is not mapped yet; vkFreeMemory
            // (in the drop callback) unmaps it implicitly.
            let ptr = unsafe {
                shared
                    .device
                    .map_memory(memory, 0, vk::WHOLE_SIZE, vk::MemoryMapFlags::empty())
            };
            match ptr.map(|p| NonNull::new(p.cast::<u8>())) {
                Ok(Some(ptr)) => Some(MappedMemory::new(
                    ptr,
                    request.size,
                    memory,
                    0,
                    requirements.size,
                    flags.contains(MemoryFlags::HOST_COHERENT),
                    shared.limits.non_coherent_atom_size,
                    shared.device.clone(),
                )),
                Ok(None) | Err(_) => {
                    free();
                    return Err(VkError::Vulkan {
                        call: "vkMapMemory",
                        result: format!("{:?}", ptr.err()),
                    });
                }
            }
        } else {
            None
        };
        Ok((Backing::Dedicated(memory), mapping))
    }

    fn bind_suballocated(
        &self,
        buffer: vk::Buffer,
        requirements: vk::MemoryRequirements,
        request: &AllocationRequest<'_>,
        flags: MemoryFlags,
    ) -> Result<(Backing, Option<MappedMemory>), VkError> {
        let shared = &self.inner;
        let forced = vk::MemoryRequirements {
            memory_type_bits: 1 << request.memory_type,
            ..requirements
        };
        let allocation = {
            let mut guard = shared.allocator.lock().map_err(|_| VkError::Vulkan {
                call: "allocator lock",
                result: "poisoned by a panic on another thread".into(),
            })?;
            let allocator = guard.as_mut().ok_or(VkError::DeviceLost {
                call: "sub-allocation",
            })?;
            allocator
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
                })?
        };
        // SAFETY: the allocation is in the forced type, sized and aligned from the buffer's own
        // requirements; `memory()` is the block it lives in and `offset()` its place there.
        let bind = unsafe {
            shared
                .device
                .bind_buffer_memory(buffer, allocation.memory(), allocation.offset())
        };
        if let Err(e) = bind {
            release_suballocation(shared, allocation);
            return Err(VkError::from_vk("vkBindBufferMemory", e));
        }
        let mapping = allocation.mapped_ptr().map(|ptr| {
            // SAFETY (for `memory()`): reading the handle has no side effect.
            let memory = unsafe { allocation.memory() };
            MappedMemory::new(
                ptr.cast::<u8>(),
                request.size,
                memory,
                allocation.offset(),
                allocation.offset() + allocation.size(),
                flags.contains(MemoryFlags::HOST_COHERENT),
                shared.limits.non_coherent_atom_size,
                shared.device.clone(),
            )
        });
        Ok((Backing::SubAllocated(allocation), mapping))
    }
}

fn release_suballocation(shared: &DeviceShared, allocation: Allocation) {
    if let Ok(mut guard) = shared.allocator.lock() {
        if let Some(allocator) = guard.as_mut() {
            let _ = allocator.free(allocation);
        }
    }
}
