//! The Diehl & Cook (2015) workflow in an output directory (`spikelab train stdp`,
//! `spikelab eval stdp`): load MNIST, train with checkpoints that resume after a kill
//! (`model.safetensors` in the output directory; [`StdpTrainConfig::fresh`] starts
//! over), assign labels, classify the test images and write `eval.json`.
//!
//! [`run_train`] does it all; its steps ([`train_in_dir`], [`test_trained`],
//! [`write_eval_json`]) are public for callers that draw figures in between (the
//! command line writes the receptive fields after training and the confusion matrix
//! with the evaluation). Progress goes to a [`StdpMonitor`].

use super::diehl_cook::{DiehlCook, DiehlCookConfig, DiehlCookError, Labels, Result, PIXELS};
use super::train::{self as dc, Evaluation, Progress, TrainOptions, Trained};
use serde::{Deserialize, Serialize};
use spikelab_core::neuron::Integration;
use spikelab_data::images::{load_mnist, ImageSet, Split};
use std::path::{Path, PathBuf};

/// File name of the checkpoint (and final network) in the output directory.
pub const STDP_CHECKPOINT_FILE: &str = "model.safetensors";

/// A training run (the defaults are `spikelab train stdp`'s).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StdpTrainConfig {
    /// Directory with the MNIST IDX files (gzip or raw).
    pub data: PathBuf,
    /// Excitatory neurons.
    pub neurons: usize,
    /// Passes over the training images.
    pub epochs: usize,
    /// Training images per epoch (default: all).
    pub examples: Option<usize>,
    /// Training images shown with learning frozen to assign labels.
    pub assign_examples: usize,
    /// Test images to evaluate after training (0 = skip).
    pub test_examples: usize,
    /// Seed.
    pub seed: u64,
    /// Simulation threads.
    pub threads: usize,
    /// Output directory (checkpoint, figures, metrics).
    pub out: PathBuf,
    /// Examples between checkpoints.
    pub checkpoint_every: usize,
    /// Seconds between checkpoints (0 = by examples only), whichever comes first.
    pub checkpoint_every_s: f64,
    /// Continue the checkpoint in the output directory (without it, or `fresh`, a
    /// checkpoint there is an error, as for `train surrogate`).
    pub resume: bool,
    /// Start afresh even if a checkpoint exists in the output directory.
    pub fresh: bool,
    /// Neuron integration (exponential Euler is stable; Euler is the paper's code).
    pub integration: Integration,
}

impl Default for StdpTrainConfig {
    fn default() -> Self {
        StdpTrainConfig {
            data: PathBuf::from("../shared/data/mnist"),
            neurons: 400,
            epochs: 1,
            examples: None,
            assign_examples: 10_000,
            test_examples: 10_000,
            seed: 0,
            threads: 1,
            out: PathBuf::from("out/stdp"),
            checkpoint_every: 1000,
            checkpoint_every_s: 60.0,
            resume: false,
            fresh: false,
            integration: Integration::ExponentialEuler,
        }
    }
}

impl StdpTrainConfig {
    /// The checkpoint file in the output directory.
    pub fn checkpoint(&self) -> PathBuf {
        self.out.join(STDP_CHECKPOINT_FILE)
    }
    /// The protocol's options.
    pub fn options(&self) -> TrainOptions {
        TrainOptions {
            config: DiehlCookConfig {
                n_neurons: self.neurons,
                seed: self.seed,
                threads: self.threads,
                integration: self.integration,
                ..Default::default()
            },
            epochs: self.epochs,
            examples: self.examples,
            assign_examples: self.assign_examples,
            checkpoint: Some(self.checkpoint()),
            checkpoint_every: self.checkpoint_every,
            checkpoint_every_s: self.checkpoint_every_s,
            ..Default::default()
        }
    }
}

/// Receives progress of the workflow (all optional).
pub trait StdpMonitor {
    /// Training continues the checkpoint `path`.
    fn on_resume(&mut self, _path: &Path) {}
    /// Training starts: images per epoch and assignment images (after limits).
    fn on_train_start(&mut self, _per_epoch: usize, _assign: usize) {}
    /// Progress of training, label assignment or testing.
    fn on_progress(&mut self, _p: &Progress) {}
    /// Testing starts on `n` images.
    fn on_test_start(&mut self, _n: usize) {}
}

/// A monitor that does nothing.
impl StdpMonitor for () {}

/// The test evaluation of a trained network.
#[derive(Clone, Debug)]
pub struct TestReport {
    /// Accuracies, confusion matrix, wall time.
    pub evaluation: Evaluation,
    /// Test images classified.
    pub images: usize,
}

