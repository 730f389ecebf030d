//! A prepared recording: bind groups, uniforms and data areas made once, encoded into a fresh
//! command buffer at every submission.

use super::recording::{Op, OpId, ReadSlot, Recording, WriteSlot};
use super::timing::{END, RunReport, START, Timestamps, map_for_reading};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::pipeline::Kernel;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;
use wgpu::util::DeviceExt;

/// Commands in the first command buffer of a chunked submission.
const FIRST_CHUNK: usize = 8;

/// A finished [`Recording`], ready to be submitted as often as needed.
///
/// Pipelines, bind groups and one uniform buffer were made when it was finished; a submission
/// only encodes the prepared commands into a new command buffer and submits it, with no
/// allocation of Strata's own. Between submissions, [`Replay::write`] gives write ops new
/// bytes and [`Replay::set_uniforms`] gives a dispatch new parameters; after one,
/// [`Replay::read`] copies out what its read ops read.
///
/// One submission of a replay runs at a time: [`Replay::submit`] borrows the replay until the
/// [`Submission`](crate::Submission) is waited for or dropped (dropping it does not cancel the GPU work; the next
/// use waits for it). Submissions of different replays, from any threads, run in the order
/// they reach the queue. `Send + Sync`.
///
/// The replay keeps its own handles to every buffer it uses, so they stay alive as long as it
/// does. A buffer destroyed in the meantime (`wgpu::Buffer::destroy`) makes the next
/// submission fail with a typed error; nothing runs.
#[derive(Debug)]
pub struct Replay {
    pub(crate) gpu: Gpu,
    id: u64,
    pub(crate) label: String,
    commands: Vec<Command>,
    /// Index of the first and one past the last dispatch command (for pass timestamps).
    dispatch_span: Option<(usize, usize)>,
    uniforms: Option<wgpu::Buffer>,
    upload: Option<wgpu::Buffer>,
    readback: Option<wgpu::Buffer>,
    pub(crate) timestamps: Option<Timestamps>,
    /// The last submission, until its completion has been seen.
    pub(crate) in_flight: Option<wgpu::SubmissionIndex>,
    /// The last submission, for read ops to wait on.
    pub(crate) last: Option<wgpu::SubmissionIndex>,
    /// Scratch for reading timestamps, kept to avoid an allocation per submission.
    pub(crate) ticks: Vec<u64>,
    /// The read-back area as the last waited-for submission left it.
    pub(crate) results: Vec<u8>,
    /// `results` holds the last submission's reads.
    pub(crate) results_fresh: bool,
    /// Every buffer the commands use, once each (checked before a chunked submission).
    pub(crate) buffers: Vec<wgpu::Buffer>,
    /// The device runs Vulkan (where a destroyed buffer can be seen before submitting).
    pub(crate) vulkan: bool,
    /// Long recordings are submitted in chunks (Vulkan GPUs; see [`Replay::chunks`]).
    pub(crate) chunked: bool,
}

/// One prepared command.
#[derive(Debug)]
enum Command {
    Dispatch {
        kernel: Arc<Kernel>,
        bind_group: wgpu::BindGroup,
        workgroups: [u32; 3],
        repeats: u32,
        /// Position among the dispatches, for per-op timestamps.
        ordinal: u32,
    },
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
}

