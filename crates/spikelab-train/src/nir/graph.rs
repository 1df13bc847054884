//! The NIR graph model: every node type NIR 1.0 defines ([`Op`]), graphs with nested
//! subgraphs and (recurrent) edges ([`NirGraph`]), metadata, and their translation to
//! and from the HDF5 tree of a `.nir` file ([`super::hdf5`]) in the layout of the
//! Python `nir` package (`/version`, `/node/type = "NIRGraph"`, `/node/nodes/<name>`,
//! `/node/edges` as an `E × 2` string array). Parameters keep their NIR meaning and
//! units (continuous time, seconds); the mapping to discrete-time layers is in
//! [`super::export`] and [`super::import`].

use super::hdf5::{Array, Dtype, Strings, Tree, Value};
use spikelab_core::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// The NIR version whose file layout this module writes.
pub const NIR_VERSION: &str = "1.0.8";

/// A NIR graph: named nodes, directed edges (cycles allowed), metadata.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct NirGraph {
    /// Nodes by name.
    pub nodes: BTreeMap<String, NirNode>,
    /// Edges `(from, to)`, in file order.
    pub edges: Vec<(String, String)>,
    /// Free-form metadata (numbers, strings, groups).
    pub metadata: Tree,
}

/// A node: its operation and its metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct NirNode {
    /// What the node computes.
    pub op: Op,
    /// Free-form metadata.
    pub metadata: Tree,
}

impl From<Op> for NirNode {
    fn from(op: Op) -> Self {
        NirNode {
            op,
            metadata: Tree::new(),
        }
    }
}

/// Padding of a convolution.
#[derive(Clone, Debug, PartialEq)]
pub enum Padding {
    /// Zeros on each side, per spatial dimension.
    Explicit(Vec<usize>),
    /// `"same"`: output as large as the input (stride 1).
    Same,
    /// `"valid"`: no padding.
    Valid,
}

/// Geometry of a 2-D pooling: `(height, width)` each.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool2d {
    /// Window.
    pub kernel_size: [usize; 2],
    /// Stride.
    pub stride: [usize; 2],
    /// Zero padding.
    pub padding: [usize; 2],
}

/// Every node type of NIR 1.0, with NIR's parameter names. Neuron equations (time in
/// seconds): LIF `τ·dv/dt = (v_leak − v) + R·I`, spike when `v > v_threshold`, then
/// `v = v_reset`; IF `dv/dt = R·I`; LI and I without spikes; CubaLIF/CubaLI add a
/// synaptic current `τ_syn·dI/dt = −I + w_in·S`.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum Op {
    /// Graph input of `shape`.
    Input { shape: Vec<usize> },
    /// Graph output of `shape`.
    Output { shape: Vec<usize> },
    /// `y = W·x + b`, `weight` `(out, in)`.
    Affine { weight: Array, bias: Array },
    /// `y = W·x`, `weight` `(out, in)`.
    Linear { weight: Array },
    /// `y = s ⊙ x`.
    Scale { scale: Array },
    /// 1-D convolution, `weight` `(C_out, C_in/groups, K)`.
    Conv1d {
        input_shape: Option<usize>,
        weight: Array,
        stride: usize,
        padding: Padding,
        dilation: usize,
        groups: usize,
        bias: Array,
    },
    /// 2-D convolution, `weight` `(C_out, C_in/groups, K_h, K_w)`.
    Conv2d {
        input_shape: Option<[usize; 2]>,
        weight: Array,
        stride: [usize; 2],
        padding: Padding,
        dilation: [usize; 2],
        groups: usize,
        bias: Array,
    },
    /// Sum over windows.
    SumPool2d(Pool2d),
    /// Mean over windows.
    AvgPool2d(Pool2d),
    /// Flatten dimensions `start_dim..=end_dim` (negative from the end).
    Flatten {
        input_type: Option<Vec<usize>>,
        start_dim: i64,
        end_dim: i64,
    },
    /// Delay each element by `delay` seconds.
    Delay { delay: Array },
    /// Integrator `dv/dt = R·I`.
    I { r: Array },
    /// Integrate-and-fire.
    If {
        r: Array,
        v_threshold: Array,
        v_reset: Array,
    },
    /// Leaky integrator.
    Li { tau: Array, r: Array, v_leak: Array },
    /// Leaky integrate-and-fire.
    Lif {
        tau: Array,
        r: Array,
        v_leak: Array,
        v_threshold: Array,
        v_reset: Array,
    },
    /// Current-based leaky integrator.
    CubaLi {
        tau_syn: Array,
        tau_mem: Array,
        r: Array,
        v_leak: Array,
        w_in: Array,
    },
    /// Current-based LIF.
    CubaLif {
        tau_syn: Array,
        tau_mem: Array,
        r: Array,
        v_leak: Array,
        v_threshold: Array,
        v_reset: Array,
        w_in: Array,
    },
    /// Heaviside `x > threshold`.
    Threshold { threshold: Array },
    /// A nested graph.
    Graph(NirGraph),
}

