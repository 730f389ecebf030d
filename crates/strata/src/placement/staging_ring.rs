//! The context's staging rings: a few reusable host-visible buffers that uploads to and
//! read-backs from device-only memory go through (the data paths are `staging.rs`).
//!
//! A ring can be made all at once ([`Ring::of`]) or grow while it is used ([`Ring::grow`]): its
//! missing slots are made on other threads and join the ring as they arrive, so a load starts
//! copying as soon as the first slot exists instead of waiting for all of them. Slots are only
//! ever appended (an index names the same slot for the ring's life), a slot is handed out
//! again only after the GPU finished its previous copy, and a slot that failed to be made is
//! an error of the next [`Ring::take`].

use super::placed_buffer::PlacedBuffer;
use crate::error::{Error, Result};
use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Size of one staging slot.
pub const SLOT_BYTES: u64 = 32 << 20;

/// The context's staging rings, created on first use.
#[derive(Debug, Default)]
pub(crate) struct StagingRings {
    pub(crate) upload: Mutex<Option<Ring>>,
    pub(crate) readback: Mutex<Option<Ring>>,
}

/// Slots used in turn: the CPU fills (or reads) one while the GPU copies the others.
///
/// Generic over the slot's buffer and the GPU's submission handle only so that its bookkeeping
/// can be tested without a device.
#[derive(Debug)]
pub(crate) struct Ring<B = PlacedBuffer, P = wgpu::SubmissionIndex> {
    slots: Vec<Slot<B, P>>,
    /// Every slot's index, least recently handed out first; a slot that just arrived goes to
    /// the front (it has no copy to wait for).
    order: VecDeque<usize>,
    growth: Growth<B>,
}

/// One staging buffer and the submission that last copied through it.
#[derive(Debug)]
pub(crate) struct Slot<B = PlacedBuffer, P = wgpu::SubmissionIndex> {
    pub(crate) buffer: B,
    pub(crate) pending: Option<P>,
}

/// Whether slots are still being made for a ring.
#[derive(Debug)]
enum Growth<B> {
    /// Every slot asked for is in the ring.
    Done,
    /// `left` slots are being made; each arrives (or fails) through `arrivals`.
    Coming {
        arrivals: mpsc::Receiver<Result<B>>,
        left: usize,
    },
    /// A slot could not be made (the error went to a `take`): the ring has what arrived before.
    Failed,
}

/// What [`Ring::take`] waits for new slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrivals {
    /// Only those that are there already.
    Ready,
    /// At least one, when the ring has none.
    One,
    /// All of them.
    All,
}

/// Where one slot being made for a growing ring is delivered (see [`Ring::grow`]).
#[derive(Debug)]
pub(crate) struct SlotMaker<B = PlacedBuffer>(mpsc::Sender<Result<B>>);

impl<B> SlotMaker<B> {
    /// Hands the slot (or why it could not be made) to the ring. A ring that is gone drops it:
    /// then the slot is freed here.
    pub(crate) fn deliver(self, slot: Result<B>) {
        // A closed channel means the ring was dropped: the slot is freed with the error value.
        let _ = self.0.send(slot);
    }
}

/// A slot handed out by [`Ring::take`].
#[derive(Debug)]
pub(crate) struct Taken<'r, B = PlacedBuffer, P = wgpu::SubmissionIndex> {
    /// The slot's index in the ring (the same slot for the ring's life).
    pub(crate) index: usize,
    pub(crate) slot: &'r mut Slot<B, P>,
    /// How long the call waited for the ring's first slot to be made (zero when it had one).
    pub(crate) setup: Duration,
}

impl<B, P: Clone> Ring<B, P> {
    /// A ring of `buffers`, each a host-visible placed buffer of [`SLOT_BYTES`].
    pub(crate) fn of(buffers: Vec<B>) -> Self {
        let slots: Vec<Slot<B, P>> = buffers
            .into_iter()
            .map(|buffer| Slot {
                buffer,
                pending: None,
            })
            .collect();
        Self {
            order: (0..slots.len()).collect(),
            slots,
            growth: Growth::Done,
        }
    }

