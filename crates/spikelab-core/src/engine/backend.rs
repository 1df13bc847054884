//! The backend seam: what a [`crate::engine::Simulator`] needs from whatever computes
//! the steps. The CPU backend ([`crate::engine::cpu::CpuBackend`]: partitions by
//! target, worker threads, a spin barrier, double-buffered spike exchange) is the
//! first implementation; a GPU or distributed (MPI) backend implements the same
//! trait without touching model files.
//!
//! # What a backend implements
//!
//! - [`Backend::build`]: allocate state from a [`BuildPlan`] — every name resolved,
//!   every neuron model and plasticity rule already prepared, ring-buffer depths
//!   known. Random draws must come from the streams of [`crate::rng`] keyed as the
//!   CPU backend keys them (seed, population, neuron / projection), so results do not
//!   depend on the backend's layout.
//! - [`Backend::run_steps`]: the per-step pipeline — deliver the previous step's
//!   spikes, update receptors and neurons (through [`crate::neuron::NeuronModel`]),
//!   detect spikes, apply plasticity, sample state monitors — and call
//!   [`Recorder::record`] once per step with that step's spikes (a [`StepSpikes`]).
//! - State monitors: the state monitors of the plan, in plan order, are probes
//!   `0, 1, …`; sample them at the start of every step that is a multiple of their
//!   interval and hand the samples over in [`Backend::take_state_samples`].
//! - The accessors below (state, weights, sources, plasticity switches, resets).
//!
//! # What it gets for free
//!
//! The [`crate::engine::Simulator`] API on top: argument checks (indices, lengths,
//! names, population kinds — a backend method is only called with valid
//! arguments), the step clock, spike / rate recording and run counters, the merging
//! of state samples into records, and every caller (trainer, command line, tests).

use super::plan::BuildPlan;
use super::record::Recorder;
use crate::connectivity::SynapseRows;
use crate::error::Result;
use crate::neuron::NeuronModel;
use crate::source::SpikeGenerator;

/// The spikes of one computed step as a backend holds them: per population, chunks
/// of indices relative to a first neuron.
pub trait StepSpikes {
    /// Number of spikes of population `pop` in this step.
    fn count(&self, pop: usize) -> u64;
    /// Calls `f(first, local)` for every chunk of population `pop`'s spikes, in
    /// ascending order of `first`; the neurons that fired are `first + local[i]`.
    fn for_each_chunk(&self, pop: usize, f: impl FnMut(u32, &[u32]));
}

/// Something that computes the steps of a built network. See the module docs.
///
/// Indices are those of the plan (`pop` a population, `proj` a projection, `var` a
/// state variable of the population's model); `step` is the simulator's clock (the
/// index of the next step to compute).
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Allocates the network of `plan` for `threads` workers (0 = one per core; a
    /// backend may read this as it sees fit).
    fn build(plan: &BuildPlan, threads: usize) -> Result<Self>
    where
        Self: Sized;

    /// Number of parallel workers (partitions) in use.
    fn workers(&self) -> usize;

    /// Number of synapses of projection `proj`.
    fn synapse_count(&self, proj: usize) -> usize;

    /// Synaptic events delivered so far (spikes × synapses walked).
    fn synaptic_events(&self) -> u64;

    /// In a distributed run, the seconds this process has spent exchanging spikes
    /// with the others (waiting for them included); None in a single process.
    fn exchange_seconds(&self) -> Option<f64> {
        None
    }

    /// Computes steps `first_step..first_step + n`, calling `recorder.record` after
    /// each with its spikes.
    fn run_steps(&mut self, first_step: u64, n: u64, recorder: &mut Recorder<'_>);

    /// Appends the first `samples` samples of state probe `probe` to `out` (each
    /// sample: the recorded neurons in ascending order, the variables of a neuron
    /// together) and forgets every sample of that probe.
    fn take_state_samples(&mut self, probe: usize, samples: usize, out: &mut Vec<f32>);

    /// Neurons of population `pop` that fired in step `step` (ascending).
    fn spikes_of_step(&self, pop: usize, step: u64) -> Vec<u32>;

    /// Values of state variable `var` of neuron population `pop`.
    fn state(&self, pop: usize, var: usize) -> Vec<f32>;

    /// Sets state variable `var` of neuron population `pop` (one value per neuron).
    fn set_state(&mut self, pop: usize, var: usize, values: &[f32]);

    /// Sets the rates (Hz) of Poisson population `pop` from step `step` on.
    fn set_poisson_rates(&mut self, pop: usize, rates_hz: &[f64], step: u64);

    /// Replaces the spikes of spike-generator population `pop`, shifted to start at
    /// step `step` (validated for the population's size).
    fn set_spike_generator(&mut self, pop: usize, spikes: &SpikeGenerator, step: u64);

    /// Replaces the model of neuron population `pop` by `model` (already prepared,
    /// same state variables).
    fn set_neuron_model(&mut self, pop: usize, model: &dyn NeuronModel);

    /// Switches the plasticity of plastic projection `proj` on or off.
    fn set_plasticity_enabled(&mut self, proj: usize, enabled: bool);

    /// Adds `amount` of reward (dopamine) to projection `proj`, applied next step.
    fn reward(&mut self, proj: usize, amount: f64);

    /// Scales each target's incoming weights of `proj` to sum to `total`.
    fn normalize_weights(&mut self, proj: usize, total: f64);

    /// Sets the weights of `proj` in the order of [`Backend::synapses`].
    fn set_weights(&mut self, proj: usize, weights: &[f32]);

    /// The synapses of `proj`, source-major, targets ascending within a row.
    fn synapses(&self, proj: usize) -> SynapseRows;

    /// Re-keys the streams of Poisson sources and stochastic neurons by `key` (see
    /// [`crate::engine::Simulator::reseed`]); `step` is the current step.
    fn reseed(&mut self, key: u64, step: u64);

    /// Zeroes receptor states, input in flight, plasticity traces and rewards.
    fn clear_synaptic_state(&mut self);

    /// Restores initial neuron and receptor states, empties input in flight and the
    /// spike lists, recovers short-term plasticity and rewinds sources to step 0.
    fn reset(&mut self);
}
