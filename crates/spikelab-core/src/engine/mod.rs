//! The simulation engine: a [`Simulator`] builds a [`NetworkSpec`] from its resolved
//! [`plan::BuildPlan`] into a [`backend::Backend`] and advances it step by step —
//! deliver → update → detect spikes → plasticity → record. The CPU backend
//! ([`cpu::CpuBackend`], partitions on one thread or on worker threads) is the
//! default and gives bitwise identical results for any thread count.
//!
//! Files: `plan.rs` (validation and name resolution, once), `build/` (the CPU
//! backend's build stages: memory, populations, projections, monitors), `backend.rs`
//! (the seam), `cpu.rs` (the CPU backend and its step loop), `partition.rs` (one
//! partition's step), `exchange.rs` (spike exchange and barrier), `plastic.rs`
//! (plasticity machinery), `table.rs` (synapse tables, ring buffers), `record.rs`
//! (monitors and the per-step recorder).

pub mod backend;
mod build;
pub mod cpu;
pub mod distributed;
mod exchange;
mod partition;
pub mod plan;
mod plastic;
pub mod record;
pub mod table;

pub use build::{estimate_memory_bytes, estimate_memory_bytes_of_rank};

use crate::connectivity::SynapseRows;
use crate::error::{Error, Result};
use crate::monitor::Recordings;
use crate::network::{NetworkSpec, NeuronSpec};
use crate::source::SpikeGenerator;
use backend::Backend;
use cpu::CpuBackend;
use plan::BuildPlan;
use record::{Mon, Recorder};

/// What the simulator knows about a population.
#[derive(Clone, Debug)]
pub struct PopulationInfo {
    /// Name.
    pub name: String,
    /// Number of neurons.
    pub size: usize,
    /// True for spike sources.
    pub is_source: bool,
    /// State variable names (empty for sources).
    pub state_names: Vec<String>,
    /// Receptor names.
    pub receptors: Vec<String>,
}

/// What the simulator knows about a projection.
#[derive(Clone, Debug)]
pub struct ProjectionInfo {
    /// Name (given, or `source->target`).
    pub name: String,
    /// Source population index.
    pub source: usize,
    /// Target population index.
    pub target: usize,
    /// Receptor index in the target population.
    pub receptor: usize,
    /// Number of synapses.
    pub synapses: usize,
}

/// Counters of a run.
#[derive(Clone, Debug, Default)]
pub struct RunStats {
    /// Steps computed.
    pub steps: u64,
    /// Spikes emitted per population.
    pub spikes: Vec<u64>,
    /// Wall time spent in `run_steps` (s).
    pub wall_s: f64,
}

/// What a population is, for argument checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PopulationKind {
    Neuron { has_conductance: bool },
    Poisson,
    Generator,
}

/// A built network, ready to run. See the module docs.
pub struct Simulator {
    dt_ms: f64,
    seed: u64,
    step: u64,
    pops: Vec<PopulationInfo>,
    kinds: Vec<PopulationKind>,
    projections: Vec<ProjectionInfo>,
    /// Whether each projection has a plasticity rule.
    plastic: Vec<bool>,
    monitors: Vec<Mon>,
    recordings: Recordings,
    stats: RunStats,
    backend: Box<dyn Backend>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("dt_ms", &self.dt_ms)
            .field("step", &self.step)
            .field("populations", &self.pops)
            .field("projections", &self.projections)
            .field("partitions", &self.backend.workers())
            .finish()
    }
}

impl Simulator {
    /// Validates `spec` and builds it with the thread count of `spec.simulation`.
    pub fn build(spec: &NetworkSpec) -> Result<Self> {
        Self::build_with_threads(spec, spec.simulation.threads)
    }

    /// Validates `spec` and builds it for `threads` worker threads (0 = one per core).
    pub fn build_with_threads(spec: &NetworkSpec, threads: usize) -> Result<Self> {
        let plan = BuildPlan::new(spec)?;
        Self::from_plan(&plan, threads)
    }

    /// Builds a resolved plan on the CPU backend with `threads` worker threads (0 =
    /// one per core).
    pub fn from_plan(plan: &BuildPlan, threads: usize) -> Result<Self> {
        let backend = CpuBackend::build(plan, threads)?;
        Ok(Self::with_backend(plan, Box::new(backend)))
    }

    /// Builds this process's part of `plan` in a distributed run over `transport`
    /// (see [`distributed`]): every rank calls this with the same plan and thread
    /// count, then makes the same calls on its simulator; every rank then holds the
    /// complete recordings, bitwise those of a single process.
    pub fn from_plan_distributed(
        plan: &BuildPlan,
        threads: usize,
        transport: std::sync::Arc<dyn distributed::Transport>,
    ) -> Result<Self> {
        let backend = CpuBackend::build_distributed(plan, threads, transport)?;
        Ok(Self::with_backend(plan, Box::new(backend)))
    }

