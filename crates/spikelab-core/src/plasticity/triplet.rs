//! Triplet STDP (Pfister & Gerstner 2006); pair STDP ([`super::stdp`]) is this rule
//! with `a3_plus = a3_minus = 0`.
//!
//! ```text
//! r1, r2: presynaptic traces (tau_plus_ms, tau_x_ms), bumped when a spike arrives
//! o1, o2: postsynaptic traces (tau_minus_ms, tau_y_ms), bumped when the neuron fires
//! on arrival:    Δw = −o1 · (a2_minus + a3_minus · r2⁻) · D−(w);  then bump r1, r2
//! on post spike: Δw = +r1 · (a2_plus + a3_plus · o2⁻) · D+(w);    then bump o1, o2
//! (x⁻: value just before this spike's own bump)
//! D±(w) = 1 (weight_dependence = "additive"),
//! D+(w) = (w_max − w)/(w_max − w_min), D−(w) = (w − w_min)/(w_max − w_min) ("multiplicative")
//! ```
//!
//! The slow traces r2 and o2 are kept only when their triplet term is non-zero.

use super::traces::DecayTable;
use super::{
    default_tau_ms, default_w_max, validate_bounds, Pairing, PostEvent, PreEvent, Rule, RuleEvents,
    RuleSpec, WeightDependence,
};
use crate::error::{check_non_negative, check_positive, Result};
use serde::{Deserialize, Serialize};

/// Triplet STDP parameters (`rule = "triplet"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triplet {
    /// Pair potentiation amplitude.
    pub a2_plus: f64,
    /// Triplet potentiation amplitude (post-pre-post).
    pub a3_plus: f64,
    /// Pair depression amplitude.
    pub a2_minus: f64,
    /// Triplet depression amplitude (pre-post-pre).
    pub a3_minus: f64,
    /// Fast presynaptic trace r1 (ms).
    #[serde(default = "default_tau_ms")]
    pub tau_plus_ms: f64,
    /// Slow presynaptic trace r2 (ms).
    #[serde(default = "default_tau_ms")]
    pub tau_x_ms: f64,
    /// Fast postsynaptic trace o1 (ms).
    #[serde(default = "default_tau_ms")]
    pub tau_minus_ms: f64,
    /// Slow postsynaptic trace o2 (ms).
    #[serde(default = "default_tau_ms")]
    pub tau_y_ms: f64,
    /// Lower weight bound.
    #[serde(default)]
    pub w_min: f64,
    /// Upper weight bound.
    #[serde(default = "default_w_max")]
    pub w_max: f64,
    /// Additive or multiplicative.
    #[serde(default)]
    pub weight_dependence: WeightDependence,
    /// All-to-all or nearest-spike traces.
    #[serde(default)]
    pub pairing: Pairing,
}

impl RuleSpec for Triplet {
    fn bounds(&self) -> (f64, f64) {
        (self.w_min, self.w_max)
    }

    fn validate(&self, field: &str) -> Result<()> {
        let f = |n: &str| format!("{field}.{n}");
        validate_bounds(field, self.w_min, self.w_max)?;
        for (n, v) in [
            ("a2_plus", self.a2_plus),
            ("a3_plus", self.a3_plus),
            ("a2_minus", self.a2_minus),
            ("a3_minus", self.a3_minus),
        ] {
            check_non_negative(&f(n), v)?;
        }
        for (n, v) in [
            ("tau_plus_ms", self.tau_plus_ms),
            ("tau_x_ms", self.tau_x_ms),
            ("tau_minus_ms", self.tau_minus_ms),
            ("tau_y_ms", self.tau_y_ms),
        ] {
            check_positive(&f(n), v)?;
        }
        Ok(())
    }

    fn prepare(&self, dt_ms: f64) -> Rule {
        let decay = |tau: f64| DecayTable::new(dt_ms, tau);
        Rule::Triplet(TripletRule {
            w_min: self.w_min as f32,
            w_max: self.w_max as f32,
            multiplicative: self.weight_dependence == WeightDependence::Multiplicative,
            nearest: self.pairing == Pairing::Nearest,
            a2_plus: self.a2_plus as f32,
            a3_plus: self.a3_plus as f32,
            a2_minus: self.a2_minus as f32,
            a3_minus: self.a3_minus as f32,
            r1: decay(self.tau_plus_ms),
            r2: (self.a3_minus > 0.0).then(|| decay(self.tau_x_ms)),
            o1: decay(self.tau_minus_ms),
            o2: (self.a3_plus > 0.0).then(|| decay(self.tau_y_ms)),
        })
    }
}

