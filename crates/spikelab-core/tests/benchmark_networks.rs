//! The benchmark networks behave as published: the Vogels–Abbott COBA network fires at
//! about 21 Hz (Brian2 with forward Euler) and stays active for the whole run; the
//! Brunel network in its AI regime is asynchronous and irregular. The example model
//! files describe the same networks as `presets`.

use spikelab_core::prelude::*;
use spikelab_core::presets::{brunel, vogels_abbott, Synapses, Wiring};
use std::path::Path;

fn example(name: &str) -> NetworkSpec {
    NetworkSpec::load(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(name),
    )
    .unwrap()
}

/// The parts of a spec that define the dynamics (monitors and durations aside).
fn dynamics(mut s: NetworkSpec) -> NetworkSpec {
    s.monitors.clear();
    s.simulation.duration_ms = 0.0;
    for p in &mut s.projections {
        p.name = None;
        p.delay_ms
            .get_or_insert(Value::Constant(s.simulation.dt_ms));
    }
    s
}

#[test]
fn example_files_match_the_presets() {
    let coba = vogels_abbott(
        4000,
        Synapses::Conductance,
        Wiring::Probability(0.02),
        0.0,
        1,
    );
    assert_eq!(dynamics(example("vogels_abbott_coba.toml")), dynamics(coba));
    let cuba = vogels_abbott(4000, Synapses::Current, Wiring::Probability(0.02), 0.0, 1);
    assert_eq!(dynamics(example("vogels_abbott_cuba.toml")), dynamics(cuba));
    let b = brunel(10_000, 5.0, 2.0, 0.0, 1);
    assert_eq!(dynamics(example("brunel_2000.toml")), dynamics(b));
}

#[test]
fn coba_example_fires_at_the_reference_rate_and_sustains_activity() {
    let mut spec = example("vogels_abbott_coba.toml");
    spec.monitors
        .retain(|m| !matches!(m, MonitorSpec::State { .. }));
    let mut sim = Simulator::build(&spec).unwrap();
    let window_ms = 500.0;
    let windows = 20; // 10 s, as the reference figure
    let mut last = sim.stats().spikes[0];
    for w in 0..windows {
        sim.run_ms(window_ms);
        let now = sim.stats().spikes[0];
        let rate = (now - last) as f64 / 3200.0 / (window_ms * 1e-3);
        assert!(
            (15.0..28.0).contains(&rate),
            "window {w}: excitatory rate {rate:.1} Hz outside 15-28 Hz"
        );
        last = now;
    }
    let mean = sim.stats().spikes[0] as f64 / 3200.0 / 10.0;
    assert!(
        (15.0..28.0).contains(&mean),
        "mean excitatory rate {mean:.2} Hz"
    );
}

fn cv_of_isi(steps: &[u64], neurons: &[u32], n: usize) -> f64 {
    let mut last = vec![None::<u64>; n];
    let mut isis: Vec<Vec<f64>> = vec![Vec::new(); n];
    for (&s, &i) in steps.iter().zip(neurons) {
        if let Some(l) = last[i as usize] {
            isis[i as usize].push((s - l) as f64);
        }
        last[i as usize] = Some(s);
    }
    let cvs: Vec<f64> = isis
        .iter()
        .filter(|v| v.len() >= 5)
        .map(|v| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt() / m
        })
        .collect();
    cvs.iter().sum::<f64>() / cvs.len() as f64
}

#[test]
fn brunel_ai_regime_is_asynchronous_and_irregular() {
    // The full-size network of the paper (the AI state depends on the in-degree), for
    // a short run: 12,500 neurons, 12.5 M synapses.
    let spec = brunel(10_000, 5.0, 2.0, 250.0, 7).monitor(MonitorSpec::Rate {
        population: "exc".into(),
        bin_ms: 1.0,
    });
    let mut sim = Simulator::build_with_threads(&spec, 2).unwrap();
    sim.run_ms(250.0);
    let rec = &sim.recordings().spikes[0];
    // Discard the first 50 ms (transient from the uniform initial state).
    let (steps, neurons): (Vec<u64>, Vec<u32>) = rec
        .steps
        .iter()
        .zip(&rec.neurons)
        .filter(|(&s, _)| s >= 500)
        .map(|(&s, &n)| (s, n))
        .unzip();
    let rate = steps.len() as f64 / 10_000.0 / 0.2;
    assert!((25.0..55.0).contains(&rate), "rate {rate} Hz");
    let cv = cv_of_isi(&steps, &neurons, 10_000);
    assert!(
        cv > 0.3,
        "mean CV of ISIs {cv} is too regular for the AI regime"
    );
    // Asynchronous: the population rate in 10 ms bins varies little.
    let r = sim.recordings().rates[0].rates_hz(0.1);
    let bins: Vec<f64> = r[50..250]
        .chunks(10)
        .map(|c| c.iter().sum::<f64>() / 10.0)
        .collect();
    let m = bins.iter().sum::<f64>() / bins.len() as f64;
    let sd = (bins.iter().map(|x| (x - m).powi(2)).sum::<f64>() / bins.len() as f64).sqrt();
    assert!(
        sd / m < 0.3,
        "population rate CV {:.2} (10 ms bins) suggests synchrony",
        sd / m
    );
}
