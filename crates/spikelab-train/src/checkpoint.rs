//! The one file format of everything spikelab-train saves — trained models, training
//! checkpoints, STDP networks: a safetensors file of little-endian f32 tensors with
//! string metadata, self-describing through the metadata key `spikelab.format`
//! (`model/1` and `checkpoint/1` for the surrogate-gradient trainer, see
//! [`crate::bptt::io`]; `stdp/1` for the STDP recipes, see [`crate::stdp`]).
//!
//! [`TensorFile`] collects tensors and metadata and writes them atomically (temporary
//! file, sync, rename through `spikelab_core::io`), so a killed run leaves either the
//! previous file or the new one, never a partial one, with a checksum of the tensors
//! (`spikelab.checksum`, FNV-1a 64 over names, shapes and bytes in name order).
//! [`LoadedFile`] reads a file, checks its format tag and checksum (files written
//! before the checksum existed have none and load as before) and hands out tensors
//! with their shapes checked and non-finite values refused by tensor name. Errors
//! name the file and what is wrong with it.

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use spikelab_core::error::{Error, Result};
use spikelab_core::io::{write_atomic, Fnv1a};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Metadata key of the format tag.
pub const FORMAT_KEY: &str = "spikelab.format";
/// Metadata key of the tensors' checksum.
pub const CHECKSUM_KEY: &str = "spikelab.checksum";

/// FNV-1a (64 bit) over tensors in name order: name, shape, little-endian bytes.
fn checksum<'a>(tensors: impl Iterator<Item = (&'a str, &'a [usize], &'a [u8])>) -> String {
    let mut sorted: Vec<_> = tensors.collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut h = Fnv1a::default();
    for (name, shape, data) in sorted {
        h.eat(name.as_bytes());
        h.eat(&[0]);
        for &d in shape {
            h.eat(&(d as u64).to_le_bytes());
        }
        h.eat(data);
    }
    h.hex()
}

fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Tensors and metadata to be written as one file.
#[derive(Default)]
pub struct TensorFile {
    tensors: Vec<(String, Vec<usize>, Vec<u8>)>,
    meta: HashMap<String, String>,
}

impl TensorFile {
    /// A file of format `format` (the value of `spikelab.format`).
    pub fn new(format: &str) -> Self {
        let mut f = TensorFile::default();
        f.meta(FORMAT_KEY, format.into());
        f
    }
    /// Adds a tensor of `shape` (its values row-major).
    pub fn tensor(&mut self, name: String, shape: Vec<usize>, values: &[f32]) {
        debug_assert_eq!(shape.iter().product::<usize>(), values.len());
        self.tensors.push((name, shape, to_bytes(values)));
    }
    /// Adds a metadata entry.
    pub fn meta(&mut self, key: &str, value: String) {
        self.meta.insert(key.into(), value);
    }
    /// Adds a metadata entry as JSON.
    pub fn json<T: serde::Serialize + ?Sized>(&mut self, key: &str, value: &T) {
        self.meta(
            key,
            serde_json::to_string(value).expect("spikelab metadata serialises to JSON"),
        );
    }
    /// Serialises and writes atomically.
    pub fn write(mut self, path: &Path) -> Result<()> {
        let sum = checksum(
            self.tensors
                .iter()
                .map(|(n, s, b)| (n.as_str(), s.as_slice(), b.as_slice())),
        );
        self.meta(CHECKSUM_KEY, sum);
        let views: Vec<(String, TensorView)> = self
            .tensors
            .iter()
            .map(|(n, s, b)| {
                (
                    n.clone(),
                    TensorView::new(Dtype::F32, s.clone(), b).expect("consistent tensor view"),
                )
            })
            .collect();
        let bytes = safetensors::serialize(views, Some(self.meta))
            .map_err(|e| Error::Invalid(format!("cannot serialise {}: {e}", path.display())))?;
        write_atomic(path, &sorted_header(bytes))
    }
}

/// The file with its JSON header's keys in sorted order. safetensors writes the
/// metadata from a `HashMap`, whose order changes from one run to the next; sorted,
/// the same tensors and metadata always give the same bytes. The header keeps its
/// length (the same keys and values, compact), so the data offsets stay valid.
fn sorted_header(mut bytes: Vec<u8>) -> Vec<u8> {
    let Some(len) = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
    else {
        return bytes;
    };
    let Some(header) = bytes.get(8..8 + len) else {
        return bytes;
    };
    let trimmed = std::str::from_utf8(header).map(str::trim_end);
    let Ok(value) = trimmed.map(serde_json::from_str::<serde_json::Value>) else {
        return bytes;
    };
    let Ok(Ok(sorted)) = value.map(|v| serde_json::to_string(&sort_keys(v))) else {
        return bytes;
    };
    if sorted.len() <= len {
        let mut padded = sorted.into_bytes();
        padded.resize(len, b' ');
        bytes[8..8 + len].copy_from_slice(&padded);
    }
    bytes
}

/// `v` with every object's keys in sorted order.
fn sort_keys(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(String, serde_json::Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        other => other,
    }
}

/// A read file: its bytes and metadata.
pub struct LoadedFile {
    path: PathBuf,
    bytes: Vec<u8>,
    /// Metadata entries.
    pub meta: HashMap<String, String>,
}

impl LoadedFile {
    /// Reads `path` and checks that its format tag is `format`.
    pub fn read(path: &Path, format: &str) -> Result<Self> {
        let file = Self::read_any(path)?;
        match file.format() {
            Some(f) if f == format => Ok(file),
            Some(f) => Err(file.error(format!("is a spikelab `{f}` file, expected `{format}`"))),
            None => Err(file.error("has no spikelab metadata (not written by spikelab)".into())),
        }
    }

