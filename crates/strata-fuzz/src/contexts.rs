//! Context cycles: many contexts created, used and dropped in one process, first one after
//! another, then by several threads at once, checking that every context works and that the
//! process's resident memory, open files and threads come back where they were.
//!
//! Each cycle creates a [`Context`] (validation on unless asked otherwise), places a buffer
//! (1 MiB by default, `auto`), writes a pattern through the buffer's upload path, reads it back,
//! compares, and drops the buffer and the context. A second context of a process must not
//! depend on luck: on NVIDIA's driver it once found no adapter, and threads creating instances
//! at once crashed in `libEGL` (see `strata_vk::loader`).
//!
//! Figures (RSS, `/proc/self/fd`, `/proc/self/task`) are taken after a warm-up (the first
//! context loads the drivers and creates the process-wide instance, the first copies start
//! rayon's pool), at the middle and the end of the sequential cycles, and after the first and
//! the last round of threads; every figure is taken with no context alive.

use serde::Serialize;
use std::sync::{Arc, Barrier};
use std::time::Instant;
use strata::{Context, Error, Placement, Usage};

/// Open files may end this many above their start. The count is exact (a leaked descriptor per
/// cycle shows as hundreds); the slack is for a file a driver or layer opens once, lazily, after
/// the warm-up (a shader cache, a `/dev/dri` node for a second device).
pub const FD_TOLERANCE: u64 = 2;

/// Threads may end this many above their start: one helper thread a driver starts once, lazily
/// (lavapipe and NVIDIA's driver each keep a few). A thread leaked per context shows as hundreds.
pub const THREAD_TOLERANCE: u64 = 2;

/// Resident memory may grow at most this much over the second half of the sequential cycles.
/// A context is tens of MiB (device, allocator blocks, pipelines), so a leaked context per cycle
/// fails at once, and a leak of 10 KiB per cycle fails at the default 1,000 cycles. (Measured on
/// lavapipe without the validation layer: +0.0 MiB over the second 500 of 1,000 cycles.)
pub const RSS_TOLERANCE: u64 = 4 << 20;

/// Resident memory may grow at most this much over the second half of the rounds of threads.
/// The rounds raise RSS by 5-7 MiB in their first rounds while malloc's per-thread arenas fill,
/// then stay flat (lavapipe: +5.6 MiB after 8 rounds of 8 threads and after 64; +1.5 to
/// +2.5 MiB over the second half of 8 rounds). The sequential cycles are the fine leak check;
/// this one catches a leak that only concurrent creation causes, of a context's size.
pub const ROUNDS_RSS_TOLERANCE: u64 = 8 << 20;

/// What to cycle.
#[derive(Debug, Clone)]
pub struct CyclesConfig {
    /// Sequential create/use/drop cycles (after the warm-up).
    pub cycles: u64,
    /// Threads that create their contexts at once, per round.
    pub threads: usize,
    /// Rounds of threads.
    pub rounds: u64,
    /// Bytes placed, written and read back per context.
    pub bytes: u64,
    /// Contexts with the Khronos validation layer.
    pub validation: bool,
}

impl Default for CyclesConfig {
    fn default() -> Self {
        Self {
            cycles: 1000,
            threads: 8,
            rounds: 8,
            bytes: 1 << 20,
            validation: true,
        }
    }
}

/// The process's resources at one moment (Linux; `None` elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Resources {
    /// Resident set size in bytes.
    pub rss: Option<u64>,
    /// Open file descriptors (`/proc/self/fd`).
    pub open_files: Option<u64>,
    /// Threads (`/proc/self/task`).
    pub threads: Option<u64>,
}

impl Resources {
    /// The figures now.
    pub fn now() -> Self {
        let count = |dir: &str| std::fs::read_dir(dir).ok().map(|d| d.count() as u64);
        Self {
            rss: crate::rss::current(),
            open_files: count("/proc/self/fd"),
            threads: count("/proc/self/task"),
        }
    }
}

