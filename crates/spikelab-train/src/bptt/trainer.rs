//! The training loop: seeded shuffling, encoding, forward, loss, backward through
//! time, optimizer step, per-epoch evaluation, and checkpoints that resume exactly.
//!
//! Everything random is keyed by position — the shuffle by (seed, epoch), input
//! spikes by (seed, epoch, sample), dropout masks by (seed, epoch, batch, layer) —
//! and the learning rate is a function of (epoch, batch); so a checkpoint only
//! needs the weights, the optimizer state and the position (epoch, next batch) to
//! continue bit for bit as if the run had not been interrupted.

use crate::bptt::encode::{check_input, encode, Encoding, EVAL_KEY};
use crate::bptt::eprop::{self, Learning};
use crate::bptt::io::{LoadedFile, TensorFile, CHECKPOINT_FORMAT, MODEL_FORMAT};
use crate::bptt::loss::{self, LossSpec};
use crate::bptt::optim::{Optimizer, OptimizerSpec, Schedule};
use crate::data::Dataset;
use crate::data::SampleShape;
use crate::nn::layers::Pass;
use crate::nn::network::{LayerSpec, NetSpec, Network};
use rand::Rng;
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};
use spikelab_core::rng::{self, Domain};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Hyper-parameters of a training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Time steps per sample.
    pub steps: usize,
    /// Samples per batch.
    pub batch_size: usize,
    /// Epochs.
    pub epochs: usize,
    /// Base learning rate.
    pub lr: f32,
    /// Input encoding.
    pub encoding: Encoding,
    /// Loss.
    pub loss: LossSpec,
    /// Optimizer.
    pub optimizer: OptimizerSpec,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Seed of initialisation, shuffling, encoding and dropout.
    pub seed: u64,
    /// How gradients are computed: BPTT, or e-prop for recurrent networks.
    #[serde(default)]
    pub learning: Learning,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            steps: 25,
            batch_size: 128,
            epochs: 1,
            lr: 1e-3,
            encoding: Encoding::Rate { gain: 1.0 },
            loss: LossSpec::CeCount,
            optimizer: OptimizerSpec::parse("adam", None).expect("adam"),
            schedule: Schedule::Constant,
            seed: 0,
            learning: Learning::Bptt,
        }
    }
}

impl TrainConfig {
    /// Checks every field and its fit with the network.
    pub fn validate(&self, net: &NetSpec) -> Result<()> {
        for (name, v) in [
            ("steps", self.steps),
            ("batch_size", self.batch_size),
            ("epochs", self.epochs),
        ] {
            if v == 0 {
                return Err(Error::field(name, "must be at least 1"));
            }
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::field(
                "lr",
                format!("must be a finite number > 0 (got {})", self.lr),
            ));
        }
        self.encoding.validate()?;
        if let Encoding::Sequence { steps, .. } = self.encoding {
            if steps != self.steps {
                return Err(Error::field(
                    "steps",
                    format!(
                        "the sequence encoding has {steps} steps but the trainer {}",
                        self.steps
                    ),
                ));
            }
        }
        self.optimizer.validate()?;
        let last = net.layers.last();
        let readout = matches!(last, Some(LayerSpec::Readout { .. }));
        if self.loss.on_membrane() && !readout {
            return Err(Error::field(
                "loss",
                "ce-membrane needs a readout (leaky integrator) output layer",
            ));
        }
        if !self.loss.on_membrane() && readout {
            return Err(Error::field(
                "loss",
                "a readout output has no spikes; use ce-membrane",
            ));
        }
        if self.learning == Learning::Eprop {
            eprop::check_network(net, &self.loss)?;
        }
        Ok(())
    }
}

/// Summary of one epoch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number (from 1).
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy (%), on the fly.
    pub train_accuracy: f64,
    /// Test accuracy (%), if evaluated.
    pub test_accuracy: Option<f64>,
    /// Test loss, if evaluated.
    pub test_loss: Option<f64>,
    /// Learning rate at the end of the epoch.
    pub lr: f32,
    /// Training wall time (s). Not stored in model files (they hold no timings, so
    /// identical training gives byte-identical models); 0 when read from one.
    #[serde(default)]
    pub seconds: f64,
    /// Training samples per second (like `seconds`, not in model files).
    #[serde(default)]
    pub samples_per_s: f64,
}

