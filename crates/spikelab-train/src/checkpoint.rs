//! Checkpoint files: named f32 tensors in one safetensors file plus JSON metadata,
//! written atomically (temporary file, then rename) so a killed run never leaves a
//! half-written checkpoint.

use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Errors reading or writing checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// File system error.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was done.
        action: &'static str,
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing the file failed.
    #[error(transparent)]
    Write(#[from] spikelab_core::error::Error),
    /// The file is not a valid checkpoint.
    #[error("{path} is not a valid checkpoint: {message}")]
    Format {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Result alias.
pub type Result<T> = std::result::Result<T, CheckpointError>;

/// Tensors by name (f32, with shapes) and string metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint {
    /// name → (shape, values).
    pub tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    /// Free-form metadata (JSON strings by convention).
    pub metadata: HashMap<String, String>,
}

impl Checkpoint {
    /// Adds a tensor.
    pub fn put(&mut self, name: &str, shape: &[usize], values: Vec<f32>) {
        debug_assert_eq!(shape.iter().product::<usize>(), values.len());
        self.tensors
            .insert(name.to_string(), (shape.to_vec(), values));
    }

    /// A tensor by name, checking its shape.
    pub fn get(&self, name: &str, shape: &[usize], path: &Path) -> Result<&[f32]> {
        match self.tensors.get(name) {
            Some((s, v)) if s == shape => Ok(v),
            Some((s, _)) => Err(CheckpointError::Format {
                path: path.into(),
                message: format!("tensor `{name}` has shape {s:?}, expected {shape:?}"),
            }),
            None => Err(CheckpointError::Format {
                path: path.into(),
                message: format!("tensor `{name}` is missing"),
            }),
        }
    }

    /// Writes the checkpoint atomically to `path` (safetensors format).
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = self
            .tensors
            .iter()
            .map(|(k, (shape, v))| {
                (
                    k.clone(),
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                    shape.clone(),
                )
            })
            .collect();
        let views: Vec<(String, TensorView)> = bytes
            .iter()
            .map(|(k, b, shape)| {
                (
                    k.clone(),
                    TensorView::new(Dtype::F32, shape.clone(), b).expect("consistent tensor"),
                )
            })
            .collect();
        let data = safetensors::serialize(views, Some(self.metadata.clone())).map_err(|e| {
            CheckpointError::Format {
                path: path.into(),
                message: e.to_string(),
            }
        })?;
        spikelab_core::io::write_atomic(path, &data)?;
        Ok(())
    }

    /// Reads a checkpoint.
    pub fn load(path: &Path) -> Result<Self> {
        let data = std::fs::read(path).map_err(|e| CheckpointError::Io {
            action: "cannot read",
            path: path.into(),
            source: e,
        })?;
        let bad = |m: String| CheckpointError::Format {
            path: path.into(),
            message: m,
        };
        let (_, meta) =
            safetensors::SafeTensors::read_metadata(&data).map_err(|e| bad(e.to_string()))?;
        let st = safetensors::SafeTensors::deserialize(&data).map_err(|e| bad(e.to_string()))?;
        let mut out = Checkpoint {
            metadata: meta.metadata().clone().unwrap_or_default(),
            ..Default::default()
        };
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(bad(format!(
                    "tensor `{name}` is {:?}, expected F32",
                    view.dtype()
                )));
            }
            let values = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            out.tensors.insert(name, (view.shape().to_vec(), values));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.safetensors");
        let mut c = Checkpoint::default();
        c.put("w", &[2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        c.metadata.insert("epoch".into(), "3".into());
        c.save(&p).unwrap();
        let d = Checkpoint::load(&p).unwrap();
        assert_eq!(c, d);
        assert!(d.get("w", &[3, 2], &p).is_err());
        assert!(d.get("x", &[2, 3], &p).is_err());
        std::fs::write(&p, b"not a checkpoint").unwrap();
        assert!(Checkpoint::load(&p)
            .unwrap_err()
            .to_string()
            .contains("not a valid checkpoint"));
        assert!(Checkpoint::load(&dir.path().join("missing")).is_err());
    }
}
