//! A network: an input shape and a sequence of layers, described as data
//! ([`NetSpec`], serde, saved with every model) and built into layers with weights
//! ([`Network`]). Build it from Rust with the builder methods, from JSON, or from a text
//! architecture such as `784-1000-10` or `12C5-MP2-64C5-MP2-10` ([`crate::nn::arch`]).
//!
//! ```
//! use spikelab_train::nn::network::{NetSpec, Network};
//! use spikelab_train::nn::layers::spiking::SpikingSpec;
//! use spikelab_train::nn::tensor::FeatShape;
//!
//! let spec = NetSpec::new(FeatShape::flat(784))
//!     .linear(100)
//!     .lif(SpikingSpec::default())
//!     .linear(10)
//!     .lif(SpikingSpec::default());
//! let net = Network::build(&spec, 25, 1).unwrap();
//! assert_eq!(net.num_params(), 784 * 100 + 100 + 100 * 10 + 10);
//! ```

use crate::nn::kernels::conv::ConvGeom;
use crate::nn::layers::batchnorm::BatchNorm;
use crate::nn::layers::conv::Conv2d;
use crate::nn::layers::dropout::Dropout;
use crate::nn::layers::flatten::Flatten;
use crate::nn::layers::fused::{self, BlockGrad};
use crate::nn::layers::linear::Linear;
use crate::nn::layers::pool::{AvgPool2d, MaxPool2d, PoolGeom};
use crate::nn::layers::readout::Readout;
use crate::nn::layers::recurrent::RecurrentLif;
use crate::nn::layers::relu::Relu;
use crate::nn::layers::residual::{Residual, ResidualOp};
use crate::nn::layers::slstm::{Slstm, SlstmSpec};
use crate::nn::layers::spiking::{Learn, Spiking, SpikingModel, SpikingSpec};
use crate::nn::layers::{Layer, Param, Pass};
use crate::nn::tensor::{Activation, FeatShape, Tensor};
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};
use spikelab_core::neuron::lif::Adaptation;

fn yes() -> bool {
    true
}
fn one() -> usize {
    1
}
fn bn_eps() -> f32 {
    1e-5
}
fn bn_momentum() -> f32 {
    0.1
}

/// Parameters of an adaptive LIF layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlifSpec {
    /// The LIF parameters (θ is the base threshold).
    #[serde(default)]
    pub neuron: SpikingSpec,
    /// Decay of the adaptation variable per step, in [0, 1].
    pub rho: f32,
    /// Threshold increase per unit of adaptation (≥ 0).
    pub gamma: f32,
}

impl AlifSpec {
    /// The adaptation parameters (ρ, γ) of the model.
    pub fn adaptation(&self) -> Adaptation {
        Adaptation {
            rho: self.rho,
            gamma: self.gamma,
        }
    }
}

/// One layer of a [`NetSpec`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    /// Fully connected layer to `out` features.
    Linear {
        /// Output features.
        out: usize,
        /// With a bias.
        #[serde(default = "yes")]
        bias: bool,
    },
    /// 2-D convolution with a square kernel.
    Conv2d {
        /// Output channels.
        channels: usize,
        /// Kernel size.
        kernel: usize,
        /// Stride.
        #[serde(default = "one")]
        stride: usize,
        /// Zero padding on each side.
        #[serde(default)]
        padding: usize,
        /// With a bias.
        #[serde(default = "yes")]
        bias: bool,
    },
    /// Max pooling (`stride` defaults to `kernel`).
    MaxPool2d {
        /// Window size.
        kernel: usize,
        /// Stride.
        #[serde(default)]
        stride: Option<usize>,
    },
    /// Average pooling (`stride` defaults to `kernel`).
    AvgPool2d {
        /// Window size.
        kernel: usize,
        /// Stride.
        #[serde(default)]
        stride: Option<usize>,
    },
    /// Image to vector.
    Flatten,
    /// Dropout with probability `p`, one mask per sample for all steps.
    Dropout {
        /// Drop probability in [0, 1).
        p: f32,
    },
    /// Batch normalisation through time.
    BatchNorm {
        /// Separate statistics and parameters per time step (BNTT).
        #[serde(default)]
        per_step: bool,
        /// Added to the variance.
        #[serde(default = "bn_eps")]
        eps: f32,
        /// Running-statistics momentum.
        #[serde(default = "bn_momentum")]
        momentum: f32,
    },
    /// Rectifier (ANN layers).
    Relu,
    /// Leaky integrate-and-fire neurons.
    Lif(SpikingSpec),
    /// Integrate-and-fire neurons (β = 1).
    If(SpikingSpec),
    /// Adaptive LIF neurons.
    Alif(AlifSpec),
    /// Recurrent LIF neurons (all-to-all recurrent weights).
    Rlif(SpikingSpec),
    /// Recurrent adaptive LIF neurons (an LSNN layer, Bellec et al. 2018).
    Ralif(AlifSpec),
    /// Spiking LSTM (snnTorch's SLSTM) on the `4·hidden` gate pre-activations of the
    /// linear layer before it.
    Slstm(SlstmSpec),
    /// Leaky-integrator readout (non-spiking; its membrane is the output).
    Readout {
        /// Decay per step in [0, 1].
        beta: f32,
        /// Train β.
        #[serde(default)]
        learn_beta: bool,
    },
    /// A residual block: `op(body(x), shortcut(x))` ([`Residual`]), the shortcut the
    /// identity when it has no layers — SEW-ResNet's spike-element-wise blocks, or the
    /// spiking ResNet's (add, then the neurons of the next layer).
    Residual {
        /// Layers of the main path.
        body: Vec<LayerSpec>,
        /// Layers of the shortcut (none: the identity).
        #[serde(default)]
        shortcut: Vec<LayerSpec>,
        /// How the paths join.
        #[serde(default)]
        op: ResidualOp,
    },
}

