//! Image classification data as the trainer sees it: [`Dataset`] is the one dataset
//! type of Spikelab, `spikelab_data::images::ImageSet` (bytes, labels, channels-last
//! `rows × cols × channels`), which the STDP recipes and `data show` use as well;
//! [`SampleShape`] gives its samples' shape as the layers see it, [`dataset`] makes one
//! from bytes of any shape, and [`load_idx_dataset`] loads an MNIST-family split.

use crate::nn::tensor::FeatShape;
use spikelab_core::error::{Error, Result};
use std::path::Path;

/// The dataset type of the trainer: the one of `spikelab_data` (images as bytes,
/// channels-last, with integer labels).
pub type Dataset = spikelab_data::images::ImageSet;

/// The shape of a dataset's samples as the layers see it.
pub trait SampleShape {
    /// `channels × rows × cols` (channels-last in memory).
    fn shape(&self) -> FeatShape;
}

impl SampleShape for Dataset {
    fn shape(&self) -> FeatShape {
        FeatShape::image(self.channels, self.rows, self.cols)
    }
}

/// A dataset of `shape` samples (`images` holds `labels.len() × shape.len()` bytes).
pub fn dataset(images: Vec<u8>, labels: Vec<u8>, shape: FeatShape) -> Dataset {
    Dataset {
        images,
        labels,
        rows: shape.h,
        cols: shape.w,
        channels: shape.c,
    }
}

pub use spikelab_data::images::Split;

/// Loads a split of the MNIST-format data set in `dir` (MNIST, Fashion-MNIST, KMNIST;
/// gzip or plain IDX files), images as 1×H×W.
pub fn load_idx_dataset(dir: &Path, split: Split) -> Result<Dataset> {
    let set = spikelab_data::images::load_mnist(dir, split).map_err(|e| {
        Error::Invalid(format!(
            "cannot load the {} split from {}: {e}",
            split.name(),
            dir.display()
        ))
    })?;
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn loads_a_split_and_reports_missing_or_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let images: Vec<u8> = (0..2 * 3 * 4).map(|x| x as u8).collect();
        std::fs::write(
            dir.path().join("t10k-images-idx3-ubyte"),
            idx(&[2, 3, 4], &images),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("t10k-labels-idx1-ubyte"),
            idx(&[2], &[7, 1]),
        )
        .unwrap();
        let d = load_idx_dataset(dir.path(), Split::Test).unwrap();
        assert_eq!(d.shape(), FeatShape::image(1, 3, 4));
        assert_eq!(d.labels, vec![7, 1]);
        assert_eq!(d.classes(), 8);
        assert_eq!(d.image(1), &images[12..]);
        assert_eq!(d.clone().truncated(1).len(), 1);
        let e = load_idx_dataset(dir.path(), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(e.contains("train"), "{e}");
        std::fs::write(
            dir.path().join("t10k-labels-idx1-ubyte"),
            idx(&[3], &[1, 2, 3]),
        )
        .unwrap();
        assert!(load_idx_dataset(dir.path(), Split::Test).is_err());
    }
}
