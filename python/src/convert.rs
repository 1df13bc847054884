//! ANN→SNN conversion from Python: `spikelab_train::convert::pipeline::convert_model`
//! (the workflow of `spikelab convert`: calibrate, convert, measure the
//! accuracy-vs-T curve, write the spiking model) with the curve as numpy arrays.
//! ANN training itself is a `Trainer` with ReLU neurons, one step and direct input
//! (see `spikelab.convert.train_ann`); hybrid fine-tuning is `Trainer.from_converted`.

use crate::train::optional_dataset;
use crate::IntoPy;
use numpy::prelude::*;
use numpy::{PyReadonlyArray1, PyReadonlyArrayDyn};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spikelab_train::bptt::trainer::Silent;
use spikelab_train::convert::pipeline::{convert_model, convert_model_on, ConvertConfig};

/// Converts the ANN of a model file (or ANN run directory) with the JSON of
/// `ConvertConfig` (model, data, out, input, steps, max_steps, limit, batch, seed,
/// options): a dict with the ANN's accuracy, the curve (`steps`, `accuracy`,
/// `synops_per_inference`, `spikes_per_inference` arrays), the output directory and
/// the spiking model file.
/// With `x`, `y`, `x_test`, `y_test` (uint8 samples and labels, as the trainer
/// takes them) the data come from these arrays and `data` is not read.
#[pyfunction]
#[pyo3(signature = (config_json, x=None, y=None, x_test=None, y_test=None))]
fn convert_ann<'py>(
    py: Python<'py>,
    config_json: &str,
    x: Option<PyReadonlyArrayDyn<'_, u8>>,
    y: Option<PyReadonlyArray1<'_, u8>>,
    x_test: Option<PyReadonlyArrayDyn<'_, u8>>,
    y_test: Option<PyReadonlyArray1<'_, u8>>,
) -> PyResult<Bound<'py, PyDict>> {
    let cfg: ConvertConfig = serde_json::from_str(config_json)
        .map_err(|e| PyValueError::new_err(format!("invalid conversion option: {e}")))?;
    let arrays = match (
        optional_dataset(&x, &y, ("x", "y"))?,
        optional_dataset(&x_test, &y_test, ("x_test", "y_test"))?,
    ) {
        (Some(train), Some(test)) => Some((train, test)),
        (None, None) => None,
        _ => {
            return Err(PyValueError::new_err(
                "give all of `x`, `y`, `x_test`, `y_test`, or none (then `data` is read)",
            ))
        }
    };
    let r = py
        .detach(|| match &arrays {
            Some((train, test)) => convert_model_on(&cfg, train, test, &mut Silent),
            None => convert_model(&cfg, &mut Silent),
        })
        .py()?;
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
