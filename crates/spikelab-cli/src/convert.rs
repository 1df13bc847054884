//! `spikelab train ann`, `spikelab convert` and `spikelab train hybrid`: ANN→SNN
//! conversion end to end — train a ReLU network with the trainer's layers, convert it
//! to an IF network (batch-norm folding, max or percentile normalisation, weights or
//! thresholds), measure accuracy and synaptic operations against the number of time
//! steps (CSV + PNG), save the spiking model (which `eval surrogate --engine` runs on
//! the event-driven engine), and fine-tune it with surrogate gradients at small `T`
//! (hybrid training, Rathi et al. 2020). The work itself is in
//! `spikelab_train::convert` (`ann`, `pipeline`, `hybrid`); this module maps arguments
//! to their configurations, prints, and draws the plots.

use crate::plot;
use crate::surrogate::{default_out, run_session, set_threads, Session, SessionArgs};
use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use spikelab_train::bptt::evaluation::model_file;
use spikelab_train::convert::ann::{self, AnnConfig};
use spikelab_train::convert::curve::{powers_of_two, Curve, CurvePoint};
use spikelab_train::convert::hybrid::{self, HybridConfig};
use spikelab_train::convert::pipeline::{
    self, convert_model, input_encoding, AnnSummary, ConvertConfig, ConvertMonitor,
};
use spikelab_train::convert::{
    ConvertOptions, Converted, ConvertedOutput, MaxPoolMode, Normalization, ScaleMode,
};
use spikelab_train::prelude::*;
use std::path::{Path, PathBuf};

/// Arguments of `spikelab train ann`.
#[derive(Args, Debug)]
pub struct AnnArgs {
    /// Dataset directory (MNIST-format IDX files, e.g. ../shared/data/mnist).
    #[arg(long)]
    pub data: PathBuf,
    /// Architecture, as for `train surrogate` (`32C5-AP2-64C5-AP2-128-10`); hidden
    /// layers get ReLUs, the last layer gives the logits. A JSON network spec works too.
    #[arg(long)]
    pub arch: String,
    /// Epochs.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Samples per batch.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// Optimizer: sgd (momentum 0.9), adam, adamw.
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// Weight decay (default 0; 0.01 for adamw).
    #[arg(long)]
    pub weight_decay: Option<f32>,
    /// Learning-rate schedule: constant, cosine[:<min_lr>], step:<epochs>:<gamma>,
    /// exponential:<gamma>.
    #[arg(long, default_value = "cosine")]
    pub schedule: String,
    /// Seed of initialisation, shuffling and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Output directory (default: runs/ann_<arch>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Checkpoints, resumption, limits and progress output.
    #[command(flatten)]
    pub session: SessionArgs,
}

/// Runs `spikelab train ann`: the trainer of `train surrogate` with one time step,
/// analog input, ReLU hidden layers and cross-entropy on the logits
/// (`spikelab_train::convert::ann`).
pub fn train_ann(a: &AnnArgs) -> Result<Trainer> {
    let session = Session {
        data: a.data.clone(),
        series: None,
        events: None,
        epochs: a.epochs,
        out: a.out.clone().unwrap_or_else(|| {
            let d = default_out(&a.arch);
            d.with_file_name(format!(
                "ann_{}",
                d.file_name().unwrap_or_default().to_string_lossy()
            ))
        }),
        control: a.session.clone(),
        threads: a.threads,
    };
    run_session(&session, |shape| {
        let spec = if a.arch.ends_with(".json") {
            let text = std::fs::read_to_string(&a.arch)
                .with_context(|| format!("cannot read {}", a.arch))?;
            NetSpec::from_json(&text, &a.arch)?
        } else {
            ann::ann_spec(&a.arch, shape)?
        };
        ann::check_ann(&spec)?;
        let config = AnnConfig {
            epochs: a.epochs,
            batch_size: a.batch,
            lr: a.lr,
            optimizer: OptimizerSpec::parse(&a.optimizer, a.weight_decay)?,
            schedule: Schedule::parse(&a.schedule)?,
            seed: a.seed,
        };
        Ok(ann::ann_trainer(&spec, &config)?)
    })
}