    /// In a distributed run, the seconds this process has spent exchanging spikes
    /// with the others (waiting for them included); None in a single process.
    pub fn exchange_seconds(&self) -> Option<f64> {
        self.backend.exchange_seconds()
    }

    /// A simulator of `plan` running on `backend`, which must have been built from
    /// the same plan.
    pub fn with_backend(plan: &BuildPlan, backend: Box<dyn Backend>) -> Self {
        let pops: Vec<PopulationInfo> = plan
            .populations
            .iter()
            .map(|p| PopulationInfo {
                name: p.spec.name.clone(),
                size: p.spec.size,
                is_source: p.model.is_none(),
                state_names: p.state_names(),
                receptors: p.spec.receptors.iter().map(|r| r.name.clone()).collect(),
            })
            .collect();
        let kinds = plan
            .populations
            .iter()
            .map(|p| match &p.spec.neuron {
                NeuronSpec::Poisson(_) => PopulationKind::Poisson,
                NeuronSpec::SpikeGenerator(_) => PopulationKind::Generator,
                _ => PopulationKind::Neuron {
                    has_conductance: p.has_conductance,
                },
            })
            .collect();
        let projections = plan
            .projections
            .iter()
            .enumerate()
            .map(|(k, p)| ProjectionInfo {
                name: p.name.clone(),
                source: p.source,
                target: p.target,
                receptor: p.receptor,
                synapses: backend.synapse_count(k),
            })
            .collect();
        let (monitors, recordings) = record::monitors(plan);
        let n_pops = pops.len();
        Simulator {
            dt_ms: plan.dt_ms,
            seed: plan.seed,
            step: 0,
            pops,
            kinds,
            projections,
            plastic: plan.projections.iter().map(|p| p.rule.is_some()).collect(),
            monitors,
            recordings,
            stats: RunStats {
                spikes: vec![0; n_pops],
                ..Default::default()
            },
            backend,
        }
    }

