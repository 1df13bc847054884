//! The networks the trainer and the converter share: how a network is described
//! ([`network`], [`arch`]), its time-batched layers with forward and backward passes
//! ([`layers`]), and what makes them fast — activations ([`tensor`]), bit-packed spike
//! kernels with runtime-dispatched SIMD ([`kernels`]), buffer reuse ([`alloc`]) and
//! the thread pool ([`pool`]).

pub mod alloc;
pub mod arch;
pub mod kernels;
pub mod layers;
pub mod network;
pub mod pool;
pub mod tensor;
