//! Carrying a plan out: place every tensor where the plan says, stream its bytes from the
//! memory-mapped file, check where it landed, and optionally verify it all.
//!
//! The stages run side by side, each on threads of its own: allocation threads place tensors
//! ahead of the copy ([`super::allocate`]), read-ahead threads touch the file map ahead of it
//! ([`super::read_ahead`]), the calling thread copies, tensor by tensor ([`super::upload`]), and
//! a verifier checks each uploaded tensor while the next ones upload ([`super::verify`]).

use super::allocate::{Allocations, Halt, Placed};
use super::check::{self, Step};
use super::read_ahead::{Cursor, ReadAhead};
use super::timings::{Clock, LoadTimings, PathUse, Phase};
use super::upload::{BorrowedRing, Writer, choose_path};
use super::verify::{self, HeapLoad, LOAD_READBACK_SLOTS, Verifier, chunks};
use super::{LoadError, LoadOptions, LoadPhase, LoadedModel, LoadedTensor, VerifyMethod};
use crate::context::Context;
use crate::error::Result;
use crate::model::{Model, TensorInfo};
use crate::placement::{UploadPath, Verification};
use crate::plan::{LoadReport, Plan, PlanOptions, plan};
use crate::table::{MemoryFlags, MemoryTable};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// Bytes done and due in one phase, reported to the progress callback.
struct Counter<'a> {
    options: &'a LoadOptions,
    phase: LoadPhase,
    done: u64,
    total: u64,
}

impl Counter<'_> {
    fn add(&mut self, bytes: u64) {
        self.done = self.done.saturating_add(bytes);
        self.options.report(self.phase, self.done, self.total);
    }

    fn check_cancel(&self) -> Result<(), LoadError> {
        if self.options.cancelled() {
            return Err(LoadError::Cancelled {
                done: self.done,
                total: self.total,
            });
        }
        Ok(())
    }
}

/// What the stages of one load share.
struct Shared<'a> {
    ctx: &'a Context,
    model: &'a Model,
    options: &'a LoadOptions,
    steps: &'a [Step<'a>],
    /// The upload path of each step.
    paths: Vec<UploadPath>,
    clock: Clock,
    /// Set when a stage fails or the load is cancelled: the others stop at their next step.
    stop: AtomicBool,
    cursor: Cursor,
    allocations: Allocations<'a>,
}

impl Context {
    /// Plans a model's load against this device's live memory table (heap budgets less what is
    /// in use now, when the device reports them): see [`crate::plan::plan`].
    ///
    /// # Errors
    /// [`Error::NeedsVulkan`](crate::Error::NeedsVulkan) off Vulkan, and [`Error::Plan`](crate::Error::Plan)
    /// when the plan cannot be made (e.g. `only=vram` and the model does not fit).
    pub fn plan_for(&self, model: &Model, options: &PlanOptions) -> Result<Plan> {
        let table = self.vulkan("planning a model load")?.memory_table();
        Ok(plan(&model.to_specs(), &table, options)?)
    }

