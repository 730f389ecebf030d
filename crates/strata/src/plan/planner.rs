//! The planner: a pure function from tensors, a memory table and options to a [`Plan`].

use super::budget::Ledger;
use super::error::{Attempt, PlanError};
use super::options::{PlanOptions, PlanPolicy};
use super::rules::{Classification, Classifier};
use super::tensor::TensorSpec;
use super::tier::Tier;
use crate::placement::{MemoryChoice, Placement, choose_memory_type};
use crate::table::MemoryTable;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Where one tensor goes, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedTensor {
    /// The tensor's name.
    pub name: String,
    /// Its safetensors dtype string.
    pub dtype: String,
    /// Its shape.
    pub shape: Vec<u64>,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its tier.
    pub tier: Tier,
    /// The placement it got.
    pub placement: Placement,
    /// The memory type index that placement resolves to on this device.
    pub memory_type: u32,
    /// That memory type's heap.
    pub heap: u32,
    /// A short human explanation, e.g. `bulk: vram-mapped heap 1 full (needs 2.00 GiB,
    /// 1.10 GiB left) -> host type 2 heap 0`.
    pub explanation: String,
}

/// One heap's totals in a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeapPlan {
    /// Heap index.
    pub index: u32,
    /// Heap size in bytes.
    pub size: u64,
    /// Usable budget in bytes: the reported budget (or the size), less the safety margin and
    /// what is in use; for a heap under a VRAM or host cap, at most the cap's usable part (a
    /// cap shared by two heaps shows on both, and binds their sum).
    pub budget: u64,
    /// Bytes planned on this heap, all placements together.
    pub planned_bytes: u64,
    /// `budget - planned_bytes`.
    pub headroom: u64,
}

/// A placement plan: every tensor once, in input order, and every heap of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The tensors, in the order they were given.
    pub tensors: Vec<PlannedTensor>,
    /// The heaps, in index order.
    pub heaps: Vec<HeapPlan>,
}

impl Plan {
    /// Bytes of all tensors.
    pub fn total_bytes(&self) -> u64 {
        self.tensors
            .iter()
            .map(|t| t.bytes)
            .fold(0, u64::saturating_add)
    }

    /// Bytes planned into one placement.
    pub fn bytes_in(&self, placement: Placement) -> u64 {
        self.tensors
            .iter()
            .filter(|t| t.placement == placement)
            .map(|t| t.bytes)
            .fold(0, u64::saturating_add)
    }

