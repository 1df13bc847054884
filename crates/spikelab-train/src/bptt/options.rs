//! The options of a surrogate-gradient training run as plain values — the
//! architecture text, neuron and surrogate names, optimizer and encoding names —
//! and their one translation into a [`NetSpec`] and a [`TrainConfig`]. The command
//! line (`train surrogate`, `bench train`) and the Python package fill these structs
//! (Python from keyword arguments through serde, so unknown names are refused by
//! name) and call the same two functions, so both front ends build the same network
//! from the same words.

use crate::bptt::encode::Encoding;
use crate::bptt::loss::LossSpec;
use crate::bptt::optim::{OptimizerSpec, Schedule};
use crate::bptt::trainer::TrainConfig;
use crate::nn::arch::{parse_arch, ArchOptions, NeuronKind, OutputKind};
use crate::nn::layers::spiking::{Learn, SpikingSpec};
use crate::nn::network::NetSpec;
use crate::nn::tensor::FeatShape;
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};
use spikelab_core::neuron::discrete_time::DiscreteReset;
use spikelab_core::neuron::surrogate::{Surrogate, SurrogateKind};
use std::path::PathBuf;

/// The network: architecture and neuron parameters. Defaults are the command line's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetOptions {
    /// Architecture text such as `784-1000-10` or `12C5-MP2-64C5-MP2-10` (see
    /// [`parse_arch`]), or the path of a JSON network spec (ending in `.json`).
    pub arch: String,
    /// Neuron model of hidden layers: lif, if, alif, relu.
    pub neuron: String,
    /// Membrane decay per step β = exp(−dt/τ_m).
    pub beta: f32,
    /// Firing threshold.
    pub threshold: f32,
    /// Train β: no, layer or neuron.
    pub learn_beta: String,
    /// Train the threshold: no, layer or neuron.
    pub learn_threshold: String,
    /// Reset after a spike: subtract, zero, none.
    pub reset: String,
    /// Do not backpropagate through the reset.
    pub detach_reset: bool,
    /// Surrogate gradient: fast-sigmoid, atan, sigmoid, triangle, straight-through.
    pub surrogate: String,
    /// Surrogate slope (None: the surrogate's usual one).
    pub slope: Option<f32>,
    /// Adaptation decay and strength of `alif` neurons.
    pub adaptation: [f32; 2],
    /// Decay of the leaky-integrator readout used with the `ce-membrane` loss.
    pub readout_beta: f32,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            arch: "784-1000-10".into(),
            neuron: "lif".into(),
            beta: 0.9,
            threshold: 1.0,
            learn_beta: "no".into(),
            learn_threshold: "no".into(),
            reset: "subtract".into(),
            detach_reset: false,
            surrogate: "fast-sigmoid".into(),
            slope: None,
            adaptation: [0.95, 0.5],
            readout_beta: 0.9,
        }
    }
}

/// `no`/`layer`/`neuron` as a [`Learn`]; `field` names the option in errors.
pub fn parse_learn(s: &str, field: &str) -> Result<Learn> {
    Ok(match s {
        "no" | "none" => Learn::No,
        "layer" => Learn::Layer,
        "neuron" => Learn::Neuron,
        _ => {
            return Err(Error::field(
                field,
                format!("`{s}`; allowed: {}", Learn::NAMES),
            ))
        }
    })
}

/// `subtract`/`zero`/`none` as a [`DiscreteReset`].
pub fn parse_reset(s: &str) -> Result<DiscreteReset> {
    Ok(match s {
        "subtract" => DiscreteReset::Subtract,
        "zero" => DiscreteReset::Zero,
        "none" => DiscreteReset::None,
        _ => {
            return Err(Error::field(
                "reset",
                format!("`{s}`; allowed: {}", DiscreteReset::NAMES),
            ))
        }
    })
}

