//! Plasticity rules against their formulas and published behaviour: the STDP window,
//! the frequency dependence of triplet STDP, Vogels' inhibitory rule reaching its
//! target rate, reward-modulated STDP strengthening the rewarded synapse (Izhikevich
//! 2007), stochastic binary switching probabilities, weight normalisation, adaptive
//! thresholds, and determinism of plastic networks across thread counts.

use spikelab_core::plasticity::{
    Pairing, PlasticitySpec, RewardModulated, Stdp, StochasticBinary, Triplet, Vogels,
    WeightDependence,
};
use spikelab_core::prelude::*;

const DT: f64 = 0.1;

/// A LIF that only fires when forced (threshold far from rest unless kicked).
fn forced_lif() -> Lif {
    Lif {
        tau_m_ms: 10.0,
        v_rest_mv: -70.0,
        v_reset_mv: -70.0,
        v_thresh_mv: -55.0,
        t_ref_ms: 0.0,
        ..Lif::default()
    }
}

/// `n` independent pairs: pre neuron i spikes at `pre_ms[i]` (arriving one step later),
/// post neuron i is forced to spike at `post_ms[i]`. Returns the final weights.
fn pair_protocol(
    rule: PlasticitySpec,
    pre_ms: Vec<Vec<f64>>,
    post_ms: Vec<Vec<f64>>,
    w0: f64,
    duration_ms: f64,
    threads: usize,
) -> Vec<f32> {
    let n = pre_ms.len();
    let flat = |v: &Vec<Vec<f64>>, shift: f64| {
        let mut neurons = vec![];
        let mut times = vec![];
        for (i, ts) in v.iter().enumerate() {
            for &t in ts {
                neurons.push(i as u32);
                times.push(t - shift);
            }
        }
        SpikeGenerator {
            neurons,
            times_ms: times,
        }
    };
    // Pre spikes are emitted one step before they should arrive; forcing spikes one
    // step before the post spike (delta jump of 100 mV).
    let spec = NetworkSpec::new(DT, duration_ms)
        .population(PopulationSpec::new(
            "pre",
            n,
            NeuronSpec::SpikeGenerator(flat(&pre_ms, DT)),
        ))
        .population(PopulationSpec::new(
            "force",
            n,
            NeuronSpec::SpikeGenerator(flat(&post_ms, DT)),
        ))
        .population(
            PopulationSpec::new("post", n, NeuronSpec::Lif(forced_lif()))
                .with_receptor(ReceptorSpec::current_exp("e", 2.0))
                .with_receptor(ReceptorSpec::delta("kick")),
        )
        .projection(
            ProjectionSpec::new("pre", "post", "e", Connectivity::OneToOne, w0)
                .with_plasticity(rule),
        )
        .projection(ProjectionSpec::new(
            "force",
            "post",
            "kick",
            Connectivity::OneToOne,
            100.0,
        ))
        .monitor(MonitorSpec::Spikes {
            population: "post".into(),
            neurons: NeuronSelection::All,
        });
    let mut sim = Simulator::build_with_threads(&spec, threads).unwrap();
    sim.run_ms(duration_ms);
    // Every forced spike happened, and nothing else.
    let expected: usize = post_ms.iter().map(|v| v.len()).sum();
    assert_eq!(
        sim.recordings().spikes[0].steps.len(),
        expected,
        "post spikes"
    );
    sim.synapses(0).unwrap().weight
}

fn stdp(pairing: Pairing) -> PlasticitySpec {
    PlasticitySpec::Stdp(Stdp {
        a_plus: 0.01,
        a_minus: 0.012,
        tau_plus_ms: 16.8,
        tau_minus_ms: 33.7,
        w_min: 0.0,
        w_max: 1.0,
        weight_dependence: WeightDependence::Additive,
        pairing,
    })
}

#[test]
fn stdp_window_matches_the_rule() {
    // Δt = t_post − t_pre from −60 to +60 ms.
    let dts: Vec<f64> = (-12..=12).map(|k| k as f64 * 5.0).collect();
    let pre: Vec<Vec<f64>> = dts.iter().map(|_| vec![100.0]).collect();
    let post: Vec<Vec<f64>> = dts.iter().map(|&d| vec![100.0 + d]).collect();
    let w = pair_protocol(stdp(Pairing::AllToAll), pre, post, 0.5, 250.0, 1);
    for (k, &d) in dts.iter().enumerate() {
        let want = if d >= 0.0 {
            0.01 * (-d / 16.8).exp()
        } else {
            -0.012 * (d / 33.7).exp()
        };
        let got = w[k] as f64 - 0.5;
        assert!(
            (got - want).abs() < 2e-6,
            "Δt = {d} ms: Δw = {got:.6}, rule gives {want:.6}"
        );
    }
}

