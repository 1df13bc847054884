//! 2-D convolution kernels on channels-last rows (one row = one sample at one step,
//! `h × w × c`). Weights are `[kh][kw][c_in][c_out]`, i.e. the `K × c_out` matrix of
//! the im2col product with `K = kh·kw·c_in`.
//!
//! Two paths: dense (im2col + GEMM, for dense inputs and busy spike inputs) and sparse
//! (for spike inputs: every input that spiked adds its weight slice into the outputs
//! it reaches, and adds the output gradients it reaches into its weight gradient).

use super::dense::{matmul_serial, Mat};
use super::sparse::SpikeIndex;
use super::{dispatch, group_ranges, sum_partials};
use rayon::prelude::*;
use std::cell::RefCell;

thread_local! {
    /// Per-thread im2col buffer, kept between calls (no allocation per chunk).
    static COLS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's scratch buffer of at least `len` floats.
fn with_cols<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    COLS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() < len {
            c.resize(len, 0.0);
        }
        f(&mut c[..len])
    })
}

/// Geometry of a convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h_in: usize,
    /// Input width.
    pub w_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride (both directions).
    pub stride: usize,
    /// Zero padding (both sides, both directions).
    pub pad: usize,
    /// Output height.
    pub h_out: usize,
    /// Output width.
    pub w_out: usize,
}

impl ConvGeom {
    /// The geometry, or None when the kernel does not fit the padded input or the
    /// stride is zero.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        c_in: usize,
        h_in: usize,
        w_in: usize,
        c_out: usize,
        kh: usize,
        kw: usize,
        stride: usize,
        pad: usize,
    ) -> Option<Self> {
        if stride == 0 || kh == 0 || kw == 0 || h_in + 2 * pad < kh || w_in + 2 * pad < kw {
            return None;
        }
        Some(ConvGeom {
            c_in,
            h_in,
            w_in,
            c_out,
            kh,
            kw,
            stride,
            pad,
            h_out: (h_in + 2 * pad - kh) / stride + 1,
            w_out: (w_in + 2 * pad - kw) / stride + 1,
        })
    }
    /// Rows of the weight matrix (`kh·kw·c_in`).
    pub fn k(&self) -> usize {
        self.kh * self.kw * self.c_in
    }
    /// Output positions per row (`h_out·w_out`).
    pub fn positions(&self) -> usize {
        self.h_out * self.w_out
    }
    /// Input features per row.
    pub fn in_len(&self) -> usize {
        self.h_in * self.w_in * self.c_in
    }
    /// Output features per row.
    pub fn out_len(&self) -> usize {
        self.positions() * self.c_out
    }
    /// Rows per chunk of the dense path (im2col buffers of about a megabyte).
    pub fn chunk_rows(&self) -> usize {
        (1024 / self.positions()).max(1)
    }

    /// Output position `(oy, ox)` that input `(iy, ix)` reaches through kernel tap
    /// `(ky, kx)`, if any.
    #[inline(always)]
    fn target(&self, iy: usize, ix: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        let ty = (iy + self.pad).checked_sub(ky)?;
        let tx = (ix + self.pad).checked_sub(kx)?;
        if ty % self.stride != 0 || tx % self.stride != 0 {
            return None;
        }
        let (oy, ox) = (ty / self.stride, tx / self.stride);
        (oy < self.h_out && ox < self.w_out).then_some((oy, ox))
    }

    /// Input `(iy, ix)` that output `(oy, ox)` reads through tap `(ky, kx)`, if inside.
    #[inline(always)]
    fn source(&self, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        let iy = (oy * self.stride + ky).checked_sub(self.pad)?;
        let ix = (ox * self.stride + kx).checked_sub(self.pad)?;
        (iy < self.h_in && ix < self.w_in).then_some((iy, ix))
    }
}

/// Writes the im2col matrix of one input row (`positions × K`) into `cols`.
pub fn im2col_row(g: &ConvGeom, x: &[f32], cols: &mut [f32]) {
    let (k, c) = (g.k(), g.c_in);
    for oy in 0..g.h_out {
        for ox in 0..g.w_out {
            let p = oy * g.w_out + ox;
            let dst = &mut cols[p * k..(p + 1) * k];
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    let d = &mut dst[(ky * g.kw + kx) * c..(ky * g.kw + kx + 1) * c];
                    match g.source(oy, ox, ky, kx) {
                        Some((iy, ix)) => {
                            let s = (iy * g.w_in + ix) * c;
                            d.copy_from_slice(&x[s..s + c]);
                        }
                        None => d.fill(0.0),
                    }
                }
            }
        }
    }
}

