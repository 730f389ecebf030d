//! The memory table of a Vulkan device: heaps and memory types, as plain data.
//!
//! It serialises to the `memory` object of `strata info --json`, so a table read from one
//! machine can be saved and planned against on another.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Vulkan memory property flags (`VkMemoryPropertyFlagBits`), named as the spec names them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MemoryFlags(u32);

/// Vulkan memory heap flags (`VkMemoryHeapFlagBits`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct HeapFlags(u32);

const MEMORY_FLAG_NAMES: &[(u32, &str)] = &[
    (0x1, "DEVICE_LOCAL"),
    (0x2, "HOST_VISIBLE"),
    (0x4, "HOST_COHERENT"),
    (0x8, "HOST_CACHED"),
    (0x10, "LAZILY_ALLOCATED"),
    (0x20, "PROTECTED"),
    (0x40, "DEVICE_COHERENT_AMD"),
    (0x80, "DEVICE_UNCACHED_AMD"),
    (0x100, "RDMA_CAPABLE_NV"),
];

const HEAP_FLAG_NAMES: &[(u32, &str)] = &[(0x1, "DEVICE_LOCAL"), (0x2, "MULTI_INSTANCE")];

macro_rules! vulkan_flags {
    ($ty:ident, $names:ident, $what:literal) => {
        impl $ty {
            /// No flag set.
            pub const NONE: Self = Self(0);

            /// The flags from their raw Vulkan bits.
            pub const fn from_bits(bits: u32) -> Self {
                Self(bits)
            }

            /// The raw Vulkan bits.
            pub const fn bits(self) -> u32 {
                self.0
            }

            /// Every flag of `other` is set here.
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }

            /// At least one flag of `other` is set here.
            pub const fn intersects(self, other: Self) -> bool {
                self.0 & other.0 != 0
            }

            /// The union of both sets.
            #[must_use]
            pub const fn union(self, other: Self) -> Self {
                Self(self.0 | other.0)
            }

            /// The flags of `self` that are also in `other`.
            #[must_use]
            pub const fn intersection(self, other: Self) -> Self {
                Self(self.0 & other.0)
            }

            /// Number of flags set.
            pub const fn count(self) -> u32 {
                self.0.count_ones()
            }

            /// The Vulkan names of the flags set, in bit order; unknown bits as `0x..`.
            pub fn names(self) -> Vec<String> {
                let mut out = Vec::new();
                let mut rest = self.0;
                for &(bit, name) in $names {
                    if self.0 & bit != 0 {
                        out.push(name.to_string());
                        rest &= !bit;
                    }
                }
                if rest != 0 {
                    out.push(format!("0x{rest:x}"));
                }
                out
            }

            /// Parses one Vulkan flag name (`DEVICE_LOCAL`, also with the `VK_MEMORY_PROPERTY_` /
            /// `VK_MEMORY_HEAP_` prefix or `_BIT` suffix) or a hex value `0x..`.
            pub fn parse_name(name: &str) -> Result<Self, UnknownFlag> {
                let trimmed = name.trim();
                let short = trimmed
                    .trim_start_matches("VK_MEMORY_PROPERTY_")
                    .trim_start_matches("VK_MEMORY_HEAP_")
                    .trim_end_matches("_BIT");
                if let Some(hex) = short.strip_prefix("0x") {
                    return u32::from_str_radix(hex, 16)
                        .map(Self)
                        .map_err(|_| UnknownFlag {
                            kind: $what,
                            name: trimmed.to_string(),
                        });
                }
                $names
                    .iter()
                    .find(|(_, n)| n.eq_ignore_ascii_case(short))
                    .map(|&(bit, _)| Self(bit))
                    .ok_or_else(|| UnknownFlag {
                        kind: $what,
                        name: trimmed.to_string(),
                    })
            }
        }

        impl std::ops::BitOr for $ty {
            type Output = Self;
            fn bitor(self, rhs: Self) -> Self {
                self.union(rhs)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let names = self.names();
                if names.is_empty() {
                    f.write_str("(none)")
                } else {
                    f.write_str(&names.join(" | "))
                }
            }
        }

        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.names().serialize(s)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let names = Vec::<String>::deserialize(d)?;
                let mut flags = Self::NONE;
                for name in &names {
                    flags = flags | Self::parse_name(name).map_err(serde::de::Error::custom)?;
                }
                Ok(flags)
            }
        }
    };
}

