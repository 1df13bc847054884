//! Shared by the fuzz tests: a global allocator that counts allocations over
//! [`LARGE`] (absurd for files of a few KiB) and refuses those over [`REFUSE`]. Each
//! test binary installs it with `#[global_allocator] static GUARD: common::Guard =
//! common::Guard;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Allocations above this count as absurd for loading files of a few KiB.
pub const LARGE: usize = 64 << 20;
/// Allocations above this are refused outright (the process aborts) to protect the
/// machine; the counter catches anything between `LARGE` and this first.
pub const REFUSE: usize = 2 << 30;

/// Large allocations of every thread (loading builds an engine network, which may
/// allocate on rayon's threads).
pub static LARGE_ALLOCS: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting large allocations.
pub struct Guard;

unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LARGE {
            LARGE_ALLOCS.fetch_add(1, Ordering::Relaxed);
            if layout.size() > REFUSE {
                return std::ptr::null_mut();
            }
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LARGE {
            LARGE_ALLOCS.fetch_add(1, Ordering::Relaxed);
            if layout.size() > REFUSE {
                return std::ptr::null_mut();
            }
        }
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > LARGE {
            LARGE_ALLOCS.fetch_add(1, Ordering::Relaxed);
            if new_size > REFUSE {
                return std::ptr::null_mut();
            }
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
