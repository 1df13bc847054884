//! Temporal-switch coding (Han & Roy 2020): each input drives two neurons, a
//! "switch-on" and a "switch-off" neuron, and the value is the time between their
//! spikes.
//!
//! ```text
//! t_on(x)  = t_start + (1 − x) · W        (switch-on neuron  i,      i < n)
//! t_off    = t_start + W                  (switch-off neuron n + i)
//! x        = (t_off − t_on) / W
//! ```
//!
//! A synapse that is "on" between the two spikes integrates a charge proportional to
//! `x`, which is what makes the code exact for the first layer of a converted network.
//! Inputs `x ≤ threshold` are silent (both neurons). Output layout: switch-on neurons
//! `0..n`, switch-off neurons `n..2n`. Decoding: `x̂ = (t_off − t_on) / W` from the
//! first spike of each neuron (0 if either is silent).
//!
//! Reference: Han B, Roy K (2020) Deep spiking neural network: energy efficiency
//! through time based coding. ECCV 2020, 388–404.

use super::{is_silent, unit, Decoder, Encoder, SpikeTrains, TimeGrid};
use crate::error::{check_non_negative, check_positive, Error, Result};
use serde::{Deserialize, Serialize};

/// Temporal-switch coding (see the module documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemporalSwitch {
    /// Start of the coding window (ms, >= 0).
    pub t_start_ms: f64,
    /// Length of the coding window `W` (ms, > 0); the largest time difference.
    pub window_ms: f64,
    /// Inputs `x ≤ threshold` are silent (in [0, 1)).
    pub threshold: f64,
}

impl Default for TemporalSwitch {
    fn default() -> Self {
        TemporalSwitch {
            t_start_ms: 0.0,
            window_ms: 20.0,
            threshold: 0.0,
        }
    }
}

impl TemporalSwitch {
    /// Temporal-switch coding over `[t_start_ms, t_start_ms + window_ms]`.
    pub fn new(t_start_ms: f64, window_ms: f64, threshold: f64) -> Result<Self> {
        let e = TemporalSwitch {
            t_start_ms,
            window_ms,
            threshold,
        };
        e.validate("encoder")?;
        Ok(e)
    }

    /// Checks the parameters; `field` names the encoder in error messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        check_non_negative(&format!("{field}.t_start_ms"), self.t_start_ms)?;
        check_positive(&format!("{field}.window_ms"), self.window_ms)?;
        if !(0.0..1.0).contains(&self.threshold) {
            return Err(Error::field(
                format!("{field}.threshold"),
                format!("must be in [0, 1) (got {})", self.threshold),
            ));
        }
        Ok(())
    }
}

impl Encoder for TemporalSwitch {
    fn name(&self) -> &'static str {
        "temporal_switch"
    }

    fn n_outputs(&self, n_inputs: usize) -> usize {
        2 * n_inputs
    }

    fn encode(&self, values: &[f32], grid: &TimeGrid, _seed: u64, _sample: u64) -> SpikeTrains {
        let n = values.len();
        let mut out = SpikeTrains::new(2 * n, grid.duration_ms());
        let t_off = self.t_start_ms + self.window_ms;
        for (i, &x) in values.iter().enumerate() {
            let x = unit(x);
            if is_silent(x, self.threshold) {
                continue;
            }
            let t_on = self.t_start_ms + (1.0 - x) * self.window_ms;
            if t_on < grid.duration_ms() {
                out.push(i as u32, t_on);
            }
            if t_off < grid.duration_ms() {
                out.push((n + i) as u32, t_off);
            }
        }
        out.sort();
        out
    }
}

impl Decoder for TemporalSwitch {
    fn decode(&self, trains: &SpikeTrains, _grid: &TimeGrid, n_inputs: usize) -> Vec<f32> {
        let first = trains.first_spike_ms();
        let at = |k: usize| first.get(k).copied().flatten();
        (0..n_inputs)
            .map(|i| match (at(i), at(n_inputs + i)) {
                (Some(on), Some(off)) => ((off - on) / self.window_ms).clamp(0.0, 1.0) as f32,
                _ => 0.0,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_the_time_difference_of_the_pair() {
        let enc = TemporalSwitch::new(1.0, 10.0, 0.0).unwrap();
        let grid = TimeGrid::new(20, 1.0).unwrap();
        let s = enc.encode(&[0.3, 0.0, 1.0], &grid, 0, 0);
        let f = s.first_spike_ms();
        assert_eq!(s.n_neurons, 6);
        assert!((f[0].unwrap() - 8.0).abs() < 1e-6 && f[3] == Some(11.0));
        assert!(f[1].is_none() && f[4].is_none(), "zero input is silent");
        assert_eq!((f[2], f[5]), (Some(1.0), Some(11.0)));
    }

    #[test]
    fn round_trip_exact_and_within_one_step_through_the_dense_tensor() {
        let enc = TemporalSwitch::new(0.0, 16.0, 0.0).unwrap();
        let grid = TimeGrid::new(40, 0.5).unwrap();
        let xs: Vec<f32> = (1..=40).map(|i| i as f32 / 40.0).collect();
        let s = enc.encode(&xs, &grid, 0, 0);
        let back = enc.decode(&s, &grid, xs.len());
        for (x, y) in xs.iter().zip(&back) {
            assert!((x - y).abs() < 1e-6, "{x} -> {y}");
        }
        let mut dense = vec![0u8; 40 * 80];
        enc.encode_batch_u8(&xs, 40, &[0], &grid, 0, &mut dense)
            .unwrap();
        let back = enc.decode(
            &SpikeTrains::from_dense(&grid, 80, &dense).unwrap(),
            &grid,
            40,
        );
        for (x, y) in xs.iter().zip(&back) {
            // t_on snaps down by < dt, t_off is on the grid: x̂ ∈ [x, x + dt/W).
            assert!(*y >= x - 1e-6 && *y < x + 0.5 / 16.0 + 1e-6, "{x} -> {y}");
        }
    }
}
