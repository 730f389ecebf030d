//! Allocating tensors' memory ahead of the copy: a few threads place tensors in plan order while
//! the copying thread writes earlier ones, so the copy waits for the driver only when it is
//! faster than the driver (for host memory, which the driver pins page by page, it may be).

use super::LoadError;
use super::check::Step;
use super::timings::{Clock, Phase};
use crate::context::Context;
use crate::model::Model;
use crate::placement::{PlaceOptions, PlacedTensor};
use crate::plan::Tier;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};
use strata_vk::HostMemory;

/// Memory priority of critical tensors' dedicated allocations (with `VK_EXT_memory_priority`):
/// the driver keeps them resident longest under memory pressure.
const CRITICAL_PRIORITY: f32 = 1.0;
/// Memory priority of bulk tensors' dedicated allocations.
const BULK_PRIORITY: f32 = 0.5;

/// A tensor's memory: `None` for an empty tensor, which has none.
pub(crate) type Placed = Result<Option<PlacedTensor>, LoadError>;

/// Places one tensor in its planned placement, with no fallback, and checks that the memory
/// type that served it is the plan's.
pub(crate) fn place_step(
    ctx: &Context,
    model: &Model,
    step: &Step<'_>,
    host_memory: HostMemory,
) -> Placed {
    let (planned, info) = (step.planned, step.info);
    if info.bytes == 0 {
        return Ok(None);
    }
    let options = PlaceOptions {
        priority: match planned.tier {
            Tier::Critical => CRITICAL_PRIORITY,
            Tier::Bulk => BULK_PRIORITY,
        },
        host_memory,
        ..PlaceOptions::new(planned.placement)
    };
    let (placed, _) = ctx
        .place_tensor(info.bytes, info.row_bytes(), &options)
        .map_err(|source| LoadError::Place {
            model: model.path().to_path_buf(),
            tensor: info.name.clone(),
            bytes: info.bytes,
            placement: planned.placement,
            source: Box::new(source),
        })?;
    if let Some(part) = placed
        .parts()
        .iter()
        .find(|p| p.memory_type() != Some(planned.memory_type))
    {
        return Err(LoadError::ServedElsewhere {
            tensor: info.name.clone(),
            placement: planned.placement,
            planned: planned.memory_type,
            served: part.memory_type(),
        });
    }
    Ok(Some(placed))
}

/// The tensors' memory, allocated by worker threads in plan order and taken by the copy in the
/// same order.
pub(crate) struct Allocations<'a> {
    steps: &'a [Step<'a>],
    host_memory: HostMemory,
    slots: Mutex<Vec<Option<Placed>>>,
    ready: Condvar,
    next: AtomicUsize,
    /// Bytes allocated so far, for progress.
    allocated: AtomicU64,
    /// When the last allocation returned, in nanoseconds after `started`.
    last_done: AtomicU64,
    /// An allocation failed: the workers stop.
    failed: AtomicBool,
    started: Instant,
}

impl<'a> Allocations<'a> {
    pub(crate) fn new(steps: &'a [Step<'a>], host_memory: HostMemory, started: Instant) -> Self {
        Self {
            steps,
            host_memory,
            slots: Mutex::new((0..steps.len()).map(|_| None).collect()),
            ready: Condvar::new(),
            next: AtomicUsize::new(0),
            allocated: AtomicU64::new(0),
            last_done: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            started,
        }
    }

    /// Bytes allocated so far.
    pub(crate) fn allocated(&self) -> u64 {
        self.allocated.load(Ordering::Relaxed)
    }

    /// Seconds from the start of the load until the last allocation returned.
    pub(crate) fn wall_seconds(&self) -> f64 {
        self.last_done.load(Ordering::Relaxed) as f64 / 1e9
    }

    /// Places tensor `index` and records when it was done.
    pub(crate) fn place(
        &self,
        ctx: &Context,
        model: &Model,
        index: usize,
        clock: &Clock,
    ) -> Placed {
        let step = self.steps.get(index).ok_or_else(|| {
            LoadError::from(crate::Error::InvalidArgument(format!(
                "no tensor {index} in the plan"
            )))
        })?;
        let placed = clock.time(Phase::Allocate, || {
            place_step(ctx, model, step, self.host_memory)
        });
        if placed.is_ok() {
            self.allocated.fetch_add(step.info.bytes, Ordering::Relaxed);
        }
        let done = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_done.fetch_max(done, Ordering::Relaxed);
        placed
    }

    /// One allocation thread: places the next tensor nobody has taken, until none is left, one
    /// fails, or the load stops. A tensor it takes it always finishes, so the copy never waits
    /// for a tensor nobody places unless the load stopped.
    pub(crate) fn work(&self, ctx: &Context, model: &Model, clock: &Clock, stop: &AtomicBool) {
        while !stop.load(Ordering::Acquire) && !self.failed.load(Ordering::Acquire) {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= self.steps.len() {
                return;
            }
            let placed = self.place(ctx, model, index, clock);
            if placed.is_err() {
                // The copy stops at this tensor with its error; later ones are not needed.
                self.failed.store(true, Ordering::Release);
            }
            if let Ok(mut slots) = self.slots.lock() {
                if let Some(slot) = slots.get_mut(index) {
                    *slot = Some(placed);
                }
            }
            self.ready.notify_all();
        }
    }

    /// Waits for tensor `index`'s memory, allocated by the workers; `on_wait` is called once if
    /// it is not there yet. `halted` is asked while waiting: when it gives an error (a
    /// cancellation, another stage's failure) the wait ends with it.
    pub(crate) fn take(
        &self,
        index: usize,
        on_wait: impl FnOnce(),
        halted: impl Fn() -> Result<(), Halt>,
    ) -> Result<Placed, Halt> {
        let lost = || {
            Halt::Failed(LoadError::from(crate::Error::InvalidArgument(
                "the allocation threads' results were poisoned by a panic".into(),
            )))
        };
        let mut slots = self.slots.lock().map_err(|_| lost())?;
        let mut on_wait = Some(on_wait);
        loop {
            if let Some(placed) = slots.get_mut(index).and_then(Option::take) {
                return Ok(placed);
            }
            if let Some(on_wait) = on_wait.take() {
                on_wait();
            }
            halted()?;
            // A timeout as well as the notification, so `halted` is asked now and then.
            slots = self
                .ready
                .wait_timeout(slots, Duration::from_millis(20))
                .map_err(|_| lost())?
                .0;
        }
    }
}

/// Why a stage of a load stopped early.
#[derive(Debug)]
pub(crate) enum Halt {
    /// It failed (or the load was cancelled): this is the load's error.
    Failed(LoadError),
    /// Another stage failed; that stage's error is the load's.
    Stopped,
}

impl From<LoadError> for Halt {
    fn from(error: LoadError) -> Self {
        Halt::Failed(error)
    }
}

impl From<crate::Error> for Halt {
    fn from(error: crate::Error) -> Self {
        Halt::Failed(LoadError::from(error))
    }
}