/// Adds the im2col-shaped gradient `cols` (`positions × K`) back into the input row
/// gradient `dx`.
pub fn col2im_add_row(g: &ConvGeom, cols: &[f32], dx: &mut [f32]) {
    let (k, c) = (g.k(), g.c_in);
    for oy in 0..g.h_out {
        for ox in 0..g.w_out {
            let p = oy * g.w_out + ox;
            let src = &cols[p * k..(p + 1) * k];
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    if let Some((iy, ix)) = g.source(oy, ox, ky, kx) {
                        let s = &src[(ky * g.kw + kx) * c..(ky * g.kw + kx + 1) * c];
                        let d = &mut dx[(iy * g.w_in + ix) * c..(iy * g.w_in + ix + 1) * c];
                        for (a, b) in d.iter_mut().zip(s) {
                            *a += b;
                        }
                    }
                }
            }
        }
    }
}

/// Dense forward: `out` (`rows × out_len`) from `x` (`rows × in_len`), weights `w`
/// (`K × c_out`) and an optional bias.
pub fn conv_forward_dense(
    g: &ConvGeom,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let (il, ol, k, cr) = (g.in_len(), g.out_len(), g.k(), g.chunk_rows());
    out.par_chunks_mut(cr * ol)
        .zip(x.par_chunks(cr * il))
        .for_each_init(Vec::new, |cols, (o, xc)| {
            let n = xc.len() / il;
            cols.resize(n * g.positions() * k, 0.0);
            for r in 0..n {
                let m = g.positions() * k;
                im2col_row(g, &xc[r * il..(r + 1) * il], &mut cols[r * m..(r + 1) * m]);
            }
            let m = n * g.positions();
            matmul_serial(Mat::new(cols, m, k), Mat::new(w, k, g.c_out), o, false);
            if let Some(b) = bias {
                for row in o.chunks_exact_mut(g.c_out) {
                    for (a, bb) in row.iter_mut().zip(b) {
                        *a += bb;
                    }
                }
            }
        });
}

/// The weights re-laid out as `[c_in][kh][kw reversed][c_out]`: for one input channel
/// and kernel row, the taps that reach consecutive output columns are contiguous, so a
/// spike adds one contiguous run per kernel row (stride 1).
fn reversed_weights(g: &ConvGeom, w: &[f32]) -> Vec<f32> {
    let co = g.c_out;
    let mut r = vec![0.0f32; w.len()];
    for c in 0..g.c_in {
        for ky in 0..g.kh {
            for kr in 0..g.kw {
                let kx = g.kw - 1 - kr;
                let src = ((ky * g.kw + kx) * g.c_in + c) * co;
                let dst = ((c * g.kh + ky) * g.kw + kr) * co;
                r[dst..dst + co].copy_from_slice(&w[src..src + co]);
            }
        }
    }
    r
}

/// Inverse of [`reversed_weights`] for a gradient.
fn unreverse(g: &ConvGeom, r: &[f32], w: &mut [f32]) {
    let co = g.c_out;
    for c in 0..g.c_in {
        for ky in 0..g.kh {
            for kr in 0..g.kw {
                let kx = g.kw - 1 - kr;
                let dst = ((ky * g.kw + kx) * g.c_in + c) * co;
                let src = ((c * g.kh + ky) * g.kw + kr) * co;
                w[dst..dst + co].copy_from_slice(&r[src..src + co]);
            }
        }
    }
}

/// For input feature `j` (stride 1): the weight offset and output offset of the run
/// of kernel row `ky = 0` (see [`reversed_weights`]), the run length, and the valid
/// kernel rows; None if it reaches no output column.
#[inline(always)]
fn run_of(g: &ConvGeom, j: usize) -> Option<(usize, usize, usize, usize, usize, usize)> {
    let (c, px) = (j % g.c_in, j / g.c_in);
    let (iy, ix) = (px / g.w_in, px % g.w_in);
    let (kw, pad) = (g.kw, g.pad);
    // Output column ox = ix + pad − kx must be in 0..w_out.
    let kx_hi = (ix + pad).min(kw - 1);
    let kx_lo = (ix + pad + 1).saturating_sub(g.w_out);
    if kx_lo > kx_hi {
        return None;
    }
    let (kr_lo, kr_hi) = (kw - 1 - kx_hi, kw - 1 - kx_lo);
    let ox0 = ix + pad - kx_hi;
    let ky_hi = (iy + pad).min(g.kh - 1);
    let ky_lo = (iy + pad + 1).saturating_sub(g.h_out);
    if ky_lo > ky_hi {
        return None;
    }
    let w_off = (c * g.kh * kw + kr_lo) * g.c_out;
    Some((
        w_off,
        ox0,
        (kr_hi - kr_lo + 1) * g.c_out,
        iy + pad,
        ky_lo,
        ky_hi,
    ))
}

