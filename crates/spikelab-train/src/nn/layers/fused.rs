//! A convolution on sparse input spikes fused with the spiking layer after it (and,
//! in the backward pass, with a max pooling of its spikes).
//!
//! Run layer by layer, such a block writes and reads its `T × B × C × H × W` synaptic
//! currents, membranes and their gradients several times (88 MB each for the first
//! layer of `12C5-MP2-64C5-MP2-10` at `T = 25`, batch 128), so the work is bound by
//! memory traffic. Fused, it runs one sample at a time: the sample's `T` rows of
//! currents are computed by the sparse kernels into a buffer that stays in cache and
//! integrated in place; only the packed spikes (and, for a busy input, the membranes)
//! leave it. The backward pass routes the pooled gradient to the window winners, runs
//! the BPTT step backwards in time and adds each step's current gradient into the
//! weight gradient, and the sample's input gradient, while it is in cache.
//!
//! On scatter-kernel input (a first layer on sparse pixels) the membranes are not even
//! stored: the backward pass recomputes them, the convolution being cheap there. On
//! gather-kernel input they are stored as the spiking layer would store them.
//!
//! Results equal those of the separate layers up to the order of floating-point sums;
//! parameter gradients are summed over fixed groups of samples, so they do not depend
//! on the thread count.

use super::conv::{Conv2d, FusedInput};
use super::pool::PoolGeom;
use super::spiking::{backward_row, route_to_winners, Sink, Spiking};
use super::{Layer, Pass};
use crate::nn::kernels::conv::{
    conv_gather_row, conv_input_grad_serial, conv_scatter_wgrad_row, conv_sparse_row_runs,
    conv_sparse_wgrad_row_runs, unreverse, ConvGeom, ScatterPlan,
};
use crate::nn::kernels::sparse::SpikeIndex;
use crate::nn::kernels::{group_ranges, sum_partials, Aligned};
use crate::nn::tensor::{Activation, SpikeTensor, Tensor};
use rayon::prelude::*;
use spikelab_core::neuron::discrete_time::Heaviside;
use spikelab_core::neuron::lif::backward::{BackCfg, BackState};
use std::cell::RefCell;
use std::ops::Range;

/// Per-thread membranes (`T × n`), adaptive thresholds, step scratch and current
/// gradients (`T × n`) of one sample.
type Scratch = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>);

thread_local! {
    /// This thread's [`Scratch`], kept between calls.
    static SCRATCH: RefCell<Scratch> =
        const { RefCell::new((Vec::new(), Vec::new(), Vec::new(), Vec::new())) };
}

/// Whether `conv` followed by `next` runs fused on input `x`: a convolution and a
/// spiking layer, sparse spike input, and no smooth (gradient-check) pass.
pub fn fusable(conv: &dyn Layer, next: &dyn Layer, x: &Activation, pass: &Pass) -> bool {
    let (Some(conv), Some(_)) = (
        conv.as_any().downcast_ref::<Conv2d>(),
        next.as_any().downcast_ref::<Spiking>(),
    ) else {
        return false;
    };
    !pass.smooth && matches!(x, Activation::Spikes(s) if conv.sparse(s))
}

/// How the block's convolution runs.
enum Kernel<'a> {
    /// Every active input adds weight runs into the outputs (prepared weights).
    Scatter {
        active: &'a SpikeIndex,
        plan: ScatterPlan,
    },
    /// Every output sums the weight rows of its active taps.
    Gather {
        spikes: &'a SpikeTensor,
        /// The weights, copied to whole cache lines.
        w: Aligned,
        bias: Option<&'a [f32]>,
    },
}

/// What the fused forward and backward passes share.
struct Block<'a> {
    g: ConvGeom,
    steps: usize,
    kernel: Kernel<'a>,
    beta: Vec<f32>,
    theta: Vec<f32>,
    adaptive: bool,
}

