//! Storage of synapses and of arriving input: the per-partition synapse table (CSR by
//! source neuron, targets local to the partition) and the per-target ring buffer
//! indexed by arrival step.

use crate::connectivity::SynapseRows;

/// Delays of a synapse table: one value for all synapses (the common case, which
/// lets delivery compute the ring slot once per spike) or one per synapse.
#[derive(Clone, Debug)]
pub enum Delays {
    /// Every synapse has this delay (steps).
    Uniform(u16),
    /// Per-synapse delays (steps), parallel to the targets.
    PerSynapse(Vec<u16>),
}

/// Synapses of one projection that end on one partition's neurons, by source.
#[derive(Clone, Debug)]
pub struct SynapseTable {
    /// `row_ptr[s]..row_ptr[s+1]` index the synapses of source neuron `s`.
    pub row_ptr: Vec<usize>,
    /// Target, as an index local to the partition's chunk of the target population.
    pub target: Vec<u32>,
    /// Weight.
    pub weight: Vec<f32>,
    /// Delays in steps.
    pub delays: Delays,
}

impl SynapseTable {
    /// The synapses of `rows` whose targets lie in `lo..hi`, re-indexed from `lo`.
    pub fn from_rows(rows: &SynapseRows, lo: u32, hi: u32) -> Self {
        let n_src = rows.row_ptr.len() - 1;
        let mut row_ptr = Vec::with_capacity(n_src + 1);
        row_ptr.push(0);
        let mut target = Vec::new();
        let mut weight = Vec::new();
        let mut delay = Vec::new();
        for s in 0..n_src {
            let (a, b) = (rows.row_ptr[s], rows.row_ptr[s + 1]);
            let row = &rows.target[a..b];
            // Targets are ascending within a row: the chunk's part is contiguous.
            let i0 = a + row.partition_point(|&t| t < lo);
            let i1 = a + row.partition_point(|&t| t < hi);
            target.extend(rows.target[i0..i1].iter().map(|&t| t - lo));
            weight.extend_from_slice(&rows.weight[i0..i1]);
            delay.extend_from_slice(&rows.delay[i0..i1]);
            row_ptr.push(target.len());
        }
        let delays = match delay.first() {
            Some(&d0) if delay.iter().all(|&d| d == d0) => Delays::Uniform(d0),
            None => Delays::Uniform(1),
            Some(_) => Delays::PerSynapse(delay),
        };
        SynapseTable {
            row_ptr,
            target,
            weight,
            delays,
        }
    }

    /// Number of synapses.
    pub fn len(&self) -> usize {
        self.target.len()
    }

    /// True when there are no synapses.
    pub fn is_empty(&self) -> bool {
        self.target.is_empty()
    }

    /// Largest delay (steps).
    pub fn max_delay(&self) -> u16 {
        match &self.delays {
            Delays::Uniform(d) => *d,
            Delays::PerSynapse(v) => v.iter().copied().max().unwrap_or(1),
        }
    }

    /// Delay of synapse `k`.
    pub fn delay(&self, k: usize) -> u16 {
        match &self.delays {
            Delays::Uniform(d) => *d,
            Delays::PerSynapse(v) => v[k],
        }
    }

    /// Adds the weights of the rows of `spikes` (source indices `offset + s`, emitted
    /// at `emit_step`) into `ring`; returns the number of synaptic events.
    #[inline]
    pub fn deliver(
        &self,
        spikes: &[u32],
        offset: u32,
        emit_step: u64,
        ring: &mut RingBuffer,
    ) -> u64 {
        let mut events = 0u64;
        match &self.delays {
            Delays::Uniform(d) => {
                let slot = ring.slot_mut(emit_step + *d as u64);
                for &s in spikes {
                    let s = (s + offset) as usize;
                    let (a, b) = (self.row_ptr[s], self.row_ptr[s + 1]);
                    events += (b - a) as u64;
                    for (&t, &w) in self.target[a..b].iter().zip(&self.weight[a..b]) {
                        // Targets are in range by construction (local to this chunk).
                        slot[t as usize] += w;
                    }
                }
            }
            Delays::PerSynapse(delay) => {
                for &s in spikes {
                    let s = (s + offset) as usize;
                    let (a, b) = (self.row_ptr[s], self.row_ptr[s + 1]);
                    events += (b - a) as u64;
                    for ((&t, &w), &d) in self.target[a..b]
                        .iter()
                        .zip(&self.weight[a..b])
                        .zip(&delay[a..b])
                    {
                        ring.add(emit_step + d as u64, t, w);
                    }
                }
            }
        }
        events
    }