/// What [`run_train`] did.
pub struct StdpReport {
    /// The trained network and its labels.
    pub trained: Trained,
    /// The test evaluation (none with `test_examples = 0`).
    pub test: Option<TestReport>,
}

/// Loads a split of MNIST from `dir` (28×28 images), keeping the first `limit` images.
pub fn load_images(dir: &Path, split: Split, limit: Option<usize>) -> Result<ImageSet> {
    let set = load_mnist(dir, split).map_err(|e| {
        DiehlCookError::Invalid(format!("loading MNIST from {}: {e}", dir.display()))
    })?;
    check_images(&set, &dir.display().to_string())?;
    Ok(match limit {
        Some(n) => set.truncated(n),
        None => set,
    })
}

/// Checks that `set` (named `what` in the error) holds 28×28 grey-scale images.
pub fn check_images(set: &ImageSet, what: &str) -> Result<()> {
    if set.rows * set.cols * set.channels != PIXELS {
        return Err(DiehlCookError::Invalid(format!(
            "{what}: images are {}×{}×{}, the network needs 28×28",
            set.rows, set.cols, set.channels
        )));
    }
    Ok(())
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| DiehlCookError::Invalid(format!("cannot create {}: {e}", dir.display())))
}

/// Trains in the output directory: removes its checkpoint with `fresh`, resumes from
/// it otherwise, and leaves the trained network (with labels) there.
pub fn train_in_dir(cfg: &StdpTrainConfig, monitor: &mut dyn StdpMonitor) -> Result<Trained> {
    let train_set = load_images(&cfg.data, Split::Train, None)?;
    train_in_dir_on(cfg, &train_set, monitor)
}

/// [`train_in_dir`] on training images in memory (`cfg.data` is not read).
pub fn train_in_dir_on(
    cfg: &StdpTrainConfig,
    train_set: &ImageSet,
    monitor: &mut dyn StdpMonitor,
) -> Result<Trained> {
    check_images(train_set, "training images")?;
    create_dir(&cfg.out)?;
    let checkpoint = cfg.checkpoint();
    if cfg.fresh && checkpoint.exists() {
        std::fs::remove_file(&checkpoint).map_err(|e| {
            DiehlCookError::Invalid(format!("cannot remove {}: {e}", checkpoint.display()))
        })?;
    }
    if checkpoint.exists() {
        if !cfg.resume {
            return Err(DiehlCookError::Invalid(format!(
                "{} holds a checkpoint; pass --resume to continue it or --force to start over",
                cfg.out.display()
            )));
        }
        monitor.on_resume(&checkpoint);
    }
    let n = train_set.labels.len();
    monitor.on_train_start(cfg.examples.unwrap_or(n).min(n), cfg.assign_examples.min(n));
    dc::train(&cfg.options(), &train_set.images, &train_set.labels, |p| {
        monitor.on_progress(p)
    })
}

/// Classifies the first `examples` test images of `data` with `net` and its labels.
pub fn test_net(
    net: &mut DiehlCook,
    labels: &Labels,
    data: &Path,
    examples: Option<usize>,
    monitor: &mut dyn StdpMonitor,
) -> Result<TestReport> {
    let test = load_images(data, Split::Test, examples)?;
    test_net_on(net, labels, &test, monitor)
}

/// Classifies the images of `test` with `net` and its labels.
pub fn test_net_on(
    net: &mut DiehlCook,
    labels: &Labels,
    test: &ImageSet,
    monitor: &mut dyn StdpMonitor,
) -> Result<TestReport> {
    check_images(test, "test images")?;
    monitor.on_test_start(test.labels.len());
    let evaluation = dc::evaluate(net, labels, &test.images, &test.labels, |p| {
        monitor.on_progress(p)
    })?;
    Ok(TestReport {
        evaluation,
        images: test.labels.len(),
    })
}

/// Writes `eval.json` (accuracies, confusion matrix, wall time) into `dir`.
pub fn write_eval_json(dir: &Path, ev: &Evaluation) -> Result<()> {
    spikelab_core::io::write_atomic_with(&dir.join("eval.json"), |w| {
        serde_json::to_writer_pretty(
            &mut *w,
            &serde_json::json!({ "accuracy": ev.accuracy, "accuracy_proportion_weighted": ev.accuracy_weighted, "confusion": ev.confusion, "wall_s": ev.wall_s }),
        )
        .map_err(|e| DiehlCookError::Invalid(format!("cannot write eval.json: {e}")))
    })
}

