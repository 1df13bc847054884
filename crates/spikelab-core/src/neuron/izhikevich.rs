//! Izhikevich (2003) simple spiking neuron (`izhikevich`).
//!
//! ```text
//! dv/dt = 0.04 v² + 5 v + 140 − u + I_bias + I_syn + Σ_r g_r (E_r − v)
//! du/dt = a (b v − u)
//! if v ≥ v_peak (30 mV): spike; v ← c; u ← u + d
//! ```
//!
//! Units: v in mV, t in ms; `u`, `d`, `i_bias`, current receptors and current inputs are
//! in the paper's dimensionless current unit (mV/ms: I = 1 raises dv/dt by 1 mV/ms);
//! conductance receptors are in that unit per mV; delta receptors jump v by the
//! weight (mV), which is how the paper's network adds `S` to `I` for one 1-ms step.
//!
//! Parameters: `preset` fills a, b, c, d with one of the paper's cell classes (Fig. 2 of
//! Izhikevich 2003); `a`, `b`, `c`, `d` written next to it override it (no preset and
//! no values: regular spiking).
//!
//! | preset                    | a    | b    | c   | d    |
//! |---------------------------|------|------|-----|------|
//! | `regular_spiking` (RS)    | 0.02 | 0.2  | −65 | 8    |
//! | `intrinsically_bursting`  | 0.02 | 0.2  | −55 | 4    |
//! | `chattering` (CH)         | 0.02 | 0.2  | −50 | 2    |
//! | `fast_spiking` (FS)       | 0.1  | 0.2  | −65 | 2    |
//! | `low_threshold_spiking`   | 0.02 | 0.25 | −65 | 2    |
//! | `thalamo_cortical` (TC)   | 0.02 | 0.25 | −65 | 0.05 |
//! | `resonator` (RZ)          | 0.1  | 0.26 | −65 | 2    |
//!
//! a, b, c and d are per-neuron state variables (initial values, monitors and
//! `set_state` work on them). `blend = { preset = "chattering", exponent = 2.0 }`
//! makes a population heterogeneous the way the paper's network is: each neuron draws
//! r uniform in [0, 1) and takes `p + (p_target − p)·r^exponent` for each parameter
//! (excitatory cells RS→CH with r², inhibitory LTS→FS with r). The initial `u` is
//! `b·v` per neuron unless given.
//!
//! Integration (`integration`): `auto` = `rk4`, or `euler` (the paper uses Euler with
//! 0.5-ms steps for v). Inside an RK4 step the right-hand side sees v limited to
//! v_peak, so the stage that overshoots the peak cannot blow u (or v) up; the
//! crossing is then detected at the end of the step. No refractory period (as in the
//! paper).
//!
//! Reference: Izhikevich (2003) IEEE Trans Neural Netw 14:1569.

use super::{push_fired, Drive, Integration, NeuronModel, UpdateContext, SPIKE_BLOCK};
use crate::error::{check_finite, check_positive, Error, Result};
use crate::math::select_f32;
use crate::rng::Stream;
use multiversion::multiversion;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The cell classes of Izhikevich (2003), Fig. 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IzhikevichPreset {
    /// Regular spiking (RS) excitatory cells: tonic spiking with adaptation.
    RegularSpiking,
    /// Intrinsically bursting (IB): an initial burst, then tonic spikes.
    IntrinsicallyBursting,
    /// Chattering (CH): repetitive bursts of closely spaced spikes.
    Chattering,
    /// Fast spiking (FS) inhibitory cells: high frequency, no adaptation.
    FastSpiking,
    /// Low-threshold spiking (LTS) inhibitory cells: high frequency with adaptation.
    LowThresholdSpiking,
    /// Thalamo-cortical (TC): tonic spiking, rebound bursts after hyperpolarisation.
    ThalamoCortical,
    /// Resonator (RZ): damped subthreshold oscillations.
    Resonator,
}

impl IzhikevichPreset {
    /// Names accepted in model files.
    pub const NAMES: &'static str = "regular_spiking, intrinsically_bursting, chattering, fast_spiking, low_threshold_spiking, thalamo_cortical, resonator";

