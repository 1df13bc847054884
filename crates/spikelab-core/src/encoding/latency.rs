//! Latency (time-to-first-spike) coding: every input fires at most once, stronger
//! inputs earlier.
//!
//! ```text
//! linear:  t(x) = t_min + (t_max − t_min) · (1 − x)               for x > θ
//! log:     t(x) = t_min + τ · ln( x / (x − θ) )                   for x > θ
//! silent:  x ≤ θ, or t(x) > t_max, or t(x) outside the window
//! ```
//!
//! The logarithmic map is the firing time of an RC circuit (time constant τ) charged
//! by a constant input `x` towards a threshold `θ` (snnTorch's
//! `spikegen.latency(..., linear=False)`); its resolution is finest for weak inputs.
//! Decoding reads the first spike of each neuron and inverts the map:
//! `x̂ = 1 − (t − t_min)/(t_max − t_min)` (linear), `x̂ = θ / (1 − e^{−(t − t_min)/τ})`
//! (log); silent neurons decode to 0.

use super::{
    check_batch_shapes, is_silent, unit, Decoder, Encoder, SpikeTrains, SpikeValue, TimeGrid,
};
use crate::error::{check_finite, check_non_negative, check_positive, Error, Result};
use serde::{Deserialize, Serialize};

/// Shape of the value → latency map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyMapping {
    /// `t = t_min + (t_max − t_min)(1 − x)`.
    #[default]
    Linear,
    /// `t = t_min + τ ln(x / (x − θ))` (RC charging to threshold).
    Log,
}

/// Latency coding (see the module documentation for the formulas).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Latency {
    /// Value → time map.
    pub mapping: LatencyMapping,
    /// Time of the earliest spike (input 1 with the linear map) (ms, >= 0).
    pub t_min_ms: f64,
    /// Latest spike time; later spikes are dropped (ms, > t_min_ms).
    pub t_max_ms: f64,
    /// Time constant of the logarithmic map (ms, > 0; unused by the linear map).
    pub tau_ms: f64,
    /// Inputs `x ≤ threshold` are silent (in [0, 1); must be > 0 for the log map).
    pub threshold: f64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            mapping: LatencyMapping::Linear,
            t_min_ms: 0.0,
            t_max_ms: 24.0,
            tau_ms: 5.0,
            threshold: 0.0,
        }
    }
}

impl Latency {
    /// Linear latency coding over `[t_min_ms, t_max_ms]`.
    pub fn linear(t_min_ms: f64, t_max_ms: f64, threshold: f64) -> Result<Self> {
        let e = Latency {
            mapping: LatencyMapping::Linear,
            t_min_ms,
            t_max_ms,
            threshold,
            ..Default::default()
        };
        e.validate("encoder")?;
        Ok(e)
    }

    /// Logarithmic (RC) latency coding with time constant `tau_ms`, spikes after
    /// `t_max_ms` dropped.
    pub fn log(tau_ms: f64, threshold: f64, t_min_ms: f64, t_max_ms: f64) -> Result<Self> {
        let e = Latency {
            mapping: LatencyMapping::Log,
            t_min_ms,
            t_max_ms,
            tau_ms,
            threshold,
        };
        e.validate("encoder")?;
        Ok(e)
    }

