//! Hodgkin–Huxley neuron with Traub & Miles (1991) kinetics (`hh`), in the form used by
//! benchmark 3 (COBAHH) of Brette et al. (2007) and the Brian2 `COBAHH` example (NEST
//! `hh_cond_exp_traub`).
//!
//! ```text
//! C dv/dt = g_L (E_L − v) − g_Na m³h (v − E_Na) − g_K n⁴ (v − E_K) + I_bias + I_syn + Σ_r g_r (E_r − v)
//! dx/dt   = α_x(v) (1 − x) − β_x(v) x          for x = m, h, n
//!
//! with u = v − V_T (mV) and rates in 1/ms:
//! α_m = 0.32 (13 − u) / (exp((13 − u)/4) − 1)     β_m = 0.28 (u − 40) / (exp((u − 40)/5) − 1)
//! α_h = 0.128 exp((17 − u)/18)                     β_h = 4 / (1 + exp((40 − u)/5))
//! α_n = 0.032 (15 − u) / (exp((15 − u)/5) − 1)    β_n = 0.5 exp((10 − u)/40)
//! ```
//!
//! (the removable singularities of α_m, β_m, α_n are evaluated with their limits, as
//! Brian2's `exprel` does). A spike is emitted when v crosses `v_spike_mv` (−20 mV)
//! upward and at least `t_ref_ms` (3 ms) have passed since the last spike; there is no
//! reset and v is integrated throughout (Brian2: `threshold='v>-20*mV',
//! refractory=3*ms` without `unless refractory`). Requiring the upward crossing only
//! differs from Brian2 when v stays above −20 mV for longer than t_ref (depolarisation
//! block), where Brian2 would fire every t_ref.
//!
//! Units: v in mV, t in ms, C in pF, conductances (g_L, g_Na, g_K, conductance
//! receptors) in nS, currents (bias, current receptors) in pA. Defaults are the COBAHH
//! cell: area 20 000 µm², C_m 1 µF/cm² (200 pF), g_L 5·10⁻⁵ S/cm² (10 nS), g_Na
//! 100 mS/cm² (20 µS), g_K 30 mS/cm² (6 µS), E_L −60 mV, E_Na 50 mV, E_K −90 mV,
//! V_T −63 mV. Initial m, h, n not given in the model file start at their steady state
//! for the initial v.
//!
//! Integration (`integration`): `auto` = `exponential_euler` (Brian2's method for this
//! benchmark: each variable's equation is linear in that variable, and is integrated
//! exactly with the others frozen at the start of the step; unconditionally stable),
//! `rk4` (more accurate for small steps; at the action-potential peak α_m + β_m ≈
//! 29/ms, so dt·λ ≈ 2.9 exceeds RK4's stability limit 2.8 at dt = 0.1 ms: use
//! dt ≤ 0.05 ms) and `euler` (needs dt ≤ about 0.02 ms). `exact` is rejected.
//!
//! References: Traub & Miles (1991) Neuronal Networks of the Hippocampus; Brette et
//! al. (2007) J Comput Neurosci 23:349, benchmark 3; Brian2 example `COBAHH.py`.

use super::{push_fired, Drive, Integration, NeuronModel, UpdateContext, SPIKE_BLOCK};
use crate::error::{check_finite, check_non_negative, check_positive, Error, Result};
use crate::math::{exp_f32, select_f32};
use crate::rng::Stream;
use multiversion::multiversion;
use serde::{Deserialize, Serialize};