    /// (a, b, c, d) of the class.
    pub fn parameters(self) -> [f64; 4] {
        match self {
            IzhikevichPreset::RegularSpiking => [0.02, 0.2, -65.0, 8.0],
            IzhikevichPreset::IntrinsicallyBursting => [0.02, 0.2, -55.0, 4.0],
            IzhikevichPreset::Chattering => [0.02, 0.2, -50.0, 2.0],
            IzhikevichPreset::FastSpiking => [0.1, 0.2, -65.0, 2.0],
            IzhikevichPreset::LowThresholdSpiking => [0.02, 0.25, -65.0, 2.0],
            IzhikevichPreset::ThalamoCortical => [0.02, 0.25, -65.0, 0.05],
            IzhikevichPreset::Resonator => [0.1, 0.26, -65.0, 2.0],
        }
    }
}

/// Per-neuron heterogeneity: parameters move toward a target by `r^exponent`, with one
/// r ~ U[0, 1) per neuron shared by all parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IzhikevichBlend {
    /// Target cell class.
    #[serde(default)]
    pub preset: Option<IzhikevichPreset>,
    /// Target a (overrides the preset's).
    #[serde(default)]
    pub a: Option<f64>,
    /// Target b.
    #[serde(default)]
    pub b: Option<f64>,
    /// Target c (mV).
    #[serde(default)]
    pub c: Option<f64>,
    /// Target d.
    #[serde(default)]
    pub d: Option<f64>,
    /// Exponent of r (> 0, default 1).
    #[serde(default = "one")]
    pub exponent: f64,
}

fn one() -> f64 {
    1.0
}

/// Parameters of the Izhikevich model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Izhikevich {
    /// Cell class filling a, b, c, d (default regular spiking).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<IzhikevichPreset>,
    /// Time scale of the recovery variable (1/ms), > 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a: Option<f64>,
    /// Sensitivity of the recovery variable to v.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b: Option<f64>,
    /// Reset potential (mV), below v_peak.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub c: Option<f64>,
    /// After-spike increment of u.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d: Option<f64>,
    /// Spike peak and detection threshold (mV).
    pub v_peak_mv: f64,
    /// Constant input current (dimensionless, mV/ms).
    pub i_bias: f64,
    /// Per-neuron heterogeneity of a, b, c, d.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blend: Option<IzhikevichBlend>,
    /// Integration method: auto (= rk4), rk4, euler.
    pub integration: Integration,
}

/// An [`Izhikevich`] prepared for one time step: what the engine runs (`NeuronModel`).
#[derive(Clone, Debug, PartialEq)]
pub struct IzhikevichModel {
    /// The parameters.
    pub params: Izhikevich,
    rk4: bool,
}

impl IzhikevichModel {
    /// The model for `params` (call `prepare` before use).
    pub fn new(params: Izhikevich) -> Self {
        IzhikevichModel { params, rk4: true }
    }
}

impl Default for Izhikevich {
    fn default() -> Self {
        Izhikevich {
            preset: None,
            a: None,
            b: None,
            c: None,
            d: None,
            v_peak_mv: 30.0,
            i_bias: 0.0,
            blend: None,
            integration: Integration::Auto,
        }
    }
}

/// Index of the state variables of [`Izhikevich`].
pub mod var {
    /// Membrane potential (mV).
    pub const V: usize = 0;
    /// Recovery variable.
    pub const U: usize = 1;
    /// Per-neuron a.
    pub const A: usize = 2;
    /// Per-neuron b.
    pub const B: usize = 3;
    /// Per-neuron c (mV).
    pub const C: usize = 4;
    /// Per-neuron d.
    pub const D: usize = 5;
}

/// Initial membrane potential (mV), as in the paper's network.
const V_INIT_MV: f64 = -65.0;

impl Izhikevich {
    /// A neuron of the given class.
    pub fn preset(preset: IzhikevichPreset) -> Self {
        Izhikevich {
            preset: Some(preset),
            ..Izhikevich::default()
        }
    }

    /// The resolved (a, b, c, d): the preset (default regular spiking) overridden by
    /// explicit values.
    pub fn parameters(&self) -> [f64; 4] {
        let p = self
            .preset
            .unwrap_or(IzhikevichPreset::RegularSpiking)
            .parameters();
        [
            self.a.unwrap_or(p[0]),
            self.b.unwrap_or(p[1]),
            self.c.unwrap_or(p[2]),
            self.d.unwrap_or(p[3]),
        ]
    }

    /// Target (a, b, c, d) of the blend: unset targets stay at the base value.
    fn blend_target(&self, blend: &IzhikevichBlend) -> [f64; 4] {
        let base = self.parameters();
        let p = blend.preset.map_or(base, |p| p.parameters());
        [
            blend.a.unwrap_or(p[0]),
            blend.b.unwrap_or(p[1]),
            blend.c.unwrap_or(p[2]),
            blend.d.unwrap_or(p[3]),
        ]
    }

