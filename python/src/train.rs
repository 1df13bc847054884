//! Surrogate-gradient training from Python: `spikelab_train`'s `Trainer` on numpy
//! data (uint8 samples as the library's `Dataset`), configured by the same
//! `NetOptions`/`TrainOptions` the command line fills, with the GIL released during
//! training and evaluation, Ctrl-C checked after every batch, model and checkpoint
//! files in the library's one format, and export to the engine.

use crate::sim::Simulator;
use crate::IntoPy;
use numpy::prelude::*;
use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spikelab_train::bptt::encode::check_input;
use spikelab_train::bptt::options::{fresh_run, NetOptions, TrainOptions};
use spikelab_train::bptt::trainer::{
    evaluate, load_model, BatchReport, EpochRecord, EvalResult, FitOptions, FitOutcome, Model,
    Monitor, TrainConfig, Trainer as CoreTrainer,
};
use spikelab_train::convert::hybrid::{hybrid_trainer, load_converted, HybridConfig};
use spikelab_train::data::{dataset, Dataset, SampleShape};
use spikelab_train::export::{evaluate_on_engine, export};
use spikelab_train::nn::network::Network as CoreNet;
use spikelab_train::nn::tensor::FeatShape;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

/// Samples as the library's dataset: `images` uint8 `(n, features)`, `(n, h, w)` or
/// `(n, h, w, channels)`; `labels` uint8 `(n,)` (zeros when None).
pub(crate) fn to_dataset(
    images: &PyReadonlyArrayDyn<'_, u8>,
    labels: Option<&PyReadonlyArray1<'_, u8>>,
) -> PyResult<Dataset> {
    let shape = images.shape().to_vec();
    let n = shape[0];
    let feat = match shape.len() {
        2 => FeatShape::image(1, 1, shape[1]),
        3 => FeatShape::image(1, shape[1], shape[2]),
        4 => FeatShape::image(shape[3], shape[1], shape[2]),
        d => {
            return Err(PyValueError::new_err(format!(
                "`x` has {d} dimensions; allowed: (n, features), (n, height, width) or (n, height, width, channels)"
            )))
        }
    };
    if n == 0 || feat.is_empty() {
        return Err(PyValueError::new_err(format!(
            "`x` is empty (shape {shape:?})"
        )));
    }
    let labels = match labels {
        Some(l) => {
            let l = l.as_slice()?.to_vec();
            if l.len() != n {
                return Err(PyValueError::new_err(format!(
                    "`y` has {} labels for {n} samples",
                    l.len()
                )));
            }
            l
        }
        None => vec![0; n],
    };
    let data = images.as_slice()?.to_vec();
    Ok(dataset(data, labels, feat))
}

/// The dataset of `x` and `y` when both are given, None when neither is; `names`
/// name them in the error otherwise.
pub(crate) fn optional_dataset(
    x: &Option<PyReadonlyArrayDyn<'_, u8>>,
    y: &Option<PyReadonlyArray1<'_, u8>>,
    names: (&str, &str),
) -> PyResult<Option<Dataset>> {
    match (x, y) {
        (Some(x), Some(y)) => Ok(Some(to_dataset(x, Some(y))?)),
        (None, None) => Ok(None),
        _ => Err(PyValueError::new_err(format!(
            "give both `{}` and `{}`, or neither",
            names.0, names.1
        ))),
    }
}

/// Progress on stderr (at most once a second, when asked) and Ctrl-C after every
/// batch: the GIL is taken for a moment to see pending signals.
struct PyMonitor {
    progress: bool,
    interrupted: bool,
    last: Instant,
    last_signal_check: Instant,
    epochs: usize,
}

impl PyMonitor {
    fn new(progress: bool, epochs: usize) -> Self {
        PyMonitor {
            progress,
            interrupted: false,
            last: Instant::now(),
            last_signal_check: Instant::now(),
            epochs,
        }
    }
}

