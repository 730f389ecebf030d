//! A placed buffer: a `wgpu::Buffer` and where it lives (exact memory type, or wgpu's choice).
//!
//! Placing one is `place.rs`; moving data in and out is `staging.rs`.

use super::policy::MemoryChoice;
use super::request::Placement;
use crate::error::{Error, Result};
use crate::table::MemoryFlags;
use serde::Serialize;
use strata_vk::{HostMemory, PlacedAllocation};

/// A storage buffer placed by [`Context::place`](crate::Context::place): an ordinary [`wgpu::Buffer`] (usages
/// STORAGE | COPY_SRC | COPY_DST) that any wgpu pipeline can bind, plus where it lives.
///
/// On Vulkan the buffer is bound to memory of one exact memory type that Strata chose
/// ([`PlacedBuffer::is_exact`]). On other backends only `auto` placement exists, and the buffer
/// is a plain wgpu buffer whose memory wgpu chose: it has no memory type index to report.
///
/// Dropping it releases the memory once the GPU is done with the buffer.
///
/// ```
/// use strata::Placement;
/// let ctx = strata::Context::new()?;
/// let weights: Vec<f32> = (0..1024).map(|i| i as f32).collect();
/// let placed = ctx.place(4096, Placement::Vram)?; // a typed error where the device has no VRAM type
/// ctx.write_placed(&placed, 0, bytemuck::cast_slice(&weights))?;
/// let back = ctx.read_placed(&placed, 0, placed.bytes())?;
/// assert_eq!(back, bytemuck::cast_slice::<f32, u8>(&weights));
/// // Exact placements (all but `auto` off Vulkan) know their memory type, heap and flags.
/// if let (Some(memory_type), Some(heap), Some(flags)) = (placed.memory_type(), placed.heap(), placed.flags()) {
///     println!("memory type {memory_type} on heap {heap} ({flags})");
/// }
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Debug)]
pub struct PlacedBuffer {
    memory: Memory,
    placement: Placement,
    bytes: u64,
}

/// Where a placed buffer's memory came from.
#[derive(Debug)]
enum Memory {
    /// Allocated by Strata in one exact Vulkan memory type (boxed: the allocation record is
    /// large, and placed buffers are moved around in vectors).
    Exact {
        allocation: Box<PlacedAllocation>,
        choice: MemoryChoice,
    },
    /// A plain wgpu buffer (`auto` on a backend other than Vulkan).
    Wgpu(wgpu::Buffer),
}

/// Where a placed buffer lives, as reported in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlacementInfo {
    /// The placement asked for (after any fallback: the one that served).
    pub placement: Placement,
    /// Strata chose the exact memory type (Vulkan); `false` for a plain wgpu buffer.
    pub exact: bool,
    /// The memory type index (`None` when wgpu chose the memory).
    pub memory_type: Option<u32>,
    /// Its heap (`None` when wgpu chose the memory).
    pub heap: Option<u32>,
    /// Its flags (`None` when wgpu chose the memory).
    pub flags: Option<MemoryFlags>,
    /// Bytes asked for.
    pub bytes: u64,
    /// The buffer has its own `VkDeviceMemory` (otherwise it shares a block).
    pub dedicated: bool,
    /// How the CPU writes it: `mapped` (memcpy into a mapping) or `staging` (GPU copy).
    pub upload_path: UploadPath,
    /// The buffer is bound to host pages the driver imported (`VK_EXT_external_memory_host`),
    /// not to memory the driver allocated; the memory type is the same.
    pub host_imported: bool,
}

/// How data reaches a placed buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UploadPath {
    /// memcpy into a persistent mapping.
    Mapped,
    /// memcpy into a bounded staging buffer, then a GPU copy.
    Staging,
}

/// One skipped step of an explicit fallback chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fallback {
    /// The placement that could not serve.
    pub placement: Placement,
    /// Why.
    pub reason: String,
}

impl PlacedBuffer {
    /// A buffer Strata allocated in the memory type `choice`.
    pub(crate) fn exact(
        allocation: PlacedAllocation,
        choice: MemoryChoice,
        placement: Placement,
        bytes: u64,
    ) -> Self {
        Self {
            memory: Memory::Exact {
                allocation: Box::new(allocation),
                choice,
            },
            placement,
            bytes,
        }
    }

    /// A plain wgpu buffer (`auto` off Vulkan).
    pub(crate) fn wgpu(buffer: wgpu::Buffer, placement: Placement, bytes: u64) -> Self {
        Self {
            memory: Memory::Wgpu(buffer),
            placement,
            bytes,
        }
    }

    /// The wgpu buffer: bind it in any pipeline of this context's device.
    pub fn buffer(&self) -> &wgpu::Buffer {
        match &self.memory {
            Memory::Exact { allocation, .. } => allocation.buffer(),
            Memory::Wgpu(buffer) => buffer,
        }
    }

