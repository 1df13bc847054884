//! The LIF model against analytic results: membrane under constant current, the f–I
//! curve with refractoriness, exact integration of an exponential synaptic current,
//! and the convergence of forward Euler to it as dt shrinks.

use spikelab_core::prelude::*;

fn single_lif(lif: Lif, dt_ms: f64, duration_ms: f64) -> NetworkSpec {
    NetworkSpec::new(dt_ms, duration_ms).population(PopulationSpec::new(
        "n",
        1,
        NeuronSpec::Lif(lif),
    ))
}

/// The membrane potential of one `lif` under a DC injection of `amplitude` from t = 0,
/// sampled every step for `duration_ms`: (time ms, v).
fn v_under_dc(lif: Lif, amplitude: f64, duration_ms: f64) -> Vec<(f64, f32)> {
    let spec = single_lif(lif, 0.1, duration_ms)
        .current(CurrentSpec {
            target: "n".into(),
            neurons: NeuronSelection::All,
            waveform: Waveform::Dc {
                amplitude,
                start_ms: 0.0,
                stop_ms: None,
            },
        })
        .monitor(MonitorSpec::State {
            population: "n".into(),
            variables: vec!["v".into()],
            neurons: NeuronSelection::All,
            every_ms: None,
        });
    let mut sim = Simulator::build(&spec).unwrap();
    sim.run_ms(duration_ms);
    let rec = &sim.recordings().states[0];
    let v = rec.trace(0, 0);
    rec.steps
        .iter()
        .zip(v)
        .map(|(&step, x)| (step as f64 * 0.1, x))
        .collect()
}

#[test]
fn membrane_under_constant_current_follows_the_closed_form() {
    // v(t) = v_inf + (v0 - v_inf) e^{-t/tau}, below threshold.
    let lif = Lif {
        tau_m_ms: 10.0,
        v_rest_mv: -70.0,
        v_thresh_mv: 100.0,
        v_reset_mv: -70.0,
        ..Lif::default()
    };
    let i_mv = 12.0;
    for (t, v) in v_under_dc(lif, i_mv, 50.0) {
        let want = -58.0 + (-70.0 + 58.0) * (-t / 10.0).exp();
        assert!((v as f64 - want).abs() < 1e-4, "t = {t}: {v} vs {want}");
    }
}

fn mean_isi_rate_hz(times: &[f64]) -> f64 {
    let isi: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    1000.0 * isi.len() as f64 / isi.iter().sum::<f64>()
}

#[test]
fn f_i_curve_matches_the_closed_form_within_one_percent() {
    let lif = Lif {
        tau_m_ms: 20.0,
        v_rest_mv: -65.0,
        v_reset_mv: -65.0,
        v_thresh_mv: -50.0,
        t_ref_ms: 2.0,
        ..Lif::default()
    };
    let currents: Vec<f64> = (0..12).map(|k| 16.0 + 6.0 * k as f64).collect();
    let mut spec = NetworkSpec::new(0.01, 1000.0)
        .population(PopulationSpec::new(
            "n",
            currents.len(),
            NeuronSpec::Lif(lif.clone()),
        ))
        .monitor(MonitorSpec::Spikes {
            population: "n".into(),
            neurons: NeuronSelection::All,
        });
    for (k, &i) in currents.iter().enumerate() {
        spec = spec.current(CurrentSpec {
            target: "n".into(),
            neurons: NeuronSelection::List(vec![k as u32]),
            waveform: Waveform::Dc {
                amplitude: i,
                start_ms: 0.0,
                stop_ms: None,
            },
        });
    }
    let mut sim = Simulator::build(&spec).unwrap();
    sim.run_ms(1000.0);
    let rec = &sim.recordings().spikes[0];
    let mut checked = 0;
    for (k, &i) in currents.iter().enumerate() {
        let times: Vec<f64> = rec
            .steps
            .iter()
            .zip(&rec.neurons)
            .filter(|(_, &n)| n as usize == k)
            .map(|(&s, _)| s as f64 * 0.01)
            .collect();
        let want = lif.rate_hz_closed_form(i);
        let got = mean_isi_rate_hz(&times);
        assert!(
            (got - want).abs() / want < 0.01,
            "I = {i} mV: {got:.2} Hz vs closed form {want:.2} Hz"
        );
        checked += 1;
    }
    assert_eq!(checked, currents.len());
    // Below rheobase (15 mV) the neuron is silent.
    assert_eq!(lif.rate_hz_closed_form(14.0), 0.0);
}

/// v(t) after a jump `w` of an exponential current at t = 0 (rest 0):
/// w τs/(τs − τm) (e^{−t/τs} − e^{−t/τm}).
fn psp(w: f64, tau_s: f64, tau_m: f64, t: f64) -> f64 {
    w * tau_s / (tau_s - tau_m) * ((-t / tau_s).exp() - (-t / tau_m).exp())
}

