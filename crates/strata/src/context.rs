//! The runtime context: one adapter, its device and queue, and the kernels compiled for it.

use crate::adapter::{self, AdapterSelector};
use crate::error::{Error, Result};
use crate::kernels::KernelCache;
use crate::placement::staging::StagingRings;
use std::sync::{Arc, OnceLock};
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
    cooperative_matrix: bool,
}

impl Default for ContextBuilder {
    /// The default adapter on the backends of `WGPU_BACKEND` (else all), high performance,
    /// validation from [`VALIDATION_ENV`](crate::VALIDATION_ENV).
    fn default() -> Self {
        Self {
            selector: AdapterSelector::Default,
            backends: adapter::backends_from_env(),
            power: wgpu::PowerPreference::HighPerformance,
            validation: adapter::validation_from_env(),
            cooperative_matrix: true,
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

    /// Turns the backend's validation layer on or off (the Khronos layer on Vulkan; its
    /// messages reach the `log` crate). Default: [`VALIDATION_ENV`](crate::VALIDATION_ENV).
    pub fn validation(mut self, on: bool) -> Self {
        self.validation = on;
        self
    }

    /// Whether to enable cooperative matrices (tensor cores) when the adapter offers the
    /// configuration Strata's f16 GEMM uses (wgpu's `EXPERIMENTAL_COOPERATIVE_MATRIX`, 16×16×16
    /// f16 with f32 sums). Default: on. Off, f16 GEMMs run on the FMA path. They also stay off
    /// when validation is on and the installed validation layer predates them (Vulkan
    /// 1.3.255), since that layer rejects them as unknown.
    pub fn cooperative_matrix(mut self, on: bool) -> Self {
        self.cooperative_matrix = on;
        self
    }

    /// Finds the adapter and creates the device, blocking until both are ready
    /// ([`ContextBuilder::build_async`] without an executor).
    pub fn build(self) -> Result<Context> {
        pollster::block_on(self.build_async())
    }

    /// Finds the adapter and creates the device. The future is `Send`; it does no blocking of
    /// its own beyond what the driver does when a device is opened.
    pub async fn build_async(self) -> Result<Context> {
        let instance = adapter::create_instance(self.backends, self.validation);
        let adapters = instance.enumerate_adapters(self.backends).await;
        let adapter = adapter::choose_adapter(adapters, &self.selector, self.power, self.backends)?;
        let info = adapter.get_info();
        let mut features = adapter.features() & WANTED_FEATURES;
        // A validation layer that predates cooperative matrices reports every use of them as
        // an error: under such a layer they stay off.
        let layer_allows_coop =
            !self.validation || strata_vk::validation_layer_knows_cooperative_matrix();
        if self.cooperative_matrix
            && layer_allows_coop
            && adapter
                .features()
                .contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX)
            && crate::kernels::coop::supports_kernel(&adapter.cooperative_matrix_properties())
        {
            features |= wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX;
        }
        let desc = wgpu::DeviceDescriptor {
            label: Some("strata"),
            required_features: features,
            required_limits: adapter.limits(),
            experimental_features: strata_vk::experimental_features_for(features),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let opened = strata_vk::open_device_async(&adapter, &desc)
            .await
            .map_err(|e| Error::RequestDevice {
                adapter: info.name.clone(),
                message: e.to_string(),
            })?;
        // Errors inside Strata's own operations are caught by error scopes and returned as
        // values; anything else is logged rather than aborting the embedding program.
        opened
            .device
            .on_uncaptured_error(Arc::new(|error: wgpu::Error| {
                log::error!("uncaptured GPU error: {error}");
            }));
        Context::assemble(instance, adapter, opened.device, opened.queue, true)
    }
}

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
/// Creating a context has async forms ([`Context::new_async`], [`ContextBuilder::build_async`]).
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
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) adapter: wgpu::Adapter,
    pub(crate) instance: wgpu::Instance,
    pub(crate) created_by_strata: bool,
    /// Why the device was lost, once wgpu has said so (see [`Context::device_lost`]).
    pub(crate) lost: Arc<OnceLock<String>>,
}

impl Context {
    /// A context on the default adapter (see [`ContextBuilder`]), blocking until the device
    /// is ready.
    ///
    /// The adapter is the best by power preference unless `WGPU_ADAPTER_NAME` names one;
    /// `WGPU_BACKEND` restricts the backends and [`VALIDATION_ENV`](crate::VALIDATION_ENV) turns validation on.
    /// With no adapter at all this is [`Error::NoAdapter`], whose message says what to install.
    pub fn new() -> Result<Self> {
        ContextBuilder::default().build()
    }

    /// [`Context::new`] as a future, for applications that run an async executor.
    ///
    /// ```no_run
    /// # async fn run() -> strata::Result<()> {
    /// let ctx = strata::Context::new_async().await?;
    /// # Ok(()) }
    /// ```
    pub async fn new_async() -> Result<Self> {
        ContextBuilder::default().build_async().await
    }

    /// Starts configuring a context.
    pub fn builder() -> ContextBuilder {
        ContextBuilder::default()
    }

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

    fn assemble(
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
            device,
            queue,
            adapter,
            instance,
            created_by_strata,
            lost,
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
        self.lost.get().map(String::as_str)
    }

    /// [`Error::DeviceLost`] for `during` once the device is lost.
    pub(crate) fn check_lost(&self, during: &str) -> Result<()> {
        match self.lost.get() {
            Some(reason) => Err(Error::DeviceLost(format!("{during} ({reason})"))),
            None => Ok(()),
        }
    }

    /// Runs `f` inside validation and out-of-memory error scopes; a GPU error becomes a value.
    pub(crate) fn scoped<T>(&self, during: &str, f: impl FnOnce() -> T) -> Result<T> {
        self.check_lost(during)?;
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let validation_error = pollster::block_on(validation.pop());
        let oom_error = pollster::block_on(oom.pop());
        if let Some(e) = oom_error.or(validation_error) {
            self.check_lost(during)?;
            return Err(Error::from_wgpu(during, e));
        }
        Ok(value)
    }

    /// Waits until the GPU has finished all submitted work.
    pub fn wait_idle(&self) -> Result<()> {
        // Poll even when lost: the poll releases what was dropped.
        let polled = self.device.poll(wgpu::PollType::wait_indefinitely());
        self.check_lost("waiting for the GPU")?;
        polled.map(|_| ()).map_err(|e| match e {
            wgpu::PollError::Timeout => Error::Gpu {
                during: "waiting for the GPU".into(),
                message: e.to_string(),
            },
            _ => Error::DeviceLost(format!("waiting for the GPU: {e}")),
        })
    }

    /// Waits for one submission.
    pub(crate) fn wait_for(&self, submission: wgpu::SubmissionIndex) -> Result<()> {
        let polled = self.device.poll(wgpu::PollType::Wait {
            submission_index: Some(submission),
            timeout: None,
        });
        self.check_lost("waiting for a submission")?;
        polled
            .map(|_| ())
            .map_err(|e| Error::DeviceLost(format!("waiting for a submission: {e}")))
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
        assert_send(&ContextBuilder::default().build_async());
    }
}
