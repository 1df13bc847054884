//! Dopamine-modulated STDP with eligibility traces (Izhikevich 2007): the pair-STDP
//! change goes to an eligibility trace c (tau_c_ms) instead of the weight; every step
//! the weight follows the eligibility gated by the dopamine level d, which decays with
//! tau_d_ms and grows by rewards (given from Rust or by the spikes of a reward
//! population).
//!
//! ```text
//! on arrival:    c −= a_minus · o1
//! on post spike: c += a_plus · r1
//! every step:    d ← d · exp(−dt/tau_d) + rewards;  w += c · (d + tonic) · dt;  c ← c · exp(−dt/tau_c)
//! ```

use super::traces::DecayTable;
use super::{
    default_tau_ms, default_w_max, validate_bounds, PostEvent, PreEvent, Rule, RuleEvents, RuleSpec,
};
use crate::error::{check_finite, check_non_negative, check_positive, Result};
use serde::{Deserialize, Serialize};

fn default_tau_c() -> f64 {
    1000.0
}
fn default_tau_d() -> f64 {
    200.0
}

/// Reward-modulated STDP parameters (`rule = "reward_modulated"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardModulated {
    /// Potentiation amplitude of the eligibility change.
    pub a_plus: f64,
    /// Depression amplitude of the eligibility change (positive).
    pub a_minus: f64,
    /// STDP trace time constants (ms).
    #[serde(default = "default_tau_ms")]
    pub tau_plus_ms: f64,
    /// Postsynaptic STDP trace time constant (ms).
    #[serde(default = "default_tau_ms")]
    pub tau_minus_ms: f64,
    /// Eligibility trace time constant (ms).
    #[serde(default = "default_tau_c")]
    pub tau_c_ms: f64,
    /// Dopamine decay time constant (ms).
    #[serde(default = "default_tau_d")]
    pub tau_d_ms: f64,
    /// Population whose spikes are rewards (optional).
    #[serde(default)]
    pub reward_population: Option<String>,
    /// Dopamine added per reward-population spike.
    #[serde(default)]
    pub reward_per_spike: f64,
    /// Tonic dopamine level added to d (Izhikevich 2007 uses 0.01 µM).
    #[serde(default)]
    pub tonic_dopamine: f64,
    /// Lower weight bound.
    #[serde(default)]
    pub w_min: f64,
    /// Upper weight bound.
    #[serde(default = "default_w_max")]
    pub w_max: f64,
}

impl RuleSpec for RewardModulated {
    fn bounds(&self) -> (f64, f64) {
        (self.w_min, self.w_max)
    }

    fn validate(&self, field: &str) -> Result<()> {
        let f = |n: &str| format!("{field}.{n}");
        validate_bounds(field, self.w_min, self.w_max)?;
        check_non_negative(&f("a_plus"), self.a_plus)?;
        check_non_negative(&f("a_minus"), self.a_minus)?;
        for (n, v) in [
            ("tau_plus_ms", self.tau_plus_ms),
            ("tau_minus_ms", self.tau_minus_ms),
            ("tau_c_ms", self.tau_c_ms),
            ("tau_d_ms", self.tau_d_ms),
        ] {
            check_positive(&f(n), v)?;
        }
        check_finite(&f("reward_per_spike"), self.reward_per_spike)?;
        check_non_negative(&f("tonic_dopamine"), self.tonic_dopamine)?;
        Ok(())
    }

    fn prepare(&self, dt_ms: f64) -> Rule {
        Rule::RewardModulated(RewardModulatedRule {
            w_min: self.w_min as f32,
            w_max: self.w_max as f32,
            a_plus: self.a_plus as f32,
            a_minus: self.a_minus as f32,
            r1: DecayTable::new(dt_ms, self.tau_plus_ms),
            o1: DecayTable::new(dt_ms, self.tau_minus_ms),
            c_decay: (-dt_ms / self.tau_c_ms).exp() as f32,
            d_decay: (-dt_ms / self.tau_d_ms).exp() as f32,
            tonic: self.tonic_dopamine as f32,
            dt_ms: dt_ms as f32,
        })
    }

    fn reward_population(&self) -> Option<&str> {
        self.reward_population.as_deref()
    }

    fn reward_per_spike(&self) -> f64 {
        self.reward_per_spike
    }
}

/// Reward-modulated STDP prepared for a time step.
#[derive(Clone, Debug)]
pub struct RewardModulatedRule {
    /// Lower bound.
    pub w_min: f32,
    /// Upper bound.
    pub w_max: f32,
    /// Eligibility potentiation amplitude.
    pub a_plus: f32,
    /// Eligibility depression amplitude.
    pub a_minus: f32,
    /// Decay of the presynaptic trace.
    pub r1: DecayTable,
    /// Decay of the postsynaptic trace.
    pub o1: DecayTable,
    /// Per-step decay of eligibility.
    pub c_decay: f32,
    /// Per-step decay of dopamine.
    pub d_decay: f32,
    /// Tonic dopamine.
    pub tonic: f32,
    /// Time step (ms).
    pub dt_ms: f32,
}

impl RuleEvents for RewardModulatedRule {
    fn pre_decay(&self) -> &DecayTable {
        &self.r1
    }
    fn post_decay(&self) -> &DecayTable {
        &self.o1
    }
    fn nearest(&self) -> bool {
        false
    }
    fn uses_eligibility(&self) -> bool {
        true
    }

    #[inline(always)]
    fn on_arrival(
        &self,
        ev: &PreEvent,
        _w: &mut f32,
        eligibility: &mut [f32],
        _uniform: impl FnOnce() -> f64,
    ) {
        eligibility[ev.synapse] -= self.a_minus * ev.o1;
    }

    #[inline(always)]
    fn on_post(
        &self,
        ev: &PostEvent,
        _w: &mut f32,
        eligibility: &mut [f32],
        _uniform: impl FnOnce() -> f64,
    ) {
        eligibility[ev.synapse] += self.a_plus * ev.r1;
    }

    fn on_step(
        &self,
        weights: &mut [f32],
        eligibility: &mut [f32],
        dopamine: &mut f32,
        rewards: f32,
        enabled: bool,
    ) {
        *dopamine = *dopamine * self.d_decay + rewards;
        if !enabled {
            return;
        }
        let g = (*dopamine + self.tonic) * self.dt_ms;
        let (lo, hi, decay) = (self.w_min, self.w_max, self.c_decay);
        for (w, c) in weights.iter_mut().zip(eligibility.iter_mut()) {
            *w = (*w + *c * g).clamp(lo, hi);
            *c *= decay;
        }
    }
}
