//! Creating a [`Context`]: choosing the adapter and opening its device with what Strata wants.

use crate::adapter::{self, AdapterSelector};
use crate::context::Context;
use crate::error::{Error, Result};
use std::sync::Arc;

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
    /// validation from [`VALIDATION_ENV`](crate::adapter::VALIDATION_ENV).
    fn default() -> Self {
        Self {
            selector: AdapterSelector::Default,
            backends: adapter::backends_from_env(),
            power: wgpu::PowerPreference::HighPerformance,
            validation: adapter::validation_from_env(),
            // Off until the cooperative-matrix GEMM checks out on a GPU (see below).
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
    /// messages reach the `log` crate). Default: [`VALIDATION_ENV`](crate::adapter::VALIDATION_ENV).
    pub fn validation(mut self, on: bool) -> Self {
        self.validation = on;
        self
    }

    /// Whether to enable cooperative matrices (tensor cores) when the adapter offers the
    /// configuration Strata's f16 GEMM uses (wgpu's `EXPERIMENTAL_COOPERATIVE_MATRIX`, 16×16×16
    /// f16 with f32 sums). Default: on; with it off, f16/bf16 GEMMs run on the FMA path. They
    /// stay off when validation is on and the installed validation layer predates them
    /// (Vulkan 1.3.255), since that layer rejects them as unknown.
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
            !self.validation || strata_vk::loader::validation_layer_knows_cooperative_matrix();
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

impl Context {
    /// A context on the default adapter (see [`ContextBuilder`]), blocking until the device
    /// is ready.
    ///
    /// The adapter is the best by power preference unless `WGPU_ADAPTER_NAME` names one;
    /// `WGPU_BACKEND` restricts the backends and [`VALIDATION_ENV`](crate::adapter::VALIDATION_ENV) turns validation on.
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
}