    /// `true` when Strata chose the exact memory type (Vulkan); `false` for a plain wgpu
    /// buffer (`auto` on another backend), whose memory type is unknown.
    pub fn is_exact(&self) -> bool {
        matches!(self.memory, Memory::Exact { .. })
    }

    fn choice(&self) -> Option<&MemoryChoice> {
        match &self.memory {
            Memory::Exact { choice, .. } => Some(choice),
            Memory::Wgpu(_) => None,
        }
    }

    /// Bytes asked for (the buffer may be a few bytes larger, rounded up to 4).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The placement that served this buffer.
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// The exact memory type index; `None` when wgpu chose the memory (see
    /// [`PlacedBuffer::is_exact`]).
    pub fn memory_type(&self) -> Option<u32> {
        self.choice().map(|c| c.memory_type)
    }

    /// The heap of that type; `None` when wgpu chose the memory.
    pub fn heap(&self) -> Option<u32> {
        self.choice().map(|c| c.heap)
    }

    /// The memory type's flags; `None` when wgpu chose the memory (a memory type may have no
    /// flags at all, so an empty set would not say "unknown").
    pub fn flags(&self) -> Option<MemoryFlags> {
        self.choice().map(|c| c.flags)
    }

    /// Where the buffer lives, for messages: `memory type N (heap H)`, or `memory wgpu chose`
    /// for a plain wgpu buffer.
    pub fn location(&self) -> String {
        self.choice().map_or("memory wgpu chose".into(), |c| {
            format!("memory type {} (heap {})", c.memory_type, c.heap)
        })
    }

    /// How the CPU writes this buffer: `Mapped` for host-visible memory types, `Staging`
    /// otherwise (also for plain wgpu buffers, which `wgpu::Queue::write_buffer` stages).
    pub fn upload_path(&self) -> UploadPath {
        if self.mapping().is_some() {
            UploadPath::Mapped
        } else {
            UploadPath::Staging
        }
    }

    /// Everything about where the buffer lives.
    pub fn info(&self) -> PlacementInfo {
        let choice = self.choice();
        PlacementInfo {
            placement: self.placement,
            exact: choice.is_some(),
            memory_type: choice.map(|c| c.memory_type),
            heap: choice.map(|c| c.heap),
            flags: choice.map(|c| c.flags),
            bytes: self.bytes,
            dedicated: match &self.memory {
                Memory::Exact { allocation, .. } => allocation.is_dedicated(),
                Memory::Wgpu(_) => false,
            },
            upload_path: self.upload_path(),
            host_imported: match &self.memory {
                Memory::Exact { allocation, .. } => allocation.is_host_imported(),
                Memory::Wgpu(_) => false,
            },
        }
    }

    /// `true` once `wgpu::Buffer::destroy` was called on [`PlacedBuffer::buffer`] (or a clone
    /// of it). From then on [`Context::write_placed`](crate::Context::write_placed) and [`Context::read_placed`](crate::Context::read_placed) return
    /// [`Error::Destroyed`], and a kernel given the buffer fails with a GPU error; the memory
    /// stays allocated, unreachable, until this value is dropped. A write that races
    /// `destroy()` on another thread lands in that memory and is lost. Always `false` for a
    /// plain wgpu buffer (`auto` off Vulkan), whose destruction wgpu reports itself.
    pub fn is_destroyed(&self) -> bool {
        match &self.memory {
            Memory::Exact { allocation, .. } => allocation.is_destroyed(),
            Memory::Wgpu(_) => false,
        }
    }

    /// [`Error::Destroyed`] for `what` once the buffer was destroyed.
    pub(crate) fn check_not_destroyed(&self, what: &str) -> Result<()> {
        if self.is_destroyed() {
            return Err(Error::Destroyed {
                what: what.to_string(),
            });
        }
        Ok(())
    }

    pub(crate) fn mapping(&self) -> Option<&strata_vk::MappedMemory> {
        match &self.memory {
            Memory::Exact { allocation, .. } => allocation.mapping(),
            Memory::Wgpu(_) => None,
        }
    }
}

/// Options of [`Context::place_with`](crate::Context::place_with).
#[derive(Debug, Clone)]
pub struct PlaceOptions {
    /// The placement wanted.
    pub placement: Placement,
    /// Placements to try, in order, if the first cannot serve (explicit, and reported).
    pub fallback: Vec<Placement>,
    /// Memory priority 0..=1 (used when the device has `VK_EXT_memory_priority`).
    pub priority: f32,
    /// Who provides the pages of a host-visible memory type: by default, pages the driver
    /// imports for system memory and GTT, where that is faster than the driver's own.
    pub host_memory: HostMemory,
}

impl PlaceOptions {
    /// `placement`, no fallback, default priority.
    pub fn new(placement: Placement) -> Self {
        Self {
            placement,
            fallback: Vec::new(),
            priority: 0.5,
            host_memory: HostMemory::Auto,
        }
    }
}