    /// Loads `model`'s tensors as `plan` says (the plan decides which tensors are loaded).
    ///
    /// Before anything is allocated, the plan is checked against the model (every planned
    /// tensor exists with the same dtype, shape and size), against this device's live memory
    /// table (each placement resolves to the planned memory type, and each heap has the planned
    /// bytes free now) and against the split rule (no row larger than a part may be).
    ///
    /// Then each tensor is placed in its planned placement, with no fallback, as one buffer or
    /// row-aligned parts ([`Context::place_tensor`]); the memory type that served it must be
    /// the plan's. Allocation threads place tensors ahead of the copy ([`LoadOptions::tuning`]).
    /// Bytes are streamed from the file's memory map in chunks of
    /// [`LOAD_CHUNK`](super::LOAD_CHUNK), read ahead by a few threads, by a memcpy into the
    /// mapping or through the bounded staging ring (see [`UploadChoice`](super::UploadChoice)):
    /// host memory stays bounded by the rings' size, whatever the model's size. With
    /// [`LoadOptions::verify`], every tensor is compared with the file while the next ones
    /// upload (read back in chunks, or by checksum: [`LoadOptions::verify_method`]), and each
    /// heap's usage movement is compared with the plan.
    /// [`LoadedModel::timings`] says where the time went.
    ///
    /// # Errors
    /// A [`LoadError`] naming the tensor. On any error every buffer placed so far is released.
    /// A verification mismatch is not an error: it is the tensor's `verified: Some(false)` (see
    /// [`LoadedModel::all_verified`]). A [`LoadError`] converts into [`crate::Error`], so `?`
    /// works in a function returning [`crate::Result`]:
    ///
    /// ```
    /// use strata::load::{LoadOptions, LoadedModel};
    /// use strata::model::Model;
    /// use strata::plan::PlanOptions;
    ///
    /// fn load(ctx: &strata::Context, path: &std::path::Path) -> strata::Result<LoadedModel> {
    ///     let model = Model::open(path)?;
    ///     let plan = ctx.plan_for(&model, &PlanOptions::default())?;
    ///     let loaded = ctx.load_model(&model, &plan, &LoadOptions::verified())?;
    ///     Ok(loaded)
    /// }
    /// # let _ = load;
    /// ```
    pub fn load_model(
        &self,
        model: &Model,
        plan: &Plan,
        options: &LoadOptions,
    ) -> Result<LoadedModel, LoadError> {
        let vk = self.vulkan("loading a model")?;
        let steps = check::match_plan(model, plan)?;
        let before = vk.memory_table();
        check::check_device(plan, &before, vk.storage_type_bits())?;
        check::check_heaps(plan, &before)?;
        check::check_parts(&steps, self.part_limit(), model)?;
        self.check_lost("loading a model")?;

        let tuning = options.bounded_tuning();
        let discrete = self.adapter_info().device_type == wgpu::DeviceType::DiscreteGpu;
        let flags_of = |step: &Step<'_>| {
            before
                .types
                .get(step.planned.memory_type as usize)
                .map_or(MemoryFlags::NONE, |t| t.flags)
        };
        let paths: Vec<UploadPath> = steps
            .iter()
            .map(|step| choose_path(flags_of(step), tuning.upload_path, discrete))
            .collect();
        let staging = paths.contains(&UploadPath::Staging);
        // Verification byte for byte reads back through the ring what was staged or lies in
        // memory the CPU does not cache (the rule of `Verifier::matches_file`).
        let reads_back = options.verify
            && steps.iter().zip(&paths).any(|(step, &path)| {
                let staged = path == UploadPath::Staging;
                let cached = flags_of(step).contains(MemoryFlags::HOST_CACHED);
                step.info.bytes > 0
                    && (staged || !cached)
                    && options
                        .verify_method
                        .for_tensor(step.info.bytes, staged, cached, true)
                        == VerifyMethod::Bytes
            });
        let started = Instant::now();
        let shared = Shared {
            ctx: self,
            model,
            options,
            steps: &steps,
            paths,
            clock: Clock::default(),
            stop: AtomicBool::new(false),
            cursor: Cursor::default(),
            allocations: Allocations::new(&steps, tuning.host_memory, started),
        };
        let read_ahead = ReadAhead::new(model, &steps, tuning.read_ahead_bytes);

