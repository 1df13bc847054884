//! Leaky integrate-and-fire neuron (`lif`).
//!
//! ```text
//! tau_m dv/dt = (v_rest − v) + i_bias + I_syn(t) + Σ_r g_r(t) (E_r − v)
//! theta ← theta·exp(−dt/tau_theta)                       (adaptive threshold only)
//! if v ≥ v_thresh + theta: spike; v ← v_reset (or v ← v − (v_thresh + theta − v_reset));
//!                          theta ← theta + theta_plus; clamp for t_ref
//! ```
//!
//! Units: v in mV, time in ms; `i_bias_mv` and current receptors are in mV (`R·I`,
//! the drive that would hold v that far above rest); conductance receptors are
//! relative to the leak conductance (dimensionless), as in Brette et al. 2007 and the
//! Brian2 COBA/CUBA benchmarks.
//!
//! NEST's units (`iaf_psc_exp`): with `c_m_pf` set, every current input — current
//! receptors (and the Poisson inputs and spikes arriving at them), injected currents —
//! is a current in pA, and `i_e_pa` a constant current in pA; the model turns them
//! into the drive `R·I` with `R = tau_m / C_m` (ms / pF = GΩ, so pA·GΩ = mV). A PSC
//! of 87.8 pA into 250 pF with tau_m 10 ms is a drive of 3.512 mV.
//!
//! Integration (`integration`): with current input only, `exact` (the default) is the
//! exact propagator for input constant over a step; exponential current receptors are
//! pre-scaled by the engine so that CUBA networks are integrated exactly (as NEST's
//! `iaf_psc_exp`). With conductances the ODE is not linear in time, and `auto` uses
//! exponential Euler; `euler` and `rk4` are available for comparison.
//!
//! Refractoriness follows NEST: a neuron spiking at step `s` is clamped during steps
//! `s+1 … s+n_ref` (n_ref = round(t_ref/dt)) and integrates again from step
//! `s+n_ref+1`. Input arriving while refractory is lost for `v`.
//!
//! Defaults follow NEST's `iaf_psc_exp`: tau_m 10 ms, rest −70 mV, reset −70 mV,
//! threshold −55 mV, t_ref 2 ms.
//!
//! The discrete-time LIF and adaptive LIF of the trainer, with their mapping to this
//! model, are in [`discrete`]; their backward steps in [`backward`]. The adaptive
//! threshold (`theta_plus_mv`, `tau_theta_ms`) is the adaptive LIF's: reset by
//! subtraction then subtracts the threshold in force, `v_thresh + theta − v_reset`.
//!
//! References: Lapicque (1907); Rotter & Diesmann (1999) for exact integration;
//! Brette et al. (2007) J Comput Neurosci 23:349 for the benchmark forms.

pub mod backward;
pub mod discrete;

pub use discrete::{alif_step, lif_multistep, lif_step, lif_step_in_place, Adaptation};

use super::{integrate_and_fire, ThresholdReset};
use super::{Drive, Integration, NeuronModel, ResetMode, UpdateContext};
use crate::error::{check_finite, check_non_negative, check_positive, Error, Result};
use crate::math::exp_f32;
use multiversion::multiversion;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Parameters of the leaky integrate-and-fire model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lif {
    /// Membrane time constant (ms), > 0.
    pub tau_m_ms: f64,
    /// Resting (leak reversal) potential (mV).
    pub v_rest_mv: f64,
    /// Reset potential (mV), below `v_thresh_mv`.
    pub v_reset_mv: f64,
    /// Spike threshold (mV).
    pub v_thresh_mv: f64,
    /// Absolute refractory period (ms), >= 0.
    pub t_ref_ms: f64,
    /// Constant drive `R·I` (mV).
    pub i_bias_mv: f64,
    /// Membrane capacitance (pF), > 0: when set, current inputs are in pA (NEST's
    /// units, see the module docs); when absent they are drives in mV.
    pub c_m_pf: Option<f64>,
    /// Constant input current (pA; NEST's `I_e`), needs `c_m_pf`.
    pub i_e_pa: f64,
    /// Reset rule after a spike.
    pub reset: ResetMode,
    /// Integration method.
    pub integration: Integration,
    /// Adaptive threshold: increment of the threshold offset `theta` per spike (mV);
    /// with a non-zero value (or `tau_theta_ms`) the model gains the state variable
    /// `theta` and fires when `v ≥ v_thresh + theta` (Diehl & Cook 2015 homeostasis).
    pub theta_plus_mv: f64,
    /// Decay time constant of `theta` (ms); absent = no decay.
    pub tau_theta_ms: Option<f64>,
}

