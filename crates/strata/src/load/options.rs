//! What a load is asked to do besides carrying out the plan: verify, report progress, stop, and
//! how to spread the work over threads and data paths.

use super::verify_method::VerifyMethod;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// What a load is doing, as a [`LoadProgress`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoadPhase {
    /// The loader waits for the next tensor's memory (the driver allocates, and for host
    /// memory pins, it); `done` is the bytes allocated so far.
    Allocate,
    /// Tensors' bytes are being written; `done` is the bytes written so far.
    Upload,
    /// Tensors are being read back and compared with the file (with [`LoadOptions::verify`]);
    /// `done` is the bytes compared so far. Runs beside the upload, one tensor behind it.
    Verify,
    /// Every byte was handed to the GPU; the loader waits for its last copies.
    Finish,
}

impl LoadPhase {
    /// A short name: `allocating`, `uploading`, `verifying`, `finishing`.
    pub fn name(self) -> &'static str {
        match self {
            LoadPhase::Allocate => "allocating",
            LoadPhase::Upload => "uploading",
            LoadPhase::Verify => "verifying",
            LoadPhase::Finish => "finishing",
        }
    }
}

impl fmt::Display for LoadPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How far a load has got: `done` of `total` bytes of the phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadProgress {
    /// The phase.
    pub phase: LoadPhase,
    /// Bytes done in this phase (see [`LoadPhase`] for what each phase counts).
    pub done: u64,
    /// Bytes of the whole load (every tensor of the plan).
    pub total: u64,
}

/// A progress callback. It is called after every chunk uploaded and every chunk verified (at
/// most [`SLOT_BYTES`](crate::placement::SLOT_BYTES) of data each), when the loader starts to
/// wait for memory, and once at the end of each phase. Uploads and verification run on
/// different threads, so calls come from both: the callback must be `Send + Sync`.
pub type ProgressFn = Arc<dyn Fn(LoadProgress) + Send + Sync>;

/// How bytes reach a tensor's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UploadChoice {
    /// The path that is fastest for the memory type: the GPU's copy engine through the staging
    /// ring for device-local memory on a discrete GPU (CPU stores across PCIe into a BAR
    /// window are slower than a DMA copy), a memcpy into the mapping for host memory and for
    /// every host-visible type of an integrated GPU or a CPU driver, where the mapping is
    /// ordinary memory.
    #[default]
    Auto,
    /// A memcpy into the mapping wherever the memory is host-visible (staging elsewhere).
    Mapped,
    /// The staging ring and a GPU copy, for every memory type.
    Staging,
}

/// An upload choice that is not `auto`, `mapped` or `staging`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown upload path `{0}`: expected auto, mapped or staging")]
pub struct UnknownUploadChoice(pub String);

impl FromStr for UploadChoice {
    type Err = UnknownUploadChoice;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(UploadChoice::Auto),
            "mapped" => Ok(UploadChoice::Mapped),
            "staging" => Ok(UploadChoice::Staging),
            _ => Err(UnknownUploadChoice(s.trim().to_string())),
        }
    }
}

impl fmt::Display for UploadChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UploadChoice::Auto => "auto",
            UploadChoice::Mapped => "mapped",
            UploadChoice::Staging => "staging",
        })
    }
}

/// The default window of [`LoadTuning::read_ahead_bytes`]: 1 GiB ahead of the copy.
pub const READ_AHEAD_WINDOW: u64 = 1 << 30;

/// The most threads a load starts for allocation, and for read-ahead: more only add waiting.
pub const MAX_LOAD_THREADS: usize = 64;

