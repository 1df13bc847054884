//! Kernels for layers whose input is binary spikes: instead of multiplying a dense
//! 0/1 matrix, the forward pass adds the weight rows of the inputs that spiked, and the
//! weight gradient adds each output-gradient row into the weight rows of the inputs
//! that spiked. With MNIST rate coding about 13 % of the inputs spike per step, so
//! this does about an eighth of the work of a dense product.
//!
//! Weights are `[n_in][n_out]` row-major. Outputs are processed in tiles of `W`
//! columns held in registers (see [`super::dispatch!`]).

use super::{channel_tiles, dispatch, group_ranges, sum_partials, SharedMut};
use crate::nn::tensor::SpikeTensor;
use rayon::prelude::*;

/// The active inputs of every row of a [`SpikeTensor`] as compressed rows: the
/// indices of row `r` are `idx[ptr[r]..ptr[r+1]]`, increasing.
#[derive(Clone, Debug, Default)]
pub struct SpikeIndex {
    /// Row starts (`rows + 1` entries).
    pub ptr: Vec<u32>,
    /// Feature indices.
    pub idx: Vec<u32>,
}

impl SpikeIndex {
    /// Decodes the set bits of `s` (in parallel over blocks of rows).
    pub fn from_spikes(s: &SpikeTensor) -> Self {
        const BLOCK: usize = 256;
        let parts: Vec<(Vec<u32>, Vec<u32>)> = (0..s.rows.div_ceil(BLOCK))
            .into_par_iter()
            .map(|b| {
                let (r0, r1) = (b * BLOCK, ((b + 1) * BLOCK).min(s.rows));
                let mut lens = Vec::with_capacity(r1 - r0);
                let mut idx = Vec::new();
                for r in r0..r1 {
                    let before = idx.len();
                    s.active_into(r, &mut idx);
                    lens.push((idx.len() - before) as u32);
                }
                (lens, idx)
            })
            .collect();
        let total: usize = parts.iter().map(|(_, i)| i.len()).sum();
        let mut ptr = Vec::with_capacity(s.rows + 1);
        let mut idx = Vec::with_capacity(total);
        ptr.push(0u32);
        for (lens, part) in parts {
            for l in lens {
                let last = *ptr.last().expect("non-empty");
                ptr.push(last + l);
            }
            idx.extend_from_slice(&part);
        }
        SpikeIndex { ptr, idx }
    }

    /// Decodes, for output row `r`, the spikes of input row `src(r)` (or none): used to
    /// pair a gradient row with the spikes of the previous step.
    pub fn from_rows(s: &SpikeTensor, rows: usize, src: impl Fn(usize) -> Option<usize>) -> Self {
        let total = s.count() as usize;
        let mut ptr = Vec::with_capacity(rows + 1);
        let mut idx = Vec::with_capacity(total);
        ptr.push(0u32);
        for r in 0..rows {
            if let Some(q) = src(r) {
                s.active_into(q, &mut idx);
            }
            ptr.push(idx.len() as u32);
        }
        SpikeIndex { ptr, idx }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.ptr.len() - 1
    }

    /// Active indices of row `r`.
    #[inline]
    pub fn row(&self, r: usize) -> &[u32] {
        &self.idx[self.ptr[r] as usize..self.ptr[r + 1] as usize]
    }
}

/// Rows per parallel task in [`spike_matmul`].
const ROW_CHUNK: usize = 32;

/// `out[r][c] = bias[c] + scale · Σ_{j active in row r} w[j][c]` for all rows of
/// `spikes` (`out` is `rows × n_out`, overwritten).
pub fn spike_matmul(
    spikes: &SpikeIndex,
    w: &[f32],
    n_out: usize,
    bias: Option<&[f32]>,
    scale: f32,
    out: &mut [f32],
) {
    let rows = spikes.rows();
    assert_eq!(out.len(), rows * n_out);
    out.par_chunks_mut(ROW_CHUNK * n_out)
        .enumerate()
        .for_each(|(k, chunk)| {
            let r0 = k * ROW_CHUNK;
            spike_matmul_rows(spikes, r0, w, n_out, bias, scale, chunk);
        });
}

dispatch!(
    /// One chunk of rows of [`spike_matmul`], starting at row `r0`: column tiles of
    /// 256 floats (sixteen 512-bit accumulators) with AVX-512, 64 with AVX2.
    fn spike_matmul_rows(
        spikes: &SpikeIndex,
        r0: usize,
        w: &[f32],
        n_out: usize,
        bias: Option<&[f32]>,
        scale: f32,
        out: &mut [f32],
    ) = spike_matmul_rows_impl, widths = (256, 64, 32)
);

