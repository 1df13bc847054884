//! Image classification data as the surrogate-gradient trainer sees it: [`Dataset`]
//! (bytes, labels, channels-last shape), loaded by [`load_idx_dataset`] through the
//! dataset crate's MNIST-family reader (`spikelab_data::images`).

use crate::nn::tensor::FeatShape;
use spikelab_core::error::{Error, Result};
use std::path::Path;

/// Images (bytes, `shape` channels-last) with integer labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// `len × shape.len()` bytes.
    pub images: Vec<u8>,
    /// One label per image.
    pub labels: Vec<u8>,
    /// Shape of an image.
    pub shape: FeatShape,
    /// Number of classes (largest label + 1).
    pub classes: usize,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// The bytes of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.shape.len();
        &self.images[i * n..(i + 1) * n]
    }
    /// The first `n` samples (all if fewer).
    pub fn truncated(mut self, n: usize) -> Self {
        let n = n.min(self.len());
        self.images.truncate(n * self.shape.len());
        self.labels.truncate(n);
        self
    }
    /// Copies the images of `indices` into `out` (cleared first).
    pub fn gather(&self, indices: &[usize], out: &mut Vec<u8>) {
        out.clear();
        for &i in indices {
            out.extend_from_slice(self.image(i));
        }
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
    let classes = set
        .labels
        .iter()
        .copied()
        .max()
        .map_or(0, |m| m as usize + 1);
    Ok(Dataset {
        shape: FeatShape::image(1, set.rows, set.cols),
        images: set.images,
        labels: set.labels,
        classes,
    })
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
        assert_eq!(d.shape, FeatShape::image(1, 3, 4));
        assert_eq!(d.labels, vec![7, 1]);
        assert_eq!(d.classes, 8);
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
