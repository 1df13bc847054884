//! Weight and threshold normalisation (steps 3–5 of the conversion): the spiking
//! network of a folded ANN from the scales `λ_l` of its layers — weights scaled or
//! thresholds balanced, IF neurons with reset by subtraction, pooling mapped — and
//! spike-based layer-wise threshold balancing (Sengupta et al. 2019).

use super::fold::SUPPORTED;
use super::options::{ConvertOptions, ConvertedOutput, MaxPoolMode, ScaleMode};
use super::params::{param, set_params};
use super::stats::{current_stats, ActivationStats};
use super::Converted;
use crate::data::Dataset;
use crate::nn::layers::spiking::SpikingSpec;
use crate::nn::network::{LayerSpec, NetSpec, Network};
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};
use spikelab_core::neuron::discrete_time::DiscreteReset;

/// The scale of one converted layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerScale {
    /// Index of the weight layer in the folded ANN.
    pub ann_layer: usize,
    /// Index of the weight layer in the spiking network.
    pub snn_layer: usize,
    /// `linear` or `conv2d`.
    pub kind: String,
    /// Largest activation on the calibration samples.
    pub max_activation: f32,
    /// The scale `λ_l` used.
    pub lambda: f32,
    /// Factor applied to the weights (`λ_{l−1}/λ_l` or `λ_{l−1}`).
    pub weight_factor: f32,
    /// Factor applied to the bias (`1/λ_l` or 1).
    pub bias_factor: f32,
    /// Threshold of the layer's neurons (1 or `λ_l`; none for a readout).
    pub threshold: Option<f32>,
}

/// Spike-based layer-wise threshold balancing (Sengupta et al. 2019) of a conversion
/// of `folded`: the ANN's weights, and for each layer in turn the threshold θ_l taken
/// from the input currents it receives in the spiking network (earlier layers already
/// balanced). A spike of layer `l` then stands for an activation `Λ_l = Λ_{l−1}·θ_l`
/// (`Λ_0 = 1`), so biases are divided by `Λ_{l−1}`.
pub fn balance_with_spikes(
    folded: &Network,
    mut c: Converted,
    data: &Dataset,
    opts: &ConvertOptions,
) -> Result<Converted> {
    if opts.balance_steps == 0 || opts.balance_samples == 0 {
        return Err(Error::field(
            "balance_steps",
            "spike-based balancing needs at least 1 step and 1 sample",
        ));
    }
    opts.encoding.validate()?;
    let mut params = Vec::new();
    for s in &c.scales {
        push_scaled(folded, s.ann_layer, s.snn_layer, 1.0, 1.0, &mut params);
    }
    let mut net = Network::build(&c.spec, opts.balance_steps, 0)?;
    set_params(&mut net, &params)?;
    let mut big_lambda = 1.0f32;
    for k in 0..c.scales.len() {
        let wl = c.scales[k].snn_layer;
        if let Some(b) = param(folded, c.scales[k].ann_layer, "bias") {
            let scaled: Vec<f32> = b.iter().map(|v| v / big_lambda).collect();
            set_params(&mut net, &[(format!("{wl}.bias"), scaled)])?;
        }
        c.scales[k].weight_factor = 1.0;
        c.scales[k].bias_factor = 1.0 / big_lambda;
        let neuron = (wl + 1..c.spec.layers.len())
            .find(|&i| {
                matches!(
                    c.spec.layers[i],
                    LayerSpec::If(_) | LayerSpec::Readout { .. }
                )
            })
            .expect("a neuron layer follows every weight layer");
        if let LayerSpec::If(spec) = &mut c.spec.layers[neuron] {
            let stats = current_stats(&mut net, neuron, data, opts)?;
            let theta = stats.scale(opts.normalization);
            spec.threshold = theta;
            set_params(&mut net, &[(format!("{neuron}.threshold"), vec![theta])])?;
            big_lambda *= theta;
            let s = &mut c.scales[k];
            s.max_activation = stats.max;
            s.lambda = big_lambda;
            s.threshold = Some(theta);
        } else {
            c.scales[k].lambda = big_lambda;
            c.scales[k].threshold = None;
        }
    }
    let mut out = Vec::new();
    for s in &c.scales {
        for name in ["weight", "bias"] {
            if let Some(v) = param(&net, s.snn_layer, name) {
                out.push((format!("{}.{name}", s.snn_layer), v));
            }
        }
    }
    c.params = out;
    Ok(c)
}

