//! Small numeric kernels used on hot paths: a branch-free `exp` that the compiler can
//! vectorise (libm's `expf` is a scalar call), and `(1 - e^{-x}) / x` without
//! cancellation.

/// `e^x` for f32, branch-free so loops over slices vectorise.
///
/// Relative error below 2e-7 over the range where the result is a normal number;
/// inputs are clamped to [-87.3, 88.0] (results 1.2e-38 .. 1.7e38).
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.0);
    // e^x = 2^n * e^r with n = round(x / ln2), |r| <= ln2 / 2.
    // Round to nearest by adding 1.5·2^23 (exact for |t| < 2^22): the sum then holds
    // n in its low mantissa bits. Unlike `f32::round` (a libm call on baseline x86-64)
    // and the saturating `as i32`, this vectorises.
    const ROUND: f32 = 12_582_912.0;
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let n_int = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    // Two-part ln2 (Cody–Waite) keeps r accurate.
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    // Degree-6 Taylor/minimax polynomial for e^r on [-0.347, 0.347].
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (0.166_666_67
                    + r * (0.041_666_668 + r * (0.008_333_334 + r * 0.001_388_889)))));
    let scale = f32::from_bits(((n_int + 127) as u32) << 23);
    p * scale
}

/// `if c { a } else { b }` as a bit blend. LLVM turns a plain `if` whose operands
/// are loads into a branch or a pointer select, which blocks vectorisation; the
/// blend keeps the loop straight-line and gives bit-identical results.
#[inline(always)]
pub fn select_f32(c: bool, a: f32, b: f32) -> f32 {
    let m = 0u32.wrapping_sub(c as u32);
    f32::from_bits((a.to_bits() & m) | (b.to_bits() & !m))
}

/// `(1 - e^{-x}) / x`, equal to 1 at x = 0, accurate for small x.
#[inline]
pub fn one_minus_exp_neg_over_x(x: f64) -> f64 {
    if x.abs() < 1e-5 {
        1.0 - x / 2.0 + x * x / 6.0
    } else {
        -(-x).exp_m1() / x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_f32_matches_std_to_a_few_ulps() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let got = exp_f32(x) as f64;
            worst = worst.max(((got - want) / want).abs());
            x += 0.001_37;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp_f32(0.0), 1.0);
        assert!(exp_f32(-200.0) >= 0.0 && exp_f32(-200.0) < 1e-37);
        assert!(exp_f32(200.0).is_finite() && exp_f32(88.0) > 1.6e38);
        assert!(exp_f32(-0.5 * std::f32::consts::LN_2) > 0.70 && exp_f32(f32::NAN).is_nan());
    }

    #[test]
    fn one_minus_exp_is_continuous_at_zero() {
        assert_eq!(one_minus_exp_neg_over_x(0.0), 1.0);
        for x in [1e-7, 9.99e-6, 1.001e-5, 1e-3] {
            let series = 1.0 - x / 2.0 + x * x / 6.0 - x * x * x / 24.0;
            assert!((one_minus_exp_neg_over_x(x) - series).abs() < 1e-12, "{x}");
        }
        assert!((one_minus_exp_neg_over_x(1.0) - (1.0 - (-1.0f64).exp())).abs() < 1e-15);
    }
}
