//! A distributed run (ranks joined by the in-process transport, as MPI ranks would
//! be) gives bitwise the recordings, states and synapses of a single process for
//! every ranks × threads split: spikes, state traces, plastic weights.

use spikelab_core::engine::distributed::{local_group, Transport};
use spikelab_core::error::Error;
use spikelab_core::plasticity::{Pairing, PlasticitySpec, Stdp, WeightDependence};
use spikelab_core::prelude::*;
use spikelab_core::presets::{vogels_abbott, Synapses, Wiring};
use std::sync::Arc;

/// Everything a run leaves that must not depend on the split.
#[derive(Debug, PartialEq)]
struct Outcome {
    spikes: Vec<(Vec<u64>, Vec<u32>)>,
    states: Vec<(Vec<u64>, Vec<u32>)>,
    rates: Vec<Vec<u64>>,
    v: Vec<u32>,
    weights: Vec<u32>,
    targets: Vec<u32>,
    synapses: Vec<usize>,
    events: u64,
}

/// A network exercising every path: in-degree (built per partition) and probability
/// (built whole, then split) rules, heterogeneous delays, Poisson sources, STDP on a
/// projection, a state monitor and a rate monitor.
fn network() -> NetworkSpec {
    let mut spec = vogels_abbott(
        600,
        Synapses::Current,
        Wiring::InDegree { exc: 30, inh: 8 },
        100.0,
        9,
    );
    for p in &mut spec.projections {
        p.delay_ms = Some(Value::uniform(0.1, 2.5));
    }
    spec.populations.push(PopulationSpec::new(
        "drive",
        80,
        NeuronSpec::Poisson(PoissonSource::constant(40.0)),
    ));
    let stdp = PlasticitySpec::Stdp(Stdp {
        a_plus: 0.01,
        a_minus: 0.012,
        tau_plus_ms: 16.8,
        tau_minus_ms: 33.7,
        w_min: 0.0,
        w_max: 2.0,
        weight_dependence: WeightDependence::Additive,
        pairing: Pairing::AllToAll,
    });
    spec.projections.push(
        ProjectionSpec::new(
            "drive",
            "exc",
            "e",
            Connectivity::FixedProbability {
                p: 0.1,
                allow_self: true,
            },
            0.6,
        )
        .with_delay_ms(Value::uniform(0.5, 2.0))
        .with_plasticity(stdp),
    );
    spec.monitors.push(MonitorSpec::State {
        population: "exc".into(),
        variables: vec!["v".into()],
        neurons: NeuronSelection::First(300),
        every_ms: Some(0.5),
    });
    spec
}

fn outcome(sim: &mut Simulator) -> Outcome {
    // Two calls, so that the samples of a second chunk are gathered too.
    sim.run_steps(300);
    sim.run_steps(700);
    let exc = sim.population_index("exc").unwrap();
    let plastic = sim.projections().len() - 1;
    let rows = sim.synapses(plastic).unwrap();
    let r = sim.recordings();
    Outcome {
        spikes: r
            .spikes
            .iter()
            .map(|s| (s.steps.clone(), s.neurons.clone()))
            .collect(),
        states: r
            .states
            .iter()
            .map(|s| {
                (
                    s.steps.clone(),
                    s.values.iter().map(|v| v.to_bits()).collect(),
                )
            })
            .collect(),
        rates: r.rates.iter().map(|s| s.counts.clone()).collect(),
        v: sim
            .state(exc, "v")
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect(),
        weights: rows.weight.iter().map(|w| w.to_bits()).collect(),
        targets: rows.target,
        synapses: sim.projections().iter().map(|p| p.synapses).collect(),
        events: sim.synaptic_events(),
    }
}

/// `f(transport)` on each of `ranks` ranks joined in this process; every rank's
/// result, in rank order.
fn on_ranks<T: Send>(ranks: usize, f: impl Fn(Arc<dyn Transport>) -> T + Sync) -> Vec<T> {
    let group = local_group(ranks);
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = group.into_iter().map(|t| s.spawn(move || f(t))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Runs `spec` on `ranks` ranks of `threads` threads each; every rank's outcome.
fn distributed(spec: &NetworkSpec, ranks: usize, threads: usize) -> Vec<Outcome> {
    let plan = spec.plan().unwrap();
    on_ranks(ranks, |t| {
        let mut sim = Simulator::from_plan_distributed(&plan, threads, t).unwrap();
        assert_eq!(sim.partitions(), threads);
        let o = outcome(&mut sim);
        assert!(sim.exchange_seconds().unwrap() >= 0.0);
        o
    })
}

#[test]
fn every_ranks_by_threads_split_gives_the_single_process_results() {
    let spec = network();
    let mut single = Simulator::build_with_threads(&spec, 1).unwrap();
    let reference = outcome(&mut single);
    assert!(single.exchange_seconds().is_none());
    let total: usize = reference.spikes.iter().map(|s| s.0.len()).sum();
    assert!(total > 500, "the network must be active ({total} spikes)");
    assert!(!reference.states[0].0.is_empty());
    for (ranks, threads) in [(1, 1), (2, 1), (3, 1), (2, 2), (3, 2)] {
        for (rank, o) in distributed(&spec, ranks, threads).iter().enumerate() {
            assert!(
                *o == reference,
                "rank {rank} of {ranks} × {threads} threads differs from one process"
            );
        }
    }
}

#[test]
fn set_weights_in_a_distributed_run_sets_the_single_process_weights() {
    let mut spec = network();
    spec.monitors.clear();
    let plan = spec.plan().unwrap();
    let reference = {
        let mut sim = Simulator::from_plan(&plan, 1).unwrap();
        let n = sim.synapses(0).unwrap().weight.len();
        let w: Vec<f32> = (0..n).map(|k| 0.001 * (k % 97) as f32).collect();
        sim.set_weights(0, &w).unwrap();
        sim.run_steps(400);
        (sim.synapses(0).unwrap().weight, sim.stats().spikes.clone())
    };
    let got = on_ranks(3, |t| {
        let mut sim = Simulator::from_plan_distributed(&plan, 1, t).unwrap();
        let n = sim.synapses(0).unwrap().weight.len();
        let w: Vec<f32> = (0..n).map(|k| 0.001 * (k % 97) as f32).collect();
        sim.set_weights(0, &w).unwrap();
        sim.run_steps(400);
        (sim.synapses(0).unwrap().weight, sim.stats().spikes.clone())
    });
    for g in got {
        assert_eq!(g, reference);
    }
}

#[test]
fn a_split_with_more_partitions_than_neurons_is_refused_on_every_rank() {
    let spec = NetworkSpec::new(0.1, 10.0).population(PopulationSpec::new(
        "few",
        3,
        NeuronSpec::Lif(Lif::default()),
    ));
    let plan = spec.plan().unwrap();
    let errors = on_ranks(2, |t| {
        let e: Error = Simulator::from_plan_distributed(&plan, 2, t).unwrap_err();
        e.to_string()
    });
    for e in &errors {
        assert!(e.contains("ranks") && e.contains("3 neurons"), "{e}");
    }
}
