//! Long-term plasticity rules of a projection: trace-based pair and triplet STDP
//! (Pfister & Gerstner 2006), inhibitory STDP (Vogels et al. 2011), reward-modulated
//! STDP with eligibility traces (Izhikevich 2007) and stochastic binary STDP — plus
//! weight bounds and the normalisation of each neuron's incoming weights (synaptic
//! scaling).
//!
//! All rules are event-driven. A presynaptic spike acts on a synapse when it *arrives*
//! (after the synapse's delay); a postsynaptic spike acts at once on every synapse
//! onto that neuron. Traces are stored per synapse (presynaptic side, so delays are
//! exact) and per neuron (postsynaptic side) and decay exponentially between events:
//!
//! ```text
//! r1, r2: presynaptic traces (tau_plus_ms, tau_x_ms), bumped when a spike arrives
//! o1, o2: postsynaptic traces (tau_minus_ms, tau_y_ms), bumped when the neuron fires
//! bump:   trace ← trace + 1 (pairing = "all_to_all") or trace ← 1 (pairing = "nearest")
//!
//! triplet / stdp (stdp is triplet with a3_plus = a3_minus = 0):
//!   on arrival:   Δw = −o1 · (a2_minus + a3_minus · r2⁻) · D−(w);  then bump r1, r2
//!   on post spike: Δw = +r1 · (a2_plus + a3_plus · o2⁻) · D+(w);   then bump o1, o2
//!   (x⁻: value just before this spike's own bump)
//!   D±(w) = 1 (weight_dependence = "additive"),
//!   D+(w) = (w_max − w)/(w_max − w_min), D−(w) = (w − w_min)/(w_max − w_min) ("multiplicative")
//! vogels (inhibitory, Vogels et al. 2011; traces all-to-all, tau = tau_ms):
//!   on arrival:   Δw = eta · (o1 − 2·rho0·tau);  on post spike: Δw = eta · r1
//! reward_modulated (Izhikevich 2007): the pair-STDP change goes to an eligibility
//!   trace c (tau_c_ms) instead of w; every step w += c · d · dt, where the dopamine
//!   level d decays with tau_d_ms and grows by rewards (from Rust or from the spikes of
//!   a reward population)
//! stochastic_binary: w ∈ {w_min, w_max}; on post spike a low synapse switches up with
//!   probability p_plus · r1; on arrival a high synapse switches down with
//!   probability p_minus · o1 (nearest-spike traces)
//! ```
//!
//! Every weight is clipped to `[w_min, w_max]` after each change (hard bounds); soft
//! bounds come from the multiplicative weight dependence.

use crate::error::{
    check_finite, check_non_negative, check_positive, check_probability, Error, Result,
};
use serde::{Deserialize, Serialize};

/// How trace values respond to a spike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pairing {
    /// Every earlier spike counts: traces are incremented by 1.
    #[default]
    AllToAll,
    /// Only the most recent spike counts: traces are set to 1.
    Nearest,
}

/// How the size of a change depends on the current weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightDependence {
    /// Changes do not depend on w (hard bounds only).
    #[default]
    Additive,
    /// Potentiation scales with the distance to w_max, depression with the distance
    /// to w_min (soft bounds).
    Multiplicative,
}

fn twenty() -> f64 {
    20.0
}
fn one() -> f64 {
    1.0
}

