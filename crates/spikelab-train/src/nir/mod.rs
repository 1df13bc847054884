//! NIR, the Neuromorphic Intermediate Representation (neuromorphs/NIR): trained
//! networks to and from the `.nir` files that snnTorch, Norse, Sinabs, Rockpool, Spyx,
//! Lava-dl and SpiNNaker2 exchange.
//!
//! * [`hdf5`] reads and writes the HDF5 files (pure Rust, bounded against hostile
//!   files); [`graph`] is the graph model with every NIR 1.0 node type;
//! * [`export`] turns a trainer [`Network`](crate::nn::network::Network) into a graph,
//!   [`import`] a graph into a trainer network (which `eval surrogate`, its engine
//!   export, fine-tuning with `train surrogate --init` and `nir export` take);
//! * [`engine`] exports simulator networks (a core `NetworkSpec`) of LIF / IF
//!   populations with current or delta synapses and delays;
//! * [`workflow`] holds the file-to-file workflows the CLI and Python call.
//!
//! ## The discretisation
//!
//! NIR is continuous-time (seconds); the trainer is discrete. With time step `dt` a LIF
//! node `τ·dv/dt = (v_leak − v) + R·I` with the input `x_t` held over the step becomes
//! `v_t = β·v_{t−1} + g·x_t + c`:
//!
//! | discretisation | β | g (input gain) | c |
//! | --- | --- | --- | --- |
//! | `euler` (default; snnTorch's) | `1 − dt/τ` | `R·dt/τ` | `v_leak·dt/τ` |
//! | `exact` (zero-order hold) | `exp(−dt/τ)` | `R·(1 − β)` | `v_leak·(1 − β)` |
//!
//! The export writes `τ` and `R` so that `g = 1` (snnTorch's convention, `R = τ/dt` for
//! Euler), IF nodes with `R = 1/dt`, LI (I for β = 1) nodes for the readout. The import
//! divides the threshold by `g` (an exact rescaling of the membrane), folds `c` into
//! the bias before the neuron, and folds the gain of a readout into the weights before
//! it. NIR resets to `v_reset`; the trainer's default reset by subtraction cannot be
//! said in NIR, so the export states it (and `dt`, the discretisation, the time steps
//! and the training configuration) in the graph's and each node's metadata
//! (`spikelab.*`), and the import reads it back; graphs from other tools reset to zero
//! unless told otherwise. Max pooling of spikes is written as `SumPool2d` followed by
//! `Threshold(0.5)` (exactly an OR of the window) and read back as max pooling.
//! Recurrent layers are subgraphs `input → lif → output` with `lif → w_rec → lif`, as
//! snnTorch writes its `RLeaky`.
//!
//! What NIR cannot say is refused by name: adaptive-threshold neurons (`alif`,
//! `ralif`), per-step batch norm, ReLU layers, max pooling of currents, reset `none`;
//! a shared batch norm is folded into the layer before it and dropout is dropped (both
//! are reported).

pub mod engine;
pub mod export;
pub mod graph;
pub mod hdf5;
pub mod import;
pub mod workflow;

#[cfg(test)]
mod tests;

use crate::nn::tensor::FeatShape;
use hdf5::{Tree, Value};
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};

pub use graph::{NirGraph, NirNode, Op};

/// How continuous-time NIR neurons map to discrete steps (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Discretisation {
    /// Forward Euler: `β = 1 − dt/τ` (snnTorch's).
    #[default]
    Euler,
    /// Exact for inputs held over a step: `β = exp(−dt/τ)`.
    Exact,
}

impl Discretisation {
    /// Names accepted on the command line.
    pub const NAMES: &'static str = "euler, exact";

