//! Receptor kinetics through the engine: alpha and difference-of-exponential currents
//! into an exactly integrated LIF give the analytic PSP; the NMDA preset's Mg²⁺ block
//! scales EPSPs with voltage as the Jahr–Stevens formula says; presets, overrides and
//! initial conductances work from model files.

use spikelab_core::prelude::*;
use std::path::Path;

const DT: f64 = 0.1;
const TAU_M: f64 = 10.0;

/// v(t) − v_rest of a LIF (τ_m) for one spike through `receptor` arriving at t = 0:
/// the membrane potential at the start of every step from the arrival on.
fn psp(receptor: ReceptorSpec, weight: f64, ms: f64) -> Vec<f64> {
    let lif = Lif {
        tau_m_ms: TAU_M,
        v_thresh_mv: 1e6,
        ..Lif::default()
    };
    let net = NetworkSpec::new(DT, ms + 2.0)
        .population(PopulationSpec::new(
            "pre",
            1,
            NeuronSpec::SpikeGenerator(SpikeGenerator {
                neurons: vec![0],
                times_ms: vec![0.0],
            }),
        ))
        .population(
            PopulationSpec::new("post", 1, NeuronSpec::Lif(lif.clone())).with_receptor(receptor),
        )
        .projection(ProjectionSpec::new(
            "pre",
            "post",
            "r",
            Connectivity::OneToOne,
            weight,
        ))
        .monitor(MonitorSpec::State {
            population: "post".into(),
            neurons: NeuronSelection::All,
            variables: vec!["v".into()],
            every_ms: None,
        });
    let mut sim = Simulator::build_with_threads(&net, 1).unwrap();
    sim.run_ms(ms + 2.0);
    // Spike at step 0, delay one step: the input starts at step 1.
    sim.recordings().states[0].trace(0, 0)[1..]
        .iter()
        .map(|&v| v as f64 - lif.v_rest_mv)
        .collect()
}

/// Response of τ_m dv/dt = −v + e^{−t/τ_s} from v(0) = 0.
fn exp_response(t: f64, tau_s: f64) -> f64 {
    tau_s / (TAU_M - tau_s) * ((-t / TAU_M).exp() - (-t / tau_s).exp())
}

#[test]
fn alpha_current_into_an_exact_lif_gives_the_analytic_psp() {
    // I(t) = w (t/τ) e^{1−t/τ}: v(t) = (w e/(τ τ_m)) e^{−t/τ_m} ∫₀^t s e^{−k s} ds with
    // k = 1/τ − 1/τ_m, i.e. (w e/(τ τ_m)) e^{−t/τ_m} (1 − e^{−kt}(1 + kt))/k².
    let (tau, w) = (2.0, 5.0);
    let v = psp(ReceptorSpec::current_exp("r", tau).alpha(), w, 60.0);
    let k = 1.0 / tau - 1.0 / TAU_M;
    let mut peak: f64 = 0.0;
    for (n, &got) in v.iter().enumerate() {
        let t = n as f64 * DT;
        let want = w * std::f64::consts::E / (tau * TAU_M)
            * (-t / TAU_M).exp()
            * (1.0 - (-k * t).exp() * (1.0 + k * t))
            / (k * k);
        assert!((got - want).abs() < 1e-4, "t {t}: {got} vs {want}");
        peak = peak.max(want);
    }
    assert!(peak > 1.0, "a visible PSP ({peak} mV)");
}

#[test]
fn difference_of_exponentials_current_into_an_exact_lif_gives_the_analytic_psp() {
    // I(t) = w N (e^{−t/τ_d} − e^{−t/τ_r}), N normalising the peak to w.
    let (tau_r, tau_d, w) = (1.0, 5.0, 4.0);
    let v = psp(
        ReceptorSpec::current_exp("r", tau_d).with_rise_ms(tau_r),
        w,
        60.0,
    );
    let t_peak = tau_d * tau_r / (tau_d - tau_r) * (tau_d / tau_r).ln();
    let norm = 1.0 / ((-t_peak / tau_d).exp() - (-t_peak / tau_r).exp());
    for (n, &got) in v.iter().enumerate() {
        let t = n as f64 * DT;
        let want = w * norm * (exp_response(t, tau_d) - exp_response(t, tau_r));
        assert!((got - want).abs() < 1e-4, "t {t}: {got} vs {want}");
    }
}

#[test]
fn exponential_current_into_an_exact_lif_gives_the_analytic_psp() {
    let (tau, w) = (5.0, 3.0);
    let v = psp(ReceptorSpec::current_exp("r", tau), w, 60.0);
    for (n, &got) in v.iter().enumerate() {
        let want = w * exp_response(n as f64 * DT, tau);
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }
}