impl<'a> Block<'a> {
    fn new(conv: &'a Conv2d, sp: &Spiking, input: &'a FusedInput, steps: usize) -> Self {
        let n = sp.neurons();
        let bias = conv.bias.as_ref().map(|b| &b.value[..]);
        let kernel = match input {
            FusedInput::Scatter(active, scale) => Kernel::Scatter {
                active,
                plan: ScatterPlan::new(&conv.geom, &conv.weight.value, bias, *scale),
            },
            FusedInput::Gather(spikes) => Kernel::Gather {
                spikes,
                w: Aligned::copy_of(&conv.weight.value),
                bias,
            },
        };
        Block {
            g: conv.geom,
            steps,
            kernel,
            beta: sp.beta.expanded(n),
            theta: sp.threshold.expanded(n),
            adaptive: sp.back_cfg().adaptive(),
        }
    }

    /// Whether the backward pass recomputes the membranes instead of storing them.
    fn recomputes(&self) -> bool {
        matches!(self.kernel, Kernel::Scatter { .. })
    }

    /// Computes sample `b`'s currents into `h` (`T × n`) and integrates them: `h`
    /// then holds the membranes before reset (see [`Spiking`]), `theta_t` the
    /// thresholds of an adaptive layer.
    fn run(
        &self,
        sp: &Spiking,
        b: usize,
        h: &mut [f32],
        theta_t: &mut [f32],
        scratch: &mut Vec<f32>,
        sink: Sink,
    ) {
        let n = self.g.out_len();
        for (t, row) in h.chunks_exact_mut(n).enumerate() {
            let r = b * self.steps + t;
            match &self.kernel {
                Kernel::Scatter { active, plan } => {
                    conv_sparse_row_runs(&self.g, active.row(r), plan, row)
                }
                Kernel::Gather { spikes, w, bias } => {
                    conv_gather_row(&self.g, spikes.row(r), w, *bias, spikes.scale, row)
                }
            }
        }
        sp.run_sample(
            Heaviside,
            &self.beta,
            &self.theta,
            None,
            h,
            theta_t,
            sink,
            scratch,
        );
    }

    /// Adds row `r`'s weight gradient from the current gradient `gout` into `dw` (in
    /// the kernel's weight layout).
    /// Steps sample `b` of the block back in time: the gradient of each step's spikes
    /// (routed from the pooling when there is one) → the spiking layer's backward step
    /// → ∂L/∂(current), added to the weight and bias sums of `part` while the row is in
    /// cache and kept in `ds` (when not empty) for the input gradient. `h` and `tt` are
    /// the sample's membranes and adaptive thresholds. Returns the β and θ sums.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn backward_sample(
        &self,
        cfg: &BackCfg,
        grad: &BlockGrad,
        offs: &[usize],
        b: usize,
        h: &[f32],
        tt: &[f32],
        grow: &mut [f32],
        part: &mut Partial,
        ds: &mut [f32],
    ) -> BackState {
        let (steps, n) = (self.steps, self.g.out_len());
        let mut st = BackState::new(n, cfg);
        for t in (0..steps).rev() {
            let r = b * steps + t;
            let row = t * n..(t + 1) * n;
            let th = if self.adaptive {
                &tt[row.clone()]
            } else {
                &self.theta[..]
            };
            match *grad {
                BlockGrad::Spikes(gs) => grow.copy_from_slice(gs.row(r)),
                BlockGrad::Pooled(pg, geom) => {
                    route_to_winners(geom, offs, &h[row.clone()], th, pg.row(r), grow)
                }
            }
            let hr = &h[row.clone()];
            let prev = (t > 0).then(|| {
                let p = (t - 1) * n..t * n;
                let tp = if self.adaptive {
                    &tt[p.clone()]
                } else {
                    &self.theta[..]
                };
                (&h[p], tp)
            });
            backward_row(cfg, Heaviside, &self.beta, th, hr, prev, grow, &mut st);
            // `grow` is now ∂L/∂(current) of step t.
            self.add_weight_grad(r, grow, &mut part.dw);
            part.db
                .iter_mut()
                .zip(grow.iter())
                .for_each(|(a, x)| *a += x);
            if !ds.is_empty() {
                ds[row].copy_from_slice(grow);
            }
        }
        st
    }

    fn add_weight_grad(&self, r: usize, gout: &[f32], dw: &mut [f32]) {
        match &self.kernel {
            Kernel::Scatter { active, plan } => {
                conv_sparse_wgrad_row_runs(&self.g, active.row(r), gout, &plan.runs, dw)
            }
            Kernel::Gather { spikes, .. } => {
                conv_scatter_wgrad_row(&self.g, spikes.row(r), gout, dw)
            }
        }
    }
}

