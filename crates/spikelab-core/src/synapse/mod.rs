//! Synaptic receptors of a population: the kinetics that turn arriving spikes (summed
//! weights from the ring buffers) into the current or conductance a neuron model sees.
//!
//! A population declares its receptors by name; a projection targets one of them.
//! Each step, for every receptor, the engine adds the arrivals of this step to the
//! receptor state, adds the receptor's output to the [`DriveBuffers`], and lets the
//! state decay. The output is held constant over the step; for exponential current
//! receptors into a neuron with exact linear integration the output is pre-scaled so
//! that the membrane integral is exact (Rotter & Diesmann 1999).

use crate::error::{check_finite, check_positive, Error, Result};
use serde::{Deserialize, Serialize};

/// What a receptor delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceptorKind {
    /// A current (in the neuron model's current unit).
    Current,
    /// A conductance with a reversal potential (in the model's conductance unit).
    Conductance,
    /// An instantaneous jump of the membrane potential by the weight (mV).
    Delta,
}

/// Time course of a receptor's response to one spike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kinetics {
    /// Jump by the weight, then exponential decay with `tau_ms`.
    #[default]
    Exponential,
}

/// A receptor as written in a model file (`[[population.receptor]]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceptorSpec {
    /// Name used by projections (`receptor = "exc"`).
    pub name: String,
    /// current, conductance or delta.
    #[serde(rename = "type")]
    pub kind: ReceptorKind,
    /// Kinetics (default exponential); ignored for delta receptors.
    #[serde(default)]
    pub kinetics: Kinetics,
    /// Decay time constant (ms); required unless `type = "delta"`.
    #[serde(default)]
    pub tau_ms: Option<f64>,
    /// Reversal potential (mV); required for conductance receptors.
    #[serde(default)]
    pub e_rev_mv: Option<f64>,
}

impl ReceptorSpec {
    /// An exponential current receptor.
    pub fn current_exp(name: &str, tau_ms: f64) -> Self {
        ReceptorSpec {
            name: name.into(),
            kind: ReceptorKind::Current,
            kinetics: Kinetics::Exponential,
            tau_ms: Some(tau_ms),
            e_rev_mv: None,
        }
    }
    /// An exponential conductance receptor.
    pub fn conductance_exp(name: &str, tau_ms: f64, e_rev_mv: f64) -> Self {
        ReceptorSpec {
            name: name.into(),
            kind: ReceptorKind::Conductance,
            kinetics: Kinetics::Exponential,
            tau_ms: Some(tau_ms),
            e_rev_mv: Some(e_rev_mv),
        }
    }
    /// A delta (voltage-jump) receptor.
    pub fn delta(name: &str) -> Self {
        ReceptorSpec {
            name: name.into(),
            kind: ReceptorKind::Delta,
            kinetics: Kinetics::Exponential,
            tau_ms: None,
            e_rev_mv: None,
        }
    }

