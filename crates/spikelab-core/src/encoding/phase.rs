//! Phase coding and burst coding: two codes that put more than one bit in a neuron's
//! spikes by the position of spikes within a cycle or a burst.
//!
//! **Phase coding** (Kim et al. 2018, "weighted spikes"): time is divided into
//! periods of `K` phases of length `phase_ms`; phase `k` (1-based) carries the weight
//! `2^−k`, and an input spikes in phase `k` of every period iff the `k`-th binary digit
//! of `q = ⌊x·2^K⌋` is 1:
//!
//! ```text
//! spike at t = t_start + (p·K + k − 1) · phase_ms   for every period p, each b_k = 1
//! ω(t)   = 2^−(1 + ((t − t_start)/phase_ms mod K))   (weight a receiver applies)
//! x̂     = Σ_{spikes of one period} ω(t) = q / 2^K
//! ```
//!
//! **Burst coding** (Park et al. 2019): the value sets the number of spikes in a burst
//! and how tightly they are packed:
//!
//! ```text
//! N(x)   = ⌈N_max · x⌉                                  (spikes per burst)
//! ISI(x) = T_max − (T_max − T_min) · x   if N(x) > 1      (ms)
//! spikes at t_start + j · ISI(x), j = 0 … N(x) − 1, repeated every period (if > 0)
//! ```
//!
//! Decoding a burst: with two or more spikes, `x̂ = (T_max − ISI)/(T_max − T_min)`
//! (exact); a single spike says only `x ∈ (0, 1/N_max]` and decodes to `1/(2·N_max)`.
//!
//! References: Kim J, Kim H, Huh S, Lee J, Choi K (2018) Deep neural networks with
//! weighted spikes. Neurocomputing 311:373–386. Park S, Kim S, Choe H, Yoon S (2019)
//! Fast and efficient information transmission with burst spikes in deep spiking
//! neural networks. DAC 2019.

use super::{is_silent, unit, Decoder, Encoder, SpikeTrains, TimeGrid};
use crate::error::{check_non_negative, check_positive, Error, Result};
use serde::{Deserialize, Serialize};

fn check_threshold(field: &str, threshold: f64) -> Result<()> {
    if (0.0..1.0).contains(&threshold) {
        Ok(())
    } else {
        Err(Error::field(
            format!("{field}.threshold"),
            format!("must be in [0, 1) (got {threshold})"),
        ))
    }
}

/// Phase coding with binary-weighted phases (see the module documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Phase {
    /// Phases per period `K` = binary digits of the value (1..=16).
    pub n_phases: u32,
    /// Length of one phase (ms, > 0).
    pub phase_ms: f64,
    /// Start of the first period (ms, >= 0).
    pub t_start_ms: f64,
    /// Inputs `x ≤ threshold` are silent (in [0, 1)).
    pub threshold: f64,
}

impl Default for Phase {
    fn default() -> Self {
        Phase {
            n_phases: 8,
            phase_ms: 1.0,
            t_start_ms: 0.0,
            threshold: 0.0,
        }
    }
}

impl Phase {
    /// `n_phases` phases of `phase_ms` each.
    pub fn new(n_phases: u32, phase_ms: f64) -> Result<Self> {
        let e = Phase {
            n_phases,
            phase_ms,
            ..Default::default()
        };
        e.validate("encoder")?;
        Ok(e)
    }

    /// Checks the parameters; `field` names the encoder in error messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        if !(1..=16).contains(&self.n_phases) {
            return Err(Error::field(
                format!("{field}.n_phases"),
                format!("must be in 1..=16 (got {})", self.n_phases),
            ));
        }
        check_positive(&format!("{field}.phase_ms"), self.phase_ms)?;
        check_non_negative(&format!("{field}.t_start_ms"), self.t_start_ms)?;
        check_threshold(field, self.threshold)
    }

    /// `⌊x·2^K⌋` (0 if silent; 1 reads as `2^K − 1`).
    pub fn quantize(&self, x: f32) -> u32 {
        let x = unit(x);
        if is_silent(x, self.threshold) {
            return 0;
        }
        let full = 1u32 << self.n_phases;
        ((x * full as f64).floor() as u32).min(full - 1)
    }

    /// The weight `ω(t) = 2^−(1 + phase)` of a spike at `t_ms` (0 before `t_start`).
    pub fn weight(&self, t_ms: f64) -> f32 {
        let k = ((t_ms - self.t_start_ms) / self.phase_ms + 1e-9).floor();
        if k < 0.0 {
            return 0.0;
        }
        0.5f32.powi((k as u64 % self.n_phases as u64) as i32 + 1)
    }
}