/// Peak EPSP (mV) of a LIF held near `v_hold_mv` (its rest) for one spike through `r`.
fn epsp_peak(r: ReceptorSpec, v_hold_mv: f64) -> f64 {
    let lif = Lif {
        tau_m_ms: TAU_M,
        v_rest_mv: v_hold_mv,
        v_reset_mv: v_hold_mv - 10.0,
        v_thresh_mv: 1e6,
        ..Lif::default()
    };
    let net = NetworkSpec::new(DT, 100.0)
        .population(PopulationSpec::new(
            "pre",
            1,
            NeuronSpec::SpikeGenerator(SpikeGenerator {
                neurons: vec![0],
                times_ms: vec![1.0],
            }),
        ))
        .population(PopulationSpec::new("post", 1, NeuronSpec::Lif(lif)).with_receptor(r))
        .projection(ProjectionSpec::new(
            "pre",
            "post",
            "n",
            Connectivity::OneToOne,
            // Relative to the leak: small enough for a linear response (EPSPs of
            // 0.05–0.2 mV), large enough for f32 resolution of v.
            0.02,
        ))
        .monitor(MonitorSpec::State {
            population: "post".into(),
            neurons: NeuronSelection::All,
            variables: vec!["v".into()],
            every_ms: None,
        });
    let mut sim = Simulator::build_with_threads(&net, 1).unwrap();
    sim.run_ms(100.0);
    let v = sim.recordings().states[0].trace(0, 0);
    v.iter().map(|&x| x as f64 - v_hold_mv).fold(0.0, f64::max)
}

#[test]
fn nmda_epsps_follow_the_mg_block_of_jahr_and_stevens() {
    // For small conductances the EPSP is ∝ g·B(v)·(E − v); the ratio of two holding
    // potentials is then fixed by the block formula B(v) = 1/(1 + [Mg]/3.57 e^{−0.062 v}).
    let b = |v: f64| 1.0 / (1.0 + 1.0 / 3.57 * (-0.062 * v).exp());
    let nmda = ReceptorSpec::preset("n", ReceptorPreset::Nmda);
    let (lo, hi) = (-80.0, -30.0);
    let ratio = epsp_peak(nmda.clone(), hi) / epsp_peak(nmda.clone(), lo);
    let want = (b(hi) * (0.0 - hi)) / (b(lo) * (0.0 - lo));
    assert!((ratio - want).abs() < 0.01 * want, "{ratio} vs {want}");
    // Without Mg²⁺ only the driving force differs.
    let free = nmda.with_mg_block(0.0);
    let ratio = epsp_peak(free.clone(), hi) / epsp_peak(free, lo);
    assert!((ratio - 30.0 / 80.0).abs() < 0.02 * 30.0 / 80.0, "{ratio}");
}

const FILE: &str = r#"
[simulation]
dt_ms = 0.1
duration_ms = 50.0
seed = 3

[[population]]
name = "cells"
size = 20
[population.neuron]
model = "adex"
[[population.receptor]]
name = "ampa"
preset = "ampa"
[[population.receptor]]
name = "nmda"
preset = "nmda"
mg_mm = 1.2
[[population.receptor]]
name = "gaba"
preset = "gaba_a"
kinetics = "alpha"
[population.initial]
g_ampa = { uniform = { low = 1.0, high = 2.0 } }
g_gaba = 3.0
"#;

#[test]
fn presets_overrides_and_initial_conductances_from_a_model_file() {
    let net = NetworkSpec::from_toml_str(FILE, Path::new("t.toml")).unwrap();
    net.validate().unwrap();
    let r = &net.populations[0].receptors;
    assert_eq!(r[0].tau_ms, Some(2.0));
    assert_eq!(r[1].mg_mm, Some(1.2));
    assert_eq!(r[1].tau_rise_ms, Some(2.0));
    assert_eq!(r[2].kinetics, Kinetics::Alpha);
    assert_eq!(r[2].e_rev_mv, Some(-70.0));
    let mut mon = net.clone();
    mon.monitors.push(MonitorSpec::State {
        population: "cells".into(),
        neurons: NeuronSelection::All,
        variables: vec!["g_ampa".into(), "g_gaba".into()],
        every_ms: None,
    });
    let mut sim = Simulator::build_with_threads(&mon, 3).unwrap();
    sim.run_steps(1);
    let rec = &sim.recordings().states[0];
    for k in 0..20 {
        let (ga, gg) = (rec.trace(0, k)[0], rec.trace(1, k)[0]);
        assert!((1.0..2.0).contains(&ga), "{ga}");
        assert_eq!(gg, 3.0);
    }
    let bad = FILE.replace("g_gaba = 3.0", "g_glycine = 3.0");
    let e = NetworkSpec::from_toml_str(&bad, Path::new("t.toml"))
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
    assert!(e.contains("g_glycine") && e.contains("g_ampa"), "{e}");
}

#[test]
fn initial_conductances_do_not_depend_on_the_thread_count_and_reset_restores_them() {
    let mut net = NetworkSpec::from_toml_str(FILE, Path::new("t.toml")).unwrap();
    net.monitors.push(MonitorSpec::State {
        population: "cells".into(),
        neurons: NeuronSelection::All,
        variables: vec!["g_ampa".into()],
        every_ms: None,
    });
    let first = |threads| {
        let mut sim = Simulator::build_with_threads(&net, threads).unwrap();
        sim.run_steps(3);
        sim.reset();
        sim.run_steps(1);
        sim.recordings().states[0].values.clone()
    };
    let one = first(1);
    assert_eq!(one, first(3));
    // Step 0 after the reset records the initial values again.
    let n = 20;
    assert_eq!(one[..n], one[3 * n..4 * n]);
}
