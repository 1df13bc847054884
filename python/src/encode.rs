//! Encoders and spike-train statistics on numpy arrays: `spikelab_core::encoding`
//! (every encoder of `EncoderSpec`, by name with its time parameters fitted to the
//! window as `spikelab data show` and training do, or from a parameter dict) and
//! `spikelab_core::analysis`.

use crate::IntoPy;
use numpy::prelude::*;
use numpy::{PyArray1, PyArray3, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use spikelab_core::analysis;
use spikelab_core::encoding::{EncoderSpec, TimeGrid};

/// The encoder: by `name` fitted to the grid and image size, or from TOML text.
fn spec(
    name: &str,
    encoder_toml: Option<&str>,
    grid: &TimeGrid,
    width: usize,
    height: usize,
) -> PyResult<EncoderSpec> {
    match encoder_toml {
        Some(text) => EncoderSpec::from_toml(text, "encoder").py(),
        None => Ok(EncoderSpec::by_name(name)
            .py()?
            .fitted_to(grid, width, height)),
    }
}

/// Encodes a batch `x` (float32 `(batch, features)`, intensities in [0, 1]) into a
/// uint8 spike tensor `(steps, batch, outputs)` on a grid of `steps` × `dt_ms`.
/// Sample `b` is keyed by `first_key + b` for the random encoders (the same key
/// gives the same spikes). `width`/`height` describe images for `saccades`.
#[pyfunction]
#[pyo3(signature = (x, name, steps, dt_ms=1.0, seed=0, first_key=0, encoder_toml=None, width=0, height=0))]
#[allow(clippy::too_many_arguments)]
fn encode_batch<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'_, f32>,
    name: &str,
    steps: usize,
    dt_ms: f64,
    seed: u64,
    first_key: u64,
    encoder_toml: Option<&str>,
    width: usize,
    height: usize,
) -> PyResult<Bound<'py, PyArray3<u8>>> {
    let grid = TimeGrid::new(steps, dt_ms).py()?;
    let (batch, n_inputs) = (x.shape()[0], x.shape()[1]);
    let spec = spec(name, encoder_toml, &grid, width, height)?;
    let encoder = spec.encoder();
    let n_out = encoder.n_outputs(n_inputs);
    let keys: Vec<u64> = (0..batch as u64).map(|b| first_key + b).collect();
    let inputs = x.as_slice()?;
    let mut out = vec![0u8; steps * batch * n_out];
    py.detach(|| encoder.encode_batch_u8(inputs, n_inputs, &keys, &grid, seed, &mut out))
        .py()?;
    out.into_pyarray(py).reshape([steps, batch, n_out])
}

/// Encodes one sample (float32 `(features,)`) into spike trains over `steps` ×
/// `dt_ms`: `(times_ms float64[n], neurons uint32[n])` in time order, ready for a
/// spike-generator population.
#[pyfunction]
#[pyo3(signature = (x, name, steps, dt_ms=1.0, seed=0, key=0, encoder_toml=None, width=0, height=0))]
#[allow(clippy::too_many_arguments)]
fn encode_trains<'py>(
    py: Python<'py>,
    x: PyReadonlyArray1<'_, f32>,
    name: &str,
    steps: usize,
    dt_ms: f64,
    seed: u64,
    key: u64,
    encoder_toml: Option<&str>,
    width: usize,
    height: usize,
) -> crate::ArrayPair<'py, f64, u32> {
    let grid = TimeGrid::new(steps, dt_ms).py()?;
    let spec = spec(name, encoder_toml, &grid, width, height)?;
    let mut trains = spec.encoder().encode(x.as_slice()?, &grid, seed, key);
    trains.sort();
    let (times, neurons): (Vec<f64>, Vec<u32>) = trains.iter().map(|(n, t)| (t, n)).unzip();
    Ok((times.into_pyarray(py), neurons.into_pyarray(py)))
}

