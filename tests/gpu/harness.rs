//! Shared set-up: a validated context, Strata's capture of validation messages (they fail the
//! test), and turns that let a test run alone when it reads process-wide figures.

use std::sync::{Condvar, Mutex};
use strata::Context;

/// The process's logger: Strata's capture of validation-layer messages (it prints every warning
/// and error, and keeps the layer's messages for [`assert_no_validation_messages`]).
fn install_logger() {
    assert!(
        strata::validation::capture(),
        "another logger was installed before the GPU tests' capture of validation messages"
    );
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Who runs now: GPU tests share the device's process-wide figures (heap usage, live
/// allocations of other contexts), so a test that takes such a figure as a *witness* of its own
/// allocation runs alone. Every GPU test holds a shared turn while it runs ([`gpu`]); a witness
/// test holds the exclusive turn ([`gpu_alone`]), granted once no shared turn is held, and no
/// shared turn is granted while it is held.
///
/// There is no writer preference (a test would deadlock waiting for a second turn of its own
/// behind a waiting witness test): an exclusive turn may wait until the tests running at the
/// time have finished, which costs one test slot, not correctness.
#[derive(Debug)]
struct Turns {
    shared: usize,
    exclusive: bool,
}

static TURNS: Mutex<Turns> = Mutex::new(Turns {
    shared: 0,
    exclusive: false,
});
static TURN_CHANGED: Condvar = Condvar::new();

/// A turn to run, held for a test's whole run and given back when dropped.
#[derive(Debug)]
pub(crate) struct Turn {
    exclusive: bool,
}

impl Turn {
    fn take(exclusive: bool) -> Self {
        let mut turns = TURNS.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let free = !turns.exclusive && (!exclusive || turns.shared == 0);
            if free {
                break;
            }
            turns = TURN_CHANGED.wait(turns).unwrap_or_else(|e| e.into_inner());
        }
        if exclusive {
            turns.exclusive = true;
        } else {
            turns.shared += 1;
        }
        Self { exclusive }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut turns = TURNS.lock().unwrap_or_else(|e| e.into_inner());
        if self.exclusive {
            turns.exclusive = false;
        } else {
            turns.shared -= 1;
        }
        TURN_CHANGED.notify_all();
    }
}

/// A context with validation on, checked for validation messages when dropped.
pub(crate) struct Gpu {
    ctx: Option<Context>,
    /// Released after the context is dropped (field order, and `Drop` below takes `ctx`).
    _turn: Turn,
}

impl std::ops::Deref for Gpu {
    type Target = Context;
    fn deref(&self) -> &Context {
        // Only `Drop` takes the context out.
        self.ctx.as_ref().expect("context present until drop")
    }
}

impl Drop for Gpu {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            let _ = ctx.wait_idle();
            drop(ctx);
        }
        if !std::thread::panicking() {
            assert_no_validation_messages();
        }
    }
}

/// Fails if the validation layer has said anything since the last check.
pub(crate) fn assert_no_validation_messages() {
    let messages = strata::validation::take_messages();
    assert!(
        messages.is_empty(),
        "the Vulkan validation layer reported {} message(s):\n{}",
        messages.len(),
        messages.join("\n")
    );
}

/// The test context, or `None` (loudly) outside CI when this machine has no adapter. The test
/// runs beside other GPU tests.
pub(crate) fn gpu() -> Option<Gpu> {
    gpu_with(Turn::take(false))
}

/// Like [`gpu`], for a test that must run while no other GPU test does: it reads a
/// process-wide figure (heap usage) as the witness of its own allocation.
pub(crate) fn gpu_alone() -> Option<Gpu> {
    gpu_with(Turn::take(true))
}

fn gpu_with(turn: Turn) -> Option<Gpu> {
    install_logger();
    if !strata_vk_validation_available() {
        let msg = "the Khronos validation layer is not installed (Debian: vulkan-validationlayers); \
                   GPU tests must run under it";
        if in_ci() {
            panic!("{msg}");
        }
        eprintln!("\n!!!!!!!! {msg}: GPU test NOT RUN !!!!!!!!\n");
        return None;
    }
    match Context::builder().validation(true).build() {
        Ok(ctx) => Some(Gpu {
            ctx: Some(ctx),
            _turn: turn,
        }),
        Err(e) if in_ci() => panic!("no GPU adapter in CI (lavapipe should be installed): {e}"),
        Err(e) => {
            eprintln!("\n!!!!!!!! no GPU adapter: GPU test NOT RUN: {e} !!!!!!!!\n");
            None
        }
    }
}

fn strata_vk_validation_available() -> bool {
    strata::adapter::validation_layer_available()
}

/// A seed from the clock, printed so a failure can be replayed.
pub(crate) fn fresh_seed(test: &str) -> u64 {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    eprintln!("{test}: seed {seed}");
    seed
}
