//! The runtime context: one adapter, its device and queue, and the kernels compiled for it.
//!
//! This file holds the context itself and the GPU plumbing every operation shares (error
//! scopes, waits, loss checks). The operations live in the modules above it (`recording`,
//! `kernels`, `placement`, `transfer`, `load`), each as an `impl Context` block of its own;
//! creating a context is `builder.rs`.

use crate::adapter;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::pipeline::KernelCache;
use crate::placement::staging_ring::StagingRings;
use std::sync::{Arc, OnceLock};
use strata_vk::VulkanDevice;

/// A GPU adapter with its device and queue: the entry point of Strata.
///
/// Create one with [`Context::new`] (or [`Context::builder`] to choose the adapter), or wrap
/// a device the application already has with [`Context::from_wgpu`]. Everything else hangs off
/// it: [`Context::upload`] and [`Context::read_back`] move data, [`Context::matmul`],
/// [`Context::gemm`] and [`Context::gemv`] run kernels, [`Context::place`] puts a buffer in an
/// exact memory type, [`Context::plan_for`] and [`Context::load_model`] load model files.
///
/// `Send + Sync`: share it between threads by reference or in an `Arc`. Calls from several
/// threads are safe; each waits for its own GPU work.
///
/// Creating a context has async forms ([`Context::new_async`], [`ContextBuilder::build_async`](crate::ContextBuilder::build_async)).
/// The other calls block the calling thread until the GPU has done what they need (a read-back
/// waits for its copy, a kernel call for its dispatch): in an async application, call them from
/// a blocking task (e.g. `tokio::task::spawn_blocking`).
///
/// ```
/// let ctx = strata::Context::new()?;
/// let info = ctx.adapter_info();
/// println!("{} on {:?}", info.name, info.backend);
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Debug)]
pub struct Context {
    pub(crate) kernels: KernelCache,
    pub(crate) staging: StagingRings,
    pub(crate) vulkan: std::result::Result<VulkanDevice, String>,
    /// Device, queue and the device-lost flag.
    pub(crate) gpu: Gpu,
    pub(crate) adapter: wgpu::Adapter,
    pub(crate) instance: wgpu::Instance,
    /// The device's limits and features, read once (wgpu computes them on every call).
    pub(crate) limits: wgpu::Limits,
    pub(crate) features: wgpu::Features,
    pub(crate) created_by_strata: bool,
    /// Declared last, so dropped last: holds the process-wide turn while the fields above
    /// drop (see the `Drop` impl).
    pub(crate) teardown: Teardown,
}

/// The process-wide turn ([`strata_vk::loader::Turn`]) a context takes when it is dropped.
#[derive(Debug, Default)]
pub(crate) struct Teardown(Option<strata_vk::loader::Turn>);

impl Drop for Context {
    /// A context Strata created waits for its GPU work, then takes the process-wide turn, which
    /// its `teardown` field (dropped after every other field) gives back: the device, when this
    /// context holds its last handle, is destroyed while no other thread creates or destroys
    /// one (see [`strata_vk::loader`]). A device handed in by the application is left to it.
    fn drop(&mut self) {
        if self.created_by_strata {
            let _ = self.gpu.device.poll(wgpu::PollType::wait_indefinitely());
            self.teardown.0 = Some(strata_vk::loader::turn());
        }
    }
}

impl Context {
    /// Wraps a device the application already has (bring your own device).
    ///
    /// Kernels run on it as on any other, and buffers Strata creates or places are ordinary
    /// [`wgpu::Buffer`]s the application's own pipelines can bind. Exact placement works on
    /// Vulkan with whatever memory extensions the device was created with;
    /// [`Context::placement_support`] says what is missing and why it matters. For every
    /// extension Strata wants (`VK_EXT_memory_priority` is one wgpu does not enable by itself),
    /// let Strata create the device ([`Context::new`]) and hand [`Context::device`] and
    /// [`Context::queue`] to the application instead.
    ///
    /// The application keeps its own uncaptured-error handler; Strata's own operations catch
    /// their errors in error scopes and return them as values.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use strata::wgpu;
    /// let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    /// let adapter = pollster::block_on(instance.request_adapter(&Default::default()))?;
    /// let (device, queue) = pollster::block_on(adapter.request_device(&Default::default()))?;
    /// let ctx = strata::Context::from_wgpu(instance, adapter, device, queue)?;
    /// println!("{}", ctx.placement_support());
    /// # Ok(()) }
    /// ```
    pub fn from_wgpu(
        instance: wgpu::Instance,
        adapter: wgpu::Adapter,
        device: wgpu::Device,
        queue: wgpu::Queue,
    ) -> Result<Self> {
        Self::assemble(instance, adapter, device, queue, false)
    }

