//! The escape-noise LIF: the per-step firing probability at a clamped membrane
//! potential is 1 − exp(−ρ(v) dt) with ρ(v) = ρ₀ exp((v − θ)/Δ), and the spikes are
//! the same for any number of threads.

use spikelab_core::prelude::*;

#[test]
fn firing_probability_follows_the_exponential_hazard() {
    let (dt, steps, n) = (0.1, 1000u64, 2000usize);
    let base = EscapeLif {
        v_thresh_mv: -55.0,
        delta_v_mv: 1.0,
        rate_at_thresh_hz: 100.0,
        t_ref_ms: 0.0,
        ..EscapeLif::default()
    };
    let offsets = [-3.0, -1.0, 0.0, 1.0];
    let mut net = NetworkSpec::new(dt, steps as f64 * dt).seed(11);
    for (k, off) in offsets.iter().enumerate() {
        // Rest = reset = θ + off and no input: v stays there, spikes or not.
        let v = base.v_thresh_mv + off;
        let m = EscapeLif {
            v_rest_mv: v,
            v_reset_mv: v,
            ..base.clone()
        };
        net = net.population(PopulationSpec::new(
            &format!("p{k}"),
            n,
            NeuronSpec::EscapeLif(m),
        ));
    }
    let mut sim = Simulator::build_with_threads(&net, 1).unwrap();
    sim.run_steps(steps);
    for (k, off) in offsets.iter().enumerate() {
        let rho_per_ms = 100.0 * off.exp() * 1e-3;
        let p = 1.0 - (-rho_per_ms * dt).exp();
        let trials = (n as u64 * steps) as f64;
        let mean = trials * p;
        let sd = (trials * p * (1.0 - p)).sqrt();
        let got = sim.stats().spikes[k] as f64;
        assert!(
            (got - mean).abs() < 4.0 * sd,
            "v = θ{off:+}: {got} spikes, expected {mean:.0} ± {sd:.0}"
        );
        assert!((base.spike_probability(base.v_thresh_mv + off, dt) - p).abs() < 1e-15);
    }
}

fn driven_network(threads: usize) -> NetworkSpec {
    NetworkSpec::new(0.1, 150.0)
        .seed(5)
        .threads(threads)
        .population(PopulationSpec::new(
            "in",
            100,
            NeuronSpec::Poisson(PoissonSource::constant(20.0)),
        ))
        .population(
            PopulationSpec::new("out", 101, NeuronSpec::EscapeLif(EscapeLif::default()))
                .with_receptor(ReceptorSpec::current_exp("e", 5.0)),
        )
        .projection(ProjectionSpec::new(
            "in",
            "out",
            "e",
            Connectivity::FixedProbability {
                p: 0.2,
                allow_self: true,
            },
            6.0,
        ))
        .monitor(MonitorSpec::Spikes {
            population: "out".into(),
            neurons: NeuronSelection::All,
        })
}

#[test]
fn spikes_are_the_same_for_any_thread_count() {
    let run = |threads| {
        let mut sim = Simulator::build(&driven_network(threads)).unwrap();
        sim.run_ms(150.0);
        let s = &sim.recordings().spikes[0];
        (s.steps.clone(), s.neurons.clone())
    };
    let one = run(1);
    assert!(one.0.len() > 100, "{} spikes", one.0.len());
    assert_eq!(one, run(3));
    // A different seed gives a different sample.
    let mut other = driven_network(1);
    other.simulation.seed = 6;
    let mut sim = Simulator::build(&other).unwrap();
    sim.run_ms(150.0);
    assert_ne!(sim.recordings().spikes[0].steps, one.0);
}
