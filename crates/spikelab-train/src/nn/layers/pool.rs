//! Max and average pooling over `k × k` windows with stride `s` (no padding), per
//! channel, on channels-last rows.
//!
//! Max pooling of spikes is an OR of the window, computed on the packed bits (a
//! channel block of up to 64 bits at a time) and giving spikes again; its gradient goes
//! to the first spiking position of the window in row-major order, or to the first
//! position if none spiked (as `torch.nn.MaxPool2d` routes ties). Average pooling
//! gives dense values (spike counts / k²).

use super::{Layer, Pass};
use crate::nn::tensor::{get_bits, or_bits, Activation, FeatShape, SpikeTensor, Tensor};
use rayon::prelude::*;
use std::any::Any;

/// Pooling geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeom {
    /// Channels.
    pub c: usize,
    /// Input height.
    pub h_in: usize,
    /// Input width.
    pub w_in: usize,
    /// Window size.
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Output height.
    pub h_out: usize,
    /// Output width.
    pub w_out: usize,
}

impl PoolGeom {
    /// The geometry, or None if the window does not fit or a size is zero.
    pub fn new(shape: FeatShape, k: usize, stride: usize) -> Option<Self> {
        if k == 0 || stride == 0 || shape.h < k || shape.w < k {
            return None;
        }
        Some(PoolGeom {
            c: shape.c,
            h_in: shape.h,
            w_in: shape.w,
            k,
            stride,
            h_out: (shape.h - k) / stride + 1,
            w_out: (shape.w - k) / stride + 1,
        })
    }
    fn in_shape(&self) -> FeatShape {
        FeatShape::image(self.c, self.h_in, self.w_in)
    }
    /// True when the windows do not overlap and cover the input exactly.
    pub fn tiles(&self) -> bool {
        self.stride == self.k
            && self.h_in == self.h_out * self.k
            && self.w_in == self.w_out * self.k
    }
    fn out_shape(&self) -> FeatShape {
        FeatShape::image(self.c, self.h_out, self.w_out)
    }
    /// Pixel offsets of a window's positions from its first pixel, row-major.
    pub(crate) fn window_offsets(&self) -> Vec<usize> {
        (0..self.k)
            .flat_map(|dy| (0..self.k).map(move |dx| dy * self.w_in + dx))
            .collect()
    }
    /// Input pixel indices of the window of output pixel `(oy, ox)`, row-major.
    #[inline]
    pub(crate) fn window(&self, oy: usize, ox: usize) -> impl Iterator<Item = usize> + '_ {
        let (y0, x0) = (oy * self.stride, ox * self.stride);
        (0..self.k).flat_map(move |dy| (0..self.k).map(move |dx| (y0 + dy) * self.w_in + x0 + dx))
    }
}

/// Writes (`SET`) or adds the gradients `go` of one row of a spike max-pool to the
/// positions that won each window (see the module docs); `offs` are the window's
/// pixel offsets from its top-left pixel.
#[inline(always)]
fn route_spike_grads<const SET: bool>(
    g: &PoolGeom,
    offs: &[usize],
    d: &mut [f32],
    go: &[f32],
    xb: &[u64],
) {
    let c = g.c;
    for oy in 0..g.h_out {
        if SET {
            // The windows of this output row tile k whole input rows: zero them, then
            // write the winners.
            let a = oy * g.stride * g.w_in * c;
            d[a..a + g.k * g.w_in * c].fill(0.0);
        }
        for ox in 0..g.w_out {
            let op = (oy * g.w_out + ox) * c;
            let base = oy * g.stride * g.w_in + ox * g.stride;
            let mut c0 = 0;
            while c0 < c {
                let len = (c - c0).min(64);
                let all = if len == 64 { u64::MAX } else { (1 << len) - 1 };
                let any = offs
                    .iter()
                    .fold(0, |a, &o| a | get_bits(xb, (base + o) * c + c0, len));
                let mut assigned = 0u64;
                let src = &go[op + c0..op + c0 + len];
                for (q, &o) in offs.iter().enumerate() {
                    let p = base + o;
                    let mut hit = get_bits(xb, p * c + c0, len) & !assigned;
                    assigned |= hit;
                    if q == 0 {
                        // No spike in the window: the first position.
                        hit |= all & !any;
                    }
                    let dst = &mut d[p * c + c0..p * c + c0 + len];
                    while hit != 0 {
                        let k = hit.trailing_zeros() as usize;
                        if SET {
                            dst[k] = src[k];
                        } else {
                            dst[k] += src[k];
                        }
                        hit &= hit - 1;
                    }
                }
                c0 += len;
            }
        }
    }
}

/// Max pooling. See the module docs.
#[derive(Debug)]
pub struct MaxPool2d {
    /// Geometry.
    pub geom: PoolGeom,
    input: Option<Activation>,
}

