//! A partition: the unit of parallel work (DESIGN.md idea 4). It owns a contiguous
//! chunk of every population, every synapse that ends on those neurons, and the ring
//! buffers of its targets. A step reads the global spike list of the previous step,
//! delivers into its own ring buffers, then updates its own neurons: no partition
//! writes anything another one reads, so the result does not depend on how many
//! partitions there are.

use super::exchange::SpikeExchange;
use super::plastic::{normalize, ColumnIndex, PlasticState};
use super::table::{RingBuffer, SynapseTable};
use crate::input::CurrentChunk;
use crate::neuron::{Drive, NeuronModel, UpdateContext};
use crate::poisson_input::PoissonInputChunk;
use crate::rng::Stream;
use crate::source::SourceChunk;
use crate::synapse::stp::StpState;
use crate::synapse::{DriveBuffers, Receptor};

/// One receptor of a neuron chunk: its state and ring buffer.
#[derive(Clone, Debug)]
pub(crate) struct ReceptorChunk {
    pub receptor: Receptor,
    pub state: Vec<f32>,
    /// Initial state, restored by `Simulator::reset`.
    pub initial: Vec<f32>,
    pub ring: RingBuffer,
    /// State variable the arrivals are added to (delta receptors with `variable`).
    pub variable: Option<usize>,
}

/// A chunk of a neuron population.
#[derive(Debug)]
pub(crate) struct NeuronChunk {
    pub model: Box<dyn NeuronModel>,
    pub state: Vec<Vec<f32>>,
    /// Initial state, restored by `Simulator::reset`.
    pub initial: Vec<Vec<f32>>,
    pub receptors: Vec<ReceptorChunk>,
    pub drive: DriveBuffers,
    pub currents: Vec<CurrentChunk>,
    /// Summed Poisson drives into the receptors.
    pub poisson: Vec<PoissonInputChunk>,
    pub rng: Vec<Stream>,
}

/// What a population chunk is.
#[derive(Debug)]
pub(crate) enum ChunkKind {
    Neuron(NeuronChunk),
    Source(SourceChunk),
}

/// Neurons `lo..hi` of one population.
#[derive(Debug)]
pub(crate) struct PopChunk {
    pub lo: usize,
    pub hi: usize,
    pub kind: ChunkKind,
}

/// A state monitor's part in this partition: values of its local neurons, one block
/// of `neurons × vars` per sample.
#[derive(Debug)]
pub(crate) struct StateProbe {
    pub pop: usize,
    pub every: u64,
    pub local: Vec<usize>,
    /// (is receptor, index) per recorded variable.
    pub vars: Vec<(bool, usize)>,
    pub values: Vec<f32>,
}

/// The synapses of one projection ending in this partition.
#[derive(Debug)]
pub(crate) struct ProjChunk {
    pub source: usize,
    pub target: usize,
    pub receptor: usize,
    pub table: SynapseTable,
    /// Synapses by target (plastic or normalised projections).
    pub cols: Option<ColumnIndex>,
    pub plastic: Option<Box<PlasticState>>,
    /// Reward population and dopamine per spike (reward-modulated rules).
    pub reward_source: Option<(usize, f32)>,
    /// Reward given from outside, applied at the next step.
    pub pending_reward: f32,
    /// Periodic normalisation: total and interval in steps.
    pub normalize_every: Option<(f32, u64)>,
    /// Short-term plasticity state of the source neurons (this partition's copy).
    pub stp: Option<StpState>,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Partition {
    /// Index of this partition.
    pub index: usize,
    pub pops: Vec<PopChunk>,
    pub projections: Vec<ProjChunk>,
    /// `bounds[pop][k]`: first neuron of partition `k` in population `pop`.
    pub bounds: Vec<Vec<usize>>,
    pub probes: Vec<StateProbe>,
    /// Whether any projection is plastic.
    pub has_plasticity: bool,
    /// Synaptic events delivered so far.
    pub events: u64,
    pub dt_ms: f64,
}

impl Partition {
    /// Computes step `step`: records state probes, delivers the spikes every partition
    /// emitted at step `step − 1`, updates every chunk and publishes its spikes.
    pub fn step(&mut self, step: u64, ex: &SpikeExchange) {
        self.record_probes(step);
        let parity = (step & 1) as usize;
        if step > 0 {
            self.deliver(ex, step - 1, parity ^ 1);
        }
        // SAFETY: this worker owns slot (self.index, parity) during this step.
        let out = unsafe { ex.write(self.index, parity) };
        let dt_ms = self.dt_ms;
        for (chunk, spikes) in self.pops.iter_mut().zip(out.iter_mut()) {
            spikes.clear();
            match &mut chunk.kind {
                ChunkKind::Source(src) => src.emit(step, spikes),
                ChunkKind::Neuron(nc) => nc.update(step, dt_ms, spikes),
            }
        }
        if self.has_plasticity {
            self.post_plasticity(out, step);
        }
    }