/// Where training stands; saved in checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Current epoch (0-based; equals `epochs` when done).
    pub epoch: usize,
    /// Next batch within the epoch.
    pub batch: usize,
    /// Sum of batch losses × batch sizes in this epoch so far.
    pub loss_sum: f64,
    /// Correct predictions in this epoch so far.
    pub correct: u64,
    /// Samples seen in this epoch so far.
    pub seen: u64,
    /// Training seconds in this epoch so far.
    pub seconds: f64,
    /// Finished epochs.
    pub history: Vec<EpochRecord>,
}

/// Progress after a batch.
#[derive(Clone, Debug)]
pub struct BatchReport {
    /// Epoch (0-based).
    pub epoch: usize,
    /// Batches done in this epoch.
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// Mean loss in this epoch so far.
    pub loss: f64,
    /// Accuracy (%) in this epoch so far.
    pub accuracy: f64,
    /// Samples per second in this epoch so far.
    pub samples_per_s: f64,
    /// Learning rate of the batch.
    pub lr: f32,
}

/// Wall time (s) of the stages of one training step ([`Trainer::train_batch_timed`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepTimes {
    /// Gathering the images and encoding them into input spikes or currents.
    pub encode: f64,
    /// The forward pass through time.
    pub forward: f64,
    /// The loss and its gradient.
    pub loss: f64,
    /// The backward pass through time.
    pub backward: f64,
    /// The optimizer step.
    pub optimizer: f64,
}

impl StepTimes {
    /// Adds the times of another step.
    pub fn add(&mut self, o: &StepTimes) {
        self.encode += o.encode;
        self.forward += o.forward;
        self.loss += o.loss;
        self.backward += o.backward;
        self.optimizer += o.optimizer;
    }
}

/// What one training step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// Mean loss of the batch.
    pub loss: f64,
    /// Correct predictions in the batch.
    pub correct: usize,
    /// Wall time of its stages.
    pub times: StepTimes,
}

/// Result of an evaluation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    /// Samples evaluated.
    pub samples: usize,
    /// Accuracy (%).
    pub accuracy: f64,
    /// Mean loss.
    pub loss: f64,
    /// Wall time (s).
    pub seconds: f64,
    /// Per spiking layer: (layer index, neurons, mean spikes per sample).
    pub spikes_per_sample: Vec<(usize, usize, f64)>,
    /// Predicted class of every sample.
    pub predictions: Vec<usize>,
}

/// Receives progress; returning `false` from [`Monitor::on_batch`] stops training at
/// that batch boundary.
pub trait Monitor {
    /// After every training batch.
    fn on_batch(&mut self, _report: &BatchReport) -> bool {
        true
    }
    /// After every epoch (with its evaluation).
    fn on_epoch(&mut self, _record: &EpochRecord) {}
    /// During evaluations: samples done out of total.
    fn on_eval(&mut self, _done: usize, _total: usize) {}
    /// Once a training session ([`crate::bptt::session`]) has its trainer, fresh or
    /// resumed, before the first batch.
    fn on_session_start(&mut self, _start: &crate::bptt::session::SessionStart<'_>) {}
}

/// A monitor that does nothing.
pub struct Silent;
impl Monitor for Silent {}

/// Checkpointing during [`Trainer::fit`].
#[derive(Clone, Debug, Default)]
pub struct FitOptions {
    /// Checkpoint file (written after every epoch and every `every_s` seconds).
    pub checkpoint: Option<PathBuf>,
    /// Seconds between checkpoints within an epoch (0 = only at epoch ends).
    pub every_s: f64,
    /// Evaluate on at most this many test samples after each epoch.
    pub test_limit: Option<usize>,
    /// Model file written after every epoch (see [`Trainer::save_model`]).
    pub model: Option<PathBuf>,
    /// Directory that gets `model.json` and `history.csv` after every epoch (see
    /// [`crate::bptt::session::write_summary`]).
    pub summary_dir: Option<PathBuf>,
}

/// How [`Trainer::fit`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FitOutcome {
    /// All epochs done.
    Finished,
    /// The monitor asked to stop.
    Stopped,
}

/// A network with its optimizer and training state.
#[derive(Debug)]
pub struct Trainer {
    /// The network.
    pub net: Network,
    /// Hyper-parameters.
    pub config: TrainConfig,
    /// Optimizer and its state.
    pub optimizer: Optimizer,
    /// Position and history.
    pub state: TrainState,
    images: Vec<u8>,
}

