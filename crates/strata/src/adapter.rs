//! Finding and choosing a GPU adapter.
//!
//! Honors wgpu's environment conventions: `WGPU_BACKEND` (e.g. `vulkan`, `gl`),
//! `WGPU_ADAPTER_NAME` (a case-insensitive substring of the adapter name), `WGPU_POWER_PREF`
//! (`low` or `high`) and `WGPU_VALIDATION`; and Strata's own [`VALIDATION_ENV`]
//! (`STRATA_VALIDATION=1`). An explicit selector given in code or on the command line wins over
//! them.

use crate::error::{Error, Result};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

/// Which adapter to use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AdapterSelector {
    /// `WGPU_ADAPTER_NAME` if set, else the best by power preference.
    #[default]
    Default,
    /// The n-th adapter in [`list_adapters`] order.
    Index(usize),
    /// The first adapter whose name contains this (case-insensitive).
    Name(String),
}

impl FromStr for AdapterSelector {
    type Err = std::convert::Infallible;
    /// A number selects by index, anything else by name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Ok(match s.parse::<usize>() {
            Ok(i) => AdapterSelector::Index(i),
            Err(_) if s.is_empty() => AdapterSelector::Default,
            Err(_) => AdapterSelector::Name(s.to_string()),
        })
    }
}

impl fmt::Display for AdapterSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdapterSelector::Default => f.write_str("default"),
            AdapterSelector::Index(i) => write!(f, "{i}"),
            AdapterSelector::Name(n) => f.write_str(n),
        }
    }
}

/// A short description of an adapter.
#[derive(Debug, Clone, Serialize)]
pub struct AdapterSummary {
    /// Position in [`list_adapters`].
    pub index: usize,
    /// Adapter name.
    pub name: String,
    /// `vulkan`, `metal`, `dx12`, `gl`.
    pub backend: String,
    /// `discrete_gpu`, `integrated_gpu`, `virtual_gpu`, `cpu`, `other`.
    pub device_type: String,
    /// Driver name and version.
    pub driver: String,
}

/// The environment variable that turns the validation layer on for contexts built with the
/// defaults (`1`, `true`, `yes` or `on`); [`crate::ContextBuilder::validation`] overrides it.
/// wgpu's own `WGPU_VALIDATION=1` works too.
pub const VALIDATION_ENV: &str = "STRATA_VALIDATION";

/// `true` when [`VALIDATION_ENV`] asks for the validation layer.
pub fn validation_from_env() -> bool {
    std::env::var(VALIDATION_ENV).is_ok_and(|v| switch_is_on(&v))
}

/// `1`, `true`, `yes` or `on`, in any case.
fn switch_is_on(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// The backends to search: `WGPU_BACKEND` if set, else every backend compiled in.
pub fn backends_from_env() -> wgpu::Backends {
    wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all())
}

/// The wgpu instance for `backends`, with validation when asked: one per configuration for the
/// whole process, created on first use and never dropped.
///
/// Why one: each wgpu Vulkan instance loads the Vulkan loader and, through it, every GPU driver,
/// and unloads them when dropped. NVIDIA's driver does not reliably survive being unloaded and
/// loaded again in one process (the next context found no adapter), nor being loaded by two
/// threads at once (crashes in `libEGL`); see [`strata_vk::loader`]. With one instance kept for
/// the life of the process the driver is loaded once. Instances are created one at a time, under
/// the same process-wide lock as device creation ([`strata_vk::loader::serialized`]).
///
/// The configuration is `backends` and the instance flags (validation, and wgpu's `WGPU_*`
/// environment variables as read now): validation on and off are two instances.
/// `wgpu::Instance` is a shared handle, so the value returned is a clone.
pub fn shared_instance(backends: wgpu::Backends, validation: bool) -> wgpu::Instance {
    let flags = instance_flags(validation);
    let key = (backends, flags);
    // The loader stays loaded from here on, whatever happens to instances created elsewhere.
    strata_vk::loader::keep_loader_loaded();
    let mut instances = INSTANCES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, instance)) = instances.iter().find(|(k, _)| *k == key) {
        return instance.clone();
    }
    let instance = new_instance(backends, flags);
    instances.push((key, instance.clone()));
    instance
}

