//! Activations and gradients flowing between layers.
//!
//! Everything is time-batched (multi-step, as SpikingJelly's multi-step mode): an
//! activation holds `rows = steps × batch` rows, step-major (row `t·B + b` is sample
//! `b` at step `t`), each of `shape.len()` features. Image features are stored
//! channels-last (HWC: `(y·W + x)·C + c`), so a convolution's output channels are
//! contiguous and a flatten is free. Three forms exist:
//!
//! * [`Tensor`]: dense `f32` (currents, membranes, gradients);
//! * [`SpikeTensor`]: binary, bit-packed (one bit per feature, rows padded to whole
//!   `u64` words) — 32× smaller than `f32`, what BPTT keeps for the backward pass, and
//!   what sparse kernels iterate (sums of weight rows instead of multiplies);
//! * [`Activation::Static`]: a dense input that is the same at every step (direct
//!   current input), stored once per sample; stateless layers compute it once.

use serde::{Deserialize, Serialize};

/// Shape of the features of one sample at one step: channels × height × width,
/// stored channels-last. A flat vector is `c = n, h = w = 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FeatShape {
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

impl FeatShape {
    /// A flat vector of `n` features.
    pub fn flat(n: usize) -> Self {
        FeatShape { c: n, h: 1, w: 1 }
    }
    /// An image of `c` channels, `h × w` pixels.
    pub fn image(c: usize, h: usize, w: usize) -> Self {
        FeatShape { c, h, w }
    }
    /// Number of features.
    pub fn len(&self) -> usize {
        self.c * self.h * self.w
    }
    /// Number of features, or None when it does not fit a `usize` (shapes read from
    /// files are checked with it before [`FeatShape::len`] is used).
    pub fn checked_len(&self) -> Option<usize> {
        self.c.checked_mul(self.h)?.checked_mul(self.w)
    }
    /// True when there are no features.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// True for a flat vector (`h = w = 1`).
    pub fn is_flat(&self) -> bool {
        self.h == 1 && self.w == 1
    }
}

impl std::fmt::Display for FeatShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_flat() {
            write!(f, "{}", self.c)
        } else {
            write!(f, "{}x{}x{} (CxHxW)", self.c, self.h, self.w)
        }
    }
}

/// Dense `f32` rows (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// `rows × shape.len()` values, row-major.
    pub data: Vec<f32>,
    /// Number of rows.
    pub rows: usize,
    /// Shape of a row.
    pub shape: FeatShape,
}

impl Drop for Tensor {
    fn drop(&mut self) {
        crate::nn::pool::give(std::mem::take(&mut self.data));
    }
}

impl Tensor {
    /// Zeros.
    pub fn zeros(rows: usize, shape: FeatShape) -> Self {
        Tensor {
            data: crate::nn::pool::take_zeroed(rows * shape.len()),
            rows,
            shape,
        }
    }
    /// A tensor whose values are unspecified, for outputs that are overwritten.
    pub fn uninit(rows: usize, shape: FeatShape) -> Self {
        Tensor {
            data: crate::nn::pool::take(rows * shape.len()),
            rows,
            shape,
        }
    }
    /// Takes the values out (the tensor is left empty).
    pub fn into_data(mut self) -> Vec<f32> {
        std::mem::take(&mut self.data)
    }
    /// Wraps data; panics if the length does not match (a programming error).
    pub fn from_vec(data: Vec<f32>, rows: usize, shape: FeatShape) -> Self {
        assert_eq!(data.len(), rows * shape.len(), "tensor data length");
        Tensor { data, rows, shape }
    }
    /// Features per row.
    pub fn cols(&self) -> usize {
        self.shape.len()
    }
    /// Row `r`.
    pub fn row(&self, r: usize) -> &[f32] {
        let n = self.cols();
        &self.data[r * n..(r + 1) * n]
    }
    /// Row `r`, mutable.
    pub fn row_mut(&mut self, r: usize) -> &mut [f32] {
        let n = self.cols();
        &mut self.data[r * n..(r + 1) * n]
    }
}

/// Binary rows, bit-packed (see the module docs). The value of a set bit is `scale`
/// (1, or `1/(1−p)` after dropout).
#[derive(Clone, Debug, PartialEq)]
pub struct SpikeTensor {
    /// `rows × words` words; bit `j % 64` of word `r·words + j/64` is feature `j`.
    pub bits: Vec<u64>,
    /// Number of rows.
    pub rows: usize,
    /// Shape of a row.
    pub shape: FeatShape,
    /// Words per row (`ceil(shape.len() / 64)`).
    pub words: usize,
    /// Value of a spike.
    pub scale: f32,
}