/// Parameters of the Traub–Miles Hodgkin–Huxley model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HodgkinHuxley {
    /// Membrane capacitance (pF), > 0.
    pub c_m_pf: f64,
    /// Leak conductance (nS), >= 0.
    pub g_leak_ns: f64,
    /// Leak reversal potential (mV).
    pub e_leak_mv: f64,
    /// Maximal sodium conductance (nS), >= 0.
    pub g_na_ns: f64,
    /// Sodium reversal potential (mV).
    pub e_na_mv: f64,
    /// Maximal delayed-rectifier potassium conductance (nS), >= 0.
    pub g_k_ns: f64,
    /// Potassium reversal potential (mV).
    pub e_k_mv: f64,
    /// Offset V_T of the rate functions (mV).
    pub v_t_mv: f64,
    /// Spike detection threshold (mV), crossed upward.
    pub v_spike_mv: f64,
    /// Minimum time between two detected spikes (ms), >= 0.
    pub t_ref_ms: f64,
    /// Constant input current (pA).
    pub i_bias_pa: f64,
    /// Integration method: auto (= exponential_euler), exponential_euler, rk4, euler.
    pub integration: Integration,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Prepared {
    method: Method,
    n_ref: f32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Method {
    #[default]
    ExpEuler,
    Rk4,
    Euler,
}

impl Default for HodgkinHuxley {
    fn default() -> Self {
        HodgkinHuxley {
            c_m_pf: 200.0,
            g_leak_ns: 10.0,
            e_leak_mv: -60.0,
            g_na_ns: 20_000.0,
            e_na_mv: 50.0,
            g_k_ns: 6_000.0,
            e_k_mv: -90.0,
            v_t_mv: -63.0,
            v_spike_mv: -20.0,
            t_ref_ms: 3.0,
            i_bias_pa: 0.0,
            integration: Integration::Auto,
        }
    }
}

/// Index of the state variables of [`HodgkinHuxley`].
pub mod var {
    /// Membrane potential (mV).
    pub const V: usize = 0;
    /// Sodium activation.
    pub const M: usize = 1;
    /// Sodium inactivation.
    pub const H: usize = 2;
    /// Potassium activation.
    pub const N: usize = 3;
    /// Steps left before a new spike can be detected.
    pub const REFRACTORY: usize = 4;
}

/// `x / (e^x − 1)` given `e = e^x`, equal to 1 at x = 0 (the reciprocal of Brian2's
/// `exprel`).
#[inline(always)]
fn x_over_expm1(x: f32, e: f32) -> f32 {
    let series = 1.0 - x * (0.5 - x * (1.0 / 12.0));
    let direct = x / (e - 1.0);
    if x.abs() < 1e-2 {
        series
    } else {
        direct
    }
}

/// Rates (α_m, β_m, α_h, β_h, α_n, β_n) in 1/ms at `u = v − V_T`.
///
/// Four exponentials instead of six: with `E = exp((40 − u)/5)`, the exponential of
/// β_m is `1/E` and that of α_n is `E·e^{−5}`.
#[inline(always)]
fn rates(u: f32) -> [f32; 6] {
    let e40 = exp_f32((40.0 - u) * 0.2);
    let x_m = (13.0 - u) * 0.25;
    let x_bm = (u - 40.0) * 0.2;
    let x_n = (15.0 - u) * 0.2;
    [
        1.28 * x_over_expm1(x_m, exp_f32(x_m)),
        1.4 * x_over_expm1(x_bm, 1.0 / e40),
        0.128 * exp_f32((17.0 - u) * (1.0 / 18.0)),
        4.0 / (1.0 + e40),
        0.16 * x_over_expm1(x_n, e40 * E_MINUS_5),
        0.5 * exp_f32((10.0 - u) * (1.0 / 40.0)),
    ]
}

/// e^{−5}.
const E_MINUS_5: f32 = 0.006_737_947;

/// The same rates in f64 (for initial states and references).
pub fn rates_f64(v_mv: f64, v_t_mv: f64) -> [f64; 6] {
    let u = v_mv - v_t_mv;
    let xe = |x: f64| {
        if x.abs() < 1e-6 {
            1.0 - x / 2.0
        } else {
            x / x.exp_m1()
        }
    };
    [
        1.28 * xe((13.0 - u) / 4.0),
        1.4 * xe((u - 40.0) / 5.0),
        0.128 * ((17.0 - u) / 18.0).exp(),
        4.0 / (1.0 + ((40.0 - u) / 5.0).exp()),
        0.16 * xe((15.0 - u) / 5.0),
        0.5 * ((10.0 - u) / 40.0).exp(),
    ]
}

/// Constants of the membrane equation, in f32.
#[derive(Clone, Copy)]
struct Membrane {
    inv_c: f32,
    g_l: f32,
    g_l_e_l: f32,
    g_na: f32,
    e_na: f32,
    g_k: f32,
    e_k: f32,
    v_t: f32,
}

impl Membrane {
    /// Total conductance G and Σ g·E (+ input current) so that C dv/dt = GE − G v.
    #[inline(always)]
    fn conductances(&self, m: f32, h: f32, n: f32, i: f32, gs: f32, gr: f32) -> (f32, f32) {
        let n2 = n * n;
        let g_na = self.g_na * m * m * m * h;
        let g_k = self.g_k * n2 * n2;
        (
            self.g_l + g_na + g_k + gs,
            self.g_l_e_l + g_na * self.e_na + g_k * self.e_k + gr + i,
        )
    }

    /// Time derivatives of (v, m, h, n).
    #[inline(always)]
    fn deriv(&self, s: [f32; 4], i: f32, gs: f32, gr: f32) -> [f32; 4] {
        let [v, m, h, n] = s;
        let (g, ge) = self.conductances(m, h, n, i, gs, gr);
        let r = rates(v - self.v_t);
        [
            (ge - g * v) * self.inv_c,
            r[0] * (1.0 - m) - r[1] * m,
            r[2] * (1.0 - h) - r[3] * h,
            r[4] * (1.0 - n) - r[5] * n,
        ]
    }
}

impl HodgkinHuxley {
    /// Validates the parameters; `field` prefixes error messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        let f = |n: &str| format!("{field}.{n}");
        check_positive(&f("c_m_pf"), self.c_m_pf)?;
        check_non_negative(&f("g_leak_ns"), self.g_leak_ns)?;
        check_non_negative(&f("g_na_ns"), self.g_na_ns)?;
        check_non_negative(&f("g_k_ns"), self.g_k_ns)?;
        check_finite(&f("e_leak_mv"), self.e_leak_mv)?;
        check_finite(&f("e_na_mv"), self.e_na_mv)?;
        check_finite(&f("e_k_mv"), self.e_k_mv)?;
        check_finite(&f("v_t_mv"), self.v_t_mv)?;
        check_finite(&f("v_spike_mv"), self.v_spike_mv)?;
        check_non_negative(&f("t_ref_ms"), self.t_ref_ms)?;
        check_finite(&f("i_bias_pa"), self.i_bias_pa)
    }

    /// Steady-state (m, h, n) at `v_mv`.
    pub fn steady_state_gates(&self, v_mv: f64) -> [f64; 3] {
        let r = rates_f64(v_mv, self.v_t_mv);
        [
            r[0] / (r[0] + r[1]),
            r[2] / (r[2] + r[3]),
            r[4] / (r[4] + r[5]),
        ]
    }

    fn membrane(&self) -> Membrane {
        Membrane {
            inv_c: (1.0 / self.c_m_pf) as f32,
            g_l: self.g_leak_ns as f32,
            g_l_e_l: (self.g_leak_ns * self.e_leak_mv) as f32,
            g_na: self.g_na_ns as f32,
            e_na: self.e_na_mv as f32,
            g_k: self.g_k_ns as f32,
            e_k: self.e_k_mv as f32,
            v_t: self.v_t_mv as f32,
        }
    }
}

