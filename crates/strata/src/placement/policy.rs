//! The placement policy: a pure function from a memory table and a request to one memory type.
//!
//! Tie-break rule, applied in order among the types that pass (required flags present, no
//! forbidden flag, allowed by the buffer's `memoryTypeBits`):
//! 1. fewest avoided flags;
//! 2. most preferred flags (only `auto` prefers anything);
//! 3. largest heap;
//! 4. lowest memory type index.
//!
//! The rule is total and deterministic: the same table and request always give the same type.

use super::request::{Placement, UNUSABLE};
use crate::table::{MemoryFlags, MemoryTable, MemoryType, human_bytes};

/// The memory type a request resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryChoice {
    /// The placement that was asked for.
    pub placement: Placement,
    /// The chosen memory type index.
    pub memory_type: u32,
    /// The heap that type allocates from.
    pub heap: u32,
    /// The chosen type's flags.
    pub flags: MemoryFlags,
}

/// Why a placement cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// No memory type of this device satisfies the placement's flags.
    #[error("placement `{placement}` is not available on this device: {reason}\n{table}")]
    Unavailable {
        /// The request.
        placement: Placement,
        /// Which rule failed.
        reason: String,
        /// The device's table, printed.
        table: String,
    },
    /// The request can never fit: it is larger than the whole heap of the memory type chosen
    /// for the placement (the choice does not depend on the size; see [`choose_for_size`]).
    #[error(
        "placement `{placement}`: {} does not fit in memory type {memory_type}'s heap {heap} of {} (too large for this device, not a momentary shortage)",
        human_bytes(*bytes), human_bytes(*heap_size)
    )]
    TooLarge {
        /// The request.
        placement: Placement,
        /// Bytes asked for.
        bytes: u64,
        /// The type that would have served it.
        memory_type: u32,
        /// Its heap.
        heap: u32,
        /// The heap's size.
        heap_size: u64,
    },
}

/// Picks the memory type for `placement`, among the types allowed by `allowed_type_bits`
/// (a buffer's `memoryTypeBits`; pass `u32::MAX` when planning without a buffer).
pub fn choose_memory_type(
    table: &MemoryTable,
    placement: Placement,
    allowed_type_bits: u32,
) -> Result<MemoryChoice, PolicyError> {
    let unavailable = |reason: String| PolicyError::Unavailable {
        placement,
        reason,
        table: table.to_string(),
    };
    let allowed = |ty: &MemoryType| ty.index < 32 && allowed_type_bits & (1 << ty.index) != 0;
    let heap_size = |ty: &MemoryType| table.heaps.get(ty.heap as usize).map_or(0, |h| h.size);

    if let Placement::Type(index) = placement {
        let ty = table.types.get(index as usize).ok_or_else(|| {
            unavailable(format!(
                "memory type {index} does not exist (the device has {} type(s))",
                table.types.len()
            ))
        })?;
        if !allowed(ty) {
            return Err(unavailable(format!(
                "memory type {index} is not allowed for this buffer (memoryTypeBits 0b{allowed_type_bits:b})"
            )));
        }
        if ty.flags.intersects(UNUSABLE) {
            return Err(unavailable(format!(
                "memory type {index} has flags {} that compute buffers cannot use",
                ty.flags.intersection(UNUSABLE)
            )));
        }
        return Ok(choice(placement, ty));
    }
    let Some(rule) = placement.rule() else {
        return Err(unavailable("this placement has no flag rule".into()));
    };

    let best = table
        .types
        .iter()
        .filter(|ty| allowed(ty))
        .filter(|ty| ty.flags.contains(rule.required) && !ty.flags.intersects(rule.forbidden))
        .min_by_key(|ty| {
            (
                ty.flags.intersection(rule.avoided).count(),
                std::cmp::Reverse(ty.flags.intersection(rule.preferred).count()),
                std::cmp::Reverse(heap_size(ty)),
                ty.index,
            )
        });
    match best {
        Some(ty) => Ok(choice(placement, ty)),
        None => {
            let mut reason = format!("no memory type has {}", rule.required);
            if rule.forbidden != UNUSABLE {
                reason.push_str(&format!(
                    " without {}",
                    rule.forbidden
                        .intersection(MemoryFlags::from_bits(!UNUSABLE.bits()))
                ));
            }
            if allowed_type_bits != u32::MAX {
                reason.push_str(&format!(
                    " among the types this buffer allows (memoryTypeBits 0b{allowed_type_bits:b})"
                ));
            }
            Err(unavailable(reason))
        }
    }
}

/// Like [`choose_memory_type`], then refuses a request larger than the chosen type's heap.
pub fn choose_for_size(
    table: &MemoryTable,
    placement: Placement,
    allowed_type_bits: u32,
    bytes: u64,
) -> Result<MemoryChoice, PolicyError> {
    let choice = choose_memory_type(table, placement, allowed_type_bits)?;
    let heap_size = table.heaps.get(choice.heap as usize).map_or(0, |h| h.size);
    if bytes > heap_size {
        return Err(PolicyError::TooLarge {
            placement,
            bytes,
            memory_type: choice.memory_type,
            heap: choice.heap,
            heap_size,
        });
    }
    Ok(choice)
}

/// The named placements a memory type would be chosen for on this table.
pub fn placements_served_by(table: &MemoryTable, type_index: u32) -> Vec<Placement> {
    Placement::NAMED
        .into_iter()
        .filter(|&p| {
            choose_memory_type(table, p, u32::MAX).is_ok_and(|c| c.memory_type == type_index)
        })
        .collect()
}

fn choice(placement: Placement, ty: &MemoryType) -> MemoryChoice {
    MemoryChoice {
        placement,
        memory_type: ty.index,
        heap: ty.heap,
        flags: ty.flags,
    }
}
