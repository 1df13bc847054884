//! # spikelab-train
//!
//! Surrogate-gradient training of spiking networks by backpropagation through time
//! (the job of snnTorch and SpikingJelly), on the CPU: time-batched layers with
//! forward and backward passes ([`layers`]), surrogate gradients ([`surrogate`]),
//! hot kernels that exploit binary spikes ([`kernels`]), and the tensors they
//! exchange ([`tensor`]).

#![warn(missing_docs)]

pub mod kernels;
pub mod layers;
pub mod surrogate;
pub mod tensor;
