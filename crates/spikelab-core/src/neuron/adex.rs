//! Adaptive exponential integrate-and-fire neuron (`adex`), Brette & Gerstner (2005).
//!
//! ```text
//! C dv/dt   = −g_L (v − E_L) + g_L Δ_T exp((v − V_T)/Δ_T) − w + I_bias + I_syn + Σ_r g_r (E_r − v)
//! τ_w dw/dt = a (v − E_L) − w
//! if v ≥ v_peak: spike; v ← v_reset; w ← w + b; v clamped at v_reset for t_ref
//! ```
//!
//! With `delta_t_mv = 0` the exponential term vanishes and the model is the adaptive
//! (current-adaptation) leaky integrate-and-fire neuron; the threshold is then `v_t_mv`
//! and `v_peak_mv` is not used (as NEST's `aeif_*` models do).
//!
//! Units: v in mV, t in ms, C in pF, g_L and a in nS, currents (bias, current
//! receptors, `w`, `b`) in pA, conductance receptors in nS (so pA/pF = mV/ms).
//!
//! Integration (`integration`): `auto` = `rk4` (classical Runge–Kutta, synaptic input
//! held constant over the step), `exponential_euler` (exact for the linear part with
//! the exponential term, `w` and the input frozen at the start of the step; `w` exact
//! given v) and `euler`. The ODE is nonlinear, so `exact` is rejected. Inside a step
//! the right-hand side sees v limited to the detection threshold (`v_peak_mv`, or
//! `v_t_mv` when Δ_T = 0): the exponential blow-up of an upstroke then cannot
//! overflow, and the step that crosses the peak cannot kick `w` by the overshoot.
//! Refractoriness (NEST convention): a neuron spiking at step s has v held at v_reset
//! during steps s+1 … s+round(t_ref/dt) while w keeps evolving; delta-receptor jumps
//! arriving then are lost.
//!
//! Defaults: Brette & Gerstner (2005) Table 1 (C 281 pF, g_L 30 nS, E_L −70.6 mV,
//! V_T −50.4 mV, Δ_T 2 mV, τ_w 144 ms, a 4 nS, b 80.5 pA, reset to E_L), t_ref 0 ms,
//! and spike detection at v_peak = V_T + 5 Δ_T (−40.4 mV), the cut-off of Brian2's
//! AdEx examples. Above V_T + 5 Δ_T the upstroke takes less than
//! τ_m e^{−5} ≈ 0.06 ms, shorter than a step, so a fixed-step method cannot resolve it:
//! with NEST's cut at 0 mV, RK4 at dt = 0.1 ms fires each spike about one step late,
//! while with this cut its spike times match a dt = 0.001 ms reference (see
//! tests/integration_methods.rs). Set `v_peak_mv` to move the cut.
//!
//! References: Brette & Gerstner (2005) J Neurophysiol 94:3637; Naud et al. (2008)
//! Biol Cybern 99:335.

use super::{push_fired, Drive, Integration, NeuronModel, UpdateContext, SPIKE_BLOCK};
use crate::error::{check_finite, check_non_negative, check_positive, Error, Result};
use crate::math::{exp_f32, select_f32};
use multiversion::multiversion;
use serde::{Deserialize, Serialize};

/// Parameters of the adaptive exponential integrate-and-fire model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Adex {
    /// Membrane capacitance (pF), > 0.
    pub c_m_pf: f64,
    /// Leak conductance (nS), > 0.
    pub g_leak_ns: f64,
    /// Leak reversal potential (mV).
    pub e_leak_mv: f64,
    /// Threshold of the exponential term V_T (mV); the spike threshold when Δ_T = 0.
    pub v_t_mv: f64,
    /// Slope factor Δ_T (mV), >= 0; 0 gives the adaptive LIF.
    pub delta_t_mv: f64,
    /// Spike detection (and cut-off) potential (mV), above `v_t_mv`; default
    /// `v_t_mv + 5·delta_t_mv`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v_peak_mv: Option<f64>,
    /// Reset potential (mV), below the detection threshold.
    pub v_reset_mv: f64,
    /// Subthreshold adaptation a (nS).
    pub a_ns: f64,
    /// Spike-triggered adaptation b (pA).
    pub b_pa: f64,
    /// Adaptation time constant (ms), > 0.
    pub tau_w_ms: f64,
    /// Absolute refractory period (ms), >= 0.
    pub t_ref_ms: f64,
    /// Constant input current (pA).
    pub i_bias_pa: f64,
    /// Integration method: auto (= rk4), rk4, exponential_euler, euler.
    pub integration: Integration,
}

