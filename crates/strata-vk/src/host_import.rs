//! Placed buffers bound to host pages Strata allocated and the driver imported
//! (`VK_EXT_external_memory_host`), for host-visible memory types the driver fills slowly.
//!
//! The pages ([`AnonymousPages`]) are owned by the buffer's [`MemoryCore`] and unmapped only after
//! the imported `VkDeviceMemory` was freed, as the extension requires. When the driver cannot
//! import into the requested type (its `memoryTypeBits` for host pointers, or for a buffer of
//! imported memory, leave the type out, or it refuses the pointer), the caller allocates through
//! the driver instead: the type, and so the placement, is the same either way.

use crate::AllocationRequest;
use crate::allocation::{BufferGuard, PLACED_USAGE, map_whole};
use crate::anonymous_pages::AnonymousPages;
use crate::error::VkError;
use crate::memory::MemoryCore;
use crate::shared::{DeviceShared, HostImport};
use crate::table::MemoryFlags;
use ash::vk;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

const HANDLE_TYPE: vk::ExternalMemoryHandleTypeFlags =
    vk::ExternalMemoryHandleTypeFlags::HOST_ALLOCATION_EXT;

/// How the driver can import host pages for placed buffers, or `None` when it cannot (the
/// extension is off, or buffers with placed buffers' usages cannot be bound to imported memory
/// without a dedicated allocation).
pub(crate) fn probe(
    instance: &ash::Instance,
    device: &ash::Device,
    physical: vk::PhysicalDevice,
    alignment: u64,
) -> Option<HostImport> {
    if alignment == 0 || !alignment.is_power_of_two() {
        return None;
    }
    let info = vk::PhysicalDeviceExternalBufferInfo::default()
        .usage(PLACED_USAGE)
        .handle_type(HANDLE_TYPE);
    let mut properties = vk::ExternalBufferProperties::default();
    // SAFETY: `physical` belongs to `instance` (Vulkan 1.1 core call); both structs are locals
    // that outlive the call (invariant 5).
    unsafe {
        instance.get_physical_device_external_buffer_properties(physical, &info, &mut properties)
    };
    let features = properties
        .external_memory_properties
        .external_memory_features;
    if !features.contains(vk::ExternalMemoryFeatureFlags::IMPORTABLE)
        || features.contains(vk::ExternalMemoryFeatureFlags::DEDICATED_ONLY)
    {
        return None;
    }
    let mut external = vk::ExternalMemoryBufferCreateInfo::default().handle_types(HANDLE_TYPE);
    let create = vk::BufferCreateInfo::default()
        .size(256)
        .usage(PLACED_USAGE)
        .sharing_mode(vk::SharingMode::EXCLUSIVE)
        .push_next(&mut external);
    // SAFETY: a valid create info on a live device whose extension for this handle type is on;
    // the chain is made of locals (invariant 5). The buffer is destroyed below, never bound.
    let buffer = unsafe { device.create_buffer(&create, None) }.ok()?;
    // SAFETY: `buffer` is live until the destroy call after it.
    let requirements = unsafe { device.get_buffer_memory_requirements(buffer) };
    // SAFETY: the buffer was never used by the GPU.
    unsafe { device.destroy_buffer(buffer, None) };
    Some(HostImport {
        fns: ash::ext::external_memory_host::Device::new(instance, device),
        alignment,
        buffer_type_bits: requirements.memory_type_bits,
    })
}

/// A buffer and the imported memory it is bound to, ready to be handed to wgpu.
pub(crate) struct ImportedBinding<'a> {
    pub(crate) guard: BufferGuard<'a>,
    pub(crate) core: MemoryCore,
}

