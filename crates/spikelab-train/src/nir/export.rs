//! A trainer network as a NIR graph: one node per layer in a chain
//! `input → … → output` (recurrent layers as subgraphs), parameters in NIR's
//! continuous-time form for the chosen time step and discretisation (see the
//! [module docs](super)), channels first (`C, H, W`) as NIR and PyTorch lay them out.

use super::graph::{NirGraph, NirNode, Op, Padding, Pool2d};
use super::hdf5::{Array, Dtype, Strings, Value};
use super::{channels_first_order, keys, Discretisation};
use crate::bptt::trainer::TrainConfig;
use crate::convert::fold::BatchNormFold;
use crate::convert::params::param;
use crate::nn::layers::spiking::SpikingSpec;
use crate::nn::network::{LayerSpec, Network};
use crate::nn::tensor::FeatShape;
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};
use spikelab_core::neuron::discrete_time::DiscreteReset;

/// How to write the graph.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExportOptions {
    /// Time step of one trainer step, in milliseconds.
    pub dt_ms: f64,
    /// How β maps to τ.
    pub discretisation: Discretisation,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            dt_ms: 1.0,
            discretisation: Discretisation::Euler,
        }
    }
}

/// The graph and what the export changed or could not say exactly.
#[derive(Clone, Debug)]
pub struct ExportReport {
    /// The graph.
    pub graph: NirGraph,
    /// One line per layer that was folded, dropped or stated only in metadata.
    pub notes: Vec<String>,
}

/// Where data stands in NIR's layout while layers are walked.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Layout {
    /// A vector.
    Flat,
    /// An image, stored channels-last by the trainer, channels-first in NIR.
    Image(FeatShape),
    /// A flattened image: the trainer's order is `(h, w, c)`, NIR's `(c, h, w)`.
    Flattened(FeatShape),
}

/// The NIR index of each trainer index for data of `layout` (identity for vectors).
fn to_nir_order(layout: Layout) -> Option<Vec<usize>> {
    match layout {
        Layout::Flat => None,
        Layout::Image(s) | Layout::Flattened(s) => channels_first_order(s),
    }
}

/// The NIR shape of data of `layout` with `n` values.
fn nir_shape(layout: Layout, n: usize) -> Vec<usize> {
    match layout {
        Layout::Image(s) => vec![s.c, s.h, s.w],
        _ => vec![n],
    }
}

/// Per-neuron values (one, or one per neuron in the trainer's order) as a NIR array
/// over all `n` neurons of `layout`.
fn per_neuron(values: &[f64], layout: Layout, n: usize) -> Array {
    let mut data = vec![0.0; n];
    if values.len() == 1 {
        data.iter_mut().for_each(|v| *v = values[0]);
    } else {
        match to_nir_order(layout) {
            Some(order) => {
                for (i, &v) in values.iter().enumerate() {
                    data[order[i]] = v;
                }
            }
            None => data.copy_from_slice(values),
        }
    }
    Array::new(Dtype::F64, nir_shape(layout, n), data)
}

fn text(s: &str) -> Value {
    Value::Strings(Strings::scalar(s))
}

fn number(v: f64) -> Value {
    Value::Array(Array::scalar(Dtype::F64, v))
}

struct Chain {
    graph: NirGraph,
    last: String,
}

impl Chain {
    fn push(&mut self, name: String, node: NirNode) {
        self.graph.edges.push((
            std::mem::replace(&mut self.last, name.clone()),
            name.clone(),
        ));
        self.graph.nodes.insert(name, node);
    }
}

