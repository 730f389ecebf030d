//! Read-only memory maps of whole model files.
//!
//! # Invariant (6 of this crate)
//! A map hands out the file's bytes as a `&[u8]` that Rust assumes immutable for the map's
//! lifetime. That holds only while **nobody modifies or truncates the file** as long as the map
//! lives. No check can enforce it (file locks are advisory and bind no other process), so it is
//! an assumption about the machine that this crate states and relies on, as it relies on a
//! correct driver: model files are written once, then only read.
//!
//! What this module does keep in hand: it opens the file itself, read-only, from a path
//! ([`map_read_only`]), so the handle it maps is never one a caller could write through; and it
//! maps it read-only, so Strata never writes through the map. The function that takes an open
//! file is private: its contract (the file is not written through that handle) would otherwise
//! be every caller's.

use std::fs::File;
use std::io;
use std::path::Path;

/// A read-only memory map of a whole file. It dereferences to `&[u8]`.
pub use memmap2::Mmap;

/// Opens the regular file at `path` read-only and maps it whole, read-only and shared.
///
/// The file must not be modified or truncated while the map (or any slice borrowed from it) is
/// alive, by this or any other process: the invariant at the top of this module.
///
/// # Errors
/// Opening the file (`ENOENT`, permissions, ...), `InvalidInput` for a path that is not a
/// regular file, or whatever `mmap(2)` (or `MapViewOfFile`) reports.
pub fn map_read_only(path: &Path) -> io::Result<Mmap> {
    let file = File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    map_file(&file)
}

/// Maps `file` read-only and shared, whole. Private: see the module's documentation.
fn map_file(file: &File) -> io::Result<Mmap> {
    // SAFETY: `Mmap::map` is unsafe because the returned bytes alias the file itself. Its one
    // invariant is that the file is neither modified nor truncated while mapped (invariant 6).
    // `file` was opened read-only by `map_read_only` and is not handed out, so nothing writes
    // through it. If another handle (of this or another process) writes the file, the bytes
    // behind the `&[u8]` change under Rust's feet: formally undefined behaviour, in practice
    // readers see torn or changed values; if the file is truncated, touching a page past its
    // new end raises SIGBUS and kills the process. No check can exclude this (advisory locks bind
    // no other writer). We accept it, as every mmap-based model loader does (the safetensors
    // crate's users, llama.cpp, candle, PyTorch's `mmap=True`), because weight files are written
    // once and then only read, and a map avoids copying tens of gigabytes through the page
    // cache twice.
    unsafe { Mmap::map(file) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_a_file_by_path_and_reports_a_missing_one() {
        let path = std::env::temp_dir().join(format!("strata-file-map-{}", std::process::id()));
        std::fs::write(&path, b"weights").unwrap();
        let map = map_read_only(&path).unwrap();
        assert_eq!(&map[..], b"weights");
        drop(map);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            map_read_only(&path).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            map_read_only(&std::env::temp_dir()).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
