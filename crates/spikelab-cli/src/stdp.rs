//! `spikelab train stdp` and `spikelab eval stdp`: the Diehl & Cook (2015) unsupervised
//! STDP network on MNIST, with a progress bar showing the running accuracy,
//! checkpoints that resume after a kill, a PNG of the learned receptive fields and a
//! confusion matrix.

use crate::plot;
use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use spikelab_core::io::write_atomic_with;
use spikelab_core::neuron::Integration;
use spikelab_data::images::{load_mnist, ImageSet, Split};
use spikelab_train::stdp::diehl_cook::{DiehlCook, DiehlCookConfig, PIXELS};
use spikelab_train::stdp::train::{self as dc, Evaluation, Phase, Progress, TrainOptions};
use std::path::{Path, PathBuf};

/// Arguments of `spikelab train stdp`.
#[derive(Args, Debug)]
pub struct TrainStdpArgs {
    /// Directory with the MNIST IDX files (gzip or raw).
    #[arg(long, default_value = "../shared/data/mnist")]
    pub data: PathBuf,
    /// Excitatory neurons (the paper reports 100, 400, 1600, 6400).
    #[arg(long, default_value_t = 400)]
    pub neurons: usize,
    /// Passes over the training images.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Training images per epoch (default: all 60,000).
    #[arg(long)]
    pub examples: Option<usize>,
    /// Training images shown with learning frozen to assign labels.
    #[arg(long, default_value_t = 10_000)]
    pub assign_examples: usize,
    /// Test images to evaluate after training (0 = skip).
    #[arg(long, default_value_t = 10_000)]
    pub test_examples: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Simulation threads (1 is fastest for up to ~1600 neurons).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Output directory (checkpoint, figures, metrics).
    #[arg(long, default_value = "out/stdp")]
    pub out: PathBuf,
    /// Examples between checkpoints.
    #[arg(long, default_value_t = 1000)]
    pub checkpoint_every: usize,
    /// Start afresh even if a checkpoint exists in the output directory.
    #[arg(long)]
    pub fresh: bool,
    /// Neuron integration: exponential-euler (stable) or euler (the paper's code;
    /// unstable in large networks).
    #[arg(long, default_value = "exponential-euler", value_parser = ["exponential-euler", "euler"])]
    pub integration: String,
}

/// Arguments of `spikelab eval stdp`.
#[derive(Args, Debug)]
pub struct EvalStdpArgs {
    /// Checkpoint written by `spikelab train stdp` (its `model.safetensors`).
    #[arg(long, default_value = "out/stdp/model.safetensors")]
    pub checkpoint: PathBuf,
    /// Directory with the MNIST IDX files.
    #[arg(long, default_value = "../shared/data/mnist")]
    pub data: PathBuf,
    /// Test images to classify (default all 10,000).
    #[arg(long)]
    pub examples: Option<usize>,
    /// Output directory for the confusion matrix and metrics.
    #[arg(long, default_value = "out/stdp")]
    pub out: PathBuf,
}

fn load(dir: &Path, split: Split, limit: Option<usize>) -> Result<ImageSet> {
    let mut set =
        load_mnist(dir, split).with_context(|| format!("loading MNIST from {}", dir.display()))?;
    if set.rows * set.cols != PIXELS {
        bail!(
            "{}: images are {}×{}, the network needs 28×28",
            dir.display(),
            set.rows,
            set.cols
        );
    }
    if let Some(n) = limit {
        let n = n.min(set.labels.len());
        set.images.truncate(n * PIXELS);
        set.labels.truncate(n);
    }
    Ok(set)
}

fn bar(total: usize, prefix: &str) -> ProgressBar {
    let b = ProgressBar::new(total as u64);
    b.set_style(
        ProgressStyle::with_template(
            "{prefix:>8} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta}) {msg}",
        )
        .expect("valid template"),
    );
    b.set_prefix(prefix.to_string());
    b
}

fn report(b: &ProgressBar, p: &Progress) {
    b.set_position(p.done as u64);
    let acc = p
        .running_accuracy
        .map_or("-".to_string(), |a| format!("{:.1}%", 100.0 * a));
    let msg = format!("acc {acc} | {:.1} spikes/example", p.mean_spikes);
    // Without a terminal the bar is hidden: log a line every 1,000 examples instead.
    if b.is_hidden() && (p.done.is_multiple_of(1000) || p.done == p.total) {
        eprintln!(
            "{:?} {}/{} ({:.0} s) {msg}",
            p.phase, p.done, p.total, p.elapsed_s
        );
    }
    b.set_message(msg);
}

/// Writes the receptive fields of `net` as a tiled PNG.
pub fn receptive_field_png(net: &DiehlCook, path: &Path) -> Result<()> {
    let rf = net.receptive_fields();
    let cols = (rf.len() as f64).sqrt().ceil() as usize;
    plot::image_grid(
        path,
        &format!("Diehl & Cook receptive fields ({} neurons)", rf.len()),
        &rf,
        28,
        28,
        cols,
    )
}