    /// As [`SynapseTable::deliver`], with the weights of the row of `spikes[k]` scaled
    /// by `scale[k]` (short-term plasticity).
    pub fn deliver_scaled(
        &self,
        spikes: &[u32],
        offset: u32,
        scale: &[f32],
        emit_step: u64,
        ring: &mut RingBuffer,
    ) -> u64 {
        let mut events = 0u64;
        for (&s, &f) in spikes.iter().zip(scale) {
            let s = (s + offset) as usize;
            let (a, b) = (self.row_ptr[s], self.row_ptr[s + 1]);
            events += (b - a) as u64;
            match &self.delays {
                Delays::Uniform(d) => {
                    let slot = ring.slot_mut(emit_step + *d as u64);
                    for (&t, &w) in self.target[a..b].iter().zip(&self.weight[a..b]) {
                        slot[t as usize] += w * f;
                    }
                }
                Delays::PerSynapse(delay) => {
                    for ((&t, &w), &d) in self.target[a..b]
                        .iter()
                        .zip(&self.weight[a..b])
                        .zip(&delay[a..b])
                    {
                        ring.add(emit_step + d as u64, t, w * f);
                    }
                }
            }
        }
        events
    }
}

/// Input arriving at `n` targets, kept for the next `slots` steps: slot `t mod slots`
/// accumulates everything arriving at step `t`.
#[derive(Clone, Debug)]
pub struct RingBuffer {
    n: usize,
    mask: u64,
    data: Vec<f32>,
}

impl RingBuffer {
    /// A buffer for `n` targets and delays up to `max_delay` steps.
    pub fn new(n: usize, max_delay: u16) -> Self {
        let slots = (max_delay as usize + 1).next_power_of_two();
        RingBuffer {
            n,
            mask: slots as u64 - 1,
            data: vec![0.0; slots * n],
        }
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.mask as usize + 1
    }

    /// The slot of arrival step `step`.
    #[inline]
    pub fn slot_mut(&mut self, step: u64) -> &mut [f32] {
        let base = (step & self.mask) as usize * self.n;
        &mut self.data[base..base + self.n]
    }

    /// Adds `w` to target `t` at arrival step `step`.
    #[inline]
    pub fn add(&mut self, step: u64, t: u32, w: f32) {
        let idx = (step & self.mask) as usize * self.n + t as usize;
        self.data[idx] += w;
    }

    /// Zeroes every slot.
    pub fn clear(&mut self) {
        self.data.fill(0.0);
    }

    /// Bytes a buffer for `n` targets and `max_delay` would take.
    pub fn bytes_for(n: usize, max_delay: u16) -> usize {
        (max_delay as usize + 1).next_power_of_two() * n * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_splits_rows_by_target_range_and_delivers_with_delays() {
        let rows = SynapseRows {
            row_ptr: vec![0, 3, 4],
            target: vec![0, 2, 5, 3],
            weight: vec![1.0, 2.0, 3.0, 4.0],
            delay: vec![1, 2, 3, 1],
        };
        let t = SynapseTable::from_rows(&rows, 2, 6);
        assert_eq!(t.row_ptr, vec![0, 2, 3]);
        assert_eq!(t.target, vec![0, 3, 1]);
        let mut ring = RingBuffer::new(4, t.max_delay());
        assert_eq!(ring.slots(), 4);
        let ev = t.deliver(&[0, 1], 0, 10, &mut ring);
        assert_eq!(ev, 3);
        assert_eq!(ring.slot_mut(11), &[0.0, 4.0, 0.0, 0.0]);
        assert_eq!(ring.slot_mut(12), &[2.0, 0.0, 0.0, 0.0]);
        assert_eq!(ring.slot_mut(13), &[0.0, 0.0, 0.0, 3.0]);
    }
}
