//! Compiled compute pipelines, and the per-context cache that compiles each variant once.

use crate::error::{Error, Result};
use crate::kernels::coop::CoopConfig;
use crate::kernels::tuning::Tuning;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// A compiled compute pipeline with the layout of its bind group 0.
#[derive(Debug)]
pub(crate) struct Kernel {
    /// The variant name (the cache key), for labels and error messages.
    pub(crate) name: String,
    pub(crate) pipeline: wgpu::ComputePipeline,
    pub(crate) layout: wgpu::BindGroupLayout,
}

/// Pipelines compiled so far, keyed by variant name, and the per-device choices derived once.
#[derive(Debug, Default)]
pub(crate) struct KernelCache {
    kernels: Mutex<HashMap<String, Arc<Kernel>>>,
    /// The kernel parameters chosen for the device.
    pub(crate) tuning: OnceLock<Tuning>,
    /// The cooperative-matrix configuration, when the device has one.
    pub(crate) coop: OnceLock<Option<CoopConfig>>,
}

impl KernelCache {
    /// The kernel named `key`, compiling it with `compile` the first time. The lock is held
    /// while compiling, so two threads never compile the same variant twice.
    pub(crate) fn get_or_compile(
        &self,
        key: &str,
        compile: impl FnOnce() -> Result<Kernel>,
    ) -> Result<Arc<Kernel>> {
        let mut cache = self.kernels.lock().map_err(|_| Error::Gpu {
            during: "kernel cache".into(),
            message: "poisoned by a panic on another thread".into(),
        })?;
        if let Some(kernel) = cache.get(key) {
            return Ok(Arc::clone(kernel));
        }
        let kernel = Arc::new(compile()?);
        cache.insert(key.to_string(), Arc::clone(&kernel));
        Ok(kernel)
    }
}
