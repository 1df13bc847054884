//! Current injection into neuron populations: constant (DC) within a window, a step
//! function, an array sampled at a fixed period, and Gaussian noise redrawn every
//! step. Amplitudes are in the target model's current unit (mV for `lif`, pA for
//! `if`); see each neuron model's docs.

use crate::error::{check_finite, check_non_negative, check_positive, Error, Result};
use crate::rng::{self, Domain, Stream};
use crate::selection::NeuronSelection;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// A current input as written in a model file (`[[current]]`); unknown fields are
/// rejected by the waveform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurrentSpec {
    /// Target population.
    pub target: String,
    /// Neurons that receive the current (default all).
    #[serde(default)]
    pub neurons: NeuronSelection,
    /// Time course.
    #[serde(flatten)]
    pub waveform: Waveform,
}

/// Time course of an injected current.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Waveform {
    /// `amplitude` from `start_ms` (default 0) until `stop_ms` (default forever).
    Dc {
        /// Amplitude.
        amplitude: f64,
        /// Start time (ms).
        #[serde(default)]
        start_ms: f64,
        /// Stop time (ms, exclusive).
        #[serde(default)]
        stop_ms: Option<f64>,
    },
    /// Piecewise constant: `amplitudes[k]` from `times_ms[k]` on (0 before the first).
    Step {
        /// Change times (ms), increasing.
        times_ms: Vec<f64>,
        /// Amplitude after each change.
        amplitudes: Vec<f64>,
    },
    /// `values[k]` during `[k·period_ms, (k+1)·period_ms)`, then 0.
    Array {
        /// Sampling period (ms).
        period_ms: f64,
        /// Samples.
        values: Vec<f64>,
    },
    /// Independent Gaussian current per neuron, redrawn every step.
    Noise {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
}

impl CurrentSpec {
    /// Checks the waveform; `field` prefixes messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        match &self.waveform {
            Waveform::Dc {
                amplitude,
                start_ms,
                stop_ms,
            } => {
                check_finite(&format!("{field}.amplitude"), *amplitude)?;
                check_non_negative(&format!("{field}.start_ms"), *start_ms)?;
                if let Some(s) = stop_ms {
                    if !(s.is_finite() && s >= start_ms) {
                        return Err(Error::field(
                            format!("{field}.stop_ms"),
                            format!("must be finite and >= start_ms (got {s})"),
                        ));
                    }
                }
            }
            Waveform::Step {
                times_ms,
                amplitudes,
            } => {
                if times_ms.len() != amplitudes.len() {
                    return Err(Error::field(
                        field,
                        "times_ms and amplitudes must have the same length",
                    ));
                }
                for (k, t) in times_ms.iter().enumerate() {
                    check_non_negative(&format!("{field}.times_ms[{k}]"), *t)?;
                    if k > 0 && *t < times_ms[k - 1] {
                        return Err(Error::field(
                            format!("{field}.times_ms[{k}]"),
                            "times must be increasing",
                        ));
                    }
                }
                for (k, a) in amplitudes.iter().enumerate() {
                    check_finite(&format!("{field}.amplitudes[{k}]"), *a)?;
                }
            }
            Waveform::Array { period_ms, values } => {
                check_positive(&format!("{field}.period_ms"), *period_ms)?;
                for (k, a) in values.iter().enumerate() {
                    check_finite(&format!("{field}.values[{k}]"), *a)?;
                }
            }
            Waveform::Noise { mean, std } => {
                check_finite(&format!("{field}.mean"), *mean)?;
                check_non_negative(&format!("{field}.std"), *std)?;
            }
        }
        Ok(())
    }
}

/// The part of a current input that lands on one partition's chunk.
#[derive(Clone, Debug)]
pub struct CurrentChunk {
    /// Local indices of the receiving neurons.
    pub local: Vec<u32>,
    waveform: Waveform,
    dt_ms: f64,
    rng: Vec<Stream>,
}

impl CurrentChunk {
    /// The chunk for local indices `local`, whose global indices are `global`;
    /// `index` numbers the current input in the network (keys its noise streams).
    pub fn new(
        spec: &CurrentSpec,
        local: Vec<u32>,
        global: &[u32],
        index: usize,
        seed: u64,
        dt_ms: f64,
    ) -> Self {
        let rng = match spec.waveform {
            Waveform::Noise { .. } => global
                .iter()
                .map(|&g| rng::stream(seed, Domain::Current, &[index as u64, g as u64]))
                .collect(),
            _ => Vec::new(),
        };
        CurrentChunk {
            local,
            waveform: spec.waveform.clone(),
            dt_ms,
            rng,
        }
    }