/// Exports `net` (trained with `config`) as a NIR graph.
pub fn export_network(
    net: &Network,
    config: &TrainConfig,
    opts: &ExportOptions,
) -> Result<ExportReport> {
    if !(opts.dt_ms.is_finite() && opts.dt_ms > 0.0) {
        return Err(Error::field(
            "dt_ms",
            format!("must be a finite number > 0 (got {})", opts.dt_ms),
        ));
    }
    let dt = opts.dt_ms * 1e-3;
    let disc = opts.discretisation;
    let spec = &net.spec;
    let shapes = spec.shapes()?;
    let input = spec.input;
    let mut layout = if input.is_flat() {
        Layout::Flat
    } else {
        Layout::Image(input)
    };
    let mut chain = Chain {
        graph: NirGraph::default(),
        last: "input".into(),
    };
    chain.graph.nodes.insert(
        "input".into(),
        Op::Input {
            shape: nir_shape(layout, input.len()),
        }
        .into(),
    );
    let mut notes = Vec::new();
    let mut after_spikes = false;
    let mut resets = std::collections::BTreeSet::new();
    let mut i = 0;
    while i < spec.layers.len() {
        let l = &spec.layers[i];
        let at = format!("layer[{i}] ({})", l.name());
        let in_shape = if i == 0 { input } else { shapes[i - 1] };
        let out_shape = shapes[i];
        let name = format!("{i}_{}", l.name());
        let p = |what: &str| param(net, i, what);
        match l {
            LayerSpec::Linear { out, bias } => {
                if let Layout::Image(s) = layout {
                    // The trainer's linear layer flattens an image itself: a Flatten node
                    // marked as implied (the import adds no layer for it).
                    let mut node = flatten_node(s);
                    node.metadata
                        .insert(keys::IMPLIED.into(), Value::Array(Array::scalar(Dtype::I64, 1.0)));
                    chain.push(format!("{i}_flatten"), node);
                    layout = Layout::Flattened(s);
                }
                let n_in = in_shape.len();
                let w = p("weight").expect("linear weight");
                let order = to_nir_order(layout);
                let mut wn = vec![0.0f64; out * n_in];
                for j in 0..n_in {
                    let jn = order.as_ref().map_or(j, |o| o[j]);
                    for o in 0..*out {
                        wn[o * n_in + jn] = f64::from(w[j * out + o]);
                    }
                }
                let mut weight = Array::new(Dtype::F32, vec![*out, n_in], wn);
                let mut b = if *bias { p("bias") } else { None };
                fold_batch_norm(net, i, &mut weight, &mut b, &mut notes)?;
                let op = match b {
                    Some(b) => Op::Affine {
                        weight,
                        bias: Array::from_f32(vec![*out], &b),
                    },
                    None => Op::Linear { weight },
                };
                chain.push(name, op.into());
                layout = Layout::Flat;
                after_spikes = false;
            }
            LayerSpec::Conv2d {
                channels,
                kernel,
                stride,
                padding,
                bias,
            } => {
                let w = p("weight").expect("conv weight");
                let (k, ci, co) = (*kernel, in_shape.c, *channels);
                // [kh][kw][c_in][c_out] → (c_out, c_in, kh, kw).
                let mut wn = vec![0.0f64; w.len()];
                for y in 0..k {
                    for x in 0..k {
                        for c in 0..ci {
                            for o in 0..co {
                                wn[((o * ci + c) * k + y) * k + x] =
                                    f64::from(w[((y * k + x) * ci + c) * co + o]);
                            }
                        }
                    }
                }
                let mut weight = Array::new(Dtype::F32, vec![co, ci, k, k], wn);
                let mut b = if *bias { p("bias") } else { None };
                fold_batch_norm(net, i, &mut weight, &mut b, &mut notes)?;
                let b = b.unwrap_or_else(|| vec![0.0; co]);
                chain.push(
                    name,
                    Op::Conv2d {
                        input_shape: Some([in_shape.h, in_shape.w]),
                        weight,
                        stride: [*stride; 2],
                        padding: Padding::Explicit(vec![*padding; 2]),
                        dilation: [1, 1],
                        groups: 1,
                        bias: Array::from_f32(vec![co], &b),
                    }
                    .into(),
                );
                layout = Layout::Image(out_shape);
                after_spikes = false;
            }
            LayerSpec::BatchNorm { .. } => {
                // Folded with the layer before it (see fold_batch_norm); a batch norm
                // that is not right after a linear or conv layer cannot be.
                let prev_weighted = i > 0
                    && matches!(
                        spec.layers[i - 1],
                        LayerSpec::Linear { .. } | LayerSpec::Conv2d { .. }
                    );
                if !prev_weighted {
                    return Err(Error::field(
                        at,
                        "NIR has no batch norm; it is folded into the linear or conv layer right before it, and there is none",
                    ));
                }
            }
            LayerSpec::Dropout { .. } => {
                notes.push(format!("{at}: dropped (identity at inference)"));
            }
            LayerSpec::Flatten => {
                if let Layout::Image(s) = layout {
                    chain.push(name, flatten_node(s));
                    layout = Layout::Flattened(s);
                }
            }
            LayerSpec::AvgPool2d { kernel, stride } => {
                chain.push(
                    name,
                    Op::AvgPool2d(Pool2d {
                        kernel_size: [*kernel; 2],
                        stride: [stride.unwrap_or(*kernel); 2],
                        padding: [0, 0],
                    })
                    .into(),
                );
                layout = Layout::Image(out_shape);
            }
            LayerSpec::MaxPool2d { kernel, stride } => {
                if !after_spikes {
                    return Err(Error::field(
                        at,
                        "NIR has no max pooling; max pooling of spikes is written as SumPool2d + Threshold(0.5), but this one pools currents (put it after the neuron layer)",
                    ));
                }
                chain.push(
                    format!("{name}_sum"),
                    Op::SumPool2d(Pool2d {
                        kernel_size: [*kernel; 2],
                        stride: [stride.unwrap_or(*kernel); 2],
                        padding: [0, 0],
                    })
                    .into(),
                );
                layout = Layout::Image(out_shape);
                let n = out_shape.len();
                chain.push(
                    format!("{name}_or"),
                    Op::Threshold {
                        threshold: per_neuron(&[0.5], layout, n),
                    }
                    .into(),
                );
            }
            LayerSpec::Relu => {
                return Err(Error::field(
                    at,
                    "ReLU layers are not spiking; convert the network first (`spikelab convert`)",
                ))
            }
            LayerSpec::Alif(_) | LayerSpec::Ralif(_) => {
                return Err(Error::field(
                    at,
                    "NIR has no neuron with an adaptive threshold; export a network of lif, if or rlif layers",
                ))
            }
            LayerSpec::Slstm(_) => {
                return Err(Error::field(
                    at,
                    "NIR has no LSTM node; export a network of lif, if or rlif layers",
                ))
            }
            LayerSpec::Residual { .. } => {
                return Err(Error::field(
                    at,
                    "residual blocks do not export to NIR yet (its graphs allow them, Spikelab's export writes chains); export a network without residual blocks",
                ))
            }
            LayerSpec::Lif(s) | LayerSpec::If(s) | LayerSpec::Rlif(s) => {
                let n = out_shape.len();
                let beta: Vec<f64> = p("beta").unwrap().iter().map(|&v| f64::from(v)).collect();
                let theta: Vec<f64> = p("threshold")
                    .unwrap()
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect();
                let reset = match s.reset {
                    DiscreteReset::Subtract => "subtract",
                    DiscreteReset::Zero => "zero",
                    DiscreteReset::None => {
                        return Err(Error::field(
                            at,
                            "reset `none` cannot be said in NIR (its neurons always reset)",
                        ))
                    }
                };
                resets.insert(reset);
                let is_if = matches!(l, LayerSpec::If(_)) || beta.iter().all(|&b| b == 1.0);
                let op = spiking_op(&at, is_if, &beta, &theta, layout, n, dt, disc)?;
                let mut node = NirNode::from(op);
                node.metadata.insert(keys::RESET.into(), text(reset));
                node.metadata.insert(
                    keys::SPIKING.into(),
                    text(&serde_json::to_string(s).expect("json")),
                );
                if let LayerSpec::Rlif(_) = l {
                    let v = p("recurrent").expect("recurrent weights");
                    // V is [from][to]; NIR's weight is (to, from).
                    let mut wn = vec![0.0f64; n * n];
                    for from in 0..n {
                        for to in 0..n {
                            wn[to * n + from] = f64::from(v[from * n + to]);
                        }
                    }
                    let mut sub = NirGraph::default();
                    sub.nodes
                        .insert("input".into(), Op::Input { shape: vec![n] }.into());
                    sub.nodes
                        .insert("output".into(), Op::Output { shape: vec![n] }.into());
                    sub.nodes.insert("lif".into(), node);
                    sub.nodes.insert(
                        "w_rec".into(),
                        Op::Linear {
                            weight: Array::new(Dtype::F32, vec![n, n], wn),
                        }
                        .into(),
                    );
                    sub.edges = [
                        ("input", "lif"),
                        ("lif", "w_rec"),
                        ("w_rec", "lif"),
                        ("lif", "output"),
                    ]
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect();
                    chain.push(name, Op::Graph(sub).into());
                } else {
                    chain.push(name, node);
                }
                after_spikes = true;
            }
            LayerSpec::Readout {
                beta: beta_init,
                learn_beta,
            } => {
                let n = out_shape.len();
                let beta = f64::from(p("beta").unwrap()[0]);
                let op = if beta == 1.0 {
                    Op::I {
                        r: per_neuron(&[1.0 / dt], layout, n),
                    }
                } else {
                    let (tau, r) = disc.tau_r(dt, beta).ok_or_else(|| {
                        Error::field(
                            at.clone(),
                            format!(
                                "β = {beta} has no {} continuous-time form; use the other discretisation",
                                disc.name()
                            ),
                        )
                    })?;
                    Op::Li {
                        tau: per_neuron(&[tau], layout, n),
                        r: per_neuron(&[r], layout, n),
                        v_leak: per_neuron(&[0.0], layout, n),
                    }
                };
                let mut node = NirNode::from(op);
                node.metadata.insert(
                    keys::READOUT.into(),
                    text(
                        &serde_json::json!({ "beta": beta_init, "learn_beta": learn_beta })
                            .to_string(),
                    ),
                );
                chain.push(name, node);
                after_spikes = false;
            }
        }
        i += 1;
    }
    let out_n = spec.shapes()?.last().map_or(input.len(), |s| s.len());
    chain.push(
        "output".into(),
        Op::Output {
            shape: nir_shape(layout, out_n),
        }
        .into(),
    );
    let mut graph = chain.graph;
    let m = &mut graph.metadata;
    m.insert(keys::DT_S.into(), number(dt));
    m.insert(keys::DISCRETISATION.into(), text(disc.name()));
    m.insert(keys::STEPS.into(), number(net.steps as f64));
    m.insert(
        keys::CONFIG.into(),
        text(&serde_json::to_string(config).expect("json")),
    );
    m.insert(keys::VERSION.into(), text(env!("CARGO_PKG_VERSION")));
    m.insert(
        keys::NOTE.into(),
        text(&format!(
            "Written by Spikelab for a discrete time step dt = {dt} s with {} discretisation (beta = {}); input gain 1 per step; spiking nodes reset as their `spikelab.reset` metadata says ({}), which NIR cannot express; max pooling of spikes is SumPool2d + Threshold(0.5).",
            disc.name(),
            match disc {
                Discretisation::Euler => "1 - dt/tau",
                Discretisation::Exact => "exp(-dt/tau)",
            },
            resets.iter().copied().collect::<Vec<_>>().join(", ")
        )),
    );
    if resets.contains("subtract") {
        notes.push(
            "reset by subtraction is stated in the nodes' metadata (`spikelab.reset`); NIR itself resets to v_reset, so other tools may reset to zero".into(),
        );
    }
    graph.check("export")?;
    Ok(ExportReport { graph, notes })
}

