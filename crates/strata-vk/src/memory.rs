//! The memory behind one placed buffer, with its CPU mapping: one owner, shared through an `Arc`
//! by wgpu's drop callback and by the [`PlacedAllocation`](crate::PlacedAllocation).
//!
//! The `vk::Buffer` and the memory it is bound to end at different times. wgpu decides when the
//! buffer goes: it runs our drop callback when `wgpu::Buffer::destroy` is called or when its last
//! handle is dropped, in both cases once no submitted GPU work uses it. Strata's mapping may
//! still be reached after that (a caller may `destroy()` a buffer and then write it). So the
//! memory lives here, freed only when the last `Arc` goes: never while the GPU or the mapping can
//! still reach it. A sub-allocation goes back to the allocator only then, so no neighbour is
//! placed in bytes a mapping still points into.

use crate::anonymous_pages::AnonymousPages;
use crate::atoms::{self, OwnedRange};
use crate::error::VkError;
use crate::shared::DeviceShared;
use ash::vk;
use gpu_allocator::vulkan::Allocation;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Where a mapping starts. Wrapped so that only this pointer, and no other field added to the
/// types that hold it, is declared `Send` and `Sync`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MappedPtr(NonNull<u8>);

// SAFETY: the pointer is into device memory mapped for the life of the `MemoryCore` that holds it
// (invariant 3), not into memory owned by a thread; it is only dereferenced through
// `copy_nonoverlapping` on bounds-checked ranges, never through Rust references, so moving it to
// another thread cannot create aliasing references.
unsafe impl Send for MappedPtr {}
// SAFETY: as for `Send`: shared use only performs raw copies, which cannot form references;
// concurrent copies to the same bytes give unspecified data, never memory unsafety.
unsafe impl Sync for MappedPtr {}

impl MappedPtr {
    pub(crate) fn as_ptr(self) -> *mut u8 {
        self.0.as_ptr()
    }
}

/// The memory a placed buffer is bound to.
enum Backing {
    /// A `VkDeviceMemory` of its own.
    Dedicated(vk::DeviceMemory),
    /// Part of a block of gpu-allocator's.
    SubAllocated(Allocation),
    /// A `VkDeviceMemory` of its own that imported these pages, unmapped after it is freed.
    Imported(vk::DeviceMemory, AnonymousPages),
}

/// A placed buffer's memory and mapping. Frees the memory when dropped, which is when the last
/// of its holders (drop callback, allocation record, mapping) lets go.
pub(crate) struct MemoryCore {
    shared: Arc<DeviceShared>,
    /// `None` only while dropping.
    backing: Option<Backing>,
    memory: vk::DeviceMemory,
    /// The bytes of `memory` this buffer owns (whole atoms for non-coherent types).
    owned: OwnedRange,
    /// Start of the owned bytes in the CPU's address space (host-visible types).
    mapped: Option<MappedPtr>,
    coherent: bool,
    /// Bytes counted in the device's live-allocation figures.
    counted: u64,
}

impl MemoryCore {
    /// Takes ownership of a dedicated `VkDeviceMemory` of `size` bytes, mapped at `mapped` when
    /// the type is host-visible. `counted` is what the live-allocation figures count.
    pub(crate) fn dedicated(
        shared: &Arc<DeviceShared>,
        memory: vk::DeviceMemory,
        size: u64,
        mapped: Option<NonNull<u8>>,
        coherent: bool,
        counted: u64,
    ) -> Self {
        Self::new(
            shared,
            Backing::Dedicated(memory),
            memory,
            OwnedRange {
                start: 0,
                end: size,
                memory_size: size,
            },
            mapped,
            coherent,
            counted,
        )
    }

    /// Takes ownership of a `VkDeviceMemory` that imported `pages` (all of them), mapped at
    /// `mapped`.
    pub(crate) fn imported(
        shared: &Arc<DeviceShared>,
        memory: vk::DeviceMemory,
        pages: AnonymousPages,
        mapped: NonNull<u8>,
        coherent: bool,
        counted: u64,
    ) -> Self {
        let size = pages.len() as u64;
        Self::new(
            shared,
            Backing::Imported(memory, pages),
            memory,
            OwnedRange {
                start: 0,
                end: size,
                memory_size: size,
            },
            Some(mapped),
            coherent,
            counted,
        )
    }

