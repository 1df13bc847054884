//! Dense kernels: matrix products through the `gemm` crate (runtime-dispatched
//! AVX-512/AVX2 micro-kernels; its parallel split is over output blocks only, so a
//! result does not depend on the thread count) and column sums with a fixed
//! reduction order.

use super::{group_ranges, sum_partials};
use rayon::prelude::*;

/// A read-only strided matrix view: element `(i, j)` is `data[i·rs + j·cs]`.
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// A row-major `rows × cols` matrix.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols, "matrix data too short");
        Mat {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }
    /// The transpose (a view; no copy).
    pub fn t(self) -> Self {
        Mat {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }
}

/// Work (multiply-adds) below which products run on the calling thread.
const PARALLEL_MIN_WORK: usize = 1 << 20;

/// `c = a·b` (or `c += a·b` with `accumulate`), `c` row-major `a.rows × b.cols`.
pub fn matmul(a: Mat, b: Mat, c: &mut [f32], accumulate: bool) {
    matmul_with(a, b, c, accumulate, true)
}

/// [`matmul`] that never spawns threads (for callers already running in parallel).
pub fn matmul_serial(a: Mat, b: Mat, c: &mut [f32], accumulate: bool) {
    matmul_with(a, b, c, accumulate, false)
}

fn matmul_with(a: Mat, b: Mat, c: &mut [f32], accumulate: bool, parallel: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions");
    assert_eq!(c.len(), m * n, "output size");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    let check = |x: &Mat| {
        let last = (x.rows - 1) * x.rs + (x.cols - 1) * x.cs;
        assert!(last < x.data.len(), "matrix view out of bounds");
    };
    check(&a);
    check(&b);
    let par = if parallel && m * n * k >= PARALLEL_MIN_WORK && rayon::current_num_threads() > 1 {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: every index the product touches is in bounds (checked above for a and b,
    // c has m·n elements with row stride n), and c does not alias a or b (&mut).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// Column sums of a row-major `rows × n` matrix into `out` (overwritten), summed in
/// fixed row groups so the result does not depend on the thread count.
pub fn col_sums(x: &[f32], n: usize, out: &mut [f32]) {
    // Narrow rows (conv biases: a few channels) are summed as wide rows of `m·n`
    // columns, then folded: long inner loops that vectorise.
    if n > 0 && n < 64 {
        let m = (256 / n).max(1);
        let rows = x.len() / n;
        if rows >= 4 * m {
            let whole = rows / m * m;
            let mut wide = vec![0.0f32; m * n];
            col_sums(&x[..whole * n], m * n, &mut wide);
            out.fill(0.0);
            for chunk in wide.chunks_exact(n).chain(x[whole * n..].chunks_exact(n)) {
                for (o, v) in out.iter_mut().zip(chunk) {
                    *o += v;
                }
            }
            return;
        }
    }
    let rows = x.len().checked_div(n).unwrap_or(0);
    if rows * n < 1 << 16 {
        out.fill(0.0);
        for r in 0..rows {
            for (o, v) in out.iter_mut().zip(&x[r * n..(r + 1) * n]) {
                *o += v;
            }
        }
        return;
    }
    let partials: Vec<Vec<f32>> = group_ranges(rows)
        .into_par_iter()
        .map(|range| {
            let mut p = vec![0.0f32; n];
            for r in range {
                for (o, v) in p.iter_mut().zip(&x[r * n..(r + 1) * n]) {
                    *o += v;
                }
            }
            p
        })
        .collect();
    sum_partials(&partials, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: Mat, b: Mat) -> Vec<f32> {
        let mut c = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                for k in 0..a.cols {
                    c[i * b.cols + j] += a.data[i * a.rs + k * a.cs] * b.data[k * b.rs + j * b.cs];
                }
            }
        }
        c
    }

    #[test]
    fn matmul_handles_transposes_and_accumulation() {
        let a: Vec<f32> = (0..12).map(|x| x as f32 * 0.5 - 2.0).collect();
        let b: Vec<f32> = (0..20).map(|x| (x as f32).sin()).collect();
        let am = Mat::new(&a, 3, 4);
        let bm = Mat::new(&b, 4, 5);
        let mut c = vec![0.0; 15];
        matmul(am, bm, &mut c, false);
        let want = naive(am, bm);
        assert!(c.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-5));
        matmul(am, bm, &mut c, true);
        assert!(c.iter().zip(&want).all(|(x, y)| (x - 2.0 * y).abs() < 1e-5));
        // aᵀ·a (4×4) through a transposed view.
        let mut d = vec![0.0; 16];
        matmul(am.t(), am, &mut d, false);
        let want = naive(am.t(), am);
        assert!(d.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-4));
    }

    #[test]
    fn column_sums_of_narrow_and_wide_rows() {
        for n in [3usize, 12, 100] {
            let x: Vec<f32> = (0..n * 5000).map(|i| (i % 7) as f32 - 3.0).collect();
            let mut s = vec![0.0; n];
            col_sums(&x, n, &mut s);
            for c in 0..n {
                let want: f32 = (0..5000).map(|r| x[r * n + c]).sum();
                assert!((s[c] - want).abs() < 1e-2, "{n} {c}");
            }
        }
    }

    #[test]
    fn large_products_do_not_depend_on_the_thread_count() {
        let (m, k, n) = (300, 200, 150);
        let a: Vec<f32> = (0..m * k)
            .map(|x| ((x * 7919) % 1000) as f32 / 1000.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|x| ((x * 104729) % 997) as f32 / 997.0)
            .collect();
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    let mut c = vec![0.0; m * n];
                    matmul(Mat::new(&a, m, k), Mat::new(&b, k, n), &mut c, false);
                    let mut s = vec![0.0; n];
                    col_sums(&c, n, &mut s);
                    let mut narrow = vec![0.0; 3];
                    col_sums(&c, 3, &mut narrow);
                    (c, s, narrow)
                })
        };
        assert_eq!(run(1), run(2));
        assert_eq!(run(1), run(4));
    }
}
