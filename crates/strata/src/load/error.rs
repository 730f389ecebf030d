//! Why a load failed. Every error names the tensor (and the model file) it concerns.

use crate::error::Error;
use crate::placement::Placement;
use crate::table::human_bytes;
use std::path::PathBuf;

/// Why a model could not be loaded.
///
/// Errors found by the checks before anything is allocated (the plan against the model, the
/// plan against this device's live memory table) and errors while loading are both reported
/// here; in every case nothing stays allocated: the buffers placed so far are released.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The plan names a tensor that the model does not have.
    #[error("{model}: the plan names tensor `{tensor}`, which this model does not have", model = model.display())]
    NotInModel {
        /// The model's path.
        model: PathBuf,
        /// The tensor.
        tensor: String,
    },

    /// The plan describes a tensor differently from the model file (another plan's model).
    #[error(
        "{model}: tensor `{tensor}` is {actual} in the model but {planned} in the plan (was the plan made for another model?)",
        model = model.display()
    )]
    PlanDisagrees {
        /// The model's path.
        model: PathBuf,
        /// The tensor.
        tensor: String,
        /// What the plan says: dtype, shape and bytes.
        planned: String,
        /// What the model says.
        actual: String,
    },

    /// A planned placement resolves to another memory type on this device than in the plan
    /// (a plan made for another device's table), or cannot be served at all.
    #[error(
        "tensor `{tensor}`: the plan puts it in {placement} = memory type {planned_type} (heap {planned_heap}), but on this device {placement} {live} (plan for this device, e.g. with `Context::plan_for`)"
    )]
    WrongDevice {
        /// The first tensor with this placement.
        tensor: String,
        /// Its planned placement.
        placement: Placement,
        /// The memory type in the plan.
        planned_type: u32,
        /// The heap in the plan.
        planned_heap: u32,
        /// What this device does with the placement: `is memory type 0 (heap 0)` or why it
        /// cannot serve it.
        live: String,
    },

    /// The plan puts more bytes on a heap than this device has free there right now.
    #[error(
        "heap {heap}: the plan puts {} there, but this device has only {} free on it now ({}); plan again for the memory free now",
        human_bytes(*planned), human_bytes(*free), source_of_free
    )]
    OverBudget {
        /// The heap.
        heap: u32,
        /// Bytes the plan puts on it.
        planned: u64,
        /// Bytes free on it now.
        free: u64,
        /// Where `free` comes from (budget less usage, or the heap size).
        source_of_free: String,
    },

    /// A tensor cannot be placed as the engine's parts (a row over the part limit) or its
    /// allocation failed.
    #[error("{model}: tensor `{tensor}` ({}) in {placement}: {source}", human_bytes(*bytes), model = model.display())]
    Place {
        /// The model's path.
        model: PathBuf,
        /// The tensor.
        tensor: String,
        /// Its size.
        bytes: u64,
        /// The placement asked for.
        placement: Placement,
        /// The engine's error.
        source: Box<Error>,
    },

    /// The engine served a tensor from another memory type than the plan's.
    #[error(
        "tensor `{tensor}`: planned for memory type {planned} ({placement}) but served from {}",
        served.map_or("memory wgpu chose".into(), |t| format!("memory type {t}"))
    )]
    ServedElsewhere {
        /// The tensor.
        tensor: String,
        /// Its placement.
        placement: Placement,
        /// The memory type in the plan.
        planned: u32,
        /// The memory type that served it (`None`: a plain wgpu buffer, memory wgpu chose).
        served: Option<u32>,
    },

    /// Writing a tensor's bytes, or reading them back to verify them, failed.
    #[error("{model}: tensor `{tensor}`: {during}: {source}", model = model.display())]
    Transfer {
        /// The model's path.
        model: PathBuf,
        /// The tensor.
        tensor: String,
        /// `uploading` or `reading back`.
        during: &'static str,
        /// The engine's error.
        source: Box<Error>,
    },

    /// The load was cancelled through [`LoadOptions::cancel`](super::LoadOptions::cancel).
    #[error("the load was cancelled after {} of {}", human_bytes(*done), human_bytes(*total))]
    Cancelled {
        /// Bytes written before the cancellation was seen.
        done: u64,
        /// Bytes of the whole load.
        total: u64,
    },

    /// The device cannot load at all (not a Vulkan adapter, or lost).
    #[error(transparent)]
    Device(Box<Error>),

    /// Loading one device's share of a split plan failed (everything on every device was
    /// released), or the plan's devices do not match the contexts given.
    #[error("device {device}: {source}")]
    OnDevice {
        /// The device's position in the split plan.
        device: usize,
        /// What went wrong there.
        source: Box<LoadError>,
    },
}

impl From<Error> for LoadError {
    /// An [`Error::Load`] is its load error again; every other error is [`LoadError::Device`]
    /// (the inverse of `From<LoadError> for Error`, so neither ever nests in the other twice).
    fn from(error: Error) -> Self {
        match error {
            Error::Load(error) => *error,
            other => LoadError::Device(Box::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_errors_and_errors_convert_both_ways_without_nesting() {
        let cancelled = || LoadError::Cancelled { done: 1, total: 2 };
        let error = Error::from(cancelled());
        assert!(matches!(&error, Error::Load(e) if matches!(**e, LoadError::Cancelled { .. })));
        assert_eq!(error.to_string(), cancelled().to_string());
        assert!(matches!(
            LoadError::from(error),
            LoadError::Cancelled { .. }
        ));

        let device = LoadError::from(Error::DeviceLost("loading".into()));
        assert!(matches!(&device, LoadError::Device(e) if matches!(**e, Error::DeviceLost(_))));
        assert!(matches!(Error::from(device), Error::DeviceLost(_)));
    }
}
