//! Spiking neuron layers: LIF (optionally learnable decay β and threshold θ, per layer
//! or per neuron), IF (β = 1) and adaptive LIF, trained by backpropagation through
//! time with surrogate gradients.
//!
//! The model is defined once, in `spikelab_core::neuron::lif`: the forward pass is a
//! fused loop over the `T` steps of each sample (samples run in parallel) calling its
//! discrete-time kernels ([`spikelab_core::neuron::lif::discrete`]); it keeps only the
//! membrane before reset `h` (and, for the adaptive LIF, the threshold of each step)
//! and packs the spikes into bits. The backward pass recomputes spikes and resets from
//! `h` and runs the model's backward step
//! ([`spikelab_core::neuron::lif::backward`], equations there) row by row, going
//! back in time; this file only compiles both loops for AVX-512 and baseline x86-64
//! and routes a following max pooling's gradient.

use super::pool::PoolGeom;
use super::{sum_over_steps, Layer, Param, ParamKind, Pass};
use crate::nn::tensor::{pack_row, Activation, FeatShape, SpikeTensor, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};
use spikelab_core::neuron::discrete_time::{DiscreteReset, Heaviside, SpikeFn};
use spikelab_core::neuron::lif::backward::{lif_backward_row, BackCfg, BackState};
use spikelab_core::neuron::lif::{alif_step, lif_step_in_place, Adaptation};
use spikelab_core::neuron::surrogate::{SmoothSpike, Surrogate};
use std::any::Any;

/// Whether a neuron parameter is trained, and with what granularity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Learn {
    /// Fixed.
    #[default]
    No,
    /// One trained value for the layer.
    Layer,
    /// One trained value per neuron.
    Neuron,
}

impl Learn {
    /// Names accepted in specs.
    pub const NAMES: &'static str = "no, layer, neuron";
}

/// Parameters of a spiking layer (LIF, IF, adaptive LIF, recurrent LIF).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpikingSpec {
    /// Membrane decay per step `β = exp(−dt/τ_m)` in [0, 1] (ignored by IF).
    pub beta: f32,
    /// Threshold θ (> 0).
    pub threshold: f32,
    /// Train β.
    pub learn_beta: Learn,
    /// Train θ.
    pub learn_threshold: Learn,
    /// Reset rule.
    pub reset: DiscreteReset,
    /// Treat the reset as a constant in the backward pass.
    pub detach_reset: bool,
    /// Surrogate gradient.
    pub surrogate: Surrogate,
}

impl Default for SpikingSpec {
    fn default() -> Self {
        SpikingSpec {
            beta: 0.9,
            threshold: 1.0,
            learn_beta: Learn::No,
            learn_threshold: Learn::No,
            reset: DiscreteReset::Subtract,
            detach_reset: false,
            surrogate: Surrogate::default(),
        }
    }
}

impl SpikingSpec {
    /// Checks ranges; `field` prefixes messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        if !(0.0..=1.0).contains(&self.beta) {
            return Err(Error::field(
                format!("{field}.beta"),
                format!("must be in [0, 1] (got {})", self.beta),
            ));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(Error::field(
                format!("{field}.threshold"),
                format!("must be a finite number > 0 (got {})", self.threshold),
            ));
        }
        self.surrogate.validate(&format!("{field}.surrogate"))
    }
}

/// Which spiking model a [`Spiking`] layer runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SpikingModel {
    /// Leaky integrate-and-fire.
    Lif,
    /// Integrate-and-fire (β = 1).
    If,
    /// Adaptive LIF: threshold `θ + γ·a`, `a ← ρ·a + s` (ρ, γ).
    Alif(Adaptation),
}

/// Smallest threshold allowed while training θ.
pub const MIN_THRESHOLD: f32 = 1e-3;

/// Makes the β and θ parameters of a spiking layer with `n` neurons.
pub(crate) fn neuron_params(
    spec: &SpikingSpec,
    n: usize,
    fixed_beta: Option<f32>,
) -> (Param, Param) {
    let len = |l: Learn| if l == Learn::Neuron { n } else { 1 };
    let (beta, learn_b) = match fixed_beta {
        Some(b) => (b, Learn::No),
        None => (spec.beta, spec.learn_beta),
    };
    let nb = len(learn_b);
    let nt = len(spec.learn_threshold);
    (
        Param::new("beta", vec![nb], vec![beta; nb], ParamKind::Neuron)
            .trainable(learn_b != Learn::No)
            .bounded(0.0, 1.0),
        Param::new(
            "threshold",
            vec![nt],
            vec![spec.threshold; nt],
            ParamKind::Neuron,
        )
        .trainable(spec.learn_threshold != Learn::No)
        .bounded(MIN_THRESHOLD, f32::MAX),
    )
}

