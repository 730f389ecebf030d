//! # strata-fuzz: reliability tools for Strata that run on stable Rust
//!
//! - **Fuzzing** ([`targets`], [`mutate`], [`runner`]): `cargo fuzz` needs a nightly compiler, so
//!   this crate carries its own small fuzzer. It is coverage-free: it starts from valid inputs
//!   generated in code ([`seeds`]), mutates them (bit flips, inserts, deletes, splices, a
//!   dictionary of JSON tokens, dtype and flag names and awkward numbers, awkward binary integers) and runs each target
//!   under `catch_unwind`. In place of coverage it keeps every input whose *outcome* (accepted,
//!   or refused with a given error kind) it has not seen before, which is enough to walk past the
//!   first checks of each parser. Every target asserts what its code promises (offsets inside the
//!   file, plans within every heap's budget, ...), so a wrong answer is a crash too.
//! - **Soak** ([`soak`], binary `strata-soak`): thousands of allocate/upload/read-back/free
//!   cycles across the placements an adapter serves, checking the data and that live
//!   allocations, heap usage and process RSS come back to where they started.
//!
//! - **Context cycles** ([`contexts`], `strata-soak contexts`): contexts created, used and
//!   dropped one after another and by several threads at once, checking each and that resident
//!   memory, open files and threads stay flat.
//!
//! Binaries: `strata-fuzz TARGET --seconds N [--seed S] [--corpus DIR]`,
//! `strata-soak --cycles N [--seed S] [--json]` and
//! `strata-soak contexts --cycles N --threads T [--json]`. `RELIABILITY.md` at the workspace root lists the
//! figures and the commands that reproduce them.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod check;
pub mod contexts;
pub mod mutate;
pub mod rss;
pub mod runner;
pub mod seeds;
pub mod soak;
pub mod targets;

pub use runner::{Crash, RunConfig, RunReport, run};
pub use targets::{
    TARGETS, Target, fuzz_gguf_header, fuzz_memory_table_json, fuzz_model_header, fuzz_model_index,
    fuzz_plan_rules,
};