/// Arguments of `spikelab convert`.
#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// The ANN: a model file or a run directory of `spikelab train ann`.
    #[arg(long)]
    pub model: PathBuf,
    /// Dataset directory (training samples calibrate, test samples evaluate).
    #[arg(long)]
    pub data: PathBuf,
    /// Output directory: model.safetensors (the spiking network), conversion.json,
    /// curve.csv, curve.png, synops.png (default: <model dir>/snn).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Normalisation: max (largest activation) or p<percentile> (robust, e.g. p99.9).
    #[arg(long, default_value = "p99.9")]
    pub norm: String,
    /// Where the scale goes: weights (thresholds 1), thresholds (λ as thresholds; the
    /// same network for IF neurons) or spikes (spike-based layer-wise threshold
    /// balancing, Sengupta et al. 2019: thresholds from the currents in the SNN).
    #[arg(long, default_value = "weights")]
    pub scale: String,
    /// Time steps of spike-based balancing (`--scale spikes`).
    #[arg(long, default_value_t = 64)]
    pub balance_steps: usize,
    /// Training samples of spike-based balancing (`--scale spikes`).
    #[arg(long, default_value_t = 1000)]
    pub balance_samples: usize,
    /// Max pooling: spikes (max pooling of the spikes, an OR) or avg (average pooling).
    #[arg(long, default_value = "spikes")]
    pub max_pool: String,
    /// Output layer: membrane (non-leaky integrator) or spikes (IF neurons, counts).
    #[arg(long, default_value = "membrane")]
    pub output: String,
    /// Training samples for the activation statistics.
    #[arg(long, default_value_t = 10_000)]
    pub calibration_samples: usize,
    /// Input encoding: analog (pixel intensity as a constant current) or rate
    /// (Bernoulli spikes).
    #[arg(long, default_value = "analog")]
    pub input: String,
    /// Time steps stored with the spiking model (what `eval surrogate` and `train
    /// hybrid` use unless told otherwise).
    #[arg(long, default_value_t = 64)]
    pub steps: usize,
    /// Largest T of the curve (evaluated at every T from 1 to this; printed at 1, 2, 4, …).
    #[arg(long, default_value_t = 256)]
    pub max_steps: usize,
    /// Evaluate on the first N test samples only.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Samples per forward pass of the curve.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Seed of rate-coded input.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// What `spikelab convert` measured.
#[derive(Debug)]
pub struct ConvertReport {
    /// ANN test accuracy (%).
    pub ann_accuracy: f64,
    /// The converted network's curve.
    pub curve: Curve,
    /// Where the spiking model was written.
    pub model: PathBuf,
}

/// Prints the conversion's results as they come, with a progress bar for the curve.
struct Printer {
    bar: ProgressBar,
    quiet: bool,
    max_steps: usize,
    options: ConvertOptions,
}

impl Monitor for Printer {
    fn on_eval(&mut self, done: usize, total: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
    }
}

impl ConvertMonitor for Printer {
    fn on_ann(&mut self, ann: &AnnSummary) {
        println!(
            "ANN {}: test accuracy {:.2}% on {} samples, {} multiply-accumulates per inference",
            ann.model.display(),
            ann.accuracy,
            ann.samples,
            ann.macs
        );
    }
    fn on_converted(&mut self, c: &Converted, seconds: f64, calibration: usize) {
        println!(
            "converted in {seconds:.1} s ({calibration} calibration samples, {:?}, {:?} scaling):",
            self.options.normalization, self.options.scale
        );
        for s in &c.scales {
            println!(
                "  layer {:>2} {:<7} max activation {:>8.4}  λ {:>8.4}  weights ×{:.4}  bias ×{:.4}  threshold {}",
                s.snn_layer,
                s.kind,
                s.max_activation,
                s.lambda,
                s.weight_factor,
                s.bias_factor,
                s.threshold.map_or("- (readout)".to_string(), |t| format!("{t:.4}"))
            );
        }
        self.bar = bar(self.quiet, &format!("T = 1..{}", self.max_steps));
    }
    fn on_curve(&mut self, curve: &Curve, ann: &AnnSummary) {
        self.bar.finish_and_clear();
        println!(
            "SNN on {} test samples ({:.1} s):\n      T  accuracy  Δ vs ANN   synaptic ops/inference  spikes/inference",
            curve.samples, curve.seconds
        );
        let shown = powers_of_two(self.max_steps);
        for p in curve.points.iter().filter(|p| shown.contains(&p.steps)) {
            println!(
                "  {:>5}  {:>7.2}%  {:>+7.2}   {:>22.0}  {:>16.0}",
                p.steps,
                p.accuracy,
                p.accuracy - ann.accuracy,
                p.synops_per_inference,
                p.spikes_per_inference
            );
        }
    }
}