/// See the module docs.
#[derive(Debug)]
pub struct Spiking {
    /// The model.
    pub model: SpikingModel,
    /// Its parameters as specified.
    pub spec: SpikingSpec,
    shape: FeatShape,
    /// Decay β (1 value or one per neuron).
    pub beta: Param,
    /// Threshold θ (1 value or one per neuron).
    pub threshold: Param,
    cache: Option<Cache>,
    spikes: u64,
}

#[derive(Debug)]
struct Cache {
    h: Vec<f32>,
    theta_t: Vec<f32>,
    was_static: bool,
    /// Who recorded it.
    by: Recorder,
}

/// Which forward pass recorded a [`Cache`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recorder {
    /// This layer's own.
    Layer,
    /// A fused convolution + spiking pass ([`super::fused`]) that kept the membranes
    /// (the layer's own backward pass can use them too).
    FusedStored,
    /// A fused pass that kept no membranes: only the fused backward pass, which
    /// recomputes them, can follow.
    FusedRecompute,
}

impl Drop for Cache {
    /// The stored membranes (tens of megabytes) go back to the buffer pool.
    fn drop(&mut self) {
        crate::nn::pool::give(std::mem::take(&mut self.h));
        crate::nn::pool::give(std::mem::take(&mut self.theta_t));
    }
}

