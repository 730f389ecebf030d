//! `strata info`: every adapter, its limits and features, and (on Vulkan) its memory table.

use crate::common::print_json;
use serde::Serialize;
use std::process::ExitCode;
use strata::adapter;
use strata::placement::{describe_memory_type, placements_served_by};
use strata::table::{MemoryHeap, human_bytes};
use strata::wgpu;

/// Options of `strata info`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Only this adapter (index or part of its name).
    #[arg(long, value_name = "NAME|INDEX")]
    adapter: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    adapters: Vec<AdapterReport>,
}

#[derive(Debug, Serialize)]
struct AdapterReport {
    index: usize,
    name: String,
    backend: String,
    device_type: String,
    driver: String,
    vendor: u32,
    device: u32,
    limits: Limits,
    features: Vec<String>,
    memory: Option<Memory>,
    extensions: Option<Vec<Extension>>,
}

#[derive(Debug, Serialize)]
struct Limits {
    max_buffer_size: u64,
    max_storage_buffer_binding_size: u64,
    max_compute_workgroup_storage_size: u32,
    max_compute_invocations_per_workgroup: u32,
    max_compute_workgroups_per_dimension: u32,
    min_storage_buffer_offset_alignment: u32,
    subgroup_min_size: u32,
    subgroup_max_size: u32,
}

#[derive(Debug, Serialize)]
struct Memory {
    heaps: Vec<MemoryHeap>,
    types: Vec<TypeReport>,
}

#[derive(Debug, Serialize)]
struct TypeReport {
    index: u32,
    heap: u32,
    flags: strata::table::MemoryFlags,
    placements: Vec<String>,
    meaning: String,
}

#[derive(Debug, Serialize)]
struct Extension {
    name: &'static str,
    present: bool,
}

/// Runs `strata info`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let backends = adapter::backends_from_env();
    let instance = adapter::create_instance(backends, false);
    let adapters = adapter::list_adapters(&instance, backends);
    if adapters.is_empty() {
        anyhow::bail!(strata::Error::NoAdapter {
            backends: format!("{backends:?}"),
        });
    }
    let wanted: Option<strata::adapter::AdapterSelector> = args
        .adapter
        .as_deref()
        .map(|s| s.parse().unwrap_or_default());
    let reports: Vec<AdapterReport> = adapters
        .iter()
        .enumerate()
        .filter(|(i, a)| match &wanted {
            None | Some(strata::adapter::AdapterSelector::Default) => true,
            Some(strata::adapter::AdapterSelector::Index(n)) => n == i,
            Some(strata::adapter::AdapterSelector::Name(n)) => {
                a.get_info().name.to_lowercase().contains(&n.to_lowercase())
            }
        })
        .map(|(i, a)| describe(i, a))
        .collect();
    if reports.is_empty() {
        anyhow::bail!(strata::Error::AdapterNotFound {
            selector: args.adapter.unwrap_or_default(),
            available: adapters
                .iter()
                .enumerate()
                .map(|(i, a)| format!("{i}: {}", a.get_info().name))
                .collect(),
        });
    }
    let report = Report { adapters: reports };
    if args.json {
        print_json(&report)?;
    } else {
        print_human(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(index: usize, a: &wgpu::Adapter) -> AdapterReport {
    let s = adapter::summarize(index, a);
    let info = a.get_info();
    let l = a.limits();
    let memory = adapter::memory_table(a).map(|table| Memory {
        types: table
            .types
            .iter()
            .map(|t| TypeReport {
                index: t.index,
                heap: t.heap,
                flags: t.flags,
                placements: placements_served_by(&table, t.index)
                    .iter()
                    .map(|p| p.to_string())
                    .collect(),
                meaning: describe_memory_type(&table, t.index, info.vendor, info.device_type),
            })
            .collect(),
        heaps: table.heaps,
    });
    let extensions = strata_vk_extensions(a);
    AdapterReport {
        index,
        name: s.name,
        backend: s.backend,
        device_type: s.device_type,
        driver: s.driver,
        vendor: info.vendor,
        device: info.device,
        limits: Limits {
            max_buffer_size: l.max_buffer_size,
            max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
            max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
            max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
            min_storage_buffer_offset_alignment: l.min_storage_buffer_offset_alignment,
            subgroup_min_size: info.subgroup_min_size,
            subgroup_max_size: info.subgroup_max_size,
        },
        features: a
            .features()
            .iter_names()
            .map(|(n, _)| n.to_string())
            .collect(),
        memory,
        extensions,
    }
}

fn strata_vk_extensions(a: &wgpu::Adapter) -> Option<Vec<Extension>> {
    adapter::memory_extensions(a).map(|list| {
        list.into_iter()
            .map(|(name, present)| Extension { name, present })
            .collect()
    })
}

fn print_human(report: &Report) {
    for a in &report.adapters {
        println!("adapter {}: {}", a.index, a.name);
        println!(
            "  backend {}, {}, driver {}",
            a.backend, a.device_type, a.driver
        );
        let l = &a.limits;
        println!(
            "  limits: buffer {}, storage binding {}, shared memory {}, {} invocations/workgroup, subgroup {}..{}",
            human_bytes(l.max_buffer_size),
            human_bytes(l.max_storage_buffer_binding_size),
            human_bytes(u64::from(l.max_compute_workgroup_storage_size)),
            l.max_compute_invocations_per_workgroup,
            l.subgroup_min_size,
            l.subgroup_max_size
        );
        println!("  features: {}", a.features.join(", "));
        if let Some(ext) = &a.extensions {
            let list: Vec<String> = ext
                .iter()
                .map(|e| format!("{} {}", e.name, if e.present { "yes" } else { "no" }))
                .collect();
            println!("  extensions: {}", list.join(", "));
        }
        match &a.memory {
            None => println!("  memory: (not a Vulkan adapter: no memory table)"),
            Some(m) => {
                println!("  memory heaps:");
                for h in &m.heaps {
                    let budget = match (h.budget, h.usage) {
                        (Some(b), Some(u)) => format!(
                            "budget {:>10}  usage {:>10}",
                            human_bytes(b),
                            human_bytes(u)
                        ),
                        _ => "budget n/a (no VK_EXT_memory_budget)".into(),
                    };
                    println!(
                        "    heap {}: {:>10}  {:<14} {budget}",
                        h.index,
                        human_bytes(h.size),
                        h.flags.to_string()
                    );
                }
                println!("  memory types:");
                for t in &m.types {
                    let serves = if t.placements.is_empty() {
                        String::new()
                    } else {
                        format!("  [{}]", t.placements.join(", "))
                    };
                    println!("    type {}: heap {}  {}{serves}", t.index, t.heap, t.flags);
                    println!("            {}", t.meaning);
                }
            }
        }
        println!();
    }
}
