//! 2-D convolution kernels on channels-last rows (one row = one sample at one step,
//! `h × w × c`). Weights are `[kh][kw][c_in][c_out]`, i.e. the `K × c_out` matrix of
//! the im2col product with `K = kh·kw·c_in`.
//!
//! Two paths: dense (im2col + GEMM, for dense inputs and busy spike inputs) and sparse
//! (for spike inputs). The sparse forward either gathers (every output sums the weight
//! rows of its taps that saw a spike, found from the packed bits) or scatters (every
//! input that spiked adds its weight runs into the outputs it reaches). The sparse
//! weight gradient, at stride 1, builds per row the mask of output positions where
//! each tap saw a spike and sums those positions' output gradients in registers; it
//! falls back to scattering output gradients into the weight gradient otherwise.

use super::dense::{matmul_serial, Mat};
use super::sparse::SpikeIndex;
use super::{channel_tiles, dispatch, group_ranges, sum_partials, Aligned};
use crate::nn::tensor::{get_bits, or_bits, SpikeTensor};
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
    /// The geometry, or None when the kernel does not fit the padded input, the
    /// stride is zero or the padded input's size overflows.
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
        let padded = |n: usize| pad.checked_mul(2).and_then(|p| n.checked_add(p));
        let (hp, wp) = (padded(h_in)?, padded(w_in)?);
        if stride == 0 || kh == 0 || kw == 0 || hp < kh || wp < kw {
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
            h_out: (hp - kh) / stride + 1,
            w_out: (wp - kw) / stride + 1,
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

dispatch!(
    /// Adds the im2col-shaped gradients `cols` (`positions × K` per row) back into the
    /// input gradients `dx` (`in_len` per row): for each output position and kernel
    /// row, the taps inside the input are one contiguous run in both.
    pub fn col2im_add_rows(g: &ConvGeom, cols: &[f32], dx: &mut [f32]) = col2im_add_rows_impl
);

#[inline(always)]
fn col2im_add_rows_impl<const W: usize>(g: &ConvGeom, cols: &[f32], dx: &mut [f32]) {
    let pk = g.positions() * g.k();
    for (src, d) in cols.chunks_exact(pk).zip(dx.chunks_exact_mut(g.in_len())) {
        for oy in 0..g.h_out {
            for ox in 0..g.w_out {
                let p = (oy * g.w_out + ox) * g.k();
                for ky in 0..g.kh {
                    if let Some((k0, b0, n)) = tap_run(g, oy, ox, ky) {
                        add_run::<W>(&mut d[b0..b0 + n], &src[p + k0..p + k0 + n]);
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

/// For output position `(oy, ox)` and kernel row `ky`: the first weight row and the
/// first input bit of the taps inside the input, and their number of bits (the taps
/// of one kernel row cover `kw` consecutive pixels, i.e. `kw·c_in` consecutive bits
/// of a channels-last row, in the order of the weight rows).
#[inline(always)]
fn tap_run(g: &ConvGeom, oy: usize, ox: usize, ky: usize) -> Option<(usize, usize, usize)> {
    let iy = (oy * g.stride + ky).checked_sub(g.pad)?;
    if iy >= g.h_in {
        return None;
    }
    let x0 = (ox * g.stride) as isize - g.pad as isize;
    let kx_lo = (-x0).max(0) as usize;
    let kx_hi = (g.kw as isize - 1).min(g.w_in as isize - 1 - x0);
    if kx_hi < kx_lo as isize {
        return None;
    }
    let ix = (x0 + kx_lo as isize) as usize;
    let bits = (kx_hi as usize - kx_lo + 1) * g.c_in;
    Some((
        (ky * g.kw + kx_lo) * g.c_in,
        (iy * g.w_in + ix) * g.c_in,
        bits,
    ))
}

/// Calls `f(k)` for every weight row `k` (tap and input channel) whose input spiked,
/// for output position `(oy, ox)` of a row of spike bits.
#[inline(always)]
fn for_each_active_tap(g: &ConvGeom, bits: &[u64], oy: usize, ox: usize, mut f: impl FnMut(usize)) {
    for ky in 0..g.kh {
        let Some((k0, b0, n)) = tap_run(g, oy, ox, ky) else {
            continue;
        };
        let mut c = 0;
        while c < n {
            let len = (n - c).min(64);
            let mut word = get_bits(bits, b0 + c, len);
            while word != 0 {
                f(k0 + c + word.trailing_zeros() as usize);
                word &= word - 1;
            }
            c += len;
        }
    }
}

/// Sparse forward for spike input: every output position sums, in registers, the
/// weight rows of the taps whose input spiked (found from the packed bits), times
/// `scale` (the value of a spike). `out` is `rows × out_len`.
pub fn conv_forward_sparse(
    g: &ConvGeom,
    s: &SpikeTensor,
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let ol = g.out_len();
    // Weight rows of whole cache lines (see `Aligned`).
    let w = Aligned::copy_of(w);
    out.par_chunks_mut(ol)
        .zip(s.bits.par_chunks(s.words))
        .for_each(|(o, bits)| conv_gather_row(g, bits, &w, bias, s.scale, o));
}

dispatch!(
    /// One row of [`conv_forward_sparse`].
    pub(crate) fn conv_gather_row(
        g: &ConvGeom,
        bits: &[u64],
        w: &[f32],
        bias: Option<&[f32]>,
        scale: f32,
        out: &mut [f32],
    ) = conv_gather_row_impl, widths = (256, 64, 32)
);

/// Channels `c0..c0 + T` of [`conv_gather_row`]. The kernel rows are taken one at a
/// time over all output positions, so that the weight rows in use (`kw·c_in` rows of
/// `T` floats) stay in L1; each pass adds its sums into the output.
#[inline(always)]
fn gather_tile<const T: usize>(
    g: &ConvGeom,
    bits: &[u64],
    w: &[f32],
    bias: Option<&[f32]>,
    scale: f32,
    out: &mut [f32],
    c0: usize,
) {
    let co = g.c_out;
    assert!(w.len() >= g.k() * co && c0 + T <= co);
    let wp = w.as_ptr();
    let mut init = [0.0f32; T];
    if let Some(b) = bias {
        init.copy_from_slice(&b[c0..c0 + T]);
    }
    for ky in 0..g.kh {
        for oy in 0..g.h_out {
            for ox in 0..g.w_out {
                let mut acc = [0.0f32; T];
                if let Some((k0, b0, nb)) = tap_run(g, oy, ox, ky) {
                    let mut c = 0;
                    while c < nb {
                        let len = (nb - c).min(64);
                        let mut word = get_bits(bits, b0 + c, len);
                        while word != 0 {
                            let k = k0 + c + word.trailing_zeros() as usize;
                            word &= word - 1;
                            // SAFETY: `k < kh·kw·c_in` (a tap of the kernel) and
                            // `c0 + T ≤ c_out`; `w` holds `K·c_out` floats (asserted).
                            let wr = unsafe { &*(wp.add(k * co + c0) as *const [f32; T]) };
                            for q in 0..T {
                                acc[q] += wr[q];
                            }
                        }
                        c += len;
                    }
                }
                let p = (oy * g.w_out + ox) * co + c0;
                let o: &mut [f32; T] = (&mut out[p..p + T]).try_into().expect("tile");
                if ky == 0 {
                    for q in 0..T {
                        o[q] = init[q] + scale * acc[q];
                    }
                } else {
                    for q in 0..T {
                        o[q] += scale * acc[q];
                    }
                }
            }
        }
    }
}

#[inline(always)]
#[allow(clippy::int_plus_one)]
fn conv_gather_row_impl<const W: usize>(
    g: &ConvGeom,
    bits: &[u64],
    w: &[f32],
    bias: Option<&[f32]>,
    scale: f32,
    out: &mut [f32],
) {
    channel_tiles!(
        W,
        c0 = 0,
        g.c_out,
        [256, 128, 64, 32, 16, 8, 4, 2, 1],
        |T| { gather_tile::<T>(g, bits, w, bias, scale, out, c0) }
    );
}

/// The weights re-laid out as `[c_in][kh][kw reversed][c_out]`: for one input channel
/// and kernel row, the taps that reach consecutive output columns are contiguous, so a
/// spike adds one contiguous run per kernel row (stride 1).
pub(crate) fn reversed_weights(g: &ConvGeom, w: &[f32]) -> Vec<f32> {
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
pub(crate) fn unreverse(g: &ConvGeom, r: &[f32], w: &mut [f32]) {
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

/// [`run_of`] for every input feature, computed once per call (no divisions in the
/// inner loops); `len == 0` marks inputs that reach no output.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Run {
    w_off: u32,
    ox0: u32,
    len: u32,
    ty: u32,
    ky_lo: u32,
    ky_hi: u32,
}

pub(crate) fn run_table(g: &ConvGeom) -> Vec<Run> {
    (0..g.in_len())
        .map(|j| match run_of(g, j) {
            Some((w_off, ox0, len, ty, ky_lo, ky_hi)) => Run {
                w_off: w_off as u32,
                ox0: ox0 as u32,
                len: len as u32,
                ty: ty as u32,
                ky_lo: ky_lo as u32,
                ky_hi: ky_hi as u32,
            },
            None => Run::default(),
        })
        .collect()
}

/// Whether the scatter kernels ([`conv_forward_scatter`]: every input spike adds one
/// contiguous run of weights per kernel row into the outputs) are expected to be
/// cheaper than the gather kernels ([`conv_forward_sparse`]) at spike density
/// `density`: few active inputs with many outputs each (a first layer on sparse
/// pixels) favour scattering, many active inputs (a deeper layer) gathering.
/// Scattering needs stride 1.
pub fn prefer_scatter(g: &ConvGeom, density: f64) -> bool {
    if g.stride != 1 {
        return false;
    }
    let vec = |n: usize| n.div_ceil(16) as f64;
    let active = density * g.in_len() as f64;
    let scatter = active * g.kh as f64 * vec(g.kw * g.c_out);
    let taps = density * g.k() as f64;
    let gather = g.positions() as f64
        * (g.kh as f64 * (g.kw * g.c_in).div_ceil(64) as f64 * 4.0 + taps * vec(g.c_out));
    scatter < gather
}

/// Scatter forward for spike input with stride 1: `out` (`rows × out_len`) from the
/// active inputs of each row, scaled by `scale`.
pub fn conv_forward_scatter(
    g: &ConvGeom,
    active: &SpikeIndex,
    w: &[f32],
    bias: Option<&[f32]>,
    scale: f32,
    out: &mut [f32],
) {
    let plan = ScatterPlan::new(g, w, bias, scale);
    out.par_chunks_mut(g.out_len())
        .enumerate()
        .for_each(|(r, o)| conv_sparse_row_runs(g, active.row(r), &plan, o));
}

/// What the scatter forward kernel needs, prepared once per batch: the weights in
/// [`reversed_weights`] layout times the spike value, the [`run_table`], and the
/// output row every row starts from (the bias at every position).
pub(crate) struct ScatterPlan {
    wr: Vec<f32>,
    /// The run of every input feature.
    pub runs: Vec<Run>,
    init: Vec<f32>,
}

impl ScatterPlan {
    /// The plan for weights `w` (`K × c_out`), an optional bias and spike value `scale`.
    pub fn new(g: &ConvGeom, w: &[f32], bias: Option<&[f32]>, scale: f32) -> Self {
        assert_eq!(g.stride, 1, "scatter kernels need stride 1");
        let mut wr = reversed_weights(g, w);
        if scale != 1.0 {
            wr.iter_mut().for_each(|x| *x *= scale);
        }
        let init = match bias {
            Some(b) => b.iter().copied().cycle().take(g.out_len()).collect(),
            None => vec![0.0; g.out_len()],
        };
        ScatterPlan {
            wr,
            runs: run_table(g),
            init,
        }
    }
}

/// Scatter weight gradient for spike input with stride 1 (`K × c_out`, overwritten).
pub fn conv_weight_grad_scatter(
    g: &ConvGeom,
    active: &SpikeIndex,
    gout: &[f32],
    scale: f32,
    dw: &mut [f32],
) {
    assert_eq!(g.stride, 1, "scatter kernels need stride 1");
    let ol = g.out_len();
    let runs = run_table(g);
    let partials: Vec<Vec<f32>> = group_ranges(active.rows())
        .into_par_iter()
        .map(|range| {
            let mut part = vec![0.0f32; g.k() * g.c_out];
            for r in range {
                let go = &gout[r * ol..(r + 1) * ol];
                conv_sparse_wgrad_row_runs(g, active.row(r), go, &runs, &mut part);
            }
            part
        })
        .collect();
    let mut r = vec![0.0f32; dw.len()];
    sum_partials(&partials, &mut r);
    unreverse(g, &r, dw);
    if scale != 1.0 {
        dw.iter_mut().for_each(|x| *x *= scale);
    }
}

/// `dst += src` for a short run of runtime length (a few vectors). On AVX-512 the
/// tail is a masked vector operation, so a run of, say, 60 floats takes four vector
/// additions instead of three and a dozen scalar ones.
#[inline(always)]
fn add_run<const W: usize>(dst: &mut [f32], src: &[f32]) {
    let len = dst.len().min(src.len());
    #[cfg(target_arch = "x86_64")]
    if super::avx512_width(W) {
        // SAFETY: `dispatch!` instantiates AVX-512 widths only in functions it calls
        // on CPUs with AVX-512F; both slices have at least `len` elements.
        unsafe { add_run_avx512(dst.as_mut_ptr(), src.as_ptr(), len) };
        return;
    }
    for k in 0..len {
        dst[k] += src[k];
    }
}

/// [`add_run`] with AVX-512: full vectors, then one masked vector.
///
/// # Safety
/// The CPU supports AVX-512F; `dst` and `src` are valid for `len` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn add_run_avx512(dst: *mut f32, src: *const f32, len: usize) {
    use std::arch::x86_64::*;
    let mut k = 0;
    while k + 16 <= len {
        let d = _mm512_loadu_ps(dst.add(k));
        let s = _mm512_loadu_ps(src.add(k));
        _mm512_storeu_ps(dst.add(k), _mm512_add_ps(d, s));
        k += 16;
    }
    if k < len {
        let m: __mmask16 = (1u16 << (len - k)) - 1;
        let d = _mm512_maskz_loadu_ps(m, dst.add(k));
        let s = _mm512_maskz_loadu_ps(m, src.add(k));
        _mm512_mask_storeu_ps(dst.add(k), m, _mm512_add_ps(d, s));
    }
}

dispatch!(
    /// One row of [`conv_forward_scatter`]: contiguous runs.
    pub(crate) fn conv_sparse_row_runs(
        g: &ConvGeom,
        active: &[u32],
        plan: &ScatterPlan,
        out: &mut [f32],
    ) = conv_sparse_row_runs_impl
);

#[inline(always)]
fn conv_sparse_row_runs_impl<const W: usize>(
    g: &ConvGeom,
    active: &[u32],
    plan: &ScatterPlan,
    out: &mut [f32],
) {
    let (wr, runs) = (&plan.wr[..], &plan.runs[..]);
    let co = g.c_out;
    let row_stride = g.kw * co;
    out.copy_from_slice(&plan.init);
    for &j in active {
        let run = runs[j as usize];
        let len = run.len as usize;
        if len == 0 {
            continue;
        }
        let (w_off, ox0, ty) = (run.w_off as usize, run.ox0 as usize, run.ty as usize);
        for ky in run.ky_lo as usize..=run.ky_hi as usize {
            let oy = ty - ky;
            let o = (oy * g.w_out + ox0) * co;
            let ws = w_off + ky * row_stride;
            add_run::<W>(&mut out[o..o + len], &wr[ws..ws + len]);
        }
    }
}

dispatch!(
    /// One row of [`conv_weight_grad_scatter`], added into `dwr` (laid out as
    /// [`reversed_weights`]).
    pub(crate) fn conv_sparse_wgrad_row_runs(
        g: &ConvGeom,
        active: &[u32],
        gout: &[f32],
        runs: &[Run],
        dwr: &mut [f32],
    ) = conv_sparse_wgrad_row_runs_impl
);

#[inline(always)]
fn conv_sparse_wgrad_row_runs_impl<const W: usize>(
    g: &ConvGeom,
    active: &[u32],
    gout: &[f32],
    runs: &[Run],
    dwr: &mut [f32],
) {
    let co = g.c_out;
    let row_stride = g.kw * co;
    for &j in active {
        let run = runs[j as usize];
        let len = run.len as usize;
        if len == 0 {
            continue;
        }
        let (w_off, ox0, ty) = (run.w_off as usize, run.ox0 as usize, run.ty as usize);
        for ky in run.ky_lo as usize..=run.ky_hi as usize {
            let oy = ty - ky;
            let o = (oy * g.w_out + ox0) * co;
            let ws = w_off + ky * row_stride;
            add_run::<W>(&mut dwr[ws..ws + len], &gout[o..o + len]);
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

/// Weight gradient (`K × c_out`, overwritten) from spike inputs (value `s.scale`) and
/// output gradients `gout`: every output position adds its gradient row to the
/// weight rows of the taps whose input spiked. Summed over rows in fixed groups.
pub fn conv_weight_grad_sparse(g: &ConvGeom, s: &SpikeTensor, gout: &[f32], dw: &mut [f32]) {
    let ol = g.out_len();
    let partials: Vec<Vec<f32>> = group_ranges(s.rows)
        .into_par_iter()
        .map(|range| {
            let mut part = vec![0.0f32; g.k() * g.c_out];
            for r in range {
                conv_scatter_wgrad_row(g, s.row(r), &gout[r * ol..(r + 1) * ol], &mut part);
            }
            part
        })
        .collect();
    sum_partials(&partials, dw);
    if s.scale != 1.0 {
        dw.iter_mut().for_each(|x| *x *= s.scale);
    }
}

dispatch!(
    /// One row of [`conv_weight_grad_sparse`], added into `dw`.
    pub(crate) fn conv_scatter_wgrad_row(g: &ConvGeom, bits: &[u64], gout: &[f32], dw: &mut [f32]) =
        conv_wgrad_row_impl, widths = (256, 64, 32)
);

#[inline(always)]
fn conv_wgrad_row_impl<const W: usize>(g: &ConvGeom, bits: &[u64], gout: &[f32], dw: &mut [f32]) {
    if masks_fit(g) {
        conv_mask_wgrad_row_impl::<W>(g, bits, gout, dw)
    } else {
        conv_scatter_wgrad_row_impl::<W>(g, bits, gout, dw)
    }
}

/// Whether the position-mask kernels handle geometry `g`: stride 1 and padded input
/// rows of at most 64 pixels (so one row of a channel is one `u64`).
fn masks_fit(g: &ConvGeom) -> bool {
    g.stride == 1 && g.w_in + 2 * g.pad <= 64
}

/// Exact quotient by a divisor fixed for a whole row, through a multiply (valid for
/// dividends and divisors below 2³²).
#[derive(Clone, Copy)]
struct DivBy {
    d: u64,
    magic: u64,
}

impl DivBy {
    fn new(d: usize) -> Self {
        let d = d as u64;
        // ⌈2⁶⁴/d⌉ (unused for d = 1).
        let magic = if d > 1 { u64::MAX / d + 1 } else { 0 };
        DivBy { d, magic }
    }

    /// `j / d`: `j·⌈2⁶⁴/d⌉ / 2⁶⁴` overshoots `j/d` by less than `j/2⁶⁴ < 1/d`, which
    /// never reaches the next integer.
    #[inline(always)]
    fn div(self, j: usize) -> usize {
        if self.d == 1 {
            j
        } else {
            ((j as u128 * self.magic as u128) >> 64) as usize
        }
    }
}

/// Builds the position masks of one row of channels-last spike bits (stride 1, see
/// [`masks_fit`]) in `m` and returns them with the words per mask, `rw`. Mask
/// `(c·kw + kx)` (at `[(c·kw + kx)·rw..]`) is a bit string of `hp = h_in + 2·pad`
/// padded input rows of `w_out` bits each: bit `y·w_out + ox` is set when input pixel
/// `(y − pad, ox + kx − pad)` spiked in channel `c`. The output positions
/// `oy0..oy0+n` that tap `(ky, kx, c)` saw spike are then the `n·w_out` bits from bit
/// `(oy0 + ky)·w_out`, in the order of the output positions.
fn build_position_masks<'m>(g: &ConvGeom, bits: &[u64], m: &'m mut Vec<u64>) -> (&'m [u64], usize) {
    let hp = g.h_in + 2 * g.pad;
    let (wo, in_len) = (g.w_out, g.in_len());
    let rw = (hp * wo).div_ceil(64) + 1;
    let planes = g.c_in * hp;
    m.clear();
    m.resize(planes + g.c_in * g.kw * rw, 0);
    let (plane, cols) = m.split_at_mut(planes);
    // Channel planes: bit `ix + pad` of padded row `y` of channel `c`.
    let (by_c, by_w) = (DivBy::new(g.c_in), DivBy::new(g.w_in));
    for (i, &word) in bits.iter().enumerate().take(in_len.div_ceil(64)) {
        let mut word = word;
        while word != 0 {
            let j = i * 64 + word.trailing_zeros() as usize;
            word &= word - 1;
            if j >= in_len {
                break;
            }
            let pix = by_c.div(j);
            let c = j - pix * g.c_in;
            let iy = by_w.div(pix);
            let ix = pix - iy * g.w_in;
            plane[c * hp + iy + g.pad] |= 1u64 << (ix + g.pad);
        }
    }
    let keep = if wo == 64 { u64::MAX } else { (1u64 << wo) - 1 };
    for c in 0..g.c_in {
        let rows = &plane[c * hp..(c + 1) * hp];
        for kx in 0..g.kw {
            let col = &mut cols[(c * g.kw + kx) * rw..(c * g.kw + kx + 1) * rw];
            for (y, &r) in rows.iter().enumerate() {
                or_bits(col, y * wo, wo, (r >> kx) & keep);
            }
        }
    }
    (cols, rw)
}

thread_local! {
    /// Per-thread position masks of the mask kernels.
    static MASKS: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// [`conv_scatter_wgrad_row`] for stride 1 ([`masks_fit`]): every weight row `k` sums,
/// in registers, the output gradients of the positions where its tap saw a spike
/// (read from the position masks), then adds the sum to `dw` once: the output
/// gradients of a row stay in L1 and the weight gradient is written once per tap.
#[inline(always)]
#[allow(clippy::int_plus_one)]
fn conv_mask_wgrad_row_impl<const W: usize>(
    g: &ConvGeom,
    bits: &[u64],
    gout: &[f32],
    dw: &mut [f32],
) {
    assert!(gout.len() >= g.out_len() && dw.len() >= g.k() * g.c_out);
    MASKS.with(|m| {
        let m = &mut *m.borrow_mut();
        let (cols, rw) = build_position_masks(g, bits, m);
        let block_rows = 64 / g.w_out;
        let mut oy0 = 0;
        while oy0 < g.h_out {
            let n = block_rows.min(g.h_out - oy0);
            channel_tiles!(
                W,
                c0 = 0,
                g.c_out,
                [256, 128, 64, 32, 16, 8, 4, 2, 1],
                |T| { mask_wgrad_tile::<T>(g, cols, rw, gout, dw, c0, oy0, n) }
            );
            oy0 += n;
        }
    })
}

/// Output rows `oy0..oy0 + n`, channels `c0..c0 + T` of [`conv_mask_wgrad_row_impl`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn mask_wgrad_tile<const T: usize>(
    g: &ConvGeom,
    cols: &[u64],
    rw: usize,
    gout: &[f32],
    dw: &mut [f32],
    c0: usize,
    oy0: usize,
    n: usize,
) {
    let (co, wo) = (g.c_out, g.w_out);
    let (base, len) = (oy0 * wo, n * wo);
    let gp = gout.as_ptr();
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            for c in 0..g.c_in {
                let col = &cols[(c * g.kw + kx) * rw..(c * g.kw + kx + 1) * rw];
                let mut mask = get_bits(col, (oy0 + ky) * wo, len);
                if mask == 0 {
                    continue;
                }
                let mut acc = [0.0f32; T];
                while mask != 0 {
                    let pos = base + mask.trailing_zeros() as usize;
                    mask &= mask - 1;
                    // SAFETY: `pos < h_out·w_out` (a mask has `len` bits from output
                    // position `base`) and `c0 + T ≤ c_out`, so the tile lies inside
                    // `gout`, whose length was checked against `out_len`.
                    let src = unsafe { &*(gp.add(pos * co + c0) as *const [f32; T]) };
                    for q in 0..T {
                        acc[q] += src[q];
                    }
                }
                let k = ((ky * g.kw + kx) * g.c_in + c) * co + c0;
                let d: &mut [f32; T] = (&mut dw[k..k + T]).try_into().expect("tile");
                for q in 0..T {
                    d[q] += acc[q];
                }
            }
        }
    }
}

#[inline(always)]
fn scatter_tile<const T: usize>(
    g: &ConvGeom,
    bits: &[u64],
    gout: &[f32],
    dw: &mut [f32],
    c0: usize,
) {
    let co = g.c_out;
    for oy in 0..g.h_out {
        for ox in 0..g.w_out {
            let p = (oy * g.w_out + ox) * co + c0;
            let gr: [f32; T] = gout[p..p + T].try_into().expect("tile");
            for_each_active_tap(g, bits, oy, ox, |k| {
                let d: &mut [f32; T] = (&mut dw[k * co + c0..k * co + c0 + T])
                    .try_into()
                    .expect("tile");
                for q in 0..T {
                    d[q] += gr[q];
                }
            });
        }
    }
}

#[inline(always)]
#[allow(clippy::int_plus_one)]
fn conv_scatter_wgrad_row_impl<const W: usize>(
    g: &ConvGeom,
    bits: &[u64],
    gout: &[f32],
    dw: &mut [f32],
) {
    channel_tiles!(
        W,
        c0 = 0,
        g.c_out,
        [256, 128, 64, 32, 16, 8, 4, 2, 1],
        |T| { scatter_tile::<T>(g, bits, gout, dw, c0) }
    );
}

/// Input gradient (`rows × in_len`, overwritten) from output gradients `gout`.
pub fn conv_input_grad(g: &ConvGeom, gout: &[f32], w: &[f32], dx: &mut [f32]) {
    let (il, ol, cr) = (g.in_len(), g.out_len(), g.chunk_rows());
    dx.par_chunks_mut(cr * il)
        .zip(gout.par_chunks(cr * ol))
        .for_each(|(d, gc)| conv_input_grad_serial(g, gc, w, d));
}

/// [`conv_input_grad`] on the calling thread, for a few rows (`rows ≤ chunk_rows()`
/// keeps its im2col buffer near a megabyte).
pub fn conv_input_grad_serial(g: &ConvGeom, gout: &[f32], w: &[f32], dx: &mut [f32]) {
    let (il, ol, k) = (g.in_len(), g.out_len(), g.k());
    let n = gout.len() / ol;
    let m = n * g.positions();
    with_cols(m * k, |cols| {
        matmul_serial(
            Mat::new(gout, m, g.c_out),
            Mat::new(w, k, g.c_out).t(),
            cols,
            false,
        );
        dx.fill(0.0);
        col2im_add_rows(g, cols, &mut dx[..n * il]);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor::FeatShape;
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
        for &(c_in, c_out, stride, pad) in &[
            (3usize, 5usize, 1usize, 0usize),
            (3, 5, 2, 1),
            (3, 5, 1, 2),
            (40, 20, 1, 1), // a kernel row spans more than 64 bits
        ] {
            let g = ConvGeom::new(c_in, 7, 6, c_out, 3, 2, stride, pad).unwrap();
            let rows = 3;
            let mut s = SpikeTensor::zeros(rows, FeatShape::image(c_in, 7, 6));
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
            conv_forward_sparse(&g, &s, &w, Some(&b), &mut sparse);
            let idx = SpikeIndex::from_spikes(&s);
            let mut scattered = vec![0.0; rows * g.out_len()];
            if stride == 1 {
                conv_forward_scatter(&g, &idx, &w, Some(&b), 1.0, &mut scattered);
            }
            for r in 0..rows {
                let want = reference(&g, x.row(r), &w, &b);
                for (k, &v) in want.iter().enumerate() {
                    assert!((dense[r * g.out_len() + k] - v).abs() < 1e-4);
                    assert!((sparse[r * g.out_len() + k] - v).abs() < 1e-4);
                    if stride == 1 {
                        assert!((scattered[r * g.out_len() + k] - v).abs() < 1e-4);
                    }
                }
            }
            // Weight gradient: both paths agree; input gradient is the adjoint.
            let go: Vec<f32> = (0..rows * g.out_len())
                .map(|_| rng.random::<f32>() - 0.5)
                .collect();
            let mut dw1 = vec![0.0; w.len()];
            let mut dw2 = vec![0.0; w.len()];
            conv_weight_grad_dense(&g, &x.data, &go, &mut dw1);
            conv_weight_grad_sparse(&g, &s, &go, &mut dw2);
            let mut dw3 = dw1.clone();
            if stride == 1 {
                conv_weight_grad_scatter(&g, &idx, &go, 1.0, &mut dw3);
            }
            for ((a, b), c) in dw1.iter().zip(&dw2).zip(&dw3) {
                assert!((a - b).abs() < 1e-4 && (a - c).abs() < 1e-4);
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
