//! Stochastic leaky integrate-and-fire neuron with escape noise (`escape_lif`).
//!
//! ```text
//! tau_m dv/dt = (v_rest − v) + i_bias + I_syn(t) + Σ_r g_r(t) (E_r − v)
//! hazard     ρ(v) = rate_at_thresh_hz · exp((v − v_thresh)/delta_v)
//! P(spike in a step of length dt) = 1 − exp(−ρ(v) dt)       (v after integrating the step)
//! after a spike: v ← v_reset, clamped for t_ref (as `lif`)
//! ```
//!
//! The threshold is soft: below `v_thresh_mv` the neuron fires rarely, above it often;
//! as `delta_v_mv` → 0 the model becomes the deterministic LIF. This is the
//! exponential escape rate of Gerstner & Kistler (2002, ch. 5.3) and Jolivet et al.
//! (2006), the stochastic LIF of "Neuronal Dynamics" (Gerstner et al. 2014, ch. 9).
//!
//! Each neuron draws one uniform number per step from its own stream keyed by (seed,
//! population, neuron), so the spikes are the same for any number of threads.
//!
//! Units and integration as [`super::lif`]: v in mV, currents in mV (R·I),
//! conductances relative to the leak; `exact` (default with current input, exponential
//! current receptors pre-scaled for exactness), `exponential_euler` (default with
//! conductances) and `euler`.
//!
//! Defaults: the `lif` defaults (tau_m 10 ms, rest and reset −70 mV, t_ref 2 ms) with
//! the soft threshold at −55 mV, delta_v 1 mV and ρ(v_thresh) = 100 Hz.
//!
//! References: Gerstner & Kistler (2002) Spiking Neuron Models, ch. 5.3; Jolivet,
//! Rauch, Lüscher & Gerstner (2006) J Comput Neurosci 21:35; Gerstner, Kistler, Naud &
//! Paninski (2014) Neuronal Dynamics, ch. 9.

use super::{push_fired, Drive, Integration, NeuronModel, UpdateContext, SPIKE_BLOCK};
use crate::error::{check_finite, check_non_negative, check_positive, Error, Result};
use crate::math::{exp_f32, select_f32};
use crate::rng::Stream;
use multiversion::multiversion;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Parameters of the escape-noise LIF.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EscapeLif {
    /// Membrane time constant (ms), > 0.
    pub tau_m_ms: f64,
    /// Resting potential (mV).
    pub v_rest_mv: f64,
    /// Reset potential (mV).
    pub v_reset_mv: f64,
    /// Soft threshold (mV): the hazard there is `rate_at_thresh_hz`.
    pub v_thresh_mv: f64,
    /// Width of the escape noise (mV), > 0.
    pub delta_v_mv: f64,
    /// Hazard at the soft threshold (Hz), > 0.
    pub rate_at_thresh_hz: f64,
    /// Absolute refractory period (ms), >= 0.
    pub t_ref_ms: f64,
    /// Constant drive R·I (mV).
    pub i_bias_mv: f64,
    /// Integration method: auto, exact (current input only), exponential_euler, euler.
    pub integration: Integration,
}

/// An [`EscapeLif`] prepared for one time step: what the engine runs (`NeuronModel`).
#[derive(Clone, Debug, PartialEq)]
pub struct EscapeLifModel {
    /// The parameters.
    pub params: EscapeLif,
    prepared: Prepared,
}

