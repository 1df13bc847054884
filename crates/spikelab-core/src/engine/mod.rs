//! The CPU simulation engine: builds a [`NetworkSpec`] into partitions and advances
//! them step by step — deliver → update → detect spikes → record — on one thread or
//! on a rayon pool, with bitwise identical results for any thread count.

mod exchange;
mod partition;
mod plastic;
pub mod table;

use crate::connectivity::{generate, Connectivity, GenerateRequest, SynapseRows};
use crate::error::{Error, Result};
use crate::input::CurrentChunk;
use crate::monitor::{MonitorSpec, RateRecord, Recordings, SpikeRecord, StateRecord};
use crate::network::{NetworkSpec, NeuronSpec};
use crate::rng::{self, Domain};
use crate::source::{draw_rates, GeneratorChunk, PoissonChunk, SourceChunk, SpikeGenerator};
use crate::synapse::stp::StpState;
use crate::synapse::{DriveBuffers, Receptor, ReceptorKind};
use crate::value::Value;
use exchange::{SpikeExchange, SpinBarrier};
use partition::{
    ChunkKind, NeuronChunk, Partition, PopChunk, ProjChunk, ReceptorChunk, StateProbe,
};
use plastic::{ColumnIndex, PlasticState};
use table::{RingBuffer, SynapseTable};

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

enum Mon {
    Spikes {
        pop: usize,
        mask: Option<Vec<bool>>,
        rec: usize,
    },
    /// Values are recorded by the partitions (probe index `probe`), merged later.
    State {
        every: u64,
        rec: usize,
        probe: usize,
    },
    Rate {
        pop: usize,
        rec: usize,
    },
}

/// A built network, ready to run. See the module docs.
pub struct Simulator {
    dt_ms: f64,
    seed: u64,
    step: u64,
    pops: Vec<PopulationInfo>,
    projections: Vec<ProjectionInfo>,
    /// `bounds[pop][k]..bounds[pop][k+1]` are the neurons of partition `k`.
    bounds: Vec<Vec<usize>>,
    partitions: Vec<Partition>,
    exchange: SpikeExchange,
    monitors: Vec<Mon>,
    recordings: Recordings,
    stats: RunStats,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("dt_ms", &self.dt_ms)
            .field("step", &self.step)
            .field("populations", &self.pops)
            .field("projections", &self.projections)
            .field("partitions", &self.partitions.len())
            .finish()
    }
}

/// Available memory in bytes (MemAvailable), if the OS tells.
fn available_memory() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

fn split_bounds(n: usize, parts: usize) -> Vec<usize> {
    (0..=parts).map(|k| k * n / parts).collect()
}

impl Simulator {
    /// Validates `spec` and builds it with the thread count of `spec.simulation`.
    pub fn build(spec: &NetworkSpec) -> Result<Self> {
        Self::build_with_threads(spec, spec.simulation.threads)
    }

