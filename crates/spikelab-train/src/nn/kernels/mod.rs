//! Hot numeric kernels of the trainer: sums of weight rows selected by binary spikes
//! (the sparse forward and weight-gradient of a layer whose input is spikes), dense
//! matrix products (the `gemm` crate, which picks AVX-512/AVX2/scalar code at run
//! time), column sums, and the convolution helpers.
//!
//! Our own kernels are compiled three times — AVX-512, AVX2+FMA and baseline x86-64 —
//! and [`dispatch!`] picks one at run time, so the binary runs on any x86-64 while
//! using the widest vectors of the machine (no `target-cpu=native`). Every kernel
//! splits its work in a way fixed by the shapes alone and sums in a fixed order, so
//! results are bitwise identical for any number of threads.

pub mod conv;
pub mod dense;
pub mod sparse;

/// True when the CPU runs AVX-512F code (checked once, cached by std).
#[inline]
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// True when the CPU runs AVX2 and FMA code.
#[inline]
pub fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The instruction set the kernels use on this machine.
pub fn simd_name() -> &'static str {
    if has_avx512() {
        "avx512"
    } else if has_avx2() {
        "avx2"
    } else {
        "baseline"
    }
}

/// Defines `fn $name(args) -> R` that calls `$imp::<W>(args)` compiled for AVX-512
/// (by default `W = 128` floats per tile: eight 512-bit registers), AVX2 (`W = 64`) or
/// the baseline (`W = 32`), whichever the CPU supports; `widths = (a, b, c)` sets
/// other widths. `$imp` must be `#[inline(always)]` so that its body is compiled with
/// the enabled features.
macro_rules! dispatch {
    // Explicit tile widths for AVX-512, AVX2 and the baseline.
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? = $imp:ident, widths = ($w512:expr, $w256:expr, $w0:expr)) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($a: $t),*) $(-> $r)? {
            #[allow(unused_unsafe)]
            // SAFETY: `$imp` is safe; `unsafe` is only needed for the target-feature calls.
            unsafe { $crate::nn::kernels::dispatch!(@body $imp, $w512, $w256, $w0; $($a: $t),*; $($r)?) }
        }
    };
    ($(#[$m:meta])* $vis:vis unsafe fn $name:ident($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? = $imp:ident, widths = ($w512:expr, $w256:expr, $w0:expr)) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis unsafe fn $name($($a: $t),*) $(-> $r)? {
            $crate::nn::kernels::dispatch!(@body $imp, $w512, $w256, $w0; $($a: $t),*; $($r)?)
        }
    };
    ($(#[$m:meta])* $vis:vis unsafe fn $name:ident($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? = $imp:ident) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis unsafe fn $name($($a: $t),*) $(-> $r)? {
            $crate::nn::kernels::dispatch!(@body $imp, 128, 64, 32; $($a: $t),*; $($r)?)
        }
    };
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? = $imp:ident) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($a: $t),*) $(-> $r)? {
            #[allow(unused_unsafe)]
            // SAFETY: `$imp` is safe; `unsafe` is only needed for the target-feature calls.
            unsafe { $crate::nn::kernels::dispatch!(@body $imp, 128, 64, 32; $($a: $t),*; $($r)?) }
        }
    };
    (@body $imp:ident, $w512:expr, $w256:expr, $w0:expr; $($a:ident: $t:ty),*; $($r:ty)?) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512vl,avx2,fma,bmi1,bmi2,popcnt")]
            #[allow(clippy::too_many_arguments, unused_unsafe)]
            unsafe fn v512($($a: $t),*) $(-> $r)? {
                unsafe { $imp::<$w512>($($a),*) }
            }
            #[target_feature(enable = "avx2,fma,bmi1,bmi2,popcnt")]
            #[allow(clippy::too_many_arguments, unused_unsafe)]
            unsafe fn v256($($a: $t),*) $(-> $r)? {
                unsafe { $imp::<$w256>($($a),*) }
            }
            if $crate::nn::kernels::has_avx512() {
                // SAFETY: the CPU supports every feature v512 is compiled for.
                return unsafe { v512($($a),*) };
            }
            if $crate::nn::kernels::has_avx2() {
                // SAFETY: the CPU supports every feature v256 is compiled for.
                return unsafe { v256($($a),*) };
            }
        }
        #[allow(unused_unsafe)]
        unsafe { $imp::<$w0>($($a),*) }
    }};
}
pub(crate) use dispatch;

