//! Plans across several devices of one host: the model's layers split into contiguous ranges,
//! one per device, then each device's share planned into its own tiers as usual.
//!
//! The split follows each device's usable device-local budget (or an explicit ratio): the
//! devices take consecutive layers in order, each about its share of the layers' bytes, and
//! every device gets at least one layer when there are enough. Tensors outside the layer stack
//! go with the layer they feed or follow: embeddings (names with `embed`, `token_embd` or
//! `wte`) to the first device, everything else (final norm, output head) to the last.
//!
//! Each device's share is then planned with [`plan`](super::plan) on that device's table, so
//! its tier rules apply to its own share: the first and last layer of each device's range are
//! its edge layers. Devices of one host usually report the same system-memory heap; a plan
//! cannot tell, so keep the `host` tier's use across devices within what the host has.

use super::budget::usable_budget;
use super::error::PlanError;
use super::options::PlanOptions;
use super::planner::{Plan, plan};
use super::rules::layer_of;
use super::tensor::TensorSpec;
use crate::table::{HeapFlags, MemoryTable};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;

/// How a model's layers are shared among devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SplitPolicy {
    /// In proportion to each device's usable device-local budget.
    ByBudget,
    /// In the given proportions (one positive weight per device).
    Ratio(Vec<f64>),
}

/// One device's share of a split plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DevicePlan {
    /// The device's position in the list given to [`plan_across`].
    pub device: usize,
    /// The layers it holds (empty when it holds none).
    pub layers: Range<u64>,
    /// Its tensors' plan on its own table.
    pub plan: Plan,
}

/// A plan across devices: every tensor on exactly one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitPlan {
    /// One entry per device, in order.
    pub devices: Vec<DevicePlan>,
}

impl SplitPlan {
    /// Bytes of all tensors on all devices.
    pub fn total_bytes(&self) -> u64 {
        self.devices.iter().map(|d| d.plan.total_bytes()).sum()
    }

    /// The device and planned tensor of this name.
    pub fn tensor(&self, name: &str) -> Option<(usize, &super::PlannedTensor)> {
        self.devices
            .iter()
            .find_map(|d| d.plan.tensor(name).map(|t| (d.device, t)))
    }
}

/// Splits `tensors` across the devices of `tables` by `split`, then plans each device's
/// share with `options`.
///
/// # Errors
/// [`PlanError::Split`] for no devices, a ratio of the wrong length or with a weight that is
/// not positive and finite, or devices with no device-local budget to share by; any error of
/// [`plan`] on a device's share.
pub fn plan_across(
    tensors: &[TensorSpec],
    tables: &[MemoryTable],
    options: &PlanOptions,
    split: &SplitPolicy,
) -> Result<SplitPlan, PlanError> {
    if tables.is_empty() {
        return Err(PlanError::Split("no devices to plan across".into()));
    }
    for table in tables {
        table.validate()?;
    }
    let weights = match split {
        SplitPolicy::Ratio(w) => {
            if w.len() != tables.len() {
                return Err(PlanError::Split(format!(
                    "a ratio of {} weights for {} devices",
                    w.len(),
                    tables.len()
                )));
            }
            if w.iter().any(|v| !v.is_finite() || *v <= 0.0) {
                return Err(PlanError::Split(format!(
                    "ratio weights must be positive and finite, got {w:?}"
                )));
            }
            w.clone()
        }
        SplitPolicy::ByBudget => {
            let budgets: Vec<f64> = tables
                .iter()
                .map(|t| device_local_budget(t, options.safety_margin) as f64)
                .collect();
            if budgets.iter().all(|&b| b == 0.0) {
                return Err(PlanError::Split(
                    "no device has a device-local budget to share the layers by".into(),
                ));
            }
            budgets
        }
    };

    // Layer index → bytes, in layer order; tensors outside the stack go to an end.
    let mut layer_bytes: BTreeMap<u64, u64> = BTreeMap::new();
    for t in tensors {
        if let Some((_, index)) = layer_of(&t.name) {
            *layer_bytes.entry(index).or_default() += t.bytes;
        }
    }
    let ranges = split_layers(&layer_bytes, &weights);
    let last = tables.len() - 1;
    let mut shares: Vec<Vec<TensorSpec>> = vec![Vec::new(); tables.len()];
    for t in tensors {
        let device = match layer_of(&t.name) {
            Some((_, index)) => ranges
                .iter()
                .position(|r| r.contains(&index))
                .unwrap_or(last),
            None if is_input_side(&t.name) => 0,
            None => last,
        };
        shares[device].push(t.clone());
    }
    let mut devices = Vec::with_capacity(tables.len());
    for (device, (share, table)) in shares.iter().zip(tables).enumerate() {
        let plan = plan(share, table, options).map_err(|e| PlanError::OnDevice {
            device,
            source: Box::new(e),
        })?;
        devices.push(DevicePlan {
            device,
            layers: ranges[device].clone(),
            plan,
        });
    }
    Ok(SplitPlan { devices })
}

