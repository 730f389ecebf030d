//! The validation canary: a deliberate misuse of Vulkan that the validation layer reports and no
//! driver acts on. Tests call it to prove that their capture of layer messages works (a capture
//! that misses it would let every real message pass unseen). Built only with the
//! `validation-canary` feature, which only tests enable.

use crate::device::VulkanDevice;
use crate::error::VkError;
use ash::vk;

/// The message id the layer reports for [`VulkanDevice::provoke_validation_message`].
pub const CANARY_VUID: &str = "VUID-VkBufferCreateInfo-pNext-pNext";

impl VulkanDevice {
    /// Creates and destroys a 16-byte buffer whose create info chains a structure that buffer
    /// creation does not take (`VkMemoryAllocateFlagsInfo`, which belongs to memory
    /// allocation). The validation layer, when enabled, reports [`CANARY_VUID`] through the
    /// debug messenger during the call. Harmless: the spec requires every driver and layer to
    /// skip chained structures it does not expect, the buffer is never bound, and it is
    /// destroyed before returning.
    pub fn provoke_validation_message(&self) -> Result<(), VkError> {
        let stray = vk::MemoryAllocateFlagsInfo::default();
        let mut info = vk::BufferCreateInfo::default()
            .size(16)
            .usage(vk::BufferUsageFlags::STORAGE_BUFFER)
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        // ash's typed chaining refuses this structure here, which is the point: set it by hand.
        info.p_next = (&raw const stray).cast();
        let device = &self.shared().device;
        // SAFETY: a live device (invariant 1); `info` and the structure it chains are locals that
        // outlive the call (invariant 5), and the chained structure is a valid Vulkan structure
        // (sType set, p_next null) that every implementation must skip when it does not expect
        // it. The buffer is destroyed right below and never bound or used.
        let buffer = unsafe { device.create_buffer(&info, None) }
            .map_err(|e| VkError::from_vk("vkCreateBuffer", e))?;
        // SAFETY: `buffer` is live and was never used by the GPU.
        unsafe { device.destroy_buffer(buffer, None) };
        Ok(())
    }
}
