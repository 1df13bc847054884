//! Spike exchange between partitions and the barrier that orders the steps.
//!
//! Every partition writes the spikes of step `t` into its own slot `t mod 2`; at step
//! `t + 1` all partitions read every slot `t mod 2` to deliver, and the recording
//! thread reads them after the barrier that ends step `t`. A slot is written again
//! only at step `t + 2`, which no worker starts before the barrier ending step `t + 1`,
//! which every worker (the recorder included) reaches only after its reads of step
//! `t + 1`. The barrier's release/acquire pairs order those accesses, so the unsafe
//! accessors below never alias a live mutable reference.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Double-buffered spike lists: `slots[partition][parity][population]` holds local
/// indices of the neurons of that partition's chunk that fired.
pub(crate) struct SpikeExchange {
    slots: Vec<[UnsafeCell<Vec<Vec<u32>>>; 2]>,
}

// SAFETY: access follows the protocol in the module docs; the barrier synchronises.
unsafe impl Sync for SpikeExchange {}

impl SpikeExchange {
    pub fn new(partitions: usize, populations: usize) -> Self {
        SpikeExchange {
            slots: (0..partitions)
                .map(|_| {
                    [
                        UnsafeCell::new(vec![Vec::new(); populations]),
                        UnsafeCell::new(vec![Vec::new(); populations]),
                    ]
                })
                .collect(),
        }
    }

    /// The slot partition `part` fills during a step of parity `parity`.
    ///
    /// # Safety
    /// Only the worker owning `part`, during a step of that parity (see module docs).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn write(&self, part: usize, parity: usize) -> &mut Vec<Vec<u32>> {
        &mut *self.slots[part][parity].get()
    }

    /// The spikes partition `part` emitted in the last step of parity `parity`.
    ///
    /// # Safety
    /// Not during a step of parity `parity` (see module docs).
    pub unsafe fn read(&self, part: usize, parity: usize) -> &Vec<Vec<u32>> {
        &*self.slots[part][parity].get()
    }

    /// Mutable access to everything, for single-threaded maintenance.
    pub fn all_mut(&mut self) -> impl Iterator<Item = &mut Vec<Vec<u32>>> {
        self.slots
            .iter_mut()
            .flat_map(|s| s.iter_mut().map(|c| c.get_mut()))
    }
}

/// A sense-counting spin barrier for a fixed number of threads: it spins briefly (the
/// common case: steps take microseconds and the workers are balanced), then yields so
/// an oversubscribed machine still makes progress.
pub(crate) struct SpinBarrier {
    n: usize,
    count: AtomicUsize,
    generation: AtomicUsize,
}

impl SpinBarrier {
    pub fn new(n: usize) -> Self {
        SpinBarrier {
            n,
            count: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
        }
    }

    pub fn wait(&self) {
        let gen = self.generation.load(Ordering::Acquire);
        if self.count.fetch_add(1, Ordering::AcqRel) + 1 == self.n {
            self.count.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
        } else {
            let mut spins = 0u32;
            while self.generation.load(Ordering::Acquire) == gen {
                if spins < 20_000 {
                    std::hint::spin_loop();
                    spins += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
}
