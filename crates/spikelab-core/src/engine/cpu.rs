//! The CPU backend: the network cut by target into partitions (DESIGN.md idea 4), one
//! worker thread per partition (the calling thread is worker 0 and also records),
//! synchronised by one spin barrier per step, spikes exchanged through
//! double-buffered slots. Bitwise identical results for any thread count. It is
//! built in stages by `engine/build/`; each step is `Partition::step`.

use super::backend::{Backend, StepSpikes};
use super::distributed::{Distribution, Transport, TransportExt};
use super::exchange::{SpikeExchange, SpinBarrier};
use super::partition::{ChunkKind, NeuronChunk, Partition};
use super::plan::BuildPlan;
use super::plastic;
use super::record::Recorder;
use crate::connectivity::SynapseRows;
use crate::error::Result;
use crate::neuron::NeuronModel;
use crate::rng::{self, Domain};
use crate::source::{GeneratorChunk, SourceChunk, SpikeGenerator};
use std::sync::Arc;

/// Every rank's `mine` (f32 values), in rank order, with each rank's count.
fn gather_f32(d: &Distribution, mine: &[f32]) -> (Vec<f32>, Vec<usize>) {
    let bits: Vec<u32> = mine.iter().map(|v| v.to_bits()).collect();
    let (mut all, mut counts) = (Vec::new(), Vec::new());
    d.transport.all_gather(&bits, &mut all, &mut counts);
    (all.into_iter().map(f32::from_bits).collect(), counts)
}

/// See the module docs.
pub struct CpuBackend {
    dt_ms: f64,
    seed: u64,
    /// `bounds[pop][k]..bounds[pop][k+1]` are the neurons of partition `k`.
    bounds: Vec<Vec<usize>>,
    partitions: Vec<Partition>,
    exchange: SpikeExchange,
    synapse_counts: Vec<usize>,
    /// In a distributed run: the transport and the partitions of each rank (this
    /// backend holds only its own; `partitions[i].index` is the global index).
    dist: Option<Distribution>,
}

impl std::fmt::Debug for CpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuBackend")
            .field("partitions", &self.partitions.len())
            .finish()
    }
}

/// The spikes of one step in the exchange: per population, one chunk per partition.
struct CpuStepSpikes<'a> {
    ex: &'a SpikeExchange,
    bounds: &'a [Vec<usize>],
    parity: usize,
}

impl StepSpikes for CpuStepSpikes<'_> {
    #[inline]
    fn count(&self, pop: usize) -> u64 {
        (0..self.bounds[pop].len() - 1)
            // SAFETY: built only after the barrier ending the step (see exchange docs).
            .map(|part| unsafe { self.ex.read(part, self.parity)[pop].len() } as u64)
            .sum()
    }

    #[inline]
    fn for_each_chunk(&self, pop: usize, mut f: impl FnMut(u32, &[u32])) {
        for part in 0..self.bounds[pop].len() - 1 {
            let lo = self.bounds[pop][part] as u32;
            // SAFETY: as above.
            f(lo, unsafe { &self.ex.read(part, self.parity)[pop] });
        }
    }
}

impl CpuBackend {
    pub(super) fn from_parts(
        plan: &BuildPlan,
        bounds: Vec<Vec<usize>>,
        partitions: Vec<Partition>,
        exchange: SpikeExchange,
        synapse_counts: Vec<usize>,
        dist: Option<Distribution>,
    ) -> Self {
        CpuBackend {
            dt_ms: plan.dt_ms,
            seed: plan.seed,
            bounds,
            partitions,
            exchange,
            synapse_counts,
            dist,
        }
    }

    /// Builds this rank's part of `plan` in a distributed run over `transport` (see
    /// [`crate::engine::distributed`]); `threads` per rank, 0 = the rank's share of
    /// the cores.
    pub fn build_distributed(
        plan: &BuildPlan,
        threads: usize,
        transport: Arc<dyn Transport>,
    ) -> Result<Self> {
        super::build::cpu_backend_distributed(plan, threads, transport)
    }

    /// Number of partitions of the whole network (every rank's).
    fn total_partitions(&self) -> usize {
        self.bounds.first().map_or(1, |b| b.len() - 1)
    }