/// An [`Adex`] prepared for one time step: what the engine runs (`NeuronModel`).
#[derive(Clone, Debug, PartialEq)]
pub struct AdexModel {
    /// The parameters.
    pub params: Adex,
    prepared: Prepared,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Prepared {
    method: Method,
    n_ref: f32,
    /// exp(−dt/τ_w).
    w_decay: f32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Method {
    #[default]
    Rk4,
    ExpEuler,
    Euler,
}

impl Default for Adex {
    fn default() -> Self {
        Adex {
            c_m_pf: 281.0,
            g_leak_ns: 30.0,
            e_leak_mv: -70.6,
            v_t_mv: -50.4,
            delta_t_mv: 2.0,
            v_peak_mv: None,
            v_reset_mv: -70.6,
            a_ns: 4.0,
            b_pa: 80.5,
            tau_w_ms: 144.0,
            t_ref_ms: 0.0,
            i_bias_pa: 0.0,
            integration: Integration::Auto,
        }
    }
}

/// Index of the state variables of [`Adex`].
pub mod var {
    /// Membrane potential (mV).
    pub const V: usize = 0;
    /// Adaptation current (pA).
    pub const W: usize = 1;
    /// Remaining refractory steps.
    pub const REFRACTORY: usize = 2;
}

/// Constants of the right-hand side, in f32.
#[derive(Clone, Copy)]
struct Rhs {
    inv_c: f32,
    g_l: f32,
    e_l: f32,
    exp_scale: f32,
    inv_delta: f32,
    v_t: f32,
    v_cut: f32,
    a: f32,
    inv_tau_w: f32,
}

impl Rhs {
    /// (dv/dt, dw/dt) at (v, w) with external current `i`, conductance sums, and
    /// `active` = 1 (0 while refractory: v is held).
    #[inline(always)]
    fn eval(&self, v: f32, w: f32, i: f32, gs: f32, gr: f32, active: f32) -> (f32, f32) {
        let vc = v.min(self.v_cut);
        let spike = self.exp_scale * exp_f32((vc - self.v_t) * self.inv_delta);
        let dv = (self.g_l * (self.e_l - vc) + spike - w + i + gr - gs * vc) * self.inv_c * active;
        let dw = (self.a * (vc - self.e_l) - w) * self.inv_tau_w;
        (dv, dw)
    }
}

impl Adex {
    /// The spike detection threshold: `v_peak_mv` (default `v_t_mv + 5·delta_t_mv`),
    /// or `v_t_mv` when Δ_T = 0.
    pub fn threshold_mv(&self) -> f64 {
        if self.delta_t_mv > 0.0 {
            self.v_peak_mv
                .unwrap_or(self.v_t_mv + 5.0 * self.delta_t_mv)
        } else {
            self.v_t_mv
        }
    }

    /// Validates the parameters; `field` prefixes error messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        let f = |n: &str| format!("{field}.{n}");
        check_positive(&f("c_m_pf"), self.c_m_pf)?;
        check_positive(&f("g_leak_ns"), self.g_leak_ns)?;
        check_finite(&f("e_leak_mv"), self.e_leak_mv)?;
        check_finite(&f("v_t_mv"), self.v_t_mv)?;
        check_non_negative(&f("delta_t_mv"), self.delta_t_mv)?;
        if let Some(p) = self.v_peak_mv {
            check_finite(&f("v_peak_mv"), p)?;
        }
        check_finite(&f("v_reset_mv"), self.v_reset_mv)?;
        check_finite(&f("a_ns"), self.a_ns)?;
        check_finite(&f("b_pa"), self.b_pa)?;
        check_positive(&f("tau_w_ms"), self.tau_w_ms)?;
        check_non_negative(&f("t_ref_ms"), self.t_ref_ms)?;
        check_finite(&f("i_bias_pa"), self.i_bias_pa)?;
        let peak = self.threshold_mv();
        if self.delta_t_mv > 0.0 && peak <= self.v_t_mv {
            return Err(Error::field(
                f("v_peak_mv"),
                format!("must be above v_t_mv ({peak} <= {})", self.v_t_mv),
            ));
        }
        if self.delta_t_mv > 0.0 && (peak - self.v_t_mv) / self.delta_t_mv > 60.0 {
            return Err(Error::field(
                f("delta_t_mv"),
                format!(
                    "(v_peak_mv − v_t_mv)/delta_t_mv = {:.0} is too steep (at most 60)",
                    (peak - self.v_t_mv) / self.delta_t_mv
                ),
            ));
        }
        if self.v_reset_mv >= self.threshold_mv() {
            return Err(Error::field(
                f("v_reset_mv"),
                format!(
                    "must be below the spike threshold ({} >= {})",
                    self.v_reset_mv,
                    self.threshold_mv()
                ),
            ));
        }
        Ok(())
    }

    fn rhs(&self) -> Rhs {
        let exp_on = self.delta_t_mv > 0.0;
        Rhs {
            inv_c: (1.0 / self.c_m_pf) as f32,
            g_l: self.g_leak_ns as f32,
            e_l: self.e_leak_mv as f32,
            exp_scale: (self.g_leak_ns * self.delta_t_mv) as f32,
            inv_delta: if exp_on {
                (1.0 / self.delta_t_mv) as f32
            } else {
                0.0
            },
            v_t: self.v_t_mv as f32,
            v_cut: self.threshold_mv() as f32,
            a: self.a_ns as f32,
            inv_tau_w: (1.0 / self.tau_w_ms) as f32,
        }
    }
}

impl AdexModel {
    /// The model for `params` (call `prepare` before use).
    pub fn new(params: Adex) -> Self {
        AdexModel {
            params,
            prepared: Prepared::default(),
        }
    }
}

impl NeuronModel for AdexModel {
    fn name(&self) -> &'static str {
        "adex"
    }
    fn state_names(&self) -> &'static [&'static str] {
        &["v", "w", "refractory_steps"]
    }
    fn default_initial_state(&self) -> Vec<f64> {
        vec![self.params.e_leak_mv, 0.0, 0.0]
    }
    fn prepare(&mut self, field: &str, dt_ms: f64, _has_conductance: bool) -> Result<()> {
        let p = &self.params;
        p.validate(field)?;
        let method = match p.integration {
            Integration::Auto | Integration::Rk4 => Method::Rk4,
            Integration::ExponentialEuler => Method::ExpEuler,
            Integration::Euler => Method::Euler,
            Integration::Exact => {
                return Err(Error::field(
                    format!("{field}.integration"),
                    "adex is nonlinear and has no exact propagator; use auto (= rk4), rk4, exponential_euler or euler",
                ))
            }
        };
        self.prepared = Prepared {
            method,
            n_ref: super::refractory_steps(p.t_ref_ms, dt_ms) as f32,
            w_decay: (-dt_ms / p.tau_w_ms).exp() as f32,
        };
        Ok(())
    }

    fn update(
        &self,
        state: &mut [Vec<f32>],
        drive: &Drive,
        ctx: &mut UpdateContext,
        spikes: &mut Vec<u32>,
    ) {
        update_kernel(self, state, drive, ctx.dt_ms as f32, spikes)
    }

    fn clone_box(&self) -> Box<dyn NeuronModel> {
        Box::new(self.clone())
    }
}