impl LayerSpec {
    /// Short name.
    pub fn name(&self) -> &'static str {
        match self {
            LayerSpec::Linear { .. } => "linear",
            LayerSpec::Conv2d { .. } => "conv2d",
            LayerSpec::MaxPool2d { .. } => "max_pool2d",
            LayerSpec::AvgPool2d { .. } => "avg_pool2d",
            LayerSpec::Flatten => "flatten",
            LayerSpec::Dropout { .. } => "dropout",
            LayerSpec::BatchNorm { .. } => "batch_norm",
            LayerSpec::Relu => "relu",
            LayerSpec::Lif(_) => "lif",
            LayerSpec::If(_) => "if",
            LayerSpec::Alif(_) => "alif",
            LayerSpec::Rlif(_) => "rlif",
            LayerSpec::Ralif(_) => "ralif",
            LayerSpec::Slstm(_) => "slstm",
            LayerSpec::Readout { .. } => "readout",
            LayerSpec::Residual { .. } => "residual",
        }
    }
}

/// A network description: input shape and layers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetSpec {
    /// Shape of one input sample.
    pub input: FeatShape,
    /// Layers, first to last.
    pub layers: Vec<LayerSpec>,
}

impl NetSpec {
    /// An empty network on inputs of `input` shape.
    pub fn new(input: FeatShape) -> Self {
        NetSpec {
            input,
            layers: Vec::new(),
        }
    }
    /// Appends a layer.
    pub fn layer(mut self, l: LayerSpec) -> Self {
        self.layers.push(l);
        self
    }
    /// Appends a fully connected layer with bias.
    pub fn linear(self, out: usize) -> Self {
        self.layer(LayerSpec::Linear { out, bias: true })
    }
    /// Appends a convolution (stride 1, no padding, bias).
    pub fn conv(self, channels: usize, kernel: usize) -> Self {
        self.layer(LayerSpec::Conv2d {
            channels,
            kernel,
            stride: 1,
            padding: 0,
            bias: true,
        })
    }
    /// Appends max pooling.
    pub fn max_pool(self, kernel: usize) -> Self {
        self.layer(LayerSpec::MaxPool2d {
            kernel,
            stride: None,
        })
    }
    /// Appends a flatten.
    pub fn flatten(self) -> Self {
        self.layer(LayerSpec::Flatten)
    }
    /// Appends LIF neurons.
    pub fn lif(self, spec: SpikingSpec) -> Self {
        self.layer(LayerSpec::Lif(spec))
    }