impl NetOptions {
    /// The network for inputs of `input` shape trained with `loss`.
    pub fn spec(&self, input: FeatShape, loss: &LossSpec) -> Result<NetSpec> {
        if self.arch.ends_with(".json") {
            let text = std::fs::read_to_string(&self.arch)
                .map_err(|e| Error::io("cannot read", std::path::Path::new(&self.arch), e))?;
            return NetSpec::from_json(&text, &self.arch);
        }
        let kind = SurrogateKind::parse(&self.surrogate)?;
        let spiking = SpikingSpec {
            beta: self.beta,
            threshold: self.threshold,
            learn_beta: parse_learn(&self.learn_beta, "learn_beta")?,
            learn_threshold: parse_learn(&self.learn_threshold, "learn_threshold")?,
            reset: parse_reset(&self.reset)?,
            detach_reset: self.detach_reset,
            surrogate: Surrogate::with_slope(kind, self.slope.unwrap_or(kind.default_slope())),
        };
        let neuron = NeuronKind::parse(&self.neuron)?;
        let opts = ArchOptions {
            neuron,
            spiking,
            adaptation: (self.adaptation[0], self.adaptation[1]),
            // A ReLU network (an ANN) ends with its logits: no neurons after the last
            // linear layer.
            output: if neuron == NeuronKind::Relu {
                OutputKind::Linear
            } else if loss.on_membrane() {
                OutputKind::Membrane {
                    beta: self.readout_beta,
                }
            } else {
                OutputKind::Spiking
            },
        };
        parse_arch(&self.arch, input, &opts)
    }
}

/// How to train. Defaults are the command line's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainOptions {
    /// Time steps per sample.
    pub steps: usize,
    /// Samples per batch.
    pub batch_size: usize,
    /// Learning rate.
    pub lr: f32,
    /// Optimizer: sgd (momentum 0.9), adam, adamw.
    pub optimizer: String,
    /// Weight decay (None: 0, or 0.01 for adamw).
    pub weight_decay: Option<f32>,
    /// Learning-rate schedule: constant, cosine[:<min_lr>], step:<epochs>:<gamma>,
    /// exponential:<gamma>.
    pub schedule: String,
    /// Input encoding: rate, latency, direct, or any core encoder by name, with its
    /// time parameters fitted to the `steps` window (one step = 1 ms).
    pub encoding: String,
    /// TOML text of an encoder (`kind = "phase"`, parameters in ms), overriding
    /// `encoding`.
    pub encoder_toml: Option<String>,
    /// TOML file of an encoder, overriding `encoding` (read when the configuration
    /// is made).
    pub encoder_file: Option<PathBuf>,
    /// Length of one step (ms) in the times of the encoder TOML.
    pub encoder_dt_ms: f64,
    /// Rate-coding gain (spike probability per step of a white pixel).
    pub gain: f32,
    /// Loss: ce-count, mse-count, ce-membrane.
    pub loss: String,
    /// Seed of initialisation, shuffling, encoding and dropout.
    pub seed: u64,
    /// Gradients: bptt, or eprop (recurrent `<in>-<n>R-<out>` networks with a
    /// membrane loss).
    pub learning: String,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            steps: 25,
            batch_size: 128,
            lr: 1e-3,
            optimizer: "adam".into(),
            weight_decay: None,
            schedule: "constant".into(),
            encoding: "rate".into(),
            encoder_toml: None,
            encoder_file: None,
            encoder_dt_ms: 1.0,
            gain: 1.0,
            loss: "ce-count".into(),
            seed: 0,
            learning: "bptt".into(),
        }
    }
}

impl TrainOptions {
    /// The loss.
    pub fn loss(&self) -> Result<LossSpec> {
        LossSpec::parse(&self.loss)
    }

    /// The input encoding for samples of `image` shape.
    pub fn encoding(&self, image: FeatShape) -> Result<Encoding> {
        if let Some(path) = &self.encoder_file {
            let text =
                std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
            let source = path.display().to_string();
            return Encoding::from_toml(&text, &source, self.encoder_dt_ms);
        }
        if let Some(text) = &self.encoder_toml {
            return Encoding::from_toml(text, "encoder", self.encoder_dt_ms);
        }
        Ok(match Encoding::named(&self.encoding, self.steps, image)? {
            Encoding::Rate { .. } => Encoding::Rate { gain: self.gain },
            e => e,
        })
    }