/// A [`Lif`] prepared for one time step: the parameters plus their propagators. This
/// is what the engine runs (`NeuronModel`).
#[derive(Clone, Debug, PartialEq)]
pub struct LifModel {
    /// The parameters.
    pub params: Lif,
    prepared: Prepared,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Prepared {
    /// exp(-dt/tau_m)
    alpha: f32,
    /// dt/tau_m
    h: f32,
    /// exp(-dt/tau_theta)
    theta_decay: f32,
    n_ref: u32,
    method: Method,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Method {
    #[default]
    Exact,
    Euler,
    ExpEuler,
    Rk4,
}

impl Default for Lif {
    fn default() -> Self {
        Lif {
            tau_m_ms: 10.0,
            v_rest_mv: -70.0,
            v_reset_mv: -70.0,
            v_thresh_mv: -55.0,
            t_ref_ms: 2.0,
            i_bias_mv: 0.0,
            c_m_pf: None,
            i_e_pa: 0.0,
            reset: ResetMode::Value,
            integration: Integration::Auto,
            theta_plus_mv: 0.0,
            tau_theta_ms: None,
        }
    }
}

/// Index of the state variables of [`Lif`].
pub mod var {
    /// Membrane potential (mV).
    pub const V: usize = 0;
    /// Remaining refractory steps.
    pub const REFRACTORY: usize = 1;
}

impl Lif {
    /// Validates the parameters; `field` prefixes error messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        check_positive(&format!("{field}.tau_m_ms"), self.tau_m_ms)?;
        check_finite(&format!("{field}.v_rest_mv"), self.v_rest_mv)?;
        check_finite(&format!("{field}.v_reset_mv"), self.v_reset_mv)?;
        check_finite(&format!("{field}.v_thresh_mv"), self.v_thresh_mv)?;
        check_finite(&format!("{field}.i_bias_mv"), self.i_bias_mv)?;
        check_finite(&format!("{field}.i_e_pa"), self.i_e_pa)?;
        match self.c_m_pf {
            Some(c) => check_positive(&format!("{field}.c_m_pf"), c)?,
            None if self.i_e_pa != 0.0 => {
                return Err(Error::field(
                    format!("{field}.i_e_pa"),
                    "a current in pA needs the capacitance c_m_pf (or give the drive as i_bias_mv)",
                ))
            }
            None => {}
        }
        check_non_negative(&format!("{field}.t_ref_ms"), self.t_ref_ms)?;
        check_finite(&format!("{field}.theta_plus_mv"), self.theta_plus_mv)?;
        if let Some(t) = self.tau_theta_ms {
            check_positive(&format!("{field}.tau_theta_ms"), t)?;
        }
        if self.v_reset_mv >= self.v_thresh_mv {
            return Err(Error::field(
                format!("{field}.v_reset_mv"),
                format!(
                    "must be below v_thresh_mv ({} >= {})",
                    self.v_reset_mv, self.v_thresh_mv
                ),
            ));
        }
        Ok(())
    }

    /// mV of drive per unit of current input: `tau_m / C_m` (GΩ) with `c_m_pf`, else 1.
    pub fn drive_per_current_unit(&self) -> f64 {
        self.c_m_pf.map_or(1.0, |c| self.tau_m_ms / c)
    }

    /// The constant drive (mV): `i_bias_mv + R·i_e_pa`.
    pub fn constant_drive_mv(&self) -> f64 {
        self.i_bias_mv + self.c_m_pf.map_or(0.0, |c| self.tau_m_ms / c * self.i_e_pa)
    }

    /// Whether the model has the adaptive threshold variable `theta`.
    pub fn has_adaptive_threshold(&self) -> bool {
        self.theta_plus_mv != 0.0 || self.tau_theta_ms.is_some()
    }

    /// Firing rate (Hz) under constant drive `i_mv` in continuous time: the closed form
    /// `1 / (t_ref + tau_m ln((v_rest + I − v_reset)/(v_rest + I − v_thresh)))`.
    pub fn rate_hz_closed_form(&self, i_mv: f64) -> f64 {
        let v_inf = self.v_rest_mv + self.constant_drive_mv() + i_mv;
        if v_inf <= self.v_thresh_mv {
            return 0.0;
        }
        let t = self.t_ref_ms
            + self.tau_m_ms * ((v_inf - self.v_reset_mv) / (v_inf - self.v_thresh_mv)).ln();
        1000.0 / t
    }
}

/// `1 − (Taylor series of e^{-h} to 4th order)`: the RK4 propagator of a linear ODE.
#[inline(always)]
fn rk4_gain(h: f32) -> f32 {
    h * (1.0 - h * (0.5 - h * (1.0 / 6.0 - h / 24.0)))
}

impl LifModel {
    /// The model for `params` (call `prepare` before use).
    pub fn new(params: Lif) -> Self {
        LifModel {
            params,
            prepared: Prepared::default(),
        }
    }

