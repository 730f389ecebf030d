//! The report shared by `strata plan` and `strata load`: JSON and a human table.
//!
//! A plan fills what it knows ([`Plan::to_report`]); a loader carrying the plan out fills the
//! measured fields (`verified`, `usage_before`, `usage_after`, `seconds`, `gb_per_s`), which a
//! plan leaves `null`. The JSON shape:
//!
//! ```json
//! {"tensors":[{"name","dtype","shape","bytes","placement","memory_type","heap","verified",
//!              "verified_by","host_imported","tier","explanation"}],
//!  "heaps":[{"index","size","budget","planned_bytes","headroom","usage_before","usage_after"}],
//!  "seconds","gb_per_s"}
//! ```

use super::planner::Plan;
use super::tensor::shape_string;
use super::tier::Tier;
use crate::placement::Placement;
use crate::table::human_bytes;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One tensor of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorReport {
    /// The tensor's name.
    pub name: String,
    /// Its safetensors dtype string.
    pub dtype: String,
    /// Its shape.
    pub shape: Vec<u64>,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its placement.
    pub placement: Placement,
    /// The memory type index it is (to be) allocated from.
    pub memory_type: u32,
    /// That type's heap.
    pub heap: u32,
    /// Whether the loaded bytes were read back and matched the file; `null` when not checked
    /// (always in a plan).
    #[serde(default)]
    pub verified: Option<bool>,
    /// How it was verified: `bytes` (compared byte for byte) or `checksum` (block checksums
    /// by the GPU and the CPU, see [`crate::load::VerifyMethod`]); `null` when not verified.
    #[serde(default)]
    pub verified_by: Option<String>,
    /// Whether every part of it is bound to host pages the driver imported
    /// ([`crate::HostMemory`]) rather than memory the driver allocated, in the same memory type;
    /// `null` in a plan and for an empty tensor.
    #[serde(default)]
    pub host_imported: Option<bool>,
    /// Its tier.
    pub tier: Tier,
    /// Why it went where it went.
    pub explanation: String,
}

/// One heap of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeapReport {
    /// Heap index.
    pub index: u32,
    /// Heap size in bytes.
    pub size: u64,
    /// Usable budget in bytes (after the safety margin).
    pub budget: u64,
    /// Bytes planned on this heap.
    pub planned_bytes: u64,
    /// `budget - planned_bytes`.
    pub headroom: u64,
    /// Measured heap usage before loading (`VK_EXT_memory_budget`); `null` in a plan or where
    /// the device cannot tell.
    #[serde(default)]
    pub usage_before: Option<u64>,
    /// Measured heap usage after loading; `null` in a plan or where the device cannot tell.
    #[serde(default)]
    pub usage_after: Option<u64>,
    /// A verified load's verdict on this heap's usage movement: `verified`, `mismatch` or
    /// `unverifiable`; `null` in a plan, an unverified load, or for a heap the load left alone.
    #[serde(default)]
    pub verification: Option<String>,
    /// What the verdict rests on (the witness and what it saw), when there is one.
    #[serde(default)]
    pub verification_detail: Option<String>,
}

/// A plan or a load, as `strata plan --json` and `strata load --json` print it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Every tensor, in model order.
    pub tensors: Vec<TensorReport>,
    /// Every heap of the device, in index order.
    pub heaps: Vec<HeapReport>,
    /// Wall time of the load in seconds; `null` in a plan.
    #[serde(default)]
    pub seconds: Option<f64>,
    /// Load throughput in decimal GB (10^9 bytes) per second; `null` in a plan.
    #[serde(default)]
    pub gb_per_s: Option<f64>,
}

impl Plan {
    /// The plan as a report, measured fields `None`.
    pub fn to_report(&self) -> LoadReport {
        LoadReport {
            tensors: self
                .tensors
                .iter()
                .map(|t| TensorReport {
                    name: t.name.clone(),
                    dtype: t.dtype.clone(),
                    shape: t.shape.clone(),
                    bytes: t.bytes,
                    placement: t.placement,
                    memory_type: t.memory_type,
                    heap: t.heap,
                    verified: None,
                    verified_by: None,
                    host_imported: None,
                    tier: t.tier,
                    explanation: t.explanation.clone(),
                })
                .collect(),
            heaps: self
                .heaps
                .iter()
                .map(|h| HeapReport {
                    index: h.index,
                    size: h.size,
                    budget: h.budget,
                    planned_bytes: h.planned_bytes,
                    headroom: h.headroom,
                    usage_before: None,
                    usage_after: None,
                    verification: None,
                    verification_detail: None,
                })
                .collect(),
            seconds: None,
            gb_per_s: None,
        }
    }

    /// The plan as a human table (see [`LoadReport::render_table`]).
    pub fn render_table(&self) -> String {
        self.to_report().render_table()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_table())
    }
}

impl LoadReport {
    /// Bytes of all tensors.
    pub fn total_bytes(&self) -> u64 {
        self.tensors
            .iter()
            .map(|t| t.bytes)
            .fold(0, u64::saturating_add)
    }