/// The instances of [`shared_instance`], by configuration (a handful at most: one per set of
/// backends and flags a process uses).
static INSTANCES: Mutex<Vec<((wgpu::Backends, wgpu::InstanceFlags), wgpu::Instance)>> =
    Mutex::new(Vec::new());

/// The headless instance a context on `backends` gets, with validation when asked: the
/// process-wide [`shared_instance`], unless OpenGL ES is among the backends (feature `gles`).
///
/// wgpu-hal's GL backend gives every adapter of one instance the same EGL context, which only one
/// thread may have current at a time, so GL contexts used at once need instances of their own:
/// with GL, each call creates a new instance (under the process-wide lock), and the shared
/// instance of the other backends is created too and kept, so that their drivers stay loaded.
pub fn create_instance(backends: wgpu::Backends, validation: bool) -> wgpu::Instance {
    if !(cfg!(feature = "gles") && backends.contains(wgpu::Backends::GL)) {
        return shared_instance(backends, validation);
    }
    let others = backends.difference(wgpu::Backends::GL);
    if !others.is_empty() {
        shared_instance(others, validation);
    }
    new_instance(backends, instance_flags(validation))
}

/// The instance flags of a context: wgpu's environment variables, plus the validation layer and
/// its messenger when asked.
fn instance_flags(validation: bool) -> wgpu::InstanceFlags {
    let mut flags = wgpu::InstanceFlags::empty().with_env();
    if validation {
        // DEBUG installs wgpu's debug messenger, which routes the layer's messages to `log`
        // (without it the layer only prints to stdout, where no test can see them).
        flags |= wgpu::InstanceFlags::VALIDATION | wgpu::InstanceFlags::DEBUG;
    }
    flags
}

/// A new instance, created while no other thread creates one or opens a device.
fn new_instance(backends: wgpu::Backends, flags: wgpu::InstanceFlags) -> wgpu::Instance {
    strata_vk::loader::serialized(|| {
        wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends,
            flags,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        })
    })
}

/// Every adapter of `instance`, in a stable order (the order `--adapter INDEX` refers to).
pub fn list_adapters(instance: &wgpu::Instance, backends: wgpu::Backends) -> Vec<wgpu::Adapter> {
    pollster::block_on(instance.enumerate_adapters(backends))
}

/// Summarises an adapter.
pub fn summarize(index: usize, adapter: &wgpu::Adapter) -> AdapterSummary {
    let info = adapter.get_info();
    AdapterSummary {
        index,
        name: info.name.clone(),
        backend: backend_name(info.backend).to_string(),
        device_type: device_type_name(info.device_type).to_string(),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
    }
}

/// The memory table of a Vulkan adapter (with budgets when the driver reports them), read
/// without creating a device; `None` on other backends.
pub fn memory_table(adapter: &wgpu::Adapter) -> Option<crate::table::MemoryTable> {
    strata_vk::adapter_memory_table(adapter)
}

/// Placement-related Vulkan extensions of an adapter and whether each is there; `None` on
/// other backends.
pub fn memory_extensions(adapter: &wgpu::Adapter) -> Option<Vec<(&'static str, bool)>> {
    strata_vk::adapter_memory_extensions(adapter)
}

/// `true` when the Khronos validation layer is installed.
pub fn validation_layer_available() -> bool {
    strata_vk::loader::validation_layer_available()
}

/// `false` when the installed validation layer predates cooperative matrices (see
/// [`ContextBuilder::cooperative_matrix`](crate::ContextBuilder::cooperative_matrix)).
pub fn validation_layer_knows_cooperative_matrix() -> bool {
    strata_vk::loader::validation_layer_knows_cooperative_matrix()
}

/// wgpu's backend as a lowercase word.
pub fn backend_name(backend: wgpu::Backend) -> &'static str {
    match backend {
        wgpu::Backend::Vulkan => "vulkan",
        wgpu::Backend::Metal => "metal",
        wgpu::Backend::Dx12 => "dx12",
        wgpu::Backend::Gl => "gl",
        wgpu::Backend::BrowserWebGpu => "webgpu",
        _ => "other",
    }
}

/// wgpu's device type as a snake_case word.
pub fn device_type_name(device_type: wgpu::DeviceType) -> &'static str {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => "discrete_gpu",
        wgpu::DeviceType::IntegratedGpu => "integrated_gpu",
        wgpu::DeviceType::VirtualGpu => "virtual_gpu",
        wgpu::DeviceType::Cpu => "cpu",
        wgpu::DeviceType::Other => "other",
    }
}

