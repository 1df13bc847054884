//! Perfect (non-leaky) integrate-and-fire neuron (`if`).
//!
//! ```text
//! C_m dv/dt = i_bias + I_syn(t) + Σ_r g_r(t) (E_r − v)
//! if v ≥ v_thresh: spike; v ← v_reset (or v ← v − (v_thresh − v_reset)); clamp for t_ref
//! v ← max(v, v_min)   (if v_min_mv is set)
//! ```
//!
//! Units: v in mV, C_m in pF, currents (bias and current receptors) in pA, conductance
//! receptors in nS, so `pA / pF = mV/ms`. Delta receptors add their weight (mV) to v.
//! With current input the update is exact (`v += dt·I/C`); with conductances the step
//! is exponential Euler. The non-leaky neuron is the unit of ANN→SNN conversion, where
//! it is used with reset by subtraction and delta synapses.
//!
//! Defaults: C_m 250 pF, reset −70 mV, threshold −55 mV, t_ref 2 ms (as NEST).
//!
//! ## Discrete time (the trainer's IF)
//!
//! The trainer's IF neuron is the discrete LIF ([`super::lif::discrete`]) with β = 1:
//! `h = v + x`, `s = H(h − θ)`, `v ← reset(h, s, θ)`, run by the same kernels
//! ([`super::lif::lif_step_in_place`] with `beta = 1`) and backward step. It is
//! step-for-step this model with `v_reset_mv = 0`, `v_thresh_mv = θ`, `t_ref_ms = 0`
//! and delta weights `w` unchanged ([`Iaf::from_discrete`]); a constant input `x` per
//! step is an engine current `I = x·C_m/dt` (pA).

use super::UpdateContext;
use super::{integrate_and_fire, Drive, Integration, NeuronModel, ResetMode, ThresholdReset};
use crate::error::{check_finite, check_non_negative, check_positive, Error, Result};
use crate::math::exp_f32;
use multiversion::multiversion;
use serde::{Deserialize, Serialize};

/// Parameters of the perfect integrate-and-fire model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Iaf {
    /// Membrane capacitance (pF), > 0.
    pub c_m_pf: f64,
    /// Reset potential (mV).
    pub v_reset_mv: f64,
    /// Spike threshold (mV), above `v_reset_mv`.
    pub v_thresh_mv: f64,
    /// Lower bound of v (mV); unbounded when absent.
    pub v_min_mv: Option<f64>,
    /// Absolute refractory period (ms).
    pub t_ref_ms: f64,
    /// Constant input current (pA).
    pub i_bias_pa: f64,
    /// Reset rule.
    pub reset: ResetMode,
    /// Integration method: `auto`/`exact` (exact for current input), `euler`.
    pub integration: Integration,
}

/// An [`Iaf`] prepared for one time step (what the engine runs).
#[derive(Clone, Debug, PartialEq)]
pub struct IafModel {
    /// The parameters.
    pub params: Iaf,
    /// dt / C_m, refractory steps, Euler.
    prepared: (f32, f32, bool),
}

impl IafModel {
    /// The model for `params` (call `prepare` before use).
    pub fn new(params: Iaf) -> Self {
        IafModel {
            params,
            prepared: (0.0, 0.0, false),
        }
    }
}

impl Iaf {
    /// The engine model of the trainer's discrete IF neuron (β = 1) with threshold
    /// `theta` and reset `reset` (see the module docs): delta weights carry over
    /// unchanged.
    pub fn from_discrete(theta: f64, reset: ResetMode) -> Iaf {
        Iaf {
            v_reset_mv: 0.0,
            v_thresh_mv: theta,
            t_ref_ms: 0.0,
            reset,
            ..Iaf::default()
        }
    }
}

impl Default for Iaf {
    fn default() -> Self {
        Iaf {
            c_m_pf: 250.0,
            v_reset_mv: -70.0,
            v_thresh_mv: -55.0,
            v_min_mv: None,
            t_ref_ms: 2.0,
            i_bias_pa: 0.0,
            reset: ResetMode::Value,
            integration: Integration::Auto,
        }
    }
}