impl MaxPool2d {
    /// Pools `geom`.
    pub fn new(geom: PoolGeom) -> Self {
        MaxPool2d { geom, input: None }
    }

    /// True when the last recording pass pooled spikes (their gradient can then be
    /// routed by the spiking layer before, see [`Layer::backward_through_pool`]).
    pub fn pooled_spikes(&self) -> bool {
        matches!(self.input, Some(Activation::Spikes(_)))
    }

    fn pool_spikes(&self, s: &SpikeTensor) -> SpikeTensor {
        let g = self.geom;
        let mut out = SpikeTensor::zeros(s.rows, g.out_shape());
        out.scale = s.scale;
        let (wi, wo) = (s.words, out.words);
        if g.tiles() && g.k * g.c <= 64 {
            // Whole words at a time: OR the window's k input rows, then fold each
            // window's k pixels (k·c consecutive bits) into one.
            let row_bits = g.w_in * g.c;
            let keep = u64::MAX >> (64 - g.c);
            out.bits
                .par_chunks_mut(wo)
                .zip(s.bits.par_chunks(wi))
                .for_each_init(
                    || vec![0u64; row_bits.div_ceil(64) + 1],
                    |rows, (o, x)| {
                        for oy in 0..g.h_out {
                            rows.fill(0);
                            for dy in 0..g.k {
                                let start = (oy * g.k + dy) * row_bits;
                                for (i, r) in rows.iter_mut().enumerate() {
                                    let len = row_bits.saturating_sub(64 * i).min(64);
                                    if len > 0 {
                                        *r |= get_bits(x, start + 64 * i, len);
                                    }
                                }
                            }
                            for ox in 0..g.w_out {
                                let v = get_bits(rows, ox * g.k * g.c, g.k * g.c);
                                let mut pooled = 0;
                                for dx in 0..g.k {
                                    pooled |= v >> (dx * g.c);
                                }
                                or_bits(o, (oy * g.w_out + ox) * g.c, g.c, pooled & keep);
                            }
                        }
                    },
                );
            return out;
        }
        out.bits
            .par_chunks_mut(wo)
            .zip(s.bits.par_chunks(wi))
            .for_each(|(o, x)| {
                for oy in 0..g.h_out {
                    for ox in 0..g.w_out {
                        let op = (oy * g.w_out + ox) * g.c;
                        let mut c0 = 0;
                        while c0 < g.c {
                            let len = (g.c - c0).min(64);
                            let mut v = 0u64;
                            for p in g.window(oy, ox) {
                                v |= get_bits(x, p * g.c + c0, len);
                            }
                            or_bits(o, op + c0, len, v);
                            c0 += len;
                        }
                    }
                }
            });
        out
    }

    fn pool_dense(&self, t: &Tensor) -> Tensor {
        let g = self.geom;
        let mut out = Tensor::zeros(t.rows, g.out_shape());
        let (il, ol) = (t.cols(), out.cols());
        out.data
            .par_chunks_mut(ol)
            .zip(t.data.par_chunks(il))
            .for_each(|(o, x)| {
                for oy in 0..g.h_out {
                    for ox in 0..g.w_out {
                        let dst = &mut o[(oy * g.w_out + ox) * g.c..(oy * g.w_out + ox + 1) * g.c];
                        dst.fill(f32::NEG_INFINITY);
                        for p in g.window(oy, ox) {
                            for (d, v) in dst.iter_mut().zip(&x[p * g.c..(p + 1) * g.c]) {
                                *d = d.max(*v);
                            }
                        }
                    }
                }
            });
        out
    }
}

