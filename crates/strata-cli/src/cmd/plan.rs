//! `strata plan`: where every tensor of a model would go, on the adapter at hand or on a
//! recorded memory table, without allocating anything.

use super::document::{Document, describe_model};
use crate::common::{AdapterArgs, print_json};
use anyhow::Context as _;
use std::path::PathBuf;
use std::process::ExitCode;
use strata::model::Model;
use strata::plan::{
    DEFAULT_SAFETY_MARGIN, PlacementCaps, PlanOptions, PlanPolicy, SplitPolicy, TierRule,
    parse_bytes, plan_across,
};
use strata::table::{MemoryTable, human_bytes};

/// The options `strata plan` and `strata load` share: the model and how to plan it.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// The model: a .safetensors file, a sharded model's model.safetensors.index.json, a .gguf
    /// file (any part of a split one: NAME-00001-of-00003.gguf), or a directory holding one.
    pub model: PathBuf,
    /// `tiered` (critical tensors to vram, the rest to vram-mapped, spilling down to host), or
    /// every tensor in one placement: only=vram, only=vram-mapped, only=host, only=type=N.
    #[arg(long, default_value = "tiered", value_name = "POLICY")]
    pub policy: PlanPolicy,
    /// A tier rule PATTERN=TIER, tried before the defaults in the order given, e.g.
    /// '*embed*=critical', '*.layers.[0-3].*=critical', '*mlp*=bulk'. Repeatable.
    #[arg(long = "rule", value_name = "PATTERN=TIER")]
    pub rules: Vec<TierRule>,
    /// Switch off the default rules (embeddings, norms, output head, first and last layer are
    /// critical).
    #[arg(long)]
    pub no_default_rules: bool,
    /// Simulate a device with this much VRAM (e.g. 16GiB): the VRAM heap(s) that vram and
    /// vram-mapped draw on hold at most SIZE together, less the safety margin, and what does not
    /// fit spills down the tier chain to the next heap (host), as it would on that device.
    #[arg(long, value_name = "SIZE", value_parser = parse_bytes)]
    pub vram_limit: Option<u64>,
    /// Simulate a card without resizable BAR: at most SIZE in vram-mapped (its CPU-visible VRAM
    /// window, ~256MiB there); bulk tensors then go to vram. A cap on the placement, not on a
    /// heap.
    #[arg(long, value_name = "SIZE", value_parser = parse_bytes)]
    pub vram_mapped_limit: Option<u64>,
    /// Simulate less system memory for the GPU: the heap host draws on (GTT on an APU, pinned
    /// system RAM on a discrete card) holds at most SIZE, less the safety margin.
    #[arg(long, value_name = "SIZE", value_parser = parse_bytes)]
    pub host_limit: Option<u64>,
    /// Fraction of each heap's budget left unplanned, in [0, 1).
    #[arg(long, default_value_t = DEFAULT_SAFETY_MARGIN, value_name = "F")]
    pub safety_margin: f64,
    /// Split the model across these adapters (indices or names, e.g. `0,1`): contiguous layer
    /// ranges, one per device, each planned into its own tiers (see `--split`).
    #[arg(long, value_delimiter = ',', value_name = "ADAPTERS")]
    pub devices: Vec<String>,
    /// Shares of the layers per device for a split, e.g. `3,1` (default: in proportion to each
    /// device's usable device-local budget).
    #[arg(long, value_delimiter = ',', value_name = "WEIGHTS")]
    pub split: Vec<f64>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub adapter: AdapterArgs,
}

impl PlanArgs {
    /// The planner's options.
    pub fn options(&self) -> PlanOptions {
        PlanOptions {
            policy: self.policy,
            rules: self.rules.clone(),
            default_rules: !self.no_default_rules,
            caps: PlacementCaps {
                vram: self.vram_limit,
                vram_mapped: self.vram_mapped_limit,
                host: self.host_limit,
            },
            safety_margin: self.safety_margin,
        }
    }

    /// How layers are shared among devices.
    pub fn split_policy(&self) -> SplitPolicy {
        if self.split.is_empty() {
            SplitPolicy::ByBudget
        } else {
            SplitPolicy::Ratio(self.split.clone())
        }
    }

    /// Contexts on the `--devices` adapters, in order.
    pub fn device_contexts(&self) -> anyhow::Result<Vec<strata::Context>> {
        Ok(self
            .devices
            .iter()
            .map(|d| {
                AdapterArgs {
                    adapter: Some(d.clone()),
                    validation: self.adapter.validation,
                }
                .context()
            })
            .collect::<strata::Result<Vec<_>>>()?)
    }

    /// Opens the model (errors name the file and the tensor).
    pub fn open_model(&self) -> anyhow::Result<Model> {
        Ok(Model::open(&self.model)?)
    }
}

/// Options of `strata plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    plan: PlanArgs,
    /// Plan for a recorded memory table instead of the adapter at hand: a `strata info --json`
    /// document (its first adapter with a table) or its `memory` object. Repeat it to plan a
    /// split across several recorded devices (see `--split`).
    #[arg(long, value_name = "TABLE.json")]
    device_table: Vec<PathBuf>,
}

/// Reads a recorded memory table.
fn read_table(path: &std::path::Path) -> anyhow::Result<MemoryTable> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the device table {}", path.display()))?;
    MemoryTable::from_json(&text).with_context(|| format!("the device table {}", path.display()))
}

/// Runs `strata plan`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plan_args = &args.plan;
    let model = plan_args.open_model()?;
    let options = plan_args.options();
    let planning = || format!("planning {}", model.path().display());
    if args.device_table.len() > 1 || plan_args.devices.len() > 1 {
        let (tables, names): (Vec<MemoryTable>, Vec<String>) = if args.device_table.len() > 1 {
            let tables = args
                .device_table
                .iter()
                .map(|p| read_table(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let names = args
                .device_table
                .iter()
                .map(|p| format!("recorded table {}", p.display()))
                .collect();
            (tables, names)
        } else {
            let contexts = plan_args.device_contexts()?;
            let tables = contexts
                .iter()
                .map(|c| Ok(c.vulkan("planning a split")?.memory_table()))
                .collect::<strata::Result<Vec<_>>>()?;
            (
                tables,
                contexts.iter().map(|c| c.adapter_info().name).collect(),
            )
        };
        let split = plan_across(
            &model.to_specs(),
            &tables,
            &options,
            &plan_args.split_policy(),
        )
        .with_context(planning)?;
        super::split::print_split(&model, &names, options.policy, &split, plan_args.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (plan, device) = match args.device_table.first() {
        Some(path) => {
            let table = read_table(path)?;
            let plan =
                strata::plan::plan(&model.to_specs(), &table, &options).with_context(planning)?;
            (plan, format!("recorded table {}", path.display()))
        }
        None => {
            let ctx = plan_args.adapter.context()?;
            let plan = ctx.plan_for(&model, &options).with_context(planning)?;
            (plan, ctx.adapter_info().name)
        }
    };
    let report = plan.to_report();
    if plan_args.json {
        print_json(&Document::new(&model, device, options.policy, &report))?;
    } else {
        println!(
            "plan for {} ({}; {} tensor(s), {}) on {device}, policy {}\n",
            model.path().display(),
            describe_model(&model),
            report.tensors.len(),
            human_bytes(report.total_bytes()),
            options.policy
        );
        print!("{}", report.render_table());
    }
    Ok(ExitCode::SUCCESS)
}
