//! Training the ANN to convert (`spikelab train ann`): the trainer's own layers with
//! ReLU hidden layers and the logits as output, one time step, analog input and
//! cross-entropy, run as an ordinary training session ([`crate::bptt::session`]).

use crate::bptt::encode::Encoding;
use crate::bptt::loss::LossSpec;
use crate::bptt::optim::{OptimizerSpec, Schedule};
use crate::bptt::session::{run_session_with, SessionConfig, SessionOutcome};
use crate::bptt::trainer::{Monitor, TrainConfig, Trainer};
use crate::data::Dataset;
use crate::nn::arch::{parse_arch, ArchOptions, NeuronKind, OutputKind};
use crate::nn::network::{LayerSpec, NetSpec};
use crate::nn::tensor::FeatShape;
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};

/// Hyper-parameters of ANN training (the defaults are `spikelab train ann`'s).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnnConfig {
    /// Epochs.
    pub epochs: usize,
    /// Samples per batch.
    pub batch_size: usize,
    /// Learning rate.
    pub lr: f32,
    /// Optimizer.
    pub optimizer: OptimizerSpec,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Seed of initialisation, shuffling and dropout.
    pub seed: u64,
}

impl Default for AnnConfig {
    fn default() -> Self {
        AnnConfig {
            epochs: 10,
            batch_size: 64,
            lr: 1e-3,
            optimizer: OptimizerSpec::parse("adam", None).expect("adam"),
            schedule: Schedule::parse("cosine").expect("cosine"),
            seed: 0,
        }
    }
}

impl AnnConfig {
    /// The trainer's configuration: one step, analog (direct) input, cross-entropy.
    pub fn train_config(&self) -> TrainConfig {
        TrainConfig {
            steps: 1,
            batch_size: self.batch_size,
            epochs: self.epochs,
            lr: self.lr,
            encoding: Encoding::Direct,
            loss: LossSpec::CeCount,
            optimizer: self.optimizer,
            schedule: self.schedule,
            seed: self.seed,
            learning: Default::default(),
        }
    }
}

/// The ANN of a text architecture (`32C5-AP2-64C5-AP2-128-10`): ReLU hidden layers, the
/// last linear layer gives the logits.
pub fn ann_spec(arch: &str, input: FeatShape) -> Result<NetSpec> {
    let opts = ArchOptions {
        neuron: NeuronKind::Relu,
        output: OutputKind::Linear,
        ..ArchOptions::default()
    };
    parse_arch(arch, input, &opts)
}

/// Checks that `spec` is an ANN: no spiking layers (the error names the first one).
pub fn check_ann(spec: &NetSpec) -> Result<()> {
    for (i, l) in spec.layers.iter().enumerate() {
        if matches!(
            l,
            LayerSpec::Lif(_)
                | LayerSpec::If(_)
                | LayerSpec::Alif(_)
                | LayerSpec::Rlif(_)
                | LayerSpec::Ralif(_)
                | LayerSpec::Readout { .. }
        ) {
            return Err(Error::Invalid(format!(
                "invalid layer[{i}] ({}): an ANN has no spiking layers (use relu)",
                l.name()
            )));
        }
    }
    Ok(())
}

/// A fresh trainer of the ANN `spec` (checked with [`check_ann`]).
pub fn ann_trainer(spec: &NetSpec, cfg: &AnnConfig) -> Result<Trainer> {
    check_ann(spec)?;
    Trainer::new(spec, cfg.train_config())
}

/// Trains the ANN `spec` in a session (resume, checkpoints, model and summary as for
/// any training session).
pub fn train_ann(
    spec: &NetSpec,
    cfg: &AnnConfig,
    train: Dataset,
    test: &Dataset,
    session: &SessionConfig,
    monitor: &mut dyn Monitor,
) -> Result<SessionOutcome> {
    run_session_with(|_| ann_trainer(spec, cfg), train, test, session, monitor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bptt::trainer::tests::toy_data;
    use crate::bptt::trainer::Silent;
    use crate::data::SampleShape;

    #[test]
    fn an_ann_trains_in_a_session_and_a_spiking_network_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (train, test) = (toy_data(64, 31), toy_data(32, 32));
        let spec = ann_spec("16-8-4", train.shape()).unwrap();
        let cfg = AnnConfig {
            epochs: 1,
            batch_size: 16,
            lr: 5e-3,
            ..AnnConfig::default()
        };
        let session = SessionConfig {
            out: dir.path().to_path_buf(),
            epochs: 1,
            ..SessionConfig::default()
        };
        let r = train_ann(&spec, &cfg, train, &test, &session, &mut Silent).unwrap();
        assert_eq!(r.trainer.config.steps, 1);
        assert_eq!(r.trainer.config.encoding, Encoding::Direct);
        assert!(r.model.is_file());
        let snn = parse_arch("16-8-4", FeatShape::image(1, 4, 4), &ArchOptions::default()).unwrap();
        let e = check_ann(&snn).unwrap_err().to_string();
        assert!(e.contains("(lif)") && e.contains("use relu"), "{e}");
    }
}
