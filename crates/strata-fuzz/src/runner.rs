//! The fuzzing loop: seeds first, then mutated inputs until the time or run budget is spent,
//! each run under `catch_unwind`.
//!
//! Without coverage instrumentation the loop uses the targets' outcome labels as feedback: an
//! input whose outcome has not been seen before joins the corpus and is mutated further. A panic
//! is a crash; its input is written to the crash folder (one file per distinct panic location and
//! message) and the run goes on, so one run can find several bugs.

use crate::mutate::Mutator;
use crate::seeds;
use crate::targets::{Target, fnv1a};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The corpus stops growing at this many inputs.
const MAX_CORPUS: usize = 4096;
/// At most this many distinct crashes are written to files per run.
const MAX_CRASH_FILES: usize = 20;

/// How long and how to fuzz one target.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Stop after this long.
    pub duration: Duration,
    /// Stop after this many runs (seeds included), if given.
    pub max_runs: Option<u64>,
    /// Seed of the mutator: the same seed, target and corpus give the same inputs.
    pub seed: u64,
    /// A folder of extra starting inputs; inputs with new outcomes are saved into it.
    pub corpus_dir: Option<PathBuf>,
    /// Where crashing inputs are written (not written when `None`).
    pub crash_dir: Option<PathBuf>,
}

impl RunConfig {
    /// `duration` and `max_runs` with seed 1, no corpus folder and no crash files.
    pub fn bounded(duration: Duration, max_runs: u64) -> Self {
        Self {
            duration,
            max_runs: Some(max_runs),
            seed: 1,
            corpus_dir: None,
            crash_dir: None,
        }
    }
}

/// One distinct crash.
#[derive(Debug, Clone, Serialize)]
pub struct Crash {
    /// The panic message with its location.
    pub message: String,
    /// The first input that caused it.
    #[serde(skip)]
    pub input: Vec<u8>,
    /// The file it was written to.
    pub file: Option<PathBuf>,
    /// How many inputs hit this same panic.
    pub hits: u64,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The target's name.
    pub target: String,
    /// The mutator's seed.
    pub seed: u64,
    /// Inputs run, seeds included.
    pub runs: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Runs per second.
    pub execs_per_sec: f64,
    /// Corpus size at the start (seeds and corpus folder) and at the end.
    pub corpus_start: usize,
    /// Corpus size at the end.
    pub corpus_end: usize,
    /// Distinct outcome labels seen.
    pub outcomes: usize,
    /// How many runs ended in each outcome family (the label's first part, e.g. `header:Gap`).
    pub outcome_counts: BTreeMap<String, u64>,
    /// The slowest single run, in milliseconds.
    pub slowest_ms: f64,
    /// Distinct crashes.
    pub crashes: Vec<Crash>,
    /// Inputs that crashed, all together.
    pub crashing_inputs: u64,
}

thread_local! {
    /// Set while this thread runs a target: its panics are recorded, not printed.
    static FUZZING: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that records panics of fuzzed code and leaves every other panic
/// to the hook that was there before (so test failures elsewhere still print).
fn install_panic_hook() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if FUZZING.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_default();
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(non-string panic)".into());
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{location}: {message}")));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `target` on `input` once: `Ok(outcome)` or `Err(panic message)`.
pub fn run_one(target: &Target, input: &[u8]) -> Result<String, String> {
    install_panic_hook();
    FUZZING.with(|f| f.set(true));
    let result = catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    FUZZING.with(|f| f.set(false));
    result.map_err(|_| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "panic without a message".into())
    })
}

/// Reads every file of `dir` as an input (an absent folder is empty).
pub fn read_corpus(dir: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths.iter().map(std::fs::read).collect()
}

/// The crash-key of a panic message: its location and first line, so that the same bug with
/// different values counts once.
fn crash_key(message: &str) -> String {
    let first_line = message.lines().next().unwrap_or("");
    let (location, text) = first_line.split_once(": ").unwrap_or((first_line, ""));
    let words: String = text
        .chars()
        .take_while(|c| !c.is_ascii_digit() && *c != '`')
        .take(60)
        .collect();
    format!("{location}: {words}")
}

/// The state of one run.
struct Session<'a> {
    target: &'a Target,
    config: &'a RunConfig,
    corpus: Vec<Vec<u8>>,
    /// Indices into `corpus` of inputs the target accepted (outcome `...:ok...`).
    accepted: Vec<usize>,
    seen_outcomes: HashSet<String>,
    report: RunReport,
    crash_keys: BTreeMap<String, usize>,
}