/// Reference: the triplet rule evaluated directly from spike times (pre arrivals and
/// post spikes in steps; a pre arrival is processed before a post spike of the same
/// step), all-to-all traces.
#[allow(clippy::too_many_arguments)]
fn triplet_reference(
    pre: &[u64],
    post: &[u64],
    a2p: f64,
    a3p: f64,
    a2m: f64,
    a3m: f64,
    taus: [f64; 4],
    w0: f64,
) -> f64 {
    let [tp, tx, tm, ty] = taus;
    let mut events: Vec<(u64, u8)> = pre
        .iter()
        .map(|&t| (t, 0))
        .chain(post.iter().map(|&t| (t, 1)))
        .collect();
    events.sort();
    let trace = |spikes: &[u64], t: u64, tau: f64, strict: bool| -> f64 {
        spikes
            .iter()
            .filter(|&&s| if strict { s < t } else { s <= t })
            .map(|&s| (-((t - s) as f64) * DT / tau).exp())
            .sum()
    };
    let mut w = w0;
    for (t, kind) in events {
        if kind == 0 {
            // o1 at t includes post spikes strictly before t (same-step post comes later).
            let o1 = trace(post, t, tm, true);
            let r2 = trace(pre, t, tx, true);
            w = (w - o1 * (a2m + a3m * r2)).clamp(0.0, 1.0);
        } else {
            let r1 = trace(pre, t, tp, false);
            let o2 = trace(post, t, ty, true);
            w = (w + r1 * (a2p + a3p * o2)).clamp(0.0, 1.0);
        }
    }
    w
}

#[test]
fn triplet_rule_reproduces_frequency_dependence() {
    // Pfister & Gerstner (2006) minimal all-to-all model fitted to visual cortex.
    let (a2p, a3p, a2m, a3m) = (5e-10, 6.2e-3, 7e-3, 2.3e-4);
    let taus = [16.8, 101.0, 33.7, 125.0];
    let rule = PlasticitySpec::Triplet(Triplet {
        a2_plus: a2p,
        a3_plus: a3p,
        a2_minus: a2m,
        a3_minus: a3m,
        tau_plus_ms: taus[0],
        tau_x_ms: taus[1],
        tau_minus_ms: taus[2],
        tau_y_ms: taus[3],
        w_min: 0.0,
        w_max: 1.0,
        weight_dependence: WeightDependence::Additive,
        pairing: Pairing::AllToAll,
    });
    let freqs = [1.0, 10.0, 20.0, 40.0, 50.0];
    let pairs = 15;
    let mut pre = vec![];
    let mut post = vec![];
    for &lag in &[10.0, -10.0] {
        for &f in &freqs {
            let period = 1000.0 / f;
            let starts: Vec<f64> = (0..pairs).map(|k| 20.0 + k as f64 * period).collect();
            pre.push(starts.clone());
            post.push(starts.iter().map(|t| t + lag).collect::<Vec<_>>());
        }
    }
    let duration = 20.0 + pairs as f64 * 1000.0 + 100.0;
    let w = pair_protocol(rule, pre.clone(), post.clone(), 0.5, duration, 1);
    let to_steps = |v: &Vec<f64>| {
        v.iter()
            .map(|t| (t / DT).round() as u64)
            .collect::<Vec<_>>()
    };
    let mut dw = vec![];
    for k in 0..pre.len() {
        let want = triplet_reference(
            &to_steps(&pre[k]),
            &to_steps(&post[k]),
            a2p,
            a3p,
            a2m,
            a3m,
            taus,
            0.5,
        ) - 0.5;
        let got = w[k] as f64 - 0.5;
        assert!(
            (got - want).abs() < 1e-5 + 1e-3 * want.abs(),
            "pairing {k}: Δw {got:.6} vs reference {want:.6}"
        );
        dw.push(got);
    }
    let (ltp, ltd) = dw.split_at(freqs.len());
    // Pre-before-post: no change at 1 Hz, potentiation growing with frequency.
    assert!(ltp[0].abs() < 1e-4, "{ltp:?}");
    assert!(ltp.windows(2).all(|w| w[1] > w[0]), "{ltp:?}");
    assert!(ltp[4] > 0.01, "{ltp:?}");
    // Post-before-pre: depression at low frequency, potentiation at 50 Hz
    // (Sjöström et al. 2001; Pfister & Gerstner 2006, Fig. 6).
    assert!(ltd[0] < -0.01, "{ltd:?}");
    assert!(ltd[4] > 0.0, "{ltd:?}");
}

