//! Scaled-down (or up) versions of a network: the `[scale]` table of a model file
//! and [`NetworkSpec::scale_by`]. NEST's microcircuit example calls the two factors
//! `N_scaling` and `K_scaling`.
//!
//! `neurons` multiplies every population's size; `in_degree` multiplies the number
//! of inputs each neuron receives. Every rule keeps its kind: `fixed_total_number`'s
//! `n` scales with the target's size times `in_degree`, `fixed_in_degree` and
//! `fixed_out_degree`'s `k` with `in_degree` (an out-degree k·N_tgt/N_src keeps that
//! ratio), `fixed_probability`'s `p` with `in_degree` divided by the source's scale
//! (so that the mean in-degree `p·N_src` scales by `in_degree`); `all_to_all` and
//! `one_to_one` stay as they are, and explicit `list` pairs cannot be scaled.
//! Monitors of the `first` n neurons keep at most the population's new size.
//!
//! Weights are not compensated: with `in_degree = 1` the mean input and the
//! fluctuations from the network are those of the full model (rates stay close),
//! while with fewer inputs every neuron receives less — NEST's example compensates
//! with weights × 1/√K_scaling and a DC current, which needs the full model's rates.

use crate::connectivity::Connectivity;
use crate::error::{Error, Result};
use crate::monitor::MonitorSpec;
use crate::network::NetworkSpec;
use crate::selection::NeuronSelection;
use serde::{Deserialize, Serialize};

/// The `[scale]` table of a model file.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScaleSpec {
    /// Factor on every population's size, in (0, 1000].
    pub neurons: f64,
    /// Factor on every neuron's number of inputs, in (0, 1000].
    pub in_degree: f64,
}

impl Default for ScaleSpec {
    fn default() -> Self {
        ScaleSpec {
            neurons: 1.0,
            in_degree: 1.0,
        }
    }
}

impl ScaleSpec {
    /// Whether both factors are 1.
    pub fn is_identity(&self) -> bool {
        self.neurons == 1.0 && self.in_degree == 1.0
    }

    /// Checks both factors; `field` prefixes messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        for (name, v) in [("neurons", self.neurons), ("in_degree", self.in_degree)] {
            if !(v > 0.0 && v <= 1000.0) {
                return Err(Error::field(
                    format!("{field}.{name}"),
                    format!("must be in (0, 1000] (got {v})"),
                ));
            }
        }
        Ok(())
    }
}

/// `x · f` rounded, at least `min`.
fn scaled_count(x: usize, f: f64, min: usize) -> usize {
    ((x as f64 * f).round() as usize).max(min)
}