        let (tensors, upload_seconds, after) = std::thread::scope(|scope| {
            // The rings' missing slots are made from here on, on threads of their own, beside
            // the first allocations; the copy and the verifier wait only for a first slot.
            let upload_ring = if staging {
                Some(BorrowedRing::upload(scope, self, tuning.staging_memory)?)
            } else {
                None
            };
            let readback_ring = if reads_back {
                Some(BorrowedRing::readback(scope, self, LOAD_READBACK_SLOTS)?)
            } else {
                None
            };
            for _ in 0..tuning.allocation_threads {
                scope.spawn(|| {
                    shared
                        .allocations
                        .work(self, model, &shared.clock, &shared.stop)
                });
            }
            for _ in 0..tuning.read_ahead_threads {
                scope.spawn(|| read_ahead.work(&shared.cursor, &shared.clock));
            }
            let (sender, verifier) = if options.verify {
                let (sender, receiver) = mpsc::channel::<(LoadedTensor, usize)>();
                let shared = &shared;
                (
                    Some(sender),
                    Some(scope.spawn(move || shared.verify_all(receiver, readback_ring))),
                )
            } else {
                (None, None)
            };

            let copied = shared
                .copy_all(tuning.allocation_threads == 0, sender.as_ref(), upload_ring)
                .and_then(|tensors| {
                    shared.clock.time(Phase::Finish, || self.wait_idle())?;
                    Ok(tensors)
                });
            let upload_seconds = started.elapsed().as_secs_f64();
            let after = vk.memory_table();
            if copied.is_err() {
                shared.stop.store(true, Ordering::Release);
            }
            shared.cursor.stop();
            drop(sender);
            let verified = verifier.map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
            // The stage that failed on its own gives the load's error; the copy's comes first.
            match (copied, verified) {
                (Err(Halt::Failed(error)), _) | (_, Some(Err(Halt::Failed(error)))) => Err(error),
                (Ok(tensors), None) | (Ok(_), Some(Ok(tensors))) => {
                    Ok((tensors, upload_seconds, after))
                }
                _ => Err(LoadError::from(crate::Error::InvalidArgument(
                    "the load stopped with no stage failing".into(),
                ))),
            }
        })?;
        let total_seconds = started.elapsed().as_secs_f64();
        options.report(LoadPhase::Upload, plan.total_bytes(), plan.total_bytes());
        if options.verify {
            options.report(LoadPhase::Verify, plan.total_bytes(), plan.total_bytes());
        }

        let timings = LoadTimings {
            bytes: plan.total_bytes(),
            upload_seconds,
            total_seconds,
            allocation_threads: tuning.allocation_threads,
            read_ahead_threads: tuning.read_ahead_threads,
            copy_threads: rayon::current_num_threads(),
            paths: path_uses(&steps, &shared.paths),
            phases: shared.clock.phases(shared.allocations.wall_seconds()),
        };
        let report = report(
            plan,
            &tensors,
            &before,
            &after,
            upload_seconds,
            options.verify,
            self.staging.footprint().1 + WGPU_BLOCKS,
        );
        let by_name: HashMap<String, usize> = tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Ok(LoadedModel {
            path: model.path().to_path_buf(),
            tensors,
            by_name,
            report,
            verify_seconds: options
                .verify
                .then(|| (total_seconds - upload_seconds).max(0.0)),
            timings,
        })
    }
}