    /// The training configuration for `epochs` on samples of `image` shape.
    pub fn config(&self, epochs: usize, image: FeatShape) -> Result<TrainConfig> {
        Ok(TrainConfig {
            steps: self.steps,
            batch_size: self.batch_size,
            epochs,
            lr: self.lr,
            encoding: self.encoding(image)?,
            loss: self.loss()?,
            optimizer: OptimizerSpec::parse(&self.optimizer, self.weight_decay)?,
            schedule: Schedule::parse(&self.schedule)?,
            seed: self.seed,
            learning: crate::bptt::eprop::Learning::parse(&self.learning)?,
        })
    }
}

/// The network and configuration of a fresh training run on samples of `image`
/// shape: what `train surrogate` and `spikelab.SpikingClassifier` both build.
pub fn fresh_run(
    net: &NetOptions,
    train: &TrainOptions,
    epochs: usize,
    image: FeatShape,
) -> Result<(NetSpec, TrainConfig)> {
    let loss = train.loss()?;
    let config = train.config(epochs, image)?;
    let spec = net.spec(config.encoding.input_shape(image)?, &loss)?;
    Ok((spec, config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_build_the_command_lines_network() {
        let (spec, config) = fresh_run(
            &NetOptions {
                arch: "16-4".into(),
                ..NetOptions::default()
            },
            &TrainOptions::default(),
            2,
            FeatShape::image(1, 4, 4),
        )
        .unwrap();
        assert_eq!(config.epochs, 2);
        assert_eq!(config.steps, 25);
        assert_eq!(config.batch_size, 128);
        assert_eq!(config.encoding, Encoding::Rate { gain: 1.0 });
        // The library's own defaults: LIF, β 0.9, threshold 1, subtract reset,
        // fast-sigmoid surrogate with its usual slope, spiking output.
        let plain = parse_arch("16-4", FeatShape::image(1, 4, 4), &ArchOptions::default());
        assert_eq!(spec, plain.unwrap());
    }

    #[test]
    fn names_are_checked_with_the_allowed_values() {
        let bad = NetOptions {
            reset: "sometimes".into(),
            arch: "16-4".into(),
            ..NetOptions::default()
        };
        let e = bad
            .spec(FeatShape::image(1, 4, 4), &LossSpec::CeCount)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("reset") && e.contains("subtract, zero, none"),
            "{e}"
        );
        let bad = NetOptions {
            learn_beta: "always".into(),
            arch: "16-4".into(),
            ..NetOptions::default()
        };
        let e = bad
            .spec(FeatShape::image(1, 4, 4), &LossSpec::CeCount)
            .unwrap_err()
            .to_string();
        assert!(e.contains("learn_beta") && e.contains("layer"), "{e}");
        let e = TrainOptions {
            optimizer: "lbfgs".into(),
            ..TrainOptions::default()
        }
        .config(1, FeatShape::image(1, 4, 4))
        .unwrap_err()
        .to_string();
        assert!(e.contains("lbfgs"), "{e}");
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let e = serde_json::from_str::<TrainOptions>(r#"{"stepz": 3}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("stepz") && e.contains("steps"), "{e}");
        let t: TrainOptions = serde_json::from_str(r#"{"steps": 3}"#).unwrap();
        assert_eq!(t.steps, 3);
        assert_eq!(t.batch_size, 128);
    }

    #[test]
    fn an_encoder_toml_overrides_the_encoding_name() {
        let t = TrainOptions {
            encoder_toml: Some("kind = \"latency\"\nt_max_ms = 10.0\n".into()),
            steps: 12,
            ..TrainOptions::default()
        };
        let e = t.encoding(FeatShape::image(1, 4, 4)).unwrap();
        assert_ne!(e, Encoding::Rate { gain: 1.0 });
    }
}
