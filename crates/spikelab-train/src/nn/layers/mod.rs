//! Layers with forward and backward passes, one kind per file (as candle does):
//! stateless layers ([`linear`], [`conv`], [`pool`], [`flatten`], [`dropout`],
//! [`batchnorm`], [`relu`]) process all `steps × batch` rows at once; spiking layers
//! ([`spiking`]: LIF, IF, adaptive LIF; [`recurrent`]: recurrent LIF; [`readout`]: the
//! leaky-integrator readout) run a fused loop over time per sample, calling the
//! discrete-time kernels of the model files in `spikelab_core::neuron` (`lif`, `iaf`,
//! `leaky_integrator`).
//! [`residual`] joins a main path and a shortcut (residual networks).
//! [`fused`] runs a convolution on sparse spikes and the spiking layer after it as
//! one block, sample by sample.
//!
//! A layer keeps what its backward pass needs during a recording forward pass
//! ([`Pass::record`]); the backward pass writes the gradients of its parameters and
//! returns the gradient of its input.

pub mod batchnorm;
pub mod conv;
pub mod dropout;
pub mod flatten;
pub mod fused;
pub mod linear;
pub mod pool;
pub mod readout;
pub mod recurrent;
pub mod relu;
pub mod residual;
pub mod slstm;
pub mod spiking;

use crate::nn::tensor::{Activation, FeatShape, Tensor};
use serde::{Deserialize, Serialize};
use std::any::Any;

/// What a parameter is, which decides how optimizers treat it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// Synaptic weights (weight decay applies).
    Weight,
    /// Biases.
    Bias,
    /// Neuron parameters (decay, threshold).
    Neuron,
    /// Normalisation scale and shift.
    Norm,
    /// Not trained (running statistics); saved with the model.
    Buffer,
}

/// A named parameter with its gradient.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Name within its layer (`weight`, `bias`, `beta`, ...).
    pub name: String,
    /// Shape (row-major).
    pub shape: Vec<usize>,
    /// Values.
    pub value: Vec<f32>,
    /// Gradient of the loss, written by the last backward pass.
    pub grad: Vec<f32>,
    /// What it is.
    pub kind: ParamKind,
    /// Whether optimizers update it.
    pub trainable: bool,
    /// Values are clamped into this range after each update.
    pub bounds: Option<(f32, f32)>,
}

