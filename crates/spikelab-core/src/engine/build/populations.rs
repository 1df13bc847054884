//! Build stage 2: populations. Every population is cut into one chunk per partition:
//! spike sources get their Poisson / generator chunks; neuron populations get their
//! initial state (one seeded stream per variable), receptors with ring buffers,
//! drive buffers, injected currents and per-neuron random streams.

use crate::engine::partition::{ChunkKind, NeuronChunk, PopChunk, ReceptorChunk};
use crate::engine::plan::{BuildPlan, PopulationPlan};
use crate::engine::table::RingBuffer;
use crate::input::CurrentChunk;
use crate::network::NeuronSpec;
use crate::neuron::NeuronModel;
use crate::rng::{self, Domain};
use crate::source::{draw_rates, GeneratorChunk, PoissonChunk, SourceChunk};
use crate::synapse::{DriveBuffers, Receptor};
use crate::value::Value;
use std::ops::Range;

/// The chunks of every population for the partitions `owned` (all of them in one
/// process, a rank's share in a distributed run): `out[k - owned.start][pop]`.
pub(super) fn build(
    plan: &BuildPlan,
    bounds: &[Vec<usize>],
    owned: Range<usize>,
) -> Vec<Vec<PopChunk>> {
    let mut part_pops: Vec<Vec<PopChunk>> = owned.clone().map(|_| Vec::new()).collect();
    for (pi, pop) in plan.populations.iter().enumerate() {
        let b = &bounds[pi];
        let chunks = match &pop.model {
            Some(model) => neuron_chunks(plan, pi, model.as_ref(), b, owned.clone()),
            None => source_chunks(plan, pi, b, owned.clone()),
        };
        for (kind, k) in chunks.into_iter().zip(owned.clone()) {
            part_pops[k - owned.start].push(PopChunk {
                lo: b[k],
                hi: b[k + 1],
                kind,
            });
        }
    }
    part_pops
}

/// One source chunk per partition in `owned` of spike-source population `pi`.
fn source_chunks(plan: &BuildPlan, pi: usize, b: &[usize], owned: Range<usize>) -> Vec<ChunkKind> {
    let p = plan.populations[pi].spec;
    let (seed, dt) = (plan.seed, plan.dt_ms);
    match &p.neuron {
        NeuronSpec::Poisson(ps) => {
            let rates = draw_rates(ps, p.size, seed, pi);
            owned
                .map(|k| {
                    let c =
                        PoissonChunk::new(seed, pi, b[k], &rates[b[k]..b[k + 1]], dt, ps.process);
                    ChunkKind::Source(SourceChunk::Poisson(c))
                })
                .collect()
        }
        NeuronSpec::SpikeGenerator(g) => owned
            .map(|k| {
                let c = GeneratorChunk::new(g, b[k], b[k + 1], dt);
                ChunkKind::Source(SourceChunk::Generator(c))
            })
            .collect(),
        _ => unreachable!("populations without a model are spike sources"),
    }
}

/// Initial state of the whole population `pi`, one stream per variable, completed
/// by the model.
fn initial_state(plan: &BuildPlan, pi: usize, model: &dyn NeuronModel) -> Vec<Vec<f32>> {
    let p = plan.populations[pi].spec;
    let seed = plan.seed;
    let defaults = model.default_initial_state();
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
            let mut rng = rng::stream(seed, Domain::InitialState, &[pi as u64, vi as u64]);
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
    init
}

/// Initial receptor outputs (`g_<name>` in `initial`), None for zero.
fn receptor_initial(plan: &BuildPlan, pi: usize) -> Vec<Option<Vec<f32>>> {
    let p = plan.populations[pi].spec;
    p.receptors
        .iter()
        .enumerate()
        .map(|(ri, r)| {
            p.initial.get(&format!("g_{}", r.name)).map(|v| {
                let mut rng = rng::stream(
                    plan.seed,
                    Domain::InitialState,
                    &[pi as u64, (1 << 33) + ri as u64],
                );
                v.sample_vec(p.size, &mut rng)
            })
        })
        .collect()
}

