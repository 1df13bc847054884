//! `spikelab train surrogate` and `spikelab eval surrogate`: training of spiking
//! networks by backpropagation through time with surrogate gradients — a progress bar
//! (loss, accuracy, samples/s), per-epoch test accuracy, checkpoints that resume after
//! a kill (`--resume`), weights saved as safetensors — and evaluation of the trained
//! model in the trainer and, exported, on the event-driven engine (accuracy of both,
//! agreement, synaptic operations per inference).

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use spikelab_train::bptt::evaluation::{self, EvalConfig};
use spikelab_train::bptt::options::{fresh_run, NetOptions, TrainOptions};
use spikelab_train::bptt::session::{self, default_out_dir, SessionConfig, SessionStart};
use spikelab_train::bptt::trainer::{BatchReport, EpochRecord, EvalResult};
use spikelab_train::export::EngineEval;
use spikelab_train::prelude::*;
use std::path::PathBuf;

/// The network: architecture and neuron parameters (shared by `train` and `bench`).
#[derive(Args, Debug, Clone)]
pub struct NetArgs {
    /// Architecture: text such as `784-1000-10` or `12C5-MP2-64C5-MP2-10` (tokens:
    /// <n>, <n>R, <c>C<k>[s<s>][p<p>][bn], MP<k>, AP<k>, D<p>), or a JSON file of a
    /// network spec.
    #[arg(long, default_value = "784-1000-10")]
    pub arch: String,
    /// Neuron model of hidden layers: lif, if, alif, relu.
    #[arg(long, default_value = "lif")]
    pub neuron: String,
    /// Membrane decay per step β = exp(−dt/τ_m).
    #[arg(long, default_value_t = 0.9)]
    pub beta: f32,
    /// Firing threshold.
    #[arg(long, default_value_t = 1.0)]
    pub threshold: f32,
    /// Train β: no, layer (one per layer) or neuron (one per neuron).
    #[arg(long, default_value = "no")]
    pub learn_beta: String,
    /// Train the threshold: no, layer or neuron.
    #[arg(long, default_value = "no")]
    pub learn_threshold: String,
    /// Reset after a spike: subtract, zero, none.
    #[arg(long, default_value = "subtract")]
    pub reset: String,
    /// Do not backpropagate through the reset.
    #[arg(long)]
    pub detach_reset: bool,
    /// Surrogate gradient: fast-sigmoid, atan, sigmoid, triangle, straight-through.
    #[arg(long, default_value = "fast-sigmoid")]
    pub surrogate: String,
    /// Surrogate slope (default: the surrogate's usual one: 25, 2, 5, 1, 1).
    #[arg(long)]
    pub slope: Option<f32>,
    /// Adaptation decay and strength of `alif` neurons.
    #[arg(long, num_args = 2, default_values_t = [0.95, 0.5])]
    pub adaptation: Vec<f32>,
    /// Decay of the leaky-integrator readout used with `--loss ce-membrane`.
    #[arg(long, default_value_t = 0.9)]
    pub readout_beta: f32,
}

impl NetArgs {
    /// The library's network options.
    pub fn options(&self) -> NetOptions {
        NetOptions {
            arch: self.arch.clone(),
            neuron: self.neuron.clone(),
            beta: self.beta,
            threshold: self.threshold,
            learn_beta: self.learn_beta.clone(),
            learn_threshold: self.learn_threshold.clone(),
            reset: self.reset.clone(),
            detach_reset: self.detach_reset,
            surrogate: self.surrogate.clone(),
            slope: self.slope,
            adaptation: [self.adaptation[0], self.adaptation[1]],
            readout_beta: self.readout_beta,
        }
    }

    /// The network for inputs of `input` shape and the given loss.
    pub fn spec(&self, input: FeatShape, loss: &LossSpec) -> Result<NetSpec> {
        Ok(self.options().spec(input, loss)?)
    }
}