/// Where a forward pass writes spikes.
pub(super) enum Sink<'a> {
    /// Packed bits, one row of words per step.
    Bits(&'a mut [u64]),
    /// Real values (smooth gradient checks).
    Values(&'a mut [f32]),
    /// Nowhere (membranes recomputed for a backward pass).
    Discard,
}

impl Spiking {
    /// A layer of `shape.len()` neurons.
    pub fn new(model: SpikingModel, spec: SpikingSpec, shape: FeatShape) -> Self {
        let fixed = matches!(model, SpikingModel::If).then_some(1.0);
        let (beta, threshold) = neuron_params(&spec, shape.len(), fixed);
        Spiking {
            model,
            spec,
            shape,
            beta,
            threshold,
            cache: None,
            spikes: 0,
        }
    }

    /// Runs one sample's `T` steps. `h` holds the inputs on entry (unless `x_static`
    /// is given) and the membranes before reset on exit.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn run_sample<F: SpikeFn>(
        &self,
        f: F,
        beta: &[f32],
        theta: &[f32],
        x_static: Option<&[f32]>,
        h: &mut [f32],
        theta_t: &mut [f32],
        sink: Sink,
        scratch: &mut Vec<f32>,
    ) {
        #[cfg(target_arch = "x86_64")]
        if crate::nn::kernels::has_avx512() {
            // SAFETY: the CPU supports AVX-512 (checked above).
            return unsafe {
                self.run_sample_avx512(f, beta, theta, x_static, h, theta_t, sink, scratch)
            };
        }
        self.run_sample_body(f, beta, theta, x_static, h, theta_t, sink, scratch)
    }

    /// [`Spiking::run_sample`] compiled for AVX-512 (the same arithmetic, 16 lanes).
    ///
    /// # Safety
    /// The CPU supports AVX-512F and AVX-512VL.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn run_sample_avx512<F: SpikeFn>(
        &self,
        f: F,
        beta: &[f32],
        theta: &[f32],
        x_static: Option<&[f32]>,
        h: &mut [f32],
        theta_t: &mut [f32],
        sink: Sink,
        scratch: &mut Vec<f32>,
    ) {
        self.run_sample_body(f, beta, theta, x_static, h, theta_t, sink, scratch)
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn run_sample_body<F: SpikeFn>(
        &self,
        f: F,
        beta: &[f32],
        theta: &[f32],
        x_static: Option<&[f32]>,
        h: &mut [f32],
        theta_t: &mut [f32],
        mut sink: Sink,
        scratch: &mut Vec<f32>,
    ) {
        let n = self.shape.len();
        let steps = h.len() / n;
        scratch.clear();
        scratch.resize(4 * n, 0.0);
        let (v, rest) = scratch.split_at_mut(n);
        let (a, rest) = rest.split_at_mut(n);
        let (s, xb) = rest.split_at_mut(n);
        let reset = self.spec.reset;
        for t in 0..steps {
            let hr = &mut h[t * n..(t + 1) * n];
            if let Some(x) = x_static {
                hr.copy_from_slice(x);
            }
            match self.model {
                SpikingModel::Lif | SpikingModel::If => {
                    lif_step_in_place(beta, theta, reset, f, v, hr, s);
                }
                SpikingModel::Alif(ad) => {
                    xb.copy_from_slice(hr);
                    let tt = &mut theta_t[t * n..(t + 1) * n];
                    alif_step(beta, theta, ad, reset, f, v, a, xb, hr, s, tt);
                }
            }
            match &mut sink {
                Sink::Bits(bits) => {
                    let w = n.div_ceil(64);
                    pack_row(s, &mut bits[t * w..(t + 1) * w]);
                }
                Sink::Values(out) => out[t * n..(t + 1) * n].copy_from_slice(s),
                Sink::Discard => {}
            }
        }
    }

    /// Ends a forward pass run by [`super::fused`]: records the spike count and, when
    /// `record`, a cache with the membranes and adaptive thresholds in `stored` (all
    /// rows), or one that asks for them to be recomputed.
    pub(super) fn finish_fused_forward(
        &mut self,
        record: bool,
        spikes: u64,
        stored: Option<(Vec<f32>, Vec<f32>)>,
    ) {
        self.spikes = spikes;
        self.cache = if record {
            Some(match stored {
                Some((h, theta_t)) => Cache {
                    h,
                    theta_t,
                    was_static: false,
                    by: Recorder::FusedStored,
                },
                None => Cache {
                    h: Vec::new(),
                    theta_t: Vec::new(),
                    was_static: false,
                    by: Recorder::FusedRecompute,
                },
            })
        } else {
            debug_assert!(stored.is_none(), "membranes stored by a non-recording pass");
            None
        };
    }

    /// True when the last recording pass was a fused one ([`super::fused`]).
    pub fn awaits_fused_backward(&self) -> bool {
        self.cache.as_ref().is_some_and(|c| c.by != Recorder::Layer)
    }

    /// Takes the cache of a fused pass: the stored membranes and adaptive thresholds,
    /// or None when they must be recomputed.
    pub(super) fn take_fused_cache(&mut self) -> Option<(Vec<f32>, Vec<f32>)> {
        let mut c = self
            .cache
            .take()
            .expect("fused backward without a fused forward");
        match c.by {
            Recorder::FusedStored => {
                Some((std::mem::take(&mut c.h), std::mem::take(&mut c.theta_t)))
            }
            Recorder::FusedRecompute => None,
            Recorder::Layer => panic!("fused backward without a fused forward"),
        }
    }

    /// Neurons.
    pub(super) fn neurons(&self) -> usize {
        self.shape.len()
    }

    pub(super) fn back_cfg(&self) -> BackCfg {
        let adaptation = match self.model {
            SpikingModel::Alif(ad) => ad,
            _ => Adaptation::NONE,
        };
        BackCfg {
            reset: self.spec.reset,
            detach: self.spec.detach_reset,
            surrogate: self.spec.surrogate,
            adaptation,
            learn_beta: self.beta.trainable,
            learn_theta: self.threshold.trainable,
        }
    }

    fn backward_with<F: SpikeFn>(&mut self, f: F, grad: &mut Tensor, steps: usize, cache: &Cache) {
        let n = self.shape.len();
        let beta = self.beta.expanded(n);
        let theta = self.threshold.expanded(n);
        let cfg = self.back_cfg();
        let adaptive = matches!(self.model, SpikingModel::Alif(_));
        let chunk = steps * n;
        let partials: Vec<(Vec<f32>, Vec<f32>)> = grad
            .data
            .par_chunks_mut(chunk)
            .zip(cache.h.par_chunks(chunk))
            .enumerate()
            .map(|(b, (g, h))| {
                let tt = adaptive.then(|| &cache.theta_t[b * chunk..(b + 1) * chunk]);
                let mut st = BackState::new(n, &cfg);
                for t in (0..steps).rev() {
                    let row = t * n..(t + 1) * n;
                    let prev = (t > 0).then(|| {
                        let p = (t - 1) * n..t * n;
                        (&h[p.clone()], tt.map_or(&theta[..], |tt| &tt[p]))
                    });
                    let th = tt.map_or(&theta[..], |tt| &tt[row.clone()]);
                    backward_row(
                        &cfg,
                        f,
                        &beta,
                        th,
                        &h[row.clone()],
                        prev,
                        &mut g[row],
                        &mut st,
                    );
                }
                (st.dbeta, st.dtheta)
            })
            .collect();
        self.set_param_grads(&cfg, &partials);
    }

    /// Backward pass fused with the max pooling of this layer's spikes that follows
    /// it: `pooled` is the gradient of the pooled spikes; the gradient of each spike
    /// (the pooled gradient at the window's winner — the first spiking position, or
    /// the first position — and 0 elsewhere) is built one row at a time in a scratch
    /// buffer instead of as a full tensor. The input gradient is written over the
    /// stored membranes. Same result as the two backward passes in sequence.
    fn backward_pooled(
        &mut self,
        pooled: &Tensor,
        g: &PoolGeom,
        steps: usize,
        mut cache: Cache,
    ) -> Vec<f32> {
        let n = self.shape.len();
        let beta = self.beta.expanded(n);
        let theta = self.threshold.expanded(n);
        let cfg = self.back_cfg();
        let adaptive = matches!(self.model, SpikingModel::Alif(_));
        let (chunk, pl) = (steps * n, pooled.cols());
        let offs = g.window_offsets();
        let theta_t = std::mem::take(&mut cache.theta_t);
        let mut h = std::mem::take(&mut cache.h);
        let partials: Vec<(Vec<f32>, Vec<f32>)> = h
            .par_chunks_mut(chunk)
            .zip(pooled.data.par_chunks(steps * pl))
            .enumerate()
            .map(|(b, (h, pg))| {
                let tt = adaptive.then(|| &theta_t[b * chunk..(b + 1) * chunk]);
                let mut st = BackState::new(n, &cfg);
                let mut grow = vec![0.0f32; n];
                for t in (0..steps).rev() {
                    let row = t * n..(t + 1) * n;
                    let th = tt.map_or(&theta[..], |tt| &tt[row.clone()]);
                    route_to_winners(
                        g,
                        &offs,
                        &h[row.clone()],
                        th,
                        &pg[t * pl..(t + 1) * pl],
                        &mut grow,
                    );
                    let (before, rest) = h.split_at_mut(row.start);
                    let hr = &mut rest[..n];
                    let prev = (t > 0).then(|| {
                        let p = (t - 1) * n..t * n;
                        (&before[p.clone()], tt.map_or(&theta[..], |tt| &tt[p]))
                    });
                    backward_row(&cfg, Heaviside, &beta, th, hr, prev, &mut grow, &mut st);
                    // h_t is no longer needed (steps run backwards): keep ∂L/∂x_t there.
                    hr.copy_from_slice(&grow);
                }
                (st.dbeta, st.dtheta)
            })
            .collect();
        self.set_param_grads(&cfg, &partials);
        crate::nn::pool::give(theta_t);
        h
    }

    pub(super) fn set_param_grads(&mut self, cfg: &BackCfg, partials: &[(Vec<f32>, Vec<f32>)]) {
        let n = self.shape.len();
        if cfg.learn_beta {
            let mut acc = vec![0.0f32; n];
            for (db, _) in partials {
                acc.iter_mut().zip(db).for_each(|(a, x)| *a += x);
            }
            self.beta.set_grad_from(&acc);
        }
        if cfg.learn_theta {
            let mut acc = vec![0.0f32; n];
            for (_, dt) in partials {
                acc.iter_mut().zip(dt).for_each(|(a, x)| *a += x);
            }
            self.threshold.set_grad_from(&acc);
        }
    }
}

