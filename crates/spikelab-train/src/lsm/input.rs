//! Real-valued series as input spikes of a liquid: each step of a (z-scored) series
//! is held for `frame_ms`, and each channel drives a few input neurons — Gaussian
//! receptive fields firing at a rate set by their response (population coding),
//! send-on-delta UP/DOWN events (level crossing), or one neuron whose rate follows the
//! value (rate coding). Random spikes come from a stream keyed by the seed and the
//! sample, so a sample always gives the same spikes.

use rand::Rng;
use serde::{Deserialize, Serialize};
use spikelab_core::encoding::delta::send_on_delta;
use spikelab_core::encoding::GaussianPopulation;
use spikelab_core::error::{Error, Result};
use spikelab_core::rng::{self, Domain};
use spikelab_core::source::SpikeGenerator;

/// How a series becomes input spikes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SeriesEncoding {
    /// `fields` Gaussian receptive fields per channel over ±2 standard deviations;
    /// each fires as a Bernoulli process at `max_rate_hz` × its response.
    Population {
        /// Fields per channel (3..=64).
        fields: usize,
        /// Rate of a perfectly tuned field (Hz).
        max_rate_hz: f64,
    },
    /// Send-on-delta: an UP (DOWN) spike at the start of a frame when the channel has
    /// risen (fallen) `threshold` standard deviations since its last event.
    Delta {
        /// Level spacing (standard deviations), > 0.
        threshold: f64,
    },
    /// One neuron per channel firing at `max_rate_hz` × the value mapped from ±2
    /// standard deviations onto [0, 1].
    Rate {
        /// Rate at +2 standard deviations (Hz).
        max_rate_hz: f64,
    },
}

impl Default for SeriesEncoding {
    fn default() -> Self {
        SeriesEncoding::Population {
            fields: 8,
            max_rate_hz: 200.0,
        }
    }
}

/// The timing of an encoded series: engine steps per series step and their length.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frames {
    /// Engine steps per series step.
    pub frame_steps: usize,
    /// Engine time step (ms).
    pub dt_ms: f64,
}

impl SeriesEncoding {
    /// Encoding names accepted on the command line.
    pub const NAMES: &'static str = "population, delta, rate";

    /// The encoding called `name` with default parameters.
    pub fn named(name: &str) -> Result<Self> {
        match name {
            "population" => Ok(SeriesEncoding::default()),
            "delta" => Ok(SeriesEncoding::Delta { threshold: 0.5 }),
            "rate" => Ok(SeriesEncoding::Rate { max_rate_hz: 200.0 }),
            other => Err(Error::field(
                "encoding",
                format!("unknown series encoding `{other}` (known: {})", Self::NAMES),
            )),
        }
    }

    /// Input neurons per channel.
    pub fn per_channel(&self) -> usize {
        match self {
            SeriesEncoding::Population { fields, .. } => *fields,
            SeriesEncoding::Delta { .. } => 2,
            SeriesEncoding::Rate { .. } => 1,
        }
    }

