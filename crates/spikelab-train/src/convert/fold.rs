//! Batch-norm folding (step 1 of the conversion): a batch norm right after a linear or
//! conv layer goes into its weights and bias, dropout is dropped, and every other layer
//! is checked to be one the conversion takes.

use super::params::{param, NamedParams};
use crate::nn::network::{LayerSpec, NetSpec, Network};
use spikelab_core::error::{Error, Result};

pub(crate) const SUPPORTED: &str =
    "conversion takes linear, conv2d, batch_norm, relu, avg_pool2d, max_pool2d, flatten and dropout layers";

/// A shared-statistics batch norm (layer `j` of a network) as a per-channel affine map
/// to fold into the layer before it: weights of output `c` times `scale[c]`, its bias
/// through [`BatchNormFold::bias`].
pub(crate) struct BatchNormFold {
    /// `γ / √(σ² + ε)` per channel.
    pub scale: Vec<f32>,
    mean: Vec<f32>,
    beta: Vec<f32>,
}

impl BatchNormFold {
    /// The fold of batch-norm layer `j` of `net` (`channels` channels, `eps`).
    pub fn of(net: &Network, j: usize, eps: f32, channels: usize) -> Self {
        let gamma = param(net, j, "weight").expect("bn weight");
        let var = param(net, j, "running_var").expect("bn var");
        BatchNormFold {
            scale: (0..channels)
                .map(|c| gamma[c] / (var[c] + eps).sqrt())
                .collect(),
            mean: param(net, j, "running_mean").expect("bn mean"),
            beta: param(net, j, "bias").expect("bn bias"),
        }
    }

    /// The folded bias of channel `c` whose bias was `b`.
    pub fn bias(&self, c: usize, b: f32) -> f32 {
        (b - self.mean[c]) * self.scale[c] + self.beta[c]
    }
}

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
                    let bn = BatchNormFold::of(ann, i + 1, *eps, *out);
                    // The output channel is the fastest index of both weight layouts.
                    for (k, v) in w.iter_mut().enumerate() {
                        *v *= bn.scale[k % out];
                    }
                    for (c, bc) in b.iter_mut().enumerate() {
                        *bc = bn.bias(c, *bc);
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
