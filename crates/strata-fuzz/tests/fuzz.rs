//! The fast form of the fuzzing that CI runs: every target for a few seconds (and at most a
//! bounded number of inputs), which must find no crash. Longer runs: `RELIABILITY.md`.

use std::time::Duration;
use strata_fuzz::runner::{RunConfig, run, run_one};
use strata_fuzz::targets::{TARGETS, Target, target};

/// Time per target (the run budget usually ends it first on a fast machine).
const SECONDS: u64 = 4;
/// Inputs per target.
const MAX_RUNS: u64 = 100_000;

fn fuzz_briefly(target: &Target) {
    // A seed per day: CI explores new inputs over time; a failure prints the seed to replay.
    let day = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    let config = RunConfig {
        seed: day,
        ..RunConfig::bounded(Duration::from_secs(SECONDS), MAX_RUNS)
    };
    let report = run(target, &config).expect("no corpus folder to read");
    println!("{}", report.summary());
    assert!(
        report.crashes.is_empty(),
        "fuzzing found crashes; replay with `strata-fuzz {} --seed {} --runs {}`:\n{}",
        target.name,
        config.seed,
        report.runs,
        report.summary()
    );
    assert!(report.runs >= 100, "only {} inputs ran", report.runs);
    assert!(
        report.outcomes >= 3,
        "the fuzzer saw only {} outcome(s)",
        report.outcomes
    );
}

#[test]
fn model_header_briefly() {
    fuzz_briefly(target("model_header").expect("target"));
}

#[test]
fn gguf_header_briefly() {
    fuzz_briefly(target("gguf_header").expect("target"));
}

#[test]
fn model_index_briefly() {
    fuzz_briefly(target("model_index").expect("target"));
}

#[test]
fn memory_table_json_briefly() {
    fuzz_briefly(target("memory_table_json").expect("target"));
}

#[test]
fn plan_rules_briefly() {
    fuzz_briefly(target("plan_rules").expect("target"));
}

#[test]
fn every_seed_is_accepted() {
    for t in &TARGETS {
        for (i, seed) in (t.seeds)().iter().enumerate() {
            let outcome =
                run_one(t, seed).unwrap_or_else(|m| panic!("{} seed {i} crashed: {m}", t.name));
            assert!(
                outcome.contains(":ok"),
                "{} seed {i} was refused: {outcome}",
                t.name
            );
        }
    }
}
