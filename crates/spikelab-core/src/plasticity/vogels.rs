//! Inhibitory STDP (Vogels et al. 2011): drives the postsynaptic rate towards
//! `target_rate_hz`. Both traces are all-to-all with the same time constant `tau_ms`.
//!
//! ```text
//! on arrival:    Δw = eta · (o1 − 2·rho0·tau)
//! on post spike: Δw = eta · r1
//! ```

use super::traces::DecayTable;
use super::{
    default_tau_ms, default_w_max, validate_bounds, PostEvent, PreEvent, Rule, RuleEvents, RuleSpec,
};
use crate::error::{check_non_negative, check_positive, Result};
use serde::{Deserialize, Serialize};

/// Vogels inhibitory STDP parameters (`rule = "vogels"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vogels {
    /// Learning rate.
    pub eta: f64,
    /// Target postsynaptic rate rho0 (Hz).
    pub target_rate_hz: f64,
    /// Trace time constant (ms).
    #[serde(default = "default_tau_ms")]
    pub tau_ms: f64,
    /// Lower weight bound.
    #[serde(default)]
    pub w_min: f64,
    /// Upper weight bound.
    #[serde(default = "default_w_max")]
    pub w_max: f64,
}

impl RuleSpec for Vogels {
    fn bounds(&self) -> (f64, f64) {
        (self.w_min, self.w_max)
    }

    fn validate(&self, field: &str) -> Result<()> {
        let f = |n: &str| format!("{field}.{n}");
        validate_bounds(field, self.w_min, self.w_max)?;
        check_non_negative(&f("eta"), self.eta)?;
        check_non_negative(&f("target_rate_hz"), self.target_rate_hz)?;
        check_positive(&f("tau_ms"), self.tau_ms)?;
        Ok(())
    }

    fn prepare(&self, dt_ms: f64) -> Rule {
        Rule::Vogels(VogelsRule {
            w_min: self.w_min as f32,
            w_max: self.w_max as f32,
            eta: self.eta as f32,
            offset: (2.0 * self.target_rate_hz * self.tau_ms * 1e-3) as f32,
            trace: DecayTable::new(dt_ms, self.tau_ms),
        })
    }
}

/// Vogels STDP prepared for a time step.
#[derive(Clone, Debug)]
pub struct VogelsRule {
    /// Lower bound.
    pub w_min: f32,
    /// Upper bound.
    pub w_max: f32,
    /// Learning rate.
    pub eta: f32,
    /// Depression offset 2·rho0·tau.
    pub offset: f32,
    /// Decay of both traces.
    pub trace: DecayTable,
}

impl RuleEvents for VogelsRule {
    fn pre_decay(&self) -> &DecayTable {
        &self.trace
    }
    fn post_decay(&self) -> &DecayTable {
        &self.trace
    }
    fn nearest(&self) -> bool {
        false
    }

    #[inline(always)]
    fn on_arrival(
        &self,
        ev: &PreEvent,
        w: &mut f32,
        _eligibility: &mut [f32],
        _uniform: impl FnOnce() -> f64,
    ) {
        *w = (*w + self.eta * (ev.o1 - self.offset)).clamp(self.w_min, self.w_max);
    }

    #[inline(always)]
    fn on_post(
        &self,
        ev: &PostEvent,
        w: &mut f32,
        _eligibility: &mut [f32],
        _uniform: impl FnOnce() -> f64,
    ) {
        *w = (*w + self.eta * ev.r1).clamp(self.w_min, self.w_max);
    }
}