/// Splits `buf` (`per_sample` floats per sample) into the parts of the sample groups
/// `ranges`, or gives `None` for every group.
fn split_groups<'b>(
    buf: Option<&'b mut [f32]>,
    ranges: &[Range<usize>],
    per_sample: usize,
) -> Vec<Option<&'b mut [f32]>> {
    match buf {
        None => ranges.iter().map(|_| None).collect(),
        Some(mut rest) => ranges
            .iter()
            .map(|r| {
                let (a, b) = std::mem::take(&mut rest).split_at_mut(r.len() * per_sample);
                rest = b;
                Some(a)
            })
            .collect(),
    }
}

/// `buf` cut into `batch` parts of `len` floats, or `None` for every sample.
fn per_sample(buf: Option<&mut [f32]>, batch: usize, len: usize) -> Vec<Option<&mut [f32]>> {
    match buf {
        Some(b) => b.chunks_mut(len).map(Some).collect(),
        None => (0..batch).map(|_| None).collect(),
    }
}

/// Forward pass of `conv` then `sp` on spikes `x` (see [`fusable`]); returns the
/// spikes of `sp`.
pub fn forward(conv: &mut Conv2d, sp: &mut Spiking, x: Activation, pass: &Pass) -> Activation {
    let Activation::Spikes(s) = x else {
        panic!("fused forward needs spike input")
    };
    let steps = pass.steps;
    let rows = s.rows;
    let input = if conv.scatters(&s) {
        FusedInput::Scatter(SpikeIndex::from_spikes(&s), s.scale)
    } else {
        FusedInput::Gather(s)
    };
    let mut out = SpikeTensor::zeros(rows, conv.out_shape());
    let (n, words) = (sp.neurons(), steps * out.words);
    let stored = {
        let block = Block::new(conv, sp, &input, steps);
        let mut stored = (pass.record && !block.recomputes()).then(|| {
            let tt = if block.adaptive {
                crate::nn::pool::take(rows * n)
            } else {
                Vec::new()
            };
            (crate::nn::pool::take(rows * n), tt)
        });
        let batch = rows / steps;
        let (h_buf, tt_buf) = match &mut stored {
            Some((h, tt)) => (Some(&mut h[..]), (!tt.is_empty()).then_some(&mut tt[..])),
            None => (None, None),
        };
        let hs = per_sample(h_buf, batch, steps * n);
        let tts = per_sample(tt_buf, batch, steps * n);
        let sp = &*sp;
        out.bits
            .par_chunks_mut(words)
            .zip(hs.into_par_iter())
            .zip(tts.into_par_iter())
            .enumerate()
            .for_each(|(b, ((bits, h), tt))| {
                SCRATCH.with(|c| {
                    let (hs, ts, scr, _) = &mut *c.borrow_mut();
                    hs.resize(steps * n, 0.0);
                    ts.resize(if block.adaptive { steps * n } else { 0 }, 0.0);
                    let h = h.unwrap_or(&mut hs[..]);
                    let tt = tt.unwrap_or(&mut ts[..]);
                    block.run(sp, b, h, tt, scr, Sink::Bits(bits));
                })
            });
        stored
    };
    sp.finish_fused_forward(pass.record, out.count(), stored);
    if pass.record {
        conv.record_fused(input);
    }
    Activation::Spikes(out)
}