/// Why RSS is not checked on contexts with the validation layer: the layer itself keeps memory
/// for every device created and destroyed. Measured on lavapipe with Debian's layer 1.3.239,
/// with wgpu alone (no Strata), a device created and dropped on one instance: +52 KiB per
/// device with the layer, +0.0 without it; a new instance per device does not return it either
/// (+45 KiB). That growth would hide Strata's own, so the leak check is the run without the
/// layer; the run with it still checks every context, open files, threads and that the layer
/// reported nothing.
pub const RSS_UNCHECKED_WITH_VALIDATION: &str = "not checked with the validation layer on: the \
layer keeps about 50 KiB per device created and destroyed (wgpu alone does the same); run with \
--no-validation for the RSS check";

/// Whether each check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CycleChecks {
    /// Every context was created and every byte read back was the byte written.
    pub contexts: bool,
    /// Open files back within [`FD_TOLERANCE`] (true when unreadable).
    pub open_files: bool,
    /// Threads back within [`THREAD_TOLERANCE`] (true when unreadable).
    pub threads: bool,
    /// RSS growth within [`RSS_TOLERANCE`] and [`ROUNDS_RSS_TOLERANCE`] (true when unreadable,
    /// or not checked: see
    /// [`CyclesReport::rss_not_checked`]).
    pub rss: bool,
}

impl CycleChecks {
    /// Every check passed.
    pub fn all(&self) -> bool {
        self.contexts && self.open_files && self.threads && self.rss
    }
}

/// What the cycles did.
#[derive(Debug, Clone, Serialize)]
pub struct CyclesReport {
    /// Adapter of the first context.
    pub adapter: String,
    /// Its driver.
    pub driver: String,
    /// Contexts had the validation layer.
    pub validation: bool,
    /// Sequential cycles run (after the warm-up).
    pub cycles: u64,
    /// Warm-up cycles before the start figures.
    pub warmup_cycles: u64,
    /// Threads per round.
    pub threads: usize,
    /// Rounds of threads run.
    pub rounds: u64,
    /// Bytes placed per context.
    pub bytes: u64,
    /// Contexts created and checked, in all.
    pub contexts_checked: u64,
    /// Contexts that failed (creation, placement, a mismatch), in all.
    pub failures: u64,
    /// The first failures, as Strata reported them.
    pub first_failures: Vec<String>,
    /// Wall-clock seconds of the sequential cycles.
    pub seconds_sequential: f64,
    /// Wall-clock seconds of the rounds of threads.
    pub seconds_threads: f64,
    /// Mean milliseconds per sequential cycle.
    pub ms_per_cycle: f64,
    /// After the warm-up.
    pub start: Resources,
    /// After half of the sequential cycles.
    pub middle: Resources,
    /// After the sequential cycles.
    pub end: Resources,
    /// After half of the rounds of threads.
    pub middle_round: Resources,
    /// After the last round of threads.
    pub last_round: Resources,
    /// Peak RSS of the process.
    pub rss_peak: Option<u64>,
    /// The tolerances applied.
    pub fd_tolerance: u64,
    /// See [`THREAD_TOLERANCE`].
    pub thread_tolerance: u64,
    /// See [`RSS_TOLERANCE`].
    pub rss_tolerance: u64,
    /// See [`ROUNDS_RSS_TOLERANCE`].
    pub rounds_rss_tolerance: u64,
    /// Why the RSS check was not applied, when it was not ([`RSS_UNCHECKED_WITH_VALIDATION`]).
    pub rss_not_checked: Option<String>,
    /// The checks.
    pub checks: CycleChecks,
}

/// `later - earlier` when both are known.
fn growth(earlier: Option<u64>, later: Option<u64>) -> Option<i64> {
    Some(later? as i64 - earlier? as i64)
}