    /// Checks the parameters.
    pub fn validate(&self, field: &str) -> Result<()> {
        let ok = match self {
            SeriesEncoding::Population {
                fields,
                max_rate_hz,
            } => (3..=64).contains(fields) && max_rate_hz.is_finite() && *max_rate_hz > 0.0,
            SeriesEncoding::Delta { threshold } => threshold.is_finite() && *threshold > 0.0,
            SeriesEncoding::Rate { max_rate_hz } => max_rate_hz.is_finite() && *max_rate_hz > 0.0,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::field(
                field,
                format!("{self:?}: fields must be 3..=64, rates and thresholds finite and > 0"),
            ))
        }
    }

    /// The spikes of one z-scored series (`values` is `steps × channels`, time-major;
    /// non-finite values count as 0), each series step lasting `frames.frame_steps`
    /// engine steps of `frames.dt_ms`. `seed` and `key` (the sample) key the random
    /// draws.
    pub fn encode(
        &self,
        values: &[f32],
        steps: usize,
        channels: usize,
        frames: Frames,
        seed: u64,
        key: u64,
    ) -> SpikeGenerator {
        let Frames { frame_steps, dt_ms } = frames;
        let mut out = SpikeGenerator {
            neurons: Vec::new(),
            times_ms: Vec::new(),
        };
        let value = |t: usize, c: usize| {
            let v = values[t * channels + c];
            if v.is_finite() {
                v
            } else {
                0.0
            }
        };
        let mut rng = rng::stream(seed, Domain::Encoder, &[0x4C53_4D49, key]);
        match self {
            SeriesEncoding::Population {
                fields,
                max_rate_hz,
            } => {
                let pop = GaussianPopulation::new(*fields as u32, -2.0, 2.0, 1.0)
                    .expect("3..=64 fields over [-2, 2] are valid");
                let p_max = (max_rate_hz * dt_ms / 1000.0).min(1.0);
                let mut probs = vec![0f64; channels * fields];
                for t in 0..steps {
                    for c in 0..channels {
                        for (f, r) in pop.responses(value(t, c)).into_iter().enumerate() {
                            probs[c * fields + f] = r * p_max;
                        }
                    }
                    for s in 0..frame_steps {
                        let time = ((t * frame_steps + s) as f64) * dt_ms;
                        for (j, &p) in probs.iter().enumerate() {
                            if p > 0.0 && rng.random::<f64>() < p {
                                out.neurons.push(j as u32);
                                out.times_ms.push(time);
                            }
                        }
                    }
                }
            }
            SeriesEncoding::Delta { threshold } => {
                let clean: Vec<f32> = (0..steps * channels)
                    .map(|i| value(i / channels, i % channels))
                    .collect();
                let mut events = vec![0u8; steps * 2 * channels];
                send_on_delta(&clean, steps, channels, *threshold as f32, &mut events);
                for t in 0..steps {
                    let time = (t * frame_steps) as f64 * dt_ms;
                    for j in 0..2 * channels {
                        if events[t * 2 * channels + j] != 0 {
                            out.neurons.push(j as u32);
                            out.times_ms.push(time);
                        }
                    }
                }
            }
            SeriesEncoding::Rate { max_rate_hz } => {
                let p_max = (max_rate_hz * dt_ms / 1000.0).min(1.0);
                for t in 0..steps {
                    for s in 0..frame_steps {
                        let time = ((t * frame_steps + s) as f64) * dt_ms;
                        for c in 0..channels {
                            let x = (value(t, c) as f64 / 4.0 + 0.5).clamp(0.0, 1.0);
                            if rng.random::<f64>() < x * p_max {
                                out.neurons.push(c as u32);
                                out.times_ms.push(time);
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fr(frame_steps: usize) -> Frames {
        Frames {
            frame_steps,
            dt_ms: 1.0,
        }
    }

    #[test]
    fn population_coding_fires_the_tuned_field_most_and_is_reproducible() {
        let enc = SeriesEncoding::Population {
            fields: 5,
            max_rate_hz: 500.0,
        };
        // One channel at +2 sd (the last field's centre) for 200 steps of 1 ms.
        let spikes = enc.encode(&[2.0], 1, 1, fr(200), 7, 3);
        let mut counts = [0usize; 5];
        for &j in &spikes.neurons {
            counts[j as usize] += 1;
        }
        // The field nearest +2 fires most (at most 0.5 per step), farther ones less.
        assert!(counts[4] > 60 && counts[4] <= 130, "{counts:?}");
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
        assert!(counts[0] < 5, "{counts:?}");
        assert_eq!(spikes, enc.encode(&[2.0], 1, 1, fr(200), 7, 3));
        assert_ne!(spikes, enc.encode(&[2.0], 1, 1, fr(200), 7, 4));
        assert!(spikes.times_ms.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn delta_coding_marks_crossings_at_frame_starts() {
        let enc = SeriesEncoding::Delta { threshold: 0.5 };
        // Rises by 1 then falls by 1: one UP at frame 1, one DOWN at frame 2.
        let spikes = enc.encode(&[0.0, 1.0, 0.0], 3, 1, fr(10), 0, 0);
        assert_eq!(spikes.neurons, [0, 1]);
        assert_eq!(spikes.times_ms, [10.0, 20.0]);
        assert_eq!(enc.per_channel(), 2);
        assert!(SeriesEncoding::named("morse").is_err());
        assert!(SeriesEncoding::Delta { threshold: 0.0 }
            .validate("encoding")
            .is_err());
    }

    #[test]
    fn rate_coding_follows_the_value() {
        let enc = SeriesEncoding::Rate { max_rate_hz: 500.0 };
        let low = enc.encode(&[-2.0, 2.0], 1, 2, fr(400), 1, 0);
        let n0 = low.neurons.iter().filter(|&&j| j == 0).count();
        let n1 = low.neurons.iter().filter(|&&j| j == 1).count();
        assert_eq!(n0, 0);
        assert!((160..240).contains(&n1), "{n1}");
    }
}
