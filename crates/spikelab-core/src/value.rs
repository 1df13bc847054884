//! Parameter values that are either a constant or a random distribution, as used for
//! initial states, weights and delays in model files (`-55.0` or
//! `{ normal = { mean = -55.0, std = 5.0 } }`).

use crate::error::{Error, Result};
use crate::rng::Stream;
use rand::Rng;
use rand_distr::{Distribution as _, Exp, LogNormal, Normal};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// A constant or a distribution to draw one value per neuron or synapse from.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// The same value everywhere.
    Constant(f64),
    /// One independent draw per element.
    Random(Distribution),
}

/// Distributions accepted wherever a [`Value`] is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Distribution {
    /// Uniform on `[low, high)`.
    Uniform {
        /// Lower bound (inclusive).
        low: f64,
        /// Upper bound (exclusive).
        high: f64,
    },
    /// Gaussian, optionally truncated to `[low, high]` by redrawing.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation (>= 0).
        std: f64,
        /// Optional lower bound: values below are redrawn.
        #[serde(default)]
        low: Option<f64>,
        /// Optional upper bound: values above are redrawn.
        #[serde(default)]
        high: Option<f64>,
    },
    /// Log-normal with parameters of the underlying normal.
    LogNormal {
        /// Mean of the logarithm.
        mu: f64,
        /// Standard deviation of the logarithm (>= 0).
        sigma: f64,
    },
    /// Exponential with the given mean (> 0).
    Exponential {
        /// Mean (= 1 / rate).
        mean: f64,
    },
}

impl Value {
    /// A constant value.
    pub fn constant(v: f64) -> Self {
        Value::Constant(v)
    }
    /// A Gaussian value.
    pub fn normal(mean: f64, std: f64) -> Self {
        Value::Random(Distribution::Normal {
            mean,
            std,
            low: None,
            high: None,
        })
    }
    /// A uniform value on `[low, high)`.
    pub fn uniform(low: f64, high: f64) -> Self {
        Value::Random(Distribution::Uniform { low, high })
    }