    /// Checks the parameters; `field` names the encoder in error messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        check_non_negative(&format!("{field}.t_min_ms"), self.t_min_ms)?;
        check_finite(&format!("{field}.t_max_ms"), self.t_max_ms)?;
        if self.t_max_ms <= self.t_min_ms {
            return Err(Error::field(
                format!("{field}.t_max_ms"),
                format!(
                    "must be greater than t_min_ms = {} (got {})",
                    self.t_min_ms, self.t_max_ms
                ),
            ));
        }
        if !(0.0..1.0).contains(&self.threshold) {
            return Err(Error::field(
                format!("{field}.threshold"),
                format!("must be in [0, 1) (got {})", self.threshold),
            ));
        }
        if self.mapping == LatencyMapping::Log {
            check_positive(&format!("{field}.tau_ms"), self.tau_ms)?;
            if self.threshold <= 0.0 {
                return Err(Error::field(
                    format!("{field}.threshold"),
                    "must be > 0 for the log mapping (the RC circuit's firing threshold)",
                ));
            }
        }
        Ok(())
    }

    /// Spike time (ms) for input `x`, or `None` if it stays silent.
    #[inline]
    pub fn spike_time_ms(&self, x: f32) -> Option<f64> {
        let x = unit(x);
        if is_silent(x, self.threshold) {
            return None;
        }
        let t = match self.mapping {
            LatencyMapping::Linear => self.t_min_ms + (self.t_max_ms - self.t_min_ms) * (1.0 - x),
            LatencyMapping::Log => self.t_min_ms + self.tau_ms * (x / (x - self.threshold)).ln(),
        };
        (t <= self.t_max_ms).then_some(t)
    }

    /// The input whose spike comes at `t_ms` (inverse of [`Latency::spike_time_ms`]).
    pub fn value_of_time(&self, t_ms: f64) -> f32 {
        let x = match self.mapping {
            LatencyMapping::Linear => {
                1.0 - (t_ms - self.t_min_ms) / (self.t_max_ms - self.t_min_ms)
            }
            LatencyMapping::Log => {
                let d = -(-(t_ms - self.t_min_ms) / self.tau_ms).exp_m1();
                if d <= 0.0 {
                    1.0
                } else {
                    self.threshold / d
                }
            }
        };
        x.clamp(0.0, 1.0) as f32
    }

    /// Fast batch path: one spike per input written straight into the tensor.
    pub fn encode_batch<S: SpikeValue>(
        &self,
        inputs: &[f32],
        n_inputs: usize,
        samples: &[u64],
        grid: &TimeGrid,
        out: &mut [S],
    ) -> Result<()> {
        let batch = check_batch_shapes(self, inputs.len(), n_inputs, samples, grid, out.len())?;
        out.fill(S::ZERO);
        for (k, &x) in inputs.iter().enumerate() {
            if let Some(s) = self.spike_time_ms(x).and_then(|t| grid.step_of(t)) {
                let (b, i) = (k / n_inputs, k % n_inputs);
                out[(s * batch + b) * n_inputs + i] = S::ONE;
            }
        }
        Ok(())
    }
}

impl Encoder for Latency {
    fn name(&self) -> &'static str {
        "latency"
    }

    fn n_outputs(&self, n_inputs: usize) -> usize {
        n_inputs
    }

    fn encode(&self, values: &[f32], grid: &TimeGrid, _seed: u64, _sample: u64) -> SpikeTrains {
        let mut out = SpikeTrains::new(values.len(), grid.duration_ms());
        for (i, &x) in values.iter().enumerate() {
            if let Some(t) = self.spike_time_ms(x) {
                if t < grid.duration_ms() {
                    out.push(i as u32, t);
                }
            }
        }
        out.sort();
        out
    }

    fn encode_batch_f32(
        &self,
        inputs: &[f32],
        n_inputs: usize,
        samples: &[u64],
        grid: &TimeGrid,
        _seed: u64,
        out: &mut [f32],
    ) -> Result<()> {
        self.encode_batch(inputs, n_inputs, samples, grid, out)
    }

    fn encode_batch_u8(
        &self,
        inputs: &[f32],
        n_inputs: usize,
        samples: &[u64],
        grid: &TimeGrid,
        _seed: u64,
        out: &mut [u8],
    ) -> Result<()> {
        self.encode_batch(inputs, n_inputs, samples, grid, out)
    }
}

