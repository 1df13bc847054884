//! A NIR graph as a trainer network. Subgraphs are inlined, a `LIF → Linear/Affine →
//! LIF` loop becomes a recurrent LIF layer, and what is left must be a chain from the
//! one `Input` to the one `Output`; each node maps to a layer with its parameters in
//! the discrete form of the [module docs](super) (gains folded into thresholds or the
//! weights before, leak potentials into the bias before). Errors name the node and its
//! type.

use super::export::spiking_settings;
use super::graph::{NirGraph, NirNode, Op, Padding, Pool2d};
use super::hdf5::Array;
use super::{channels_first_order, keys, meta_number, meta_text, Discretisation};
use crate::bptt::encode::Encoding;
use crate::bptt::loss::LossSpec;
use crate::bptt::trainer::TrainConfig;
use crate::convert::params::set_params;
use crate::nn::layers::spiking::{Learn, SpikingSpec};
use crate::nn::network::{LayerSpec, NetSpec, Network};
use crate::nn::tensor::FeatShape;
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};
use spikelab_core::neuron::discrete_time::DiscreteReset;
use std::collections::{BTreeMap, BTreeSet};

/// How to read a graph; every field left `None` comes from the graph's metadata (as
/// Spikelab writes it) or the default named.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImportOptions {
    /// Time step in milliseconds (default: the graph's `spikelab.dt_s`, else inferred
    /// from `τ/R` of the leaky nodes under snnTorch's convention `R = τ/dt`).
    pub dt_ms: Option<f64>,
    /// Discretisation (default: the graph's, else `euler`).
    pub discretisation: Option<Discretisation>,
    /// Reset of every spiking layer (default: each node's `spikelab.reset`, else
    /// `zero`, NIR's own semantics).
    pub reset: Option<DiscreteReset>,
    /// Time steps per presentation (default: the graph's, else 25).
    pub steps: Option<usize>,
    /// Input encoding by name (`rate`, `direct`, `latency`, ... as `train surrogate
    /// --encoding`; default: the graph's training configuration, else `rate`).
    pub encoding: Option<String>,
}

/// The network read from a graph and how it was read.
#[derive(Debug)]
pub struct Imported {
    /// The network with the graph's parameters.
    pub net: Network,
    /// Its configuration (for evaluation and fine-tuning).
    pub config: TrainConfig,
    /// Time step used, in seconds.
    pub dt_s: f64,
    /// Discretisation used.
    pub discretisation: Discretisation,
    /// One line per choice or fold the import made.
    pub notes: Vec<String>,
}

/// A node of the inlined graph.
struct Flat {
    nodes: BTreeMap<String, NirNode>,
    edges: Vec<(String, String)>,
}

/// Inlines every subgraph: its nodes become `sub.inner`, its one `Input` and one
/// `Output` pass-throughs that are then removed.
fn inline(g: &NirGraph) -> Result<Flat> {
    let mut nodes = BTreeMap::new();
    let mut edges = Vec::new();
    let mut pass = BTreeSet::new();
    inline_into(g, "", &mut nodes, &mut edges, &mut pass, 0)?;
    // Contract the pass-through nodes.
    for p in pass {
        let ins: Vec<String> = edges
            .iter()
            .filter(|(_, b)| *b == p)
            .map(|(a, _)| a.clone())
            .collect();
        let outs: Vec<String> = edges
            .iter()
            .filter(|(a, _)| *a == p)
            .map(|(_, b)| b.clone())
            .collect();
        edges.retain(|(a, b)| *a != p && *b != p);
        for a in &ins {
            for b in &outs {
                edges.push((a.clone(), b.clone()));
            }
        }
        nodes.remove(&p);
    }
    Ok(Flat { nodes, edges })
}

fn inline_into(
    g: &NirGraph,
    prefix: &str,
    nodes: &mut BTreeMap<String, NirNode>,
    edges: &mut Vec<(String, String)>,
    pass: &mut BTreeSet<String>,
    depth: usize,
) -> Result<()> {
    if depth > 32 {
        return Err(Error::Invalid("subgraphs nested more than 32 deep".into()));
    }
    // The name an edge end resolves to after inlining, as source or as target.
    let end = |name: &str, as_target: bool| -> Result<String> {
        match g.nodes.get(name).map(|n| &n.op) {
            Some(Op::Graph(sub)) => {
                let want_input = as_target;
                let ports: Vec<&String> = sub
                    .nodes
                    .iter()
                    .filter(|(_, n)| {
                        if want_input {
                            matches!(n.op, Op::Input { .. })
                        } else {
                            matches!(n.op, Op::Output { .. })
                        }
                    })
                    .map(|(k, _)| k)
                    .collect();
                match ports.as_slice() {
                    [p] => Ok(format!("{prefix}{name}.{p}")),
                    _ => Err(Error::Invalid(format!(
                        "node `{prefix}{name}` (NIRGraph): an edge {} it, but it has {} {} nodes (expected one)",
                        if want_input { "enters" } else { "leaves" },
                        ports.len(),
                        if want_input { "Input" } else { "Output" }
                    ))),
                }
            }
            Some(_) => Ok(format!("{prefix}{name}")),
            None if g.resolve(name).is_some() => Ok(format!("{prefix}{name}")),
            None => Err(Error::Invalid(format!(
                "edge end `{prefix}{name}` names no node"
            ))),
        }
    };
    for (a, b) in &g.edges {
        edges.push((end(a, false)?, end(b, true)?));
    }
    for (name, n) in &g.nodes {
        let full = format!("{prefix}{name}");
        match &n.op {
            Op::Graph(sub) => {
                inline_into(sub, &format!("{full}."), nodes, edges, pass, depth + 1)?;
            }
            Op::Input { .. } | Op::Output { .. } if depth > 0 => {
                pass.insert(full.clone());
                nodes.insert(full, n.clone());
            }
            _ => {
                nodes.insert(full, n.clone());
            }
        }
    }
    Ok(())
}