/// A plasticity rule as written in a model file (`[projection.plasticity]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum PlasticitySpec {
    /// Pair-based STDP with exponential windows.
    Stdp {
        /// Potentiation amplitude (post after pre).
        a_plus: f64,
        /// Depression amplitude (pre after post), positive.
        a_minus: f64,
        /// Presynaptic trace time constant (ms).
        #[serde(default = "twenty")]
        tau_plus_ms: f64,
        /// Postsynaptic trace time constant (ms).
        #[serde(default = "twenty")]
        tau_minus_ms: f64,
        /// Lower weight bound.
        #[serde(default)]
        w_min: f64,
        /// Upper weight bound.
        #[serde(default = "one")]
        w_max: f64,
        /// Additive or multiplicative.
        #[serde(default)]
        weight_dependence: WeightDependence,
        /// All-to-all or nearest-spike traces.
        #[serde(default)]
        pairing: Pairing,
    },
    /// Triplet STDP (Pfister & Gerstner 2006).
    Triplet {
        /// Pair potentiation amplitude.
        a2_plus: f64,
        /// Triplet potentiation amplitude (post-pre-post).
        a3_plus: f64,
        /// Pair depression amplitude.
        a2_minus: f64,
        /// Triplet depression amplitude (pre-post-pre).
        a3_minus: f64,
        /// Fast presynaptic trace r1 (ms).
        #[serde(default = "twenty")]
        tau_plus_ms: f64,
        /// Slow presynaptic trace r2 (ms).
        #[serde(default = "twenty")]
        tau_x_ms: f64,
        /// Fast postsynaptic trace o1 (ms).
        #[serde(default = "twenty")]
        tau_minus_ms: f64,
        /// Slow postsynaptic trace o2 (ms).
        #[serde(default = "twenty")]
        tau_y_ms: f64,
        /// Lower weight bound.
        #[serde(default)]
        w_min: f64,
        /// Upper weight bound.
        #[serde(default = "one")]
        w_max: f64,
        /// Additive or multiplicative.
        #[serde(default)]
        weight_dependence: WeightDependence,
        /// All-to-all or nearest-spike traces.
        #[serde(default)]
        pairing: Pairing,
    },
    /// Inhibitory STDP driving the postsynaptic rate to `target_rate_hz`.
    Vogels {
        /// Learning rate.
        eta: f64,
        /// Target postsynaptic rate rho0 (Hz).
        target_rate_hz: f64,
        /// Trace time constant (ms).
        #[serde(default = "twenty")]
        tau_ms: f64,
        /// Lower weight bound.
        #[serde(default)]
        w_min: f64,
        /// Upper weight bound.
        #[serde(default = "one")]
        w_max: f64,
    },
    /// Dopamine-modulated STDP with eligibility traces.
    RewardModulated {
        /// Potentiation amplitude of the eligibility change.
        a_plus: f64,
        /// Depression amplitude of the eligibility change (positive).
        a_minus: f64,
        /// STDP trace time constants (ms).
        #[serde(default = "twenty")]
        tau_plus_ms: f64,
        /// Postsynaptic STDP trace time constant (ms).
        #[serde(default = "twenty")]
        tau_minus_ms: f64,
        /// Eligibility trace time constant (ms).
        #[serde(default = "default_tau_c")]
        tau_c_ms: f64,
        /// Dopamine decay time constant (ms).
        #[serde(default = "default_tau_d")]
        tau_d_ms: f64,
        /// Population whose spikes are rewards (optional).
        #[serde(default)]
        reward_population: Option<String>,
        /// Dopamine added per reward-population spike.
        #[serde(default)]
        reward_per_spike: f64,
        /// Tonic dopamine level added to d (Izhikevich 2007 uses 0.01 µM).
        #[serde(default)]
        tonic_dopamine: f64,
        /// Lower weight bound.
        #[serde(default)]
        w_min: f64,
        /// Upper weight bound.
        #[serde(default = "one")]
        w_max: f64,
    },
    /// Binary synapses switching stochastically by spike timing.
    StochasticBinary {
        /// Maximum probability of switching up (post after pre).
        p_plus: f64,
        /// Maximum probability of switching down (pre after post).
        p_minus: f64,
        /// Presynaptic window (ms).
        #[serde(default = "twenty")]
        tau_plus_ms: f64,
        /// Postsynaptic window (ms).
        #[serde(default = "twenty")]
        tau_minus_ms: f64,
        /// Low weight.
        #[serde(default)]
        w_min: f64,
        /// High weight.
        #[serde(default = "one")]
        w_max: f64,
    },
}

fn default_tau_c() -> f64 {
    1000.0
}
fn default_tau_d() -> f64 {
    200.0
}

/// Normalisation of each target neuron's incoming weights (`[projection.normalization]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalizationSpec {
    /// Sum each neuron's incoming weights are scaled to.
    pub total: f64,
    /// Interval (ms) between normalisations; at the start of the run when absent.
    #[serde(default)]
    pub every_ms: Option<f64>,
}

impl PlasticitySpec {
    /// Rule names accepted in model files.
    pub const NAMES: &'static str = "stdp, triplet, vogels, reward_modulated, stochastic_binary";

    /// Weight bounds `(w_min, w_max)`.
    pub fn bounds(&self) -> (f64, f64) {
        match *self {
            PlasticitySpec::Stdp { w_min, w_max, .. }
            | PlasticitySpec::Triplet { w_min, w_max, .. }
            | PlasticitySpec::Vogels { w_min, w_max, .. }
            | PlasticitySpec::RewardModulated { w_min, w_max, .. }
            | PlasticitySpec::StochasticBinary { w_min, w_max, .. } => (w_min, w_max),
        }
    }