impl EscapeLifModel {
    /// The model for `params` (call `prepare` before use).
    pub fn new(params: EscapeLif) -> Self {
        EscapeLifModel {
            params,
            prepared: Prepared::default(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Prepared {
    exact: bool,
    euler: bool,
    /// exp(−dt/tau_m).
    alpha: f32,
    /// dt/tau_m.
    h: f32,
    n_ref: f32,
}

impl Default for EscapeLif {
    fn default() -> Self {
        EscapeLif {
            tau_m_ms: 10.0,
            v_rest_mv: -70.0,
            v_reset_mv: -70.0,
            v_thresh_mv: -55.0,
            delta_v_mv: 1.0,
            rate_at_thresh_hz: 100.0,
            t_ref_ms: 2.0,
            i_bias_mv: 0.0,
            integration: Integration::Auto,
        }
    }
}

impl EscapeLif {
    /// Hazard ρ(v) in Hz.
    pub fn hazard_hz(&self, v_mv: f64) -> f64 {
        self.rate_at_thresh_hz * ((v_mv - self.v_thresh_mv) / self.delta_v_mv).exp()
    }

    /// Probability of a spike in one step of `dt_ms` at membrane potential `v_mv`.
    pub fn spike_probability(&self, v_mv: f64, dt_ms: f64) -> f64 {
        -(-self.hazard_hz(v_mv) * dt_ms * 1e-3).exp_m1()
    }

    /// Validates the parameters; `field` prefixes error messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        let f = |n: &str| format!("{field}.{n}");
        check_positive(&f("tau_m_ms"), self.tau_m_ms)?;
        check_finite(&f("v_rest_mv"), self.v_rest_mv)?;
        check_finite(&f("v_reset_mv"), self.v_reset_mv)?;
        check_finite(&f("v_thresh_mv"), self.v_thresh_mv)?;
        check_positive(&f("delta_v_mv"), self.delta_v_mv)?;
        check_positive(&f("rate_at_thresh_hz"), self.rate_at_thresh_hz)?;
        check_non_negative(&f("t_ref_ms"), self.t_ref_ms)?;
        check_finite(&f("i_bias_mv"), self.i_bias_mv)
    }
}

impl NeuronModel for EscapeLifModel {
    fn name(&self) -> &'static str {
        "escape_lif"
    }
    fn state_names(&self) -> &'static [&'static str] {
        &["v", "refractory_steps"]
    }
    fn default_initial_state(&self) -> Vec<f64> {
        vec![self.params.v_rest_mv, 0.0]
    }
    fn exact_membrane_tau_ms(&self) -> Option<f64> {
        self.prepared.exact.then_some(self.params.tau_m_ms)
    }
    fn uses_rng(&self) -> bool {
        true
    }
    fn prepare(&mut self, field: &str, dt_ms: f64, has_conductance: bool) -> Result<()> {
        let p = &self.params;
        p.validate(field)?;
        let (exact, euler) = match (p.integration, has_conductance) {
            (Integration::Auto | Integration::Exact, false) => (true, false),
            (Integration::Auto | Integration::ExponentialEuler, _) => (false, false),
            (Integration::Euler, _) => (false, true),
            (Integration::Exact, true) => {
                return Err(Error::field(
                    format!("{field}.integration"),
                    "`exact` needs current-based input only; with conductance receptors use auto, exponential_euler or euler",
                ))
            }
            (Integration::Rk4, _) => {
                return Err(Error::field(
                    format!("{field}.integration"),
                    "escape_lif supports auto, exact, exponential_euler and euler",
                ))
            }
        };
        let h = dt_ms / p.tau_m_ms;
        self.prepared = Prepared {
            exact,
            euler,
            alpha: (-h).exp() as f32,
            h: h as f32,
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
        let dt_ms = ctx.dt_ms;
        update_kernel(self, state, drive, dt_ms, ctx.rng, spikes)
    }

    fn clone_box(&self) -> Box<dyn NeuronModel> {
        Box::new(self.clone())
    }
}

/// The update of every neuron of a chunk, compiled for several SIMD levels and
/// dispatched at run time.
#[multiversion(targets = "simd")]
fn update_kernel(
    model: &EscapeLifModel,
    state: &mut [Vec<f32>],
    drive: &Drive,
    dt_ms: f64,
    rng: &mut [Stream],
    spikes: &mut Vec<u32>,
) {
    let [v, refr] = state else {
        unreachable!("escape_lif has two state variables")
    };
    let n = v.len();
    let refr = &mut refr[..n];
    let rng = &mut rng[..n];
    let (params, p) = (&model.params, model.prepared);
    let v_rest = (params.v_rest_mv + params.i_bias_mv) as f32;
    let v_reset = params.v_reset_mv as f32;
    let theta = params.v_thresh_mv as f32;
    let inv_delta = (1.0 / params.delta_v_mv) as f32;
    // ρ0·dt with ρ0 in 1/ms.
    let rho_dt = (params.rate_at_thresh_hz * 1e-3 * dt_ms) as f32;
    let current = &drive.current[..n];
    let jump = drive.jump.map_or(&drive.current[..n], |j| &j[..n]);
    let has_jump = drive.jump.is_some();
    let (g_sum, g_rev, has_g) = match drive.conductance {
        Some((gs, gr)) => (&gs[..n], &gr[..n], true),
        None => (current, current, false),
    };
    let mut uniforms = [0.0f32; SPIKE_BLOCK];
    let mut flags = [0u32; SPIKE_BLOCK];
    let mut lo = 0;
    while lo < n {
        let hi = (lo + SPIKE_BLOCK).min(n);
        // One draw per neuron and step, whatever its state: streams stay aligned.
        for (u, r) in uniforms.iter_mut().zip(&mut rng[lo..hi]) {
            *u = (r.random::<u32>() >> 8) as f32 * (1.0 / (1u32 << 24) as f32);
        }
        for i in lo..hi {
            let r = refr[i];
            let active = r <= 0.0;
            let v0 = v[i] + if has_jump { jump[i] } else { 0.0 };
            let (gs, gr) = if has_g {
                (g_sum[i], g_rev[i])
            } else {
                (0.0, 0.0)
            };
            let a = 1.0 + gs;
            let drive_mv = v_rest + current[i] + gr;
            let v_inf = drive_mv / a;
            let v1 = if p.euler {
                v0 + p.h * (drive_mv - a * v0)
            } else if p.exact {
                v_inf + (v0 - v_inf) * p.alpha
            } else {
                v_inf + (v0 - v_inf) * exp_f32(-p.h * a)
            };
            let v1 = select_f32(active, v1, v[i]);
            // P(spike) = 1 − exp(−ρ(v) dt); fire when the uniform falls below it.
            let x = rho_dt * exp_f32((v1 - theta) * inv_delta);
            let prob = select_f32(x < 1e-3, x * (1.0 - 0.5 * x), 1.0 - exp_f32(-x));
            let fired = active & (uniforms[i - lo] < prob);
            v[i] = select_f32(fired, v_reset, v1);
            let r1 = r - 1.0;
            refr[i] = select_f32(fired, p.n_ref, select_f32(r1 < 0.0, 0.0, r1));
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
    fn hazard_is_the_rate_at_threshold_and_grows_e_fold_per_delta() {
        let m = EscapeLif::default();
        assert!((m.hazard_hz(-55.0) - 100.0).abs() < 1e-12);
        assert!((m.hazard_hz(-54.0) / m.hazard_hz(-55.0) - std::f64::consts::E).abs() < 1e-12);
        assert!((m.spike_probability(-55.0, 0.1) - (1.0 - (-0.01f64).exp())).abs() < 1e-15);
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let mut m = EscapeLifModel::new(EscapeLif {
            delta_v_mv: 0.0,
            ..EscapeLif::default()
        });
        assert!(m
            .prepare("p", 0.1, false)
            .unwrap_err()
            .to_string()
            .contains("p.delta_v_mv"));
        let mut m = EscapeLifModel::new(EscapeLif {
            integration: Integration::Exact,
            ..EscapeLif::default()
        });
        assert!(m.prepare("p", 0.1, true).is_err());
        assert!(m.prepare("p", 0.1, false).is_ok());
    }
}
