//! Integration methods against fine-step references. Each model's equations are
//! written out again here in f64 and integrated with classical RK4 at dt = 0.001 ms;
//! the engine's RK4 at the usual step must reproduce the reference spike times (and
//! beat forward Euler at the same step), and converge at fourth order.

use spikelab_core::prelude::*;

const REF_DT: f64 = 0.001;

/// Spike times and v trace (start of every step) of one neuron of `model` under a
/// constant current from t = 0.
fn engine_run(model: NeuronSpec, dt: f64, i: f64, ms: f64) -> (Vec<f64>, Vec<f32>) {
    let net = NetworkSpec::new(dt, ms)
        .population(PopulationSpec::new("n", 1, model))
        .current(CurrentSpec {
            target: "n".into(),
            neurons: NeuronSelection::All,
            waveform: Waveform::Dc {
                amplitude: i,
                start_ms: 0.0,
                stop_ms: None,
            },
        })
        .monitor(MonitorSpec::Spikes {
            population: "n".into(),
            neurons: NeuronSelection::All,
        })
        .monitor(MonitorSpec::State {
            population: "n".into(),
            neurons: NeuronSelection::All,
            variables: vec!["v".into()],
            every_ms: None,
        });
    let mut sim = Simulator::build_with_threads(&net, 1).unwrap();
    sim.run_ms(ms);
    // A spike in step k is detected at the end of the step, time (k + 1)·dt.
    let t = sim.recordings().spikes[0]
        .steps
        .iter()
        .map(|&k| (k + 1) as f64 * dt)
        .collect();
    (t, sim.recordings().states[0].trace(0, 0))
}

/// Classical RK4 of `f` from `x` with steps of [`REF_DT`] over `steps` grid steps of
/// `grid_dt`; `event(t, &mut x)` runs at every grid point (threshold and reset), so
/// spike times live on the same grid as the engine's and only the integration of the
/// ODE between grid points differs.
fn reference<const N: usize>(
    mut x: [f64; N],
    grid_dt: f64,
    steps: usize,
    f: impl Fn(&[f64; N]) -> [f64; N],
    mut event: impl FnMut(f64, &mut [f64; N]),
) -> [f64; N] {
    let sub = (grid_dt / REF_DT).round() as usize;
    let h = grid_dt / sub as f64;
    let add = |a: &[f64; N], k: &[f64; N], s: f64| std::array::from_fn(|j| a[j] + s * k[j]);
    for n in 0..steps {
        for _ in 0..sub {
            let k1 = f(&x);
            let k2 = f(&add(&x, &k1, h / 2.0));
            let k3 = f(&add(&x, &k2, h / 2.0));
            let k4 = f(&add(&x, &k3, h));
            x = std::array::from_fn(|j| x[j] + h / 6.0 * (k1[j] + 2.0 * (k2[j] + k3[j]) + k4[j]));
        }
        event((n + 1) as f64 * grid_dt, &mut x);
    }
    x
}

