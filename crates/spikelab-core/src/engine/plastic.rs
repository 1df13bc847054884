//! The plastic part of a projection chunk — the generic machinery every rule shares:
//! per-synapse presynaptic traces, per-neuron postsynaptic traces, eligibility and the
//! dopamine level where the rule asks for them, a column index (synapses by target,
//! for postsynaptic events) and the queue of synapse arrivals (so presynaptic updates
//! happen when each spike reaches its synapse, after that synapse's own delay). What a
//! rule does on an event is in its own file under [`crate::plasticity`]; this file
//! decays and bumps the traces and calls the rule, dispatching once per batch of
//! events (`with_rule!`), never per synapse.

use super::table::{RingBuffer, SynapseTable};
use crate::plasticity::traces::bump;
use crate::plasticity::{with_rule, PostEvent, PreEvent, Rule, RuleEvents};
use crate::rng::{self, Domain};

/// See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct PlasticState {
    pub rule: Rule,
    pub enabled: bool,
    traces: Traces,
    /// Arrival queue: `queue[step & mask]` lists the synapses reached at that step.
    queue: Vec<Vec<u32>>,
    mask: u64,
    keys: UniformKeys,
}

/// Trace storage of one plastic projection chunk.
#[derive(Clone, Debug)]
struct Traces {
    /// Presynaptic traces per synapse and the step of their last update.
    r1: Vec<f32>,
    r2: Vec<f32>,
    r_last: Vec<u64>,
    /// Postsynaptic traces per local target neuron.
    o1: Vec<f32>,
    o2: Vec<f32>,
    o_last: Vec<u64>,
    /// Eligibility per synapse (rules that use it).
    eligibility: Vec<f32>,
    /// Dopamine level (reward-modulated rules).
    dopamine: f32,
}

impl Traces {
    fn new<R: RuleEvents>(rule: &R, n_synapses: usize, n_targets: usize) -> Self {
        let sized = |on: bool, n: usize| if on { vec![0.0; n] } else { Vec::new() };
        Traces {
            r1: vec![0.0; n_synapses],
            r2: sized(rule.slow_pre_decay().is_some(), n_synapses),
            r_last: vec![0; n_synapses],
            o1: vec![0.0; n_targets],
            o2: sized(rule.slow_post_decay().is_some(), n_targets),
            o_last: vec![0; n_targets],
            eligibility: sized(rule.uses_eligibility(), n_synapses),
            dopamine: 0.0,
        }
    }
}

/// Keys of the uniform numbers of stochastic rules: projection index, seed, first
/// target index of the chunk.
#[derive(Clone, Copy, Debug)]
struct UniformKeys {
    projection: u64,
    seed: u64,
    target_offset: u32,
}

impl UniformKeys {
    /// A uniform number keyed by (seed, projection, source, global target, step), so
    /// stochastic updates do not depend on the partitioning.
    fn uniform(&self, source: u64, local_target: u64, t: u64) -> f64 {
        let target = local_target + self.target_offset as u64;
        rng::hash_uniform(
            self.seed,
            Domain::Plasticity,
            &[self.projection, source, target, t],
        )
    }
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
        let slots = (table.max_delay() as usize + 1).next_power_of_two();
        let traces = with_rule!(&rule, r => Traces::new(r, table.len(), n_targets));
        PlasticState {
            rule,
            enabled: true,
            traces,
            queue: vec![Vec::new(); slots],
            mask: slots as u64 - 1,
            keys: UniformKeys {
                projection: projection as u64,
                seed,
                target_offset: target_offset as u32,
            },
        }
    }

    /// Zeroes every trace, eligibility, the dopamine level and the arrival queue.
    pub fn clear(&mut self) {
        let tr = &mut self.traces;
        for v in [
            &mut tr.r1,
            &mut tr.r2,
            &mut tr.o1,
            &mut tr.o2,
            &mut tr.eligibility,
        ] {
            v.fill(0.0);
        }
        tr.r_last.fill(0);
        tr.o_last.fill(0);
        tr.dopamine = 0.0;
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
        let mut arriving = std::mem::take(&mut self.queue[slot]);
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
            let (tr, keys) = (&mut self.traces, &self.keys);
            with_rule!(&self.rule, r => pre_events(r, tr, keys, table, &arriving, step));
        }
        arriving.clear();
        self.queue[slot] = arriving;
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
        let (tr, keys) = (&mut self.traces, &self.keys);
        with_rule!(&self.rule, r => post_events(r, tr, keys, table, cols, fired, step));
    }

    /// Per-step work of the rule after arrivals (reward-modulated rules: w += c·d·dt,
    /// c and d decay), with the rewards of the step.
    pub fn reward_step(&mut self, table: &mut SynapseTable, rewards: f32) {
        let tr = &mut self.traces;
        let enabled = self.enabled;
        with_rule!(&self.rule, r => r.on_step(
            &mut table.weight,
            &mut tr.eligibility,
            &mut tr.dopamine,
            rewards,
            enabled,
        ));
    }
}