vulkan_flags!(MemoryFlags, MEMORY_FLAG_NAMES, "memory property");
vulkan_flags!(HeapFlags, HEAP_FLAG_NAMES, "memory heap");

impl MemoryFlags {
    /// `VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT`
    pub const DEVICE_LOCAL: Self = Self(0x1);
    /// `VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT`
    pub const HOST_VISIBLE: Self = Self(0x2);
    /// `VK_MEMORY_PROPERTY_HOST_COHERENT_BIT`
    pub const HOST_COHERENT: Self = Self(0x4);
    /// `VK_MEMORY_PROPERTY_HOST_CACHED_BIT`
    pub const HOST_CACHED: Self = Self(0x8);
    /// `VK_MEMORY_PROPERTY_LAZILY_ALLOCATED_BIT`
    pub const LAZILY_ALLOCATED: Self = Self(0x10);
    /// `VK_MEMORY_PROPERTY_PROTECTED_BIT`
    pub const PROTECTED: Self = Self(0x20);
    /// `VK_MEMORY_PROPERTY_DEVICE_COHERENT_BIT_AMD`
    pub const DEVICE_COHERENT_AMD: Self = Self(0x40);
    /// `VK_MEMORY_PROPERTY_DEVICE_UNCACHED_BIT_AMD`
    pub const DEVICE_UNCACHED_AMD: Self = Self(0x80);
}

impl HeapFlags {
    /// `VK_MEMORY_HEAP_DEVICE_LOCAL_BIT`
    pub const DEVICE_LOCAL: Self = Self(0x1);
    /// `VK_MEMORY_HEAP_MULTI_INSTANCE_BIT`
    pub const MULTI_INSTANCE: Self = Self(0x2);
}

/// A flag name that is not a Vulkan flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} flag `{name}`")]
pub struct UnknownFlag {
    kind: &'static str,
    name: String,
}

/// One memory heap (`VkMemoryHeap`), with budget and usage from `VK_EXT_memory_budget` when the
/// device reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryHeap {
    /// Heap index.
    pub index: u32,
    /// Heap size in bytes.
    pub size: u64,
    /// Heap flags.
    pub flags: HeapFlags,
    /// Bytes this process may use (`heapBudget`), or `None` without `VK_EXT_memory_budget`.
    #[serde(default)]
    pub budget: Option<u64>,
    /// Bytes in use by this process (`heapUsage`), or `None` without `VK_EXT_memory_budget`.
    #[serde(default)]
    pub usage: Option<u64>,
}

/// One memory type (`VkMemoryType`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryType {
    /// Memory type index: what `vkAllocateMemory` takes.
    pub index: u32,
    /// Index of the heap this type allocates from.
    pub heap: u32,
    /// Property flags.
    pub flags: MemoryFlags,
}

/// A device's heaps and memory types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryTable {
    /// Heaps, in index order.
    pub heaps: Vec<MemoryHeap>,
    /// Memory types, in index order.
    pub types: Vec<MemoryType>,
}

/// A memory table that contradicts itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// The JSON could not be parsed as a memory table.
    #[error("not a memory table: {0}")]
    Json(String),
    /// An index does not match its position.
    #[error(
        "{what} at position {position} has index {index}; indices must be 0, 1, 2, ... in order"
    )]
    IndexOrder {
        /// `heap` or `memory type`.
        what: &'static str,
        /// Its position in the list.
        position: usize,
        /// Its stated index.
        index: u32,
    },
    /// A memory type names a heap that does not exist.
    #[error("memory type {ty} names heap {heap}, but the table has {heaps} heap(s)")]
    MissingHeap {
        /// The memory type.
        ty: u32,
        /// The heap it names.
        heap: u32,
        /// How many heaps there are.
        heaps: usize,
    },
    /// More heaps or types than Vulkan allows (16 heaps, 32 types).
    #[error("{what}: {count} given, Vulkan allows at most {max}")]
    TooMany {
        /// `heaps` or `memory types`.
        what: &'static str,
        /// How many were given.
        count: usize,
        /// The Vulkan maximum.
        max: usize,
    },
}