    /// The deterministic amplitude at `step` (None for noise).
    pub fn amplitude_at(&self, step: u64) -> Option<f64> {
        let t = step as f64 * self.dt_ms;
        // A tolerance of half a step makes "from start_ms" mean "from the step nearest".
        let eps = 0.5 * self.dt_ms;
        Some(match &self.waveform {
            Waveform::Dc {
                amplitude,
                start_ms,
                stop_ms,
            } => {
                if t + eps >= *start_ms && stop_ms.is_none_or(|s| t + eps < s) {
                    *amplitude
                } else {
                    0.0
                }
            }
            Waveform::Step {
                times_ms,
                amplitudes,
            } => {
                let k = times_ms.partition_point(|&c| c <= t + eps);
                if k == 0 {
                    0.0
                } else {
                    amplitudes[k - 1]
                }
            }
            Waveform::Array { period_ms, values } => {
                let k = ((t + eps * 1e-3) / period_ms).floor() as usize;
                values.get(k).copied().unwrap_or(0.0)
            }
            Waveform::Noise { .. } => return None,
        })
    }

    /// Adds the current of `step` into `current` (indexed by local neuron).
    pub fn apply(&mut self, step: u64, current: &mut [f32]) {
        match self.amplitude_at(step) {
            Some(a) => {
                if a != 0.0 {
                    let a = a as f32;
                    for &i in &self.local {
                        current[i as usize] += a;
                    }
                }
            }
            None => {
                let Waveform::Noise { mean, std } = self.waveform else {
                    unreachable!()
                };
                for (k, &i) in self.local.iter().enumerate() {
                    let z: f64 = StandardNormal.sample(&mut self.rng[k]);
                    current[i as usize] += (mean + std * z) as f32;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(w: Waveform) -> CurrentChunk {
        let spec = CurrentSpec {
            target: "p".into(),
            neurons: NeuronSelection::All,
            waveform: w,
        };
        spec.validate("current[0]").unwrap();
        CurrentChunk::new(&spec, vec![0, 1], &[0, 1], 0, 1, 0.1)
    }

    #[test]
    fn dc_window_and_step_and_array() {
        let c = chunk(Waveform::Dc {
            amplitude: 2.0,
            start_ms: 1.0,
            stop_ms: Some(2.0),
        });
        assert_eq!(c.amplitude_at(9), Some(0.0));
        assert_eq!(c.amplitude_at(10), Some(2.0));
        assert_eq!(c.amplitude_at(19), Some(2.0));
        assert_eq!(c.amplitude_at(20), Some(0.0));
        let c = chunk(Waveform::Step {
            times_ms: vec![0.5, 1.0],
            amplitudes: vec![3.0, -1.0],
        });
        assert_eq!(c.amplitude_at(4), Some(0.0));
        assert_eq!(c.amplitude_at(5), Some(3.0));
        assert_eq!(c.amplitude_at(10), Some(-1.0));
        let c = chunk(Waveform::Array {
            period_ms: 0.2,
            values: vec![1.0, 2.0],
        });
        assert_eq!(
            (0..5)
                .map(|s| c.amplitude_at(s).unwrap())
                .collect::<Vec<_>>(),
            vec![1.0, 1.0, 2.0, 2.0, 0.0]
        );
    }

    #[test]
    fn noise_has_the_requested_moments() {
        let mut c = chunk(Waveform::Noise {
            mean: 1.0,
            std: 2.0,
        });
        let mut xs = vec![];
        for s in 0..20_000 {
            let mut cur = vec![0.0f32; 2];
            c.apply(s, &mut cur);
            xs.push(cur[0] as f64);
        }
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let sd = (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
        assert!(
            (m - 1.0).abs() < 0.05 && (sd - 2.0).abs() < 0.05,
            "{m} {sd}"
        );
    }

    #[test]
    fn bad_waveforms_name_the_field() {
        let spec = CurrentSpec {
            target: "p".into(),
            neurons: NeuronSelection::All,
            waveform: Waveform::Array {
                period_ms: 0.0,
                values: vec![],
            },
        };
        assert!(spec
            .validate("current[3]")
            .unwrap_err()
            .to_string()
            .contains("current[3].period_ms"));
    }
}