    /// Checks every parameter; `field` prefixes messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        let f = |n: &str| format!("{field}.{n}");
        let (w_min, w_max) = self.bounds();
        check_finite(&f("w_min"), w_min)?;
        check_finite(&f("w_max"), w_max)?;
        if w_min >= w_max {
            return Err(Error::field(
                f("w_max"),
                format!("must exceed w_min ({w_max} <= {w_min})"),
            ));
        }
        match self {
            PlasticitySpec::Stdp {
                a_plus,
                a_minus,
                tau_plus_ms,
                tau_minus_ms,
                ..
            } => {
                check_non_negative(&f("a_plus"), *a_plus)?;
                check_non_negative(&f("a_minus"), *a_minus)?;
                check_positive(&f("tau_plus_ms"), *tau_plus_ms)?;
                check_positive(&f("tau_minus_ms"), *tau_minus_ms)?;
            }
            PlasticitySpec::Triplet {
                a2_plus,
                a3_plus,
                a2_minus,
                a3_minus,
                tau_plus_ms,
                tau_x_ms,
                tau_minus_ms,
                tau_y_ms,
                ..
            } => {
                for (n, v) in [
                    ("a2_plus", a2_plus),
                    ("a3_plus", a3_plus),
                    ("a2_minus", a2_minus),
                    ("a3_minus", a3_minus),
                ] {
                    check_non_negative(&f(n), *v)?;
                }
                for (n, v) in [
                    ("tau_plus_ms", tau_plus_ms),
                    ("tau_x_ms", tau_x_ms),
                    ("tau_minus_ms", tau_minus_ms),
                    ("tau_y_ms", tau_y_ms),
                ] {
                    check_positive(&f(n), *v)?;
                }
            }
            PlasticitySpec::Vogels {
                eta,
                target_rate_hz,
                tau_ms,
                ..
            } => {
                check_non_negative(&f("eta"), *eta)?;
                check_non_negative(&f("target_rate_hz"), *target_rate_hz)?;
                check_positive(&f("tau_ms"), *tau_ms)?;
            }
            PlasticitySpec::RewardModulated {
                a_plus,
                a_minus,
                tau_plus_ms,
                tau_minus_ms,
                tau_c_ms,
                tau_d_ms,
                reward_per_spike,
                tonic_dopamine,
                ..
            } => {
                check_non_negative(&f("a_plus"), *a_plus)?;
                check_non_negative(&f("a_minus"), *a_minus)?;
                for (n, v) in [
                    ("tau_plus_ms", tau_plus_ms),
                    ("tau_minus_ms", tau_minus_ms),
                    ("tau_c_ms", tau_c_ms),
                    ("tau_d_ms", tau_d_ms),
                ] {
                    check_positive(&f(n), *v)?;
                }
                check_finite(&f("reward_per_spike"), *reward_per_spike)?;
                check_non_negative(&f("tonic_dopamine"), *tonic_dopamine)?;
            }
            PlasticitySpec::StochasticBinary {
                p_plus,
                p_minus,
                tau_plus_ms,
                tau_minus_ms,
                ..
            } => {
                check_probability(&f("p_plus"), *p_plus)?;
                check_probability(&f("p_minus"), *p_minus)?;
                check_positive(&f("tau_plus_ms"), *tau_plus_ms)?;
                check_positive(&f("tau_minus_ms"), *tau_minus_ms)?;
            }
        }
        Ok(())
    }

    /// The rule with its constants for time step `dt_ms`.
    pub fn prepare(&self, dt_ms: f64) -> Rule {
        let (w_min, w_max) = self.bounds();
        let decay = |tau: f64| DecayTable::new(dt_ms, tau);
        let mut r = Rule {
            kind: RuleKind::Triplet,
            w_min: w_min as f32,
            w_max: w_max as f32,
            multiplicative: false,
            nearest: false,
            a2_plus: 0.0,
            a3_plus: 0.0,
            a2_minus: 0.0,
            a3_minus: 0.0,
            offset: 0.0,
            r1: decay(20.0),
            r2: None,
            o1: decay(20.0),
            o2: None,
            c_decay: 1.0,
            d_decay: 1.0,
            tonic: 0.0,
            dt_ms: dt_ms as f32,
        };
        match *self {
            PlasticitySpec::Stdp {
                a_plus,
                a_minus,
                tau_plus_ms,
                tau_minus_ms,
                weight_dependence,
                pairing,
                ..
            } => {
                r.a2_plus = a_plus as f32;
                r.a2_minus = a_minus as f32;
                r.r1 = decay(tau_plus_ms);
                r.o1 = decay(tau_minus_ms);
                r.multiplicative = weight_dependence == WeightDependence::Multiplicative;
                r.nearest = pairing == Pairing::Nearest;
            }
            PlasticitySpec::Triplet {
                a2_plus,
                a3_plus,
                a2_minus,
                a3_minus,
                tau_plus_ms,
                tau_x_ms,
                tau_minus_ms,
                tau_y_ms,
                weight_dependence,
                pairing,
                ..
            } => {
                r.a2_plus = a2_plus as f32;
                r.a3_plus = a3_plus as f32;
                r.a2_minus = a2_minus as f32;
                r.a3_minus = a3_minus as f32;
                r.r1 = decay(tau_plus_ms);
                r.o1 = decay(tau_minus_ms);
                r.r2 = (a3_minus > 0.0).then(|| decay(tau_x_ms));
                r.o2 = (a3_plus > 0.0).then(|| decay(tau_y_ms));
                r.multiplicative = weight_dependence == WeightDependence::Multiplicative;
                r.nearest = pairing == Pairing::Nearest;
            }
            PlasticitySpec::Vogels {
                eta,
                target_rate_hz,
                tau_ms,
                ..
            } => {
                r.kind = RuleKind::Vogels;
                r.a2_plus = eta as f32;
                r.a2_minus = eta as f32;
                r.offset = (2.0 * target_rate_hz * tau_ms * 1e-3) as f32;
                r.r1 = decay(tau_ms);
                r.o1 = decay(tau_ms);
            }
            PlasticitySpec::RewardModulated {
                a_plus,
                a_minus,
                tau_plus_ms,
                tau_minus_ms,
                tau_c_ms,
                tau_d_ms,
                tonic_dopamine,
                ..
            } => {
                r.kind = RuleKind::RewardModulated;
                r.a2_plus = a_plus as f32;
                r.a2_minus = a_minus as f32;
                r.r1 = decay(tau_plus_ms);
                r.o1 = decay(tau_minus_ms);
                r.c_decay = (-dt_ms / tau_c_ms).exp() as f32;
                r.d_decay = (-dt_ms / tau_d_ms).exp() as f32;
                r.tonic = tonic_dopamine as f32;
            }
            PlasticitySpec::StochasticBinary {
                p_plus,
                p_minus,
                tau_plus_ms,
                tau_minus_ms,
                ..
            } => {
                r.kind = RuleKind::StochasticBinary;
                r.a2_plus = p_plus as f32;
                r.a2_minus = p_minus as f32;
                r.r1 = decay(tau_plus_ms);
                r.o1 = decay(tau_minus_ms);
                r.nearest = true;
            }
        }
        r
    }

    /// The population whose spikes deliver rewards, if any.
    pub fn reward_population(&self) -> Option<&str> {
        match self {
            PlasticitySpec::RewardModulated {
                reward_population, ..
            } => reward_population.as_deref(),
            _ => None,
        }
    }

    /// Dopamine per reward-population spike.
    pub fn reward_per_spike(&self) -> f64 {
        match self {
            PlasticitySpec::RewardModulated {
                reward_per_spike, ..
            } => *reward_per_spike,
            _ => 0.0,
        }
    }
}

