use std::time::Instant;
fn bench(m: usize, n: usize, k: usize, threads: usize) -> f64 {
    let a = vec![0.5f32; m * k];
    let b = vec![0.25f32; k * n];
    let mut c = vec![0.0f32; m * n];
    let mut best = f64::MAX;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        for _ in 0..5 {
            let t = Instant::now();
            spikelab_train::kernels::dense::matmul(
                spikelab_train::kernels::dense::Mat::new(&a, m, k),
                spikelab_train::kernels::dense::Mat::new(&b, k, n),
                &mut c,
                false,
            );
            best = best.min(t.elapsed().as_secs_f64());
        }
    });
    2.0 * (m * n * k) as f64 / best / 1e9
}
fn main() {
    for &(m, n, k) in &[
        (1024usize, 1024usize, 1024usize),
        (51200, 64, 300),
        (51200, 300, 64),
    ] {
        println!(
            "{m}x{n}x{k}: 1 thread {:.1} GFLOP/s, 2 threads {:.1}",
            bench(m, n, k, 1),
            bench(m, n, k, 2)
        );
    }
}
