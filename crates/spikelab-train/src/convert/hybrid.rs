//! Hybrid fine-tuning (Rathi et al. 2020) of a converted network: its IF layers as LIF
//! layers at β = 1 with learned leak and threshold, the trainer that fine-tunes it, and
//! the training session.

use super::params::copy_params;
use crate::bptt::optim::{OptimizerSpec, Schedule};
use crate::bptt::session::{run_session_with, SessionConfig, SessionOutcome};
use crate::bptt::trainer::{load_model, Model, Monitor, TrainConfig, Trainer};
use crate::data::Dataset;
use crate::nn::layers::spiking::Learn;
use crate::nn::network::{LayerSpec, NetSpec};
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};
use spikelab_core::neuron::surrogate::Surrogate;
use std::path::Path;

/// The spec for hybrid fine-tuning of a converted network (Rathi et al. 2020): every
/// IF layer becomes a LIF layer starting at β = 1 (the same dynamics) whose leak and
/// threshold are learned per layer (`learn`), with reset by subtraction; weights,
/// biases and thresholds carry over by name.
pub fn hybrid_spec(converted: &NetSpec, learn_beta: Learn, learn_threshold: Learn) -> NetSpec {
    let mut spec = converted.clone();
    for l in &mut spec.layers {
        if let LayerSpec::If(s) = l {
            let mut s = s.clone();
            s.beta = 1.0;
            s.learn_beta = learn_beta;
            s.learn_threshold = learn_threshold;
            *l = LayerSpec::Lif(s);
        }
    }
    spec
}

/// Hyper-parameters of hybrid fine-tuning (the defaults are `spikelab train hybrid`'s).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HybridConfig {
    /// Time steps per sample.
    pub steps: usize,
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
    /// Learn the leak β of the hidden layers.
    pub learn_beta: Learn,
    /// Learn the thresholds.
    pub learn_threshold: Learn,
    /// Surrogate gradient of the LIF layers.
    pub surrogate: Surrogate,
    /// Seed of shuffling and input noise.
    pub seed: u64,
}

impl Default for HybridConfig {
    fn default() -> Self {
        HybridConfig {
            steps: 8,
            epochs: 2,
            batch_size: 64,
            lr: 1e-4,
            optimizer: OptimizerSpec::parse("adam", None).expect("adam"),
            schedule: Schedule::parse("cosine").expect("cosine"),
            learn_beta: Learn::Layer,
            learn_threshold: Learn::Layer,
            surrogate: Surrogate::default(),
            seed: 0,
        }
    }
}

/// Loads the converted network of model file `path`; it must have spiking layers.
pub fn load_converted(path: &Path) -> Result<Model> {
    let converted = load_model(path)?;
    if !converted
        .net
        .spec
        .layers
        .iter()
        .any(|l| matches!(l, LayerSpec::If(_) | LayerSpec::Lif(_)))
    {
        return Err(Error::Invalid(format!(
            "{} has no spiking layers: pass the output of `spikelab convert`",
            path.display()
        )));
    }
    Ok(converted)
}

/// The trainer for hybrid fine-tuning of `converted` ([`hybrid_spec`], the surrogate of
/// `cfg` on every LIF layer, the converted encoding and loss) with the converted
/// weights, biases and thresholds; returns it and the number of parameters carried
/// over.
pub fn hybrid_trainer(converted: &Model, cfg: &HybridConfig) -> Result<(Trainer, usize)> {
    let mut spec = hybrid_spec(&converted.net.spec, cfg.learn_beta, cfg.learn_threshold);
    for l in &mut spec.layers {
        if let LayerSpec::Lif(s) = l {
            s.surrogate = cfg.surrogate;
        }
    }
    let config = TrainConfig {
        steps: cfg.steps,
        batch_size: cfg.batch_size,
        epochs: cfg.epochs,
        lr: cfg.lr,
        encoding: converted.config.encoding.clone(),
        loss: converted.config.loss,
        optimizer: cfg.optimizer,
        schedule: cfg.schedule,
        seed: cfg.seed,
        learning: Default::default(),
    };
    let mut t = Trainer::new(&spec, config)?;
    let copied = copy_params(&converted.net, &mut t.net);
    Ok((t, copied))
}

/// Fine-tunes the converted network of model file `path` in a session (the model is
/// loaded only for a fresh start; a resumed session continues its checkpoint).
pub fn train_hybrid(
    path: &Path,
    cfg: &HybridConfig,
    train: Dataset,
    test: &Dataset,
    session: &SessionConfig,
    monitor: &mut dyn Monitor,
) -> Result<SessionOutcome> {
    run_session_with(
        |_| hybrid_trainer(&load_converted(path)?, cfg).map(|(t, _)| t),
        train,
        test,
        session,
        monitor,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::arch::{parse_arch, ArchOptions, NeuronKind, OutputKind};
    use crate::nn::tensor::FeatShape;

    fn saved(dir: &Path, neuron: NeuronKind) -> std::path::PathBuf {
        let opts = ArchOptions {
            neuron,
            output: if neuron == NeuronKind::Relu {
                OutputKind::Linear
            } else {
                OutputKind::Spiking
            },
            ..ArchOptions::default()
        };
        let spec = parse_arch("16-8-4", FeatShape::image(1, 4, 4), &opts).unwrap();
        let t = Trainer::new(&spec, TrainConfig::default()).unwrap();
        let path = dir.join(format!("{neuron:?}.safetensors"));
        t.save_model(&path).unwrap();
        path
    }

    #[test]
    fn a_converted_network_becomes_a_lif_trainer_and_an_ann_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = load_converted(&saved(dir.path(), NeuronKind::Relu))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no spiking layers"), "{e}");
        let converted = load_converted(&saved(dir.path(), NeuronKind::If)).unwrap();
        let cfg = HybridConfig::default();
        let (t, copied) = hybrid_trainer(&converted, &cfg).unwrap();
        assert_eq!(t.config.steps, 8);
        assert!(t
            .net
            .spec
            .layers
            .iter()
            .all(|l| !matches!(l, LayerSpec::If(_))));
        assert!(copied >= 4, "{copied}");
        assert!(t
            .net
            .named_params()
            .iter()
            .any(|(n, p)| n.ends_with(".beta") && p.trainable));
    }
}