impl NetworkSpec {
    /// Scales the network in place by `scale` (see the module docs); `field` names the
    /// scale in messages (`"scale"` for a model file's table).
    pub fn scale_by(&mut self, scale: &ScaleSpec, field: &str) -> Result<()> {
        scale.validate(field)?;
        if scale.is_identity() {
            return Ok(());
        }
        let old: Vec<(String, usize)> = self
            .populations
            .iter()
            .map(|p| (p.name.clone(), p.size))
            .collect();
        for p in &mut self.populations {
            p.size = scaled_count(p.size, scale.neurons, 1);
        }
        let size_ratio = |name: &str| -> Option<f64> {
            let (_, before) = old.iter().find(|(n, _)| n == name)?;
            let after = self.populations.iter().find(|p| p.name == name)?.size;
            Some(after as f64 / *before as f64)
        };
        let mut new_rules = Vec::with_capacity(self.projections.len());
        for (k, pr) in self.projections.iter().enumerate() {
            let at = format!(
                "projection[{}].connectivity",
                pr.name.clone().unwrap_or_else(|| k.to_string())
            );
            // Unknown names are left for validation to report.
            let (src, tgt) = (
                size_ratio(&pr.source).unwrap_or(1.0),
                size_ratio(&pr.target).unwrap_or(1.0),
            );
            let k_in = scale.in_degree;
            let rule = match &pr.connectivity {
                Connectivity::FixedTotalNumber {
                    n,
                    allow_self,
                    allow_multapses,
                } => Connectivity::FixedTotalNumber {
                    n: scaled_count(*n, tgt * k_in, 0),
                    allow_self: *allow_self,
                    allow_multapses: *allow_multapses,
                },
                Connectivity::FixedInDegree { k, allow_self } => Connectivity::FixedInDegree {
                    k: scaled_count(*k, k_in, 0),
                    allow_self: *allow_self,
                },
                Connectivity::FixedOutDegree { k, allow_self } => Connectivity::FixedOutDegree {
                    k: scaled_count(*k, k_in * tgt / src, 0),
                    allow_self: *allow_self,
                },
                Connectivity::FixedProbability { p, allow_self } => {
                    let q = p * k_in / src;
                    if q > 1.0 {
                        return Err(Error::field(
                            format!("{at}.p"),
                            format!("p = {p} scaled by in_degree {k_in} over the source's scale {src} is {q}, above 1"),
                        ));
                    }
                    Connectivity::FixedProbability {
                        p: q,
                        allow_self: *allow_self,
                    }
                }
                Connectivity::List { .. } => {
                    return Err(Error::field(
                        format!("{at}.pairs"),
                        format!(
                            "explicit pairs cannot be scaled ({field}: neurons {}, in_degree {})",
                            scale.neurons, scale.in_degree
                        ),
                    ))
                }
                other => other.clone(),
            };
            new_rules.push(rule);
        }
        for (pr, rule) in self.projections.iter_mut().zip(new_rules) {
            pr.connectivity = rule;
        }
        let sizes: Vec<(String, usize)> = self
            .populations
            .iter()
            .map(|p| (p.name.clone(), p.size))
            .collect();
        for m in &mut self.monitors {
            let (pop, neurons) = match m {
                MonitorSpec::Spikes {
                    population,
                    neurons,
                } => (population, neurons),
                MonitorSpec::State {
                    population,
                    neurons,
                    ..
                } => (population, neurons),
                _ => continue,
            };
            if let (NeuronSelection::First(n), Some((_, size))) =
                (neurons, sizes.iter().find(|(name, _)| name == pop))
            {
                *n = (*n).min(*size);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> NetworkSpec {
        let text = r#"
            [[population]]
            name = "a"
            size = 1000
            neuron = { model = "lif" }
            [[population.receptor]]
            name = "syn"
            type = "current"
            tau_ms = 0.5
            [[population]]
            name = "b"
            size = 400
            neuron = { model = "lif" }
            [[population.receptor]]
            name = "syn"
            type = "current"
            tau_ms = 0.5
            [[projection]]
            source = "a"
            target = "b"
            receptor = "syn"
            connectivity = { rule = "fixed_total_number", n = 40000 }
            weight = 1.0
            [[projection]]
            source = "b"
            target = "a"
            receptor = "syn"
            connectivity = { rule = "fixed_probability", p = 0.1 }
            weight = 1.0
            [[projection]]
            source = "a"
            target = "a"
            receptor = "syn"
            connectivity = { rule = "fixed_in_degree", k = 100 }
            weight = 1.0
            [[monitor]]
            kind = "spikes"
            population = "a"
            neurons = { first = 500 }
        "#;
        NetworkSpec::from_toml_str(text, std::path::Path::new("t.toml")).unwrap()
    }

    #[test]
    fn scaling_keeps_in_degrees_and_caps_monitors() {
        let mut spec = net();
        spec.scale_by(
            &ScaleSpec {
                neurons: 0.1,
                in_degree: 1.0,
            },
            "scale",
        )
        .unwrap();
        assert_eq!(spec.populations[0].size, 100);
        assert_eq!(spec.populations[1].size, 40);
        // 100 inputs per target before and after.
        assert_eq!(
            spec.projections[0].connectivity,
            Connectivity::FixedTotalNumber {
                n: 4000,
                allow_self: true,
                allow_multapses: true
            }
        );
        match &spec.projections[1].connectivity {
            Connectivity::FixedProbability { p, .. } => assert!((p - 1.0).abs() < 1e-12),
            r => panic!("{r:?}"),
        }
        assert!(matches!(
            spec.projections[2].connectivity,
            Connectivity::FixedInDegree { k: 100, .. }
        ));
        assert!(matches!(
            &spec.monitors[0],
            MonitorSpec::Spikes {
                neurons: NeuronSelection::First(100),
                ..
            }
        ));
        spec.validate().unwrap();
    }

    #[test]
    fn bad_scales_and_unscalable_rules_are_refused_by_name() {
        let mut spec = net();
        let e = spec
            .scale_by(
                &ScaleSpec {
                    neurons: 0.0,
                    in_degree: 1.0,
                },
                "scale",
            )
            .unwrap_err();
        assert!(e.to_string().contains("scale.neurons"), "{e}");
        // p = 0.1 with sources at 0.05 of their size: p would be 2.
        let e = spec
            .scale_by(
                &ScaleSpec {
                    neurons: 0.05,
                    in_degree: 1.0,
                },
                "scale",
            )
            .unwrap_err();
        assert!(e.to_string().contains("connectivity.p"), "{e}");
    }

    #[test]
    fn a_model_file_scale_table_is_applied_on_load() {
        let text = r#"
            [scale]
            neurons = 0.5
            in_degree = 0.5
            [[population]]
            name = "a"
            size = 1000
            neuron = { model = "lif" }
            [[population.receptor]]
            name = "syn"
            type = "current"
            tau_ms = 0.5
            [[projection]]
            source = "a"
            target = "a"
            receptor = "syn"
            connectivity = { rule = "fixed_total_number", n = 100000 }
            weight = 1.0
        "#;
        let spec = NetworkSpec::from_toml_str(text, std::path::Path::new("t.toml")).unwrap();
        assert_eq!(spec.populations[0].size, 500);
        assert!(matches!(
            spec.projections[0].connectivity,
            Connectivity::FixedTotalNumber { n: 25000, .. }
        ));
        // The scale is applied, not kept: the text written back is the scaled network.
        assert!(!spec.to_toml_string().unwrap().contains("[scale]"));
        let bad = text.replace("in_degree = 0.5", "in_degree = 0.5\nsize = 2");
        let e = NetworkSpec::from_toml_str(&bad, std::path::Path::new("t.toml")).unwrap_err();
        assert!(e.to_string().contains("size"), "{e}");
    }
}