/// The update of every neuron of a chunk, compiled for several SIMD levels and
/// dispatched at run time.
#[multiversion(targets = "simd")]
fn update_kernel(
    model: &AdexModel,
    state: &mut [Vec<f32>],
    drive: &Drive,
    dt: f32,
    spikes: &mut Vec<u32>,
) {
    let n = state[0].len();
    let k = model.params.rhs();
    let bias = model.params.i_bias_pa as f32;
    let current = &drive.current[..n];
    let (g_sum, g_rev, has_g) = match drive.conductance {
        Some((gs, gr)) => (&gs[..n], &gr[..n], true),
        None => (current, current, false),
    };
    macro_rules! with_input {
        ($step:expr) => {
            if has_g {
                threshold_loop(model, state, drive, spikes, |i, v0, w0, act| {
                    $step(v0, w0, bias + current[i], g_sum[i], g_rev[i], act)
                })
            } else {
                threshold_loop(model, state, drive, spikes, |i, v0, w0, act| {
                    $step(v0, w0, bias + current[i], 0.0, 0.0, act)
                })
            }
        };
    }
    match model.prepared.method {
        Method::Euler => with_input!(|v: f32, w: f32, i, gs, gr, act| {
            let (dv, dw) = k.eval(v, w, i, gs, gr, act);
            (v + dt * dv, w + dt * dw)
        }),
        Method::Rk4 => with_input!(|v: f32, w: f32, i, gs, gr, act| {
            let h2 = 0.5 * dt;
            let (a1, b1) = k.eval(v, w, i, gs, gr, act);
            let (a2, b2) = k.eval(v + h2 * a1, w + h2 * b1, i, gs, gr, act);
            let (a3, b3) = k.eval(v + h2 * a2, w + h2 * b2, i, gs, gr, act);
            let (a4, b4) = k.eval(v + dt * a3, w + dt * b3, i, gs, gr, act);
            let s = dt * (1.0 / 6.0);
            (
                v + s * (a1 + 2.0 * (a2 + a3) + a4),
                w + s * (b1 + 2.0 * (b2 + b3) + b4),
            )
        }),
        Method::ExpEuler => {
            let w_decay = model.prepared.w_decay;
            with_input!(|v: f32, w: f32, i: f32, gs: f32, gr: f32, act: f32| {
                let vc = v.min(k.v_cut);
                let spike = k.exp_scale * exp_f32((vc - k.v_t) * k.inv_delta);
                let g_tot = k.g_l + gs;
                let v_inf = (k.g_l * k.e_l + gr + spike - w + i) / g_tot;
                let v1 = v_inf + (v - v_inf) * exp_f32(-dt * g_tot * k.inv_c * act);
                let w_inf = k.a * (vc - k.e_l);
                (v1, w_inf + (w - w_inf) * w_decay)
            })
        }
    }
}

