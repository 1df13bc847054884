//! Throughput of the model-zoo neuron kernels: one update step of 4096 neurons with
//! conductance input, per model and integration method (criterion reports time per
//! step; divide by 4096 for time per neuron update).
//!
//! `cargo bench -p spikelab-core --bench neuron_models`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use spikelab_core::neuron::adex::{Adex, AdexModel};
use spikelab_core::neuron::escape_lif::{EscapeLif, EscapeLifModel};
use spikelab_core::neuron::hodgkin_huxley::{HodgkinHuxley, HodgkinHuxleyModel};
use spikelab_core::neuron::izhikevich::{Izhikevich, IzhikevichModel};
use spikelab_core::neuron::{Drive, Integration, NeuronModel, UpdateContext};
use spikelab_core::rng::{self, Domain};

const N: usize = 4096;

fn bench_model(c: &mut Criterion, label: &str, mut model: Box<dyn NeuronModel>, g: f32) {
    let dt = 0.1;
    model.prepare(label, dt, true).unwrap();
    let mut state: Vec<Vec<f32>> = model
        .default_initial_state()
        .iter()
        .map(|&x| vec![x as f32; N])
        .collect();
    let mut rngs: Vec<_> = (0..N as u64)
        .map(|i| rng::stream(1, Domain::Neuron, &[0, i]))
        .collect();
    // A spread of inputs so some neurons fire.
    let current: Vec<f32> = (0..N).map(|i| (i % 64) as f32 * 0.1).collect();
    let g_sum: Vec<f32> = (0..N).map(|i| g * (1.0 + (i % 7) as f32 * 0.1)).collect();
    let g_rev: Vec<f32> = g_sum.iter().map(|g| g * -20.0).collect();
    let mut spikes = Vec::with_capacity(N);
    let mut group = c.benchmark_group("neuron_update");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function(BenchmarkId::new(label, N), |b| {
        b.iter(|| {
            spikes.clear();
            let drive = Drive {
                current: &current,
                conductance: Some((&g_sum, &g_rev)),
                jump: None,
            };
            let mut ctx = UpdateContext {
                step: 0,
                dt_ms: dt,
                rng: &mut rngs,
            };
            model.update(&mut state, &drive, &mut ctx, &mut spikes);
        })
    });
    group.finish();
}

fn neuron_models(c: &mut Criterion) {
    for (name, m) in [
        ("exponential_euler", Integration::ExponentialEuler),
        ("rk4", Integration::Rk4),
    ] {
        let hh = HodgkinHuxley {
            integration: m,
            i_bias_pa: 50.0,
            ..HodgkinHuxley::default()
        };
        bench_model(
            c,
            &format!("hh_{name}"),
            Box::new(HodgkinHuxleyModel::new(hh)),
            20.0,
        );
        let adex = Adex {
            integration: m,
            i_bias_pa: 600.0,
            ..Adex::default()
        };
        bench_model(
            c,
            &format!("adex_{name}"),
            Box::new(AdexModel::new(adex)),
            2.0,
        );
    }
    for (name, m) in [("euler", Integration::Euler), ("rk4", Integration::Rk4)] {
        let iz = Izhikevich {
            integration: m,
            i_bias: 5.0,
            ..Izhikevich::default()
        };
        bench_model(
            c,
            &format!("izhikevich_{name}"),
            Box::new(IzhikevichModel::new(iz)),
            0.01,
        );
    }
    bench_model(
        c,
        "escape_lif",
        Box::new(EscapeLifModel::new(EscapeLif::default())),
        0.1,
    );
}

criterion_group!(benches, neuron_models);
criterion_main!(benches);