/// Encoder keys of training samples `indices` of a data set of `n` samples in
/// `epoch`: fresh input noise every epoch.
pub fn train_keys(indices: &[usize], epoch: usize, n: usize) -> Vec<u64> {
    indices.iter().map(|&i| (epoch * n + i) as u64).collect()
}

/// Encoder keys of evaluation samples `indices` (the same in every evaluation).
pub fn eval_keys(indices: &[usize]) -> Vec<u64> {
    indices.iter().map(|&i| EVAL_KEY + i as u64).collect()
}

/// Shuffled order of `n` samples for `epoch`.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = rng::stream(seed, Domain::Training, &[0x5ff1e, epoch as u64]);
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
    order
}

impl Trainer {
    /// A fresh trainer: weights initialised from `config.seed`.
    pub fn new(spec: &NetSpec, config: TrainConfig) -> Result<Self> {
        config.validate(spec)?;
        let net = Network::build(spec, config.steps, config.seed)?;
        let sizes: Vec<usize> = net.named_params().iter().map(|(_, p)| p.len()).collect();
        Ok(Trainer {
            optimizer: Optimizer::new(config.optimizer, &sizes),
            net,
            config,
            state: TrainState::default(),
            images: Vec::new(),
        })
    }

    /// Batches per epoch for `n` samples.
    pub fn batches(&self, n: usize) -> usize {
        n.div_ceil(self.config.batch_size)
    }

    /// One training step on the samples `indices` of `data`; returns the mean loss
    /// and the number of correct predictions.
    pub fn train_batch(&mut self, data: &Dataset, indices: &[usize], lr: f32) -> (f64, usize) {
        let r = self.train_batch_timed(data, indices, lr);
        (r.loss, r.correct)
    }

    /// One training step on the samples `indices` of `data` at learning rate `lr`,
    /// with the wall time of each stage (the one training step of the code base: the
    /// training loop and `spikelab bench train` both call it). Input noise and dropout
    /// are keyed by the current `state.epoch` and `state.batch`.
    pub fn train_batch_timed(&mut self, data: &Dataset, indices: &[usize], lr: f32) -> StepReport {
        let c = &self.config;
        let mut times = StepTimes::default();
        let t = Instant::now();
        data.gather(indices, &mut self.images);
        let keys = train_keys(indices, self.state.epoch, data.len());
        let x = encode(
            &c.encoding,
            &self.images,
            data.shape(),
            &keys,
            c.steps,
            c.seed,
        );
        times.encode = t.elapsed().as_secs_f64();
        let pass = Pass::train(
            c.steps,
            indices.len(),
            [c.seed, self.state.epoch as u64, self.state.batch as u64],
        );
        let labels: Vec<u8> = indices.iter().map(|&i| data.labels[i]).collect();
        let (loss_value, predictions) = if c.learning == Learning::Eprop {
            // Forward, loss and the online gradient in one call (checked networks only).
            let t = Instant::now();
            let l = eprop::gradients(&mut self.net, &x, &labels, &c.loss, c.steps)
                .expect("TrainConfig::validate checked the network for e-prop");
            times.backward = t.elapsed().as_secs_f64();
            (l.loss, l.predictions)
        } else {
            let t = Instant::now();
            let out = self.net.forward(x, &pass);
            times.forward = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let l = loss::compute(&c.loss, &out, &labels, c.steps);
            drop(out);
            times.loss = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let loss::LossOutput {
                loss,
                grad,
                predictions,
            } = l;
            self.net.backward(grad, &pass);
            times.backward = t.elapsed().as_secs_f64();
            (loss, predictions)
        };
        let t = Instant::now();
        let mut params = self.net.params_mut();
        self.optimizer.update(&mut params, lr);
        times.optimizer = t.elapsed().as_secs_f64();
        let correct = predictions
            .iter()
            .zip(&labels)
            .filter(|(p, y)| **p == **y as usize)
            .count();
        StepReport {
            loss: loss_value,
            correct,
            times,
        }
    }

    /// Evaluates on the first `limit` samples of `data` (all by default).
    pub fn evaluate(
        &mut self,
        data: &Dataset,
        limit: Option<usize>,
        monitor: &mut dyn Monitor,
    ) -> EvalResult {
        evaluate(&mut self.net, &self.config, data, limit, monitor)
    }

