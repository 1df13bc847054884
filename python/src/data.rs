//! The data loaders from Python: MNIST-format image sets, event-camera files and
//! UCR/UEA time series (`spikelab_data`), returned as numpy arrays.

use numpy::prelude::*;
use numpy::{PyArray1, PyArray3, PyArrayDyn, PyReadonlyArray1};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use spikelab_data::images::{self, DatasetName, Split};
use spikelab_data::Error as DataError;
use std::path::PathBuf;

/// A data error as a Python exception: `OSError` for missing or unreadable files,
/// `ValueError` for malformed contents.
fn data_err(e: DataError) -> PyErr {
    match e {
        DataError::Io { .. } | DataError::NotFound(_) => PyOSError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

type Images<'py> = (Bound<'py, PyArrayDyn<u8>>, Bound<'py, PyArray1<u8>>);

/// Binned event frames `(n, frames, 2·H·W)` and their labels.
type FrameSet<'py> = (Bound<'py, PyArray3<u8>>, Bound<'py, PyArray1<u8>>);

/// A split (`train` or `test`) of an MNIST-format data set (`mnist`,
/// `fashion-mnist`, `kmnist`) from `root` (the data set's folder or its parent):
/// `(images uint8 (n, 28, 28), labels uint8 (n,))`, at most `limit` images.
#[pyfunction]
#[pyo3(signature = (root, name="mnist", split="train", limit=None))]
fn load_images<'py>(
    py: Python<'py>,
    root: PathBuf,
    name: &str,
    split: &str,
    limit: Option<usize>,
) -> PyResult<Images<'py>> {
    let name = DatasetName::parse(name).map_err(data_err)?;
    let split = Split::parse(split).map_err(data_err)?;
    let set = py
        .detach(|| images::load(&root, name, split, limit))
        .map_err(data_err)?;
    let mut shape = vec![set.len(), set.rows, set.cols];
    if set.channels > 1 {
        shape.push(set.channels);
    }
    let imgs = set.images.into_pyarray(py).reshape(shape)?;
    Ok((imgs, set.labels.into_pyarray(py)))
}

/// An event-camera file (N-MNIST `.bin`, `.csv` or `.npy` of events):
/// `(t_us uint64, x uint16, y uint16, polarity int8 (+1 ON / -1 OFF), width, height)`.
#[pyfunction]
#[pyo3(signature = (path, size=None))]
#[allow(clippy::type_complexity)]
fn load_events<'py>(
    py: Python<'py>,
    path: PathBuf,
    size: Option<(usize, usize)>,
) -> PyResult<(
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u16>>,
    Bound<'py, PyArray1<u16>>,
    Bound<'py, PyArray1<i8>>,
    usize,
    usize,
)> {
    let s = spikelab_data::events::EventStream::read(&path, size).map_err(data_err)?;
    let t: Vec<u64> = s.events.iter().map(|e| e.t_us).collect();
    let x: Vec<u16> = s.events.iter().map(|e| e.x).collect();
    let y: Vec<u16> = s.events.iter().map(|e| e.y).collect();
    let p: Vec<i8> = s
        .events
        .iter()
        .map(|e| match e.polarity {
            spikelab_core::encoding::Polarity::On => 1,
            spikelab_core::encoding::Polarity::Off => -1,
        })
        .collect();
    Ok((
        t.into_pyarray(py),
        x.into_pyarray(py),
        y.into_pyarray(py),
        p.into_pyarray(py),
        s.width,
        s.height,
    ))
}

