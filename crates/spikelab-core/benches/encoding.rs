//! Encoder throughput on the trainer's hot path: one MNIST-sized batch
//! (128 images × 784 pixels × 25 steps) into a dense spike tensor.
//!
//! `cargo bench -p spikelab-core --bench encoding`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spikelab_core::encoding::{BernoulliRate, Encoder, Latency, PoissonRate, TimeGrid};
use std::hint::black_box;

const BATCH: usize = 128;
const PIXELS: usize = 784;
const STEPS: usize = 25;

/// A batch with MNIST-like statistics: ~19% of pixels lit, the rest 0.
fn batch() -> Vec<f32> {
    (0..BATCH * PIXELS)
        .map(|k| {
            let h = spikelab_core::rng::mix64(k as u64);
            if h % 100 < 19 {
                (h >> 32) as f32 / u32::MAX as f32
            } else {
                0.0
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let inputs = batch();
    let samples: Vec<u64> = (0..BATCH as u64).collect();
    let grid = TimeGrid::new(STEPS, 1.0).unwrap();
    let mut g = c.benchmark_group("encode_batch_128x784x25");
    g.throughput(Throughput::Elements((BATCH * PIXELS * STEPS) as u64));
    let bern = BernoulliRate::default();
    let mut out_u8 = vec![0u8; STEPS * BATCH * PIXELS];
    let mut out_f32 = vec![0f32; STEPS * BATCH * PIXELS];
    g.bench_function("bernoulli_u8", |b| {
        b.iter(|| {
            bern.encode_batch_u8(&inputs, PIXELS, &samples, &grid, 1, &mut out_u8)
                .unwrap();
            black_box(&out_u8);
        })
    });
    g.bench_function("bernoulli_f32", |b| {
        b.iter(|| {
            bern.encode_batch_f32(&inputs, PIXELS, &samples, &grid, 1, &mut out_f32)
                .unwrap();
            black_box(&out_f32);
        })
    });
    let lat = Latency::linear(0.0, 24.0, 0.0).unwrap();
    g.bench_function("latency_f32", |b| {
        b.iter(|| {
            lat.encode_batch_f32(&inputs, PIXELS, &samples, &grid, 1, &mut out_f32)
                .unwrap();
            black_box(&out_f32);
        })
    });
    let poisson = PoissonRate::new(100.0, 1.0).unwrap();
    g.bench_function("poisson_f32_via_trains", |b| {
        b.iter(|| {
            poisson
                .encode_batch_f32(&inputs, PIXELS, &samples, &grid, 1, &mut out_f32)
                .unwrap();
            black_box(&out_f32);
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
