//! GEMV for batches of 2 to 8 vectors on cooperative matrices (`gemv_coop.wgsl`, after
//! `gemv_coop_prep.wgsl` has split each scaled x vector into two f16 parts).
//!
//! The FMA kernels' batch time grows with the batch (eight multiply-adds a weight, eight
//! vectors of x read from cache for every few rows); on the tensor cores the arithmetic is free
//! and each weight is read once, so a batch of 8 costs about what one vector does. Used for f16
//! weights where the device has the cooperative-matrix GEMM's 16×16×16 f16 configuration and
//! the per-device table asks for it ([`Tuning::gemv_coop_for`]), with cols a multiple of 16 and
//! every part at least 16 rows; anything else runs on [`super::gemv`]'s kernels.

use super::dtype::KernelDtype;
use super::slices::{Split, SplitOutput};
use super::tuning::{GemvConfig, GemvEngine, MAX_GEMV_BATCH, Tuning};
use super::{RunOptions, SharedMemory};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::recording::{Access, Operand, Recording, Step};
use crate::shaders::{self, KernelText};

use super::gemv_spec::{GemvSpec, row_groups};

/// Rows of one fragment, and columns of one step.
const FRAGMENT: u32 = 16;

/// Threads per workgroup of the preparation kernel.
const PREP_THREADS: u32 = 256;

/// vec4 of a row of xs each preparation workgroup converts (`SLICE` in the shader).
const PREP_SLICE: u32 = PREP_THREADS * 4;

/// Settings worth measuring against the table's (`strata gemv --engine coop --threads T
/// --rows-per-group RT --unroll U`, the `coop-gemv` stage of `scripts/gpu-run.sh`): (threads,
/// 16-row tiles per workgroup, steps in flight). The shader tests validate each.
pub const SWEEP: &[(u32, u32, u32)] = &[
    (64, 1, 8),
    (64, 2, 4),
    (64, 2, 8),
    (128, 1, 4),
    (128, 1, 8),
    (128, 2, 4),
    (256, 1, 4),
    (256, 2, 2),
];

/// Shared memory of the kernel for `config` on subgroups of `subgroup`: each subgroup's staging
/// area (RT·16 rows of A and 16 of B, 16·UNROLL halves padded by 8) and its RT accumulators
/// (the shader's `staged` and `partial`).
pub(crate) fn shared_bytes(config: &GemvConfig, subgroup: u32) -> u64 {
    let subgroups = u64::from(config.threads / subgroup.max(1));
    let (tiles, unroll) = (u64::from(config.rows), u64::from(config.unroll));
    let area = (16 * tiles + 16) * (16 * unroll + 8) * 2;
    subgroups * (area + tiles * 256 * 4)
}

/// The table's cooperative-matrix configuration for `batch` vectors of `dtype` weights with
/// rows of `cols`, with its subgroups counted for this device, when this device runs it there
/// (weight parts must also hold 16 rows: [`eligible`] checks them).
pub(crate) fn table_config(
    ctx: &Context,
    batch: u32,
    dtype: KernelDtype,
    cols: u32,
) -> Option<GemvConfig> {
    let config = ctx.kernel_tuning().gemv_coop_for(batch, dtype)?;
    let subgroup = ctx.cooperative_gemm()?.subgroup;
    let config = GemvConfig {
        max_subgroups: config.threads / subgroup,
        ..config
    };
    eligible(ctx, dtype, batch, cols, &[], &config)
        .ok()
        .map(|_| config)
}

