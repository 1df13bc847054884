//! Model and checkpoint files, both safetensors (little-endian f32 tensors named
//! `"<layer>.<param>"`), self-describing through the safetensors metadata:
//!
//! * `spikelab.format` — `model/1` or `checkpoint/1`;
//! * `spikelab.network` — the [`NetSpec`] as JSON;
//! * `spikelab.config` — the training configuration as JSON;
//! * checkpoints add `spikelab.state` (epoch, batch, partial sums, history) and
//!   `spikelab.optimizer_step`, and the optimizer state as tensors
//!   `optimizer.<slot>.<layer>.<param>`.
//!
//! Files are written to a temporary file in the target directory and renamed, so a
//! killed run leaves either the previous file or the new one, never a partial one.
//! One file holds everything a resumed run needs, so there is no pair of files that
//! could disagree.

use crate::nn::network::{NetSpec, Network};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use spikelab_core::error::{Error, Result};
use spikelab_core::io::write_atomic;
use std::collections::HashMap;
use std::path::Path;

/// Format tag of model files.
pub const MODEL_FORMAT: &str = "model/1";
/// Format tag of checkpoint files.
pub const CHECKPOINT_FORMAT: &str = "checkpoint/1";

fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Tensors and metadata to be written as one safetensors file.
#[derive(Default)]
pub struct TensorFile {
    tensors: Vec<(String, Vec<usize>, Vec<u8>)>,
    meta: HashMap<String, String>,
}

impl TensorFile {
    /// Adds a tensor.
    pub fn tensor(&mut self, name: String, shape: Vec<usize>, values: &[f32]) {
        self.tensors.push((name, shape, to_bytes(values)));
    }
    /// Adds a metadata entry.
    pub fn meta(&mut self, key: &str, value: String) {
        self.meta.insert(key.into(), value);
    }
    /// Adds every parameter of `net` and its description.
    pub fn network(&mut self, net: &Network) {
        for (name, p) in net.named_params() {
            self.tensor(name, p.shape.clone(), &p.value);
        }
        self.meta(
            "spikelab.network",
            serde_json::to_string(&net.spec).expect("json"),
        );
        self.meta("spikelab.steps", net.steps.to_string());
    }
    /// Serialises and writes atomically.
    pub fn write(self, path: &Path) -> Result<()> {
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
        write_atomic(path, &bytes)
    }
}

/// A read safetensors file: its bytes and metadata.
pub struct LoadedFile {
    path: std::path::PathBuf,
    bytes: Vec<u8>,
    /// Metadata entries.
    pub meta: HashMap<String, String>,
}

impl LoadedFile {
    /// Reads and checks the header of `path`; `format` is the expected format tag.
    pub fn read(path: &Path, format: &str) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
        let bad = |m: String| Error::Parse {
            path: path.into(),
            message: m,
        };
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        match meta.get("spikelab.format") {
            Some(f) if f == format => {}
            Some(f) => {
                return Err(bad(format!(
                    "is a spikelab `{f}` file, expected `{format}`"
                )))
            }
            None => {
                return Err(bad(
                    "has no spikelab metadata (not written by spikelab)".into()
                ))
            }
        }
        Ok(LoadedFile {
            path: path.into(),
            bytes,
            meta,
        })
    }

    /// A metadata entry parsed from JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<T> {
        let text = self.meta.get(key).ok_or_else(|| Error::Parse {
            path: self.path.clone(),
            message: format!("metadata `{key}` is missing"),
        })?;
        serde_json::from_str(text).map_err(|e| Error::Parse {
            path: self.path.clone(),
            message: format!("metadata `{key}`: {e}"),
        })
    }

    /// Tensor `name` as f32 values, checking its shape.
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let st = SafeTensors::deserialize(&self.bytes).map_err(|e| Error::Parse {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        let t = st.tensor(name).map_err(|_| Error::Parse {
            path: self.path.clone(),
            message: format!("tensor `{name}` is missing"),
        })?;
        if t.dtype() != Dtype::F32 || t.shape() != shape {
            return Err(Error::Parse {
                path: self.path.clone(),
                message: format!(
                    "tensor `{name}` is {:?} {:?}, expected F32 {shape:?}",
                    t.dtype(),
                    t.shape()
                ),
            });
        }
        Ok(t.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect())
    }

    /// Builds the network described in the metadata and loads its parameters.
    pub fn network(&self) -> Result<Network> {
        let spec: NetSpec = self.json("spikelab.network")?;
        let steps: usize = self.json("spikelab.steps")?;
        let mut net = Network::build(&spec, steps, 0)?;
        let names: Vec<(String, Vec<usize>)> = net
            .named_params()
            .into_iter()
            .map(|(n, p)| (n, p.shape.clone()))
            .collect();
        for (p, (name, shape)) in net.params_mut().into_iter().zip(names) {
            p.value = self.tensor(&name, &shape)?;
        }
        Ok(net)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::layers::spiking::SpikingSpec;
    use crate::nn::tensor::FeatShape;

    #[test]
    fn networks_round_trip_and_bad_files_are_reported() {
        let spec = NetSpec::new(FeatShape::flat(5))
            .linear(3)
            .lif(SpikingSpec::default());
        let net = Network::build(&spec, 4, 9).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let mut f = TensorFile::default();
        f.network(&net);
        f.meta("spikelab.format", MODEL_FORMAT.into());
        f.write(&path).unwrap();
        let back = LoadedFile::read(&path, MODEL_FORMAT)
            .unwrap()
            .network()
            .unwrap();
        assert_eq!(back.spec, net.spec);
        assert_eq!(back.steps, 4);
        for ((a, p), (b, q)) in net.named_params().iter().zip(back.named_params().iter()) {
            assert_eq!(a, b);
            assert_eq!(p.value, q.value);
        }
        // Only the file itself is left (no temporary files).
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let e = LoadedFile::read(&path, CHECKPOINT_FORMAT)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("expected `checkpoint/1`"));
        std::fs::write(&path, b"garbage").unwrap();
        assert!(LoadedFile::read(&path, MODEL_FORMAT)
            .err()
            .unwrap()
            .to_string()
            .contains("not a safetensors"));
    }
}