/// A [`HodgkinHuxley`] prepared for one time step: what the engine runs
/// (`NeuronModel`).
#[derive(Clone, Debug, PartialEq)]
pub struct HodgkinHuxleyModel {
    /// The parameters.
    pub params: HodgkinHuxley,
    prepared: Prepared,
}

impl HodgkinHuxleyModel {
    /// The model for `params` (call `prepare` before use).
    pub fn new(params: HodgkinHuxley) -> Self {
        HodgkinHuxleyModel {
            params,
            prepared: Prepared::default(),
        }
    }
}

impl NeuronModel for HodgkinHuxleyModel {
    fn name(&self) -> &'static str {
        "hh"
    }
    fn state_names(&self) -> &'static [&'static str] {
        &["v", "m", "h", "n", "refractory_steps"]
    }
    fn default_initial_state(&self) -> Vec<f64> {
        let p = &self.params;
        let [m, h, n] = p.steady_state_gates(p.e_leak_mv);
        vec![p.e_leak_mv, m, h, n, 0.0]
    }
    fn complete_initial_state(&self, state: &mut [Vec<f32>], given: &[bool], _rng: &mut Stream) {
        let (head, gates) = state.split_at_mut(var::M);
        for (k, gate) in gates[..3].iter_mut().enumerate() {
            if given[var::M + k] {
                continue;
            }
            for (x, &v) in gate.iter_mut().zip(&head[var::V]) {
                *x = self.params.steady_state_gates(v as f64)[k] as f32;
            }
        }
    }
    fn prepare(&mut self, field: &str, dt_ms: f64, _has_conductance: bool) -> Result<()> {
        let p = &self.params;
        p.validate(field)?;
        let method = match p.integration {
            Integration::Auto | Integration::ExponentialEuler => Method::ExpEuler,
            Integration::Rk4 => Method::Rk4,
            Integration::Euler => Method::Euler,
            Integration::Exact => {
                return Err(Error::field(
                    format!("{field}.integration"),
                    "hh is nonlinear and has no exact propagator; use auto (= exponential_euler), exponential_euler, rk4 or euler",
                ))
            }
        };
        self.prepared = Prepared {
            method,
            n_ref: super::refractory_steps(p.t_ref_ms, dt_ms) as f32,
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

const M_EXP_EULER: u8 = 0;
const M_EULER: u8 = 1;
const M_RK4: u8 = 2;

/// The update of every neuron of a chunk, compiled for several SIMD levels and
/// dispatched at run time. Every version performs the same IEEE operations in the same
/// order (Rust never fuses multiply-adds), so results are bitwise identical across
/// CPUs.
#[multiversion(targets = "simd")]
fn update_kernel(
    model: &HodgkinHuxleyModel,
    state: &mut [Vec<f32>],
    drive: &Drive,
    dt: f32,
    spikes: &mut Vec<u32>,
) {
    macro_rules! dispatch {
        ($method:expr) => {
            match (drive.conductance.is_some(), drive.jump.is_some()) {
                (true, false) => {
                    kernel::<{ $method }, true, false>(model, state, drive, dt, spikes)
                }
                (true, true) => kernel::<{ $method }, true, true>(model, state, drive, dt, spikes),
                (false, false) => {
                    kernel::<{ $method }, false, false>(model, state, drive, dt, spikes)
                }
                (false, true) => {
                    kernel::<{ $method }, false, true>(model, state, drive, dt, spikes)
                }
            }
        };
    }
    match model.prepared.method {
        Method::ExpEuler => dispatch!(M_EXP_EULER),
        Method::Euler => dispatch!(M_EULER),
        Method::Rk4 => dispatch!(M_RK4),
    }
}

/// One step of the chunk; `METHOD` is one of the `M_*` constants. Everything that does
/// not change inside the loop is a const parameter, so each instance is a
/// straight-line loop the compiler vectorises.
#[inline(always)]
fn kernel<const METHOD: u8, const HAS_G: bool, const HAS_JUMP: bool>(
    model: &HodgkinHuxleyModel,
    state: &mut [Vec<f32>],
    drive: &Drive,
    dt: f32,
    spikes: &mut Vec<u32>,
) {
    let [v, m, h, nn, refr] = state else {
        unreachable!("hh has five state variables")
    };
    let len = v.len();
    let (m, h, nn, refr) = (
        &mut m[..len],
        &mut h[..len],
        &mut nn[..len],
        &mut refr[..len],
    );
    let current = &drive.current[..len];
    let jump = match drive.jump {
        Some(j) if HAS_JUMP => &j[..len],
        _ => current,
    };
    let (g_sum, g_rev) = match drive.conductance {
        Some((gs, gr)) if HAS_G => (&gs[..len], &gr[..len]),
        _ => (current, current),
    };
    let mem = model.params.membrane();
    let bias = model.params.i_bias_pa as f32;
    let theta = model.params.v_spike_mv as f32;
    let n_ref = model.prepared.n_ref;
    let mut flags = [0u32; SPIKE_BLOCK];
    let mut lo = 0;
    while lo < len {
        let hi = (lo + SPIKE_BLOCK).min(len);
        for i in lo..hi {
            let v_before = v[i];
            let v0 = if HAS_JUMP {
                v_before + jump[i]
            } else {
                v_before
            };
            let (gs, gr) = if HAS_G {
                (g_sum[i], g_rev[i])
            } else {
                (0.0, 0.0)
            };
            let inp = bias + current[i];
            let s0 = [v0, m[i], h[i], nn[i]];
            let s1 = if METHOD == M_EXP_EULER {
                let r = rates(v0 - mem.v_t);
                let (g, ge) = mem.conductances(s0[1], s0[2], s0[3], inp, gs, gr);
                let v_inf = ge / g;
                let gate = |x: f32, a: f32, b: f32| {
                    let k = a + b;
                    let x_inf = a / k;
                    x_inf + (x - x_inf) * exp_f32(-dt * k)
                };
                [
                    v_inf + (v0 - v_inf) * exp_f32(-dt * g * mem.inv_c),
                    gate(s0[1], r[0], r[1]),
                    gate(s0[2], r[2], r[3]),
                    gate(s0[3], r[4], r[5]),
                ]
            } else if METHOD == M_EULER {
                let d = mem.deriv(s0, inp, gs, gr);
                std::array::from_fn(|k| s0[k] + dt * d[k])
            } else {
                let h2 = 0.5 * dt;
                let k1 = mem.deriv(s0, inp, gs, gr);
                let k2 = mem.deriv(std::array::from_fn(|k| s0[k] + h2 * k1[k]), inp, gs, gr);
                let k3 = mem.deriv(std::array::from_fn(|k| s0[k] + h2 * k2[k]), inp, gs, gr);
                let k4 = mem.deriv(std::array::from_fn(|k| s0[k] + dt * k3[k]), inp, gs, gr);
                let s = dt * (1.0 / 6.0);
                std::array::from_fn(|k| s0[k] + s * (k1[k] + 2.0 * (k2[k] + k3[k]) + k4[k]))
            };
            let r = (refr[i] - 1.0).max(0.0);
            let fired = (r <= 0.0) & (v_before <= theta) & (s1[0] > theta);
            v[i] = s1[0];
            m[i] = s1[1];
            h[i] = s1[2];
            nn[i] = s1[3];
            refr[i] = select_f32(fired, n_ref, r);
            flags[i - lo] = fired as u32;
        }
        push_fired(&flags[..hi - lo], lo as u32, spikes);
        lo = hi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_match_the_f64_formulas_including_the_singular_points() {
        for k in 0..2000 {
            let v = -120.0 + 0.1 * k as f64;
            let a = rates((v - -63.0) as f32);
            let b = rates_f64(v, -63.0);
            for j in 0..6 {
                assert!(
                    ((a[j] as f64) - b[j]).abs() <= 2e-5 * b[j].abs().max(1.0),
                    "rate {j} at v {v}: {} vs {}",
                    a[j],
                    b[j]
                );
            }
        }
        // Limits at the removable singularities: α_m(u = 13) = 1.28, β_m(u = 40) = 1.4.
        let r = rates_f64(13.0 - 63.0, -63.0);
        assert!((r[0] - 1.28).abs() < 1e-9);
        let r = rates_f64(40.0 - 63.0, -63.0);
        assert!((r[1] - 1.4).abs() < 1e-9);
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let mut m = HodgkinHuxleyModel::new(HodgkinHuxley {
            c_m_pf: 0.0,
            ..HodgkinHuxley::default()
        });
        assert!(m
            .prepare("p", 0.1, true)
            .unwrap_err()
            .to_string()
            .contains("p.c_m_pf"));
        let mut m = HodgkinHuxleyModel::new(HodgkinHuxley {
            integration: Integration::Exact,
            ..HodgkinHuxley::default()
        });
        let e = m.prepare("p", 0.1, true).unwrap_err().to_string();
        assert!(e.contains("p.integration") && e.contains("exponential_euler"));
    }
}
