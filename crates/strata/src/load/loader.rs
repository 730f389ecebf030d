//! Carrying a plan out: place every tensor where the plan says, stream its bytes from the
//! memory-mapped file, check where it landed, and optionally read it all back.

use super::check::{self, Step};
use super::verify::{self, HeapLoad, chunks};
use super::{LoadError, LoadOptions, LoadPhase, LoadedModel, LoadedTensor};
use crate::context::Context;
use crate::error::Result;
use crate::model::Model;
use crate::placement::{PlaceOptions, Verification};
use crate::plan::{LoadReport, Plan, PlanOptions, Tier, plan};
use crate::table::MemoryTable;
use std::collections::HashMap;
use std::time::Instant;

/// Memory priority of critical tensors' dedicated allocations (with `VK_EXT_memory_priority`):
/// the driver keeps them resident longest under memory pressure.
const CRITICAL_PRIORITY: f32 = 1.0;
/// Memory priority of bulk tensors' dedicated allocations.
const BULK_PRIORITY: f32 = 0.5;

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
    /// the plan's. Its bytes are streamed from the file's memory map in chunks of
    /// [`LOAD_CHUNK`](super::LOAD_CHUNK), by the buffer's upload path (a memcpy into a mapping,
    /// or the bounded staging ring): host memory stays bounded by the staging size, whatever the
    /// model's size. With [`LoadOptions::verify`], every tensor is read back in chunks and
    /// compared with the file, and each heap's usage movement with the plan.
    ///
    /// # Errors
    /// A [`LoadError`] naming the tensor. On any error every buffer placed so far is released.
    /// A verification mismatch is not an error: it is the tensor's `verified: Some(false)` (see
    /// [`LoadedModel::all_verified`]).
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

        let started = Instant::now();
        let mut counter = Counter {
            options,
            phase: LoadPhase::Upload,
            done: 0,
            total: plan.total_bytes(),
        };
        let mut tensors = Vec::with_capacity(steps.len());
        for step in &steps {
            tensors.push(self.load_tensor(model, step, &mut counter)?);
        }
        self.wait_idle()?;
        let seconds = started.elapsed().as_secs_f64();
        let after = vk.memory_table();
        options.report(LoadPhase::Upload, counter.done, counter.total);

        let verify_seconds = if options.verify {
            let started = Instant::now();
            let mut counter = Counter {
                options,
                phase: LoadPhase::Verify,
                done: 0,
                total: plan.total_bytes(),
            };
            for (tensor, step) in tensors.iter_mut().zip(&steps) {
                tensor.verified = Some(self.verify_tensor(model, tensor, step, &mut counter)?);
            }
            options.report(LoadPhase::Verify, counter.done, counter.total);
            Some(started.elapsed().as_secs_f64())
        } else {
            None
        };

        let report = report(plan, &tensors, &before, &after, seconds, options.verify);
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
            verify_seconds,
        })
    }

    /// Places one tensor and writes its bytes, chunk by chunk.
    fn load_tensor(
        &self,
        model: &Model,
        step: &Step<'_>,
        counter: &mut Counter<'_>,
    ) -> Result<LoadedTensor, LoadError> {
        let (planned, info) = (step.planned, step.info);
        counter.check_cancel()?;
        let data = model
            .tensor_data(info)
            .ok_or_else(|| LoadError::NotInModel {
                model: model.path().to_path_buf(),
                tensor: info.name.clone(),
            })?;
        let placed = if info.bytes == 0 {
            None
        } else {
            let options = PlaceOptions {
                priority: match planned.tier {
                    Tier::Critical => CRITICAL_PRIORITY,
                    Tier::Bulk => BULK_PRIORITY,
                },
                ..PlaceOptions::new(planned.placement)
            };
            let place_error = |source| LoadError::Place {
                model: model.path().to_path_buf(),
                tensor: info.name.clone(),
                bytes: info.bytes,
                placement: planned.placement,
                source: Box::new(source),
            };
            let (placed, _) = self
                .place_tensor(info.bytes, info.row_bytes(), &options)
                .map_err(place_error)?;
            if let Some(part) = placed
                .parts()
                .iter()
                .find(|p| p.memory_type() != planned.memory_type)
            {
                return Err(LoadError::ServedElsewhere {
                    tensor: info.name.clone(),
                    placement: planned.placement,
                    planned: planned.memory_type,
                    served: part.memory_type(),
                });
            }
            let mut at = 0usize;
            for part in placed.parts() {
                for (offset, len) in chunks(part.bytes()) {
                    counter.check_cancel()?;
                    let start = at + offset as usize;
                    self.write_placed(part, offset, &data[start..start + len as usize])
                        .map_err(|source| LoadError::Transfer {
                            model: model.path().to_path_buf(),
                            tensor: info.name.clone(),
                            during: "uploading",
                            source: Box::new(source),
                        })?;
                    counter.add(len);
                }
                at += part.bytes() as usize;
            }
            Some(placed)
        };
        Ok(LoadedTensor {
            name: info.name.clone(),
            dtype: info.dtype,
            shape: info.shape.clone(),
            bytes: info.bytes,
            tier: planned.tier,
            placement: planned.placement,
            memory_type: planned.memory_type,
            heap: planned.heap,
            placed,
            verified: None,
        })
    }

    /// Reads one loaded tensor back and compares it with the file.
    fn verify_tensor(
        &self,
        model: &Model,
        tensor: &LoadedTensor,
        step: &Step<'_>,
        counter: &mut Counter<'_>,
    ) -> Result<bool, LoadError> {
        counter.check_cancel()?;
        let Some(data) = model.tensor_data(step.info) else {
            return Ok(false);
        };
        let Some(placed) = &tensor.placed else {
            return Ok(data.is_empty());
        };
        verify::matches_file(self, placed, data, |bytes| counter.add(bytes)).map_err(|source| {
            LoadError::Transfer {
                model: model.path().to_path_buf(),
                tensor: tensor.name.clone(),
                during: "reading back",
                source: Box::new(source),
            }
        })
    }
}

/// The plan's report, filled with what the load measured.
fn report(
    plan: &Plan,
    tensors: &[LoadedTensor],
    before: &MemoryTable,
    after: &MemoryTable,
    seconds: f64,
    verified: bool,
) -> LoadReport {
    let mut report = plan.to_report();
    for (row, tensor) in report.tensors.iter_mut().zip(tensors) {
        row.verified = tensor.verified;
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
