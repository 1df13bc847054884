//! `spikelab train stdp` and `spikelab eval stdp`: the Diehl & Cook (2015) unsupervised
//! STDP network on MNIST, with a progress bar showing the running accuracy,
//! checkpoints that resume after a kill, a PNG of the learned receptive fields and a
//! confusion matrix. The workflow is `spikelab_train::stdp::session`; this module maps
//! arguments to its configurations and draws the bars and figures.

use crate::plot;
use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use spikelab_core::neuron::Integration;
use spikelab_train::stdp::diehl_cook::DiehlCook;
use spikelab_train::stdp::session::{
    self, StdpEvalConfig, StdpMonitor, StdpTrainConfig, TestReport,
};
use spikelab_train::stdp::train::{Evaluation, Phase, Progress};
use std::path::{Path, PathBuf};

/// Arguments of `spikelab train stdp`.
#[derive(Args, Debug)]
pub struct TrainStdpArgs {
    /// Directory with the MNIST IDX files (gzip or raw), or its parent (default: the
    /// `mnist` folder of the data cache that `spikelab data fetch mnist` fills).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Excitatory neurons (the paper reports 100, 400, 1600, 6400).
    #[arg(long, default_value_t = 400)]
    pub neurons: usize,
    /// Passes over the training images.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Training images per epoch (default: all 60,000); `--train-limit` as in
    /// `train surrogate`.
    #[arg(long, visible_alias = "train-limit")]
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
    /// Seconds between checkpoints (0 = by examples only); whichever comes first.
    #[arg(long, default_value_t = 60.0)]
    pub checkpoint_every_s: f64,
    /// Continue the run in the output directory from its checkpoint.
    #[arg(long, conflicts_with = "fresh")]
    pub resume: bool,
    /// Start afresh even if a checkpoint exists in the output directory (`--force`
    /// as in `train surrogate`).
    #[arg(long, visible_alias = "force")]
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
    /// Directory with the MNIST IDX files, or its parent (default: the data cache's
    /// `mnist` folder, as for `train stdp`).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Test images to classify (default all 10,000).
    #[arg(long)]
    pub examples: Option<usize>,
    /// Output directory for the confusion matrix and metrics (default: the
    /// checkpoint's folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `--data`, or the data cache's `mnist` folder (where `spikelab data fetch mnist`
/// puts the files), the one default every command shares.
pub fn mnist_dir(data: &Option<PathBuf>) -> PathBuf {
    data.clone()
        .unwrap_or_else(|| spikelab_data::fetch::default_data_root().join("mnist"))
}

impl EvalStdpArgs {
    /// The output directory: `--out`, or the checkpoint's folder.
    pub fn out_dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            self.checkpoint
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), PathBuf::from)
        })
    }
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

/// The confusion matrix as `confusion.png` in `dir`.
fn confusion_png(dir: &Path, ev: &Evaluation, what: &str) -> Result<()> {
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
    )
}

/// Progress bars of training (train, then assign) and testing.
struct Bars {
    train: ProgressBar,
    assign: ProgressBar,
    assign_started: bool,
    test: ProgressBar,
}

impl Bars {
    fn new() -> Self {
        Bars {
            train: ProgressBar::hidden(),
            assign: ProgressBar::hidden(),
            assign_started: false,
            test: ProgressBar::hidden(),
        }
    }
}

impl StdpMonitor for Bars {
    fn on_resume(&mut self, path: &Path) {
        eprintln!("resuming from {}", path.display());
    }
    fn on_train_start(&mut self, per_epoch: usize, assign: usize) {
        self.train = bar(per_epoch, "train");
        self.assign = bar(assign, "assign");
        self.assign.finish_and_clear();
    }
    fn on_progress(&mut self, p: &Progress) {
        match p.phase {
            Phase::Train => report(&self.train, p),
            Phase::Assign => {
                if !self.assign_started {
                    self.train.finish();
                    self.assign_started = true;
                    self.assign.reset();
                }
                report(&self.assign, p)
            }
            Phase::Test => report(&self.test, p),
        }
    }
    fn on_test_start(&mut self, n: usize) {
        self.test = bar(n, "test");
    }
}

impl TrainStdpArgs {
    /// The library's training configuration.
    pub fn config(&self) -> StdpTrainConfig {
        StdpTrainConfig {
            data: mnist_dir(&self.data),
            neurons: self.neurons,
            epochs: self.epochs,
            examples: self.examples,
            assign_examples: self.assign_examples,
            test_examples: self.test_examples,
            seed: self.seed,
            threads: self.threads,
            out: self.out.clone(),
            checkpoint_every: self.checkpoint_every,
            checkpoint_every_s: self.checkpoint_every_s,
            resume: self.resume,
            fresh: self.fresh,
            integration: if self.integration == "euler" {
                Integration::Euler
            } else {
                Integration::ExponentialEuler
            },
        }
    }
}

