//! What placement can do on a context's device, and what it lacks.
//!
//! Exact placement needs a Vulkan device and nothing else: any Vulkan device, also one the
//! application created, can have buffers allocated in an exact memory type. Two extensions make
//! it better: `VK_EXT_memory_budget` (free memory per heap, so requests are checked before they
//! are made and placements can be proved) and `VK_EXT_memory_priority` (a priority on dedicated
//! allocations, so critical weights are the last to be paged out). wgpu enables the first by
//! itself when the driver has it; only a device Strata creates has the second.

use crate::adapter::backend_name;
use crate::context::Context;
use crate::error::{Error, Result};
use serde::Serialize;
use std::fmt;

/// What a device gives placement; see [`Context::placement_support`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlacementSupport {
    /// The backend the device runs on (`vulkan`, `metal`, `dx12`, `gl`).
    pub backend: String,
    /// Exact placement is possible (a Vulkan device): every placement of the vocabulary. Without
    /// it only `auto` works, as a plain wgpu buffer.
    pub vulkan: bool,
    /// `VK_EXT_memory_budget` is enabled: requests are checked against each heap's free budget
    /// and placements can be verified.
    pub memory_budget: bool,
    /// `VK_EXT_memory_priority` is enabled: dedicated allocations carry a priority.
    pub memory_priority: bool,
    /// `VK_EXT_external_memory_host` is enabled: host-visible buffers can be bound to host pages
    /// Strata faults in on every core, which the driver imports ([`crate::HostMemory`]).
    pub host_import: bool,
    /// Strata created the device (and so chose its extensions).
    pub created_by_strata: bool,
    /// One line per missing capability: what it costs and how to get it.
    pub missing: Vec<String>,
}

/// A capability [`PlacementSupport::require`] can insist on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlacementFeature {
    /// Exact placement: a Vulkan device.
    Exact,
    /// `VK_EXT_memory_budget`.
    MemoryBudget,
    /// `VK_EXT_memory_priority`.
    MemoryPriority,
    /// `VK_EXT_external_memory_host`.
    HostImport,
}

/// The way to a device with every extension, for messages.
const LET_STRATA_CREATE: &str = "let Strata create the device (`Context::new()`) and hand \
`ctx.device()` and `ctx.queue()` to the application";

impl PlacementSupport {
    /// `true` when nothing is missing.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }

    /// `Ok` when the device has `feature`; otherwise [`Error::NeedsVulkan`] (for
    /// [`PlacementFeature::Exact`]) or [`Error::DeviceLacks`] saying how to get it.
    ///
    /// ```
    /// use strata::placement::PlacementFeature;
    /// let ctx = strata::Context::new()?;
    /// if let Err(e) = ctx.placement_support().require(PlacementFeature::MemoryPriority) {
    ///     eprintln!("priorities will be ignored: {e}");
    /// }
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn require(&self, feature: PlacementFeature) -> Result<()> {
        if !self.vulkan {
            return Err(Error::NeedsVulkan {
                what: match feature {
                    PlacementFeature::Exact => "exact placement".into(),
                    PlacementFeature::MemoryBudget => "VK_EXT_memory_budget".into(),
                    PlacementFeature::MemoryPriority => "VK_EXT_memory_priority".into(),
                    PlacementFeature::HostImport => "VK_EXT_external_memory_host".into(),
                },
                backend: self.backend.clone(),
            });
        }
        let (present, extension) = match feature {
            PlacementFeature::Exact => (true, ""),
            PlacementFeature::MemoryBudget => (self.memory_budget, "VK_EXT_memory_budget"),
            PlacementFeature::MemoryPriority => (self.memory_priority, "VK_EXT_memory_priority"),
            PlacementFeature::HostImport => (self.host_import, "VK_EXT_external_memory_host"),
        };
        if present {
            return Ok(());
        }
        let reason = self
            .missing
            .iter()
            .find_map(|line| line.strip_prefix(extension)?.strip_prefix(": "))
            .map(str::to_string)
            .unwrap_or_else(|| format!("{extension} is not enabled on this device"));
        Err(Error::DeviceLacks {
            what: extension.to_string(),
            reason,
        })
    }
}

impl fmt::Display for PlacementSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        writeln!(
            f,
            "placement support on {}: exact placement {}, memory budget {}, memory priority {}, host import {}, device created by {}",
            self.backend,
            yes_no(self.vulkan),
            yes_no(self.memory_budget),
            yes_no(self.memory_priority),
            yes_no(self.host_import),
            if self.created_by_strata {
                "Strata"
            } else {
                "the application"
            }
        )?;
        for line in &self.missing {
            writeln!(f, "  missing: {line}")?;
        }
        Ok(())
    }
}

impl Context {
    /// What placement can do on this device and what it lacks, with the way round for each
    /// missing piece.
    ///
    /// ```
    /// let ctx = strata::Context::new()?;
    /// let support = ctx.placement_support();
    /// print!("{support}");
    /// assert_eq!(support.created_by_strata, true);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn placement_support(&self) -> PlacementSupport {
        let backend = backend_name(self.adapter_info().backend).to_string();
        let created_by_strata = self.created_by_strata;
        let Ok(vk) = self.vulkan.as_ref() else {
            return PlacementSupport {
                missing: vec![format!(
                    "exact placement: this device runs on {backend}, not Vulkan, so only `auto` \
                     placement works (a plain wgpu buffer); `vram`, `vram-mapped`, `host`, \
                     `host-cached` and `type=N` need a Vulkan adapter (e.g. `WGPU_BACKEND=vulkan`)"
                )],
                backend,
                vulkan: false,
                memory_budget: false,
                memory_priority: false,
                host_import: false,
                created_by_strata,
            };
        };
        let offered = crate::adapter::memory_extensions(&self.adapter).unwrap_or_default();
        let driver_has = |name: &str| offered.iter().any(|&(n, present)| n == name && present);
        let how = |name: &str| {
            if !driver_has(name) {
                "the driver does not offer it".to_string()
            } else if created_by_strata {
                "the driver offers it but enabling it failed (see the log)".to_string()
            } else {
                format!(
                    "the driver offers it but this device was created without it; {LET_STRATA_CREATE}"
                )
            }
        };
        let mut missing = Vec::new();
        if !vk.has_memory_budget() {
            missing.push(format!(
                "VK_EXT_memory_budget: heap budgets are unknown, so requests are not checked \
                 against free memory and placements are `unverifiable`; {}",
                how("VK_EXT_memory_budget")
            ));
        }
        if !vk.has_memory_priority() {
            missing.push(format!(
                "VK_EXT_memory_priority: allocation priorities are ignored; {}",
                how("VK_EXT_memory_priority")
            ));
        }
        if !vk.can_import_host_memory() {
            missing.push(format!(
                "VK_EXT_external_memory_host: host-visible buffers get the driver's own pages, \
                 which some drivers fill slowly (NVIDIA's at 2.7 GB/s); {}",
                how("VK_EXT_external_memory_host")
            ));
        }
        PlacementSupport {
            backend,
            vulkan: true,
            memory_budget: vk.has_memory_budget(),
            memory_priority: vk.has_memory_priority(),
            host_import: vk.can_import_host_memory(),
            created_by_strata,
            missing,
        }
    }
}
