//! The same seed gives bitwise-identical spikes for any number of threads
//! (DESIGN.md ideas 4 and 5), for networks exercising every delivery path: Poisson
//! input, conductance and current receptors, heterogeneous delays, delta synapses.

use spikelab_core::prelude::*;
use spikelab_core::presets::{brunel, vogels_abbott, Synapses, Wiring};

fn spikes(spec: &NetworkSpec, threads: usize, steps: u64) -> Vec<(Vec<u64>, Vec<u32>)> {
    let mut sim = Simulator::build_with_threads(spec, threads).unwrap();
    assert_eq!(sim.partitions(), threads);
    sim.run_steps(steps);
    sim.recordings()
        .spikes
        .iter()
        .map(|s| (s.steps.clone(), s.neurons.clone()))
        .collect()
}

fn assert_same_for_threads(spec: &NetworkSpec, steps: u64) {
    let reference = spikes(spec, 1, steps);
    let total: usize = reference.iter().map(|r| r.0.len()).sum();
    assert!(
        total > 100,
        "the test network must be active (got {total} spikes)"
    );
    for threads in [2, 3, 7] {
        assert_eq!(
            spikes(spec, threads, steps),
            reference,
            "{threads} threads differ from 1 thread"
        );
    }
}

#[test]
fn coba_network_is_bitwise_identical_for_1_2_3_7_threads() {
    let spec = vogels_abbott(
        1000,
        Synapses::Conductance,
        Wiring::Probability(0.08),
        200.0,
        11,
    );
    assert_same_for_threads(&spec, 2000);
}

#[test]
fn cuba_network_with_heterogeneous_delays_and_poisson_input_is_identical() {
    let mut spec = vogels_abbott(
        800,
        Synapses::Current,
        Wiring::InDegree { exc: 40, inh: 10 },
        200.0,
        5,
    );
    for p in &mut spec.projections {
        p.delay_ms = Some(Value::uniform(0.1, 3.0));
    }
    spec.populations.push(PopulationSpec::new(
        "drive",
        100,
        NeuronSpec::Poisson(PoissonSource::constant(50.0)),
    ));
    spec.projections.push(
        ProjectionSpec::new(
            "drive",
            "exc",
            "e",
            Connectivity::FixedProbability {
                p: 0.1,
                allow_self: true,
            },
            0.5,
        )
        .with_delay_ms(Value::uniform(0.5, 2.0)),
    );
    assert_same_for_threads(&spec, 2000);
}

#[test]
fn brunel_delta_network_is_identical() {
    let spec = brunel(800, 5.0, 2.0, 100.0, 3);
    assert_same_for_threads(&spec, 1000);
}

#[test]
fn different_seeds_give_different_spikes() {
    let a = vogels_abbott(
        500,
        Synapses::Conductance,
        Wiring::Probability(0.1),
        100.0,
        1,
    );
    let b = vogels_abbott(
        500,
        Synapses::Conductance,
        Wiring::Probability(0.1),
        100.0,
        2,
    );
    assert_ne!(spikes(&a, 1, 1000), spikes(&b, 1, 1000));
}