impl Op {
    /// The NIR type name (as in files).
    pub fn type_name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "Input",
            Op::Output { .. } => "Output",
            Op::Affine { .. } => "Affine",
            Op::Linear { .. } => "Linear",
            Op::Scale { .. } => "Scale",
            Op::Conv1d { .. } => "Conv1d",
            Op::Conv2d { .. } => "Conv2d",
            Op::SumPool2d(_) => "SumPool2d",
            Op::AvgPool2d(_) => "AvgPool2d",
            Op::Flatten { .. } => "Flatten",
            Op::Delay { .. } => "Delay",
            Op::I { .. } => "I",
            Op::If { .. } => "IF",
            Op::Li { .. } => "LI",
            Op::Lif { .. } => "LIF",
            Op::CubaLi { .. } => "CubaLI",
            Op::CubaLif { .. } => "CubaLIF",
            Op::Threshold { .. } => "Threshold",
            Op::Graph(_) => "NIRGraph",
        }
    }

    /// Every type name NIR 1.0 defines.
    pub const TYPES: [&'static str; 19] = [
        "Input",
        "Output",
        "Affine",
        "Linear",
        "Scale",
        "Conv1d",
        "Conv2d",
        "SumPool2d",
        "AvgPool2d",
        "Flatten",
        "Delay",
        "I",
        "IF",
        "LI",
        "LIF",
        "CubaLI",
        "CubaLIF",
        "Threshold",
        "NIRGraph",
    ];
}

impl NirGraph {
    /// Reads a `.nir` file.
    pub fn read(path: &Path) -> Result<Self> {
        let tree = super::hdf5::read_file(path)?;
        Self::from_file_tree(&tree, &path.display().to_string())
    }

    /// Reads a `.nir` file held in memory; `what` names it in errors.
    pub fn from_bytes(bytes: Vec<u8>, what: &str) -> Result<Self> {
        let tree = super::hdf5::read_bytes(bytes, what)?;
        Self::from_file_tree(&tree, what)
    }

    /// Writes the graph as a `.nir` file (atomically).
    pub fn write(&self, path: &Path) -> Result<()> {
        self.check("graph")?;
        super::hdf5::write_file(path, &self.to_file_tree())
    }

    /// The graph from the tree of a whole file.
    pub fn from_file_tree(tree: &Tree, what: &str) -> Result<Self> {
        let node = match tree.get("node") {
            Some(Value::Group(t)) => t,
            _ => {
                return Err(Error::Invalid(format!(
                    "{what}: no group `/node`: not a NIR file (a NIR file holds `/version` and the graph in `/node`)"
                )))
            }
        };
        let cx = Cx {
            what,
            path: "node".into(),
        };
        match NirNode::from_tree(node, &cx)?.op {
            Op::Graph(g) => {
                g.check(&format!("{what}: node"))?;
                Ok(g)
            }
            other => Err(Error::Invalid(format!(
                "{what}: `/node` is a {} node; a NIR file holds a NIRGraph there",
                other.type_name()
            ))),
        }
    }

    /// The tree of a whole file (`/version` and `/node`).
    pub fn to_file_tree(&self) -> Tree {
        let mut t = Tree::new();
        t.insert(
            "version".into(),
            Value::Strings(Strings::scalar(NIR_VERSION)),
        );
        let node = NirNode {
            op: Op::Graph(self.clone()),
            metadata: Tree::new(),
        };
        t.insert("node".into(), Value::Group(node.to_tree()));
        t
    }

