//! Spikes arrive exactly `delay` steps after they are emitted, for uniform and
//! per-synapse delays, and a refractory neuron ignores input.

use spikelab_core::prelude::*;

/// A generator neuron fires at `t_fire_ms`; each target neuron spikes as soon as an
/// input arrives (delta jump above threshold). Returns the spike times of the targets.
fn arrival_times(delays_ms: &[f64], per_synapse: bool, dt: f64, t_fire_ms: f64) -> Vec<(u32, f64)> {
    let n = delays_ms.len();
    let lif = Lif {
        tau_m_ms: 10.0,
        v_rest_mv: 0.0,
        v_reset_mv: 0.0,
        v_thresh_mv: 1.0,
        t_ref_ms: 0.0,
        ..Lif::default()
    };
    let mut spec = NetworkSpec::new(dt, 50.0)
        .population(PopulationSpec::new(
            "src",
            1,
            NeuronSpec::SpikeGenerator(SpikeGenerator {
                neurons: vec![0],
                times_ms: vec![t_fire_ms],
            }),
        ))
        .population(
            PopulationSpec::new("n", n, NeuronSpec::Lif(lif))
                .with_receptor(ReceptorSpec::delta("d")),
        )
        .monitor(MonitorSpec::Spikes {
            population: "n".into(),
            neurons: NeuronSelection::All,
        });
    if per_synapse {
        let pairs = (0..n as u32).map(|j| (0, j)).collect();
        spec = spec.projection(ProjectionSpec::new(
            "src",
            "n",
            "d",
            Connectivity::List {
                pairs,
                weights: None,
                delays_ms: Some(delays_ms.to_vec()),
            },
            5.0,
        ));
    } else {
        for (j, &d) in delays_ms.iter().enumerate() {
            let pairs = vec![(0, j as u32)];
            spec = spec.projection(
                ProjectionSpec::new(
                    "src",
                    "n",
                    "d",
                    Connectivity::List {
                        pairs,
                        weights: None,
                        delays_ms: None,
                    },
                    5.0,
                )
                .with_delay_ms(d),
            );
        }
    }
    let mut sim = Simulator::build(&spec).unwrap();
    sim.run_ms(50.0);
    let rec = &sim.recordings().spikes[0];
    rec.neurons
        .iter()
        .zip(rec.times_ms(dt))
        .map(|(&n, t)| (n, t))
        .collect()
}

#[test]
fn uniform_and_per_synapse_delays_arrive_at_the_exact_step() {
    let delays = [0.1, 0.2, 1.0, 2.5, 7.3, 20.0];
    for per_synapse in [false, true] {
        let got = arrival_times(&delays, per_synapse, 0.1, 3.0);
        assert_eq!(got.len(), delays.len(), "{got:?}");
        for (n, t) in got {
            let want = 3.0 + delays[n as usize];
            assert!(
                (t - want).abs() < 1e-9,
                "neuron {n}: arrived at {t} ms, expected {want} ms (per_synapse={per_synapse})"
            );
        }
    }
}

#[test]
fn delays_round_to_the_nearest_step() {
    let got = arrival_times(&[1.26, 1.24], true, 0.5, 0.0);
    // 1.26 ms -> 3 steps (1.5 ms), 1.24 ms -> 2 steps (1.0 ms).
    let mut got = got;
    got.sort_by_key(|&(n, _)| n);
    assert_eq!(got, vec![(0, 1.5), (1, 1.0)]);
}

#[test]
fn delays_below_one_step_are_rejected_with_the_field_name() {
    let lif = Lif::default();
    let spec = NetworkSpec::new(0.1, 10.0)
        .population(
            PopulationSpec::new("a", 2, NeuronSpec::Lif(lif.clone()))
                .with_receptor(ReceptorSpec::delta("d")),
        )
        .projection(
            ProjectionSpec::new(
                "a",
                "a",
                "d",
                Connectivity::AllToAll { allow_self: false },
                1.0,
            )
            .with_delay_ms(0.04)
            .named("rec"),
        );
    let e = Simulator::build(&spec).unwrap_err().to_string();
    assert!(
        e.contains("projection[rec].delay_ms") && e.contains("at least one time step"),
        "{e}"
    );
}