/// One neuron chunk per partition in `owned` of neuron population `pi`.
fn neuron_chunks(
    plan: &BuildPlan,
    pi: usize,
    model: &dyn NeuronModel,
    b: &[usize],
    owned: Range<usize>,
) -> Vec<ChunkKind> {
    let pop = &plan.populations[pi];
    let init = initial_state(plan, pi, model);
    let receptor_init = receptor_initial(plan, pi);
    let receptors: Vec<Receptor> = pop
        .spec
        .receptors
        .iter()
        .map(|r| {
            Receptor::prepare(
                r,
                plan.dt_ms,
                model.exact_membrane_tau_ms(),
                model.forward_euler(),
            )
        })
        .collect();
    owned
        .map(|k| {
            let (lo, hi) = (b[k], b[k + 1]);
            let n = hi - lo;
            let receptors = receptors
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
                        ring: RingBuffer::new(n, pop.max_delay_steps),
                        variable: r.spec.variable.as_ref().map(|var| {
                            model
                                .state_names()
                                .iter()
                                .position(|s| s == var)
                                .expect("checked by the plan")
                        }),
                    }
                })
                .collect();
            ChunkKind::Neuron(NeuronChunk {
                model: model.clone_box(),
                state: init.iter().map(|v| v[lo..hi].to_vec()).collect(),
                initial: init.iter().map(|v| v[lo..hi].to_vec()).collect(),
                receptors,
                drive: DriveBuffers::new(n, pop.has_conductance, pop.has_jump),
                currents: currents(plan, pi, pop, lo, hi),
                poisson: poisson_inputs(plan, pi, pop, lo, hi),
                rng: neuron_streams(plan, pi, model, lo, hi),
            })
        })
        .collect()
}

/// The injected currents of population `pi` that reach neurons `lo..hi`.
fn currents(
    plan: &BuildPlan,
    pi: usize,
    pop: &PopulationPlan,
    lo: usize,
    hi: usize,
) -> Vec<CurrentChunk> {
    plan.currents
        .iter()
        .enumerate()
        .filter(|(_, c)| c.target == pi)
        .filter_map(|(ci, c)| {
            let global: Vec<u32> = c
                .spec
                .neurons
                .indices(pop.spec.size)
                .into_iter()
                .filter(|&g| (lo..hi).contains(&(g as usize)))
                .collect();
            if global.is_empty() {
                return None;
            }
            let local = global.iter().map(|&g| g - lo as u32).collect();
            Some(CurrentChunk::new(
                c.spec, local, &global, ci, plan.seed, plan.dt_ms,
            ))
        })
        .collect()
}

/// The summed Poisson drives of population `pi` that reach neurons `lo..hi`.
fn poisson_inputs(
    plan: &BuildPlan,
    pi: usize,
    pop: &PopulationPlan,
    lo: usize,
    hi: usize,
) -> Vec<crate::poisson_input::PoissonInputChunk> {
    plan.poisson_inputs
        .iter()
        .enumerate()
        .filter(|(_, (_, target, _))| *target == pi)
        .filter_map(|(k, (spec, _, receptor))| {
            let global: Vec<u32> = spec
                .neurons
                .indices(pop.spec.size)
                .into_iter()
                .filter(|&g| (lo..hi).contains(&(g as usize)))
                .collect();
            if global.is_empty() {
                return None;
            }
            let local = global.iter().map(|&g| g - lo as u32).collect();
            Some(crate::poisson_input::PoissonInputChunk::new(
                spec, *receptor, local, &global, k, plan.seed, plan.dt_ms,
            ))
        })
        .collect()
}

/// One random stream per neuron `lo..hi` of population `pi` for stochastic models.
fn neuron_streams(
    plan: &BuildPlan,
    pi: usize,
    model: &dyn NeuronModel,
    lo: usize,
    hi: usize,
) -> Vec<rng::Stream> {
    if model.uses_rng() {
        (lo..hi)
            .map(|g| rng::stream(plan.seed, Domain::Neuron, &[pi as u64, g as u64]))
            .collect()
    } else {
        Vec::new()
    }
}