/// Why a GEMV of `batch` vectors of `dtype` weights with rows of `cols`, cut into `parts`,
/// cannot run on cooperative matrices with `config`, or the device's subgroup size when it can.
pub(crate) fn eligible(
    ctx: &Context,
    dtype: KernelDtype,
    batch: u32,
    cols: u32,
    parts: &[(Operand<'_>, u32, u32)],
    config: &GemvConfig,
) -> std::result::Result<u32, String> {
    if dtype != KernelDtype::F16 {
        return Err(format!(
            "the cooperative-matrix GEMV takes f16 weights, not {dtype}"
        ));
    }
    if !(2..=MAX_GEMV_BATCH).contains(&batch) {
        return Err(format!(
            "the cooperative-matrix GEMV takes batches of 2 to {MAX_GEMV_BATCH}, not {batch}"
        ));
    }
    if !cols.is_multiple_of(FRAGMENT) {
        return Err(format!(
            "the cooperative-matrix GEMV needs columns a multiple of {FRAGMENT}, not {cols}"
        ));
    }
    if let Some(&(_, _, rows)) = parts.iter().find(|&&(_, _, rows)| rows < FRAGMENT) {
        return Err(format!(
            "the cooperative-matrix GEMV needs weight parts of at least {FRAGMENT} rows, one has {rows}"
        ));
    }
    let subgroup = ctx
        .cooperative_gemm()
        .map(|c| c.subgroup)
        .ok_or_else(|| "this device has no cooperative-matrix GEMM".to_string())?;
    if config.threads < subgroup || !config.threads.is_multiple_of(subgroup) {
        return Err(format!(
            "the cooperative-matrix GEMV needs threads a multiple of the subgroup size \
             {subgroup}, not {}",
            config.threads
        ));
    }
    let shared = shared_bytes(config, subgroup);
    let limit = u64::from(ctx.device_limits().max_compute_workgroup_storage_size);
    if shared > limit {
        return Err(format!(
            "the cooperative-matrix GEMV with {config:?} needs {shared} bytes of shared memory, \
             the device has {limit}"
        ));
    }
    Ok(subgroup)
}

/// The WGSL of the GEMV kernel for `config` (threads, `rows` 16-row tiles, `unroll` steps) on
/// subgroups of `subgroup`.
pub(crate) fn source(batch: u32, config: &GemvConfig, subgroup: u32) -> Result<KernelText, String> {
    shaders::specialize(
        &shaders::GEMV_COOP,
        &[
            ("WG", config.threads),
            ("SG", subgroup),
            ("RT", config.rows),
            ("UNROLL", config.unroll),
            ("BATCH", batch),
        ],
    )
}

/// The WGSL of the preparation kernel.
fn prep_source() -> Result<KernelText, String> {
    shaders::specialize(&shaders::GEMV_COOP_PREP, &[("WG", PREP_THREADS)])
}

/// The variant name (and kernel cache key) of the GEMV kernel.
pub(crate) fn variant_name(batch: u32, config: &GemvConfig, subgroup: u32) -> String {
    format!(
        "gemv_coop/f16/b{batch}/{}t/sg{subgroup}/{}rt/u{}",
        config.threads, config.rows, config.unroll
    )
}

/// Records the preparation of x and one GEMV dispatch per part (`eligible` said yes, and
/// `config.max_subgroups` is the threads over its subgroup size; `Recording::gemv_with` checked
/// the operands).
pub(crate) fn record(
    rec: &mut Recording<'_>,
    parts: &[(Operand<'_>, u32, u32)],
    x: Operand<'_>,
    y: Operand<'_>,
    spec: GemvSpec,
    config: GemvConfig,
    options: RunOptions,
) -> Result<String> {
    let ctx = rec.context();
    let (rows, cols, batch) = (spec.rows, spec.cols, spec.batch);
    let subgroup = config.threads / config.max_subgroups.max(1);
    if config.max_subgroups == 0 || subgroup * config.max_subgroups != config.threads {
        return Err(Error::InvalidArgument(format!(
            "cooperative-matrix GEMV: {} threads are not a whole number of the device's subgroups",
            config.threads
        )));
    }
    // xs rows are as long as x's (the shaders take the stride as a parameter).
    let xs = ctx.create_storage_buffer(u64::from(2 * FRAGMENT) * u64::from(cols), "gemv xs")?;
    let inv_scale = ctx.create_storage_buffer(4 * 8, "gemv x scales")?;

    let prep_key = format!("gemv_coop_prep/{PREP_THREADS}t");
    let prep = ctx.kernel_with(&prep_key, SharedMemory::WrittenBeforeRead, prep_source)?;
    let slices = (cols / 4).div_ceil(PREP_SLICE);
    let prep_step = Step {
        operands: vec![
            (x, Access::Read),
            (Operand::from(&xs), Access::ReadWrite),
            (Operand::from(&inv_scale), Access::ReadWrite),
        ],
        uniforms: bytemuck::cast_slice(&[cols, batch, cols, slices]).to_vec(),
        workgroups: [slices, 8, 1],
    };
    rec.push_steps(&prep_key, &prep, vec![prep_step], options.repeats)?;

    let key = variant_name(batch, &config, subgroup);
    let kernel = ctx.kernel_with(&key, SharedMemory::WrittenBeforeRead, || {
        source(batch, &config, subgroup)
    })?;
    let group_rows = FRAGMENT * config.rows;
    // K in slices of whole iterations (NSG·16·UNROLL columns) where the rows give too few
    // workgroups, each slice's sums into its own copy of y, added up after.
    let iteration = config.max_subgroups * FRAGMENT * config.unroll;
    let wanted = Split::asked(
        config.splits,
        ctx.kernel_tuning().target_groups,
        row_groups(parts, group_rows),
    );
    let split = Split::of(cols.div_ceil(iteration), wanted, 1, 1);
    let output = SplitOutput::new(
        ctx,
        split,
        u64::from(batch) * u64::from(rows),
        "gemv slices",
    )?;
    let (out, slice_stride) = (output.target(y), output.stride());
    let steps = parts
        .iter()
        .map(|&(part, row_base, part_rows)| {
            let groups = part_rows.div_ceil(group_rows);
            let mut workgroups = ctx.grid(groups);
            workgroups[2] = split.count;
            let params = [
                part_rows,
                cols,
                row_base,
                rows,
                groups,
                workgroups[0],
                cols,
                split.per_slice * iteration,
                slice_stride,
                0,
                0,
                0,
            ];
            Step {
                operands: vec![
                    (part, Access::Read),
                    (Operand::from(&xs), Access::Read),
                    (Operand::from(&inv_scale), Access::Read),
                    (out, Access::ReadWrite),
                ],
                uniforms: bytemuck::cast_slice(&params).to_vec(),
                workgroups,
            }
        })
        .collect::<Vec<_>>();
    rec.push_steps(&key, &kernel, steps, options.repeats)?;
    output.finish(rec, y, key, "s", options.repeats)
}

/// Every (variant name, WGSL) the table and the sweep can produce, on the plausible subgroup
/// sizes, for the shader tests.
pub(crate) fn variant_sources() -> Result<Vec<(String, String)>, String> {
    let mut configs: Vec<GemvConfig> = Tuning::all()
        .iter()
        .flat_map(|t| (2..=MAX_GEMV_BATCH).filter_map(|b| t.gemv_coop_for(b, KernelDtype::F16)))
        .collect();
    configs.extend(SWEEP.iter().map(|&(threads, rows, unroll)| GemvConfig {
        threads,
        rows,
        unroll,
        max_subgroups: threads / 32,
        f16_loads: false,
        engine: GemvEngine::Cooperative,
        splits: 1,
    }));
    let mut sources = vec![(
        format!("gemv_coop_prep/{PREP_THREADS}t"),
        prep_source()?.as_str().to_string(),
    )];
    let mut seen = std::collections::BTreeSet::new();
    for config in configs {
        for subgroup in [16, 32, 64] {
            if config.threads < subgroup || shared_bytes(&config, subgroup) > 48 << 10 {
                continue;
            }
            for batch in 2..=MAX_GEMV_BATCH {
                let name = variant_name(batch, &config, subgroup);
                if seen.insert(name.clone()) {
                    sources.push((name, source(batch, &config, subgroup)?.as_str().to_string()));
                }
            }
        }
    }
    Ok(sources)
}
