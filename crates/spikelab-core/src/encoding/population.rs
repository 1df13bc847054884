//! Population coding of scalar signals with Gaussian receptive fields (Bohte, Kok &
//! La Poutré 2002): each scalar drives `m` neurons with overlapping Gaussian tuning
//! curves, and each neuron fires once, earlier the better its preferred value matches.
//!
//! ```text
//! μ_j = v_min + (2j − 3)/2 · (v_max − v_min)/(m − 2),   j = 1 … m     (centres)
//! σ   = (v_max − v_min) / (β · (m − 2))                                (width)
//! a_j = exp(−(v − μ_j)² / (2σ²))                                       (response ∈ (0, 1])
//! t_j = t_start + (1 − a_j) · t_max      if a_j ≥ a_min, else silent   (ms)
//! ```
//!
//! The centres extend half a spacing beyond the range so the edges are covered like the
//! interior. Output layout: input `i` drives neurons `i·m … i·m + m − 1`. The input is
//! a scalar in `[v_min, v_max]` (clamped; NaN reads as `v_min`), not an intensity.
//!
//! Decoding fits the value: the observed responses `â_j = 1 − (t_j − t_start)/t_max`
//! (0 for silent neurons) are matched to the tuning curves by least squares,
//! `v̂ = argmin_v Σ_j (â_j − a_j(v)·[a_j(v) ≥ a_min])²`, by a grid search refined by
//! golden-section search. With exact spike times the round trip is exact to ~1e-6 of
//! the range; on a time grid the error is set by `dt / t_max`.

use super::{Decoder, Encoder, SpikeTrains, TimeGrid};
use crate::error::{check_finite, check_non_negative, check_positive, Error, Result};
use serde::{Deserialize, Serialize};

/// Gaussian receptive-field population coding (see the module documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GaussianPopulation {
    /// Neurons per input `m` (3..=1024).
    pub n_neurons: u32,
    /// Lower end of the input range `v_min` (input units).
    pub v_min: f64,
    /// Upper end of the input range `v_max` (> v_min).
    pub v_max: f64,
    /// Width factor `β` (> 0); larger = narrower fields. Bohte et al. use 1.5.
    pub beta: f64,
    /// Latency of a response of 0 `t_max` (ms, > 0).
    pub t_max_ms: f64,
    /// Time of the spike of a perfectly tuned neuron (ms, >= 0).
    pub t_start_ms: f64,
    /// Smallest response that fires `a_min` (in [0, 1)); weaker neurons are silent.
    pub min_response: f64,
}

impl Default for GaussianPopulation {
    fn default() -> Self {
        GaussianPopulation {
            n_neurons: 12,
            v_min: 0.0,
            v_max: 1.0,
            beta: 1.5,
            t_max_ms: 10.0,
            t_start_ms: 0.0,
            min_response: 0.1,
        }
    }
}

impl GaussianPopulation {
    /// `n_neurons` fields covering `[v_min, v_max]`, latencies up to `t_max_ms`.
    pub fn new(n_neurons: u32, v_min: f64, v_max: f64, t_max_ms: f64) -> Result<Self> {
        let e = GaussianPopulation {
            n_neurons,
            v_min,
            v_max,
            t_max_ms,
            ..Default::default()
        };
        e.validate("encoder")?;
        Ok(e)
    }

    /// Checks the parameters; `field` names the encoder in error messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        if !(3..=1024).contains(&self.n_neurons) {
            return Err(Error::field(
                format!("{field}.n_neurons"),
                format!("must be in 3..=1024 (got {})", self.n_neurons),
            ));
        }
        check_finite(&format!("{field}.v_min"), self.v_min)?;
        check_finite(&format!("{field}.v_max"), self.v_max)?;
        if self.v_max <= self.v_min {
            return Err(Error::field(
                format!("{field}.v_max"),
                format!(
                    "must be greater than v_min = {} (got {})",
                    self.v_min, self.v_max
                ),
            ));
        }
        check_positive(&format!("{field}.beta"), self.beta)?;
        check_positive(&format!("{field}.t_max_ms"), self.t_max_ms)?;
        check_non_negative(&format!("{field}.t_start_ms"), self.t_start_ms)?;
        if !(0.0..1.0).contains(&self.min_response) {
            return Err(Error::field(
                format!("{field}.min_response"),
                format!("must be in [0, 1) (got {})", self.min_response),
            ));
        }
        Ok(())
    }

    fn spacing(&self) -> f64 {
        (self.v_max - self.v_min) / (self.n_neurons - 2) as f64
    }

    /// Preferred value `μ_j` of neuron `j` (0-based).
    pub fn centre(&self, j: usize) -> f64 {
        self.v_min + (2.0 * (j + 1) as f64 - 3.0) / 2.0 * self.spacing()
    }

    /// Tuning width `σ`.
    pub fn sigma(&self) -> f64 {
        self.spacing() / self.beta
    }

    fn clamp_input(&self, v: f32) -> f64 {
        if v.is_nan() {
            self.v_min
        } else {
            (v as f64).clamp(self.v_min, self.v_max)
        }
    }

    /// Responses `a_j(v)` of the `m` neurons (before the `a_min` cut).
    pub fn responses(&self, v: f32) -> Vec<f64> {
        let v = self.clamp_input(v);
        self.responses_f64(v)
    }

    fn responses_f64(&self, v: f64) -> Vec<f64> {
        let two_s2 = 2.0 * self.sigma().powi(2);
        (0..self.n_neurons as usize)
            .map(|j| (-(v - self.centre(j)).powi(2) / two_s2).exp())
            .collect()
    }

    fn fit(&self, observed: &[f64]) -> f64 {
        let cost = |v: f64| -> f64 {
            let two_s2 = 2.0 * self.sigma().powi(2);
            observed
                .iter()
                .enumerate()
                .map(|(j, &o)| {
                    let a = (-(v - self.centre(j)).powi(2) / two_s2).exp();
                    let a = if a >= self.min_response { a } else { 0.0 };
                    (o - a).powi(2)
                })
                .sum()
        };
        let n_grid = 64 * self.n_neurons as usize;
        let step = (self.v_max - self.v_min) / n_grid as f64;
        let (mut best, mut best_cost) = (self.v_min, f64::INFINITY);
        for k in 0..=n_grid {
            let v = self.v_min + k as f64 * step;
            let c = cost(v);
            if c < best_cost {
                (best, best_cost) = (v, c);
            }
        }
        // Golden-section refinement on [best − step, best + step].
        let (mut a, mut b) = ((best - step).max(self.v_min), (best + step).min(self.v_max));
        let g = (5f64.sqrt() - 1.0) / 2.0;
        let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
        let (mut fc, mut fd) = (cost(c), cost(d));
        for _ in 0..60 {
            if fc < fd {
                (b, d, fd) = (d, c, fc);
                c = b - g * (b - a);
                fc = cost(c);
            } else {
                (a, c, fc) = (c, d, fd);
                d = a + g * (b - a);
                fd = cost(d);
            }
        }
        let v = (a + b) / 2.0;
        if cost(v) <= best_cost {
            v
        } else {
            best
        }
    }
}