/// How to train (shared by `train` and `bench`).
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Time steps per sample.
    #[arg(long, default_value_t = 25)]
    pub steps: usize,
    /// Samples per batch.
    #[arg(long, default_value_t = 128)]
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
    #[arg(long, default_value = "constant")]
    pub schedule: String,
    /// Input encoding: rate, latency, direct, or any encoder of `data show`
    /// (poisson, bernoulli, latency-log, rank-order, log-temporal, temporal-switch,
    /// phase, burst, population, saccades) with its time parameters fitted to the
    /// `--steps` window (one step = 1 ms).
    #[arg(long, default_value = "rate")]
    pub encoding: String,
    /// TOML file with an encoder (`kind = "phase"`, parameters in ms...), the file
    /// `data show --encoder-file` reads; overrides `--encoding`.
    #[arg(long)]
    pub encoder_file: Option<PathBuf>,
    /// Length of one step (ms) in the times of `--encoder-file`.
    #[arg(long, default_value_t = 1.0)]
    pub encoder_dt_ms: f64,
    /// Rate-coding gain (spike probability per step of a white pixel).
    #[arg(long, default_value_t = 1.0)]
    pub gain: f32,
    /// Loss: ce-count, mse-count, ce-membrane.
    #[arg(long, default_value = "ce-count")]
    pub loss: String,
    /// Gradients: bptt (backpropagation through time) or eprop (Bellec et al. 2020:
    /// eligibility traces and a broadcast learning signal, online; for
    /// `<in>-<n>R-<out>` networks with a membrane loss).
    #[arg(long, default_value = "bptt", value_parser = ["bptt", "eprop"])]
    pub learning: String,
    /// Seed of initialisation, shuffling, encoding and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

impl RunArgs {
    /// The library's training options.
    pub fn options(&self) -> TrainOptions {
        TrainOptions {
            steps: self.steps,
            batch_size: self.batch,
            lr: self.lr,
            optimizer: self.optimizer.clone(),
            weight_decay: self.weight_decay,
            schedule: self.schedule.clone(),
            encoding: self.encoding.clone(),
            encoder_toml: None,
            encoder_file: self.encoder_file.clone(),
            encoder_dt_ms: self.encoder_dt_ms,
            gain: self.gain,
            loss: self.loss.clone(),
            seed: self.seed,
            learning: self.learning.clone(),
        }
    }
    /// The loss.
    pub fn loss(&self) -> Result<LossSpec> {
        Ok(self.options().loss()?)
    }
    /// The input encoding for samples of `image` shape.
    pub fn encoding(&self, image: FeatShape) -> Result<Encoding> {
        Ok(self.options().encoding(image)?)
    }
    /// The training configuration for samples of `image` shape.
    pub fn config(&self, epochs: usize, image: FeatShape) -> Result<TrainConfig> {
        Ok(self.options().config(epochs, image)?)
    }
}

/// Sets the size of rayon's global pool (0 = one thread per core).
pub fn set_threads(threads: usize) -> Result<()> {
    if threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .context("cannot start the thread pool")?;
    }
    Ok(())
}

/// Arguments of `spikelab train surrogate`.
#[derive(Args, Debug)]
pub struct SurrogateArgs {
    /// Dataset directory (MNIST-format IDX files, e.g. ../shared/data/mnist; with
    /// `--series`, the folder of the `.ts` files, e.g. ../shared/data/ucr).
    #[arg(long)]
    pub data: PathBuf,
    /// A UCR/UEA time-series problem in `--data` (e.g. JapaneseVowels): samples of
    /// steps × channels (the longest series of either split; shorter ones repeat
    /// their last step), for `--encoding sequence --steps <length>`.
    #[arg(long)]
    pub series: Option<String>,
    /// `--data` is an event-camera data set in the N-MNIST folder layout
    /// (`Train/<label>/*.bin`, `Test/<label>/*.bin`): each recording becomes `--steps`
    /// time-binned frames of 2 × H × W event counts, for `--encoding sequence`.
    #[arg(long, conflicts_with = "series")]
    pub events: bool,
    /// The network.
    #[command(flatten)]
    pub net: NetArgs,
    /// How to train.
    #[command(flatten)]
    pub run: RunArgs,
    /// Epochs.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Start from the network and weights of a saved model (a run directory or model
    /// file: trained, converted, or imported with `nir import`) and fine-tune it with
    /// these training options; `--arch` and the neuron options are then not used.
    #[arg(long, conflicts_with = "resume")]
    pub init: Option<PathBuf>,
    /// Output directory: model.safetensors, checkpoint.safetensors, model.json,
    /// history.csv (default: runs/<arch>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Checkpoints, resumption, limits and progress output.
    #[command(flatten)]
    pub session: SessionArgs,
}

struct Bars {
    bar: ProgressBar,
    quiet: bool,
    epochs: usize,
}

impl Bars {
    fn new(quiet: bool, epochs: usize) -> Self {
        Bars {
            bar: ProgressBar::hidden(),
            quiet,
            epochs,
        }
    }
}

