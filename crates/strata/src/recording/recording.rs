//! Building a recording: operations checked one by one as they are added, nothing on the GPU
//! until it is finished.

use super::operand::{Access, Operand, check_inside};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::pipeline::Kernel;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A sequence of GPU operations, recorded on the CPU and submitted as one command buffer.
///
/// Every operation is checked when it is added (shapes, bindings, dtypes, device limits): a
/// bad one is a typed error and the recording stays as it was. Nothing reaches the GPU until
/// [`Recording::finish`] prepares the recording (pipelines, bind groups, one uniform buffer
/// for every op's parameters) into a [`Replay`](crate::Replay), which can be submitted again and again with
/// new data at a few microseconds of CPU per op; [`Recording::run`] does it once and waits.
///
/// Operations run in the order they were recorded, and each sees the writes of the ones
/// before it: wgpu tracks every buffer a recording uses and inserts the barriers the order
/// needs, between dispatches of one compute pass and around copies alike.
///
/// A recording is built on one thread (it borrows the [`Context`]); the [`Replay`](crate::Replay) it becomes
/// is `Send` and may be submitted from any thread, alongside other submissions on the same
/// context.
///
/// ```
/// use strata::{Context, GemvSpec, KernelDtype};
///
/// let ctx = Context::new()?;
/// let w = ctx.upload(&[1.0f32, 2.0, 3.0, 4.0])?; // 2x2, row-major
/// let x = ctx.create_storage_buffer(8, "x")?;
/// let y = ctx.create_storage_buffer(8, "y")?;
/// let spec = GemvSpec { rows: 2, cols: 2, batch: 1, dtype: KernelDtype::F32 };
///
/// let mut rec = ctx.record();
/// let input = rec.write(&x, 0, bytemuck::cast_slice(&[1.0f32, 1.0]))?;
/// rec.gemv(&[(&w).into()], &x, &y, spec)?;
/// let output = rec.read(&y, 0, 8)?;
/// let mut replay = rec.finish()?;
///
/// for token in 0..3 {
///     replay.write(&input, bytemuck::cast_slice(&[token as f32, 1.0]))?;
///     let report = replay.submit()?.wait()?;
///     let y: Vec<f32> = replay.read_vec(&output)?;
///     assert_eq!(y, [token as f32 + 2.0, 3.0 * token as f32 + 4.0]);
///     println!("token {token}: {:?} on the GPU, {:?} wall", report.gpu, report.wall);
/// }
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Debug)]
pub struct Recording<'ctx> {
    pub(crate) ctx: &'ctx Context,
    /// Distinguishes this recording's slots from another's.
    pub(crate) id: u64,
    pub(crate) label: String,
    pub(crate) ops: Vec<Op>,
    /// Every dispatch's parameters, each at an offset aligned for a uniform binding.
    pub(crate) uniforms: Vec<u8>,
    /// The bytes of every write op, 4-byte aligned.
    pub(crate) upload: Vec<u8>,
    /// Bytes of the read-back area (each read 8-byte aligned, as mapping wants).
    pub(crate) readback_len: u64,
    pub(crate) gpu_timing: bool,
    pub(crate) per_op_timing: bool,
}

/// One recorded operation, holding its own handles to the buffers it uses.
#[derive(Debug)]
pub(crate) enum Op {
    Dispatch(Dispatch),
    Copy {
        src: wgpu::Buffer,
        src_offset: u64,
        dst: wgpu::Buffer,
        dst_offset: u64,
        size: u64,
    },
    Clear {
        buffer: wgpu::Buffer,
        offset: u64,
        size: u64,
    },
    /// Bytes `at .. at + size` of the upload area into `dst`.
    Write {
        dst: wgpu::Buffer,
        dst_offset: u64,
        at: u64,
        size: u64,
    },
    /// Bytes of `src` into `at .. at + size` of the read-back area.
    Read {
        src: wgpu::Buffer,
        src_offset: u64,
        at: u64,
        size: u64,
    },
}

/// One dispatch of a compiled kernel.
#[derive(Debug)]
pub(crate) struct Dispatch {
    pub(crate) kernel: Arc<Kernel>,
    /// Storage bindings 0..n.
    pub(crate) bindings: Vec<OwnedBinding>,
    /// The uniform block at binding n: offset and length in the uniform area.
    pub(crate) uniforms: Option<(u64, u64)>,
    pub(crate) workgroups: [u32; 3],
    /// Times the dispatch is repeated back to back (for timing kernels).
    pub(crate) repeats: u32,
}

/// A storage binding that owns its buffer handle.
#[derive(Debug)]
pub(crate) struct OwnedBinding {
    pub(crate) buffer: wgpu::Buffer,
    pub(crate) offset: u64,
    pub(crate) size: u64,
}

/// One dispatch as a kernel describes it: operands with their access, parameters, grid.
#[derive(Debug)]
pub(crate) struct Step<'a> {
    pub(crate) operands: Vec<(Operand<'a>, Access)>,
    pub(crate) uniforms: Vec<u8>,
    pub(crate) workgroups: [u32; 3],
}

