//! What a load is asked to do besides carrying out the plan: verify, report progress, stop.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Which part of a load a [`LoadProgress`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoadPhase {
    /// Tensors are being placed and their bytes written.
    Upload,
    /// Tensors are being read back and compared with the file (with [`LoadOptions::verify`]).
    Verify,
}

/// How far a load has got: `done` of `total` bytes of the current phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadProgress {
    /// The phase.
    pub phase: LoadPhase,
    /// Bytes done in this phase.
    pub done: u64,
    /// Bytes of the whole phase (every tensor of the plan).
    pub total: u64,
}

/// A progress callback. It is called from the loading thread, after every chunk (at most
/// [`SLOT_BYTES`](crate::placement::SLOT_BYTES) of data) and once at the end of each phase.
pub type ProgressFn = Arc<dyn Fn(LoadProgress) + Send + Sync>;

/// Options of [`Context::load_model`](crate::Context::load_model).
#[derive(Clone, Default)]
pub struct LoadOptions {
    /// Read every tensor back after loading and compare it with the file, byte for byte, in
    /// bounded chunks; the result is each tensor's `verified`. Also compares each heap's usage
    /// before and after with the plan, where the device reports usage.
    pub verify: bool,
    /// Called as bytes are written (and read back); see [`ProgressFn`].
    pub progress: Option<ProgressFn>,
    /// Set to `true` (from any thread, or from the progress callback) to stop the load at the
    /// next chunk: it then fails with [`LoadError::Cancelled`](super::LoadError::Cancelled) and
    /// releases everything it placed.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl LoadOptions {
    /// Options that verify every tensor after loading.
    pub fn verified() -> Self {
        Self {
            verify: true,
            ..Self::default()
        }
    }

    /// Sets the progress callback.
    pub fn with_progress(
        mut self,
        progress: impl Fn(LoadProgress) + Send + Sync + 'static,
    ) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    pub(crate) fn report(&self, phase: LoadPhase, done: u64, total: u64) {
        if let Some(progress) = &self.progress {
            progress(LoadProgress { phase, done, total });
        }
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|flag| flag.load(std::sync::atomic::Ordering::Acquire))
    }
}

impl fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadOptions")
            .field("verify", &self.verify)
            .field("progress", &self.progress.as_ref().map(|_| "callback"))
            .field("cancel", &self.cancel)
            .finish()
    }
}