impl Shared<'_> {
    /// `Err` once the load is cancelled or another stage failed.
    fn halted(&self, counter: &Counter<'_>) -> Result<(), Halt> {
        counter.check_cancel()?;
        if self.stop.load(Ordering::Acquire) {
            return Err(Halt::Stopped);
        }
        Ok(())
    }

    /// The copying stage: every tensor in plan order, its memory from the allocation threads
    /// (or placed here when `inline`), its bytes written chunk by chunk. Uploaded tensors go to
    /// the verifier when there is one, and are returned otherwise.
    fn copy_all(
        &self,
        inline: bool,
        verifier: Option<&mpsc::Sender<(LoadedTensor, usize)>>,
        ring: Option<BorrowedRing<'_>>,
    ) -> Result<Vec<LoadedTensor>, Halt> {
        let mut counter = Counter {
            options: self.options,
            phase: LoadPhase::Upload,
            done: 0,
            total: self.steps.iter().map(|s| s.info.bytes).sum(),
        };
        let mut writer = Writer::new(self.ctx, &self.clock, ring);
        let mut tensors = Vec::with_capacity(if verifier.is_some() {
            0
        } else {
            self.steps.len()
        });
        for (index, step) in self.steps.iter().enumerate() {
            self.halted(&counter)?;
            let placed: Placed = if inline {
                self.allocations
                    .place(self.ctx, self.model, index, &self.clock)
            } else {
                let waited = Instant::now();
                let placed = self.allocations.take(
                    index,
                    || {
                        self.options.report(
                            LoadPhase::Allocate,
                            self.allocations.allocated(),
                            counter.total,
                        )
                    },
                    || self.halted(&counter),
                )?;
                self.clock.add(Phase::WaitAllocation, waited.elapsed());
                placed
            };
            let placed = placed?;
            let info = step.info;
            if let Some(placed) = &placed {
                let data = self
                    .model
                    .tensor_data(info)
                    .ok_or_else(|| LoadError::NotInModel {
                        model: self.model.path().to_path_buf(),
                        tensor: info.name.clone(),
                    })?;
                let path = self
                    .paths
                    .get(index)
                    .copied()
                    .unwrap_or(UploadPath::Staging);
                let mut at = 0usize;
                for part in placed.parts() {
                    for (offset, len) in chunks(part.bytes()) {
                        self.halted(&counter)?;
                        let start = at + offset as usize;
                        writer
                            .write(part, offset, &data[start..start + len as usize], path)
                            .map_err(|source| LoadError::Transfer {
                                model: self.model.path().to_path_buf(),
                                tensor: info.name.clone(),
                                during: "uploading",
                                source: Box::new(source),
                            })?;
                        counter.add(len);
                        self.cursor.advance(counter.done);
                    }
                    at += part.bytes() as usize;
                }
            }
            let tensor = LoadedTensor {
                name: info.name.clone(),
                dtype: info.dtype,
                shape: info.shape.clone(),
                bytes: info.bytes,
                tier: step.planned.tier,
                placement: step.planned.placement,
                memory_type: step.planned.memory_type,
                heap: step.planned.heap,
                placed,
                verified: None,
                verified_by: None,
            };
            match verifier {
                // A verifier that is gone has failed; its error is the load's. It reads the
                // tensor back through the queue, so every byte of it is submitted first.
                Some(verifier) => {
                    self.flush(&mut writer, info)?;
                    verifier.send((tensor, index)).map_err(|_| Halt::Stopped)?;
                }
                None => tensors.push(tensor),
            }
        }
        if let Some(last) = self.steps.last() {
            self.flush(&mut writer, last.info)?;
        }
        self.options
            .report(LoadPhase::Finish, counter.done, counter.total);
        Ok(tensors)
    }

    /// Submits what `writer` holds; an error names `info`, the tensor whose bytes were last
    /// written.
    fn flush(&self, writer: &mut Writer<'_>, info: &TensorInfo) -> Result<(), LoadError> {
        writer.flush().map_err(|source| LoadError::Transfer {
            model: self.model.path().to_path_buf(),
            tensor: info.name.clone(),
            during: "uploading",
            source: Box::new(source),
        })
    }

    /// The verifying stage: every uploaded tensor, as it arrives, read back and compared with
    /// the file. Returns the tensors, in the order they came, with `verified` set. When it
    /// fails, the other stages stop.
    fn verify_all(
        &self,
        uploaded: mpsc::Receiver<(LoadedTensor, usize)>,
        ring: Option<BorrowedRing<'_>>,
    ) -> Result<Vec<LoadedTensor>, Halt> {
        let result = self.verify_each(uploaded, ring);
        if result.is_err() {
            self.stop.store(true, Ordering::Release);
        }
        result
    }

    fn verify_each(
        &self,
        uploaded: mpsc::Receiver<(LoadedTensor, usize)>,
        ring: Option<BorrowedRing<'_>>,
    ) -> Result<Vec<LoadedTensor>, Halt> {
        let mut counter = Counter {
            options: self.options,
            phase: LoadPhase::Verify,
            done: 0,
            total: self.steps.iter().map(|s| s.info.bytes).sum(),
        };
        let mut verifier = Verifier::new(self.ctx, &self.clock, ring);
        let mut tensors = Vec::with_capacity(self.steps.len());
        loop {
            let waited = Instant::now();
            let Ok((mut tensor, index)) = uploaded.recv() else {
                break;
            };
            self.clock.add(Phase::VerifyWait, waited.elapsed());
            self.halted(&counter)?;
            let step = self.steps.get(index).ok_or(Halt::Stopped)?;
            let staged = self.paths.get(index) == Some(&UploadPath::Staging);
            let method = tensor.placed.as_ref().map(|placed| {
                let parts = placed.parts();
                self.options.verify_method.for_tensor(
                    placed.bytes(),
                    staged,
                    parts.iter().all(verify::host_cached),
                    parts
                        .iter()
                        .all(|p| p.buffer().usage().contains(wgpu::BufferUsages::STORAGE)),
                )
            });
            let verdict = match (self.model.tensor_data(step.info), &tensor.placed, method) {
                (None, _, _) => false,
                (Some(data), None, _) | (Some(data), _, None) => data.is_empty(),
                (Some(data), Some(placed), Some(method)) => verifier
                    .matches_file(placed, data, staged, method, |bytes| {
                        counter.add(bytes);
                        self.halted(&counter)
                    })
                    .map_err(|halt| match halt {
                        Halt::Failed(LoadError::Device(source)) => {
                            Halt::Failed(LoadError::Transfer {
                                model: self.model.path().to_path_buf(),
                                tensor: tensor.name.clone(),
                                during: "reading back",
                                source,
                            })
                        }
                        other => other,
                    })?,
            };
            tensor.verified = Some(verdict);
            tensor.verified_by = method;
            tensors.push(tensor);
        }
        Ok(tensors)
    }
}

