//! Strata's one error type.

use crate::load::LoadError;
use crate::placement::PolicyError;
use crate::table::human_bytes;
use strata_vk::VkError;

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
    Vulkan(VkError),
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
    /// A buffer is larger than a limit in bytes allows (a device limit such as
    /// `max_buffer_size`, or a kernel's addressing limit).
    #[error("{what}: {} exceeds the {limit_name} of {}", human_bytes(*bytes), human_bytes(*limit))]
    TooLarge {
        /// What was too large.
        what: String,
        /// Bytes asked for.
        bytes: u64,
        /// Which limit.
        limit_name: &'static str,
        /// The limit, in bytes.
        limit: u64,
    },
    /// A count (workgroups, bindings, elements) is over a limit that counts things, not bytes.
    #[error("{what}: {count} exceeds the {limit_name} of {limit}")]
    LimitExceeded {
        /// What was counted.
        what: String,
        /// How many were asked for.
        count: u64,
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
    /// A model could not be loaded ([`Context::load_model`](crate::Context::load_model) and
    /// friends). Boxed: a [`LoadError`] can carry an [`Error`] itself.
    #[error(transparent)]
    Load(Box<LoadError>),
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
    /// The one translation of the Vulkan layer's errors: a destroyed buffer is
    /// [`Error::Destroyed`], exhausted memory [`Error::OutOfMemory`], a lost device
    /// [`Error::DeviceLost`], an allocation over `maxMemoryAllocationSize` [`Error::TooLarge`];
    /// everything else is [`Error::Vulkan`]. Callers add what they were doing to the message.
    fn from(error: VkError) -> Self {
        match error {
            VkError::Destroyed { what } => Error::Destroyed {
                what: what.to_string(),
            },
            e @ VkError::OutOfMemory { .. } => Error::OutOfMemory(e.to_string()),
            VkError::DeviceLost { call } => Error::DeviceLost(call.to_string()),
            VkError::TooLarge { bytes, max } => Error::TooLarge {
                what: "one allocation".into(),
                bytes,
                limit_name: "maxMemoryAllocationSize",
                limit: max,
            },
            other => Error::Vulkan(other),
        }
    }
}

impl From<LoadError> for Error {
    /// A load that failed because the device did (`LoadError::Device`) is that device error;
    /// every other load error is [`Error::Load`].
    fn from(error: LoadError) -> Self {
        match error {
            LoadError::Device(error) => *error,
            other => Error::Load(Box::new(other)),
        }
    }
}

/// Strata's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Names what was being done in the message of an error that carries a description
    /// ([`Error::OutOfMemory`], [`Error::DeviceLost`], [`Error::TooLarge`],
    /// [`Error::Destroyed`]); other errors are returned as they are.
    pub(crate) fn context(self, during: &str) -> Self {
        match self {
            Error::OutOfMemory(message) => Error::OutOfMemory(format!("{during}: {message}")),
            Error::DeviceLost(call) => Error::DeviceLost(format!("{during} ({call})")),
            Error::TooLarge {
                what,
                bytes,
                limit_name,
                limit,
            } => Error::TooLarge {
                what: format!("{what} for {during}"),
                bytes,
                limit_name,
                limit,
            },
            Error::Destroyed { what } => Error::Destroyed {
                what: format!("{during}: {what}"),
            },
            other => other,
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_print_as_numbers_and_bytes_as_bytes() {
        let count = Error::LimitExceeded {
            what: "dispatch".into(),
            count: 70_000,
            limit_name: "max_compute_workgroups_per_dimension",
            limit: 65_535,
        };
        assert_eq!(
            count.to_string(),
            "dispatch: 70000 exceeds the max_compute_workgroups_per_dimension of 65535"
        );
        let bytes = Error::TooLarge {
            what: "buffer".into(),
            bytes: 3 << 30,
            limit_name: "max_buffer_size",
            limit: 2 << 30,
        };
        assert_eq!(
            bytes.to_string(),
            "buffer: 3.00 GiB exceeds the max_buffer_size of 2.00 GiB"
        );
    }

    #[test]
    fn vulkan_errors_are_translated_in_one_place() {
        let oom = VkError::OutOfMemory {
            kind: "device",
            bytes: 1 << 30,
            memory_type: 2,
        };
        let error = Error::from(oom).context("placement `vram`");
        assert!(
            matches!(&error, Error::OutOfMemory(m) if m.starts_with("placement `vram`: out of device memory")),
            "{error}"
        );
        let lost = Error::from(VkError::DeviceLost {
            call: "vkAllocateMemory",
        });
        assert!(matches!(lost, Error::DeviceLost(_)));
        let large = Error::from(VkError::TooLarge {
            bytes: 8 << 30,
            max: 4 << 30,
        });
        assert!(
            matches!(large, Error::TooLarge { limit_name: "maxMemoryAllocationSize", limit, .. } if limit == 4 << 30)
        );
        let destroyed = Error::from(VkError::Destroyed { what: "write" });
        assert!(matches!(destroyed, Error::Destroyed { .. }));
        let other = Error::from(VkError::ZeroSize);
        assert!(matches!(other, Error::Vulkan(VkError::ZeroSize)));
    }
}
