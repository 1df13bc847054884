//! ANN→SNN conversion (Diehl et al. 2015; Rueckauer et al. 2017): a ReLU network
//! trained with the same layer code (`spikelab train ann`) becomes a spiking network
//! of integrate-and-fire neurons whose firing rates approximate the ANN's activations.
//!
//! ## Steps
//!
//! 1. **Batch-norm folding.** A batch norm right after a linear or conv layer is folded
//!    into it: `W' = W·γ/√(σ²+ε)`, `b' = (b − μ)·γ/√(σ²+ε) + β` per output channel
//!    (running statistics). Dropout is dropped (the identity at inference).
//! 2. **Activation statistics.** The folded ANN runs on calibration samples (the first
//!    `calibration_samples` of the training set) and records, for every ReLU layer and
//!    the output layer, the maximum and a 65,536-bin histogram of the non-zero
//!    activations (two passes; counts are integers, so the result does not depend on
//!    the number of threads).
//! 3. **Normalisation.** Each layer `l` gets a scale `λ_l`: the maximum activation
//!    (data-based normalisation, Diehl et al. 2015) or the `p`-th percentile of its
//!    non-zero activations (robust normalisation, Rueckauer et al. 2017; p = 99.9 by
//!    default). The input scale `λ_0` is 1 (pixel intensities in [0, 1]). Then either
//!    the weights are normalised (`W'_l = W_l·λ_{l−1}/λ_l`, `b'_l = b_l/λ_l`, threshold
//!    one) or, equivalently for IF neurons, the thresholds are balanced layer by layer
//!    (`W'_l = W_l·λ_{l−1}`, `b'_l = b_l`, threshold `λ_l`). Either way a spike of layer
//!    `l` stands for an activation of `λ_l` and the firing rate per step approximates
//!    `a_l/λ_l`, clipped at 1. A third choice, spike-based layer-wise threshold
//!    balancing (Sengupta et al. 2019, [`ScaleMode::Spikes`]), keeps the ANN's weights
//!    and sets each layer's threshold from the input currents it receives in the
//!    spiking network itself, one layer after the other.
//! 4. **Spiking network.** Every ReLU becomes a layer of IF neurons with reset by
//!    subtraction (no information lost at the reset); biases stay biases, which the
//!    trainer adds at every step: a constant input current (and on the engine, a bias
//!    generator firing every step). Average pooling stays average pooling of spikes
//!    (a linear map of rates). The output layer is a non-leaky integrator (a readout
//!    with β = 1, the membrane sums the logits' input current; default) or IF neurons
//!    whose spike counts decide.
//! 5. **Max pooling** has no exact rate equivalent. [`MaxPoolMode::Spikes`] keeps it as
//!    max pooling of the spikes at each step (an OR of the window: the rate is at least
//!    the largest input rate, so it over-estimates); [`MaxPoolMode::Avg`] replaces it by
//!    average pooling (exact only for an ANN trained with average pooling). The
//!    recommended route is to train the ANN with average pooling (`AP2`).
//!
//! Inputs are analog by default: the pixel intensities are a constant current into the
//! first layer at every step (`Encoding::Direct`, as Rueckauer et al.); rate coding
//! (Bernoulli spikes) is an option. The converted network is an ordinary
//! [`Network`] of the trainer: it evaluates with the trainer, exports to the engine
//! ([`crate::export`]), and fine-tunes with surrogate gradients (hybrid training,
//! [`hybrid_spec`]).

pub mod curve;

use crate::bptt::encode::{encode, Encoding};
use crate::data::Dataset;
use crate::nn::layers::spiking::{Learn, SpikingSpec};
use crate::nn::layers::Pass;
use crate::nn::network::{LayerSpec, NetSpec, Network};
use crate::nn::tensor::Activation;
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};
use spikelab_core::neuron::discrete_time::DiscreteReset;

/// How the scale `λ` of a layer is taken from its activations.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Normalization {
    /// The largest activation (Diehl et al. 2015).
    Max,
    /// The `p`-th percentile of the non-zero activations (Rueckauer et al. 2017).
    Percentile {
        /// Percentile in (0, 100].
        p: f64,
    },
}

impl Normalization {
    /// Names accepted on the command line.
    pub const NAMES: &'static str = "max, p<percentile> (e.g. p99.9)";

    /// Parses `max` or `p99.9`.
    pub fn parse(s: &str) -> Result<Self> {
        if s == "max" {
            return Ok(Normalization::Max);
        }
        let bad = || {
            Error::field(
                "norm",
                format!("unknown normalisation `{s}`; known: {}", Self::NAMES),
            )
        };
        let p: f64 = s
            .strip_prefix('p')
            .ok_or_else(bad)?
            .parse()
            .map_err(|_| bad())?;
        let n = Normalization::Percentile { p };
        n.validate()?;
        Ok(n)
    }

    /// Checks the percentile.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Normalization::Percentile { p } if !(p > 0.0 && p <= 100.0) => Err(Error::field(
                "norm",
                format!("the percentile must be in (0, 100] (got {p})"),
            )),
            _ => Ok(()),
        }
    }
}

