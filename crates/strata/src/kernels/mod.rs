//! Compute kernels: compiled once per context and configuration, dispatched on any buffers.
//!
//! - [`Context::gemm`]: C = A·B or A·Bᵀ, f32/f16/bf16 operands, f32 accumulation.
//! - [`Context::gemv`]: y = W·x for weights `[out, in]` in f32/f16/bf16, batch 1 to 8, weights
//!   optionally split into row parts.
//! - [`Context::matmul`]: the original f32 entry point, served by GEMM.
//!
//! Kernel parameters come from a per-device table ([`Tuning`]); `docs/KERNELS.md` describes
//! each kernel, its tiles and its bounds argument.

pub(crate) mod coop;
mod dtype;
mod gemm;
mod gemv;
mod matmul;
mod stream;
mod timing;
pub mod tuning;

pub use coop::CoopConfig;
pub use dtype::{KernelDtype, Layout};
pub use gemm::GemmSpec;
pub use gemv::GemvSpec;
pub use matmul::{MatmulConfig, MatmulShape};
pub use timing::{Clock, Timing};
pub use tuning::{GemvConfig, Tuning};

use crate::context::Context;
use crate::error::{Error, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use wgpu::util::DeviceExt;

/// The result of a kernel call: how long it took and which kernel variant ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelRun {
    /// Time per run.
    pub timing: Timing,
    /// The variant that ran, e.g. `gemm/f16/nt/128x128x16/8x8` or `gemv_any/bf16/b3/64t`:
    /// kernel, dtype, layout or batch, and its tile parameters.
    pub variant: String,
}

/// Which kernel path to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelPath {
    /// The fastest path the shape and device allow (the default): cooperative matrices for
    /// f16 GEMMs where the device has them, else the vector FMA paths.
    #[default]
    Auto,
    /// The vector FMA fast paths (`gemm.wgsl`, `gemv.wgsl`) where the shape allows, never
    /// cooperative matrices: for comparisons.
    Fma,
    /// The generic path (`gemm_any.wgsl`, `gemv_any.wgsl`) whatever the shape: for tests and
    /// comparisons.
    Generic,
}

/// Options of a kernel call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RunOptions {
    /// Times to run the kernel in one compute pass (timed together; [`Timing::seconds`] is
    /// per run). At least 1.
    pub repeats: u32,
    /// Which path to take.
    pub path: KernelPath,
    /// GEMM tiles to use instead of the per-device table's, on whichever path runs (checked
    /// against the kernel's rules and the device's limits): for experiments and tests.
    pub gemm_tiles: Option<MatmulConfig>,
    /// GEMV fast-path parameters instead of the table's (`max_subgroups` is recomputed from the
    /// device; checked against the device's limits): for experiments and tests.
    pub gemv: Option<GemvConfig>,
}

impl RunOptions {
    /// The defaults, with `repeats` runs back to back in one pass.
    pub fn repeated(repeats: u32) -> Self {
        Self {
            repeats,
            ..Self::default()
        }
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            repeats: 1,
            path: KernelPath::Auto,
            gemm_tiles: None,
            gemv: None,
        }
    }
}

/// What a workgroup's shared memory holds when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SharedMemory {
    /// Zeroed by wgpu (WebGPU's rule).
    Zeroed,
    /// Left as is: the shader writes every element before reading it (its header says why).
    WrittenBeforeRead,
}

/// One dispatch of a kernel: operands bound at 0..n, a uniform block at n, a grid.
#[derive(Debug)]
pub(crate) struct Step<'a> {
    pub(crate) operands: Vec<Operand<'a>>,
    pub(crate) uniforms: Vec<u8>,
    pub(crate) workgroups: [u32; 3],
}