#[test]
fn nearest_spike_pairing_ignores_earlier_spikes() {
    // Two pre spikes 5 ms apart before one post spike: all-to-all potentiation sums
    // both, nearest only the last.
    let pre = vec![vec![100.0, 105.0]];
    let post = vec![vec![110.0]];
    let all = pair_protocol(
        stdp(Pairing::AllToAll),
        pre.clone(),
        post.clone(),
        0.5,
        150.0,
        1,
    )[0] as f64
        - 0.5;
    let near = pair_protocol(stdp(Pairing::Nearest), pre, post, 0.5, 150.0, 1)[0] as f64 - 0.5;
    let last = 0.01 * (-5.0f64 / 16.8).exp();
    let first = 0.01 * (-10.0f64 / 16.8).exp();
    assert!((near - last).abs() < 2e-6, "{near} vs {last}");
    assert!(
        (all - (last + first)).abs() < 2e-6,
        "{all} vs {}",
        last + first
    );
}

#[test]
fn stochastic_binary_synapses_switch_with_the_rule_probability() {
    let n = 4000;
    let rule = PlasticitySpec::StochasticBinary(StochasticBinary {
        p_plus: 0.6,
        p_minus: 0.5,
        tau_plus_ms: 20.0,
        tau_minus_ms: 20.0,
        w_min: 0.0,
        w_max: 1.0,
    });
    // All synapses start low; pre at 100 ms, post at 110 ms: p = 0.6 e^{-10/20}.
    let pre = vec![vec![100.0]; n];
    let post = vec![vec![110.0]; n];
    let w = pair_protocol(rule, pre, post, 0.0, 150.0, 2);
    let p = 0.6 * (-0.5f64).exp();
    let frac = w.iter().filter(|&&x| x == 1.0).count() as f64 / n as f64;
    let sd = (p * (1.0 - p) / n as f64).sqrt();
    assert!(
        (frac - p).abs() < 4.0 * sd,
        "switched {frac:.3}, expected {p:.3}"
    );
    assert!(w.iter().all(|&x| x == 0.0 || x == 1.0));
}

fn driven_neuron_net(rule: Option<PlasticitySpec>, seed: u64) -> NetworkSpec {
    let lif = Lif {
        tau_m_ms: 20.0,
        v_rest_mv: -60.0,
        v_reset_mv: -60.0,
        v_thresh_mv: -50.0,
        t_ref_ms: 5.0,
        ..Lif::default()
    };
    let mut inh = ProjectionSpec::new(
        "inh_in",
        "post",
        "i",
        Connectivity::AllToAll { allow_self: true },
        0.0,
    );
    if let Some(r) = rule {
        inh = inh.with_plasticity(r);
    }
    NetworkSpec::new(DT, 0.0)
        .seed(seed)
        .population(PopulationSpec::new(
            "exc_in",
            800,
            NeuronSpec::Poisson(PoissonSource::constant(10.0)),
        ))
        .population(PopulationSpec::new(
            "inh_in",
            200,
            NeuronSpec::Poisson(PoissonSource::constant(10.0)),
        ))
        .population(
            PopulationSpec::new("post", 20, NeuronSpec::Lif(lif))
                .with_receptor(ReceptorSpec::conductance_exp("e", 5.0, 0.0))
                .with_receptor(ReceptorSpec::conductance_exp("i", 10.0, -80.0)),
        )
        .projection(ProjectionSpec::new(
            "exc_in",
            "post",
            "e",
            Connectivity::FixedInDegree {
                k: 400,
                allow_self: true,
            },
            0.02,
        ))
        .projection(inh)
}

