//! A global allocator that starts every large heap block on a cache line.
//!
//! The trainer's kernels read rows of activations, gradients and weights with 512-bit
//! loads. The system allocator aligns blocks to 16 bytes, so a row of 16 floats
//! usually straddles two 64-byte cache lines and its load costs two; the sparse
//! convolution kernels ran about a quarter slower for it. Install [`CacheLineAligned`]
//! in a program that trains (the `spikelab` binary does):
//!
//! ```
//! #[global_allocator]
//! static ALLOC: spikelab_train::nn::alloc::CacheLineAligned = spikelab_train::nn::alloc::CacheLineAligned;
//! # fn main() {}
//! ```
//!
//! Without it everything works the same, a little slower (the hottest kernels copy
//! their weights to aligned buffers themselves, see [`crate::nn::kernels::Aligned`]).

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks of at least this many bytes are aligned to a cache line.
const MIN_ALIGNED_BYTES: usize = 4096;
/// A cache line.
const LINE: usize = 64;

/// The system allocator, with blocks of 4 KiB or more aligned to 64 bytes.
pub struct CacheLineAligned;

/// The layout actually requested from the system for `l`: a pure function of `l`, so
/// `alloc` and `dealloc` of the same block agree.
#[inline]
fn widened(l: Layout) -> Layout {
    if l.size() >= MIN_ALIGNED_BYTES && l.align() < LINE {
        // SAFETY: LINE is a power of two and the size was valid for a smaller
        // alignment, so it does not overflow isize when rounded up to 64.
        unsafe { Layout::from_size_align_unchecked(l.size(), LINE) }
    } else {
        l
    }
}

// SAFETY: every block is allocated and freed by `System` with the same widened
// layout; `realloc` keeps the widened alignment by copying when it applies.
unsafe impl GlobalAlloc for CacheLineAligned {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded contract; `widened` keeps the size and a valid alignment.
        unsafe { System.alloc(widened(l)) }
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(widened(l)) }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` was allocated with `widened(l)` (same function of the layout).
        unsafe { System.dealloc(p, widened(l)) }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` is valid for `l.align()`.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, l.align()) };
        if widened(l) == l && widened(new) == new {
            // Small blocks: the system's realloc keeps their (small) alignment.
            // SAFETY: forwarded contract, layouts unchanged.
            return unsafe { System.realloc(p, l, new_size) };
        }
        // SAFETY: `new` has a non-zero size (new_size > 0 by the caller's contract).
        let q = unsafe { self.alloc(new) };
        if !q.is_null() {
            // SAFETY: both blocks are valid for the smaller size and do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(p, q, l.size().min(new_size));
                self.dealloc(p, l);
            }
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_blocks_start_on_a_cache_line_and_keep_their_contents() {
        let a = CacheLineAligned;
        for size in [100usize, 2000, 4096, 100_000] {
            let l = Layout::from_size_align(size, 4).unwrap();
            // SAFETY: non-zero size; freed below with the same layout.
            unsafe {
                let p = a.alloc(l);
                assert!(!p.is_null());
                if size >= MIN_ALIGNED_BYTES {
                    assert_eq!(p as usize % LINE, 0, "size {size}");
                }
                for k in 0..size {
                    *p.add(k) = (k % 251) as u8;
                }
                // Grow across the threshold both ways.
                let q = a.realloc(p, l, size * 3);
                let l3 = Layout::from_size_align(size * 3, 4).unwrap();
                if size * 3 >= MIN_ALIGNED_BYTES {
                    assert_eq!(q as usize % LINE, 0, "size {}", size * 3);
                }
                for k in 0..size {
                    assert_eq!(*q.add(k), (k % 251) as u8);
                }
                a.dealloc(q, l3);
            }
        }
    }
}