impl Param {
    /// A trainable parameter.
    pub fn new(name: &str, shape: Vec<usize>, value: Vec<f32>, kind: ParamKind) -> Self {
        assert_eq!(shape.iter().product::<usize>(), value.len(), "param shape");
        Param {
            name: name.into(),
            grad: vec![0.0; value.len()],
            shape,
            value,
            trainable: kind != ParamKind::Buffer,
            kind,
            bounds: None,
        }
    }
    /// Sets whether it is trained.
    pub fn trainable(mut self, yes: bool) -> Self {
        self.trainable = yes;
        self
    }
    /// Sets bounds.
    pub fn bounded(mut self, lo: f32, hi: f32) -> Self {
        self.bounds = Some((lo, hi));
        self
    }
    /// Number of values.
    pub fn len(&self) -> usize {
        self.value.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
    /// The value for element `i`, broadcasting a single value.
    #[inline]
    pub fn at(&self, i: usize) -> f32 {
        if self.value.len() == 1 {
            self.value[0]
        } else {
            self.value[i]
        }
    }
    /// The values expanded to `n` elements (broadcasting a single value).
    pub fn expanded(&self, n: usize) -> Vec<f32> {
        if self.value.len() == 1 {
            vec![self.value[0]; n]
        } else {
            self.value.clone()
        }
    }
    /// Sets the gradient from per-element gradients, summing them for a single value.
    pub fn set_grad_from(&mut self, per_element: &[f32]) {
        if self.value.len() == 1 {
            self.grad[0] = per_element.iter().sum();
        } else {
            self.grad.copy_from_slice(per_element);
        }
    }
    /// Clamps the values into the bounds.
    pub fn project(&mut self) {
        if let Some((lo, hi)) = self.bounds {
            for v in &mut self.value {
                *v = v.clamp(lo, hi);
            }
        }
    }
}

/// How a forward pass runs.
#[derive(Clone, Copy, Debug)]
pub struct Pass {
    /// Time steps `T`.
    pub steps: usize,
    /// Samples `B`.
    pub batch: usize,
    /// Training behaviour: dropout active, batch norm uses batch statistics.
    pub train: bool,
    /// Keep what the backward pass needs.
    pub record: bool,
    /// Gradient checks: spiking layers use their surrogate's primitive as a smooth
    /// spike function and output real values.
    pub smooth: bool,
    /// Seed and position (epoch, batch) keying random masks.
    pub key: [u64; 3],
}

impl Pass {
    /// An inference pass.
    pub fn eval(steps: usize, batch: usize) -> Self {
        Pass {
            steps,
            batch,
            train: false,
            record: false,
            smooth: false,
            key: [0; 3],
        }
    }
    /// A training pass (records for backward).
    pub fn train(steps: usize, batch: usize, key: [u64; 3]) -> Self {
        Pass {
            steps,
            batch,
            train: true,
            record: true,
            smooth: false,
            key,
        }
    }
    /// Rows of a time-batched activation.
    pub fn rows(&self) -> usize {
        self.steps * self.batch
    }
}

/// A layer. See the module docs.
pub trait Layer: Send + Sync + std::fmt::Debug {
    /// Short name of the kind (`linear`, `lif`, ...).
    fn kind(&self) -> &'static str;
    /// Shape of an input row.
    fn in_shape(&self) -> FeatShape;
    /// Shape of an output row.
    fn out_shape(&self) -> FeatShape;
    /// Forward pass over all `steps × batch` rows.
    fn forward(&mut self, x: Activation, pass: &Pass) -> Activation;
    /// Backward pass: `grad` is the gradient of the output (same rows as the output);
    /// sets parameter gradients and returns the input gradient when `need_input_grad`.
    /// Must follow a recording forward pass.
    fn backward(&mut self, grad: Tensor, pass: &Pass, need_input_grad: bool) -> Option<Tensor>;
    /// Backward pass through a max pooling of this layer's spikes that follows it (see
    /// `Spiking`): `pooled` is the gradient of the pooled output. Returns `None` when
    /// the layer cannot fuse (then the pooling's own backward runs), else the result of
    /// [`Layer::backward`].
    fn backward_through_pool(
        &mut self,
        _pooled: &Tensor,
        _geom: &pool::PoolGeom,
        _pass: &Pass,
        _need_input_grad: bool,
    ) -> Option<Option<Tensor>> {
        None
    }
    /// Parameters and buffers.
    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }
    /// Parameters and buffers, mutable.
    fn params_mut(&mut self) -> Vec<&mut Param> {
        Vec::new()
    }
    /// Drops what the last recording forward pass kept.
    fn clear(&mut self) {}
    /// Spikes emitted in the last forward pass (spiking layers).
    fn last_spike_count(&self) -> Option<u64> {
        None
    }
    /// For inspection (export).
    fn as_any(&self) -> &dyn Any;
    /// For fusing layers ([`fused`]).
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// Sums the `steps` rows of each sample of a time-batched tensor (rows `b·T + t`)
/// into one row per sample: the gradient of a static (time-invariant) input.
pub fn sum_over_steps(t: &Tensor, steps: usize) -> Tensor {
    let n = t.cols();
    let batch = t.rows / steps;
    let mut out = Tensor::zeros(batch, t.shape);
    for b in 0..batch {
        let o = out.row_mut(b);
        for s in 0..steps {
            for (a, x) in o
                .iter_mut()
                .zip(&t.data[(b * steps + s) * n..(b * steps + s + 1) * n])
            {
                *a += x;
            }
        }
    }
    out
}

/// Uniform initialisation in `[-bound, bound]` from a training stream keyed by
/// (seed, layer, what).
pub fn uniform_init(n: usize, bound: f32, seed: u64, layer: usize, what: u64) -> Vec<f32> {
    use rand::Rng;
    let mut rng = spikelab_core::rng::stream(
        seed,
        spikelab_core::rng::Domain::Training,
        &[0x1417, layer as u64, what],
    );
    (0..n).map(|_| rng.random_range(-bound..=bound)).collect()
}

#[cfg(test)]
pub(crate) mod gradcheck {
    //! Finite-difference checks of backward passes: the loss is `Σ c ⊙ output` with
    //! fixed random `c`, so its gradient with respect to the output is `c`.

    use super::*;
    use crate::nn::tensor::SpikeTensor;
    use rand::Rng;

    /// Random coefficients.
    pub fn coeffs(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = spikelab_core::rng::stream(seed, spikelab_core::rng::Domain::Training, &[77]);
        (0..n).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()
    }

