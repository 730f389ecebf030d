//! Recordings: many operations (Strata's kernels, the application's own kernels, copies,
//! writes of host data, read-backs) in one command buffer, submitted once, completed through a
//! handle, and replayed with new data at a few microseconds of CPU per op.
//!
//! - [`Context::record`](crate::Context::record) starts a [`Recording`]; each operation is
//!   checked as it is added.
//! - [`Recording::finish`] prepares it into a [`Replay`] (bind groups, uniforms and data areas
//!   made once); [`Replay::submit`] returns a [`Submission`] to wait on or poll, whose
//!   [`RunReport`] has the wall, encode and GPU times.
//! - [`Context::compile_kernel`](crate::Context::compile_kernel) compiles an application's
//!   WGSL into a [`UserKernel`] for [`Recording::dispatch`].
//!
//! Strata's one-call methods ([`Context::gemv`](crate::Context::gemv) and the rest) are
//! one-op recordings run at once.

mod operand;
#[allow(clippy::module_inception)] // `recording::recording`: the builder, in the recording module.
mod recording;
mod replay;
mod submission;
mod timing;
mod user_kernel;

pub use operand::{Access, Operand};
pub(crate) use recording::Step;
pub use recording::{OpId, ReadSlot, Recording, WriteSlot};
pub use replay::Replay;
pub use submission::Submission;
pub use timing::{Clock, RunReport, Timing};
pub use user_kernel::{KernelSource, UserKernel};