/// The presynaptic half of rule `rule` for the synapse groups `arriving` at step `t`.
fn pre_events<R: RuleEvents>(
    rule: &R,
    tr: &mut Traces,
    keys: &UniformKeys,
    table: &mut SynapseTable,
    arriving: &[u32],
    t: u64,
) {
    let nearest = rule.nearest();
    for &g in arriving {
        for k in table.group_range(g) {
            let j = table.target[k] as usize;
            let o1 = tr.o1[j] * rule.post_decay().get(t - tr.o_last[j]);
            let dt_pre = t - tr.r_last[k];
            // With nearest-spike traces the old value is overwritten by 1.
            let r1 = if nearest {
                0.0
            } else {
                tr.r1[k] * rule.pre_decay().get(dt_pre)
            };
            let r2 = match rule.slow_pre_decay() {
                Some(d) => tr.r2[k] * d.get(dt_pre),
                None => 0.0,
            };
            let mut w = table.weight[k];
            let row_ptr = &table.row_ptr;
            let uniform = || {
                let s = row_ptr.partition_point(|&q| q <= k) - 1;
                keys.uniform(s as u64, j as u64, t)
            };
            let ev = PreEvent { synapse: k, o1, r2 };
            rule.on_arrival(&ev, &mut w, &mut tr.eligibility, uniform);
            table.weight[k] = w;
            if rule.slow_pre_decay().is_some() {
                tr.r2[k] = bump(nearest, r2);
            }
            tr.r1[k] = bump(nearest, r1);
            tr.r_last[k] = t;
        }
    }
}

/// The postsynaptic half of rule `rule` for the local targets `fired` at step `t`.
fn post_events<R: RuleEvents>(
    rule: &R,
    tr: &mut Traces,
    keys: &UniformKeys,
    table: &mut SynapseTable,
    cols: &ColumnIndex,
    fired: &[u32],
    t: u64,
) {
    let nearest = rule.nearest();
    for &j in fired {
        let j = j as usize;
        let dt_post = t - tr.o_last[j];
        let o1 = tr.o1[j] * rule.post_decay().get(dt_post);
        let o2 = match rule.slow_post_decay() {
            Some(d) => tr.o2[j] * d.get(dt_post),
            None => 0.0,
        };
        for idx in cols.col_ptr[j]..cols.col_ptr[j + 1] {
            let k = cols.col_syn[idx] as usize;
            let r1 = tr.r1[k] * rule.pre_decay().get(t - tr.r_last[k]);
            let mut w = table.weight[k];
            let target = &table.target;
            let uniform = || keys.uniform(cols.source_of[k] as u64, target[k] as u64, t);
            let ev = PostEvent { synapse: k, r1, o2 };
            rule.on_post(&ev, &mut w, &mut tr.eligibility, uniform);
            table.weight[k] = w;
        }
        tr.o1[j] = bump(nearest, o1);
        if rule.slow_post_decay().is_some() {
            tr.o2[j] = bump(nearest, o2);
        }
        tr.o_last[j] = t;
    }
}