/// Trains, tests and writes `eval.json` (see the module docs). Both data sets are
/// loaded before training starts, so a missing or damaged test set is reported at
/// once, not after the training it would waste.
pub fn run_train(cfg: &StdpTrainConfig, monitor: &mut dyn StdpMonitor) -> Result<StdpReport> {
    let (train, test) = load_data(cfg)?;
    run_train_on(cfg, &train, test.as_ref(), monitor)
}

/// The training images and the first `cfg.test_examples` test images (None when it
/// is 0) of `cfg.data`: load both before training, so that a missing or damaged test
/// set is reported before the training it would waste.
pub fn load_data(cfg: &StdpTrainConfig) -> Result<(ImageSet, Option<ImageSet>)> {
    let train = load_images(&cfg.data, Split::Train, None)?;
    let test = match cfg.test_examples {
        0 => None,
        n => Some(load_images(&cfg.data, Split::Test, Some(n))?),
    };
    Ok((train, test))
}

/// [`run_train`] on data in memory: `train` images, and `test` images (None: no
/// test; at most `cfg.test_examples` of them are used). `cfg.data` is not read.
pub fn run_train_on(
    cfg: &StdpTrainConfig,
    train: &ImageSet,
    test: Option<&ImageSet>,
    monitor: &mut dyn StdpMonitor,
) -> Result<StdpReport> {
    if let Some(t) = test {
        check_images(t, "test images")?;
    }
    let mut trained = train_in_dir_on(cfg, train, monitor)?;
    let test = match test {
        Some(t) if cfg.test_examples > 0 => {
            let t = t.take(cfg.test_examples);
            Some(test_net_on(&mut trained.net, &trained.labels, &t, monitor)?)
        }
        _ => None,
    };
    if let Some(t) = &test {
        write_eval_json(&cfg.out, &t.evaluation)?;
    }
    Ok(StdpReport { trained, test })
}

/// An evaluation of a saved network (the defaults are `spikelab eval stdp`'s).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StdpEvalConfig {
    /// Checkpoint written by training.
    pub checkpoint: PathBuf,
    /// Directory with the MNIST IDX files.
    pub data: PathBuf,
    /// Test images to classify (default all).
    pub examples: Option<usize>,
    /// Output directory for the metrics.
    pub out: PathBuf,
}

impl Default for StdpEvalConfig {
    fn default() -> Self {
        StdpEvalConfig {
            checkpoint: PathBuf::from("out/stdp").join(STDP_CHECKPOINT_FILE),
            data: PathBuf::from("../shared/data/mnist"),
            examples: None,
            out: PathBuf::from("out/stdp"),
        }
    }
}

/// Loads a finished network: the error says so when training had not finished.
pub fn load_trained(checkpoint: &Path) -> Result<(DiehlCook, Labels)> {
    let (net, _, _, labels) = dc::load(checkpoint)?;
    let Some(labels) = labels else {
        return Err(DiehlCookError::Invalid(format!("{} holds no label assignments: training did not finish; run `spikelab train stdp --resume` with the same options to finish it", checkpoint.display())));
    };
    Ok((net, labels))
}

