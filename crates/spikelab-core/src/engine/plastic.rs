//! The plastic part of a projection chunk: per-synapse presynaptic traces, per-neuron
//! postsynaptic traces, a column index (synapses by target, for postsynaptic events),
//! the queue of synapse arrivals (so presynaptic updates happen when each spike
//! reaches its synapse, after that synapse's own delay) and, for reward-modulated
//! rules, eligibility traces and the dopamine level. The equations are those of
//! [`crate::plasticity`].

use super::table::{RingBuffer, SynapseTable};
use crate::plasticity::{Rule, RuleKind};
use crate::rng::{self, Domain};

/// See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct PlasticState {
    pub rule: Rule,
    pub enabled: bool,
    /// Presynaptic traces per synapse and the step of their last update.
    r1: Vec<f32>,
    r2: Vec<f32>,
    r_last: Vec<u64>,
    /// Postsynaptic traces per local target neuron.
    o1: Vec<f32>,
    o2: Vec<f32>,
    o_last: Vec<u64>,
    /// Eligibility per synapse (reward-modulated rules).
    eligibility: Vec<f32>,
    /// Dopamine level (reward-modulated rules).
    pub dopamine: f32,
    /// Arrival queue: `queue[step & mask]` lists the synapses reached at that step.
    queue: Vec<Vec<u32>>,
    mask: u64,
    /// Keys for stochastic rules: projection index, seed, first target index.
    projection: u64,
    seed: u64,
    target_offset: u32,
}

/// Synapses grouped by target: `col_ptr[j]..col_ptr[j+1]` index `col_syn`.
#[derive(Clone, Debug, Default)]
pub(crate) struct ColumnIndex {
    pub col_ptr: Vec<usize>,
    pub col_syn: Vec<u32>,
    /// Source neuron of every synapse (CSR order).
    pub source_of: Vec<u32>,
}

impl ColumnIndex {
    pub fn new(table: &SynapseTable, n_targets: usize) -> Self {
        let mut col_ptr = vec![0usize; n_targets + 1];
        for &t in &table.target {
            col_ptr[t as usize + 1] += 1;
        }
        for j in 0..n_targets {
            col_ptr[j + 1] += col_ptr[j];
        }
        let mut fill = col_ptr.clone();
        let mut col_syn = vec![0u32; table.target.len()];
        let mut source_of = vec![0u32; table.target.len()];
        for s in 0..table.row_ptr.len() - 1 {
            let row = table.row_ptr[s]..table.row_ptr[s + 1];
            for (k, src) in source_of[row.clone()].iter_mut().enumerate() {
                let k = k + row.start;
                let j = table.target[k] as usize;
                col_syn[fill[j]] = k as u32;
                fill[j] += 1;
                *src = s as u32;
            }
        }
        ColumnIndex {
            col_ptr,
            col_syn,
            source_of,
        }
    }
}

/// Scales the weights onto every target of `table` (`n_targets` local targets) so
/// that they sum to `total`; targets without synapses or with zero total are left
/// alone. Two sequential passes over the synapses (no gathers).
pub(crate) fn normalize(table: &mut SynapseTable, n_targets: usize, total: f32) {
    let mut sums = vec![0.0f32; n_targets];
    for (&t, &w) in table.target.iter().zip(&table.weight) {
        sums[t as usize] += w;
    }
    for s in &mut sums {
        *s = if *s > 0.0 { total / *s } else { 1.0 };
    }
    for (&t, w) in table.target.iter().zip(table.weight.iter_mut()) {
        *w *= sums[t as usize];
    }
}

