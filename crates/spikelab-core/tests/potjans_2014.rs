//! The Potjans & Diesmann (2014) microcircuit (`examples/potjans_2014.toml`) at a
//! tenth of its neurons and full in-degrees: every population fires at its published
//! rate (Potjans & Diesmann 2014, Fig. 6; NEST's reference implementation) within a
//! factor that covers the seed scatter and the smaller network, irregularly; the
//! `fixed_total_number` rule gives its exact synapse counts; and the spikes do not
//! depend on the thread count (each partition generates only its own targets'
//! synapses).

use spikelab_core::analysis::isi_cv;
use spikelab_core::prelude::*;
use spikelab_core::scale::ScaleSpec;
use std::path::Path;

const POPS: [&str; 8] = ["L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I"];
/// Published rates (Hz), Potjans & Diesmann 2014 and NEST's example.
const RATES_HZ: [f64; 8] = [0.9, 3.0, 4.4, 5.9, 7.6, 8.6, 1.1, 7.8];

fn microcircuit(neurons: f64) -> NetworkSpec {
    let mut spec = NetworkSpec::load(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/potjans_2014.toml"),
    )
    .unwrap();
    spec.scale_by(
        &ScaleSpec {
            neurons,
            in_degree: 1.0,
        },
        "scale",
    )
    .unwrap();
    spec
}

#[test]
fn the_model_file_holds_the_published_network() {
    let spec = microcircuit(1.0);
    let sizes: Vec<usize> = spec.populations.iter().map(|p| p.size).collect();
    assert_eq!(sizes, [20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948]);
    let total: usize = spec
        .projections
        .iter()
        .map(|p| match p.connectivity {
            Connectivity::FixedTotalNumber { n, .. } => n,
            ref r => panic!("{r:?}"),
        })
        .sum();
    // NEST's K = ln(1 − p)/ln(1 − 1/(N_pre N_post)) summed: about 299 million.
    assert_eq!(total, 298_880_968);
    // The memory estimate stays under 10 bytes per synapse.
    let bytes = spikelab_core::engine::estimate_memory_bytes(&spec.plan().unwrap(), 2);
    assert!(
        bytes / (total as f64) < 10.0,
        "{} bytes per synapse",
        bytes / total as f64
    );
}

#[test]
fn a_tenth_of_the_microcircuit_fires_at_the_published_rates_irregularly() {
    let mut spec = microcircuit(0.1);
    spec.simulation.duration_ms = 1500.0;
    let (transient_ms, measured_s) = (500.0, 1.0);
    let mut sim = Simulator::build(&spec).unwrap();
    let expected: usize = spec
        .projections
        .iter()
        .map(|p| match p.connectivity {
            Connectivity::FixedTotalNumber { n, .. } => n,
            _ => 0,
        })
        .sum();
    let built: usize = sim.projections().iter().map(|p| p.synapses).sum();
    assert_eq!(built, expected);
    sim.run_ms(1500.0);
    let dt = sim.dt_ms();
    let rec = sim.recordings();
    for (k, name) in POPS.iter().enumerate() {
        let s = rec.spikes.iter().find(|s| s.population == *name).unwrap();
        let size = spec.populations[k].size;
        let (times, neurons): (Vec<f64>, Vec<u32>) = s
            .steps
            .iter()
            .zip(&s.neurons)
            .map(|(&st, &n)| (st as f64 * dt, n))
            .filter(|&(t, _)| t >= transient_ms)
            .unzip();
        let rate = times.len() as f64 / size as f64 / measured_s;
        assert!(
            rate > 0.6 * RATES_HZ[k] && rate < 1.6 * RATES_HZ[k],
            "{name}: {rate:.2} Hz, published {} Hz",
            RATES_HZ[k]
        );
        let cvs: Vec<f64> = isi_cv(&times, &neurons, size)
            .unwrap()
            .into_iter()
            .filter(|c| c.is_finite())
            .collect();
        let cv = cvs.iter().sum::<f64>() / cvs.len() as f64;
        // Irregular: far from a clock (0) and from bursts (> 1.5). One second of
        // a few Hz biases the estimate low (few intervals per neuron).
        assert!(cv > 0.4 && cv < 1.5, "{name}: ISI CV {cv:.2}");
    }
}

#[test]
fn the_microcircuit_spikes_do_not_depend_on_the_thread_count() {
    let mut spec = microcircuit(0.02);
    spec.simulation.duration_ms = 200.0;
    let run = |threads: usize| {
        let mut sim = Simulator::build_with_threads(&spec, threads).unwrap();
        sim.run_ms(200.0);
        let rec = sim.recordings();
        rec.spikes
            .iter()
            .map(|s| (s.steps.clone(), s.neurons.clone()))
            .collect::<Vec<_>>()
    };
    let one = run(1);
    assert!(one.iter().map(|s| s.0.len()).sum::<usize>() > 100);
    assert_eq!(one, run(3));
}