/// Every (variant name, WGSL source) that the per-device table can produce: each kernel, for
/// each table entry, dtype, layout or batch and plausible subgroup size. The shader tests
/// validate them all with naga.
pub fn every_variant_source() -> Result<Vec<(String, String)>, String> {
    let mut sources = Vec::new();
    for tuning in Tuning::all() {
        for dtype in KernelDtype::ALL {
            for layout in [Layout::NN, Layout::NT] {
                let fast = gemm::variant_name(true, dtype, layout, &tuning.gemm);
                let text = gemm::fast_source(dtype, layout, &tuning.gemm)?;
                sources.push((fast, text.as_str().to_string()));
                let any = gemm::variant_name(false, dtype, layout, &tuning.gemm_any);
                let text = gemm::any_source(dtype, layout, &tuning.gemm_any)?;
                sources.push((any, text.as_str().to_string()));
            }
            for batch in 1..=tuning::MAX_GEMV_BATCH {
                let config = tuning.gemv_for(batch, dtype);
                for f16_loads in [false, true] {
                    let config = GemvConfig {
                        f16_loads,
                        ..config
                    };
                    let fast = gemv::variant_name(dtype, batch, Some(&config));
                    let text = gemv::fast_source(dtype, batch, &config)?;
                    sources.push((fast, text.as_str().to_string()));
                }
                let text = gemv::any_source(dtype, batch)?;
                sources.push((
                    gemv::variant_name(dtype, batch, None),
                    text.as_str().to_string(),
                ));
            }
        }
    }
    for subgroup in [16, 32, 64] {
        if let Some(config) = CoopConfig::for_subgroup(subgroup) {
            for layout in [Layout::NN, Layout::NT] {
                let text = coop::source(layout, &config)?;
                sources.push((
                    coop::variant_name(layout, &config),
                    text.as_str().to_string(),
                ));
            }
        }
    }
    sources.sort();
    sources.dedup();
    Ok(sources)
}

/// A compiled compute pipeline.
#[derive(Debug)]
pub(crate) struct Kernel {
    pub(crate) pipeline: wgpu::ComputePipeline,
    pub(crate) layout: wgpu::BindGroupLayout,
}

/// Pipelines compiled so far, keyed by shader and parameters.
#[derive(Debug, Default)]
pub(crate) struct KernelCache {
    kernels: Mutex<HashMap<String, Arc<Kernel>>>,
    tuning: OnceLock<Tuning>,
    coop: OnceLock<Option<CoopConfig>>,
}

/// One operand of a dispatch: a whole buffer or a byte range of one.
#[derive(Debug, Clone, Copy)]
pub struct Operand<'a> {
    /// The buffer.
    pub buffer: &'a wgpu::Buffer,
    /// Start of the range in bytes.
    pub offset: u64,
    /// Length of the range in bytes.
    pub size: u64,
}

impl<'a> From<&'a wgpu::Buffer> for Operand<'a> {
    fn from(buffer: &'a wgpu::Buffer) -> Self {
        Self {
            buffer,
            offset: 0,
            size: buffer.size(),
        }
    }
}

impl Context {
    /// The kernel parameters chosen for this device (from the table in [`tuning`]).
    pub fn kernel_tuning(&self) -> Tuning {
        *self
            .kernels
            .tuning
            .get_or_init(|| Tuning::for_device(&self.adapter_info(), &self.limits()))
    }

    /// The cooperative-matrix GEMM configuration for this device, or `None` when f16 GEMMs run
    /// on the FMA path: the device lacks `EXPERIMENTAL_COOPERATIVE_MATRIX` (wgpu offers it
    /// where Vulkan's `VK_KHR_cooperative_matrix` has the configurations it maps),
    /// `SHADER_F16` or `SUBGROUP`, a 16×16×16 f16·f16 + f32 configuration, or a fixed
    /// subgroup size, or the kernel's tiles exceed its limits.
    pub fn cooperative_gemm(&self) -> Option<CoopConfig> {
        *self.kernels.coop.get_or_init(|| {
            use wgpu::Features as F;
            let needed = F::EXPERIMENTAL_COOPERATIVE_MATRIX | F::SHADER_F16 | F::SUBGROUP;
            if !self.features().contains(needed)
                || !coop::supports_kernel(&self.adapter.cooperative_matrix_properties())
            {
                return None;
            }
            let info = self.adapter_info();
            if info.subgroup_min_size != info.subgroup_max_size {
                return None;
            }
            CoopConfig::for_subgroup(info.subgroup_min_size).filter(|c| c.fits(&self.limits()))
        })
    }

