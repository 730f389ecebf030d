//! The Vulkan loader and its drivers, as one process uses them: loaded once, never unloaded,
//! and entered by one thread at a time for the calls that load drivers or create devices.
//!
//! # Why
//! Each wgpu Vulkan instance loads the loader itself (wgpu-hal 30 `Instance::init` calls
//! `ash::Entry::load`, a `dlopen` of `libvulkan.so.1`), and the loader opens every driver (ICD)
//! library while the instance is created (and for every `vkEnumerateInstance*` call before it),
//! and closes them when it is destroyed. A program that creates and drops contexts therefore
//! unloads and reloads the GPU driver each time. NVIDIA's driver (`libGLX_nvidia.so.0`) does not
//! reliably survive that: on an H200 (driver 580.159.04) the second context of a process found
//! no adapter in 2 of 4 runs, the loader reporting "Could not get 'vkCreateInstance' via
//! 'vk_icdGetInstanceProcAddr' for ICD libGLX_nvidia.so.0", and test threads that created
//! instances at the same time crashed inside `libEGL` (the same crash as gfx-rs/wgpu#5930, where
//! a process-wide lock around instance creation made it go away). Concurrent device creation has
//! crashed NVIDIA's driver too (gfx-rs/wgpu#10234).
//!
//! # What Strata does
//! - `strata` keeps one wgpu instance per configuration for the life of the process and shares
//!   it between contexts (`strata::adapter::shared_instance`): after the first context, no
//!   driver is loaded or unloaded again.
//! - Creating an instance, opening a device ([`crate::open_device`]) and asking for the
//!   installed layers run under one process-wide lock ([`serialized`]).
//! - The first call here loads the loader once more and keeps that handle forever, so that the
//!   loader library itself stays resident even when an application drops every instance.
//!
//! - A context Strata created drops its device while holding the same turn ([`Turn`]), so that
//!   no device is destroyed while another is created or destroyed. A device kept alive by
//!   buffers the application still holds is destroyed when the last of them goes, outside it.

use ash::vk;
use std::sync::{Condvar, Mutex, OnceLock};

/// Whether some thread holds the process-wide [`Turn`], and the wait for it to be given back.
static BUSY: Mutex<bool> = Mutex::new(false);
static FREED: Condvar = Condvar::new();

/// The process-wide turn of [`serialized`], held as a value: while it lives, no other thread
/// creates an instance, opens a device or destroys one through Strata. Unlike a mutex guard it
/// may be held across the drops of several values (a context holds it while its device
/// goes) and is `Send`. Not re-entrant: a thread holding it must not ask for it again.
#[derive(Debug)]
pub struct Turn(());

/// Waits for the process-wide [`Turn`] and takes it.
pub fn turn() -> Turn {
    // The flag is the only data; a panic elsewhere cannot leave it inconsistent.
    let mut busy = BUSY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    while *busy {
        busy = FREED
            .wait(busy)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
    }
    *busy = true;
    Turn(())
}

impl Drop for Turn {
    fn drop(&mut self) {
        *BUSY
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = false;
        FREED.notify_one();
    }
}

/// Runs `f` while no other thread of this process holds the [`Turn`]: creating an instance,
/// opening or destroying a device, or listing the installed layers.
///
/// A panic inside `f` gives the turn back (it guards no data).
pub fn serialized<T>(f: impl FnOnce() -> T) -> T {
    let _turn = turn();
    f()
}

/// Loads the Vulkan loader library once and keeps it loaded for the life of the process;
/// `false` when there is no loader on this machine. Cheap after the first call. Call it outside
/// [`serialized`] (it takes the lock itself the first time).
pub fn keep_loader_loaded() -> bool {
    resident_loader().is_some()
}

/// The loader, loaded once and kept for the life of the process (`None` when it cannot be
/// loaded: no Vulkan on this machine).
fn resident_loader() -> Option<&'static ash::Entry> {
    static ENTRY: OnceLock<Option<ash::Entry>> = OnceLock::new();
    ENTRY
        .get_or_init(|| {
            serialized(|| {
                // SAFETY: loading the Vulkan loader library has no precondition beyond it being
                // a genuine loader; failure is an error value, kept as `None`. The handle is
                // never dropped (a `static`), so the library is never unloaded by us.
                unsafe { ash::Entry::load() }.ok()
            })
        })
        .as_ref()
}

/// The spec version of the installed Khronos validation layer (packed as by
/// `vk::make_api_version`), or `None` when it is not installed. Asked once per process.
pub fn validation_layer_version() -> Option<u32> {
    static VERSION: OnceLock<Option<u32>> = OnceLock::new();
    *VERSION.get_or_init(|| {
        let entry = resident_loader()?;
        let layers = serialized(|| {
            // SAFETY: `entry` is a loaded Vulkan entry point (kept loaded for the process's
            // life); the call has no other precondition.
            unsafe { entry.enumerate_instance_layer_properties() }
        })
        .unwrap_or_default();
        layers
            .iter()
            .find(|l| {
                l.layer_name_as_c_str()
                    .is_ok_and(|n| n == c"VK_LAYER_KHRONOS_validation")
            })
            .map(|l| l.spec_version)
    })
}

/// `true` when the Khronos validation layer is installed (so GPU tests can insist on it).
pub fn validation_layer_available() -> bool {
    validation_layer_version().is_some()
}

/// `false` when the installed validation layer predates `VK_KHR_cooperative_matrix` (Vulkan
/// 1.3.255): it then rejects the extension's structures and shaders as unknown, so a device
/// validated by it should not enable cooperative matrices. `true` when it knows the extension
/// or no layer is installed.
pub fn validation_layer_knows_cooperative_matrix() -> bool {
    validation_layer_version().is_none_or(|v| v >= vk::make_api_version(0, 1, 3, 255))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_does_not_block_later_calls() {
        let caught = std::panic::catch_unwind(|| serialized(|| panic!("inside")));
        assert!(caught.is_err());
        assert_eq!(serialized(|| 7), 7);
    }

    #[test]
    fn a_held_turn_keeps_other_threads_out_until_dropped() {
        let held = turn();
        let entered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&entered);
        let other = std::thread::spawn(move || {
            serialized(|| flag.store(true, std::sync::atomic::Ordering::SeqCst))
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!entered.load(std::sync::atomic::Ordering::SeqCst));
        drop(held);
        other.join().unwrap();
        assert!(entered.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn the_layer_is_asked_once() {
        assert_eq!(validation_layer_version(), validation_layer_version());
    }
}