impl Monitor for Bars {
    fn on_batch(&mut self, r: &BatchReport) -> bool {
        if self.quiet {
            return true;
        }
        if self.bar.is_hidden() || self.bar.length() != Some(r.batches as u64) {
            self.bar = ProgressBar::new(r.batches as u64);
            self.bar.set_style(
                ProgressStyle::with_template(
                    "epoch {prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
                )
                .expect("valid template"),
            );
            self.bar
                .set_prefix(format!("{}/{}", r.epoch + 1, self.epochs));
        }
        self.bar.set_position(r.batch as u64);
        self.bar.set_message(format!(
            "loss {:.4} acc {:.2}% {:.0} samples/s",
            r.loss, r.accuracy, r.samples_per_s
        ));
        true
    }
    fn on_eval(&mut self, done: usize, total: usize) {
        if !self.quiet && !self.bar.is_hidden() {
            self.bar
                .set_message(format!("evaluating {done}/{total} test samples"));
        }
    }
    fn on_session_start(&mut self, s: &SessionStart<'_>) {
        let t = s.trainer;
        self.epochs = t.config.epochs;
        if let Some(ckpt) = s.resumed_from {
            println!(
                "resuming {} at epoch {}, batch {}",
                ckpt.display(),
                t.state.epoch + 1,
                t.state.batch
            );
        }
        if !self.quiet {
            println!(
                "{} train / {} test samples of {}, {} steps, batch {}, {} threads, {} kernels",
                s.train_samples,
                s.test_samples,
                s.shape,
                t.config.steps,
                t.config.batch_size,
                rayon::current_num_threads(),
                spikelab_train::nn::kernels::simd_name()
            );
            print!("{}", t.net.summary());
        }
        for r in &t.state.history {
            println!("{}", epoch_line(r, t.config.epochs));
        }
    }
    fn on_epoch(&mut self, r: &EpochRecord) {
        self.bar.finish_and_clear();
        self.bar = ProgressBar::hidden();
        println!("{}", epoch_line(r, self.epochs));
    }
}

fn epoch_line(r: &EpochRecord, epochs: usize) -> String {
    let test = r
        .test_accuracy
        .map_or(String::from("-"), |a| format!("{a:.2}%"));
    format!(
        "epoch {:>3}/{epochs}  train loss {:.4}  train acc {:.2}%  test acc {test}  lr {:.2e}  {:.1} s  {:.0} samples/s",
        r.epoch, r.train_loss, r.train_accuracy, r.lr, r.seconds, r.samples_per_s
    )
}

/// Directory name for an architecture.
pub(crate) fn default_out(arch: &str) -> PathBuf {
    default_out_dir(arch)
}

/// Where and how a training run goes, whatever builds its trainer (`train surrogate`,
/// `train ann`, `train hybrid`).
#[derive(Debug, Clone)]
pub struct Session {
    /// Dataset directory.
    pub data: PathBuf,
    /// A UCR/UEA time-series problem in `data` (e.g. `JapaneseVowels`) instead of
    /// MNIST-format images.
    pub series: Option<String>,
    /// Frames per recording when `data` is an event data set in the N-MNIST folder
    /// layout (see `spikelab_data::event_folders`).
    pub events: Option<usize>,
    /// Epochs.
    pub epochs: usize,
    /// Output directory.
    pub out: PathBuf,
    /// Checkpoints, resumption, limits and progress output.
    pub control: SessionArgs,
    /// Worker threads (0 = one per core).
    pub threads: usize,
}