/// Chooses one adapter from `adapters` by `selector`, the environment and `power`.
pub fn choose_adapter(
    adapters: Vec<wgpu::Adapter>,
    selector: &AdapterSelector,
    power: wgpu::PowerPreference,
    backends: wgpu::Backends,
) -> Result<wgpu::Adapter> {
    if adapters.is_empty() {
        return Err(Error::NoAdapter {
            backends: format!("{backends:?}"),
        });
    }
    let available = || {
        adapters
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let s = summarize(i, a);
                format!("{i}: {} ({})", s.name, s.backend)
            })
            .collect::<Vec<_>>()
    };
    let by_name = |name: &str| {
        let needle = name.to_lowercase();
        adapters
            .iter()
            .position(|a| a.get_info().name.to_lowercase().contains(&needle))
    };
    let selector = match selector {
        AdapterSelector::Default => match std::env::var("WGPU_ADAPTER_NAME") {
            Ok(name) if !name.trim().is_empty() => AdapterSelector::Name(name),
            _ => AdapterSelector::Default,
        },
        other => other.clone(),
    };
    let position = match &selector {
        AdapterSelector::Index(i) => (*i < adapters.len()).then_some(*i),
        AdapterSelector::Name(name) => by_name(name),
        AdapterSelector::Default => {
            let power = wgpu::PowerPreference::from_env().unwrap_or(power);
            (0..adapters.len()).min_by_key(|&i| {
                let info = adapters[i].get_info();
                rank(info.device_type, info.backend, power)
            })
        }
    };
    match position {
        Some(i) => Ok(adapters
            .into_iter()
            .nth(i)
            .ok_or_else(|| Error::AdapterNotFound {
                selector: selector.to_string(),
                available: Vec::new(),
            })?),
        None => Err(Error::AdapterNotFound {
            selector: selector.to_string(),
            available: available(),
        }),
    }
}

/// Lower is better: device type by power preference, then Vulkan before other backends.
fn rank(
    device_type: wgpu::DeviceType,
    backend: wgpu::Backend,
    power: wgpu::PowerPreference,
) -> (u8, u8) {
    use wgpu::DeviceType as D;
    let device = match (power, device_type) {
        (wgpu::PowerPreference::LowPower, D::IntegratedGpu) => 0,
        (wgpu::PowerPreference::LowPower, D::DiscreteGpu) => 1,
        (_, D::DiscreteGpu) => 0,
        (_, D::IntegratedGpu) => 1,
        (_, D::VirtualGpu) => 2,
        (_, D::Other) => 3,
        (_, D::Cpu) => 4,
    };
    let backend = match backend {
        wgpu::Backend::Vulkan => 0,
        wgpu::Backend::Metal | wgpu::Backend::Dx12 => 1,
        _ => 2,
    };
    (device, backend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_parses_index_or_name() {
        assert_eq!(
            "2".parse::<AdapterSelector>().unwrap(),
            AdapterSelector::Index(2)
        );
        assert_eq!(
            "llvmpipe".parse::<AdapterSelector>().unwrap(),
            AdapterSelector::Name("llvmpipe".into())
        );
        assert_eq!(
            "".parse::<AdapterSelector>().unwrap(),
            AdapterSelector::Default
        );
    }

    #[test]
    fn validation_switch_values() {
        for (value, on) in [
            ("1", true),
            ("true", true),
            (" ON ", true),
            ("0", false),
            ("", false),
            ("no", false),
        ] {
            assert_eq!(switch_is_on(value), on, "{value:?}");
        }
    }

    #[test]
    fn discrete_beats_cpu_for_high_performance() {
        use wgpu::{Backend::Vulkan, DeviceType as D, PowerPreference as P};
        let high = P::HighPerformance;
        assert!(rank(D::DiscreteGpu, Vulkan, high) < rank(D::Cpu, Vulkan, high));
        assert!(
            rank(D::IntegratedGpu, Vulkan, P::LowPower) < rank(D::DiscreteGpu, Vulkan, P::LowPower)
        );
        assert!(rank(D::Cpu, Vulkan, high) < rank(D::Cpu, wgpu::Backend::Gl, high));
    }
}