    /// Prepares for a time step, choosing the integration method for the input kinds.
    pub fn prepare_for(&mut self, field: &str, dt_ms: f64, has_conductance: bool) -> Result<()> {
        self.params.validate(field)?;
        let method = match (self.params.integration, has_conductance) {
            (Integration::Auto, false) | (Integration::Exact, false) => Method::Exact,
            (Integration::Auto, true) | (Integration::ExponentialEuler, _) => Method::ExpEuler,
            (Integration::Exact, true) => {
                return Err(Error::field(
                    format!("{field}.integration"),
                    "`exact` needs current-based input only; with conductance receptors use auto, exponential_euler, euler or rk4",
                ))
            }
            (Integration::Euler, _) => Method::Euler,
            (Integration::Rk4, _) => Method::Rk4,
        };
        let h = dt_ms / self.params.tau_m_ms;
        self.prepared = Prepared {
            alpha: (-h).exp() as f32,
            h: h as f32,
            n_ref: super::refractory_steps(self.params.t_ref_ms, dt_ms),
            method,
            theta_decay: self
                .params
                .tau_theta_ms
                .map_or(1.0, |t| (-dt_ms / t).exp() as f32),
        };
        Ok(())
    }

    /// Steps of absolute refractoriness after preparation.
    pub fn refractory_steps(&self) -> u32 {
        self.prepared.n_ref
    }
}

impl NeuronModel for LifModel {
    fn name(&self) -> &'static str {
        "lif"
    }
    fn state_names(&self) -> &'static [&'static str] {
        if self.params.has_adaptive_threshold() {
            &["v", "refractory_steps", "theta"]
        } else {
            &["v", "refractory_steps"]
        }
    }
    fn default_initial_state(&self) -> Vec<f64> {
        let mut s = vec![self.params.v_rest_mv, 0.0];
        if self.params.has_adaptive_threshold() {
            s.push(0.0);
        }
        s
    }
    fn forward_euler(&self) -> bool {
        self.prepared.method == Method::Euler
    }
    fn exact_membrane_tau_ms(&self) -> Option<f64> {
        (self.prepared.method == Method::Exact).then_some(self.params.tau_m_ms)
    }
    fn prepare(&mut self, field: &str, dt_ms: f64, has_conductance: bool) -> Result<()> {
        self.prepare_for(field, dt_ms, has_conductance)
    }

    fn update(
        &self,
        state: &mut [Vec<f32>],
        drive: &Drive,
        _ctx: &mut UpdateContext,
        spikes: &mut Vec<u32>,
    ) {
        update_kernel(self, state, drive, spikes)
    }

    fn clone_box(&self) -> Box<dyn NeuronModel> {
        Box::new(self.clone())
    }
}