    /// Checks that every edge names a node of this graph (or `sub.node` of a subgraph)
    /// and that the node parameters are consistent; `what` prefixes messages.
    pub fn check(&self, what: &str) -> Result<()> {
        for (a, b) in &self.edges {
            for end in [a, b] {
                if self.resolve(end).is_none() {
                    return Err(Error::Invalid(format!(
                        "{what}: edge ({a} → {b}) names `{end}`, which is no node of the graph; nodes: {}",
                        self.nodes.keys().cloned().collect::<Vec<_>>().join(", ")
                    )));
                }
            }
        }
        for (name, n) in &self.nodes {
            n.op.check(&format!("{what}.nodes.{name}"))?;
        }
        Ok(())
    }

    /// The node an edge end names: a node of this graph, or `sub.inner` for a node of
    /// subgraph `sub`.
    pub fn resolve(&self, name: &str) -> Option<&NirNode> {
        if let Some(n) = self.nodes.get(name) {
            return Some(n);
        }
        let (head, rest) = name.split_once('.')?;
        match &self.nodes.get(head)?.op {
            Op::Graph(g) => g.resolve(rest),
            _ => None,
        }
    }
}

/// Where in the file a value is read (for messages).
struct Cx<'a> {
    what: &'a str,
    path: String,
}

impl Cx<'_> {
    fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::Invalid(format!("{}: node `{}`: {msg}", self.what, self.path))
    }
    fn sub(&self, name: &str) -> Cx<'_> {
        Cx {
            what: self.what,
            path: format!("{}.{name}", self.path),
        }
    }
}

fn get<'t>(t: &'t Tree, key: &str, cx: &Cx) -> Result<&'t Value> {
    t.get(key)
        .ok_or_else(|| cx.err(format!("missing field `{key}`")))
}

fn array(t: &Tree, key: &str, cx: &Cx) -> Result<Array> {
    match get(t, key, cx)? {
        Value::Array(a) => Ok(a.clone()),
        _ => Err(cx.err(format!("field `{key}` must be a numeric array"))),
    }
}

fn string(t: &Tree, key: &str, cx: &Cx) -> Result<String> {
    match get(t, key, cx)? {
        Value::Strings(s) if s.values.len() == 1 => Ok(s.values[0].clone()),
        _ => Err(cx.err(format!("field `{key}` must be a string"))),
    }
}

fn to_count(x: f64, key: &str, cx: &Cx) -> Result<usize> {
    if x.fract() == 0.0 && x >= 0.0 && x <= (1u64 << 40) as f64 {
        Ok(x as usize)
    } else {
        Err(cx.err(format!(
            "field `{key}` must hold whole numbers ≥ 0 (got {x})"
        )))
    }
}

fn counts(t: &Tree, key: &str, cx: &Cx) -> Result<Vec<usize>> {
    let a = array(t, key, cx)?;
    a.data.iter().map(|&x| to_count(x, key, cx)).collect()
}

fn count(t: &Tree, key: &str, cx: &Cx) -> Result<usize> {
    let v = counts(t, key, cx)?;
    match v.as_slice() {
        [x] => Ok(*x),
        _ => Err(cx.err(format!(
            "field `{key}` must be one number (got {} values)",
            v.len()
        ))),
    }
}

/// An integer or a pair: `(h, w)`.
fn pair(t: &Tree, key: &str, cx: &Cx) -> Result<[usize; 2]> {
    let v = counts(t, key, cx)?;
    match v.as_slice() {
        [x] => Ok([*x, *x]),
        [h, w] => Ok([*h, *w]),
        _ => Err(cx.err(format!(
            "field `{key}` must be one number or two (got {})",
            v.len()
        ))),
    }
}

fn int(t: &Tree, key: &str, default: i64, cx: &Cx) -> Result<i64> {
    if !t.contains_key(key) {
        return Ok(default);
    }
    let a = array(t, key, cx)?;
    match a.data.as_slice() {
        [x] if x.fract() == 0.0 && x.abs() < 1e9 => Ok(*x as i64),
        _ => Err(cx.err(format!("field `{key}` must be one whole number"))),
    }
}

fn padding(t: &Tree, cx: &Cx) -> Result<Padding> {
    match get(t, "padding", cx)? {
        Value::Strings(s) if s.values.len() == 1 => match s.values[0].as_str() {
            "same" => Ok(Padding::Same),
            "valid" => Ok(Padding::Valid),
            other => Err(cx.err(format!(
                "field `padding` must be a number, `same` or `valid` (got `{other}`)"
            ))),
        },
        _ => Ok(Padding::Explicit(counts(t, "padding", cx)?)),
    }
}

