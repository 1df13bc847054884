//! Long-term plasticity rules of a projection: trace-based pair and triplet STDP
//! (Pfister & Gerstner 2006), inhibitory STDP (Vogels et al. 2011), reward-modulated
//! STDP with eligibility traces (Izhikevich 2007) and stochastic binary STDP — plus
//! weight bounds and the normalisation of each neuron's incoming weights (synaptic
//! scaling).
//!
//! Each rule is one file owning its parameters (a serde struct with validation), its
//! prepared form (constants for one time step) and what happens on a presynaptic
//! arrival and a postsynaptic spike ([`RuleEvents`]). This module keeps what they
//! share: the model-file enum [`PlasticitySpec`] and the prepared-rule enum [`Rule`]
//! (the registry), the [`RuleSpec`] / [`RuleEvents`] traits and the trace arithmetic
//! ([`traces`]). The engine (`engine/plastic.rs`) stores the traces, queues arrivals
//! and calls the rule once per event batch through a `match` on [`Rule`], so the
//! per-synapse loop is monomorphised per rule.
//!
//! All rules are event-driven. A presynaptic spike acts on a synapse when it *arrives*
//! (after the synapse's delay); a postsynaptic spike acts at once on every synapse
//! onto that neuron. Traces are stored per synapse (presynaptic side, so delays are
//! exact) and per neuron (postsynaptic side) and decay exponentially between events:
//!
//! ```text
//! r1, r2: presynaptic traces, bumped when a spike arrives
//! o1, o2: postsynaptic traces, bumped when the neuron fires
//! bump:   trace ← trace + 1 (pairing = "all_to_all") or trace ← 1 (pairing = "nearest")
//! ```
//!
//! Every weight is clipped to `[w_min, w_max]` after each change (hard bounds); soft
//! bounds come from the multiplicative weight dependence.
//!
//! To add a rule: write `plasticity/<rule>.rs` with its parameter struct (implementing
//! [`RuleSpec`]) and, if its equations are new, its prepared form (implementing
//! [`RuleEvents`]); then add its variant to [`PlasticitySpec`] (and its arm in
//! [`PlasticitySpec::rule_spec`]) and, for new equations, to [`Rule`] (and its arm in
//! `with_rule!`).

pub mod reward_modulated;
pub mod stdp;
pub mod stochastic_binary;
pub mod traces;
pub mod triplet;
pub mod vogels;

pub use reward_modulated::{RewardModulated, RewardModulatedRule};
pub use stdp::Stdp;
pub use stochastic_binary::{StochasticBinary, StochasticBinaryRule};
pub use traces::DecayTable;
pub use triplet::{Triplet, TripletRule};
pub use vogels::{Vogels, VogelsRule};

use crate::error::{check_finite, Error, Result};
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

/// A plasticity rule as written in a model file (`[projection.plasticity]`, tagged by
/// `rule`). This enum is the registry of rules: one variant per rule file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum PlasticitySpec {
    /// Pair-based STDP with exponential windows ([`Stdp`]).
    Stdp(Stdp),
    /// Triplet STDP, Pfister & Gerstner 2006 ([`Triplet`]).
    Triplet(Triplet),
    /// Inhibitory STDP driving the postsynaptic rate to a target ([`Vogels`]).
    Vogels(Vogels),
    /// Dopamine-modulated STDP with eligibility traces ([`RewardModulated`]).
    RewardModulated(RewardModulated),
    /// Binary synapses switching stochastically by spike timing ([`StochasticBinary`]).
    StochasticBinary(StochasticBinary),
}

/// What every rule's parameter struct provides: bounds, validation and preparation.
pub trait RuleSpec {
    /// Weight bounds `(w_min, w_max)`.
    fn bounds(&self) -> (f64, f64);
    /// Checks every parameter (the bounds first, with [`validate_bounds`]); `field`
    /// prefixes messages.
    fn validate(&self, field: &str) -> Result<()>;
    /// The rule with its constants for time step `dt_ms`.
    fn prepare(&self, dt_ms: f64) -> Rule;
    /// The population whose spikes deliver rewards, if any.
    fn reward_population(&self) -> Option<&str> {
        None
    }
    /// Dopamine per reward-population spike.
    fn reward_per_spike(&self) -> f64 {
        0.0
    }
}

/// Checks that `w_min < w_max` are finite; `field` is the rule's field path.
pub fn validate_bounds(field: &str, w_min: f64, w_max: f64) -> Result<()> {
    check_finite(&format!("{field}.w_min"), w_min)?;
    check_finite(&format!("{field}.w_max"), w_max)?;
    if w_min >= w_max {
        return Err(Error::field(
            format!("{field}.w_max"),
            format!("must exceed w_min ({w_max} <= {w_min})"),
        ));
    }
    Ok(())
}