/// Runs `step(i, v0, w0, active) -> (v1, w1)` over the chunk with threshold, reset,
/// adaptation jump and refractoriness; pushes the neurons that fired.
#[inline(always)]
fn threshold_loop(
    model: &AdexModel,
    state: &mut [Vec<f32>],
    drive: &Drive,
    spikes: &mut Vec<u32>,
    step: impl Fn(usize, f32, f32, f32) -> (f32, f32),
) {
    let [v, w, refr] = state else {
        unreachable!("adex has three state variables")
    };
    let n = v.len();
    let (w, refr) = (&mut w[..n], &mut refr[..n]);
    let jump = drive.jump.map_or(&drive.current[..n], |j| &j[..n]);
    let has_jump = drive.jump.is_some();
    let p = &model.params;
    let theta = p.threshold_mv() as f32;
    let v_reset = p.v_reset_mv as f32;
    let b = p.b_pa as f32;
    let n_ref = model.prepared.n_ref;
    let mut flags = [0u32; SPIKE_BLOCK];
    let mut lo = 0;
    while lo < n {
        let hi = (lo + SPIKE_BLOCK).min(n);
        for i in lo..hi {
            let r = refr[i];
            let active = r <= 0.0;
            let j = if has_jump { jump[i] } else { 0.0 };
            let v0 = v[i] + select_f32(active, j, 0.0);
            let (v1, w1) = step(i, v0, w[i], select_f32(active, 1.0, 0.0));
            let fired = active & (v1 >= theta);
            v[i] = select_f32(fired, v_reset, v1);
            w[i] = w1 + select_f32(fired, b, 0.0);
            let r1 = r - 1.0;
            refr[i] = select_f32(fired, n_ref, select_f32(r1 < 0.0, 0.0, r1));
            flags[i - lo] = fired as u32;
        }
        push_fired(&flags[..hi - lo], lo as u32, spikes);
        lo = hi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(model: &Adex, dt: f64, i_pa: f64, ms: f64) -> (Vec<f64>, Vec<(f32, f32)>) {
        let mut m = AdexModel::new(model.clone());
        m.prepare("adex", dt, false).unwrap();
        let mut state: Vec<Vec<f32>> = m
            .default_initial_state()
            .iter()
            .map(|&x| vec![x as f32])
            .collect();
        let cur = [i_pa as f32];
        let drive = Drive {
            current: &cur,
            conductance: None,
            jump: None,
        };
        let mut ctx = UpdateContext {
            step: 0,
            dt_ms: dt,
            rng: &mut [],
        };
        let mut spikes = Vec::new();
        let mut times = Vec::new();
        let mut trace = Vec::new();
        for k in 0..(ms / dt).round() as usize {
            spikes.clear();
            m.update(&mut state, &drive, &mut ctx, &mut spikes);
            if !spikes.is_empty() {
                times.push((k + 1) as f64 * dt);
            }
            trace.push((state[0][0], state[1][0]));
        }
        (times, trace)
    }

    #[test]
    fn step_current_gives_adapting_spike_train() {
        // Brette & Gerstner (2005) parameters under a 1 nA step: the ISIs lengthen
        // monotonically from a fast onset to a slower steady state.
        for method in [
            Integration::Auto,
            Integration::ExponentialEuler,
            Integration::Euler,
        ] {
            let m = Adex {
                integration: method,
                ..Adex::default()
            };
            let (t, _) = run(&m, 0.05, 1000.0, 600.0);
            let isi: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
            assert!(isi.len() >= 5, "{method:?}: {} spikes", t.len());
            for w in isi.windows(2) {
                assert!(w[1] >= w[0] - 0.2, "{method:?}: ISIs {isi:?}");
            }
            let (first, last) = (isi[0], *isi.last().unwrap());
            assert!(last > 2.0 * first, "{method:?}: ISIs {isi:?}");
        }
    }

    #[test]
    fn subthreshold_adaptive_lif_matches_matrix_exponential() {
        // Δ_T = 0: C dv/dt = −g_L(v − E_L) − w + I, τ_w dw/dt = a(v − E_L) − w is linear;
        // x = (v − E_L, w) solves x(t) = x* + e^{At}(x(0) − x*).
        let m = Adex {
            delta_t_mv: 0.0,
            v_t_mv: -40.0,
            a_ns: 30.0,
            tau_w_ms: 50.0,
            ..Adex::default()
        };
        let (c, gl, a, tw, i) = (m.c_m_pf, m.g_leak_ns, m.a_ns, m.tau_w_ms, 500.0);
        let mat = [[-gl / c, -1.0 / c], [a / tw, -1.0 / tw]];
        let det = mat[0][0] * mat[1][1] - mat[0][1] * mat[1][0];
        // Fixed point x* = −A⁻¹ b with b = (I/C, 0).
        let xs = [-(mat[1][1] * i / c) / det, (mat[1][0] * i / c) / det];
        let expm = |t: f64| {
            // 2×2 exponential via Cayley–Hamilton (complex-safe form with cos/cosh).
            let tr = mat[0][0] + mat[1][1];
            let s = tr / 2.0;
            let disc = s * s - det;
            let (f0, f1) = if disc >= 0.0 {
                let q = disc.sqrt();
                let sh = if q * t == 0.0 { t } else { (q * t).sinh() / q };
                ((q * t).cosh() - s * sh, sh)
            } else {
                let q = (-disc).sqrt();
                ((q * t).cos() - s * (q * t).sin() / q, (q * t).sin() / q)
            };
            let e = (s * t).exp();
            [
                [e * (f0 + f1 * mat[0][0]), e * f1 * mat[0][1]],
                [e * f1 * mat[1][0], e * (f0 + f1 * mat[1][1])],
            ]
        };
        let mut worst = [0.0f64; 3];
        for (mi, method) in [
            Integration::Rk4,
            Integration::ExponentialEuler,
            Integration::Euler,
        ]
        .into_iter()
        .enumerate()
        {
            let mm = Adex {
                integration: method,
                ..m.clone()
            };
            let dt = 0.1;
            let (spk, trace) = run(&mm, dt, i, 100.0);
            assert!(spk.is_empty());
            for (k, &(v, w)) in trace.iter().enumerate() {
                let t = (k + 1) as f64 * dt;
                let e = expm(t);
                let x0 = [-xs[0], -xs[1]];
                let want_v = m.e_leak_mv + xs[0] + e[0][0] * x0[0] + e[0][1] * x0[1];
                let want_w = xs[1] + e[1][0] * x0[0] + e[1][1] * x0[1];
                worst[mi] = worst[mi]
                    .max((v as f64 - want_v).abs())
                    .max((w as f64 - want_w).abs() / 10.0);
            }
        }
        assert!(worst[0] < 2e-3, "rk4 error {}", worst[0]);
        assert!(worst[1] < 0.3 && worst[2] < 0.3, "{worst:?}");
        assert!(worst[0] * 20.0 < worst[2], "{worst:?}");
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let mut m = AdexModel::new(Adex {
            v_peak_mv: Some(-60.0),
            ..Adex::default()
        });
        let e = m.prepare("p.neuron", 0.1, false).unwrap_err().to_string();
        assert!(e.contains("p.neuron.v_peak_mv"), "{e}");
        let mut m = AdexModel::new(Adex {
            integration: Integration::Exact,
            ..Adex::default()
        });
        let e = m.prepare("p.neuron", 0.1, false).unwrap_err().to_string();
        assert!(e.contains("integration") && e.contains("rk4"), "{e}");
        let mut m = AdexModel::new(Adex {
            tau_w_ms: 0.0,
            ..Adex::default()
        });
        assert!(m
            .prepare("p", 0.1, false)
            .unwrap_err()
            .to_string()
            .contains("p.tau_w_ms"));
    }
}