    /// Per partition of the whole network, the length of every source row of
    /// projection `proj` (gathered from every rank in a distributed run).
    fn row_lengths(&self, proj: usize) -> Vec<Vec<u32>> {
        let lengths = |p: &Partition| -> Vec<u32> {
            let t = &p.projections[proj].table;
            t.row_ptr.windows(2).map(|w| (w[1] - w[0]) as u32).collect()
        };
        match &self.dist {
            None => self.partitions.iter().map(lengths).collect(),
            Some(d) => {
                let mine: Vec<u32> = self.partitions.iter().flat_map(lengths).collect();
                let (mut all, mut counts) = (Vec::new(), Vec::new());
                d.transport.all_gather(&mine, &mut all, &mut counts);
                let n_src = self.partitions[0].projections[proj].table.row_ptr.len() - 1;
                all.chunks(n_src.max(1)).map(<[u32]>::to_vec).collect()
            }
        }
    }

    fn neuron_chunks(&self, pop: usize) -> impl Iterator<Item = &NeuronChunk> {
        self.partitions
            .iter()
            .filter_map(move |p| match &p.pops[pop].kind {
                ChunkKind::Neuron(nc) => Some(nc),
                ChunkKind::Source(_) => None,
            })
    }

    fn neuron_chunks_mut(&mut self, pop: usize) -> impl Iterator<Item = (usize, &mut NeuronChunk)> {
        self.partitions.iter_mut().filter_map(move |p| {
            let c = &mut p.pops[pop];
            match &mut c.kind {
                ChunkKind::Neuron(nc) => Some((c.lo, nc)),
                ChunkKind::Source(_) => None,
            }
        })
    }
}

impl Backend for CpuBackend {
    fn build(plan: &BuildPlan, threads: usize) -> Result<Self> {
        super::build::cpu_backend(plan, threads)
    }

    fn workers(&self) -> usize {
        self.partitions.len()
    }

    fn synapse_count(&self, proj: usize) -> usize {
        self.synapse_counts[proj]
    }

    fn synaptic_events(&self) -> u64 {
        let mine = self.partitions.iter().map(|p| p.events).sum();
        match &self.dist {
            Some(d) => d.transport.sum_u64(mine),
            None => mine,
        }
    }

    fn exchange_seconds(&self) -> Option<f64> {
        self.dist.as_ref().map(|d| d.exchange_s)
    }

    fn run_steps(&mut self, t0: u64, n: u64, recorder: &mut Recorder<'_>) {
        let CpuBackend {
            partitions,
            exchange,
            bounds,
            dist,
            ..
        } = self;
        let ex: &SpikeExchange = exchange;
        let spikes_of = |t: u64| CpuStepSpikes {
            ex,
            bounds,
            parity: (t & 1) as usize,
        };
        let distributed = dist.is_some();
        // In a distributed run, the other ranks' spikes of step `t` fill their slots
        // after this rank's workers have finished it, before any starts step t + 1.
        let mut share = |t: u64| {
            if let Some(d) = dist.as_mut() {
                let parity = (t & 1) as usize;
                // SAFETY: between the barrier ending step t and the one starting t + 1
                // nobody writes slots of parity t, and only this thread writes the
                // other ranks' slots (no worker reads them before the next barrier).
                d.exchange(
                    |k| unsafe { ex.read(k, parity) },
                    |k| unsafe { ex.write(k, parity) },
                );
            }
        };
        if partitions.len() == 1 {
            let part = &mut partitions[0];
            for t in t0..t0 + n {
                part.step(t, ex);
                share(t);
                recorder.record(t, &spikes_of(t));
            }
        } else {
            let barrier = SpinBarrier::new(partitions.len());
            let barrier = &barrier;
            let (first, rest) = partitions
                .split_first_mut()
                .expect("at least one partition");
            std::thread::scope(|scope| {
                for part in rest.iter_mut() {
                    scope.spawn(move || {
                        for t in t0..t0 + n {
                            part.step(t, ex);
                            barrier.wait();
                            if distributed {
                                barrier.wait();
                            }
                        }
                    });
                }
                for t in t0..t0 + n {
                    first.step(t, ex);
                    barrier.wait();
                    if distributed {
                        share(t);
                        barrier.wait();
                    }
                    recorder.record(t, &spikes_of(t));
                }
            });
        }
    }