    pub(crate) fn assemble(
        instance: wgpu::Instance,
        adapter: wgpu::Adapter,
        device: wgpu::Device,
        queue: wgpu::Queue,
        created_by_strata: bool,
    ) -> Result<Self> {
        let vulkan = VulkanDevice::from_wgpu(&device).map_err(|e| e.to_string());
        // A device handed in keeps the application's own device-lost callback (wgpu holds one).
        let lost = Arc::new(OnceLock::new());
        if created_by_strata {
            let flag = Arc::clone(&lost);
            device.set_device_lost_callback(move |reason, message| {
                let reason = match reason {
                    wgpu::DeviceLostReason::Destroyed => "the device was destroyed".to_string(),
                    wgpu::DeviceLostReason::Unknown => format!("driver error: {message}"),
                };
                log::error!("the GPU device was lost: {reason}");
                let _ = flag.set(reason);
            });
        }
        Ok(Self {
            kernels: KernelCache::default(),
            staging: StagingRings::default(),
            vulkan,
            limits: device.limits(),
            features: device.features(),
            gpu: Gpu {
                device,
                queue,
                lost,
            },
            adapter,
            instance,
            created_by_strata,
            teardown: Teardown::default(),
        })
    }

    /// The wgpu device.
    pub fn device(&self) -> &wgpu::Device {
        &self.gpu.device
    }

    /// The wgpu queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.gpu.queue
    }

    /// The wgpu adapter.
    pub fn adapter(&self) -> &wgpu::Adapter {
        &self.adapter
    }

    /// The wgpu instance.
    pub fn instance(&self) -> &wgpu::Instance {
        &self.instance
    }

    /// Adapter name, backend, driver.
    pub fn adapter_info(&self) -> wgpu::AdapterInfo {
        self.adapter.get_info()
    }

    /// The device's features.
    pub fn features(&self) -> wgpu::Features {
        self.features
    }

    /// The device's limits.
    pub fn limits(&self) -> wgpu::Limits {
        self.limits.clone()
    }

    /// The device's limits, borrowed (for checks on every operation).
    pub(crate) fn device_limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// `true` when Strata created the device (and so chose its extensions).
    pub fn created_by_strata(&self) -> bool {
        self.created_by_strata
    }

    /// The Vulkan layer (raw handles, memory table, budgets), or [`Error::NeedsVulkan`] naming
    /// `what` when the device runs on another backend.
    pub fn vulkan(&self, what: &str) -> Result<&VulkanDevice> {
        self.vulkan.as_ref().map_err(|_| Error::NeedsVulkan {
            what: what.to_string(),
            backend: adapter::backend_name(self.adapter_info().backend).to_string(),
        })
    }

    /// Why the device was lost, once it was; every operation then fails with
    /// [`Error::DeviceLost`]. wgpu reports a driver's loss when it sees it, and
    /// [`wgpu::Device::destroy`] at the next wait. Only for devices Strata created: a device
    /// handed to [`Context::from_wgpu`] keeps the application's device-lost callback, and
    /// this stays `None`.
    pub fn device_lost(&self) -> Option<&str> {
        self.gpu.lost.get().map(String::as_str)
    }

    /// [`Error::DeviceLost`] for `during` once the device is lost.
    pub(crate) fn check_lost(&self, during: &str) -> Result<()> {
        self.gpu.check_lost(during)
    }

    /// Runs `f` inside validation and out-of-memory error scopes; a GPU error becomes a value.
    pub(crate) fn scoped<T>(&self, during: &str, f: impl FnOnce() -> T) -> Result<T> {
        self.gpu.scoped(during, f)
    }

    /// Waits until the GPU has finished all submitted work.
    pub fn wait_idle(&self) -> Result<()> {
        self.gpu.wait_idle()
    }

    /// Waits for one submission.
    pub(crate) fn wait_for(&self, submission: wgpu::SubmissionIndex) -> Result<()> {
        self.gpu.wait_for(submission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>(_: &T) {}

    /// Applications share one context between threads and await it on multi-threaded
    /// executors: these fail to compile if that stops being possible.
    #[test]
    fn context_is_send_and_sync_and_its_futures_are_send() {
        assert_send_sync::<Context>();
        assert_send_sync::<crate::PlacedBuffer>();
        assert_send_sync::<crate::PlacedTensor>();
        assert_send_sync::<Error>();
        assert_send(&Context::new_async());
        assert_send(&crate::ContextBuilder::default().build_async());
    }
}