/// `exp(−k·dt/τ)` for k steps, tabulated until the factor underflows f32 (so a
/// lookup replaces an `exp` on every event), computed beyond the table's cap.
#[derive(Clone, Debug)]
pub struct DecayTable {
    table: Vec<f32>,
    per_step: f64,
    /// Steps after which the factor is 0 in f32.
    zero_after: u64,
}

impl DecayTable {
    const MAX_LEN: usize = 1 << 16;
    /// exp(−104) is below the smallest f32.
    const ZERO_EXPONENT: f64 = 104.0;

    /// The table for time step `dt_ms` and time constant `tau_ms`.
    pub fn new(dt_ms: f64, tau_ms: f64) -> Self {
        let per_step = dt_ms / tau_ms;
        let zero_after = (Self::ZERO_EXPONENT / per_step).ceil() as u64;
        let len = (zero_after as usize + 1).min(Self::MAX_LEN);
        DecayTable {
            table: (0..len)
                .map(|k| (-(k as f64) * per_step).exp() as f32)
                .collect(),
            per_step,
            zero_after,
        }
    }

    /// The factor for `k` steps.
    #[inline]
    pub fn get(&self, k: u64) -> f32 {
        match self.table.get(k as usize) {
            Some(&x) => x,
            None if k >= self.zero_after => 0.0,
            None => (-(k as f64) * self.per_step).exp() as f32,
        }
    }
}

