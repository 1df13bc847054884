//! # spikelab-data
//!
//! Data sets for Spikelab: the IDX format of MNIST, Fashion-MNIST and KMNIST
//! ([`idx`], [`images`]), event-camera streams in the N-MNIST binary format and as
//! CSV / NPY event lists, with conversion to frames and to spike trains ([`events`]),
//! labelled event recordings in the N-MNIST folder layout as binned frames
//! ([`event_folders`]),
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
pub mod event_folders;
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
