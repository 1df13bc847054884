//! Stochastic binary STDP: every weight is `w_min` or `w_max`, and spike timing sets
//! the probability of switching (nearest-spike traces).
//!
//! ```text
//! on post spike: a low synapse switches up with probability p_plus · r1
//! on arrival:    a high synapse switches down with probability p_minus · o1
//! ```
//!
//! The uniform numbers are keyed by (seed, projection, source, target, step), so the
//! result does not depend on the partitioning.

use super::traces::DecayTable;
use super::{
    default_tau_ms, default_w_max, validate_bounds, PostEvent, PreEvent, Rule, RuleEvents, RuleSpec,
};
use crate::error::{check_positive, check_probability, Result};
use serde::{Deserialize, Serialize};

/// Stochastic binary STDP parameters (`rule = "stochastic_binary"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StochasticBinary {
    /// Maximum probability of switching up (post after pre).
    pub p_plus: f64,
    /// Maximum probability of switching down (pre after post).
    pub p_minus: f64,
    /// Presynaptic window (ms).
    #[serde(default = "default_tau_ms")]
    pub tau_plus_ms: f64,
    /// Postsynaptic window (ms).
    #[serde(default = "default_tau_ms")]
    pub tau_minus_ms: f64,
    /// Low weight.
    #[serde(default)]
    pub w_min: f64,
    /// High weight.
    #[serde(default = "default_w_max")]
    pub w_max: f64,
}

impl RuleSpec for StochasticBinary {
    fn bounds(&self) -> (f64, f64) {
        (self.w_min, self.w_max)
    }

    fn validate(&self, field: &str) -> Result<()> {
        let f = |n: &str| format!("{field}.{n}");
        validate_bounds(field, self.w_min, self.w_max)?;
        check_probability(&f("p_plus"), self.p_plus)?;
        check_probability(&f("p_minus"), self.p_minus)?;
        check_positive(&f("tau_plus_ms"), self.tau_plus_ms)?;
        check_positive(&f("tau_minus_ms"), self.tau_minus_ms)?;
        Ok(())
    }

    fn prepare(&self, dt_ms: f64) -> Rule {
        Rule::StochasticBinary(StochasticBinaryRule {
            w_min: self.w_min as f32,
            w_max: self.w_max as f32,
            p_plus: self.p_plus as f32,
            p_minus: self.p_minus as f32,
            r1: DecayTable::new(dt_ms, self.tau_plus_ms),
            o1: DecayTable::new(dt_ms, self.tau_minus_ms),
        })
    }
}

/// Stochastic binary STDP prepared for a time step.
#[derive(Clone, Debug)]
pub struct StochasticBinaryRule {
    /// Low weight.
    pub w_min: f32,
    /// High weight.
    pub w_max: f32,
    /// Maximum probability of switching up.
    pub p_plus: f32,
    /// Maximum probability of switching down.
    pub p_minus: f32,
    /// Decay of the presynaptic trace.
    pub r1: DecayTable,
    /// Decay of the postsynaptic trace.
    pub o1: DecayTable,
}

impl RuleEvents for StochasticBinaryRule {
    fn pre_decay(&self) -> &DecayTable {
        &self.r1
    }
    fn post_decay(&self) -> &DecayTable {
        &self.o1
    }
    fn nearest(&self) -> bool {
        true
    }

    #[inline(always)]
    fn on_arrival(
        &self,
        ev: &PreEvent,
        w: &mut f32,
        _eligibility: &mut [f32],
        uniform: impl FnOnce() -> f64,
    ) {
        let p = self.p_minus * ev.o1;
        if *w >= self.w_max && p > 0.0 && uniform() < p as f64 {
            *w = self.w_min;
        }
    }

    #[inline(always)]
    fn on_post(
        &self,
        ev: &PostEvent,
        w: &mut f32,
        _eligibility: &mut [f32],
        uniform: impl FnOnce() -> f64,
    ) {
        if *w <= self.w_min {
            let p = self.p_plus * ev.r1;
            if p > 0.0 && uniform() < p as f64 {
                *w = self.w_max;
            }
        }
    }
}
