//! Where a load's time goes: its wall times, and how long each phase kept its threads busy.
//!
//! The phases overlap (memory for later tensors is allocated while earlier ones are copied, the
//! file is read ahead of the copy, verification runs one tensor behind the upload), so the busy
//! times do not add up to the wall time: a phase whose busy time is close to the wall time is
//! the one the load waits for.

use crate::placement::{Placement, UploadPath};
use crate::table::human_bytes;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One phase of a load, as the threads doing it clock it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    StagingSetup,
    Allocate,
    ReadAhead,
    WaitAllocation,
    Copy,
    WaitStaging,
    Submit,
    Finish,
    VerifyReadback,
    VerifyCompare,
    VerifyWait,
    VerifySetup,
}

const PHASES: usize = 12;

/// Busy time per phase, added to by every thread of a load.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    nanos: [AtomicU64; PHASES],
}

impl Clock {
    /// Runs `f` and adds its time to `phase`.
    pub(crate) fn time<T>(&self, phase: Phase, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let value = f();
        self.add(phase, started.elapsed());
        value
    }

    pub(crate) fn add(&self, phase: Phase, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.nanos[phase as usize].fetch_add(nanos, Ordering::Relaxed);
    }

    fn seconds(&self, phase: Phase) -> f64 {
        self.nanos[phase as usize].load(Ordering::Relaxed) as f64 / 1e9
    }

    /// The phases' busy times in seconds.
    pub(crate) fn phases(&self, allocate_wall: f64) -> PhaseTimes {
        PhaseTimes {
            staging_setup: self.seconds(Phase::StagingSetup),
            allocate: self.seconds(Phase::Allocate),
            allocate_wall,
            read_ahead: self.seconds(Phase::ReadAhead),
            wait_allocation: self.seconds(Phase::WaitAllocation),
            copy: self.seconds(Phase::Copy),
            wait_staging: self.seconds(Phase::WaitStaging),
            submit: self.seconds(Phase::Submit),
            finish: self.seconds(Phase::Finish),
            verify_readback: self.seconds(Phase::VerifyReadback),
            verify_compare: self.seconds(Phase::VerifyCompare),
            verify_wait: self.seconds(Phase::VerifyWait),
            verify_setup: self.seconds(Phase::VerifySetup),
        }
    }
}

/// Busy time of each phase of a load, in seconds, summed over the threads that do it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct PhaseTimes {
    /// The copying thread waiting for the staging ring's first slot to be made. The slots a
    /// context does not have yet (host-visible memory, allocated once per context) are made on
    /// threads of their own from the start of the load, beside the first allocations, and join
    /// the ring as they arrive: this is only the time the copy could not start for want of a
    /// slot (zero when the context had its ring, or when the first slot was there before the
    /// first tensor's memory). Waiting for the next slots while the ring fills counts as
    /// `wait_staging`.
    pub staging_setup: f64,
    /// Placing tensors: `vkCreateBuffer`, `vkAllocateMemory` (where the driver pins host memory),
    /// binding, mapping, wrapping as wgpu buffers; summed over the allocation threads.
    pub allocate: f64,
    /// Wall time from the start of the load until the last tensor's memory was allocated: with
    /// allocation threads, the fastest this load could have been with these threads.
    pub allocate_wall: f64,
    /// Touching the file map ahead of the copy (page faults on the map, and disk reads for a
    /// file that is not in the page cache); summed over the read-ahead threads.
    pub read_ahead: f64,
    /// The copying thread waiting for a tensor's memory.
    pub wait_allocation: f64,
    /// CPU copies from the file map: into a mapping, or into a staging slot (page faults on a
    /// map not read ahead, and flushes of non-coherent memory, included).
    pub copy: f64,
    /// The copying thread waiting for a free staging slot: the GPU's copies are behind.
    pub wait_staging: f64,
    /// Encoding and submitting the staging ring's GPU copies.
    pub submit: f64,
    /// Waiting for the GPU after the last byte was handed to it.
    pub finish: f64,
    /// Verification waiting for its read-back copies (device to host).
    pub verify_readback: f64,
    /// Verification comparing read-back bytes with the file (copies out of the read-back
    /// slots included).
    pub verify_compare: f64,
    /// Verification waiting for the next uploaded tensor.
    pub verify_wait: f64,
    /// Verification waiting for the read-back ring's first slot to be made (its slots are made
    /// from the start of the load, like the staging ring's, so mostly zero).
    pub verify_setup: f64,
}

/// Bytes that took one upload path into one placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PathUse {
    /// The placement.
    pub placement: Placement,
    /// The path its bytes took.
    pub path: UploadPath,
    /// Bytes.
    pub bytes: u64,
}

