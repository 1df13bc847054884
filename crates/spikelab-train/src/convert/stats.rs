//! Activation statistics for the normalisation: the maximum and a histogram of the
//! non-zero activations of every measured layer of the folded ANN (two passes over the
//! calibration data; integer counts, so independent of the thread count), and the same
//! for the input currents of a layer of the spiking network (spike-based balancing).

use super::options::{ConvertOptions, Normalization};
use crate::bptt::encode::{encode, Encoding};
use crate::data::Dataset;
use crate::data::SampleShape;
use crate::nn::layers::Pass;
use crate::nn::network::{LayerSpec, NetSpec, Network};
use crate::nn::tensor::Activation;
use spikelab_core::error::{Error, Result};

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
    if data.shape() != ann.input_shape() {
        return Err(Error::field(
            "data",
            format!(
                "the samples are {} but the network takes {}",
                data.shape(),
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
            let mut a = encode(&Encoding::Direct, &images, data.shape(), &keys, 1, 0);
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

/// Statistics of the input currents of layer `neuron` (the output of the layer before
/// it) over every step of the spiking network on the balancing samples.
pub(crate) fn current_stats(
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
            let mut a = encode(&opts.encoding, &images, data.shape(), &keys, steps, 0);
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