/// Where the normalisation goes (the two are the same network for IF neurons).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleMode {
    /// Weights and biases divided by `λ_l` (times `λ_{l−1}`), thresholds 1.
    #[default]
    Weights,
    /// Weights times `λ_{l−1}`, thresholds `λ_l` (layer-wise threshold balancing).
    Thresholds,
    /// Spike-based layer-wise threshold balancing (Sengupta et al. 2019): the ANN's
    /// weights; layer by layer, the threshold is the maximum (or percentile) of the
    /// input current the layer receives in the spiking network whose earlier layers are
    /// already balanced, over `balance_steps` steps of `balance_samples` samples.
    Spikes,
}

impl ScaleMode {
    /// Parses `weights` or `thresholds`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "weights" => Ok(ScaleMode::Weights),
            "thresholds" => Ok(ScaleMode::Thresholds),
            "spikes" => Ok(ScaleMode::Spikes),
            _ => Err(Error::field(
                "scale",
                format!("unknown scale mode `{s}`; known: weights, thresholds, spikes"),
            )),
        }
    }
}

/// What becomes of max pooling (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxPoolMode {
    /// Max pooling of the spikes at every step (an OR of the window).
    #[default]
    Spikes,
    /// Average pooling instead.
    Avg,
}

impl MaxPoolMode {
    /// Parses `spikes` or `avg`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "spikes" | "or" => Ok(MaxPoolMode::Spikes),
            "avg" => Ok(MaxPoolMode::Avg),
            _ => Err(Error::field(
                "max_pool",
                format!("unknown max-pool mode `{s}`; known: spikes, avg"),
            )),
        }
    }
}

/// The output layer of the converted network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConvertedOutput {
    /// A non-leaky integrator (readout with β = 1); the largest summed membrane wins.
    #[default]
    Membrane,
    /// IF neurons; the largest spike count wins.
    Spikes,
}

impl ConvertedOutput {
    /// Parses `membrane` or `spikes`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "membrane" => Ok(ConvertedOutput::Membrane),
            "spikes" => Ok(ConvertedOutput::Spikes),
            _ => Err(Error::field(
                "output",
                format!("unknown output `{s}`; known: membrane, spikes"),
            )),
        }
    }
}

/// Options of [`convert`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvertOptions {
    /// How `λ` is taken from the activations.
    pub normalization: Normalization,
    /// Weights or thresholds.
    pub scale: ScaleMode,
    /// Max pooling.
    pub max_pool: MaxPoolMode,
    /// Output layer.
    pub output: ConvertedOutput,
    /// Training samples used for the activation statistics.
    pub calibration_samples: usize,
    /// Samples per forward pass while calibrating.
    pub batch_size: usize,
    /// Input encoding of the spiking network (spike-based balancing runs it).
    pub encoding: Encoding,
    /// Time steps of spike-based balancing.
    pub balance_steps: usize,
    /// Training samples of spike-based balancing.
    pub balance_samples: usize,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            normalization: Normalization::Percentile { p: 99.9 },
            scale: ScaleMode::Weights,
            max_pool: MaxPoolMode::Spikes,
            output: ConvertedOutput::Membrane,
            calibration_samples: 10_000,
            batch_size: 256,
            encoding: Encoding::Direct,
            balance_steps: 64,
            balance_samples: 1000,
        }
    }
}

/// Number of histogram bins of [`ActivationStats`].
pub const HISTOGRAM_BINS: usize = 1 << 16;

/// Maximum and histogram of the non-zero activations of one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivationStats {
    /// Largest activation seen.
    pub max: f32,
    /// Non-zero (positive) activations seen.
    pub count: u64,
    /// Counts of positive activations in [`HISTOGRAM_BINS`] equal bins over `(0, max]`
    /// (empty until [`ActivationStats::add_to_histogram`] runs).
    pub histogram: Vec<u64>,
}

