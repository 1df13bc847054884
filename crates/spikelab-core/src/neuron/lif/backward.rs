//! The backward step of the discrete LIF and adaptive LIF ([`super::discrete`]) for
//! backpropagation through time with surrogate gradients: what the trainer's spiking
//! layers (plain, fused with a convolution, recurrent) run for every row of a sample,
//! going back in time. With `s = H(h − θ)`, `v_t = reset(h_t, s_t)` and
//! `e_t = ∂L/∂v_t`, `q_t = ∂L/∂a_t` flowing back in time:
//!
//! ```text
//! G   = ∂L/∂s_t + q_t − e_t·∂reset/∂s      (the reset term is dropped with detach_reset)
//! ∂L/∂x_t = ∂L/∂h_t = G·σ'(h_t − θ_t) + e_t·∂reset/∂h
//! ∂L/∂θ_t = −G·σ'(h_t − θ_t) + e_t·∂reset/∂θ
//! e_{t−1} = β·∂L/∂h_t      q_{t−1} = ρ·q_t + γ·∂L/∂θ_t      ∂L/∂β += ∂L/∂h_t · v_{t−1}
//! ```
//!
//! (`σ'` is the surrogate, [`crate::neuron::surrogate::pseudo_derivative`]; the plain
//! LIF is the adaptive one with `γ = 0`.) The loop is specialised on the surrogate, the
//! reset rule, detaching and adaptation so that it is one vectorised pass.

use super::discrete::Adaptation;
use crate::neuron::discrete_time::{DiscreteReset, SpikeFn};
use crate::neuron::surrogate::{pseudo_derivative, Surrogate, SurrogateKind};

/// Settings of the elementwise backward step of a LIF or adaptive-LIF layer.
#[derive(Clone, Copy, Debug)]
pub struct BackCfg {
    /// Reset rule of the forward pass.
    pub reset: DiscreteReset,
    /// Treat the reset as a constant (drop the reset terms).
    pub detach: bool,
    /// The surrogate of `∂s/∂h`.
    pub surrogate: Surrogate,
    /// Threshold adaptation ([`Adaptation::NONE`] for the plain LIF).
    pub adaptation: Adaptation,
    /// Accumulate `∂L/∂β` in [`BackState::dbeta`].
    pub learn_beta: bool,
    /// Accumulate `∂L/∂θ` in [`BackState::dtheta`].
    pub learn_theta: bool,
}

impl BackCfg {
    /// Whether the threshold adapts (then [`BackState::q`] carries `∂L/∂a`).
    pub fn adaptive(&self) -> bool {
        self.adaptation.is_adaptive()
    }
}

/// Per-sample state of the backward pass: `e = ∂L/∂v`, `q = ∂L/∂a` of the next step,
/// parameter gradient sums, and scratch rows.
#[derive(Clone, Debug)]
pub struct BackState {
    /// `∂L/∂v` flowing into the previous step.
    pub e: Vec<f32>,
    /// `∂L/∂a` flowing into the previous step (adaptive only, else empty).
    pub q: Vec<f32>,
    /// Sum of `∂L/∂β` per neuron (when learned, else empty).
    pub dbeta: Vec<f32>,
    /// Sum of `∂L/∂θ` per neuron (when learned, else empty).
    pub dtheta: Vec<f32>,
    dth: Vec<f32>,
}

impl BackState {
    /// Zero state for `n` neurons.
    pub fn new(n: usize, cfg: &BackCfg) -> Self {
        BackState {
            e: vec![0.0; n],
            q: if cfg.adaptive() {
                vec![0.0; n]
            } else {
                Vec::new()
            },
            dbeta: if cfg.learn_beta {
                vec![0.0; n]
            } else {
                Vec::new()
            },
            dtheta: if cfg.learn_theta {
                vec![0.0; n]
            } else {
                Vec::new()
            },
            dth: vec![0.0; n],
        }
    }
}

const SUBTRACT: u8 = 0;
const ZERO: u8 = 1;
const NONE: u8 = 2;

/// The elementwise loop of [`lif_backward_row`], specialised on the spike function, the
/// surrogate, the reset rule, detaching, adaptation and whether ∂L/∂θ_t is needed, so
/// that it is one vectorised pass over `h` and `g`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn backward_core<
    F: SpikeFn,
    G: Fn(f32) -> f32,
    const RESET: u8,
    const ND: bool,
    const ADAPT: bool,
    const DTH: bool,
