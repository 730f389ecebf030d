//! Errors of the Vulkan layer.

use crate::table::human_bytes;

/// What went wrong in the Vulkan layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VkError {
    /// The wgpu device does not run on Vulkan (or was not created by wgpu-core).
    #[error("this needs a Vulkan device; the device runs on {backend}")]
    NotVulkan {
        /// The backend the device uses.
        backend: String,
    },
    /// A Vulkan call failed.
    #[error("{call} failed: {result}")]
    Vulkan {
        /// The Vulkan function.
        call: &'static str,
        /// Its result code.
        result: String,
    },
    /// The memory type index does not exist on this device.
    #[error("memory type {index} does not exist (the device has {count})")]
    NoSuchType {
        /// The requested index.
        index: u32,
        /// How many types the device has.
        count: usize,
    },
    /// The buffer's `memoryTypeBits` exclude the memory type.
    #[error("memory type {index} cannot hold this buffer (its memoryTypeBits are 0b{allowed:b})")]
    TypeNotAllowed {
        /// The requested index.
        index: u32,
        /// The buffer's allowed types.
        allowed: u32,
    },
    /// The size is zero.
    #[error("a buffer of 0 bytes cannot be placed")]
    ZeroSize,
    /// One allocation of this size can never succeed on this device.
    #[error("{} is larger than one allocation may be on this device ({})", human_bytes(*bytes), human_bytes(*max))]
    TooLarge {
        /// Bytes asked for.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// The memory is exhausted right now (the request might fit after something is freed).
    #[error("out of {kind} memory allocating {} in memory type {memory_type}", human_bytes(*bytes))]
    OutOfMemory {
        /// `device` or `host`.
        kind: &'static str,
        /// Bytes asked for.
        bytes: u64,
        /// The memory type.
        memory_type: u32,
    },
    /// The device was lost.
    #[error("the Vulkan device was lost during {call}")]
    DeviceLost {
        /// The call that saw it.
        call: &'static str,
    },
    /// A mapped range access outside the mapping.
    #[error("range {offset}..{end} is outside the mapping of {len} bytes")]
    OutOfRange {
        /// Start.
        offset: u64,
        /// End.
        end: u64,
        /// Mapping length.
        len: u64,
    },
    /// The buffer was destroyed (`wgpu::Buffer::destroy`): its bytes can no longer be reached.
    #[error("{what}: the buffer was destroyed (wgpu::Buffer::destroy); place a new one")]
    Destroyed {
        /// What was attempted.
        what: &'static str,
    },
    /// The memory is not host-visible, so it cannot be mapped.
    #[error("memory type {memory_type} is not HOST_VISIBLE: it cannot be mapped")]
    NotMappable {
        /// The memory type.
        memory_type: u32,
    },
}

impl VkError {
    pub(crate) fn from_vk(call: &'static str, result: ash::vk::Result) -> Self {
        Self::Vulkan {
            call,
            result: format!("{result:?}"),
        }
    }

    pub(crate) fn from_alloc(
        call: &'static str,
        result: ash::vk::Result,
        bytes: u64,
        memory_type: u32,
    ) -> Self {
        use ash::vk::Result as R;
        match result {
            R::ERROR_OUT_OF_DEVICE_MEMORY => Self::OutOfMemory {
                kind: "device",
                bytes,
                memory_type,
            },
            R::ERROR_OUT_OF_HOST_MEMORY => Self::OutOfMemory {
                kind: "host",
                bytes,
                memory_type,
            },
            R::ERROR_DEVICE_LOST => Self::DeviceLost { call },
            other => Self::from_vk(call, other),
        }
    }
}