impl PlasticState {
    pub fn new(
        rule: Rule,
        table: &SynapseTable,
        n_targets: usize,
        projection: usize,
        seed: u64,
        target_offset: usize,
    ) -> Self {
        let n = table.len();
        let slots = (table.max_delay() as usize + 1).next_power_of_two();
        let reward = rule.kind == RuleKind::RewardModulated;
        let r2 = rule.r2.is_some();
        let o2 = rule.o2.is_some();
        PlasticState {
            rule,
            enabled: true,
            r1: vec![0.0; n],
            r2: if r2 { vec![0.0; n] } else { Vec::new() },
            r_last: vec![0; n],
            o1: vec![0.0; n_targets],
            o2: if o2 { vec![0.0; n_targets] } else { Vec::new() },
            o_last: vec![0; n_targets],
            eligibility: if reward { vec![0.0; n] } else { Vec::new() },
            dopamine: 0.0,
            queue: vec![Vec::new(); slots],
            mask: slots as u64 - 1,
            projection: projection as u64,
            seed,
            target_offset: target_offset as u32,
        }
    }

    /// Zeroes every trace, eligibility, the dopamine level and the arrival queue.
    pub fn clear(&mut self) {
        for v in [
            &mut self.r1,
            &mut self.r2,
            &mut self.o1,
            &mut self.o2,
            &mut self.eligibility,
        ] {
            v.fill(0.0);
        }
        self.r_last.fill(0);
        self.o_last.fill(0);
        self.dopamine = 0.0;
        self.queue.iter_mut().for_each(Vec::clear);
    }

    /// Queues the delay groups of the rows of `spikes` (sources `offset + s`, emitted
    /// at `emit_step`) for arrival; returns the number of synaptic events.
    pub fn enqueue(
        &mut self,
        table: &SynapseTable,
        spikes: &[u32],
        offset: u32,
        emit_step: u64,
    ) -> u64 {
        let mut events = 0;
        for &s in spikes {
            let s = (s + offset) as usize;
            events += (table.row_ptr[s + 1] - table.row_ptr[s]) as u64;
            let (queue, mask) = (&mut self.queue, self.mask);
            table.for_each_group(s, |g, d| {
                queue[((emit_step + d as u64) & mask) as usize].push(g)
            });
        }
        events
    }

    /// Delivers the synapses arriving at `step` into `ring` (with their current
    /// weights) and applies the presynaptic half of the rule.
    pub fn arrive(&mut self, table: &mut SynapseTable, ring: &mut RingBuffer, step: u64) {
        let slot = (step & self.mask) as usize;
        let arriving = std::mem::take(&mut self.queue[slot]);
        {
            let input = ring.slot_mut(step);
            for &g in &arriving {
                let r = table.group_range(g);
                for (&t, &w) in table.target[r.clone()].iter().zip(&table.weight[r]) {
                    input[t as usize] += w;
                }
            }
        }
        if self.enabled {
            for &g in &arriving {
                for k in table.group_range(g) {
                    self.pre_event(table, k, step);
                }
            }
        }
        let mut arriving = arriving;
        arriving.clear();
        self.queue[slot] = arriving;
    }

    #[inline(always)]
    fn pre_event(&mut self, table: &mut SynapseTable, k: usize, t: u64) {
        let rule = &self.rule;
        let j = table.target[k] as usize;
        let o1 = self.o1[j] * rule.o1.get(t - self.o_last[j]);
        let dt_pre = t - self.r_last[k];
        // With nearest-spike traces the old value is overwritten by 1.
        let r1 = if rule.nearest {
            0.0
        } else {
            self.r1[k] * rule.r1.get(dt_pre)
        };
        let w = &mut table.weight[k];
        match rule.kind {
            RuleKind::Triplet => {
                let r2 = match &rule.r2 {
                    Some(d) => self.r2[k] * d.get(dt_pre),
                    None => 0.0,
                };
                let dw = o1 * (rule.a2_minus + rule.a3_minus * r2);
                if dw != 0.0 {
                    *w = rule.depress(*w, dw);
                }
                if rule.r2.is_some() {
                    self.r2[k] = rule.bump(r2);
                }
            }
            RuleKind::Vogels => {
                *w = (*w + rule.a2_minus * (o1 - rule.offset)).clamp(rule.w_min, rule.w_max);
            }
            RuleKind::RewardModulated => {
                self.eligibility[k] -= rule.a2_minus * o1;
            }
            RuleKind::StochasticBinary => {
                let p = rule.a2_minus * o1;
                if *w >= rule.w_max && p > 0.0 {
                    let s = table.row_ptr.partition_point(|&q| q <= k) - 1;
                    let u = self.keyed_uniform(s as u64, j as u64, t);
                    if u < p as f64 {
                        table.weight[k] = self.rule.w_min;
                    }
                }
            }
        }
        let rule = &self.rule;
        self.r1[k] = rule.bump(r1);
        self.r_last[k] = t;
    }