impl ActivationStats {
    /// From a first pass: the maximum and count of positive values.
    pub fn from_max(values: &[f32]) -> Self {
        let mut s = ActivationStats {
            max: 0.0,
            count: 0,
            histogram: Vec::new(),
        };
        s.add_to_max(values);
        s
    }
    /// Adds values to the first pass.
    pub fn add_to_max(&mut self, values: &[f32]) {
        for &v in values {
            if v > 0.0 {
                self.count += 1;
                self.max = self.max.max(v);
            }
        }
    }
    /// Adds values to the histogram (second pass, after every value went through
    /// [`ActivationStats::add_to_max`]).
    pub fn add_to_histogram(&mut self, values: &[f32]) {
        if self.histogram.is_empty() {
            self.histogram = vec![0; HISTOGRAM_BINS];
        }
        if self.max <= 0.0 {
            return;
        }
        let scale = HISTOGRAM_BINS as f64 / self.max as f64;
        for &v in values {
            if v > 0.0 {
                let b = ((v as f64 * scale) as usize).min(HISTOGRAM_BINS - 1);
                self.histogram[b] += 1;
            }
        }
    }
    /// The stats of a complete set of values (both passes).
    pub fn of(values: &[f32]) -> Self {
        let mut s = Self::from_max(values);
        s.add_to_histogram(values);
        s
    }
    /// The `p`-th percentile of the positive values (linear within a bin; exact to
    /// `max / HISTOGRAM_BINS`). 0 when there are none.
    pub fn percentile(&self, p: f64) -> f32 {
        if self.count == 0 || self.histogram.is_empty() {
            return self.max;
        }
        // Rank in [0, count − 1], interpolated linearly between neighbouring values as
        // numpy's default; a value's position within its bin is estimated by spreading
        // the bin's values evenly over it.
        let rank = (p / 100.0).clamp(0.0, 1.0) * (self.count - 1) as f64;
        let width = self.max as f64 / HISTOGRAM_BINS as f64;
        let value_at = |k: u64| -> f64 {
            let mut below = 0u64;
            for (b, &c) in self.histogram.iter().enumerate() {
                if below + c > k {
                    let pos = ((k - below) as f64 + 0.5) / c as f64;
                    return ((b as f64 + pos) * width).min(self.max as f64);
                }
                below += c;
            }
            self.max as f64
        };
        let lo = rank.floor() as u64;
        let hi = (lo + 1).min(self.count - 1);
        let f = rank - lo as f64;
        (value_at(lo) * (1.0 - f) + value_at(hi) * f) as f32
    }
    /// The scale `λ` under `norm`; 1 when the layer never activates (nothing to scale).
    pub fn scale(&self, norm: Normalization) -> f32 {
        let l = match norm {
            Normalization::Max => self.max,
            Normalization::Percentile { p } => self.percentile(p),
        };
        if l > 0.0 && l.is_finite() {
            l
        } else {
            1.0
        }
    }
}

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

/// Parameter values by name (`"<layer>.<name>"`, as [`Network::named_params`]).
pub type NamedParams = Vec<(String, Vec<f32>)>;

/// The result of [`convert`].
#[derive(Clone, Debug)]
pub struct Converted {
    /// The spiking network.
    pub spec: NetSpec,
    /// Its weights and biases by name (`"<layer>.<weight|bias>"`).
    pub params: NamedParams,
    /// Per weight layer, the normalisation.
    pub scales: Vec<LayerScale>,
    /// The folded ANN (batch norm folded, dropout removed).
    pub folded_ann: NetSpec,
}

impl Converted {
    /// Builds the spiking network for `steps` time steps.
    pub fn network(&self, steps: usize) -> Result<Network> {
        let mut net = Network::build(&self.spec, steps, 0)?;
        set_params(&mut net, &self.params)?;
        Ok(net)
    }
}

/// Sets parameters by name (`"<layer>.<name>"`); every name must exist with the same
/// length.
pub fn set_params(net: &mut Network, params: &[(String, Vec<f32>)]) -> Result<()> {
    let names: Vec<String> = net.named_params().into_iter().map(|(n, _)| n).collect();
    let mut slots = net.params_mut();
    for (name, v) in params {
        let k = names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| Error::field(name, "no such parameter in the network"))?;
        if slots[k].value.len() != v.len() {
            return Err(Error::field(
                name,
                format!("has {} values, expected {}", v.len(), slots[k].value.len()),
            ));
        }
        slots[k].value.copy_from_slice(v);
    }
    Ok(())
}

fn param(net: &Network, layer: usize, name: &str) -> Option<Vec<f32>> {
    net.layers()[layer]
        .params()
        .into_iter()
        .find(|p| p.name == name)
        .map(|p| p.value.clone())
}

const SUPPORTED: &str =
    "conversion takes linear, conv2d, batch_norm, relu, avg_pool2d, max_pool2d, flatten and dropout layers";

