//! Izhikevich (2003) cell classes under the paper's step current (I = 10 from rest):
//! each preset must show its class's firing pattern (Fig. 2 of the paper), both with
//! the default RK4 at dt = 0.1 ms and with the paper's forward Euler at dt = 0.5 ms.
//! The resonator is checked against the frequency and damping of its linearisation.

use spikelab_core::prelude::*;

const STEP_ON_MS: f64 = 50.0;

/// Spike times (ms) of one neuron of class `preset` under `waveform`.
fn spike_times(preset: IzhikevichPreset, integration: Integration, waveform: Waveform) -> Vec<f64> {
    let dt = if integration == Integration::Euler {
        0.5
    } else {
        0.1
    };
    let ms = 400.0;
    let neuron = Izhikevich {
        integration,
        ..Izhikevich::preset(preset)
    };
    let net = NetworkSpec::new(dt, ms)
        .population(PopulationSpec::new("n", 1, NeuronSpec::Izhikevich(neuron)))
        .current(CurrentSpec {
            target: "n".into(),
            neurons: NeuronSelection::All,
            waveform,
        })
        .monitor(MonitorSpec::Spikes {
            population: "n".into(),
            neurons: NeuronSelection::All,
        });
    let mut sim = Simulator::build_with_threads(&net, 1).unwrap();
    sim.run_ms(ms);
    sim.recordings().spikes[0].times_ms(dt)
}

fn step_10() -> Waveform {
    Waveform::Dc {
        amplitude: 10.0,
        start_ms: STEP_ON_MS,
        stop_ms: None,
    }
}