    /// Parses a JSON description; `what` names the source in errors.
    pub fn from_json(text: &str, what: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| Error::Parse {
            path: what.into(),
            message: e.to_string(),
        })
    }
    /// The JSON description.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("NetSpec serialises")
    }

    /// Output shape of each layer, checking every layer against its input; errors
    /// name the layer (`layer[3].kernel`).
    pub fn shapes(&self) -> Result<Vec<FeatShape>> {
        let mut shape = self.input;
        match shape.checked_len() {
            None => return Err(Error::field("input", too_many_features(shape))),
            Some(0) => return Err(Error::field("input", "the input has no features")),
            Some(_) => {}
        }
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let f = format!("layer[{i}]");
            let need_image = |what: &str| -> Result<()> {
                if shape.is_flat() {
                    Err(Error::field(
                        f.clone(),
                        format!("{what} needs an image input (CxHxW), got a vector of {shape}"),
                    ))
                } else {
                    Ok(())
                }
            };
            let positive = |name: &str, v: usize| -> Result<()> {
                if v == 0 {
                    Err(Error::field(format!("{f}.{name}"), "must be at least 1"))
                } else {
                    Ok(())
                }
            };
            shape = match l {
                LayerSpec::Linear { out, .. } => {
                    positive("out", *out)?;
                    FeatShape::flat(*out)
                }
                LayerSpec::Conv2d {
                    channels,
                    kernel,
                    stride,
                    padding,
                    ..
                } => {
                    need_image("conv2d")?;
                    positive("channels", *channels)?;
                    positive("kernel", *kernel)?;
                    positive("stride", *stride)?;
                    let g = conv_geom(shape, *channels, *kernel, *stride, *padding).ok_or_else(|| {
                        Error::field(
                            format!("{f}.kernel"),
                            format!("a {kernel}x{kernel} kernel (padding {padding}) does not fit the {shape} input"),
                        )
                    })?;
                    FeatShape::image(g.c_out, g.h_out, g.w_out)
                }
                LayerSpec::MaxPool2d { kernel, stride }
                | LayerSpec::AvgPool2d { kernel, stride } => {
                    need_image("pooling")?;
                    positive("kernel", *kernel)?;
                    let s = stride.unwrap_or(*kernel);
                    positive("stride", s)?;
                    let g = PoolGeom::new(shape, *kernel, s).ok_or_else(|| {
                        Error::field(
                            format!("{f}.kernel"),
                            format!("a {kernel}x{kernel} window does not fit the {shape} input"),
                        )
                    })?;
                    FeatShape::image(g.c, g.h_out, g.w_out)
                }
                LayerSpec::Flatten => FeatShape::flat(shape.len()),
                LayerSpec::Dropout { p } => {
                    if !(0.0..1.0).contains(p) {
                        return Err(Error::field(
                            format!("{f}.p"),
                            format!("must be in [0, 1) (got {p})"),
                        ));
                    }
                    shape
                }
                LayerSpec::BatchNorm { eps, momentum, .. } => {
                    if !(eps.is_finite() && *eps > 0.0) {
                        return Err(Error::field(format!("{f}.eps"), "must be > 0"));
                    }
                    if !(0.0..=1.0).contains(momentum) {
                        return Err(Error::field(format!("{f}.momentum"), "must be in [0, 1]"));
                    }
                    shape
                }
                LayerSpec::Relu => shape,
                LayerSpec::Lif(s) | LayerSpec::If(s) => {
                    s.validate(&f)?;
                    shape
                }
                LayerSpec::Alif(a) => {
                    a.neuron.validate(&format!("{f}.neuron"))?;
                    a.adaptation().validate(&f)?;
                    shape
                }
                LayerSpec::Rlif(s) | LayerSpec::Ralif(AlifSpec { neuron: s, .. }) => {
                    s.validate(&f)?;
                    if let LayerSpec::Ralif(a) = l {
                        a.adaptation().validate(&f)?;
                    }
                    if !shape.is_flat() {
                        return Err(Error::field(
                            f,
                            format!("a recurrent LIF layer needs a vector input (add a flatten); got {shape}"),
                        ));
                    }
                    shape
                }
                LayerSpec::Slstm(s) => {
                    s.validate(&f)?;
                    if shape.len() != 4 * s.hidden || !shape.is_flat() {
                        return Err(Error::field(
                            f,
                            format!(
                                "a spiking LSTM of {} units takes the 4 × {} gate inputs of a linear layer; got {shape}",
                                s.hidden, s.hidden
                            ),
                        ));
                    }
                    FeatShape::flat(s.hidden)
                }
                LayerSpec::Residual { body, shortcut, .. } => {
                    if body.is_empty() {
                        return Err(Error::field(
                            format!("{f}.body"),
                            "a residual block needs at least one layer on its main path",
                        ));
                    }
                    let path = |layers: &[LayerSpec], what: &str| -> Result<FeatShape> {
                        if layers.is_empty() {
                            return Ok(shape);
                        }
                        let sub = NetSpec {
                            input: shape,
                            layers: layers.to_vec(),
                        };
                        sub.shapes()
                            .map(|v| *v.last().expect("non-empty"))
                            .map_err(|e| Error::field(format!("{f}.{what}"), e.to_string()))
                    };
                    let (a, b) = (path(body, "body")?, path(shortcut, "shortcut")?);
                    if a != b {
                        return Err(Error::field(
                            f,
                            format!(
                                "the main path gives {a} but the shortcut {b}; give the shortcut layers (e.g. a 1x1 convolution) that match"
                            ),
                        ));
                    }
                    a
                }
                LayerSpec::Readout { beta, .. } => {
                    if !(0.0..=1.0).contains(beta) {
                        return Err(Error::field(format!("{f}.beta"), "must be in [0, 1]"));
                    }
                    if !shape.is_flat() {
                        return Err(Error::field(
                            f,
                            format!("the readout needs a vector input; got {shape}"),
                        ));
                    }
                    shape
                }
            };
            if shape.checked_len().is_none() {
                return Err(Error::field(f, too_many_features(shape)));
            }
            out.push(shape);
        }
        if out.is_empty() {
            return Err(Error::field("layers", "the network has no layers"));
        }
        Ok(out)
    }

    /// Number of parameter and buffer values of each layer built for `steps` steps
    /// (what [`Network::build`] allocates, values and gradients), computed without
    /// building anything; an error names a layer whose count overflows. Loaders check it
    /// against the values a file holds before they build the network it describes.
    pub fn param_values(&self, steps: usize) -> Result<Vec<usize>> {
        let shapes = self.shapes()?;
        let mut input = self.input;
        let mut counts = Vec::with_capacity(self.layers.len());
        for (i, (l, &shape)) in self.layers.iter().zip(&shapes).enumerate() {
            let n = input.len();
            let with_bias =
                |w: Option<usize>, bias: bool, b: usize| w?.checked_add(if bias { b } else { 0 });
            let count = match l {
                LayerSpec::Linear { out, bias } => with_bias(n.checked_mul(*out), *bias, *out),
                LayerSpec::Conv2d {
                    channels,
                    kernel,
                    bias,
                    ..
                } => with_bias(
                    kernel
                        .checked_mul(*kernel)
                        .and_then(|k| k.checked_mul(input.c))
                        .and_then(|k| k.checked_mul(*channels)),
                    *bias,
                    *channels,
                ),
                // Weight, bias, running mean and variance, per step or shared.
                LayerSpec::BatchNorm { per_step, .. } => (if *per_step { steps } else { 1 })
                    .checked_mul(input.c)
                    .and_then(|v| v.checked_mul(4)),
                LayerSpec::Lif(s) | LayerSpec::Alif(AlifSpec { neuron: s, .. }) => {
                    Some(neuron_values(s, n, false))
                }
                LayerSpec::If(s) => Some(neuron_values(s, n, true)),
                LayerSpec::Rlif(s) | LayerSpec::Ralif(AlifSpec { neuron: s, .. }) => n
                    .checked_mul(n)
                    .and_then(|v| v.checked_add(neuron_values(s, n, false))),
                LayerSpec::Readout { .. } => Some(1),
                LayerSpec::Residual { body, shortcut, .. } => {
                    let count = |layers: &[LayerSpec]| -> Result<usize> {
                        if layers.is_empty() {
                            return Ok(0);
                        }
                        let sub = NetSpec {
                            input,
                            layers: layers.to_vec(),
                        };
                        Ok(sub.param_values(steps)?.iter().sum())
                    };
                    count(body)?.checked_add(count(shortcut)?)
                }
                LayerSpec::Slstm(s) => s
                    .hidden
                    .checked_mul(s.hidden)
                    .and_then(|v| v.checked_mul(4)),
                LayerSpec::MaxPool2d { .. }
                | LayerSpec::AvgPool2d { .. }
                | LayerSpec::Flatten
                | LayerSpec::Dropout { .. }
                | LayerSpec::Relu => Some(0),
            };
            counts.push(count.ok_or_else(|| {
                Error::field(
                    format!("layer[{i}]"),
                    format!(
                        "a {} layer on {input} inputs has more parameters than fit in memory",
                        l.name()
                    ),
                )
            })?);
            input = shape;
        }
        Ok(counts)
    }
}

