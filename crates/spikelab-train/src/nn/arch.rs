//! Text architectures, as written on the command line: layers separated by `-`.
//!
//! | token | meaning |
//! | --- | --- |
//! | `784` (first) | the input size, checked against the data (a leading plain number) |
//! | `1000` | fully connected layer of 1000 neurons (+ flatten before it if needed) |
//! | `1000R` | recurrent LIF layer of 1000 neurons (fully connected input) |
//! | `128L` | spiking LSTM layer of 128 units (snnTorch's SLSTM; a linear layer to its 4 × 128 gates, threshold 0.5, the neuron options' surrogate) |
//! | `12C5` | convolution, 12 channels, 5×5 kernel, then neurons; options `s2` (stride), `p2` (padding): `32C3p1`, `64C3s2p1` |
//! | `...bn` | suffix of a dense or conv token: batch norm before the neurons (`32C3p1bn`) |
//! | `SEW64`, `SEW128s2`, `SEW64iand` | SEW-ResNet basic block (Fang et al. 2021): two 3×3 conv-BN-neuron stages (the first with the stride), the identity shortcut — or a 1×1 conv-BN-neuron when channels or size change — joined by ADD (or IAND) |
//! | `RES64`, `RES128s2` | spiking ResNet basic block: conv-BN-neuron-conv-BN plus the identity (or a 1×1 conv-BN), added, then neurons |
//! | `MP2`, `AP2` | max / average pooling 2×2 (stride = size; `MP3s2` for another stride) |
//! | `GAP` | global average pooling (an image to one value per channel) |
//! | `D0.2` | dropout with probability 0.2 |
//!
//! Every dense and conv token is followed by a neuron layer of the kind chosen in
//! [`ArchOptions`] (LIF by default); the last dense layer gets the output neuron
//! (spiking, or a leaky-integrator readout for losses on the membrane). Pooling after
//! a token pools its spikes. Tokens are case-insensitive.

use crate::nn::layers::residual::ResidualOp;
use crate::nn::layers::slstm::SlstmSpec;
use crate::nn::layers::spiking::SpikingSpec;
use crate::nn::network::{AlifSpec, LayerSpec, NetSpec};
use crate::nn::tensor::FeatShape;
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};

/// The neuron model of hidden layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NeuronKind {
    /// Leaky integrate-and-fire.
    #[default]
    Lif,
    /// Integrate-and-fire.
    If,
    /// Adaptive LIF.
    Alif,
    /// Rectifier (an ANN).
    Relu,
}

impl NeuronKind {
    /// Names accepted on the command line.
    pub const NAMES: &'static str = "lif, if, alif, relu";
    /// Parses a name.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "lif" => Ok(NeuronKind::Lif),
            "if" => Ok(NeuronKind::If),
            "alif" => Ok(NeuronKind::Alif),
            "relu" => Ok(NeuronKind::Relu),
            _ => Err(Error::field(
                "neuron",
                format!("unknown neuron `{s}`; known: {}", Self::NAMES),
            )),
        }
    }
}

/// The output layer's neurons.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// Spiking neurons of the hidden kind (losses on spike counts).
    Spiking,
    /// Leaky-integrator readout with this decay (losses on the membrane).
    Membrane {
        /// Decay per step.
        beta: f32,
    },
    /// No neurons: the last linear layer's output (ANNs).
    Linear,
}

/// Choices that a text architecture does not spell out.
#[derive(Clone, Debug, PartialEq)]
pub struct ArchOptions {
    /// Neuron model of hidden layers.
    pub neuron: NeuronKind,
    /// Their parameters.
    pub spiking: SpikingSpec,
    /// Adaptation decay and strength for `alif`.
    pub adaptation: (f32, f32),
    /// Output neurons.
    pub output: OutputKind,
}

impl Default for ArchOptions {
    fn default() -> Self {
        ArchOptions {
            neuron: NeuronKind::Lif,
            spiking: SpikingSpec::default(),
            adaptation: (0.95, 0.5),
            output: OutputKind::Spiking,
        }
    }
}

fn neuron_layer(opts: &ArchOptions) -> LayerSpec {
    let s = opts.spiking.clone();
    match opts.neuron {
        NeuronKind::Lif => LayerSpec::Lif(s),
        NeuronKind::If => LayerSpec::If(s),
        NeuronKind::Alif => LayerSpec::Alif(AlifSpec {
            neuron: s,
            rho: opts.adaptation.0,
            gamma: opts.adaptation.1,
        }),
        NeuronKind::Relu => LayerSpec::Relu,
    }
}

/// Splits `rest` into the number it starts with and what follows.
fn leading_number(s: &str) -> Option<(usize, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    Some((s[..end].parse().ok()?, &s[end..]))
}