/// Asks for the `T` floats of `w` from `start` to be brought into L1.
#[inline(always)]
fn prefetch<const T: usize>(w: &[f32], start: usize) {
    #[cfg(target_arch = "x86_64")]
    if start + T <= w.len() {
        let p = w[start..].as_ptr() as *const i8;
        let mut off = 0;
        while off < T * 4 {
            // SAFETY: prefetching has no effect on memory; the address is inside `w`.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.add(off))
            };
            off += 64;
        }
    }
}

/// Columns `c0..c0+T` of every row: `T` accumulators in registers, the weight rows of
/// the next inputs prefetched while adding the current one.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn matmul_tile<const T: usize>(
    spikes: &SpikeIndex,
    r0: usize,
    w: &[f32],
    n: usize,
    bias: Option<&[f32]>,
    scale: f32,
    out: &mut [f32],
    c0: usize,
) {
    const AHEAD: usize = 4;
    let rows = out.len() / n;
    let b: [f32; T] = match bias {
        Some(b) => b[c0..c0 + T].try_into().expect("tile"),
        None => [0.0; T],
    };
    for r in 0..rows {
        let mut acc = [0.0f32; T];
        let idx = spikes.row(r0 + r);
        for (q, &j) in idx.iter().enumerate() {
            if let Some(&next) = idx.get(q + AHEAD) {
                prefetch::<T>(w, next as usize * n + c0);
            }
            let start = j as usize * n + c0;
            let wr: &[f32; T] = w[start..start + T].try_into().expect("tile");
            for k in 0..T {
                acc[k] += wr[k];
            }
        }
        let o: &mut [f32; T] = (&mut out[r * n + c0..r * n + c0 + T])
            .try_into()
            .expect("tile");
        for k in 0..T {
            o[k] = b[k] + scale * acc[k];
        }
    }
}

#[inline(always)]
fn spike_matmul_rows_impl<const W: usize>(
    spikes: &SpikeIndex,
    r0: usize,
    w: &[f32],
    n: usize,
    bias: Option<&[f32]>,
    scale: f32,
    out: &mut [f32],
) {
    let rows = out.len() / n;
    // Widest tiles first, then halves, so few columns are left for the scalar tail.
    channel_tiles!(W, c0 = 0, n, [256, 128, 64, 32, 16], |T| {
        matmul_tile::<T>(spikes, r0, w, n, bias, scale, out, c0)
    });
    if c0 < n {
        let m = n - c0;
        let mut acc = [0.0f32; 16];
        for r in 0..rows {
            acc[..m].fill(0.0);
            for &j in spikes.row(r0 + r) {
                let start = j as usize * n + c0;
                for (a, x) in acc[..m].iter_mut().zip(&w[start..start + m]) {
                    *a += x;
                }
            }
            let o = &mut out[r * n + c0..r * n + n];
            for k in 0..m {
                let b = bias.map_or(0.0, |b| b[c0 + k]);
                o[k] = b + scale * acc[k];
            }
        }
    }
}

/// Column tile width of the weight-gradient kernel's parallel split (fixed, so that
/// the split does not depend on the machine).
const GRAD_TILE: usize = 256;

/// Rows per block of the transposed index of the weight gradient: the gradient rows of
/// one block and one column tile (512 KiB) stay in the L2 cache.
const GRAD_ROW_BLOCK: usize = 512;

/// The transpose of a [`SpikeIndex`] in blocks of rows: for block `b` and input `j`,
/// the rows of the block where `j` spiked are `rows[ptr[j]..ptr[j+1]]`, increasing.
struct ColumnBlocks {
    blocks: Vec<(Vec<u32>, Vec<u32>)>,
}

impl ColumnBlocks {
    fn new(spikes: &SpikeIndex, n_in: usize) -> Self {
        let rows = spikes.rows();
        let blocks = (0..rows.div_ceil(GRAD_ROW_BLOCK))
            .into_par_iter()
            .map(|b| {
                let (r0, r1) = (b * GRAD_ROW_BLOCK, ((b + 1) * GRAD_ROW_BLOCK).min(rows));
                let mut ptr = vec![0u32; n_in + 1];
                for r in r0..r1 {
                    for &j in spikes.row(r) {
                        ptr[j as usize + 1] += 1;
                    }
                }
                for j in 0..n_in {
                    ptr[j + 1] += ptr[j];
                }
                let mut fill = ptr.clone();
                let mut out = vec![0u32; ptr[n_in] as usize];
                for r in r0..r1 {
                    for &j in spikes.row(r) {
                        let slot = &mut fill[j as usize];
                        out[*slot as usize] = r as u32;
                        *slot += 1;
                    }
                }
                (ptr, out)
            })
            .collect();
        ColumnBlocks { blocks }
    }
}

