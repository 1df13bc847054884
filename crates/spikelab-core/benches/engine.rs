//! Criterion benchmarks of the simulation engine: the COBA benchmark network (4,000
//! neurons, p = 0.02) for 100 ms of biological time on 1 and 2 threads, and the cost of
//! building it. `spikelab bench coba` prints the headline figures (wall time per
//! simulated second, neuron updates/s, synaptic events/s).

use criterion::{criterion_group, criterion_main, Criterion};
use spikelab_core::prelude::*;
use spikelab_core::presets::{vogels_abbott, Synapses, Wiring};

fn coba(c: &mut Criterion) {
    let mut spec = vogels_abbott(
        4000,
        Synapses::Conductance,
        Wiring::Probability(0.02),
        100.0,
        1,
    );
    spec.monitors.clear();
    let mut group = c.benchmark_group("coba_4000");
    group.sample_size(20);
    for threads in [1, 2] {
        group.bench_function(format!("simulate_100ms_{threads}_threads"), |b| {
            b.iter_batched(
                || Simulator::build_with_threads(&spec, threads).unwrap(),
                |mut sim| {
                    sim.run_steps(1000);
                    sim
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.bench_function("build", |b| {
        b.iter(|| Simulator::build_with_threads(&spec, 1).unwrap())
    });
    group.finish();
}

criterion_group!(benches, coba);
criterion_main!(benches);