/// `v_reset` is optional in files (zeros like `v_threshold`), as in `nir.read`.
fn v_reset(t: &Tree, thr: &Array, cx: &Cx) -> Result<Array> {
    if t.contains_key("v_reset") {
        array(t, "v_reset", cx)
    } else {
        Ok(Array::new(
            thr.dtype,
            thr.shape.clone(),
            vec![0.0; thr.data.len()],
        ))
    }
}

fn pool(t: &Tree, cx: &Cx) -> Result<Pool2d> {
    Ok(Pool2d {
        kernel_size: pair(t, "kernel_size", cx)?,
        stride: pair(t, "stride", cx)?,
        padding: pair(t, "padding", cx)?,
    })
}

fn ints(v: &[usize]) -> Value {
    Value::Array(Array::vector(
        Dtype::I64,
        v.iter().map(|&x| x as f64).collect(),
    ))
}

fn int_scalar(v: i64) -> Value {
    Value::Array(Array::scalar(Dtype::I64, v as f64))
}

impl NirNode {
    fn from_tree(t: &Tree, cx: &Cx) -> Result<Self> {
        let ty = string(t, "type", cx)?;
        let op = match ty.as_str() {
            "Input" => Op::Input {
                shape: counts(t, "shape", cx)?,
            },
            "Output" => Op::Output {
                shape: counts(t, "shape", cx)?,
            },
            "Affine" => Op::Affine {
                weight: array(t, "weight", cx)?,
                bias: array(t, "bias", cx)?,
            },
            "Linear" => Op::Linear {
                weight: array(t, "weight", cx)?,
            },
            "Scale" => Op::Scale {
                scale: array(t, "scale", cx)?,
            },
            "Conv1d" => Op::Conv1d {
                input_shape: if t.contains_key("input_shape") {
                    Some(count(t, "input_shape", cx)?)
                } else {
                    None
                },
                weight: array(t, "weight", cx)?,
                stride: count(t, "stride", cx)?,
                padding: padding(t, cx)?,
                dilation: count(t, "dilation", cx)?,
                groups: count(t, "groups", cx)?,
                bias: array(t, "bias", cx)?,
            },
            "Conv2d" => Op::Conv2d {
                input_shape: if t.contains_key("input_shape") {
                    Some(pair(t, "input_shape", cx)?)
                } else {
                    None
                },
                weight: array(t, "weight", cx)?,
                stride: pair(t, "stride", cx)?,
                padding: padding(t, cx)?,
                dilation: pair(t, "dilation", cx)?,
                groups: count(t, "groups", cx)?,
                bias: array(t, "bias", cx)?,
            },
            "SumPool2d" => Op::SumPool2d(pool(t, cx)?),
            "AvgPool2d" => Op::AvgPool2d(pool(t, cx)?),
            "Flatten" => Op::Flatten {
                input_type: if t.contains_key("input_type") {
                    match t.get("input_type") {
                        Some(Value::Group(g)) => match g.get("input") {
                            Some(Value::Array(_)) => Some(counts(g, "input", cx)?),
                            _ => None,
                        },
                        _ => Some(counts(t, "input_type", cx)?),
                    }
                } else {
                    None
                },
                start_dim: int(t, "start_dim", 1, cx)?,
                end_dim: int(t, "end_dim", -1, cx)?,
            },
            "Delay" => Op::Delay {
                delay: array(t, "delay", cx)?,
            },
            "I" => Op::I {
                r: array(t, "r", cx)?,
            },
            "IF" => {
                let v_threshold = array(t, "v_threshold", cx)?;
                Op::If {
                    r: array(t, "r", cx)?,
                    v_reset: v_reset(t, &v_threshold, cx)?,
                    v_threshold,
                }
            }
            "LI" => Op::Li {
                tau: array(t, "tau", cx)?,
                r: array(t, "r", cx)?,
                v_leak: array(t, "v_leak", cx)?,
            },
            "LIF" => {
                let v_threshold = array(t, "v_threshold", cx)?;
                Op::Lif {
                    tau: array(t, "tau", cx)?,
                    r: array(t, "r", cx)?,
                    v_leak: array(t, "v_leak", cx)?,
                    v_reset: v_reset(t, &v_threshold, cx)?,
                    v_threshold,
                }
            }
            "CubaLI" => Op::CubaLi {
                tau_syn: array(t, "tau_syn", cx)?,
                tau_mem: array(t, "tau_mem", cx)?,
                r: array(t, "r", cx)?,
                v_leak: array(t, "v_leak", cx)?,
                w_in: array(t, "w_in", cx)?,
            },
            "CubaLIF" => {
                let v_threshold = array(t, "v_threshold", cx)?;
                Op::CubaLif {
                    tau_syn: array(t, "tau_syn", cx)?,
                    tau_mem: array(t, "tau_mem", cx)?,
                    r: array(t, "r", cx)?,
                    v_leak: array(t, "v_leak", cx)?,
                    v_reset: v_reset(t, &v_threshold, cx)?,
                    w_in: array(t, "w_in", cx)?,
                    v_threshold,
                }
            }
            "Threshold" => Op::Threshold {
                threshold: array(t, "threshold", cx)?,
            },
            "NIRGraph" => {
                let nodes_t = match get(t, "nodes", cx)? {
                    Value::Group(g) => g,
                    _ => return Err(cx.err("field `nodes` must be a group")),
                };
                let mut nodes = BTreeMap::new();
                for (name, v) in nodes_t {
                    let sub = cx.sub(name);
                    match v {
                        Value::Group(g) => {
                            nodes.insert(name.clone(), NirNode::from_tree(g, &sub)?);
                        }
                        _ => return Err(sub.err("a node must be a group")),
                    }
                }
                let edges = match t.get("edges") {
                    Some(Value::Strings(s)) => {
                        if s.values.is_empty() {
                            Vec::new()
                        } else if s.shape.len() == 2 && s.shape[1] == 2 {
                            s.values
                                .chunks(2)
                                .map(|p| (p[0].clone(), p[1].clone()))
                                .collect()
                        } else {
                            return Err(cx.err(format!(
                                "field `edges` must be an E × 2 array of node names (got shape {:?})",
                                s.shape
                            )));
                        }
                    }
                    // An empty edge list is written by h5py as an empty float array.
                    Some(Value::Array(a)) if a.is_empty() => Vec::new(),
                    None => Vec::new(),
                    _ => return Err(cx.err("field `edges` must be an E × 2 array of node names")),
                };
                Op::Graph(NirGraph {
                    nodes,
                    edges,
                    metadata: Tree::new(),
                })
            }
            other => {
                return Err(cx.err(format!(
                    "unknown node type `{other}`; NIR 1.0 defines {}",
                    Op::TYPES.join(", ")
                )))
            }
        };
        let metadata = match t.get("metadata") {
            Some(Value::Group(g)) => g.clone(),
            _ => Tree::new(),
        };
        let mut node = NirNode { op, metadata };
        if let Op::Graph(g) = &mut node.op {
            g.metadata = std::mem::take(&mut node.metadata);
        }
        Ok(node)
    }

