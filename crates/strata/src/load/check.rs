//! The checks a load makes before it allocates anything: the plan against the model, against
//! this device's live memory table, and against the engine's split rule.

use super::LoadError;
use crate::model::{Model, TensorInfo};
use crate::placement::{PartLimit, Placement, choose_memory_type, split_into_parts};
use crate::plan::{Plan, PlannedTensor, shape_string};
use crate::table::{MemoryTable, human_bytes};
use std::collections::HashMap;

/// One tensor to load: the plan's entry and the model's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step<'a> {
    pub(crate) planned: &'a PlannedTensor,
    pub(crate) info: &'a TensorInfo,
}

/// Pairs every planned tensor with the model's tensor of that name, which must have the same
/// dtype, shape and size. The plan decides what is loaded: a model tensor the plan leaves out is
/// not loaded.
pub(crate) fn match_plan<'a>(model: &'a Model, plan: &'a Plan) -> Result<Vec<Step<'a>>, LoadError> {
    plan.tensors
        .iter()
        .map(|planned| {
            let Some(info) = model.tensor(&planned.name) else {
                return Err(LoadError::NotInModel {
                    model: model.path().to_path_buf(),
                    tensor: planned.name.clone(),
                });
            };
            let same = planned.dtype == info.dtype.name()
                && planned.shape == info.shape
                && planned.bytes == info.bytes;
            if !same {
                let describe = |dtype: &str, shape: &[u64], bytes: u64| {
                    format!("{dtype} {} ({bytes} bytes)", shape_string(shape))
                };
                return Err(LoadError::PlanDisagrees {
                    model: model.path().to_path_buf(),
                    tensor: planned.name.clone(),
                    planned: describe(&planned.dtype, &planned.shape, planned.bytes),
                    actual: describe(info.dtype.name(), &info.shape, info.bytes),
                });
            }
            Ok(Step { planned, info })
        })
        .collect()
}

/// Checks that every planned placement resolves, on this device, to the memory type and heap
/// the plan says (a plan made for a recorded table of another device does not load here).
pub(crate) fn check_device(
    plan: &Plan,
    live: &MemoryTable,
    storage_type_bits: u32,
) -> Result<(), LoadError> {
    let mut resolved: HashMap<Placement, Result<(u32, u32), String>> = HashMap::new();
    for tensor in &plan.tensors {
        let live_choice = resolved.entry(tensor.placement).or_insert_with(|| {
            choose_memory_type(live, tensor.placement, storage_type_bits)
                .map(|choice| (choice.memory_type, choice.heap))
                .map_err(|error| match error {
                    crate::placement::PolicyError::Unavailable { reason, .. } => {
                        format!("is not served ({reason})")
                    }
                    other => format!("is not served ({other})"),
                })
        });
        let wrong = match live_choice {
            Ok((ty, heap)) if (*ty, *heap) == (tensor.memory_type, tensor.heap) => continue,
            Ok((ty, heap)) => format!("is memory type {ty} (heap {heap})"),
            Err(reason) => reason.clone(),
        };
        return Err(LoadError::WrongDevice {
            tensor: tensor.name.clone(),
            placement: tensor.placement,
            planned_type: tensor.memory_type,
            planned_heap: tensor.heap,
            live: wrong,
        });
    }
    Ok(())
}

/// Bytes a plan puts on each heap, by heap index.
pub(crate) fn planned_per_heap(plan: &Plan, heaps: usize) -> Vec<u64> {
    let mut planned = vec![0u64; heaps];
    for tensor in &plan.tensors {
        if let Some(slot) = planned.get_mut(tensor.heap as usize) {
            *slot = slot.saturating_add(tensor.bytes);
        }
    }
    planned
}

/// Checks that the bytes the plan puts on each heap are free there now: the heap's budget less
/// its usage (`VK_EXT_memory_budget`), or its size where the device reports no budget. The plan's
/// own safety margin was applied when it was made; this check guards against a plan made
/// earlier, for another table, or with caps above what the device has.
pub(crate) fn check_heaps(plan: &Plan, live: &MemoryTable) -> Result<(), LoadError> {
    let planned = planned_per_heap(plan, live.heaps.len());
    for (heap, &planned) in live.heaps.iter().zip(&planned) {
        let (free, source_of_free) = match (heap.budget, heap.usage) {
            (Some(budget), Some(usage)) => (
                budget.min(heap.size).saturating_sub(usage),
                format!(
                    "budget {} less usage {}",
                    human_bytes(budget),
                    human_bytes(usage)
                ),
            ),
            _ => (
                heap.size,
                "the heap's size: the device reports no budget".to_string(),
            ),
        };
        if planned > free {
            return Err(LoadError::OverBudget {
                heap: heap.index,
                planned,
                free,
                source_of_free,
            });
        }
    }
    Ok(())
}

/// Checks that every non-empty tensor can be split into parts the device accepts (no row over
/// the part limit), so that a load never fails halfway for a reason known in advance.
pub(crate) fn check_parts(
    steps: &[Step<'_>],
    limit: PartLimit,
    model: &Model,
) -> Result<(), LoadError> {
    for step in steps.iter().filter(|s| s.info.bytes > 0) {
        split_into_parts(step.info.bytes, step.info.row_bytes(), limit, "tensor").map_err(
            |source| LoadError::Place {
                model: model.path().to_path_buf(),
                tensor: step.info.name.clone(),
                bytes: step.info.bytes,
                placement: step.planned.placement,
                source: Box::new(source),
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlanOptions, TensorSpec, plan};

    fn lavapipe() -> MemoryTable {
        MemoryTable::from_json(include_str!(
            "../../tests/devices/lavapipe-mesa-22.3.6.json"
        ))
        .unwrap()
    }

    #[test]
    fn heaps_must_have_the_planned_bytes_free_now() {
        let mut table = lavapipe();
        let tensors = [TensorSpec::new("w", "U8", [1 << 20], 1 << 20)];
        let plan = plan(&tensors, &table, &PlanOptions::default()).unwrap();
        assert!(check_heaps(&plan, &table).is_ok());
        table.heaps[0].budget = Some(2 << 20);
        table.heaps[0].usage = Some(3 << 19);
        match check_heaps(&plan, &table) {
            Err(LoadError::OverBudget {
                heap: 0,
                planned,
                free,
                ..
            }) => {
                assert_eq!((planned, free), (1 << 20, 1 << 19));
            }
            other => panic!("expected OverBudget, got {other:?}"),
        }
    }

    #[test]
    fn placements_must_resolve_to_the_planned_types() {
        let apu =
            MemoryTable::from_json(include_str!("../../tests/devices/amd-apu-radv.json")).unwrap();
        let tensors = [TensorSpec::new("model.embed_tokens.weight", "U8", [64], 64)];
        let for_apu = plan(&tensors, &apu, &PlanOptions::default()).unwrap();
        assert!(check_device(&for_apu, &apu, u32::MAX).is_ok());
        let error = check_device(&for_apu, &lavapipe(), u32::MAX).unwrap_err();
        assert!(matches!(error, LoadError::WrongDevice { .. }), "{error}");
        assert!(
            error.to_string().contains("model.embed_tokens.weight"),
            "{error}"
        );
        // A type the buffer may not use is not served.
        let error = check_device(&for_apu, &apu, 0).unwrap_err();
        assert!(error.to_string().contains("not served"), "{error}");
    }
}
