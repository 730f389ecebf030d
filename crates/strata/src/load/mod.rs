//! Loading models: carrying a [`Plan`](crate::plan::Plan) out on the GPU.
//!
//! [`Context::plan_for`](crate::Context::plan_for) plans a [`Model`](crate::model::Model)
//! against this device's live memory table; [`Context::load_model`](crate::Context::load_model)
//! then places every tensor in the memory type the plan says (allocation threads run ahead of
//! the copy), streams its bytes from the file's memory map in bounded chunks (read-ahead
//! threads touch the map ahead of the copy), checks where each landed, and with
//! [`LoadOptions::verify`] compares every tensor with the file while the next ones upload
//! (byte for byte, or by [`checksum`](crate::checksum): [`VerifyMethod`]). [`LoadedModel::timings`] says where the time went. The result, a
//! [`LoadedModel`], holds named, placed tensors that kernels can bind, and a
//! [`LoadReport`](crate::plan::LoadReport) in the same JSON shape as the plan's, with the
//! measured fields filled.
//!
//! ```no_run
//! use strata::load::LoadOptions;
//! use strata::model::Model;
//! use strata::plan::PlanOptions;
//!
//! let ctx = strata::Context::new()?;
//! let model = Model::open("models/llama")?;
//! let plan = ctx.plan_for(&model, &PlanOptions::default())?;
//! let loaded = ctx.load_model(&model, &plan, &LoadOptions::verified())?;
//! assert_eq!(loaded.all_verified(), Some(true));
//! let embed = loaded.get("model.embed_tokens.weight").expect("an embedding");
//! println!("{} in memory type {} as {} part(s)", embed.name, embed.memory_type, embed.parts().len());
//! println!("{}", loaded.report());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See `docs/LOADING.md` for the whole story: spill chains, budgets, caps, splitting,
//! verification and bounded memory.

mod across;
mod allocate;
mod check;
mod error;
mod loaded;
mod loader;
mod options;
mod read_ahead;
mod timings;
mod upload;
mod verify;
mod verify_method;

pub use across::load_across;
pub use error::LoadError;
pub use loaded::{LoadedModel, LoadedTensor};
pub use options::{
    LoadOptions, LoadPhase, LoadProgress, LoadTuning, MAX_LOAD_THREADS, ProgressFn,
    READ_AHEAD_WINDOW, UnknownUploadChoice, UploadChoice,
};
pub use timings::{LoadTimings, PathUse, PhaseTimes};
pub use verify::LOAD_CHUNK;
pub use verify_method::{CHECKSUM_FROM, UnknownVerifyMethod, VerifyMethod};
