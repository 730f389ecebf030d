//! Kernel parameters per device: a small table keyed by device type and checked against the
//! device's limits (shared memory, invocations per workgroup, workgroup size).
//!
//! The first entry whose device type matches and whose tiles fit the limits wins; the last
//! entry matches every device and fits WebGPU's default limits (16 KiB of shared memory, 256
//! invocations), so every device gets a configuration. See `docs/KERNELS.md` for the reasons
//! behind each entry.

use super::matmul::MatmulConfig;
use crate::error::{Error, Result};
use serde::Serialize;
use wgpu::DeviceType;

/// The kernel parameters chosen for one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tuning {
    /// The table entry that was chosen.
    pub name: &'static str,
    /// Tiles of the GEMM fast path (`gemm.wgsl`, vec4 loads, double-buffered).
    pub gemm: MatmulConfig,
    /// Tiles of the GEMM edge path (`gemm_any.wgsl`, scalar loads).
    pub gemm_any: MatmulConfig,
    /// Threads per workgroup of the GEMV fast path (`gemv.wgsl`).
    pub gemv_threads: u32,
    /// The device's smallest subgroup size (at least 4, wgpu's floor): sizes the GEMV's
    /// shared memory for per-subgroup partial sums.
    pub min_subgroup: u32,
}

/// Parameters of one GEMV fast-path pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GemvConfig {
    /// Threads per workgroup.
    pub threads: u32,
    /// Rows per workgroup.
    pub rows: u32,
    /// Chunks (16-byte loads) per row in flight per thread.
    pub unroll: u32,
    /// `threads / min_subgroup`: slots for per-subgroup partial sums.
    pub max_subgroups: u32,
    /// f16 weights are read as `vec4<f16>` and widened by the hardware (`gemv_f16.wgsl`; only
    /// where the device has `SHADER_F16`, else ignored) rather than decoded from u32 words with
    /// integer arithmetic (`gemv_16bit.wgsl`). No effect on other dtypes. Off in the table:
    /// the integer decode is the one measured on a GPU (and it is faster on lavapipe); this is
    /// for experiments (`strata gemv --f16-loads true`).
    pub f16_loads: bool,
}

/// Threads per workgroup of the generic GEMV (`gemv_any.wgsl`).
pub const GEMV_ANY_THREADS: u32 = 64;

/// The largest batch the GEMV kernels take.
pub const MAX_GEMV_BATCH: u32 = 8;

/// One row of the table.
#[derive(Debug, Clone, Copy)]
struct Entry {
    name: &'static str,
    /// Device types the entry is for; empty means every device.
    device_types: &'static [DeviceType],
    gemm: MatmulConfig,
    gemm_any: MatmulConfig,
    /// Threads per workgroup of the GEMV fast path, where the device allows them.
    gemv_threads: u32,
}

const fn tiles(bm: u32, bn: u32, bk: u32, tm: u32, tn: u32) -> MatmulConfig {
    MatmulConfig { bm, bn, bk, tm, tn }
}

const TABLE: &[Entry] = &[
    // Discrete GPUs (the H100: 48 KiB of shared memory through Vulkan, 64K registers per SM):
    // 128×128 tiles, 8×8 per thread (256 threads), BK 16: 32 KiB double-buffered.
    Entry {
        name: "discrete-gpu",
        device_types: &[DeviceType::DiscreteGpu],
        gemm: tiles(128, 128, 16, 8, 8),
        gemm_any: tiles(64, 64, 16, 4, 4),
        gemv_threads: 256,
    },
    // Integrated GPUs (AMD APUs, Intel): the same register blocking, half the shared memory.
    Entry {
        name: "integrated-gpu",
        device_types: &[DeviceType::IntegratedGpu, DeviceType::VirtualGpu],
        gemm: tiles(128, 128, 8, 8, 8),
        gemm_any: tiles(64, 64, 16, 4, 4),
        gemv_threads: 256,
    },
    // CPU drivers (lavapipe, SwiftShader): they run a workgroup's invocations as SIMD loops on
    // one core, so fewer threads each doing more (8×8) is about twice as fast; 16 KiB.
    Entry {
        name: "cpu",
        device_types: &[DeviceType::Cpu],
        gemm: tiles(64, 64, 16, 8, 8),
        gemm_any: tiles(64, 64, 16, 8, 8),
        gemv_threads: 64,
    },
    // Anything else, or a device whose limits the entries above do not fit: 64 threads,
    // 4 KiB double-buffered, within WebGPU's default limits.
    Entry {
        name: "small",
        device_types: &[],
        gemm: tiles(32, 32, 8, 4, 4),
        gemm_any: tiles(32, 32, 8, 4, 4),
        gemv_threads: 64,
    },
];

impl Tuning {
    /// The parameters for a device, from the table.
    pub fn for_device(info: &wgpu::AdapterInfo, limits: &wgpu::Limits) -> Tuning {
        let entry = TABLE
            .iter()
            .find(|e| {
                (e.device_types.is_empty() || e.device_types.contains(&info.device_type))
                    && e.gemm.fits_fast(limits)
                    && e.gemm_any.fits(limits)
            })
            .unwrap_or(&TABLE[TABLE.len() - 1]);
        let gemv_threads = if limits.max_compute_invocations_per_workgroup >= entry.gemv_threads
            && limits.max_compute_workgroup_size_x >= entry.gemv_threads
        {
            entry.gemv_threads
        } else {
            GEMV_ANY_THREADS
        };
        Tuning {
            name: entry.name,
            gemm: entry.gemm,
            gemm_any: entry.gemm_any,
            gemv_threads,
            min_subgroup: info.subgroup_min_size.max(4),
        }
    }