    fn take_state_samples(&mut self, probe: usize, samples: usize, out: &mut Vec<f32>) {
        let mut mine = Vec::new();
        for s in 0..samples {
            for part in &self.partitions {
                let p = &part.probes[probe];
                let w = p.local.len() * p.vars.len();
                mine.extend_from_slice(&p.values[s * w..(s + 1) * w]);
            }
        }
        for part in &mut self.partitions {
            part.probes[probe].values.clear();
        }
        match &self.dist {
            None => out.extend_from_slice(&mine),
            Some(d) => {
                // Every rank's samples, sample by sample in rank (= neuron) order.
                let (all, counts) = gather_f32(d, &mine);
                let mut at = 0;
                let starts: Vec<usize> = counts
                    .iter()
                    .map(|&c| {
                        let a = at;
                        at += c;
                        a
                    })
                    .collect();
                for s in 0..samples {
                    for (&start, &c) in starts.iter().zip(&counts) {
                        let w = c / samples.max(1);
                        out.extend_from_slice(&all[start + s * w..start + (s + 1) * w]);
                    }
                }
            }
        }
    }

    fn spikes_of_step(&self, pop: usize, step: u64) -> Vec<u32> {
        let parity = (step & 1) as usize;
        let mut out = Vec::new();
        for part in 0..self.total_partitions() {
            // SAFETY: no step is running (we hold &self).
            let spikes = unsafe { &self.exchange.read(part, parity)[pop] };
            let lo = self.bounds[pop][part] as u32;
            out.extend(spikes.iter().map(|&i| i + lo));
        }
        out
    }

    fn state(&self, pop: usize, var: usize) -> Vec<f32> {
        let mine: Vec<f32> = self
            .neuron_chunks(pop)
            .flat_map(|nc| nc.state[var].iter().copied())
            .collect();
        match &self.dist {
            None => mine,
            Some(d) => gather_f32(d, &mine).0,
        }
    }

    fn set_state(&mut self, pop: usize, var: usize, values: &[f32]) {
        for (lo, nc) in self.neuron_chunks_mut(pop) {
            let n = nc.state[var].len();
            nc.state[var].copy_from_slice(&values[lo..lo + n]);
        }
    }

    fn set_poisson_rates(&mut self, pop: usize, rates_hz: &[f64], step: u64) {
        for part in &mut self.partitions {
            let c = &mut part.pops[pop];
            if let ChunkKind::Source(SourceChunk::Poisson(pc)) = &mut c.kind {
                pc.set_rates(&rates_hz[c.lo..c.hi], step);
            }
        }
    }

    fn set_spike_generator(&mut self, pop: usize, spikes: &SpikeGenerator, step: u64) {
        let dt = self.dt_ms;
        for part in &mut self.partitions {
            let c = &mut part.pops[pop];
            if let ChunkKind::Source(SourceChunk::Generator(g)) = &mut c.kind {
                *g = GeneratorChunk::new(spikes, c.lo, c.hi, dt).shifted(step);
            }
        }
    }

    fn set_neuron_model(&mut self, pop: usize, model: &dyn NeuronModel) {
        for (_, nc) in self.neuron_chunks_mut(pop) {
            nc.model = model.clone_box();
        }
    }

    fn set_plasticity_enabled(&mut self, proj: usize, enabled: bool) {
        for part in &mut self.partitions {
            if let Some(pl) = &mut part.projections[proj].plastic {
                pl.enabled = enabled;
            }
        }
    }

    fn reward(&mut self, proj: usize, amount: f64) {
        for part in &mut self.partitions {
            part.projections[proj].pending_reward += amount as f32;
        }
    }

    fn normalize_weights(&mut self, proj: usize, total: f64) {
        for part in &mut self.partitions {
            let target = part.projections[proj].target;
            let n = self.bounds[target][part.index + 1] - self.bounds[target][part.index];
            plastic::normalize(&mut part.projections[proj].table, n, total as f32);
        }
    }

    fn set_weights(&mut self, proj: usize, weights: &[f32]) {
        let n_src = self.partitions[0].projections[proj].table.row_ptr.len() - 1;
        // Row lengths of every partition (every rank's), to find this rank's entries.
        let row_lengths = self.row_lengths(proj);
        let first = self.partitions[0].index;
        let mut next = 0usize;
        for s in 0..n_src {
            for (part, lengths) in row_lengths.iter().enumerate() {
                if !(first..first + self.partitions.len()).contains(&part) {
                    next += lengths[s] as usize;
                    continue;
                }
                let t = &mut self.partitions[part - first].projections[proj].table;
                for k in t.row_in_target_order(s) {
                    t.weight[k] = weights[next];
                    next += 1;
                }
            }
        }
    }