/// The gradient of one row of spikes from the gradient `pg` of their max pooling
/// (tiling windows): each window's gradient goes to its first spiking position
/// (`h ≥ θ`), or to its first position if none spiked; 0 elsewhere. Branch-free over
/// tiles of channels, so it vectorises.
pub(super) fn route_to_winners(
    g: &PoolGeom,
    offs: &[usize],
    h: &[f32],
    th: &[f32],
    pg: &[f32],
    out: &mut [f32],
) {
    debug_assert!(g.tiles(), "routing needs tiling windows");
    route_rows(g, offs, h, th, pg, out);
}

crate::nn::kernels::dispatch!(
    /// [`route_to_winners`] compiled for the CPU's vector width.
    fn route_rows(
        g: &PoolGeom,
        offs: &[usize],
        h: &[f32],
        th: &[f32],
        pg: &[f32],
        out: &mut [f32],
    ) = route_rows_impl
);

#[inline(always)]
#[allow(clippy::int_plus_one)]
fn route_rows_impl<const W: usize>(
    g: &PoolGeom,
    offs: &[usize],
    h: &[f32],
    th: &[f32],
    pg: &[f32],
    out: &mut [f32],
) {
    let c = g.c;
    for oy in 0..g.h_out {
        for ox in 0..g.w_out {
            let base = (oy * g.stride * g.w_in + ox * g.stride) * c;
            let op = (oy * g.w_out + ox) * c;
            crate::nn::kernels::channel_tiles!(W, c0 = 0, c, [16, 8, 4, 1], |T| {
                route_tile::<T>(offs, c, h, th, &pg[op + c0..op + c0 + T], out, base + c0)
            });
        }
    }
}

