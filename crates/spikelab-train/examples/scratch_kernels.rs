use rand::Rng;
use spikelab_train::kernels::sparse::*;
use spikelab_train::tensor::*;
use std::time::Instant;
fn main() {
    let (rows, n_in, n_out) = (3200usize, 784usize, 1000usize);
    let mut rng = spikelab_core::rng::stream(1, spikelab_core::rng::Domain::Training, &[]);
    let mut s = SpikeTensor::zeros(rows, FeatShape::flat(n_in));
    for r in 0..rows {
        for j in 0..n_in {
            if rng.random::<f32>() < 0.13 {
                s.set(r, j);
            }
        }
    }
    let w: Vec<f32> = (0..n_in * n_out).map(|_| rng.random::<f32>()).collect();
    let mut out = vec![0.0; rows * n_out];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        for _ in 0..3 {
            let t = Instant::now();
            let idx = SpikeIndex::from_spikes(&s);
            let t1 = t.elapsed().as_secs_f64();
            spike_matmul(&idx, &w, n_out, None, 1.0, &mut out);
            let t2 = t.elapsed().as_secs_f64();
            let iters = idx.idx.len() as f64 * (n_out as f64 / 128.0);
            println!(
                "index {:.2} ms, matmul {:.2} ms, {:.2} ns per tile-iteration",
                t1 * 1e3,
                (t2 - t1) * 1e3,
                (t2 - t1) * 1e9 / iters
            );
            let t = Instant::now();
            let mut dw = vec![0.0; n_in * n_out];
            spike_weight_grad(&idx, &out, n_out, 1.0, &mut dw);
            println!("wgrad {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
        }
    });
    let t = Instant::now();
    let mut x = 0u64;
    for i in 0..100_000_000u64 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
    }
    println!(
        "100M dependent mul-adds: {:.1} ms ({x})",
        t.elapsed().as_secs_f64() * 1e3
    );
}
