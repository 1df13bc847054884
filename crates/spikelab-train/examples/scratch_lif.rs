use spikelab_core::neuron::discrete::*;
use spikelab_train::tensor::pack_row;
use std::time::Instant;
fn main() {
    let n = 1000;
    let rows = 3200;
    let x: Vec<f32> = (0..rows * n)
        .map(|i| ((i * 7919) % 1000) as f32 / 800.0)
        .collect();
    let mut h = vec![0.0f32; rows * n];
    let mut s = vec![0.0f32; n];
    let mut v = vec![0.0f32; n];
    let beta = vec![0.9f32; n];
    let theta = vec![1.0f32; n];
    let mut bits = vec![0u64; rows * 16];
    for _ in 0..3 {
        let t = Instant::now();
        for r in 0..rows {
            lif_step(
                &beta[..],
                &theta[..],
                DiscreteReset::Subtract,
                Heaviside,
                &mut v,
                &x[r * n..(r + 1) * n],
                &mut h[r * n..(r + 1) * n],
                &mut s,
            );
        }
        let t1 = t.elapsed().as_secs_f64();
        for r in 0..rows {
            pack_row(
                std::hint::black_box(&h[r * n..(r + 1) * n]),
                &mut bits[r * 16..(r + 1) * 16],
            );
        }
        std::hint::black_box(&bits);
        let t2 = t.elapsed().as_secs_f64();
        println!(
            "lif {:.2} ms ({:.3} ns/elem), pack {:.2} ms",
            t1 * 1e3,
            t1 * 1e9 / (rows * n) as f64,
            (t2 - t1) * 1e3
        );
    }
}