pub(crate) fn default_tau_ms() -> f64 {
    20.0
}
pub(crate) fn default_w_max() -> f64 {
    1.0
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

    /// The rule's parameters behind the shared interface.
    pub fn rule_spec(&self) -> &dyn RuleSpec {
        match self {
            PlasticitySpec::Stdp(r) => r,
            PlasticitySpec::Triplet(r) => r,
            PlasticitySpec::Vogels(r) => r,
            PlasticitySpec::RewardModulated(r) => r,
            PlasticitySpec::StochasticBinary(r) => r,
        }
    }

    /// Weight bounds `(w_min, w_max)`.
    pub fn bounds(&self) -> (f64, f64) {
        self.rule_spec().bounds()
    }

    /// Checks every parameter; `field` prefixes messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        self.rule_spec().validate(field)
    }

    /// The rule with its constants for time step `dt_ms`.
    pub fn prepare(&self, dt_ms: f64) -> Rule {
        self.rule_spec().prepare(dt_ms)
    }

    /// The population whose spikes deliver rewards, if any.
    pub fn reward_population(&self) -> Option<&str> {
        self.rule_spec().reward_population()
    }

    /// Dopamine per reward-population spike.
    pub fn reward_per_spike(&self) -> f64 {
        self.rule_spec().reward_per_spike()
    }
}

/// A rule prepared for a time step, one variant per set of equations (pair STDP
/// prepares to [`Rule::Triplet`]).
#[derive(Clone, Debug)]
pub enum Rule {
    /// Pair / triplet STDP.
    Triplet(TripletRule),
    /// Vogels inhibitory STDP.
    Vogels(VogelsRule),
    /// Eligibility traces gated by dopamine.
    RewardModulated(RewardModulatedRule),
    /// Stochastic binary switching.
    StochasticBinary(StochasticBinaryRule),
}

/// Runs `$body` with `$r` bound to the prepared rule inside `$rule` (a [`Rule`]), so
/// generic code over [`RuleEvents`] is monomorphised per rule and dispatched by one
/// `match` per call.
macro_rules! with_rule {
    ($rule:expr, $r:ident => $body:expr) => {
        match $rule {
            $crate::plasticity::Rule::Triplet($r) => $body,
            $crate::plasticity::Rule::Vogels($r) => $body,
            $crate::plasticity::Rule::RewardModulated($r) => $body,
            $crate::plasticity::Rule::StochasticBinary($r) => $body,
        }
    };
}
pub(crate) use with_rule;

/// A presynaptic spike reaching synapse `synapse`, with the traces the rule may read
/// (decayed to now, before this spike's own bump).
#[derive(Clone, Copy, Debug)]
pub struct PreEvent {
    /// Index of the synapse in its table.
    pub synapse: usize,
    /// Postsynaptic trace o1 of the target.
    pub o1: f32,
    /// Slow presynaptic trace r2 of the synapse (0 when the rule keeps none).
    pub r2: f32,
}

/// A postsynaptic spike seen by synapse `synapse`, with the traces the rule may read
/// (decayed to now, before this spike's own bump).
#[derive(Clone, Copy, Debug)]
pub struct PostEvent {
    /// Index of the synapse in its table.
    pub synapse: usize,
    /// Presynaptic trace r1 of the synapse.
    pub r1: f32,
    /// Slow postsynaptic trace o2 of the target (0 when the rule keeps none).
    pub o2: f32,
}

/// What a prepared rule does on events. The engine keeps the traces: it decays them
/// with the tables given here, calls [`RuleEvents::on_arrival`] /
/// [`RuleEvents::on_post`] for every synapse concerned, then bumps them. `uniform`
/// draws a number in [0, 1) keyed by (seed, projection, source, target, step); call
/// it at most once, and only when needed.
pub trait RuleEvents {
    /// Decay of the presynaptic trace r1.
    fn pre_decay(&self) -> &DecayTable;
    /// Decay of the postsynaptic trace o1.
    fn post_decay(&self) -> &DecayTable;
    /// Decay of the slow presynaptic trace r2, when the rule keeps one.
    fn slow_pre_decay(&self) -> Option<&DecayTable> {
        None
    }
    /// Decay of the slow postsynaptic trace o2, when the rule keeps one.
    fn slow_post_decay(&self) -> Option<&DecayTable> {
        None
    }
    /// Nearest-spike traces (set to 1 on a spike) instead of all-to-all (+1).
    fn nearest(&self) -> bool;
    /// Whether the rule needs one eligibility value per synapse.
    fn uses_eligibility(&self) -> bool {
        false
    }
    /// A presynaptic spike arrives at `ev.synapse`, whose weight is `w`.
    fn on_arrival(
        &self,
        ev: &PreEvent,
        w: &mut f32,
        eligibility: &mut [f32],
        uniform: impl FnOnce() -> f64,
    );
    /// The target of `ev.synapse`, whose weight is `w`, fired.
    fn on_post(
        &self,
        ev: &PostEvent,
        w: &mut f32,
        eligibility: &mut [f32],
        uniform: impl FnOnce() -> f64,
    );
    /// Once per step after arrivals, with the rewards of the step (a modulator's
    /// dynamics); nothing by default.
    fn on_step(
        &self,
        _weights: &mut [f32],
        _eligibility: &mut [f32],
        _dopamine: &mut f32,
        _rewards: f32,
        _enabled: bool,
    ) {
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
}