/// Sparse forward for spike input: `out` (`rows × out_len`) from the active inputs
/// of each row, scaled by `scale` (the value of a spike).
pub fn conv_forward_sparse(
    g: &ConvGeom,
    active: &SpikeIndex,
    w: &[f32],
    bias: Option<&[f32]>,
    scale: f32,
    out: &mut [f32],
) {
    let ol = g.out_len();
    if g.stride == 1 {
        let wr = reversed_weights(g, w);
        out.par_chunks_mut(ol).enumerate().for_each(|(r, o)| {
            conv_sparse_row_runs(g, active.row(r), &wr, bias, scale, o);
        });
    } else {
        out.par_chunks_mut(ol).enumerate().for_each(|(r, o)| {
            conv_sparse_row(g, active.row(r), w, bias, scale, o);
        });
    }
}

dispatch!(
    /// One row of [`conv_forward_sparse`] with stride 1: contiguous runs.
    fn conv_sparse_row_runs(
        g: &ConvGeom,
        active: &[u32],
        wr: &[f32],
        bias: Option<&[f32]>,
        scale: f32,
        out: &mut [f32],
    ) = conv_sparse_row_runs_impl
);

#[inline(always)]
fn conv_sparse_row_runs_impl<const W: usize>(
    g: &ConvGeom,
    active: &[u32],
    wr: &[f32],
    bias: Option<&[f32]>,
    scale: f32,
    out: &mut [f32],
) {
    let co = g.c_out;
    let row_stride = g.kw * co;
    out.fill(0.0);
    for &j in active {
        let Some((w_off, ox0, len, ty, ky_lo, ky_hi)) = run_of(g, j as usize) else {
            continue;
        };
        for ky in ky_lo..=ky_hi {
            let oy = ty - ky;
            let o = (oy * g.w_out + ox0) * co;
            let ws = w_off + ky * row_stride;
            let (dst, src) = (&mut out[o..o + len], &wr[ws..ws + len]);
            for k in 0..len {
                dst[k] += src[k];
            }
        }
    }
    for row in out.chunks_exact_mut(co) {
        for k in 0..co {
            let b = bias.map_or(0.0, |b| b[k]);
            row[k] = b + scale * row[k];
        }
    }
}

dispatch!(
    /// One row of [`conv_forward_sparse`] (any stride).
    fn conv_sparse_row(
        g: &ConvGeom,
        active: &[u32],
        w: &[f32],
        bias: Option<&[f32]>,
        scale: f32,
        out: &mut [f32],
    ) = conv_sparse_row_impl
);

#[inline(always)]
fn conv_sparse_row_impl<const W: usize>(
    g: &ConvGeom,
    active: &[u32],
    w: &[f32],
    bias: Option<&[f32]>,
    scale: f32,
    out: &mut [f32],
) {
    let (c_in, co) = (g.c_in, g.c_out);
    out.fill(0.0);
    for &j in active {
        let j = j as usize;
        let (c, px) = (j % c_in, j / c_in);
        let (iy, ix) = (px / g.w_in, px % g.w_in);
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                if let Some((oy, ox)) = g.target(iy, ix, ky, kx) {
                    let ws = ((ky * g.kw + kx) * c_in + c) * co;
                    let os = (oy * g.w_out + ox) * co;
                    let (wr, or) = (&w[ws..ws + co], &mut out[os..os + co]);
                    for k in 0..co {
                        or[k] += wr[k];
                    }
                }
            }
        }
    }
    for row in out.chunks_exact_mut(co) {
        for k in 0..co {
            let b = bias.map_or(0.0, |b| b[k]);
            row[k] = b + scale * row[k];
        }
    }
}

