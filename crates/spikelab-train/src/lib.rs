//! # spikelab-train
//!
//! Training of spiking networks: unsupervised STDP recipes (Diehl & Cook 2015) on the
//! event-driven engine; tensors and layers with forward/backward, surrogate
//! gradients, losses, optimizers and training loops with checkpoints; ANN→SNN
//! conversion; export of trained networks to core networks.

#![warn(missing_docs)]

pub mod checkpoint;
pub mod stdp;