/// A write op of a recording: [`Replay::write`](crate::Replay::write) gives it new bytes for the next submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSlot {
    pub(crate) recording: u64,
    pub(crate) at: u64,
    pub(crate) len: u64,
}

/// A read op of a recording: [`Replay::read`](crate::Replay::read) copies its bytes out after a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSlot {
    pub(crate) recording: u64,
    pub(crate) at: u64,
    pub(crate) len: u64,
}

/// A dispatch of a recording: [`Replay::set_uniforms`](crate::Replay::set_uniforms) gives it new parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpId {
    pub(crate) recording: u64,
    /// Position among the recording's ops.
    pub(crate) index: usize,
    /// Its uniform block in the uniform area, if it has one.
    pub(crate) uniforms: Option<(u64, u64)>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Copies and writes move whole 4-byte words (wgpu's `COPY_BUFFER_ALIGNMENT`).
const COPY_ALIGN: u64 = wgpu::COPY_BUFFER_ALIGNMENT;

impl Context {
    /// Starts a recording on this context: see [`Recording`].
    pub fn record(&self) -> Recording<'_> {
        Recording {
            ctx: self,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            label: "strata recording".into(),
            ops: Vec::new(),
            uniforms: Vec::new(),
            upload: Vec::new(),
            readback_len: 0,
            gpu_timing: true,
            per_op_timing: false,
        }
    }
}

impl<'ctx> Recording<'ctx> {
    /// Names the recording (command buffer and pass labels, error messages).
    pub fn label(mut self, label: &str) -> Self {
        self.label = label.to_string();
        self
    }

    /// Whether submissions are timed with GPU timestamps (default: on where the device has
    /// them; a few bytes read back per submission).
    pub fn gpu_timing(mut self, on: bool) -> Self {
        self.gpu_timing = on;
        self
    }

    /// Also times each dispatch op with timestamps inside its compute pass (default: off),
    /// where the device allows that (`TIMESTAMP_QUERY_INSIDE_PASSES`); see
    /// [`RunReport::ops`](crate::RunReport::ops). At most 2,047 dispatch ops.
    pub fn time_each_op(mut self, on: bool) -> Self {
        self.per_op_timing = on;
        self
    }