/// The update of every neuron of a chunk, compiled for several SIMD levels and
/// dispatched at run time.
#[multiversion(targets = "simd")]
fn update_kernel(model: &LifModel, state: &mut [Vec<f32>], drive: &Drive, spikes: &mut Vec<u32>) {
    let (v, refr, mut adaptive) = match state {
        [v, refr] => (v, refr, None),
        [v, refr, theta] => (v, refr, Some(theta)),
        _ => unreachable!("lif has two or three state variables"),
    };
    // Adaptive threshold: theta decays over the step before the threshold test.
    if let Some(theta) = adaptive.as_deref_mut() {
        let d = model.prepared.theta_decay;
        for x in theta.iter_mut() {
            *x *= d;
        }
    }
    let first_new_spike = spikes.len();
    let n = v.len();
    let p = &model.prepared;
    let v_rest = model.params.v_rest_mv as f32 + model.params.constant_drive_mv() as f32;
    // Current inputs in pA become drives in mV (1 without c_m_pf: x·1 is x exactly).
    let drive_per_unit = model.params.drive_per_current_unit() as f32;
    let theta = model.params.v_thresh_mv as f32;
    let v_reset = model.params.v_reset_mv as f32;
    let subtract = model.params.reset == ResetMode::Subtract;
    let n_ref = p.n_ref as f32;
    let tau_inv_dt = p.h;
    let alpha = p.alpha;
    let current = &drive.current[..n];
    let jump = drive.jump.map(|j| &j[..n]);

    let tr = ThresholdReset {
        theta,
        v_reset,
        subtract,
        n_ref,
    };
    macro_rules! kernel {
        ($integrate:expr) => {
            integrate_and_fire(
                v,
                refr,
                jump,
                adaptive.as_deref().map(|t| &t[..]),
                &tr,
                $integrate,
                spikes,
            )
        };
    }

    match drive.conductance {
        None => match p.method {
            Method::Exact | Method::ExpEuler => {
                kernel!(|r: Range<usize>, vi: &[f32], vo: &mut [f32]| {
                    for ((o, &v0), &c) in vo.iter_mut().zip(vi).zip(&current[r]) {
                        let v_inf = v_rest + c * drive_per_unit;
                        *o = v_inf + (v0 - v_inf) * alpha;
                    }
                })
            }
            Method::Euler => kernel!(|r: Range<usize>, vi: &[f32], vo: &mut [f32]| {
                for ((o, &v0), &c) in vo.iter_mut().zip(vi).zip(&current[r]) {
                    *o = v0 + tau_inv_dt * (v_rest + c * drive_per_unit - v0);
                }
            }),
            Method::Rk4 => {
                let g = rk4_gain(tau_inv_dt);
                kernel!(|r: Range<usize>, vi: &[f32], vo: &mut [f32]| {
                    for ((o, &v0), &c) in vo.iter_mut().zip(vi).zip(&current[r]) {
                        *o = v0 + g * (v_rest + c * drive_per_unit - v0);
                    }
                })
            }
        },
        Some((g_sum, g_rev)) => {
            let g_sum = &g_sum[..n];
            let g_rev = &g_rev[..n];
            match p.method {
                Method::Euler => kernel!(|r: Range<usize>, vi: &[f32], vo: &mut [f32]| {
                    let it = vo
                        .iter_mut()
                        .zip(vi)
                        .zip(&current[r.clone()])
                        .zip(&g_sum[r.clone()])
                        .zip(&g_rev[r]);
                    for ((((o, &v0), &c), &gs), &ge) in it {
                        *o = v0 + tau_inv_dt * (v_rest + c * drive_per_unit + ge - (1.0 + gs) * v0);
                    }
                }),
                Method::Rk4 => kernel!(|r: Range<usize>, vi: &[f32], vo: &mut [f32]| {
                    let it = vo
                        .iter_mut()
                        .zip(vi)
                        .zip(&current[r.clone()])
                        .zip(&g_sum[r.clone()])
                        .zip(&g_rev[r]);
                    for ((((o, &v0), &c), &gs), &ge) in it {
                        let a = 1.0 + gs;
                        let v_inf = (v_rest + c * drive_per_unit + ge) / a;
                        *o = v0 + rk4_gain(tau_inv_dt * a) * (v_inf - v0);
                    }
                }),
                Method::Exact | Method::ExpEuler => {
                    kernel!(|r: Range<usize>, vi: &[f32], vo: &mut [f32]| {
                        let it = vo
                            .iter_mut()
                            .zip(vi)
                            .zip(&current[r.clone()])
                            .zip(&g_sum[r.clone()])
                            .zip(&g_rev[r]);
                        for ((((o, &v0), &c), &gs), &ge) in it {
                            let a = 1.0 + gs;
                            let v_inf = (v_rest + c * drive_per_unit + ge) / a;
                            *o = v_inf + (v0 - v_inf) * exp_f32(-tau_inv_dt * a);
                        }
                    })
                }
            }
        }
    }
    if let Some(theta) = adaptive {
        let plus = model.params.theta_plus_mv as f32;
        for &i in &spikes[first_new_spike..] {
            theta[i as usize] += plus;
        }
    }
}
