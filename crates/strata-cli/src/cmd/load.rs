//! `strata load`: plan a model for the adapter at hand and carry the plan out, optionally
//! reading every tensor back to verify it.

use super::plan::{Document, PlanArgs, describe_model};
use crate::common::print_json;
use anyhow::Context as _;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Mutex;
use strata::load::{LoadOptions, LoadPhase, LoadProgress};
use strata::table::human_bytes;

/// Options of `strata load`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    plan: PlanArgs,
    /// Read every tensor back and compare it with the file, and check each heap's usage moved
    /// as planned; exit non-zero on any mismatch.
    #[arg(long)]
    verify: bool,
}

/// A progress bar on stderr (bytes, GB/s), only when stderr is a terminal. It finishes when the
/// last phase (verification when `verify`, else the upload) is done.
fn progress_bar(verify: bool) -> Option<impl Fn(LoadProgress) + Send + Sync + 'static> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:9} {bar:30} {bytes}/{total_bytes} {decimal_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let phase: Mutex<Option<LoadPhase>> = Mutex::new(None);
    Some(move |p: LoadProgress| {
        if let Ok(mut current) = phase.lock() {
            if *current != Some(p.phase) {
                *current = Some(p.phase);
                bar.reset();
                bar.set_length(p.total);
                bar.set_message(match p.phase {
                    LoadPhase::Upload => "loading",
                    LoadPhase::Verify => "verifying",
                });
            }
        }
        bar.set_position(p.done);
        let last = if verify {
            LoadPhase::Verify
        } else {
            LoadPhase::Upload
        };
        if p.done >= p.total && p.phase == last {
            bar.finish_and_clear();
        }
    })
}

/// Runs `strata load`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plan_args = &args.plan;
    let model = plan_args.open_model()?;
    let ctx = plan_args.adapter.context()?;
    let options = plan_args.options();
    let plan = ctx
        .plan_for(&model, &options)
        .with_context(|| format!("planning {}", model.path().display()))?;

    let mut load_options = LoadOptions {
        verify: args.verify,
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
        print_json(&Document::new(
            &model,
            ctx.adapter_info().name,
            options.policy,
            report,
        ))?;
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
            println!(
                "read back and compared {} in {seconds:.2} s",
                human_bytes(loaded.total_bytes())
            );
        }
    }

    let mut failed = false;
    let mismatched = loaded.mismatched();
    if !mismatched.is_empty() {
        eprintln!(
            "error: {}: {} tensor(s) read back differ from the file: {}",
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
