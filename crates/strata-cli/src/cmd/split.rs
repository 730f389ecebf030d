//! `strata plan` and `strata load` across several devices: each device's share of a split
//! plan, its layers, and its own report.

use super::document::{Document, describe_model};
use crate::common::print_json;
use serde::Serialize;
use strata::model::Model;
use strata::plan::{LoadReport, PlanPolicy, SplitPlan};
use strata::table::human_bytes;

/// One device's part of a split, as printed and in JSON.
#[derive(Debug, Serialize)]
pub struct DeviceDocument<'a> {
    /// The device's position.
    pub device: usize,
    /// The layers it holds.
    pub layers: std::ops::Range<u64>,
    /// Its share: the plan's (or the load's) report, with the model and device named.
    #[serde(flatten)]
    pub document: Document<'a>,
}

/// Prints a split plan: per device, its layers and its plan.
pub fn print_split(
    model: &Model,
    names: &[String],
    policy: PlanPolicy,
    split: &SplitPlan,
    json: bool,
) -> anyhow::Result<()> {
    let reports: Vec<LoadReport> = split.devices.iter().map(|d| d.plan.to_report()).collect();
    print_reports(model, names, policy, split, &reports, json, "plan")
}

/// Prints one report per device of a split (planned or loaded).
pub fn print_reports(
    model: &Model,
    names: &[String],
    policy: PlanPolicy,
    split: &SplitPlan,
    reports: &[LoadReport],
    json: bool,
    what: &str,
) -> anyhow::Result<()> {
    if json {
        let documents: Vec<DeviceDocument<'_>> = split
            .devices
            .iter()
            .zip(reports)
            .zip(names)
            .map(|((d, report), name)| DeviceDocument {
                device: d.device,
                layers: d.layers.clone(),
                document: Document::new(model, name.clone(), policy, report),
            })
            .collect();
        return print_json(&documents);
    }
    println!(
        "{what} for {} ({}) across {} devices, policy {policy}, {} in all",
        model.path().display(),
        describe_model(model),
        split.devices.len(),
        human_bytes(split.total_bytes())
    );
    for ((d, report), name) in split.devices.iter().zip(reports).zip(names) {
        println!(
            "\ndevice {} ({name}): layers {}..{}, {} tensor(s), {}",
            d.device,
            d.layers.start,
            d.layers.end,
            report.tensors.len(),
            human_bytes(report.total_bytes())
        );
        print!("{}", report.render_table());
    }
    Ok(())
}
