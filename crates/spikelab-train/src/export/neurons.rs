//! The engine population of each trainer neuron layer: its model (through the mapping
//! each model file defines: [`Lif::from_discrete`], [`Lif::from_discrete_adaptive`],
//! [`Iaf::from_discrete`], [`leaky_integrator::engine_model`]), the scale of its
//! incoming weights and, for a recurrent LIF, its recurrent weights.

use crate::nn::layers::readout::Readout;
use crate::nn::layers::recurrent::RecurrentLif;
use crate::nn::layers::spiking::{Spiking, SpikingModel};
use crate::nn::layers::{Layer, Param};
use spikelab_core::error::{Error, Result};
use spikelab_core::neuron::discrete_time::DiscreteReset;
use spikelab_core::neuron::leaky_integrator;
use spikelab_core::neuron::lif::Adaptation;
use spikelab_core::prelude::*;

/// What one neuron layer becomes on the engine.
pub(super) struct NeuronStage {
    /// The population's model.
    pub neuron: NeuronSpec,
    /// Per target neuron: factor from a trainer weight to an engine delta weight
    /// (`1/β`, times `1/θ_j` where per-neuron thresholds are folded into the weights).
    pub scale: Vec<f32>,
    /// Recurrent weights (`n × n`, source-major) of a recurrent LIF.
    pub recurrent: Option<Vec<f32>>,
    /// The output is the membrane (a leaky-integrator readout), not spikes.
    pub membrane: bool,
}

/// The engine stage of neuron layer `layer` (`f` names it in errors).
pub(super) fn neuron_stage(layer: &dyn Layer, f: &str, dt_ms: f64) -> Result<NeuronStage> {
    let any = layer.as_any();
    let n = layer.out_shape().len();
    if let Some(s) = any.downcast_ref::<Spiking>() {
        spiking_stage(s, n, f, dt_ms)
    } else if let Some(r) = any.downcast_ref::<RecurrentLif>() {
        recurrent_stage(r, n, f, dt_ms)
    } else if let Some(r) = any.downcast_ref::<Readout>() {
        readout_stage(r, n, f, dt_ms)
    } else {
        Err(Error::field(f, "unsupported neuron layer"))
    }
}

/// A LIF, IF or adaptive-LIF layer.
fn spiking_stage(s: &Spiking, n: usize, f: &str, dt_ms: f64) -> Result<NeuronStage> {
    let beta = match s.model {
        SpikingModel::If => 1.0,
        _ => layer_beta(&s.beta, f)?,
    };
    let reset = reset_mode(s.spec.reset, f)?;
    let (theta, scale) = thresholds(beta, &s.threshold, n);
    let neuron = match s.model {
        SpikingModel::Alif(ad) if ad.is_adaptive() => {
            NeuronSpec::Lif(adaptive_lif(beta, &s.threshold, ad, reset, dt_ms, f)?)
        }
        _ => lif_or_if(beta, theta, reset, dt_ms, f)?,
    };
    Ok(NeuronStage {
        neuron,
        scale,
        recurrent: None,
        membrane: false,
    })
}

/// The adaptive LIF: one base threshold and adaptation for the population.
fn adaptive_lif(
    beta: f32,
    threshold: &Param,
    ad: Adaptation,
    reset: ResetMode,
    dt_ms: f64,
    f: &str,
) -> Result<Lif> {
    if threshold.len() > 1 {
        return Err(Error::field(
            f,
            "per-neuron thresholds of an adaptive LIF cannot be exported: the engine's threshold increment is one per population",
        ));
    }
    if beta >= 1.0 {
        return Err(Error::field(
            f,
            "an adaptive LIF with β = 1 cannot be exported: the engine's IF model has no adaptive threshold",
        ));
    }
    if beta <= 0.0 {
        return Err(beta_zero(f));
    }
    Lif::from_discrete_adaptive(beta, threshold.value[0] as f64, ad, reset, dt_ms)
        .map_err(|e| Error::field(f, e.to_string()))
}

/// A recurrent LIF: a LIF population with a projection onto itself.
fn recurrent_stage(r: &RecurrentLif, n: usize, f: &str, dt_ms: f64) -> Result<NeuronStage> {
    let beta = layer_beta(&r.beta, f)?;
    let reset = reset_mode(r.spec.reset, f)?;
    let (theta, scale) = thresholds(beta, &r.threshold, n);
    Ok(NeuronStage {
        neuron: lif_or_if(beta, theta, reset, dt_ms, f)?,
        scale,
        recurrent: Some(r.recurrent.value.clone()),
        membrane: false,
    })
}

/// A leaky-integrator readout of `n` neurons.
fn readout_stage(r: &Readout, n: usize, f: &str, dt_ms: f64) -> Result<NeuronStage> {
    let beta = r.beta.value[0];
    if beta <= 0.0 {
        return Err(beta_zero(f));
    }
    Ok(NeuronStage {
        neuron: leaky_integrator::engine_model(beta, dt_ms)?,
        scale: vec![1.0 / beta.max(f32::MIN_POSITIVE); n],
        recurrent: None,
        membrane: true,
    })
}

/// The engine reset of a trainer reset rule.
fn reset_mode(r: DiscreteReset, f: &str) -> Result<ResetMode> {
    r.engine_reset().ok_or_else(|| {
        Error::field(
            f,
            "reset `none` has no engine equivalent (engine neurons always reset)",
        )
    })
}

/// The layer's one decay β (an engine population has one τ_m).
fn layer_beta(beta: &Param, f: &str) -> Result<f32> {
    if beta.len() > 1 {
        return Err(Error::field(
            f,
            "per-neuron decay (learn_beta = neuron) cannot be exported: an engine population has one τ_m",
        ));
    }
    Ok(beta.value[0])
}

/// The engine threshold and the per-target weight scale `1/(β·θ_j)` of `n` neurons:
/// per-neuron thresholds are folded into the incoming weights (threshold 1), a
/// layer threshold is kept (scale `1/β`).
fn thresholds(beta: f32, threshold: &Param, n: usize) -> (f64, Vec<f32>) {
    let per_neuron = threshold.len() > 1;
    let theta = if per_neuron {
        1.0
    } else {
        threshold.value[0] as f64
    };
    let scale = (0..n)
        .map(|j| {
            let th = if per_neuron { threshold.value[j] } else { 1.0 };
            1.0 / (beta * th)
        })
        .collect();
    (theta, scale)
}

/// IF for β ≥ 1, else LIF (β = 0 refused).
fn lif_or_if(beta: f32, theta: f64, reset: ResetMode, dt_ms: f64, f: &str) -> Result<NeuronSpec> {
    if beta >= 1.0 {
        return Ok(NeuronSpec::If(Iaf::from_discrete(theta, reset)));
    }
    if beta <= 0.0 {
        return Err(beta_zero(f));
    }
    Lif::from_discrete(beta, theta, reset, dt_ms)
        .map(NeuronSpec::Lif)
        .map_err(|e| Error::field(f, e.to_string()))
}

fn beta_zero(f: &str) -> Error {
    Error::field(
        f,
        "β = 0 has no engine equivalent (the engine applies input before the decay)",
    )
}
