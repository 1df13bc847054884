//! Liquid state machines from Python: `spikelab_train::lsm::LiquidStateMachine`
//! built from the JSON of its `LsmConfig`, fitted, applied and saved, with series
//! given as a float32 array `(n, steps, channels)` and each series' length.

use numpy::prelude::*;
use numpy::{PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray3};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use spikelab_data::timeseries::{Series, TimeSeriesSet};
use spikelab_train::lsm::machine::Quiet;
use spikelab_train::lsm::{LiquidStateMachine, LsmConfig};
use std::path::PathBuf;

use crate::IntoPy;

/// A fitted or unfitted liquid state machine.
#[pyclass(module = "spikelab._native")]
pub struct Lsm {
    inner: LiquidStateMachine,
}

fn json_err(e: serde_json::Error) -> PyErr {
    PyValueError::new_err(format!("invalid LSM configuration: {e}"))
}

/// The series of `values` (n × steps × channels), each cut to its length, labelled.
fn series_set(
    values: &PyReadonlyArray3<f32>,
    lengths: &PyReadonlyArray1<u64>,
    labels: Option<&PyReadonlyArray1<u16>>,
    class_names: &[String],
) -> PyResult<TimeSeriesSet> {
    let v = values.as_array();
    let (n, steps, dims) = v.dim();
    let lengths = lengths.as_slice()?;
    if lengths.len() != n {
        return Err(PyValueError::new_err(format!(
            "lengths has {} entries for {n} series",
            lengths.len()
        )));
    }
    if let Some((i, &l)) = lengths
        .iter()
        .enumerate()
        .find(|(_, &l)| l == 0 || l as usize > steps)
    {
        return Err(PyValueError::new_err(format!(
            "lengths[{i}] = {l} is not in 1..={steps}"
        )));
    }
    let labels: Vec<u16> = match labels {
        Some(l) => {
            let l = l.as_slice()?.to_vec();
            if l.len() != n {
                return Err(PyValueError::new_err(format!(
                    "{} labels for {n} series",
                    l.len()
                )));
            }
            l
        }
        None => vec![0; n],
    };
    let samples = (0..n)
        .map(|i| {
            let len = lengths[i] as usize;
            Series {
                values: v
                    .slice(numpy::ndarray::s![i, ..len, ..])
                    .iter()
                    .copied()
                    .collect(),
                steps: len,
                label: labels[i],
            }
        })
        .collect();
    Ok(TimeSeriesSet {
        name: "arrays".into(),
        dims,
        class_names: class_names.to_vec(),
        samples,
    })
}

#[pymethods]
impl Lsm {
    /// A machine from the JSON of an `LsmConfig` for series of `channels` channels
    /// and these classes.
    #[new]
    fn new(config_json: &str, channels: usize, class_names: Vec<String>) -> PyResult<Self> {
        let config: LsmConfig = serde_json::from_str(config_json).map_err(json_err)?;
        Ok(Lsm {
            inner: LiquidStateMachine::new(config, channels, class_names).py()?,
        })
    }

    /// A machine written by `save`.
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Self> {
        Ok(Lsm {
            inner: LiquidStateMachine::load(&path).py()?,
        })
    }

    /// Writes the fitted machine to `path` (safetensors).
    fn save(&self, path: PathBuf) -> PyResult<()> {
        self.inner.save(&path).py()
    }

    /// The configuration as JSON.
    fn config_json(&self) -> String {
        serde_json::to_string(&self.inner.config).expect("the configuration serialises")
    }

    /// Channels of the series the machine takes.
    #[getter]
    fn channels(&self) -> usize {
        self.inner.channels
    }

    /// Class names.
    #[getter]
    fn class_names(&self) -> Vec<String> {
        self.inner.class_names.clone()
    }

    /// Liquid neurons (all liquids).
    #[getter]
    fn neurons(&self) -> usize {
        self.inner.built.neurons
    }

    /// Length of a state vector.
    #[getter]
    fn state_len(&self) -> usize {
        self.inner.state_len()
    }

    /// Whether the readout is fitted.
    #[getter]
    fn fitted(&self) -> bool {
        self.inner.readout.is_some()
    }

    /// Fits normalisation, adaptation and readout; returns the report as JSON.
    fn fit(
        &mut self,
        py: Python<'_>,
        values: PyReadonlyArray3<f32>,
        lengths: PyReadonlyArray1<u64>,
        labels: PyReadonlyArray1<u16>,
        threads: usize,
    ) -> PyResult<String> {
        let set = series_set(&values, &lengths, Some(&labels), &self.inner.class_names)?;
        let inner = &mut self.inner;
        let report = py.detach(|| inner.fit(&set, threads, &Quiet)).py()?;
        Ok(serde_json::to_string(&report).expect("the report serialises"))
    }

    /// The liquid states, float64 `(n, state_len)`.
    fn states<'py>(
        &self,
        py: Python<'py>,
        values: PyReadonlyArray3<f32>,
        lengths: PyReadonlyArray1<u64>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let set = series_set(&values, &lengths, None, &self.inner.class_names)?;
        let states = py
            .detach(|| self.inner.states(&set, threads, &Quiet))
            .py()?;
        // The library's ndarray is not numpy's: hand the values over row-major.
        let (n, width) = states.features.dim();
        let flat: Vec<f64> = states.features.into_iter().collect();
        flat.into_pyarray(py).reshape([n, width])
    }

    /// The predicted class index of each series.
    fn predict<'py>(
        &self,
        py: Python<'py>,
        values: PyReadonlyArray3<f32>,
        lengths: PyReadonlyArray1<u64>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let set = series_set(&values, &lengths, None, &self.inner.class_names)?;
        let pred = py
            .detach(|| self.inner.predict(&set, threads, &Quiet))
            .py()?;
        Ok(pred
            .into_iter()
            .map(|p| p as i64)
            .collect::<Vec<_>>()
            .into_pyarray(py))
    }

    /// Accuracy, confusion matrix and predictions on labelled series, as JSON.
    fn evaluate(
        &self,
        py: Python<'_>,
        values: PyReadonlyArray3<f32>,
        lengths: PyReadonlyArray1<u64>,
        labels: PyReadonlyArray1<u16>,
        threads: usize,
    ) -> PyResult<String> {
        let set = series_set(&values, &lengths, Some(&labels), &self.inner.class_names)?;
        if let Some(s) = set
            .samples
            .iter()
            .find(|s| s.label as usize >= self.inner.classes())
        {
            return Err(PyValueError::new_err(format!(
                "label {} is not below the machine's {} classes",
                s.label,
                self.inner.classes()
            )));
        }
        let ev = py
            .detach(|| self.inner.evaluate(&set, threads, &Quiet))
            .py()?;
        Ok(serde_json::to_string(&ev).expect("the evaluation serialises"))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Lsm>()
}
