//! Tsodyks–Markram short-term plasticity through the engine: the amplitudes of the
//! PSPs of a regular presynaptic train must follow the closed form of the depression
//! recursion and the facilitation recursion (written out here, independently of the
//! library), for any number of threads.

use spikelab_core::prelude::*;

/// A perfect integrator with a delta receptor and an unreachable threshold turns every
/// arriving weight into a jump of v; returns the jumps (mV) in order of arrival.
fn psp_amplitudes(stp: TsodyksMarkram, isi_ms: f64, n_spikes: usize, threads: usize) -> Vec<f64> {
    let dt = 0.1;
    let weight = 2.0;
    let ms = 10.0 + isi_ms * n_spikes as f64;
    let times: Vec<f64> = (0..n_spikes).map(|k| 5.0 + k as f64 * isi_ms).collect();
    let net = NetworkSpec::new(dt, ms)
        .population(PopulationSpec::new(
            "pre",
            3,
            NeuronSpec::SpikeGenerator(SpikeGenerator {
                neurons: vec![1; n_spikes],
                times_ms: times,
            }),
        ))
        .population(
            PopulationSpec::new(
                "post",
                4,
                NeuronSpec::If(Iaf {
                    v_thresh_mv: 1e9,
                    ..Iaf::default()
                }),
            )
            .with_receptor(ReceptorSpec::delta("d")),
        )
        .projection(
            ProjectionSpec::new(
                "pre",
                "post",
                "d",
                Connectivity::AllToAll { allow_self: true },
                weight,
            )
            .with_delay_ms(1.5)
            .with_stp(stp),
        )
        .monitor(MonitorSpec::State {
            population: "post".into(),
            neurons: NeuronSelection::All,
            variables: vec!["v".into()],
            every_ms: None,
        });
    let mut sim = Simulator::build_with_threads(&net, threads).unwrap();
    sim.run_ms(ms);
    let rec = &sim.recordings().states[0];
    let mut per_neuron: Vec<Vec<f64>> = Vec::new();
    for k in 0..4 {
        let v = rec.trace(0, k);
        per_neuron.push(
            v.windows(2)
                .map(|w| (w[1] - w[0]) as f64)
                .filter(|d| d.abs() > 1e-4)
                .map(|d| d / weight)
                .collect(),
        );
    }
    // Every target sees the same amplitudes (the state is per source neuron).
    for k in 1..4 {
        assert_eq!(per_neuron[k], per_neuron[0]);
    }
    per_neuron.swap_remove(0)
}

#[test]
fn depression_amplitudes_match_the_closed_form() {
    // τ_fac = 0: u_n = U and x_n = x∞ + (1 − x∞)((1 − U)e)^{n−1},
    // x∞ = (1 − e)/(1 − (1 − U)e), e = exp(−Δ/τ_rec).
    let (u, tau_rec, isi) = (0.5, 800.0, 50.0);
    let got = psp_amplitudes(TsodyksMarkram::new(u, tau_rec, 0.0), isi, 12, 1);
    assert_eq!(got.len(), 12);
    let e = (-isi / tau_rec).exp();
    let x_inf = (1.0 - e) / (1.0 - (1.0 - u) * e);
    for (n, &a) in got.iter().enumerate() {
        let want = u * (x_inf + (1.0 - x_inf) * ((1.0 - u) * e).powi(n as i32));
        assert!((a - want).abs() < 2e-5, "spike {}: {a} vs {want}", n + 1);
    }
    // The train depresses towards U·x∞.
    assert!(got[11] < 0.35 * got[0]);
}

#[test]
fn facilitation_amplitudes_match_the_recursion() {
    // Facilitating synapse (Markram et al. 1998 F-type): small U, long τ_fac.
    let (u0, tau_rec, tau_fac, isi) = (0.1, 100.0, 500.0, 20.0);
    let got = psp_amplitudes(TsodyksMarkram::new(u0, tau_rec, tau_fac), isi, 10, 1);
    let (mut u, mut x) = (u0, 1.0);
    for (n, &a) in got.iter().enumerate() {
        if n > 0 {
            // x_{n+1} = 1 − (1 − x_n(1 − u_n)) e^{−Δ/τ_rec}; u_{n+1} = U + u_n(1 − U) e^{−Δ/τ_fac}
            x = 1.0 - (1.0 - x * (1.0 - u)) * (-isi / tau_rec).exp();
            u = u0 + u * (1.0 - u0) * (-isi / tau_fac).exp();
        }
        assert!(
            (a - u * x).abs() < 2e-5,
            "spike {}: {a} vs {}",
            n + 1,
            u * x
        );
    }
    assert!(got[3] > 1.5 * got[0], "facilitates: {got:?}");
}

