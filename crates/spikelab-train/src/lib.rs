//! # spikelab-train
//!
//! Training of spiking networks: unsupervised STDP recipes (Diehl & Cook 2015) on the
//! event-driven engine ([`stdp`], [`checkpoint`]), and surrogate-gradient training by
//! backpropagation through time (the job of snnTorch and SpikingJelly) on the CPU, with
//! export of trained networks to the event-driven engine of `spikelab-core`:
//!
//! * [`network`] and [`arch`]: describe a network (Rust builder, JSON, or text such as
//!   `12C5-MP2-64C5-MP2-10`) and build it;
//! * [`layers`]: time-batched layers with forward and backward passes; spiking layers
//!   call the neuron kernels of `spikelab_core::neuron::discrete`;
//! * [`surrogate`], [`loss`], [`optim`], [`encode`]: surrogate gradients, losses,
//!   optimizers and schedules, input encodings;
//! * [`trainer`] and [`io`]: the training loop, evaluation, model and checkpoint files;
//! * [`export`]: a trained feed-forward network as a core `NetworkSpec`, evaluated on
//!   the engine with synaptic-operation counts;
//! * [`kernels`] and [`tensor`]: what makes it fast — bit-packed spikes, sums of weight
//!   rows for binary inputs, runtime-dispatched SIMD, rayon.
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

pub mod alloc;
pub mod arch;
pub mod checkpoint;
pub mod convert;
pub mod curve;
pub mod data;
pub mod encode;
pub mod export;
pub mod io;
pub mod kernels;
pub mod layers;
pub mod loss;
pub mod network;
pub mod optim;
pub mod pool;
pub mod stdp;
pub mod surrogate;
pub mod tensor;
pub mod trainer;

/// The names most programs need.
pub mod prelude {
    pub use crate::arch::{parse_arch, ArchOptions, NeuronKind, OutputKind};
    pub use crate::data::{load_idx_dataset, Dataset, Split};
    pub use crate::encode::Encoding;
    pub use crate::layers::spiking::{Learn, SpikingSpec};
    pub use crate::loss::LossSpec;
    pub use crate::network::{LayerSpec, NetSpec, Network};
    pub use crate::optim::{OptimizerSpec, Schedule};
    pub use crate::surrogate::{Surrogate, SurrogateKind};
    pub use crate::tensor::FeatShape;
    pub use crate::trainer::{
        load_model, FitOptions, FitOutcome, Monitor, Silent, TrainConfig, Trainer,
    };
}