#[test]
fn vogels_rule_drives_the_neuron_to_its_target_rate() {
    let target = 5.0;
    let rule = PlasticitySpec::Vogels(Vogels {
        eta: 0.005,
        target_rate_hz: target,
        tau_ms: 20.0,
        w_min: 0.0,
        w_max: 2.0,
    });
    // Without inhibitory plasticity the inhibitory weights stay 0 and the neurons
    // fire fast.
    let mut ctl = Simulator::build_with_threads(&driven_neuron_net(None, 3), 1).unwrap();
    let post = ctl.population_index("post").unwrap();
    ctl.run_ms(5000.0);
    let uncontrolled = ctl.stats().spikes[post] as f64 / 20.0 / 5.0;
    assert!(
        uncontrolled > 3.0 * target,
        "control rate {uncontrolled:.1} Hz"
    );

    let mut sim = Simulator::build_with_threads(&driven_neuron_net(Some(rule), 3), 1).unwrap();
    sim.run_ms(20_000.0);
    let before = sim.stats().spikes[post];
    sim.run_ms(5000.0);
    let late = (sim.stats().spikes[post] - before) as f64 / 20.0 / 5.0;
    assert!(
        (late - target).abs() < 0.3 * target,
        "after learning: {late:.2} Hz, target {target} Hz (uncontrolled {uncontrolled:.1} Hz)"
    );
}

#[test]
fn normalisation_scales_each_neurons_incoming_weights() {
    let spec = NetworkSpec::new(DT, 0.0)
        .population(PopulationSpec::new(
            "in",
            50,
            NeuronSpec::Poisson(PoissonSource::constant(1.0)),
        ))
        .population(
            PopulationSpec::new("out", 30, NeuronSpec::Lif(Lif::default()))
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
                Value::uniform(0.1, 1.0),
            )
            .with_normalization(7.8, None),
        );
    for threads in [1, 3] {
        let mut sim = Simulator::build_with_threads(&spec, threads).unwrap();
        let sums = |sim: &Simulator| {
            let rows = sim.synapses(0).unwrap();
            let mut s = vec![0.0f64; 30];
            for (&t, &w) in rows.target.iter().zip(&rows.weight) {
                s[t as usize] += w as f64;
            }
            s
        };
        for s in sums(&sim) {
            assert!(s == 0.0 || (s - 7.8).abs() < 1e-4, "{s}");
        }
        sim.normalize_weights(0, 2.0).unwrap();
        for s in sums(&sim) {
            assert!(s == 0.0 || (s - 2.0).abs() < 1e-4, "{s}");
        }
    }
}

#[test]
fn adaptive_threshold_grows_per_spike_and_lowers_the_rate() {
    let lif = Lif {
        tau_m_ms: 20.0,
        v_rest_mv: -65.0,
        v_reset_mv: -65.0,
        v_thresh_mv: -52.0,
        t_ref_ms: 2.0,
        i_bias_mv: 30.0,
        theta_plus_mv: 0.5,
        tau_theta_ms: None,
        ..Lif::default()
    };
    let spec = NetworkSpec::new(DT, 0.0)
        .population(PopulationSpec::new("n", 1, NeuronSpec::Lif(lif)))
        .monitor(MonitorSpec::Spikes {
            population: "n".into(),
            neurons: NeuronSelection::All,
        });
    let mut sim = Simulator::build(&spec).unwrap();
    sim.run_ms(500.0);
    let rec = &sim.recordings().spikes[0];
    let n = rec.steps.len();
    assert!(n > 10);
    let theta = sim.state(0, "theta").unwrap()[0];
    assert!(
        (theta - 0.5 * n as f32).abs() < 1e-4,
        "theta {theta} after {n} spikes"
    );
    let isi: Vec<u64> = rec.steps.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        isi.last().unwrap() > &isi[0],
        "ISIs lengthen as theta grows: {isi:?}"
    );
}