    /// Checks the parameters; `field` prefixes messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        if self.name.is_empty() {
            return Err(Error::field(format!("{field}.name"), "must not be empty"));
        }
        match self.kind {
            ReceptorKind::Delta => {
                if self.tau_ms.is_some() || self.e_rev_mv.is_some() {
                    return Err(Error::field(
                        field,
                        "a delta receptor takes no tau_ms or e_rev_mv",
                    ));
                }
            }
            ReceptorKind::Current | ReceptorKind::Conductance => {
                let tau = self.tau_ms.ok_or_else(|| {
                    Error::field(
                        format!("{field}.tau_ms"),
                        "is required (decay time constant in ms, > 0)",
                    )
                })?;
                check_positive(&format!("{field}.tau_ms"), tau)?;
                if self.kind == ReceptorKind::Conductance {
                    let e = self.e_rev_mv.ok_or_else(|| {
                        Error::field(
                            format!("{field}.e_rev_mv"),
                            "is required for a conductance receptor (reversal potential in mV)",
                        )
                    })?;
                    check_finite(&format!("{field}.e_rev_mv"), e)?;
                } else if self.e_rev_mv.is_some() {
                    return Err(Error::field(
                        format!("{field}.e_rev_mv"),
                        "only conductance receptors have a reversal potential",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Per-step input buffers of a population chunk, filled by the receptors.
#[derive(Clone, Debug, Default)]
pub struct DriveBuffers {
    /// Summed current-type input.
    pub current: Vec<f32>,
    /// Σ g over conductance receptors.
    pub g_sum: Vec<f32>,
    /// Σ g·E over conductance receptors.
    pub g_rev: Vec<f32>,
    /// Σ of delta-receptor jumps.
    pub jump: Vec<f32>,
    /// Whether any receptor is conductance-based.
    pub has_conductance: bool,
    /// Whether any receptor is a delta receptor.
    pub has_jump: bool,
}

impl DriveBuffers {
    /// Buffers for `n` neurons.
    pub fn new(n: usize, has_conductance: bool, has_jump: bool) -> Self {
        DriveBuffers {
            current: vec![0.0; n],
            g_sum: if has_conductance {
                vec![0.0; n]
            } else {
                Vec::new()
            },
            g_rev: if has_conductance {
                vec![0.0; n]
            } else {
                Vec::new()
            },
            jump: if has_jump { vec![0.0; n] } else { Vec::new() },
            has_conductance,
            has_jump,
        }
    }
    /// Zeroes every buffer.
    pub fn clear(&mut self) {
        self.current.fill(0.0);
        self.g_sum.fill(0.0);
        self.g_rev.fill(0.0);
        self.jump.fill(0.0);
    }
}

/// A prepared receptor: constants for the chosen time step.
#[derive(Clone, Debug)]
pub struct Receptor {
    /// The description it came from.
    pub spec: ReceptorSpec,
    decay: f32,
    scale: f32,
    e_rev: f32,
}

impl Receptor {
    /// Prepares `spec` for time step `dt_ms`. `exact_tau_m_ms` is the membrane time
    /// constant of a neuron model that integrates exactly (see module docs);
    /// `forward_euler` makes the state decay by `1 − dt/τ` per step (clamped at 0)
    /// instead of `e^{−dt/τ}`, matching a forward-Euler neuron.
    pub fn prepare(
        spec: &ReceptorSpec,
        dt_ms: f64,
        exact_tau_m_ms: Option<f64>,
        forward_euler: bool,
    ) -> Self {
        let tau = spec.tau_ms.unwrap_or(1.0);
        let decay = if forward_euler {
            (1.0 - dt_ms / tau).max(0.0)
        } else {
            (-dt_ms / tau).exp()
        };
        let scale = match (spec.kind, exact_tau_m_ms) {
            (ReceptorKind::Current, Some(tau_m)) => exact_current_scale(dt_ms, tau, tau_m),
            _ => 1.0,
        };
        Receptor {
            spec: spec.clone(),
            decay: decay as f32,
            scale: scale as f32,
            e_rev: spec.e_rev_mv.unwrap_or(0.0) as f32,
        }
    }

    /// Number of state variables per neuron.
    pub fn state_len(&self) -> usize {
        match self.spec.kind {
            ReceptorKind::Delta => 0,
            _ => 1,
        }
    }

    /// Adds this step's `arrivals` (then zeroes them), adds the output to `drive`, and
    /// advances the state by one step.
    #[inline(never)]
    pub fn step(&self, state: &mut [f32], arrivals: &mut [f32], drive: &mut DriveBuffers) {
        let n = arrivals.len();
        match self.spec.kind {
            ReceptorKind::Delta => {
                let jump = &mut drive.jump[..n];
                for i in 0..n {
                    jump[i] += arrivals[i];
                    arrivals[i] = 0.0;
                }
            }
            ReceptorKind::Current => {
                let s = &mut state[..n];
                let cur = &mut drive.current[..n];
                let (decay, scale) = (self.decay, self.scale);
                for i in 0..n {
                    let x = s[i] + arrivals[i];
                    arrivals[i] = 0.0;
                    cur[i] += x * scale;
                    s[i] = x * decay;
                }
            }
            ReceptorKind::Conductance => {
                let s = &mut state[..n];
                let gs = &mut drive.g_sum[..n];
                let ge = &mut drive.g_rev[..n];
                let (decay, e) = (self.decay, self.e_rev);
                for i in 0..n {
                    let g = s[i] + arrivals[i];
                    arrivals[i] = 0.0;
                    gs[i] += g;
                    ge[i] += g * e;
                    s[i] = g * decay;
                }
            }
        }
    }
}

/// Factor that turns the start-of-step value x0 of an exponential current (time
/// constant `tau_s`) into the constant input giving the exact membrane integral over
/// one step of a leaky integrator with time constant `tau_m`:
/// `(1/tau_m) ∫₀^dt e^{-(dt−s)/tau_m} e^{-s/tau_s} ds / (1 − e^{-dt/tau_m})`.
pub fn exact_current_scale(dt_ms: f64, tau_s: f64, tau_m: f64) -> f64 {
    let am = (-dt_ms / tau_m).exp();
    let a_s = (-dt_ms / tau_s).exp();
    let integral = if (tau_s - tau_m).abs() < 1e-9 * tau_m {
        dt_ms / tau_m * am
    } else {
        tau_s / (tau_s - tau_m) * (a_s - am)
    };
    integral / (1.0 - am)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_scale_matches_numeric_integral() {
        let (dt, ts, tm) = (0.5, 5.0, 20.0);
        let k = 100_000;
        let h = dt / k as f64;
        let integral: f64 = (0..k)
            .map(|j| {
                let s = (j as f64 + 0.5) * h;
                (-(dt - s) / tm).exp() * (-s / ts).exp() * h / tm
            })
            .sum();
        let want = integral / (1.0 - (-dt / tm).exp());
        assert!((exact_current_scale(dt, ts, tm) - want).abs() < 1e-9);
        // Equal time constants use the limit.
        let a = exact_current_scale(dt, 10.0, 10.0);
        let b = exact_current_scale(dt, 10.0 + 1e-6, 10.0);
        assert!((a - b).abs() < 1e-6);
    }

    #[test]
    fn validation_requires_tau_and_reversal() {
        let mut r = ReceptorSpec::conductance_exp("e", 5.0, 0.0);
        assert!(r.validate("p.receptor[e]").is_ok());
        r.e_rev_mv = None;
        let e = r.validate("p.receptor[e]").unwrap_err().to_string();
        assert!(e.contains("e_rev_mv"), "{e}");
        let mut c = ReceptorSpec::current_exp("i", -1.0);
        assert!(c.validate("x").unwrap_err().to_string().contains("tau_ms"));
        c.tau_ms = None;
        assert!(c.validate("x").is_err());
    }

    #[test]
    fn conductance_receptor_decays_exponentially() {
        let spec = ReceptorSpec::conductance_exp("e", 5.0, 0.0);
        let r = Receptor::prepare(&spec, 0.1, None, false);
        let mut s = vec![0.0f32; 1];
        let mut d = DriveBuffers::new(1, true, false);
        let mut arr = vec![1.0f32];
        r.step(&mut s, &mut arr, &mut d);
        assert_eq!(d.g_sum[0], 1.0);
        assert_eq!(arr[0], 0.0);
        for k in 1..50 {
            d.clear();
            r.step(&mut s, &mut arr, &mut d);
            let want = (-(k as f64) * 0.1 / 5.0).exp();
            assert!((d.g_sum[0] as f64 - want).abs() < 1e-5);
        }
    }
}