    /// The kernel for `key`, compiling `source()` the first time.
    pub(crate) fn kernel(
        &self,
        key: &str,
        source: impl FnOnce() -> Result<crate::shaders::KernelText, String>,
    ) -> Result<Arc<Kernel>> {
        self.kernel_with(key, SharedMemory::Zeroed, source)
    }

    /// [`Context::kernel`], choosing whether wgpu zeroes the workgroup's shared memory at
    /// the start of every workgroup (WebGPU's rule, and wgpu's default) or leaves it as is, for
    /// shaders that write every shared element before reading it (a pass over shared memory
    /// and a barrier saved per workgroup).
    pub(crate) fn kernel_with(
        &self,
        key: &str,
        shared: SharedMemory,
        source: impl FnOnce() -> Result<crate::shaders::KernelText, String>,
    ) -> Result<Arc<Kernel>> {
        let mut cache = self.kernels.kernels.lock().map_err(|_| Error::Gpu {
            during: "kernel cache".into(),
            message: "poisoned by a panic on another thread".into(),
        })?;
        if let Some(kernel) = cache.get(key) {
            return Ok(Arc::clone(kernel));
        }
        let text = source().map_err(|message| Error::Gpu {
            during: format!("preparing kernel {key}"),
            message,
        })?;
        let kernel = self.scoped(&format!("compiling kernel {key}"), || {
            let module = crate::shaders::create_kernel_module(&self.device, &text);
            let pipeline = self
                .device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(key),
                    layout: None,
                    module: &module,
                    entry_point: Some("main"),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        zero_initialize_workgroup_memory: shared == SharedMemory::Zeroed,
                        ..Default::default()
                    },
                    cache: None,
                });
            let layout = pipeline.get_bind_group_layout(0);
            Arc::new(Kernel { pipeline, layout })
        })?;
        cache.insert(key.to_string(), Arc::clone(&kernel));
        Ok(kernel)
    }

    /// Checks that an operand may be bound as a storage buffer on this device.
    pub(crate) fn check_binding(&self, what: &str, operand: &Operand<'_>) -> Result<()> {
        let limit = self.limits().max_storage_buffer_binding_size;
        if operand.size > limit {
            return Err(Error::TooLarge {
                what: what.to_string(),
                bytes: operand.size,
                limit_name: "max_storage_buffer_binding_size",
                limit,
            });
        }
        if !operand.size.is_multiple_of(4) {
            return Err(Error::InvalidArgument(format!(
                "{what}: a storage binding of {} bytes; bindings must be whole 4-byte words",
                operand.size
            )));
        }
        let alignment = u64::from(self.limits().min_storage_buffer_offset_alignment);
        if !operand.offset.is_multiple_of(alignment) {
            return Err(Error::InvalidArgument(format!(
                "{what}: offset {} is not a multiple of the device's storage offset alignment {alignment}",
                operand.offset
            )));
        }
        if operand.offset + operand.size > operand.buffer.size() {
            return Err(Error::InvalidArgument(format!(
                "{what}: range {}..{} is outside the buffer of {} bytes",
                operand.offset,
                operand.offset + operand.size,
                operand.buffer.size()
            )));
        }
        Ok(())
    }

    /// Checks that `operand` holds at least `bytes` (else [`Error::Shape`], naming `shape`) and
    /// may be bound as a storage buffer.
    pub(crate) fn check_operand(
        &self,
        what: &str,
        operand: &Operand<'_>,
        bytes: u64,
        shape: &str,
    ) -> Result<()> {
        if operand.size < bytes {
            return Err(Error::Shape(format!(
                "{what} must hold {shape} ({bytes} bytes), the buffer range has {}",
                operand.size
            )));
        }
        self.check_binding(what, operand)
    }

    /// A grid of `groups` workgroups: one row of them, or several rows of the device's
    /// maximum when there are more (the shader recomputes the linear index and skips the
    /// overshoot).
    pub(crate) fn grid(&self, groups: u32) -> [u32; 3] {
        let max = self.limits().max_compute_workgroups_per_dimension.max(1);
        if groups <= max {
            [groups, 1, 1]
        } else {
            [max, groups.div_ceil(max), 1]
        }
    }

    /// Records and submits `repeats` dispatches of `kernel` over `operands` (bindings 0..n) and
    /// a uniform block (binding n), timing them with GPU timestamps when the device has them.
    pub(crate) fn dispatch(
        &self,
        label: &str,
        kernel: &Kernel,
        operands: &[Operand<'_>],
        uniforms: &[u8],
        workgroups: [u32; 3],
        repeats: u32,
    ) -> Result<Timing> {
        let step = Step {
            operands: operands.to_vec(),
            uniforms: uniforms.to_vec(),
            workgroups,
        };
        self.dispatch_steps(label, kernel, &[step], repeats)
    }

    /// Records `repeats` rounds of the dispatches `steps` (each with its own bind group) in one
    /// compute pass, submits them and waits, timing the pass with GPU timestamps when the
    /// device has them.
    pub(crate) fn dispatch_steps(
        &self,
        label: &str,
        kernel: &Kernel,
        steps: &[Step<'_>],
        repeats: u32,
    ) -> Result<Timing> {
        let max = self.limits().max_compute_workgroups_per_dimension;
        for step in steps {
            let workgroups = step.workgroups;
            if workgroups.iter().any(|&w| w > max) {
                return Err(Error::TooLarge {
                    what: format!("{label}: dispatch of {workgroups:?} workgroups"),
                    bytes: u64::from(*workgroups.iter().max().unwrap_or(&0)),
                    limit_name: "max_compute_workgroups_per_dimension",
                    limit: u64::from(max),
                });
            }
        }
        let timer = timing::Timer::new(self);
        let submission = self.scoped(label, || {
            let bind_groups: Vec<(wgpu::BindGroup, [u32; 3])> = steps
                .iter()
                .map(|step| {
                    let uniform =
                        self.device
                            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                                label: Some(label),
                                contents: &step.uniforms,
                                usage: wgpu::BufferUsages::UNIFORM,
                            });
                    let mut entries: Vec<wgpu::BindGroupEntry<'_>> = step
                        .operands
                        .iter()
                        .enumerate()
                        .map(|(i, op)| wgpu::BindGroupEntry {
                            binding: i as u32,
                            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: op.buffer,
                                offset: op.offset,
                                size: wgpu::BufferSize::new(op.size),
                            }),
                        })
                        .collect();
                    entries.push(wgpu::BindGroupEntry {
                        binding: step.operands.len() as u32,
                        resource: uniform.as_entire_binding(),
                    });
                    let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: Some(label),
                        layout: &kernel.layout,
                        entries: &entries,
                    });
                    (bind_group, step.workgroups)
                })
                .collect();
            let mut encoder = self.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(label),
                    timestamp_writes: timer.as_ref().map(|t| t.pass_writes()),
                });
                pass.set_pipeline(&kernel.pipeline);
                for _ in 0..repeats.max(1) {
                    for (bind_group, [x, y, z]) in &bind_groups {
                        pass.set_bind_group(0, bind_group, &[]);
                        pass.dispatch_workgroups(*x, *y, *z);
                    }
                }
            }
            if let Some(t) = &timer {
                t.resolve(&mut encoder);
            }
            let started = std::time::Instant::now();
            (self.queue.submit([encoder.finish()]), started)
        })?;
        let (index, started) = submission;
        self.wait_for(index)?;
        let wall = started.elapsed();
        let runs = repeats.max(1);
        match timer {
            Some(t) => t.read(self, runs, wall),
            None => Ok(Timing::wall(wall, runs)),
        }
    }
}
