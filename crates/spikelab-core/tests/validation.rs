//! Bad networks are rejected before anything is allocated, with the field named.

use spikelab_core::prelude::*;

fn lif_pop(name: &str, size: usize) -> PopulationSpec {
    PopulationSpec::new(name, size, NeuronSpec::Lif(Lif::default()))
        .with_receptor(ReceptorSpec::current_exp("e", 5.0))
}

#[test]
fn networks_too_large_for_memory_are_refused_before_allocating() {
    let spec = NetworkSpec::new(0.1, 10.0)
        .population(lif_pop("a", 2_000_000))
        .projection(
            ProjectionSpec::new(
                "a",
                "a",
                "e",
                Connectivity::AllToAll { allow_self: true },
                0.1,
            )
            .named("huge"),
        );
    let e = Simulator::build(&spec).unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e}");
    assert!(e.to_string().contains("projection[huge]"), "{e}");
}

#[test]
fn negative_time_constants_and_bad_probabilities_are_refused() {
    let bad = Lif {
        tau_m_ms: -1.0,
        ..Lif::default()
    };
    let spec =
        NetworkSpec::new(0.1, 10.0).population(PopulationSpec::new("p", 3, NeuronSpec::Lif(bad)));
    assert!(Simulator::build(&spec)
        .unwrap_err()
        .to_string()
        .contains("population[p].neuron.tau_m_ms"));

    let spec = NetworkSpec::new(0.1, 10.0)
        .population(lif_pop("p", 3))
        .projection(ProjectionSpec::new(
            "p",
            "p",
            "e",
            Connectivity::FixedProbability {
                p: -0.1,
                allow_self: true,
            },
            0.1,
        ));
    assert!(Simulator::build(&spec)
        .unwrap_err()
        .to_string()
        .contains("connectivity.p"));

    let spec = NetworkSpec::new(0.1, 10.0)
        .population(lif_pop("p", 3).with_receptor(ReceptorSpec::current_exp("x", 0.0)));
    assert!(Simulator::build(&spec)
        .unwrap_err()
        .to_string()
        .contains("receptor[x].tau_ms"));
}

#[test]
fn unknown_names_list_the_known_ones() {
    let spec = NetworkSpec::new(0.1, 10.0)
        .population(lif_pop("p", 3))
        .projection(ProjectionSpec::new(
            "q",
            "p",
            "e",
            Connectivity::OneToOne,
            0.1,
        ));
    let e = Simulator::build(&spec).unwrap_err().to_string();
    assert!(
        e.contains("unknown population `q`") && e.contains("known: p"),
        "{e}"
    );
}

#[test]
fn example_model_files_parse_and_validate() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            NetworkSpec::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 1);
}