    /// Slots in the ring now.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Slots in the ring now and still being made.
    pub(crate) fn planned(&self) -> usize {
        match &self.growth {
            Growth::Coming { left, .. } => self.slots.len() + left,
            Growth::Done | Growth::Failed => self.slots.len(),
        }
    }

    /// `true` when every slot asked for arrived (no slot is being made, none failed).
    pub(crate) fn is_complete(&self) -> bool {
        matches!(self.growth, Growth::Done)
    }

    /// Asks for `more` slots, made elsewhere: one [`SlotMaker`] each, to be delivered from any
    /// thread. They join the ring as they arrive. Only a ring that is not growing can grow.
    pub(crate) fn grow(&mut self, more: usize) -> Result<Vec<SlotMaker<B>>> {
        if !self.is_complete() {
            return Err(Error::InvalidArgument(
                "a staging ring grows only once all its slots are made".into(),
            ));
        }
        if more == 0 {
            return Ok(Vec::new());
        }
        let (sender, arrivals) = mpsc::channel();
        self.growth = Growth::Coming {
            arrivals,
            left: more,
        };
        Ok((0..more).map(|_| SlotMaker(sender.clone())).collect())
    }

    /// Adds the slots that arrived, waiting as `wait` says.
    fn arrive(&mut self, wait: Arrivals) -> Result<()> {
        let mut wait = wait;
        loop {
            let Growth::Coming { arrivals, left } = &mut self.growth else {
                return Ok(());
            };
            if *left == 0 {
                self.growth = Growth::Done;
                return Ok(());
            }
            let block = wait == Arrivals::All || (wait == Arrivals::One && self.slots.is_empty());
            let arrival = if block {
                arrivals.recv().ok()
            } else {
                match arrivals.try_recv() {
                    Ok(arrival) => Some(arrival),
                    Err(mpsc::TryRecvError::Empty) => return Ok(()),
                    Err(mpsc::TryRecvError::Disconnected) => None,
                }
            };
            match arrival {
                Some(Ok(buffer)) => {
                    *left -= 1;
                    self.order.push_front(self.slots.len());
                    self.slots.push(Slot {
                        buffer,
                        pending: None,
                    });
                    if wait == Arrivals::One {
                        wait = Arrivals::Ready;
                    }
                }
                Some(Err(error)) => {
                    self.growth = Growth::Failed;
                    return Err(error);
                }
                None => {
                    self.growth = Growth::Failed;
                    return Err(Error::InvalidArgument(
                        "a staging slot was never made (its thread ended without one)".into(),
                    ));
                }
            }
        }
    }

    /// Waits until every slot being made has arrived (or one failed: then its error).
    pub(crate) fn finish(&mut self) -> Result<()> {
        self.arrive(Arrivals::All)
    }

    /// Adds the slots that arrived, without waiting (an error if one could not be made).
    pub(crate) fn refresh(&mut self) -> Result<()> {
        self.arrive(Arrivals::Ready)
    }