impl Encoder for GaussianPopulation {
    fn name(&self) -> &'static str {
        "population"
    }

    fn n_outputs(&self, n_inputs: usize) -> usize {
        n_inputs * self.n_neurons as usize
    }

    fn encode(&self, values: &[f32], grid: &TimeGrid, _seed: u64, _sample: u64) -> SpikeTrains {
        let m = self.n_neurons as usize;
        let mut out = SpikeTrains::new(values.len() * m, grid.duration_ms());
        for (i, &v) in values.iter().enumerate() {
            for (j, a) in self.responses(v).into_iter().enumerate() {
                if a >= self.min_response {
                    let t = self.t_start_ms + (1.0 - a) * self.t_max_ms;
                    if t < grid.duration_ms() {
                        out.push((i * m + j) as u32, t);
                    }
                }
            }
        }
        out.sort();
        out
    }
}

impl Decoder for GaussianPopulation {
    fn decode(&self, trains: &SpikeTrains, _grid: &TimeGrid, n_inputs: usize) -> Vec<f32> {
        let m = self.n_neurons as usize;
        let first = trains.first_spike_ms();
        (0..n_inputs)
            .map(|i| {
                let observed: Vec<f64> = (0..m)
                    .map(|j| match first.get(i * m + j).copied().flatten() {
                        Some(t) => (1.0 - (t - self.t_start_ms) / self.t_max_ms).clamp(0.0, 1.0),
                        None => 0.0,
                    })
                    .collect();
                self.fit(&observed) as f32
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centres_follow_bohte_and_the_best_tuned_neuron_fires_first() {
        let enc = GaussianPopulation::new(7, -1.0, 1.0, 10.0).unwrap();
        // Spacing 2/5 = 0.4; centres -1.2, -0.8, ..., 1.2.
        assert!((enc.centre(0) + 1.2).abs() < 1e-12 && (enc.centre(6) - 1.2).abs() < 1e-12);
        assert!((enc.sigma() - 0.4 / 1.5).abs() < 1e-12);
        let grid = TimeGrid::new(200, 0.1).unwrap();
        let s = enc.encode(&[0.45], &grid, 0, 0);
        assert_eq!(s.neurons[0], 4, "the neuron preferring 0.4 fires first");
        let first = s.first_spike_ms();
        // A neuron exactly on the value fires at t_start.
        let s = enc.encode(&[0.4], &grid, 0, 0);
        assert!(s.first_spike_ms()[4].unwrap().abs() < 1e-9);
        // Far neurons are silent (response below 0.1).
        assert!(first[0].is_none() && first[1].is_none());
    }

    #[test]
    fn fitting_decoder_round_trips() {
        let enc = GaussianPopulation::new(10, 0.0, 5.0, 10.0).unwrap();
        let xs: Vec<f32> = (0..=100).map(|i| i as f32 * 0.05).collect();
        let fine = TimeGrid::new(110, 0.1).unwrap();
        let back = enc.decode(&enc.encode(&xs, &fine, 0, 0), &fine, xs.len());
        for (x, y) in xs.iter().zip(&back) {
            assert!((x - y).abs() < 5e-5, "exact times: {x} -> {y}");
        }
        // Through a dense tensor with dt = 0.1 ms = 1% of t_max.
        let n_out = enc.n_outputs(xs.len());
        let mut dense = vec![0u8; 110 * n_out];
        enc.encode_batch_u8(&xs, xs.len(), &[0], &fine, 0, &mut dense)
            .unwrap();
        let s = SpikeTrains::from_dense(&fine, n_out, &dense).unwrap();
        let back = enc.decode(&s, &fine, xs.len());
        let worst = xs
            .iter()
            .zip(&back)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(worst < 0.02 * 5.0, "dense worst error {worst}");
    }
}