impl Decoder for Latency {
    fn decode(&self, trains: &SpikeTrains, _grid: &TimeGrid, n_inputs: usize) -> Vec<f32> {
        let first = trains.first_spike_ms();
        (0..n_inputs)
            .map(|i| match first.get(i).copied().flatten() {
                Some(t) => self.value_of_time(t),
                None => 0.0,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::encode_batch_via_trains;

    #[test]
    fn stronger_inputs_fire_earlier_and_weak_inputs_are_silent() {
        for enc in [
            Latency::linear(1.0, 20.0, 0.05).unwrap(),
            Latency::log(5.0, 0.05, 1.0, 20.0).unwrap(),
        ] {
            let xs = [0.9f32, 0.2, 0.05, 0.0, 0.6, 1.0];
            let grid = TimeGrid::new(100, 0.25).unwrap();
            let s = enc.encode(&xs, &grid, 0, 0);
            let first = s.first_spike_ms();
            assert_eq!(s.counts().iter().max(), Some(&1), "at most one spike each");
            assert!(
                first[2].is_none() && first[3].is_none(),
                "x <= threshold is silent"
            );
            let order: Vec<u32> = s.neurons.clone();
            assert_eq!(order, vec![5, 0, 4, 1], "{:?}", enc.mapping);
            assert!(first[5].unwrap() >= 1.0 && first[1].unwrap() <= 20.0);
        }
    }

    #[test]
    fn linear_and_log_maps_follow_their_formulas() {
        let lin = Latency::linear(2.0, 12.0, 0.0).unwrap();
        assert_eq!(lin.spike_time_ms(1.0), Some(2.0));
        assert_eq!(lin.spike_time_ms(0.5), Some(7.0));
        let log = Latency::log(4.0, 0.2, 0.0, 50.0).unwrap();
        let t = log.spike_time_ms(0.5).unwrap();
        assert!((t - 4.0 * (0.5f64 / 0.3).ln()).abs() < 1e-12);
        // RC check: v(t) = x (1 − e^{−t/τ}) reaches θ at t.
        assert!((0.5 * (1.0 - (-t / 4.0).exp()) - 0.2).abs() < 1e-12);
        // Just above threshold the spike comes after t_max and is dropped.
        assert_eq!(log.spike_time_ms(0.2000001), None);
        assert!(Latency::log(4.0, 0.0, 0.0, 10.0).is_err());
        assert!(Latency::linear(5.0, 5.0, 0.0).is_err());
    }

    #[test]
    fn first_spike_decoding_round_trips_within_resolution() {
        let grid = TimeGrid::new(64, 0.5).unwrap();
        let xs: Vec<f32> = (0..50).map(|i| 0.1 + 0.018 * i as f32).collect();
        for enc in [
            Latency::linear(0.0, 31.0, 0.05).unwrap(),
            Latency::log(8.0, 0.05, 0.0, 31.0).unwrap(),
        ] {
            // Exact times: exact inverse.
            let back = enc.decode(&enc.encode(&xs, &grid, 0, 0), &grid, xs.len());
            for (x, y) in xs.iter().zip(&back) {
                assert!((x - y).abs() < 1e-5, "{:?}: {x} -> {y}", enc.mapping);
            }
            // Through the dense tensor: times snap down to the step start, so the
            // decoded value is off by at most the value change over one step.
            let mut dense = vec![0u8; 64 * xs.len()];
            enc.encode_batch_u8(&xs, xs.len(), &[0], &grid, 0, &mut dense)
                .unwrap();
            let back = enc.decode(
                &SpikeTrains::from_dense(&grid, xs.len(), &dense).unwrap(),
                &grid,
                xs.len(),
            );
            for (x, y) in xs.iter().zip(&back) {
                let t = enc.spike_time_ms(*x).unwrap();
                let bound = (enc.value_of_time(t - grid.dt_ms) - x).abs() + 1e-5;
                assert!((x - y).abs() <= bound, "{:?}: {x} -> {y}", enc.mapping);
            }
        }
    }

    #[test]
    fn fast_batch_path_equals_generic_path() {
        let enc = Latency::log(3.0, 0.1, 0.5, 9.0).unwrap();
        let grid = TimeGrid::new(10, 1.0).unwrap();
        let inputs: Vec<f32> = (0..3 * 7).map(|i| (i % 9) as f32 / 8.0).collect();
        let mut a = vec![0f32; 10 * 3 * 7];
        let mut b = vec![0f32; 10 * 3 * 7];
        enc.encode_batch_f32(&inputs, 7, &[0, 1, 2], &grid, 0, &mut a)
            .unwrap();
        encode_batch_via_trains(&enc, &inputs, 7, &[0, 1, 2], &grid, 0, &mut b).unwrap();
        assert_eq!(a, b);
    }
}