    /// Validates the parameters; `field` prefixes error messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        let [a, b, c, d] = self.parameters();
        check_positive(&format!("{field}.a"), a)?;
        check_finite(&format!("{field}.b"), b)?;
        check_finite(&format!("{field}.c"), c)?;
        check_finite(&format!("{field}.d"), d)?;
        check_finite(&format!("{field}.v_peak_mv"), self.v_peak_mv)?;
        check_finite(&format!("{field}.i_bias"), self.i_bias)?;
        if c >= self.v_peak_mv {
            return Err(Error::field(
                format!("{field}.c"),
                format!("must be below v_peak_mv ({c} >= {})", self.v_peak_mv),
            ));
        }
        if let Some(bl) = &self.blend {
            check_positive(&format!("{field}.blend.exponent"), bl.exponent)?;
            let [a2, b2, c2, d2] = self.blend_target(bl);
            check_positive(&format!("{field}.blend.a"), a2)?;
            check_finite(&format!("{field}.blend.b"), b2)?;
            check_finite(&format!("{field}.blend.d"), d2)?;
            if !(c2.is_finite() && c2 < self.v_peak_mv) {
                return Err(Error::field(
                    format!("{field}.blend.c"),
                    format!("must be finite and below v_peak_mv (got {c2})"),
                ));
            }
        }
        Ok(())
    }
}

#[inline(always)]
fn rhs(v: f32, u: f32, a: f32, b: f32, i: f32, gs: f32, gr: f32) -> (f32, f32) {
    (
        (0.04 * v + 5.0) * v + 140.0 - u + i + gr - gs * v,
        a * (b * v - u),
    )
}