    /// Trains until `config.epochs` epochs are done (continuing from the current
    /// state), evaluating on `test` after each epoch and writing checkpoints.
    pub fn fit(
        &mut self,
        train: &Dataset,
        test: Option<&Dataset>,
        opts: &FitOptions,
        monitor: &mut dyn Monitor,
    ) -> Result<FitOutcome> {
        check_input(&self.config.encoding, train.shape(), self.net.input_shape())?;
        if let Some(test) = test {
            check_input(&self.config.encoding, test.shape(), self.net.input_shape())
                .map_err(|e| Error::field("test data", e.to_string()))?;
        }
        let classes = self.net.output_shape().len();
        if train.classes() > classes {
            return Err(Error::field(
                "arch",
                format!(
                    "the output layer has {classes} neurons but the data have {} classes",
                    train.classes()
                ),
            ));
        }
        let mut last_save = Instant::now();
        while self.state.epoch < self.config.epochs {
            let epoch = self.state.epoch;
            let order = epoch_order(train.len(), self.config.seed, epoch);
            let batches = self.batches(train.len());
            let mut lr = self.config.lr;
            while self.state.batch < batches {
                let b = self.state.batch;
                let bs = self.config.batch_size;
                let idx = &order[b * bs..((b + 1) * bs).min(order.len())];
                lr = self.config.schedule.lr(
                    self.config.lr,
                    epoch as f64 + b as f64 / batches as f64,
                    self.config.epochs,
                );
                let t0 = Instant::now();
                let (loss, correct) = self.train_batch(train, idx, lr);
                let st = &mut self.state;
                st.seconds += t0.elapsed().as_secs_f64();
                st.loss_sum += loss * idx.len() as f64;
                st.correct += correct as u64;
                st.seen += idx.len() as u64;
                st.batch += 1;
                let report = BatchReport {
                    epoch,
                    batch: st.batch,
                    batches,
                    loss: st.loss_sum / st.seen as f64,
                    accuracy: 100.0 * st.correct as f64 / st.seen as f64,
                    samples_per_s: st.seen as f64 / st.seconds.max(1e-9),
                    lr,
                };
                if let Some(path) = &opts.checkpoint {
                    if opts.every_s > 0.0 && last_save.elapsed().as_secs_f64() >= opts.every_s {
                        self.save_checkpoint(path)?;
                        last_save = Instant::now();
                    }
                }
                if !monitor.on_batch(&report) {
                    return Ok(FitOutcome::Stopped);
                }
            }
            let st = &self.state;
            let mut record = EpochRecord {
                epoch: epoch + 1,
                train_loss: st.loss_sum / st.seen.max(1) as f64,
                train_accuracy: 100.0 * st.correct as f64 / st.seen.max(1) as f64,
                test_accuracy: None,
                test_loss: None,
                lr,
                seconds: st.seconds,
                samples_per_s: st.seen as f64 / st.seconds.max(1e-9),
            };
            if let Some(test) = test {
                let r = self.evaluate(test, opts.test_limit, monitor);
                record.test_accuracy = Some(r.accuracy);
                record.test_loss = Some(r.loss);
            }
            let st = &mut self.state;
            st.history.push(record.clone());
            st.epoch += 1;
            st.batch = 0;
            st.loss_sum = 0.0;
            st.correct = 0;
            st.seen = 0;
            st.seconds = 0.0;
            if let Some(path) = &opts.checkpoint {
                self.save_checkpoint(path)?;
                last_save = Instant::now();
            }
            if let Some(path) = &opts.model {
                self.save_model(path)?;
            }
            if let Some(dir) = &opts.summary_dir {
                crate::bptt::session::write_summary(dir, self)?;
            }
            monitor.on_epoch(&record);
        }
        Ok(FitOutcome::Finished)
    }

    fn file(&self, format: &str) -> TensorFile {
        let mut f = TensorFile::default();
        f.network(&self.net);
        f.meta("spikelab.format", format.into());
        f.meta(
            "spikelab.config",
            serde_json::to_string(&self.config).expect("json"),
        );
        f
    }