/// Parses options like `s2p1bn` after a conv or pool token.
fn options(
    mut s: &str,
    allowed: &str,
    field: &str,
) -> Result<(Option<usize>, Option<usize>, bool)> {
    let (mut stride, mut pad, mut bn) = (None, None, false);
    while !s.is_empty() {
        if let Some(r) = s.strip_prefix("bn") {
            if !allowed.contains('b') {
                return Err(Error::field(field, "batch norm (`bn`) is not allowed here"));
            }
            bn = true;
            s = r;
            continue;
        }
        let (c, r) = s.split_at(1);
        let (v, r) = leading_number(r)
            .ok_or_else(|| Error::field(field, format!("expected a number after `{c}`")))?;
        match c {
            "s" if allowed.contains('s') => stride = Some(v),
            "p" if allowed.contains('p') => pad = Some(v),
            _ => {
                return Err(Error::field(
                    field,
                    format!("unexpected `{c}{v}`; allowed options: s<stride>, p<padding>, bn"),
                ))
            }
        }
        s = r;
    }
    Ok((stride, pad, bn))
}

/// Parses a text architecture for inputs of shape `input`. See the module docs.
pub fn parse_arch(text: &str, input: FeatShape, opts: &ArchOptions) -> Result<NetSpec> {
    let tokens: Vec<String> = text
        .split('-')
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    if tokens.iter().any(|t| t.is_empty()) {
        return Err(Error::field(
            "arch",
            format!("`{text}` has an empty layer (tokens are separated by single `-`)"),
        ));
    }
    let start = leading_input_size(&tokens, input)?;
    let last_dense = output_token(text, &tokens, start)?;
    let mut spec = NetSpec::new(input);
    let mut shape = input;
    for (i, tok) in tokens.iter().enumerate().skip(start) {
        let field = format!("arch token {} `{tok}`", i + 1);
        if let Some(p) = tok.strip_prefix('d') {
            let p: f32 = p.trim_start_matches('o').parse().map_err(|_| {
                Error::field(&field, "dropout is written D<probability>, e.g. D0.2")
            })?;
            spec.layers.push(LayerSpec::Dropout { p });
            continue;
        }
        if let Some(rest) = tok.strip_prefix("mp").or_else(|| tok.strip_prefix("ap")) {
            let (k, r) = leading_number(rest)
                .ok_or_else(|| Error::field(&field, "pooling is written MP<size> or AP<size>"))?;
            let (stride, _, _) = options(r, "s", &field)?;
            spec.layers.push(if tok.starts_with("mp") {
                LayerSpec::MaxPool2d { kernel: k, stride }
            } else {
                LayerSpec::AvgPool2d { kernel: k, stride }
            });
            shape = spec
                .shapes()
                .map_err(|e| Error::field(&field, e.to_string()))?[spec.layers.len() - 1];
            continue;
        }
        if tok == "gap" {
            if shape.is_flat() || shape.h != shape.w {
                return Err(Error::field(
                    &field,
                    format!("global average pooling needs a square image input, got {shape}"),
                ));
            }
            spec.layers.push(LayerSpec::AvgPool2d {
                kernel: shape.h,
                stride: None,
            });
            shape = FeatShape::image(shape.c, 1, 1);
            continue;
        }
        if let Some(block) = tok.strip_prefix("sew").or_else(|| tok.strip_prefix("res")) {
            push_residual(
                &mut spec,
                tok.starts_with("sew"),
                block,
                shape,
                opts,
                &field,
            )?;
            shape = *spec
                .shapes()
                .map_err(|e| Error::field(&field, e.to_string()))?
                .last()
                .expect("layers");
            continue;
        }
        let (n, rest) = leading_number(tok).ok_or_else(|| {
            Error::field(
                &field,
                "unknown token; use <n>, <n>R, <n>L, <c>C<k>[s<s>][p<p>][bn], SEW<c>[s<s>][iand], RES<c>[s<s>], MP<k>, AP<k>, GAP or D<p>",
            )
        })?;
        if let Some(conv) = rest.strip_prefix('c') {
            push_conv(&mut spec, n, conv, opts, &field)?;
        } else {
            let output = i == last_dense;
            push_dense(&mut spec, n, rest, shape, output, opts, &field)?;
        }
        shape = *spec
            .shapes()
            .map_err(|e| Error::field(&field, e.to_string()))?
            .last()
            .expect("layers");
    }
    spec.shapes()?;
    Ok(spec)
}

/// Index of the first layer token: 1 when a leading plain number gives the input size
/// (which must be the data's), 0 otherwise.
fn leading_input_size(tokens: &[String], input: FeatShape) -> Result<usize> {
    let Ok(n) = tokens[0].parse::<usize>() else {
        return Ok(0);
    };
    if n != input.len() {
        return Err(Error::field(
            "arch",
            format!(
                "the first number ({n}) is the input size but the data have {} features ({input}); write e.g. `{}-1000-10`",
                input.len(),
                input.len()
            ),
        ));
    }
    Ok(1)
}

