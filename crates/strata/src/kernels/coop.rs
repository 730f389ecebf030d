//! Cooperative-matrix GEMM (`gemm_coop.wgsl`): f16 or bf16 A and B on the tensor cores, f32
//! sums, optionally with K split into slices.
//!
//! Chosen automatically for f16 (and, where the per-device table says so, bf16) GEMMs with K
//! and N multiples of 8 when the device has wgpu's `EXPERIMENTAL_COOPERATIVE_MATRIX` with a
//! 16×16×16 f16·f16 + f32 configuration and a fixed subgroup size; everything else runs on the
//! FMA paths of [`super::gemm`].

use super::dtype::{KernelDtype, Layout};
use crate::error::{Error, Result};
use crate::shaders::{self, KernelText};
use serde::Serialize;
use std::str::FromStr;

/// The fragment size the kernel uses (wgpu's `coop_mat16x16`).
const FRAGMENT: u32 = 16;

/// Tiles of the cooperative-matrix GEMM.
///
/// A workgroup of `sg_m`×`sg_n` subgroups computes a `bm`×`bn` tile of C, each subgroup a block
/// of (`bm`/`sg_m`)×(`bn`/`sg_n`) as 16×16 fragments (1, 2 or 4 of them along each side), K
/// walked `bk` at a time through `buffers` shared tiles (2: one barrier per step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CoopConfig {
    /// Rows of C per workgroup.
    pub bm: u32,
    /// Columns of C per workgroup.
    pub bn: u32,
    /// K per step through shared memory: 16, 32 or 64.
    pub bk: u32,
    /// Subgroups along M.
    pub sg_m: u32,
    /// Subgroups along N.
    pub sg_n: u32,
    /// Shared buffers per tile: 1, or 2 (double-buffered).
    pub buffers: u32,
    /// The device's subgroup size (fixed: min = max); 0 in tables, filled in per device.
    pub subgroup: u32,
}

impl std::fmt::Display for CoopConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}x{}x{}/{}x{}/{}buf/sg{}",
            self.bm, self.bn, self.bk, self.sg_m, self.sg_n, self.buffers, self.subgroup
        )
    }
}

impl FromStr for CoopConfig {
    type Err = Error;

    /// Parses `BMxBNxBK/SGMxSGN` with an optional `/1buf` or `/2buf` (default 2), e.g.
    /// `128x128x32/2x2/2buf`; the subgroup size is left 0, for the device to fill in.
    fn from_str(text: &str) -> Result<Self> {
        let bad = || {
            Error::InvalidArgument(format!(
                "cooperative tiles `{text}`: expected BMxBNxBK/SGMxSGN[/1buf|/2buf], e.g. \
                 128x128x32/2x2/2buf"
            ))
        };
        let mut parts = text.split('/');
        let numbers = |part: Option<&str>| -> Result<Vec<u32>> {
            part.ok_or_else(bad)?
                .split('x')
                .map(|n| n.trim().parse::<u32>().map_err(|_| bad()))
                .collect()
        };
        let block = numbers(parts.next())?;
        let groups = numbers(parts.next())?;
        let buffers = match parts.next() {
            None => 2,
            Some(b) => b
                .trim()
                .strip_suffix("buf")
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or_else(bad)?,
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        match (block.as_slice(), groups.as_slice()) {
            (&[bm, bn, bk], &[sg_m, sg_n]) => Ok(CoopConfig {
                bm,
                bn,
                bk,
                sg_m,
                sg_n,
                buffers,
                subgroup: 0,
            }),
            _ => Err(bad()),
        }
    }
}

impl CoopConfig {
    /// Tiles for a table (the subgroup size filled in per device by
    /// [`CoopConfig::with_subgroup`]).
    pub const fn tiles(bm: u32, bn: u32, bk: u32, sg_m: u32, sg_n: u32, buffers: u32) -> Self {
        CoopConfig {
            bm,
            bn,
            bk,
            sg_m,
            sg_n,
            buffers,
            subgroup: 0,
        }
    }

    /// These tiles for a device whose subgroups have `subgroup` lanes.
    pub fn with_subgroup(self, subgroup: u32) -> Self {
        CoopConfig { subgroup, ..self }
    }

    /// Fragments per subgroup along M and N.
    fn fragments(&self) -> (u32, u32) {
        let along = |tile: u32, groups: u32| tile / groups.max(1) / FRAGMENT;
        (along(self.bm, self.sg_m), along(self.bn, self.sg_n))
    }