/// Bytes per placement and upload path, in the order they first appear.
fn path_uses(steps: &[Step<'_>], paths: &[UploadPath]) -> Vec<PathUse> {
    let mut uses: Vec<PathUse> = Vec::new();
    for (step, &path) in steps.iter().zip(paths) {
        let placement = step.planned.placement;
        match uses
            .iter_mut()
            .find(|u| u.placement == placement && u.path == path)
        {
            Some(u) => u.bytes = u.bytes.saturating_add(step.info.bytes),
            None => uses.push(PathUse {
                placement,
                path,
                bytes: step.info.bytes,
            }),
        }
    }
    uses
}

/// Host-visible memory wgpu may allocate for a load's own small buffers (a checksum's result
/// and read-back buffers, uniforms): its allocator takes memory in blocks of up to 64 MiB, and
/// a heap may see one for the read-back buffers and one for the rest.
const WGPU_BLOCKS: u64 = 128 << 20;

/// The plan's report, filled with what the load measured.
fn report(
    plan: &Plan,
    tensors: &[LoadedTensor],
    before: &MemoryTable,
    after: &MemoryTable,
    seconds: f64,
    verified: bool,
    own: u64,
) -> LoadReport {
    let mut report = plan.to_report();
    for (row, tensor) in report.tensors.iter_mut().zip(tensors) {
        row.verified = tensor.verified;
        row.verified_by = tensor.verified_by.map(|method| method.to_string());
        row.host_imported = tensor
            .placed
            .as_ref()
            .map(|placed| placed.parts().iter().all(|p| p.info().host_imported));
    }
    let mut loads = vec![HeapLoad::default(); before.heaps.len()];
    for tensor in tensors {
        if let Some(load) = loads.get_mut(tensor.heap as usize) {
            load.planned = load.planned.saturating_add(tensor.bytes);
            let dedicated: u64 = tensor
                .parts()
                .iter()
                .filter(|p| p.info().dedicated)
                .map(|p| p.bytes())
                .sum();
            load.dedicated = load.dedicated.saturating_add(dedicated);
        }
    }
    let all_dedicated = loads.iter().map(|l| l.dedicated).sum();
    for heap in &mut report.heaps {
        let index = heap.index as usize;
        heap.usage_before = before.heaps.get(index).and_then(|h| h.usage);
        heap.usage_after = after.heaps.get(index).and_then(|h| h.usage);
        if verified {
            let load = loads.get(index).copied().unwrap_or_default();
            let verdict = verify::heap_verdict(
                heap.index,
                load,
                all_dedicated,
                own,
                (heap.usage_before, heap.usage_after),
            );
            heap.verification = verdict.as_ref().map(|v| v.word().to_string());
            heap.verification_detail = verdict.map(|v| match v {
                Verification::Verified { witness } => witness,
                Verification::Mismatch { detail } => detail,
                Verification::Unverifiable { reason } => reason,
            });
        }
    }
    let bytes = plan.total_bytes() as f64;
    report.seconds = Some(seconds);
    report.gb_per_s = (seconds > 0.0).then(|| bytes / seconds / 1e9);
    report
}