    /// Time step (ms).
    pub fn dt_ms(&self) -> f64 {
        self.dt_ms
    }
    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Index of the next step to compute.
    pub fn current_step(&self) -> u64 {
        self.step
    }
    /// Simulated time so far (ms).
    pub fn time_ms(&self) -> f64 {
        self.step as f64 * self.dt_ms
    }
    /// Number of partitions (= worker threads used).
    pub fn partitions(&self) -> usize {
        self.backend.workers()
    }
    /// Populations.
    pub fn populations(&self) -> &[PopulationInfo] {
        &self.pops
    }
    /// Projections.
    pub fn projections(&self) -> &[ProjectionInfo] {
        &self.projections
    }
    /// Index of population `name`.
    pub fn population_index(&self, name: &str) -> Result<usize> {
        self.pops
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| Error::UnknownName {
                kind: "population",
                name: name.into(),
                field: "population".into(),
                known: self.pops.iter().map(|p| p.name.clone()).collect(),
            })
    }
    /// Counters so far.
    pub fn stats(&self) -> &RunStats {
        &self.stats
    }
    /// Synaptic events delivered so far (spikes × synapses walked).
    pub fn synaptic_events(&self) -> u64 {
        self.backend.synaptic_events()
    }
    /// What the monitors recorded so far.
    pub fn recordings(&self) -> &Recordings {
        &self.recordings
    }
    /// Takes the recordings, leaving the monitors empty (they keep recording).
    pub fn take_recordings(&mut self) -> Recordings {
        let out = self.recordings.clone();
        for s in &mut self.recordings.spikes {
            s.steps.clear();
            s.neurons.clear();
        }
        for s in &mut self.recordings.states {
            s.steps.clear();
            s.values.clear();
        }
        for r in &mut self.recordings.rates {
            r.counts.clear();
        }
        out
    }
    /// Neurons of population `pop` that fired in the last computed step (ascending;
    /// a Poisson neuron firing twice in one step appears twice).
    pub fn last_spikes(&self, pop: usize) -> Vec<u32> {
        if self.step == 0 {
            return Vec::new();
        }
        self.backend.spikes_of_step(pop, self.step - 1)
    }

    /// Simulates `duration_ms` (rounded to whole steps).
    pub fn run_ms(&mut self, duration_ms: f64) {
        self.run_steps((duration_ms / self.dt_ms).round() as u64);
    }

    /// Simulates `n` steps on the backend (on the CPU: one worker thread per
    /// partition, the calling thread is worker 0 and also records, one barrier per
    /// step).
    pub fn run_steps(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        let start = std::time::Instant::now();
        let t0 = self.step;
        let mut recorder = Recorder::new(&self.monitors, &mut self.recordings, &mut self.stats);
        self.backend.run_steps(t0, n, &mut recorder);
        self.step += n;
        self.stats.steps += n;
        self.flush_state_samples(t0, t0 + n);
        self.stats.wall_s += start.elapsed().as_secs_f64();
    }

    /// Moves the values the backend's probes sampled during steps `t0..t1` into the
    /// state records, in neuron order.
    fn flush_state_samples(&mut self, t0: u64, t1: u64) {
        for m in &self.monitors {
            let Mon::State { every, rec, probe } = m else {
                continue;
            };
            let r = &mut self.recordings.states[*rec];
            let first = t0.div_ceil(*every) * every;
            let steps: Vec<u64> = (first..t1).step_by(*every as usize).collect();
            self.backend
                .take_state_samples(*probe, steps.len(), &mut r.values);
            r.steps.extend(steps);
        }
    }

    fn population_checked(&self, pop: usize) -> Result<&PopulationInfo> {
        self.pops
            .get(pop)
            .ok_or_else(|| Error::Invalid(format!("no population {pop}")))
    }

    fn var_index(&self, pop: usize, var: &str) -> Result<usize> {
        let info = self.population_checked(pop)?;
        info.state_names
            .iter()
            .position(|s| s == var)
            .ok_or_else(|| Error::UnknownName {
                kind: "state variable",
                name: var.into(),
                field: format!("population[{}]", info.name),
                known: info.state_names.clone(),
            })
    }

    /// The values of state variable `var` of every neuron of population `pop`.
    pub fn state(&self, pop: usize, var: &str) -> Result<Vec<f32>> {
        let vi = self.var_index(pop, var)?;
        if self.pops[pop].is_source {
            return Err(Error::Invalid(format!(
                "population {pop} is not a neuron population"
            )));
        }
        Ok(self.backend.state(pop, vi))
    }

    /// Sets state variable `var` of every neuron of population `pop`.
    pub fn set_state(&mut self, pop: usize, var: &str, values: &[f32]) -> Result<()> {
        let vi = self.var_index(pop, var)?;
        let size = self.pops[pop].size;
        if values.len() != size {
            return Err(Error::Invalid(format!(
                "set_state: {} values for {} neurons",
                values.len(),
                size
            )));
        }
        self.backend.set_state(pop, vi, values);
        Ok(())
    }

    /// Sets the rates (Hz) of a Poisson source population from the current step on.
    pub fn set_poisson_rates(&mut self, pop: usize, rates_hz: &[f64]) -> Result<()> {
        let size = self.population_checked(pop)?.size;
        if rates_hz.len() != size {
            return Err(Error::Invalid(format!(
                "set_poisson_rates: {} rates for {} neurons",
                rates_hz.len(),
                size
            )));
        }
        if let Some(r) = rates_hz.iter().find(|r| !(r.is_finite() && **r >= 0.0)) {
            return Err(Error::Invalid(format!(
                "set_poisson_rates: rate {r} is not a finite value >= 0"
            )));
        }
        if self.kinds[pop] != PopulationKind::Poisson {
            return Err(Error::Invalid(format!(
                "population `{}` is not a Poisson source",
                self.pops[pop].name
            )));
        }
        self.backend.set_poisson_rates(pop, rates_hz, self.step);
        Ok(())
    }

    /// Replaces the spikes of a spike-generator population; times are relative to the
    /// current step (a spike at `0.0` ms fires in the next computed step). After
    /// [`Simulator::reset`] the generator replays its spikes from step 0.
    pub fn set_spike_generator(&mut self, pop: usize, spikes: &SpikeGenerator) -> Result<()> {
        let info = self.population_checked(pop)?;
        spikes.validate(&format!("population[{}]", info.name), info.size)?;
        if self.kinds[pop] != PopulationKind::Generator {
            return Err(Error::Invalid(format!(
                "population `{}` is not a spike generator",
                info.name
            )));
        }
        self.backend.set_spike_generator(pop, spikes, self.step);
        Ok(())
    }

    fn projection_checked(&self, proj: usize) -> Result<&ProjectionInfo> {
        self.projections.get(proj).ok_or_else(|| {
            Error::Invalid(format!(
                "no projection {proj} (the network has {})",
                self.projections.len()
            ))
        })
    }

    /// Index of the projection called `name` (given, or `source->target`).
    pub fn projection_index(&self, name: &str) -> Result<usize> {
        self.projections
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| Error::UnknownName {
                kind: "projection",
                name: name.into(),
                field: "projection".into(),
                known: self.projections.iter().map(|p| p.name.clone()).collect(),
            })
    }

    /// Switches the plasticity of projection `proj` on or off (weights are kept; off,
    /// spikes still arrive with the current weights).
    pub fn set_plasticity_enabled(&mut self, proj: usize, enabled: bool) -> Result<()> {
        self.projection_checked(proj)?;
        if !self.plastic[proj] {
            return Err(Error::Invalid(format!(
                "projection `{}` has no plasticity rule",
                self.projections[proj].name
            )));
        }
        self.backend.set_plasticity_enabled(proj, enabled);
        Ok(())
    }

    /// Delivers `amount` of reward (dopamine) to the reward-modulated projection
    /// `proj`; it takes effect in the next step.
    pub fn reward(&mut self, proj: usize, amount: f64) -> Result<()> {
        self.projection_checked(proj)?;
        self.backend.reward(proj, amount);
        Ok(())
    }

    /// Scales each target neuron's incoming weights in projection `proj` so that they
    /// sum to `total` (synaptic scaling; Diehl & Cook 2015 normalise before every
    /// example). Targets without synapses are left alone.
    pub fn normalize_weights(&mut self, proj: usize, total: f64) -> Result<()> {
        self.projection_checked(proj)?;
        self.backend.normalize_weights(proj, total);
        Ok(())
    }

    /// Sets the weights of projection `proj`, given in the order of
    /// [`Simulator::synapses`] (source-major, targets ascending).
    pub fn set_weights(&mut self, proj: usize, weights: &[f32]) -> Result<()> {
        let info = self.projection_checked(proj)?;
        if weights.len() != info.synapses {
            return Err(Error::Invalid(format!(
                "set_weights: {} weights for {} synapses of `{}`",
                weights.len(),
                info.synapses,
                info.name
            )));
        }
        self.backend.set_weights(proj, weights);
        Ok(())
    }

    /// Replaces the parameters of neuron population `pop` (same model kind, so the
    /// state is kept), e.g. to freeze adaptive thresholds after training.
    pub fn set_neuron_params(&mut self, pop: usize, neuron: &NeuronSpec) -> Result<()> {
        let info = self.population_checked(pop)?;
        let mut model = neuron.neuron_model().ok_or_else(|| {
            Error::Invalid("set_neuron_params needs a neuron model, not a spike source".into())
        })?;
        let names: Vec<String> = model.state_names().iter().map(|s| s.to_string()).collect();
        let PopulationKind::Neuron { has_conductance } = self.kinds[pop] else {
            return Err(Error::Invalid(format!(
                "population `{}` has state {:?}; the new parameters give {:?}",
                info.name, info.state_names, names
            )));
        };
        if names != info.state_names {
            return Err(Error::Invalid(format!(
                "population `{}` has state {:?}; the new parameters give {:?}",
                info.name, info.state_names, names
            )));
        }
        let field = format!("population[{}].neuron", info.name);
        model.prepare(&field, self.dt_ms, has_conductance)?;
        self.backend.set_neuron_model(pop, model.as_ref());
        Ok(())
    }

    /// Re-keys the random streams of every Poisson source and stochastic neuron by
    /// `key` (with the seed, population and neuron): from now on their draws depend
    /// only on the key, e.g. the index of a training example, so a presentation can
    /// be repeated or a run resumed from a checkpoint exactly.
    pub fn reseed(&mut self, key: u64) {
        self.backend.reseed(key, self.step);
    }

    /// Zeroes all synaptic state: receptor states, ring buffers (input in flight),
    /// plasticity traces, eligibility and queued arrivals. Neuron states, weights and
    /// the clock are kept.
    pub fn clear_synaptic_state(&mut self) {
        self.backend.clear_synaptic_state();
    }

    /// Returns every neuron and receptor to its initial state, empties ring buffers
    /// and the spike list, makes short-term plasticity fully recovered again, zeroes
    /// plasticity traces and the arrivals queued on plastic synapses, and sets the
    /// clock back to step 0. Synaptic weights,
    /// recordings and counters are kept. Random streams continue (they are not
    /// rewound), so a reset run is a new sample, still reproducible from the seed.
    pub fn reset(&mut self) {
        self.backend.reset();
        self.step = 0;
    }

    /// The synapses of projection `proj` in source-major order (targets ascending
    /// within a row).
    pub fn synapses(&self, proj: usize) -> Result<SynapseRows> {
        if proj >= self.projections.len() {
            return Err(Error::Invalid(format!("no projection {proj}")));
        }
        Ok(self.backend.synapses(proj))
    }
}
