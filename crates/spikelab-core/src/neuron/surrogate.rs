//! Surrogate gradients, defined once: the forward pass of a spiking neuron uses the Heaviside step
//! `s = H(x)` (`x = h − θ`); the backward pass replaces its derivative (zero almost
//! everywhere) by a smooth pseudo-derivative `σ'(x)` whose width is set by a slope.
//!
//! | name | `σ'(x)` | default slope | as in |
//! | --- | --- | --- | --- |
//! | `fast_sigmoid` | `1 / (1 + k·|x|)²` | 25 | snnTorch `fast_sigmoid` (SuperSpike) |
//! | `atan` | `(k/2) / (1 + (π/2·k·x)²)` | 2 | SpikingJelly `ATan` |
//! | `sigmoid` | `k·σ(kx)·(1 − σ(kx))` | 5 | snnTorch `sigmoid` |
//! | `triangle` | `k·max(0, 1 − k·|x|)` | 1 | triangular (Esser et al. 2016) |
//! | `straight_through` | `k` | 1 | straight-through estimator |
//!
//! Every formula is written once, in [`pseudo_derivative`] (`#[inline(always)]`, one
//! element): [`Surrogate::grad`], [`Surrogate::grad_in_place`] and the trainer's
//! backward kernels ([`super::lif::backward`]) all call it, the kernels with the kind as
//! a constant so that the `match` folds away and the loop vectorises.
//!
//! Each surrogate also has a primitive `F` with `F' = σ'`; gradient checks run the
//! forward pass with `F` in place of `H` so that finite differences see a smooth
//! function whose exact derivative is what the backward pass computes.

use super::discrete_time::SpikeFn;
use crate::error::{Error, Result};
use crate::math::exp_f32;
use serde::{Deserialize, Serialize};

/// Which pseudo-derivative the backward pass uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurrogateKind {
    /// `1 / (1 + k|x|)²`.
    #[default]
    FastSigmoid,
    /// `(k/2) / (1 + (π/2·k·x)²)`.
    Atan,
    /// Derivative of the logistic function `σ(kx)`.
    Sigmoid,
    /// `k·max(0, 1 − k|x|)`.
    Triangle,
    /// Constant `k`.
    StraightThrough,
}

impl SurrogateKind {
    /// Names accepted in specs and on the command line.
    pub const NAMES: &'static str = "fast_sigmoid, atan, sigmoid, triangle, straight_through";

    /// Parses a name (`-` and `_` are interchangeable).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s.replace('-', "_").as_str() {
            "fast_sigmoid" => SurrogateKind::FastSigmoid,
            "atan" | "arctan" => SurrogateKind::Atan,
            "sigmoid" => SurrogateKind::Sigmoid,
            "triangle" | "triangular" => SurrogateKind::Triangle,
            "straight_through" | "ste" => SurrogateKind::StraightThrough,
            _ => {
                return Err(Error::field(
                    "surrogate",
                    format!("unknown surrogate `{s}`; known: {}", Self::NAMES),
                ))
            }
        })
    }

    /// The conventional slope of this surrogate.
    pub fn default_slope(self) -> f32 {
        match self {
            SurrogateKind::FastSigmoid => 25.0,
            SurrogateKind::Atan => 2.0,
            SurrogateKind::Sigmoid => 5.0,
            SurrogateKind::Triangle | SurrogateKind::StraightThrough => 1.0,
        }
    }
}

/// A surrogate with its slope.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Surrogate {
    /// Which function.
    pub kind: SurrogateKind,
    /// Slope `k` (> 0).
    pub slope: f32,
}

impl Default for Surrogate {
    fn default() -> Self {
        Surrogate::new(SurrogateKind::FastSigmoid)
    }
}

impl Surrogate {
    /// The surrogate with its default slope.
    pub fn new(kind: SurrogateKind) -> Self {
        Surrogate {
            kind,
            slope: kind.default_slope(),
        }
    }
    /// With a given slope.
    pub fn with_slope(kind: SurrogateKind, slope: f32) -> Self {
        Surrogate { kind, slope }
    }
    /// Checks the slope.
    pub fn validate(&self, field: &str) -> Result<()> {
        if self.slope.is_finite() && self.slope > 0.0 {
            Ok(())
        } else {
            Err(Error::field(
                format!("{field}.slope"),
                format!("must be a finite number > 0 (got {})", self.slope),
            ))
        }
    }

    /// `σ'(x)`.
    #[inline(always)]
    pub fn grad(&self, x: f32) -> f32 {
        pseudo_derivative(self.kind, self.slope, x)
    }