fn too_many_features(shape: FeatShape) -> String {
    format!(
        "{}x{}x{} (CxHxW) has more features than fit in memory",
        shape.c, shape.h, shape.w
    )
}

/// Values of a spiking layer's β and θ on `n` neurons (one, or one per neuron when
/// learned per neuron; β is fixed for IF neurons), as `neuron_params` allocates them.
fn neuron_values(s: &SpikingSpec, n: usize, fixed_beta: bool) -> usize {
    let per = |l: Learn| if l == Learn::Neuron { n } else { 1 };
    let beta = if fixed_beta { 1 } else { per(s.learn_beta) };
    beta + per(s.learn_threshold)
}

fn conv_geom(s: FeatShape, c_out: usize, k: usize, stride: usize, pad: usize) -> Option<ConvGeom> {
    ConvGeom::new(s.c, s.h, s.w, c_out, k, k, stride, pad)
}

/// A built network. See the module docs.
#[derive(Debug)]
pub struct Network {
    /// The description it was built from.
    pub spec: NetSpec,
    /// Time steps it was built for (per-step batch norm depends on it).
    pub steps: usize,
    layers: Vec<Box<dyn Layer>>,
    /// Per layer: seconds spent in forward and backward passes, when profiling.
    profile: Option<Vec<(f64, f64)>>,
    /// Run a convolution on sparse spikes and the spiking layer after it as one block
    /// ([`crate::nn::layers::fused`]).
    fusion: bool,
}