/// The conversion of a folded ANN (no batch norm, no dropout) given the statistics of
/// its measured layers (from [`activation_stats`](super::activation_stats)).
pub fn convert_with_stats(
    folded: &Network,
    stats: &[(usize, ActivationStats)],
    opts: &ConvertOptions,
) -> Result<Converted> {
    let layers = &folded.spec.layers;
    let n = layers.len();
    match layers.last() {
        Some(LayerSpec::Linear { .. }) => {}
        Some(l) => {
            return Err(Error::field(
                format!("layer[{}] ({})", n - 1, l.name()),
                "the ANN must end with a linear layer (the logits) to be converted",
            ))
        }
        None => return Err(Error::field("layers", "the network has no layers")),
    }
    let stat_of = |i: usize| stats.iter().find(|(k, _)| *k == i).map(|(_, s)| s);
    let mut spec = NetSpec::new(folded.spec.input);
    let mut params = Vec::new();
    let mut scales = Vec::new();
    let mut lambda_in = 1.0f32;
    // The weight layer waiting for its ReLU: (ANN index, SNN index, kind).
    let mut open: Option<(usize, usize, &'static str)> = None;
    let mut after_neuron = false;
    for (i, l) in layers.iter().enumerate() {
        let f = format!("layer[{i}] ({})", l.name());
        let last = i == n - 1;
        match l {
            LayerSpec::Linear { .. } | LayerSpec::Conv2d { .. } => {
                if let Some((j, _, _)) = open {
                    return Err(Error::field(
                        f,
                        format!("two weight layers without a ReLU between them (layer[{j}] and this one)"),
                    ));
                }
                let k = spec.layers.len();
                spec.layers.push(l.clone());
                open = Some((i, k, l.name()));
                after_neuron = false;
                if last {
                    let s = stat_of(i).ok_or_else(|| Error::field(&f, "no statistics"))?;
                    let out = Output {
                        ann_layer: i,
                        snn_layer: k,
                        kind: l.name(),
                        lambda_in,
                    };
                    scales.push(push_output(folded, s, &out, opts, &mut spec, &mut params));
                }
            }
            LayerSpec::Relu => {
                let (wi, wk, kind) = open.take().ok_or_else(|| {
                    Error::field(&f, "a ReLU must follow a linear or conv layer (with only pooling or flatten between)")
                })?;
                let s = stat_of(i).ok_or_else(|| Error::field(&f, "no statistics"))?;
                let lambda = s.scale(opts.normalization);
                let (wf, bf) = factors(opts.scale, lambda_in, lambda);
                push_scaled(folded, wi, wk, wf, bf, &mut params);
                let threshold = match opts.scale {
                    ScaleMode::Weights => 1.0,
                    ScaleMode::Thresholds | ScaleMode::Spikes => lambda,
                };
                spec.layers.push(LayerSpec::If(if_spec(threshold)));
                scales.push(LayerScale {
                    ann_layer: wi,
                    snn_layer: wk,
                    kind: kind.into(),
                    max_activation: s.max,
                    lambda,
                    weight_factor: wf,
                    bias_factor: bf,
                    threshold: Some(threshold),
                });
                lambda_in = lambda;
                after_neuron = true;
            }
            LayerSpec::AvgPool2d { .. } | LayerSpec::Flatten => spec.layers.push(l.clone()),
            LayerSpec::MaxPool2d { kernel, stride } => match opts.max_pool {
                MaxPoolMode::Avg => spec.layers.push(LayerSpec::AvgPool2d {
                    kernel: *kernel,
                    stride: *stride,
                }),
                MaxPoolMode::Spikes => {
                    if !after_neuron {
                        return Err(Error::field(
                            f,
                            "max pooling of spikes needs the pooling right after the ReLU (move it after the ReLU, or convert with max-pool mode `avg`)",
                        ));
                    }
                    spec.layers.push(l.clone());
                }
            },
            other => {
                return Err(Error::field(
                    f,
                    format!("`{}` cannot be converted; {SUPPORTED}", other.name()),
                ))
            }
        }
    }
    spec.shapes()?;
    Ok(Converted {
        spec,
        params,
        scales,
        folded_ann: folded.spec.clone(),
    })
}

/// The output weight layer of the folded ANN, where it goes and its input scale.
struct Output {
    ann_layer: usize,
    snn_layer: usize,
    kind: &'static str,
    lambda_in: f32,
}

/// Scales the output weight layer `o` (statistics `s`) into `params` and appends the
/// output neurons (a readout or IF neurons) to `spec`.
fn push_output(
    folded: &Network,
    s: &ActivationStats,
    o: &Output,
    opts: &ConvertOptions,
    spec: &mut NetSpec,
    params: &mut Vec<(String, Vec<f32>)>,
) -> LayerScale {
    let lambda = s.scale(opts.normalization);
    let (wf, bf) = factors(opts.scale, o.lambda_in, lambda);
    push_scaled(folded, o.ann_layer, o.snn_layer, wf, bf, params);
    let threshold = match opts.output {
        ConvertedOutput::Membrane => {
            spec.layers.push(LayerSpec::Readout {
                beta: 1.0,
                learn_beta: false,
            });
            None
        }
        ConvertedOutput::Spikes => {
            let th = match opts.scale {
                ScaleMode::Weights => 1.0,
                ScaleMode::Thresholds | ScaleMode::Spikes => lambda,
            };
            spec.layers.push(LayerSpec::If(if_spec(th)));
            Some(th)
        }
    };
    LayerScale {
        ann_layer: o.ann_layer,
        snn_layer: o.snn_layer,
        kind: o.kind.into(),
        max_activation: s.max,
        lambda,
        weight_factor: wf,
        bias_factor: bf,
        threshold,
    }
}

/// Weight and bias factors for input scale `lambda_in` and output scale `lambda`.
fn factors(mode: ScaleMode, lambda_in: f32, lambda: f32) -> (f32, f32) {
    match mode {
        ScaleMode::Weights => (lambda_in / lambda, 1.0 / lambda),
        ScaleMode::Thresholds | ScaleMode::Spikes => (lambda_in, 1.0),
    }
}

fn push_scaled(
    folded: &Network,
    ann_layer: usize,
    snn_layer: usize,
    wf: f32,
    bf: f32,
    params: &mut Vec<(String, Vec<f32>)>,
) {
    let w = param(folded, ann_layer, "weight").expect("weight");
    params.push((
        format!("{snn_layer}.weight"),
        w.iter().map(|v| v * wf).collect(),
    ));
    if let Some(b) = param(folded, ann_layer, "bias") {
        params.push((
            format!("{snn_layer}.bias"),
            b.iter().map(|v| v * bf).collect(),
        ));
    }
}

/// IF neurons with reset by subtraction and threshold `threshold`.
fn if_spec(threshold: f32) -> SpikingSpec {
    SpikingSpec {
        beta: 1.0,
        threshold,
        reset: DiscreteReset::Subtract,
        ..SpikingSpec::default()
    }
}
