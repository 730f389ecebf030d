//! Kernel parameters per device: a small table keyed by device type and checked against the
//! device's limits (shared memory, invocations per workgroup, workgroup size).
//!
//! The first entry whose device type matches and whose tiles fit the limits wins; the last
//! entry matches every device and fits WebGPU's default limits (16 KiB of shared memory, 256
//! invocations), so every device gets a configuration. See `docs/KERNELS.md` for the reasons
//! behind each entry.

use super::coop::CoopConfig;
use super::dtype::KernelDtype;
use super::matmul::MatmulConfig;
use crate::error::{Error, Result};
use serde::Serialize;
use std::str::FromStr;
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
    /// The device's subgroup size when it is fixed (smallest = largest), which the
    /// subgroup-rows GEMV (`gemv_sg.wgsl`) and the cooperative-matrix GEMM need.
    pub fixed_subgroup: Option<u32>,
    /// f16 GEMV weights read as `vec4<f16>` where the device has `SHADER_F16`
    /// ([`GemvConfig::f16_loads`]).
    pub gemv_f16_loads: bool,
    /// Batch-1 GEMVs whose rows hold at most this many 16-byte chunks run on the subgroup-rows
    /// engine (short rows leave a whole workgroup per row too few loads in flight); 0: never.
    pub gemv_sg_short_chunks: u32,
    /// Workgroups a GEMV or a cooperative-matrix GEMM aims for: when rows (or tiles of C)
    /// alone give fewer, the columns (or K) are split into slices added up afterwards.
    pub target_groups: u32,
    /// Cooperative-matrix tiles in order of preference: the first whose grid reaches
    /// `target_groups` serves, else the last (with split K).
    pub coop_tiles: &'static [CoopConfig],
    /// bf16 GEMMs run on cooperative matrices too (converted to f16 exactly in range; see
    /// `gemm_coop.wgsl`) where the device has them.
    pub coop_bf16: bool,
    /// f16 GEMVs of 2 to 8 vectors run on cooperative matrices where the device has them
    /// (`gemv_coop.wgsl`), with these (threads, 16-row tiles, steps in flight); `None`: on the
    /// FMA kernels.
    pub gemv_coop: Option<(u32, u32, u32)>,
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
    /// integer arithmetic (`gemv_16bit.wgsl`). No effect on other dtypes. On in the table for
    /// discrete GPUs (measured faster on an H200), off elsewhere (slower on lavapipe).
    pub f16_loads: bool,
    /// Which kernel runs: a workgroup per row group, or rows per subgroup.
    pub engine: GemvEngine,
    /// Column slices (subgroup engine only), added up by a second dispatch; 0 lets the table
    /// choose from [`Tuning::target_groups`], 1 never splits.
    pub splits: u32,
}

/// Which GEMV fast-path kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GemvEngine {
    /// `gemv.wgsl`: all threads of a workgroup on [`GemvConfig::rows`] rows, sums reduced
    /// through shared memory. Any subgroup size.
    Workgroup,
    /// `gemv_sg.wgsl`: each subgroup on [`GemvConfig::rows`] rows of its own, the subgroups of
    /// a workgroup walking the same columns (x read from L2 once for all their rows). Needs a
    /// fixed subgroup size.
    Subgroup,
    /// `gemv_coop.wgsl`: f16 weights on cooperative matrices, batches of 2 to 8:
    /// [`GemvConfig::rows`] tiles of 16 rows per workgroup, its subgroups splitting K. Needs
    /// the cooperative-matrix GEMM's device support.
    Cooperative,
}

impl FromStr for GemvEngine {
    type Err = Error;

    /// Parses `wg` (or `workgroup`) and `sg` (or `subgroup`).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "wg" | "workgroup" => Ok(GemvEngine::Workgroup),
            "sg" | "subgroup" => Ok(GemvEngine::Subgroup),
            "coop" | "cooperative" => Ok(GemvEngine::Cooperative),
            _ => Err(Error::InvalidArgument(format!(
                "unknown GEMV engine `{s}` (expected wg, sg or coop)"
            ))),
        }
    }
}