impl Session<'_> {
    /// Runs one input; returns whether the target accepted it.
    fn execute(&mut self, input: &[u8]) -> bool {
        let started = Instant::now();
        let result = run_one(self.target, input);
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        self.report.runs += 1;
        self.report.slowest_ms = self.report.slowest_ms.max(elapsed);
        match result {
            Ok(outcome) => {
                let family = outcome.split(['/', '|']).next().unwrap_or("").to_string();
                *self.report.outcome_counts.entry(family).or_default() += 1;
                let accepted = outcome.contains(":ok");
                if self.seen_outcomes.insert(outcome) && self.corpus.len() < MAX_CORPUS {
                    if accepted {
                        self.accepted.push(self.corpus.len());
                    }
                    self.corpus.push(input.to_vec());
                    if let Some(dir) = &self.config.corpus_dir {
                        let name = format!("{:016x}", fnv1a(input));
                        let _ = std::fs::create_dir_all(dir)
                            .and_then(|_| std::fs::write(dir.join(name), input));
                    }
                }
                accepted
            }
            Err(message) => {
                self.record_crash(input, message);
                false
            }
        }
    }

    fn record_crash(&mut self, input: &[u8], message: String) {
        self.report.crashing_inputs += 1;
        let key = crash_key(&message);
        if let Some(&i) = self.crash_keys.get(&key) {
            self.report.crashes[i].hits += 1;
            return;
        }
        let file = match &self.config.crash_dir {
            Some(dir) if self.report.crashes.len() < MAX_CRASH_FILES => {
                let path = dir.join(format!("crash-{}-{:016x}", self.target.name, fnv1a(input)));
                match std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&path, input)) {
                    Ok(()) => Some(path),
                    Err(e) => {
                        eprintln!("could not write {}: {e}", path.display());
                        None
                    }
                }
            }
            _ => None,
        };
        self.crash_keys.insert(key, self.report.crashes.len());
        self.report.crashes.push(Crash {
            message,
            input: input.to_vec(),
            file,
            hits: 1,
        });
    }
}

/// Fuzzes `target` under `config`: runs every seed, then mutated inputs until the time or run
/// budget is spent. Never panics because the target does; crashes are in the report.
pub fn run(target: &Target, config: &RunConfig) -> std::io::Result<RunReport> {
    let mut starting = (target.seeds)();
    if let Some(dir) = &config.corpus_dir {
        starting.extend(read_corpus(dir)?);
    }
    let mut session = Session {
        target,
        config,
        corpus: Vec::with_capacity(starting.len()),
        accepted: Vec::new(),
        seen_outcomes: HashSet::new(),
        report: RunReport {
            target: target.name.to_string(),
            seed: config.seed,
            runs: 0,
            seconds: 0.0,
            execs_per_sec: 0.0,
            corpus_start: starting.len(),
            corpus_end: 0,
            outcomes: 0,
            outcome_counts: BTreeMap::new(),
            slowest_ms: 0.0,
            crashes: Vec::new(),
            crashing_inputs: 0,
        },
        crash_keys: BTreeMap::new(),
    };
    let started = Instant::now();
    let out_of_budget = |runs: u64| {
        config.max_runs.is_some_and(|max| runs >= max) || started.elapsed() >= config.duration
    };
    for input in &starting {
        let accepted = session.execute(input);
        // Every starting input stays in the corpus, whatever its outcome.
        if !session.corpus.contains(input) {
            if accepted {
                session.accepted.push(session.corpus.len());
            }
            session.corpus.push(input.clone());
        }
    }
    let rng = StdRng::seed_from_u64(config.seed);
    let mut mutator = Mutator::new(rng, seeds::dictionary(), target.max_len).with_json(target.json);
    while !out_of_budget(session.report.runs) {
        // Half the time the parent is an accepted input: mutations of refused inputs mostly
        // stay refused at the same check.
        let accepted = &session.accepted;
        let parent = if !accepted.is_empty() && mutator.rng().random_bool(0.5) {
            accepted[mutator.rng().random_range(0..accepted.len())]
        } else {
            mutator.rng().random_range(0..session.corpus.len().max(1))
        };
        let mut input = session.corpus.get(parent).cloned().unwrap_or_default();
        mutator.mutate(&mut input, &session.corpus);
        if let Some(fixup) = target.fixup {
            if mutator.rng().random_bool(0.5) {
                fixup(&mut input);
            }
        }
        session.execute(&input);
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut report = session.report;
    report.seconds = seconds;
    report.execs_per_sec = report.runs as f64 / seconds.max(1e-9);
    report.corpus_end = session.corpus.len();
    report.outcomes = session.seen_outcomes.len();
    Ok(report)
}

impl RunReport {
    /// A few human-readable lines.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{}: {} inputs in {:.1} s ({:.0} execs/s), seed {}, corpus {} -> {}, {} outcomes, slowest {:.2} ms, {} crash(es)",
            self.target,
            self.runs,
            self.seconds,
            self.execs_per_sec,
            self.seed,
            self.corpus_start,
            self.corpus_end,
            self.outcomes,
            self.slowest_ms,
            self.crashes.len()
        );
        for crash in &self.crashes {
            let file = crash
                .file
                .as_ref()
                .map_or_else(|| "(not written)".into(), |f| f.display().to_string());
            text.push_str(&format!(
                "\n  CRASH x{} {}\n    input: {file}",
                crash.hits, crash.message
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panics_on_bang(data: &[u8]) -> String {
        assert!(!data.contains(&b'!'), "found a bang");
        "ok".into()
    }

    fn seeds() -> Vec<Vec<u8>> {
        vec![b"hello".to_vec()]
    }

    #[test]
    fn crashes_are_caught_recorded_and_deduplicated() {
        let target = Target {
            name: "bang",
            about: "panics on '!'",
            run: panics_on_bang,
            seeds,
            fixup: None,
            max_len: 32,
            json: crate::mutate::Json::None,
        };
        let report = run(&target, &RunConfig::bounded(Duration::from_secs(5), 20_000)).unwrap();
        assert_eq!(report.runs, 20_000);
        assert_eq!(report.crashes.len(), 1, "{}", report.summary());
        assert!(report.crashes[0].message.contains("found a bang"));
        assert!(report.crashes[0].input.contains(&b'!'));
        assert!(report.crashing_inputs >= 1);
        assert_eq!(run_one(&target, b"fine"), Ok("ok".into()));
    }
}