fn flatten_node(s: FeatShape) -> NirNode {
    Op::Flatten {
        input_type: Some(vec![s.c, s.h, s.w]),
        start_dim: 0,
        end_dim: -1,
    }
    .into()
}

/// The NIR node of a LIF (or IF) layer.
#[allow(clippy::too_many_arguments)]
fn spiking_op(
    at: &str,
    is_if: bool,
    beta: &[f64],
    theta: &[f64],
    layout: Layout,
    n: usize,
    dt: f64,
    disc: Discretisation,
) -> Result<Op> {
    let v_threshold = per_neuron(theta, layout, n);
    let v_reset = per_neuron(&[0.0], layout, n);
    if is_if {
        return Ok(Op::If {
            r: per_neuron(&[1.0 / dt], layout, n),
            v_threshold,
            v_reset,
        });
    }
    let mut taus = Vec::with_capacity(beta.len());
    let mut rs = Vec::with_capacity(beta.len());
    for &b in beta {
        let (tau, r) = disc.tau_r(dt, b).ok_or_else(|| {
            Error::field(
                at,
                format!(
                    "β = {b} has no {} continuous-time form (β = 1 is an IF neuron; β = 0 needs the euler discretisation)",
                    disc.name()
                ),
            )
        })?;
        taus.push(tau);
        rs.push(r);
    }
    Ok(Op::Lif {
        tau: per_neuron(&taus, layout, n),
        r: per_neuron(&rs, layout, n),
        v_leak: per_neuron(&[0.0], layout, n),
        v_threshold,
        v_reset,
    })
}