/// Weight gradient (`K × c_out`, overwritten) from dense inputs `x` and output
/// gradients `gout`, summed over rows in fixed groups.
pub fn conv_weight_grad_dense(g: &ConvGeom, x: &[f32], gout: &[f32], dw: &mut [f32]) {
    let (il, ol, k) = (g.in_len(), g.out_len(), g.k());
    let rows = x.len() / il;
    let cr = g.chunk_rows();
    let partials: Vec<Vec<f32>> = group_ranges(rows)
        .into_par_iter()
        .map(|range| {
            let mut part = vec![0.0f32; k * g.c_out];
            let mut r = range.start;
            while r < range.end {
                let n = cr.min(range.end - r);
                let m = g.positions() * k;
                with_cols(n * m, |cols| {
                    for q in 0..n {
                        im2col_row(
                            g,
                            &x[(r + q) * il..(r + q + 1) * il],
                            &mut cols[q * m..(q + 1) * m],
                        );
                    }
                    let mm = n * g.positions();
                    matmul_serial(
                        Mat::new(cols, mm, k).t(),
                        Mat::new(&gout[r * ol..(r + n) * ol], mm, g.c_out),
                        &mut part,
                        true,
                    );
                });
                r += n;
            }
            part
        })
        .collect();
    sum_partials(&partials, dw);
}

/// Weight gradient (`K × c_out`, overwritten) from spike inputs (value `scale`) and
/// output gradients `gout`, summed over rows in fixed groups.
pub fn conv_weight_grad_sparse(
    g: &ConvGeom,
    active: &SpikeIndex,
    gout: &[f32],
    scale: f32,
    dw: &mut [f32],
) {
    let ol = g.out_len();
    let runs = g.stride == 1;
    let partials: Vec<Vec<f32>> = group_ranges(active.rows())
        .into_par_iter()
        .map(|range| {
            let mut part = vec![0.0f32; g.k() * g.c_out];
            for r in range {
                let go = &gout[r * ol..(r + 1) * ol];
                if runs {
                    conv_sparse_wgrad_row_runs(g, active.row(r), go, &mut part);
                } else {
                    conv_sparse_wgrad_row(g, active.row(r), go, &mut part);
                }
            }
            part
        })
        .collect();
    if runs {
        let mut r = vec![0.0f32; dw.len()];
        sum_partials(&partials, &mut r);
        unreverse(g, &r, dw);
    } else {
        sum_partials(&partials, dw);
    }
    if scale != 1.0 {
        dw.iter_mut().for_each(|x| *x *= scale);
    }
}

dispatch!(
    /// One row of [`conv_weight_grad_sparse`] with stride 1, added into `dwr` (laid
    /// out as [`reversed_weights`]).
    fn conv_sparse_wgrad_row_runs(g: &ConvGeom, active: &[u32], gout: &[f32], dwr: &mut [f32]) =
        conv_sparse_wgrad_row_runs_impl
);

#[inline(always)]
fn conv_sparse_wgrad_row_runs_impl<const W: usize>(
    g: &ConvGeom,
    active: &[u32],
    gout: &[f32],
    dwr: &mut [f32],
) {
    let co = g.c_out;
    let row_stride = g.kw * co;
    for &j in active {
        let Some((w_off, ox0, len, ty, ky_lo, ky_hi)) = run_of(g, j as usize) else {
            continue;
        };
        for ky in ky_lo..=ky_hi {
            let oy = ty - ky;
            let o = (oy * g.w_out + ox0) * co;
            let ws = w_off + ky * row_stride;
            let (dst, src) = (&mut dwr[ws..ws + len], &gout[o..o + len]);
            for k in 0..len {
                dst[k] += src[k];
            }
        }
    }
}

dispatch!(
    /// One row of [`conv_weight_grad_sparse`] (any stride), added into `dw`.
    fn conv_sparse_wgrad_row(g: &ConvGeom, active: &[u32], gout: &[f32], dw: &mut [f32]) =
        conv_sparse_wgrad_row_impl
);

#[inline(always)]
fn conv_sparse_wgrad_row_impl<const W: usize>(
    g: &ConvGeom,
    active: &[u32],
    gout: &[f32],
    dw: &mut [f32],
) {
    let (c_in, co) = (g.c_in, g.c_out);
    for &j in active {
        let j = j as usize;
        let (c, px) = (j % c_in, j / c_in);
        let (iy, ix) = (px / g.w_in, px % g.w_in);
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                if let Some((oy, ox)) = g.target(iy, ix, ky, kx) {
                    let ws = ((ky * g.kw + kx) * c_in + c) * co;
                    let os = (oy * g.w_out + ox) * co;
                    let (d, gr) = (&mut dw[ws..ws + co], &gout[os..os + co]);
                    for k in 0..co {
                        d[k] += gr[k];
                    }
                }
            }
        }
    }
}