/// Threads per workgroup of the generic GEMV (`gemv_any.wgsl`).
pub const GEMV_ANY_THREADS: u32 = 64;

/// The largest batch the GEMV kernels take.
pub const MAX_GEMV_BATCH: u32 = 8;

/// The most slices a split GEMV or GEMM is cut into.
pub const MAX_SPLITS: u32 = 16;

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
    gemv_f16_loads: bool,
    gemv_sg_short_chunks: u32,
    target_groups: u32,
    coop_tiles: &'static [CoopConfig],
    coop_bf16: bool,
    gemv_coop: Option<(u32, u32, u32)>,
}

const fn tiles(bm: u32, bn: u32, bk: u32, tm: u32, tn: u32) -> MatmulConfig {
    MatmulConfig { bm, bn, bk, tm, tn }
}

/// Cooperative-matrix tiles for every entry (each is checked against the device's limits):
/// 128×256 tiles of 8 subgroups (64×64 of C each), 32 deep, one shared buffer. The fastest
/// measured on an H200 (8192³ f16 `nn`: 156 TFLOP/s against 95 for 128×128 double-buffered).
const COOP_TILES: &[CoopConfig] = &[CoopConfig::tiles(128, 256, 32, 2, 4, 1)];

const TABLE: &[Entry] = &[
    // Discrete GPUs (the H100/H200: 48 KiB of shared memory through Vulkan, 64K registers per
    // SM, subgroups of 32): 128×128 tiles, 8×8 per thread (256 threads), BK 16: 32 KiB
    // double-buffered. f16 GEMV weights as vec4<f16> (3.92 TB/s against 3.74 for the integer
    // decode, H200, 16384²). A GEMV or GEMM aims for 256 workgroups (two per SM on 132 SMs).
    Entry {
        name: "discrete-gpu",
        device_types: &[DeviceType::DiscreteGpu],
        // H200, SGEMM 8192³: 35.1 TFLOP/s with 128×256×8 tiles of 8×16 per thread, against
        // 31.7 with 128×128×16/8×8 (same run; cuBLAS 50.6).
        gemm: tiles(128, 256, 8, 8, 16),
        gemm_any: tiles(64, 64, 16, 4, 4),
        gemv_threads: 256,
        gemv_f16_loads: true,
        gemv_sg_short_chunks: 1024,
        target_groups: 256,
        coop_tiles: COOP_TILES,
        coop_bf16: true,
        // H200, 4096×14336 f16 batch 8: 73.9 µs with 128 threads, one 16-row tile, 4 steps in
        // flight and no split of K, against 86.8 with 256 threads, 94.0 with 4 slices, 119.1
        // with 8 steps, and 89.6 on the FMA kernel (run 9 of 2026-12-02).
        gemv_coop: Some((128, 1, 4)),
    },
    // Integrated GPUs (AMD APUs, Intel): the same register blocking, half the shared memory;
    // the measured GEMV engine and integer f16 decode until a measurement says otherwise.
    Entry {
        name: "integrated-gpu",
        device_types: &[DeviceType::IntegratedGpu, DeviceType::VirtualGpu],
        gemm: tiles(128, 128, 8, 8, 8),
        gemm_any: tiles(64, 64, 16, 4, 4),
        gemv_threads: 256,
        gemv_f16_loads: false,
        gemv_sg_short_chunks: 0,
        target_groups: 64,
        coop_tiles: COOP_TILES,
        coop_bf16: false,
        gemv_coop: None,
    },
    // CPU drivers (lavapipe, SwiftShader): they run a workgroup's invocations as SIMD loops on
    // one core, so fewer threads each doing more (8×8) is about twice as fast; 16 KiB. The
    // integer f16 decode is faster there than vec4<f16> loads.
    Entry {
        name: "cpu",
        device_types: &[DeviceType::Cpu],
        gemm: tiles(64, 64, 16, 8, 8),
        gemm_any: tiles(64, 64, 16, 8, 8),
        gemv_threads: 64,
        gemv_f16_loads: false,
        gemv_sg_short_chunks: 0,
        target_groups: 4,
        coop_tiles: COOP_TILES,
        coop_bf16: false,
        gemv_coop: None,
    },
    // Anything else, or a device whose limits the entries above do not fit: 64 threads,
    // 4 KiB double-buffered, within WebGPU's default limits; the measured GEMV choices.
    Entry {
        name: "small",
        device_types: &[],
        gemm: tiles(32, 32, 8, 4, 4),
        gemm_any: tiles(32, 32, 8, 4, 4),
        gemv_threads: 64,
        gemv_f16_loads: false,
        gemv_sg_short_chunks: 0,
        target_groups: 16,
        coop_tiles: COOP_TILES,
        coop_bf16: false,
        gemv_coop: None,
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
        let fixed = info.subgroup_min_size == info.subgroup_max_size
            && info.subgroup_min_size.is_power_of_two()
            && (4..=128).contains(&info.subgroup_min_size);
        Tuning::of(
            entry,
            gemv_threads,
            info.subgroup_min_size.max(4),
            fixed.then_some(info.subgroup_min_size),
        )
    }

    fn of(
        entry: &Entry,
        gemv_threads: u32,
        min_subgroup: u32,
        fixed_subgroup: Option<u32>,
    ) -> Tuning {
        Tuning {
            name: entry.name,
            gemm: entry.gemm,
            gemm_any: entry.gemm_any,
            gemv_threads,
            min_subgroup,
            fixed_subgroup,
            gemv_f16_loads: entry.gemv_f16_loads,
            gemv_sg_short_chunks: entry.gemv_sg_short_chunks,
            target_groups: entry.target_groups,
            coop_tiles: entry.coop_tiles,
            coop_bf16: entry.coop_bf16,
            gemv_coop: entry.gemv_coop,
        }
    }

    /// The GEMV fast-path parameters for `batch` vectors of `dtype` weights with rows of
    /// `cols` columns.
    ///
    /// Batches of 2 to 8 run on the subgroup-rows engine where the device has a fixed subgroup
    /// size (every weight read once for the batch, x read from L2 once per 32 rows rather than
    /// per 1–4), and so do batch-1 rows of at most `gemv_sg_short_chunks` chunks; the rest on
    /// the workgroup engine. f16 weights at batch 1 on the workgroup engine take two rows per
    /// workgroup and two loads in flight per row (measured on an H200: 3.85 TB/s against 3.63
    /// TB/s with one row and four loads; f32 and bf16 do best with the latter).
    pub fn gemv_for(&self, batch: u32, dtype: KernelDtype, cols: u32) -> GemvConfig {
        let chunks = cols / (16 / dtype.bytes() as u32);
        let subgroup_fits = self
            .fixed_subgroup
            .is_some_and(|sg| self.gemv_threads >= sg && self.gemv_threads.is_multiple_of(sg));
        let short = chunks <= self.gemv_sg_short_chunks;
        let mut config = self.gemv(batch);
        config.f16_loads = self.gemv_f16_loads;
        // f32 batches ran faster on the workgroup engine (H200, 4096×14336 batch 8: 173 µs
        // against 206 µs), 16-bit ones on the subgroup engine.
        let batch_on_subgroups = batch >= 2 && dtype != KernelDtype::F32;
        if subgroup_fits && (batch_on_subgroups || (batch <= 1 && short)) {
            // H200, 4096×14336 batch 8: f16 with 2 rows per subgroup 91 µs (4 rows, 2 column
            // slices: 110 µs); bf16 with 4 rows and 2 slices 105 µs (the best of those tried).
            // Batch 1, short rows: 2 rows, 4 loads in flight (4096×4096 bf16: 7.4 µs, 4.56 TB/s).
            let (rows, unroll) = match (batch, dtype) {
                (0..=1, _) => (2, 4),
                (_, KernelDtype::F16) => (2, 2),
                _ => (4, 2),
            };
            return GemvConfig {
                rows,
                unroll,
                engine: GemvEngine::Subgroup,
                ..config
            };
        }
        if batch <= 1 && dtype == KernelDtype::F16 {
            config.rows = 2;
            config.unroll = 2;
        }
        config
    }

    /// The cooperative-matrix GEMV parameters for `batch` vectors of `dtype` weights, when the
    /// table runs them there (f16, batches of 2 to 8, where the device has the cooperative-matrix
    /// GEMM and the shape suits; otherwise [`Tuning::gemv_for`]'s kernels run).
    pub fn gemv_coop_for(&self, batch: u32, dtype: KernelDtype) -> Option<GemvConfig> {
        let (threads, rows, unroll) = self.gemv_coop?;
        (dtype == KernelDtype::F16 && (2..=MAX_GEMV_BATCH).contains(&batch)).then_some(GemvConfig {
            threads,
            rows,
            unroll,
            max_subgroups: (threads / self.min_subgroup).max(1),
            f16_loads: false,
            engine: GemvEngine::Cooperative,
            splits: 0,
        })
    }

    /// The workgroup-engine GEMV parameters for a batch of `batch` vectors.
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
            engine: GemvEngine::Workgroup,
            splits: 0,
        }
    }

    /// `config` with `max_subgroups` set for this device, or an [`Error::InvalidArgument`]
    /// when the device or the kernel cannot run it: threads a power of two from the smallest
    /// subgroup size to the device's limits, 1 to 8 rows and 1 to 8 chunks in flight; the
    /// subgroup engine needs a fixed subgroup size dividing the threads; the workgroup engine
    /// does not split columns (the others take at most [`MAX_SPLITS`] slices); the cooperative
    /// engine takes 1 or 2 tiles of 16 rows.
    pub fn gemv_override(&self, config: GemvConfig, limits: &wgpu::Limits) -> Result<GemvConfig> {
        let t = config.threads;
        let max_threads = limits
            .max_compute_invocations_per_workgroup
            .min(limits.max_compute_workgroup_size_x);
        let ok = t.is_power_of_two()
            && t >= self.min_subgroup
            && t <= max_threads
            && (1..=8).contains(&config.rows)
            && (1..=8).contains(&config.unroll)
            && config.splits <= MAX_SPLITS;
        if !ok {
            return Err(Error::InvalidArgument(format!(
                "GEMV parameters {config:?} do not suit this device (threads a power of two from \
                 {} to {max_threads}, rows and unroll 1 to 8, at most {MAX_SPLITS} splits)",
                self.min_subgroup,
            )));
        }
        match config.engine {
            GemvEngine::Workgroup if config.splits > 1 => Err(Error::InvalidArgument(format!(
                "GEMV parameters {config:?}: the workgroup engine does not split columns"
            ))),
            GemvEngine::Cooperative if config.rows > 2 => Err(Error::InvalidArgument(format!(
                "GEMV parameters {config:?}: the cooperative engine takes 1 or 2 tiles of 16 rows"
            ))),
            GemvEngine::Subgroup
                if !self
                    .fixed_subgroup
                    .is_some_and(|sg| t >= sg && t.is_multiple_of(sg)) =>
            {
                Err(Error::InvalidArgument(format!(
                    "GEMV parameters {config:?}: the subgroup engine needs a fixed subgroup size \
                     dividing the threads (this device: {:?})",
                    self.fixed_subgroup
                )))
            }
            _ => Ok(GemvConfig {
                max_subgroups: t / self.min_subgroup,
                ..config
            }),
        }
    }

    /// Every tuning the table can produce, for every plausible subgroup size: what the shader
    /// tests validate.
    pub fn all() -> Vec<Tuning> {
        let mut all = Vec::new();
        for entry in TABLE {
            for gemv_threads in [256, GEMV_ANY_THREADS] {
                for min_subgroup in [4, 8, 16, 32, 64, 128] {
                    for fixed in [None, Some(min_subgroup)] {
                        all.push(Tuning::of(entry, gemv_threads, min_subgroup, fixed));
                    }
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
        assert_eq!(t.gemm, tiles(128, 256, 8, 8, 16));
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
    fn the_table_picks_the_gemv_engine_by_batch_and_row_length() {
        let t = Tuning::for_device(&info(DeviceType::DiscreteGpu), &limits(48 << 10));
        assert_eq!(t.fixed_subgroup, Some(32));
        let b8 = t.gemv_for(8, KernelDtype::F16, 14336);
        assert_eq!(
            (b8.engine, b8.rows, b8.f16_loads),
            (GemvEngine::Subgroup, 2, true)
        );
        assert_eq!(b8.max_subgroups, 8);
        let bf16 = t.gemv_for(8, KernelDtype::Bf16, 14336);
        assert_eq!((bf16.engine, bf16.rows), (GemvEngine::Subgroup, 4));
        let f32 = t.gemv_for(8, KernelDtype::F32, 14336);
        assert_eq!(f32.engine, GemvEngine::Workgroup);
        let long = t.gemv_for(1, KernelDtype::Bf16, 16384);
        assert_eq!(
            (long.engine, long.rows, long.unroll),
            (GemvEngine::Workgroup, 1, 4)
        );
        let f16 = t.gemv_for(1, KernelDtype::F16, 14336);
        assert_eq!(
            (f16.engine, f16.rows, f16.unroll),
            (GemvEngine::Workgroup, 2, 2)
        );
        // 4096 bf16 columns are 512 chunks: short rows, on the subgroup engine.
        let short = t.gemv_for(1, KernelDtype::Bf16, 4096);
        assert_eq!((short.engine, short.rows), (GemvEngine::Subgroup, 2));

        let mut varying = info(DeviceType::DiscreteGpu);
        varying.subgroup_min_size = 8;
        let t = Tuning::for_device(&varying, &limits(48 << 10));
        assert_eq!(t.fixed_subgroup, None);
        assert_eq!(
            t.gemv_for(8, KernelDtype::F32, 4096).engine,
            GemvEngine::Workgroup
        );

        let t = Tuning::for_device(&info(DeviceType::IntegratedGpu), &limits(48 << 10));
        let short = t.gemv_for(1, KernelDtype::F16, 4096);
        assert_eq!(
            (short.engine, short.f16_loads),
            (GemvEngine::Workgroup, false)
        );
    }

    #[test]
    fn gemv_overrides_are_checked_against_the_engine() {
        let l = limits(48 << 10);
        let t = Tuning::for_device(&info(DeviceType::DiscreteGpu), &l);
        let sg = GemvConfig {
            engine: GemvEngine::Subgroup,
            splits: 4,
            ..t.gemv(8)
        };
        assert!(t.gemv_override(sg, &l).is_ok());
        let too_many = GemvConfig {
            splits: MAX_SPLITS + 1,
            ..sg
        };
        assert!(t.gemv_override(too_many, &l).is_err());
        let wg_split = GemvConfig {
            engine: GemvEngine::Workgroup,
            ..sg
        };
        assert!(t.gemv_override(wg_split, &l).is_err());
        let mut varying = info(DeviceType::DiscreteGpu);
        varying.subgroup_min_size = 16;
        let v = Tuning::for_device(&varying, &l);
        assert!(v.gemv_override(sg, &l).is_err());
        assert!("sg".parse::<GemvEngine>().is_ok() && "x".parse::<GemvEngine>().is_err());
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