impl NeuronModel for IzhikevichModel {
    fn name(&self) -> &'static str {
        "izhikevich"
    }
    fn state_names(&self) -> &'static [&'static str] {
        &["v", "u", "a", "b", "c", "d"]
    }
    fn default_initial_state(&self) -> Vec<f64> {
        let [a, b, c, d] = self.params.parameters();
        vec![V_INIT_MV, b * V_INIT_MV, a, b, c, d]
    }
    fn complete_initial_state(&self, state: &mut [Vec<f32>], given: &[bool], rng: &mut Stream) {
        let p = &self.params;
        if let Some(bl) = &p.blend {
            let base = p.parameters();
            let target = p.blend_target(bl);
            // One r per neuron, shared by a, b, c and d (drawn even for given ones, so
            // the draws do not depend on which parameters the file sets).
            let n = state[var::V].len();
            let r: Vec<f64> = (0..n)
                .map(|_| rng.random::<f64>().powf(bl.exponent))
                .collect();
            for k in 0..4 {
                if given[var::A + k] {
                    continue;
                }
                for (x, &r) in state[var::A + k].iter_mut().zip(&r) {
                    *x = (base[k] + (target[k] - base[k]) * r) as f32;
                }
            }
        }
        if !given[var::U] {
            let [v, u, _, b, ..] = state else {
                unreachable!("izhikevich has six state variables")
            };
            for ((u, &v), &b) in u.iter_mut().zip(v.iter()).zip(b.iter()) {
                *u = b * v;
            }
        }
    }
    fn prepare(&mut self, field: &str, _dt_ms: f64, _has_conductance: bool) -> Result<()> {
        self.params.validate(field)?;
        self.rk4 = match self.params.integration {
            Integration::Auto | Integration::Rk4 => true,
            Integration::Euler => false,
            Integration::Exact | Integration::ExponentialEuler => {
                return Err(Error::field(
                    format!("{field}.integration"),
                    "izhikevich supports auto (= rk4), rk4 and euler",
                ))
            }
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
    model: &IzhikevichModel,
    state: &mut [Vec<f32>],
    drive: &Drive,
    dt: f32,
    spikes: &mut Vec<u32>,
) {
    let [v, u, a, b, c, d] = state else {
        unreachable!("izhikevich has six state variables")
    };
    let n = v.len();
    let (u, a, b, c, d) = (&mut u[..n], &a[..n], &b[..n], &c[..n], &d[..n]);
    let peak = model.params.v_peak_mv as f32;
    let bias = model.params.i_bias as f32;
    let current = &drive.current[..n];
    let jump = drive.jump.map_or(&drive.current[..n], |j| &j[..n]);
    let has_jump = drive.jump.is_some();
    let (g_sum, g_rev, has_g) = match drive.conductance {
        Some((gs, gr)) => (&gs[..n], &gr[..n], true),
        None => (current, current, false),
    };
    let rk4 = model.rk4;
    let mut flags = [0u32; SPIKE_BLOCK];
    let mut lo = 0;
    while lo < n {
        let hi = (lo + SPIKE_BLOCK).min(n);
        for i in lo..hi {
            let v0 = v[i] + if has_jump { jump[i] } else { 0.0 };
            let (ai, bi, ii) = (a[i], b[i], bias + current[i]);
            let (gs, gr) = if has_g {
                (g_sum[i], g_rev[i])
            } else {
                (0.0, 0.0)
            };
            let f = |v: f32, u: f32| rhs(v.min(peak), u, ai, bi, ii, gs, gr);
            let (v1, u1) = if rk4 {
                let h2 = 0.5 * dt;
                let (k1, l1) = f(v0, u[i]);
                let (k2, l2) = f(v0 + h2 * k1, u[i] + h2 * l1);
                let (k3, l3) = f(v0 + h2 * k2, u[i] + h2 * l2);
                let (k4, l4) = f(v0 + dt * k3, u[i] + dt * l3);
                let s = dt * (1.0 / 6.0);
                (
                    v0 + s * (k1 + 2.0 * (k2 + k3) + k4),
                    u[i] + s * (l1 + 2.0 * (l2 + l3) + l4),
                )
            } else {
                let (dv, du) = f(v0, u[i]);
                (v0 + dt * dv, u[i] + dt * du)
            };
            let fired = v1 >= peak;
            v[i] = select_f32(fired, c[i], v1);
            u[i] = u1 + select_f32(fired, d[i], 0.0);
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
    fn presets_fill_parameters_and_explicit_values_override() {
        let m = Izhikevich::preset(IzhikevichPreset::Chattering);
        assert_eq!(m.parameters(), [0.02, 0.2, -50.0, 2.0]);
        let m = Izhikevich {
            d: Some(6.0),
            ..Izhikevich::preset(IzhikevichPreset::FastSpiking)
        };
        assert_eq!(m.parameters(), [0.1, 0.2, -65.0, 6.0]);
        assert_eq!(Izhikevich::default().parameters(), [0.02, 0.2, -65.0, 8.0]);
    }

    #[test]
    fn blend_reproduces_the_papers_heterogeneity() {
        // Excitatory cells of the 2003 network: (c, d) = (−65, 8) + (15, −6) r².
        let m = Izhikevich {
            blend: Some(IzhikevichBlend {
                preset: Some(IzhikevichPreset::Chattering),
                a: None,
                b: None,
                c: None,
                d: None,
                exponent: 2.0,
            }),
            ..Izhikevich::preset(IzhikevichPreset::RegularSpiking)
        };
        let n = 2000;
        let m = IzhikevichModel::new(m);
        let mut state: Vec<Vec<f32>> = m
            .default_initial_state()
            .iter()
            .map(|&x| vec![x as f32; n])
            .collect();
        let mut rng = crate::rng::stream(1, crate::rng::Domain::InitialState, &[0]);
        m.complete_initial_state(&mut state, &[false; 6], &mut rng);
        let [v, u, a, b, c, d] = &state[..] else {
            unreachable!()
        };
        let mut mean_c = 0.0;
        for (((((&v, &u), &a), &b), &c), &d) in v.iter().zip(u).zip(a).zip(b).zip(c).zip(d) {
            let r2 = (c as f64 + 65.0) / 15.0;
            assert!((0.0..=1.0).contains(&r2));
            assert!((d as f64 - (8.0 - 6.0 * r2)).abs() < 1e-5);
            assert_eq!(a, 0.02);
            assert_eq!(u, b * v);
            mean_c += c as f64 / n as f64;
        }
        // E[r²] = 1/3.
        assert!((mean_c - (-65.0 + 15.0 / 3.0)).abs() < 0.5, "{mean_c}");
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let mut m = IzhikevichModel::new(Izhikevich {
            c: Some(40.0),
            ..Izhikevich::default()
        });
        assert!(m
            .prepare("p", 0.1, false)
            .unwrap_err()
            .to_string()
            .contains("p.c"));
        let mut m = IzhikevichModel::new(Izhikevich {
            integration: Integration::Exact,
            ..Izhikevich::default()
        });
        assert!(m
            .prepare("p", 0.1, false)
            .unwrap_err()
            .to_string()
            .contains("p.integration"));
    }
}