/// Triplet (and pair) STDP prepared for a time step: amplitudes as f32 and trace
/// decay tables.
#[derive(Clone, Debug)]
pub struct TripletRule {
    /// Lower bound.
    pub w_min: f32,
    /// Upper bound.
    pub w_max: f32,
    /// Soft bounds.
    pub multiplicative: bool,
    /// Nearest-spike traces.
    pub nearest: bool,
    /// Pair potentiation.
    pub a2_plus: f32,
    /// Triplet potentiation.
    pub a3_plus: f32,
    /// Pair depression.
    pub a2_minus: f32,
    /// Triplet depression.
    pub a3_minus: f32,
    /// Decay of r1.
    pub r1: DecayTable,
    /// Decay of r2 (only when a triplet depression term exists).
    pub r2: Option<DecayTable>,
    /// Decay of o1.
    pub o1: DecayTable,
    /// Decay of o2 (only when a triplet potentiation term exists).
    pub o2: Option<DecayTable>,
}

impl TripletRule {
    /// Applies a potentiation `dw` (>= 0 before weight dependence) to `w`.
    #[inline]
    pub fn potentiate(&self, w: f32, dw: f32) -> f32 {
        let dw = if self.multiplicative {
            dw * (self.w_max - w) / (self.w_max - self.w_min)
        } else {
            dw
        };
        (w + dw).clamp(self.w_min, self.w_max)
    }

    /// Applies a depression `dw` (>= 0 before weight dependence) to `w`.
    #[inline]
    pub fn depress(&self, w: f32, dw: f32) -> f32 {
        let dw = if self.multiplicative {
            dw * (w - self.w_min) / (self.w_max - self.w_min)
        } else {
            dw
        };
        (w - dw).clamp(self.w_min, self.w_max)
    }
}

impl RuleEvents for TripletRule {
    fn pre_decay(&self) -> &DecayTable {
        &self.r1
    }
    fn post_decay(&self) -> &DecayTable {
        &self.o1
    }
    fn slow_pre_decay(&self) -> Option<&DecayTable> {
        self.r2.as_ref()
    }
    fn slow_post_decay(&self) -> Option<&DecayTable> {
        self.o2.as_ref()
    }
    fn nearest(&self) -> bool {
        self.nearest
    }

    #[inline(always)]
    fn on_arrival(
        &self,
        ev: &PreEvent,
        w: &mut f32,
        _eligibility: &mut [f32],
        _uniform: impl FnOnce() -> f64,
    ) {
        let dw = ev.o1 * (self.a2_minus + self.a3_minus * ev.r2);
        if dw != 0.0 {
            *w = self.depress(*w, dw);
        }
    }

    #[inline(always)]
    fn on_post(
        &self,
        ev: &PostEvent,
        w: &mut f32,
        _eligibility: &mut [f32],
        _uniform: impl FnOnce() -> f64,
    ) {
        let dw = ev.r1 * (self.a2_plus + self.a3_plus * ev.o2);
        if dw != 0.0 {
            *w = self.potentiate(*w, dw);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PlasticitySpec, Stdp};
    use super::*;

    #[test]
    fn bounds_and_weight_dependence() {
        let spec = PlasticitySpec::Stdp(Stdp {
            a_plus: 0.1,
            a_minus: 0.1,
            tau_plus_ms: 20.0,
            tau_minus_ms: 20.0,
            w_min: 0.0,
            w_max: 1.0,
            weight_dependence: WeightDependence::Multiplicative,
            pairing: Pairing::AllToAll,
        });
        let Rule::Triplet(r) = spec.prepare(0.1) else {
            panic!("stdp prepares to the triplet rule")
        };
        assert!((r.potentiate(0.5, 0.1) - 0.55).abs() < 1e-7);
        assert!((r.depress(0.5, 0.1) - 0.45).abs() < 1e-7);
        assert_eq!(r.potentiate(1.0, 0.5), 1.0);
        let mut add = r.clone();
        add.multiplicative = false;
        assert_eq!(add.potentiate(0.95, 0.1), 1.0);
        assert_eq!(add.depress(0.05, 0.1), 0.0);
    }
}
