//! Creating the wgpu device with the memory extensions placement wants.
//!
//! wgpu 30 enables `VK_EXT_memory_budget` itself when the driver has it.
//! `VK_EXT_memory_priority` and `VK_EXT_external_memory_host` it does not, so on Vulkan the device
//! is opened through wgpu-hal with a callback that adds those the driver has (and the priority
//! feature), then wrapped by wgpu (`create_device_from_hal`).
//!
//! Devices are opened one at a time in a process ([`crate::loader::serialized`]): drivers have
//! crashed when several threads opened devices at once.

use ash::vk;
use wgpu_hal::api::Vulkan;

/// The experimental-features token for a device that will have `features`: enabled when they
/// include `EXPERIMENTAL_COOPERATIVE_MATRIX` (which wgpu refuses without it), else disabled.
pub fn experimental_features_for(features: wgpu::Features) -> wgpu::ExperimentalFeatures {
    if features.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX) {
        // SAFETY: the only experimental feature Strata requests is cooperative matrices, and
        // the only shader that uses them is `gemm_coop.wgsl`, whose every cooperative load and
        // store stays inside memory it has checked (invariant 8).
        unsafe { wgpu::ExperimentalFeatures::enabled() }
    } else {
        wgpu::ExperimentalFeatures::disabled()
    }
}

/// A device opened by [`open_device`].
#[derive(Debug)]
pub struct OpenedDevice {
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// `VK_EXT_memory_priority` was enabled.
    pub memory_priority: bool,
    /// `VK_EXT_external_memory_host` was enabled.
    pub host_import: bool,
}

/// Opens `adapter` with `desc`. On a Vulkan adapter that offers `VK_EXT_memory_priority` or
/// `VK_EXT_external_memory_host`, the device is created with them enabled; everywhere else this
/// is `Adapter::request_device`.
///
/// No other thread of the process opens a device, creates an instance through Strata or lists
/// layers meanwhile ([`crate::loader::serialized`]). wgpu opens devices of native backends
/// synchronously (`request_device`'s future is ready when returned), so this does not wait for
/// anything but the driver.
pub fn open_device(
    adapter: &wgpu::Adapter,
    desc: &wgpu::DeviceDescriptor<'_>,
) -> Result<OpenedDevice, wgpu::RequestDeviceError> {
    crate::loader::serialized(|| {
        if let Some(opened) = open_with_memory_extensions(adapter, desc) {
            return opened;
        }
        let (device, queue) = pollster::block_on(adapter.request_device(desc))?;
        Ok(OpenedDevice {
            device,
            queue,
            memory_priority: false,
            host_import: false,
        })
    })
}

/// [`open_device`] as a future, for async callers; it completes without waiting (see there).
pub async fn open_device_async(
    adapter: &wgpu::Adapter,
    desc: &wgpu::DeviceDescriptor<'_>,
) -> Result<OpenedDevice, wgpu::RequestDeviceError> {
    open_device(adapter, desc)
}

/// Opens the device through wgpu-hal with `VK_EXT_memory_priority` and
/// `VK_EXT_external_memory_host` added where the adapter has them, or `None` when it is not
/// Vulkan 1.1, has neither, or the hal open fails (the caller then opens the device plainly).
/// Synchronous, so that no Vulkan structure lives across an `await`.
fn open_with_memory_extensions(
    adapter: &wgpu::Adapter,
    desc: &wgpu::DeviceDescriptor<'_>,
) -> Option<Result<OpenedDevice, wgpu::RequestDeviceError>> {
    let (priority, host_import) = {
        // SAFETY: the guard only borrows the hal adapter for this query.
        let hal = unsafe { adapter.as_hal::<Vulkan>() }?;
        if hal.shared_instance().instance_api_version() < vk::API_VERSION_1_1 {
            return None;
        }
        let caps = hal.physical_device_capabilities();
        (
            caps.supports_extension(ash::ext::memory_priority::NAME),
            caps.supports_extension(ash::ext::external_memory_host::NAME),
        )
    };
    if !priority && !host_import {
        return None;
    }

    let mut priority_features =
        vk::PhysicalDeviceMemoryPriorityFeaturesEXT::default().memory_priority(true);
    let features_ref = &mut priority_features;
    let callback: Box<wgpu_hal::vulkan::CreateDeviceCallback<'_>> = Box::new(move |args| {
        // wgpu may have added an extension itself; a name given twice is invalid.
        let mut add = |name: &'static std::ffi::CStr| {
            if !args.extensions.contains(&name) {
                args.extensions.push(name);
            }
        };
        if host_import {
            add(ash::ext::external_memory_host::NAME);
        }
        if priority {
            add(ash::ext::memory_priority::NAME);
            let info = std::mem::take(args.create_info);
            *args.create_info = info.push_next(features_ref);
        }
    });
    let open = {
        // SAFETY: the hal adapter is borrowed for the call only. The callback adds extensions
        // the adapter reports as supported (checked above) and enables only the priority
        // extension's feature; it removes nothing. `priority_features` outlives the call
        // (invariant 5).
        let hal = unsafe { adapter.as_hal::<Vulkan>() }?;
        // SAFETY: features and limits are the ones `desc` asks wgpu for (validated by wgpu when
        // it wraps the device below); the callback's contract is stated above.
        unsafe {
            hal.open_with_callback(
                desc.required_features,
                &desc.required_limits,
                &desc.memory_hints,
                Some(callback),
            )
        }
    };
    let open = match open {
        Ok(open) => open,
        Err(err) => {
            log::warn!(
                "opening the device with its memory extensions failed ({err}); opening it plainly"
            );
            return None;
        }
    };
    // SAFETY: `open` was just created from this adapter's hal adapter with `desc`'s features and
    // limits, as `create_device_from_hal` requires.
    let wrapped = unsafe { adapter.create_device_from_hal::<Vulkan>(open, desc) };
    Some(wrapped.map(|(device, queue)| OpenedDevice {
        device,
        queue,
        memory_priority: priority,
        host_import,
    }))
}