    /// Parses a name.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "euler" => Ok(Discretisation::Euler),
            "exact" => Ok(Discretisation::Exact),
            other => Err(Error::field(
                "discretisation",
                format!("unknown `{other}`; expected one of {}", Self::NAMES),
            )),
        }
    }

    /// The name.
    pub fn name(self) -> &'static str {
        match self {
            Discretisation::Euler => "euler",
            Discretisation::Exact => "exact",
        }
    }

    /// β of a leaky node with time constant `tau_s` at step `dt_s`.
    pub fn beta(self, dt_s: f64, tau_s: f64) -> f64 {
        match self {
            Discretisation::Euler => 1.0 - dt_s / tau_s,
            Discretisation::Exact => (-dt_s / tau_s).exp(),
        }
    }

    /// The factor `k` of the input and leak terms (`g = k·R`, `c = k·v_leak`) of a leaky
    /// node with decay `beta`.
    pub fn input_factor(self, dt_s: f64, tau_s: f64, beta: f64) -> f64 {
        match self {
            Discretisation::Euler => dt_s / tau_s,
            Discretisation::Exact => 1.0 - beta,
        }
    }

    /// `(τ, R)` of a leaky node with decay `beta` and unit input gain, or `None` where
    /// there is none (β = 1; β = 0 for the exact form).
    pub fn tau_r(self, dt_s: f64, beta: f64) -> Option<(f64, f64)> {
        if !(0.0..1.0).contains(&beta) {
            return None;
        }
        match self {
            Discretisation::Euler => {
                let tau = dt_s / (1.0 - beta);
                Some((tau, tau / dt_s))
            }
            Discretisation::Exact => {
                if beta == 0.0 {
                    return None;
                }
                Some((-dt_s / beta.ln(), 1.0 / (1.0 - beta)))
            }
        }
    }
}

/// For data of `shape` stored channels-last by the trainer, the channels-first (NIR,
/// PyTorch) index of each trainer index; `None` when they agree (one channel).
pub(crate) fn channels_first_order(shape: FeatShape) -> Option<Vec<usize>> {
    if shape.c == 1 {
        return None;
    }
    let (c, h, w) = (shape.c, shape.h, shape.w);
    let mut order = vec![0; shape.len()];
    for y in 0..h {
        for x in 0..w {
            for k in 0..c {
                order[(y * w + x) * c + k] = k * h * w + y * w + x;
            }
        }
    }
    Some(order)
}

/// A string metadata value.
pub(crate) fn meta_text<'a>(m: &'a Tree, key: &str) -> Option<&'a str> {
    match m.get(key) {
        Some(Value::Strings(s)) if s.values.len() == 1 => Some(s.values[0].as_str()),
        _ => None,
    }
}

/// A numeric metadata value.
pub(crate) fn meta_number(m: &Tree, key: &str) -> Option<f64> {
    match m.get(key) {
        Some(Value::Array(a)) if a.data.len() == 1 => Some(a.data[0]),
        _ => None,
    }
}

/// Metadata keys the export writes and the import reads.
pub mod keys {
    /// Time step in seconds (graph).
    pub const DT_S: &str = "spikelab.dt_s";
    /// `euler` or `exact` (graph).
    pub const DISCRETISATION: &str = "spikelab.discretisation";
    /// Time steps per presentation (graph).
    pub const STEPS: &str = "spikelab.steps";
    /// Training configuration as JSON (graph).
    pub const CONFIG: &str = "spikelab.config";
    /// Reset rule of a spiking node: `subtract` or `zero` (node).
    pub const RESET: &str = "spikelab.reset";
    /// The trainer's spiking-layer settings (surrogate, learned parameters) as JSON
    /// (node).
    pub const SPIKING: &str = "spikelab.spiking";
    /// The readout's settings as JSON (node).
    pub const READOUT: &str = "spikelab.readout";
    /// A node the export added for what a trainer layer does implicitly (a linear
    /// layer flattening an image): the import adds no layer for it (node).
    pub const IMPLIED: &str = "spikelab.implied";
    /// Writer version (graph).
    pub const VERSION: &str = "spikelab.version";
    /// Human-readable statement of the conventions (graph).
    pub const NOTE: &str = "spikelab.note";
}