/// Weight gradient of a spike-input layer: `dw[j][c] = scale · Σ_{r : j active in r}
/// g[r][c]` (`dw` is `n_in × n_out`, overwritten; `g` is `rows × n_out`).
pub fn spike_weight_grad(spikes: &SpikeIndex, g: &[f32], n_out: usize, scale: f32, dw: &mut [f32]) {
    let rows = spikes.rows();
    assert_eq!(g.len(), rows * n_out);
    let n_in = dw.len() / n_out;
    if n_out >= 2 * GRAD_TILE {
        // Split by column tiles: every task owns whole columns of dw, no reduction.
        // Each task sums, per input, the gradient rows where it spiked (loads only).
        let cols = ColumnBlocks::new(spikes, n_in);
        let tiles = n_out.div_ceil(GRAD_TILE);
        let ptr = SharedMut(dw.as_mut_ptr());
        (0..tiles).into_par_iter().for_each(|t| {
            let c0 = t * GRAD_TILE;
            let c1 = (c0 + GRAD_TILE).min(n_out);
            // SAFETY: task t writes only columns c0..c1 of the n_in × n_out matrix
            // behind `ptr`, disjoint from every other task, and dw outlives the loop.
            unsafe { weight_grad_cols(&cols.blocks, g, n_out, scale, c0, c1, n_in, ptr) };
        });
    } else {
        // Few outputs: fixed row groups with partial sums, added in order.
        let groups = group_ranges(rows);
        let partials: Vec<Vec<f32>> = groups
            .into_par_iter()
            .map(|range| {
                let mut part = vec![0.0f32; n_in * n_out];
                for r in range {
                    let gr = &g[r * n_out..(r + 1) * n_out];
                    for &j in spikes.row(r) {
                        let d = &mut part[j as usize * n_out..(j as usize + 1) * n_out];
                        for (a, x) in d.iter_mut().zip(gr) {
                            *a += x;
                        }
                    }
                }
                part
            })
            .collect();
        sum_partials(&partials, dw);
        if scale != 1.0 {
            dw.iter_mut().for_each(|x| *x *= scale);
        }
    }
}

dispatch!(
    /// Columns `c0..c1` of [`spike_weight_grad`] (`dw`, `n_in × n` behind the
    /// pointer, overwritten).
    ///
    /// # Safety
    /// `dw` must point to `n_in × n` floats of which no other thread accesses columns
    /// `c0..c1` during the call.
    unsafe fn weight_grad_cols(
        blocks: &[(Vec<u32>, Vec<u32>)],
        g: &[f32],
        n: usize,
        scale: f32,
        c0: usize,
        c1: usize,
        n_in: usize,
        dw: SharedMut,
    ) = weight_grad_cols_impl, widths = (256, 64, 32)
);

/// Columns `a..a+T` of the weight gradient: per input, the sum of the gradient rows
/// where it spiked, `T` accumulators in registers, next rows prefetched.
///
/// # Safety
/// See [`weight_grad_cols`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn grad_tile<const T: usize>(
    blocks: &[(Vec<u32>, Vec<u32>)],
    g: &[f32],
    n: usize,
    a: usize,
    n_in: usize,
    dw: SharedMut,
) {
    const AHEAD: usize = 4;
    // Blocks of rows outer, so one block's gradient tile stays in cache.
    for (b, (ptr, rows)) in blocks.iter().enumerate() {
        for j in 0..n_in {
            debug_assert!(j < n_in && a + T <= n);
            // SAFETY: in bounds and owned by this task (see weight_grad_cols).
            let d: &mut [f32; T] = unsafe { &mut *(dw.0.add(j * n + a) as *mut [f32; T]) };
            let rj = &rows[ptr[j] as usize..ptr[j + 1] as usize];
            let mut acc = [0.0f32; T];
            for (q, &r) in rj.iter().enumerate() {
                if let Some(&next) = rj.get(q + AHEAD) {
                    prefetch::<T>(g, next as usize * n + a);
                }
                let s = r as usize * n + a;
                let gr: &[f32; T] = g[s..s + T].try_into().expect("tile");
                for k in 0..T {
                    acc[k] += gr[k];
                }
            }
            if b == 0 {
                *d = acc;
            } else {
                for k in 0..T {
                    d[k] += acc[k];
                }
            }
        }
    }
}