/// Runs `spikelab train stdp`.
pub fn train(args: &TrainStdpArgs) -> Result<()> {
    let cfg = args.config();
    let mut bars = Bars::new();
    // Both data sets first: a damaged test set fails now, not after training.
    let (train_set, test_set) = session::load_data(&cfg)?;
    let mut trained = session::train_in_dir_on(&cfg, &train_set, &mut bars)?;
    bars.assign.finish();
    println!(
        "trained {} examples in {:.1} s ({:.2} ms/example) with {} neurons",
        trained.trained_examples,
        trained.train_s,
        1000.0 * trained.train_s / trained.trained_examples.max(1) as f64,
        args.neurons
    );
    receptive_field_png(&trained.net, &args.out.join("receptive_fields.png"))?;
    if let Some(TestReport {
        evaluation: ev,
        images,
    }) = test_set
        .map(|t| session::test_net_on(&mut trained.net, &trained.labels, &t, &mut bars))
        .transpose()?
    {
        bars.test.finish();
        println!(
            "test accuracy {:.2}% on {images} images ({:.1} s); proportion-weighted vote {:.2}%",
            100.0 * ev.accuracy,
            ev.wall_s,
            100.0 * ev.accuracy_weighted
        );
        confusion_png(
            &args.out,
            &ev,
            &format!("Diehl & Cook, {} neurons, test", args.neurons),
        )?;
        session::write_eval_json(&args.out, &ev)?;
    }
    println!(
        "checkpoint, receptive_fields.png, confusion.png and eval.json in {}",
        args.out.display()
    );
    Ok(())
}

/// Runs `spikelab eval stdp`.
pub fn eval(args: &EvalStdpArgs) -> Result<()> {
    let cfg = StdpEvalConfig {
        checkpoint: args.checkpoint.clone(),
        data: mnist_dir(&args.data),
        examples: args.examples,
        out: args.out_dir(),
    };
    let mut bars = Bars::new();
    let (net, r) = session::run_eval(&cfg, &mut bars)?;
    bars.test.finish();
    let ev = &r.evaluation;
    println!(
        "test accuracy {:.2}% on {} images ({:.1} s, {} neurons); proportion-weighted vote {:.2}%",
        100.0 * ev.accuracy,
        r.images,
        ev.wall_s,
        net.config.n_neurons,
        100.0 * ev.accuracy_weighted
    );
    let out = args.out_dir();
    confusion_png(
        &out,
        ev,
        &format!("Diehl & Cook, {} neurons, test", net.config.n_neurons),
    )?;
    receptive_field_png(&net, &out.join("receptive_fields.png"))?;
    println!(
        "eval.json, confusion.png and receptive_fields.png in {}",
        out.display()
    );
    Ok(())
}

#[cfg(test)]
mod vocabulary_tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct TrainCli {
        #[command(flatten)]
        args: TrainStdpArgs,
    }
    #[derive(Parser)]
    struct EvalCli {
        #[command(flatten)]
        args: EvalStdpArgs,
    }

    #[test]
    fn train_stdp_takes_the_words_of_train_surrogate() {
        let a = TrainCli::try_parse_from(["x", "--force", "--train-limit", "100"])
            .unwrap()
            .args;
        assert!(a.fresh);
        assert_eq!(a.examples, Some(100));
    }

    #[test]
    fn without_data_the_fetch_cache_is_read() {
        let a = TrainCli::try_parse_from(["x"]).unwrap().args;
        let root = spikelab_data::fetch::default_data_root();
        assert_eq!(a.config().data, root.join("mnist"));
        let e = EvalCli::try_parse_from(["x", "--data", "d"]).unwrap().args;
        assert_eq!(mnist_dir(&e.data), PathBuf::from("d"));
    }

    #[test]
    fn eval_stdp_writes_beside_its_checkpoint_by_default() {
        let e = EvalCli::try_parse_from(["x", "--checkpoint", "runs/a/model.safetensors"])
            .unwrap()
            .args;
        assert_eq!(e.out_dir(), PathBuf::from("runs/a"));
        let e = EvalCli::try_parse_from(["x", "--checkpoint", "m.safetensors", "--out", "o"])
            .unwrap()
            .args;
        assert_eq!(e.out_dir(), PathBuf::from("o"));
        let e = EvalCli::try_parse_from(["x", "--checkpoint", "m.safetensors"])
            .unwrap()
            .args;
        assert_eq!(e.out_dir(), PathBuf::from("."));
    }
}