    /// Reads `path`, whatever its format tag (files written before the tag existed
    /// have none: [`LoadedFile::format`] is `None`).
    pub fn read_any(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| Error::Parse {
            path: path.into(),
            message: format!("not a safetensors file: {e}"),
        })?;
        let meta = header.metadata().clone().unwrap_or_default();
        let file = LoadedFile {
            path: path.into(),
            bytes,
            meta,
        };
        file.verify_checksum()?;
        Ok(file)
    }

    /// Checks the tensors against the stored checksum, if the file has one.
    fn verify_checksum(&self) -> Result<()> {
        let Some(stored) = self.meta.get(CHECKSUM_KEY) else {
            return Ok(());
        };
        let st = self.tensors()?;
        let tensors = st.tensors();
        let shapes: Vec<Vec<usize>> = tensors.iter().map(|(_, t)| t.shape().to_vec()).collect();
        let actual = checksum(
            tensors
                .iter()
                .zip(&shapes)
                .map(|((n, t), s)| (n.as_str(), s.as_slice(), t.data())),
        );
        if &actual != stored {
            return Err(self.error(format!(
                "is corrupt: its tensors' checksum is {actual}, the file says {stored}"
            )));
        }
        Ok(())
    }

    /// The format tag, if the file has one.
    pub fn format(&self) -> Option<&str> {
        self.meta.get(FORMAT_KEY).map(String::as_str)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An error about this file.
    pub fn error(&self, message: String) -> Error {
        Error::Parse {
            path: self.path.clone(),
            message,
        }
    }

    /// A metadata entry parsed from JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<T> {
        let text = self
            .meta
            .get(key)
            .ok_or_else(|| self.error(format!("metadata `{key}` is missing")))?;
        serde_json::from_str(text).map_err(|e| self.error(format!("metadata `{key}`: {e}")))
    }

    fn tensors(&self) -> Result<SafeTensors<'_>> {
        SafeTensors::deserialize(&self.bytes).map_err(|e| self.error(e.to_string()))
    }

    /// Number of values in all tensors of the file (at most its size: the header's
    /// shapes are checked against the data).
    pub fn tensor_values(&self) -> Result<usize> {
        let st = self.tensors()?;
        Ok(st
            .tensors()
            .iter()
            .map(|(_, t)| t.shape().iter().product::<usize>())
            .sum())
    }

    /// The shape of tensor `name`, if the file holds it.
    pub fn tensor_shape(&self, name: &str) -> Option<Vec<usize>> {
        let st = self.tensors().ok()?;
        st.tensor(name).ok().map(|t| t.shape().to_vec())
    }

    /// Whether the file holds a tensor `name`.
    pub fn has_tensor(&self, name: &str) -> bool {
        self.tensors().is_ok_and(|st| st.tensor(name).is_ok())
    }

    /// Tensor `name` as f32 values, checking its shape.
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let st = self.tensors()?;
        let t = st
            .tensor(name)
            .map_err(|_| self.error(format!("tensor `{name}` is missing")))?;
        if t.dtype() != Dtype::F32 || t.shape() != shape {
            return Err(self.error(format!(
                "tensor `{name}` is {:?} {:?}, expected F32 {shape:?}",
                t.dtype(),
                t.shape()
            )));
        }
        let values: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(self.error(format!(
                "tensor `{name}` holds a non-finite value ({}) at index {i}",
                values[i]
            )));
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_format_tags_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.safetensors");
        let mut f = TensorFile::new("test/1");
        f.tensor("w".into(), vec![2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        f.json("epoch", &3usize);
        f.write(&p).unwrap();
        // Only the file itself is left (no temporary files).
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let d = LoadedFile::read(&p, "test/1").unwrap();
        assert_eq!(d.format(), Some("test/1"));
        assert_eq!(d.json::<usize>("epoch").unwrap(), 3);
        assert_eq!(
            d.tensor("w", &[2, 3]).unwrap(),
            [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
        assert!(d.has_tensor("w") && !d.has_tensor("x"));
        let e = d.tensor("w", &[3, 2]).unwrap_err().to_string();
        assert!(e.contains("expected F32 [3, 2]"), "{e}");
        assert!(d
            .tensor("x", &[2, 3])
            .unwrap_err()
            .to_string()
            .contains("missing"));
        assert!(d.json::<usize>("nothing").is_err());
        let e = LoadedFile::read(&p, "model/1").err().unwrap().to_string();
        assert!(e.contains("`test/1` file, expected `model/1`"), "{e}");
        // A flipped byte in the tensor data is caught by the checksum.
        let mut bytes = std::fs::read(&p).unwrap();
        let at = bytes.len() - 5;
        bytes[at] ^= 0x10;
        std::fs::write(&p, &bytes).unwrap();
        let e = LoadedFile::read_any(&p).err().unwrap().to_string();
        assert!(e.contains("corrupt"), "{e}");
        // Non-finite values are refused by tensor name.
        let mut f = TensorFile::new("test/1");
        f.tensor("bias".into(), vec![2], &[0.5, f32::NAN]);
        f.write(&p).unwrap();
        let e = LoadedFile::read(&p, "test/1")
            .unwrap()
            .tensor("bias", &[2])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`bias`") && e.contains("non-finite"), "{e}");
        std::fs::write(&p, b"not a checkpoint").unwrap();
        let e = LoadedFile::read_any(&p).err().unwrap().to_string();
        assert!(e.contains("not a safetensors"), "{e}");
        assert!(LoadedFile::read_any(&dir.path().join("missing")).is_err());
    }
}
