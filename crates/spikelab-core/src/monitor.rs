//! Monitors: what a run records — spikes (all or a subset), state variables of chosen
//! neurons every k steps, and population rates in time bins — and the records they
//! produce.

use crate::error::{check_positive, Result};
use crate::selection::NeuronSelection;
use serde::{Deserialize, Serialize};

fn one_ms() -> f64 {
    1.0
}

/// A monitor as written in a model file (`[[monitor]]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum MonitorSpec {
    /// Record spike times and indices.
    Spikes {
        /// Population to record.
        population: String,
        /// Neurons to record (default all).
        #[serde(default)]
        neurons: NeuronSelection,
    },
    /// Record state variables.
    State {
        /// Population to record.
        population: String,
        /// Names of the state variables (e.g. `["v"]`).
        variables: Vec<String>,
        /// Neurons to record.
        neurons: NeuronSelection,
        /// Sampling interval (ms); default every step.
        #[serde(default)]
        every_ms: Option<f64>,
    },
    /// Record the population rate in bins.
    Rate {
        /// Population to record.
        population: String,
        /// Bin width (ms), default 1.
        #[serde(default = "one_ms")]
        bin_ms: f64,
    },
}

impl MonitorSpec {
    /// The recorded population.
    pub fn population(&self) -> &str {
        match self {
            MonitorSpec::Spikes { population, .. }
            | MonitorSpec::State { population, .. }
            | MonitorSpec::Rate { population, .. } => population,
        }
    }

    /// Checks intervals; names and indices are checked against the network.
    pub fn validate(&self, field: &str) -> Result<()> {
        match self {
            MonitorSpec::State {
                every_ms: Some(e), ..
            } => check_positive(&format!("{field}.every_ms"), *e),
            MonitorSpec::Rate { bin_ms, .. } => check_positive(&format!("{field}.bin_ms"), *bin_ms),
            _ => Ok(()),
        }
    }
}

/// Recorded spikes of one population.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpikeRecord {
    /// Population name.
    pub population: String,
    /// Step of each spike.
    pub steps: Vec<u64>,
    /// Neuron (index in the population) of each spike.
    pub neurons: Vec<u32>,
    /// Number of neurons recorded.
    pub recorded_neurons: usize,
}

impl SpikeRecord {
    /// Spike times in ms.
    pub fn times_ms(&self, dt_ms: f64) -> Vec<f64> {
        self.steps.iter().map(|&s| s as f64 * dt_ms).collect()
    }
}

/// Recorded state variables of chosen neurons.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StateRecord {
    /// Population name.
    pub population: String,
    /// Variable names, in the order of the inner dimension of `values`.
    pub variables: Vec<String>,
    /// Recorded neurons.
    pub neurons: Vec<u32>,
    /// Step of each sample.
    pub steps: Vec<u64>,
    /// `values[(sample * neurons.len() + k) * variables.len() + v]`.
    pub values: Vec<f32>,
    /// Steps between samples.
    pub every_steps: u64,
}

impl StateRecord {
    /// The trace of variable `var` of the `k`-th recorded neuron.
    pub fn trace(&self, var: usize, k: usize) -> Vec<f32> {
        let (nn, nv) = (self.neurons.len(), self.variables.len());
        (0..self.steps.len())
            .map(|s| self.values[(s * nn + k) * nv + var])
            .collect()
    }
}

/// Spike counts of a population in time bins.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RateRecord {
    /// Population name.
    pub population: String,
    /// Population size.
    pub size: usize,
    /// Bin width in steps.
    pub bin_steps: u64,
    /// Spikes per bin.
    pub counts: Vec<u64>,
}

impl RateRecord {
    /// Mean rate per neuron (Hz) in each bin.
    pub fn rates_hz(&self, dt_ms: f64) -> Vec<f64> {
        let bin_s = self.bin_steps as f64 * dt_ms * 1e-3;
        self.counts
            .iter()
            .map(|&c| c as f64 / (self.size as f64 * bin_s))
            .collect()
    }
}

/// Everything recorded by a run.
#[derive(Clone, Debug, Default)]
pub struct Recordings {
    /// Spike monitors, in model-file order.
    pub spikes: Vec<SpikeRecord>,
    /// State monitors.
    pub states: Vec<StateRecord>,
    /// Rate monitors.
    pub rates: Vec<RateRecord>,
}