/// Number of output neurons of encoder `name` for `n_inputs` values.
#[pyfunction]
#[pyo3(signature = (name, n_inputs, encoder_toml=None))]
fn encoder_outputs(name: &str, n_inputs: usize, encoder_toml: Option<&str>) -> PyResult<usize> {
    let grid = TimeGrid::new(2, 1.0).py()?;
    Ok(spec(name, encoder_toml, &grid, 1, 1)?
        .encoder()
        .n_outputs(n_inputs))
}

/// The encoder names `encode` accepts.
#[pyfunction]
fn encoder_names() -> Vec<String> {
    EncoderSpec::NAMES
        .split(", ")
        .map(|s| s.split(' ').next().unwrap_or(s).to_string())
        .collect()
}

fn bad(e: spikelab_core::error::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Mean firing rate (Hz) of each neuron over [t_start_ms, t_stop_ms).
#[pyfunction]
fn firing_rates_hz<'py>(
    py: Python<'py>,
    times_ms: PyReadonlyArray1<'_, f64>,
    neurons: PyReadonlyArray1<'_, u32>,
    n_neurons: usize,
    t_start_ms: f64,
    t_stop_ms: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let r = analysis::firing_rates_hz(
        times_ms.as_slice()?,
        neurons.as_slice()?,
        n_neurons,
        t_start_ms,
        t_stop_ms,
    )
    .map_err(bad)?;
    Ok(r.into_pyarray(py))
}

/// Coefficient of variation of each neuron's inter-spike intervals (NaN below 2).
#[pyfunction]
fn isi_cv<'py>(
    py: Python<'py>,
    times_ms: PyReadonlyArray1<'_, f64>,
    neurons: PyReadonlyArray1<'_, u32>,
    n_neurons: usize,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let r = analysis::isi_cv(times_ms.as_slice()?, neurons.as_slice()?, n_neurons).map_err(bad)?;
    Ok(r.into_pyarray(py))
}

/// Fano factor of each neuron's spike counts in bins of `bin_ms`.
#[pyfunction]
fn fano_factor<'py>(
    py: Python<'py>,
    times_ms: PyReadonlyArray1<'_, f64>,
    neurons: PyReadonlyArray1<'_, u32>,
    n_neurons: usize,
    t_start_ms: f64,
    t_stop_ms: f64,
    bin_ms: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let r = analysis::fano_factor(
        times_ms.as_slice()?,
        neurons.as_slice()?,
        n_neurons,
        t_start_ms,
        t_stop_ms,
        bin_ms,
    )
    .map_err(bad)?;
    Ok(r.into_pyarray(py))
}

/// Population rate (Hz per neuron) in bins of `bin_ms`: `(bin_start_ms, rate_hz)`.
#[pyfunction]
fn psth<'py>(
    py: Python<'py>,
    times_ms: PyReadonlyArray1<'_, f64>,
    n_neurons: usize,
    t_start_ms: f64,
    t_stop_ms: f64,
    bin_ms: f64,
) -> crate::ArrayPair<'py, f64, f64> {
    let (starts, rates) = analysis::psth(
        times_ms.as_slice()?,
        n_neurons,
        t_start_ms,
        t_stop_ms,
        bin_ms,
    )
    .map_err(bad)?;
    Ok((starts.into_pyarray(py), rates.into_pyarray(py)))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(encode_batch, m)?)?;
    m.add_function(wrap_pyfunction!(encode_trains, m)?)?;
    m.add_function(wrap_pyfunction!(encoder_outputs, m)?)?;
    m.add_function(wrap_pyfunction!(encoder_names, m)?)?;
    m.add_function(wrap_pyfunction!(firing_rates_hz, m)?)?;
    m.add_function(wrap_pyfunction!(isi_cv, m)?)?;
    m.add_function(wrap_pyfunction!(fano_factor, m)?)?;
    m.add_function(wrap_pyfunction!(psth, m)?)
}