fn bar(quiet: bool, what: &str) -> ProgressBar {
    if quiet {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(1);
        b.set_style(
            ProgressStyle::with_template("{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len}")
                .expect("valid template"),
        );
        b.set_prefix(what.to_string());
        b
    }
}

impl ConvertArgs {
    /// The library's conversion configuration.
    pub fn config(&self) -> Result<ConvertConfig> {
        let encoding = input_encoding(&self.input)?;
        let options = ConvertOptions {
            normalization: Normalization::parse(&self.norm)?,
            scale: ScaleMode::parse(&self.scale)?,
            max_pool: MaxPoolMode::parse(&self.max_pool)?,
            output: ConvertedOutput::parse(&self.output)?,
            calibration_samples: self.calibration_samples,
            batch_size: 256,
            encoding,
            balance_steps: self.balance_steps,
            balance_samples: self.balance_samples,
        };
        Ok(ConvertConfig {
            model: self.model.clone(),
            data: self.data.clone(),
            out: self.out.clone(),
            input: self.input.clone(),
            options,
            steps: self.steps,
            max_steps: self.max_steps,
            limit: self.limit,
            batch: self.batch,
            seed: self.seed,
        })
    }
}

/// Runs `spikelab convert` (`spikelab_train::convert::pipeline`) and draws curve.png
/// and synops.png.
pub fn convert_cmd(a: &ConvertArgs) -> Result<ConvertReport> {
    set_threads(a.threads)?;
    let cfg = a.config()?;
    let mut printer = Printer {
        bar: ProgressBar::hidden(),
        quiet: a.quiet,
        max_steps: a.max_steps,
        options: cfg.options.clone(),
    };
    let r = convert_model(&cfg, &mut printer)?;
    plot_curves(&r)?;
    println!(
        "wrote {} (T = {}), curve.csv, curve.png, synops.png, conversion.json",
        r.model.display(),
        a.steps
    );
    Ok(ConvertReport {
        ann_accuracy: r.ann_accuracy,
        curve: r.curve,
        model: r.model,
    })
}

/// curve.png (accuracy vs T, SNN and ANN) and synops.png (synaptic operations vs T,
/// with the ANN's multiply-accumulates) in the report's output directory.
fn plot_curves(r: &pipeline::ConvertReport) -> Result<()> {
    let line = |f: &dyn Fn(&CurvePoint) -> f64| -> Vec<(f64, f64)> {
        r.curve
            .points
            .iter()
            .map(|p| (p.steps as f64, f(p)))
            .collect()
    };
    let acc = line(&|p| p.accuracy);
    let ann_line = line(&|_| r.ann_accuracy);
    plot::lines(
        &r.out.join("curve.png"),
        "converted SNN: test accuracy vs time steps",
        "time steps T",
        "accuracy (%)",
        &[
            plot::Series {
                label: "SNN",
                points: &acc,
            },
            plot::Series {
                label: "ANN",
                points: &ann_line,
            },
        ],
        true,
    )?;
    let ops = line(&|p| p.synops_per_inference / 1e6);
    let macs_line = line(&|_| r.ann.macs as f64 / 1e6);
    plot::lines(
        &r.out.join("synops.png"),
        "synaptic operations per inference",
        "time steps T",
        "millions per inference",
        &[
            plot::Series {
                label: "SNN synaptic events",
                points: &ops,
            },
            plot::Series {
                label: "ANN multiply-accumulates",
                points: &macs_line,
            },
        ],
        true,
    )?;
    Ok(())
}

