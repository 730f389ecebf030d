//! A loaded model: named tensors placed on the GPU, and the report of the load.

use super::LoadTimings;
use super::VerifyMethod;
use crate::model::TensorType;
use crate::placement::{PlacedBuffer, PlacedTensor, Placement};
use crate::plan::{LoadReport, Tier};
use crate::recording::Operand;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One tensor of a loaded model: what the file says about it and where its bytes now live.
#[derive(Debug)]
pub struct LoadedTensor {
    /// The tensor's name in the model file.
    pub name: String,
    /// Its element type (the bytes are loaded as they are in the file, whatever the type: a
    /// quantized ggml type is loaded as its blocks).
    pub dtype: TensorType,
    /// Its shape, outermost dimension first.
    pub shape: Vec<u64>,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its tier in the plan.
    pub tier: Tier,
    /// The placement that serves it (the plan's).
    pub placement: Placement,
    /// The memory type its buffers are allocated from (the plan's, checked).
    pub memory_type: u32,
    /// That type's heap.
    pub heap: u32,
    /// The placed buffers: one, or several row-aligned parts when the tensor is larger than a
    /// binding or allocation may be (see
    /// [`split_into_parts`](crate::placement::split_into_parts)). `None` for an empty tensor (a
    /// zero in its shape), which has no bytes to place.
    pub placed: Option<PlacedTensor>,
    /// Whether its bytes matched the file; `None` when not verified.
    pub verified: Option<bool>,
    /// How they were checked ([`VerifyMethod::Bytes`] or [`VerifyMethod::Checksum`]); `None`
    /// when not verified, and for an empty tensor.
    pub verified_by: Option<VerifyMethod>,
}

impl LoadedTensor {
    /// The placed parts in order (empty for an empty tensor).
    pub fn parts(&self) -> &[PlacedBuffer] {
        self.placed.as_ref().map_or(&[], PlacedTensor::parts)
    }

    /// Each part as a kernel operand (empty for an empty tensor).
    pub fn operands(&self) -> Vec<Operand<'_>> {
        self.placed
            .as_ref()
            .map_or_else(Vec::new, PlacedTensor::operands)
    }
}

/// A model whose tensors were placed as a plan said, with the report of the load.
///
/// Dropping it releases every buffer (once the GPU is done with them).
#[derive(Debug)]
pub struct LoadedModel {
    pub(crate) path: PathBuf,
    pub(crate) tensors: Vec<LoadedTensor>,
    pub(crate) by_name: HashMap<String, usize>,
    pub(crate) report: LoadReport,
    pub(crate) verify_seconds: Option<f64>,
    pub(crate) timings: LoadTimings,
}

impl LoadedModel {
    /// The path the model was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every loaded tensor, in plan order.
    pub fn tensors(&self) -> &[LoadedTensor] {
        &self.tensors
    }

    /// The tensor named `name`, if it was loaded.
    pub fn get(&self, name: &str) -> Option<&LoadedTensor> {
        self.by_name.get(name).and_then(|&i| self.tensors.get(i))
    }

    /// Takes the tensors out (to keep some and drop the others).
    pub fn into_tensors(self) -> Vec<LoadedTensor> {
        self.tensors
    }

    /// How many tensors were loaded.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// `true` when the plan had no tensors.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Bytes of all tensors.
    pub fn total_bytes(&self) -> u64 {
        self.tensors
            .iter()
            .map(|t| t.bytes)
            .fold(0, u64::saturating_add)
    }

    /// The load's report: the plan's fields plus `verified` per tensor, heap usage before and
    /// after (where the device reports it), the load time and throughput.
    pub fn report(&self) -> &LoadReport {
        &self.report
    }

    /// Seconds verification added to the load: from the moment the GPU had every byte until
    /// the last tensor was compared (verification runs beside the upload, so this is what is
    /// left of it). `None` when not verified.
    pub fn verify_seconds(&self) -> Option<f64> {
        self.verify_seconds
    }

    /// Where the load's time went: wall times, threads, upload paths and each phase's busy
    /// time (`strata load --json`: `timings`).
    pub fn timings(&self) -> &LoadTimings {
        &self.timings
    }

    /// `Some(true)` when every tensor was verified and matched its file, `Some(false)` when
    /// any did not match, `None` when the load was not verified.
    pub fn all_verified(&self) -> Option<bool> {
        self.verify_seconds?;
        Some(self.tensors.iter().all(|t| t.verified == Some(true)))
    }

    /// Names of the tensors whose read-back differed from the file.
    pub fn mismatched(&self) -> Vec<&str> {
        self.tensors
            .iter()
            .filter(|t| t.verified == Some(false))
            .map(|t| t.name.as_str())
            .collect()
    }
}