    /// Checks the parameters; `field` names the value in error messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        let bad = |m: String| Err(Error::field(field, m));
        match *self {
            Value::Constant(v) if !v.is_finite() => bad(format!("must be finite (got {v})")),
            Value::Constant(_) => Ok(()),
            Value::Random(Distribution::Uniform { low, high }) => {
                if !(low.is_finite() && high.is_finite() && low <= high) {
                    bad(format!(
                        "uniform needs finite low <= high (got low={low}, high={high})"
                    ))
                } else {
                    Ok(())
                }
            }
            Value::Random(Distribution::Normal {
                mean,
                std,
                low,
                high,
            }) => {
                if !(mean.is_finite() && std.is_finite() && std >= 0.0) {
                    return bad(format!(
                        "normal needs finite mean and std >= 0 (got mean={mean}, std={std})"
                    ));
                }
                let lo = low.unwrap_or(f64::NEG_INFINITY);
                let hi = high.unwrap_or(f64::INFINITY);
                if lo.is_nan() || hi.is_nan() {
                    return bad(format!(
                        "normal bounds must be numbers (got low={lo}, high={hi})"
                    ));
                }
                if lo >= hi {
                    return bad(format!("normal needs low < high (got {lo} >= {hi})"));
                }
                // Redrawing must have a fair chance of success: the interval must hold
                // some probability mass.
                if std > 0.0 && (lo > mean + 4.0 * std || hi < mean - 4.0 * std) {
                    return bad(format!(
                        "normal bounds [{lo}, {hi}] lie more than 4 std from the mean {mean}"
                    ));
                }
                if std == 0.0 && (mean < lo || mean > hi) {
                    return bad(format!("normal mean {mean} lies outside [{lo}, {hi}]"));
                }
                Ok(())
            }
            Value::Random(Distribution::LogNormal { mu, sigma }) => {
                if mu.is_finite() && sigma.is_finite() && sigma >= 0.0 {
                    Ok(())
                } else {
                    bad(format!(
                        "log_normal needs finite mu and sigma >= 0 (got mu={mu}, sigma={sigma})"
                    ))
                }
            }
            Value::Random(Distribution::Exponential { mean }) => {
                if mean.is_finite() && mean > 0.0 {
                    Ok(())
                } else {
                    bad(format!("exponential needs mean > 0 (got {mean})"))
                }
            }
        }
    }

    /// The smallest and largest values this can produce (bounds may be infinite).
    pub fn range(&self) -> (f64, f64) {
        match *self {
            Value::Constant(v) => (v, v),
            Value::Random(Distribution::Uniform { low, high }) => (low, high),
            Value::Random(Distribution::Normal {
                std,
                mean,
                low,
                high,
            }) => {
                if std == 0.0 {
                    (mean, mean)
                } else {
                    (
                        low.unwrap_or(f64::NEG_INFINITY),
                        high.unwrap_or(f64::INFINITY),
                    )
                }
            }
            Value::Random(Distribution::LogNormal { .. }) => (0.0, f64::INFINITY),
            Value::Random(Distribution::Exponential { .. }) => (0.0, f64::INFINITY),
        }
    }

    /// True when every draw gives the same value.
    pub fn is_constant(&self) -> bool {
        let (a, b) = self.range();
        a == b
    }

    /// Draws one value. Call [`Value::validate`] first.
    #[inline]
    pub fn sample(&self, rng: &mut Stream) -> f64 {
        match *self {
            Value::Constant(v) => v,
            Value::Random(Distribution::Uniform { low, high }) => {
                low + (high - low) * rng.random::<f64>()
            }
            Value::Random(Distribution::Normal {
                mean,
                std,
                low,
                high,
            }) => {
                if std == 0.0 {
                    return mean;
                }
                let n = Normal::new(mean, std).expect("validated normal");
                let lo = low.unwrap_or(f64::NEG_INFINITY);
                let hi = high.unwrap_or(f64::INFINITY);
                for _ in 0..10_000 {
                    let x = n.sample(rng);
                    if x >= lo && x <= hi {
                        return x;
                    }
                }
                // Validation keeps the interval within 4 std of the mean, so this is
                // practically unreachable; clip rather than loop forever.
                n.sample(rng).clamp(lo, hi)
            }
            Value::Random(Distribution::LogNormal { mu, sigma }) => LogNormal::new(mu, sigma)
                .expect("validated log-normal")
                .sample(rng),
            Value::Random(Distribution::Exponential { mean }) => Exp::new(1.0 / mean)
                .expect("validated exponential")
                .sample(rng),
        }
    }

    /// Draws `n` values into a vector of f32.
    pub fn sample_vec(&self, n: usize, rng: &mut Stream) -> Vec<f32> {
        (0..n).map(|_| self.sample(rng) as f32).collect()
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Constant(v)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a number or a distribution table: { uniform = { low, high } }, \
                     { normal = { mean, std, low?, high? } }, { log_normal = { mu, sigma } }, \
                     { exponential = { mean } }",
                )
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Constant(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Constant(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                Ok(Value::Constant(v as f64))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
                Distribution::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Value::Random)
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, Domain};

    #[derive(Deserialize)]
    struct Holder {
        x: Value,
    }

    #[test]
    fn parses_constants_and_distributions() {
        let h: Holder = toml::from_str("x = 3").unwrap();
        assert_eq!(h.x, Value::Constant(3.0));
        let h: Holder = toml::from_str("x = -55.5").unwrap();
        assert_eq!(h.x, Value::Constant(-55.5));
        let h: Holder = toml::from_str("x = { normal = { mean = -55.0, std = 5.0 } }").unwrap();
        assert_eq!(h.x, Value::normal(-55.0, 5.0));
        let h: Holder = toml::from_str("x = { uniform = { low = 0, high = 10 } }").unwrap();
        assert_eq!(h.x, Value::uniform(0.0, 10.0));
    }

    #[test]
    fn rejects_unknown_distributions_and_fields() {
        assert!(toml::from_str::<Holder>("x = { gamma = { k = 1 } }").is_err());
        assert!(toml::from_str::<Holder>("x = { normal = { mean = 1, sd = 2 } }").is_err());
        assert!(toml::from_str::<Holder>("x = \"fast\"").is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let e = Value::normal(0.0, -1.0).validate("w").unwrap_err();
        assert!(e.to_string().contains("`w`"), "{e}");
        assert!(Value::uniform(2.0, 1.0).validate("w").is_err());
        assert!(Value::Constant(f64::NAN).validate("w").is_err());
    }

    #[test]
    fn samples_have_the_right_moments_and_bounds() {
        let mut rng = stream(1, Domain::Connectivity, &[0]);
        let n = 100_000;
        let v = Value::normal(-55.0, 5.0).sample_vec(n, &mut rng);
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((mean + 55.0).abs() < 0.1);
        assert!((var.sqrt() - 5.0).abs() < 0.1);
        let t = Value::Random(Distribution::Normal {
            mean: 0.0,
            std: 1.0,
            low: Some(0.0),
            high: None,
        });
        assert!((0..1000).all(|_| t.sample(&mut rng) >= 0.0));
        let u = Value::uniform(0.0, 10.0).sample_vec(n, &mut rng);
        assert!(u.iter().all(|&x| (0.0..10.0).contains(&x)));
    }
}