fn psp_trace(integration: Integration, dt: f64) -> (Vec<f64>, Vec<f32>) {
    let lif = Lif {
        tau_m_ms: 10.0,
        v_rest_mv: 0.0,
        v_reset_mv: -10.0,
        v_thresh_mv: 100.0,
        t_ref_ms: 0.0,
        integration,
        ..Lif::default()
    };
    let spec = NetworkSpec::new(dt, 30.0)
        .population(PopulationSpec::new(
            "src",
            1,
            NeuronSpec::SpikeGenerator(SpikeGenerator {
                neurons: vec![0],
                times_ms: vec![0.0],
            }),
        ))
        .population(
            PopulationSpec::new("n", 1, NeuronSpec::Lif(lif))
                .with_receptor(ReceptorSpec::current_exp("e", 3.0)),
        )
        .projection(
            ProjectionSpec::new("src", "n", "e", Connectivity::OneToOne, 5.0).with_delay_ms(dt),
        )
        .monitor(MonitorSpec::State {
            population: "n".into(),
            variables: vec!["v".into()],
            neurons: NeuronSelection::All,
            every_ms: None,
        });
    let mut sim = Simulator::build(&spec).unwrap();
    sim.run_ms(30.0);
    let rec = &sim.recordings().states[0];
    // The spike of step 0 arrives at step 1; its effect is visible in the value
    // recorded at step 2 (state after step 1), i.e. t = (step - 1) dt after arrival.
    let t: Vec<f64> = rec.steps.iter().map(|&s| (s as f64 - 1.0) * dt).collect();
    (t, rec.trace(0, 0))
}

#[test]
fn exponential_current_is_integrated_exactly() {
    let (t, v) = psp_trace(Integration::Exact, 0.1);
    let mut max_err = 0.0f64;
    for (k, &tk) in t.iter().enumerate().filter(|(_, &tk)| tk > 0.0) {
        max_err = max_err.max((v[k] as f64 - psp(5.0, 3.0, 10.0, tk)).abs());
    }
    assert!(max_err < 1e-5, "exact integration error {max_err} mV");
}

#[test]
fn euler_converges_to_the_exact_solution_at_first_order() {
    let err = |dt: f64| {
        let (t, v) = psp_trace(Integration::Euler, dt);
        t.iter()
            .zip(&v)
            .filter(|(&tk, _)| tk > 0.0)
            .map(|(&tk, &vk)| (vk as f64 - psp(5.0, 3.0, 10.0, tk)).abs())
            .fold(0.0, f64::max)
    };
    let (e1, e2, e3) = (err(0.2), err(0.1), err(0.05));
    assert!(e1 > e2 && e2 > e3, "{e1} {e2} {e3}");
    // First order: halving dt roughly halves the error.
    for r in [e1 / e2, e2 / e3] {
        assert!(
            (1.6..2.5).contains(&r),
            "error ratio {r} (errors {e1} {e2} {e3})"
        );
    }
}

#[test]
fn reset_by_subtraction_keeps_the_overshoot() {
    // A perfect jump of 2.5 (threshold 1, reset 0): after the spike v = 1.5.
    let lif = Lif {
        tau_m_ms: 1e9,
        v_rest_mv: 0.0,
        v_reset_mv: 0.0,
        v_thresh_mv: 1.0,
        t_ref_ms: 0.0,
        reset: ResetMode::Subtract,
        ..Lif::default()
    };
    let spec = NetworkSpec::new(1.0, 5.0)
        .population(PopulationSpec::new(
            "src",
            1,
            NeuronSpec::SpikeGenerator(SpikeGenerator {
                neurons: vec![0],
                times_ms: vec![0.0],
            }),
        ))
        .population(
            PopulationSpec::new("n", 1, NeuronSpec::Lif(lif))
                .with_receptor(ReceptorSpec::delta("d")),
        )
        .projection(ProjectionSpec::new(
            "src",
            "n",
            "d",
            Connectivity::OneToOne,
            2.5,
        ))
        .monitor(MonitorSpec::Spikes {
            population: "n".into(),
            neurons: NeuronSelection::All,
        });
    let mut sim = Simulator::build(&spec).unwrap();
    sim.run_steps(2);
    assert_eq!(sim.recordings().spikes[0].steps, vec![1]);
    let v = sim.state(1, "v").unwrap()[0];
    assert!((v - 1.5).abs() < 1e-6, "{v}");
}

#[test]
fn with_a_capacitance_currents_are_in_pa_as_nest_iaf_psc_exp() {
    // C_m 250 pF, tau_m 10 ms: R = 0.04 GΩ, so I_e = 375 pA is a drive of 15 mV and
    // v(t) = -50 + (-65 + 50) e^{-t/10}; an injected current of 125 pA adds 5 mV.
    let lif = Lif {
        tau_m_ms: 10.0,
        v_rest_mv: -65.0,
        v_reset_mv: -65.0,
        v_thresh_mv: 100.0,
        c_m_pf: Some(250.0),
        i_e_pa: 375.0,
        ..Lif::default()
    };
    for (t, v) in v_under_dc(lif, 125.0, 30.0) {
        let want = -45.0 + (-65.0 + 45.0) * (-t / 10.0).exp();
        assert!((v as f64 - want).abs() < 1e-4, "t = {t}: {v} vs {want}");
    }
    // A current in pA without a capacitance is refused by name.
    let bad = Lif {
        i_e_pa: 10.0,
        ..Lif::default()
    };
    let e = Simulator::build(&single_lif(bad, 0.1, 1.0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("i_e_pa") && e.contains("c_m_pf"), "{e}");
}