#[test]
fn amplitudes_do_not_depend_on_the_thread_count() {
    let p = TsodyksMarkram::new(0.3, 200.0, 50.0);
    let one = psp_amplitudes(p.clone(), 15.0, 8, 1);
    let three = psp_amplitudes(p, 15.0, 8, 3);
    assert_eq!(one, three);
}

#[test]
fn stp_network_is_bitwise_identical_for_any_thread_count() {
    // Poisson sources into LIF neurons through a depressing projection with random
    // per-synapse delays.
    let net = |threads| {
        NetworkSpec::new(0.1, 100.0)
            .seed(7)
            .threads(threads)
            .population(PopulationSpec::new(
                "in",
                200,
                NeuronSpec::Poisson(PoissonSource::constant(30.0)),
            ))
            .population(
                PopulationSpec::new(
                    "out",
                    50,
                    NeuronSpec::Lif(Lif {
                        i_bias_mv: 10.0,
                        ..Lif::default()
                    }),
                )
                .with_receptor(ReceptorSpec::current_exp("e", 5.0)),
            )
            .projection(
                ProjectionSpec::new(
                    "in",
                    "out",
                    "e",
                    Connectivity::FixedProbability {
                        p: 0.3,
                        allow_self: true,
                    },
                    Value::uniform(2.0, 6.0),
                )
                .with_delay_ms(Value::uniform(0.1, 3.0))
                .with_stp(TsodyksMarkram::new(0.5, 300.0, 0.0)),
            )
            .monitor(MonitorSpec::Spikes {
                population: "out".into(),
                neurons: NeuronSelection::All,
            })
    };
    let run = |threads| {
        let mut sim = Simulator::build(&net(threads)).unwrap();
        sim.run_ms(100.0);
        let s = &sim.recordings().spikes[0];
        (s.steps.clone(), s.neurons.clone())
    };
    let one = run(1);
    assert!(one.0.len() > 50, "{} spikes", one.0.len());
    assert_eq!(one, run(3));
}

#[test]
fn reset_makes_the_synapses_fully_recovered_again() {
    let stp = TsodyksMarkram::new(0.5, 1000.0, 0.0);
    let net = NetworkSpec::new(0.1, 50.0)
        .population(PopulationSpec::new(
            "pre",
            1,
            NeuronSpec::SpikeGenerator(SpikeGenerator {
                neurons: vec![0, 0],
                times_ms: vec![1.0, 11.0],
            }),
        ))
        .population(
            PopulationSpec::new(
                "post",
                1,
                NeuronSpec::If(Iaf {
                    v_thresh_mv: 1e9,
                    ..Iaf::default()
                }),
            )
            .with_receptor(ReceptorSpec::delta("d")),
        )
        .projection(
            ProjectionSpec::new("pre", "post", "d", Connectivity::OneToOne, 1.0).with_stp(stp),
        );
    let mut sim = Simulator::build_with_threads(&net, 1).unwrap();
    let post = sim.population_index("post").unwrap();
    let mut jumps = Vec::new();
    for _ in 0..2 {
        let mut prev = sim.state(post, "v").unwrap()[0];
        let mut run = Vec::new();
        for _ in 0..200 {
            sim.run_steps(1);
            let v = sim.state(post, "v").unwrap()[0];
            if (v - prev).abs() > 1e-4 {
                run.push(v - prev);
            }
            prev = v;
        }
        jumps.push(run);
        sim.reset();
    }
    assert_eq!(jumps[0].len(), 2);
    assert!((jumps[0][0] - 0.5).abs() < 1e-6 && jumps[0][1] < 0.5);
    assert_eq!(jumps[0], jumps[1]);
}
