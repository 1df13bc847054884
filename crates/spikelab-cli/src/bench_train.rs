//! `spikelab bench train`: times surrogate-gradient training and inference of a
//! network on MNIST-format data (batches of the real data, so spike sparsity is
//! realistic) and prints samples per second, the time per stage and per layer, spike
//! densities and the peak resident memory (VmHWM). The step timed is the training
//! loop's own (`Trainer::train_batch_timed`).

use crate::surrogate::{set_threads, NetArgs, RunArgs};
use anyhow::{Context, Result};
use clap::Args;
use spikelab_train::bptt::encode::encode;
use spikelab_train::bptt::loss;
use spikelab_train::bptt::trainer::{epoch_order, eval_keys, StepTimes};
use spikelab_train::data::SampleShape;
use spikelab_train::nn::layers::Pass;
use spikelab_train::prelude::*;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `spikelab bench train`.
#[derive(Args, Debug)]
pub struct BenchTrainArgs {
    /// Dataset directory (MNIST-format IDX files).
    #[arg(long, default_value = "../shared/data/mnist")]
    pub data: PathBuf,
    /// The network.
    #[command(flatten)]
    pub net: NetArgs,
    /// How to train.
    #[command(flatten)]
    pub run: RunArgs,
    /// Timed training batches.
    #[arg(long, default_value_t = 30)]
    pub batches: usize,
    /// Untimed warm-up batches before timing.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Print the time spent in each layer.
    #[arg(long)]
    pub profile: bool,
    /// Run every layer on its own (no fused convolution + spiking blocks), to measure
    /// what fusion gains.
    #[arg(long)]
    pub no_fusion: bool,
}

/// Measured figures of `bench train`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchResult {
    /// Training samples per second.
    pub train_samples_per_s: f64,
    /// Inference samples per second.
    pub infer_samples_per_s: f64,
    /// Peak resident memory (MiB), if the OS tells.
    pub peak_mib: Option<f64>,
}

