//! Options and helpers shared by the subcommands.

use clap::Args;
use strata::Context;
use strata::adapter::AdapterSelector;

/// How to choose the adapter.
#[derive(Debug, Clone, Args)]
pub struct AdapterArgs {
    /// Adapter index (as `strata info` lists them) or part of its name.
    /// Default: WGPU_ADAPTER_NAME, else the most capable adapter.
    #[arg(long, value_name = "NAME|INDEX")]
    pub adapter: Option<String>,
    /// Turn the Vulkan validation layer on (slow; for debugging).
    #[arg(long)]
    pub validation: bool,
}

impl AdapterArgs {
    /// Creates the context these options ask for.
    pub fn context(&self) -> strata::Result<Context> {
        let selector = self
            .adapter
            .as_deref()
            .map_or(AdapterSelector::Default, |s| s.parse().unwrap_or_default());
        Context::builder()
            .adapter(selector)
            .validation(self.validation)
            .build()
    }
}

/// Prints `value` as pretty JSON.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