/// The resource checks, from the figures alone: open files and threads of `end` and of
/// `last_round` within their tolerances of `start`; RSS growth within [`RSS_TOLERANCE`] from
/// `middle` to `end` and within [`ROUNDS_RSS_TOLERANCE`] from `middle_round` to `last_round`
/// (the second half of each phase). A figure that could not be read
/// passes (it cannot be checked).
pub fn resource_checks(
    start: &Resources,
    middle: &Resources,
    end: &Resources,
    middle_round: &Resources,
    last_round: &Resources,
) -> (bool, bool, bool) {
    let within = |from: Option<u64>, to: Option<u64>, tolerance: u64| {
        growth(from, to).is_none_or(|g| g <= tolerance as i64)
    };
    let open_files = within(start.open_files, end.open_files, FD_TOLERANCE)
        && within(start.open_files, last_round.open_files, FD_TOLERANCE);
    let threads = within(start.threads, end.threads, THREAD_TOLERANCE)
        && within(start.threads, last_round.threads, THREAD_TOLERANCE);
    let rss = within(middle.rss, end.rss, RSS_TOLERANCE)
        && within(middle_round.rss, last_round.rss, ROUNDS_RSS_TOLERANCE);
    (open_files, threads, rss)
}

/// Fills `out` with bytes that depend on `seed`.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64).wrapping_mul(0x9e37_79b9).wrapping_add(seed) as u8)
        .collect()
}

/// One cycle: a context, a placed buffer written and read back, both dropped. Returns the
/// adapter's name and driver.
pub fn one_cycle(config: &CyclesConfig, seed: u64) -> Result<(String, String), Error> {
    let ctx = Context::builder().validation(config.validation).build()?;
    let len = usize::try_from(config.bytes)
        .map_err(|_| Error::InvalidArgument(format!("{} bytes", config.bytes)))?;
    let buffer = ctx.place(config.bytes, Placement::Auto(Usage::Weights))?;
    let data = pattern(len, seed);
    ctx.write_placed(&buffer, 0, &data)?;
    if ctx.read_placed(&buffer, 0, config.bytes)? != data {
        return Err(Error::InvalidArgument(format!(
            "cycle {seed}: the bytes read back differ from those written"
        )));
    }
    drop(buffer);
    ctx.wait_idle()?;
    let info = ctx.adapter_info();
    Ok((
        info.name,
        format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
    ))
}

/// How many failures are kept word for word.
const KEPT_FAILURES: usize = 8;

/// Runs the cycles. `Err` only when the very first context cannot be created (no adapter, or
/// no validation layer): a later failure is counted in the report.
pub fn cycles(config: &CyclesConfig) -> Result<CyclesReport, Error> {
    const WARMUP: u64 = 4;
    let (adapter, driver) = one_cycle(config, 0)?;
    let mut report = CyclesReport {
        adapter,
        driver,
        validation: config.validation,
        cycles: 0,
        warmup_cycles: 1,
        threads: config.threads,
        rounds: 0,
        bytes: config.bytes,
        contexts_checked: 1,
        failures: 0,
        first_failures: Vec::new(),
        seconds_sequential: 0.0,
        seconds_threads: 0.0,
        ms_per_cycle: 0.0,
        start: Resources::now(),
        middle: Resources::now(),
        end: Resources::now(),
        middle_round: Resources::now(),
        last_round: Resources::now(),
        rss_peak: None,
        fd_tolerance: FD_TOLERANCE,
        thread_tolerance: THREAD_TOLERANCE,
        rss_tolerance: RSS_TOLERANCE,
        rounds_rss_tolerance: ROUNDS_RSS_TOLERANCE,
        rss_not_checked: config
            .validation
            .then(|| RSS_UNCHECKED_WITH_VALIDATION.to_string()),
        checks: CycleChecks {
            contexts: false,
            open_files: false,
            threads: false,
            rss: false,
        },
    };
    for seed in 1..WARMUP {
        record(&mut report, one_cycle(config, seed));
        report.warmup_cycles += 1;
    }
    report.start = Resources::now();

    let started = Instant::now();
    for i in 0..config.cycles {
        record(&mut report, one_cycle(config, WARMUP + i));
        report.cycles += 1;
        if i + 1 == config.cycles / 2 {
            report.middle = Resources::now();
        }
    }
    report.seconds_sequential = started.elapsed().as_secs_f64();
    report.ms_per_cycle = 1000.0 * report.seconds_sequential / config.cycles.max(1) as f64;
    report.end = Resources::now();
    if config.cycles < 2 {
        report.middle = report.start;
    }

    let started = Instant::now();
    for round in 0..config.rounds {
        let outcomes = thread_round(config, round);
        for outcome in outcomes {
            record(&mut report, outcome);
        }
        report.rounds += 1;
        if round + 1 == config.rounds / 2 {
            report.middle_round = Resources::now();
        }
    }
    report.seconds_threads = started.elapsed().as_secs_f64();
    report.last_round = Resources::now();
    if config.rounds < 2 {
        report.middle_round = report.end;
    }
    report.rss_peak = crate::rss::peak();
    let (open_files, threads, rss) = resource_checks(
        &report.start,
        &report.middle,
        &report.end,
        &report.middle_round,
        &report.last_round,
    );
    report.checks = CycleChecks {
        contexts: report.failures == 0,
        open_files,
        threads,
        rss: rss || report.rss_not_checked.is_some(),
    };
    Ok(report)
}

