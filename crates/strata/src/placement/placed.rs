//! Buffers placed in an exact memory type (or, for `auto` off Vulkan, wherever wgpu puts them).

use super::policy::{MemoryChoice, PolicyError, choose_memory_type};
use super::request::Placement;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::table::{MemoryFlags, human_bytes};
use serde::Serialize;
use strata_vk::{AllocationRequest, PlacedAllocation};

/// A storage buffer placed by [`Context::place`]: an ordinary [`wgpu::Buffer`] (usages
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
/// println!("memory type {} on heap {} ({})", placed.memory_type(), placed.heap(), placed.flags());
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

/// What [`PlacedBuffer::memory_type`] and [`PlacedBuffer::heap`] report for a buffer whose
/// memory wgpu chose (`auto` off Vulkan): there is no index to report.
pub const WGPU_CHOSEN: u32 = u32::MAX;

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

    /// The exact memory type index ([`WGPU_CHOSEN`] when wgpu chose the memory; see
    /// [`PlacedBuffer::is_exact`]).
    pub fn memory_type(&self) -> u32 {
        self.choice().map_or(WGPU_CHOSEN, |c| c.memory_type)
    }

    /// The heap of that type ([`WGPU_CHOSEN`] when wgpu chose the memory).
    pub fn heap(&self) -> u32 {
        self.choice().map_or(WGPU_CHOSEN, |c| c.heap)
    }

    /// The memory type's flags (none known when wgpu chose the memory).
    pub fn flags(&self) -> MemoryFlags {
        self.choice().map_or(MemoryFlags::NONE, |c| c.flags)
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
        }
    }

    /// `true` once `wgpu::Buffer::destroy` was called on [`PlacedBuffer::buffer`] (or a clone
    /// of it). From then on [`Context::write_placed`] and [`Context::read_placed`] return
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

/// Options of [`Context::place_with`].
#[derive(Debug, Clone)]
pub struct PlaceOptions {
    /// The placement wanted.
    pub placement: Placement,
    /// Placements to try, in order, if the first cannot serve (explicit, and reported).
    pub fallback: Vec<Placement>,
    /// Memory priority 0..=1 (used when the device has `VK_EXT_memory_priority`).
    pub priority: f32,
}

impl PlaceOptions {
    /// `placement`, no fallback, default priority.
    pub fn new(placement: Placement) -> Self {
        Self {
            placement,
            fallback: Vec::new(),
            priority: 0.5,
        }
    }
}