/// Which update equations a prepared [`Rule`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// Pair / triplet STDP.
    Triplet,
    /// Vogels inhibitory STDP.
    Vogels,
    /// Eligibility traces gated by dopamine.
    RewardModulated,
    /// Stochastic binary switching.
    StochasticBinary,
}

/// A rule prepared for a time step: amplitudes as f32 and trace decay tables.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Equations.
    pub kind: RuleKind,
    /// Lower bound.
    pub w_min: f32,
    /// Upper bound.
    pub w_max: f32,
    /// Soft bounds.
    pub multiplicative: bool,
    /// Nearest-spike traces.
    pub nearest: bool,
    /// Pair potentiation (or eta, or p_plus).
    pub a2_plus: f32,
    /// Triplet potentiation.
    pub a3_plus: f32,
    /// Pair depression (or eta, or p_minus).
    pub a2_minus: f32,
    /// Triplet depression.
    pub a3_minus: f32,
    /// Vogels offset 2·rho0·tau.
    pub offset: f32,
    /// Decay of r1.
    pub r1: DecayTable,
    /// Decay of r2 (only when a triplet depression term exists).
    pub r2: Option<DecayTable>,
    /// Decay of o1.
    pub o1: DecayTable,
    /// Decay of o2 (only when a triplet potentiation term exists).
    pub o2: Option<DecayTable>,
    /// Per-step decay of eligibility.
    pub c_decay: f32,
    /// Per-step decay of dopamine.
    pub d_decay: f32,
    /// Tonic dopamine.
    pub tonic: f32,
    /// Time step (ms).
    pub dt_ms: f32,
}

impl Rule {
    /// A trace after a spike: `x + 1` (all-to-all) or `1` (nearest).
    #[inline]
    pub fn bump(&self, decayed: f32) -> f32 {
        if self.nearest {
            1.0
        } else {
            decayed + 1.0
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_validate_with_field_names() {
        #[derive(Deserialize)]
        struct H {
            plasticity: PlasticitySpec,
        }
        let h: H =
            toml::from_str("plasticity = { rule = \"stdp\", a_plus = 0.01, a_minus = 0.012 }")
                .unwrap();
        assert!(h.plasticity.validate("p").is_ok());
        assert_eq!(h.plasticity.bounds(), (0.0, 1.0));
        let bad: H = toml::from_str(
            "plasticity = { rule = \"stdp\", a_plus = 0.01, a_minus = 0.012, tau_plus_ms = -1 }",
        )
        .unwrap();
        assert!(bad
            .plasticity
            .validate("projection[x].plasticity")
            .unwrap_err()
            .to_string()
            .contains("projection[x].plasticity.tau_plus_ms"));
        assert!(toml::from_str::<H>("plasticity = { rule = \"bcm\" }").is_err());
        assert!(toml::from_str::<H>(
            "plasticity = { rule = \"stdp\", a_plus = 0.01, a_minus = 0.01, bogus = 1 }"
        )
        .is_err());
        let inv: H = toml::from_str("plasticity = { rule = \"vogels\", eta = 0.01, target_rate_hz = 5, w_min = 2, w_max = 1 }").unwrap();
        assert!(inv
            .plasticity
            .validate("p")
            .unwrap_err()
            .to_string()
            .contains("p.w_max"));
    }

    #[test]
    fn decay_table_matches_exp() {
        let d = DecayTable::new(0.5, 20.0);
        for k in [0u64, 1, 10, 1023, 1024, 5000, 1_000_000] {
            let want = (-(k as f64) * 0.5 / 20.0).exp() as f32;
            assert!((d.get(k) - want).abs() < 1e-7, "{k}");
        }
    }

    #[test]
    fn bounds_and_weight_dependence() {
        let spec = PlasticitySpec::Stdp {
            a_plus: 0.1,
            a_minus: 0.1,
            tau_plus_ms: 20.0,
            tau_minus_ms: 20.0,
            w_min: 0.0,
            w_max: 1.0,
            weight_dependence: WeightDependence::Multiplicative,
            pairing: Pairing::AllToAll,
        };
        let r = spec.prepare(0.1);
        assert!((r.potentiate(0.5, 0.1) - 0.55).abs() < 1e-7);
        assert!((r.depress(0.5, 0.1) - 0.45).abs() < 1e-7);
        assert_eq!(r.potentiate(1.0, 0.5), 1.0);
        let mut add = r.clone();
        add.multiplicative = false;
        assert_eq!(add.potentiate(0.95, 0.1), 1.0);
        assert_eq!(add.depress(0.05, 0.1), 0.0);
    }
}