impl Encoder for Phase {
    fn name(&self) -> &'static str {
        "phase"
    }

    fn n_outputs(&self, n_inputs: usize) -> usize {
        n_inputs
    }

    fn encode(&self, values: &[f32], grid: &TimeGrid, _seed: u64, _sample: u64) -> SpikeTrains {
        let mut out = SpikeTrains::new(values.len(), grid.duration_ms());
        let k_phases = self.n_phases as usize;
        let period_ms = k_phases as f64 * self.phase_ms;
        for (i, &x) in values.iter().enumerate() {
            let q = self.quantize(x);
            if q == 0 {
                continue;
            }
            let mut p = 0usize;
            'periods: loop {
                for k in 0..k_phases {
                    let t = self.t_start_ms + p as f64 * period_ms + k as f64 * self.phase_ms;
                    if t >= grid.duration_ms() {
                        break 'periods;
                    }
                    if q >> (k_phases - 1 - k) & 1 == 1 {
                        out.push(i as u32, t);
                    }
                }
                p += 1;
            }
        }
        out.sort();
        out
    }
}

impl Decoder for Phase {
    /// Sums the weights of the spikes in the first period.
    fn decode(&self, trains: &SpikeTrains, _grid: &TimeGrid, n_inputs: usize) -> Vec<f32> {
        let end = self.t_start_ms + self.n_phases as f64 * self.phase_ms;
        let mut x = vec![0f32; n_inputs];
        for (n, t) in trains.iter() {
            if t + 1e-9 * self.phase_ms < end {
                if let Some(v) = x.get_mut(n as usize) {
                    *v += self.weight(t);
                }
            }
        }
        x
    }
}

/// Burst coding (see the module documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Burst {
    /// Spikes in the burst of a full input `N_max` (1..=1000).
    pub n_max: u32,
    /// Inter-spike interval at full input `T_min` (ms, > 0).
    pub isi_min_ms: f64,
    /// Inter-spike interval as the input goes to 0 `T_max` (ms, > isi_min_ms).
    pub isi_max_ms: f64,
    /// Time of the first spike of the first burst (ms, >= 0).
    pub t_start_ms: f64,
    /// Bursts repeat with this period (ms); 0 = a single burst. When > 0 it must
    /// exceed `(n_max − 1) · isi_max_ms` so bursts do not overlap.
    pub period_ms: f64,
    /// Inputs `x ≤ threshold` are silent (in [0, 1)).
    pub threshold: f64,
}

impl Default for Burst {
    fn default() -> Self {
        Burst {
            n_max: 5,
            isi_min_ms: 1.0,
            isi_max_ms: 4.0,
            t_start_ms: 0.0,
            period_ms: 0.0,
            threshold: 0.0,
        }
    }
}

impl Burst {
    /// A single burst of up to `n_max` spikes with intervals in
    /// `[isi_min_ms, isi_max_ms]`.
    pub fn new(n_max: u32, isi_min_ms: f64, isi_max_ms: f64) -> Result<Self> {
        let e = Burst {
            n_max,
            isi_min_ms,
            isi_max_ms,
            ..Default::default()
        };
        e.validate("encoder")?;
        Ok(e)
    }

    /// Checks the parameters; `field` names the encoder in error messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        if !(1..=1000).contains(&self.n_max) {
            return Err(Error::field(
                format!("{field}.n_max"),
                format!("must be in 1..=1000 (got {})", self.n_max),
            ));
        }
        check_positive(&format!("{field}.isi_min_ms"), self.isi_min_ms)?;
        check_positive(&format!("{field}.isi_max_ms"), self.isi_max_ms)?;
        if self.isi_max_ms <= self.isi_min_ms {
            return Err(Error::field(
                format!("{field}.isi_max_ms"),
                format!(
                    "must be greater than isi_min_ms = {} (got {})",
                    self.isi_min_ms, self.isi_max_ms
                ),
            ));
        }
        check_non_negative(&format!("{field}.t_start_ms"), self.t_start_ms)?;
        check_non_negative(&format!("{field}.period_ms"), self.period_ms)?;
        let burst_max = (self.n_max - 1) as f64 * self.isi_max_ms;
        if self.period_ms > 0.0 && self.period_ms <= burst_max {
            return Err(Error::field(
                format!("{field}.period_ms"),
                format!(
                    "must be 0 (one burst) or longer than the longest burst (n_max − 1)·isi_max_ms = {burst_max} ms (got {})",
                    self.period_ms
                ),
            ));
        }
        check_threshold(field, self.threshold)
    }

    /// Spikes per burst `N(x)` (0 if silent).
    pub fn n_spikes(&self, x: f32) -> u32 {
        let x = unit(x);
        if is_silent(x, self.threshold) {
            return 0;
        }
        ((self.n_max as f64 * x).ceil() as u32).clamp(1, self.n_max)
    }

    /// Inter-spike interval `ISI(x)` (ms).
    pub fn isi_ms(&self, x: f32) -> f64 {
        self.isi_max_ms - (self.isi_max_ms - self.isi_min_ms) * unit(x)
    }
}

