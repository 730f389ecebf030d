//! Cooperative-matrix GEMM (`gemm_coop.wgsl`): f16 A and B on the tensor cores, f32 sums.
//!
//! Chosen automatically for f16 GEMMs with K and N multiples of 8 when the device has wgpu's
//! `EXPERIMENTAL_COOPERATIVE_MATRIX` with a 16×16×16 f16·f16 + f32 configuration and a fixed
//! subgroup size; everything else runs on the FMA paths of [`super::gemm`].

use super::dtype::Layout;
use crate::shaders::{self, KernelText};
use serde::Serialize;

/// The fragment size the kernel uses (wgpu's `coop_mat16x16`).
const FRAGMENT: u32 = 16;

/// Each subgroup's block of C: 4×4 fragments (64×64), one accumulator variable each.
const SUBGROUP_ROWS: u32 = 64;
const SUBGROUP_COLS: u32 = 64;

/// Tiles of the cooperative-matrix GEMM for one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CoopConfig {
    /// Rows of C per workgroup (64 per subgroup row).
    pub bm: u32,
    /// Columns of C per workgroup (64 per subgroup column).
    pub bn: u32,
    /// K per step through shared memory.
    pub bk: u32,
    /// Subgroups along M.
    pub sg_m: u32,
    /// Subgroups along N.
    pub sg_n: u32,
    /// The device's subgroup size (fixed: min = max).
    pub subgroup: u32,
}

impl std::fmt::Display for CoopConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}x{}x{}/{}x{}sg{}",
            self.bm, self.bn, self.bk, self.sg_m, self.sg_n, self.subgroup
        )
    }
}

impl CoopConfig {
    /// The configuration for a device with a fixed subgroup size of `subgroup` (16 to 64):
    /// 8 subgroups as 2×4, each 64×64 of C, so 128×256 tiles of C, 32 deep. `None` for other
    /// subgroup sizes.
    pub fn for_subgroup(subgroup: u32) -> Option<CoopConfig> {
        if !subgroup.is_power_of_two() || !(16..=64).contains(&subgroup) {
            return None;
        }
        let (sg_m, sg_n) = (2, 4);
        Some(CoopConfig {
            bm: sg_m * SUBGROUP_ROWS,
            bn: sg_n * SUBGROUP_COLS,
            bk: 32,
            sg_m,
            sg_n,
            subgroup,
        })
        .filter(CoopConfig::shape_ok)
    }

    /// Threads per workgroup.
    pub fn threads(&self) -> u32 {
        self.sg_m * self.sg_n * self.subgroup
    }

    /// Bytes of shared memory a workgroup uses (A and B tiles in f16, rows padded by 8
    /// halves, and one 16×16 f32 staging area per subgroup).
    pub fn shared_bytes(&self) -> u64 {
        let a = self.bm * (self.bk + 8);
        let b = (self.bk * (self.bn + 8)).max(self.bn * (self.bk + 8));
        let c = self.sg_m * self.sg_n * FRAGMENT * FRAGMENT * 4;
        u64::from((a + b) * 2 + c)
    }

    /// `true` when the kernel takes this shape: K and N multiples of 8 (16-byte loads of
    /// 8 halves lie wholly inside or outside the matrices).
    pub fn takes(k: u32, n: u32) -> bool {
        k.is_multiple_of(8) && n.is_multiple_of(8)
    }

    /// The kernel's rules: each subgroup owns a 64×32 block, BK is whole fragments, and the
    /// vec4 loads of each tile divide evenly among the threads.
    fn shape_ok(&self) -> bool {
        let threads = self.threads();
        self.bm == self.sg_m * SUBGROUP_ROWS
            && self.bn == self.sg_n * SUBGROUP_COLS
            && self.bk.is_multiple_of(FRAGMENT)
            && (self.bm * self.bk / 8).is_multiple_of(threads)
            && (self.bn * self.bk / 8).is_multiple_of(threads)
    }

    /// The configuration runs within `limits`.
    pub(crate) fn fits(&self, limits: &wgpu::Limits) -> bool {
        self.shape_ok()
            && self.threads() <= limits.max_compute_invocations_per_workgroup
            && self.threads() <= limits.max_compute_workgroup_size_x
            && self.shared_bytes() <= u64::from(limits.max_compute_workgroup_storage_size)
    }
}

/// `true` when the device's cooperative-matrix configurations include the one the kernel
/// multiplies with: 16×16×16, f16 A and B, f32 C.
pub(crate) fn supports_kernel(properties: &[wgpu::CooperativeMatrixProperties]) -> bool {
    use wgpu::CooperativeScalarType as S;
    properties.iter().any(|p| {
        p.m_size == FRAGMENT
            && p.n_size == FRAGMENT
            && p.k_size == FRAGMENT
            && p.ab_type == S::F16
            && p.cr_type == S::F32
    })
}

/// The WGSL of the kernel for `layout` and `config`.
pub(crate) fn source(layout: Layout, config: &CoopConfig) -> Result<KernelText, String> {
    shaders::specialize(
        &shaders::GEMM_COOP,
        &[
            ("BK", config.bk),
            ("SG_M", config.sg_m),
            ("SG_N", config.sg_n),
            ("SG_SIZE", config.subgroup),
            ("B_NT", u32::from(layout == Layout::NT)),
        ],
    )
}

/// The variant name (and kernel cache key) of a cooperative-matrix pipeline.
pub(crate) fn variant_name(layout: Layout, config: &CoopConfig) -> String {
    format!("gemm_coop/f16/{layout}/{config}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subgroup_size_gets_eight_subgroups_within_48k() {
        for subgroup in [16, 32, 64] {
            let config = CoopConfig::for_subgroup(subgroup).expect("a configuration");
            assert_eq!(config.threads(), 8 * subgroup, "{config}");
            assert_eq!((config.bm, config.bn), (128, 256), "{config}");
            assert!(config.shared_bytes() <= 48 << 10, "{config}");
        }
        let c = CoopConfig::for_subgroup(32).expect("a configuration");
        assert_eq!((c.sg_m, c.sg_n), (2, 4));
    }

    #[test]
    fn odd_subgroup_sizes_get_none() {
        for subgroup in [0, 1, 4, 8, 24, 128, 256] {
            assert_eq!(CoopConfig::for_subgroup(subgroup), None, "{subgroup}");
        }
    }

    #[test]
    fn only_the_16x16x16_f16_f32_configuration_serves() {
        use wgpu::CooperativeScalarType as S;
        let p = |m, ab, cr| wgpu::CooperativeMatrixProperties {
            m_size: m,
            n_size: m,
            k_size: m,
            ab_type: ab,
            cr_type: cr,
            saturating_accumulation: false,
        };
        assert!(supports_kernel(&[
            p(8, S::F32, S::F32),
            p(16, S::F16, S::F32)
        ]));
        assert!(!supports_kernel(&[
            p(16, S::F16, S::F16),
            p(8, S::F32, S::F32)
        ]));
        assert!(!supports_kernel(&[]));
    }
}