/// Folds batch norm into the layer before it and drops dropout: returns the folded
/// ANN (every linear/conv with a bias) and its parameters. Errors name the layer that
/// cannot be converted.
pub fn fold_batch_norm(ann: &Network) -> Result<(NetSpec, NamedParams)> {
    let layers = &ann.spec.layers;
    let mut spec = NetSpec::new(ann.spec.input);
    let mut params = Vec::new();
    let mut i = 0;
    while i < layers.len() {
        let f = format!("layer[{i}] ({})", layers[i].name());
        match &layers[i] {
            LayerSpec::Linear { out, .. } | LayerSpec::Conv2d { channels: out, .. } => {
                let with_bias = match layers[i].clone() {
                    LayerSpec::Linear { out, .. } => LayerSpec::Linear { out, bias: true },
                    LayerSpec::Conv2d {
                        channels,
                        kernel,
                        stride,
                        padding,
                        ..
                    } => LayerSpec::Conv2d {
                        channels,
                        kernel,
                        stride,
                        padding,
                        bias: true,
                    },
                    _ => unreachable!("matched linear or conv"),
                };
                let mut w = param(ann, i, "weight").expect("weight");
                let mut b = param(ann, i, "bias").unwrap_or_else(|| vec![0.0; *out]);
                if let Some(LayerSpec::BatchNorm { per_step, eps, .. }) = layers.get(i + 1) {
                    if *per_step {
                        return Err(Error::field(
                            format!("layer[{}] (batch_norm)", i + 1),
                            "per-step batch norm changes with time and cannot be folded",
                        ));
                    }
                    let j = i + 1;
                    let gamma = param(ann, j, "weight").expect("bn weight");
                    let beta = param(ann, j, "bias").expect("bn bias");
                    let mean = param(ann, j, "running_mean").expect("bn mean");
                    let var = param(ann, j, "running_var").expect("bn var");
                    let scale: Vec<f32> = (0..*out)
                        .map(|c| gamma[c] / (var[c] + eps).sqrt())
                        .collect();
                    // The output channel is the fastest index of both weight layouts.
                    for (k, v) in w.iter_mut().enumerate() {
                        *v *= scale[k % out];
                    }
                    for c in 0..*out {
                        b[c] = (b[c] - mean[c]) * scale[c] + beta[c];
                    }
                    i += 1;
                }
                let k = spec.layers.len();
                spec.layers.push(with_bias);
                params.push((format!("{k}.weight"), w));
                params.push((format!("{k}.bias"), b));
            }
            LayerSpec::BatchNorm { .. } => {
                return Err(Error::field(
                    f,
                    "batch norm can only be folded into the linear or conv layer right before it",
                ))
            }
            LayerSpec::Dropout { .. } => {}
            l @ (LayerSpec::Relu
            | LayerSpec::Flatten
            | LayerSpec::AvgPool2d { .. }
            | LayerSpec::MaxPool2d { .. }) => spec.layers.push(l.clone()),
            other => {
                return Err(Error::field(
                    f,
                    format!("`{}` is not an ANN layer; {SUPPORTED}", other.name()),
                ))
            }
        }
        i += 1;
    }
    spec.shapes()?;
    Ok((spec, params))
}

/// Indices of the layers of the folded ANN whose outputs are measured: every ReLU and
/// the last layer.
fn measured_layers(spec: &NetSpec) -> Vec<usize> {
    let n = spec.layers.len();
    (0..n)
        .filter(|&i| matches!(spec.layers[i], LayerSpec::Relu) || i == n - 1)
        .collect()
}

/// Activation statistics of the measured layers (every ReLU, then the output) of the
/// folded ANN on the first `samples` samples of `data`.
pub fn activation_stats(
    ann: &mut Network,
    data: &Dataset,
    samples: usize,
    batch_size: usize,
) -> Result<Vec<(usize, ActivationStats)>> {
    if data.shape != ann.input_shape() {
        return Err(Error::field(
            "data",
            format!(
                "the samples are {} but the network takes {}",
                data.shape,
                ann.input_shape()
            ),
        ));
    }
    let n = samples.min(data.len());
    if n == 0 {
        return Err(Error::field(
            "calibration_samples",
            "must be at least 1 (and the data set must not be empty)",
        ));
    }
    let measured = measured_layers(&ann.spec);
    let mut stats: Vec<ActivationStats> = measured
        .iter()
        .map(|_| ActivationStats::from_max(&[]))
        .collect();
    let bs = batch_size.max(1);
    let mut images = Vec::new();
    for second in [false, true] {
        let mut b0 = 0;
        while b0 < n {
            let idx: Vec<usize> = (b0..(b0 + bs).min(n)).collect();
            data.gather(&idx, &mut images);
            let keys = vec![0u64; idx.len()];
            let mut a = encode(&Encoding::Direct, &images, data.shape, &keys, 1, 0);
            let pass = Pass::eval(1, idx.len());
            for (i, l) in ann.layers_mut().iter_mut().enumerate() {
                a = l.forward(a, &pass);
                if let Some(k) = measured.iter().position(|&m| m == i) {
                    let values = match &a {
                        Activation::Static(t) | Activation::Dense(t) => &t.data,
                        Activation::Spikes(_) => {
                            return Err(Error::field(
                                format!("layer[{i}]"),
                                "the ANN produced spikes; convert a ReLU network",
                            ))
                        }
                    };
                    if second {
                        stats[k].add_to_histogram(values);
                    } else {
                        stats[k].add_to_max(values);
                    }
                }
            }
            b0 += idx.len();
        }
    }
    Ok(measured.into_iter().zip(stats).collect())
}