impl NeuronModel for IafModel {
    fn name(&self) -> &'static str {
        "if"
    }
    fn state_names(&self) -> &'static [&'static str] {
        &["v", "refractory_steps"]
    }
    fn default_initial_state(&self) -> Vec<f64> {
        vec![self.params.v_reset_mv, 0.0]
    }
    fn forward_euler(&self) -> bool {
        self.prepared.2
    }
    fn prepare(&mut self, field: &str, dt_ms: f64, _has_conductance: bool) -> Result<()> {
        check_positive(&format!("{field}.c_m_pf"), self.params.c_m_pf)?;
        check_finite(&format!("{field}.v_reset_mv"), self.params.v_reset_mv)?;
        check_finite(&format!("{field}.v_thresh_mv"), self.params.v_thresh_mv)?;
        check_finite(&format!("{field}.i_bias_pa"), self.params.i_bias_pa)?;
        check_non_negative(&format!("{field}.t_ref_ms"), self.params.t_ref_ms)?;
        if self.params.v_reset_mv >= self.params.v_thresh_mv {
            return Err(Error::field(
                format!("{field}.v_reset_mv"),
                format!(
                    "must be below v_thresh_mv ({} >= {})",
                    self.params.v_reset_mv, self.params.v_thresh_mv
                ),
            ));
        }
        if let Some(m) = self.params.v_min_mv {
            if !(m.is_finite() && m <= self.params.v_reset_mv) {
                return Err(Error::field(
                    format!("{field}.v_min_mv"),
                    format!("must be finite and <= v_reset_mv (got {m})"),
                ));
            }
        }
        if matches!(self.params.integration, Integration::Rk4) {
            return Err(Error::field(
                format!("{field}.integration"),
                "the perfect integrator supports auto, exact, exponential_euler and euler",
            ));
        }
        self.prepared = (
            (dt_ms / self.params.c_m_pf) as f32,
            super::refractory_steps(self.params.t_ref_ms, dt_ms) as f32,
            self.params.integration == Integration::Euler,
        );
        Ok(())
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
fn update_kernel(model: &IafModel, state: &mut [Vec<f32>], drive: &Drive, spikes: &mut Vec<u32>) {
    let [v, refr] = state else {
        unreachable!("if has two state variables")
    };
    let n = v.len();
    let (dt_over_c, n_ref, euler) = model.prepared;
    let bias = model.params.i_bias_pa as f32;
    let v_min = model.params.v_min_mv.unwrap_or(f64::NEG_INFINITY) as f32;
    let tr = ThresholdReset {
        theta: model.params.v_thresh_mv as f32,
        v_reset: model.params.v_reset_mv as f32,
        subtract: model.params.reset == ResetMode::Subtract,
        n_ref,
    };
    let current = &drive.current[..n];
    let jump = drive.jump.map(|j| &j[..n]);
    match drive.conductance {
        None => integrate_and_fire(
            v,
            refr,
            jump,
            None,
            &tr,
            |r, vi, vo| {
                for ((o, &v0), &c) in vo.iter_mut().zip(vi).zip(&current[r]) {
                    *o = (v0 + dt_over_c * (bias + c)).max(v_min);
                }
            },
            spikes,
        ),
        Some((g_sum, g_rev)) => {
            let (g_sum, g_rev) = (&g_sum[..n], &g_rev[..n]);
            integrate_and_fire(
                v,
                refr,
                jump,
                None,
                &tr,
                |r, vi, vo| {
                    let it = vo
                        .iter_mut()
                        .zip(vi)
                        .zip(&current[r.clone()])
                        .zip(&g_sum[r.clone()])
                        .zip(&g_rev[r]);
                    for ((((o, &v0), &c), &gs), &ge) in it {
                        let slope = bias + c + ge - gs * v0;
                        let x = dt_over_c * gs;
                        // (1 - e^{-x}) / x, with its series near 0; 1 for Euler.
                        let phi = if x < 1e-3 {
                            1.0 - 0.5 * x
                        } else {
                            (1.0 - exp_f32(-x)) / x
                        };
                        let phi = if euler { 1.0 } else { phi };
                        *o = (v0 + dt_over_c * slope * phi).max(v_min);
                    }
                },
                spikes,
            )
        }
    }
}