    fn deliver(&mut self, ex: &SpikeExchange, emit_step: u64, parity: usize) {
        let n_parts = self.bounds.first().map_or(1, |b| b.len() - 1);
        let step = emit_step + 1;
        for proj in &mut self.projections {
            if let Some((total, every)) = proj.normalize_every {
                if step.is_multiple_of(every) {
                    let n = self.bounds[proj.target][self.index + 1]
                        - self.bounds[proj.target][self.index];
                    normalize(&mut proj.table, n, total);
                }
            }
            let ChunkKind::Neuron(nc) = &mut self.pops[proj.target].kind else {
                unreachable!("projections target neuron populations")
            };
            let ring = &mut nc.receptors[proj.receptor].ring;
            let mut rewards = std::mem::take(&mut proj.pending_reward);
            for part in 0..n_parts {
                // SAFETY: slots of the previous step's parity are not written now.
                let slot = unsafe { ex.read(part, parity) };
                if let Some((pop, per_spike)) = proj.reward_source {
                    rewards += per_spike * slot[pop].len() as f32;
                }
                let spikes = &slot[proj.source];
                if spikes.is_empty() || proj.table.is_empty() {
                    continue;
                }
                let offset = self.bounds[proj.source][part] as u32;
                self.events += match (&mut proj.plastic, &mut proj.stp) {
                    (Some(pl), _) => pl.enqueue(&proj.table, spikes, offset, emit_step),
                    (None, Some(stp)) => {
                        let factors = stp.on_spikes(spikes, offset, emit_step);
                        proj.table
                            .deliver(spikes, offset, Some(factors), emit_step, ring)
                    }
                    (None, None) => proj.table.deliver(spikes, offset, None, emit_step, ring),
                };
            }
            if let Some(pl) = &mut proj.plastic {
                pl.arrive(&mut proj.table, ring, step);
                pl.reward_step(&mut proj.table, rewards);
            }
        }
    }

    /// Postsynaptic plasticity for the neurons that fired at `step`.
    fn post_plasticity(&mut self, fired: &[Vec<u32>], step: u64) {
        for proj in &mut self.projections {
            if let (Some(pl), Some(cols)) = (&mut proj.plastic, &proj.cols) {
                let f = &fired[proj.target];
                if !f.is_empty() {
                    pl.post_spikes(&mut proj.table, cols, f, step);
                }
            }
        }
    }

    fn record_probes(&mut self, step: u64) {
        for probe in &mut self.probes {
            if !step.is_multiple_of(probe.every) {
                continue;
            }
            let ChunkKind::Neuron(nc) = &self.pops[probe.pop].kind else {
                unreachable!("probes record neuron populations")
            };
            for &i in &probe.local {
                for &(is_receptor, k) in &probe.vars {
                    probe.values.push(if is_receptor {
                        nc.receptors[k].state.get(i).copied().unwrap_or(0.0)
                    } else {
                        nc.state[k][i]
                    });
                }
            }
        }
    }
}

impl NeuronChunk {
    fn update(&mut self, step: u64, dt_ms: f64, spikes: &mut Vec<u32>) {
        self.drive.clear();
        for (ri, r) in self.receptors.iter_mut().enumerate() {
            let Some(k) = r.variable else { continue };
            let slot = r.ring.slot_mut(step);
            for p in self.poisson.iter_mut().filter(|p| p.receptor == ri) {
                p.apply(slot);
            }
            for (x, a) in self.state[k].iter_mut().zip(slot.iter_mut()) {
                *x += *a;
                *a = 0.0;
            }
        }
        let v = &self.state[0];
        for (ri, r) in self.receptors.iter_mut().enumerate() {
            if r.variable.is_some() {
                continue;
            }
            let slot = r.ring.slot_mut(step);
            for p in self.poisson.iter_mut().filter(|p| p.receptor == ri) {
                p.apply(slot);
            }
            r.receptor.step(&mut r.state, slot, v, &mut self.drive);
        }
        for c in &mut self.currents {
            c.apply(step, &mut self.drive.current);
        }
        let d = &self.drive;
        let drive = Drive {
            current: &d.current,
            conductance: d.has_conductance.then_some((&d.g_sum[..], &d.g_rev[..])),
            jump: d.has_jump.then_some(&d.jump[..]),
        };
        let mut ctx = UpdateContext {
            step,
            dt_ms,
            rng: &mut self.rng,
        };
        self.model.update(&mut self.state, &drive, &mut ctx, spikes);
    }
}
