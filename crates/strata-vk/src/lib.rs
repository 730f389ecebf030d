//! Strata's native Vulkan layer. The only crate of Strata with `unsafe` code.
pub mod table;