impl Replay {
    pub(crate) fn prepare(recording: Recording<'_>) -> Result<Self> {
        let ctx = recording.ctx;
        let gpu = ctx.gpu.clone();
        let label = recording.label.clone();
        let dispatches = recording
            .ops
            .iter()
            .filter(|op| matches!(op, Op::Dispatch(_)))
            .count();
        let timestamps = if recording.gpu_timing {
            Timestamps::new(&gpu, ctx.features(), dispatches, recording.per_op_timing)?
        } else {
            None
        };
        // Every buffer the ops use, once each (for the check before a chunked submission).
        let mut buffers: Vec<wgpu::Buffer> = Vec::new();
        let mut note = |b: &wgpu::Buffer| {
            if !buffers.contains(b) {
                buffers.push(b.clone());
            }
        };
        for op in &recording.ops {
            match op {
                Op::Dispatch(d) => d.bindings.iter().for_each(|b| note(&b.buffer)),
                Op::Copy { src, dst, .. } => {
                    note(src);
                    note(dst);
                }
                Op::Clear { buffer, .. } => note(buffer),
                Op::Write { dst, .. } => note(dst),
                Op::Read { src, .. } => note(src),
            }
        }
        let prepared = gpu.scoped(&format!("preparing {label}"), || {
            let device = &gpu.device;
            let uniforms = (!recording.uniforms.is_empty()).then(|| {
                device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("strata recording uniforms"),
                    contents: &recording.uniforms,
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                })
            });
            let upload = (!recording.upload.is_empty()).then(|| {
                device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("strata recording writes"),
                    contents: &recording.upload,
                    usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                })
            });
            let readback = (recording.readback_len > 0).then(|| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("strata recording reads"),
                    size: recording.readback_len.next_multiple_of(wgpu::MAP_ALIGNMENT),
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            });
            let mut ordinal = 0u32;
            let commands: Vec<Option<Command>> = recording
                .ops
                .into_iter()
                .map(|op| {
                    Some(match op {
                        Op::Dispatch(d) => {
                            let mut entries: Vec<wgpu::BindGroupEntry<'_>> = d
                                .bindings
                                .iter()
                                .enumerate()
                                .map(|(i, b)| wgpu::BindGroupEntry {
                                    binding: i as u32,
                                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                        buffer: &b.buffer,
                                        offset: b.offset,
                                        size: wgpu::BufferSize::new(b.size),
                                    }),
                                })
                                .collect();
                            if let (Some((offset, size)), Some(buffer)) =
                                (d.uniforms, uniforms.as_ref())
                            {
                                entries.push(wgpu::BindGroupEntry {
                                    binding: d.bindings.len() as u32,
                                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                        buffer,
                                        offset,
                                        size: wgpu::BufferSize::new(size),
                                    }),
                                });
                            }
                            let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                                label: Some(&d.kernel.name),
                                layout: &d.kernel.layout,
                                entries: &entries,
                            });
                            ordinal += 1;
                            Command::Dispatch {
                                kernel: d.kernel,
                                bind_group,
                                workgroups: d.workgroups,
                                repeats: d.repeats,
                                ordinal: ordinal - 1,
                            }
                        }
                        Op::Copy {
                            src,
                            src_offset,
                            dst,
                            dst_offset,
                            size,
                        } => Command::Copy {
                            src,
                            src_offset,
                            dst,
                            dst_offset,
                            size,
                        },
                        Op::Clear {
                            buffer,
                            offset,
                            size,
                        } => Command::Clear {
                            buffer,
                            offset,
                            size,
                        },
                        Op::Write {
                            dst,
                            dst_offset,
                            at,
                            size,
                        } => Command::Copy {
                            src: upload.clone()?,
                            src_offset: at,
                            dst,
                            dst_offset,
                            size,
                        },
                        Op::Read {
                            src,
                            src_offset,
                            at,
                            size,
                        } => Command::Copy {
                            src,
                            src_offset,
                            dst: readback.clone()?,
                            dst_offset: at,
                            size,
                        },
                    })
                })
                .collect();
            (uniforms, upload, readback, commands)
        })?;
        let (uniforms, upload, readback, commands) = prepared;
        let commands: Vec<Command> = commands
            .into_iter()
            .collect::<Option<_>>()
            .ok_or_else(|| Error::InvalidArgument(format!("{label}: a data area is missing")))?;
        let info = ctx.adapter_info();
        let vulkan = info.backend == wgpu::Backend::Vulkan;
        // A CPU driver runs the work on the CPU that encodes it: nothing to overlap, and its
        // submissions wait for the ones before, so it takes one command buffer.
        let chunked = vulkan && info.device_type != wgpu::DeviceType::Cpu;
        let first = commands
            .iter()
            .position(|c| matches!(c, Command::Dispatch { .. }));
        let last = commands
            .iter()
            .rposition(|c| matches!(c, Command::Dispatch { .. }));
        Ok(Self {
            gpu,
            id: recording.id,
            label,
            commands,
            dispatch_span: first.zip(last).map(|(a, b)| (a, b + 1)),
            uniforms,
            upload,
            readback,
            timestamps,
            in_flight: None,
            last: None,
            ticks: Vec::new(),
            results: Vec::new(),
            results_fresh: false,
            buffers,
            vulkan,
            chunked,
        })
    }

    /// Commands prepared (one per recorded op).
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// `true` for an empty recording.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// `true` when submissions are timed with GPU timestamps.
    pub fn gpu_timed(&self) -> bool {
        self.timestamps.is_some()
    }

    /// `true` when each dispatch op is timed too ([`super::timing::RunReport::ops`]).
    pub fn ops_timed(&self) -> bool {
        self.timestamps.as_ref().is_some_and(|t| t.per_op)
    }

    /// Records the prepared commands `range` into `encoder`, with the recording's start
    /// timestamp when the range starts it and its end timestamp and query resolve when it ends it.
    pub(crate) fn encode(&self, encoder: &mut wgpu::CommandEncoder, range: Range<usize>) {
        let timestamps = self.timestamps.as_ref();
        let in_encoder = timestamps.filter(|t| t.in_encoder);
        let ends = range.end >= self.commands.len();
        if let (Some(t), 0) = (in_encoder, range.start) {
            encoder.write_timestamp(&t.queries, START);
        }
        let mut i = range.start;
        while i < range.end {
            match &self.commands[i] {
                Command::Copy {
                    src,
                    src_offset,
                    dst,
                    dst_offset,
                    size,
                } => {
                    encoder.copy_buffer_to_buffer(src, *src_offset, dst, *dst_offset, *size);
                    i += 1;
                }
                Command::Clear {
                    buffer,
                    offset,
                    size,
                } => {
                    encoder.clear_buffer(buffer, *offset, Some(*size));
                    i += 1;
                }
                Command::Dispatch { .. } => {
                    let end = self.commands[i..range.end]
                        .iter()
                        .position(|c| !matches!(c, Command::Dispatch { .. }))
                        .map_or(range.end, |n| i + n);
                    // Without timestamps in the encoder, the first and last pass carry them.
                    let pass_writes = timestamps.filter(|t| !t.in_encoder).and_then(|t| {
                        let (first, last) = self.dispatch_span?;
                        let begin = (i == first).then_some(START);
                        let finish = (end == last).then_some(END);
                        (begin.is_some() || finish.is_some()).then_some(
                            wgpu::ComputePassTimestampWrites {
                                query_set: &t.queries,
                                beginning_of_pass_write_index: begin,
                                end_of_pass_write_index: finish,
                            },
                        )
                    });
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some(&self.label),
                        timestamp_writes: pass_writes,
                    });
                    self.encode_pass(&mut pass, &self.commands[i..end]);
                    i = end;
                }
            }
        }
        if !ends {
            return;
        }
        if let Some(t) = in_encoder {
            encoder.write_timestamp(&t.queries, END);
        }
        if let Some(t) = timestamps {
            t.resolve(encoder);
        }
    }

    fn encode_pass(&self, pass: &mut wgpu::ComputePass<'_>, commands: &[Command]) {
        let per_op = self.timestamps.as_ref().filter(|t| t.per_op);
        let mut bound: Option<&Arc<Kernel>> = None;
        for command in commands {
            let Command::Dispatch {
                kernel,
                bind_group,
                workgroups: [x, y, z],
                repeats,
                ordinal,
            } = command
            else {
                continue;
            };
            if bound.is_none_or(|k| !Arc::ptr_eq(k, kernel)) {
                pass.set_pipeline(&kernel.pipeline);
                bound = Some(kernel);
            }
            pass.set_bind_group(0, bind_group, &[]);
            if let Some(t) = per_op {
                pass.write_timestamp(&t.queries, 2 + 2 * ordinal);
            }
            for _ in 0..*repeats {
                pass.dispatch_workgroups(*x, *y, *z);
            }
            if let Some(t) = per_op {
                pass.write_timestamp(&t.queries, 3 + 2 * ordinal);
            }
        }
    }

    /// Waits for `index` with the timestamps and the read-back area mapped in the same wait,
    /// then keeps the reads in `results` and decodes the timestamps: the GPU span and each
    /// op's span (into `ops`).
    pub(crate) fn fetch_results(
        &mut self,
        index: wgpu::SubmissionIndex,
    ) -> Result<(Option<Duration>, Vec<Duration>)> {
        let mut slices = Vec::with_capacity(2);
        if let Some(t) = &self.timestamps {
            slices.push(t.slice());
        }
        if let Some(r) = &self.readback {
            slices.push(r.slice(..));
        }
        map_for_reading(&self.gpu, &slices, index, &self.label)?;
        drop(slices);
        let mut ops = Vec::new();
        let gpu = match &self.timestamps {
            Some(t) => t.decode_mapped(&mut self.ticks, &mut ops)?,
            None => None,
        };
        if let Some(r) = &self.readback {
            {
                let data = r
                    .slice(..)
                    .get_mapped_range()
                    .map_err(|e| Error::ReadBack(e.to_string()))?;
                self.results.clear();
                self.results.extend_from_slice(&data);
            }
            r.unmap();
        }
        self.results_fresh = true;
        Ok((gpu, ops))
    }

    /// Where submissions cut the commands into command buffers: the GPU starts on the first few
    /// ops while the CPU encodes the rest (chunks of 8, 16, 32, ... commands). Only on Vulkan
    /// GPUs, where every buffer can first be checked to be alive, so that a destroyed buffer
    /// fails the submission before any part of it runs; elsewhere (and on CPU drivers) one
    /// command buffer.
    pub(crate) fn chunks(&self) -> Vec<Range<usize>> {
        let n = self.commands.len();
        if !self.chunked || n <= FIRST_CHUNK * 2 {
            return std::iter::once(0..n).collect();
        }
        let mut chunks = Vec::new();
        let (mut start, mut size) = (0, FIRST_CHUNK);
        while start < n {
            let end = (start + size).min(n);
            chunks.push(start..end);
            start = end;
            size *= 2;
        }
        chunks
    }

    /// [`Error::Destroyed`] when a buffer the recording uses was destroyed.
    pub(crate) fn check_alive(&self) -> Result<()> {
        if !self.vulkan {
            return Ok(());
        }
        match self.buffers.iter().find(|b| strata_vk::is_destroyed(b)) {
            Some(b) => Err(Error::Destroyed {
                what: format!(
                    "`{}` uses a buffer of {} bytes that was destroyed",
                    self.label,
                    b.size()
                ),
            }),
            None => Ok(()),
        }
    }

    /// Waits for a submission that was never waited for (its handle dropped).
    pub(crate) fn settle(&mut self) -> Result<()> {
        if let Some(index) = self.in_flight.take() {
            self.gpu.wait_for(index)?;
        }
        Ok(())
    }

    fn check_slot(&self, recording: u64, what: &str) -> Result<()> {
        if recording != self.id {
            return Err(Error::InvalidArgument(format!(
                "{what} belongs to another recording than `{}`",
                self.label
            )));
        }
        Ok(())
    }

    /// New bytes for a write op, used from the next submission on (same length as recorded).
    pub fn write(&mut self, slot: &WriteSlot, data: &[u8]) -> Result<()> {
        self.check_slot(slot.recording, "the write slot")?;
        if data.len() as u64 != slot.len {
            return Err(Error::Shape(format!(
                "write slot of {} bytes given {} bytes",
                slot.len,
                data.len()
            )));
        }
        let upload = self
            .upload
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument("the recording has no write ops".into()))?;
        self.gpu.scoped("writing a recording's data", || {
            self.gpu.queue.write_buffer(upload, slot.at, data)
        })
    }

    /// New parameters for a dispatch op (its uniform block, same length as recorded), used
    /// from the next submission on.
    pub fn set_uniforms(&mut self, op: &OpId, data: &[u8]) -> Result<()> {
        self.check_slot(op.recording, "the op")?;
        let (at, len) = op.uniforms.ok_or_else(|| {
            Error::InvalidArgument(format!("op {} has no uniform block", op.index))
        })?;
        if data.len() as u64 != len || !len.is_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT) {
            return Err(Error::Shape(format!(
                "op {} has {len} bytes of uniforms, given {}",
                op.index,
                data.len()
            )));
        }
        let uniforms = self
            .uniforms
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument("the recording has no uniforms".into()))?;
        self.gpu.scoped("setting an op's uniforms", || {
            self.gpu.queue.write_buffer(uniforms, at, data)
        })
    }

    /// Copies what a read op read in the last submission into `out` (its length exactly),
    /// waiting for that submission if needed.
    pub fn read(&mut self, slot: &ReadSlot, out: &mut [u8]) -> Result<()> {
        self.check_slot(slot.recording, "the read slot")?;
        if out.len() as u64 != slot.len {
            return Err(Error::Shape(format!(
                "read slot of {} bytes read into {} bytes",
                slot.len,
                out.len()
            )));
        }
        if self.readback.is_none() {
            return Err(Error::InvalidArgument(
                "the recording has no read ops".into(),
            ));
        }
        let index = self.last.clone().ok_or_else(|| {
            Error::InvalidArgument(format!("`{}` has not been submitted yet", self.label))
        })?;
        if !self.results_fresh {
            // The last submission was not waited for through its handle: fetch its results.
            self.in_flight = None;
            self.fetch_results(index)?;
        }
        let range = slot.at as usize..(slot.at + slot.len) as usize;
        let data = self
            .results
            .get(range)
            .ok_or_else(|| Error::ReadBack("the read-back area is shorter than a slot".into()))?;
        out.copy_from_slice(data);
        Ok(())
    }

    /// [`Replay::read`] as a vector of `T` (the slot's length must be whole `T`s).
    pub fn read_vec<T: bytemuck::Pod>(&mut self, slot: &ReadSlot) -> Result<Vec<T>> {
        let size = std::mem::size_of::<T>() as u64;
        if size == 0 || !slot.len.is_multiple_of(size) {
            return Err(Error::Shape(format!(
                "a read slot of {} bytes is not whole elements of {size} bytes",
                slot.len
            )));
        }
        let mut out = vec![T::zeroed(); (slot.len / size) as usize];
        self.read(slot, bytemuck::cast_slice_mut(&mut out))?;
        Ok(out)
    }
}

impl Recording<'_> {
    /// Prepares the recording for submission: bind groups, the uniform, upload and read-back
    /// areas, timestamp queries. A GPU error here (a buffer of another device, say) is
    /// returned and nothing is submitted.
    pub fn finish(self) -> Result<Replay> {
        Replay::prepare(self)
    }

    /// Finishes, submits once and waits: the report of that one run.
    pub fn run(self) -> Result<RunReport> {
        self.finish()?.submit()?.wait()
    }
}