/// Options every training command shares: checkpoints, resumption, data limits and
/// progress output.
#[derive(Args, Debug, Clone)]
pub struct SessionArgs {
    /// Continue the run in the output directory from its checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Start over even if the output directory holds a checkpoint.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Seconds between checkpoints within an epoch (0 = at epoch ends only).
    #[arg(long, default_value_t = 60.0)]
    pub checkpoint_every_s: f64,
    /// Train on the first N training samples only.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Evaluate on the first N test samples only.
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

impl SessionArgs {
    /// The library's session configuration for output directory `out` and `epochs`.
    pub fn config(&self, out: PathBuf, epochs: usize) -> SessionConfig {
        SessionConfig {
            out,
            epochs,
            resume: self.resume,
            force: self.force,
            checkpoint_every_s: self.checkpoint_every_s,
            train_limit: self.train_limit,
            test_limit: self.test_limit,
        }
    }
}

/// Runs `spikelab train surrogate`; returns the trainer at the end.
pub fn train(a: &SurrogateArgs) -> Result<Trainer> {
    let session = Session {
        data: a.data.clone(),
        series: a.series.clone(),
        events: a.events.then_some(a.run.steps),
        epochs: a.epochs,
        out: a.out.clone().unwrap_or_else(|| default_out(&a.net.arch)),
        control: a.session.clone(),
        threads: a.run.threads,
    };
    run_session(&session, |shape| match &a.init {
        Some(model) => {
            let config = a.run.options().config(a.epochs, shape)?;
            let (t, copied) = session::trainer_from_model(model, config)?;
            println!(
                "fine-tuning {} ({copied} parameters carried over)",
                model.display()
            );
            Ok(t)
        }
        None => {
            let (spec, config) = fresh_run(&a.net.options(), &a.run.options(), a.epochs, shape)?;
            Ok(Trainer::new(&spec, config)?)
        }
    })
}

/// Trains in a session (`spikelab_train::bptt::session`): a fresh trainer from `fresh`
/// (given the sample shape), or the checkpoint's with `resume`; progress, checkpoints,
/// model file and summary.
pub fn run_session(
    s: &Session,
    fresh: impl FnOnce(FeatShape) -> Result<Trainer>,
) -> Result<Trainer> {
    set_threads(s.threads)?;
    let (train, test) = match (&s.series, s.events) {
        (Some(name), _) => spikelab_data::timeseries::load_ucr_samples(&s.data, name)?,
        (None, Some(frames)) => {
            use spikelab_data::event_folders::{load_event_folder, EventFrames};
            let b = EventFrames { frames, size: None };
            (
                load_event_folder(&s.data, Split::Train, b, None)?,
                load_event_folder(&s.data, Split::Test, b, None)?,
            )
        }
        (None, None) => (
            load_idx_dataset(&s.data, Split::Train)?,
            load_idx_dataset(&s.data, Split::Test)?,
        ),
    };
    let config = s.control.config(s.out.clone(), s.epochs);
    let mut bars = Bars::new(s.control.quiet, s.epochs);
    let outcome = session::run_session_with(fresh, train, &test, &config, &mut bars)?;
    if let Some(r) = outcome.trainer.state.history.last() {
        println!(
            "final test accuracy {:.2}%  ({} written)",
            r.test_accuracy.unwrap_or(f64::NAN),
            outcome.model.display()
        );
    }
    Ok(outcome.trainer)
}

/// Arguments of `spikelab eval surrogate`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Model file, or a run directory holding model.safetensors.
    #[arg(long)]
    pub model: PathBuf,
    /// Dataset directory (MNIST-format IDX files).
    #[arg(long, default_value = "../shared/data/mnist")]
    pub data: PathBuf,
    /// Evaluate on the first N test samples only.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Also run the exported network on the event-driven engine.
    #[arg(long)]
    pub engine: bool,
    /// Engine time step (ms); the decay β maps to τ_m = −dt/ln β.
    #[arg(long, default_value_t = 1.0)]
    pub dt_ms: f64,
    /// Write the exported engine network as a model file (TOML).
    #[arg(long)]
    pub export_toml: Option<PathBuf>,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Time steps per sample (default: the model's own).
    #[arg(long)]
    pub steps: Option<usize>,
}

/// What `spikelab eval` measured.
#[derive(Debug)]
pub struct EvalReport {
    /// The trainer's evaluation.
    pub trainer: EvalResult,
    /// The engine's, with `--engine`.
    pub engine: Option<EngineEval>,
}

impl EvalArgs {
    /// The library's evaluation configuration.
    pub fn config(&self) -> EvalConfig {
        EvalConfig {
            model: self.model.clone(),
            limit: self.limit,
            steps: self.steps,
            engine: self.engine,
            dt_ms: self.dt_ms,
            export_toml: self.export_toml.clone(),
        }
    }
}

/// Runs `spikelab eval surrogate` (`spikelab_train::bptt::evaluation`, step by step so
/// that each result is printed as soon as it is known).
pub fn eval(a: &EvalArgs) -> Result<EvalReport> {
    set_threads(a.threads)?;
    let cfg = a.config();
    let (path, mut model) = evaluation::load_for_eval(&cfg)?;
    let test = load_idx_dataset(&a.data, Split::Test)?;
    let n = a.limit.unwrap_or(test.len()).min(test.len());
    println!(
        "{}: {} (T={}, encoding {:?}), {n} test samples",
        path.display(),
        model
            .net
            .spec
            .layers
            .iter()
            .map(|l| l.name())
            .collect::<Vec<_>>()
            .join("-"),
        model.config.steps,
        model.config.encoding
    );
    let tr = evaluation::evaluate_in_trainer(&mut model, &test, a.limit, &mut Silent);
    println!(
        "trainer: accuracy {:.2}%  loss {:.4}  {:.0} samples/s",
        tr.accuracy,
        tr.loss,
        n as f64 / tr.seconds.max(1e-9)
    );
    for (layer, neurons, s) in &tr.spikes_per_sample {
        println!(
            "  layer {layer}: {s:.1} spikes per sample ({:.4} per neuron per step)",
            s / (*neurons as f64 * model.config.steps as f64)
        );
    }
    let mut engine = None;
    if cfg.exports() {
        let ex = evaluation::export_model(&mut model, &cfg)?;
        println!(
            "exported: {} populations, {} projections, {} synapses, {} engine steps per sample",
            ex.populations, ex.projections, ex.synapses, ex.engine_steps
        );
        if let Some(p) = &ex.toml {
            println!("wrote {}", p.display());
        }
        if a.engine {
            let r = evaluation::evaluate_exported(&mut model, &ex.exported, &test, a.limit, &tr)?;
            let ev = r.eval;
            println!(
                "engine:  accuracy {:.2}%  ({:+.2} points vs trainer; predictions agree on {:.2}% of samples)  {:.1} s",
                ev.accuracy,
                ev.accuracy - tr.accuracy,
                r.agreement,
                ev.seconds
            );
            println!(
                "synaptic operations per inference: {:.0} (of which {:.0} from biases)",
                ev.synops_per_inference, ev.bias_synops_per_inference
            );
            for (pop, s) in &ev.spikes_per_inference {
                println!("  {pop}: {s:.1} spikes per inference");
            }
            engine = Some(ev);
        }
    }
    Ok(EvalReport {
        trainer: tr,
        engine,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use clap::Parser;
    use std::io::Write;
    use std::path::Path;

    /// Writes an MNIST-format dataset of 8×8 images in 4 classes (the lit quadrant)
    /// into `dir`.
    pub fn write_toy_mnist(dir: &Path, n_train: usize, n_test: usize) {
        let write = |name: &str, dims: &[u32], data: &[u8]| {
            let mut v = vec![0u8, 0, 8, dims.len() as u8];
            for d in dims {
                v.extend_from_slice(&d.to_be_bytes());
            }
            v.extend_from_slice(data);
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&v).unwrap();
            std::fs::write(dir.join(format!("{name}.gz")), e.finish().unwrap()).unwrap();
        };
        for (prefix, n, seed) in [("train", n_train, 1u64), ("t10k", n_test, 2)] {
            let mut images = Vec::new();
            let mut labels = Vec::new();
            let mut state = seed;
            for _ in 0..n {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let y = (state >> 33) as u8 % 4;
                for p in 0..64 {
                    let (r, c) = (p / 8, p % 8);
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    let noise = (state >> 40) as u8 % 50;
                    let on = (r / 4) * 2 + c / 4 == y as usize;
                    images.push(if on { 200 + noise } else { noise });
                }
                labels.push(y);
            }
            write(
                &format!("{prefix}-images-idx3-ubyte"),
                &[n as u32, 8, 8],
                &images,
            );
            write(&format!("{prefix}-labels-idx1-ubyte"), &[n as u32], &labels);
        }
    }

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        args: SurrogateArgs,
    }

    fn args(data: &Path, out: &Path, extra: &[&str]) -> SurrogateArgs {
        let mut v = vec![
            "x".to_string(),
            "--data".into(),
            data.display().to_string(),
            "--out".into(),
            out.display().to_string(),
            "--steps".into(),
            "8".into(),
            "--batch".into(),
            "16".into(),
            "--lr".into(),
            "0.005".into(),
            "--quiet".into(),
        ];
        if !extra.contains(&"--arch") {
            v.extend(["--arch".to_string(), "64-32-4".into()]);
        }
        v.extend(extra.iter().map(|s| s.to_string()));
        Cmd::try_parse_from(v).unwrap().args
    }

    #[test]
    fn a_time_series_problem_trains_with_sequence_input() {
        let ucr = crate::test_data::ucr_dir();
        let dir = tempfile::tempdir().unwrap();
        let parse_arch = |steps: &str, arch: &str| {
            let data = ucr.display().to_string();
            let out = dir.path().display().to_string();
            Cmd::try_parse_from([
                "x",
                "--data",
                &data,
                "--out",
                &out,
                "--series",
                "JapaneseVowels",
                "--encoding",
                "sequence",
                "--steps",
                steps,
                "--arch",
                arch,
                "--batch",
                "16",
                "--lr",
                "0.003",
                "--epochs",
                "3",
                "--force",
                "--quiet",
            ])
            .unwrap()
            .args
        };
        let parse = |steps: &str| parse_arch(steps, "12-64R-9");
        let t = train(&parse("29")).unwrap();
        let acc = t.state.history.last().unwrap().test_accuracy.unwrap();
        assert!(acc > 50.0, "JapaneseVowels after 3 epochs: {acc} %");
        // The spiking LSTM learns it too (membrane loss, 5 epochs: 87 % seen).
        let mut lstm = parse_arch("29", "12-32L-9");
        lstm.run.loss = "ce-membrane".into();
        lstm.run.lr = 0.005;
        lstm.epochs = 5;
        let t = train(&lstm).unwrap();
        let acc = t.state.history.last().unwrap().test_accuracy.unwrap();
        assert!(
            acc > 60.0,
            "spiking LSTM on JapaneseVowels after 5 epochs: {acc} %"
        );
        let e = train(&parse("20")).unwrap_err().to_string();
        assert!(e.contains("steps") && e.contains("29 steps"), "{e}");
    }

    #[test]
    fn event_recordings_in_the_nmnist_layout_train_as_binned_frames() {
        use spikelab_core::encoding::delta::{Event, Polarity};
        use spikelab_data::events::EventStream;
        let dir = tempfile::tempdir().unwrap();
        // A dot crossing an 8 × 8 sensor left to right (class 0) or right to left
        // (class 1), ON events ahead of OFF events, one row chosen per recording.
        for (split, n) in [("Train", 40), ("Test", 20)] {
            for k in 0..n {
                let label = k % 2;
                let row = (k * 5 % 8) as u16;
                let mut events = Vec::new();
                for step in 0..8u16 {
                    let x = if label == 0 { step } else { 7 - step };
                    let t = step as u64 * 1000 + (k as u64 % 3) * 50;
                    events.push(Event {
                        t_us: t,
                        x,
                        y: row,
                        polarity: Polarity::On,
                    });
                    events.push(Event {
                        t_us: t + 400,
                        x,
                        y: row,
                        polarity: Polarity::Off,
                    });
                }
                let d = dir.path().join(split).join(label.to_string());
                std::fs::create_dir_all(&d).unwrap();
                EventStream::new(8, 8, events)
                    .unwrap()
                    .write(&d.join(format!("{k:05}.bin")))
                    .unwrap();
            }
        }
        let data = dir.path().display().to_string();
        let out = dir.path().join("out").display().to_string();
        let a = Cmd::try_parse_from([
            "x",
            "--data",
            &data,
            "--out",
            &out,
            "--events",
            "--encoding",
            "sequence",
            "--steps",
            "4",
            "--arch",
            "2312-32R-2",
            "--loss",
            "ce-membrane",
            "--batch",
            "8",
            "--lr",
            "0.01",
            "--epochs",
            "8",
            "--force",
            "--quiet",
        ])
        .unwrap()
        .args;
        let t = train(&a).unwrap();
        let acc = t.state.history.last().unwrap().test_accuracy.unwrap();
        assert!(acc >= 90.0, "moving dots after 8 epochs: {acc} %");
        // The frame count follows --steps; `.bin` files are read on N-MNIST's 34 × 34
        // sensor, so a step has 2 × 34 × 34 inputs and other widths are refused.
        let bad = Cmd::try_parse_from([
            "x",
            "--data",
            &data,
            "--out",
            &out,
            "--events",
            "--encoding",
            "sequence",
            "--steps",
            "4",
            "--arch",
            "64-32R-2",
            "--loss",
            "ce-membrane",
            "--force",
            "--quiet",
        ])
        .unwrap()
        .args;
        assert!(train(&bad).is_err());
    }

    #[test]
    fn train_resume_and_eval_on_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        write_toy_mnist(dir.path(), 320, 100);
        // Two epochs at once, and one epoch then a resumed second: same weights.
        let whole = train(&args(dir.path(), &dir.path().join("a"), &["--epochs", "2"])).unwrap();
        let acc = whole.state.history[1].test_accuracy.unwrap();
        assert!(acc > 90.0, "test accuracy {acc}");
        let b = dir.path().join("b");
        train(&args(dir.path(), &b, &["--epochs", "1"])).unwrap();
        // A second run into the same directory needs --resume or --force.
        let e = train(&args(dir.path(), &b, &["--epochs", "2"])).unwrap_err();
        assert!(e.to_string().contains("--resume"), "{e}");
        let resumed = train(&args(dir.path(), &b, &["--epochs", "2", "--resume"])).unwrap();
        assert_eq!(resumed.state.history.len(), 2);
        for ((_, p), (_, q)) in whole
            .net
            .named_params()
            .iter()
            .zip(resumed.net.named_params().iter())
        {
            assert_eq!(p.value, q.value);
        }
        for f in [
            "model.safetensors",
            "checkpoint.safetensors",
            "model.json",
            "history.csv",
        ] {
            assert!(b.join(f).is_file(), "{f}");
        }
        // Evaluation in the trainer and on the engine agree.
        let report = eval(&EvalArgs {
            model: b.clone(),
            data: dir.path().to_path_buf(),
            limit: None,
            engine: true,
            dt_ms: 1.0,
            export_toml: Some(dir.path().join("net.toml")),
            threads: 0,
            steps: None,
        })
        .unwrap();
        let ev = report.engine.unwrap();
        assert_eq!(ev.predictions, report.trainer.predictions);
        assert!(ev.synops_per_inference > 0.0);
        // The exported model file is a valid engine network.
        assert!(spikelab_core::network::NetworkSpec::load(dir.path().join("net.toml")).is_ok());
    }

