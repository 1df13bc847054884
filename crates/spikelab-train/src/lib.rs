//! # spikelab-train
//!
//! Training of spiking networks, one folder per subsystem:
//!
//! * [`nn`]: the networks the trainer and the converter share — described by a Rust
//!   builder, JSON, or text such as `12C5-MP2-64C5-MP2-10` ([`nn::arch`]), built into
//!   time-batched layers with forward and backward passes ([`nn::layers`]) whose
//!   spiking layers call the neuron models of `spikelab_core::neuron`, and the kernels
//!   that make them fast (bit-packed spikes, sums of weight rows for binary inputs,
//!   runtime-dispatched SIMD, rayon);
//! * [`bptt`]: surrogate-gradient training by backpropagation through time (the job of
//!   snnTorch and SpikingJelly) — surrogates, losses, optimizers, encodings, the
//!   training loop, model and checkpoint files, and the workflows built on them:
//!   training sessions in an output directory ([`bptt::session`]) and evaluation of a
//!   saved model in the trainer and on the engine ([`bptt::evaluation`]);
//! * [`convert`]: ANN→SNN conversion (weight normalisation, accuracy-vs-T curves) and
//!   its workflows: ANN training ([`convert::ann`]), the conversion pipeline
//!   ([`convert::pipeline`]) and hybrid fine-tuning ([`convert::hybrid`]);
//! * [`export`]: the bridge to the event-driven engine — a trained network as a core
//!   `NetworkSpec`, evaluated there with synaptic-operation counts;
//! * [`nir`]: networks to and from NIR files (the Neuromorphic Intermediate
//!   Representation other SNN tools and neuromorphic hardware exchange);
//! * [`stdp`]: unsupervised STDP recipes (Diehl & Cook 2015) on the engine, with their
//!   [`checkpoint`] files and the train/evaluate workflow ([`stdp::session`]);
//! * [`data`]: image datasets as the trainer sees them.
//!
//! ```
//! use spikelab_train::prelude::*;
//!
//! let spec = parse_arch("16-32-4", FeatShape::image(1, 4, 4), &ArchOptions::default()).unwrap();
//! let config = TrainConfig { steps: 8, batch_size: 16, ..TrainConfig::default() };
//! let trainer = Trainer::new(&spec, config).unwrap();
//! assert_eq!(trainer.net.output_shape().len(), 4);
//! ```

#![warn(missing_docs)]

pub mod bptt;
pub mod checkpoint;
pub mod convert;
pub mod data;
pub mod export;
pub mod lsm;
pub mod nir;
pub mod nn;
pub mod stdp;

/// The names most programs need.
pub mod prelude {
    pub use crate::bptt::encode::Encoding;
    pub use crate::bptt::loss::LossSpec;
    pub use crate::bptt::optim::{OptimizerSpec, Schedule};
    pub use crate::bptt::trainer::{
        load_model, FitOptions, FitOutcome, Monitor, Silent, TrainConfig, Trainer,
    };
    pub use crate::data::{load_idx_dataset, Dataset, SampleShape, Split};
    pub use crate::nn::arch::{parse_arch, ArchOptions, NeuronKind, OutputKind};
    pub use crate::nn::layers::spiking::{Learn, SpikingSpec};
    pub use crate::nn::network::{LayerSpec, NetSpec, Network};
    pub use crate::nn::tensor::FeatShape;
    pub use spikelab_core::neuron::surrogate::{Surrogate, SurrogateKind};
}
