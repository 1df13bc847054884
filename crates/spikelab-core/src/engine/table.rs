//! Storage of synapses and of arriving input: the per-partition synapse table (CSR by
//! source neuron, targets local to the partition) and the per-target ring buffer
//! indexed by arrival step.

use crate::connectivity::{Row, SynapseRows};
use rayon::prelude::*;

/// Delays of a synapse table: one value for all synapses (the common case, which
/// lets delivery compute the ring slot once per spike) or one per synapse, with each
/// row sorted by delay and cut into groups of equal delay — delivery then works
/// group by group on contiguous synapses, and a plastic projection queues one entry
/// per group instead of one per synapse.
#[derive(Clone, Debug)]
pub enum Delays {
    /// Every synapse has this delay (steps).
    Uniform(u16),
    /// Per-synapse delays (steps), rows sorted by (delay, target). Groups are
    /// contiguous (group `g` is `start[g]..start[g + 1]`), so a synapse costs its
    /// target and weight only (8 bytes) and a group 6 bytes.
    Grouped {
        /// `row_group[s]..row_group[s+1]` are the groups of row `s`.
        row_group: Vec<u32>,
        /// First synapse of each group, then the number of synapses.
        start: Vec<u32>,
        /// Delay of each group.
        group_delay: Vec<u16>,
    },
}

/// The target and weight arrays a parallel fill writes into at disjoint positions.
struct SharedOut(*mut u32, *mut f32);