/// # Safety
/// See [`weight_grad_cols`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn weight_grad_cols_impl<const W: usize>(
    blocks: &[(Vec<u32>, Vec<u32>)],
    g: &[f32],
    n: usize,
    scale: f32,
    c0: usize,
    c1: usize,
    n_in: usize,
    dw: SharedMut,
) {
    // A mutable view of `len` floats of row j from column a: disjoint from other tasks.
    let cols = |j: usize, a: usize, len: usize| -> &mut [f32] {
        debug_assert!(j < n_in && a + len <= n);
        // SAFETY: in bounds (j < n_in, a + len <= n) and owned by this task (see above).
        unsafe { std::slice::from_raw_parts_mut(dw.0.add(j * n + a), len) }
    };
    channel_tiles!(W, a = c0, c1, [256, 128, 64, 32, 16], |T| {
        // SAFETY: columns a..a+T lie in c0..c1, which this task owns.
        unsafe { grad_tile::<T>(blocks, g, n, a, n_in, dw) }
    });
    if a < c1 {
        let w = c1 - a;
        for (b, (ptr, rows)) in blocks.iter().enumerate() {
            for j in 0..n_in {
                let d = cols(j, a, w);
                if b == 0 {
                    d.fill(0.0);
                }
                for &r in &rows[ptr[j] as usize..ptr[j + 1] as usize] {
                    let s = r as usize * n + a;
                    for (x, y) in d.iter_mut().zip(&g[s..s + w]) {
                        *x += y;
                    }
                }
            }
        }
    }
    if scale != 1.0 {
        for j in 0..n_in {
            cols(j, c0, c1 - c0).iter_mut().for_each(|x| *x *= scale);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor::{FeatShape, Tensor};
    use rand::Rng;

    fn random_case(rows: usize, n_in: usize, n_out: usize, seed: u64) -> (SpikeTensor, Vec<f32>) {
        let mut rng = spikelab_core::rng::stream(seed, spikelab_core::rng::Domain::Training, &[]);
        let mut s = SpikeTensor::zeros(rows, FeatShape::flat(n_in));
        for r in 0..rows {
            for j in 0..n_in {
                if rng.random::<f32>() < 0.2 {
                    s.set(r, j);
                }
            }
        }
        let w = (0..n_in * n_out)
            .map(|_| rng.random::<f32>() - 0.5)
            .collect();
        (s, w)
    }

    #[test]
    fn spike_matmul_equals_the_dense_product() {
        for &(rows, n_in, n_out) in &[(70usize, 100usize, 300usize), (5, 130, 10), (33, 64, 128)] {
            let (s, w) = random_case(rows, n_in, n_out, 1);
            let bias: Vec<f32> = (0..n_out).map(|c| c as f32 * 0.01).collect();
            let mut out = vec![0.0; rows * n_out];
            spike_matmul(
                &SpikeIndex::from_spikes(&s),
                &w,
                n_out,
                Some(&bias),
                0.5,
                &mut out,
            );
            let d: Tensor = s.to_dense();
            for r in 0..rows {
                for c in 0..n_out {
                    let want: f32 = bias[c]
                        + 0.5
                            * (0..n_in)
                                .map(|j| d.row(r)[j] * w[j * n_out + c])
                                .sum::<f32>();
                    assert!((out[r * n_out + c] - want).abs() < 1e-4);
                }
            }
        }
    }

    #[test]
    fn spike_weight_grad_equals_the_dense_product_for_both_splits() {
        for &(rows, n_in, n_out) in &[(40usize, 70usize, 600usize), (40, 70, 10)] {
            let (s, _) = random_case(rows, n_in, n_out, 2);
            let (_, g) = random_case(1, rows, n_out, 3);
            let mut dw = vec![1.0; n_in * n_out];
            spike_weight_grad(&SpikeIndex::from_spikes(&s), &g, n_out, 2.0, &mut dw);
            for j in 0..n_in {
                for c in 0..n_out {
                    let want: f32 = 2.0
                        * (0..rows)
                            .filter(|&r| s.get(r, j))
                            .map(|r| g[r * n_out + c])
                            .sum::<f32>();
                    assert!((dw[j * n_out + c] - want).abs() < 1e-4);
                }
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let (s, w) = random_case(200, 300, 700, 4);
        let (_, g) = random_case(1, 200, 700, 5);
        let idx = SpikeIndex::from_spikes(&s);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut out = vec![0.0; 200 * 700];
                spike_matmul(&idx, &w, 700, None, 1.0, &mut out);
                let mut dw = vec![0.0; 300 * 700];
                spike_weight_grad(&idx, &g, 700, 1.0, &mut dw);
                (out, dw)
            })
        };
        assert_eq!(run(1), run(3));
    }
}
