//! What the bench counts: heap allocations made inside the producer's
//! calls, and (under callgrind) instructions executed inside them.
//!
//! Every call into the producer during the measured phase goes through
//! [`kpp_measured`]. Callgrind runs the bench with collection off and
//! `--toggle-collect` on that function, so that it counts exactly the
//! instructions of those calls (and nothing of the responder, the warm-up
//! or the process start); the allocator counts only while inside it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The name callgrind's `--toggle-collect` matches.
pub const TOGGLE: &str = "*kpp_measured*";

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting the allocations (and reallocations,
/// which may move) made while [`kpp_measured`] runs.
pub struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the counter is an atomic on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `alloc`'s contract; passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn count() {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Allocations counted so far.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Runs one measured call. Never inlined: callgrind toggles on its entry
/// and exit, and calls never nest.
#[inline(never)]
pub fn kpp_measured<R>(f: impl FnOnce() -> R) -> R {
    COUNTING.store(true, Ordering::Relaxed);
    let r = f();
    COUNTING.store(false, Ordering::Relaxed);
    r
}

/// A call into the producer: measured in the measured phase, plain in the
/// warm-up.
#[inline(always)]
pub fn call<R>(measuring: bool, f: impl FnOnce() -> R) -> R {
    if measuring { kpp_measured(f) } else { f() }
}
