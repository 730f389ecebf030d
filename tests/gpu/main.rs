//! GPU tests. They run on whatever adapter Strata picks (Mesa lavapipe in CI), always with the
//! Khronos validation layer on: any validation message fails the suite.
//!
//! With no adapter, or no validation layer, the tests fail when `CI` is set; elsewhere they
//! print a loud notice and return early.

mod across;
mod embed;
mod gguf;
mod harness;
mod kernels;
mod load;
mod placement;
mod quant;
mod recording;
mod reliability;
mod validation;