    /// A human table: one row per tensor (name, dtype, shape, size, placement, memory type,
    /// heap, `verified` when a load filled it, explanation), the bytes per placement, one row per
    /// heap (size, budget, planned, headroom, measured usage when a load filled it), and the
    /// load time when there is one.
    pub fn render_table(&self) -> String {
        let show_verified = self.tensors.iter().any(|t| t.verified.is_some());
        let mut headers = vec![
            "tensor",
            "dtype",
            "shape",
            "size",
            "placement",
            "type",
            "heap",
        ];
        if show_verified {
            headers.push("verified");
        }
        headers.push("explanation");
        let rows = self.tensors.iter().map(|t| {
            let mut row = vec![
                t.name.clone(),
                t.dtype.clone(),
                shape_string(&t.shape),
                human_bytes(t.bytes),
                t.placement.to_string(),
                t.memory_type.to_string(),
                t.heap.to_string(),
            ];
            if show_verified {
                row.push(match t.verified {
                    Some(true) => "yes".into(),
                    Some(false) => "NO".into(),
                    None => "-".into(),
                });
            }
            row.push(t.explanation.clone());
            row
        });
        let mut out = columns(&headers, rows);

        out.push('\n');
        let mut placements: Vec<(Placement, u64, usize)> = Vec::new();
        for t in &self.tensors {
            match placements.iter_mut().find(|(p, _, _)| *p == t.placement) {
                Some((_, bytes, count)) => {
                    *bytes = bytes.saturating_add(t.bytes);
                    *count += 1;
                }
                None => placements.push((t.placement, t.bytes, 1)),
            }
        }
        let rows = placements
            .iter()
            .map(|(p, bytes, count)| vec![p.to_string(), count.to_string(), human_bytes(*bytes)]);
        out.push_str(&columns(&["placement", "tensors", "bytes"], rows));

        out.push('\n');
        let show_usage = self
            .heaps
            .iter()
            .any(|h| h.usage_before.is_some() || h.usage_after.is_some());
        let show_check = self.heaps.iter().any(|h| h.verification.is_some());
        let mut headers = vec!["heap", "size", "budget", "planned", "headroom"];
        if show_usage {
            headers.extend(["usage before", "usage after"]);
        }
        if show_check {
            headers.push("usage check");
        }
        let optional = |v: Option<u64>| v.map_or_else(|| "n/a".to_string(), human_bytes);
        let rows = self.heaps.iter().map(|h| {
            let mut row = vec![
                h.index.to_string(),
                human_bytes(h.size),
                human_bytes(h.budget),
                human_bytes(h.planned_bytes),
                human_bytes(h.headroom),
            ];
            if show_usage {
                row.extend([optional(h.usage_before), optional(h.usage_after)]);
            }
            if show_check {
                row.push(h.verification.clone().unwrap_or_else(|| "-".into()));
            }
            row
        });
        out.push_str(&columns(&headers, rows));

        out.push_str(&format!(
            "\n{} tensor(s), {}",
            self.tensors.len(),
            human_bytes(self.total_bytes())
        ));
        if let Some(seconds) = self.seconds {
            out.push_str(&format!(", loaded in {seconds:.2} s"));
        }
        if let Some(rate) = self.gb_per_s {
            out.push_str(&format!(" ({rate:.2} GB/s)"));
        }
        out.push('\n');
        out
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_table())
    }
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
fn columns(headers: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = rows.collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header_row).chain(&rows) {
        let last = row.len().saturating_sub(1);
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{HeapPlan, PlannedTensor};

    fn sample() -> Plan {
        Plan {
            tensors: vec![PlannedTensor {
                name: "model.embed_tokens.weight".into(),
                dtype: "BF16".into(),
                shape: vec![4, 2],
                bytes: 16,
                tier: Tier::Critical,
                placement: Placement::Vram,
                memory_type: 1,
                heap: 0,
                explanation: "critical (default *embed*): vram type 1 heap 0".into(),
            }],
            heaps: vec![HeapPlan {
                index: 0,
                size: 1024,
                budget: 972,
                planned_bytes: 16,
                headroom: 956,
            }],
        }
    }

    #[test]
    fn plan_report_has_the_shared_json_shape_with_nulls() {
        let json = serde_json::to_value(sample().to_report()).unwrap();
        let tensor = &json["tensors"][0];
        for key in [
            "name",
            "dtype",
            "shape",
            "bytes",
            "placement",
            "memory_type",
            "heap",
        ] {
            assert!(!tensor[key].is_null(), "{key}");
        }
        assert!(tensor.get("verified").is_some_and(|v| v.is_null()));
        assert_eq!(tensor["placement"], "vram");
        let heap = &json["heaps"][0];
        for key in ["index", "planned_bytes", "budget"] {
            assert!(!heap[key].is_null(), "{key}");
        }
        for key in ["usage_before", "usage_after"] {
            assert!(heap.get(key).is_some_and(|v| v.is_null()), "{key}");
        }
        for key in ["seconds", "gb_per_s"] {
            assert!(json.get(key).is_some_and(|v| v.is_null()), "{key}");
        }
        let back: LoadReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, sample().to_report());
    }

    #[test]
    fn table_shows_tensors_heaps_and_measured_fields_when_present() {
        let text = sample().to_string();
        assert!(text.contains("model.embed_tokens.weight"), "{text}");
        assert!(text.contains("[4, 2]"), "{text}");
        assert!(text.contains("critical (default *embed*)"), "{text}");
        assert!(text.contains("headroom"), "{text}");
        assert!(!text.contains("verified"), "{text}");

        let mut report = sample().to_report();
        report.tensors[0].verified = Some(true);
        report.heaps[0].usage_before = Some(0);
        report.heaps[0].usage_after = Some(16);
        report.seconds = Some(1.5);
        report.gb_per_s = Some(2.25);
        let text = report.render_table();
        assert!(text.contains("verified") && text.contains("yes"), "{text}");
        assert!(text.contains("usage after"), "{text}");
        assert!(text.contains("2.25 GB/s"), "{text}");
    }
}