/// The gradient arriving at a fused block.
#[derive(Clone, Copy)]
pub enum BlockGrad<'a> {
    /// The gradient of the spiking layer's spikes.
    Spikes(&'a Tensor),
    /// The gradient of the max pooling (tiling windows) of the spikes.
    Pooled(&'a Tensor, &'a PoolGeom),
}

/// Sums of one group of samples: weight gradient (kernel layout), bias gradient per
/// output feature, and the spiking layer's β and θ gradients.
struct Partial {
    dw: Aligned,
    db: Vec<f32>,
    dbeta: Vec<f32>,
    dtheta: Vec<f32>,
}

/// Backward pass of a block recorded by [`forward`] (or by the two layers' own
/// forward passes on sparse spikes): sets the gradients of both layers' parameters
/// and returns the gradient of the convolution's input when `need_input_grad`.
pub fn backward(
    conv: &mut Conv2d,
    sp: &mut Spiking,
    grad: BlockGrad,
    pass: &Pass,
    need_input_grad: bool,
) -> Option<Tensor> {
    let mut stored = sp.take_fused_cache();
    let input = conv.take_fused();
    let steps = pass.steps;
    let g = conv.geom;
    let (n, il) = (g.out_len(), g.in_len());
    let cfg = sp.back_cfg();
    let partials: Vec<Partial>;
    let mut dx;
    let mut dw = vec![0.0f32; g.k() * g.c_out];
    {
        let block = Block::new(conv, sp, &input, steps);
        let batch = match &input {
            FusedInput::Scatter(a, _) => a.rows(),
            FusedInput::Gather(s) => s.rows,
        } / steps;
        dx = need_input_grad.then(|| Tensor::uninit(batch * steps, conv.in_shape()));
        assert_eq!(
            stored.is_none(),
            block.recomputes(),
            "fused backward: membranes stored for a recomputing block or missing"
        );
        let (sp, w) = (&*sp, &conv.weight.value);
        let offs: Vec<usize> = match grad {
            BlockGrad::Pooled(_, pg) => pg.window_offsets(),
            BlockGrad::Spikes(_) => Vec::new(),
        };
        let ranges = group_ranges(batch);
        let dx_parts = split_groups(dx.as_mut().map(|d| &mut d.data[..]), &ranges, steps * il);
        let (h_store, tt_store) = match &mut stored {
            Some((h, tt)) => (Some(&mut h[..]), (!tt.is_empty()).then_some(&mut tt[..])),
            None => (None, None),
        };
        let h_parts = split_groups(h_store, &ranges, steps * n);
        let tt_parts = split_groups(tt_store, &ranges, steps * n);
        partials = ranges
            .clone()
            .into_par_iter()
            .zip(dx_parts.into_par_iter())
            .zip(h_parts.into_par_iter().zip(tt_parts.into_par_iter()))
            .map(|((range, mut dxp), (hp, mut ttp))| {
                let mut part = Partial {
                    dw: Aligned::zeros(g.k() * g.c_out),
                    db: vec![0.0; n],
                    dbeta: vec![0.0; if cfg.learn_beta { n } else { 0 }],
                    dtheta: vec![0.0; if cfg.learn_theta { n } else { 0 }],
                };
                let mut grow = Aligned::zeros(n);
                SCRATCH.with(|c| {
                    let (hs, ts, scr, ds) = &mut *c.borrow_mut();
                    // The current gradients of a sample are kept (for its input
                    // gradient) in a scratch buffer that stays in cache, not over
                    // the stored membranes.
                    let keep_di = dxp.is_some();
                    ds.resize(if keep_di { steps * n } else { 0 }, 0.0);
                    for (q, b) in range.clone().enumerate() {
                        let sample = q * steps * n..(q + 1) * steps * n;
                        let h: &[f32] = match hp.as_deref() {
                            Some(hp) => &hp[sample.clone()],
                            None => {
                                hs.resize(steps * n, 0.0);
                                ts.resize(if block.adaptive { steps * n } else { 0 }, 0.0);
                                block.run(sp, b, hs, ts, scr, Sink::Discard);
                                &hs[..]
                            }
                        };
                        let tt: &[f32] = match ttp.as_deref_mut() {
                            Some(tp) => &tp[sample],
                            None => &ts[..],
                        };
                        let ds = if keep_di { &mut ds[..] } else { &mut [][..] };
                        let st = block.backward_sample(
                            &cfg, &grad, &offs, b, h, tt, &mut grow, &mut part, ds,
                        );
                        part.dbeta
                            .iter_mut()
                            .zip(&st.dbeta)
                            .for_each(|(a, x)| *a += x);
                        part.dtheta
                            .iter_mut()
                            .zip(&st.dtheta)
                            .for_each(|(a, x)| *a += x);
                        if let Some(d) = dxp.as_deref_mut() {
                            let dxs = &mut d[q * steps * il..(q + 1) * steps * il];
                            let cr = g.chunk_rows();
                            for (gc, dc) in ds.chunks(cr * n).zip(dxs.chunks_mut(cr * il)) {
                                conv_input_grad_serial(&g, gc, w, dc);
                            }
                        }
                    }
                });
                part
            })
            .collect();
    }
    set_block_grads(conv, sp, &cfg, &input, partials, &mut dw, stored);
    dx
}