    /// Validates `spec` and builds it for `threads` worker threads (0 = one per core).
    pub fn build_with_threads(spec: &NetworkSpec, threads: usize) -> Result<Self> {
        spec.validate()?;
        let sim = &spec.simulation;
        let dt = sim.dt_ms;
        let seed = sim.seed;
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let n_parts = threads.max(1);

        // Delay value of each projection, and memory estimate before allocating.
        let delays: Vec<Value> = spec
            .projections
            .iter()
            .map(|p| p.delay_ms.clone().unwrap_or(Value::Constant(dt)))
            .collect();
        let mut bytes = 0.0f64;
        let mut biggest = (0.0, String::new());
        for (k, p) in spec.projections.iter().enumerate() {
            let si = spec.population_index(&p.source, "")?;
            let ti = spec.population_index(&p.target, "")?;
            let m = p
                .connectivity
                .expected_synapses(spec.populations[si].size, spec.populations[ti].size);
            let b = m * 2.0 * 10.0;
            bytes += b;
            if b > biggest.0 {
                biggest = (
                    b,
                    format!(
                        "projection[{}] with about {:.3e} synapses",
                        p.name.clone().unwrap_or(k.to_string()),
                        m
                    ),
                );
            }
        }
        let mut max_delay = vec![1u16; spec.populations.len()];
        for (k, p) in spec.projections.iter().enumerate() {
            let ti = spec.population_index(&p.target, "")?;
            let hi = delays[k].range().1;
            let mut d = crate::connectivity::delay_steps(hi, dt);
            if let Connectivity::List {
                delays_ms: Some(ds),
                ..
            } = &p.connectivity
            {
                d = ds
                    .iter()
                    .map(|&x| crate::connectivity::delay_steps(x, dt))
                    .max()
                    .unwrap_or(1)
                    .max(d);
            }
            max_delay[ti] = max_delay[ti].max(d);
        }
        for (pi, p) in spec.populations.iter().enumerate() {
            let b = (p.receptors.len() * RingBuffer::bytes_for(p.size, max_delay[pi])) as f64
                + p.size as f64 * 64.0;
            bytes += b;
            if b > biggest.0 {
                biggest = (
                    b,
                    format!("ring buffers and state of population[{}]", p.name),
                );
            }
        }
        if let Some(avail) = available_memory() {
            if bytes > 0.9 * avail {
                return Err(Error::TooLarge {
                    needed_mib: bytes / 1048576.0,
                    available_mib: avail / 1048576.0,
                    what: biggest.1,
                });
            }
        }

        // Populations.
        let bounds: Vec<Vec<usize>> = spec
            .populations
            .iter()
            .map(|p| split_bounds(p.size, n_parts))
            .collect();
        let mut pops = Vec::new();
        let mut part_pops: Vec<Vec<PopChunk>> = (0..n_parts).map(|_| Vec::new()).collect();
        for (pi, p) in spec.populations.iter().enumerate() {
            let b = &bounds[pi];
            let field = format!("population[{}]", p.name);
            let mut info = PopulationInfo {
                name: p.name.clone(),
                size: p.size,
                is_source: p.neuron.is_source(),
                state_names: Vec::new(),
                receptors: p.receptors.iter().map(|r| r.name.clone()).collect(),
            };
            match &p.neuron {
                NeuronSpec::Poisson(ps) => {
                    let rates = draw_rates(ps, p.size, seed, pi);
                    for k in 0..n_parts {
                        let c = PoissonChunk::new(
                            seed,
                            pi,
                            b[k],
                            &rates[b[k]..b[k + 1]],
                            dt,
                            ps.process,
                        );
                        part_pops[k].push(PopChunk {
                            lo: b[k],
                            hi: b[k + 1],
                            kind: ChunkKind::Source(SourceChunk::Poisson(c)),
                        });
                    }
                }
                NeuronSpec::SpikeGenerator(g) => {
                    for k in 0..n_parts {
                        let c = GeneratorChunk::new(g, b[k], b[k + 1], dt);
                        part_pops[k].push(PopChunk {
                            lo: b[k],
                            hi: b[k + 1],
                            kind: ChunkKind::Source(SourceChunk::Generator(c)),
                        });
                    }
                }
                neuron => {
                    let mut model = neuron.neuron_model().expect("neuron model");
                    let has_g = p
                        .receptors
                        .iter()
                        .any(|r| r.kind == ReceptorKind::Conductance);
                    let has_jump = p.receptors.iter().any(|r| r.kind == ReceptorKind::Delta);
                    model.prepare(&format!("{field}.neuron"), dt, has_g)?;
                    info.state_names = model.state_names().iter().map(|s| s.to_string()).collect();
                    let defaults = model.default_initial_state();
                    // Initial state of the whole population, one stream per variable.
                    let mut init: Vec<Vec<f32>> = model
                        .state_names()
                        .iter()
                        .enumerate()
                        .map(|(vi, name)| {
                            let v = p
                                .initial
                                .get(*name)
                                .cloned()
                                .unwrap_or(Value::Constant(defaults[vi]));
                            let mut rng =
                                rng::stream(seed, Domain::InitialState, &[pi as u64, vi as u64]);
                            v.sample_vec(p.size, &mut rng)
                        })
                        .collect();
                    let given: Vec<bool> = model
                        .state_names()
                        .iter()
                        .map(|name| p.initial.contains_key(*name))
                        .collect();
                    model.complete_initial_state(
                        &mut init,
                        &given,
                        &mut rng::stream(seed, Domain::InitialState, &[pi as u64, 1 << 32]),
                    );
                    // Initial receptor outputs (`g_<name>` in `initial`), else zero.
                    let receptor_init: Vec<Option<Vec<f32>>> = p
                        .receptors
                        .iter()
                        .enumerate()
                        .map(|(ri, r)| {
                            p.initial.get(&format!("g_{}", r.name)).map(|v| {
                                let mut rng = rng::stream(
                                    seed,
                                    Domain::InitialState,
                                    &[pi as u64, (1 << 33) + ri as u64],
                                );
                                v.sample_vec(p.size, &mut rng)
                            })
                        })
                        .collect();
                    let receptors: Vec<Receptor> = p
                        .receptors
                        .iter()
                        .map(|r| {
                            Receptor::prepare(
                                r,
                                dt,
                                model.exact_membrane_tau_ms(),
                                model.forward_euler(),
                            )
                        })
                        .collect();
                    for k in 0..n_parts {
                        let (lo, hi) = (b[k], b[k + 1]);
                        let n = hi - lo;
                        let currents = spec
                            .currents
                            .iter()
                            .enumerate()
                            .filter(|(_, c)| c.target == p.name)
                            .filter_map(|(ci, c)| {
                                let global: Vec<u32> = c
                                    .neurons
                                    .indices(p.size)
                                    .into_iter()
                                    .filter(|&g| (lo..hi).contains(&(g as usize)))
                                    .collect();
                                if global.is_empty() {
                                    return None;
                                }
                                let local = global.iter().map(|&g| g - lo as u32).collect();
                                Some(CurrentChunk::new(c, local, &global, ci, seed, dt))
                            })
                            .collect();
                        let rng = if model.uses_rng() {
                            (lo..hi)
                                .map(|g| rng::stream(seed, Domain::Neuron, &[pi as u64, g as u64]))
                                .collect()
                        } else {
                            Vec::new()
                        };
                        let nc = NeuronChunk {
                            model: model.clone(),
                            state: init.iter().map(|v| v[lo..hi].to_vec()).collect(),
                            initial: init.iter().map(|v| v[lo..hi].to_vec()).collect(),
                            receptors: receptors
                                .iter()
                                .zip(&receptor_init)
                                .map(|(r, init)| {
                                    let mut state = vec![0.0; n * r.state_len()];
                                    if let Some(g) = init {
                                        state[..n].copy_from_slice(&g[lo..hi]);
                                    }
                                    ReceptorChunk {
                                        receptor: r.clone(),
                                        initial: state.clone(),
                                        state,
                                        ring: RingBuffer::new(n, max_delay[pi]),
                                    }
                                })
                                .collect(),
                            drive: DriveBuffers::new(n, has_g, has_jump),
                            currents,
                            rng,
                        };
                        part_pops[k].push(PopChunk {
                            lo,
                            hi,
                            kind: ChunkKind::Neuron(nc),
                        });
                    }
                }
            }
            pops.push(info);
        }

        // Projections: generate globally (streams keyed per row), split by target.
        let mut part_projs: Vec<Vec<ProjChunk>> = (0..n_parts).map(|_| Vec::new()).collect();
        let mut projections = Vec::new();
        for (k, p) in spec.projections.iter().enumerate() {
            let si = spec.population_index(&p.source, "")?;
            let ti = spec.population_index(&p.target, "")?;
            let ri = spec.populations[ti]
                .receptors
                .iter()
                .position(|r| r.name == p.receptor)
                .expect("validated receptor");
            let req = GenerateRequest {
                rule: &p.connectivity,
                weight: &p.weight,
                delay_ms: &delays[k],
                dt_ms: dt,
                n_src: spec.populations[si].size,
                n_tgt: spec.populations[ti].size,
                same: si == ti,
                seed,
                projection: k,
            };
            let rows = generate(&req);
            projections.push(ProjectionInfo {
                name: p.display_name(),
                source: si,
                target: ti,
                receptor: ri,
                synapses: rows.len(),
            });
            let b = &bounds[ti];
            let rule = p.plasticity.as_ref().map(|r| r.prepare(dt));
            let reward_source = match &p.plasticity {
                Some(r) => match r.reward_population() {
                    Some(name) => Some((
                        spec.population_index(name, "")?,
                        r.reward_per_spike() as f32,
                    )),
                    None => None,
                },
                None => None,
            };
            for (part, list) in part_projs.iter_mut().enumerate() {
                let (lo, hi) = (b[part], b[part + 1]);
                let mut table = SynapseTable::from_rows(&rows, lo as u32, hi as u32);
                let cols = rule.is_some().then(|| ColumnIndex::new(&table, hi - lo));
                if let Some(n) = &p.normalization {
                    plastic::normalize(&mut table, hi - lo, n.total as f32);
                }
                let plastic = rule
                    .clone()
                    .map(|r| Box::new(PlasticState::new(r, &table, hi - lo, k, seed, lo)));
                list.push(ProjChunk {
                    source: si,
                    target: ti,
                    receptor: ri,
                    table,
                    cols,
                    plastic,
                    reward_source,
                    pending_reward: 0.0,
                    normalize_every: p.normalization.as_ref().and_then(|n| {
                        n.every_ms
                            .map(|e| (n.total as f32, ((e / dt).round() as u64).max(1)))
                    }),
                    stp: p
                        .stp
                        .as_ref()
                        .map(|s| StpState::new(s, spec.populations[si].size, dt)),
                });
            }
        }

        let mut partitions: Vec<Partition> = part_pops
            .into_iter()
            .zip(part_projs)
            .enumerate()
            .map(|(index, (pops, projections))| Partition {
                index,
                pops,
                projections,
                bounds: bounds.clone(),
                probes: Vec::new(),
                has_plasticity: spec.projections.iter().any(|p| p.plasticity.is_some()),
                events: 0,
                dt_ms: dt,
            })
            .collect();

        // Monitors.
        let mut monitors = Vec::new();
        let mut recordings = Recordings::default();
        for m in &spec.monitors {
            let pi = spec.population_index(m.population(), "")?;
            let p = &spec.populations[pi];
            match m {
                MonitorSpec::Spikes { neurons, .. } => {
                    let idx = neurons.indices(p.size);
                    let mask = (idx.len() != p.size).then(|| {
                        let mut m = vec![false; p.size];
                        for &i in &idx {
                            m[i as usize] = true;
                        }
                        m
                    });
                    monitors.push(Mon::Spikes {
                        pop: pi,
                        mask,
                        rec: recordings.spikes.len(),
                    });
                    recordings.spikes.push(SpikeRecord {
                        population: p.name.clone(),
                        recorded_neurons: idx.len(),
                        ..Default::default()
                    });
                }
                MonitorSpec::State {
                    neurons,
                    variables,
                    every_ms,
                    ..
                } => {
                    let info = &pops[pi];
                    let vars: Vec<(bool, usize)> = variables
                        .iter()
                        .map(|v| match info.state_names.iter().position(|s| s == v) {
                            Some(var) => (false, var),
                            None => (
                                true,
                                info.receptors
                                    .iter()
                                    .position(|r| format!("g_{r}") == *v)
                                    .expect("validated variable"),
                            ),
                        })
                        .collect();
                    let every = every_ms.map_or(1, |e| ((e / dt).round() as u64).max(1));
                    let idx = neurons.indices(p.size);
                    let probe = partitions[0].probes.len();
                    for part in &mut partitions {
                        let (lo, hi) = (bounds[pi][part.index], bounds[pi][part.index + 1]);
                        part.probes.push(StateProbe {
                            pop: pi,
                            every,
                            local: idx
                                .iter()
                                .map(|&g| g as usize)
                                .filter(|g| (lo..hi).contains(g))
                                .map(|g| g - lo)
                                .collect(),
                            vars: vars.clone(),
                            values: Vec::new(),
                        });
                    }
                    monitors.push(Mon::State {
                        every,
                        rec: recordings.states.len(),
                        probe,
                    });
                    recordings.states.push(StateRecord {
                        population: p.name.clone(),
                        variables: variables.clone(),
                        neurons: neurons.indices(p.size),
                        every_steps: every,
                        ..Default::default()
                    });
                }
                MonitorSpec::Rate { bin_ms, .. } => {
                    let bin_steps = ((bin_ms / dt).round() as u64).max(1);
                    monitors.push(Mon::Rate {
                        pop: pi,
                        rec: recordings.rates.len(),
                    });
                    recordings.rates.push(RateRecord {
                        population: p.name.clone(),
                        size: p.size,
                        bin_steps,
                        counts: Vec::new(),
                    });
                }
            }
        }

        let n_pops = pops.len();
        Ok(Simulator {
            dt_ms: dt,
            seed,
            step: 0,
            pops,
            projections,
            bounds,
            partitions,
            exchange: SpikeExchange::new(n_parts, n_pops),
            monitors,
            recordings,
            stats: RunStats {
                spikes: vec![0; n_pops],
                ..Default::default()
            },
        })
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
        self.partitions.len()
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
        self.partitions.iter().map(|p| p.events).sum()
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
        let parity = ((self.step - 1) & 1) as usize;
        let mut out = Vec::new();
        for part in 0..self.partitions.len() {
            // SAFETY: no step is running (we hold &self).
            let spikes = unsafe { &self.exchange.read(part, parity)[pop] };
            let lo = self.bounds[pop][part] as u32;
            out.extend(spikes.iter().map(|&i| i + lo));
        }
        out
    }