impl Network {
    /// Builds `spec` for `steps` time steps, initialising weights from `seed`.
    pub fn build(spec: &NetSpec, steps: usize, seed: u64) -> Result<Self> {
        if steps == 0 {
            return Err(Error::field("steps", "must be at least 1"));
        }
        let shapes = spec.shapes()?;
        let mut layers: Vec<Box<dyn Layer>> = Vec::new();
        let mut shape = spec.input;
        for (i, l) in spec.layers.iter().enumerate() {
            let layer: Box<dyn Layer> = match l {
                LayerSpec::Linear { out, bias } => {
                    Box::new(Linear::new(shape, *out, *bias, seed, i))
                }
                LayerSpec::Conv2d {
                    channels,
                    kernel,
                    stride,
                    padding,
                    bias,
                } => {
                    let g = conv_geom(shape, *channels, *kernel, *stride, *padding)
                        .expect("checked by shapes()");
                    Box::new(Conv2d::new(g, *bias, seed, i))
                }
                LayerSpec::MaxPool2d { kernel, stride } => Box::new(MaxPool2d::new(
                    PoolGeom::new(shape, *kernel, stride.unwrap_or(*kernel)).expect("checked"),
                )),
                LayerSpec::AvgPool2d { kernel, stride } => Box::new(AvgPool2d::new(
                    PoolGeom::new(shape, *kernel, stride.unwrap_or(*kernel)).expect("checked"),
                )),
                LayerSpec::Flatten => Box::new(Flatten::new(shape)),
                LayerSpec::Dropout { p } => Box::new(Dropout::new(shape, *p, i)),
                LayerSpec::BatchNorm {
                    per_step,
                    eps,
                    momentum,
                } => Box::new(BatchNorm::new(shape, *per_step, steps, *eps, *momentum)),
                LayerSpec::Relu => Box::new(Relu::new(shape)),
                LayerSpec::Lif(s) => Box::new(Spiking::new(SpikingModel::Lif, s.clone(), shape)),
                LayerSpec::If(s) => Box::new(Spiking::new(SpikingModel::If, s.clone(), shape)),
                LayerSpec::Alif(a) => Box::new(Spiking::new(
                    SpikingModel::Alif(a.adaptation()),
                    a.neuron.clone(),
                    shape,
                )),
                LayerSpec::Rlif(s) => Box::new(RecurrentLif::new(s.clone(), shape.len(), seed, i)),
                LayerSpec::Ralif(a) => Box::new(RecurrentLif::adaptive(
                    a.neuron.clone(),
                    a.adaptation(),
                    shape.len(),
                    seed,
                    i,
                )),
                LayerSpec::Readout { beta, learn_beta } => {
                    Box::new(Readout::new(shape.len(), *beta, *learn_beta))
                }
                LayerSpec::Slstm(s) => Box::new(Slstm::new(s.clone(), seed, i)),
                LayerSpec::Residual { body, shortcut, op } => {
                    Box::new(Residual::new(shape, body, shortcut, *op, steps, seed, i)?)
                }
            };
            debug_assert_eq!(layer.out_shape(), shapes[i]);
            shape = shapes[i];
            layers.push(layer);
        }
        Ok(Network {
            spec: spec.clone(),
            steps,
            layers,
            profile: None,
            fusion: true,
        })
    }

    /// The layers.
    pub fn layers(&self) -> &[Box<dyn Layer>] {
        &self.layers
    }
    /// The layers, mutable (export runs parts of the network).
    pub fn layers_mut(&mut self) -> &mut [Box<dyn Layer>] {
        &mut self.layers
    }
    /// Shape of the output.
    pub fn output_shape(&self) -> FeatShape {
        self.layers.last().expect("non-empty").out_shape()
    }
    /// Shape of the input.
    pub fn input_shape(&self) -> FeatShape {
        self.spec.input
    }

    /// Forward pass through every layer. A convolution on sparse spikes and the
    /// spiking layer after it run as one block ([`crate::nn::layers::fused`]; its time is
    /// profiled under the convolution) unless [`Network::set_fusion`] turned it off.
    pub fn forward(&mut self, x: Activation, pass: &Pass) -> Activation {
        assert_eq!(x.shape(), self.spec.input, "network input shape");
        let mut a = x;
        let mut i = 0;
        while i < self.layers.len() {
            let t = std::time::Instant::now();
            let first = i;
            let fuse = self.fusion
                && i + 1 < self.layers.len()
                && fused::fusable(&*self.layers[i], &*self.layers[i + 1], &a, pass);
            if fuse {
                let (conv, sp) = self.block_mut(i);
                a = fused::forward(conv, sp, a, pass);
                i += 2;
            } else {
                a = self.layers[i].forward(a, pass);
                i += 1;
            }
            if let Some(p) = &mut self.profile {
                p[first].0 += t.elapsed().as_secs_f64();
            }
        }
        a
    }