    /// The GEMV fast-path parameters for `batch` vectors of `dtype` weights. f16 weights at
    /// batch 1 take two rows per workgroup and two loads in flight per row (measured on an
    /// H200: 3.85 TB/s against 3.63 TB/s with one row and four loads; f32 and bf16 do best with
    /// the latter).
    pub fn gemv_for(&self, batch: u32, dtype: super::KernelDtype) -> GemvConfig {
        let mut config = self.gemv(batch);
        if batch <= 1 && dtype == super::KernelDtype::F16 {
            config.rows = 2;
            config.unroll = 2;
        }
        config
    }

    /// The GEMV fast-path parameters for a batch of `batch` vectors.
    ///
    /// More rows per workgroup as the batch grows: each x chunk read from cache then serves
    /// several rows, keeping cache traffic near the weight traffic.
    pub fn gemv(&self, batch: u32) -> GemvConfig {
        let (rows, unroll) = match batch {
            0..=1 => (1, 4),
            2..=4 => (2, 2),
            _ => (4, 2),
        };
        GemvConfig {
            threads: self.gemv_threads,
            rows,
            unroll,
            max_subgroups: (self.gemv_threads / self.min_subgroup).max(1),
            f16_loads: false,
        }
    }

    /// `config` with `max_subgroups` set for this device, or an [`Error::InvalidArgument`]
    /// when the device or the kernel cannot run it: threads a power of two from the smallest
    /// subgroup size to the device's limits, 1 to 8 rows and 1 to 8 chunks in flight.
    pub fn gemv_override(&self, config: GemvConfig, limits: &wgpu::Limits) -> Result<GemvConfig> {
        let t = config.threads;
        let ok = t.is_power_of_two()
            && t >= self.min_subgroup
            && t <= limits.max_compute_invocations_per_workgroup
            && t <= limits.max_compute_workgroup_size_x
            && (1..=8).contains(&config.rows)
            && (1..=8).contains(&config.unroll);
        if !ok {
            return Err(Error::InvalidArgument(format!(
                "GEMV parameters {config:?} do not suit this device (threads a power of two from \
                 {} to {}, rows and unroll 1 to 8)",
                self.min_subgroup,
                limits
                    .max_compute_invocations_per_workgroup
                    .min(limits.max_compute_workgroup_size_x)
            )));
        }
        Ok(GemvConfig {
            max_subgroups: t / self.min_subgroup,
            ..config
        })
    }

    /// Every tuning the table can produce, for every plausible subgroup size: what the shader
    /// tests validate.
    pub fn all() -> Vec<Tuning> {
        let mut all = Vec::new();
        for entry in TABLE {
            for gemv_threads in [256, GEMV_ANY_THREADS] {
                for min_subgroup in [4, 8, 16, 32, 64, 128] {
                    all.push(Tuning {
                        name: entry.name,
                        gemm: entry.gemm,
                        gemm_any: entry.gemm_any,
                        gemv_threads,
                        min_subgroup,
                    });
                }
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(device_type: DeviceType) -> wgpu::AdapterInfo {
        let mut info = wgpu::AdapterInfo::new(device_type, wgpu::Backend::Vulkan);
        info.subgroup_min_size = 32;
        info.subgroup_max_size = 32;
        info
    }

    fn limits(shared: u32) -> wgpu::Limits {
        wgpu::Limits {
            max_compute_workgroup_storage_size: shared,
            ..wgpu::Limits::default()
        }
    }

    #[test]
    fn discrete_gpu_with_48k_gets_big_tiles() {
        let t = Tuning::for_device(&info(DeviceType::DiscreteGpu), &limits(48 << 10));
        assert_eq!(t.name, "discrete-gpu");
        assert_eq!(t.gemm, tiles(128, 128, 16, 8, 8));
        assert_eq!(t.gemv(1).max_subgroups, 8);
    }

    #[test]
    fn a_discrete_gpu_with_little_shared_memory_falls_through() {
        let t = Tuning::for_device(&info(DeviceType::DiscreteGpu), &limits(16 << 10));
        assert_eq!(t.name, "small");
    }

    #[test]
    fn lavapipe_gets_cpu_tiles() {
        let t = Tuning::for_device(&info(DeviceType::Cpu), &limits(32 << 10));
        assert_eq!(t.name, "cpu");
    }

    #[test]
    fn every_entry_is_valid_for_the_kernels() {
        for entry in TABLE {
            assert!(entry.gemm.fast_path_shape_ok(), "{}", entry.name);
            assert!(entry.gemm_any.shape_ok(), "{}", entry.name);
        }
        let last = TABLE[TABLE.len() - 1];
        assert!(last.gemm.fits_fast(&wgpu::Limits::default()));
        assert!(last.gemm_any.fits(&wgpu::Limits::default()));
    }
}