/// Converts a trained ReLU network (see the module docs); `calibration` supplies the
/// activation statistics (the training set).
pub fn convert(ann: &Network, calibration: &Dataset, opts: &ConvertOptions) -> Result<Converted> {
    opts.normalization.validate()?;
    let (folded, folded_params) = fold_batch_norm(ann)?;
    let mut fnet = Network::build(&folded, 1, 0)?;
    set_params(&mut fnet, &folded_params)?;
    let stats = activation_stats(
        &mut fnet,
        calibration,
        opts.calibration_samples,
        opts.batch_size,
    )?;
    let converted = convert_with_stats(&fnet, &stats, opts)?;
    if opts.scale == ScaleMode::Spikes {
        balance_with_spikes(&fnet, converted, calibration, opts)
    } else {
        Ok(converted)
    }
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

/// Statistics of the input currents of layer `neuron` (the output of the layer before
/// it) over every step of the spiking network on the balancing samples.
fn current_stats(
    net: &mut Network,
    neuron: usize,
    data: &Dataset,
    opts: &ConvertOptions,
) -> Result<ActivationStats> {
    let n = opts.balance_samples.min(data.len());
    let steps = opts.balance_steps;
    let bs = opts.batch_size.clamp(1, 64);
    let mut stats = ActivationStats::from_max(&[]);
    let mut images = Vec::new();
    for second in [false, true] {
        let mut b0 = 0;
        while b0 < n {
            let idx: Vec<usize> = (b0..(b0 + bs).min(n)).collect();
            data.gather(&idx, &mut images);
            let keys = crate::bptt::trainer::train_keys(&idx, 0, data.len());
            let mut a = encode(&opts.encoding, &images, data.shape, &keys, steps, 0);
            let pass = Pass::eval(steps, idx.len());
            for l in &mut net.layers_mut()[..neuron] {
                a = l.forward(a, &pass);
            }
            let values = match &a {
                Activation::Static(t) | Activation::Dense(t) => &t.data,
                Activation::Spikes(_) => {
                    return Err(Error::field(
                        format!("layer[{neuron}]"),
                        "expected input currents before the neuron layer",
                    ))
                }
            };
            if second {
                stats.add_to_histogram(values);
            } else {
                stats.add_to_max(values);
            }
            b0 += idx.len();
        }
    }
    Ok(stats)
}

/// The conversion of a folded ANN (no batch norm, no dropout) given the statistics of
/// its measured layers (from [`activation_stats`]).
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
                    let lambda = s.scale(opts.normalization);
                    let threshold_of = |lam: f32| match opts.scale {
                        ScaleMode::Weights => 1.0,
                        ScaleMode::Thresholds | ScaleMode::Spikes => lam,
                    };
                    let (wf, bf) = factors(opts.scale, lambda_in, lambda);
                    push_scaled(folded, i, k, wf, bf, &mut params);
                    let threshold = match opts.output {
                        ConvertedOutput::Membrane => {
                            spec.layers.push(LayerSpec::Readout {
                                beta: 1.0,
                                learn_beta: false,
                            });
                            None
                        }
                        ConvertedOutput::Spikes => {
                            let th = threshold_of(lambda);
                            spec.layers.push(LayerSpec::If(if_spec(th)));
                            Some(th)
                        }
                    };
                    scales.push(LayerScale {
                        ann_layer: i,
                        snn_layer: k,
                        kind: l.name().into(),
                        max_activation: s.max,
                        lambda,
                        weight_factor: wf,
                        bias_factor: bf,
                        threshold,
                    });
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

/// The spec for hybrid fine-tuning of a converted network (Rathi et al. 2020): every
/// IF layer becomes a LIF layer starting at β = 1 (the same dynamics) whose leak and
/// threshold are learned per layer (`learn`), with reset by subtraction; weights,
/// biases and thresholds carry over by name.
pub fn hybrid_spec(converted: &NetSpec, learn_beta: Learn, learn_threshold: Learn) -> NetSpec {
    let mut spec = converted.clone();
    for l in &mut spec.layers {
        if let LayerSpec::If(s) = l {
            let mut s = s.clone();
            s.beta = 1.0;
            s.learn_beta = learn_beta;
            s.learn_threshold = learn_threshold;
            *l = LayerSpec::Lif(s);
        }
    }
    spec
}

/// Copies every parameter of `from` into the parameter of `to` with the same name,
/// broadcasting a single value to a per-neuron parameter; parameters of `to` that
/// `from` lacks keep their values. Returns the number copied.
pub fn copy_params(from: &Network, to: &mut Network) -> usize {
    let src: Vec<(String, Vec<f32>)> = from
        .named_params()
        .into_iter()
        .map(|(n, p)| (n, p.value.clone()))
        .collect();
    let names: Vec<String> = to.named_params().into_iter().map(|(n, _)| n).collect();
    let mut copied = 0;
    for (p, name) in to.params_mut().into_iter().zip(names) {
        if let Some((_, v)) = src.iter().find(|(n, _)| *n == name) {
            if v.len() == p.value.len() {
                p.value.copy_from_slice(v);
                copied += 1;
            } else if v.len() == 1 {
                p.value.iter_mut().for_each(|x| *x = v[0]);
                copied += 1;
            }
        }
    }
    copied
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bptt::trainer::tests::toy_data;
    use crate::bptt::trainer::{evaluate, FitOptions, Silent, TrainConfig, Trainer};
    use crate::convert::curve::{accuracy_curve, powers_of_two};
    use crate::nn::arch::{parse_arch, ArchOptions, NeuronKind, OutputKind};
    use crate::nn::tensor::{FeatShape, Tensor};

    fn named(net: &Network, name: &str) -> Vec<f32> {
        net.named_params()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.value.clone())
            .unwrap()
    }

    /// Runs `net` on static rows `x` (one step) and returns the output.
    fn run_static(net: &mut Network, x: Tensor) -> Tensor {
        let pass = Pass::eval(1, x.rows);
        let mut a = Activation::Static(x);
        for l in net.layers_mut() {
            a = l.forward(a, &pass);
        }
        a.into_dense(1)
    }

    #[test]
    fn rates_of_a_hand_set_network_are_proportional_to_the_ann_activations() {
        // 3 inputs → 4 ReLUs (with biases) → 2 logits.
        let spec = NetSpec::new(FeatShape::flat(3))
            .linear(4)
            .layer(LayerSpec::Relu)
            .linear(2);
        let mut ann = Network::build(&spec, 1, 0).unwrap();
        let w0 = vec![
            0.5, -0.2, 0.8, 0.1, //
            0.3, 0.4, -0.5, 0.2, //
            -0.1, 0.6, 0.2, 0.3,
        ];
        let b0 = vec![0.05, 0.1, 0.0, -0.02];
        set_params(
            &mut ann,
            &[
                ("0.weight".into(), w0.clone()),
                ("0.bias".into(), b0.clone()),
                (
                    "2.weight".into(),
                    vec![1.0, -1.0, 0.5, 0.5, -0.3, 0.2, 0.1, 0.9],
                ),
                ("2.bias".into(), vec![0.0, 0.1]),
            ],
        )
        .unwrap();
        // Calibration set: a few three-pixel "images".
        let data = Dataset {
            images: vec![255, 128, 0, 10, 200, 90, 180, 180, 180, 60, 30, 240],
            labels: vec![0, 1, 0, 1],
            shape: FeatShape::flat(3),
            classes: 2,
        };
        let opts = ConvertOptions {
            normalization: Normalization::Max,
            ..ConvertOptions::default()
        };
        let c = convert(&ann, &data, &opts).unwrap();
        let names: Vec<&str> = c.spec.layers.iter().map(|l| l.name()).collect();
        assert_eq!(names, ["linear", "if", "linear", "readout"]);
        let lambda = c.scales[0].lambda;
        let steps = 2000;
        let mut snn = c.network(steps).unwrap();
        for s in 0..data.len() {
            let x: Vec<f32> = data.image(s).iter().map(|&b| b as f32 / 255.0).collect();
            let ann_hidden: Vec<f32> = (0..4)
                .map(|j| {
                    let z: f32 = (0..3).map(|i| x[i] * w0[i * 4 + j]).sum::<f32>() + b0[j];
                    z.max(0.0)
                })
                .collect();
            let pass = Pass::eval(steps, 1);
            let a = Activation::Static(Tensor::from_vec(x.clone(), 1, FeatShape::flat(3)));
            let a = snn.layers_mut()[0].forward(a, &pass);
            let spikes = snn.layers_mut()[1].forward(a, &pass).into_dense(steps);
            for (j, a) in ann_hidden.iter().enumerate() {
                let count: f32 = (0..steps).map(|t| spikes.row(t)[j]).sum();
                let rate = count / steps as f32;
                let expected = (a / lambda).min(1.0);
                assert!(
                    (rate - expected).abs() <= 1.5 / steps as f32,
                    "sample {s} neuron {j}: rate {rate} vs a/λ {expected}"
                );
            }
        }
        // With max normalisation no hidden neuron saturates on the calibration set.
        assert!(c.scales[0].max_activation <= lambda);
        // Spike-based balancing: with analog input the first layer's current is the
        // ANN's pre-activation, so its threshold is the largest activation; the ANN's
        // weights are kept.
        let spikes = ConvertOptions {
            scale: ScaleMode::Spikes,
            balance_steps: 16,
            ..opts
        };
        let b = convert(&ann, &data, &spikes).unwrap();
        assert!((b.scales[0].threshold.unwrap() - lambda).abs() < 1e-6);
        assert_eq!(b.scales[0].weight_factor, 1.0);
        assert_eq!(b.params[0].1, w0);
        assert!(b.scales[1].threshold.is_none() && b.scales[1].bias_factor == 1.0 / lambda);
    }

    #[test]
    fn batch_norm_folding_keeps_the_ann_output() {
        let shape = FeatShape::image(2, 6, 6);
        let spec = NetSpec::new(shape)
            .layer(LayerSpec::Conv2d {
                channels: 3,
                kernel: 3,
                stride: 1,
                padding: 1,
                bias: false,
            })
            .layer(LayerSpec::BatchNorm {
                per_step: false,
                eps: 1e-5,
                momentum: 0.1,
            })
            .layer(LayerSpec::Relu)
            .layer(LayerSpec::AvgPool2d {
                kernel: 2,
                stride: None,
            })
            .layer(LayerSpec::Dropout { p: 0.3 })
            .flatten()
            .layer(LayerSpec::Linear { out: 5, bias: true })
            .layer(LayerSpec::BatchNorm {
                per_step: false,
                eps: 1e-3,
                momentum: 0.1,
            })
            .layer(LayerSpec::Relu)
            .linear(4);
        let mut ann = Network::build(&spec, 1, 3).unwrap();
        // Non-trivial statistics and affine parameters.
        for (k, p) in ann.params_mut().into_iter().enumerate() {
            if matches!(
                p.name.as_str(),
                "running_mean" | "running_var" | "weight" | "bias"
            ) && p.kind != crate::nn::layers::ParamKind::Weight
                && p.kind != crate::nn::layers::ParamKind::Bias
            {
                for (i, v) in p.value.iter_mut().enumerate() {
                    let r = ((i * 7 + k * 13) % 11) as f32 / 11.0;
                    *v = match p.name.as_str() {
                        "running_var" => 0.2 + 2.0 * r,
                        "weight" => 0.5 + r,
                        _ => r - 0.5,
                    };
                }
            }
        }
        let (folded_spec, params) = fold_batch_norm(&ann).unwrap();
        assert!(folded_spec
            .layers
            .iter()
            .all(|l| !matches!(l, LayerSpec::BatchNorm { .. } | LayerSpec::Dropout { .. })));
        let mut folded = Network::build(&folded_spec, 1, 0).unwrap();
        set_params(&mut folded, &params).unwrap();
        let x = crate::nn::layers::gradcheck::random_dense(5, shape, 11, 1.0);
        let a = run_static(&mut ann, x.clone());
        let b = run_static(&mut folded, x);
        for (u, v) in a.data.iter().zip(&b.data) {
            assert!((u - v).abs() <= 1e-5 * u.abs().max(1.0), "{u} vs {v}");
        }
        assert!(a.data.iter().any(|v| v.abs() > 1e-3));
    }

    #[test]
    fn scale_factors_of_a_hand_made_activation_set() {
        // 1, 2, …, 1000 with zeros mixed in (ignored, as snntoolbox does).
        let mut v: Vec<f32> = (1..=1000).map(|i| i as f32).collect();
        v.extend(std::iter::repeat_n(0.0, 500));
        let s = ActivationStats::of(&v);
        assert_eq!((s.max, s.count), (1000.0, 1000));
        // numpy.percentile(1..1000, q) = 1 + q/100·999.
        for (q, want) in [(99.9, 999.001), (50.0, 500.5), (90.0, 900.1)] {
            let got = s.percentile(q) as f64;
            assert!((got - want).abs() < 0.05, "p{q}: {got} vs {want}");
        }
        assert_eq!(s.scale(Normalization::Max), 1000.0);
        assert!((s.scale(Normalization::Percentile { p: 99.9 }) - 999.0).abs() < 0.05);
        assert_eq!(
            ActivationStats::of(&[0.0, -1.0]).scale(Normalization::Max),
            1.0
        );

        // A two-layer network with hand-made statistics: λ1 = 4, λ2 = 10.
        let spec = NetSpec::new(FeatShape::flat(2))
            .linear(2)
            .layer(LayerSpec::Relu)
            .linear(2);
        let net = Network::build(&spec, 1, 1).unwrap();
        let stats = vec![
            (1, ActivationStats::of(&[1.0, 4.0, 2.0])),
            (2, ActivationStats::of(&[10.0, 3.0])),
        ];
        let weights = ConvertOptions {
            normalization: Normalization::Max,
            output: ConvertedOutput::Spikes,
            ..ConvertOptions::default()
        };
        let c = convert_with_stats(&net, &stats, &weights).unwrap();
        let (l1, l2) = (&c.scales[0], &c.scales[1]);
        assert_eq!((l1.lambda, l2.lambda), (4.0, 10.0));
        assert_eq!((l1.weight_factor, l1.bias_factor), (0.25, 0.25));
        assert_eq!((l2.weight_factor, l2.bias_factor), (0.4, 0.1));
        assert_eq!((l1.threshold, l2.threshold), (Some(1.0), Some(1.0)));
        let snn = c.network(1).unwrap();
        let w = named(&net, "2.weight");
        let ws = named(&snn, "2.weight");
        for (a, b) in w.iter().zip(&ws) {
            assert!((a * 0.4 - b).abs() < 1e-6);
        }
        // Threshold balancing: the same network with the scale in the thresholds.
        let th = ConvertOptions {
            scale: ScaleMode::Thresholds,
            ..weights
        };
        let c = convert_with_stats(&net, &stats, &th).unwrap();
        assert_eq!(
            (c.scales[0].weight_factor, c.scales[0].threshold),
            (1.0, Some(4.0))
        );
        assert_eq!(
            (c.scales[1].weight_factor, c.scales[1].threshold),
            (4.0, Some(10.0))
        );
        assert!(Normalization::parse("p101").is_err());
        assert_eq!(
            Normalization::parse("p99.9").unwrap(),
            Normalization::Percentile { p: 99.9 }
        );
    }

    #[test]
    fn unsupported_layers_are_named() {
        let data = toy_data(8, 1);
        let shape = data.shape;
        let err = |spec: NetSpec, opts: &ConvertOptions| {
            let net = Network::build(&spec, 1, 0).unwrap();
            convert(&net, &data, opts).unwrap_err().to_string()
        };
        let o = ConvertOptions::default();
        let lif = NetSpec::new(shape)
            .linear(4)
            .lif(SpikingSpec::default())
            .linear(4);
        let e = err(lif, &o);
        assert!(e.contains("layer[1] (lif)") && e.contains("relu"), "{e}");
        let bn_late = NetSpec::new(shape)
            .linear(4)
            .layer(LayerSpec::Relu)
            .layer(LayerSpec::BatchNorm {
                per_step: false,
                eps: 1e-5,
                momentum: 0.1,
            })
            .linear(4);
        let e = err(bn_late, &o);
        assert!(e.contains("layer[2] (batch_norm)"), "{e}");
        let pool_first = NetSpec::new(shape)
            .conv(2, 3)
            .max_pool(2)
            .layer(LayerSpec::Relu)
            .linear(4);
        let e = err(pool_first.clone(), &o);
        assert!(e.contains("layer[1] (max_pool2d)"), "{e}");
        // With average pooling in its place it converts.
        let avg = ConvertOptions {
            max_pool: MaxPoolMode::Avg,
            ..o.clone()
        };
        let net = Network::build(&pool_first, 1, 0).unwrap();
        assert!(convert(&net, &data, &avg).is_ok());
        let relu_out = NetSpec::new(shape).linear(4).layer(LayerSpec::Relu);
        let e = err(relu_out, &o);
        assert!(
            e.contains("layer[1] (relu)") && e.contains("linear layer"),
            "{e}"
        );
    }

    /// A small conv ANN learns the toy task, converts, reaches the ANN's accuracy at
    /// large T on the trainer, and gives the same curve for any thread count.
    #[test]
    fn converted_conv_net_matches_the_ann_and_is_thread_independent() {
        let (train, test) = (toy_data(400, 1), toy_data(200, 2));
        let opts = ArchOptions {
            neuron: NeuronKind::Relu,
            output: OutputKind::Linear,
            ..ArchOptions::default()
        };
        let mut spec = parse_arch("4C3p1-AP2-8-4", train.shape, &opts).unwrap();
        spec.layers[0] = LayerSpec::Conv2d {
            channels: 4,
            kernel: 3,
            stride: 1,
            padding: 1,
            bias: false,
        };
        spec.layers.insert(
            1,
            LayerSpec::BatchNorm {
                per_step: false,
                eps: 1e-5,
                momentum: 0.1,
            },
        );
        let config = TrainConfig {
            steps: 1,
            batch_size: 16,
            epochs: 3,
            lr: 5e-3,
            encoding: Encoding::Direct,
            ..TrainConfig::default()
        };
        let mut t = Trainer::new(&spec, config.clone()).unwrap();
        t.fit(&train, None, &FitOptions::default(), &mut Silent)
            .unwrap();
        let ann_acc = evaluate(&mut t.net, &config, &test, None, &mut Silent).accuracy;
        assert!(ann_acc > 90.0, "ANN accuracy {ann_acc}");
        let c = convert(&t.net, &train, &ConvertOptions::default()).unwrap();
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    let mut snn = c.network(64).unwrap();
                    accuracy_curve(
                        &mut snn,
                        &Encoding::Direct,
                        0,
                        &test,
                        None,
                        &powers_of_two(64),
                        32,
                        &mut Silent,
                    )
                    .unwrap()
                })
        };
        let curve = run(1);
        let last = curve.points.last().unwrap();
        assert_eq!(last.steps, 64);
        assert!(
            last.accuracy >= ann_acc - 2.0,
            "SNN {} vs ANN {ann_acc}",
            last.accuracy
        );
        assert!(last.synops_per_inference > curve.points[0].synops_per_inference);
        let again = run(3);
        assert_eq!(curve.points, again.points);
        // Rate-coded input works too.
        let mut snn = c.network(64).unwrap();
        let rate = accuracy_curve(
            &mut snn,
            &Encoding::Rate { gain: 1.0 },
            0,
            &test,
            None,
            &[64],
            32,
            &mut Silent,
        )
        .unwrap();
        assert!(rate.points[0].accuracy > 80.0, "{:?}", rate.points);
        // Hybrid spec: IF → LIF at β = 1 with learned leak and threshold.
        let h = hybrid_spec(&c.spec, Learn::Layer, Learn::Layer);
        let mut hn = Network::build(&h, 4, 0).unwrap();
        assert!(copy_params(&snn, &mut hn) >= 6);
        assert!(h
            .layers
            .iter()
            .any(|l| matches!(l, LayerSpec::Lif(s) if s.beta == 1.0)));
    }
}