>(
    f: F,
    sg_of: G,
    beta: &[f32],
    theta_t: &[f32],
    h: &[f32],
    g: &mut [f32],
    st: &mut BackState,
    rho: f32,
    gamma: f32,
) {
    let n = g.len();
    let (beta, theta_t, h) = (&beta[..n], &theta_t[..n], &h[..n]);
    let (e, dth) = (&mut st.e[..n], &mut st.dth[..n]);
    let q: &mut [f32] = if ADAPT { &mut st.q[..n] } else { &mut [] };
    for i in 0..n {
        let (th, hi, ei) = (theta_t[i], h[i], e[i]);
        let x = hi - th;
        let si = f.fire(x);
        let sgi = sg_of(x);
        let gin = if ADAPT { g[i] + q[i] } else { g[i] };
        let (d, dt) = match RESET {
            SUBTRACT => {
                let gg = if ND { gin - th * ei } else { gin };
                (gg * sgi + ei, -gg * sgi - ei * si)
            }
            ZERO => {
                let gg = if ND { gin - hi * ei } else { gin };
                (gg * sgi + ei * (1.0 - si), -gg * sgi)
            }
            _ => (gin * sgi + ei, -gin * sgi),
        };
        g[i] = d;
        e[i] = beta[i] * d;
        if DTH {
            dth[i] = dt;
        }
        if ADAPT {
            q[i] = rho * q[i] + gamma * dt;
        }
    }
}

/// One step of the backward pass for one sample (see the module docs). `g` holds
/// `∂L/∂s_t` on entry and `∂L/∂x_t` on exit; `theta_t` is the threshold used at this
/// step, `prev` the membrane and threshold of the previous step (for ∂L/∂β).
///
/// `#[inline(always)]` so that callers compile it for their vector width (the trainer
/// calls it from AVX-512 and baseline functions).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn lif_backward_row<F: SpikeFn>(
    cfg: &BackCfg,
    f: F,
    beta: &[f32],
    theta_t: &[f32],
    h: &[f32],
    prev: Option<(&[f32], &[f32])>,
    g: &mut [f32],
    st: &mut BackState,
) {
    let n = g.len();
    let adapt = cfg.adaptive();
    let dth = cfg.learn_theta || adapt;
    let Adaptation { rho, gamma } = cfg.adaptation;
    let k = cfg.surrogate.slope;
    macro_rules! go3 {
        ($sg:expr, $r:expr, $nd:expr) => {
            match (adapt, dth) {
                (true, _) => backward_core::<F, _, $r, $nd, true, true>(
                    f, $sg, beta, theta_t, h, g, st, rho, gamma,
                ),
                (false, true) => backward_core::<F, _, $r, $nd, false, true>(
                    f, $sg, beta, theta_t, h, g, st, rho, gamma,
                ),
                (false, false) => backward_core::<F, _, $r, $nd, false, false>(
                    f, $sg, beta, theta_t, h, g, st, rho, gamma,
                ),
            }
        };
    }
    macro_rules! go2 {
        ($sg:expr) => {
            match (cfg.reset, cfg.detach) {
                (DiscreteReset::Subtract, false) => go3!($sg, SUBTRACT, true),
                (DiscreteReset::Subtract, true) => go3!($sg, SUBTRACT, false),
                (DiscreteReset::Zero, false) => go3!($sg, ZERO, true),
                (DiscreteReset::Zero, true) => go3!($sg, ZERO, false),
                (DiscreteReset::None, _) => go3!($sg, NONE, false),
            }
        };
    }
    macro_rules! sg {
        ($kind:expr) => {
            go2!(|x: f32| pseudo_derivative($kind, k, x))
        };
    }
    match cfg.surrogate.kind {
        SurrogateKind::FastSigmoid => sg!(SurrogateKind::FastSigmoid),
        SurrogateKind::Atan => sg!(SurrogateKind::Atan),
        SurrogateKind::Sigmoid => sg!(SurrogateKind::Sigmoid),
        SurrogateKind::Triangle => sg!(SurrogateKind::Triangle),
        SurrogateKind::StraightThrough => sg!(SurrogateKind::StraightThrough),
    }
    if cfg.learn_beta {
        if let Some((hp, tp)) = prev {
            let (hp, tp, db, g) = (&hp[..n], &tp[..n], &mut st.dbeta[..n], &g[..n]);
            for i in 0..n {
                let sp = f.fire(hp[i] - tp[i]);
                db[i] += g[i] * cfg.reset.apply(hp[i], sp, tp[i]);
            }
        }
    }
    if cfg.learn_theta {
        for (a, d) in st.dtheta.iter_mut().zip(&st.dth) {
            *a += d;
        }
    }
}
