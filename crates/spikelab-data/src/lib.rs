//! # spikelab-data
//!
//! Data sets for Spikelab: the IDX format of MNIST, Fashion-MNIST and KMNIST
//! ([`idx`], [`images`]), event-camera streams in the N-MNIST binary format and as
//! CSV / NPY event lists, with conversion to frames and to spike trains ([`events`]),
//! labelled time series in the UCR/UEA `.ts` format ([`timeseries`]), images read as
//! sequences (sequential and permuted MNIST, [`sequential`]), and downloading
//! with checksums into a cache directory ([`fetch`]).
//!
//! ```no_run
//! use spikelab_data::images::{load, DatasetName, Split};
//! use spikelab_core::encoding::{BernoulliRate, Encoder, TimeGrid};
//!
//! let train = load("../shared/data".as_ref(), DatasetName::Mnist, Split::Train, None)?;
//! let mut batch = vec![0f32; 128 * train.pixels()];
//! let indices: Vec<usize> = (0..128).collect();
//! train.batch_f32(&indices, &mut batch)?;
//! let grid = TimeGrid::new(25, 1.0)?;
//! let mut spikes = vec![0u8; 25 * 128 * train.pixels()];
//! let keys: Vec<u64> = indices.iter().map(|&i| i as u64).collect();
//! BernoulliRate::default().encode_batch_u8(&batch, train.pixels(), &keys, &grid, 1, &mut spikes)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod error;
pub mod events;
pub mod fetch;
pub mod idx;
pub mod images;
pub mod sequential;
pub mod timeseries;

pub use error::{Error, Result};
pub use events::{EventStream, FrameBinning, Frames};
pub use images::{load, load_mnist, DatasetName, ImageSet, Split};
pub use sequential::{SequenceOrder, SequentialImages};
pub use timeseries::{load_ucr, Series, TimeSeriesSet};

use std::io::Write;
use std::path::Path;

/// Writes a file atomically: `write` fills a buffered temporary file beside `path`,
/// which is renamed to `path` only if everything succeeded.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".spikelab-")
        .tempfile_in(dir)
        .map_err(|e| Error::io("cannot create a temporary file in", dir, e))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file());
        write(&mut w).map_err(|e| Error::io("cannot write", path, e))?;
        w.flush().map_err(|e| Error::io("cannot write", path, e))?;
    }
    tmp.persist(path)
        .map_err(|e| Error::io("cannot write", path, e.error))?;
    Ok(())
}
