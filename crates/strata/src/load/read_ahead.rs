//! Reading the file ahead of the copy: a few threads touch every page of the file map a bounded
//! distance ahead of where the copy is, so the copy finds the pages mapped (no page faults) and,
//! for a file that is not in the page cache, the disk reads overlap the upload.
//!
//! On Linux each piece is first announced to the kernel with `posix_fadvise(POSIX_FADV_WILLNEED)`
//! on the shard file, which starts large asynchronous reads of it; touching the pages then maps
//! them (a minor fault per page or per fault-around block) once they are in. Elsewhere only the
//! touching is done: the kernel's own read-ahead on the faults reads the file.

use super::check::Step;
use super::timings::{Clock, Phase};
use super::verify::LOAD_CHUNK;
use crate::model::Model;
use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// The page size assumed for touching: every 4 KiB is touched, so larger pages are touched
/// more than once, never skipped.
const PAGE: usize = 4096;

/// Pieces announced to the kernel ahead of the one being touched, so that several pieces' disk
/// reads are in flight while the touching waits for the first (8 × 32 MiB).
const ANNOUNCE_AHEAD: usize = 8;

/// How far the copy has got, for the read-ahead to stay within its window of it; and whether
/// the load stopped.
#[derive(Debug, Default)]
pub(crate) struct Cursor {
    copied: Mutex<u64>,
    moved: Condvar,
    stopped: AtomicBool,
}

impl Cursor {
    /// The copy has written `bytes` of the load.
    pub(crate) fn advance(&self, bytes: u64) {
        if let Ok(mut copied) = self.copied.lock() {
            *copied = bytes;
        }
        self.moved.notify_all();
    }

    /// The load stopped (finished or failed): the read-ahead ends.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.moved.notify_all();
    }

    /// Waits until `start` is less than `window` bytes ahead of the copy; `false` when the
    /// load stopped first.
    fn wait_within(&self, start: u64, window: u64) -> bool {
        let Ok(mut copied) = self.copied.lock() else {
            return false;
        };
        loop {
            if self.stopped.load(Ordering::Acquire) {
                return false;
            }
            if start < copied.saturating_add(window) {
                return true;
            }
            // A timeout as well as the notification, so a missed wake-up costs a few ms at most.
            match self.moved.wait_timeout(copied, Duration::from_millis(20)) {
                Ok((guard, _)) => copied = guard,
                Err(_) => return false,
            }
        }
    }
}

/// One piece of the file to read ahead.
#[derive(Debug)]
struct Piece<'a> {
    shard: usize,
    file_offset: u64,
    data: &'a [u8],
    /// Bytes of the load before this piece.
    start: u64,
}

/// The pieces of a load in copy order, and the shard files to announce them on.
#[derive(Debug)]
pub(crate) struct ReadAhead<'a> {
    pieces: Vec<Piece<'a>>,
    files: Vec<Option<File>>,
    window: u64,
    next: AtomicUsize,
    /// Pieces before this one were announced.
    announced: AtomicUsize,
}

impl<'a> ReadAhead<'a> {
    /// The pieces of `steps`' tensors, in order, at most [`LOAD_CHUNK`] each.
    pub(crate) fn new(model: &'a Model, steps: &[Step<'_>], window: u64) -> Self {
        let mut pieces = Vec::new();
        let mut start = 0u64;
        for step in steps {
            let Some(data) = model.tensor_data(step.info) else {
                continue;
            };
            for (k, chunk) in data.chunks(LOAD_CHUNK as usize).enumerate() {
                pieces.push(Piece {
                    shard: step.info.shard,
                    file_offset: step.info.data_offset + k as u64 * LOAD_CHUNK,
                    data: chunk,
                    start,
                });
                start += chunk.len() as u64;
            }
        }
        // The hint needs the file itself; a shard that cannot be opened again is only touched.
        let files = model
            .shards()
            .iter()
            .map(|shard| File::open(shard.path()).ok())
            .collect();
        Self {
            pieces,
            files,
            window: window.max(LOAD_CHUNK),
            next: AtomicUsize::new(0),
            announced: AtomicUsize::new(0),
        }
    }

    /// One read-ahead thread: takes the next piece, waits until it is within the window of the
    /// copy, announces it and the next few pieces nobody announced yet, and touches it; until
    /// the pieces run out or the load stops.
    pub(crate) fn work(&self, cursor: &Cursor, clock: &Clock) {
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(piece) = self.pieces.get(index) else {
                return;
            };
            if !cursor.wait_within(piece.start, self.window) {
                return;
            }
            clock.time(Phase::ReadAhead, || {
                let until = (index + 1 + ANNOUNCE_AHEAD).min(self.pieces.len());
                let from = self
                    .announced
                    .fetch_max(until, Ordering::Relaxed)
                    .max(index);
                for ahead in self.pieces.get(from..until).unwrap_or_default() {
                    self.announce(ahead);
                }
                std::hint::black_box(touch(piece.data));
            });
        }
    }

    #[cfg(target_os = "linux")]
    fn announce(&self, piece: &Piece<'_>) {
        if let Some(Some(file)) = self.files.get(piece.shard) {
            // A hint: an error (e.g. a file system that ignores it) only loses the head start.
            let _ = rustix::fs::fadvise(
                file,
                piece.file_offset,
                std::num::NonZeroU64::new(piece.data.len() as u64),
                rustix::fs::Advice::WillNeed,
            );
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn announce(&self, _piece: &Piece<'_>) {
        let _ = &self.files;
    }
}

/// Reads one byte every 4 KiB of `data` and its last byte, which maps every page it spans
/// (reading it from disk first if it is not in the page cache). The bytes are folded into the
/// result so the reads are kept.
fn touch(data: &[u8]) -> u8 {
    let last = data.last().copied().unwrap_or(0);
    data.iter().step_by(PAGE).fold(last, |acc, &b| acc ^ b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn touching_reads_a_byte_of_every_page() {
        let mut data = vec![0u8; 3 * PAGE + 10];
        data[0] = 1;
        data[PAGE] = 2;
        data[3 * PAGE] = 4;
        data[5] = 8; // not on a page start: not read
        data[3 * PAGE + 9] = 16; // the last byte
        assert_eq!(touch(&data), 1 ^ 2 ^ 4 ^ 16);
        assert_eq!(touch(&[]), 0);
    }

    #[test]
    fn the_cursor_holds_read_ahead_within_its_window() {
        let cursor = Arc::new(Cursor::default());
        assert!(cursor.wait_within(0, 100));
        assert!(cursor.wait_within(99, 100));
        let waiter = {
            let cursor = Arc::clone(&cursor);
            std::thread::spawn(move || cursor.wait_within(250, 100))
        };
        cursor.advance(200);
        assert!(
            waiter.join().unwrap(),
            "released once the copy is close enough"
        );
        let waiter = {
            let cursor = Arc::clone(&cursor);
            std::thread::spawn(move || cursor.wait_within(10_000, 100))
        };
        cursor.stop();
        assert!(
            !waiter.join().unwrap(),
            "released by a stop, without the go-ahead"
        );
    }
}