/// Where a load's time went (`strata load --json`: `timings`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct LoadTimings {
    /// Bytes loaded.
    pub bytes: u64,
    /// Wall time from the first allocation until the GPU finished the last upload (the
    /// report's `seconds`).
    pub upload_seconds: f64,
    /// Wall time until everything was done, verification included.
    pub total_seconds: f64,
    /// Threads that allocated ahead of the copy (0: the copying thread allocated).
    pub allocation_threads: usize,
    /// Threads that read the file ahead of the copy (0: none).
    pub read_ahead_threads: usize,
    /// Threads that share each large CPU copy and comparison.
    pub copy_threads: usize,
    /// The upload path each placement's bytes took.
    pub paths: Vec<PathUse>,
    /// Busy time per phase.
    pub phases: PhaseTimes,
}

impl LoadTimings {
    /// A human table: each phase's busy time and the rate it stands for (bytes of the load over
    /// that time), then the wall times.
    pub fn render_table(&self) -> String {
        let p = &self.phases;
        let rows = [
            (
                "staging setup",
                p.staging_setup,
                "copy waiting for the first staging slot",
            ),
            (
                "allocate",
                p.allocate,
                "driver allocations (host memory is pinned here), all threads",
            ),
            (
                "allocate (wall)",
                p.allocate_wall,
                "until the last allocation returned",
            ),
            (
                "read ahead",
                p.read_ahead,
                "page faults and disk reads on the file map, all threads",
            ),
            (
                "wait allocation",
                p.wait_allocation,
                "copy waiting for memory",
            ),
            ("copy", p.copy, "CPU copies from the file map"),
            (
                "wait staging",
                p.wait_staging,
                "copy waiting for a staging slot (GPU copies behind)",
            ),
            ("submit", p.submit, "encoding and submitting GPU copies"),
            ("finish", p.finish, "waiting for the GPU's last copies"),
            (
                "verify readback",
                p.verify_readback,
                "waiting for read-back copies",
            ),
            (
                "verify compare",
                p.verify_compare,
                "comparing with the file",
            ),
            (
                "verify wait",
                p.verify_wait,
                "verification waiting for uploads",
            ),
            (
                "verify setup",
                p.verify_setup,
                "verification waiting for the first read-back slot",
            ),
        ];
        let rate = |seconds: f64| {
            if seconds > 0.0 {
                format!("{:.1}", self.bytes as f64 / seconds / 1e9)
            } else {
                "-".into()
            }
        };
        let mut out = format!("{:<16} {:>9} {:>8}  what\n", "phase", "seconds", "GB/s");
        for (name, seconds, what) in rows {
            if seconds > 0.0 {
                out.push_str(&format!(
                    "{name:<16} {seconds:>9.3} {:>8}  {what}\n",
                    rate(seconds)
                ));
            }
        }
        out.push_str(&format!(
            "{:<16} {:>9.3} {:>8}  wall time until the GPU had every byte\n",
            "upload (wall)",
            self.upload_seconds,
            rate(self.upload_seconds)
        ));
        out.push_str(&format!(
            "{:<16} {:>9.3} {:>8}  wall time, verification included\n",
            "total (wall)",
            self.total_seconds,
            rate(self.total_seconds)
        ));
        let paths: Vec<String> = self
            .paths
            .iter()
            .map(|u| {
                let path = match u.path {
                    UploadPath::Mapped => "mapped",
                    UploadPath::Staging => "staging",
                };
                format!("{} {path} ({})", u.placement, human_bytes(u.bytes))
            })
            .collect();
        out.push_str(&format!(
            "{} with {} allocation thread(s), {} read-ahead thread(s), {} copy thread(s); paths: {}\n",
            human_bytes(self.bytes),
            self.allocation_threads,
            self.read_ahead_threads,
            self.copy_threads,
            if paths.is_empty() { "none".to_string() } else { paths.join(", ") }
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_adds_per_phase() {
        let clock = Clock::default();
        clock.add(Phase::Copy, Duration::from_millis(250));
        clock.add(Phase::Copy, Duration::from_millis(250));
        clock.add(Phase::Allocate, Duration::from_secs(2));
        let value = clock.time(Phase::Submit, || 7);
        assert_eq!(value, 7);
        let phases = clock.phases(1.5);
        assert_eq!(phases.copy, 0.5);
        assert_eq!(phases.allocate, 2.0);
        assert_eq!(phases.allocate_wall, 1.5);
        assert!(phases.submit >= 0.0 && phases.submit < 1.0);
        assert_eq!(phases.verify_compare, 0.0);
        clock.add(Phase::VerifySetup, Duration::from_millis(125));
        assert_eq!(clock.phases(0.0).verify_setup, 0.125);
        assert_eq!(clock.phases(0.0).staging_setup, 0.0);
    }
}
