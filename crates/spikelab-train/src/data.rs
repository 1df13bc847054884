//! Image classification data for training: a minimal reader of IDX files (MNIST,
//! Fashion-MNIST; gzip-compressed or not) behind [`load_idx_dataset`].
//!
//! This is deliberately small: the dataset crate (`spikelab-data`) owns datasets and
//! transforms; when its loader lands, `load_idx_dataset` becomes a call into it and
//! the rest of the trainer, which only sees [`Dataset`], does not change.

use crate::tensor::FeatShape;
use spikelab_core::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

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

/// Which part of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// Training set (`train-*`).
    Train,
    /// Test set (`t10k-*`).
    Test,
}

/// Reads an IDX file (gzip or plain): its dimensions and its unsigned-byte data.
pub fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let raw = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::Parse {
                path: path.into(),
                message: format!("corrupt gzip data: {e}"),
            })?;
        out
    } else {
        raw
    };
    let bad = |m: String| Error::Parse {
        path: path.into(),
        message: m,
    };
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad(
            "not an IDX file (the magic number must start with two zero bytes)".into(),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(bad(format!(
            "element type 0x{:02x} is not supported (only unsigned bytes, 0x08)",
            bytes[2]
        )));
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 || bytes.len() < 4 + 4 * ndim {
        return Err(bad(format!("truncated header ({ndim} dimensions)")));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|k| {
            u32::from_be_bytes(bytes[4 + 4 * k..8 + 4 * k].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let n: usize = dims.iter().product();
    let data = &bytes[4 + 4 * ndim..];
    if data.len() != n {
        return Err(bad(format!(
            "dimensions {dims:?} need {n} bytes of data but the file has {}",
            data.len()
        )));
    }
    Ok((dims, data.to_vec()))
}

fn find(dir: &Path, stem: &str) -> Result<PathBuf> {
    for name in [format!("{stem}.gz"), stem.to_string()] {
        let p = dir.join(&name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::Invalid(format!(
        "{} has no {stem}[.gz] (expected the MNIST-format files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte)",
        dir.display()
    )))
}

/// Loads the MNIST-format split of the dataset in `dir` (images as 1×H×W).
pub fn load_idx_dataset(dir: &Path, split: Split) -> Result<Dataset> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let ipath = find(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let lpath = find(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let (idims, images) = read_idx(&ipath)?;
    let (ldims, labels) = read_idx(&lpath)?;
    if idims.len() != 3 {
        return Err(Error::Parse {
            path: ipath,
            message: format!("images need 3 dimensions (count, rows, cols), got {idims:?}"),
        });
    }
    if ldims.len() != 1 || ldims[0] != idims[0] {
        return Err(Error::Parse {
            path: lpath,
            message: format!("{:?} labels for {} images", ldims, idims[0]),
        });
    }
    let classes = labels.iter().copied().max().map_or(0, |m| m as usize + 1);
    Ok(Dataset {
        images,
        labels,
        shape: FeatShape::image(1, idims[1], idims[2]),
        classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn reads_plain_and_gzip_files_and_rejects_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let images: Vec<u8> = (0..2 * 3 * 4).map(|x| x as u8).collect();
        std::fs::write(
            dir.path().join("t10k-images-idx3-ubyte.gz"),
            gz(&idx(&[2, 3, 4], &images)),
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
        // Missing split.
        let e = load_idx_dataset(dir.path(), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(e.contains("train-images-idx3-ubyte"));
        // Bad files.
        let p = dir.path().join("bad");
        for (bytes, want) in [
            (vec![1u8, 2, 3, 4], "not an IDX"),
            (idx(&[5], &[1, 2]), "need 5 bytes"),
            (vec![0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0], "element type"),
            (vec![0x1f, 0x8b, 0, 0], "gzip"),
        ] {
            std::fs::write(&p, bytes).unwrap();
            let e = read_idx(&p).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        // Label count mismatch.
        std::fs::write(
            dir.path().join("t10k-labels-idx1-ubyte"),
            idx(&[3], &[1, 2, 3]),
        )
        .unwrap();
        assert!(load_idx_dataset(dir.path(), Split::Test)
            .unwrap_err()
            .to_string()
            .contains("labels for 2 images"));
    }
}