    /// Applies the postsynaptic half of the rule for the local targets that fired at
    /// `step`.
    pub fn post_spikes(
        &mut self,
        table: &mut SynapseTable,
        cols: &ColumnIndex,
        fired: &[u32],
        step: u64,
    ) {
        if !self.enabled {
            return;
        }
        for &j in fired {
            let j = j as usize;
            let t = step;
            let dt_post = t - self.o_last[j];
            let o1 = self.o1[j] * self.rule.o1.get(dt_post);
            let o2 = match &self.rule.o2 {
                Some(d) => self.o2[j] * d.get(dt_post),
                None => 0.0,
            };
            for idx in cols.col_ptr[j]..cols.col_ptr[j + 1] {
                let k = cols.col_syn[idx] as usize;
                let r1 = self.r1[k] * self.rule.r1.get(t - self.r_last[k]);
                let rule = &self.rule;
                match rule.kind {
                    RuleKind::Triplet => {
                        let dw = r1 * (rule.a2_plus + rule.a3_plus * o2);
                        if dw != 0.0 {
                            table.weight[k] = rule.potentiate(table.weight[k], dw);
                        }
                    }
                    RuleKind::Vogels => {
                        table.weight[k] =
                            (table.weight[k] + rule.a2_plus * r1).clamp(rule.w_min, rule.w_max);
                    }
                    RuleKind::RewardModulated => {
                        self.eligibility[k] += rule.a2_plus * r1;
                    }
                    RuleKind::StochasticBinary => {
                        if table.weight[k] <= rule.w_min {
                            let p = rule.a2_plus * r1;
                            if p > 0.0 && self.uniform_post(cols, table, k, t) < p as f64 {
                                table.weight[k] = rule.w_max;
                            }
                        }
                    }
                }
            }
            self.o1[j] = self.rule.bump(o1);
            if self.rule.o2.is_some() {
                self.o2[j] = self.rule.bump(o2);
            }
            self.o_last[j] = t;
        }
    }

    /// Per-step work of reward-modulated rules: w += c·d·dt, c and d decay.
    pub fn reward_step(&mut self, table: &mut SynapseTable, rewards: f32) {
        if self.rule.kind != RuleKind::RewardModulated {
            return;
        }
        self.dopamine = self.dopamine * self.rule.d_decay + rewards;
        if !self.enabled {
            return;
        }
        let g = (self.dopamine + self.rule.tonic) * self.rule.dt_ms;
        let (lo, hi, decay) = (self.rule.w_min, self.rule.w_max, self.rule.c_decay);
        for (w, c) in table.weight.iter_mut().zip(self.eligibility.iter_mut()) {
            *w = (*w + *c * g).clamp(lo, hi);
            *c *= decay;
        }
    }

    fn uniform_post(&self, cols: &ColumnIndex, table: &SynapseTable, k: usize, t: u64) -> f64 {
        self.keyed_uniform(cols.source_of[k] as u64, table.target[k] as u64, t)
    }

    /// A uniform number keyed by (seed, projection, source, global target, step), so
    /// stochastic updates do not depend on the partitioning.
    fn keyed_uniform(&self, source: u64, local_target: u64, t: u64) -> f64 {
        let target = local_target + self.target_offset as u64;
        rng::hash_uniform(
            self.seed,
            Domain::Plasticity,
            &[self.projection, source, target, t],
        )
    }
}