/// Peak resident set size of this process in MiB (VmHWM from /proc/self/status).
pub fn peak_memory_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Runs `spikelab bench train` and returns its figures.
pub fn bench_train(a: &BenchTrainArgs) -> Result<BenchResult> {
    set_threads(a.run.threads)?;
    let train = load_idx_dataset(&a.data, Split::Train).with_context(|| {
        format!(
            "bench train needs MNIST-format data in {}",
            a.data.display()
        )
    })?;
    let test = load_idx_dataset(&a.data, Split::Test)?;
    let loss_spec = a.run.loss()?;
    let config = a.run.config(1, train.shape())?;
    let spec = a
        .net
        .spec(config.encoding.input_shape(train.shape())?, &loss_spec)?;
    let mut trainer = Trainer::new(&spec, config.clone())?;
    trainer.net.set_fusion(!a.no_fusion);
    let bs = config.batch_size;
    println!(
        "bench train: arch {}  T={}  batch {}  encoding {}  optimizer {}  threads {}  kernels {}",
        a.net.arch,
        config.steps,
        bs,
        a.run.encoding,
        a.run.optimizer,
        rayon::current_num_threads(),
        spikelab_train::nn::kernels::simd_name()
    );
    print!("{}", trainer.net.summary());
    if train.len() < bs || test.len() < bs {
        anyhow::bail!(
            "bench train needs at least one batch ({bs} samples) of training and test data"
        );
    }
    let order = epoch_order(train.len(), config.seed, 0);
    let n_batches = train.len() / bs;
    let batch_idx = |k: usize| &order[(k % n_batches) * bs..(k % n_batches + 1) * bs];

    // Training: warm-up, then timed batches (with a per-stage split).
    for k in 0..a.warmup {
        trainer.train_batch(&train, batch_idx(k), config.lr);
    }
    if a.profile {
        trainer.net.set_profiling(true);
    }
    let mut times = StepTimes::default();
    let mut images = Vec::new();
    let start = Instant::now();
    for k in a.warmup..a.warmup + a.batches {
        // Dropout keyed by the batch number, as in the training loop.
        trainer.state.batch = k;
        let r = trainer.train_batch_timed(&train, batch_idx(k), config.lr);
        times.add(&r.times);
    }
    trainer.state.batch = 0;
    let train_s = start.elapsed().as_secs_f64();
    let train_sps = (a.batches * bs) as f64 / train_s;
    let train_profile = trainer.net.profile();
    let densities: Vec<String> = trainer
        .net
        .spike_counts()
        .iter()
        .map(|(l, n, c)| {
            format!(
                "layer {l}: {:.3}",
                *c as f64 / (*n as f64 * (bs * config.steps) as f64)
            )
        })
        .collect();
    trainer.net.set_profiling(false);

    // Inference on test batches.
    if a.profile {
        trainer.net.set_profiling(true);
    }
    let infer_batches = a.batches.min(test.len() / bs).max(1);
    for k in 0..a.warmup.min(infer_batches) {
        infer_batch(&mut trainer, &test, k, bs, &mut images);
    }
    if a.profile {
        trainer.net.set_profiling(true);
    }
    let start = Instant::now();
    for k in 0..infer_batches {
        infer_batch(&mut trainer, &test, k, bs, &mut images);
    }
    let infer_s = start.elapsed().as_secs_f64();
    let infer_sps = (infer_batches * bs) as f64 / infer_s;
    let peak = peak_memory_mib();

    println!(
        "training:  {:>9.0} samples/s  ({} batches of {bs} in {train_s:.2} s)",
        train_sps, a.batches
    );
    let per = |x: f64| 1e3 * x / a.batches as f64;
    println!(
        "           per batch: encode {:.1} ms, forward {:.1} ms, loss {:.1} ms, backward {:.1} ms, optimizer {:.1} ms",
        per(times.encode),
        per(times.forward),
        per(times.loss),
        per(times.backward),
        per(times.optimizer)
    );
    println!(
        "           spike density per step: {}",
        densities.join(", ")
    );
    println!(
        "inference: {:>9.0} samples/s  ({infer_batches} batches of {bs} in {infer_s:.2} s)",
        infer_sps
    );
    match peak {
        Some(m) => println!("peak memory (VmHWM): {m:.0} MiB"),
        None => println!("peak memory: not available (no /proc/self/status)"),
    }
    if let Some(p) = train_profile {
        println!("training time per layer (ms per batch, forward / backward):");
        for (i, (kind, f, b)) in p.iter().enumerate() {
            println!("  {i:>2} {kind:<11} {:>8.2} {:>8.2}", per(*f), per(*b));
        }
    }
    if a.profile && !a.no_fusion {
        println!(
            "  (a convolution on spikes and the spiking layer after it run fused: their time is on the convolution's line)"
        );
    }
    if let Some(p) = trainer.net.profile() {
        println!("inference time per layer (ms per batch):");
        for (i, (kind, f, _)) in p.iter().enumerate() {
            println!(
                "  {i:>2} {kind:<11} {:>8.2}",
                1e3 * f / infer_batches as f64
            );
        }
    }
    Ok(BenchResult {
        train_samples_per_s: train_sps,
        infer_samples_per_s: infer_sps,
        peak_mib: peak,
    })
}

fn infer_batch(t: &mut Trainer, test: &Dataset, k: usize, bs: usize, images: &mut Vec<u8>) {
    let idx: Vec<usize> = (k * bs..(k + 1) * bs).collect();
    test.gather(&idx, images);
    let c = &t.config;
    let x = encode(
        &c.encoding,
        images,
        test.shape(),
        &eval_keys(&idx),
        c.steps,
        c.seed,
    );
    let out = t.net.forward(x, &Pass::eval(c.steps, bs));
    std::hint::black_box(loss::predict(&out, c.steps));
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        args: BenchTrainArgs,
    }

    #[test]
    fn bench_train_measures_something() {
        let dir = tempfile::tempdir().unwrap();
        crate::surrogate::tests::write_toy_mnist(dir.path(), 64, 32);
        let a = Cmd::try_parse_from([
            "x",
            "--data",
            &dir.path().display().to_string(),
            "--arch",
            "4C3-MP2-4",
            "--steps",
            "4",
            "--batch",
            "16",
            "--batches",
            "2",
            "--warmup",
            "1",
            "--profile",
        ])
        .unwrap()
        .args;
        let r = bench_train(&a).unwrap();
        assert!(r.train_samples_per_s > 0.0 && r.infer_samples_per_s > 0.0);
        assert!(r.peak_mib.is_none_or(|m| m > 0.0));
    }
}