    /// Writes the trained model (weights, architecture, configuration, history).
    pub fn save_model(&self, path: &Path) -> Result<()> {
        let mut f = self.file(MODEL_FORMAT);
        // The history without its wall times: a model file depends only on what was
        // trained (history.csv and summary files keep the timings).
        let history: Vec<serde_json::Value> = self
            .state
            .history
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).expect("json");
                if let Some(fields) = v.as_object_mut() {
                    fields.remove("seconds");
                    fields.remove("samples_per_s");
                }
                v
            })
            .collect();
        f.json("spikelab.history", &history);
        f.write(path)
    }

    /// Writes a checkpoint: model, optimizer state and training position.
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        let mut f = self.file(CHECKPOINT_FORMAT);
        f.meta(
            "spikelab.state",
            serde_json::to_string(&self.state).expect("json"),
        );
        f.meta("spikelab.optimizer_step", self.optimizer.step.to_string());
        let names = self.net.named_params();
        for (slot, sname) in self.optimizer.slot_names().iter().enumerate() {
            for (k, (name, p)) in names.iter().enumerate() {
                f.tensor(
                    format!("optimizer.{sname}.{name}"),
                    p.shape.clone(),
                    &self.optimizer.state[slot][k],
                );
            }
        }
        f.write(path)
    }

    /// Restores a trainer from a checkpoint.
    pub fn resume(path: &Path) -> Result<Self> {
        let file = LoadedFile::read(path, CHECKPOINT_FORMAT)?;
        let config: TrainConfig = file.json("spikelab.config")?;
        let net = file.network()?;
        let state: TrainState = file.json("spikelab.state")?;
        let step: u64 = file.json("spikelab.optimizer_step")?;
        let named: Vec<(String, Vec<usize>)> = net
            .named_params()
            .into_iter()
            .map(|(n, p)| (n, p.shape.clone()))
            .collect();
        let sizes: Vec<usize> = named.iter().map(|(_, s)| s.iter().product()).collect();
        let mut optimizer = Optimizer::new(config.optimizer, &sizes);
        optimizer.step = step;
        for (slot, sname) in optimizer.slot_names().iter().enumerate() {
            for (k, (name, shape)) in named.iter().enumerate() {
                optimizer.state[slot][k] =
                    file.tensor(&format!("optimizer.{sname}.{name}"), shape)?;
            }
        }
        config.validate(&net.spec)?;
        Ok(Trainer {
            net,
            config,
            optimizer,
            state,
            images: Vec::new(),
        })
    }
}

/// A trained model loaded from a model file: network, configuration and history.
pub struct Model {
    /// The network.
    pub net: Network,
    /// The configuration it was trained with.
    pub config: TrainConfig,
    /// Its epochs.
    pub history: Vec<EpochRecord>,
}

/// Loads a model file (or the model part of a checkpoint).
pub fn load_model(path: &Path) -> Result<Model> {
    let file = LoadedFile::read(path, MODEL_FORMAT)
        .or_else(|_| LoadedFile::read(path, CHECKPOINT_FORMAT))?;
    let history = if file.meta.contains_key("spikelab.history") {
        file.json("spikelab.history")?
    } else {
        file.json::<TrainState>("spikelab.state")?.history
    };
    Ok(Model {
        net: file.network()?,
        config: file.json("spikelab.config")?,
        history,
    })
}