/// How a load spreads its work. The defaults suit every device; the fields exist to measure
/// where a load's time goes (`strata load --alloc-threads 0 --read-ahead-threads 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadTuning {
    /// Threads that allocate tensors' memory ahead of the copy, in plan order, so that the
    /// copy never waits for the driver while a tensor is ready (for host memory the driver
    /// pins every page as it allocates). `0` allocates each tensor on the copying thread just
    /// before its bytes are written. At most [`MAX_LOAD_THREADS`] are started.
    pub allocation_threads: usize,
    /// Threads that touch the file map ahead of the copy (and, on Linux, ask the kernel to read
    /// those pages in: `POSIX_FADV_WILLNEED`), so that page faults and disk reads overlap the
    /// upload instead of stalling it. `0` lets the copy fault the pages in itself. At most
    /// [`MAX_LOAD_THREADS`] are started.
    pub read_ahead_threads: usize,
    /// How far ahead of the copy the read-ahead may run, in bytes: bounded so that a model
    /// larger than the page cache does not evict its own pages before they are copied.
    pub read_ahead_bytes: u64,
    /// How bytes reach the tensors' memory.
    pub upload_path: UploadChoice,
    /// Where the staging slots of this load live: `None` uses the context's upload ring
    /// (`auto:staging`: host-visible, coherent, preferably not cached, which is write-combined
    /// memory on a discrete GPU); a placement makes the load a ring of its own there, freed
    /// when the load ends (to measure which memory the CPU fills fastest, e.g. `host-cached`).
    pub staging_memory: Option<crate::placement::Placement>,
    /// Who provides the pages of tensors in host-visible memory (see [`crate::HostMemory`]):
    /// `Auto` imports pages Strata faulted in for system memory and GTT where the device can.
    pub host_memory: crate::HostMemory,
}

impl Default for LoadTuning {
    /// A quarter of the CPU's threads for allocation and as many for read-ahead (1 to 4 each),
    /// a window of [`READ_AHEAD_WINDOW`], the automatic upload path.
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            allocation_threads: (cpus / 4).clamp(1, 4),
            read_ahead_threads: (cpus / 4).clamp(1, 4),
            read_ahead_bytes: READ_AHEAD_WINDOW,
            upload_path: UploadChoice::Auto,
            staging_memory: None,
            host_memory: crate::HostMemory::Auto,
        }
    }
}

/// Options of [`Context::load_model`](crate::Context::load_model).
#[derive(Clone, Default)]
pub struct LoadOptions {
    /// Read every tensor back after it is uploaded and compare it with the file, byte for
    /// byte, in bounded chunks, while the next tensors upload; the result is each tensor's
    /// `verified`. Also compares each heap's usage before and after with the plan, where the
    /// device reports usage.
    pub verify: bool,
    /// How [`LoadOptions::verify`] checks a tensor: by checksum where reading a large tensor
    /// back would cross the bus, byte for byte elsewhere ([`VerifyMethod::Auto`], the default).
    pub verify_method: VerifyMethod,
    /// Called as bytes are written (and read back); see [`ProgressFn`].
    pub progress: Option<ProgressFn>,
    /// Set to `true` (from any thread, or from the progress callback) to stop the load at the
    /// next chunk: it then fails with [`LoadError::Cancelled`](super::LoadError::Cancelled) and
    /// releases everything it placed.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Threads and data paths.
    pub tuning: LoadTuning,
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

    /// Sets the tuning.
    pub fn with_tuning(mut self, tuning: LoadTuning) -> Self {
        self.tuning = tuning;
        self
    }

    /// The tuning with its thread counts capped at [`MAX_LOAD_THREADS`].
    pub(crate) fn bounded_tuning(&self) -> LoadTuning {
        LoadTuning {
            allocation_threads: self.tuning.allocation_threads.min(MAX_LOAD_THREADS),
            read_ahead_threads: self.tuning.read_ahead_threads.min(MAX_LOAD_THREADS),
            ..self.tuning
        }
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
            .field("verify_method", &self.verify_method)
            .field("progress", &self.progress.as_ref().map(|_| "callback"))
            .field("cancel", &self.cancel)
            .field("tuning", &self.tuning)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_choices_parse_and_print() {
        for choice in [
            UploadChoice::Auto,
            UploadChoice::Mapped,
            UploadChoice::Staging,
        ] {
            assert_eq!(choice.to_string().parse::<UploadChoice>(), Ok(choice));
        }
        assert_eq!(
            " Staging ".parse::<UploadChoice>(),
            Ok(UploadChoice::Staging)
        );
        assert!("dma".parse::<UploadChoice>().is_err());
    }

    #[test]
    fn default_tuning_uses_some_threads() {
        let tuning = LoadTuning::default();
        assert!((1..=4).contains(&tuning.allocation_threads));
        assert!((1..=4).contains(&tuning.read_ahead_threads));
        assert_eq!(tuning.read_ahead_bytes, READ_AHEAD_WINDOW);
        assert_eq!(tuning.upload_path, UploadChoice::Auto);
    }
}