    fn synapses(&self, proj: usize) -> SynapseRows {
        let first = &self.partitions[0].projections[proj];
        let (n_src, target) = (first.table.row_ptr.len() - 1, first.target);
        let mut out = SynapseRows {
            row_ptr: vec![0],
            ..Default::default()
        };
        if let Some(d) = &self.dist {
            // This rank's partitions as source-major rows of (target, weight, delay)
            // triples behind each partition's row lengths; merged row by row.
            let mut mine = Vec::new();
            for p in &self.partitions {
                let t = &p.projections[proj].table;
                let lo = self.bounds[target][p.index] as u32;
                mine.extend(t.row_ptr.windows(2).map(|w| (w[1] - w[0]) as u32));
                for s in 0..n_src {
                    for k in t.row_in_target_order(s) {
                        mine.extend([t.target[k] + lo, t.weight[k].to_bits(), t.delay(k) as u32]);
                    }
                }
            }
            let (mut all, mut counts) = (Vec::new(), Vec::new());
            d.transport.all_gather(&mine, &mut all, &mut counts);
            // Per partition (global order): its row lengths and where its triples start.
            let mut parts: Vec<(&[u32], usize)> = Vec::new();
            let mut at = 0;
            for _ in 0..self.total_partitions() {
                let lengths = &all[at..at + n_src];
                let triples: usize = lengths.iter().map(|&l| l as usize).sum();
                parts.push((lengths, at + n_src));
                at += n_src + 3 * triples;
            }
            let mut cursor: Vec<usize> = parts.iter().map(|p| p.1).collect();
            for s in 0..n_src {
                for (p, (lengths, _)) in parts.iter().enumerate() {
                    for _ in 0..lengths[s] {
                        let w = &all[cursor[p]..cursor[p] + 3];
                        out.target.push(w[0]);
                        out.weight.push(f32::from_bits(w[1]));
                        out.delay.push(w[2] as u16);
                        cursor[p] += 3;
                    }
                }
                out.row_ptr.push(out.target.len());
            }
            return out;
        }
        for s in 0..n_src {
            for (part, p) in self.partitions.iter().enumerate() {
                let t = &p.projections[proj].table;
                let lo = self.bounds[target][part] as u32;
                for k in t.row_in_target_order(s) {
                    out.target.push(t.target[k] + lo);
                    out.weight.push(t.weight[k]);
                    out.delay.push(t.delay(k));
                }
            }
            out.row_ptr.push(out.target.len());
        }
        out
    }

    fn reseed(&mut self, key: u64, step: u64) {
        let seed = self.seed;
        for part in &mut self.partitions {
            for (pop, c) in part.pops.iter_mut().enumerate() {
                match &mut c.kind {
                    ChunkKind::Source(SourceChunk::Poisson(p)) => {
                        p.reseed(seed, key, pop, c.lo, step)
                    }
                    ChunkKind::Neuron(nc) => {
                        for (i, r) in nc.rng.iter_mut().enumerate() {
                            *r = rng::stream(
                                seed,
                                Domain::Neuron,
                                &[pop as u64, (c.lo + i) as u64, key, 1],
                            );
                        }
                    }
                    ChunkKind::Source(SourceChunk::Generator(_)) => {}
                }
            }
        }
    }

    fn clear_synaptic_state(&mut self) {
        for part in &mut self.partitions {
            for c in &mut part.pops {
                if let ChunkKind::Neuron(nc) = &mut c.kind {
                    for r in &mut nc.receptors {
                        r.state.fill(0.0);
                        r.ring.clear();
                    }
                }
            }
            for p in &mut part.projections {
                if let Some(pl) = &mut p.plastic {
                    pl.clear();
                }
                p.pending_reward = 0.0;
            }
        }
    }

    fn reset(&mut self) {
        for part in &mut self.partitions {
            for c in &mut part.pops {
                match &mut c.kind {
                    ChunkKind::Neuron(nc) => {
                        for (s, init) in nc.state.iter_mut().zip(&nc.initial) {
                            s.copy_from_slice(init);
                        }
                        for r in &mut nc.receptors {
                            r.state.copy_from_slice(&r.initial);
                            r.ring.clear();
                        }
                    }
                    ChunkKind::Source(SourceChunk::Poisson(p)) => p.restart(0),
                    ChunkKind::Source(SourceChunk::Generator(g)) => g.rewind(),
                }
            }
            for proj in &mut part.projections {
                if let Some(stp) = &mut proj.stp {
                    stp.reset();
                }
                // Traces, their last-update steps (the clock restarts at 0) and the
                // arrivals queued in flight belong to the previous run.
                if let Some(pl) = &mut proj.plastic {
                    pl.clear();
                }
                proj.pending_reward = 0.0;
            }
        }
        for slot in self.exchange.all_mut() {
            slot.iter_mut().for_each(Vec::clear);
        }
    }
}