fn write_eval(dir: &Path, ev: &Evaluation, what: &str) -> Result<()> {
    let m: Vec<Vec<f64>> = ev
        .confusion
        .iter()
        .map(|r| r.iter().map(|&x| x as f64).collect())
        .collect();
    plot::heatmap(
        &dir.join("confusion.png"),
        &format!("{what}: accuracy {:.2}%", 100.0 * ev.accuracy),
        &m,
        "true digit",
        "predicted digit",
    )?;
    write_atomic_with(&dir.join("eval.json"), |w| {
        serde_json::to_writer_pretty(
            &mut *w,
            &serde_json::json!({ "accuracy": ev.accuracy, "accuracy_proportion_weighted": ev.accuracy_weighted, "confusion": ev.confusion, "wall_s": ev.wall_s }),
        )?;
        Ok::<(), anyhow::Error>(())
    })
}

/// Runs `spikelab train stdp`.
pub fn train(args: &TrainStdpArgs) -> Result<()> {
    let train_set = load(&args.data, Split::Train, None)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let checkpoint = args.out.join("model.safetensors");
    if args.fresh && checkpoint.exists() {
        std::fs::remove_file(&checkpoint)
            .with_context(|| format!("cannot remove {}", checkpoint.display()))?;
    }
    if checkpoint.exists() {
        eprintln!("resuming from {}", checkpoint.display());
    }
    let opts = TrainOptions {
        config: DiehlCookConfig {
            n_neurons: args.neurons,
            seed: args.seed,
            threads: args.threads,
            integration: if args.integration == "euler" {
                Integration::Euler
            } else {
                Integration::ExponentialEuler
            },
            ..Default::default()
        },
        epochs: args.epochs,
        examples: args.examples,
        assign_examples: args.assign_examples,
        checkpoint: Some(checkpoint.clone()),
        checkpoint_every: args.checkpoint_every,
        ..Default::default()
    };
    let per_epoch = args
        .examples
        .unwrap_or(train_set.labels.len())
        .min(train_set.labels.len());
    let train_bar = bar(per_epoch * args.epochs, "train");
    let assign_bar = bar(args.assign_examples.min(train_set.labels.len()), "assign");
    assign_bar.finish_and_clear();
    let mut assign_started = false;
    let trained = dc::train(&opts, &train_set.images, &train_set.labels, |p| {
        match p.phase {
            Phase::Train => report(&train_bar, p),
            _ => {
                if !assign_started {
                    train_bar.finish();
                    assign_started = true;
                    assign_bar.reset();
                }
                report(&assign_bar, p)
            }
        }
    })?;
    assign_bar.finish();
    println!(
        "trained {} examples in {:.1} s ({:.2} ms/example) with {} neurons",
        trained.trained_examples,
        trained.train_s,
        1000.0 * trained.train_s / trained.trained_examples.max(1) as f64,
        args.neurons
    );
    receptive_field_png(&trained.net, &args.out.join("receptive_fields.png"))?;
    let mut net = trained.net;
    if args.test_examples > 0 {
        let test = load(&args.data, Split::Test, Some(args.test_examples))?;
        let b = bar(test.labels.len(), "test");
        let ev = dc::evaluate(&mut net, &trained.labels, &test.images, &test.labels, |p| {
            report(&b, p)
        })?;
        b.finish();
        println!(
            "test accuracy {:.2}% on {} images ({:.1} s); proportion-weighted vote {:.2}%",
            100.0 * ev.accuracy,
            test.labels.len(),
            ev.wall_s,
            100.0 * ev.accuracy_weighted
        );
        write_eval(
            &args.out,
            &ev,
            &format!("Diehl & Cook, {} neurons, test", args.neurons),
        )?;
    }
    println!(
        "checkpoint, receptive_fields.png, confusion.png and eval.json in {}",
        args.out.display()
    );
    Ok(())
}

/// Runs `spikelab eval stdp`.
pub fn eval(args: &EvalStdpArgs) -> Result<()> {
    let (mut net, _, _, labels) = dc::load(&args.checkpoint)?;
    let Some(labels) = labels else {
        bail!("{} holds no label assignments: training did not finish; run `spikelab train stdp` again to resume it", args.checkpoint.display());
    };
    let test = load(&args.data, Split::Test, args.examples)?;
    let b = bar(test.labels.len(), "test");
    let ev = dc::evaluate(&mut net, &labels, &test.images, &test.labels, |p| {
        report(&b, p)
    })?;
    b.finish();
    println!(
        "test accuracy {:.2}% on {} images ({:.1} s, {} neurons); proportion-weighted vote {:.2}%",
        100.0 * ev.accuracy,
        test.labels.len(),
        ev.wall_s,
        net.config.n_neurons,
        100.0 * ev.accuracy_weighted
    );
    std::fs::create_dir_all(&args.out)?;
    write_eval(
        &args.out,
        &ev,
        &format!("Diehl & Cook, {} neurons, test", net.config.n_neurons),
    )?;
    receptive_field_png(&net, &args.out.join("receptive_fields.png"))?;
    Ok(())
}