fn isis(t: &[f64]) -> Vec<f64> {
    t.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Groups of spikes separated by less than `gap_ms`, as spike counts.
fn bursts(t: &[f64], gap_ms: f64) -> Vec<usize> {
    let mut out = vec![];
    let mut n = 0;
    for (k, &x) in t.iter().enumerate() {
        if k > 0 && x - t[k - 1] >= gap_ms {
            out.push(n);
            n = 0;
        }
        n += 1;
    }
    if n > 0 {
        out.push(n);
    }
    out
}

const METHODS: [Integration; 2] = [Integration::Auto, Integration::Euler];

#[test]
fn regular_spiking_fires_tonically_with_adaptation() {
    for m in METHODS {
        let t = spike_times(IzhikevichPreset::RegularSpiking, m, step_10());
        let isi = isis(&t);
        assert!(t[0] >= STEP_ON_MS && isi.len() >= 4, "{m:?}: {t:?}");
        // Tonic: single spikes, no ISI shorter than 10 ms.
        assert!(isi.iter().all(|&x| x > 10.0), "{m:?}: {isi:?}");
        // Spike-frequency adaptation to a low steady rate.
        let last = *isi.last().unwrap();
        assert!(last > 1.8 * isi[0] && last > 30.0, "{m:?}: {isi:?}");
    }
}

#[test]
fn intrinsically_bursting_starts_with_a_burst_then_fires_single_spikes() {
    for m in METHODS {
        let t = spike_times(IzhikevichPreset::IntrinsicallyBursting, m, step_10());
        let isi = isis(&t);
        let b = bursts(&t, 10.0);
        // An initial burst of at least three spikes ...
        assert!(b[0] >= 3, "{m:?}: bursts {b:?}, ISIs {isi:?}");
        // ... then tonic single spikes at a regular, slower rate.
        assert!(
            b.len() >= 5 && b[1..].iter().all(|&n| n == 1),
            "{m:?}: {b:?}"
        );
        let tail = &isi[isi.len() - 4..];
        let (lo, hi) = tail
            .iter()
            .fold((f64::MAX, 0.0f64), |a, &x| (a.0.min(x), a.1.max(x)));
        assert!(lo > 20.0 && hi - lo < 0.1 * lo, "{m:?}: {isi:?}");
    }
}

#[test]
fn chattering_fires_repeated_bursts() {
    for m in METHODS {
        let t = spike_times(IzhikevichPreset::Chattering, m, step_10());
        let b = bursts(&t, 10.0);
        // Every group (the last may be cut by the end of the run) is a burst of >= 3
        // closely spaced spikes, and bursts repeat.
        assert!(b.len() >= 4, "{m:?}: bursts {b:?}");
        assert!(
            b[..b.len() - 1].iter().all(|&n| n >= 3),
            "{m:?}: bursts {b:?}"
        );
        // Inter-burst intervals are long compared with the intra-burst ISIs.
        let long: Vec<f64> = isis(&t).into_iter().filter(|&x| x >= 10.0).collect();
        assert!(long.iter().all(|&x| x > 30.0), "{m:?}: {long:?}");
    }
}

#[test]
fn fast_spiking_fires_at_high_frequency_without_bursts() {
    for m in METHODS {
        let t = spike_times(IzhikevichPreset::FastSpiking, m, step_10());
        let isi = isis(&t);
        let tail = &isi[isi.len() / 2..];
        let mean = tail.iter().sum::<f64>() / tail.len() as f64;
        // Steady firing above 100 Hz, regular (no burst structure).
        assert!(mean < 10.0, "{m:?}: mean steady ISI {mean}");
        let (lo, hi) = tail
            .iter()
            .fold((f64::MAX, 0.0f64), |a, &x| (a.0.min(x), a.1.max(x)));
        assert!(hi < 1.3 * lo, "{m:?}: {tail:?}");
        // Unlike RS, FS keeps a high rate (> 100 Hz) after adaptation.
        assert!(1000.0 / mean > 100.0);
    }
}

#[test]
fn low_threshold_spiking_fires_fast_and_adapts() {
    for m in METHODS {
        let t = spike_times(IzhikevichPreset::LowThresholdSpiking, m, step_10());
        let isi = isis(&t);
        let last = *isi.last().unwrap();
        // High-frequency onset, pronounced adaptation, still fast (> 50 Hz) at the end.
        assert!(isi[0] < 5.0, "{m:?}: {isi:?}");
        assert!(last > 2.5 * isi[0] && last < 20.0, "{m:?}: {isi:?}");
        for w in isi[..5].windows(2) {
            assert!(w[1] > w[0], "{m:?}: {isi:?}");
        }
    }
}

#[test]
fn thalamo_cortical_fires_a_rebound_burst_after_hyperpolarisation() {
    for m in METHODS {
        // Hyperpolarising step I = −10 from 50 to 150 ms, then release.
        let t = spike_times(
            IzhikevichPreset::ThalamoCortical,
            m,
            Waveform::Step {
                times_ms: vec![50.0, 150.0],
                amplitudes: vec![-10.0, 0.0],
            },
        );
        assert!(t.iter().all(|&x| x > 150.0), "{m:?}: {t:?}");
        assert!(
            t.len() >= 2 && t[0] < 170.0 && t[1] - t[0] < 10.0,
            "{m:?}: {t:?}"
        );
        // Without the hyperpolarisation the cell stays at rest.
        let quiet = spike_times(
            IzhikevichPreset::ThalamoCortical,
            m,
            Waveform::Dc {
                amplitude: 0.0,
                start_ms: 0.0,
                stop_ms: None,
            },
        );
        assert!(quiet.is_empty(), "{m:?}: {quiet:?}");
    }
}

#[test]
fn resonator_rings_at_the_frequency_of_its_linearisation() {
    // RZ: a = 0.1, b = 0.26. Rest solves 0.04 v² + (5 − b) v + 140 = 0, v* = −62.5 mV;
    // the Jacobian [[0.08 v* + 5, −1], [a b, −a]] = [[0, −1], [0.026, −0.1]] has
    // eigenvalues −σ ± iω with σ = 0.05/ms and ω = √(0.026 − 0.0025) rad/ms.
    let [a, b, _, _] = IzhikevichPreset::Resonator.parameters();
    let disc: f64 = (5.0 - b) * (5.0 - b) - 4.0 * 0.04 * 140.0;
    let v_rest = (-(5.0 - b) - disc.sqrt()) / 0.08;
    let j11 = 0.08 * v_rest + 5.0;
    let (tr, det) = (j11 - a, -j11 * a + a * b);
    let sigma = -tr / 2.0;
    let omega = (det - tr * tr / 4.0).sqrt();
    let period = 2.0 * std::f64::consts::PI / omega;

    let dt = 0.1;
    let net = NetworkSpec::new(dt, 300.0)
        .population(
            PopulationSpec::new(
                "n",
                1,
                NeuronSpec::Izhikevich(Izhikevich::preset(IzhikevichPreset::Resonator)),
            )
            .with_initial("v", v_rest),
        )
        .current(CurrentSpec {
            target: "n".into(),
            neurons: NeuronSelection::All,
            waveform: Waveform::Dc {
                amplitude: 1.0,
                start_ms: 10.0,
                stop_ms: Some(11.0),
            },
        })
        .monitor(MonitorSpec::State {
            population: "n".into(),
            neurons: NeuronSelection::All,
            variables: vec!["v".into()],
            every_ms: None,
        });
    let mut sim = Simulator::build_with_threads(&net, 1).unwrap();
    sim.run_ms(300.0);
    let v = sim.recordings().states[0].trace(0, 0);
    // Local maxima after the pulse (deviation from rest).
    let peaks: Vec<(f64, f64)> = (120..v.len() - 1)
        .filter(|&k| v[k] > v[k - 1] && v[k] >= v[k + 1])
        .map(|k| (k as f64 * dt, v[k] as f64 - v_rest))
        .collect();
    assert!(peaks.len() >= 3, "{peaks:?}");
    for w in peaks.windows(2).take(2) {
        let measured = w[1].0 - w[0].0;
        assert!(
            (measured - period).abs() < 0.02 * period,
            "period {measured} vs linearisation {period}"
        );
        let ratio = w[1].1 / w[0].1;
        let want = (-sigma * period).exp();
        assert!(
            (ratio - want).abs() < 0.15 * want,
            "damping {ratio} vs {want}"
        );
    }
}