impl SpikeTensor {
    /// No spikes.
    pub fn zeros(rows: usize, shape: FeatShape) -> Self {
        let words = shape.len().div_ceil(64);
        SpikeTensor {
            bits: vec![0; rows * words],
            rows,
            shape,
            words,
            scale: 1.0,
        }
    }
    /// The words of row `r`.
    #[inline]
    pub fn row(&self, r: usize) -> &[u64] {
        &self.bits[r * self.words..(r + 1) * self.words]
    }
    /// Whether feature `j` of row `r` spiked.
    #[inline]
    pub fn get(&self, r: usize, j: usize) -> bool {
        self.bits[r * self.words + j / 64] >> (j % 64) & 1 == 1
    }
    /// Sets feature `j` of row `r`.
    #[inline]
    pub fn set(&mut self, r: usize, j: usize) {
        self.bits[r * self.words + j / 64] |= 1 << (j % 64);
    }
    /// Total number of spikes.
    pub fn count(&self) -> u64 {
        self.bits.iter().map(|w| w.count_ones() as u64).sum()
    }
    /// Fraction of features that spiked.
    pub fn density(&self) -> f64 {
        let n = self.rows * self.shape.len();
        if n == 0 {
            0.0
        } else {
            self.count() as f64 / n as f64
        }
    }
    /// Calls `f(j)` for every feature `j` that spiked in row `r`, in increasing order.
    #[inline(always)]
    pub fn for_each_active(&self, r: usize, mut f: impl FnMut(usize)) {
        for (k, &w) in self.row(r).iter().enumerate() {
            let mut w = w;
            while w != 0 {
                f(k * 64 + w.trailing_zeros() as usize);
                w &= w - 1;
            }
        }
    }
    /// Indices of the active features of row `r`, appended to `out`.
    #[inline]
    pub fn active_into(&self, r: usize, out: &mut Vec<u32>) {
        self.for_each_active(r, |j| out.push(j as u32));
    }
    /// Dense copy (`scale` for spikes, 0 elsewhere).
    pub fn to_dense(&self) -> Tensor {
        let mut t = Tensor::zeros(self.rows, self.shape);
        for r in 0..self.rows {
            let s = self.scale;
            let row = t.row_mut(r);
            self.for_each_active(r, |j| row[j] = s);
        }
        t
    }
    /// Packs a dense 0/1 tensor (any value > 0.5 counts as a spike).
    pub fn from_dense(t: &Tensor) -> Self {
        let mut s = SpikeTensor::zeros(t.rows, t.shape);
        for r in 0..t.rows {
            let words = s.words;
            pack_row(t.row(r), &mut s.bits[r * words..(r + 1) * words]);
        }
        s
    }
}

/// `len ≤ 64` bits of a packed row starting at bit `start` (in the low bits).
#[inline(always)]
pub(crate) fn get_bits(w: &[u64], start: usize, len: usize) -> u64 {
    let (i, o) = (start / 64, start % 64);
    let mut v = w[i] >> o;
    if o + len > 64 {
        v |= w[i + 1] << (64 - o);
    }
    if len < 64 {
        v & ((1u64 << len) - 1)
    } else {
        v
    }
}

/// ORs `len ≤ 64` bits `v` into a packed row at bit `start`.
#[inline(always)]
pub(crate) fn or_bits(w: &mut [u64], start: usize, len: usize, v: u64) {
    let (i, o) = (start / 64, start % 64);
    w[i] |= v << o;
    if o + len > 64 {
        w[i + 1] |= v >> (64 - o);
    }
}

/// Packs `values > 0.5` of one row into `words` (one bit per value, the last word
/// zero-padded). Uses AVX-512 or AVX2 compares where available.
#[inline]
pub fn pack_row(values: &[f32], words: &mut [u64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::nn::kernels::has_avx512() {
            // SAFETY: AVX-512F is available (checked above).
            return unsafe { pack_row_avx512(values, words) };
        }
        if crate::nn::kernels::has_avx2() {
            // SAFETY: AVX2 is available (checked above).
            return unsafe { pack_row_avx2(values, words) };
        }
    }
    pack_row_scalar(values, words)
}