    fn to_tree(&self) -> Tree {
        let mut t = Tree::new();
        let arr = |a: &Array| Value::Array(a.clone());
        let mut put = |k: &str, v: Value| {
            t.insert(k.to_string(), v);
        };
        put("type", Value::Strings(Strings::scalar(self.op.type_name())));
        let mut metadata = self.metadata.clone();
        match &self.op {
            Op::Input { shape } | Op::Output { shape } => put("shape", ints(shape)),
            Op::Affine { weight, bias } => {
                put("weight", arr(weight));
                put("bias", arr(bias));
            }
            Op::Linear { weight } => put("weight", arr(weight)),
            Op::Scale { scale } => put("scale", arr(scale)),
            Op::Conv1d {
                input_shape,
                weight,
                stride,
                padding,
                dilation,
                groups,
                bias,
            } => {
                if let Some(n) = input_shape {
                    put("input_shape", int_scalar(*n as i64));
                }
                put("weight", arr(weight));
                put("stride", int_scalar(*stride as i64));
                put("padding", padding_value(padding, true));
                put("dilation", int_scalar(*dilation as i64));
                put("groups", int_scalar(*groups as i64));
                put("bias", arr(bias));
            }
            Op::Conv2d {
                input_shape,
                weight,
                stride,
                padding,
                dilation,
                groups,
                bias,
            } => {
                if let Some(s) = input_shape {
                    put("input_shape", ints(s));
                }
                put("weight", arr(weight));
                put("stride", ints(stride));
                put("padding", padding_value(padding, false));
                put("dilation", ints(dilation));
                put("groups", int_scalar(*groups as i64));
                put("bias", arr(bias));
            }
            Op::SumPool2d(p) | Op::AvgPool2d(p) => {
                put("kernel_size", ints(&p.kernel_size));
                put("stride", ints(&p.stride));
                put("padding", ints(&p.padding));
            }
            Op::Flatten {
                input_type,
                start_dim,
                end_dim,
            } => {
                if let Some(s) = input_type {
                    put("input_type", ints(s));
                }
                put("start_dim", int_scalar(*start_dim));
                put("end_dim", int_scalar(*end_dim));
            }
            Op::Delay { delay } => put("delay", arr(delay)),
            Op::I { r } => put("r", arr(r)),
            Op::If {
                r,
                v_threshold,
                v_reset,
            } => {
                put("r", arr(r));
                put("v_threshold", arr(v_threshold));
                put("v_reset", arr(v_reset));
            }
            Op::Li { tau, r, v_leak } => {
                put("tau", arr(tau));
                put("r", arr(r));
                put("v_leak", arr(v_leak));
            }
            Op::Lif {
                tau,
                r,
                v_leak,
                v_threshold,
                v_reset,
            } => {
                put("tau", arr(tau));
                put("r", arr(r));
                put("v_leak", arr(v_leak));
                put("v_threshold", arr(v_threshold));
                put("v_reset", arr(v_reset));
            }
            Op::CubaLi {
                tau_syn,
                tau_mem,
                r,
                v_leak,
                w_in,
            } => {
                put("tau_syn", arr(tau_syn));
                put("tau_mem", arr(tau_mem));
                put("r", arr(r));
                put("v_leak", arr(v_leak));
                put("w_in", arr(w_in));
            }
            Op::CubaLif {
                tau_syn,
                tau_mem,
                r,
                v_leak,
                v_threshold,
                v_reset,
                w_in,
            } => {
                put("tau_syn", arr(tau_syn));
                put("tau_mem", arr(tau_mem));
                put("r", arr(r));
                put("v_leak", arr(v_leak));
                put("v_threshold", arr(v_threshold));
                put("v_reset", arr(v_reset));
                put("w_in", arr(w_in));
            }
            Op::Threshold { threshold } => put("threshold", arr(threshold)),
            Op::Graph(g) => {
                let nodes: Tree = g
                    .nodes
                    .iter()
                    .map(|(k, n)| (k.clone(), Value::Group(n.to_tree())))
                    .collect();
                put("nodes", Value::Group(nodes));
                let values: Vec<String> = g
                    .edges
                    .iter()
                    .flat_map(|(a, b)| [a.clone(), b.clone()])
                    .collect();
                put(
                    "edges",
                    Value::Strings(Strings {
                        shape: vec![g.edges.len(), 2],
                        values,
                    }),
                );
                metadata.extend(g.metadata.clone());
            }
        }
        if !metadata.is_empty() {
            t.insert("metadata".into(), Value::Group(metadata));
        }
        t
    }
}