/// Evaluates a saved network on the test images and writes `eval.json` into
/// `cfg.out`; returns the network and the report.
pub fn run_eval(
    cfg: &StdpEvalConfig,
    monitor: &mut dyn StdpMonitor,
) -> Result<(DiehlCook, TestReport)> {
    let (mut net, labels) = load_trained(&cfg.checkpoint)?;
    let r = test_net(&mut net, &labels, &cfg.data, cfg.examples, monitor)?;
    std::fs::create_dir_all(&cfg.out).map_err(|e| {
        DiehlCookError::Invalid(format!("cannot create {}: {e}", cfg.out.display()))
    })?;
    write_eval_json(&cfg.out, &r.evaluation)?;
    Ok((net, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes raw IDX files of `n` `side`×`side` images (split prefix `train`/`t10k`).
    fn write_idx(dir: &Path, prefix: &str, n: usize, side: usize) {
        let mut images = vec![0u8, 0, 8, 3];
        for d in [n, side, side] {
            images.extend_from_slice(&(d as u32).to_be_bytes());
        }
        let mut labels = vec![0u8, 0, 8, 1];
        labels.extend_from_slice(&(n as u32).to_be_bytes());
        for i in 0..n {
            let y = (i % 2) as u8;
            for p in 0..side * side {
                let on = (p % side < side / 2) == (y == 0);
                images.push(if on { 255 } else { 0 });
            }
            labels.push(y);
        }
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), labels).unwrap();
    }

    #[derive(Default)]
    struct Log {
        resumed: usize,
        tested: Option<usize>,
    }
    impl StdpMonitor for Log {
        fn on_resume(&mut self, _path: &Path) {
            self.resumed += 1;
        }
        fn on_test_start(&mut self, n: usize) {
            self.tested = Some(n);
        }
    }

    #[test]
    fn trains_resumes_starts_fresh_and_evaluates_in_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        write_idx(dir.path(), "train", 4, 28);
        write_idx(dir.path(), "t10k", 2, 28);
        let cfg = StdpTrainConfig {
            data: dir.path().to_path_buf(),
            neurons: 4,
            examples: Some(2),
            assign_examples: 2,
            test_examples: 2,
            out: dir.path().join("out"),
            checkpoint_every: 1,
            ..StdpTrainConfig::default()
        };
        let mut log = Log::default();
        let r = run_train(&cfg, &mut log).unwrap();
        assert_eq!((log.resumed, log.tested), (0, Some(2)));
        assert_eq!(r.trained.trained_examples, 2);
        assert_eq!(r.test.unwrap().images, 2);
        assert!(cfg.out.join("eval.json").is_file() && cfg.checkpoint().is_file());
        // Again in the same directory: refused without --resume, as train surrogate.
        let e = train_in_dir(&cfg, &mut Log::default())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("--resume") && e.contains("--force"), "{e}");
        // With it, it resumes (nothing left to learn).
        let resume = StdpTrainConfig {
            resume: true,
            ..cfg.clone()
        };
        let mut log = Log::default();
        let again = train_in_dir(&resume, &mut log).unwrap();
        assert_eq!((log.resumed, again.trained_examples), (1, 0));
        // `fresh` starts over.
        let fresh = StdpTrainConfig {
            fresh: true,
            test_examples: 0,
            ..cfg.clone()
        };
        let mut log = Log::default();
        let r = run_train(&fresh, &mut log).unwrap();
        assert_eq!((log.resumed, r.trained.trained_examples), (0, 2));
        assert!(r.test.is_none());
        // The saved network evaluates on its own.
        let ecfg = StdpEvalConfig {
            checkpoint: cfg.checkpoint(),
            data: dir.path().to_path_buf(),
            examples: Some(1),
            out: dir.path().join("eval"),
        };
        let (_, t) = run_eval(&ecfg, &mut ()).unwrap();
        assert_eq!(t.images, 1);
        assert!(ecfg.out.join("eval.json").is_file());
    }

    #[test]
    fn images_of_the_wrong_size_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        write_idx(dir.path(), "train", 2, 8);
        let e = load_images(dir.path(), Split::Train, None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("28×28"), "{e}");
        let e = load_trained(&dir.path().join("none.safetensors"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("none.safetensors"), "{e}");
    }

    #[test]
    fn a_damaged_test_set_fails_before_training() {
        let dir = tempfile::tempdir().unwrap();
        write_idx(dir.path(), "train", 4, 28);
        write_idx(dir.path(), "t10k", 2, 28);
        let images = dir.path().join("t10k-images-idx3-ubyte");
        let bytes = std::fs::read(&images).unwrap();
        std::fs::write(&images, &bytes[..bytes.len() - 100]).unwrap();
        let cfg = StdpTrainConfig {
            data: dir.path().to_path_buf(),
            neurons: 4,
            examples: Some(2),
            assign_examples: 2,
            test_examples: 2,
            out: dir.path().join("out"),
            ..StdpTrainConfig::default()
        };
        let e = run_train(&cfg, &mut ()).err().unwrap().to_string();
        assert!(e.contains("t10k-images"), "{e}");
        // Nothing was trained or written.
        assert!(!cfg.checkpoint().exists() && !cfg.out.exists());
    }

    #[test]
    fn trains_on_images_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        write_idx(dir.path(), "train", 4, 28);
        write_idx(dir.path(), "t10k", 2, 28);
        let train = load_images(dir.path(), Split::Train, None).unwrap();
        let test = load_images(dir.path(), Split::Test, None).unwrap();
        let cfg = StdpTrainConfig {
            data: dir.path().join("not-read"),
            neurons: 4,
            examples: Some(2),
            assign_examples: 2,
            test_examples: 1,
            out: dir.path().join("out"),
            ..StdpTrainConfig::default()
        };
        let r = run_train_on(&cfg, &train, Some(&test), &mut ()).unwrap();
        assert_eq!(r.trained.trained_examples, 2);
        assert_eq!(r.test.unwrap().images, 1);
        let small = ImageSet {
            rows: 8,
            cols: 8,
            images: vec![0; 64],
            labels: vec![0],
            channels: 1,
        };
        let e = run_train_on(&cfg, &small, None, &mut ())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("28×28"), "{e}");
    }
}