/// Events binned into frames: `(counts float32 (frames, 2, height, width), start_us
/// uint64 (frames,))` (polarity 0 = OFF, 1 = ON), with exactly one of `n_frames`
/// (equal durations), `bin_us` (fixed duration) or `event_bins` (equal event counts).
#[pyfunction]
#[pyo3(signature = (t_us, x, y, polarity, width, height, n_frames=None, bin_us=None, event_bins=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn events_to_frames<'py>(
    py: Python<'py>,
    t_us: PyReadonlyArray1<'_, u64>,
    x: PyReadonlyArray1<'_, u16>,
    y: PyReadonlyArray1<'_, u16>,
    polarity: PyReadonlyArray1<'_, i8>,
    width: usize,
    height: usize,
    n_frames: Option<usize>,
    bin_us: Option<u64>,
    event_bins: Option<usize>,
) -> PyResult<(Bound<'py, PyArrayDyn<f32>>, Bound<'py, PyArray1<u64>>)> {
    use spikelab_core::encoding::{Event, Polarity};
    use spikelab_data::events::{EventStream, FrameBinning};
    let binning = match (n_frames, bin_us, event_bins) {
        (Some(n), None, None) => FrameBinning::TimeBins(n),
        (None, Some(d), None) => FrameBinning::BinDurationUs(d),
        (None, None, Some(n)) => FrameBinning::EventCountBins(n),
        _ => {
            return Err(PyValueError::new_err(
                "give exactly one of `n_frames`, `bin_us` or `event_bins`",
            ))
        }
    };
    let (t, xs, ys, ps) = (
        t_us.as_slice()?,
        x.as_slice()?,
        y.as_slice()?,
        polarity.as_slice()?,
    );
    if xs.len() != t.len() || ys.len() != t.len() || ps.len() != t.len() {
        return Err(PyValueError::new_err(
            "`t_us`, `x`, `y` and `polarity` must have the same length",
        ));
    }
    let mut events = Vec::with_capacity(t.len());
    for i in 0..t.len() {
        let polarity = match ps[i] {
            1 => Polarity::On,
            -1 | 0 => Polarity::Off,
            p => {
                return Err(PyValueError::new_err(format!(
                    "invalid value for `polarity`: {p} at index {i}; allowed: 1 (ON), -1 or 0 (OFF)"
                )))
            }
        };
        events.push(Event {
            t_us: t[i],
            x: xs[i],
            y: ys[i],
            polarity,
        });
    }
    let stream = EventStream::new(width, height, events).map_err(data_err)?;
    let frames = stream.to_frames(binning).map_err(data_err)?;
    let shape = vec![frames.n_frames, 2, frames.height, frames.width];
    Ok((
        frames.data.into_pyarray(py).reshape(shape)?,
        frames.starts_us.into_pyarray(py),
    ))
}

/// A split of a UCR/UEA time-series problem (`.ts` files) from `root`: `(values
/// float32 (n, steps, dims), labels uint16 (n,), class_names, lengths uint64 (n,))`;
/// series shorter than the longest are padded with their last value.
#[pyfunction]
#[pyo3(signature = (root, name, split="train"))]
#[allow(clippy::type_complexity)]
fn load_timeseries<'py>(
    py: Python<'py>,
    root: PathBuf,
    name: &str,
    split: &str,
) -> PyResult<(
    Bound<'py, PyArray3<f32>>,
    Bound<'py, PyArray1<u16>>,
    Vec<String>,
    Bound<'py, PyArray1<u64>>,
)> {
    let split = Split::parse(split).map_err(data_err)?;
    let set = spikelab_data::timeseries::load_ucr(&root, name, split).map_err(data_err)?;
    let n = set.samples.len();
    let steps = set.samples.iter().map(|s| s.steps).max().unwrap_or(0);
    let dims = set.dims;
    let mut values = Vec::with_capacity(n * steps * dims);
    for s in &set.samples {
        values.extend_from_slice(&s.values);
        let last = if s.steps > 0 {
            s.values[(s.steps - 1) * dims..s.steps * dims].to_vec()
        } else {
            vec![0.0; dims]
        };
        for _ in s.steps..steps {
            values.extend_from_slice(&last);
        }
    }
    let labels: Vec<u16> = set.samples.iter().map(|s| s.label).collect();
    let lengths: Vec<u64> = set.samples.iter().map(|s| s.steps as u64).collect();
    Ok((
        values.into_pyarray(py).reshape([n, steps, dims])?,
        labels.into_pyarray(py),
        set.class_names,
        lengths.into_pyarray(py),
    ))
}

/// A split of an event-camera data set in the N-MNIST folder layout
/// (`Train/<label>/*.bin`, `Test/<label>/*.bin`) as binned frames: `(frames uint8
/// (n, frames, 2·H·W), labels uint8 (n,))`, counts as `min(64·count, 255)`, at most
/// `limit` recordings spread over the classes; `size = (width, height)` overrides the
/// sensor the reader finds.
#[pyfunction]
#[pyo3(signature = (root, split="train", frames=10, limit=None, size=None))]
fn load_event_folder<'py>(
    py: Python<'py>,
    root: PathBuf,
    split: &str,
    frames: usize,
    limit: Option<usize>,
    size: Option<(usize, usize)>,
) -> PyResult<FrameSet<'py>> {
    use spikelab_data::event_folders::{load_event_folder as load, EventFrames};
    let split = Split::parse(split).map_err(data_err)?;
    let b = EventFrames { frames, size };
    let set = py
        .detach(|| load(&root, split, b, limit))
        .map_err(data_err)?;
    let (n, rows, cols) = (set.len(), set.rows, set.cols);
    Ok((
        set.images.into_pyarray(py).reshape([n, rows, cols])?,
        set.labels.into_pyarray(py),
    ))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(load_images, m)?)?;
    m.add_function(wrap_pyfunction!(load_events, m)?)?;
    m.add_function(wrap_pyfunction!(events_to_frames, m)?)?;
    m.add_function(wrap_pyfunction!(load_event_folder, m)?)?;
    m.add_function(wrap_pyfunction!(load_timeseries, m)?)
}