impl Encoder for Burst {
    fn name(&self) -> &'static str {
        "burst"
    }

    fn n_outputs(&self, n_inputs: usize) -> usize {
        n_inputs
    }

    fn encode(&self, values: &[f32], grid: &TimeGrid, _seed: u64, _sample: u64) -> SpikeTrains {
        let mut out = SpikeTrains::new(values.len(), grid.duration_ms());
        for (i, &x) in values.iter().enumerate() {
            let n = self.n_spikes(x);
            let isi = self.isi_ms(x);
            let mut start = self.t_start_ms;
            while start < grid.duration_ms() {
                for j in 0..n {
                    let t = start + j as f64 * isi;
                    if t < grid.duration_ms() {
                        out.push(i as u32, t);
                    }
                }
                if self.period_ms <= 0.0 || n == 0 {
                    break;
                }
                start += self.period_ms;
            }
        }
        out.sort();
        out
    }
}

impl Decoder for Burst {
    /// Reads the first burst of each neuron.
    fn decode(&self, trains: &SpikeTrains, _grid: &TimeGrid, n_inputs: usize) -> Vec<f32> {
        let per = trains.per_neuron();
        let burst_end = self.t_start_ms
            + if self.period_ms > 0.0 {
                self.period_ms
            } else {
                f64::INFINITY
            };
        (0..n_inputs)
            .map(|i| {
                let times: Vec<f64> = per
                    .get(i)
                    .map(|v| v.iter().copied().filter(|&t| t < burst_end).collect())
                    .unwrap_or_default();
                match times.len() {
                    0 => 0.0,
                    1 => (0.5 / self.n_max as f64) as f32,
                    _ => {
                        let isi = times[1] - times[0];
                        ((self.isi_max_ms - isi) / (self.isi_max_ms - self.isi_min_ms))
                            .clamp(0.0, 1.0) as f32
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_spikes_repeat_every_period_with_binary_weights() {
        let enc = Phase::new(3, 1.0).unwrap();
        let grid = TimeGrid::new(7, 1.0).unwrap();
        // 0.625 = 0.101b: phases 0 and 2 of each 3-phase period.
        let s = enc.encode(&[0.625], &grid, 0, 0);
        assert_eq!(s.times_ms, vec![0.0, 2.0, 3.0, 5.0, 6.0]);
        assert_eq!(enc.weight(0.0), 0.5);
        assert_eq!(enc.weight(5.0), 0.125);
        assert_eq!(enc.decode(&s, &grid, 1), vec![0.625]);
    }

    #[test]
    fn phase_round_trip_is_exact_to_the_quantisation() {
        let enc = Phase::new(6, 0.5).unwrap();
        let grid = TimeGrid::new(30, 0.5).unwrap();
        let xs: Vec<f32> = (0..=100).map(|i| i as f32 / 100.0).collect();
        let mut dense = vec![0u8; 30 * xs.len()];
        enc.encode_batch_u8(&xs, xs.len(), &[0], &grid, 0, &mut dense)
            .unwrap();
        let via_dense = SpikeTrains::from_dense(&grid, xs.len(), &dense).unwrap();
        for trains in [enc.encode(&xs, &grid, 0, 0), via_dense] {
            let back = enc.decode(&trains, &grid, xs.len());
            for (x, y) in xs.iter().zip(&back) {
                let want = enc.quantize(*x) as f32 / 64.0;
                assert_eq!(*y, want, "{x}");
                assert!(x - y < 1.0 / 64.0 + 1e-6);
            }
        }
    }

    #[test]
    fn burst_count_and_interval_follow_the_value() {
        let enc = Burst::new(5, 1.0, 5.0).unwrap();
        let grid = TimeGrid::new(100, 1.0).unwrap();
        for (x, n) in [
            (0.0f32, 0usize),
            (0.1, 1),
            (0.19, 1),
            (0.21, 2),
            (0.5, 3),
            (1.0, 5),
        ] {
            let s = enc.encode(&[x], &grid, 0, 0);
            assert_eq!(s.len(), n, "x {x}");
            for w in s.times_ms.windows(2) {
                assert!((w[1] - w[0] - (5.0 - 4.0 * x as f64)).abs() < 1e-9);
            }
        }
        let rep = Burst {
            period_ms: 25.0,
            ..enc.clone()
        };
        assert_eq!(rep.encode(&[1.0], &grid, 0, 0).len(), 20, "4 bursts of 5");
        assert!(Burst {
            period_ms: 10.0,
            ..enc.clone()
        }
        .validate("e")
        .is_err());
    }

    #[test]
    fn burst_round_trip_is_exact_with_two_or_more_spikes() {
        let enc = Burst::new(8, 0.5, 3.0).unwrap();
        let grid = TimeGrid::new(400, 0.1).unwrap();
        let xs: Vec<f32> = (13..=100).map(|i| i as f32 / 100.0).collect();
        let back = enc.decode(&enc.encode(&xs, &grid, 0, 0), &grid, xs.len());
        for (x, y) in xs.iter().zip(&back) {
            assert!((x - y).abs() < 1e-5, "{x} -> {y}");
        }
        let one = enc.decode(&enc.encode(&[0.1], &grid, 0, 0), &grid, 1)[0];
        assert_eq!(one, 1.0 / 16.0);
    }
}
