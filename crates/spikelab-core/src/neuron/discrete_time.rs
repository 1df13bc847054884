//! The small pieces every discrete-time (trainer) neuron model shares: the reset rule
//! ([`DiscreteReset`]), the spike nonlinearity ([`SpikeFn`], [`Heaviside`]) and
//! parameters that are one value or one per neuron ([`NeuronParam`]).
//!
//! The models themselves live in their files (DESIGN.md idea 1): the discrete LIF and
//! adaptive LIF with their backward steps in [`super::lif`], IF (β = 1) in
//! [`super::iaf`], the leaky-integrator readout in [`super::leaky_integrator`];
//! surrogate gradients in [`super::surrogate`].
//!
//! `H` is the Heaviside step with `H(0) = 1`, i.e. a neuron fires when `h ≥ θ`, as in
//! the engine. The spike function is a parameter so that gradient checks can swap `H`
//! for a smooth function.

use super::ResetMode;

/// How the membrane is reset after a spike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscreteReset {
    /// `v = h − θ·s`: keeps the overshoot.
    #[default]
    Subtract,
    /// `v = h·(1 − s)`: back to zero.
    Zero,
    /// No reset (`v = h`).
    None,
}

impl DiscreteReset {
    /// Names accepted in specs.
    pub const NAMES: &'static str = "subtract, zero, none";

    /// The engine's reset for this rule (`Subtract` → subtract the threshold, `Zero` →
    /// reset to `v_reset = 0`); `None` has no engine equivalent.
    pub fn engine_reset(self) -> Option<ResetMode> {
        match self {
            DiscreteReset::Subtract => Some(ResetMode::Subtract),
            DiscreteReset::Zero => Some(ResetMode::Value),
            DiscreteReset::None => None,
        }
    }

    /// The membrane after the spike `s` (0 or 1, or a smooth value in gradient checks).
    #[inline(always)]
    pub fn apply(self, h: f32, s: f32, theta: f32) -> f32 {
        match self {
            DiscreteReset::Subtract => h - theta * s,
            DiscreteReset::Zero => h * (1.0 - s),
            DiscreteReset::None => h,
        }
    }
}

/// The spike nonlinearity `s = f(h − θ)`.
pub trait SpikeFn: Copy + Send + Sync {
    /// Spike output for membrane minus threshold `x`.
    fn fire(&self, x: f32) -> f32;
}

/// The Heaviside step, `H(x) = 1` for `x ≥ 0`: what simulation and training use.
#[derive(Clone, Copy, Debug, Default)]
pub struct Heaviside;

impl SpikeFn for Heaviside {
    #[inline(always)]
    fn fire(&self, x: f32) -> f32 {
        if x >= 0.0 {
            1.0
        } else {
            0.0
        }
    }
}

/// A parameter that is either one value for every neuron (`f32`) or one per neuron
/// (`&[f32]`, indexed like the neurons of the step).
pub trait NeuronParam: Copy {
    /// The value for neuron `i`.
    fn at(self, i: usize) -> f32;
    /// The parameter for the first `n` neurons (lets the compiler drop bounds checks
    /// and vectorise the kernels).
    fn prefix(self, n: usize) -> Self;
}

impl NeuronParam for f32 {
    #[inline(always)]
    fn at(self, _i: usize) -> f32 {
        self
    }
    #[inline(always)]
    fn prefix(self, _n: usize) -> Self {
        self
    }
}

impl NeuronParam for &[f32] {
    #[inline(always)]
    fn at(self, i: usize) -> f32 {
        self[i]
    }
    #[inline(always)]
    fn prefix(self, n: usize) -> Self {
        &self[..n]
    }
}