impl Context {
    /// Allocates `bytes` in exactly the memory type `placement` resolves to on this device.
    ///
    /// No silent fallback: a placement the device cannot give is [`Error::Placement`] with the
    /// device's table. Requests over `maxMemoryAllocationSize` are [`Error::TooLarge`] (use
    /// [`Context::place_tensor`] to split them); requests over the heap's free budget are
    /// [`Error::OutOfMemory`].
    ///
    /// On a backend other than Vulkan, [`Placement::Auto`] gives a plain wgpu storage buffer
    /// ([`PlacedBuffer::is_exact`] is `false`) and every other placement is
    /// [`Error::NeedsVulkan`].
    ///
    /// ```
    /// use strata::{Error, Placement, Usage};
    /// let ctx = strata::Context::new()?;
    /// let weights = ctx.place(1 << 20, Placement::Auto(Usage::Weights))?; // works everywhere
    /// match ctx.place(1 << 20, Placement::Host) {
    ///     Ok(gtt) => println!("host: memory type {}", gtt.memory_type()),
    ///     Err(Error::Placement(e)) => println!("this device has no `host` type:\n{e}"),
    ///     Err(Error::NeedsVulkan { backend, .. }) => println!("exact placement needs Vulkan, not {backend}"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn place(&self, bytes: u64, placement: Placement) -> Result<PlacedBuffer> {
        self.place_with(bytes, &PlaceOptions::new(placement))
            .map(|(buffer, _)| buffer)
    }

    /// Like [`Context::place`], trying `options.fallback` in order when a placement cannot
    /// serve; every skipped placement is returned with its reason.
    pub fn place_with(
        &self,
        bytes: u64,
        options: &PlaceOptions,
    ) -> Result<(PlacedBuffer, Vec<Fallback>)> {
        let mut skipped = Vec::new();
        let chain = std::iter::once(options.placement).chain(options.fallback.iter().copied());
        let mut last_error = None;
        for placement in chain {
            match self.place_exact(bytes, placement, options.priority) {
                Ok(buffer) => {
                    for s in &skipped {
                        let s: &Fallback = s;
                        log::warn!("placement {} skipped: {}", s.placement, s.reason);
                    }
                    return Ok((buffer, skipped));
                }
                Err(
                    e @ (Error::Placement(_)
                    | Error::OutOfMemory(_)
                    | Error::TooLarge { .. }
                    | Error::NeedsVulkan { .. }),
                ) => {
                    skipped.push(Fallback {
                        placement,
                        reason: e.to_string(),
                    });
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| Error::InvalidArgument("empty placement chain".into())))
    }

    fn place_exact(&self, bytes: u64, placement: Placement, priority: f32) -> Result<PlacedBuffer> {
        self.check_lost(&format!("placement `{placement}`"))?;
        if self.vulkan.is_err() && matches!(placement, Placement::Auto(_)) {
            return self.place_in_wgpu(bytes, placement);
        }
        let vk = self.vulkan(&format!("placement `{placement}`"))?;
        if bytes == 0 {
            return Err(Error::InvalidArgument("a placed buffer of 0 bytes".into()));
        }
        let size = bytes
            .checked_next_multiple_of(4)
            .ok_or_else(|| Error::InvalidArgument(format!("{bytes} bytes overflow")))?;
        let table = vk.memory_table();
        let choice = choose_memory_type(&table, placement, vk.storage_type_bits())?;
        let heap = table.heaps.get(choice.heap as usize).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "memory type {} names a missing heap",
                choice.memory_type
            ))
        })?;
        if size > heap.size {
            return Err(PolicyError::TooLarge {
                placement,
                bytes: size,
                memory_type: choice.memory_type,
                heap: choice.heap,
                heap_size: heap.size,
            }
            .into());
        }
        if let (Some(budget), Some(usage)) = (heap.budget, heap.usage) {
            let free = budget.saturating_sub(usage);
            if size > free {
                return Err(Error::OutOfMemory(format!(
                    "placement `{placement}`: {} requested, heap {} has {} of its {} budget free",
                    human_bytes(size),
                    choice.heap,
                    human_bytes(free),
                    human_bytes(budget)
                )));
            }
        }
        let allocation = vk
            .allocate(&AllocationRequest {
                size,
                memory_type: choice.memory_type,
                priority,
                label: Some("strata placed buffer"),
            })
            .map_err(|e| match e {
                strata_vk::VkError::OutOfMemory { .. } => Error::OutOfMemory(format!(
                    "placement `{placement}` (memory type {}): {e}",
                    choice.memory_type
                )),
                strata_vk::VkError::DeviceLost { call } => {
                    Error::DeviceLost(format!("placement `{placement}` ({call})"))
                }
                strata_vk::VkError::TooLarge { bytes, max } => Error::TooLarge {
                    what: format!("one allocation for placement `{placement}`"),
                    bytes,
                    limit_name: "maxMemoryAllocationSize",
                    limit: max,
                },
                other => Error::Vulkan(other),
            })?;
        Ok(PlacedBuffer {
            memory: Memory::Exact {
                allocation: Box::new(allocation),
                choice,
            },
            placement,
            bytes,
        })
    }

    /// `auto` off Vulkan: a plain wgpu storage buffer, wherever wgpu puts it.
    fn place_in_wgpu(&self, bytes: u64, placement: Placement) -> Result<PlacedBuffer> {
        let buffer =
            self.create_storage_buffer(bytes, &format!("strata placed buffer ({placement})"))?;
        Ok(PlacedBuffer {
            memory: Memory::Wgpu(buffer),
            placement,
            bytes,
        })
    }
}