/// Input gradient (`rows × in_len`, overwritten) from output gradients `gout`.
pub fn conv_input_grad(g: &ConvGeom, gout: &[f32], w: &[f32], dx: &mut [f32]) {
    let (il, ol, k, cr) = (g.in_len(), g.out_len(), g.k(), g.chunk_rows());
    dx.par_chunks_mut(cr * il)
        .zip(gout.par_chunks(cr * ol))
        .for_each(|(d, gc)| {
            let n = gc.len() / ol;
            let m = n * g.positions();
            with_cols(m * k, |cols| {
                matmul_serial(
                    Mat::new(gc, m, g.c_out),
                    Mat::new(w, k, g.c_out).t(),
                    cols,
                    false,
                );
                d.fill(0.0);
                let pk = g.positions() * k;
                for r in 0..n {
                    col2im_add_row(g, &cols[r * pk..(r + 1) * pk], &mut d[r * il..(r + 1) * il]);
                }
            });
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{FeatShape, SpikeTensor};
    use rand::Rng;

    /// Direct definition of the convolution, for reference.
    fn reference(g: &ConvGeom, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; g.out_len()];
        for oy in 0..g.h_out {
            for ox in 0..g.w_out {
                for co in 0..g.c_out {
                    let mut s = b[co];
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                            let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                            if iy < 0 || ix < 0 || iy >= g.h_in as isize || ix >= g.w_in as isize {
                                continue;
                            }
                            for c in 0..g.c_in {
                                s += x[((iy as usize) * g.w_in + ix as usize) * g.c_in + c]
                                    * w[((ky * g.kw + kx) * g.c_in + c) * g.c_out + co];
                            }
                        }
                    }
                    out[(oy * g.w_out + ox) * g.c_out + co] = s;
                }
            }
        }
        out
    }

    #[test]
    fn dense_and_sparse_paths_match_the_definition() {
        let mut rng = spikelab_core::rng::stream(1, spikelab_core::rng::Domain::Training, &[]);
        for &(stride, pad) in &[(1usize, 0usize), (2, 1), (1, 2)] {
            let g = ConvGeom::new(3, 7, 6, 5, 3, 2, stride, pad).unwrap();
            let rows = 3;
            let mut s = SpikeTensor::zeros(rows, FeatShape::image(3, 7, 6));
            for r in 0..rows {
                for j in 0..g.in_len() {
                    if rng.random::<f32>() < 0.3 {
                        s.set(r, j);
                    }
                }
            }
            let x = s.to_dense();
            let w: Vec<f32> = (0..g.k() * g.c_out)
                .map(|_| rng.random::<f32>() - 0.5)
                .collect();
            let b: Vec<f32> = (0..g.c_out).map(|_| rng.random::<f32>()).collect();
            let mut dense = vec![0.0; rows * g.out_len()];
            conv_forward_dense(&g, &x.data, &w, Some(&b), &mut dense);
            let mut sparse = vec![0.0; rows * g.out_len()];
            conv_forward_sparse(
                &g,
                &SpikeIndex::from_spikes(&s),
                &w,
                Some(&b),
                1.0,
                &mut sparse,
            );
            for r in 0..rows {
                let want = reference(&g, x.row(r), &w, &b);
                for (k, &v) in want.iter().enumerate() {
                    assert!((dense[r * g.out_len() + k] - v).abs() < 1e-4);
                    assert!((sparse[r * g.out_len() + k] - v).abs() < 1e-4);
                }
            }
            // Weight gradient: both paths agree; input gradient is the adjoint.
            let go: Vec<f32> = (0..rows * g.out_len())
                .map(|_| rng.random::<f32>() - 0.5)
                .collect();
            let mut dw1 = vec![0.0; w.len()];
            let mut dw2 = vec![0.0; w.len()];
            conv_weight_grad_dense(&g, &x.data, &go, &mut dw1);
            conv_weight_grad_sparse(&g, &SpikeIndex::from_spikes(&s), &go, 1.0, &mut dw2);
            for (a, b) in dw1.iter().zip(&dw2) {
                assert!((a - b).abs() < 1e-4);
            }
            // <go, conv(x)> = <conv_input_grad(go), x> (no bias) and = <dw, w>.
            let mut y = vec![0.0; rows * g.out_len()];
            conv_forward_dense(&g, &x.data, &w, None, &mut y);
            let lhs: f32 = go.iter().zip(&y).map(|(a, b)| a * b).sum();
            let mut dx = vec![0.0; x.data.len()];
            conv_input_grad(&g, &go, &w, &mut dx);
            let rhs: f32 = dx.iter().zip(&x.data).map(|(a, b)| a * b).sum();
            let rhs2: f32 = dw1.iter().zip(&w).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0), "{lhs} {rhs}");
            assert!(
                (lhs - rhs2).abs() < 1e-3 * lhs.abs().max(1.0),
                "{lhs} {rhs2}"
            );
        }
    }
}