#[test]
fn plastic_networks_are_identical_for_any_thread_count() {
    let rule = PlasticitySpec::Triplet(Triplet {
        a2_plus: 0.0,
        a3_plus: 0.01,
        a2_minus: 1e-4,
        a3_minus: 0.0,
        tau_plus_ms: 20.0,
        tau_x_ms: 20.0,
        tau_minus_ms: 20.0,
        tau_y_ms: 40.0,
        w_min: 0.0,
        w_max: 1.0,
        weight_dependence: WeightDependence::Additive,
        pairing: Pairing::Nearest,
    });
    let lif = Lif {
        tau_m_ms: 20.0,
        v_rest_mv: -65.0,
        v_reset_mv: -65.0,
        v_thresh_mv: -52.0,
        t_ref_ms: 5.0,
        theta_plus_mv: 0.05,
        tau_theta_ms: Some(1e7),
        ..Lif::default()
    };
    let spec = NetworkSpec::new(0.5, 0.0)
        .seed(9)
        .population(PopulationSpec::new(
            "in",
            200,
            NeuronSpec::Poisson(PoissonSource::constant(20.0)),
        ))
        .population(
            PopulationSpec::new("exc", 60, NeuronSpec::Lif(lif))
                .with_receptor(ReceptorSpec::conductance_exp("e", 1.0, 0.0)),
        )
        .projection(
            ProjectionSpec::new(
                "in",
                "exc",
                "e",
                Connectivity::AllToAll { allow_self: true },
                Value::uniform(0.0, 0.3),
            )
            .with_delay_ms(Value::uniform(0.5, 10.0))
            .with_plasticity(rule)
            .with_normalization(15.0, Some(100.0)),
        )
        .monitor(MonitorSpec::Spikes {
            population: "exc".into(),
            neurons: NeuronSelection::All,
        });
    let run = |threads| {
        let mut sim = Simulator::build_with_threads(&spec, threads).unwrap();
        sim.run_ms(1000.0);
        (
            sim.synapses(0).unwrap().weight,
            sim.recordings().spikes[0].steps.clone(),
            sim.state(1, "theta").unwrap(),
        )
    };
    let one = run(1);
    assert!(!one.1.is_empty(), "the network must fire");
    assert_eq!(run(2), one);
    assert_eq!(run(4), one);
}

/// Izhikevich (2007), "Solving the distal reward problem": a reward delivered 1–3 s
/// after the rewarded synapse's pre neuron is followed within 10 ms by its post neuron
/// strengthens that synapse, although every synapse sees the same dopamine and many
/// other coincidences happen between the event and the reward.
#[test]
fn reward_modulated_stdp_strengthens_the_rewarded_synapse() {
    use rand::Rng;
    use spikelab_core::rng::{stream, Domain};
    let dt = 1.0;
    let lif = Lif {
        tau_m_ms: 20.0,
        v_rest_mv: -65.0,
        v_reset_mv: -65.0,
        v_thresh_mv: -50.0,
        t_ref_ms: 2.0,
        ..Lif::default()
    };
    let rule = PlasticitySpec::RewardModulated(RewardModulated {
        a_plus: 0.01,
        a_minus: 0.015,
        tau_plus_ms: 20.0,
        tau_minus_ms: 20.0,
        tau_c_ms: 1000.0,
        tau_d_ms: 200.0,
        reward_population: None,
        reward_per_spike: 0.0,
        tonic_dopamine: 0.01,
        w_min: 0.0,
        w_max: 4.0,
    });
    let (n_exc, n_inh) = (200, 50);
    let spec = NetworkSpec::new(dt, 0.0)
        .seed(4)
        .population(PopulationSpec::new(
            "thalamus",
            n_exc + n_inh,
            NeuronSpec::Poisson(PoissonSource::constant(60.0)),
        ))
        .population(
            PopulationSpec::new("exc", n_exc, NeuronSpec::Lif(lif.clone()))
                .with_receptor(ReceptorSpec::delta("syn")),
        )
        .population(
            PopulationSpec::new("inh", n_inh, NeuronSpec::Lif(lif))
                .with_receptor(ReceptorSpec::delta("syn")),
        )
        .projection(
            ProjectionSpec::new(
                "exc",
                "exc",
                "syn",
                Connectivity::FixedOutDegree {
                    k: 20,
                    allow_self: false,
                },
                1.0,
            )
            .with_plasticity(rule),
        )
        .projection(ProjectionSpec::new(
            "exc",
            "inh",
            "syn",
            Connectivity::FixedOutDegree {
                k: 5,
                allow_self: true,
            },
            1.0,
        ))
        .projection(ProjectionSpec::new(
            "inh",
            "exc",
            "syn",
            Connectivity::FixedOutDegree {
                k: 20,
                allow_self: true,
            },
            -2.0,
        ))
        .projection(ProjectionSpec::new(
            "thalamus",
            "exc",
            "syn",
            Connectivity::List {
                pairs: (0..n_exc as u32).map(|i| (i, i)).collect(),
                weights: None,
                delays_ms: None,
            },
            4.0,
        ))
        .projection(ProjectionSpec::new(
            "thalamus",
            "inh",
            "syn",
            Connectivity::List {
                pairs: (0..n_inh as u32).map(|i| (n_exc as u32 + i, i)).collect(),
                weights: None,
                delays_ms: None,
            },
            4.0,
        ));
    let mut sim = Simulator::build_with_threads(&spec, 1).unwrap();
    let exc = sim.population_index("exc").unwrap();
    let rows = sim.synapses(0).unwrap();
    let (n1, n2) = (0u32, rows.target[rows.row_ptr[0]]);
    let rewarded = rows.row_ptr[0]; // index of synapse n1 -> n2 in synapses() order
    let mut rng = stream(1, Domain::Training, &[0]);
    let mut last_n1: Option<u64> = None;
    let mut reward_at: Vec<u64> = Vec::new();
    let mut rewards = 0;
    let steps = 400_000u64; // 400 s
    for t in 0..steps {
        sim.run_steps(1);
        let fired = sim.last_spikes(exc);
        if fired.binary_search(&n1).is_ok() {
            last_n1 = Some(t);
        }
        if fired.binary_search(&n2).is_ok() {
            if let Some(t1) = last_n1 {
                if t > t1 && t - t1 <= 10 {
                    reward_at.push(t + rng.random_range(1000..3000));
                    last_n1 = None;
                }
            }
        }
        if reward_at.first() == Some(&t) {
            reward_at.remove(0);
            sim.reward(0, 0.5).unwrap();
            rewards += 1;
        }
        reward_at.sort_unstable();
    }
    let w = sim.synapses(0).unwrap().weight;
    let target = w[rewarded];
    let others: Vec<f32> = w
        .iter()
        .enumerate()
        .filter(|&(k, _)| k != rewarded)
        .map(|(_, &x)| x)
        .collect();
    let mean = others.iter().sum::<f32>() / others.len() as f32;
    let above = others.iter().filter(|&&x| x >= target).count() as f64 / others.len() as f64;
    assert!(rewards >= 5, "only {rewards} rewards were earned");
    assert!(
        target > 3.0,
        "rewarded synapse {target} after {rewards} rewards (others mean {mean})"
    );
    assert!(
        target > 3.0 * mean && above < 0.02,
        "rewarded {target}, others mean {mean}, {:.1}% at or above",
        above * 100.0
    );
}

