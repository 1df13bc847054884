//! A pool of large `f32` buffers reused from batch to batch. Each batch allocates the
//! same activations and gradients (tens of megabytes); taking them from this pool
//! instead of the system allocator avoids page faults and zeroing fresh pages every
//! batch. [`crate::nn::tensor::Tensor`] returns its buffer here when dropped.

use rayon::prelude::*;
use std::sync::Mutex;

/// Buffers smaller than this many floats are not pooled (256 KiB).
const MIN_POOLED: usize = 1 << 16;
/// At most this many buffers are kept.
const MAX_BUFFERS: usize = 32;

static POOL: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// A buffer of `len` floats with unspecified (but initialised) contents.
pub fn take(len: usize) -> Vec<f32> {
    if len >= MIN_POOLED {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let best = pool
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(k, _)| k);
        if let Some(k) = best {
            let mut v = pool.swap_remove(k);
            drop(pool);
            if v.len() >= len {
                v.truncate(len);
            } else {
                v.resize(len, 0.0);
            }
            return v;
        }
    }
    vec![0.0; len]
}

/// A buffer of `len` zeros.
pub fn take_zeroed(len: usize) -> Vec<f32> {
    let mut v = take(len);
    if len >= MIN_POOLED {
        v.par_chunks_mut(1 << 16).for_each(|c| c.fill(0.0));
    } else {
        v.fill(0.0);
    }
    v
}

/// Returns a buffer to the pool (small ones are simply freed).
pub fn give(v: Vec<f32>) {
    if v.capacity() < MIN_POOLED {
        return;
    }
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if pool.len() >= MAX_BUFFERS {
        // Drop the smallest to make room.
        if let Some((k, _)) = pool.iter().enumerate().min_by_key(|(_, b)| b.capacity()) {
            if pool[k].capacity() < v.capacity() {
                pool.swap_remove(k);
            } else {
                return;
            }
        }
    }
    pool.push(v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_zeroed_on_request() {
        let mut a = take(MIN_POOLED * 3);
        a.fill(7.0);
        let ptr = a.as_ptr();
        give(a);
        let b = take_zeroed(MIN_POOLED * 2);
        assert!(b.iter().all(|&x| x == 0.0));
        assert_eq!(b.len(), MIN_POOLED * 2);
        // Other tests may take the buffer concurrently; when they do not, it is reused.
        let reused = b.as_ptr() == ptr;
        give(b);
        let c = take(10);
        assert_eq!(c, vec![0.0; 10]);
        let _ = reused;
    }
}
