//! ANN→SNN conversion from Python: `spikelab_train::convert::pipeline::convert_model`
//! (the workflow of `spikelab convert`: calibrate, convert, measure the
//! accuracy-vs-T curve, write the spiking model) with the curve as numpy arrays.
//! ANN training itself is a `Trainer` with ReLU neurons, one step and direct input
//! (see `spikelab.convert.train_ann`); hybrid fine-tuning is `Trainer.from_converted`.

use crate::IntoPy;
use numpy::prelude::*;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spikelab_train::bptt::trainer::Silent;
use spikelab_train::convert::pipeline::{convert_model, ConvertConfig};

/// Converts the ANN of a model file (or ANN run directory) with the JSON of
/// `ConvertConfig` (model, data, out, input, steps, max_steps, limit, batch, seed,
/// options): a dict with the ANN's accuracy, the curve (`steps`, `accuracy`,
/// `synops_per_inference`, `spikes_per_inference` arrays), the output directory and
/// the spiking model file.
#[pyfunction]
fn convert_ann<'py>(py: Python<'py>, config_json: &str) -> PyResult<Bound<'py, PyDict>> {
    let cfg: ConvertConfig = serde_json::from_str(config_json)
        .map_err(|e| PyValueError::new_err(format!("invalid conversion option: {e}")))?;
    let r = py.detach(|| convert_model(&cfg, &mut Silent)).py()?;
    let d = PyDict::new(py);
    d.set_item("ann_accuracy", r.ann_accuracy)?;
    d.set_item("ann_macs", r.ann.macs)?;
    d.set_item("samples", r.curve.samples)?;
    let pts = &r.curve.points;
    let steps: Vec<i64> = pts.iter().map(|p| p.steps as i64).collect();
    let acc: Vec<f64> = pts.iter().map(|p| p.accuracy).collect();
    let synops: Vec<f64> = pts.iter().map(|p| p.synops_per_inference).collect();
    let spikes: Vec<f64> = pts.iter().map(|p| p.spikes_per_inference).collect();
    d.set_item("steps", steps.into_pyarray(py))?;
    d.set_item("accuracy", acc.into_pyarray(py))?;
    d.set_item("synops_per_inference", synops.into_pyarray(py))?;
    d.set_item("spikes_per_inference", spikes.into_pyarray(py))?;
    d.set_item("seconds", r.curve.seconds)?;
    d.set_item("out", r.out)?;
    d.set_item("model", r.model)?;
    Ok(d)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(convert_ann, m)?)
}