    /// Turns the fusion of convolution and spiking layers on (the default) or off;
    /// both give the same results up to the order of floating-point sums.
    pub fn set_fusion(&mut self, on: bool) {
        self.fusion = on;
    }

    /// The convolution at `i` and the spiking layer at `i + 1` of a fused block.
    fn block_mut(&mut self, i: usize) -> (&mut Conv2d, &mut Spiking) {
        let (a, b) = self.layers.split_at_mut(i + 1);
        let conv = a[i].as_any_mut().downcast_mut::<Conv2d>();
        let sp = b[0].as_any_mut().downcast_mut::<Spiking>();
        (
            conv.expect("fused block starts with a convolution"),
            sp.expect("fused block ends with a spiking layer"),
        )
    }

    /// Whether layer `i` is a spiking layer recorded by a fused forward pass (with the
    /// convolution before it).
    fn fused_at(&self, i: usize) -> bool {
        i >= 1
            && self.layers[i]
                .as_any()
                .downcast_ref::<Spiking>()
                .is_some_and(|s| s.awaits_fused_backward())
            && self.layers[i - 1]
                .as_any()
                .downcast_ref::<Conv2d>()
                .is_some_and(|c| c.has_sparse_input())
    }

    /// Starts (or stops) timing every layer's forward and backward passes.
    pub fn set_profiling(&mut self, on: bool) {
        self.profile = on.then(|| vec![(0.0, 0.0); self.layers.len()]);
    }

    /// Per layer: (kind, forward seconds, backward seconds) since profiling started.
    pub fn profile(&self) -> Option<Vec<(&'static str, f64, f64)>> {
        self.profile.as_ref().map(|p| {
            self.layers
                .iter()
                .zip(p)
                .map(|(l, &(f, b))| (l.kind(), f, b))
                .collect()
        })
    }

    /// Backward pass from the gradient of the output; sets every parameter gradient.
    pub fn backward(&mut self, grad: Tensor, pass: &Pass) {
        // The first layer that has trainable parameters needs no input gradient.
        let first = self
            .layers
            .iter()
            .position(|l| l.params().iter().any(|p| p.trainable))
            .unwrap_or(0);
        self.backward_from(grad, pass, Some(first));
    }

    /// [`Network::backward`] that also returns the gradient of the network's input
    /// (a network inside a residual block).
    pub fn backward_to_input(&mut self, grad: Tensor, pass: &Pass) -> Tensor {
        self.backward_from(grad, pass, None)
            .expect("every layer returns its input gradient when asked")
    }

    /// The backward pass; layers above `first` (all with None) return their input
    /// gradient, and the last one computed is returned.
    fn backward_from(&mut self, grad: Tensor, pass: &Pass, first: Option<usize>) -> Option<Tensor> {
        let above = |i: usize| first.is_none_or(|f| i > f);
        let mut g = grad;
        let mut i = self.layers.len();
        while i > 0 {
            i -= 1;
            let need = above(i);
            let t = std::time::Instant::now();
            // A max pooling of spikes hands its gradient to the spiking layer before it,
            // which routes it to the winners itself (no full-size gradient tensor).
            let pool = self.layers[i]
                .as_any()
                .downcast_ref::<MaxPool2d>()
                .filter(|p| p.pooled_spikes() && i > 0)
                .map(|p| p.geom);
            let (lowest, r) = if let Some(geom) =
                pool.filter(|geom| geom.tiles() && i >= 2 && self.fused_at(i - 1))
            {
                // A fused convolution + spiking block with the max pooling after it.
                self.layers[i].clear();
                let (conv, sp) = self.block_mut(i - 2);
                let grad = BlockGrad::Pooled(&g, &geom);
                (i - 2, fused::backward(conv, sp, grad, pass, above(i - 2)))
            } else if self.fused_at(i) {
                // A fused convolution + spiking block.
                let (conv, sp) = self.block_mut(i - 1);
                let grad = BlockGrad::Spikes(&g);
                (i - 1, fused::backward(conv, sp, grad, pass, above(i - 1)))
            } else if let Some(r) = pool.and_then(|geom| {
                let (before, rest) = self.layers.split_at_mut(i);
                let r = before[i - 1].backward_through_pool(&g, &geom, pass, above(i - 1));
                if r.is_some() {
                    rest[0].clear();
                }
                r
            }) {
                (i - 1, r)
            } else {
                (i, self.layers[i].backward(g, pass, need))
            };
            i = lowest;
            if let Some(p) = &mut self.profile {
                p[i].1 += t.elapsed().as_secs_f64();
            }
            match r {
                Some(next) => g = next,
                None => {
                    for l in &mut self.layers[..i] {
                        l.clear();
                    }
                    return None;
                }
            }
        }
        Some(g)
    }

