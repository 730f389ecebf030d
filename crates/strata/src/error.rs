//! Strata's one error type.

use crate::placement::PolicyError;
use crate::table::human_bytes;

/// How to get a GPU driver when none is found.
pub const NO_ADAPTER_HINT: &str = "install a GPU driver with Vulkan support, or Mesa's CPU \
Vulkan driver (lavapipe): on Debian/Ubuntu `sudo apt-get install mesa-vulkan-drivers libvulkan1`";

/// Everything that can go wrong in Strata.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No GPU adapter was found at all.
    #[error("no GPU adapter found (backends tried: {backends}); {NO_ADAPTER_HINT}")]
    NoAdapter {
        /// The backends that were searched.
        backends: String,
    },
    /// No adapter matches the selector.
    #[error("no adapter matches `{selector}`; available: {}", available.join(", "))]
    AdapterNotFound {
        /// The selector as given.
        selector: String,
        /// `index: name (backend)` of each adapter.
        available: Vec<String>,
    },
    /// The adapter refused to create a device.
    #[error("could not create a device on {adapter}: {message}")]
    RequestDevice {
        /// Adapter name.
        adapter: String,
        /// wgpu's reason.
        message: String,
    },
    /// An operation needs the Vulkan backend.
    #[error("{what} needs a Vulkan adapter; this one runs on {backend}")]
    NeedsVulkan {
        /// What was attempted.
        what: String,
        /// The backend in use.
        backend: String,
    },
    /// An operation needs a device that Strata created (or extensions the device lacks).
    #[error("{what}: {reason}")]
    DeviceLacks {
        /// What was attempted.
        what: String,
        /// What is missing and how to get it.
        reason: String,
    },
    /// The placement cannot be served on this device.
    #[error(transparent)]
    Placement(#[from] PolicyError),
    /// The Vulkan layer failed.
    #[error(transparent)]
    Vulkan(strata_vk::VkError),
    /// The buffer was destroyed (`wgpu::Buffer::destroy`): it can no longer be read, written or
    /// bound. Its memory is released when the [`PlacedBuffer`](crate::PlacedBuffer) is dropped.
    #[error("{what}: the buffer was destroyed (wgpu::Buffer::destroy); place a new one")]
    Destroyed {
        /// What was attempted.
        what: String,
    },
    /// Shapes or sizes that do not fit together.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A buffer is larger than a device limit allows.
    #[error("{what}: {} exceeds the device's {limit_name} of {}", human_bytes(*bytes), human_bytes(*limit))]
    TooLarge {
        /// What was too large.
        what: String,
        /// Bytes asked for.
        bytes: u64,
        /// Which limit.
        limit_name: &'static str,
        /// The limit.
        limit: u64,
    },
    /// The device does not have enough memory right now.
    #[error("out of memory: {0}")]
    OutOfMemory(String),
    /// A wgpu validation or internal error while doing something.
    #[error("GPU error during {during}: {message}")]
    Gpu {
        /// The operation.
        during: String,
        /// wgpu's message.
        message: String,
    },
    /// The device was lost.
    #[error("the GPU device was lost during {0}")]
    DeviceLost(String),
    /// An application kernel does not compile, or does not match its description.
    #[error("kernel {kernel}: {message}")]
    Kernel {
        /// The kernel's label.
        kernel: String,
        /// What is wrong (naga's or wgpu's message).
        message: String,
    },
    /// A read-back mapping failed.
    #[error("reading back from the GPU failed: {0}")]
    ReadBack(String),
    /// An invalid argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A model file problem.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    /// A plan problem.
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    /// An I/O error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

impl From<strata_vk::VkError> for Error {
    /// A destroyed buffer is [`Error::Destroyed`]; everything else is [`Error::Vulkan`].
    fn from(error: strata_vk::VkError) -> Self {
        match error {
            strata_vk::VkError::Destroyed { what } => Error::Destroyed {
                what: what.to_string(),
            },
            other => Error::Vulkan(other),
        }
    }
}

/// Strata's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Converts a wgpu error caught in an error scope.
    pub(crate) fn from_wgpu(during: impl Into<String>, error: wgpu::Error) -> Self {
        let during = during.into();
        match error {
            wgpu::Error::OutOfMemory { .. } => Error::OutOfMemory(during),
            other => Error::Gpu {
                during,
                message: other.to_string(),
            },
        }
    }
}