/// Where data stands: NIR shape `(C, H, W)` or `(N)`, and whether a flatten of an
/// image came before (the trainer flattens channels-last).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Layout {
    Flat(usize),
    Image(FeatShape),
    Flattened(FeatShape),
}

impl Layout {
    fn len(self) -> usize {
        match self {
            Layout::Flat(n) => n,
            Layout::Image(s) | Layout::Flattened(s) => s.len(),
        }
    }
    /// Trainer index → NIR index, unless they agree.
    fn order(self) -> Option<Vec<usize>> {
        match self {
            Layout::Flat(_) => None,
            Layout::Image(s) | Layout::Flattened(s) => channels_first_order(s),
        }
    }
}

/// Layers being built, with their parameter values by name.
struct Build {
    spec: NetSpec,
    params: Vec<(String, Vec<f32>)>,
    /// The last layer with weights, while nothing but reshapes came after it.
    last_weighted: Option<usize>,
    /// A factor for the next weighted layer's weights (a SumPool2d read as average
    /// pooling).
    pending_scale: Option<(String, f64)>,
    after_spikes: bool,
    notes: Vec<String>,
}

impl Build {
    fn push(&mut self, l: LayerSpec) -> usize {
        self.spec.layers.push(l);
        self.spec.layers.len() - 1
    }
    fn param_mut(&mut self, name: &str) -> Option<&mut Vec<f32>> {
        self.params
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
    /// Scales output `o` of the last weighted layer (weights and bias) by `f(o)`.
    fn scale_outputs(&mut self, at: &str, what: &str, f: impl Fn(usize) -> f64) -> Result<()> {
        let k = self.last_weighted.ok_or_else(|| {
            Error::Invalid(format!(
                "{at}: {what} is folded into the weights right before it, but no Affine, Linear or Conv2d node comes directly before"
            ))
        })?;
        let out = match self.spec.layers[k] {
            LayerSpec::Linear { out, .. } => out,
            LayerSpec::Conv2d { channels, .. } => channels,
            _ => unreachable!("weighted layers are linear or conv"),
        };
        if let Some(w) = self.param_mut(&format!("{k}.weight")) {
            // The output is the fastest index of both weight layouts.
            for (i, v) in w.iter_mut().enumerate() {
                *v = (f64::from(*v) * f(i % out)) as f32;
            }
        }
        if let Some(b) = self.param_mut(&format!("{k}.bias")) {
            for (o, v) in b.iter_mut().enumerate() {
                *v = (f64::from(*v) * f(o)) as f32;
            }
        }
        Ok(())
    }
    /// Adds `c(o)` to the bias of the last weighted layer (giving it one if needed).
    fn add_bias(&mut self, at: &str, what: &str, c: impl Fn(usize) -> f64) -> Result<()> {
        let k = self.last_weighted.ok_or_else(|| {
            Error::Invalid(format!(
                "{at}: {what} is folded into the bias right before it, but no Affine, Linear or Conv2d node comes directly before"
            ))
        })?;
        let out = match &mut self.spec.layers[k] {
            LayerSpec::Linear { out, bias } => {
                *bias = true;
                *out
            }
            LayerSpec::Conv2d { channels, bias, .. } => {
                *bias = true;
                *channels
            }
            _ => unreachable!("weighted layers are linear or conv"),
        };
        let name = format!("{k}.bias");
        if self.param_mut(&name).is_none() {
            self.params.push((name.clone(), vec![0.0; out]));
        }
        let b = self.param_mut(&name).expect("bias");
        for (o, v) in b.iter_mut().enumerate() {
            *v = (f64::from(*v) + c(o)) as f32;
        }
        Ok(())
    }
}

/// Per-neuron values of a NIR array over `layout` in the trainer's order; one value if
/// they are all equal.
fn neuron_values(a: &Array, layout: Layout, at: &str, what: &str) -> Result<Vec<f64>> {
    let n = layout.len();
    if a.len() == 1 || (!a.is_empty() && a.data.iter().all(|&v| v == a.data[0])) {
        return Ok(vec![a.data[0]]);
    }
    if a.len() != n {
        return Err(Error::Invalid(format!(
            "{at}: `{what}` has {} values for {n} neurons",
            a.len()
        )));
    }
    Ok(match layout.order() {
        Some(order) => (0..n).map(|i| a.data[order[i]]).collect(),
        None => a.data.clone(),
    })
}

/// Broadcast per-neuron values to `n`.
fn at_neuron(v: &[f64], i: usize) -> f64 {
    if v.len() == 1 {
        v[0]
    } else {
        v[i]
    }
}

/// The time step (seconds) inferred from snnTorch's convention `R = τ/dt` (input gain 1
/// under Euler), if every leaky node agrees.
fn infer_dt(nodes: &BTreeMap<String, NirNode>) -> Option<f64> {
    let mut found: Option<f64> = None;
    for n in nodes.values() {
        let (tau, r) = match &n.op {
            Op::Lif { tau, r, .. } | Op::Li { tau, r, .. } => (tau, r),
            Op::CubaLif { tau_mem, r, .. } | Op::CubaLi { tau_mem, r, .. } => (tau_mem, r),
            _ => continue,
        };
        for (k, &t) in tau.data.iter().enumerate() {
            let rv = r.data[if r.len() == 1 { 0 } else { k.min(r.len() - 1) }];
            if !(rv > 0.0 && t > 0.0 && t.is_finite()) {
                return None;
            }
            let dt = t / rv;
            match found {
                None => found = Some(dt),
                Some(d) if ((d - dt) / d).abs() < 1e-6 => {}
                Some(_) => return None,
            }
        }
    }
    found
}

/// Reads `graph` as a trainer network.
pub fn import_graph(graph: &NirGraph, opts: &ImportOptions) -> Result<Imported> {
    graph.check("graph")?;
    let meta = &graph.metadata;
    let mut notes = Vec::new();
    let flat = inline(graph)?;
    let dt = match opts.dt_ms {
        Some(ms) => {
            if !(ms.is_finite() && ms > 0.0) {
                return Err(Error::field(
                    "dt_ms",
                    format!("must be a finite number > 0 (got {ms})"),
                ));
            }
            ms * 1e-3
        }
        None => match meta_number(meta, keys::DT_S) {
            Some(d) if d > 0.0 && d.is_finite() => d,
            _ => match infer_dt(&flat.nodes) {
                Some(d) => {
                    notes.push(format!(
                        "time step {:.6} ms inferred from the leaky nodes' τ/R (snnTorch's convention R = τ/dt); pass dt_ms to choose another",
                        d * 1e3
                    ));
                    d
                }
                None => {
                    let any_leaky = flat.nodes.values().any(|n| {
                        matches!(
                            n.op,
                            Op::Lif { .. } | Op::Li { .. } | Op::CubaLif { .. } | Op::CubaLi { .. }
                        )
                    });
                    if any_leaky {
                        return Err(Error::field(
                            "dt_ms",
                            "the graph does not state its time step and its leaky nodes do not follow R = τ/dt; pass it (snnTorch writes 0.1 ms)",
                        ));
                    }
                    1e-3
                }
            },
        },
    };
    let disc = opts
        .discretisation
        .unwrap_or_else(|| match meta_text(meta, keys::DISCRETISATION) {
            Some("exact") => Discretisation::Exact,
            _ => Discretisation::Euler,
        });
    let mut config: TrainConfig = match meta_text(meta, keys::CONFIG) {
        Some(json) => serde_json::from_str(json).map_err(|e| {
            Error::field(
                format!("metadata `{}`", keys::CONFIG),
                format!("not a training configuration: {e}"),
            )
        })?,
        None => TrainConfig::default(),
    };
    let steps = opts
        .steps
        .or_else(|| {
            meta_number(meta, keys::STEPS)
                .filter(|&s| s >= 1.0 && s.fract() == 0.0 && s < 1e7)
                .map(|s| s as usize)
        })
        .unwrap_or(config.steps);
    config.steps = steps;

    // Find the ends.
    let ends = |want_input: bool| -> Vec<String> {
        flat.nodes
            .iter()
            .filter(|(_, n)| {
                if want_input {
                    matches!(n.op, Op::Input { .. })
                } else {
                    matches!(n.op, Op::Output { .. })
                }
            })
            .map(|(k, _)| k.clone())
            .collect()
    };
    let (inputs, outputs) = (ends(true), ends(false));
    if inputs.len() != 1 || outputs.len() != 1 {
        return Err(Error::Invalid(format!(
            "the graph has {} Input and {} Output nodes; the trainer takes graphs with one of each",
            inputs.len(),
            outputs.len()
        )));
    }
    // Recurrent loops: neuron → Linear/Affine → the same neuron, the weights used only
    // there.
    let mut edges = flat.edges.clone();
    edges.sort();
    edges.dedup();
    let mut recurrent: BTreeMap<String, String> = BTreeMap::new();
    for (a, w) in &edges {
        let Some(wn) = flat.nodes.get(w) else {
            continue;
        };
        let is_neuron = flat
            .nodes
            .get(a)
            .is_some_and(|n| matches!(n.op, Op::Lif { .. } | Op::If { .. } | Op::CubaLif { .. }));
        let is_dense = matches!(wn.op, Op::Linear { .. } | Op::Affine { .. });
        let w_in = edges.iter().filter(|(_, b)| b == w).count();
        let w_out: Vec<&String> = edges
            .iter()
            .filter(|(x, _)| x == w)
            .map(|(_, b)| b)
            .collect();
        if is_neuron && is_dense && w_in == 1 && w_out.len() == 1 && w_out[0] == a {
            recurrent.insert(a.clone(), w.clone());
        }
    }
    edges.retain(|(a, b)| {
        !recurrent
            .iter()
            .any(|(l, w)| (a == l && b == w) || (a == w && b == l))
    });
    // Walk the chain.
    let mut order = Vec::new();
    let mut cur = inputs[0].clone();
    let mut seen = BTreeSet::new();
    loop {
        if !seen.insert(cur.clone()) {
            return Err(Error::Invalid(format!(
                "node `{cur}` is on a cycle that is not a recurrent layer (neuron → Linear/Affine → the same neuron)"
            )));
        }
        order.push(cur.clone());
        let ins = edges.iter().filter(|(_, b)| *b == cur).count();
        if ins > 1 {
            return Err(Error::Invalid(format!(
                "node `{cur}` ({}) has {ins} inputs; the trainer's networks are chains (one input per node)",
                flat.nodes[&cur].op.type_name()
            )));
        }
        let outs: Vec<&String> = edges
            .iter()
            .filter(|(a, _)| *a == cur)
            .map(|(_, b)| b)
            .collect();
        if cur == outputs[0] {
            break;
        }
        match outs.as_slice() {
            [next] => cur = (*next).clone(),
            [] => {
                return Err(Error::Invalid(format!(
                    "node `{cur}` ({}) leads nowhere: no path from the Input to the Output",
                    flat.nodes[&cur].op.type_name()
                )))
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "node `{cur}` ({}) has {} outputs; the trainer's networks are chains (one output per node)",
                    flat.nodes[&cur].op.type_name(),
                    outs.len()
                )))
            }
        }
    }
    let unused: Vec<&String> = flat
        .nodes
        .keys()
        .filter(|k| !seen.contains(*k) && !recurrent.values().any(|w| w == *k))
        .collect();
    if !unused.is_empty() {
        return Err(Error::Invalid(format!(
            "nodes {} are not on the path from the Input to the Output",
            unused
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }

    // Map the chain.
    let input_shape = match &flat.nodes[&inputs[0]].op {
        Op::Input { shape } => shape.clone(),
        _ => unreachable!("an input"),
    };
    let mut layout = match input_shape.as_slice() {
        [n] if *n > 0 => Layout::Flat(*n),
        [c, h, w] if *c > 0 && *h > 0 && *w > 0 => Layout::Image(FeatShape::image(*c, *h, *w)),
        other => {
            return Err(Error::Invalid(format!(
                "node `{}` (Input): shape {other:?}; the trainer takes vectors (N) and images (C, H, W)",
                inputs[0]
            )))
        }
    };
    let input_feat = match layout {
        Layout::Flat(n) => FeatShape::flat(n),
        Layout::Image(s) | Layout::Flattened(s) => s,
    };
    if let Some(name) = &opts.encoding {
        config.encoding = Encoding::named(name, steps, input_feat)?;
    }
    let mut b = Build {
        spec: NetSpec::new(input_feat),
        params: Vec::new(),
        last_weighted: None,
        pending_scale: None,
        after_spikes: false,
        notes: Vec::new(),
    };
    let mut k = 1;
    while k < order.len() {
        let name = &order[k];
        let node = &flat.nodes[name];
        let at = format!("node `{name}` ({})", node.op.type_name());
        let unsupported = |why: &str| Err(Error::Invalid(format!("{at}: {why}")));
        let take_pending = |b: &mut Build| b.pending_scale.take();
        match &node.op {
            Op::Input { .. } => return unsupported("a second Input"),
            Op::Output { shape } => {
                let n: usize = shape.iter().product();
                if n != layout.len() {
                    return unsupported(&format!(
                        "shape {shape:?} ({n} values), but {} values arrive",
                        layout.len()
                    ));
                }
            }
            Op::Affine { weight, .. } | Op::Linear { weight } => {
                let (out, n_in) = (weight.shape[0], weight.shape[1]);
                if let Layout::Image(_) = layout {
                    return unsupported("an Affine/Linear node on an image needs a Flatten before it");
                }
                if n_in != layout.len() {
                    return unsupported(&format!(
                        "weight is {out} × {n_in}, but {} values arrive",
                        layout.len()
                    ));
                }
                let bias = match &node.op {
                    Op::Affine { bias, .. } => Some(bias),
                    _ => None,
                };
                let pending = take_pending(&mut b);
                let factor = pending.as_ref().map_or(1.0, |p| p.1);
                let perm = layout.order();
                let mut w = vec![0.0f32; n_in * out];
                for j in 0..n_in {
                    let jn = perm.as_ref().map_or(j, |p| p[j]);
                    for o in 0..out {
                        w[j * out + o] = (weight.data[o * n_in + jn] * factor) as f32;
                    }
                }
                let bias_v = bias
                    .filter(|b| b.data.iter().any(|&v| v != 0.0))
                    .map(|b| b.data.iter().map(|&v| v as f32).collect::<Vec<_>>());
                let i = b.push(LayerSpec::Linear {
                    out,
                    bias: bias_v.is_some(),
                });
                b.params.push((format!("{i}.weight"), w));
                if let Some(bv) = bias_v {
                    b.params.push((format!("{i}.bias"), bv));
                }
                if let Some((from, f)) = pending {
                    b.notes.push(format!(
                        "{from}: SumPool2d read as average pooling, its window size ×{f} folded into {at}"
                    ));
                }
                b.last_weighted = Some(i);
                b.after_spikes = false;
                layout = Layout::Flat(out);
            }
            Op::Conv2d {
                weight,
                stride,
                padding,
                dilation,
                groups,
                bias,
                ..
            } => {
                let Layout::Image(s) = layout else {
                    return unsupported("a Conv2d node needs an image (C, H, W) input");
                };
                let (co, ci, kh, kw) = (
                    weight.shape[0],
                    weight.shape[1],
                    weight.shape[2],
                    weight.shape[3],
                );
                if *groups != 1 {
                    return unsupported(&format!("groups = {groups}; the trainer's convolutions have groups = 1"));
                }
                if *dilation != [1, 1] {
                    return unsupported(&format!("dilation {dilation:?}; the trainer's convolutions have dilation 1"));
                }
                if kh != kw {
                    return unsupported(&format!("kernel {kh} × {kw}; the trainer's kernels are square"));
                }
                if stride[0] != stride[1] || stride[0] == 0 {
                    return unsupported(&format!("stride {stride:?}; the trainer's strides are equal in both directions"));
                }
                if ci != s.c {
                    return unsupported(&format!("weight takes {ci} channels, but {} arrive", s.c));
                }
                let pad = match padding {
                    Padding::Valid => 0,
                    Padding::Same if stride[0] == 1 && kh % 2 == 1 => (kh - 1) / 2,
                    Padding::Same => {
                        return unsupported("padding `same` with an even kernel or a stride > 1 is not symmetric")
                    }
                    Padding::Explicit(p) => match p.as_slice() {
                        [p] => *p,
                        [a, c] if a == c => *a,
                        other => {
                            return unsupported(&format!(
                                "padding {other:?}; the trainer pads equally in both directions"
                            ))
                        }
                    },
                };
                let pending = take_pending(&mut b);
                let factor = pending.as_ref().map_or(1.0, |p| p.1);
                let k = kh;
                let mut w = vec![0.0f32; weight.len()];
                for y in 0..k {
                    for x in 0..k {
                        for c in 0..ci {
                            for o in 0..co {
                                w[((y * k + x) * ci + c) * co + o] =
                                    (weight.data[((o * ci + c) * k + y) * k + x] * factor) as f32;
                            }
                        }
                    }
                }
                let has_bias = bias.data.iter().any(|&v| v != 0.0);
                let i = b.push(LayerSpec::Conv2d {
                    channels: co,
                    kernel: k,
                    stride: stride[0],
                    padding: pad,
                    bias: has_bias,
                });
                b.params.push((format!("{i}.weight"), w));
                if has_bias {
                    let bv = if bias.len() == 1 {
                        vec![bias.data[0] as f32; co]
                    } else {
                        bias.data.iter().map(|&v| v as f32).collect()
                    };
                    b.params.push((format!("{i}.bias"), bv));
                }
                if let Some((from, f)) = pending {
                    b.notes.push(format!(
                        "{from}: SumPool2d read as average pooling, its window size ×{f} folded into {at}"
                    ));
                }
                let h = (s.h + 2 * pad).checked_sub(k).map(|v| v / stride[0] + 1);
                let wd = (s.w + 2 * pad).checked_sub(k).map(|v| v / stride[0] + 1);
                let (Some(h), Some(wd)) = (h, wd) else {
                    return unsupported(&format!("kernel {k} is larger than the padded input {} × {}", s.h, s.w));
                };
                b.last_weighted = Some(i);
                b.after_spikes = false;
                layout = Layout::Image(FeatShape::image(co, h, wd));
            }
            Op::Conv1d { .. } => {
                return unsupported("the trainer has no 1-D convolutions (Conv2d with height 1 is not supported either)")
            }
            Op::SumPool2d(p) | Op::AvgPool2d(p) => {
                let Layout::Image(s) = layout else {
                    return unsupported("pooling needs an image (C, H, W) input");
                };
                let (kk, st) = pool_geometry(p, &at)?;
                let (h, wd) = ((s.h.saturating_sub(kk)) / st + 1, (s.w.saturating_sub(kk)) / st + 1);
                if kk > s.h || kk > s.w {
                    return unsupported(&format!("window {kk} is larger than the input {} × {}", s.h, s.w));
                }
                let next_is_or = order.get(k + 1).and_then(|n| match &flat.nodes[n].op {
                    Op::Threshold { threshold } => Some(threshold),
                    _ => None,
                });
                let is_sum = matches!(node.op, Op::SumPool2d(_));
                match next_is_or {
                    Some(thr)
                        if is_sum
                            && b.after_spikes
                            && thr.data.iter().all(|&t| (0.0..1.0).contains(&t)) =>
                    {
                        b.push(LayerSpec::MaxPool2d {
                            kernel: kk,
                            stride: (st != kk).then_some(st),
                        });
                        k += 1; // the Threshold is part of it
                    }
                    _ => {
                        b.push(LayerSpec::AvgPool2d {
                            kernel: kk,
                            stride: (st != kk).then_some(st),
                        });
                        if is_sum {
                            b.pending_scale = Some((at.clone(), (kk * kk) as f64));
                        }
                        b.after_spikes = false;
                    }
                }
                b.last_weighted = None;
                layout = Layout::Image(FeatShape::image(s.c, h, wd));
            }
            Op::Flatten {
                start_dim, end_dim, ..
            } => {
                if let Layout::Image(s) = layout {
                    if !(*start_dim == 0 && (*end_dim == -1 || *end_dim == 2)) {
                        return unsupported(&format!(
                            "start_dim {start_dim}, end_dim {end_dim}; the trainer flattens whole samples (0 to −1)"
                        ));
                    }
                    // A flatten the export wrote for a linear layer's own flattening
                    // is that layer's again.
                    if meta_number(&node.metadata, keys::IMPLIED).is_none() {
                        b.push(LayerSpec::Flatten);
                    }
                    layout = Layout::Flattened(s);
                }
            }
            Op::Scale { scale } => {
                let f = match layout {
                    Layout::Image(s) => {
                        // One factor per channel (the conv's output), in NIR's order.
                        let per = s.h * s.w;
                        if scale.len() == 1 {
                            vec![scale.data[0]; s.c]
                        } else if scale.len() == s.len()
                            && (0..s.c).all(|c| scale.data[c * per..(c + 1) * per].iter().all(|&v| v == scale.data[c * per]))
                        {
                            (0..s.c).map(|c| scale.data[c * per]).collect()
                        } else if scale.len() == s.c {
                            scale.data.clone()
                        } else {
                            return unsupported("on an image the scale must be one value per channel");
                        }
                    }
                    _ => {
                        if scale.len() == 1 {
                            vec![scale.data[0]; layout.len()]
                        } else if scale.len() == layout.len() {
                            match layout.order() {
                                Some(o) => (0..layout.len()).map(|i| scale.data[o[i]]).collect(),
                                None => scale.data.clone(),
                            }
                        } else {
                            return unsupported(&format!("{} values for {} inputs", scale.len(), layout.len()));
                        }
                    }
                };
                b.scale_outputs(&at, "the scale", |o| f[o])?;
            }
            Op::Delay { .. } => {
                return unsupported("the trainer has no delays (the engine has: export a simulator network instead)")
            }
            Op::CubaLi { .. } | Op::CubaLif { .. } | Op::Lif { .. } | Op::If { .. } | Op::Li { .. } | Op::I { .. } | Op::Threshold { .. } => {
                let rec = recurrent.get(name).map(|w| &flat.nodes[w]);
                neuron_layer(&mut b, node, rec, layout, dt, disc, opts.reset, &at)?;
            }
            Op::Graph(_) => unreachable!("subgraphs are inlined"),
        }
        if !matches!(
            node.op,
            Op::Affine { .. }
                | Op::Linear { .. }
                | Op::Conv2d { .. }
                | Op::Flatten { .. }
                | Op::Scale { .. }
        ) {
            b.last_weighted = None;
        }
        if b.pending_scale.is_some() && !matches!(node.op, Op::SumPool2d(_) | Op::Flatten { .. }) {
            let (from, _) = b.pending_scale.take().unwrap();
            return Err(Error::Invalid(format!(
                "{from}: a SumPool2d not followed by Threshold(< 1) on spikes is read as average pooling with its window size folded into the next Affine, Linear or Conv2d node, but {at} comes next"
            )));
        }
        k += 1;
    }
    if let Some((from, _)) = b.pending_scale {
        return Err(Error::Invalid(format!(
            "{from}: a SumPool2d at the end of the graph cannot be read as average pooling"
        )));
    }
    notes.append(&mut b.notes);
    // The loss follows the output: membrane for a readout, spike counts otherwise.
    if meta_text(meta, keys::CONFIG).is_none() {
        config.loss = match b.spec.layers.last() {
            Some(LayerSpec::Readout { .. }) => LossSpec::CeMembrane,
            _ => LossSpec::CeCount,
        };
        notes.push(format!(
            "no Spikelab training configuration in the graph: steps {steps}, loss {:?}, encoding {:?} (choose with the import options)",
            config.loss, config.encoding
        ));
    }
    b.spec.shapes()?;
    let mut net = Network::build(&b.spec, steps, 0)?;
    set_params(&mut net, &b.params)?;
    config.validate(&net.spec)?;
    Ok(Imported {
        net,
        config,
        dt_s: dt,
        discretisation: disc,
        notes,
    })
}

fn pool_geometry(p: &Pool2d, at: &str) -> Result<(usize, usize)> {
    let err = |m: String| Err(Error::Invalid(format!("{at}: {m}")));
    if p.kernel_size[0] != p.kernel_size[1] || p.kernel_size[0] == 0 {
        return err(format!(
            "window {:?}; the trainer's windows are square",
            p.kernel_size
        ));
    }
    if p.stride[0] != p.stride[1] || p.stride[0] == 0 {
        return err(format!(
            "stride {:?}; the trainer's strides are equal in both directions",
            p.stride
        ));
    }
    if p.padding != [0, 0] {
        return err(format!(
            "padding {:?}; the trainer's pooling has no padding",
            p.padding
        ));
    }
    Ok((p.kernel_size[0], p.stride[0]))
}

/// Maps one neuron node (with recurrent weights `rec`, if any) to a layer.
#[allow(clippy::too_many_arguments)]
fn neuron_layer(
    b: &mut Build,
    node: &NirNode,
    rec: Option<&NirNode>,
    layout: Layout,
    dt: f64,
    disc: Discretisation,
    reset: Option<DiscreteReset>,
    at: &str,
) -> Result<()> {
    let n = layout.len();
    let vals = |a: &Array, what: &str| neuron_values(a, layout, at, what);
    let zero = |a: &Array, what: &str| -> Result<()> {
        if a.data.iter().any(|&v| v != 0.0) {
            Err(Error::Invalid(format!(
                "{at}: `{what}` ≠ 0 is not supported (the trainer's neurons reset to 0 or by subtraction)"
            )))
        } else {
            Ok(())
        }
    };
    // (β, gain, leak term, threshold, spiking) per neuron.
    struct Dyn {
        beta: Vec<f64>,
        gain: Vec<f64>,
        leak: Vec<f64>,
        theta: Option<Vec<f64>>,
    }
    let leaky = |tau: &Array, r: &Array, v_leak: &Array, theta: Option<&Array>| -> Result<Dyn> {
        let (tau, r, v_leak) = (vals(tau, "tau")?, vals(r, "r")?, vals(v_leak, "v_leak")?);
        let m = [tau.len(), r.len(), v_leak.len()]
            .into_iter()
            .max()
            .unwrap();
        let (mut beta, mut gain, mut leak) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..m {
            let t = at_neuron(&tau, i);
            if !(t.is_finite() && t > 0.0) {
                return Err(Error::Invalid(format!(
                    "{at}: `tau` must be finite and > 0 (got {t})"
                )));
            }
            let bt = disc.beta(dt, t);
            if !(0.0..=1.0).contains(&bt) {
                return Err(Error::Invalid(format!(
                    "{at}: τ = {t} s is shorter than the time step {dt} s (β = {bt} with the {} discretisation); use a smaller dt_ms",
                    disc.name()
                )));
            }
            let f = disc.input_factor(dt, t, bt);
            beta.push(bt);
            gain.push(f * at_neuron(&r, i));
            leak.push(f * at_neuron(&v_leak, i));
        }
        Ok(Dyn {
            beta,
            gain,
            leak,
            theta: theta.map(|a| vals(a, "v_threshold")).transpose()?,
        })
    };
    let d = match &node.op {
        Op::Lif {
            tau,
            r,
            v_leak,
            v_threshold,
            v_reset,
        } => {
            zero(v_reset, "v_reset")?;
            leaky(tau, r, v_leak, Some(v_threshold))?
        }
        Op::Li { tau, r, v_leak } => leaky(tau, r, v_leak, None)?,
        Op::If {
            r,
            v_threshold,
            v_reset,
        } => {
            zero(v_reset, "v_reset")?;
            let r = vals(r, "r")?;
            Dyn {
                beta: vec![1.0],
                gain: r.iter().map(|&x| x * dt).collect(),
                leak: vec![0.0],
                theta: Some(vals(v_threshold, "v_threshold")?),
            }
        }
        Op::I { r } => Dyn {
            beta: vec![1.0],
            gain: vals(r, "r")?.iter().map(|&x| x * dt).collect(),
            leak: vec![0.0],
            theta: None,
        },
        Op::Threshold { threshold } => Dyn {
            beta: vec![0.0],
            gain: vec![1.0],
            leak: vec![0.0],
            theta: Some(vals(threshold, "threshold")?),
        },
        Op::CubaLif {
            tau_syn,
            tau_mem,
            r,
            v_leak,
            v_threshold,
            v_reset,
            w_in,
        } => {
            zero(v_reset, "v_reset")?;
            let syn = synapse_gain(tau_syn, w_in, dt, disc, at)?;
            let mut d = leaky(tau_mem, r, v_leak, Some(v_threshold))?;
            d.gain.iter_mut().for_each(|g| *g *= syn);
            d
        }
        Op::CubaLi {
            tau_syn,
            tau_mem,
            r,
            v_leak,
            w_in,
        } => {
            let syn = synapse_gain(tau_syn, w_in, dt, disc, at)?;
            let mut d = leaky(tau_mem, r, v_leak, None)?;
            d.gain.iter_mut().for_each(|g| *g *= syn);
            d
        }
        _ => unreachable!("neuron nodes"),
    };
    if d.gain.iter().any(|&g| !(g.is_finite() && g > 0.0)) {
        return Err(Error::Invalid(format!(
            "{at}: the input gain (R·dt/τ) must be > 0"
        )));
    }
    // The leak potential is a constant input: into the bias before, in units of the
    // rescaled membrane (v / gain).
    if d.leak.iter().any(|&c| c != 0.0) {
        let c: Vec<f64> = (0..d.leak.len().max(d.gain.len()))
            .map(|i| at_neuron(&d.leak, i) / at_neuron(&d.gain, i))
            .collect();
        b.add_bias(at, "`v_leak`", |o| at_neuron(&c, o))?;
        b.notes
            .push(format!("{at}: v_leak folded into the bias before it"));
    }
    let uniform = |v: &[f64]| v.len() == 1 || v.iter().all(|&x| x == v[0]);
    let settings = spiking_settings(node);
    match d.theta {
        None => {
            // A readout: its gain goes into the weights before it.
            if !uniform(&d.beta) {
                return Err(Error::Invalid(format!(
                    "{at}: the readout's time constants differ between neurons; the trainer's readout has one β"
                )));
            }
            if d.gain.iter().any(|&g| g != 1.0) {
                let g = d.gain.clone();
                b.scale_outputs(at, "the readout's input gain", |o| at_neuron(&g, o))?;
            }
            // The settings the export wrote: the initial β of the spec and whether it is
            // trained (the value in force is the parameter).
            let saved: Option<serde_json::Value> =
                meta_text(&node.metadata, keys::READOUT).and_then(|t| serde_json::from_str(t).ok());
            let learn_beta = saved
                .as_ref()
                .and_then(|v| v.get("learn_beta")?.as_bool())
                .unwrap_or(false);
            let beta = d.beta[0] as f32;
            let beta_init = saved
                .as_ref()
                .and_then(|v| v.get("beta")?.as_f64())
                .map_or(beta, |x| x as f32);
            let i = b.push(LayerSpec::Readout {
                beta: beta_init,
                learn_beta,
            });
            b.params.push((format!("{i}.beta"), vec![beta]));
            if rec.is_some() {
                return Err(Error::Invalid(format!(
                    "{at}: a recurrent readout is not supported"
                )));
            }
            b.after_spikes = false;
        }
        Some(theta) => {
            let m = theta.len().max(d.gain.len());
            let theta_scaled: Vec<f64> = (0..m)
                .map(|i| at_neuron(&theta, i) / at_neuron(&d.gain, i))
                .collect();
            if theta_scaled.iter().any(|&t| !(t.is_finite() && t > 0.0)) {
                return Err(Error::Invalid(format!("{at}: thresholds must be > 0")));
            }
            let reset_rule = reset
                .or_else(|| match meta_text(&node.metadata, keys::RESET) {
                    Some("subtract") => Some(DiscreteReset::Subtract),
                    Some("zero") => Some(DiscreteReset::Zero),
                    _ => None,
                })
                .unwrap_or(DiscreteReset::Zero);
            let mut s = settings.clone().unwrap_or(SpikingSpec {
                learn_beta: Learn::No,
                learn_threshold: Learn::No,
                ..SpikingSpec::default()
            });
            s.reset = reset_rule;
            let theta_f: Vec<f32> = theta_scaled.iter().map(|&t| t as f32).collect();
            let beta_f: Vec<f32> = d.beta.iter().map(|&x| x as f32).collect();
            let per = |v: &[f32], learn: Learn| -> Learn {
                if v.len() > 1 && !v.iter().all(|&x| x == v[0]) {
                    Learn::Neuron
                } else {
                    learn
                }
            };
            // Settings written by the export keep their initial β and θ in the spec (the
            // values in force are the parameters).
            if settings.is_none() {
                s.threshold = theta_f[0];
                s.beta = beta_f[0];
            }
            s.learn_threshold = per(&theta_f, s.learn_threshold);
            let is_if = beta_f.iter().all(|&x| x == 1.0) && rec.is_none();
            if !is_if {
                s.learn_beta = per(&beta_f, s.learn_beta);
            }
            if s.learn_beta == Learn::Neuron && !uniform(&d.beta) && settings.is_none() {
                b.notes.push(format!(
                    "{at}: time constants differ between neurons: β is per neuron (and trained when fine-tuning)"
                ));
            }
            let layer = match rec {
                Some(_) => LayerSpec::Rlif(s.clone()),
                None if is_if => LayerSpec::If(s.clone()),
                None => LayerSpec::Lif(s.clone()),
            };
            let i = b.push(layer);
            let fill = |v: &[f32], learn: Learn| -> Vec<f32> {
                if learn == Learn::Neuron {
                    (0..n)
                        .map(|k| if v.len() == 1 { v[0] } else { v[k] })
                        .collect()
                } else {
                    vec![v[0]]
                }
            };
            if !is_if {
                b.params
                    .push((format!("{i}.beta"), fill(&beta_f, s.learn_beta)));
            }
            b.params
                .push((format!("{i}.threshold"), fill(&theta_f, s.learn_threshold)));
            if let Some(w) = rec {
                let (weight, bias) = match &w.op {
                    Op::Linear { weight } => (weight, None),
                    Op::Affine { weight, bias } => (weight, Some(bias)),
                    _ => unreachable!("dense recurrent weights"),
                };
                if weight.shape != [n, n] {
                    return Err(Error::Invalid(format!(
                        "{at}: recurrent weights are {:?}, expected [{n}, {n}]",
                        weight.shape
                    )));
                }
                // NIR (to, from) → V [from][to].
                let mut v = vec![0.0f32; n * n];
                for to in 0..n {
                    for from in 0..n {
                        v[from * n + to] = weight.data[to * n + from] as f32;
                    }
                }
                b.params.push((format!("{i}.recurrent"), v));
                if let Some(bias) = bias.filter(|b| b.data.iter().any(|&x| x != 0.0)) {
                    // `last_weighted` is still the layer before this one.
                    let bv = bias.data.clone();
                    b.add_bias(at, "the recurrent Affine's bias", |o| at_neuron(&bv, o))?;
                    b.notes.push(format!(
                        "{at}: the recurrent bias folded into the bias before it"
                    ));
                }
            }
            if reset.is_none() && meta_text(&node.metadata, keys::RESET).is_none() {
                b.notes.push(format!(
                    "{at}: reset to zero (NIR's v_reset); pass reset = subtract for networks trained with reset by subtraction (snnTorch's default)"
                ));
            }
            b.after_spikes = true;
        }
    }
    Ok(())
}

/// The gain of a synaptic current that a CubaLIF can drop: with `τ_syn = dt` (Euler)
/// the current is the step's input times `w_in`; a real synaptic filter is refused.
fn synapse_gain(
    tau_syn: &Array,
    w_in: &Array,
    dt: f64,
    disc: Discretisation,
    at: &str,
) -> Result<f64> {
    let alpha: Vec<f64> = tau_syn.data.iter().map(|&t| disc.beta(dt, t)).collect();
    if alpha.iter().any(|&a| a.abs() > 1e-12) {
        return Err(Error::Invalid(format!(
            "{at}: the trainer has no synaptic-current neuron; a CubaLIF/CubaLI imports only with τ_syn = dt (no filtering), got τ_syn = {} s at dt = {dt} s",
            tau_syn.data.first().copied().unwrap_or(f64::NAN)
        )));
    }
    let w: Vec<f64> = w_in.data.clone();
    if w.is_empty() || !w.iter().all(|&x| x == w[0]) {
        return Err(Error::Invalid(format!(
            "{at}: `w_in` must be one value for all neurons"
        )));
    }
    Ok(w[0] * disc.input_factor(dt, tau_syn.data[0], alpha[0]))
}