fn pack_row_scalar(values: &[f32], words: &mut [u64]) {
    for (k, chunk) in values.chunks(64).enumerate() {
        let mut w = 0u64;
        for (j, &x) in chunk.iter().enumerate() {
            w |= ((x > 0.5) as u64) << j;
        }
        words[k] = w;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pack_row_avx512(values: &[f32], words: &mut [u64]) {
    use std::arch::x86_64::*;
    let full = values.len() / 64;
    let half = _mm512_set1_ps(0.5);
    for (k, word) in words.iter_mut().enumerate().take(full) {
        let mut w = 0u64;
        for q in 0..4 {
            // SAFETY: k·64 + q·16 + 16 <= full·64 <= values.len().
            let v = unsafe { _mm512_loadu_ps(values.as_ptr().add(k * 64 + q * 16)) };
            let m = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, half);
            w |= (m as u64) << (16 * q);
        }
        *word = w;
    }
    if full * 64 < values.len() {
        pack_row_scalar(&values[full * 64..], &mut words[full..]);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn pack_row_avx2(values: &[f32], words: &mut [u64]) {
    use std::arch::x86_64::*;
    let full = values.len() / 64;
    let half = _mm256_set1_ps(0.5);
    for (k, word) in words.iter_mut().enumerate().take(full) {
        let mut w = 0u64;
        for q in 0..8 {
            // SAFETY: k·64 + q·8 + 8 <= full·64 <= values.len().
            let v = unsafe { _mm256_loadu_ps(values.as_ptr().add(k * 64 + q * 8)) };
            let m = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(v, half)) as u64;
            w |= m << (8 * q);
        }
        *word = w;
    }
    if full * 64 < values.len() {
        pack_row_scalar(&values[full * 64..], &mut words[full..]);
    }
}

/// What flows forward between layers.
#[derive(Clone, Debug, PartialEq)]
pub enum Activation {
    /// Dense values, `steps × batch` rows.
    Dense(Tensor),
    /// Binary spikes, `steps × batch` rows.
    Spikes(SpikeTensor),
    /// The same dense values at every step: `batch` rows.
    Static(Tensor),
}

impl Activation {
    /// Shape of a row.
    pub fn shape(&self) -> FeatShape {
        match self {
            Activation::Dense(t) | Activation::Static(t) => t.shape,
            Activation::Spikes(s) => s.shape,
        }
    }
    /// Number of rows (`batch` for [`Activation::Static`]).
    pub fn rows(&self) -> usize {
        match self {
            Activation::Dense(t) | Activation::Static(t) => t.rows,
            Activation::Spikes(s) => s.rows,
        }
    }
    /// Dense values for all `steps × batch` rows (expanding a static input), taking
    /// the buffer of a dense activation without copying.
    pub fn into_dense(self, steps: usize) -> Tensor {
        match self {
            Activation::Dense(t) => t,
            other => other.to_dense(steps),
        }
    }
    /// Dense values for all `steps × batch` rows (expanding a static input).
    pub fn to_dense(&self, steps: usize) -> Tensor {
        match self {
            Activation::Dense(t) => t.clone(),
            Activation::Spikes(s) => s.to_dense(),
            Activation::Static(t) => {
                // Row b·T + s is sample b.
                let n = t.cols();
                let mut out = Tensor::uninit(t.rows * steps, t.shape);
                for (r, row) in out.data.chunks_exact_mut(n).enumerate() {
                    row.copy_from_slice(t.row(r / steps));
                }
                out
            }
        }
    }
    /// True for [`Activation::Static`].
    pub fn is_static(&self) -> bool {
        matches!(self, Activation::Static(_))
    }
    /// The spikes, if binary.
    pub fn as_spikes(&self) -> Option<&SpikeTensor> {
        match self {
            Activation::Spikes(s) => Some(s),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spikes_pack_and_unpack() {
        let shape = FeatShape::flat(130);
        let mut d = Tensor::zeros(3, shape);
        for &(r, j) in &[(0usize, 0usize), (0, 63), (0, 64), (1, 129), (2, 77)] {
            d.row_mut(r)[j] = 1.0;
        }
        let s = SpikeTensor::from_dense(&d);
        assert_eq!(s.words, 3);
        assert_eq!(s.count(), 5);
        assert!(s.get(0, 63) && s.get(0, 64) && !s.get(0, 65));
        let mut idx = Vec::new();
        s.active_into(0, &mut idx);
        assert_eq!(idx, vec![0, 63, 64]);
        assert_eq!(s.to_dense(), d);
        // The SIMD and scalar packers agree (the row length is not a multiple of 64).
        let vals: Vec<f32> = (0..200).map(|i| ((i * 37) % 5) as f32 * 0.3).collect();
        let (mut a, mut b) = (vec![0u64; 4], vec![0u64; 4]);
        pack_row(&vals, &mut a);
        pack_row_scalar(&vals, &mut b);
        assert_eq!(a, b);
        let st = Activation::Static(Tensor::from_vec(vec![1.0, 2.0], 1, FeatShape::flat(2)));
        assert_eq!(st.to_dense(3).data, vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
    }
}