#[test]
fn reset_starts_plasticity_afresh() {
    // One pre→post pair 5 ms apart, then a reset and the same again: an additive rule
    // must change the weight by the same amount both times (stale traces, stale
    // last-update steps or queued arrivals would make the second change differ).
    let spec = NetworkSpec::new(DT, 40.0)
        .population(PopulationSpec::new(
            "pre",
            1,
            NeuronSpec::SpikeGenerator(SpikeGenerator {
                neurons: vec![0, 0],
                times_ms: vec![10.0, 38.0],
            }),
        ))
        .population(PopulationSpec::new(
            "force",
            1,
            NeuronSpec::SpikeGenerator(SpikeGenerator {
                neurons: vec![0],
                times_ms: vec![15.0],
            }),
        ))
        .population(
            PopulationSpec::new("post", 1, NeuronSpec::Lif(forced_lif()))
                .with_receptor(ReceptorSpec::current_exp("e", 2.0))
                .with_receptor(ReceptorSpec::delta("kick")),
        )
        .projection(
            ProjectionSpec::new("pre", "post", "e", Connectivity::OneToOne, 0.5)
                .with_plasticity(stdp(Pairing::AllToAll))
                .with_delay_ms(1.5),
        )
        .projection(ProjectionSpec::new(
            "force",
            "post",
            "kick",
            Connectivity::OneToOne,
            100.0,
        ));
    let mut sim = Simulator::build(&spec).unwrap();
    let w0 = sim.synapses(0).unwrap().weight[0];
    // The run ends with the second pre spike still in flight.
    sim.run_ms(38.5);
    let w1 = sim.synapses(0).unwrap().weight[0];
    sim.reset();
    sim.run_ms(38.5);
    let w2 = sim.synapses(0).unwrap().weight[0];
    assert!(w1 > w0, "pre before post potentiates: {w0} -> {w1}");
    assert!(
        ((w2 - w1) - (w1 - w0)).abs() < 1e-6,
        "first change {}, after reset {}",
        w1 - w0,
        w2 - w1
    );
}