    /// Threads per workgroup.
    pub fn threads(&self) -> u32 {
        self.sg_m * self.sg_n * self.subgroup
    }

    /// Bytes of shared memory a workgroup uses, for either layout: the A and B tiles in f16
    /// (rows padded by 8 halves) times the buffers, and one 16×16 f32 staging area per
    /// subgroup.
    pub fn shared_bytes(&self) -> u64 {
        let (bm, bn, bk) = (u64::from(self.bm), u64::from(self.bn), u64::from(self.bk));
        let a = bm * (bk + 8);
        let b = (bk * (bn + 8)).max(bn * (bk + 8));
        let staging = u64::from(self.sg_m * self.sg_n) * u64::from(FRAGMENT * FRAGMENT) * 4;
        (a + b) * 2 * u64::from(self.buffers) + staging
    }

    /// `true` when the kernel takes this shape: K and N multiples of 8 (16-byte loads of 8
    /// elements lie wholly inside or outside the matrices).
    pub fn takes(k: u32, n: u32) -> bool {
        k.is_multiple_of(8) && n.is_multiple_of(8)
    }

    /// The kernel's rules: 1, 2 or 4 fragments per subgroup along each side, BK 16, 32 or
    /// 64, 1 or 2 buffers, a power-of-two subgroup of 16 to 64 lanes, and each tile's 16-byte
    /// loads shared evenly by the threads.
    pub(crate) fn shape_ok(&self) -> bool {
        let (fm, fn_) = self.fragments();
        let threads = self.threads();
        let fragments_ok = |f: u32| matches!(f, 1 | 2 | 4);
        self.sg_m >= 1
            && self.sg_n >= 1
            && fragments_ok(fm)
            && fragments_ok(fn_)
            && self.bm == self.sg_m * fm * FRAGMENT
            && self.bn == self.sg_n * fn_ * FRAGMENT
            && matches!(self.bk, 16 | 32 | 64)
            && matches!(self.buffers, 1 | 2)
            && self.subgroup.is_power_of_two()
            && (16..=64).contains(&self.subgroup)
            && threads > 0
            && (self.bm * self.bk / 8).is_multiple_of(threads)
            && (self.bn * self.bk / 8).is_multiple_of(threads)
            && self.bm * self.bk / 8 >= threads
            && self.bn * self.bk / 8 >= threads
    }

    /// The configuration runs within `limits`.
    pub(crate) fn fits(&self, limits: &wgpu::Limits) -> bool {
        self.shape_ok()
            && self.threads() <= limits.max_compute_invocations_per_workgroup
            && self.threads() <= limits.max_compute_workgroup_size_x
            && self.shared_bytes() <= u64::from(limits.max_compute_workgroup_storage_size)
    }