    /// The least recently used slot, after `wait` has waited for the GPU to finish its previous
    /// copy. A ring with no slot yet first waits for the first one to be made.
    pub(crate) fn take(&mut self, wait: impl FnOnce(P) -> Result<()>) -> Result<Taken<'_, B, P>> {
        let started = Instant::now();
        let first = self.slots.is_empty();
        self.arrive(Arrivals::One)?;
        let setup = if first {
            started.elapsed()
        } else {
            Duration::ZERO
        };
        let index = self
            .order
            .pop_front()
            .ok_or_else(|| Error::InvalidArgument("a staging ring without slots".into()))?;
        self.order.push_back(index);
        let slot = self
            .slots
            .get_mut(index)
            .ok_or_else(|| Error::InvalidArgument("a staging slot went missing".into()))?;
        // The submission is forgotten only once it is known finished: a failed wait leaves the
        // slot waiting for it, so no later take reuses it early.
        if let Some(pending) = &slot.pending {
            wait(pending.clone())?;
            slot.pending = None;
        }
        Ok(Taken { index, slot, setup })
    }

    /// The slot at `index` (as [`Taken::index`] named it), to read.
    pub(crate) fn slot(&self, index: usize) -> Result<&Slot<B, P>> {
        self.slots
            .get(index)
            .ok_or_else(|| Error::InvalidArgument("a staging slot went missing".into()))
    }

    /// The slot at `index` (as [`Taken::index`] named it).
    pub(crate) fn slot_mut(&mut self, index: usize) -> Result<&mut Slot<B, P>> {
        self.slots
            .get_mut(index)
            .ok_or_else(|| Error::InvalidArgument("a staging slot went missing".into()))
    }
}

/// Locks one ring, turning a poisoned lock into an error.
pub(crate) fn lock(ring: &Mutex<Option<Ring>>) -> Result<MutexGuard<'_, Option<Ring>>> {
    ring.lock().map_err(|_| Error::Gpu {
        during: "staging".into(),
        message: "the staging ring was poisoned by a panic on another thread".into(),
    })
}