    /// Replaces every `x` of a slice by `σ'(x)` (one loop per kind, so it vectorises).
    pub fn grad_in_place(&self, xs: &mut [f32]) {
        let k = self.slope;
        macro_rules! each {
            ($kind:expr) => {
                xs.iter_mut()
                    .for_each(|x| *x = pseudo_derivative($kind, k, *x))
            };
        }
        match self.kind {
            SurrogateKind::FastSigmoid => each!(SurrogateKind::FastSigmoid),
            SurrogateKind::Atan => each!(SurrogateKind::Atan),
            SurrogateKind::Sigmoid => each!(SurrogateKind::Sigmoid),
            SurrogateKind::Triangle => each!(SurrogateKind::Triangle),
            SurrogateKind::StraightThrough => each!(SurrogateKind::StraightThrough),
        }
    }

    /// The primitive `F(x)` (`F' = σ'`), used as a smooth spike function in checks.
    pub fn primitive(&self, x: f32) -> f32 {
        let k = self.slope;
        match self.kind {
            SurrogateKind::FastSigmoid => x / (1.0 + k * x.abs()),
            SurrogateKind::Atan => {
                0.5 + std::f32::consts::FRAC_1_PI * (std::f32::consts::FRAC_PI_2 * k * x).atan()
            }
            SurrogateKind::Sigmoid => 1.0 / (1.0 + (-k * x).exp()),
            SurrogateKind::Triangle => {
                let a = (k * x).clamp(-1.0, 1.0);
                // ∫ k(1 − |kx|) dx = a − a|a|/2 with a = kx, plus ½ so F(−∞) = 0.
                0.5 + a - a * a.abs() / 2.0
            }
            SurrogateKind::StraightThrough => k * x,
        }
    }
}

/// The pseudo-derivative `σ'(x)` of surrogate `kind` with slope `k`: the one
/// definition of every formula. Call it with a constant `kind` inside hot loops (the
/// `match` then folds away).
#[inline(always)]
pub fn pseudo_derivative(kind: SurrogateKind, k: f32, x: f32) -> f32 {
    match kind {
        SurrogateKind::FastSigmoid => {
            let d = 1.0 + k * x.abs();
            1.0 / (d * d)
        }
        SurrogateKind::Atan => {
            let z = std::f32::consts::FRAC_PI_2 * k * x;
            0.5 * k / (1.0 + z * z)
        }
        SurrogateKind::Sigmoid => {
            let s = 1.0 / (1.0 + exp_f32(-k * x));
            k * s * (1.0 - s)
        }
        SurrogateKind::Triangle => k * (1.0 - k * x.abs()).max(0.0),
        SurrogateKind::StraightThrough => k,
    }
}

/// The surrogate's primitive as a spike function (gradient checks only).
#[derive(Clone, Copy, Debug)]
pub struct SmoothSpike(pub Surrogate);

impl SpikeFn for SmoothSpike {
    #[inline(always)]
    fn fire(&self, x: f32) -> f32 {
        self.0.primitive(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grad_is_the_derivative_of_the_primitive() {
        for kind in [
            SurrogateKind::FastSigmoid,
            SurrogateKind::Atan,
            SurrogateKind::Sigmoid,
            SurrogateKind::Triangle,
            SurrogateKind::StraightThrough,
        ] {
            for slope in [0.7f32, kind.default_slope()] {
                let s = Surrogate::with_slope(kind, slope);
                for i in -40..=40 {
                    let x = i as f64 * 0.0371 + 0.0013;
                    let e = 1e-3 / slope as f64;
                    let fd = (s.primitive((x + e) as f32) as f64
                        - s.primitive((x - e) as f32) as f64)
                        / (2.0 * e);
                    let g = s.grad(x as f32) as f64;
                    // The triangle has kinks at |kx| = 1 and 0; skip points next to them.
                    let kx = (slope as f64 * x).abs();
                    if kind == SurrogateKind::Triangle && ((kx - 1.0).abs() < 0.01 || kx < 0.01) {
                        continue;
                    }
                    assert!(
                        (fd - g).abs() < 2e-2 * g.abs().max(1.0),
                        "{kind:?} k={slope} x={x}: fd {fd} vs {g}"
                    );
                }
            }
            // The pseudo-derivative peaks at the threshold.
            let s = Surrogate::new(kind);
            assert!(s.grad(0.0) >= s.grad(0.3));
        }
        for kind in [
            SurrogateKind::FastSigmoid,
            SurrogateKind::Atan,
            SurrogateKind::Sigmoid,
            SurrogateKind::Triangle,
            SurrogateKind::StraightThrough,
        ] {
            let s = Surrogate::new(kind);
            let xs: Vec<f32> = (-20..20).map(|i| i as f32 * 0.07).collect();
            let mut ys = xs.clone();
            s.grad_in_place(&mut ys);
            assert!(xs
                .iter()
                .zip(&ys)
                .all(|(x, y)| (s.grad(*x) - y).abs() < 1e-6));
        }
        assert!(SurrogateKind::parse("fast-sigmoid").is_ok());
        let e = SurrogateKind::parse("relu").unwrap_err().to_string();
        assert!(e.contains("surrogate") && e.contains("atan"));
    }
}
