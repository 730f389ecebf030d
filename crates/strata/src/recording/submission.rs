//! A submitted recording: the handle to wait on or poll.

use super::replay::Replay;
use super::timing::RunReport;
use crate::error::Result;
use std::time::{Duration, Instant};

impl Replay {
    /// Encodes the prepared commands into a command buffer and submits it. Does not wait: the
    /// [`Submission`] is the handle to wait on or poll. Waits first for this replay's previous
    /// submission if that one was never waited for.
    pub fn submit(&mut self) -> Result<Submission<'_>> {
        self.settle()?;
        let started = Instant::now();
        let index = self.gpu.scoped(&self.label, || {
            let mut encoder =
                self.gpu
                    .device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some(&self.label),
                    });
            self.encode(&mut encoder);
            self.gpu.queue.submit([encoder.finish()])
        })?;
        let encode = started.elapsed();
        self.in_flight = Some(index.clone());
        self.last = Some(index.clone());
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
        replay.gpu.wait_for(self.index.clone())?;
        let wall = self.started.elapsed();
        replay.in_flight = None;
        let mut ops = Vec::new();
        let gpu = match &replay.timestamps {
            Some(t) => t.read(&replay.gpu, self.index, &mut replay.ticks, &mut ops)?,
            None => None,
        };
        Ok(RunReport {
            encode: self.encode,
            wall,
            gpu,
            ops,
        })
    }
}