// SAFETY: used only for writes at positions no two tasks share (see from_columns).
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// # Safety
    /// `at` is in bounds and no other thread writes it.
    #[inline]
    unsafe fn write(&self, at: usize, target: u32, weight: f32) {
        *self.0.add(at) = target;
        *self.1.add(at) = weight;
    }
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
        // Which synapses land here, per row (targets are ascending within a row, so
        // the chunk's part is contiguous).
        let ranges: Vec<(usize, usize)> = (0..n_src)
            .map(|s| {
                let (a, b) = (rows.row_ptr[s], rows.row_ptr[s + 1]);
                let row = &rows.target[a..b];
                (
                    a + row.partition_point(|&t| t < lo),
                    a + row.partition_point(|&t| t < hi),
                )
            })
            .collect();
        let first = ranges
            .iter()
            .find(|(i0, i1)| i1 > i0)
            .map(|&(i0, _)| rows.delay[i0]);
        let uniform = ranges
            .iter()
            .all(|&(i0, i1)| rows.delay[i0..i1].iter().all(|&d| Some(d) == first));
        let mut row_ptr = Vec::with_capacity(n_src + 1);
        row_ptr.push(0);
        let mut target = Vec::new();
        let mut weight = Vec::new();
        if uniform {
            for &(i0, i1) in &ranges {
                target.extend(rows.target[i0..i1].iter().map(|&t| t - lo));
                weight.extend_from_slice(&rows.weight[i0..i1]);
                row_ptr.push(target.len());
            }
            return SynapseTable {
                row_ptr,
                target,
                weight,
                delays: Delays::Uniform(first.unwrap_or(1)),
            };
        }
        let mut row_group = vec![0u32];
        let (mut start, mut group_delay) = (Vec::new(), Vec::new());
        let mut order: Vec<usize> = Vec::new();
        for &(i0, i1) in &ranges {
            order.clear();
            order.extend(i0..i1);
            // Stable: equal delays keep ascending targets.
            order.sort_by_key(|&k| rows.delay[k]);
            let mut current: Option<u16> = None;
            for &k in &order {
                let d = rows.delay[k];
                if current != Some(d) {
                    start.push(target.len() as u32);
                    group_delay.push(d);
                    current = Some(d);
                }
                target.push(rows.target[k] - lo);
                weight.push(rows.weight[k]);
            }
            row_group.push(start.len() as u32);
            row_ptr.push(target.len());
        }
        start.push(target.len() as u32);
        SynapseTable {
            row_ptr,
            target,
            weight,
            delays: Delays::Grouped {
                row_group,
                start,
                group_delay,
            },
        }
    }

    /// The table of target-major columns: `columns[j]` holds the synapses ending on
    /// local target `j` (sources in `0..n_src`, ascending). Transposed by a counting
    /// sort on (source, delay), which leaves every row grouped by ascending delay with
    /// ascending targets within a group — the order [`SynapseTable::from_rows`]
    /// produces — without a copy of the whole projection or a sort.
    pub fn from_columns(columns: &[Row], n_src: usize) -> Self {
        let total: usize = columns.iter().map(|c| c.0.len()).sum();
        assert!(
            total <= u32::MAX as usize,
            "at most 2^32 synapses per table"
        );
        let (d_min, d_max) = columns
            .par_iter()
            .flat_map_iter(|c| c.2.iter().copied())
            .fold(|| (u16::MAX, 0u16), |(lo, hi), d| (lo.min(d), hi.max(d)))
            .reduce(|| (u16::MAX, 0u16), |a, b| (a.0.min(b.0), a.1.max(b.1)));
        let (d_min, d_max) = if d_min > d_max {
            (1, 1)
        } else {
            (d_min, d_max)
        };
        let span = (d_max - d_min) as usize + 1;
        // A parallel counting sort: the columns are cut into ranges, one task each;
        // every task counts its synapses per bucket (source, delay) in its own array,
        // then fills its positions, which start after those of the earlier ranges in
        // every bucket — so each bucket keeps ascending targets.
        let tasks = rayon::current_num_threads().clamp(1, columns.len().max(1));
        let cut: Vec<usize> = (0..=tasks).map(|k| k * columns.len() / tasks).collect();
        let buckets = n_src * span;
        let mut counts: Vec<Vec<u32>> = (0..tasks)
            .into_par_iter()
            .map(|k| {
                let mut c = vec![0u32; buckets];
                for (src, _, del) in &columns[cut[k]..cut[k + 1]] {
                    for (&s, &d) in src.iter().zip(del) {
                        c[s as usize * span + (d - d_min) as usize] += 1;
                    }
                }
                c
            })
            .collect();
        let mut row_ptr = Vec::with_capacity(n_src + 1);
        let mut row_group = Vec::with_capacity(n_src + 1);
        let (mut start, mut group_delay) = (Vec::new(), Vec::new());
        let mut at = 0u32;
        for s in 0..n_src {
            row_ptr.push(at as usize);
            row_group.push(start.len() as u32);
            for k in 0..span {
                let b = s * span + k;
                let c: u32 = counts.iter().map(|t| t[b]).sum();
                if c > 0 {
                    start.push(at);
                    group_delay.push(d_min + k as u16);
                }
                // Each task's counts become its next free positions in the bucket.
                let mut next = at;
                for t in counts.iter_mut() {
                    let n = t[b];
                    t[b] = next;
                    next += n;
                }
                at += c;
            }
        }
        row_ptr.push(at as usize);
        row_group.push(start.len() as u32);
        start.push(at);
        let mut target = vec![0u32; total];
        let mut weight = vec![0f32; total];
        {
            let out = SharedOut(target.as_mut_ptr(), weight.as_mut_ptr());
            let out = &out;
            counts.par_iter_mut().enumerate().for_each(|(k, next)| {
                for (j, (src, wt, del)) in columns[cut[k]..cut[k + 1]].iter().enumerate() {
                    let j = (cut[k] + j) as u32;
                    for i in 0..src.len() {
                        let slot = &mut next[src[i] as usize * span + (del[i] - d_min) as usize];
                        // SAFETY: positions come from disjoint per-task ranges of each
                        // bucket, all below `total`: no two writes hit one element.
                        unsafe { out.write(*slot as usize, j, wt[i]) };
                        *slot += 1;
                    }
                }
            });
        }
        let delays = if span == 1 {
            Delays::Uniform(d_min)
        } else {
            Delays::Grouped {
                row_group,
                start,
                group_delay,
            }
        };
        SynapseTable {
            row_ptr,
            target,
            weight,
            delays,
        }
    }

    /// Bytes this table holds (its vectors' lengths).
    pub fn bytes(&self) -> usize {
        let groups = match &self.delays {
            Delays::Uniform(_) => 0,
            Delays::Grouped {
                row_group,
                start,
                group_delay,
            } => 4 * row_group.len() + 4 * start.len() + 2 * group_delay.len(),
        };
        8 * self.row_ptr.len() + 8 * self.target.len() + groups
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
            Delays::Grouped { group_delay, .. } => group_delay.iter().copied().max().unwrap_or(1),
        }
    }

    /// Delay of synapse `k`.
    pub fn delay(&self, k: usize) -> u16 {
        match &self.delays {
            Delays::Uniform(d) => *d,
            Delays::Grouped {
                start, group_delay, ..
            } => group_delay[start.partition_point(|&x| x as usize <= k) - 1],
        }
    }

    /// The synapses of row `s` in ascending target order (storage order differs when
    /// rows are grouped by delay).
    pub fn row_in_target_order(&self, s: usize) -> Vec<usize> {
        let mut k: Vec<usize> = (self.row_ptr[s]..self.row_ptr[s + 1]).collect();
        if matches!(self.delays, Delays::Grouped { .. }) {
            k.sort_by_key(|&i| self.target[i]);
        }
        k
    }

    /// Calls `f(group, delay)` for every delay group of row `s` (the whole row when
    /// delays are uniform; the group id is then the row).
    #[inline]
    pub fn for_each_group(&self, s: usize, mut f: impl FnMut(u32, u16)) {
        match &self.delays {
            Delays::Uniform(d) => f(s as u32, *d),
            Delays::Grouped {
                row_group,
                group_delay,
                ..
            } => {
                for g in row_group[s]..row_group[s + 1] {
                    f(g, group_delay[g as usize]);
                }
            }
        }
    }

    /// The synapses of group `g` (see [`SynapseTable::for_each_group`]).
    #[inline]
    pub fn group_range(&self, g: u32) -> std::ops::Range<usize> {
        match &self.delays {
            Delays::Uniform(_) => self.row_ptr[g as usize]..self.row_ptr[g as usize + 1],
            Delays::Grouped { start, .. } => {
                start[g as usize] as usize..start[g as usize + 1] as usize
            }
        }
    }

    /// Adds the weights of the rows of `spikes` (source indices `offset + s`, emitted
    /// at `emit_step`) into `ring`, each spike's weights multiplied by `scale[i]` when
    /// given (short-term plasticity); returns the number of synaptic events.
    #[inline]
    pub fn deliver(
        &self,
        spikes: &[u32],
        offset: u32,
        scale: Option<&[f32]>,
        emit_step: u64,
        ring: &mut RingBuffer,
    ) -> u64 {
        let mut events = 0u64;
        for (i, &s) in spikes.iter().enumerate() {
            let s = (s + offset) as usize;
            events += (self.row_ptr[s + 1] - self.row_ptr[s]) as u64;
            let f = scale.map(|x| x[i]);
            self.for_each_group(s, |g, d| {
                let slot = ring.slot_mut(emit_step + d as u64);
                let r = self.group_range(g);
                let pairs = self.target[r.clone()].iter().zip(&self.weight[r]);
                match f {
                    None => pairs.for_each(|(&t, &w)| slot[t as usize] += w),
                    Some(f) => pairs.for_each(|(&t, &w)| slot[t as usize] += w * f),
                }
            });
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
        // Row 0 holds targets 2 (delay 2) and 5 (delay 3), local 0 and 3.
        assert_eq!(t.target, vec![0, 3, 1]);
        assert_eq!(t.row_in_target_order(0), vec![0, 1]);
        let mut ring = RingBuffer::new(4, t.max_delay());
        assert_eq!(ring.slots(), 4);
        let ev = t.deliver(&[0, 1], 0, None, 10, &mut ring);
        assert_eq!(ev, 3);
        assert_eq!(ring.slot_mut(11), &[0.0, 4.0, 0.0, 0.0]);
        assert_eq!(ring.slot_mut(12), &[2.0, 0.0, 0.0, 0.0]);
        assert_eq!(ring.slot_mut(13), &[0.0, 0.0, 0.0, 3.0]);
    }

    #[test]
    fn a_table_from_columns_is_the_table_from_rows() {
        use crate::connectivity::{generate, generate_columns, Connectivity, GenerateRequest};
        use crate::value::Value;
        let rule = Connectivity::FixedTotalNumber {
            n: 20_000,
            allow_self: true,
            allow_multapses: true,
        };
        let (w, d) = (Value::normal(1.0, 0.2), Value::uniform(0.1, 3.0));
        let req = GenerateRequest {
            rule: &rule,
            weight: &w,
            delay_ms: &d,
            dt_ms: 0.1,
            n_src: 150,
            n_tgt: 200,
            same: false,
            seed: 5,
            projection: 2,
        };
        let rows = generate(&req);
        for (lo, hi) in [(0, 200), (0, 63), (63, 200)] {
            let a = SynapseTable::from_rows(&rows, lo as u32, hi as u32);
            let b = SynapseTable::from_columns(&generate_columns(&req, lo, hi), 150);
            assert_eq!(a.row_ptr, b.row_ptr);
            assert_eq!(a.target, b.target);
            assert_eq!(a.weight, b.weight);
            assert!((0..a.len()).all(|k| a.delay(k) == b.delay(k)));
            assert!(matches!(b.delays, Delays::Grouped { .. }));
            // 8 bytes a synapse and 10 a group at most.
            assert!(b.bytes() < 8 * b.len() + 10 * 150 * 30 + 8 * 151);
        }
        // One delay for all: uniform.
        let d = Value::Constant(1.5);
        let req = GenerateRequest {
            delay_ms: &d,
            ..req
        };
        let t = SynapseTable::from_columns(&generate_columns(&req, 0, 200), 150);
        assert!(matches!(t.delays, Delays::Uniform(15)));
        assert_eq!(t.len(), 20_000);
    }
}