    /// Simulates `duration_ms` (rounded to whole steps).
    pub fn run_ms(&mut self, duration_ms: f64) {
        self.run_steps((duration_ms / self.dt_ms).round() as u64);
    }

    /// Simulates `n` steps: one worker thread per partition (the calling thread is
    /// worker 0 and also records), synchronised by one barrier per step.
    pub fn run_steps(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        let start = std::time::Instant::now();
        let t0 = self.step;
        let Simulator {
            partitions,
            exchange,
            monitors,
            recordings,
            stats,
            bounds,
            ..
        } = self;
        let ex: &SpikeExchange = exchange;
        let mut recorder = Recorder {
            monitors,
            recordings,
            stats,
            bounds,
        };
        if partitions.len() == 1 {
            let part = &mut partitions[0];
            for t in t0..t0 + n {
                part.step(t, ex);
                recorder.record(t, ex);
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
                        }
                    });
                }
                for t in t0..t0 + n {
                    first.step(t, ex);
                    barrier.wait();
                    recorder.record(t, ex);
                }
            });
        }
        self.step += n;
        self.stats.steps += n;
        self.flush_probes(t0, t0 + n);
        self.stats.wall_s += start.elapsed().as_secs_f64();
    }

    /// Moves the values the partitions' probes recorded during steps `t0..t1` into
    /// the state records, in neuron order.
    fn flush_probes(&mut self, t0: u64, t1: u64) {
        for m in &self.monitors {
            let Mon::State { every, rec, probe } = m else {
                continue;
            };
            let r = &mut self.recordings.states[*rec];
            let nv = r.variables.len();
            let first = t0.div_ceil(*every) * every;
            let steps: Vec<u64> = (first..t1).step_by(*every as usize).collect();
            for s in 0..steps.len() {
                for part in &self.partitions {
                    let p = &part.probes[*probe];
                    let w = p.local.len() * nv;
                    r.values.extend_from_slice(&p.values[s * w..(s + 1) * w]);
                }
            }
            r.steps.extend(steps);
            for part in &mut self.partitions {
                part.probes[*probe].values.clear();
            }
        }
    }

    fn neuron_chunks(&self, pop: usize) -> Result<impl Iterator<Item = &NeuronChunk>> {
        if self.pops.get(pop).is_none_or(|p| p.is_source) {
            return Err(Error::Invalid(format!(
                "population {pop} is not a neuron population"
            )));
        }
        Ok(self
            .partitions
            .iter()
            .map(move |p| match &p.pops[pop].kind {
                ChunkKind::Neuron(nc) => nc,
                ChunkKind::Source(_) => unreachable!(),
            }))
    }

    fn var_index(&self, pop: usize, var: &str) -> Result<usize> {
        let info = self
            .pops
            .get(pop)
            .ok_or_else(|| Error::Invalid(format!("no population {pop}")))?;
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
        Ok(self
            .neuron_chunks(pop)?
            .flat_map(|nc| nc.state[vi].iter().copied())
            .collect())
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
        for part in &mut self.partitions {
            let c = &mut part.pops[pop];
            if let ChunkKind::Neuron(nc) = &mut c.kind {
                nc.state[vi].copy_from_slice(&values[c.lo..c.hi]);
            }
        }
        Ok(())
    }

    /// Sets the rates (Hz) of a Poisson source population from the current step on.
    pub fn set_poisson_rates(&mut self, pop: usize, rates_hz: &[f64]) -> Result<()> {
        let size = self
            .pops
            .get(pop)
            .map(|p| p.size)
            .ok_or_else(|| Error::Invalid(format!("no population {pop}")))?;
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
        let step = self.step;
        for part in &mut self.partitions {
            let c = &mut part.pops[pop];
            match &mut c.kind {
                ChunkKind::Source(SourceChunk::Poisson(pc)) => {
                    pc.set_rates(&rates_hz[c.lo..c.hi], step)
                }
                _ => {
                    return Err(Error::Invalid(format!(
                        "population `{}` is not a Poisson source",
                        self.pops[pop].name
                    )))
                }
            }
        }
        Ok(())
    }

    /// Replaces the spikes of a spike-generator population; times are relative to the
    /// current step (a spike at `0.0` ms fires in the next computed step). After
    /// [`Simulator::reset`] the generator replays its spikes from step 0.
    pub fn set_spike_generator(&mut self, pop: usize, spikes: &SpikeGenerator) -> Result<()> {
        let info = self
            .pops
            .get(pop)
            .ok_or_else(|| Error::Invalid(format!("no population {pop}")))?;
        spikes.validate(&format!("population[{}]", info.name), info.size)?;
        let (dt, step) = (self.dt_ms, self.step);
        for part in &mut self.partitions {
            let c = &mut part.pops[pop];
            match &mut c.kind {
                ChunkKind::Source(SourceChunk::Generator(g)) => {
                    *g = GeneratorChunk::new(spikes, c.lo, c.hi, dt).shifted(step);
                }
                _ => {
                    return Err(Error::Invalid(format!(
                        "population `{}` is not a spike generator",
                        info.name
                    )))
                }
            }
        }
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
        let mut found = false;
        for part in &mut self.partitions {
            if let Some(pl) = &mut part.projections[proj].plastic {
                pl.enabled = enabled;
                found = true;
            }
        }
        if found {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "projection `{}` has no plasticity rule",
                self.projections[proj].name
            )))
        }
    }

    /// Delivers `amount` of reward (dopamine) to the reward-modulated projection
    /// `proj`; it takes effect in the next step.
    pub fn reward(&mut self, proj: usize, amount: f64) -> Result<()> {
        self.projection_checked(proj)?;
        for part in &mut self.partitions {
            part.projections[proj].pending_reward += amount as f32;
        }
        Ok(())
    }

    /// Scales each target neuron's incoming weights in projection `proj` so that they
    /// sum to `total` (synaptic scaling; Diehl & Cook 2015 normalise before every
    /// example). Targets without synapses are left alone.
    pub fn normalize_weights(&mut self, proj: usize, total: f64) -> Result<()> {
        let info = self.projection_checked(proj)?.clone();
        let bounds = &self.bounds[info.target];
        for part in &mut self.partitions {
            let n = bounds[part.index + 1] - bounds[part.index];
            plastic::normalize(&mut part.projections[proj].table, n, total as f32);
        }
        Ok(())
    }

    /// Sets the weights of projection `proj`, given in the order of
    /// [`Simulator::synapses`] (source-major, targets ascending).
    pub fn set_weights(&mut self, proj: usize, weights: &[f32]) -> Result<()> {
        let info = self.projection_checked(proj)?.clone();
        if weights.len() != info.synapses {
            return Err(Error::Invalid(format!(
                "set_weights: {} weights for {} synapses of `{}`",
                weights.len(),
                info.synapses,
                info.name
            )));
        }
        let n_src = self.pops[info.source].size;
        let mut next = 0usize;
        for s in 0..n_src {
            for part in &mut self.partitions {
                let t = &mut part.projections[proj].table;
                for k in t.row_in_target_order(s) {
                    t.weight[k] = weights[next];
                    next += 1;
                }
            }
        }
        Ok(())
    }

    /// Replaces the parameters of neuron population `pop` (same model kind, so the
    /// state is kept), e.g. to freeze adaptive thresholds after training.
    pub fn set_neuron_params(&mut self, pop: usize, neuron: &NeuronSpec) -> Result<()> {
        let info = self
            .pops
            .get(pop)
            .ok_or_else(|| Error::Invalid(format!("no population {pop}")))?
            .clone();
        let mut model = neuron.neuron_model().ok_or_else(|| {
            Error::Invalid("set_neuron_params needs a neuron model, not a spike source".into())
        })?;
        let names: Vec<String> = model.state_names().iter().map(|s| s.to_string()).collect();
        if info.is_source || names != info.state_names {
            return Err(Error::Invalid(format!(
                "population `{}` has state {:?}; the new parameters give {:?}",
                info.name, info.state_names, names
            )));
        }
        let dt = self.dt_ms;
        for part in &mut self.partitions {
            if let ChunkKind::Neuron(nc) = &mut part.pops[pop].kind {
                let has_g = nc.drive.has_conductance;
                model.prepare(&format!("population[{}].neuron", info.name), dt, has_g)?;
                nc.model = model.clone();
            }
        }
        Ok(())
    }

    /// Re-keys the random streams of every Poisson source and stochastic neuron by
    /// `key` (with the seed, population and neuron): from now on their draws depend
    /// only on the key, e.g. the index of a training example, so a presentation can
    /// be repeated or a run resumed from a checkpoint exactly.
    pub fn reseed(&mut self, key: u64) {
        let (seed, step) = (self.seed, self.step);
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

    /// Zeroes all synaptic state: receptor states, ring buffers (input in flight),
    /// plasticity traces, eligibility and queued arrivals. Neuron states, weights and
    /// the clock are kept.
    pub fn clear_synaptic_state(&mut self) {
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

    /// Returns every neuron and receptor to its initial state, empties ring buffers
    /// and the spike list, makes short-term plasticity fully recovered again, and sets
    /// the clock back to step 0. Synaptic weights,
    /// recordings and counters are kept. Random streams continue (they are not
    /// rewound), so a reset run is a new sample, still reproducible from the seed.
    pub fn reset(&mut self) {
        for part in &mut self.partitions {
            for c in &mut part.pops {
                if let ChunkKind::Neuron(nc) = &mut c.kind {
                    for (s, init) in nc.state.iter_mut().zip(&nc.initial) {
                        s.copy_from_slice(init);
                    }
                    for r in &mut nc.receptors {
                        r.state.copy_from_slice(&r.initial);
                        r.ring.clear();
                    }
                }
                match &mut c.kind {
                    ChunkKind::Source(SourceChunk::Poisson(p)) => p.restart(0),
                    ChunkKind::Source(SourceChunk::Generator(g)) => g.rewind(),
                    ChunkKind::Neuron(_) => {}
                }
            }
            for proj in &mut part.projections {
                if let Some(stp) = &mut proj.stp {
                    stp.reset();
                }
            }
        }
        for slot in self.exchange.all_mut() {
            slot.iter_mut().for_each(Vec::clear);
        }
        self.step = 0;
    }

    /// The synapses of projection `proj` in source-major order (targets ascending
    /// within a row), gathered from the partitions.
    pub fn synapses(&self, proj: usize) -> Result<SynapseRows> {
        let info = self
            .projections
            .get(proj)
            .ok_or_else(|| Error::Invalid(format!("no projection {proj}")))?;
        let n_src = self.pops[info.source].size;
        let mut out = SynapseRows {
            row_ptr: vec![0],
            ..Default::default()
        };
        for s in 0..n_src {
            for (part, p) in self.partitions.iter().enumerate() {
                let t = &p.projections[proj].table;
                let lo = self.bounds[info.target][part] as u32;
                for k in t.row_in_target_order(s) {
                    out.target.push(t.target[k] + lo);
                    out.weight.push(t.weight[k]);
                    out.delay.push(t.delay(k));
                }
            }
            out.row_ptr.push(out.target.len());
        }
        Ok(out)
    }
}

/// Records spikes, rates and counters after each step (on worker 0).
struct Recorder<'a> {
    monitors: &'a [Mon],
    recordings: &'a mut Recordings,
    stats: &'a mut RunStats,
    bounds: &'a [Vec<usize>],
}

