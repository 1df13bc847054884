//! Pair-based STDP with exponential windows: the triplet rule ([`super::triplet`])
//! without its triplet terms, so it prepares to a [`super::triplet::TripletRule`].
//!
//! ```text
//! on arrival:    Δw = −a_minus · o1 · D−(w);  then bump r1 (tau_plus_ms)
//! on post spike: Δw = +a_plus  · r1 · D+(w);  then bump o1 (tau_minus_ms)
//! ```

use super::triplet::Triplet;
use super::{default_tau_ms, default_w_max, Pairing, Rule, RuleSpec, WeightDependence};
use crate::error::{check_non_negative, check_positive, Result};
use serde::{Deserialize, Serialize};

/// Pair STDP parameters (`rule = "stdp"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stdp {
    /// Potentiation amplitude (post after pre).
    pub a_plus: f64,
    /// Depression amplitude (pre after post), positive.
    pub a_minus: f64,
    /// Presynaptic trace time constant (ms).
    #[serde(default = "default_tau_ms")]
    pub tau_plus_ms: f64,
    /// Postsynaptic trace time constant (ms).
    #[serde(default = "default_tau_ms")]
    pub tau_minus_ms: f64,
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

impl Stdp {
    /// The same rule as a triplet rule with zero triplet terms.
    pub fn as_triplet(&self) -> Triplet {
        Triplet {
            a2_plus: self.a_plus,
            a3_plus: 0.0,
            a2_minus: self.a_minus,
            a3_minus: 0.0,
            tau_plus_ms: self.tau_plus_ms,
            tau_x_ms: default_tau_ms(),
            tau_minus_ms: self.tau_minus_ms,
            tau_y_ms: default_tau_ms(),
            w_min: self.w_min,
            w_max: self.w_max,
            weight_dependence: self.weight_dependence,
            pairing: self.pairing,
        }
    }
}

impl RuleSpec for Stdp {
    fn bounds(&self) -> (f64, f64) {
        (self.w_min, self.w_max)
    }

    fn validate(&self, field: &str) -> Result<()> {
        let f = |n: &str| format!("{field}.{n}");
        super::validate_bounds(field, self.w_min, self.w_max)?;
        check_non_negative(&f("a_plus"), self.a_plus)?;
        check_non_negative(&f("a_minus"), self.a_minus)?;
        check_positive(&f("tau_plus_ms"), self.tau_plus_ms)?;
        check_positive(&f("tau_minus_ms"), self.tau_minus_ms)?;
        Ok(())
    }

    fn prepare(&self, dt_ms: f64) -> Rule {
        self.as_triplet().prepare(dt_ms)
    }
}