/// AdEx (Brette & Gerstner 2005) written out; RHS limited at v_peak like the model.
fn adex_reference(p: &Adex, i: f64, grid_dt: f64, ms: f64) -> Vec<f64> {
    // Default cut-off: V_T + 5 Δ_T.
    let peak = p.v_peak_mv.unwrap_or(p.v_t_mv + 5.0 * p.delta_t_mv);
    let f = |x: &[f64; 2]| {
        let v = x[0].min(peak);
        [
            (-p.g_leak_ns * (v - p.e_leak_mv)
                + p.g_leak_ns * p.delta_t_mv * ((v - p.v_t_mv) / p.delta_t_mv).exp()
                - x[1]
                + i)
                / p.c_m_pf,
            (p.a_ns * (v - p.e_leak_mv) - x[1]) / p.tau_w_ms,
        ]
    };
    let mut spikes = vec![];
    let steps = (ms / grid_dt).round() as usize;
    reference([p.e_leak_mv, 0.0], grid_dt, steps, f, |t, x| {
        if x[0] >= peak {
            spikes.push(t);
            x[0] = p.v_reset_mv;
            x[1] += p.b_pa;
        }
    });
    spikes
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn adex_rk4_spike_times_match_the_fine_reference() {
    let p = Adex::default();
    let (i, ms) = (1000.0, 300.0);
    let want = adex_reference(&p, i, 0.1, ms);
    assert!(want.len() >= 10);
    let rk = engine_run(NeuronSpec::Adex(p.clone()), 0.1, i, ms).0;
    // Same grid steps as the reference, spike for spike.
    assert!(max_abs_diff(&rk, &want) < 1e-9, "{rk:?} vs {want:?}");
    let eu = engine_run(
        NeuronSpec::Adex(Adex {
            integration: Integration::Euler,
            ..p.clone()
        }),
        0.1,
        i,
        ms,
    )
    .0;
    assert!(
        eu.len() != want.len() || max_abs_diff(&eu, &want) >= 0.5,
        "forward Euler at the same step drifts: {eu:?}"
    );
}

/// Largest |v_engine − v_reference| over a run without spikes, both sampled on the
/// engine's grid.
fn adex_subthreshold_error(p: &Adex, dt: f64, i: f64, ms: f64) -> f64 {
    let (spikes, v) = engine_run(NeuronSpec::Adex(p.clone()), dt, i, ms);
    assert!(spikes.is_empty());
    let peak = p.v_peak_mv.unwrap_or(p.v_t_mv + 5.0 * p.delta_t_mv);
    let f = |x: &[f64; 2]| {
        let v = x[0].min(peak);
        [
            (-p.g_leak_ns * (v - p.e_leak_mv)
                + p.g_leak_ns * p.delta_t_mv * ((v - p.v_t_mv) / p.delta_t_mv).exp()
                - x[1]
                + i)
                / p.c_m_pf,
            (p.a_ns * (v - p.e_leak_mv) - x[1]) / p.tau_w_ms,
        ]
    };
    let mut x = [p.e_leak_mv, 0.0];
    let mut worst: f64 = 0.0;
    for &ve in &v[1..] {
        x = reference(x, dt, 1, f, |_, _| {});
        worst = worst.max((ve as f64 - x[0]).abs());
    }
    worst
}

#[test]
fn adex_methods_converge_at_their_order() {
    // Subthreshold response to a 500 pA step; error against the reference on the grid.
    let err = |m, dts: [f64; 3]| -> Vec<f64> {
        let p = Adex {
            integration: m,
            ..Adex::default()
        };
        dts.iter()
            .map(|&dt| adex_subthreshold_error(&p, dt, 500.0, 100.0))
            .collect()
    };
    // RK4: fourth order (16x per halving) until f32 rounding (~1e-5 mV) takes over.
    let e = err(Integration::Rk4, [4.0, 2.0, 1.0]);
    assert!(e[0] / e[1] > 12.0 && e[0] / e[1] < 22.0, "rk4 {e:?}");
    assert!(e[2] < 5e-5, "rk4 {e:?}");
    // Euler and exponential Euler: first order (2x per halving).
    for m in [Integration::Euler, Integration::ExponentialEuler] {
        let e = err(m, [1.0, 0.5, 0.25]);
        for w in e.windows(2) {
            assert!((w[0] / w[1] - 2.0).abs() < 0.2, "{m:?} {e:?}");
        }
    }
}

/// Traub–Miles rates (1/ms) at v, written out from Brette et al. (2007) / Brian2.
fn traub_rates(v: f64, vt: f64) -> [f64; 6] {
    let u = v - vt;
    [
        0.32 * (13.0 - u) / (((13.0 - u) / 4.0).exp() - 1.0),
        0.28 * (u - 40.0) / (((u - 40.0) / 5.0).exp() - 1.0),
        0.128 * ((17.0 - u) / 18.0).exp(),
        4.0 / (1.0 + ((40.0 - u) / 5.0).exp()),
        0.032 * (15.0 - u) / (((15.0 - u) / 5.0).exp() - 1.0),
        0.5 * ((10.0 - u) / 40.0).exp(),
    ]
}

/// The COBAHH cell without synapses, from rest-potential gates at v = E_L, on the grid.
fn hh_reference(p: &HodgkinHuxley, i: f64, grid_dt: f64, ms: f64) -> Vec<f64> {
    let r0 = traub_rates(p.e_leak_mv, p.v_t_mv);
    let x0 = [
        p.e_leak_mv,
        r0[0] / (r0[0] + r0[1]),
        r0[2] / (r0[2] + r0[3]),
        r0[4] / (r0[4] + r0[5]),
    ];
    let f = |x: &[f64; 4]| {
        let [v, m, h, n] = *x;
        let r = traub_rates(v, p.v_t_mv);
        [
            (p.g_leak_ns * (p.e_leak_mv - v)
                - p.g_na_ns * m * m * m * h * (v - p.e_na_mv)
                - p.g_k_ns * n.powi(4) * (v - p.e_k_mv)
                + i)
                / p.c_m_pf,
            r[0] * (1.0 - m) - r[1] * m,
            r[2] * (1.0 - h) - r[3] * h,
            r[4] * (1.0 - n) - r[5] * n,
        ]
    };
    let mut spikes: Vec<f64> = vec![];
    let mut v_prev = x0[0];
    let steps = (ms / grid_dt).round() as usize;
    reference(x0, grid_dt, steps, f, |t, x| {
        let ready = spikes.last().is_none_or(|&s| t - s >= p.t_ref_ms - 1e-9);
        if ready && v_prev <= p.v_spike_mv && x[0] > p.v_spike_mv {
            spikes.push(t);
        }
        v_prev = x[0];
    });
    spikes
}

#[test]
fn hodgkin_huxley_rk4_spike_times_match_the_fine_reference() {
    // The COBAHH cell fires on its own (its I–V curve has no rest): period ≈ 72 ms at
    // I = 0, faster with 200 pA.
    let p = HodgkinHuxley::default();
    for i in [0.0, 200.0] {
        let dt = 0.02;
        let want = hh_reference(&p, i, dt, 200.0);
        assert!(want.len() >= 3, "{want:?}");
        let rk4 = engine_run(
            NeuronSpec::Hh(HodgkinHuxley {
                integration: Integration::Rk4,
                ..p.clone()
            }),
            dt,
            i,
            200.0,
        )
        .0;
        assert!(
            max_abs_diff(&rk4, &want) <= dt + 1e-9,
            "I {i}: {rk4:?} vs {want:?}"
        );
        // Forward Euler at the same step is visibly off.
        let eu = engine_run(
            NeuronSpec::Hh(HodgkinHuxley {
                integration: Integration::Euler,
                ..p.clone()
            }),
            dt,
            i,
            200.0,
        )
        .0;
        assert!(
            eu.len() != want.len() || max_abs_diff(&eu, &want) > 5.0 * dt,
            "I {i}: {eu:?} vs {want:?}"
        );
    }
}

#[test]
fn izhikevich_rk4_spike_times_match_the_fine_reference() {
    for preset in [
        IzhikevichPreset::RegularSpiking,
        IzhikevichPreset::Chattering,
        IzhikevichPreset::FastSpiking,
    ] {
        let [a, b, c, d] = preset.parameters();
        let (i, dt, ms): (f64, f64, f64) = (10.0, 0.1, 300.0);
        let f = |x: &[f64; 2]| {
            let v = x[0].min(30.0);
            [
                0.04 * v * v + 5.0 * v + 140.0 - x[1] + i,
                a * (b * v - x[1]),
            ]
        };
        let mut want = vec![];
        let steps = (ms / dt).round() as usize;
        reference([-65.0, b * -65.0], dt, steps, f, |t, x| {
            if x[0] >= 30.0 {
                want.push(t);
                x[0] = c;
                x[1] += d;
            }
        });
        let got = engine_run(
            NeuronSpec::Izhikevich(Izhikevich::preset(preset)),
            dt,
            i,
            ms,
        )
        .0;
        assert!(want.len() >= 5);
        // Each crossing lands on the same grid step as the reference's or a
        // neighbour (both ends of an interval: two steps at most); over tens of fast
        // spikes these one-step roundings may add up, so intervals are compared.
        let isi = |t: &[f64]| -> Vec<f64> { t.windows(2).map(|w| w[1] - w[0]).collect() };
        assert!(
            max_abs_diff(&isi(&got), &isi(&want)) <= 2.0 * dt + 1e-9,
            "{preset:?}: {got:?} vs {want:?}"
        );
        assert!((got[0] - want[0]).abs() <= dt + 1e-9);
    }
}