impl StagingRings {
    /// Buffers and bytes the rings hold (they live as long as the context).
    pub(crate) fn footprint(&self) -> (u64, u64) {
        [&self.upload, &self.readback]
            .iter()
            .filter_map(|ring| ring.lock().ok())
            .filter_map(|guard| guard.as_ref().map(|r| r.len() as u64))
            .fold((0, 0), |(n, b), slots| (n + slots, b + slots * SLOT_BYTES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestRing = Ring<&'static str, u32>;

    /// Takes a slot, waiting for nothing, and returns its buffer and index.
    fn take(ring: &mut TestRing) -> (&'static str, usize) {
        let taken = ring
            .take(|p| panic!("no copy pending, but waited for {p}"))
            .unwrap();
        (taken.slot.buffer, taken.index)
    }

    #[test]
    fn a_full_ring_goes_round_in_order_and_waits_for_each_slots_copy() {
        let mut ring = TestRing::of(vec!["a", "b", "c"]);
        assert!(ring.is_complete());
        assert_eq!((ring.len(), ring.planned()), (3, 3));
        let mut waited = Vec::new();
        for round in 0..3u32 {
            for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
                let taken = ring
                    .take(|p| {
                        waited.push(p);
                        Ok(())
                    })
                    .unwrap();
                assert_eq!((taken.slot.buffer, taken.index), (name, i));
                assert_eq!(taken.setup, Duration::ZERO);
                taken.slot.pending = Some(round * 10 + i as u32);
            }
        }
        // Each reuse waited for the copy of the round before, in order.
        assert_eq!(waited, vec![0, 1, 2, 10, 11, 12]);
    }

    #[test]
    fn a_failed_wait_keeps_the_slot_waiting() {
        let mut ring = TestRing::of(vec!["a"]);
        ring.take(|_| Ok(())).unwrap().slot.pending = Some(7);
        let failed = ring.take(|_| Err(Error::DeviceLost("gone".into())));
        assert!(failed.is_err());
        // The next take still waits for submission 7.
        let mut seen = None;
        ring.take(|p| {
            seen = Some(p);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, Some(7));
    }

    #[test]
    fn a_growing_ring_hands_out_its_first_slot_before_the_others_exist() {
        let mut ring = TestRing::of(Vec::new());
        let mut makers = ring.grow(3).unwrap();
        assert_eq!((ring.len(), ring.planned()), (0, 3));
        assert!(!ring.is_complete());
        assert!(ring.grow(1).is_err(), "a growing ring cannot grow again");

        // The first slot, made on another thread while `take` waits for it.
        let first = makers.remove(0);
        let maker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            first.deliver(Ok("a"));
        });
        let taken = ring.take(|_| Ok(())).unwrap();
        assert_eq!((taken.slot.buffer, taken.index), ("a", 0));
        assert!(
            taken.setup >= Duration::from_millis(20),
            "{:?}",
            taken.setup
        );
        taken.slot.pending = Some(1);
        maker.join().unwrap();

        // With one slot and more coming, the slot there is reused (after its copy).
        let mut waited = Vec::new();
        let taken = ring
            .take(|p| {
                waited.push(p);
                Ok(())
            })
            .unwrap();
        assert_eq!((taken.index, taken.setup), (0, Duration::ZERO));
        taken.slot.pending = Some(2);
        assert_eq!(waited, vec![1]);

        // A slot that arrives is handed out next (it has no copy to wait for), at a new index.
        makers.remove(0).deliver(Ok("b"));
        assert_eq!(take(&mut ring), ("b", 1));
        ring.slot_mut(1).unwrap().pending = Some(3);
        makers.remove(0).deliver(Ok("c"));
        assert_eq!(take(&mut ring), ("c", 2));
        ring.slot_mut(2).unwrap().pending = Some(4);
        assert!(ring.is_complete());
        assert_eq!((ring.len(), ring.planned()), (3, 3));

        // Then least recently used first: a (copy 2), b (copy 3), c (copy 4).
        let mut waited = Vec::new();
        for expected in [0, 1, 2] {
            let taken = ring
                .take(|p| {
                    waited.push(p);
                    Ok(())
                })
                .unwrap();
            assert_eq!(taken.index, expected);
        }
        assert_eq!(waited, vec![2, 3, 4]);
    }

    #[test]
    fn the_last_slots_handed_out_are_never_the_next_one() {
        // What a reader that keeps `k < len` slots in flight relies on: the slot `take` gives is
        // none of the last `k` it gave, however slots arrive in between.
        let mut ring = TestRing::of(vec!["a"]);
        let mut makers = ring.grow(3).unwrap().into_iter();
        let mut recent: VecDeque<usize> = VecDeque::new();
        for step in 0..40 {
            if step % 7 == 3 {
                if let Some(maker) = makers.next() {
                    maker.deliver(Ok("new"));
                }
            }
            ring.refresh().unwrap();
            let in_flight = ring.len() - 1;
            while recent.len() > in_flight {
                recent.pop_front();
            }
            let (_, index) = take(&mut ring);
            assert!(
                !recent.contains(&index),
                "step {step}: {index} in {recent:?}"
            );
            recent.push_back(index);
        }
        assert_eq!(ring.len(), 4);
    }

    #[test]
    fn a_slot_that_cannot_be_made_is_an_error_and_the_ring_is_not_complete() {
        let mut ring = TestRing::of(Vec::new());
        let mut makers = ring.grow(3).unwrap().into_iter();
        makers.next().unwrap().deliver(Ok("a"));
        makers
            .next()
            .unwrap()
            .deliver(Err(Error::InvalidArgument("out of host memory".into())));
        assert!(ring.finish().is_err());
        assert!(!ring.is_complete());
        // What arrived is still there; nothing more is waited for.
        assert_eq!(ring.len(), 1);
        drop(makers);
        assert_eq!(take(&mut ring).0, "a");

        // A maker that goes away without delivering is an error too, not a hang.
        let mut ring = TestRing::of(Vec::new());
        drop(ring.grow(2).unwrap());
        assert!(ring.take(|_| Ok(())).is_err());
        assert!(!ring.is_complete());
    }

    #[test]
    fn slots_delivered_to_a_ring_that_is_gone_are_dropped() {
        let mut ring = TestRing::of(Vec::new());
        let makers = ring.grow(2).unwrap();
        drop(ring);
        for maker in makers {
            maker.deliver(Ok("freed"));
        }
    }
}
