//! Model and checkpoint files of the surrogate-gradient trainer, in the one file
//! format of [`crate::checkpoint`] (little-endian f32 tensors named
//! `"<layer>.<param>"`), self-describing through the metadata:
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
use spikelab_core::error::Result;

pub use crate::checkpoint::{LoadedFile, TensorFile};

/// Format tag of model files.
pub const MODEL_FORMAT: &str = "model/1";
/// Format tag of checkpoint files.
pub const CHECKPOINT_FORMAT: &str = "checkpoint/1";

impl TensorFile {
    /// Adds every parameter of `net` and its description.
    pub fn network(&mut self, net: &Network) {
        for (name, p) in net.named_params() {
            self.tensor(name, p.shape.clone(), &p.value);
        }
        self.json("spikelab.network", &net.spec);
        self.meta("spikelab.steps", net.steps.to_string());
    }
}

impl LoadedFile {
    /// Builds the network described in the metadata and loads its parameters. The
    /// metadata is not covered by the checksum, so the description is first checked
    /// against the file: a network needing more parameter values than the file's
    /// tensors hold is refused before anything is allocated for it.
    pub fn network(&self) -> Result<Network> {
        let spec: NetSpec = self.json("spikelab.network")?;
        let steps: usize = self.json("spikelab.steps")?;
        let held = self.tensor_values()?;
        let counts = spec
            .param_values(steps)
            .map_err(|e| self.error(format!("metadata `spikelab.network`: {e}")))?;
        let mut needed = 0usize;
        for (i, n) in counts.into_iter().enumerate() {
            needed = needed.saturating_add(n);
            if needed > held {
                return Err(self.error(format!(
                    "metadata `spikelab.network` (layer[{i}], {}) describes more parameter values than the file's tensors hold ({held})",
                    spec.layers[i].name()
                )));
            }
        }
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
        let mut f = TensorFile::new(MODEL_FORMAT);
        f.network(&net);
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
