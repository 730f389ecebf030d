//! Buffers placed in an exact memory type.

use super::policy::{MemoryChoice, PolicyError, choose_memory_type};
use super::request::Placement;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::table::{MemoryFlags, human_bytes};
use serde::Serialize;
use strata_vk::{AllocationRequest, PlacedAllocation};

/// A storage buffer in one exact Vulkan memory type: an ordinary [`wgpu::Buffer`] (usages
/// STORAGE | COPY_SRC | COPY_DST) that any wgpu pipeline can bind, plus where it lives.
///
/// Dropping it releases the memory once the GPU is done with the buffer.
#[derive(Debug)]
pub struct PlacedBuffer {
    allocation: PlacedAllocation,
    choice: MemoryChoice,
    bytes: u64,
}

/// Where a placed buffer lives, as reported in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlacementInfo {
    /// The placement asked for (after any fallback: the one that served).
    pub placement: Placement,
    /// The memory type index.
    pub memory_type: u32,
    /// Its heap.
    pub heap: u32,
    /// Its flags.
    pub flags: MemoryFlags,
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
    /// The wgpu buffer.
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.allocation.buffer()
    }

    /// Bytes asked for (the buffer may be a few bytes larger, rounded up to 4).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The placement that served this buffer.
    pub fn placement(&self) -> Placement {
        self.choice.placement
    }

    /// The exact memory type index.
    pub fn memory_type(&self) -> u32 {
        self.choice.memory_type
    }

    /// The heap of that type.
    pub fn heap(&self) -> u32 {
        self.choice.heap
    }

    /// The memory type's flags.
    pub fn flags(&self) -> MemoryFlags {
        self.choice.flags
    }

    /// How the CPU writes this buffer.
    pub fn upload_path(&self) -> UploadPath {
        if self.allocation.mapping().is_some() {
            UploadPath::Mapped
        } else {
            UploadPath::Staging
        }
    }

    /// Everything about where the buffer lives.
    pub fn info(&self) -> PlacementInfo {
        PlacementInfo {
            placement: self.choice.placement,
            memory_type: self.choice.memory_type,
            heap: self.choice.heap,
            flags: self.choice.flags,
            bytes: self.bytes,
            dedicated: self.allocation.is_dedicated(),
            upload_path: self.upload_path(),
        }
    }

    pub(crate) fn mapping(&self) -> Option<&strata_vk::MappedMemory> {
        self.allocation.mapping()
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
                Err(e @ (Error::Placement(_) | Error::OutOfMemory(_) | Error::TooLarge { .. })) => {
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
            Error::InvalidArgument(format!("memory type {} names a missing heap", choice.memory_type))
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
                strata_vk::VkError::TooLarge { bytes, max } => Error::TooLarge {
                    what: format!("one allocation for placement `{placement}`"),
                    bytes,
                    limit_name: "maxMemoryAllocationSize",
                    limit: max,
                },
                other => Error::Vulkan(other),
            })?;
        Ok(PlacedBuffer {
            allocation,
            choice,
            bytes,
        })
    }
}
