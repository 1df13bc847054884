//! The summed Poisson drive (`[[poisson_input]]`): the same spikes for any thread
//! count, the same firing as the equivalent Poisson source neurons wired one to one
//! (in distribution), and errors that name the field.

use spikelab_core::prelude::*;
use std::path::Path;

fn net(drive: &str, n: usize) -> String {
    format!(
        r#"
[simulation]
dt_ms = 0.1
duration_ms = 1000
seed = 7

[[population]]
name = "exc"
size = {n}
neuron = {{ model = "lif", tau_m_ms = 20.0, v_rest_mv = 0.0, v_reset_mv = 10.0, v_thresh_mv = 20.0, t_ref_ms = 2.0 }}
receptor = [{{ name = "syn", type = "delta" }}]

[[projection]]
source = "exc"
target = "exc"
receptor = "syn"
connectivity = {{ rule = "fixed_in_degree", k = 20, allow_self = false }}
weight = -0.2
delay_ms = 1.5

{drive}

[[monitor]]
kind = "spikes"
population = "exc"
"#
    )
}

const INPUT: &str = r#"
[[poisson_input]]
target = "exc"
receptor = "syn"
sources = 1000
rate_hz = 12.0
weight = 0.1
"#;

const SOURCES: &str = r#"
[[population]]
name = "ext"
size = 300
neuron = { model = "poisson", rate_hz = 12000.0 }

[[projection]]
source = "ext"
target = "exc"
receptor = "syn"
connectivity = { rule = "one_to_one" }
weight = 0.1
delay_ms = 0.1
"#;

fn run(text: &str, threads: usize) -> (Vec<u64>, Vec<u32>) {
    let spec = NetworkSpec::from_toml_str(text, Path::new("t.toml")).unwrap();
    let mut sim = Simulator::build_with_threads(&spec, threads).unwrap();
    sim.run_steps(10_000);
    let s = &sim.recordings().spikes[0];
    (s.steps.clone(), s.neurons.clone())
}

#[test]
fn the_drive_is_the_same_for_any_thread_count() {
    let text = net(INPUT, 300);
    let one = run(&text, 1);
    assert!(one.0.len() > 1000, "{} spikes", one.0.len());
    for threads in [2, 3] {
        assert_eq!(run(&text, threads), one, "{threads} threads");
    }
}

#[test]
fn the_drive_fires_neurons_like_the_source_neurons_it_replaces() {
    // 1000 sources at 12 Hz = one source neuron at 12 kHz per target. The mean drive
    // J·C·ν·τ = 24 mV is above threshold: regular firing whose rate the input's
    // statistics set.
    let (a, _) = run(&net(INPUT, 300), 1);
    let (b, _) = run(&net(SOURCES, 300), 1);
    let (ra, rb) = (a.len() as f64 / 300.0, b.len() as f64 / 300.0);
    assert!(ra > 5.0, "{ra} Hz");
    assert!(
        (ra - rb).abs() / rb < 0.03,
        "poisson_input {ra:.2} Hz, sources {rb:.2} Hz"
    );
}

#[test]
fn bad_inputs_name_the_field() {
    for (bad, want) in [
        (
            INPUT.replace("\"syn\"", "\"ampa\""),
            "poisson_input[0].receptor",
        ),
        (
            INPUT.replace("target = \"exc\"", "target = \"nobody\""),
            "poisson_input[0].target",
        ),
        (
            INPUT.replace("sources = 1000", "sources = 0"),
            "poisson_input[0].sources",
        ),
        (
            INPUT.replace("rate_hz = 12.0", "rate_hz = -3.0"),
            "poisson_input[0].rate_hz",
        ),
        (
            INPUT.replace("weight = 0.1", "weight = 0.1\nsorces = 3"),
            "sorces",
        ),
    ] {
        let text = net(&bad, 30);
        let e = NetworkSpec::from_toml_str(&text, Path::new("t.toml"))
            .and_then(|s| Simulator::build(&s).map(|_| ()))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{e}");
    }
}
