//! Diehl & Cook (2015) unsupervised STDP learning from Python:
//! `spikelab_train::stdp::session` (train in an output directory with checkpoints
//! that resume, label assignment, test evaluation), with receptive fields and the
//! confusion matrix as numpy arrays.

use crate::train::optional_dataset;
use numpy::prelude::*;
use numpy::{PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spikelab_train::stdp::diehl_cook::{DiehlCook, DiehlCookError};
use spikelab_train::stdp::session::{
    run_eval, run_train, run_train_on, StdpEvalConfig, StdpMonitor, StdpTrainConfig,
};
use spikelab_train::stdp::train::Evaluation;

fn stdp_err(e: DiehlCookError) -> PyErr {
    match e {
        DiehlCookError::Core(c) => crate::py_err(c),
        DiehlCookError::Invalid(m) if m.contains("cannot ") => PyOSError::new_err(m),
        DiehlCookError::Invalid(m) => PyValueError::new_err(m),
    }
}

/// Progress lines on stderr (when asked) and Ctrl-C between presentations.
struct PyStdpMonitor {
    progress: bool,
    interrupted: bool,
    last: std::time::Instant,
}

impl StdpMonitor for PyStdpMonitor {
    fn on_progress(&mut self, p: &spikelab_train::stdp::train::Progress) {
        if self.progress && self.last.elapsed().as_secs_f64() >= 1.0 {
            eprintln!("{p:?}");
            self.last = std::time::Instant::now();
        }
        if !self.interrupted {
            self.interrupted = Python::attach(|py| py.check_signals().is_err());
        }
    }
}

fn evaluation_dict<'py>(
    py: Python<'py>,
    ev: &Evaluation,
    images: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("images", images)?;
    d.set_item("accuracy", ev.accuracy)?;
    d.set_item("accuracy_weighted", ev.accuracy_weighted)?;
    let k = ev.confusion.len();
    let flat: Vec<u32> = ev.confusion.iter().flatten().copied().collect();
    d.set_item("confusion", flat.into_pyarray(py).reshape([k, k])?)?;
    d.set_item("wall_s", ev.wall_s)?;
    Ok(d)
}

fn fields<'py>(py: Python<'py>, net: &DiehlCook) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let rf = net.receptive_fields();
    let n = rf.len();
    let flat: Vec<f32> = rf.into_iter().flatten().collect();
    let per = flat.len() / n.max(1);
    flat.into_pyarray(py).reshape([n, per])
}

/// Trains a Diehl & Cook network with the JSON of `StdpTrainConfig` (data, neurons,
/// epochs, examples, assign_examples, test_examples, seed, threads, out,
/// checkpoint_every, fresh): a dict with the receptive fields (neurons × 784), the
/// neurons' labels, the training wall time and, with test examples, the evaluation.
/// With `x`, `y` (uint8 `(n, 28, 28)` images and labels) the training images come
/// from these arrays, and the test images from `x_test`, `y_test` (none: no test);
/// `data` is not read.
#[pyfunction]
#[pyo3(signature = (config_json, progress=false, x=None, y=None, x_test=None, y_test=None))]
fn stdp_train<'py>(
    py: Python<'py>,
    config_json: &str,
    progress: bool,
    x: Option<PyReadonlyArrayDyn<'_, u8>>,
    y: Option<PyReadonlyArray1<'_, u8>>,
    x_test: Option<PyReadonlyArrayDyn<'_, u8>>,
    y_test: Option<PyReadonlyArray1<'_, u8>>,
) -> PyResult<Bound<'py, PyDict>> {
    let cfg: StdpTrainConfig = serde_json::from_str(config_json)
        .map_err(|e| PyValueError::new_err(format!("invalid STDP option: {e}")))?;
    let train = optional_dataset(&x, &y, ("x", "y"))?;
    let test = optional_dataset(&x_test, &y_test, ("x_test", "y_test"))?;
    let mut monitor = PyStdpMonitor {
        progress,
        interrupted: false,
        last: std::time::Instant::now(),
    };
    let r = py
        .detach(|| match &train {
            Some(train) => run_train_on(&cfg, train, test.as_ref(), &mut monitor),
            None => run_train(&cfg, &mut monitor),
        })
        .map_err(stdp_err)?;
    if monitor.interrupted {
        return Err(PyKeyboardInterrupt::new_err("interrupted"));
    }
    let d = PyDict::new(py);
    d.set_item("receptive_fields", fields(py, &r.trained.net)?)?;
    d.set_item(
        "labels",
        PyArray1::from_slice(py, &r.trained.labels.assignment),
    )?;
    d.set_item("train_s", r.trained.train_s)?;
    d.set_item("trained_examples", r.trained.trained_examples)?;
    d.set_item("checkpoint", cfg.checkpoint())?;
    if let Some(t) = &r.test {
        d.set_item("test", evaluation_dict(py, &t.evaluation, t.images)?)?;
    }
    Ok(d)
}

/// Evaluates a trained network (JSON of `StdpEvalConfig`: checkpoint, data,
/// examples, out): the evaluation dict.
#[pyfunction]
fn stdp_evaluate<'py>(py: Python<'py>, config_json: &str) -> PyResult<Bound<'py, PyDict>> {
    let cfg: StdpEvalConfig = serde_json::from_str(config_json)
        .map_err(|e| PyValueError::new_err(format!("invalid STDP option: {e}")))?;
    let (net, r) = py.detach(|| run_eval(&cfg, &mut ())).map_err(stdp_err)?;
    let d = evaluation_dict(py, &r.evaluation, r.images)?;
    d.set_item("receptive_fields", fields(py, &net)?)?;
    Ok(d)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(stdp_train, m)?)?;
    m.add_function(wrap_pyfunction!(stdp_evaluate, m)?)
}
