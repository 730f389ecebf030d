//! The GPU plumbing every operation shares: a device and its queue, error scopes that turn
//! GPU errors into values, waits, and the device-lost flag.
//!
//! Cheap to clone (wgpu handles and an `Arc`), so a prepared recording carries its own copy
//! and outlives any borrow of the [`Context`](crate::Context).

use crate::error::{Error, Result};
use std::sync::{Arc, OnceLock};

/// A device, its queue and whether it was lost.
#[derive(Debug, Clone)]
pub(crate) struct Gpu {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    /// Why the device was lost, once wgpu has said so.
    pub(crate) lost: Arc<OnceLock<String>>,
}

impl Gpu {
    /// [`Error::DeviceLost`] for `during` once the device is lost.
    pub(crate) fn check_lost(&self, during: &str) -> Result<()> {
        match self.lost.get() {
            Some(reason) => Err(Error::DeviceLost(format!("{during} ({reason})"))),
            None => Ok(()),
        }
    }

    /// Runs `f` inside validation and out-of-memory error scopes; a GPU error becomes a value.
    /// wgpu's error scopes are per thread, so concurrent calls on other threads do not mix.
    pub(crate) fn scoped<T>(&self, during: &str, f: impl FnOnce() -> T) -> Result<T> {
        self.check_lost(during)?;
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let validation_error = pollster::block_on(validation.pop());
        let oom_error = pollster::block_on(oom.pop());
        if let Some(e) = oom_error.or(validation_error) {
            self.check_lost(during)?;
            return Err(Error::from_wgpu(during, e));
        }
        Ok(value)
    }

    /// Waits until the GPU has finished all submitted work.
    pub(crate) fn wait_idle(&self) -> Result<()> {
        // Poll even when lost: the poll releases what was dropped.
        let polled = self.device.poll(wgpu::PollType::wait_indefinitely());
        self.check_lost("waiting for the GPU")?;
        polled.map(|_| ()).map_err(|e| match e {
            wgpu::PollError::Timeout => Error::Gpu {
                during: "waiting for the GPU".into(),
                message: e.to_string(),
            },
            _ => Error::DeviceLost(format!("waiting for the GPU: {e}")),
        })
    }

    /// Waits for one submission (and everything submitted before it).
    pub(crate) fn wait_for(&self, submission: wgpu::SubmissionIndex) -> Result<()> {
        let polled = self.device.poll(wgpu::PollType::Wait {
            submission_index: Some(submission),
            timeout: None,
        });
        self.check_lost("waiting for a submission")?;
        polled
            .map(|_| ())
            .map_err(|e| Error::DeviceLost(format!("waiting for a submission: {e}")))
    }
}