impl Recorder<'_> {
    fn record(&mut self, t: u64, ex: &SpikeExchange) {
        let parity = (t & 1) as usize;
        let n_parts = self.bounds.first().map_or(1, |b| b.len() - 1);
        for (pop, count) in self.stats.spikes.iter_mut().enumerate() {
            for part in 0..n_parts {
                // SAFETY: called after the barrier ending step t (see exchange docs).
                *count += unsafe { ex.read(part, parity)[pop].len() } as u64;
            }
        }
        for m in self.monitors {
            match m {
                Mon::Spikes { pop, mask, rec } => {
                    let r = &mut self.recordings.spikes[*rec];
                    for part in 0..n_parts {
                        let lo = self.bounds[*pop][part] as u32;
                        // SAFETY: as above.
                        for &i in unsafe { &ex.read(part, parity)[*pop] } {
                            let g = i + lo;
                            if mask.as_ref().is_none_or(|m| m[g as usize]) {
                                r.steps.push(t);
                                r.neurons.push(g);
                            }
                        }
                    }
                }
                Mon::Rate { pop, rec } => {
                    let r = &mut self.recordings.rates[*rec];
                    let bin = (t / r.bin_steps) as usize;
                    if r.counts.len() <= bin {
                        r.counts.resize(bin + 1, 0);
                    }
                    for part in 0..n_parts {
                        // SAFETY: as above.
                        r.counts[bin] += unsafe { ex.read(part, parity)[*pop].len() } as u64;
                    }
                }
                Mon::State { .. } => {}
            }
        }
    }
}