impl Layer for MaxPool2d {
    fn kind(&self) -> &'static str {
        "max_pool2d"
    }
    fn in_shape(&self) -> FeatShape {
        self.geom.in_shape()
    }
    fn out_shape(&self) -> FeatShape {
        self.geom.out_shape()
    }
    fn forward(&mut self, x: Activation, pass: &Pass) -> Activation {
        let out = match &x {
            Activation::Spikes(s) => Activation::Spikes(self.pool_spikes(s)),
            Activation::Dense(t) => Activation::Dense(self.pool_dense(t)),
            Activation::Static(t) => Activation::Static(self.pool_dense(t)),
        };
        self.input = pass.record.then_some(x);
        out
    }

    fn backward(&mut self, grad: Tensor, _pass: &Pass, need: bool) -> Option<Tensor> {
        let x = self
            .input
            .take()
            .expect("MaxPool2d::backward without a recorded forward");
        if !need {
            return None;
        }
        let g = self.geom;
        // With non-overlapping windows that tile the input, every input element is
        // written exactly once (the gradient or 0): no zeroing pass.
        let tiles = g.stride == g.k && g.h_in == g.h_out * g.k && g.w_in == g.w_out * g.k;
        let mut dx = if tiles {
            Tensor::uninit(grad.rows, g.in_shape())
        } else {
            Tensor::zeros(grad.rows, g.in_shape())
        };
        let (il, ol) = (dx.cols(), grad.cols());
        let kk = g.k * g.k;
        match &x {
            Activation::Spikes(s) => {
                let wi = s.words;
                let offs = g.window_offsets();
                let offs = &offs[..];
                dx.data
                    .par_chunks_mut(il)
                    .zip(grad.data.par_chunks(ol))
                    .zip(s.bits.par_chunks(wi))
                    .for_each(|((d, go), xb)| {
                        if tiles {
                            route_spike_grads::<true>(&g, offs, d, go, xb);
                        } else {
                            route_spike_grads::<false>(&g, offs, d, go, xb);
                        }
                    });
            }
            Activation::Dense(t) | Activation::Static(t) => {
                dx.data
                    .par_chunks_mut(il)
                    .zip(grad.data.par_chunks(ol))
                    .zip(t.data.par_chunks(il))
                    .for_each_init(
                        || (Vec::new(), Vec::new()),
                        |(win, best), ((d, go), xr)| {
                            for oy in 0..g.h_out {
                                for ox in 0..g.w_out {
                                    let op = (oy * g.w_out + ox) * g.c;
                                    win.clear();
                                    win.extend(g.window(oy, ox));
                                    // First position holding the maximum, per channel.
                                    best.clear();
                                    best.resize(g.c, 0usize);
                                    for (c, bc) in best.iter_mut().enumerate() {
                                        let mut b = 0;
                                        for q in 1..kk {
                                            if xr[win[q] * g.c + c] > xr[win[b] * g.c + c] {
                                                b = q;
                                            }
                                        }
                                        *bc = b;
                                    }
                                    for (q, &p) in win.iter().enumerate() {
                                        for c in 0..g.c {
                                            let v = if best[c] == q { go[op + c] } else { 0.0 };
                                            if tiles {
                                                d[p * g.c + c] = v;
                                            } else {
                                                d[p * g.c + c] += v;
                                            }
                                        }
                                    }
                                }
                            }
                        },
                    );
            }
        }
        Some(dx)
    }
    fn clear(&mut self) {
        self.input = None;
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Average pooling. See the module docs.
#[derive(Debug)]
pub struct AvgPool2d {
    /// Geometry.
    pub geom: PoolGeom,
    was_static: bool,
}

impl AvgPool2d {
    /// Pools `geom`.
    pub fn new(geom: PoolGeom) -> Self {
        AvgPool2d {
            geom,
            was_static: false,
        }
    }
}

impl Layer for AvgPool2d {
    fn kind(&self) -> &'static str {
        "avg_pool2d"
    }
    fn in_shape(&self) -> FeatShape {
        self.geom.in_shape()
    }
    fn out_shape(&self) -> FeatShape {
        self.geom.out_shape()
    }
    fn forward(&mut self, x: Activation, _pass: &Pass) -> Activation {
        let g = self.geom;
        let inv = 1.0 / (g.k * g.k) as f32;
        self.was_static = x.is_static();
        let mut out = Tensor::zeros(x.rows(), g.out_shape());
        let ol = out.cols();
        match &x {
            Activation::Spikes(s) => {
                let scale = s.scale * inv;
                out.data
                    .par_chunks_mut(ol)
                    .zip(s.bits.par_chunks(s.words))
                    .for_each(|(o, xb)| {
                        for oy in 0..g.h_out {
                            for ox in 0..g.w_out {
                                let op = (oy * g.w_out + ox) * g.c;
                                for p in g.window(oy, ox) {
                                    for c in 0..g.c {
                                        let j = p * g.c + c;
                                        if xb[j / 64] >> (j % 64) & 1 == 1 {
                                            o[op + c] += scale;
                                        }
                                    }
                                }
                            }
                        }
                    });
            }
            Activation::Dense(t) | Activation::Static(t) => {
                out.data
                    .par_chunks_mut(ol)
                    .zip(t.data.par_chunks(t.cols()))
                    .for_each(|(o, xr)| {
                        for oy in 0..g.h_out {
                            for ox in 0..g.w_out {
                                let dst = &mut o[(oy * g.w_out + ox) * g.c..][..g.c];
                                for p in g.window(oy, ox) {
                                    for (d, v) in dst.iter_mut().zip(&xr[p * g.c..(p + 1) * g.c]) {
                                        *d += v * inv;
                                    }
                                }
                            }
                        }
                    });
            }
        }
        if self.was_static {
            Activation::Static(out)
        } else {
            Activation::Dense(out)
        }
    }
    fn backward(&mut self, grad: Tensor, _pass: &Pass, need: bool) -> Option<Tensor> {
        if !need {
            return None;
        }
        let g = self.geom;
        let inv = 1.0 / (g.k * g.k) as f32;
        let mut dx = Tensor::zeros(grad.rows, g.in_shape());
        let (il, ol) = (dx.cols(), grad.cols());
        dx.data
            .par_chunks_mut(il)
            .zip(grad.data.par_chunks(ol))
            .for_each(|(d, go)| {
                for oy in 0..g.h_out {
                    for ox in 0..g.w_out {
                        let src = &go[(oy * g.w_out + ox) * g.c..][..g.c];
                        for p in g.window(oy, ox) {
                            for (a, v) in d[p * g.c..(p + 1) * g.c].iter_mut().zip(src) {
                                *a += v * inv;
                            }
                        }
                    }
                }
            });
        Some(dx)
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
    use super::super::gradcheck::{check, random_dense, random_spikes};
    use super::*;

    #[test]
    fn max_pool_of_spikes_is_an_or_and_routes_gradients_to_the_first_spike() {
        // 70 channels (crosses a word boundary), 4×4 image, 2×2 windows.
        let shape = FeatShape::image(70, 4, 4);
        let mut s = SpikeTensor::zeros(2, shape);
        let set = |s: &mut SpikeTensor, r: usize, y: usize, x: usize, c: usize| {
            s.set(r, (y * 4 + x) * 70 + c)
        };
        set(&mut s, 0, 1, 1, 3); // window (0,0), position 3
        set(&mut s, 0, 0, 1, 3); // window (0,0), position 1: the first spike
        set(&mut s, 1, 3, 2, 69); // window (1,1)
        let mut p = MaxPool2d::new(PoolGeom::new(shape, 2, 2).unwrap());
        let mut pass = Pass::eval(1, 2);
        pass.record = true;
        let out = p.forward(Activation::Spikes(s.clone()), &pass);
        let o = out.as_spikes().unwrap();
        assert_eq!(o.count(), 2);
        assert!(o.get(0, 3) && o.get(1, (2 + 1) * 70 + 69));
        // Dense path agrees.
        let dense = p.forward(Activation::Dense(s.to_dense()), &pass);
        assert_eq!(dense.to_dense(1), o.to_dense());
        p.forward(Activation::Spikes(s), &pass);
        let g = Tensor::from_vec(vec![1.0; 2 * 4 * 70], 2, o.shape);
        let dx = p.backward(g, &pass, true).unwrap();
        assert_eq!(dx.row(0)[70 + 3], 1.0); // (0,1) got channel 3's gradient
        assert_eq!(dx.row(0)[(4 + 1) * 70 + 3], 0.0);
        assert_eq!(dx.row(0)[0], 1.0); // no spike in channel 0: first position
        assert_eq!(dx.row(1)[(3 * 4 + 2) * 70 + 69], 1.0);
        assert_eq!(dx.data.iter().sum::<f32>(), 2.0 * 4.0 * 70.0);
    }

    #[test]
    fn word_level_spike_pooling_equals_the_dense_max() {
        // Shapes taking the word-level path (k·c ≤ 64): rows crossing words, 3×3
        // windows, one channel, and 64 channels with 1×1 windows; and one that does not.
        for &(c, h, w, k) in &[
            (12usize, 24usize, 24usize, 2usize),
            (5, 9, 12, 3),
            (1, 6, 6, 2),
            (64, 2, 3, 1),
            (40, 4, 4, 2),
        ] {
            let shape = FeatShape::image(c, h, w);
            let s = random_spikes(3, shape, 0.2, 5);
            let mut p = MaxPool2d::new(PoolGeom::new(shape, k, k).unwrap());
            let pass = Pass::eval(1, 3);
            let spikes = p.forward(Activation::Spikes(s.clone()), &pass);
            let dense = p.forward(Activation::Dense(s.to_dense()), &pass);
            assert_eq!(
                spikes.as_spikes().unwrap().to_dense(),
                dense.to_dense(1),
                "c {c} h {h} w {w} k {k}"
            );
        }
    }

    #[test]
    fn pooling_backward_matches_finite_differences() {
        let shape = FeatShape::image(3, 5, 5);
        let pass = Pass::eval(2, 1);
        let x = Activation::Dense(random_dense(2, shape, 5, 1.0));
        let mut m = MaxPool2d::new(PoolGeom::new(shape, 2, 1).unwrap());
        assert!(check(&mut m, &x, &pass, 1e-3, 1e-3) > 20);
        let mut a = AvgPool2d::new(PoolGeom::new(shape, 3, 2).unwrap());
        assert!(check(&mut a, &x, &pass, 1e-2, 1e-3) > 20);
    }
}
