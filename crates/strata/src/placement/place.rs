//! Placing a buffer: the policy's memory type for a placement, checked against the heap and
//! its budget, allocated by `strata-vk` (or, for `auto` off Vulkan, a plain wgpu buffer).

use super::placed_buffer::{Fallback, PlaceOptions, PlacedBuffer};
use super::policy::{PolicyError, choose_memory_type};
use super::request::Placement;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::table::human_bytes;
use strata_vk::AllocationRequest;

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
    ///     Ok(gtt) => println!("host: memory type {:?}", gtt.memory_type()),
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
            match self.place_exact(bytes, placement, options) {
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

    fn place_exact(
        &self,
        bytes: u64,
        placement: Placement,
        options: &PlaceOptions,
    ) -> Result<PlacedBuffer> {
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
                priority: options.priority,
                label: Some("strata placed buffer"),
                host_memory: options.host_memory,
            })
            .map_err(|e| {
                Error::from(e).context(&format!(
                    "placement `{placement}` (memory type {})",
                    choice.memory_type
                ))
            })?;
        Ok(PlacedBuffer::exact(allocation, choice, placement, bytes))
    }

    /// `auto` off Vulkan: a plain wgpu storage buffer, wherever wgpu puts it.
    fn place_in_wgpu(&self, bytes: u64, placement: Placement) -> Result<PlacedBuffer> {
        let buffer =
            self.create_storage_buffer(bytes, &format!("strata placed buffer ({placement})"))?;
        Ok(PlacedBuffer::wgpu(buffer, placement, bytes))
    }
}
