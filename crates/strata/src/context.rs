//! The runtime context: one adapter, its device and queue, and the kernels compiled for it.

use crate::adapter::{self, AdapterSelector};
use crate::error::{Error, Result};
use crate::kernels::KernelCache;
use crate::placement::staging::StagingRings;
use std::sync::Arc;
use strata_vk::VulkanDevice;

/// Optional features Strata uses when the adapter has them.
pub const WANTED_FEATURES: wgpu::Features = wgpu::Features::SHADER_F16
    .union(wgpu::Features::SUBGROUP)
    .union(wgpu::Features::TIMESTAMP_QUERY)
    .union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES)
    .union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS);

/// How to create a [`Context`].
#[derive(Debug, Clone)]
pub struct ContextBuilder {
    selector: AdapterSelector,
    backends: wgpu::Backends,
    power: wgpu::PowerPreference,
    validation: bool,
}

impl Default for ContextBuilder {
    fn default() -> Self {
        Self {
            selector: AdapterSelector::Default,
            backends: adapter::backends_from_env(),
            power: wgpu::PowerPreference::HighPerformance,
            validation: false,
        }
    }
}

impl ContextBuilder {
    /// Chooses the adapter (index or name); see [`AdapterSelector`].
    pub fn adapter(mut self, selector: AdapterSelector) -> Self {
        self.selector = selector;
        self
    }

    /// Restricts the backends searched (default: `WGPU_BACKEND`, else all).
    pub fn backends(mut self, backends: wgpu::Backends) -> Self {
        self.backends = backends;
        self
    }

    /// Power preference when no adapter is named (default: high performance;
    /// `WGPU_POWER_PREF` overrides it).
    pub fn power_preference(mut self, power: wgpu::PowerPreference) -> Self {
        self.power = power;
        self
    }

    /// Turns the backend's validation layer on (the Khronos layer on Vulkan).
    pub fn validation(mut self, on: bool) -> Self {
        self.validation = on;
        self
    }

    /// Finds the adapter and creates the device.
    pub fn build(self) -> Result<Context> {
        let instance = adapter::create_instance(self.backends, self.validation);
        let adapters = adapter::list_adapters(&instance, self.backends);
        let adapter = adapter::choose_adapter(adapters, &self.selector, self.power, self.backends)?;
        let info = adapter.get_info();
        let features = adapter.features() & WANTED_FEATURES;
        let desc = wgpu::DeviceDescriptor {
            label: Some("strata"),
            required_features: features,
            required_limits: adapter.limits(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let opened =
            strata_vk::open_device(&adapter, &desc).map_err(|e| Error::RequestDevice {
                adapter: info.name.clone(),
                message: e.to_string(),
            })?;
        // Errors inside Strata's own operations are caught by error scopes and returned as
        // values; anything else is logged rather than aborting the embedding program.
        opened.device.on_uncaptured_error(Arc::new(|error: wgpu::Error| {
            log::error!("uncaptured GPU error: {error}");
        }));
        Context::assemble(instance, adapter, opened.device, opened.queue, true)
    }
}

/// A GPU adapter with its device and queue: the entry point of Strata.
///
/// `Send + Sync`: share it between threads by reference or in an `Arc`.
#[derive(Debug)]
pub struct Context {
    pub(crate) kernels: KernelCache,
    pub(crate) staging: StagingRings,
    pub(crate) vulkan: std::result::Result<VulkanDevice, String>,
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) adapter: wgpu::Adapter,
    pub(crate) instance: wgpu::Instance,
    pub(crate) created_by_strata: bool,
}

impl Context {
    /// A context on the default adapter (see [`ContextBuilder`]).
    pub fn new() -> Result<Self> {
        ContextBuilder::default().build()
    }

    /// Starts configuring a context.
    pub fn builder() -> ContextBuilder {
        ContextBuilder::default()
    }

    /// Wraps a device the application already has.
    ///
    /// Kernels run on it as on any other. Exact placement works on Vulkan with whatever memory
    /// extensions the device was created with; [`Context::placement_support`] says what is
    /// missing. For every extension Strata wants, let Strata create the device
    /// ([`Context::new`]) and take it from [`Context::device`].
    pub fn from_wgpu(
        instance: wgpu::Instance,
        adapter: wgpu::Adapter,
        device: wgpu::Device,
        queue: wgpu::Queue,
    ) -> Result<Self> {
        Self::assemble(instance, adapter, device, queue, false)
    }

    fn assemble(
        instance: wgpu::Instance,
        adapter: wgpu::Adapter,
        device: wgpu::Device,
        queue: wgpu::Queue,
        created_by_strata: bool,
    ) -> Result<Self> {
        let vulkan = VulkanDevice::from_wgpu(&device).map_err(|e| e.to_string());
        Ok(Self {
            kernels: KernelCache::default(),
            staging: StagingRings::default(),
            vulkan,
            device,
            queue,
            adapter,
            instance,
            created_by_strata,
        })
    }

    /// The wgpu device.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The wgpu queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
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
        self.device.features()
    }

    /// The device's limits.
    pub fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }

    /// `true` when Strata created the device (and so chose its extensions).
    pub fn created_by_strata(&self) -> bool {
        self.created_by_strata
    }

    /// The Vulkan layer, or a typed error saying why there is none.
    pub fn vulkan(&self, what: &str) -> Result<&VulkanDevice> {
        self.vulkan.as_ref().map_err(|_| Error::NeedsVulkan {
            what: what.to_string(),
            backend: adapter::backend_name(self.adapter_info().backend).to_string(),
        })
    }

    /// Runs `f` inside validation and out-of-memory error scopes; a GPU error becomes a value.
    pub(crate) fn scoped<T>(&self, during: &str, f: impl FnOnce() -> T) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let validation_error = pollster::block_on(validation.pop());
        let oom_error = pollster::block_on(oom.pop());
        if let Some(e) = oom_error.or(validation_error) {
            return Err(Error::from_wgpu(during, e));
        }
        Ok(value)
    }

    /// Waits until the GPU has finished all submitted work.
    pub fn wait_idle(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| match e {
                wgpu::PollError::Timeout => Error::Gpu {
                    during: "waiting for the GPU".into(),
                    message: e.to_string(),
                },
                _ => Error::DeviceLost(format!("waiting for the GPU: {e}")),
            })
    }

    /// Waits for one submission.
    pub(crate) fn wait_for(&self, submission: wgpu::SubmissionIndex) -> Result<()> {
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: None,
            })
            .map(|_| ())
            .map_err(|e| Error::DeviceLost(format!("waiting for a submission: {e}")))
    }
}