    /// The planned tensor of this name.
    pub fn tensor(&self, name: &str) -> Option<&PlannedTensor> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

/// Plans where every tensor goes, without allocating anything.
///
/// - [`PlanPolicy::Tiered`]: tensors are classified by the tier rules (see
///   [`TierRule`](super::TierRule)); critical tensors are placed first, in input order, then bulk
///   tensors, in input order. Each walks its tier's chain ([`Tier::chain`]: critical `vram` →
///   `vram-mapped` → `host`, bulk `vram-mapped` → `vram` → `host`) and takes the first placement
///   that the device serves and whose heap budget and caps still have room for it. A placement the device
///   cannot serve is skipped; every skip and spill is written into the tensor's explanation. A
///   tensor that fits nowhere is [`PlanError::FitsNowhere`].
/// - [`PlanPolicy::Only`]: every tensor in that placement; the first tensor that does not fit is
///   [`PlanError::DoesNotFit`], and a placement the device cannot serve is
///   [`PlanError::Placement`].
///
/// Budgets are per heap ([`usable_budget`](super::usable_budget)), shared by all placements
/// whose memory types live on that heap; the VRAM and host caps shrink heaps as on a smaller
/// device, and the `vram-mapped` cap limits that one placement (see
/// [`PlacementCaps`](super::PlacementCaps)). The result is
/// deterministic: the same input gives the same plan. Tensors come back in input order.
pub fn plan(
    tensors: &[TensorSpec],
    table: &MemoryTable,
    options: &PlanOptions,
) -> Result<Plan, PlanError> {
    table.validate()?;
    let margin = options.safety_margin;
    if !(0.0..1.0).contains(&margin) {
        return Err(PlanError::SafetyMargin(margin));
    }
    let mut names = HashSet::with_capacity(tensors.len());
    if let Some(dup) = tensors.iter().find(|t| !names.insert(t.name.as_str())) {
        return Err(PlanError::DuplicateTensor(dup.name.clone()));
    }

    let classifier = Classifier::new(&options.rules, options.default_rules, tensors);
    let classes: Vec<Classification> = tensors
        .iter()
        .map(|t| classifier.classify(&t.name))
        .collect();
    let mut ledger = Ledger::new(table, margin, options.caps);

    let mut planned = match options.policy {
        PlanPolicy::Tiered => plan_tiered(tensors, &classes, table, &mut ledger)?,
        PlanPolicy::Only(placement) => plan_only(tensors, &classes, table, placement, &mut ledger)?,
    };
    planned.sort_by_key(|(index, _)| *index);

    let heaps = table
        .heaps
        .iter()
        .zip(ledger.budgets.iter().zip(&ledger.planned))
        .map(|(heap, (&budget, &planned_bytes))| HeapPlan {
            index: heap.index,
            size: heap.size,
            budget,
            planned_bytes,
            headroom: budget.saturating_sub(planned_bytes),
        })
        .collect();
    Ok(Plan {
        tensors: planned.into_iter().map(|(_, t)| t).collect(),
        heaps,
    })
}

/// Places critical tensors, then bulk ones, each down its tier's chain. Returns
/// `(input index, planned tensor)` pairs in placement order.
fn plan_tiered(
    tensors: &[TensorSpec],
    classes: &[Classification],
    table: &MemoryTable,
    ledger: &mut Ledger,
) -> Result<Vec<(usize, PlannedTensor)>, PlanError> {
    // Each named placement resolves to one memory type (or none) once per plan.
    let resolved: Vec<(Placement, Option<MemoryChoice>)> = Placement::NAMED
        .iter()
        .map(|&p| (p, choose_memory_type(table, p, u32::MAX).ok()))
        .collect();
    let resolve = |p: Placement| resolved.iter().find(|(q, _)| *q == p).and_then(|(_, c)| *c);

    let order = [Tier::Critical, Tier::Bulk]
        .into_iter()
        .flat_map(|tier| (0..tensors.len()).filter(move |&i| classes[i].tier == tier));
    let mut out = Vec::with_capacity(tensors.len());
    for i in order {
        let (tensor, class) = (&tensors[i], &classes[i]);
        let mut attempts = Vec::new();
        let mut landed = None;
        for &placement in class.tier.chain() {
            let Some(choice) = resolve(placement) else {
                attempts.push(Attempt::Unavailable { placement });
                continue;
            };
            let room = ledger.room(placement, choice.heap);
            if tensor.bytes <= room.free {
                landed = Some(choice);
                break;
            }
            attempts.push(Attempt::Full {
                placement,
                memory_type: choice.memory_type,
                heap: choice.heap,
                needed: tensor.bytes,
                free: room.free,
                limit: room.limit,
            });
        }
        let Some(choice) = landed else {
            return Err(PlanError::FitsNowhere {
                tensor: tensor.name.clone(),
                bytes: tensor.bytes,
                tier: class.tier,
                attempts,
            });
        };
        ledger.take(choice.placement, choice.heap, tensor.bytes);
        let mut explanation = format!("{class}: ");
        for attempt in &attempts {
            explanation.push_str(&format!("{attempt} -> "));
        }
        explanation.push_str(&landing(&choice));
        out.push((i, planned(tensor, class.tier, &choice, explanation)));
    }
    Ok(out)
}

/// Places every tensor in `placement`, failing at the first that does not fit.
fn plan_only(
    tensors: &[TensorSpec],
    classes: &[Classification],
    table: &MemoryTable,
    placement: Placement,
    ledger: &mut Ledger,
) -> Result<Vec<(usize, PlannedTensor)>, PlanError> {
    let choice = choose_memory_type(table, placement, u32::MAX)?;
    let mut out = Vec::with_capacity(tensors.len());
    let mut planned_so_far = 0u64;
    for (i, (tensor, class)) in tensors.iter().zip(classes).enumerate() {
        let room = ledger.room(placement, choice.heap);
        if tensor.bytes > room.free {
            return Err(PlanError::DoesNotFit {
                tensor: tensor.name.clone(),
                bytes: tensor.bytes,
                placement,
                memory_type: choice.memory_type,
                heap: choice.heap,
                free: room.free,
                limit: room.limit,
                planned: planned_so_far,
                tensors: tensors.len(),
                total: tensors.iter().map(|t| t.bytes).fold(0, u64::saturating_add),
            });
        }
        ledger.take(placement, choice.heap, tensor.bytes);
        planned_so_far = planned_so_far.saturating_add(tensor.bytes);
        let explanation = format!("only={placement}: {}", landing(&choice));
        out.push((i, planned(tensor, class.tier, &choice, explanation)));
    }
    Ok(out)
}

/// `vram type 1 heap 0`, or `type 4 heap 0` for a `type=N` placement.
fn landing(choice: &MemoryChoice) -> String {
    match choice.placement {
        Placement::Type(_) => format!("type {} heap {}", choice.memory_type, choice.heap),
        p => format!("{p} type {} heap {}", choice.memory_type, choice.heap),
    }
}

fn planned(
    tensor: &TensorSpec,
    tier: Tier,
    choice: &MemoryChoice,
    explanation: String,
) -> PlannedTensor {
    PlannedTensor {
        name: tensor.name.clone(),
        dtype: tensor.dtype.clone(),
        shape: tensor.shape.clone(),
        bytes: tensor.bytes,
        tier,
        placement: choice.placement,
        memory_type: choice.memory_type,
        heap: choice.heap,
        explanation,
    }
}