/// Arguments of `spikelab train hybrid`.
#[derive(Args, Debug)]
pub struct HybridArgs {
    /// The converted network: a model file or the output directory of `spikelab convert`.
    #[arg(long)]
    pub model: PathBuf,
    /// Dataset directory.
    #[arg(long)]
    pub data: PathBuf,
    /// Time steps per sample.
    #[arg(long, default_value_t = 8)]
    pub steps: usize,
    /// Epochs.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Samples per batch.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f32,
    /// Optimizer: sgd (momentum 0.9), adam, adamw.
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// Weight decay.
    #[arg(long)]
    pub weight_decay: Option<f32>,
    /// Learning-rate schedule.
    #[arg(long, default_value = "cosine")]
    pub schedule: String,
    /// Learn the leak β of the hidden layers: no, layer, neuron.
    #[arg(long, default_value = "layer")]
    pub learn_beta: String,
    /// Learn the thresholds: no, layer, neuron.
    #[arg(long, default_value = "layer")]
    pub learn_threshold: String,
    /// Surrogate gradient: fast-sigmoid, atan, sigmoid, triangle, straight-through.
    #[arg(long, default_value = "fast-sigmoid")]
    pub surrogate: String,
    /// Surrogate slope (default: the surrogate's usual one).
    #[arg(long)]
    pub slope: Option<f32>,
    /// Seed of shuffling and input noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Output directory (default: <model dir>/hybrid_T<steps>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Checkpoints, resumption, limits and progress output.
    #[command(flatten)]
    pub session: SessionArgs,
}

fn parse_learn(s: &str, field: &str) -> Result<Learn> {
    Ok(match s {
        "no" | "none" => Learn::No,
        "layer" => Learn::Layer,
        "neuron" => Learn::Neuron,
        _ => bail!(
            "invalid value for `{field}`: `{s}`; allowed: {}",
            Learn::NAMES
        ),
    })
}

