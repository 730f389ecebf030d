//! A submitted recording: the handle to wait on or poll.

use super::replay::Replay;
use super::timing::RunReport;
use crate::error::Result;
use std::time::{Duration, Instant};

impl Replay {
    /// Encodes the prepared commands into a command buffer and submits it. Does not wait: the
    /// [`Submission`] is the handle to wait on or poll. Waits first for this replay's previous
    /// submission if that one was never waited for.
    ///
    /// A long recording goes to the queue in a few command buffers, the first after a few ops,
    /// so the GPU works while the CPU encodes the rest; they run in order, as one would.
    pub fn submit(&mut self) -> Result<Submission<'_>> {
        self.settle()?;
        let started = Instant::now();
        let chunks = self.chunks();
        if chunks.len() > 1 {
            self.check_alive()?;
        }
        let index = self.gpu.scoped(&self.label, || {
            let mut last = None;
            for range in chunks {
                let mut encoder =
                    self.gpu
                        .device
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some(&self.label),
                        });
                self.encode(&mut encoder, range);
                last = Some(self.gpu.queue.submit([encoder.finish()]));
            }
            last
        })?;
        let index = index.ok_or_else(|| {
            crate::Error::InvalidArgument(format!("`{}` has nothing to submit", self.label))
        })?;
        let encode = started.elapsed();
        self.in_flight = Some(index.clone());
        self.last = Some(index.clone());
        self.results_fresh = false;
        Ok(Submission::new(self, index, started, encode))
    }
}

/// One submission of a [`Replay`], in flight on the GPU.
///
/// [`Submission::wait`] blocks until the GPU has finished it and reports its times;
/// [`Submission::is_done`] asks without blocking. Dropping the handle does not cancel the
/// work: the replay's next use waits for it. A lost device makes `wait` return
/// [`Error::DeviceLost`](crate::Error::DeviceLost).
#[derive(Debug)]
#[must_use = "a submission runs on; wait for it to see its results and times"]
pub struct Submission<'r> {
    replay: &'r mut Replay,
    index: wgpu::SubmissionIndex,
    started: Instant,
    encode: Duration,
}

impl<'r> Submission<'r> {
    pub(crate) fn new(
        replay: &'r mut Replay,
        index: wgpu::SubmissionIndex,
        started: Instant,
        encode: Duration,
    ) -> Self {
        Self {
            replay,
            index,
            started,
            encode,
        }
    }

    /// wgpu's index of the submission (for `wgpu::PollType::Wait` in the application's code).
    pub fn index(&self) -> &wgpu::SubmissionIndex {
        &self.index
    }

    /// Host time spent encoding and submitting.
    pub fn encode_time(&self) -> Duration {
        self.encode
    }

    /// `true` once the GPU has finished this submission (asks the device, never blocks).
    pub fn is_done(&self) -> Result<bool> {
        let gpu = &self.replay.gpu;
        gpu.check_lost("polling a submission")?;
        match gpu.device.poll(wgpu::PollType::Wait {
            submission_index: Some(self.index.clone()),
            timeout: Some(Duration::ZERO),
        }) {
            Ok(_) => Ok(true),
            Err(wgpu::PollError::Timeout) => Ok(false),
            Err(e) => Err(crate::Error::DeviceLost(format!(
                "polling a submission: {e}"
            ))),
        }
    }

    /// Waits until the GPU has finished the submission; its wall, encode and GPU times.
    pub fn wait(self) -> Result<RunReport> {
        let replay = self.replay;
        let (gpu, ops) = replay.fetch_results(self.index)?;
        let wall = self.started.elapsed();
        replay.in_flight = None;
        Ok(RunReport {
            encode: self.encode,
            wall,
            gpu,
            ops,
        })
    }
}
