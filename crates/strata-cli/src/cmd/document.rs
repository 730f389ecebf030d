//! What `strata plan --json` and `strata load --json` print: the shared report with what it is
//! about (model, format, device, policy), and the one-line description of a model's files.

use serde::Serialize;
use strata::load::LoadTimings;
use strata::model::{Model, ModelFormat};
use strata::plan::{LoadReport, PlanPolicy};

/// `strata plan --json` and `strata load --json`: the shared report, with what it is about.
#[derive(Debug, Serialize)]
pub struct Document<'a> {
    /// The model's path.
    pub model: String,
    /// Its format: `safetensors` or `gguf`.
    pub format: ModelFormat,
    /// A GGUF model's `general.architecture`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// A GGUF model's `general.name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The adapter's name, or the recorded table's path.
    pub device: String,
    /// The policy.
    pub policy: PlanPolicy,
    /// Tensors, heaps, time.
    #[serde(flatten)]
    pub report: &'a LoadReport,
    /// Where a load's time went (absent in a plan).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<&'a LoadTimings>,
}

impl<'a> Document<'a> {
    /// The document of `report` on `model`, planned or loaded on `device`.
    pub fn new(model: &Model, device: String, policy: PlanPolicy, report: &'a LoadReport) -> Self {
        let metadata = model.gguf_metadata();
        Document {
            model: model.path().display().to_string(),
            format: model.format(),
            architecture: metadata.and_then(|m| m.architecture()).map(String::from),
            name: metadata.and_then(|m| m.name()).map(String::from),
            device,
            policy,
            report,
            timings: None,
        }
    }

    /// The document with a load's phase timings.
    pub fn with_timings(mut self, timings: &'a LoadTimings) -> Self {
        self.timings = Some(timings);
        self
    }
}

/// One line about a model's file: format, files, and for GGUF its architecture and name, e.g.
/// `gguf v3, 1 file, architecture gemma2, name "Gemma 2 27B"`.
pub fn describe_model(model: &Model) -> String {
    let files = model.shards().len();
    let files = format!("{files} file{}", if files == 1 { "" } else { "s" });
    let Some(header) = model.shards().first().and_then(|shard| shard.gguf()) else {
        return format!("{}, {files}", model.format());
    };
    let mut line = format!("gguf v{}, {files}", header.version);
    if let Some(architecture) = header.metadata.architecture() {
        line.push_str(&format!(", architecture {architecture}"));
    }
    if let Some(name) = header.metadata.name() {
        line.push_str(&format!(", name {name:?}"));
    }
    line
}
