//! Compute kernels: compiled once per context and configuration, dispatched on any buffers.
//!
//! - [`Context::gemm`]: C = A·B or A·Bᵀ, f32/f16/bf16 operands (or ggml-quantized B), f32
//!   accumulation, on the tensor cores where the device has cooperative matrices.
//! - [`Context::gemv`]: y = W·x for weights `[out, in]` in f32/f16/bf16 or one of ggml's
//!   quantized block types (Q4_0 … Q6_K, decoded in registers), batch 1 to 8, weights
//!   optionally split into row parts.
//! - [`Context::matmul`]: the original f32 entry point, served by GEMM.
//!
//! Kernel parameters come from a per-device table ([`Tuning`]); `docs/KERNELS.md` describes
//! each kernel, its tiles and its bounds argument.

pub(crate) mod coop;
pub(crate) mod dtype;
pub(crate) mod gemm;
pub(crate) mod gemv;
mod gemv_coop;
pub(crate) mod gemv_spec;
pub(crate) mod matmul;
mod quant;
mod quant_gemm;
mod slices;
mod stream;
pub(crate) mod tuning;

pub use coop::CoopConfig;
pub use matmul::MatmulConfig;
pub use quant::{quant_gemv_config, quant_gemv_engine_config};
pub use tuning::{GEMV_ANY_THREADS, GemvConfig, GemvEngine, MAX_GEMV_BATCH, MAX_SPLITS, Tuning};
// The calls' vocabulary is public at the crate root; these paths are the crate's own.
pub(crate) use dtype::{KernelDtype, Layout};
pub(crate) use gemm::GemmSpec;
pub(crate) use gemv_spec::GemvSpec;

/// Cooperative-matrix tiles worth measuring against the table's (see `scripts/gpu-run.sh`).
pub use coop::SWEEP_TILES as COOP_SWEEP_TILES;
/// The bf16 → f16 conversion of the cooperative-matrix GEMM, on the CPU (see
/// `gemm_coop.wgsl`).
pub use coop::bf16_to_f16;
/// Subgroup-engine GEMV settings worth measuring against the table's.
pub use gemv::SWEEP as GEMV_SWEEP;
/// Cooperative-matrix GEMV settings worth measuring against the table's.
pub use gemv_coop::SWEEP as GEMV_COOP_SWEEP;

use crate::context::Context;
use crate::error::Result;
use crate::pipeline::Kernel;
use crate::recording::Timing;
use serde::Serialize;
use std::sync::Arc;

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
    /// f16 (and, where the table says so, bf16) GEMMs where the device has them, else the
    /// vector FMA paths.
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
    /// Cooperative-matrix tiles instead of the table's (the subgroup size is the device's;
    /// checked against the kernel's rules and the device's limits). The GEMM must be one the
    /// cooperative kernel takes on this device, else [`crate::Error::InvalidArgument`] or
    /// [`crate::Error::DeviceLacks`].
    pub coop_tiles: Option<CoopConfig>,
    /// Slices of K for the cooperative-matrix GEMM instead of the table's choice (1: no
    /// split; at most [`MAX_SPLITS`]).
    pub splits: Option<u32>,
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
            coop_tiles: None,
            splits: None,
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
        }
    }
    sources.extend(gemv::variant_sources()?);
    sources.extend(gemv_coop::variant_sources()?);
    let tiles: Vec<CoopConfig> = Tuning::all()
        .iter()
        .flat_map(|t| t.coop_tiles.iter().copied())
        .chain(COOP_SWEEP_TILES.iter().copied())
        .collect();
    sources.extend(coop::variant_sources(&tiles)?);
    sources.push((
        "sum_slices".into(),
        crate::shaders::specialize(&crate::shaders::SUM_SLICES, &[("WG", 256)])?
            .as_str()
            .to_string(),
    ));
    sources.extend(quant::variant_sources()?);
    sources.extend(quant_gemm::variant_sources()?);
    sources.sort();
    sources.dedup();
    Ok(sources)
}

impl Context {
    /// The kernel parameters chosen for this device (from the table of [`Tuning`]).
    pub fn kernel_tuning(&self) -> Tuning {
        *self
            .kernels
            .tuning
            .get_or_init(|| Tuning::for_device(&self.adapter_info(), self.device_limits()))
    }

    /// The cooperative-matrix GEMM configuration for this device (the table's first tiles
    /// with the device's subgroup size), or `None` when f16 and bf16 GEMMs run on the FMA
    /// path: the device lacks `EXPERIMENTAL_COOPERATIVE_MATRIX` (wgpu offers it where
    /// Vulkan's `VK_KHR_cooperative_matrix` has the configurations it maps), `SHADER_F16` or
    /// `SUBGROUP`, a 16×16×16 f16·f16 + f32 configuration, or a fixed subgroup size, or the
    /// kernel's tiles exceed its limits. Smaller GEMMs may use other tiles of the table, or
    /// split K ([`KernelRun::variant`] says which).
    pub fn cooperative_gemm(&self) -> Option<CoopConfig> {
        *self.kernels.coop.get_or_init(|| {
            let subgroup = self.coop_subgroup()?;
            let limits = self.device_limits();
            self.kernel_tuning()
                .coop_tiles
                .iter()
                .map(|t| t.with_subgroup(subgroup))
                .find(|c| c.fits(limits))
        })
    }

    /// The subgroup size of the cooperative-matrix kernel on this device, when the device
    /// can run it at all.
    pub(crate) fn coop_subgroup(&self) -> Option<u32> {
        use wgpu::Features as F;
        let needed = F::EXPERIMENTAL_COOPERATIVE_MATRIX | F::SHADER_F16 | F::SUBGROUP;
        if !self.features().contains(needed)
            || !coop::supports_kernel(&self.adapter.cooperative_matrix_properties())
        {
            return None;
        }
        let info = self.adapter_info();
        (info.subgroup_min_size == info.subgroup_max_size).then_some(info.subgroup_min_size)
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
        self.kernels.get_or_compile(key, || {
            let text = source().map_err(|message| crate::Error::Gpu {
                during: format!("preparing kernel {key}"),
                message,
            })?;
            let device = self.device();
            self.scoped(&format!("compiling kernel {key}"), || {
                let module = crate::shaders::create_kernel_module(device, &text);
                let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
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
                Kernel {
                    name: key.to_string(),
                    pipeline,
                    layout,
                }
            })
        })
    }
}