impl Monitor for PyMonitor {
    fn on_batch(&mut self, r: &BatchReport) -> bool {
        if self.progress && self.last.elapsed().as_secs_f64() >= 1.0 {
            eprint!(
                "\repoch {}/{} batch {}/{}  loss {:.4}  acc {:.2}%  {:.0} samples/s   ",
                r.epoch + 1,
                self.epochs,
                r.batch,
                r.batches,
                r.loss,
                r.accuracy,
                r.samples_per_s
            );
            self.last = Instant::now();
        }
        // Signals are looked at every 50 ms: taking the GIL at every batch would
        // cost time when other Python threads hold it.
        if self.last_signal_check.elapsed().as_secs_f64() < 0.05 {
            return true;
        }
        self.last_signal_check = Instant::now();
        let stop = Python::attach(|py| py.check_signals().is_err());
        self.interrupted |= stop;
        !stop
    }
    fn on_epoch(&mut self, r: &EpochRecord) {
        if self.progress {
            let test = r
                .test_accuracy
                .map_or(String::from("-"), |a| format!("{a:.2}%"));
            eprintln!(
                "\repoch {}/{}  train loss {:.4}  train acc {:.2}%  test acc {test}  {:.1} s  {:.0} samples/s",
                r.epoch, self.epochs, r.train_loss, r.train_accuracy, r.seconds, r.samples_per_s
            );
        }
    }
}

fn epoch_dict<'py>(py: Python<'py>, r: &EpochRecord) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("epoch", r.epoch)?;
    d.set_item("train_loss", r.train_loss)?;
    d.set_item("train_accuracy", r.train_accuracy)?;
    d.set_item("test_accuracy", r.test_accuracy)?;
    d.set_item("test_loss", r.test_loss)?;
    d.set_item("lr", r.lr)?;
    d.set_item("seconds", r.seconds)?;
    d.set_item("samples_per_s", r.samples_per_s)?;
    Ok(d)
}

fn eval_dict<'py>(py: Python<'py>, r: &EvalResult) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("samples", r.samples)?;
    d.set_item("accuracy", r.accuracy)?;
    d.set_item("loss", r.loss)?;
    d.set_item("seconds", r.seconds)?;
    let spikes: Vec<f64> = r.spikes_per_sample.iter().map(|s| s.2).collect();
    d.set_item("spikes_per_sample", spikes)?;
    Ok(d)
}

/// What a Python trainer holds: a trainer that can learn, or a loaded model file
/// (evaluation, prediction, export; `resume` a checkpoint to train on).
enum Held {
    Training(Box<CoreTrainer>),
    Loaded(Box<Model>),
}

impl Held {
    fn parts(&mut self) -> (&mut CoreNet, &TrainConfig, &[EpochRecord]) {
        match self {
            Held::Training(t) => (&mut t.net, &t.config, &t.state.history),
            Held::Loaded(m) => (&mut m.net, &m.config, &m.history),
        }
    }
}

/// A spiking network with its training state (see `spikelab.SpikingClassifier`).
#[pyclass(module = "spikelab._native")]
pub struct Trainer {
    held: Mutex<Held>,
}

impl Trainer {
    fn with<R>(&self, f: impl FnOnce(&mut Held) -> R) -> R {
        let mut guard = self.held.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// The trainer's evaluation of the first `limit` samples of `data` (checked to
    /// fit the network first), with the GIL released.
    fn evaluate_on(
        &self,
        py: Python<'_>,
        data: &Dataset,
        limit: Option<usize>,
    ) -> PyResult<spikelab_train::bptt::trainer::EvalResult> {
        self.with(|held| {
            let (net, config, _) = held.parts();
            check_input(&config.encoding, data.shape(), net.input_shape()).py()?;
            let silent = &mut spikelab_train::prelude::Silent;
            Ok(py.detach(|| evaluate(net, config, data, limit, silent)))
        })
    }
}

impl Trainer {
    /// A loaded model (from a file or an import).
    pub(crate) fn from_model(m: Model) -> Self {
        Trainer {
            held: Mutex::new(Held::Loaded(Box::new(m))),
        }
    }
}

fn options<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> PyResult<T> {
    serde_json::from_str(json)
        .map_err(|e| PyValueError::new_err(format!("invalid {what} option: {e}")))
}

#[pymethods]
impl Trainer {
    /// A fresh network for samples of `sample_shape` (channels, height, width),
    /// from the JSON of `NetOptions` and `TrainOptions` (the command line's
    /// options: `arch`, `neuron`, `beta`, ... and `steps`, `batch_size`, `lr`,
    /// `encoding`, ...).
    #[new]
    fn new(
        net_options: &str,
        train_options: &str,
        epochs: usize,
        sample_shape: (usize, usize, usize),
    ) -> PyResult<Self> {
        let net: NetOptions = options(net_options, "network")?;
        let train: TrainOptions = options(train_options, "training")?;
        let (c, h, w) = sample_shape;
        let (spec, config) =
            fresh_run(&net, &train, epochs.max(1), FeatShape::image(c, h, w)).py()?;
        let trainer = CoreTrainer::new(&spec, config).py()?;
        Ok(Trainer {
            held: Mutex::new(Held::Training(Box::new(trainer))),
        })
    }

