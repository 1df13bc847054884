//! `spikelab._native`: the Python extension module. Each file binds one part of the
//! Rust libraries and holds no logic of its own: `sim.rs` the simulator, `values.rs`
//! Python objects as TOML values (the model-file vocabulary), `encode.rs` encoders and
//! spike-train statistics, `data.rs` the data loaders, `train.rs` surrogate-gradient
//! training and export, `convert.rs` ANN training and ANN→SNN conversion, `stdp.rs`
//! the Diehl & Cook recipe, `nir.rs` NIR files and their import, `lsm.rs`
//! liquid state machines. The Python package `spikelab` (python/spikelab) wraps this
//! module in classes with docstrings and plots.

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

// Large blocks on a cache line, as the `spikelab` binary does: the trainer's 512-bit
// kernels run about 8 % slower on the system allocator's 16-byte alignment.
#[global_allocator]
static ALLOC: spikelab_train::nn::alloc::CacheLineAligned =
    spikelab_train::nn::alloc::CacheLineAligned;

mod convert;
mod data;
mod encode;
mod lsm;
mod nir;
mod sim;
mod stdp;
mod train;
mod values;

/// A Spikelab error as the Python exception a user expects: `OSError` for files,
/// `ValueError` for everything else (bad fields, unknown names, sizes), with the
/// library's message, which names the field and the allowed values.
pub(crate) fn py_err(e: spikelab_core::error::Error) -> PyErr {
    match e {
        spikelab_core::error::Error::Io { .. } => PyOSError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// `Result` of the library into a Python result.
pub(crate) trait IntoPy<T> {
    /// Maps the error with [`py_err`].
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for spikelab_core::error::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(py_err)
    }
}

/// Two numpy vectors (e.g. spike times and neuron indices), as a Python result.
pub(crate) type ArrayPair<'py, A, B> = PyResult<(
    Bound<'py, numpy::PyArray1<A>>,
    Bound<'py, numpy::PyArray1<B>>,
)>;

/// The Spikelab version this module was built from.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(version, m)?)?;
    values::register(m)?;
    sim::register(m)?;
    encode::register(m)?;
    data::register(m)?;
    train::register(m)?;
    convert::register(m)?;
    stdp::register(m)?;
    nir::register(m)?;
    lsm::register(m)?;
    Ok(())
}
