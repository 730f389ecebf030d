//! `strata load`: plan a model for the adapter at hand and carry the plan out, optionally
//! verifying every tensor against the file; report where the time went.

use super::document::{Document, describe_model};
use super::plan::PlanArgs;
use crate::common::print_json;
use anyhow::Context as _;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Mutex;
use strata::load::{LoadOptions, LoadPhase, LoadProgress, LoadTuning, UploadChoice, VerifyMethod};
use strata::plan::parse_bytes;
use strata::table::human_bytes;
use strata::{HostMemory, Placement};

/// Options of `strata load`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    plan: PlanArgs,
    /// Compare every tensor with the file (while the next tensors upload), and check each
    /// heap's usage moved as planned; exit non-zero on any mismatch.
    #[arg(long)]
    verify: bool,
    /// How --verify compares: auto (checksum for tensors over 32 MiB where reading back would
    /// cross the bus: staged or uncached memory; bytes for the others), bytes (read back and compared byte for
    /// byte) or checksum (the GPU checksums each buffer where it lies, the CPU the file's
    /// bytes: CRC-32 of every 4 KiB block, mixed with its position).
    #[arg(long, value_name = "HOW", default_value = "auto")]
    verify_method: VerifyMethod,
    /// Threads that allocate tensors' memory ahead of the copy (0: allocate each tensor just
    /// before its bytes are written). Default: a quarter of the CPU threads, 1 to 4.
    #[arg(long, value_name = "N")]
    alloc_threads: Option<usize>,
    /// Threads that read the file map ahead of the copy (0: none; the copy faults the pages in).
    /// Default: a quarter of the CPU threads, 1 to 4.
    #[arg(long, value_name = "N")]
    read_ahead_threads: Option<usize>,
    /// How far ahead of the copy the file is read.
    #[arg(long, value_name = "SIZE", value_parser = parse_bytes, default_value = "1GiB")]
    read_ahead: u64,
    /// How bytes reach the memory: auto (the GPU's copy engine for device-local memory on a
    /// discrete GPU, a memcpy into the mapping elsewhere), mapped (a memcpy wherever the memory
    /// is host-visible) or staging (the GPU's copy engine for every type).
    #[arg(long, value_name = "PATH", default_value = "auto")]
    upload_path: UploadChoice,
    /// Where the staging slots live (a placement, e.g. host or host-cached); default: the
    /// context's own ring (auto:staging).
    #[arg(long, value_name = "PLACEMENT")]
    staging_memory: Option<Placement>,
    /// Who provides the pages of tensors in host-visible memory: auto (pages Strata faults in on
    /// every core and the driver imports, for system memory and GTT, where the device can),
    /// driver (the driver's own allocation) or imported (imported for every host-visible type).
    #[arg(long, value_name = "WHO", default_value = "auto")]
    host_memory: HostMemory,
}

impl Args {
    fn tuning(&self) -> LoadTuning {
        let defaults = LoadTuning::default();
        LoadTuning {
            allocation_threads: self.alloc_threads.unwrap_or(defaults.allocation_threads),
            read_ahead_threads: self
                .read_ahead_threads
                .unwrap_or(defaults.read_ahead_threads),
            read_ahead_bytes: self.read_ahead,
            upload_path: self.upload_path,
            staging_memory: self.staging_memory,
            host_memory: self.host_memory,
        }
    }
}

/// A progress bar on stderr, only when stderr is a terminal: the bytes uploaded (then, once
/// the upload is done, the bytes verified), the rate, and what the load is doing now
/// (allocating, uploading, verifying, finishing). It finishes when the last phase is done.
fn progress_bar(verify: bool) -> Option<impl Fn(LoadProgress) + Send + Sync + 'static> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:22} {bar:30} {bytes}/{total_bytes} {decimal_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    #[derive(Default)]
    struct State {
        uploaded: u64,
        verified: u64,
        upload_done: bool,
        shown: Option<LoadPhase>,
    }
    let state = Mutex::new(State::default());
    Some(move |p: LoadProgress| {
        let Ok(mut s) = state.lock() else { return };
        if bar.length() != Some(p.total) {
            bar.set_length(p.total);
        }
        match p.phase {
            LoadPhase::Upload => s.uploaded = p.done,
            LoadPhase::Verify => s.verified = p.done,
            LoadPhase::Finish => s.upload_done = true,
            _ => {}
        }
        if s.uploaded >= p.total {
            s.upload_done = true;
        }
        // Until the upload is done the bar follows it (verification trails it); then it
        // follows verification, with its own rate.
        let following = if s.upload_done && verify {
            LoadPhase::Verify
        } else {
            LoadPhase::Upload
        };
        if s.shown != Some(following) && following == LoadPhase::Verify {
            bar.reset();
            bar.set_length(p.total);
        }
        s.shown = Some(following);
        let message = match (following, p.phase) {
            (LoadPhase::Verify, _) => "verifying".to_string(),
            (_, LoadPhase::Allocate) => "waiting for memory".to_string(),
            (_, LoadPhase::Finish) => "finishing".to_string(),
            _ if verify => format!(
                "uploading, {}% verified",
                (s.verified * 100).checked_div(p.total).unwrap_or(0)
            ),
            _ => "uploading".to_string(),
        };
        bar.set_message(message);
        bar.set_position(match following {
            LoadPhase::Verify => s.verified,
            _ => s.uploaded,
        });
        let done = if verify {
            s.upload_done && s.verified >= p.total
        } else {
            s.upload_done
        };
        if done {
            bar.finish_and_clear();
        }
    })
}