    /// Restores a trainer from a checkpoint file (model, optimizer, position).
    #[staticmethod]
    fn resume(path: PathBuf) -> PyResult<Self> {
        let t = CoreTrainer::resume(&path).py()?;
        Ok(Trainer {
            held: Mutex::new(Held::Training(Box::new(t))),
        })
    }

    /// A trainer that fine-tunes the converted spiking network of model file `path`
    /// by surrogate gradients (hybrid training), with the JSON of `HybridConfig`
    /// (steps, epochs, batch_size, lr, seed, ...).
    #[staticmethod]
    fn from_converted(path: PathBuf, config_json: &str) -> PyResult<Self> {
        let cfg: HybridConfig = options(config_json, "hybrid")?;
        let converted = load_converted(&path).py()?;
        let (t, _) = hybrid_trainer(&converted, &cfg).py()?;
        Ok(Trainer {
            held: Mutex::new(Held::Training(Box::new(t))),
        })
    }

    /// Loads a model file (or the model in a checkpoint) for evaluation, prediction
    /// and export.
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Self> {
        let m = load_model(&path).py()?;
        Ok(Trainer {
            held: Mutex::new(Held::Loaded(Box::new(m))),
        })
    }

    /// Trains until `epochs` epochs are done in all (continuing a resumed run),
    /// evaluating on the test set after each epoch and writing `checkpoint` after
    /// every epoch and every `checkpoint_every_s` seconds. Returns the epochs done in
    /// this call as dicts. Ctrl-C stops at the next batch boundary (the checkpoint
    /// holds the last one written) and raises KeyboardInterrupt.
    #[pyo3(signature = (x, y, epochs, x_test=None, y_test=None, checkpoint=None, checkpoint_every_s=60.0, test_limit=None, progress=false))]
    #[allow(clippy::too_many_arguments)]
    fn fit<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'_, u8>,
        y: PyReadonlyArray1<'_, u8>,
        epochs: usize,
        x_test: Option<PyReadonlyArrayDyn<'_, u8>>,
        y_test: Option<PyReadonlyArray1<'_, u8>>,
        checkpoint: Option<PathBuf>,
        checkpoint_every_s: f64,
        test_limit: Option<usize>,
        progress: bool,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let train = to_dataset(&x, Some(&y))?;
        let test = optional_dataset(&x_test, &y_test, ("x_test", "y_test"))?;
        let opts = FitOptions {
            checkpoint,
            every_s: checkpoint_every_s,
            test_limit,
            ..FitOptions::default()
        };
        let (outcome, done) = self.with(|held| -> PyResult<_> {
            // A loaded (or NIR-imported) model fine-tunes from its weights with its own
            // configuration and a fresh optimizer (`train surrogate --init`); `resume`
            // continues a run exactly instead.
            if let Held::Loaded(m) = held {
                let mut t = CoreTrainer::new(&m.net.spec, m.config.clone()).py()?;
                spikelab_train::convert::params::copy_params(&m.net, &mut t.net);
                *held = Held::Training(Box::new(t));
            }
            let Held::Training(t) = held else {
                unreachable!("a loaded model became a trainer above");
            };
            let before = t.state.history.len();
            t.config.epochs = epochs;
            let mut monitor = PyMonitor::new(progress, epochs);
            let outcome = py
                .detach(|| t.fit(&train, test.as_ref(), &opts, &mut monitor))
                .py()?;
            let done: Vec<EpochRecord> = t.state.history[before..].to_vec();
            Ok((
                if monitor.interrupted {
                    None
                } else {
                    Some(outcome)
                },
                done,
            ))
        })?;
        if outcome.is_none() || outcome == Some(FitOutcome::Stopped) {
            return Err(PyKeyboardInterrupt::new_err(
                "training interrupted at a batch boundary; the checkpoint (if any) holds the last one written",
            ));
        }
        done.iter().map(|r| epoch_dict(py, r)).collect()
    }