/// Counts one cycle's outcome in `report`.
fn record(report: &mut CyclesReport, outcome: Result<(String, String), Error>) {
    report.contexts_checked += 1;
    if let Err(e) = outcome {
        report.failures += 1;
        if report.first_failures.len() < KEPT_FAILURES {
            report.first_failures.push(e.to_string());
        }
    }
}

/// One round: `config.threads` threads create their contexts at the same moment (a barrier),
/// use them, and drop them at the same moment (a second barrier).
fn thread_round(config: &CyclesConfig, round: u64) -> Vec<Result<(String, String), Error>> {
    let threads = config.threads.max(1);
    let created = Arc::new(Barrier::new(threads));
    let done = Arc::new(Barrier::new(threads));
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (created, done) = (Arc::clone(&created), Arc::clone(&done));
                s.spawn(move || {
                    created.wait();
                    let outcome = one_cycle(config, 1_000_000 + round * 1000 + t as u64);
                    done.wait();
                    outcome
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::InvalidArgument("a context thread panicked".into()))
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(rss: u64, open_files: u64, threads: u64) -> Resources {
        Resources {
            rss: Some(rss),
            open_files: Some(open_files),
            threads: Some(threads),
        }
    }

    #[test]
    fn flat_figures_pass_and_every_kind_of_leak_fails() {
        let flat = figures(300 << 20, 12, 5);
        assert_eq!(
            resource_checks(&flat, &flat, &flat, &flat, &flat),
            (true, true, true)
        );
        // A descriptor per cycle, a thread per context, 10 KiB per cycle over 500 cycles, a
        // context's worth (16 MiB) over the second half of the rounds.
        let fds = figures(300 << 20, 12 + 500, 5);
        assert!(!resource_checks(&flat, &flat, &fds, &flat, &flat).0);
        let threads = figures(300 << 20, 12, 5 + 8);
        assert!(!resource_checks(&flat, &flat, &flat, &flat, &threads).1);
        let rss = figures((300 << 20) + 500 * (10 << 10), 12, 5);
        assert!(!resource_checks(&flat, &flat, &rss, &flat, &flat).2);
        let context = figures((300 << 20) + (16 << 20), 12, 5);
        assert!(!resource_checks(&flat, &flat, &flat, &flat, &context).2);
        // Growth in the first half only (warm caches) is not a leak.
        let early = figures(340 << 20, 12, 5);
        assert_eq!(
            resource_checks(&flat, &early, &early, &early, &early),
            (true, true, true)
        );
    }

    #[test]
    fn resources_are_read_on_linux() {
        if cfg!(target_os = "linux") {
            let now = Resources::now();
            assert!(now.rss.is_some_and(|r| r > 0));
            assert!(now.open_files.is_some_and(|n| n >= 3));
            assert!(now.threads.is_some_and(|n| n >= 1));
        }
    }
}