    /// Takes ownership of a sub-allocation (mapped when its block is, which gpu-allocator does
    /// for host-visible types).
    pub(crate) fn suballocated(
        shared: &Arc<DeviceShared>,
        allocation: Allocation,
        coherent: bool,
        counted: u64,
    ) -> Self {
        // SAFETY: reading the block's handle has no side effect; it is used only for binding
        // and flushes of this allocation's own range.
        let memory = unsafe { allocation.memory() };
        let owned = OwnedRange {
            start: allocation.offset(),
            end: allocation.offset() + allocation.size(),
            // The block's size is the allocator's business; a sub-allocation of a non-coherent
            // type is whole atoms, so its ranges never need the clamp to it.
            memory_size: u64::MAX,
        };
        let mapped = allocation.mapped_ptr().map(|p| p.cast::<u8>());
        Self::new(
            shared,
            Backing::SubAllocated(allocation),
            memory,
            owned,
            mapped,
            coherent,
            counted,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        shared: &Arc<DeviceShared>,
        backing: Backing,
        memory: vk::DeviceMemory,
        owned: OwnedRange,
        mapped: Option<NonNull<u8>>,
        coherent: bool,
        counted: u64,
    ) -> Self {
        shared.live_buffers.fetch_add(1, Ordering::AcqRel);
        shared.live_bytes.fetch_add(counted, Ordering::AcqRel);
        Self {
            shared: Arc::clone(shared),
            backing: Some(backing),
            memory,
            owned,
            mapped: mapped.map(MappedPtr),
            coherent,
            counted,
        }
    }

    /// The memory object and the offset of this buffer's bytes in it (for binding).
    pub(crate) fn binding(&self) -> (vk::DeviceMemory, u64) {
        (self.memory, self.owned.start)
    }

    /// Where the owned bytes are mapped, for host-visible types.
    pub(crate) fn mapped(&self) -> Option<MappedPtr> {
        self.mapped
    }

    /// Bytes owned (at least the buffer's size).
    pub(crate) fn owned_len(&self) -> u64 {
        self.owned.end - self.owned.start
    }

    pub(crate) fn is_coherent(&self) -> bool {
        self.coherent
    }

    pub(crate) fn shared(&self) -> &Arc<DeviceShared> {
        &self.shared
    }

    /// Makes host writes to `len` bytes at `offset` visible to the device (non-coherent types;
    /// nothing to do on coherent ones).
    pub(crate) fn flush(&self, offset: u64, len: u64) -> Result<(), VkError> {
        if self.coherent {
            return Ok(());
        }
        let Some(range) = self.range(offset, len)? else {
            return Ok(());
        };
        // SAFETY: the memory is allocated and mapped while `self` lives (invariant 2), and the
        // range is whole atoms inside this buffer's own bytes (invariant 4).
        unsafe { self.shared.device.flush_mapped_memory_ranges(&[range]) }
            .map_err(|e| VkError::from_vk("vkFlushMappedMemoryRanges", e))
    }

    /// Makes device writes to `len` bytes at `offset` visible to the host (non-coherent types).
    pub(crate) fn invalidate(&self, offset: u64, len: u64) -> Result<(), VkError> {
        if self.coherent {
            return Ok(());
        }
        let Some(range) = self.range(offset, len)? else {
            return Ok(());
        };
        // SAFETY: as in `flush`.
        unsafe { self.shared.device.invalidate_mapped_memory_ranges(&[range]) }
            .map_err(|e| VkError::from_vk("vkInvalidateMappedMemoryRanges", e))
    }

    fn range(
        &self,
        offset: u64,
        len: u64,
    ) -> Result<Option<vk::MappedMemoryRange<'static>>, VkError> {
        let atom = self.shared.limits.non_coherent_atom_size;
        Ok(
            atoms::atom_range(self.owned, atom, offset, len)?.map(|(offset, size)| {
                vk::MappedMemoryRange::default()
                    .memory(self.memory)
                    .offset(offset)
                    .size(size)
            }),
        )
    }
}

impl Drop for MemoryCore {
    fn drop(&mut self) {
        match self.backing.take() {
            Some(Backing::Dedicated(memory)) => {
                // SAFETY: this is the last holder of the memory: the drop callback (which runs
                // only once no GPU work uses the buffer) and every mapping are gone, so nothing
                // uses it. Freeing it also unmaps it.
                unsafe { self.shared.device.free_memory(memory, None) }
            }
            Some(Backing::Imported(memory, pages)) => {
                // SAFETY: as for a dedicated allocation. The pages are unmapped only after the
                // memory that imported them is freed, as VK_EXT_external_memory_host requires.
                unsafe { self.shared.device.free_memory(memory, None) };
                drop(pages);
            }
            Some(Backing::SubAllocated(allocation)) => match self.shared.allocator.lock() {
                Ok(mut guard) => {
                    if let Some(allocator) = guard.as_mut() {
                        if let Err(e) = allocator.free(allocation) {
                            log::error!("freeing a sub-allocation failed: {e}");
                        }
                    }
                }
                Err(_) => log::error!("the sub-allocator was poisoned; a sub-allocation is lost"),
            },
            None => {}
        }
        self.shared.live_buffers.fetch_sub(1, Ordering::AcqRel);
        self.shared
            .live_bytes
            .fetch_sub(self.counted, Ordering::AcqRel);
    }
}