    /// Accuracy and loss on `x`, `y` (the first `limit` samples): a dict.
    #[pyo3(signature = (x, y, limit=None))]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'_, u8>,
        y: PyReadonlyArray1<'_, u8>,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let data = to_dataset(&x, Some(&y))?;
        let r = self.evaluate_on(py, &data, limit)?;
        eval_dict(py, &r)
    }

    /// Predicted class of every sample of `x` (int64).
    fn predict<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'_, u8>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let data = to_dataset(&x, None)?;
        let r = self.evaluate_on(py, &data, None)?;
        let p: Vec<i64> = r.predictions.iter().map(|&p| p as i64).collect();
        Ok(p.into_pyarray(py))
    }

    /// The network on given input values, `x` float32 `(n, T, features...)` (a value per
    /// input per step, channels last): the output of every step, `(n, T, outputs)` —
    /// spikes of a spiking output, the membrane of a readout. No encoding is applied.
    fn run<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'_, f32>,
    ) -> PyResult<Bound<'py, numpy::PyArray3<f32>>> {
        let dims = x.shape().to_vec();
        let data = x
            .as_slice()
            .map_or_else(|_| x.as_array().iter().copied().collect(), |s| s.to_vec());
        let (out, n, steps, n_out) = self.with(|held| -> PyResult<_> {
            let (net, _, _) = held.parts();
            let feats = net.input_shape().len();
            let steps = net.steps;
            if dims.len() < 3 || dims[1] != steps || dims[2..].iter().product::<usize>() != feats {
                return Err(PyValueError::new_err(format!(
                    "x must have shape (n, {steps}, features...) with {feats} features per step (the network's input {}), got {dims:?}",
                    net.input_shape()
                )));
            }
            let n = dims[0];
            let n_out = net.output_shape().len();
            let out = py.detach(|| net.run_dense(&data, n));
            Ok((out, n, steps, n_out))
        })?;
        out.into_pyarray(py).reshape([n, steps, n_out])
    }

    /// Writes the network as a NIR file; returns the notes of what was folded, dropped
    /// or stated only in metadata.
    #[pyo3(signature = (path, dt_ms=1.0, discretisation="euler"))]
    fn to_nir(&self, path: PathBuf, dt_ms: f64, discretisation: &str) -> PyResult<Vec<String>> {
        let opts = spikelab_train::nir::export::ExportOptions {
            dt_ms,
            discretisation: spikelab_train::nir::Discretisation::parse(discretisation).py()?,
        };
        self.with(|held| {
            let (net, config, _) = held.parts();
            let r = spikelab_train::nir::export::export_network(net, config, &opts).py()?;
            r.graph.write(&path).py()?;
            Ok(r.notes)
        })
    }

    /// Writes the model file (weights, architecture, configuration, history).
    fn save(&self, path: PathBuf) -> PyResult<()> {
        self.with(|held| match held {
            Held::Training(t) => t.save_model(&path).py(),
            Held::Loaded(_) => Err(PyValueError::new_err(
                "this model was loaded from a file; it is already saved",
            )),
        })
    }

    /// Writes a checkpoint (model, optimizer state, training position).
    fn save_checkpoint(&self, path: PathBuf) -> PyResult<()> {
        self.with(|held| match held {
            Held::Training(t) => t.save_checkpoint(&path).py(),
            Held::Loaded(_) => Err(PyValueError::new_err(
                "a loaded model has no optimizer state to checkpoint",
            )),
        })
    }

    /// The epochs trained so far (dicts).
    fn history<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let h: Vec<EpochRecord> = self.with(|held| held.parts().2.to_vec());
        h.iter().map(|r| epoch_dict(py, r)).collect()
    }

    /// Epochs done so far.
    #[getter]
    fn epochs_done(&self) -> usize {
        self.with(|held| match held {
            Held::Training(t) => t.state.epoch,
            Held::Loaded(m) => m.history.len(),
        })
    }

    /// The training configuration as JSON.
    fn config_json(&self) -> String {
        self.with(|held| serde_json::to_string(held.parts().1).unwrap_or_default())
    }

    /// A table of the layers, shapes and parameters.
    fn summary(&self) -> String {
        self.with(|held| held.parts().0.summary())
    }

    /// The parameters: a dict name → float32 array of its shape (a copy).
    fn parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let params: Vec<(String, Vec<usize>, Vec<f32>)> = self.with(|held| {
            held.parts()
                .0
                .named_params()
                .into_iter()
                .map(|(n, p)| (n, p.shape.clone(), p.value.clone()))
                .collect()
        });
        let d = PyDict::new(py);
        for (name, shape, value) in params {
            d.set_item(name, value.into_pyarray(py).reshape(shape)?)?;
        }
        Ok(d)
    }

    /// The trained network as an engine network (model-file TOML text) with time step
    /// `dt_ms`, and the engine steps of one presentation.
    #[pyo3(signature = (dt_ms=1.0))]
    fn export_toml(&self, dt_ms: f64) -> PyResult<(String, usize)> {
        self.with(|held| {
            let (net, config, _) = held.parts();
            let exported = export(net, config, dt_ms).py()?;
            Ok((exported.spec.to_toml_string().py()?, exported.total_steps()))
        })
    }

    /// The trained network exported to the engine, as a built simulator.
    #[pyo3(signature = (dt_ms=1.0))]
    fn to_simulator(&self, py: Python<'_>, dt_ms: f64) -> PyResult<Simulator> {
        let spec = self.with(|held| {
            let (net, config, _) = held.parts();
            export(net, config, dt_ms).py().map(|e| e.spec)
        })?;
        Simulator::build(py, spec, Some(1))
    }

    /// Accuracy of the exported network on the event-driven engine (the trainer's
    /// inputs replayed), its agreement with the trainer's predictions, and synaptic
    /// operations and spikes per inference: a dict.
    #[pyo3(signature = (x, y, limit=None, dt_ms=1.0))]
    fn evaluate_on_engine<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'_, u8>,
        y: PyReadonlyArray1<'_, u8>,
        limit: Option<usize>,
        dt_ms: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let data = to_dataset(&x, Some(&y))?;
        let (engine, trainer) = self.with(|held| {
            let (net, config, _) = held.parts();
            check_input(&config.encoding, data.shape(), net.input_shape()).py()?;
            py.detach(|| -> spikelab_core::error::Result<_> {
                let exported = export(net, config, dt_ms)?;
                let engine = evaluate_on_engine(net, config, &exported, &data, limit)?;
                let trainer = evaluate(
                    net,
                    config,
                    &data,
                    limit,
                    &mut spikelab_train::prelude::Silent,
                );
                Ok((engine, trainer))
            })
            .py()
        })?;
        let agree = engine
            .predictions
            .iter()
            .zip(&trainer.predictions)
            .filter(|(a, b)| a == b)
            .count();
        let d = PyDict::new(py);
        d.set_item("samples", engine.samples)?;
        d.set_item("accuracy", engine.accuracy)?;
        d.set_item("trainer_accuracy", trainer.accuracy)?;
        d.set_item(
            "agreement",
            100.0 * agree as f64 / engine.samples.max(1) as f64,
        )?;
        d.set_item("synops_per_inference", engine.synops_per_inference)?;
        d.set_item("spikes_per_inference", engine.spikes_per_inference.clone())?;
        d.set_item("seconds", engine.seconds)?;
        let p: Vec<i64> = engine.predictions.iter().map(|&p| p as i64).collect();
        d.set_item("predictions", p.into_pyarray(py))?;
        Ok(d)
    }
}

/// Sets the number of threads training uses (rayon's global pool; 0 = one per core).
/// Only the first call takes effect, before any training.
#[pyfunction]
fn set_threads(threads: usize) -> PyResult<()> {
    if threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .map_err(|e| PyValueError::new_err(format!("cannot set the thread count: {e}")))?;
    }
    Ok(())
}

/// Threads training uses.
#[pyfunction]
fn threads() -> usize {
    rayon::current_num_threads()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Trainer>()?;
    m.add_function(wrap_pyfunction!(set_threads, m)?)?;
    m.add_function(wrap_pyfunction!(threads, m)?)
}
