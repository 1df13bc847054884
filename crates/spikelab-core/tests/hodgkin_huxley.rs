//! The COBAHH Traub–Miles neuron against Brian2, the reference simulator of the
//! benchmark: action-potential peak, period of repetitive firing at several constant
//! currents, and the rheobase of repetitive firing.
//!
//! The reference figures come from Brian2 2.9.0 (numpy target) running the neuron of
//! the Brian2 example `COBAHH.py` without synapses, 1000 ms, gates starting at their
//! steady state for v = E_L, spikes at v > −20 mV with 3 ms refractoriness, periods
//! averaged over the spikes after 300 ms; the script is
//! `examples/reference/brian2_hh_neuron.py`. This cell has no resting state (its
//! steady-state I–V curve never crosses zero): it fires on its own at I = 0, and its
//! rheobase — the smallest constant current that keeps it firing — is negative.

use spikelab_core::prelude::*;

/// Brian2, exponential Euler, dt = 0.01 ms: period (ms) at I = 0, 100, 500 pA.
const BRIAN2_PERIOD_MS_DT001: [(f64, f64); 3] = [(0.0, 72.472), (100.0, 31.872), (500.0, 12.207)];
/// Brian2, exponential Euler, dt = 0.01 ms: largest v over 1000 ms at I = 0 (mV).
const BRIAN2_PEAK_MV_DT001: f64 = 48.028;
/// The same at the benchmark's dt = 0.1 ms.
const BRIAN2_PERIOD_MS_DT01: [(f64, f64); 3] = [(0.0, 74.733), (100.0, 33.555), (500.0, 13.213)];
/// The same at the benchmark's dt = 0.1 ms.
const BRIAN2_PEAK_MV_DT01: f64 = 48.756;
/// Brian2, exponential Euler, dt = 0.01 ms, around the onset of repetitive firing:
/// (current pA, spikes in 1000 ms, mean period after 300 ms if >= 3 spikes there).
const BRIAN2_ONSET: [(f64, usize, Option<f64>); 17] = [
    (-34.0, 1, None),
    (-33.5, 1, None),
    (-33.0, 1, None),
    (-32.5, 1, None),
    (-32.0, 1, None),
    (-31.5, 2, None),
    (-31.0, 3, None),
    (-30.5, 3, None),
    (-30.0, 4, Some(294.455)),
    (-29.5, 4, None),
    (-29.0, 5, Some(238.615)),
    (-28.5, 5, Some(220.660)),
    (-28.0, 5, Some(206.315)),
    (-27.5, 6, Some(194.503)),
    (-27.0, 6, Some(184.553)),
    (-26.5, 6, Some(176.013)),
    (-26.0, 6, Some(168.583)),
];

/// One neuron per current; returns (spike times, max v) per neuron.
fn run(currents: &[f64], integration: Integration, dt: f64) -> Vec<(Vec<f64>, f64)> {
    let n = currents.len();
    let mut net = NetworkSpec::new(dt, 1000.0)
        .population(PopulationSpec::new(
            "hh",
            n,
            NeuronSpec::Hh(HodgkinHuxley {
                integration,
                ..HodgkinHuxley::default()
            }),
        ))
        .monitor(MonitorSpec::Spikes {
            population: "hh".into(),
            neurons: NeuronSelection::All,
        });
    for (k, &i) in currents.iter().enumerate() {
        net = net.current(CurrentSpec {
            target: "hh".into(),
            neurons: NeuronSelection::List(vec![k as u32]),
            waveform: Waveform::Dc {
                amplitude: i,
                start_ms: 0.0,
                stop_ms: None,
            },
        });
    }
    let mut sim = Simulator::build_with_threads(&net, 1).unwrap();
    let mut v_max = vec![f32::MIN; n];
    let steps = (1000.0 / dt).round() as u64;
    for _ in 0..steps {
        sim.run_steps(1);
        for (m, v) in v_max.iter_mut().zip(sim.state(0, "v").unwrap()) {
            *m = m.max(v);
        }
    }
    let rec = &sim.recordings().spikes[0];
    (0..n)
        .map(|k| {
            let t: Vec<f64> = rec
                .steps
                .iter()
                .zip(&rec.neurons)
                .filter(|(_, &j)| j as usize == k)
                .map(|(&s, _)| (s + 1) as f64 * dt)
                .collect();
            (t, v_max[k] as f64)
        })
        .collect()
}

/// Mean interval of the spikes after 300 ms (as the reference script).
fn period_ms(t: &[f64]) -> Option<f64> {
    let late: Vec<f64> = t.iter().copied().filter(|&x| x > 300.0).collect();
    (late.len() > 2).then(|| (late[late.len() - 1] - late[0]) / (late.len() - 1) as f64)
}

#[test]
fn periods_and_peak_match_brian2() {
    for (dt, periods, peak) in [
        (0.01, BRIAN2_PERIOD_MS_DT001, BRIAN2_PEAK_MV_DT001),
        (0.1, BRIAN2_PERIOD_MS_DT01, BRIAN2_PEAK_MV_DT01),
    ] {
        let currents: Vec<f64> = periods.iter().map(|c| c.0).collect();
        let out = run(&currents, Integration::ExponentialEuler, dt);
        for ((i, want), (t, _)) in periods.iter().zip(&out) {
            let got = period_ms(t).expect("repetitive firing");
            assert!(
                (got - want).abs() < 0.002 * want,
                "dt {dt}, I = {i} pA: {got} vs Brian2 {want}"
            );
        }
        assert!(
            (out[0].1 - peak).abs() < 0.1,
            "dt {dt}: peak {} vs Brian2 {peak}",
            out[0].1
        );
    }
}

#[test]
fn onset_of_repetitive_firing_matches_brian2() {
    // Below about −32 pA the cell fires once (the initial state) and falls silent;
    // from there the period of repetitive firing grows without bound as the current
    // decreases (168 ms at −26 pA, 294 ms at −30 pA): the rheobase of repetitive
    // firing lies between −31 and −30 pA in both simulators.
    let currents: Vec<f64> = BRIAN2_ONSET.iter().map(|c| c.0).collect();
    let out = run(&currents, Integration::ExponentialEuler, 0.01);
    for ((i, count, period), (t, _)) in BRIAN2_ONSET.iter().zip(&out) {
        assert!(
            t.len().abs_diff(*count) <= 1,
            "I = {i} pA: {} spikes vs Brian2 {count}",
            t.len()
        );
        if let (Some(want), Some(got)) = (period, period_ms(t)) {
            assert!(
                (got - want).abs() < 0.002 * want,
                "I = {i} pA: {got} vs {want}"
            );
        }
    }
    let silent = |t: &Vec<f64>| t.iter().all(|&x| x < 300.0);
    assert!(silent(&out[0].0) && !silent(&out[16].0));
}