/// Creates a buffer of `request.size` bytes and binds it to freshly imported host pages of
/// `request.memory_type`; `Ok(None)` when the driver cannot import into that type (the caller
/// then allocates through the driver). Nothing is leaked on any path.
pub(crate) fn bind_imported<'a>(
    shared: &'a Arc<DeviceShared>,
    request: &AllocationRequest<'_>,
    flags: MemoryFlags,
) -> Result<Option<ImportedBinding<'a>>, VkError> {
    let Some(import) = shared.host_import.as_ref() else {
        return Ok(None);
    };
    let type_bit = 1u32 << request.memory_type;
    if !flags.contains(MemoryFlags::HOST_VISIBLE) || import.buffer_type_bits & type_bit == 0 {
        return Ok(None);
    }
    // Each import is an allocation of its own: leave half of the driver's allocation-count
    // limit to the driver's path, which sub-allocates.
    let live = shared.live_buffers.load(Ordering::Acquire);
    if live >= u64::from(shared.limits.max_allocation_count / 2) {
        return Ok(None);
    }
    let started = Instant::now();
    let too_large = VkError::TooLarge {
        bytes: request.size,
        max: shared.limits.max_allocation_size,
    };
    let len = request
        .size
        .checked_next_multiple_of(import.alignment)
        .ok_or(too_large.clone())?;
    let pages = match AnonymousPages::new(
        usize::try_from(len).map_err(|_| too_large.clone())?,
        usize::try_from(import.alignment).map_err(|_| too_large.clone())?,
    ) {
        Some(Ok(pages)) => pages,
        Some(Err(e)) => {
            log::debug!("mapping {len} bytes of host pages failed ({e})");
            return Err(VkError::OutOfMemory {
                kind: "host",
                bytes: len,
                memory_type: request.memory_type,
            });
        }
        None => return Err(too_large),
    };
    let faulted = started.elapsed();

    let mut pointer_properties = vk::MemoryHostPointerPropertiesEXT::default();
    // SAFETY: the extension is enabled (`host_import` is only set then); the pointer is the start
    // of mapped pages aligned to `minImportedHostPointerAlignment`; the output is a local.
    let queried = unsafe {
        (import.fns.fp().get_memory_host_pointer_properties_ext)(
            shared.device.handle(),
            HANDLE_TYPE,
            pages.as_ptr().cast(),
            &mut pointer_properties,
        )
    };
    if queried != vk::Result::SUCCESS || pointer_properties.memory_type_bits & type_bit == 0 {
        log::debug!(
            "memory type {} cannot take imported host pages ({queried:?}, types 0b{:b})",
            request.memory_type,
            pointer_properties.memory_type_bits
        );
        return Ok(None);
    }

    let mut external = vk::ExternalMemoryBufferCreateInfo::default().handle_types(HANDLE_TYPE);
    let info = vk::BufferCreateInfo::default()
        .size(request.size)
        .usage(PLACED_USAGE)
        .sharing_mode(vk::SharingMode::EXCLUSIVE)
        .push_next(&mut external);
    // SAFETY: valid create info (non-zero size, exclusive sharing, a handle type the device
    // imports for these usages: `probe`) on a live device (inv. 1); the chain is locals (inv. 5).
    let buffer = unsafe { shared.device.create_buffer(&info, None) }
        .map_err(|e| VkError::from_alloc("vkCreateBuffer", e, request.size, request.memory_type))?;
    let guard = BufferGuard::new(shared, buffer);
    // SAFETY: `buffer` is live.
    let requirements = unsafe { shared.device.get_buffer_memory_requirements(buffer) };
    if requirements.memory_type_bits & type_bit == 0
        || requirements.size > len
        || requirements.alignment > import.alignment
    {
        return Ok(None);
    }

    let mut import_info = vk::ImportMemoryHostPointerInfoEXT::default()
        .handle_type(HANDLE_TYPE)
        .host_pointer(pages.as_ptr().cast_mut().cast());
    let allocate_info = vk::MemoryAllocateInfo::default()
        .allocation_size(len)
        .memory_type_index(request.memory_type)
        .push_next(&mut import_info);
    // SAFETY: the pointer is aligned to `minImportedHostPointerAlignment` and `len` is a multiple
    // of it; the type is one the driver reported for this pointer; the pages stay mapped until
    // after this memory is freed (`MemoryCore` frees the memory before it drops the pages); the
    // chain is locals (invariant 5).
    let memory = match unsafe { shared.device.allocate_memory(&allocate_info, None) } {
        Ok(memory) => memory,
        Err(vk::Result::ERROR_INVALID_EXTERNAL_HANDLE) => {
            log::debug!(
                "the driver refused to import host pages into type {}",
                request.memory_type
            );
            return Ok(None);
        }
        Err(e) => {
            return Err(VkError::from_alloc(
                "vkAllocateMemory (host import)",
                e,
                len,
                request.memory_type,
            ));
        }
    };
    // On failure `map_whole` frees the memory; the pages are unmapped after that, on return.
    let mapped = map_whole(shared, memory)?;
    log::debug!(
        "imported {len} bytes into type {}: pages faulted in {:.1} ms, imported in {:.1} ms",
        request.memory_type,
        faulted.as_secs_f64() * 1e3,
        (started.elapsed() - faulted).as_secs_f64() * 1e3
    );
    let core = MemoryCore::imported(
        shared,
        memory,
        pages,
        mapped,
        flags.contains(MemoryFlags::HOST_COHERENT),
        request.size,
    );
    let (memory, offset) = core.binding();
    // SAFETY: the memory is of the requested type (in the buffer's memoryTypeBits, checked
    // above), `len >= requirements.size` bytes from offset 0, which every alignment divides. On
    // failure `core` frees the memory (then the pages) and `guard` the buffer.
    unsafe { shared.device.bind_buffer_memory(buffer, memory, offset) }
        .map_err(|e| VkError::from_vk("vkBindBufferMemory", e))?;
    Ok(Some(ImportedBinding { guard, core }))
}