    #[test]
    fn bad_arguments_are_reported_clearly() {
        let dir = tempfile::tempdir().unwrap();
        write_toy_mnist(dir.path(), 40, 20);
        let out = dir.path().join("o");
        let e = train(&args(dir.path(), &out, &["--surrogate", "relu"])).unwrap_err();
        assert!(e.to_string().contains("surrogate"), "{e}");
        let e = train(&args(dir.path(), &out, &["--arch", "100-10"])).unwrap_err();
        assert!(e.to_string().contains("input size"), "{e}");
        let e = train(&args(
            dir.path(),
            &out,
            &["--loss", "ce-membrane", "--encoding", "pixels"],
        ))
        .unwrap_err();
        assert!(e.to_string().contains("encoding"), "{e}");
        let e = train(&args(&dir.path().join("nowhere"), &out, &[])).unwrap_err();
        assert!(e.to_string().contains("train-images-idx3-ubyte"), "{e}");
    }

    #[test]
    fn any_encoder_of_data_show_trains_by_name_or_file() {
        let dir = tempfile::tempdir().unwrap();
        write_toy_mnist(dir.path(), 320, 60);
        let t = train(&args(
            dir.path(),
            &dir.path().join("phase"),
            &["--encoding", "phase", "--epochs", "3"],
        ))
        .unwrap();
        assert_eq!(t.config.encoding.name(), "phase");
        let acc = t.state.history.last().unwrap().test_accuracy.unwrap();
        assert!(acc > 60.0, "phase: test accuracy {acc}");
        // A parameter file as `data show --encoder-file` reads it; three neurons per
        // pixel triple the input.
        let file = dir.path().join("population.toml");
        std::fs::write(
            &file,
            "kind = \"population\"\nn_neurons = 3\nt_max_ms = 7.0",
        )
        .unwrap();
        let file_arg = file.display().to_string();
        let t = train(&args(
            dir.path(),
            &dir.path().join("pop"),
            &["--encoder-file", &file_arg, "--arch", "192-32-4"],
        ))
        .unwrap();
        assert_eq!(t.net.input_shape().len(), 192);
        // The network must take the encoded input; the error says what it is.
        let e = train(&args(
            dir.path(),
            &dir.path().join("pop2"),
            &["--encoder-file", &file_arg],
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("192") || e.contains("3x8x8"), "{e}");
        let e = train(&args(
            dir.path(),
            &dir.path().join("x"),
            &["--encoding", "morse"],
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("rank_order") && e.contains("population"), "{e}");
    }
}