    fn loss(layer: &mut dyn Layer, x: &Activation, c: &[f32], pass: &Pass) -> f64 {
        let out = layer.forward(x.clone(), pass);
        // A static output has one row per sample, like its gradient.
        let d = match &out {
            Activation::Static(t) => t.clone(),
            o => o.to_dense(pass.steps),
        };
        d.data
            .iter()
            .zip(c)
            .map(|(a, b)| *a as f64 * *b as f64)
            .sum()
    }

    /// Checks input and parameter gradients of `layer` at input `x` against central
    /// differences (`eps`), up to relative tolerance `tol`. Returns the number of
    /// values checked.
    pub fn check(layer: &mut dyn Layer, x: &Activation, pass: &Pass, eps: f64, tol: f64) -> usize {
        let mut pass = *pass;
        pass.record = true;
        let out = layer.forward(x.clone(), &pass);
        let n_out = out.rows() * out.shape().len();
        let c = coeffs(n_out, 9);
        let grad_out = Tensor::from_vec(c.clone(), out.rows(), out.shape());
        let dx = layer.backward(grad_out, &pass, true);
        let mut checked = 0;
        let mut fail = Vec::new();
        let mut compare = |what: String, analytic: f64, numeric: f64| {
            // The forward runs in f32: differences of about 1e-6 in the loss are noise.
            let scale = analytic.abs().max(numeric.abs()).max(5e-2);
            if (analytic - numeric).abs() > tol * scale {
                fail.push(format!(
                    "{what}: analytic {analytic:.6} numeric {numeric:.6}"
                ));
            }
        };
        // Input gradient (dense inputs only: spikes are not differentiable data).
        if let (Some(dx), Activation::Dense(t) | Activation::Static(t)) = (&dx, x) {
            let is_static = x.is_static();
            for i in (0..t.data.len()).step_by((t.data.len() / 40).max(1)) {
                let mut xp = t.clone();
                xp.data[i] += eps as f32;
                let mut xm = t.clone();
                xm.data[i] -= eps as f32;
                let wrap = |t: Tensor| {
                    if is_static {
                        Activation::Static(t)
                    } else {
                        Activation::Dense(t)
                    }
                };
                let lp = loss(layer, &wrap(xp), &c, &pass);
                let lm = loss(layer, &wrap(xm), &c, &pass);
                compare(
                    format!("input[{i}]"),
                    dx.data[i] as f64,
                    (lp - lm) / (2.0 * eps),
                );
                checked += 1;
            }
        }
        // Parameter gradients.
        let grads: Vec<(String, Vec<f32>, bool)> = layer
            .params()
            .iter()
            .map(|p| (p.name.clone(), p.grad.clone(), p.trainable))
            .collect();
        for (pi, (name, g, trainable)) in grads.iter().enumerate() {
            if !trainable {
                continue;
            }
            for i in (0..g.len()).step_by((g.len() / 30).max(1)) {
                let orig = layer.params()[pi].value[i];
                layer.params_mut()[pi].value[i] = orig + eps as f32;
                let lp = loss(layer, x, &c, &pass);
                layer.params_mut()[pi].value[i] = orig - eps as f32;
                let lm = loss(layer, x, &c, &pass);
                layer.params_mut()[pi].value[i] = orig;
                compare(format!("{name}[{i}]"), g[i] as f64, (lp - lm) / (2.0 * eps));
                checked += 1;
            }
        }
        assert!(
            fail.is_empty(),
            "{} mismatches:\n{}",
            fail.len(),
            fail.join("\n")
        );
        checked
    }

    /// A random dense activation.
    pub fn random_dense(rows: usize, shape: FeatShape, seed: u64, scale: f32) -> Tensor {
        let data = coeffs(rows * shape.len(), seed)
            .into_iter()
            .map(|x| x * scale)
            .collect();
        Tensor::from_vec(data, rows, shape)
    }

    /// Random spikes: every feature of every row spikes with probability `density`.
    pub fn random_spikes(rows: usize, shape: FeatShape, density: f64, seed: u64) -> SpikeTensor {
        let mut rng = spikelab_core::rng::stream(seed, spikelab_core::rng::Domain::Training, &[9]);
        let mut s = SpikeTensor::zeros(rows, shape);
        for r in 0..rows {
            for j in 0..shape.len() {
                if rng.random_bool(density) {
                    s.set(r, j);
                }
            }
        }
        s
    }
}
