//! Split reductions: a GEMV whose columns, or a GEMM whose K, are cut into slices writes one
//! copy of its output per slice into scratch memory, and `sum_slices.wgsl` adds them up.
//!
//! Splitting fills a device that the output alone would leave idle (a 512-token prefill has
//! only 128 tiles of 128×128; a batch-8 GEMV of 4096 rows only 128 groups of 32 rows), at the
//! price of the scratch traffic and one more dispatch. The slices are added in order, so the
//! result does not depend on timing.

use super::SharedMemory;
use super::tuning::MAX_SPLITS;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::recording::{Access, Operand, Recording, Step};
use crate::shaders;

/// Threads per workgroup of `sum_slices.wgsl`.
const WG: u32 = 256;

/// How a reduced dimension of `steps` steps is cut: `count` slices of `per_slice` steps each
/// (the last may hold fewer), every slice nonempty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split {
    pub(crate) count: u32,
    pub(crate) per_slice: u32,
}

impl Split {
    /// `wanted` slices (at most [`MAX_SPLITS`] and at most one per `min_steps` steps) of a
    /// dimension of `steps` steps, each slice a multiple of `granule` steps.
    pub(crate) fn of(steps: u32, wanted: u32, min_steps: u32, granule: u32) -> Split {
        let most = (steps / min_steps.max(1)).clamp(1, MAX_SPLITS);
        let count = wanted.clamp(1, most);
        let granule = granule.max(1);
        let per_slice = steps.div_ceil(count).div_ceil(granule) * granule;
        Split {
            count: steps.div_ceil(per_slice).max(1),
            per_slice,
        }
    }

    /// Slices for a call that asks for `splits` (0: the table chooses, see [`Split::wanted`]).
    pub(crate) fn asked(splits: u32, target: u32, groups: u32) -> u32 {
        match splits {
            0 => Self::wanted(target, groups),
            n => n,
        }
    }

    /// Slices the table asks for: enough for `target` workgroups when the output gives
    /// `groups`, else 1.
    pub(crate) fn wanted(target: u32, groups: u32) -> u32 {
        (target / groups.max(1)).max(1)
    }
}

/// Scratch memory for `slices` copies of an output of `len` f32 elements.
pub(crate) fn scratch(ctx: &Context, slices: u32, len: u64, what: &str) -> Result<wgpu::Buffer> {
    let elements = u64::from(slices) * len;
    if elements > u64::from(u32::MAX) {
        return Err(Error::LimitExceeded {
            what: format!("{what}: {slices} slices of {len} elements"),
            count: elements,
            limit_name: "u32 element index",
            limit: u64::from(u32::MAX),
        });
    }
    ctx.create_storage_buffer(elements * 4, what)
}

/// Where the dispatches of a split reduction write: the output itself with one slice; with
/// more, a scratch buffer of one copy per slice (`stride` elements apart), added into the
/// output by [`SplitOutput::finish`].
pub(crate) struct SplitOutput {
    scratch: Option<wgpu::Buffer>,
    slices: u32,
    len: u32,
}

impl SplitOutput {
    /// The output of `split` slices of an output of `len` f32 elements (`what` labels the
    /// scratch buffer); an output beyond the shaders' u32 indices is an error.
    pub(crate) fn new(ctx: &Context, split: Split, len: u64, what: &str) -> Result<Self> {
        let scratch = if split.count > 1 {
            Some(scratch(ctx, split.count, len, what)?)
        } else {
            None
        };
        let len = u32::try_from(len).map_err(|_| Error::LimitExceeded {
            what: format!("{what}: an output of {len} elements"),
            count: len,
            limit_name: "u32 element index",
            limit: u64::from(u32::MAX),
        })?;
        Ok(Self {
            scratch,
            slices: split.count,
            len,
        })
    }

    /// The binding the dispatches write: the scratch buffer, or `out` with one slice.
    pub(crate) fn target<'a>(&'a self, out: Operand<'a>) -> Operand<'a> {
        self.scratch.as_ref().map_or(out, Operand::from)
    }

    /// Elements between two slices' copies (0 with one slice: the shaders' `slice_stride`).
    pub(crate) fn stride(&self) -> u32 {
        if self.scratch.is_some() { self.len } else { 0 }
    }

    /// Records the sum of the slices into `out` when there are several, and returns `key`
    /// with `suffix` and the slice count appended (`key` alone with one slice).
    pub(crate) fn finish(
        &self,
        recording: &mut Recording<'_>,
        out: Operand<'_>,
        key: String,
        suffix: &str,
        repeats: u32,
    ) -> Result<String> {
        let Some(scratch) = &self.scratch else {
            return Ok(key);
        };
        record_sum(
            recording,
            Operand::from(scratch),
            out,
            self.len,
            self.slices,
            repeats,
        )?;
        Ok(format!("{key}/{suffix}{}", self.slices))
    }
}

/// Records out[i] = Σ_s part[s·len + i] for i < len (`len` f32 elements, `slices` copies).
pub(crate) fn record_sum(
    recording: &mut Recording<'_>,
    part: Operand<'_>,
    out: Operand<'_>,
    len: u32,
    slices: u32,
    repeats: u32,
) -> Result<()> {
    let ctx = recording.context();
    let key = format!("sum_slices/{WG}t");
    let kernel = ctx.kernel_with(&key, SharedMemory::WrittenBeforeRead, || {
        shaders::specialize(&shaders::SUM_SLICES, &[("WG", WG)])
    })?;
    let groups = len.div_ceil(WG);
    let workgroups = ctx.grid(groups);
    let step = Step {
        operands: vec![(part, Access::Read), (out, Access::ReadWrite)],
        uniforms: bytemuck::cast_slice(&[len, slices, workgroups[0], 0]).to_vec(),
        workgroups,
    };
    recording.push_steps(&key, &kernel, vec![step], repeats)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cover_the_dimension_with_nonempty_slices() {
        for steps in [1, 7, 64, 100, 448, 1792, 4096] {
            for wanted in [1, 2, 3, 4, 8, 16, 64] {
                for granule in [1, 4, 32] {
                    let s = Split::of(steps, wanted, 4, granule);
                    assert!(
                        s.count >= 1 && s.count <= MAX_SPLITS,
                        "{steps} {wanted}: {s:?}"
                    );
                    assert!(s.per_slice.is_multiple_of(granule), "{s:?}");
                    assert!(
                        (s.count - 1) * s.per_slice < steps,
                        "empty slice: {steps} {s:?}"
                    );
                    assert!(s.count * s.per_slice >= steps, "uncovered: {steps} {s:?}");
                }
            }
        }
        assert_eq!(
            Split::of(1792, 2, 64, 32),
            Split {
                count: 2,
                per_slice: 896
            }
        );
        assert_eq!(Split::of(100, 16, 64, 1).count, 1);
        assert_eq!(Split::wanted(256, 128), 2);
        assert_eq!(Split::wanted(256, 4096), 1);
    }
}