/// Usable bytes of a table's device-local heaps.
fn device_local_budget(table: &MemoryTable, safety_margin: f64) -> u64 {
    table
        .heaps
        .iter()
        .filter(|h| h.flags.contains(HeapFlags::DEVICE_LOCAL))
        .map(|h| usable_budget(h, safety_margin))
        .sum()
}

/// Embedding tables feed the first layer.
fn is_input_side(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["embed", "token_embd", "wte"]
        .iter()
        .any(|key| lower.contains(key))
}

/// Contiguous ranges of layer indices, one per weight, each about its weight's share of the
/// bytes; every range gets at least one layer while layers remain for the ranges after it.
fn split_layers(layer_bytes: &BTreeMap<u64, u64>, weights: &[f64]) -> Vec<Range<u64>> {
    let layers: Vec<(u64, u64)> = layer_bytes.iter().map(|(&i, &b)| (i, b)).collect();
    let total: f64 = layers.iter().map(|&(_, b)| b as f64).sum();
    let weight_sum: f64 = weights.iter().sum();
    let mut ranges = Vec::with_capacity(weights.len());
    let mut next = 0usize;
    let mut target = 0f64;
    let mut done = 0f64;
    for (d, w) in weights.iter().enumerate() {
        let remaining_devices = weights.len() - d - 1;
        target += total * w / weight_sum;
        let start = next;
        // Take layers while the running total stays nearer the target with them than
        // without, leaving one layer for each device after this one while there are enough.
        let reserve = remaining_devices.min((layers.len() - next).saturating_sub(1));
        while next < layers.len() - reserve {
            let bytes = layers[next].1 as f64;
            let take = next == start || (done + bytes - target).abs() <= (done - target).abs();
            if !take {
                break;
            }
            done += bytes;
            next += 1;
        }
        if remaining_devices == 0 {
            while next < layers.len() {
                done += layers[next].1 as f64;
                next += 1;
            }
        }
        let range = match (
            layers.get(start),
            next.checked_sub(1).and_then(|i| layers.get(i)),
        ) {
            (Some(&(first, _)), Some(&(last, _))) if next > start => first..last + 1,
            _ => {
                let at = layers.get(start).map_or(0, |&(i, _)| i);
                at..at
            }
        };
        ranges.push(range);
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(n: u64, bytes: u64) -> BTreeMap<u64, u64> {
        (0..n).map(|i| (i, bytes)).collect()
    }

    #[test]
    fn equal_weights_split_equal_layers_evenly() {
        assert_eq!(
            split_layers(&layers(32, 10), &[1.0, 1.0]),
            vec![0..16, 16..32]
        );
        assert_eq!(
            split_layers(&layers(10, 10), &[1.0, 1.0, 1.0]),
            vec![0..3, 3..7, 7..10]
        );
    }

    #[test]
    fn ratios_and_budgets_set_the_shares() {
        assert_eq!(
            split_layers(&layers(40, 1), &[3.0, 1.0]),
            vec![0..30, 30..40]
        );
        // A tiny device still gets one layer.
        assert_eq!(
            split_layers(&layers(4, 1), &[1000.0, 1.0]),
            vec![0..3, 3..4]
        );
    }

    #[test]
    fn more_devices_than_layers_leaves_the_last_ones_empty() {
        let ranges = split_layers(&layers(2, 1), &[1.0, 1.0, 1.0]);
        assert_eq!(ranges[0], 0..1);
        assert_eq!(ranges[1], 1..2);
        assert!(ranges[2].is_empty());
    }

    #[test]
    fn every_layer_lands_on_exactly_one_device() {
        for n in 1..40u64 {
            for devices in 1..5usize {
                let ranges = split_layers(&layers(n, 7), &vec![1.0; devices]);
                for layer in 0..n {
                    let holders = ranges.iter().filter(|r| r.contains(&layer)).count();
                    assert_eq!(holders, 1, "layer {layer} of {n} on {devices} devices");
                }
            }
        }
    }
}
