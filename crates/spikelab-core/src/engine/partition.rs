//! A partition: the unit of parallel work (DESIGN.md idea 4). It owns a contiguous
//! chunk of every population, every synapse that ends on those neurons, and the ring
//! buffers of its targets. A step reads the global spike list of the previous step,
//! delivers into its own ring buffers, then updates its own neurons: no partition
//! writes anything another one reads, so the result does not depend on how many
//! partitions there are.

use super::table::{RingBuffer, SynapseTable};
use crate::input::CurrentChunk;
use crate::neuron::{Drive, NeuronModel, UpdateContext};
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
    /// Local indices of the neurons that fired in the last step.
    pub spikes: Vec<u32>,
}

/// The synapses of one projection ending in this partition.
#[derive(Debug)]
pub(crate) struct ProjChunk {
    pub source: usize,
    pub target: usize,
    pub receptor: usize,
    pub table: SynapseTable,
    /// Short-term plasticity state of the source neurons (this partition's copy).
    pub stp: Option<StpState>,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Partition {
    pub pops: Vec<PopChunk>,
    pub projections: Vec<ProjChunk>,
    /// Synaptic events delivered so far.
    pub events: u64,
    pub dt_ms: f64,
}

impl Partition {
    /// Computes step `step`: delivers the spikes of step `step − 1` (`prev_spikes`,
    /// indexed by population, global indices) and updates every chunk.
    pub fn step(&mut self, step: u64, prev_spikes: &[Vec<u32>]) {
        if step > 0 {
            self.deliver(prev_spikes, step - 1);
        }
        let dt_ms = self.dt_ms;
        for chunk in &mut self.pops {
            chunk.spikes.clear();
            match &mut chunk.kind {
                ChunkKind::Source(src) => src.emit(step, &mut chunk.spikes),
                ChunkKind::Neuron(nc) => nc.update(step, dt_ms, &mut chunk.spikes),
            }
        }
    }

    fn deliver(&mut self, spikes: &[Vec<u32>], emit_step: u64) {
        for proj in &mut self.projections {
            let src = &spikes[proj.source];
            if src.is_empty() || proj.table.is_empty() {
                continue;
            }
            let ChunkKind::Neuron(nc) = &mut self.pops[proj.target].kind else {
                unreachable!("projections target neuron populations")
            };
            let ring = &mut nc.receptors[proj.receptor].ring;
            self.events += match &mut proj.stp {
                None => proj.table.deliver(src, emit_step, ring),
                Some(stp) => {
                    let factors = stp.on_spikes(src, emit_step);
                    proj.table.deliver_scaled(src, factors, emit_step, ring)
                }
            };
        }
    }
}

impl NeuronChunk {
    fn update(&mut self, step: u64, dt_ms: f64, spikes: &mut Vec<u32>) {
        self.drive.clear();
        let v = &self.state[0];
        for r in &mut self.receptors {
            let slot = r.ring.slot_mut(step);
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