/// Runs `spikelab train hybrid`: fine-tunes a converted network with surrogate-gradient
/// BPTT at small `T`, from its converted weights and thresholds, learning weights,
/// leaks and thresholds (`spikelab_train::convert::hybrid`).
pub fn train_hybrid(a: &HybridArgs) -> Result<Trainer> {
    let path = model_file(&a.model);
    let out = a.out.clone().unwrap_or_else(|| {
        path.parent()
            .unwrap_or(Path::new("."))
            .join(format!("hybrid_T{}", a.steps))
    });
    let session = Session {
        data: a.data.clone(),
        series: None,
        events: None,
        epochs: a.epochs,
        out,
        control: a.session.clone(),
        threads: a.threads,
    };
    run_session(&session, |_| {
        let converted = hybrid::load_converted(&path)?;
        let learn_beta = parse_learn(&a.learn_beta, "learn-beta")?;
        let learn_threshold = parse_learn(&a.learn_threshold, "learn-threshold")?;
        let kind = SurrogateKind::parse(&a.surrogate)?;
        let config = HybridConfig {
            steps: a.steps,
            epochs: a.epochs,
            batch_size: a.batch,
            lr: a.lr,
            optimizer: OptimizerSpec::parse(&a.optimizer, a.weight_decay)?,
            schedule: Schedule::parse(&a.schedule)?,
            learn_beta,
            learn_threshold,
            surrogate: Surrogate::with_slope(kind, a.slope.unwrap_or(kind.default_slope())),
            seed: a.seed,
        };
        let (t, copied) = hybrid::hybrid_trainer(&converted, &config)?;
        if !a.session.quiet {
            println!(
                "hybrid fine-tuning of {} ({copied} parameters carried over)",
                path.display()
            );
        }
        Ok(t)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::surrogate::tests::write_toy_mnist;
    use crate::surrogate::{eval, EvalArgs};
    use clap::Parser;

    #[derive(Parser)]
    struct Ann {
        #[command(flatten)]
        args: AnnArgs,
    }
    #[derive(Parser)]
    struct Conv {
        #[command(flatten)]
        args: ConvertArgs,
    }
    #[derive(Parser)]
    struct Hyb {
        #[command(flatten)]
        args: HybridArgs,
    }

    fn strs(v: &[&str]) -> Vec<String> {
        std::iter::once("x")
            .chain(v.iter().copied())
            .map(String::from)
            .collect()
    }

    /// train ann → convert (curve files, model) → the engine agrees with the trainer →
    /// hybrid fine-tuning at T = 4.
    #[test]
    fn ann_convert_engine_and_hybrid_end_to_end() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_toy_mnist(d, 320, 100);
        let ds = d.display().to_string();
        let ann_dir = d.join("ann").display().to_string();
        let ann = Ann::try_parse_from(strs(&[
            "--data",
            &ds,
            "--arch",
            "4C3p1bn-AP2-16-4",
            "--epochs",
            "2",
            "--batch",
            "16",
            "--lr",
            "0.005",
            "--out",
            &ann_dir,
            "--quiet",
        ]))
        .unwrap()
        .args;
        let t = train_ann(&ann).unwrap();
        assert_eq!(t.config.steps, 1);
        let snn_dir = d.join("snn").display().to_string();
        let conv = Conv::try_parse_from(strs(&[
            "--model",
            &ann_dir,
            "--data",
            &ds,
            "--out",
            &snn_dir,
            "--max-steps",
            "32",
            "--steps",
            "16",
            "--calibration-samples",
            "200",
            "--quiet",
        ]))
        .unwrap()
        .args;
        let report = convert_cmd(&conv).unwrap();
        assert!(report.ann_accuracy > 90.0, "ANN {}", report.ann_accuracy);
        let last = report.curve.points.last().unwrap();
        assert!(
            last.accuracy > report.ann_accuracy - 3.0,
            "{:?}",
            report.curve
        );
        for f in [
            "model.safetensors",
            "curve.csv",
            "curve.png",
            "synops.png",
            "conversion.json",
        ] {
            assert!(d.join("snn").join(f).is_file(), "{f}");
        }
        let csv = std::fs::read_to_string(d.join("snn/curve.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + 32); // T = 1, 2, …, 32
                                                 // The converted network on the event-driven engine.
        let r = eval(&EvalArgs {
            model: d.join("snn"),
            data: d.to_path_buf(),
            limit: Some(40),
            engine: true,
            dt_ms: 1.0,
            export_toml: None,
            threads: 0,
            steps: None,
        })
        .unwrap();
        let ev = r.engine.unwrap();
        assert_eq!(ev.predictions, r.trainer.predictions);
        // Hybrid fine-tuning.
        let hyb_dir = d.join("hybrid").display().to_string();
        let h = Hyb::try_parse_from(strs(&[
            "--model", &snn_dir, "--data", &ds, "--steps", "4", "--epochs", "1", "--batch", "16",
            "--lr", "0.001", "--out", &hyb_dir, "--quiet",
        ]))
        .unwrap()
        .args;
        let ht = train_hybrid(&h).unwrap();
        let acc = ht.state.history[0].test_accuracy.unwrap();
        assert!(acc > 80.0, "hybrid accuracy {acc}");
        assert!(ht
            .net
            .named_params()
            .iter()
            .any(|(n, p)| n.ends_with(".beta") && p.trainable));
        // Bad options name the field.
        let bad = Conv::try_parse_from(strs(&[
            "--model", &ann_dir, "--data", &ds, "--norm", "median",
        ]))
        .unwrap()
        .args;
        let e = convert_cmd(&bad).unwrap_err().to_string();
        assert!(e.contains("norm"), "{e}");
        // Converting a spiking network names the layer.
        let e = convert_cmd(
            &Conv::try_parse_from(strs(&["--model", &hyb_dir, "--data", &ds]))
                .unwrap()
                .args,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("(lif)"), "{e}");
    }
}