    /// The context the recording runs on.
    pub fn context(&self) -> &'ctx Context {
        self.ctx
    }

    /// Operations recorded so far.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// `true` when nothing is recorded yet.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Copies `size` bytes of `src` from `src_offset` into `dst` at `dst_offset` (offsets and
    /// size multiples of 4; the buffers need COPY_SRC and COPY_DST).
    pub fn copy(
        &mut self,
        src: &wgpu::Buffer,
        src_offset: u64,
        dst: &wgpu::Buffer,
        dst_offset: u64,
        size: u64,
    ) -> Result<()> {
        let source = Operand::range(src, src_offset, size);
        let target = Operand::range(dst, dst_offset, size);
        check_copy("copy source", &source, wgpu::BufferUsages::COPY_SRC)?;
        check_copy("copy destination", &target, wgpu::BufferUsages::COPY_DST)?;
        if src == dst && src_offset < dst_offset + size && dst_offset < src_offset + size {
            return Err(Error::InvalidArgument(format!(
                "copy: ranges {src_offset}..{} and {dst_offset}..{} of one buffer overlap",
                src_offset + size,
                dst_offset + size
            )));
        }
        self.ops.push(Op::Copy {
            src: src.clone(),
            src_offset,
            dst: dst.clone(),
            dst_offset,
            size,
        });
        Ok(())
    }

    /// Sets `size` bytes of `buffer` from `offset` to zero (multiples of 4; COPY_DST usage).
    pub fn clear(&mut self, buffer: &wgpu::Buffer, offset: u64, size: u64) -> Result<()> {
        check_copy(
            "clear",
            &Operand::range(buffer, offset, size),
            wgpu::BufferUsages::COPY_DST,
        )?;
        self.ops.push(Op::Clear {
            buffer: buffer.clone(),
            offset,
            size,
        });
        Ok(())
    }

    /// Writes `data` into `dst` at `offset` when the recording runs, at this point of its
    /// order (offset and length multiples of 4; COPY_DST usage). The bytes are kept in the
    /// recording; [`Replay::write`](crate::Replay::write) replaces them before a submission.
    pub fn write(&mut self, dst: &wgpu::Buffer, offset: u64, data: &[u8]) -> Result<WriteSlot> {
        let size = data.len() as u64;
        check_copy(
            "write",
            &Operand::range(dst, offset, size),
            wgpu::BufferUsages::COPY_DST,
        )?;
        let at = self.upload.len() as u64;
        self.upload.extend_from_slice(data);
        self.ops.push(Op::Write {
            dst: dst.clone(),
            dst_offset: offset,
            at,
            size,
        });
        Ok(WriteSlot {
            recording: self.id,
            at,
            len: size,
        })
    }

    /// Reads `size` bytes of `src` from `offset` when the recording runs, at this point of its
    /// order (multiples of 4; COPY_SRC usage). After a submission has been waited for,
    /// [`Replay::read`](crate::Replay::read) copies them into the caller's memory.
    pub fn read(&mut self, src: &wgpu::Buffer, offset: u64, size: u64) -> Result<ReadSlot> {
        check_copy(
            "read",
            &Operand::range(src, offset, size),
            wgpu::BufferUsages::COPY_SRC,
        )?;
        let at = self.readback_len.next_multiple_of(wgpu::MAP_ALIGNMENT);
        self.readback_len = at + size;
        self.ops.push(Op::Read {
            src: src.clone(),
            src_offset: offset,
            at,
            size,
        });
        Ok(ReadSlot {
            recording: self.id,
            at,
            len: size,
        })
    }

    /// Runs `record`, which may push several ops; when it fails, the recording is put back as
    /// it was before (its ops and parameters), so a failed call adds nothing.
    pub(crate) fn all_or_nothing<T>(
        &mut self,
        record: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let (ops, uniforms) = (self.ops.len(), self.uniforms.len());
        let result = record(self);
        if result.is_err() {
            self.ops.truncate(ops);
            self.uniforms.truncate(uniforms);
        }
        result
    }

    /// Records `steps` of `kernel`, each dispatched `repeats` times back to back; every
    /// operand checked as a storage binding and for aliasing. Returns the id of the last step.
    pub(crate) fn push_steps(
        &mut self,
        what: &str,
        kernel: &Arc<Kernel>,
        steps: Vec<Step<'_>>,
        repeats: u32,
    ) -> Result<OpId> {
        let max = self
            .ctx
            .device_limits()
            .max_compute_workgroups_per_dimension;
        // Check everything first, so that a bad step leaves the recording untouched.
        for step in &steps {
            if let Some(&w) = step.workgroups.iter().find(|&&w| w > max) {
                return Err(Error::LimitExceeded {
                    what: format!("{what}: dispatch of {:?} workgroups", step.workgroups),
                    count: u64::from(w),
                    limit_name: "max_compute_workgroups_per_dimension",
                    limit: u64::from(max),
                });
            }
            for (i, (operand, _)) in step.operands.iter().enumerate() {
                self.ctx
                    .check_binding(&format!("{what} binding {i}"), operand)?;
            }
            check_aliasing(what, &step.operands)?;
        }
        let alignment = u64::from(self.ctx.device_limits().min_uniform_buffer_offset_alignment);
        let mut last = None;
        for step in steps {
            let uniforms = if step.uniforms.is_empty() {
                None
            } else {
                let at = (self.uniforms.len() as u64).next_multiple_of(alignment.max(16));
                self.uniforms.resize(at as usize, 0);
                self.uniforms.extend_from_slice(&step.uniforms);
                Some((at, step.uniforms.len() as u64))
            };
            self.ops.push(Op::Dispatch(Dispatch {
                kernel: Arc::clone(kernel),
                bindings: step
                    .operands
                    .iter()
                    .map(|(o, _)| OwnedBinding {
                        buffer: o.buffer.clone(),
                        offset: o.offset,
                        size: o.size,
                    })
                    .collect(),
                uniforms,
                workgroups: step.workgroups,
                repeats: repeats.max(1),
            }));
            last = Some(OpId {
                recording: self.id,
                index: self.ops.len() - 1,
                uniforms,
            });
        }
        last.ok_or_else(|| Error::InvalidArgument(format!("{what}: nothing to dispatch")))
    }
}

/// A copy, clear, write or read range: whole words, inside the buffer, with `usage`.
fn check_copy(what: &str, operand: &Operand<'_>, usage: wgpu::BufferUsages) -> Result<()> {
    if !operand.buffer.usage().contains(usage) {
        return Err(Error::InvalidArgument(format!(
            "{what}: the buffer was created without {usage:?} usage (it has {:?})",
            operand.buffer.usage()
        )));
    }
    if operand.size == 0
        || !operand.size.is_multiple_of(COPY_ALIGN)
        || !operand.offset.is_multiple_of(COPY_ALIGN)
    {
        return Err(Error::InvalidArgument(format!(
            "{what}: offset {} and size {} must be multiples of {COPY_ALIGN} and the size not 0",
            operand.offset, operand.size
        )));
    }
    check_inside(what, operand)
}

/// wgpu forbids one buffer bound both read-only and read-write in one dispatch.
fn check_aliasing(what: &str, operands: &[(Operand<'_>, Access)]) -> Result<()> {
    for (i, (written, access)) in operands.iter().enumerate() {
        if *access != Access::ReadWrite {
            continue;
        }
        if let Some(j) = operands
            .iter()
            .position(|(o, a)| *a == Access::Read && o.buffer == written.buffer)
        {
            return Err(Error::InvalidArgument(format!(
                "{what}: binding {i} (written) and binding {j} (read) are the same buffer; \
                 a dispatch cannot read and write one buffer through different bindings"
            )));
        }
    }
    Ok(())
}
