//! Tensors placed as one or more buffers (split by the rule in [`super::split`]).

use super::placed_buffer::{Fallback, PlaceOptions, PlacedBuffer};
use super::policy::{PolicyError, choose_for_size};
use super::split::{PartLimit, split_into_parts};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::recording::Operand;

/// A tensor's bytes in one placement, as one buffer or several row-aligned parts.
#[derive(Debug)]
pub struct PlacedTensor {
    parts: Vec<PlacedBuffer>,
    row_bytes: u64,
    bytes: u64,
}

impl PlacedTensor {
    /// The parts, in order; each holds whole rows.
    pub fn parts(&self) -> &[PlacedBuffer] {
        &self.parts
    }

    /// Total bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Bytes of one row (the split granularity).
    pub fn row_bytes(&self) -> u64 {
        self.row_bytes
    }

    /// The first part (where placement, memory type and heap are read).
    pub fn first(&self) -> &PlacedBuffer {
        // A PlacedTensor is only built with at least one part.
        &self.parts[0]
    }

    /// Each part as a kernel operand covering exactly its bytes (rounded up to 4).
    pub fn operands(&self) -> Vec<Operand<'_>> {
        self.parts
            .iter()
            .map(|p| Operand {
                buffer: p.buffer(),
                offset: 0,
                size: p.buffer().size(),
            })
            .collect()
    }
}

impl Context {
    /// The largest part a tensor may be placed as on this device (see
    /// [`split_into_parts`](super::split_into_parts)).
    pub fn part_limit(&self) -> PartLimit {
        let limits = self.limits();
        let mut caps = vec![
            (
                limits.max_storage_buffer_binding_size,
                "max_storage_buffer_binding_size",
            ),
            (limits.max_buffer_size, "max_buffer_size"),
        ];
        if let Ok(vk) = self.vulkan("part limit") {
            caps.push((vk.limits().max_allocation_size, "maxMemoryAllocationSize"));
        }
        PartLimit::smallest(&caps)
    }

    /// Places a tensor of `bytes` made of rows of `row_bytes`, split into parts no larger than
    /// [`Context::part_limit`]. All parts share one placement (the first of `options`' chain
    /// that serves the first part). On any error every part placed so far is released.
    pub fn place_tensor(
        &self,
        bytes: u64,
        row_bytes: u64,
        options: &PlaceOptions,
    ) -> Result<(PlacedTensor, Vec<Fallback>)> {
        self.check_fits_heap(bytes, options)?;
        let sizes = split_into_parts(bytes, row_bytes, self.part_limit(), "tensor")?;
        let mut sizes = sizes.into_iter();
        let first_size = sizes
            .next()
            .ok_or_else(|| Error::InvalidArgument("a tensor with no parts".into()))?;
        let (first, fallbacks) = self.place_with(first_size, options)?;
        // Every part goes where the first went, so the whole tensor must fit that heap. Each
        // part is only checked on its own; without this, a tensor larger than its heap would be
        // refused only by a driver that enforces heap sizes (lavapipe does not).
        if let (Some(memory_type), Some(heap)) = (first.memory_type(), first.heap()) {
            let table = self.vulkan("placing a tensor")?.memory_table();
            let heap_size = table.heaps.get(heap as usize).map_or(0, |h| h.size);
            if bytes > heap_size {
                return Err(PolicyError::TooLarge {
                    placement: first.placement(),
                    bytes,
                    memory_type,
                    heap,
                    heap_size,
                }
                .into());
            }
        }
        let served = PlaceOptions {
            placement: first.placement(),
            fallback: Vec::new(),
            ..options.clone()
        };
        let mut parts = vec![first];
        for size in sizes {
            parts.push(self.place_with(size, &served)?.0);
        }
        Ok((
            PlacedTensor {
                parts,
                row_bytes,
                bytes,
            },
            fallbacks,
        ))
    }

    /// Refuses a tensor larger than the heap of the first placement of `options` that this
    /// device serves: its parts could each fit, but never all of them.
    fn check_fits_heap(&self, bytes: u64, options: &PlaceOptions) -> Result<()> {
        let Ok(vk) = self.vulkan("placement") else {
            return Ok(());
        };
        let table = vk.memory_table();
        let chain = std::iter::once(options.placement).chain(options.fallback.iter().copied());
        let mut last = None;
        for placement in chain {
            match choose_for_size(&table, placement, vk.storage_type_bits(), bytes) {
                Ok(_) => return Ok(()),
                Err(e @ PolicyError::TooLarge { .. }) => last = Some(e),
                // Unavailable placements are reported by the placement itself.
                Err(PolicyError::Unavailable { .. }) => {}
            }
        }
        match last {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// Writes a whole tensor's bytes, part by part.
    pub fn write_tensor(&self, tensor: &PlacedTensor, data: &[u8]) -> Result<()> {
        if data.len() as u64 != tensor.bytes {
            return Err(Error::Shape(format!(
                "{} bytes given for a tensor of {} bytes",
                data.len(),
                tensor.bytes
            )));
        }
        let mut at = 0usize;
        for part in &tensor.parts {
            let n = part.bytes() as usize;
            self.write_placed(part, 0, &data[at..at + n])?;
            at += n;
        }
        Ok(())
    }

    /// Reads a whole tensor back.
    pub fn read_tensor(&self, tensor: &PlacedTensor) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(tensor.bytes as usize);
        for part in &tensor.parts {
            out.extend(self.read_placed(part, 0, part.bytes())?);
        }
        Ok(out)
    }
}
