//! Loading a model split across devices: each device's share of a
//! [`SplitPlan`](crate::plan::SplitPlan) on its own context, with its own checks and proof.

use super::{LoadError, LoadOptions, LoadedModel};
use crate::context::Context;
use crate::error::Error;
use crate::model::Model;
use crate::plan::SplitPlan;

/// Loads `plan`'s share `i` on `contexts[i]`, in order, each as [`Context::load_model`] does
/// (checked before allocating, placed in the planned memory types, verified with
/// [`LoadOptions::verify`], heap usage proved per device).
///
/// # Errors
/// [`LoadError::OnDevice`] naming the device whose share failed, or when the plan has another
/// number of devices than `contexts`. On any error everything loaded on every device so far is
/// released before this returns.
pub fn load_across(
    contexts: &[&Context],
    model: &Model,
    plan: &SplitPlan,
    options: &LoadOptions,
) -> Result<Vec<LoadedModel>, LoadError> {
    if contexts.len() != plan.devices.len() {
        return Err(LoadError::OnDevice {
            device: contexts.len().min(plan.devices.len()),
            source: Box::new(LoadError::Device(Box::new(Error::InvalidArgument(
                format!(
                    "a plan for {} devices given {} contexts",
                    plan.devices.len(),
                    contexts.len()
                ),
            )))),
        });
    }
    let mut loaded = Vec::with_capacity(contexts.len());
    for (ctx, share) in contexts.iter().zip(&plan.devices) {
        match ctx.load_model(model, &share.plan, options) {
            Ok(model) => loaded.push(model),
            Err(source) => {
                // Dropping what the other devices hold releases it; wait so the memory is
                // back before the error reaches the caller.
                drop(loaded);
                for ctx in contexts {
                    let _ = ctx.wait_idle();
                }
                return Err(LoadError::OnDevice {
                    device: share.device,
                    source: Box::new(source),
                });
            }
        }
    }
    Ok(loaded)
}