/// `strata load --devices A,B,...`: the model split across the devices, each share loaded
/// (and verified) on its own device; on any failure everything is released on every device.
fn run_split(args: &Args) -> anyhow::Result<ExitCode> {
    let plan_args = &args.plan;
    let model = plan_args.open_model()?;
    let contexts = plan_args.device_contexts()?;
    let options = plan_args.options();
    let tables = contexts
        .iter()
        .map(|c| Ok(c.vulkan("loading a split")?.memory_table()))
        .collect::<strata::Result<Vec<_>>>()?;
    let split = strata::plan::plan_across(
        &model.to_specs(),
        &tables,
        &options,
        &plan_args.split_policy(),
    )
    .with_context(|| format!("planning {}", model.path().display()))?;
    let load_options = LoadOptions {
        verify: args.verify,
        verify_method: args.verify_method,
        tuning: args.tuning(),
        ..LoadOptions::default()
    };
    let refs: Vec<&strata::Context> = contexts.iter().collect();
    let loaded = strata::load::load_across(&refs, &model, &split, &load_options)
        .with_context(|| format!("loading {}", model.path().display()))?;
    let reports: Vec<strata::plan::LoadReport> =
        loaded.iter().map(|l| l.report().clone()).collect();
    let names: Vec<String> = contexts.iter().map(|c| c.adapter_info().name).collect();
    super::split::print_reports(
        &model,
        &names,
        options.policy,
        &split,
        &reports,
        plan_args.json,
        "loaded",
    )?;
    let mut failed = false;
    for (device, part) in loaded.iter().enumerate() {
        let mismatched = part.mismatched();
        if !mismatched.is_empty() {
            eprintln!(
                "error: device {device}: {} tensor(s) differ from the file: {}",
                mismatched.len(),
                mismatched.join(", ")
            );
            failed = true;
        }
        for heap in &part.report().heaps {
            if heap.verification.as_deref() == Some("mismatch") {
                eprintln!(
                    "error: device {device}: heap {} usage did not move as planned: {}",
                    heap.index,
                    heap.verification_detail.as_deref().unwrap_or("")
                );
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs `strata load`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.plan.devices.len() > 1 {
        return run_split(&args);
    }
    let plan_args = &args.plan;
    let model = plan_args.open_model()?;
    let ctx = plan_args.adapter.context()?;
    let options = plan_args.options();
    let plan = ctx
        .plan_for(&model, &options)
        .with_context(|| format!("planning {}", model.path().display()))?;

    let mut load_options = LoadOptions {
        verify: args.verify,
        verify_method: args.verify_method,
        tuning: args.tuning(),
        ..LoadOptions::default()
    };
    if let Some(bar) = progress_bar(args.verify) {
        load_options = load_options.with_progress(bar);
    }
    let loaded = ctx
        .load_model(&model, &plan, &load_options)
        .with_context(|| format!("loading {}", model.path().display()))?;
    let report = loaded.report();

    if plan_args.json {
        print_json(
            &Document::new(&model, ctx.adapter_info().name, options.policy, report)
                .with_timings(loaded.timings()),
        )?;
    } else {
        println!(
            "loaded {} ({}) on {}, policy {}\n",
            model.path().display(),
            describe_model(&model),
            ctx.adapter_info().name,
            options.policy
        );
        print!("{}", report.render_table());
        for heap in &report.heaps {
            if let (Some(word), Some(detail)) = (&heap.verification, &heap.verification_detail) {
                println!("heap {} usage check: {word}: {detail}", heap.index);
            }
        }
        if let Some(seconds) = loaded.verify_seconds() {
            let by = |method: VerifyMethod| {
                let name = method.to_string();
                let tensors = report.tensors.iter();
                tensors
                    .filter(|t| t.verified_by.as_deref() == Some(&name))
                    .count()
            };
            println!(
                "verified {} ({} tensor(s) byte for byte, {} by checksum); verification added {seconds:.2} s after the upload",
                human_bytes(loaded.total_bytes()),
                by(VerifyMethod::Bytes),
                by(VerifyMethod::Checksum)
            );
        }
        println!("\nwhere the time went (busy time per phase; phases overlap):");
        print!("{}", loaded.timings().render_table());
    }

    let mut failed = false;
    let mismatched = loaded.mismatched();
    if !mismatched.is_empty() {
        eprintln!(
            "error: {}: {} tensor(s) differ from the file: {}",
            model.path().display(),
            mismatched.len(),
            mismatched.join(", ")
        );
        failed = true;
    }
    for heap in &report.heaps {
        if heap.verification.as_deref() == Some("mismatch") {
            eprintln!(
                "error: heap {} usage did not move as planned: {}",
                heap.index,
                heap.verification_detail.as_deref().unwrap_or("")
            );
            failed = true;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