    /// Drops everything kept for a backward pass.
    pub fn clear(&mut self) {
        self.layers.iter_mut().for_each(|l| l.clear());
    }

    /// The outputs of every step on given input values: `inputs` holds `batch` samples
    /// of `steps × input features` values (sample-major, step-major within a sample,
    /// channels last), the result `batch × steps × output features` (spikes of a
    /// spiking output, membranes of a readout). Evaluation mode, in chunks of 256
    /// samples.
    pub fn run_dense(&mut self, inputs: &[f32], batch: usize) -> Vec<f32> {
        let (steps, shape) = (self.steps, self.input_shape());
        let per = steps * shape.len();
        assert_eq!(
            inputs.len(),
            batch * per,
            "inputs hold batch × steps × features values"
        );
        let mut out = Vec::with_capacity(batch * steps * self.output_shape().len());
        for chunk in inputs.chunks(256 * per) {
            let rows = chunk.len() / shape.len();
            let mut x = Tensor::zeros(rows, shape);
            x.data.copy_from_slice(chunk);
            let pass = Pass::eval(steps, rows / steps);
            let y = self.forward(Activation::Dense(x), &pass);
            out.extend_from_slice(&y.into_dense(steps).data);
            self.clear();
        }
        out
    }

    /// Every parameter and buffer with its name `"<layer index>.<name>"`.
    pub fn named_params(&self) -> Vec<(String, &Param)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                l.params()
                    .into_iter()
                    .map(move |p| (format!("{i}.{}", p.name), p))
            })
            .collect()
    }

    /// Every parameter and buffer, mutable, in the order of [`Network::named_params`].
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        self.layers
            .iter_mut()
            .flat_map(|l| l.params_mut())
            .collect()
    }

    /// Number of trainable values.
    pub fn num_params(&self) -> usize {
        self.named_params()
            .iter()
            .filter(|(_, p)| p.trainable)
            .map(|(_, p)| p.len())
            .sum()
    }

    /// Spikes emitted by each spiking layer in the last forward pass: (layer index,
    /// neurons, spikes).
    pub fn spike_counts(&self) -> Vec<(usize, usize, u64)> {
        self.layers
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.last_spike_count().map(|c| (i, l.out_shape().len(), c)))
            .collect()
    }

    /// A one-line-per-layer description with shapes and parameter counts.
    pub fn summary(&self) -> String {
        let mut s = format!("input {}\n", self.spec.input);
        for (i, l) in self.layers.iter().enumerate() {
            let n: usize = l
                .params()
                .iter()
                .filter(|p| p.trainable)
                .map(|p| p.len())
                .sum();
            s += &format!(
                "{i:>3} {:<11} -> {:<22} {n} params\n",
                l.kind(),
                l.out_shape().to_string()
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fused backward pass of a spiking layer and the max pooling of its spikes
    /// gives the same gradients as the two layers' own backward passes.
    #[test]
    fn fused_spike_pooling_backward_equals_the_separate_passes() {
        use crate::nn::layers::spiking::Learn;
        let spiking = SpikingSpec {
            learn_beta: Learn::Layer,
            learn_threshold: Learn::Neuron,
            ..SpikingSpec::default()
        };
        let spec = NetSpec::new(FeatShape::image(2, 8, 8))
            .conv(6, 3)
            .layer(LayerSpec::Alif(AlifSpec {
                neuron: spiking.clone(),
                rho: 0.9,
                gamma: 0.2,
            }))
            .max_pool(2)
            .flatten()
            .linear(5)
            .lif(spiking);
        let (steps, batch) = (4, 3);
        let x = crate::nn::layers::gradcheck::random_dense(steps * batch, spec.input, 3, 3.0);
        let run = |fused: bool| {
            let mut net = Network::build(&spec, steps, 1).unwrap();
            let pass = Pass::train(steps, batch, [0; 3]);
            let out = net.forward(Activation::Dense(x.clone()), &pass);
            let g = crate::nn::layers::gradcheck::random_dense(out.rows(), out.shape(), 4, 1.0);
            if fused {
                net.backward(g, &pass);
            } else {
                let mut g = g;
                for l in net.layers_mut().iter_mut().rev() {
                    match l.backward(g, &pass, true) {
                        Some(next) => g = next,
                        None => break,
                    }
                }
            }
            net.named_params()
                .iter()
                .map(|(n, p)| (n.clone(), p.grad.clone()))
                .collect::<Vec<_>>()
        };
        let (a, b) = (run(true), run(false));
        for ((n, x), (_, y)) in a.iter().zip(&b) {
            for (u, v) in x.iter().zip(y) {
                assert!((u - v).abs() <= 1e-5 * u.abs().max(1.0), "{n}: {u} vs {v}");
            }
        }
        assert!(a.iter().any(|(_, g)| g.iter().any(|&v| v != 0.0)));
    }

    /// `param_values` counts exactly what `build` allocates, for every layer kind.
    #[test]
    fn param_values_count_what_build_allocates() {
        use crate::nn::layers::spiking::Learn;
        let per_neuron = SpikingSpec {
            learn_beta: Learn::Neuron,
            learn_threshold: Learn::Neuron,
            ..SpikingSpec::default()
        };
        let steps = 3;
        let specs = [
            NetSpec::new(FeatShape::image(2, 6, 6))
                .layer(LayerSpec::Conv2d {
                    channels: 3,
                    kernel: 3,
                    stride: 1,
                    padding: 1,
                    bias: true,
                })
                .layer(LayerSpec::BatchNorm {
                    per_step: true,
                    eps: 1e-5,
                    momentum: 0.1,
                })
                .lif(per_neuron.clone())
                .layer(LayerSpec::AvgPool2d {
                    kernel: 2,
                    stride: None,
                })
                .max_pool(3)
                .flatten()
                .layer(LayerSpec::Dropout { p: 0.2 })
                .layer(LayerSpec::Linear {
                    out: 5,
                    bias: false,
                })
                .layer(LayerSpec::Rlif(per_neuron.clone()))
                .layer(LayerSpec::If(per_neuron.clone()))
                .linear(4)
                .layer(LayerSpec::Readout {
                    beta: 0.9,
                    learn_beta: true,
                }),
            NetSpec::new(FeatShape::flat(7))
                .layer(LayerSpec::BatchNorm {
                    per_step: false,
                    eps: 1e-5,
                    momentum: 0.1,
                })
                .layer(LayerSpec::Relu)
                .linear(3)
                .layer(LayerSpec::Alif(AlifSpec {
                    neuron: per_neuron,
                    rho: 0.9,
                    gamma: 0.1,
                }))
                .layer(LayerSpec::Rlif(SpikingSpec::default())),
        ];
        for spec in specs {
            let net = Network::build(&spec, steps, 1).unwrap();
            let built: Vec<usize> = net
                .layers()
                .iter()
                .map(|l| l.params().iter().map(|p| p.len()).sum())
                .collect();
            assert_eq!(spec.param_values(steps).unwrap(), built);
        }
        // Sizes read from a file that overflow are errors naming the layer or input.
        let huge = NetSpec::new(FeatShape::flat(1 << 40)).linear(1 << 40);
        let e = huge.param_values(1).unwrap_err().to_string();
        assert!(e.contains("layer[0]"), "{e}");
        let huge = NetSpec::new(FeatShape::image(1 << 40, 1 << 40, 1)).flatten();
        let e = huge.shapes().unwrap_err().to_string();
        assert!(e.contains("`input`"), "{e}");
        let huge = NetSpec::new(FeatShape::image(1, 4, 4)).layer(LayerSpec::Conv2d {
            channels: 1,
            kernel: 3,
            stride: 1,
            padding: usize::MAX / 2,
            bias: true,
        });
        let e = huge.shapes().unwrap_err().to_string();
        assert!(e.contains("layer[0].kernel"), "{e}");
    }

    #[test]
    fn spec_round_trips_through_json_and_errors_name_the_layer() {
        let spec = NetSpec::new(FeatShape::image(1, 28, 28))
            .conv(12, 5)
            .lif(SpikingSpec::default())
            .max_pool(2)
            .flatten()
            .linear(10)
            .layer(LayerSpec::Readout {
                beta: 0.9,
                learn_beta: false,
            });
        let again = NetSpec::from_json(&spec.to_json(), "test").unwrap();
        assert_eq!(spec, again);
        let shapes = spec.shapes().unwrap();
        assert_eq!(shapes[0], FeatShape::image(12, 24, 24));
        assert_eq!(shapes[2], FeatShape::image(12, 12, 12));
        let bad = NetSpec::new(FeatShape::flat(10)).conv(3, 3);
        assert!(bad.shapes().unwrap_err().to_string().contains("layer[0]"));
        let bad = NetSpec::new(FeatShape::image(1, 4, 4)).conv(3, 5);
        assert!(bad
            .shapes()
            .unwrap_err()
            .to_string()
            .contains("layer[0].kernel"));
        let bad = NetSpec::new(FeatShape::flat(4)).lif(SpikingSpec {
            beta: 1.5,
            ..SpikingSpec::default()
        });
        assert!(bad
            .shapes()
            .unwrap_err()
            .to_string()
            .contains("layer[0].beta"));
        let e = NetSpec::from_json(
            r#"{"input":{"c":4,"h":1,"w":1},"layers":[{"type":"lnear","out":3}]}"#,
            "x",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("lnear"), "{e}");
    }
}