/// Sums the groups' partial gradients into the parameters of the convolution (weights
/// in its own layout, scaled, and bias) and of the spiking layer, and hands the stored
/// membranes back to the pool.
fn set_block_grads(
    conv: &mut Conv2d,
    sp: &mut Spiking,
    cfg: &BackCfg,
    input: &FusedInput,
    partials: Vec<Partial>,
    dw: &mut [f32],
    stored: Option<(Vec<f32>, Vec<f32>)>,
) {
    let g = conv.geom;
    let scale = match input {
        FusedInput::Scatter(_, scale) => *scale,
        FusedInput::Gather(s) => s.scale,
    };
    let dws: Vec<&[f32]> = partials.iter().map(|p| &p.dw[..]).collect();
    sum_partials(&dws, dw);
    // The scatter kernels work on weights in reversed layout.
    match input {
        FusedInput::Scatter(..) => unreverse(&g, dw, &mut conv.weight.grad),
        FusedInput::Gather(_) => conv.weight.grad.copy_from_slice(dw),
    }
    if scale != 1.0 {
        conv.weight.grad.iter_mut().for_each(|x| *x *= scale);
    }
    if let Some(b) = &mut conv.bias {
        b.grad.fill(0.0);
        for p in &partials {
            for pos in p.db.chunks_exact(g.c_out) {
                b.grad.iter_mut().zip(pos).for_each(|(a, x)| *a += x);
            }
        }
    }
    if let Some((h, tt)) = stored {
        crate::nn::pool::give(h);
        crate::nn::pool::give(tt);
    }
    let sums: Vec<(Vec<f32>, Vec<f32>)> =
        partials.into_iter().map(|p| (p.dbeta, p.dtheta)).collect();
    sp.set_param_grads(cfg, &sums);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::layers::gradcheck::{random_dense, random_spikes};
    use crate::nn::layers::spiking::{Learn, SpikingSpec};
    use crate::nn::network::{AlifSpec, LayerSpec, NetSpec, Network};
    use crate::nn::tensor::FeatShape;

    /// Output spikes and every parameter gradient of one training step.
    fn step(spec: &NetSpec, x: &SpikeTensor, fusion: bool) -> (Vec<f32>, Vec<(String, Vec<f32>)>) {
        let (steps, batch) = (4, x.rows / 4);
        let mut net = Network::build(spec, steps, 3).unwrap();
        net.set_fusion(fusion);
        let pass = Pass::train(steps, batch, [0; 3]);
        let out = net.forward(Activation::Spikes(x.clone()), &pass);
        if fusion {
            // Every convolution on spikes ran fused with its spiking layer.
            for (i, l) in spec.layers.iter().enumerate() {
                if matches!(l, LayerSpec::Conv2d { .. }) {
                    let sp = net.layers()[i + 1]
                        .as_any()
                        .downcast_ref::<Spiking>()
                        .unwrap();
                    assert!(sp.awaits_fused_backward(), "layer {i} did not fuse");
                }
            }
        }
        let y = out.to_dense(steps).data.clone();
        let g = random_dense(out.rows(), out.shape(), 4, 1.0);
        net.backward(g, &pass);
        let grads = net
            .named_params()
            .iter()
            .map(|(n, p)| (n.clone(), p.grad.clone()))
            .collect();
        (y, grads)
    }

    fn assert_same(spec: &NetSpec, x: &SpikeTensor) {
        let (ya, ga) = step(spec, x, true);
        let (yb, gb) = step(spec, x, false);
        assert_eq!(ya, yb, "fused forward differs");
        assert!(ya.iter().any(|&v| v != 0.0), "no output spikes");
        let mut nonzero = 0;
        for ((n, a), (_, b)) in ga.iter().zip(&gb) {
            let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-3);
            for (u, v) in a.iter().zip(b) {
                assert!((u - v).abs() <= 1e-4 * scale, "{n}: {u} vs {v}");
            }
            nonzero += a.iter().filter(|&&v| v != 0.0).count();
        }
        assert!(nonzero > 100, "only {nonzero} non-zero gradients");
    }

    fn learnt() -> SpikingSpec {
        SpikingSpec {
            beta: 0.8,
            threshold: 0.5,
            learn_beta: Learn::Layer,
            learn_threshold: Learn::Neuron,
            ..SpikingSpec::default()
        }
    }

    /// Two blocks (scatter input, then gather input that needs its input gradient),
    /// one with a tiling max pooling after it, one with an adaptive layer and a
    /// pooling that does not tile (the pooling's own backward pass then runs).
    #[test]
    fn fused_blocks_equal_the_separate_layers() {
        let spec = NetSpec::new(FeatShape::image(2, 12, 12))
            .conv(16, 3)
            .lif(learnt())
            .max_pool(2)
            .conv(32, 3)
            .layer(LayerSpec::Alif(AlifSpec {
                neuron: learnt(),
                rho: 0.9,
                gamma: 0.2,
            }))
            .max_pool(2)
            .flatten()
            .linear(5)
            .lif(SpikingSpec::default());
        let x = random_spikes(4 * 3, spec.input, 0.15, 1);
        let net = Network::build(&spec, 4, 3).unwrap();
        let conv = net.layers()[0].as_any().downcast_ref::<Conv2d>().unwrap();
        assert!(
            conv.scatters(&x),
            "the first block should take the scatter kernels"
        );
        assert_same(&spec, &x);
    }

    /// A block without pooling, on busy input (gather kernels, stored membranes).
    #[test]
    fn fused_block_without_pooling_equals_the_separate_layers() {
        let spec = NetSpec::new(FeatShape::image(16, 6, 6))
            .conv(32, 3)
            .lif(learnt())
            .flatten()
            .linear(5)
            .lif(SpikingSpec {
                threshold: 0.1,
                ..SpikingSpec::default()
            });
        let x = random_spikes(4 * 3, spec.input, 0.4, 2);
        let net = Network::build(&spec, 4, 3).unwrap();
        let conv = net.layers()[0].as_any().downcast_ref::<Conv2d>().unwrap();
        assert!(
            !conv.scatters(&x),
            "the block should take the gather kernels"
        );
        assert_same(&spec, &x);
    }

    /// Gradients summed over fixed sample groups do not depend on the thread count.
    #[test]
    fn fused_gradients_do_not_depend_on_the_thread_count() {
        let spec = NetSpec::new(FeatShape::image(2, 12, 12))
            .conv(8, 3)
            .lif(learnt())
            .max_pool(2)
            .conv(16, 3)
            .lif(learnt())
            .flatten()
            .linear(5)
            .lif(SpikingSpec::default());
        let x = random_spikes(4 * 20, spec.input, 0.15, 3);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| step(&spec, &x, true))
        };
        assert_eq!(run(1), run(3));
    }
}