/// [`route_to_winners`] for `T` channels of one window starting at `start`.
#[inline(always)]
fn route_tile<const T: usize>(
    offs: &[usize],
    c: usize,
    h: &[f32],
    th: &[f32],
    pg: &[f32],
    out: &mut [f32],
    start: usize,
) {
    let pg: &[f32; T] = pg.try_into().expect("tile");
    // 1 while the window has no winner yet (arithmetic masks vectorise; bools do not).
    let mut free = [1.0f32; T];
    for &o in offs {
        let i = start + o * c;
        let hs: &[f32; T] = h[i..i + T].try_into().expect("tile");
        let ts: &[f32; T] = th[i..i + T].try_into().expect("tile");
        let os: &mut [f32; T] = (&mut out[i..i + T]).try_into().expect("tile");
        for q in 0..T {
            let spiked = (hs[q] >= ts[q]) as u32 as f32;
            let wins = spiked * free[q];
            os[q] = pg[q] * wins;
            free[q] -= wins;
        }
    }
    let i = start + offs[0] * c;
    let os: &mut [f32; T] = (&mut out[i..i + T]).try_into().expect("tile");
    for q in 0..T {
        os[q] += pg[q] * free[q];
    }
}

/// One step of the backward pass for one sample (see the module docs). `g` holds
/// `∂L/∂s_t` on entry and `∂L/∂x_t` on exit; `theta_t` is the threshold used at this
/// step, `prev` the membrane and threshold of the previous step (for ∂L/∂β).
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_row<F: SpikeFn>(
    cfg: &BackCfg,
    f: F,
    beta: &[f32],
    theta_t: &[f32],
    h: &[f32],
    prev: Option<(&[f32], &[f32])>,
    g: &mut [f32],
    st: &mut BackState,
) {
    #[cfg(target_arch = "x86_64")]
    if crate::nn::kernels::has_avx512() {
        // SAFETY: the CPU supports AVX-512 (checked above).
        return unsafe { backward_row_avx512(cfg, f, beta, theta_t, h, prev, g, st) };
    }
    backward_row_body(cfg, f, beta, theta_t, h, prev, g, st)
}