/// Index of the last dense token (it gets the output neurons); only dropout may
/// follow it.
fn output_token(text: &str, tokens: &[String], start: usize) -> Result<usize> {
    let last_dense = tokens
        .iter()
        .rposition(|t| {
            leading_number(t).is_some_and(|(_, r)| r.is_empty() || r == "bn" || r == "r")
        })
        .filter(|&i| i >= start)
        .ok_or_else(|| {
            Error::field(
                "arch",
                format!(
                    "`{text}` has no output layer (end with the number of classes, e.g. `-10`)"
                ),
            )
        })?;
    if last_dense != tokens.len() - 1
        && tokens[last_dense + 1..].iter().any(|t| !t.starts_with('d'))
    {
        return Err(Error::field(
            "arch",
            format!("`{text}` must end with the output layer (the number of classes)"),
        ));
    }
    Ok(last_dense)
}

/// The batch norm after a layer written with `bn`.
fn batch_norm() -> LayerSpec {
    LayerSpec::BatchNorm {
        per_step: false,
        eps: 1e-5,
        momentum: 0.1,
    }
}

/// A `<channels>C<kernel>[s<s>][p<p>][bn]` token (`conv` is what follows the `C`):
/// the convolution, its batch norm and its neurons.
fn push_conv(
    spec: &mut NetSpec,
    channels: usize,
    conv: &str,
    opts: &ArchOptions,
    field: &str,
) -> Result<()> {
    let (k, r) = leading_number(conv)
        .ok_or_else(|| Error::field(field, "a convolution is written <channels>C<kernel>"))?;
    let (stride, pad, bn) = options(r, "spb", field)?;
    spec.layers.push(LayerSpec::Conv2d {
        channels,
        kernel: k,
        stride: stride.unwrap_or(1),
        padding: pad.unwrap_or(0),
        bias: !bn,
    });
    if bn {
        spec.layers.push(batch_norm());
    }
    spec.layers.push(neuron_layer(opts));
    Ok(())
}

/// A residual block token after layers of `shape`: `SEW<c>[s<s>][iand]` (SEW-ResNet:
/// two 3×3 conv-BN-neuron stages, the shortcut the identity or a 1×1 conv-BN-neuron
/// when the shape changes, joined by ADD or IAND) or `RES<c>[s<s>]` (spiking ResNet:
/// conv-BN-neuron-conv-BN plus the identity or a 1×1 conv-BN, added, then neurons).
fn push_residual(
    spec: &mut NetSpec,
    sew: bool,
    block: &str,
    shape: FeatShape,
    opts: &ArchOptions,
    field: &str,
) -> Result<()> {
    let usage =
        "a residual block is written SEW<channels>[s<stride>][iand] or RES<channels>[s<stride>]";
    if shape.is_flat() {
        return Err(Error::field(
            field,
            format!("a residual block needs an image input, got {shape}"),
        ));
    }
    let (c, rest) = leading_number(block).ok_or_else(|| Error::field(field, usage))?;
    let (rest, iand) = match rest.strip_suffix("iand") {
        Some(r) if sew => (r, true),
        Some(_) => {
            return Err(Error::field(
                field,
                "iand joins SEW blocks only (SEW<c>iand)",
            ))
        }
        None => (rest, false),
    };
    let (stride, _, _) = options(rest, "s", field)?;
    let stride = stride.unwrap_or(1);
    let conv = |k: usize, s: usize| LayerSpec::Conv2d {
        channels: c,
        kernel: k,
        stride: s,
        padding: k / 2,
        bias: false,
    };
    let mut body = vec![
        conv(3, stride),
        batch_norm(),
        neuron_layer(opts),
        conv(3, 1),
        batch_norm(),
    ];
    if sew {
        body.push(neuron_layer(opts));
    }
    let shortcut = if stride == 1 && c == shape.c {
        Vec::new()
    } else if sew {
        vec![conv(1, stride), batch_norm(), neuron_layer(opts)]
    } else {
        vec![conv(1, stride), batch_norm()]
    };
    spec.layers.push(LayerSpec::Residual {
        body,
        shortcut,
        op: if iand {
            ResidualOp::Iand
        } else {
            ResidualOp::Add
        },
    });
    if !sew {
        spec.layers.push(neuron_layer(opts));
    }
    Ok(())
}