    /// Checks that the kernel can run with these tiles within `limits`: an
    /// [`Error::InvalidArgument`] saying why not.
    pub fn check(&self, limits: &wgpu::Limits) -> Result<()> {
        if self.fits(limits) {
            return Ok(());
        }
        Err(Error::InvalidArgument(format!(
            "cooperative tiles {self} ({} threads, {} bytes of shared memory) do not suit \
             gemm_coop.wgsl on this device: 1, 2 or 4 fragments of 16 per subgroup along each \
             side, BK 16, 32 or 64, 1 or 2 buffers, tiles' 16-byte loads shared evenly by the \
             threads, at most {} threads and {} bytes",
            self.threads(),
            self.shared_bytes(),
            limits.max_compute_invocations_per_workgroup,
            limits.max_compute_workgroup_storage_size
        )))
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

/// The WGSL of the kernel for `dtype` (f16 or bf16), `layout` and `config`.
pub(crate) fn source(
    dtype: KernelDtype,
    layout: Layout,
    config: &CoopConfig,
) -> Result<KernelText, String> {
    if dtype == KernelDtype::F32 {
        return Err("the cooperative-matrix GEMM reads f16 or bf16, not f32".into());
    }
    let (fm, fn_) = config.fragments();
    let text = match dtype {
        KernelDtype::Bf16 => shaders::splice(&shaders::GEMM_COOP, &shaders::GEMM_COOP_BF16)?,
        _ => KernelText::of(&shaders::GEMM_COOP),
    };
    shaders::specialize_text(
        &text,
        &[
            ("BK", config.bk),
            ("SG_M", config.sg_m),
            ("SG_N", config.sg_n),
            ("SG_SIZE", config.subgroup),
            ("FM", fm),
            ("FN", fn_),
            ("BUFFERS", config.buffers),
            ("B_NT", u32::from(layout == Layout::NT)),
        ],
    )
}

/// The variant name (and kernel cache key) of a cooperative-matrix pipeline.
pub(crate) fn variant_name(dtype: KernelDtype, layout: Layout, config: &CoopConfig) -> String {
    format!("gemm_coop/{dtype}/{layout}/{config}")
}

/// Tile configurations worth measuring against the table's (`strata matmul --coop-tiles`, the
/// `sweep15` stage of `scripts/gpu-run.sh`); the shader tests validate every one.
pub const SWEEP_TILES: &[CoopConfig] = &[
    CoopConfig::tiles(128, 128, 32, 2, 2, 2),
    CoopConfig::tiles(128, 128, 64, 2, 2, 1),
    CoopConfig::tiles(128, 128, 16, 2, 4, 2),
    CoopConfig::tiles(128, 256, 32, 2, 4, 1),
    CoopConfig::tiles(128, 256, 16, 2, 4, 2),
    CoopConfig::tiles(256, 128, 32, 4, 2, 1),
    CoopConfig::tiles(64, 128, 32, 1, 2, 2),
    CoopConfig::tiles(128, 64, 32, 2, 1, 2),
    CoopConfig::tiles(64, 64, 32, 1, 1, 2),
];

/// Every (variant name, WGSL) of this kernel for `tiles` on the plausible subgroup sizes,
/// both dtypes and layouts, for the shader tests.
pub(crate) fn variant_sources(tiles: &[CoopConfig]) -> Result<Vec<(String, String)>, String> {
    let mut sources = Vec::new();
    for subgroup in [16, 32, 64] {
        for config in tiles.iter().map(|t| t.with_subgroup(subgroup)) {
            if !config.shape_ok() {
                continue;
            }
            for dtype in [KernelDtype::F16, KernelDtype::Bf16] {
                for layout in [Layout::NN, Layout::NT] {
                    let text = source(dtype, layout, &config)?;
                    sources.push((
                        variant_name(dtype, layout, &config),
                        text.as_str().to_string(),
                    ));
                }
            }
        }
    }
    Ok(sources)
}

/// The f16 that the kernel's bf16 conversion gives for the bf16 `bits`, or `None` when the
/// workgroup flags the value instead (magnitude above 65280: 65536 and up, infinities, NaN).
/// Mirrors `beyond_f16` and `bf16_pair` of `gemm_coop.wgsl` (round to nearest even, as the
/// shader's conversion rounds), for the exhaustive test of their claims.
pub fn bf16_to_f16(bits: u16) -> Option<half::f16> {
    let word = u32::from(bits);
    if ((word & 0x7fff) + 0x3880) & 0x8000 != 0 {
        return None;
    }
    Some(half::f16::from_f32(f32::from_bits(word << 16)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shader's two-lane test (`beyond_f16`) on a packed word.
    fn beyond_pair(word: u32) -> u32 {
        ((word & 0x7fff_7fff) + 0x3880_3880) & 0x8000_8000
    }

    #[test]
    fn the_table_tiles_fit_48k_on_every_subgroup_size() {
        for subgroup in [16, 32, 64] {
            let config =
                crate::kernels::tuning::Tuning::all()[0].coop_tiles[0].with_subgroup(subgroup);
            assert!(config.shape_ok(), "{config}");
            assert!(config.shared_bytes() <= 48 << 10, "{config}");
        }
        let c = CoopConfig::tiles(128, 128, 32, 2, 2, 2).with_subgroup(32);
        assert_eq!(c.fragments(), (4, 4));
        assert_eq!(c.threads(), 128);
        assert_eq!(c.shared_bytes(), 40960 + 4096);
    }

    #[test]
    fn sweep_tiles_are_valid_for_subgroups_of_32() {
        let limits = wgpu::Limits {
            max_compute_workgroup_storage_size: 48 << 10,
            max_compute_invocations_per_workgroup: 1024,
            max_compute_workgroup_size_x: 1024,
            ..wgpu::Limits::default()
        };
        for tiles in SWEEP_TILES {
            let config = tiles.with_subgroup(32);
            assert!(
                config.fits(&limits),
                "{config}: {:?}",
                config.check(&limits)
            );
        }
    }

    #[test]
    fn odd_tiles_are_refused() {
        let limits = wgpu::Limits::default();
        for bad in [
            CoopConfig::tiles(96, 128, 32, 2, 2, 2),
            CoopConfig::tiles(128, 128, 24, 2, 2, 2),
            CoopConfig::tiles(128, 128, 32, 2, 2, 3),
            CoopConfig::tiles(512, 128, 32, 1, 2, 1),
        ] {
            assert!(!bad.with_subgroup(32).shape_ok(), "{bad}");
        }
        assert!(
            CoopConfig::tiles(128, 128, 32, 2, 2, 2)
                .with_subgroup(8)
                .check(&limits)
                .is_err()
        );
    }

    #[test]
    fn tiles_parse_and_print() {
        let c: CoopConfig = "128x256x16/2x4/2buf".parse().unwrap();
        assert_eq!(c, CoopConfig::tiles(128, 256, 16, 2, 4, 2));
        let d: CoopConfig = "128x128x32/2x2".parse().unwrap();
        assert_eq!(d.buffers, 2);
        assert_eq!(d.with_subgroup(32).to_string(), "128x128x32/2x2/2buf/sg32");
        for bad in [
            "128x128/2x2",
            "128x128x32",
            "128x128x32/2x2/3",
            "a/b/c",
            "1x1x1/1x1/1buf/x",
        ] {
            assert!(bad.parse::<CoopConfig>().is_err(), "{bad}");
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

    /// Every one of the 65536 bf16 values: those the kernel keeps convert to f16 exactly when
    /// their magnitude is at least 2^-17 (or zero), and within 2^-25 otherwise (f16's grid
    /// below 2^-14 has steps of 2^-24); those it flags are exactly the ones above 65280
    /// (65536 and up, infinities, NaN), which f16 cannot hold.
    #[test]
    fn bf16_to_f16_is_exact_in_range_and_flags_the_rest_exhaustively() {
        let mut exact = 0u32;
        let mut rounded = 0u32;
        for bits in 0..=u16::MAX {
            let value = f32::from_bits(u32::from(bits) << 16);
            let magnitude = value.abs();
            match bf16_to_f16(bits) {
                None => {
                    assert!(
                        !value.is_finite() || magnitude > 65280.0,
                        "{bits:#06x} ({value:e}) was flagged"
                    );
                    assert!(
                        magnitude > 65504.0 || value.is_nan(),
                        "{bits:#06x}: f16 holds it"
                    );
                }
                Some(h) => {
                    assert!(value.is_finite() && magnitude <= 65280.0, "{bits:#06x}");
                    let back = h.to_f32();
                    if magnitude >= 2f32.powi(-17) || value == 0.0 {
                        assert_eq!(back.to_bits(), value.to_bits(), "{bits:#06x} ({value:e})");
                        exact += 1;
                    } else {
                        assert!(
                            (back - value).abs() <= 2f32.powi(-25),
                            "{bits:#06x}: {value:e} became {back:e}"
                        );
                        rounded += 1;
                    }
                }
            }
        }
        // 2 signs × (33 exponents × 128 mantissas, and zero) exact; below 2^-17, 2 signs ×
        // (109 normal exponents × 128 mantissas and 127 subnormals).
        assert_eq!(exact, 2 * (33 * 128 + 1));
        assert_eq!(rounded, 2 * (109 * 128 + 127));
    }

    /// The shader tests two bf16 per word: each lane's flag depends on that lane alone (no
    /// carry crosses), checked for every low lane against every high lane's class.
    #[test]
    fn the_two_lane_flag_test_keeps_lanes_apart() {
        let flags = |bits: u16| bf16_to_f16(bits).is_none();
        let samples: Vec<u16> = (0..=u16::MAX)
            .step_by(97)
            .chain([0x477f, 0x4780, 0xffff, 0x7f80, 0xc780])
            .collect();
        for low in 0..=u16::MAX {
            for &high in &samples {
                let word = u32::from(high) << 16 | u32::from(low);
                let got = beyond_pair(word);
                assert_eq!(got & 0x8000 != 0, flags(low), "{word:#010x}");
                assert_eq!(got & 0x8000_0000 != 0, flags(high), "{word:#010x}");
                assert_eq!(got & !0x8000_8000, 0, "{word:#010x}");
            }
        }
    }
}