/// [`backward_row`] compiled for AVX-512 (the same arithmetic, 16 lanes).
///
/// # Safety
/// The CPU supports AVX-512F and AVX-512VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn backward_row_avx512<F: SpikeFn>(
    cfg: &BackCfg,
    f: F,
    beta: &[f32],
    theta_t: &[f32],
    h: &[f32],
    prev: Option<(&[f32], &[f32])>,
    g: &mut [f32],
    st: &mut BackState,
) {
    backward_row_body(cfg, f, beta, theta_t, h, prev, g, st)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn backward_row_body<F: SpikeFn>(
    cfg: &BackCfg,
    f: F,
    beta: &[f32],
    theta_t: &[f32],
    h: &[f32],
    prev: Option<(&[f32], &[f32])>,
    g: &mut [f32],
    st: &mut BackState,
) {
    lif_backward_row(cfg, f, beta, theta_t, h, prev, g, st)
}

impl Layer for Spiking {
    fn kind(&self) -> &'static str {
        match self.model {
            SpikingModel::Lif => "lif",
            SpikingModel::If => "if",
            SpikingModel::Alif(_) => "alif",
        }
    }
    fn in_shape(&self) -> FeatShape {
        self.shape
    }
    fn out_shape(&self) -> FeatShape {
        self.shape
    }

    fn forward(&mut self, x: Activation, pass: &Pass) -> Activation {
        let n = self.shape.len();
        let steps = pass.steps;
        let rows = pass.rows();
        let (mut h, x_static) = match x {
            Activation::Dense(t) => (t.into_data(), None),
            Activation::Spikes(s) => (s.to_dense().into_data(), None),
            Activation::Static(t) => (crate::nn::pool::take(rows * n), Some(t)),
        };
        assert_eq!(h.len(), rows * n, "spiking layer input rows");
        let adaptive = matches!(self.model, SpikingModel::Alif(_));
        let mut theta_t = if adaptive {
            crate::nn::pool::take(rows * n)
        } else {
            Vec::new()
        };
        let beta = self.beta.expanded(n);
        let theta = self.threshold.expanded(n);
        let chunk = steps * n;
        let tt: Vec<&mut [f32]> = if adaptive {
            theta_t.chunks_mut(chunk).collect()
        } else {
            (0..pass.batch).map(|_| &mut [][..]).collect()
        };
        let xs = |b: usize| x_static.as_ref().map(|t| t.row(b));
        let out = if pass.smooth {
            let f = SmoothSpike(self.spec.surrogate);
            let mut vals = crate::nn::pool::take(rows * n);
            h.par_chunks_mut(chunk)
                .zip(vals.par_chunks_mut(chunk))
                .zip(tt.into_par_iter())
                .enumerate()
                .for_each_init(Vec::new, |scr, (b, ((hc, vc), tc))| {
                    self.run_sample(f, &beta, &theta, xs(b), hc, tc, Sink::Values(vc), scr);
                });
            self.spikes = 0;
            Activation::Dense(Tensor::from_vec(vals, rows, self.shape))
        } else {
            let mut s = SpikeTensor::zeros(rows, self.shape);
            let wchunk = steps * s.words;
            h.par_chunks_mut(chunk)
                .zip(s.bits.par_chunks_mut(wchunk))
                .zip(tt.into_par_iter())
                .enumerate()
                .for_each_init(Vec::new, |scr, (b, ((hc, bc), tc))| {
                    self.run_sample(Heaviside, &beta, &theta, xs(b), hc, tc, Sink::Bits(bc), scr);
                });
            self.spikes = s.count();
            Activation::Spikes(s)
        };
        // Without a recording pass the cache is dropped at once, which hands the
        // membranes back to the pool for the next batch (see `Cache`'s `Drop`).
        let cache = Cache {
            h,
            theta_t,
            was_static: x_static.is_some(),
            by: Recorder::Layer,
        };
        self.cache = pass.record.then_some(cache);
        out
    }

    fn backward(&mut self, mut grad: Tensor, pass: &Pass, need: bool) -> Option<Tensor> {
        let cache = self
            .cache
            .take()
            .expect("spiking backward without a recorded forward");
        assert!(
            cache.by != Recorder::FusedRecompute,
            "a fused convolution + spiking forward pass is undone by Network::backward"
        );
        if pass.smooth {
            self.backward_with(
                SmoothSpike(self.spec.surrogate),
                &mut grad,
                pass.steps,
                &cache,
            );
        } else {
            self.backward_with(Heaviside, &mut grad, pass.steps, &cache);
        }
        if !need {
            return None;
        }
        Some(if cache.was_static {
            sum_over_steps(&grad, pass.steps)
        } else {
            grad
        })
    }

    fn backward_through_pool(
        &mut self,
        pooled: &Tensor,
        geom: &PoolGeom,
        pass: &Pass,
        need: bool,
    ) -> Option<Option<Tensor>> {
        if pass.smooth
            || !geom.tiles()
            || self
                .cache
                .as_ref()
                .is_none_or(|c| c.by == Recorder::FusedRecompute)
        {
            return None;
        }
        let cache = self.cache.take().expect("checked");
        let was_static = cache.was_static;
        let dx = self.backward_pooled(pooled, geom, pass.steps, cache);
        let dx = Tensor::from_vec(dx, pass.rows(), self.shape);
        Some(need.then(|| {
            if was_static {
                sum_over_steps(&dx, pass.steps)
            } else {
                dx
            }
        }))
    }

    fn params(&self) -> Vec<&Param> {
        vec![&self.beta, &self.threshold]
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.beta, &mut self.threshold]
    }
    fn clear(&mut self) {
        self.cache = None;
    }
    fn last_spike_count(&self) -> Option<u64> {
        Some(self.spikes)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::super::gradcheck::{check, random_dense};
    use super::*;
    use spikelab_core::neuron::surrogate::SurrogateKind;

    fn smooth_pass(steps: usize, batch: usize) -> Pass {
        let mut p = Pass::eval(steps, batch);
        p.smooth = true;
        p
    }

    #[test]
    fn every_variant_backward_matches_finite_differences() {
        let shape = FeatShape::flat(6);
        let (steps, batch) = (5, 2);
        let pass = smooth_pass(steps, batch);
        let x = Activation::Dense(random_dense(steps * batch, shape, 3, 1.5));
        let xs = Activation::Static(random_dense(batch, shape, 4, 1.5));
        let mut checked = 0;
        for model in [
            SpikingModel::Lif,
            SpikingModel::If,
            SpikingModel::Alif(Adaptation {
                rho: 0.8,
                gamma: 0.3,
            }),
        ] {
            for reset in [
                DiscreteReset::Subtract,
                DiscreteReset::Zero,
                DiscreteReset::None,
            ] {
                {
                    let detach = false;
                    for (kind, learn) in [
                        (SurrogateKind::Sigmoid, Learn::Layer),
                        (SurrogateKind::Atan, Learn::Neuron),
                        (SurrogateKind::FastSigmoid, Learn::Neuron),
                    ] {
                        let spec = SpikingSpec {
                            beta: 0.8,
                            threshold: 0.7,
                            learn_beta: learn,
                            learn_threshold: learn,
                            reset,
                            detach_reset: detach,
                            // A gentle slope: the fast sigmoid's primitive has a jump in
                            // its second derivative at 0 that finite differences see.
                            surrogate: Surrogate::with_slope(kind, 3.0),
                        };
                        let mut l = Spiking::new(model, spec, shape);
                        checked += check(&mut l, &x, &pass, 1e-3, 2e-2);
                        checked += check(&mut l, &xs, &pass, 1e-3, 2e-2);
                    }
                }
            }
        }
        assert!(checked > 1000);
    }

    /// Forward of one sample with the reset spikes frozen at `frozen` (when given):
    /// the function whose exact gradient the detach-reset backward pass computes.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        model: SpikingModel,
        spec: &SpikingSpec,
        beta: &[f32],
        theta: &[f32],
        x: &[f32],
        n: usize,
        frozen: Option<&[f32]>,
        spikes: &mut Vec<f32>,
    ) -> Vec<f32> {
        let f = SmoothSpike(spec.surrogate);
        let Adaptation { rho, gamma } = match model {
            SpikingModel::Alif(ad) => ad,
            _ => Adaptation::NONE,
        };
        let (mut v, mut a) = (vec![0.0f32; n], vec![0.0f32; n]);
        let mut out = vec![0.0; x.len()];
        spikes.clear();
        for t in 0..x.len() / n {
            for i in 0..n {
                let th = theta[i] + gamma * a[i];
                let h = beta[i] * v[i] + x[t * n + i];
                let s = f.fire(h - th);
                let sr = frozen.map_or(s, |z| z[t * n + i]);
                v[i] = spec.reset.apply(h, sr, th);
                a[i] = rho * a[i] + s;
                out[t * n + i] = s;
                spikes.push(s);
            }
        }
        out
    }

    #[test]
    fn detached_reset_gradient_is_the_gradient_with_frozen_resets() {
        let (steps, n) = (6, 4);
        let shape = FeatShape::flat(n);
        let pass = smooth_pass(steps, 1);
        let x = random_dense(steps, shape, 8, 1.5);
        let c = crate::nn::layers::gradcheck::coeffs(steps * n, 9);
        for model in [
            SpikingModel::Lif,
            SpikingModel::Alif(Adaptation {
                rho: 0.7,
                gamma: 0.4,
            }),
        ] {
            for reset in [DiscreteReset::Subtract, DiscreteReset::Zero] {
                let spec = SpikingSpec {
                    beta: 0.8,
                    threshold: 0.6,
                    learn_beta: Learn::Neuron,
                    learn_threshold: Learn::Neuron,
                    reset,
                    detach_reset: true,
                    surrogate: Surrogate::new(SurrogateKind::Sigmoid),
                };
                let mut l = Spiking::new(model, spec.clone(), shape);
                let mut rec = pass;
                rec.record = true;
                let out = l.forward(Activation::Dense(x.clone()), &rec);
                let dx = l
                    .backward(Tensor::from_vec(c.clone(), steps, shape), &rec, true)
                    .unwrap();
                let (beta, theta) = (l.beta.value.clone(), l.threshold.value.clone());
                let mut frozen = Vec::new();
                let r0 = reference(model, &spec, &beta, &theta, &x.data, n, None, &mut frozen);
                // The reference reproduces the layer.
                let od = out.to_dense(steps);
                assert!(r0.iter().zip(&od.data).all(|(a, b)| (a - b).abs() < 1e-5));
                let mut tmp = Vec::new();
                let loss = |beta: &[f32], theta: &[f32], x: &[f32], tmp: &mut Vec<f32>| -> f64 {
                    reference(model, &spec, beta, theta, x, n, Some(&frozen), tmp)
                        .iter()
                        .zip(&c)
                        .map(|(a, b)| (*a as f64) * (*b as f64))
                        .sum()
                };
                let eps = 1e-3f32;
                let fd = |a: f64, b: f64| (a - b) / (2.0 * eps as f64);
                for i in 0..x.data.len() {
                    let (mut xp, mut xm) = (x.data.clone(), x.data.clone());
                    xp[i] += eps;
                    xm[i] -= eps;
                    let num = fd(
                        loss(&beta, &theta, &xp, &mut tmp),
                        loss(&beta, &theta, &xm, &mut tmp),
                    );
                    let ana = dx.data[i] as f64;
                    assert!(
                        (num - ana).abs() < 2e-2 * num.abs().max(1e-2),
                        "{model:?} {reset:?} x[{i}]: {ana} vs {num}"
                    );
                }
                for i in 0..n {
                    for which in 0..2 {
                        let (mut bp, mut bm, mut tp, mut tm) =
                            (beta.clone(), beta.clone(), theta.clone(), theta.clone());
                        if which == 0 {
                            bp[i] += eps;
                            bm[i] -= eps;
                        } else {
                            tp[i] += eps;
                            tm[i] -= eps;
                        }
                        let num = fd(
                            loss(&bp, &tp, &x.data, &mut tmp),
                            loss(&bm, &tm, &x.data, &mut tmp),
                        );
                        let ana = if which == 0 {
                            l.beta.grad[i]
                        } else {
                            l.threshold.grad[i]
                        } as f64;
                        assert!(
                            (num - ana).abs() < 2e-2 * num.abs().max(1e-2),
                            "{model:?} {reset:?} param {which}[{i}]: {ana} vs {num}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn heaviside_forward_gives_spikes_and_surrogate_gradients() {
        let shape = FeatShape::flat(3);
        let mut l = Spiking::new(SpikingModel::Lif, SpikingSpec::default(), shape);
        // Constant input 0.5, β = 0.9, θ = 1: h = 0.5, 0.95, 1.355 → spike at step 3.
        let x = Tensor::from_vec(vec![0.5; 9], 3, shape);
        let mut pass = Pass::eval(3, 1);
        pass.record = true;
        let out = l.forward(Activation::Dense(x), &pass);
        let s = out.as_spikes().unwrap();
        assert_eq!(s.count(), 3);
        assert!(s.get(2, 0) && !s.get(1, 0));
        assert_eq!(l.last_spike_count(), Some(3));
        // ∂(Σ s_2)/∂x_2 = σ'(h_2 − θ) = σ'(0.355).
        let mut g = Tensor::zeros(3, shape);
        g.row_mut(2).fill(1.0);
        let dx = l.backward(g, &pass, true).unwrap();
        let want = Surrogate::default().grad(0.355);
        assert!((dx.row(2)[0] - want).abs() < 1e-5);
        // Earlier steps get the gradient through the membrane: β·(1 − θ·σ') ...
        assert!(dx.row(1)[0] != 0.0);
    }
}