impl MemoryTable {
    /// Checks that indices are in order and that every type names a real heap.
    pub fn validate(&self) -> Result<(), TableError> {
        if self.heaps.len() > 16 {
            return Err(TableError::TooMany {
                what: "heaps",
                count: self.heaps.len(),
                max: 16,
            });
        }
        if self.types.len() > 32 {
            return Err(TableError::TooMany {
                what: "memory types",
                count: self.types.len(),
                max: 32,
            });
        }
        for (position, heap) in self.heaps.iter().enumerate() {
            if heap.index as usize != position {
                return Err(TableError::IndexOrder {
                    what: "heap",
                    position,
                    index: heap.index,
                });
            }
        }
        for (position, ty) in self.types.iter().enumerate() {
            if ty.index as usize != position {
                return Err(TableError::IndexOrder {
                    what: "memory type",
                    position,
                    index: ty.index,
                });
            }
            if ty.heap as usize >= self.heaps.len() {
                return Err(TableError::MissingHeap {
                    ty: ty.index,
                    heap: ty.heap,
                    heaps: self.heaps.len(),
                });
            }
        }
        Ok(())
    }

    /// Parses and validates a table from JSON: either the `memory` object of `strata info --json`
    /// or a whole `strata info --json` document (the first adapter with a memory table is used).
    pub fn from_json(text: &str) -> Result<Self, TableError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| TableError::Json(e.to_string()))?;
        let memory = if let Some(adapters) = value.get("adapters").and_then(|a| a.as_array()) {
            adapters
                .iter()
                .find_map(|a| a.get("memory").filter(|m| !m.is_null()))
                .cloned()
                .ok_or_else(|| {
                    TableError::Json("no adapter in this document has a memory table".into())
                })?
        } else if let Some(memory) = value.get("memory") {
            memory.clone()
        } else {
            value
        };
        let table: MemoryTable =
            serde_json::from_value(memory).map_err(|e| TableError::Json(e.to_string()))?;
        table.validate()?;
        Ok(table)
    }

    /// The heap a memory type allocates from.
    pub fn heap_of(&self, type_index: u32) -> Option<&MemoryHeap> {
        let ty = self.types.get(type_index as usize)?;
        self.heaps.get(ty.heap as usize)
    }

    /// `true` when the device reports budgets (`VK_EXT_memory_budget`).
    pub fn has_budget(&self) -> bool {
        self.heaps.iter().all(|h| h.budget.is_some())
    }
}

impl fmt::Display for MemoryTable {
    /// A vulkaninfo-like listing of heaps and types.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for heap in &self.heaps {
            write!(
                f,
                "heap {}: {} flags {}",
                heap.index,
                human_bytes(heap.size),
                heap.flags
            )?;
            match (heap.budget, heap.usage) {
                (Some(b), Some(u)) => {
                    writeln!(f, "  budget {}  usage {}", human_bytes(b), human_bytes(u))?
                }
                _ => writeln!(f, "  budget n/a")?,
            }
        }
        for ty in &self.types {
            writeln!(f, "type {}: heap {} flags {}", ty.index, ty.heap, ty.flags)?;
        }
        Ok(())
    }
}

/// Formats bytes with a binary unit (`1.50 GiB`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_through_json() {
        let flags = MemoryFlags::DEVICE_LOCAL | MemoryFlags::HOST_VISIBLE;
        let json = serde_json::to_string(&flags).unwrap();
        assert_eq!(json, r#"["DEVICE_LOCAL","HOST_VISIBLE"]"#);
        let back: MemoryFlags = serde_json::from_str(&json).unwrap();
        assert_eq!(back, flags);
        let prefixed: MemoryFlags =
            serde_json::from_str(r#"["VK_MEMORY_PROPERTY_HOST_CACHED_BIT"]"#).unwrap();
        assert_eq!(prefixed, MemoryFlags::HOST_CACHED);
    }

    #[test]
    fn unknown_flag_is_an_error() {
        let err = serde_json::from_str::<MemoryFlags>(r#"["FAST"]"#).unwrap_err();
        assert!(err.to_string().contains("FAST"), "{err}");
    }

    #[test]
    fn table_validation_catches_bad_heap() {
        let table = MemoryTable {
            heaps: vec![MemoryHeap {
                index: 0,
                size: 1 << 30,
                flags: HeapFlags::DEVICE_LOCAL,
                budget: None,
                usage: None,
            }],
            types: vec![MemoryType {
                index: 0,
                heap: 1,
                flags: MemoryFlags::DEVICE_LOCAL,
            }],
        };
        assert!(matches!(
            table.validate(),
            Err(TableError::MissingHeap { .. })
        ));
    }

    #[test]
    fn human_bytes_uses_binary_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 << 29), "1.50 GiB");
    }
}