/// Runs `$call` over the columns `$start..$end` in tiles, widest first: `$c0` is a
/// tile's first column and `$tw` its width, bound in `$call` as a constant taken from
/// `$widths`; widths above the instantiation's `$w` (see [`dispatch!`]) are skipped.
/// Declares `$c0`, which afterwards is the first column no tile covered.
macro_rules! channel_tiles {
    ($w:expr, $c0:ident = $start:expr, $end:expr, [$($t:literal),+], |$tw:ident| $call:expr) => {
        let mut $c0 = $start;
        $(
            while $w >= $t && $c0 + $t <= $end {
                {
                    const $tw: usize = $t;
                    $call;
                }
                $c0 += $t;
            }
        )+
    };
}
pub(crate) use channel_tiles;

/// Whether tile width `w` is one that [`dispatch!`] compiles for AVX-512 only (the
/// AVX-512 widths are at least 128 floats, the AVX2 and baseline ones at most 64), so
/// an `#[inline(always)]` kernel instantiated with it may use AVX-512 intrinsics.
pub(crate) const fn avx512_width(w: usize) -> bool {
    w >= 128
}

/// A raw pointer that may be shared between threads. Kernels use it only to let
/// parallel tasks write disjoint parts of one buffer (e.g. disjoint column blocks of
/// a row-major matrix), which safe slices cannot express.
#[derive(Clone, Copy)]
pub(crate) struct SharedMut(pub *mut f32);
// SAFETY: users guarantee that concurrent tasks write disjoint elements.
unsafe impl Send for SharedMut {}
// SAFETY: as above.
unsafe impl Sync for SharedMut {}

/// Number of row groups used for reductions over rows (weight and bias gradients of
/// layers with few outputs): a constant, so the summation order does not depend on
/// the thread count.
pub const REDUCE_GROUPS: usize = 16;

/// Splits `0..n` into `REDUCE_GROUPS` (or fewer, for small `n`) contiguous ranges.
pub fn group_ranges(n: usize) -> Vec<std::ops::Range<usize>> {
    let g = REDUCE_GROUPS.min(n.max(1));
    (0..g).map(|k| k * n / g..(k + 1) * n / g).collect()
}

/// Sums partial vectors in order into `out` (overwriting it).
pub fn sum_partials<P: std::ops::Deref<Target = [f32]>>(partials: &[P], out: &mut [f32]) {
    out.fill(0.0);
    for p in partials {
        for (o, x) in out.iter_mut().zip(p.iter()) {
            *o += x;
        }
    }
}

/// Floats whose first element starts a 64-byte cache line. Rows of a multiple of 16
/// floats in it (a weight row of 64 output channels, say) then never straddle two
/// lines: a 512-bit load of a straddling row costs two, which made the sparse
/// convolution kernels a quarter slower on the allocator's 16-byte-aligned vectors.
pub struct Aligned {
    buf: Vec<f32>,
    start: usize,
    len: usize,
}

impl Aligned {
    /// `len` zeros.
    pub fn zeros(len: usize) -> Self {
        let buf = vec![0.0f32; len + 16];
        // The offset of a cache line within the first 16 floats (a heap block is
        // at least 4-byte aligned); moving `buf` does not move its heap block.
        let start = buf.as_ptr().align_offset(64).min(16);
        Aligned { buf, start, len }
    }

    /// A copy of `src`.
    pub fn copy_of(src: &[f32]) -> Self {
        let mut a = Self::zeros(src.len());
        a.copy_from_slice(src);
        a
    }
}

impl std::ops::Deref for Aligned {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.buf[self.start..self.start + self.len]
    }
}

impl std::ops::DerefMut for Aligned {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.buf[self.start..self.start + self.len]
    }
}