fn padding_value(p: &Padding, scalar: bool) -> Value {
    match p {
        Padding::Same => Value::Strings(Strings::scalar("same")),
        Padding::Valid => Value::Strings(Strings::scalar("valid")),
        Padding::Explicit(v) if scalar && v.len() == 1 => int_scalar(v[0] as i64),
        Padding::Explicit(v) => ints(v),
    }
}

impl Op {
    /// Checks the shapes of the node's parameters against each other; `at` names the
    /// node in messages.
    pub fn check(&self, at: &str) -> Result<()> {
        let err = |m: String| Err(Error::Invalid(format!("{at} ({}): {m}", self.type_name())));
        let same = |arrays: &[(&str, &Array)]| -> Result<()> {
            let (n0, a0) = arrays[0];
            for (n, a) in &arrays[1..] {
                if a.len() != a0.len() && a.len() != 1 && a0.len() != 1 {
                    return Err(Error::Invalid(format!(
                        "{at} ({}): `{n}` has {} values but `{n0}` has {}",
                        self.type_name(),
                        a.len(),
                        a0.len()
                    )));
                }
            }
            Ok(())
        };
        match self {
            Op::Affine { weight, bias } => {
                if weight.shape.len() != 2 {
                    return err(format!("`weight` must be 2-D (got {:?})", weight.shape));
                }
                if bias.len() != weight.shape[0] {
                    return err(format!(
                        "`bias` has {} values for {} outputs",
                        bias.len(),
                        weight.shape[0]
                    ));
                }
            }
            Op::Linear { weight } if weight.shape.len() != 2 => {
                return err(format!("`weight` must be 2-D (got {:?})", weight.shape));
            }
            Op::Conv1d { weight, bias, .. } | Op::Conv2d { weight, bias, .. } => {
                let rank = if matches!(self, Op::Conv1d { .. }) {
                    3
                } else {
                    4
                };
                if weight.shape.len() != rank {
                    return err(format!(
                        "`weight` must have {rank} dimensions (got {:?})",
                        weight.shape
                    ));
                }
                if bias.len() != weight.shape[0] && bias.len() > 1 {
                    return err(format!(
                        "`bias` has {} values for {} output channels",
                        bias.len(),
                        weight.shape[0]
                    ));
                }
            }
            Op::If {
                r,
                v_threshold,
                v_reset,
            } => same(&[("v_threshold", v_threshold), ("r", r), ("v_reset", v_reset)])?,
            Op::Li { tau, r, v_leak } => same(&[("tau", tau), ("r", r), ("v_leak", v_leak)])?,
            Op::Lif {
                tau,
                r,
                v_leak,
                v_threshold,
                v_reset,
            } => same(&[
                ("tau", tau),
                ("r", r),
                ("v_leak", v_leak),
                ("v_threshold", v_threshold),
                ("v_reset", v_reset),
            ])?,
            Op::CubaLi {
                tau_syn,
                tau_mem,
                r,
                v_leak,
                w_in,
            } => same(&[
                ("tau_mem", tau_mem),
                ("tau_syn", tau_syn),
                ("r", r),
                ("v_leak", v_leak),
                ("w_in", w_in),
            ])?,
            Op::CubaLif {
                tau_syn,
                tau_mem,
                r,
                v_leak,
                v_threshold,
                v_reset,
                w_in,
            } => same(&[
                ("tau_mem", tau_mem),
                ("tau_syn", tau_syn),
                ("r", r),
                ("v_leak", v_leak),
                ("v_threshold", v_threshold),
                ("v_reset", v_reset),
                ("w_in", w_in),
            ])?,
            Op::Graph(g) => g.check(at)?,
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: usize, x: f64) -> Array {
        Array::vector(Dtype::F64, vec![x; n])
    }

    /// A graph with one node of every type (and a subgraph).
    pub(crate) fn every_node_type() -> NirGraph {
        let w = |shape: Vec<usize>| {
            let n = shape.iter().product::<usize>();
            Array::from_f32(
                shape,
                &(0..n).map(|i| i as f32 * 0.25 - 1.0).collect::<Vec<_>>(),
            )
        };
        let pool = Pool2d {
            kernel_size: [2, 2],
            stride: [2, 2],
            padding: [0, 0],
        };
        let mut sub = NirGraph::default();
        sub.nodes
            .insert("input".into(), Op::Input { shape: vec![4] }.into());
        sub.nodes
            .insert("output".into(), Op::Output { shape: vec![4] }.into());
        sub.nodes.insert(
            "lif".into(),
            Op::Lif {
                tau: v(4, 0.02),
                r: v(4, 1.0),
                v_leak: v(4, 0.0),
                v_threshold: v(4, 1.0),
                v_reset: v(4, 0.0),
            }
            .into(),
        );
        sub.nodes.insert(
            "w_rec".into(),
            Op::Linear {
                weight: w(vec![4, 4]),
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
        sub.metadata
            .insert("note".into(), Value::Strings(Strings::scalar("recurrent")));
        let ops = vec![
            (
                "input",
                Op::Input {
                    shape: vec![2, 6, 6],
                },
            ),
            (
                "conv2d",
                Op::Conv2d {
                    input_shape: Some([6, 6]),
                    weight: w(vec![3, 2, 3, 3]),
                    stride: [1, 1],
                    padding: Padding::Explicit(vec![1, 1]),
                    dilation: [1, 1],
                    groups: 1,
                    bias: w(vec![3]),
                },
            ),
            (
                "conv1d",
                Op::Conv1d {
                    input_shape: Some(6),
                    weight: w(vec![3, 2, 3]),
                    stride: 1,
                    padding: Padding::Same,
                    dilation: 1,
                    groups: 1,
                    bias: w(vec![3]),
                },
            ),
            ("sumpool", Op::SumPool2d(pool.clone())),
            ("avgpool", Op::AvgPool2d(pool)),
            (
                "flatten",
                Op::Flatten {
                    input_type: Some(vec![3, 3, 3]),
                    start_dim: 0,
                    end_dim: -1,
                },
            ),
            (
                "affine",
                Op::Affine {
                    weight: w(vec![4, 27]),
                    bias: w(vec![4]),
                },
            ),
            (
                "linear",
                Op::Linear {
                    weight: w(vec![4, 4]),
                },
            ),
            ("scale", Op::Scale { scale: w(vec![4]) }),
            ("delay", Op::Delay { delay: v(4, 0.002) }),
            ("i", Op::I { r: v(4, 1.0) }),
            (
                "if",
                Op::If {
                    r: v(4, 1.0),
                    v_threshold: v(4, 1.0),
                    v_reset: v(4, 0.0),
                },
            ),
            (
                "li",
                Op::Li {
                    tau: v(4, 0.02),
                    r: v(4, 1.0),
                    v_leak: v(4, 0.0),
                },
            ),
            (
                "lif",
                Op::Lif {
                    tau: v(4, 0.02),
                    r: v(4, 1.0),
                    v_leak: v(4, 0.0),
                    v_threshold: v(4, 1.0),
                    v_reset: v(4, 0.0),
                },
            ),
            (
                "cubali",
                Op::CubaLi {
                    tau_syn: v(4, 0.005),
                    tau_mem: v(4, 0.02),
                    r: v(4, 1.0),
                    v_leak: v(4, 0.0),
                    w_in: v(4, 1.0),
                },
            ),
            (
                "cubalif",
                Op::CubaLif {
                    tau_syn: v(4, 0.005),
                    tau_mem: v(4, 0.02),
                    r: v(4, 1.0),
                    v_leak: v(4, 0.0),
                    v_threshold: v(4, 1.0),
                    v_reset: v(4, 0.0),
                    w_in: v(4, 1.0),
                },
            ),
            (
                "threshold",
                Op::Threshold {
                    threshold: v(4, 0.5),
                },
            ),
            ("rnn", Op::Graph(sub)),
            ("output", Op::Output { shape: vec![4] }),
        ];
        let mut g = NirGraph::default();
        for (name, op) in ops {
            g.nodes.insert(name.into(), op.into());
        }
        g.edges = [
            ("input", "conv2d"),
            ("conv2d", "sumpool"),
            ("sumpool", "flatten"),
            ("flatten", "affine"),
            ("affine", "rnn"),
            ("rnn", "output"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        g.metadata
            .insert("dt".into(), Value::Array(Array::scalar(Dtype::F64, 1e-3)));
        g
    }

    #[test]
    fn every_node_type_round_trips_through_a_file() {
        let g = every_node_type();
        let types: std::collections::BTreeSet<&str> =
            g.nodes.values().map(|n| n.op.type_name()).collect();
        assert_eq!(types.len(), Op::TYPES.len());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("all.nir");
        g.write(&p).unwrap();
        assert_eq!(NirGraph::read(&p).unwrap(), g);
    }

    #[test]
    fn bad_graphs_name_the_node() {
        let mut g = every_node_type();
        g.edges.push(("affine".into(), "nowhere".into()));
        let e = g.check("g").unwrap_err().to_string();
        assert!(e.contains("`nowhere`"), "{e}");
        let mut g = every_node_type();
        g.nodes.insert(
            "affine".into(),
            Op::Affine {
                weight: v(4, 1.0),
                bias: v(4, 0.0),
            }
            .into(),
        );
        let e = g.check("g").unwrap_err().to_string();
        assert!(e.contains("g.nodes.affine (Affine)"), "{e}");
        assert!(e.contains("2-D"), "{e}");
        // An unknown node type in a file.
        let mut tree = every_node_type().to_file_tree();
        if let Some(Value::Group(node)) = tree.get_mut("node") {
            if let Some(Value::Group(nodes)) = node.get_mut("nodes") {
                if let Some(Value::Group(lif)) = nodes.get_mut("lif") {
                    lif.insert("type".into(), Value::Strings(Strings::scalar("Izhikevich")));
                }
            }
        }
        let e = NirGraph::from_file_tree(&tree, "f.nir")
            .unwrap_err()
            .to_string();
        assert!(e.contains("node `node.lif`"), "{e}");
        assert!(e.contains("unknown node type `Izhikevich`"), "{e}");
        // A file without a graph.
        let e = NirGraph::from_file_tree(&Tree::new(), "f.nir")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a NIR file"), "{e}");
    }
}