/// A `<n>[R|bn]` token after layers of `shape`: flatten if needed, the linear layer,
/// its batch norm, and its neurons (the output kind for the `output` token).
fn push_dense(
    spec: &mut NetSpec,
    n: usize,
    rest: &str,
    shape: FeatShape,
    output: bool,
    opts: &ArchOptions,
    field: &str,
) -> Result<()> {
    let (recurrent, bn) = match rest {
        "" => (false, false),
        "r" => (true, false),
        "bn" => (false, true),
        "l" => {
            if output {
                return Err(Error::field(field, "the output layer cannot be an LSTM"));
            }
            if !shape.is_flat() {
                spec.layers.push(LayerSpec::Flatten);
            }
            spec.layers.push(LayerSpec::Linear {
                out: 4 * n,
                bias: true,
            });
            spec.layers.push(LayerSpec::Slstm(SlstmSpec {
                hidden: n,
                threshold: 0.5,
                surrogate: opts.spiking.surrogate,
            }));
            return Ok(());
        }
        _ => {
            return Err(Error::field(
                field,
                format!("unexpected `{rest}` after the layer size; allowed: R (recurrent), L (spiking LSTM), bn"),
            ))
        }
    };
    if !shape.is_flat() {
        spec.layers.push(LayerSpec::Flatten);
    }
    spec.layers.push(LayerSpec::Linear { out: n, bias: !bn });
    if bn {
        spec.layers.push(batch_norm());
    }
    if output {
        if recurrent {
            return Err(Error::field(field, "the output layer cannot be recurrent"));
        }
        match opts.output {
            OutputKind::Spiking => spec.layers.push(neuron_layer(opts)),
            OutputKind::Membrane { beta } => spec.layers.push(LayerSpec::Readout {
                beta,
                learn_beta: false,
            }),
            OutputKind::Linear => {}
        }
    } else if recurrent {
        spec.layers.push(match opts.neuron {
            NeuronKind::Alif => LayerSpec::Ralif(AlifSpec {
                neuron: opts.spiking.clone(),
                rho: opts.adaptation.0,
                gamma: opts.adaptation.1,
            }),
            _ => LayerSpec::Rlif(opts.spiking.clone()),
        });
    } else {
        spec.layers.push(neuron_layer(opts));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &NetSpec) -> Vec<&'static str> {
        s.layers.iter().map(|l| l.name()).collect()
    }

    #[test]
    fn an_l_token_is_a_linear_layer_to_the_gates_and_a_spiking_lstm() {
        let s = parse_arch("12-16L-9", FeatShape::flat(12), &ArchOptions::default()).unwrap();
        assert_eq!(names(&s), ["linear", "slstm", "linear", "lif"]);
        assert_eq!(
            s.layers[0],
            LayerSpec::Linear {
                out: 64,
                bias: true
            }
        );
        assert_eq!(s.shapes().unwrap()[1], FeatShape::flat(16));
        let e = parse_arch("12-9L", FeatShape::flat(12), &ArchOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("output"), "{e}");
    }

    #[test]
    fn parses_the_mlp_and_the_conv_net() {
        let o = ArchOptions::default();
        let mlp = parse_arch("784-1000-10", FeatShape::image(1, 28, 28), &o).unwrap();
        assert_eq!(names(&mlp), ["flatten", "linear", "lif", "linear", "lif"]);
        let conv = parse_arch("12C5-MP2-64C5-MP2-10", FeatShape::image(1, 28, 28), &o).unwrap();
        assert_eq!(
            names(&conv),
            [
                "conv2d",
                "lif",
                "max_pool2d",
                "conv2d",
                "lif",
                "max_pool2d",
                "flatten",
                "linear",
                "lif"
            ]
        );
        assert_eq!(conv.shapes().unwrap()[5], FeatShape::image(64, 4, 4));
        let o2 = ArchOptions {
            output: OutputKind::Membrane { beta: 0.9 },
            neuron: NeuronKind::Alif,
            ..o.clone()
        };
        let x = parse_arch(
            "32C3s2p1bn-AP2-D0.1-100R-10",
            FeatShape::image(1, 28, 28),
            &o2,
        )
        .unwrap();
        assert_eq!(
            names(&x),
            [
                "conv2d",
                "batch_norm",
                "alif",
                "avg_pool2d",
                "dropout",
                "flatten",
                "linear",
                "ralif",
                "linear",
                "readout"
            ]
        );
        assert_eq!(x.shapes().unwrap()[0], FeatShape::image(32, 14, 14));
    }

    #[test]
    fn bad_architectures_say_what_is_wrong() {
        let o = ArchOptions::default();
        let img = FeatShape::image(1, 28, 28);
        let err = |s: &str| parse_arch(s, img, &o).unwrap_err().to_string();
        assert!(err("100-10").contains("input size"));
        assert!(err("784--10").contains("empty layer"));
        assert!(err("12C5-MP2").contains("no output layer"));
        assert!(err("12X5-10").contains("token 1"));
        assert!(err("12C5q3-10").contains("allowed options"));
        assert!(err("12C40-10").contains("does not fit"));
        assert!(err("784-10-MP2").contains("must end with the output"));
        assert!(err("784-10R").contains("cannot be recurrent"));
    }
}