/// Folds a shared-statistics batch norm right after layer `i` into its NIR weight
/// (output channel first) and bias.
fn fold_batch_norm(
    net: &Network,
    i: usize,
    weight: &mut Array,
    bias: &mut Option<Vec<f32>>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let Some(LayerSpec::BatchNorm { per_step, eps, .. }) = net.spec.layers.get(i + 1) else {
        return Ok(());
    };
    if *per_step {
        return Err(Error::field(
            format!("layer[{}] (batch_norm)", i + 1),
            "per-step batch norm changes with time; NIR has no such node",
        ));
    }
    let j = i + 1;
    let out = weight.shape[0];
    let bn = BatchNormFold::of(net, j, *eps, out);
    // NIR weights are output-major.
    let per_out = weight.len() / out;
    for (k, v) in weight.data.iter_mut().enumerate() {
        *v = f64::from((*v as f32) * bn.scale[k / per_out]);
    }
    let b = bias.get_or_insert_with(|| vec![0.0; out]);
    for (c, bc) in b.iter_mut().enumerate() {
        *bc = bn.bias(c, *bc);
    }
    notes.push(format!(
        "layer[{j}] (batch_norm): folded into layer[{i}] (NIR has no batch norm)"
    ));
    Ok(())
}

/// The spiking settings written by the export, if `node` has them.
pub(crate) fn spiking_settings(node: &NirNode) -> Option<SpikingSpec> {
    match node.metadata.get(keys::SPIKING) {
        Some(Value::Strings(s)) if s.values.len() == 1 => serde_json::from_str(&s.values[0]).ok(),
        _ => None,
    }
}
