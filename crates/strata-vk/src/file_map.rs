//! Read-only memory maps of whole files (model weights), behind one safe function.
//!
//! # Invariant
//! A map hands out the file's bytes as a `&[u8]` that Rust assumes immutable for the map's
//! lifetime. That holds only while **nobody modifies or truncates the file** as long as the
//! map lives. This module cannot enforce it (file locks are advisory and bind no other process),
//! so it is the documented contract of [`map_file`]'s callers; see the `SAFETY` comment there
//! for what happens when the contract is broken and why Strata accepts that.

use std::fs::File;
use std::io;

/// A read-only memory map of a whole file. It dereferences to `&[u8]`.
pub use memmap2::Mmap;

/// Maps `file` (opened for reading) read-only and shared, whole.
///
/// Contract: the file must not be modified or truncated, by this or any other process, while
/// the returned map (or any slice borrowed from it) is alive. Model files are written once and
/// then only read, so loaders keep this contract by not writing the files they load.
///
/// # Errors
/// Whatever `mmap(2)` (or `MapViewOfFile`) reports, e.g. for a file that cannot be mapped.
pub fn map_file(file: &File) -> io::Result<Mmap> {
    // SAFETY: `Mmap::map` is unsafe because the returned bytes alias the file itself. Its one
    // invariant is that the file is neither modified nor truncated while mapped. If another
    // process (or this one) writes to the file, the bytes behind the `&[u8]` change under Rust's
    // feet: formally undefined behaviour, in practice readers see torn or changed values. If the
    // file is truncated, touching a page past its new end raises SIGBUS and kills the process.
    // No check can exclude this (advisory locks bind no other writer). We accept it, as every
    // mmap-based model loader does (the safetensors crate's users, llama.cpp, candle, PyTorch's
    // `mmap=True`), because weight files are written once and then only read, and a map avoids
    // copying tens of gigabytes through the page cache twice. The contract is stated on this
    // function, and the map is read-only, so Strata itself never writes through it.
    unsafe { Mmap::map(file) }
}