/// Evaluates `net` on the first `limit` samples of `data` with the encoding and
/// steps of `config` (inputs keyed by sample index, as the engine export replays).
pub fn evaluate(
    net: &mut Network,
    config: &TrainConfig,
    data: &Dataset,
    limit: Option<usize>,
    monitor: &mut dyn Monitor,
) -> EvalResult {
    let n = limit.unwrap_or(data.len()).min(data.len());
    let start = Instant::now();
    let bs = config.batch_size.max(1);
    let mut images = Vec::new();
    let mut result = EvalResult {
        samples: n,
        ..Default::default()
    };
    let mut correct = 0usize;
    let mut loss_sum = 0.0;
    let mut spikes: Vec<(usize, usize, f64)> = Vec::new();
    let mut b0 = 0;
    while b0 < n {
        let idx: Vec<usize> = (b0..(b0 + bs).min(n)).collect();
        data.gather(&idx, &mut images);
        let x = encode(
            &config.encoding,
            &images,
            data.shape(),
            &eval_keys(&idx),
            config.steps,
            config.seed,
        );
        let pass = Pass::eval(config.steps, idx.len());
        let out = net.forward(x, &pass);
        let labels: Vec<u8> = idx.iter().map(|&i| data.labels[i]).collect();
        let l = loss::compute(&config.loss, &out, &labels, config.steps);
        loss_sum += l.loss * idx.len() as f64;
        correct += l
            .predictions
            .iter()
            .zip(&labels)
            .filter(|(p, y)| **p == **y as usize)
            .count();
        result.predictions.extend_from_slice(&l.predictions);
        for (k, (layer, neurons, c)) in net.spike_counts().into_iter().enumerate() {
            if spikes.len() <= k {
                spikes.push((layer, neurons, 0.0));
            }
            spikes[k].2 += c as f64;
        }
        b0 += idx.len();
        monitor.on_eval(b0, n);
    }
    result.accuracy = 100.0 * correct as f64 / n.max(1) as f64;
    result.loss = loss_sum / n.max(1) as f64;
    result.seconds = start.elapsed().as_secs_f64();
    result.spikes_per_sample = spikes
        .into_iter()
        .map(|(l, k, c)| (l, k, c / n.max(1) as f64))
        .collect();
    result
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::nn::arch::{parse_arch, ArchOptions};
    use crate::nn::tensor::FeatShape;

    /// A toy task: 4 classes of 16-pixel "images", each class lighting one quadrant.
    pub(crate) fn toy_data(n: usize, seed: u64) -> Dataset {
        let mut rng = rng::stream(seed, Domain::Training, &[42]);
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..n {
            let y = rng.random_range(0..4u8);
            for p in 0..16 {
                let (r, c) = (p / 4, p % 4);
                let quadrant = (r / 2) * 2 + c / 2;
                let on = quadrant == y as usize;
                let noise: u8 = rng.random_range(0..60);
                images.push(if on { 195 + noise } else { noise });
            }
            labels.push(y);
        }
        crate::data::dataset(images, labels, FeatShape::image(1, 4, 4))
    }

    fn config() -> TrainConfig {
        TrainConfig {
            steps: 8,
            batch_size: 16,
            epochs: 3,
            lr: 5e-3,
            ..TrainConfig::default()
        }
    }

    #[test]
    fn a_small_network_learns_the_toy_task() {
        let (train, test) = (toy_data(400, 1), toy_data(200, 2));
        let spec = parse_arch("16-32-4", train.shape(), &ArchOptions::default()).unwrap();
        let mut t = Trainer::new(&spec, config()).unwrap();
        let before = t.evaluate(&test, None, &mut Silent).accuracy;
        assert_eq!(
            t.fit(&train, Some(&test), &FitOptions::default(), &mut Silent)
                .unwrap(),
            FitOutcome::Finished
        );
        let h = &t.state.history;
        assert_eq!(h.len(), 3);
        let after = h[2].test_accuracy.unwrap();
        assert!(after > 95.0, "test accuracy {after} (before {before})");
        assert!(h[2].train_loss < h[0].train_loss);
    }

    #[test]
    fn residual_networks_learn_the_toy_task() {
        let (train, test) = (toy_data(400, 3), toy_data(100, 4));
        let opts = ArchOptions {
            output: crate::nn::arch::OutputKind::Membrane { beta: 0.9 },
            ..ArchOptions::default()
        };
        // SEW (ADD, with a 1×1 downsampling shortcut), SEW IAND and a spiking ResNet
        // block, global average pooling, then the readout (6 conv layers each).
        for arch in ["4C3p1-SEW4-SEW8s2-GAP-4", "4C3p1-SEW4iand-RES8-GAP-4"] {
            let spec = parse_arch(arch, train.shape(), &opts).unwrap();
            let cfg = TrainConfig {
                loss: LossSpec::CeMembrane,
                encoding: Encoding::Direct,
                epochs: 6,
                ..config()
            };
            let mut t = Trainer::new(&spec, cfg).unwrap();
            t.fit(&train, Some(&test), &FitOptions::default(), &mut Silent)
                .unwrap();
            let acc = t.state.history.last().unwrap().test_accuracy.unwrap();
            assert!(acc > 85.0, "{arch}: test accuracy {acc}");
            // Saved and loaded, the model predicts the same.
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("m.safetensors");
            t.save_model(&path).unwrap();
            let m = load_model(&path).unwrap();
            assert_eq!(m.net.spec, spec);
        }
    }

    #[test]
    fn conv_and_membrane_readout_learn_too() {
        let (train, test) = (toy_data(400, 3), toy_data(100, 4));
        let opts = ArchOptions {
            output: crate::nn::arch::OutputKind::Membrane { beta: 0.9 },
            ..ArchOptions::default()
        };
        let spec = parse_arch("4C3p1-MP2-4", train.shape(), &opts).unwrap();
        let cfg = TrainConfig {
            loss: LossSpec::CeMembrane,
            encoding: Encoding::Direct,
            ..config()
        };
        let mut t = Trainer::new(&spec, cfg).unwrap();
        t.fit(&train, Some(&test), &FitOptions::default(), &mut Silent)
            .unwrap();
        let acc = t.state.history.last().unwrap().test_accuracy.unwrap();
        assert!(acc > 90.0, "test accuracy {acc}");
    }

    /// Every core encoder chosen by name trains the toy task, dense and (for the
    /// widening ones, whose outputs must be channels-last) convolutional.
    #[test]
    fn every_core_encoder_trains_the_toy_task() {
        let (train, test) = (toy_data(400, 5), toy_data(200, 6));
        let cases = [
            ("poisson", "16-32-4"),
            ("bernoulli", "16-32-4"),
            ("latency-log", "16-32-4"),
            ("rank_order", "16-32-4"),
            ("log_temporal", "16-32-4"),
            ("phase", "16-32-4"),
            ("burst", "16-32-4"),
            ("population", "8C3p1-MP2-4"),
            ("temporal_switch", "8C3p1-MP2-4"),
        ];
        for (name, arch) in cases {
            let encoding = Encoding::named(name, 12, train.shape()).unwrap();
            let input = encoding.input_shape(train.shape()).unwrap();
            // One spike per pixel, the class in its timing: read it from a leaky
            // membrane, where earlier spikes weigh more.
            let timing = matches!(name, "latency-log" | "rank_order");
            let opts = ArchOptions {
                output: if timing {
                    crate::nn::arch::OutputKind::Membrane { beta: 0.9 }
                } else {
                    crate::nn::arch::OutputKind::Spiking
                },
                ..ArchOptions::default()
            };
            let spec = parse_arch(arch, input, &opts).unwrap();
            let cfg = TrainConfig {
                steps: 12,
                encoding,
                loss: if timing {
                    LossSpec::CeMembrane
                } else {
                    LossSpec::CeCount
                },
                ..config()
            };
            let mut t = Trainer::new(&spec, cfg).unwrap();
            t.fit(&train, Some(&test), &FitOptions::default(), &mut Silent)
                .unwrap();
            let acc = t.state.history.last().unwrap().test_accuracy.unwrap();
            assert!(acc > 80.0, "{name} ({arch}, input {input}): accuracy {acc}");
        }
        // A network built for the pixels refuses a widening encoder, naming it.
        let spec = parse_arch("16-32-4", train.shape(), &ArchOptions::default()).unwrap();
        let cfg = TrainConfig {
            encoding: Encoding::named("population", 12, train.shape()).unwrap(),
            ..config()
        };
        let mut t = Trainer::new(&spec, cfg).unwrap();
        let e = t
            .fit(&train, None, &FitOptions::default(), &mut Silent)
            .unwrap_err()
            .to_string();
        assert!(e.contains("population") && e.contains("takes"), "{e}");
    }

    struct StopAfter(usize);
    impl Monitor for StopAfter {
        fn on_batch(&mut self, _r: &BatchReport) -> bool {
            self.0 -= 1;
            self.0 > 0
        }
    }

    #[test]
    fn identical_training_gives_byte_identical_model_files() {
        let train = toy_data(64, 7);
        let test = toy_data(16, 8);
        let spec = parse_arch("16-12-4", train.shape(), &ArchOptions::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for run in 0..2 {
            let mut t = Trainer::new(&spec, config()).unwrap();
            t.fit(&train, Some(&test), &FitOptions::default(), &mut Silent)
                .unwrap();
            // Wall times differ from run to run; the model file must not show it.
            t.state.history[0].seconds = run as f64 + 0.5;
            let path = dir.path().join(format!("model{run}.safetensors"));
            t.save_model(&path).unwrap();
            files.push(std::fs::read(&path).unwrap());
        }
        assert!(files[0] == files[1], "model files differ");
        let m = load_model(&dir.path().join("model0.safetensors")).unwrap();
        assert_eq!(m.history.len(), config().epochs);
        assert_eq!(m.history[0].seconds, 0.0);
        assert!(m.history[0].train_loss > 0.0);
    }

    #[test]
    fn a_killed_run_resumes_exactly_and_matches_an_uninterrupted_one() {
        let train = toy_data(100, 5);
        let test = toy_data(50, 6);
        let mut spec = parse_arch("16-D0.2-12-4", train.shape(), &ArchOptions::default()).unwrap();
        spec.layers.insert(
            2,
            LayerSpec::BatchNorm {
                per_step: false,
                eps: 1e-5,
                momentum: 0.1,
            },
        );
        let cfg = TrainConfig {
            epochs: 2,
            schedule: Schedule::Cosine { min_lr: 0.0 },
            ..config()
        };
        let mut whole = Trainer::new(&spec, cfg.clone()).unwrap();
        whole
            .fit(&train, Some(&test), &FitOptions::default(), &mut Silent)
            .unwrap();

        let dir = tempfile::tempdir().unwrap();
        let ck = dir.path().join("checkpoint.safetensors");
        let opts = FitOptions {
            checkpoint: Some(ck.clone()),
            every_s: 1e-9, // after every batch
            ..FitOptions::default()
        };
        let mut first = Trainer::new(&spec, cfg).unwrap();
        // 7 batches per epoch: stop in the middle of the second epoch.
        let out = first
            .fit(&train, Some(&test), &opts, &mut StopAfter(10))
            .unwrap();
        assert_eq!(out, FitOutcome::Stopped);
        drop(first);
        let mut resumed = Trainer::resume(&ck).unwrap();
        assert_eq!((resumed.state.epoch, resumed.state.batch), (1, 3));
        resumed
            .fit(&train, Some(&test), &opts, &mut Silent)
            .unwrap();
        for ((n1, p1), (n2, p2)) in whole
            .net
            .named_params()
            .iter()
            .zip(resumed.net.named_params().iter())
        {
            assert_eq!(n1, n2);
            assert_eq!(p1.value, p2.value, "{n1}");
        }
        let strip = |h: &[EpochRecord]| -> Vec<(f64, f64, Option<f64>)> {
            h.iter()
                .map(|r| (r.train_loss, r.train_accuracy, r.test_accuracy))
                .collect()
        };
        assert_eq!(strip(&whole.state.history), strip(&resumed.state.history));
        // The model file round-trips.
        let mp = dir.path().join("model.safetensors");
        resumed.save_model(&mp).unwrap();
        let mut m = load_model(&mp).unwrap();
        assert_eq!(m.history.len(), 2);
        let a = evaluate(&mut m.net, &m.config, &test, None, &mut Silent);
        let b = resumed.evaluate(&test, None, &mut Silent);
        assert_eq!(a.predictions, b.predictions);
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let train = toy_data(64, 7);
        let spec = parse_arch("16-20-4", train.shape(), &ArchOptions::default()).unwrap();
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    let mut t = Trainer::new(
                        &spec,
                        TrainConfig {
                            epochs: 1,
                            ..config()
                        },
                    )
                    .unwrap();
                    t.fit(&train, None, &FitOptions::default(), &mut Silent)
                        .unwrap();
                    t.net
                        .named_params()
                        .iter()
                        .map(|(_, p)| p.value.clone())
                        .collect::<Vec<_>>()
                })
        };
        assert_eq!(run(1), run(3));
    }

    #[test]
    fn configuration_errors_name_the_field() {
        let spec = parse_arch("16-4", FeatShape::image(1, 4, 4), &ArchOptions::default()).unwrap();
        let bad = |c: TrainConfig| Trainer::new(&spec, c).unwrap_err().to_string();
        assert!(bad(TrainConfig {
            steps: 0,
            ..config()
        })
        .contains("steps"));
        assert!(bad(TrainConfig {
            lr: -1.0,
            ..config()
        })
        .contains("lr"));
        assert!(bad(TrainConfig {
            loss: LossSpec::CeMembrane,
            ..config()
        })
        .contains("readout"));
        let mut t = Trainer::new(&spec, config()).unwrap();
        let wrong = crate::data::dataset(vec![0; 9], vec![0], FeatShape::image(1, 3, 3));
        let e = t
            .fit(&wrong, None, &FitOptions::default(), &mut Silent)
            .unwrap_err()
            .to_string();
        assert!(e.contains("1x3x3"), "{e}");
    }
}
