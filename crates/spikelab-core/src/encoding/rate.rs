//! Rate coding: the value sets a firing rate, the spikes are random.
//!
//! * [`PoissonRate`] — a Poisson process in continuous time:
//!   `r = max_rate_hz · min(1, gain · x)`, inter-spike intervals drawn from
//!   `Exp(r)`, so the count in a window `T` is Poisson with mean `r·T`.
//! * [`BernoulliRate`] — one Bernoulli trial per time step (snnTorch's
//!   `spikegen.rate`, SpikingJelly's `PoissonEncoder`):
//!   `P(spike in a step) = p = max_prob · min(1, gain · x)`, i.e. a rate `p / dt`.
//!
//! Both decode by counting spikes (`x̂ = count / expected count at x = 1/gain`).
//! The Bernoulli batch encoder is on the trainer's hot path and is written for speed:
//! a counter-based hash per element (keyed by seed, sample and step) compared with
//! precomputed integer thresholds, vectorised (AVX2 when the CPU has it, with
//! identical results either way), rows in parallel.

use super::{check_batch_shapes, tags, unit, Decoder, Encoder, SpikeTrains, SpikeValue, TimeGrid};
use crate::error::{check_non_negative, check_probability, Result};
use crate::rng::{self, Domain};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Poisson rate coding in continuous time.
///
/// ```text
/// r_i = max_rate_hz · min(1, gain · x_i)            (Hz)
/// t_{k+1} = t_k − ln(u_k) / r_i,  u_k ~ U(0, 1]     (spike times, ms ×1000/Hz)
/// E[count_i] = r_i · T / 1000                       (T = window in ms)
/// ```
///
/// Several spikes of one neuron can fall in one time step; the dense tensor keeps one.
/// Decoder: `x̂_i = count_i · 1000 / (T · max_rate_hz · gain)`, clamped to `[0, 1]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoissonRate {
    /// Rate at full (saturated) input (Hz, >= 0).
    pub max_rate_hz: f64,
    /// Multiplier of the input before saturation at 1 (dimensionless, >= 0).
    pub gain: f64,
}

impl Default for PoissonRate {
    fn default() -> Self {
        PoissonRate {
            max_rate_hz: 100.0,
            gain: 1.0,
        }
    }
}

impl PoissonRate {
    /// Poisson coding with the given maximum rate and gain.
    pub fn new(max_rate_hz: f64, gain: f64) -> Result<Self> {
        let e = PoissonRate { max_rate_hz, gain };
        e.validate("encoder")?;
        Ok(e)
    }

    /// Checks the parameters; `field` names the encoder in error messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        check_non_negative(&format!("{field}.max_rate_hz"), self.max_rate_hz)?;
        check_non_negative(&format!("{field}.gain"), self.gain)
    }

    /// The rate (Hz) for input `x`.
    #[inline]
    pub fn rate_hz(&self, x: f32) -> f64 {
        self.max_rate_hz * (self.gain * unit(x)).min(1.0)
    }
}

impl Encoder for PoissonRate {
    fn name(&self) -> &'static str {
        "poisson"
    }

    fn n_outputs(&self, n_inputs: usize) -> usize {
        n_inputs
    }

    fn encode(&self, values: &[f32], grid: &TimeGrid, seed: u64, sample: u64) -> SpikeTrains {
        let duration = grid.duration_ms();
        let mut out = SpikeTrains::new(values.len(), duration);
        for (i, &x) in values.iter().enumerate() {
            let r = self.rate_hz(x);
            if r <= 0.0 {
                continue;
            }
            let mean_isi_ms = 1000.0 / r;
            let mut rng = rng::stream(seed, Domain::Encoder, &[tags::POISSON, sample, i as u64]);
            let mut t = 0.0;
            loop {
                t -= rng::uniform_open0(&mut rng).ln() * mean_isi_ms;
                if t >= duration {
                    break;
                }
                out.push(i as u32, t);
            }
        }
        out.sort();
        out
    }
}

impl Decoder for PoissonRate {
    fn decode(&self, trains: &SpikeTrains, grid: &TimeGrid, n_inputs: usize) -> Vec<f32> {
        let full = self.max_rate_hz * grid.duration_ms() / 1000.0 * self.gain;
        decode_counts(trains, n_inputs, full)
    }
}

fn decode_counts(trains: &SpikeTrains, n_inputs: usize, count_at_one: f64) -> Vec<f32> {
    let counts = trains.counts();
    (0..n_inputs)
        .map(|i| {
            let c = counts.get(i).copied().unwrap_or(0) as f64;
            if count_at_one > 0.0 {
                (c / count_at_one).clamp(0.0, 1.0) as f32
            } else {
                0.0
            }
        })
        .collect()
}

/// Bernoulli rate coding: an independent trial in every time step.
///
/// ```text
/// p_i = max_prob · min(1, gain · x_i)     (spike probability per step)
/// rate_i = p_i / dt                        (Hz when dt is in s)
/// E[count_i] = p_i · n_steps
/// ```
///
/// With `max_prob = 1, gain = 1` this is snnTorch's `spikegen.rate(x, num_steps)`.
/// [`BernoulliRate::from_rate`] sets `max_prob` from a maximum rate and a step length.
/// Decoder: `x̂_i = count_i / (n_steps · max_prob · gain)`, clamped to `[0, 1]`.
///
/// Randomness is counter-based: the uniform of input `i` in step `t` of sample `s`
/// is a hash of `(i, hash_keys(seed, Encoder, BERNOULLI, s, t))`, resolved to 2⁻³¹.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BernoulliRate {
    /// Spike probability per step at full (saturated) input, in [0, 1].
    pub max_prob: f64,
    /// Multiplier of the input before saturation at 1 (dimensionless, >= 0).
    pub gain: f64,
}

impl Default for BernoulliRate {
    fn default() -> Self {
        BernoulliRate {
            max_prob: 1.0,
            gain: 1.0,
        }
    }
}

impl BernoulliRate {
    /// Bernoulli coding with the given per-step maximum probability and gain.
    pub fn new(max_prob: f64, gain: f64) -> Result<Self> {
        let e = BernoulliRate { max_prob, gain };
        e.validate("encoder")?;
        Ok(e)
    }

    /// Bernoulli coding reaching `max_rate_hz` at full input with steps of `dt_ms`
    /// (`max_prob = max_rate_hz · dt_ms / 1000`, which must not exceed 1).
    pub fn from_rate(max_rate_hz: f64, gain: f64, dt_ms: f64) -> Result<Self> {
        check_non_negative("encoder.max_rate_hz", max_rate_hz)?;
        let p = max_rate_hz * dt_ms / 1000.0;
        if !(0.0..=1.0).contains(&p) {
            return Err(crate::error::Error::field(
                "encoder.max_rate_hz",
                format!(
                    "{max_rate_hz} Hz with dt = {dt_ms} ms is {p} spikes per step; at most one spike per step fits (max {} Hz)",
                    1000.0 / dt_ms
                ),
            ));
        }
        Self::new(p, gain)
    }

    /// Checks the parameters; `field` names the encoder in error messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        check_probability(&format!("{field}.max_prob"), self.max_prob)?;
        check_non_negative(&format!("{field}.gain"), self.gain)
    }

    /// Spike probability per step for input `x`.
    #[inline]
    pub fn prob(&self, x: f32) -> f64 {
        self.max_prob * (self.gain * unit(x)).min(1.0)
    }

    /// Integer threshold: spike iff a 31-bit uniform integer `< threshold`
    /// (`threshold = round(p · 2³¹)`, so p = 0 and p = 1 are exact).
    #[inline]
    fn threshold(&self, x: f32) -> u32 {
        (self.prob(x) * 2_147_483_648.0).round() as u32
    }

    /// The fast batch path (see [`Encoder::encode_batch_f32`]).
    pub fn encode_batch<S: SpikeValue>(
        &self,
        inputs: &[f32],
        n_inputs: usize,
        samples: &[u64],
        grid: &TimeGrid,
        seed: u64,
        out: &mut [S],
    ) -> Result<()> {
        let batch = check_batch_shapes(self, inputs.len(), n_inputs, samples, grid, out.len())?;
        if n_inputs == 0 || batch == 0 {
            return Ok(());
        }
        let thresholds: Vec<u32> = inputs.iter().map(|&x| self.threshold(x)).collect();
        out.par_chunks_mut(n_inputs)
            .with_min_len(8)
            .enumerate()
            .for_each(|(row, o)| {
                let (t, b) = (row / batch, row % batch);
                let key = row_key(seed, samples[b], t);
                bernoulli_row(key, &thresholds[b * n_inputs..(b + 1) * n_inputs], o);
            });
        Ok(())
    }
}

/// Key of the row of step `step` of sample `sample`.
#[inline]
fn row_key(seed: u64, sample: u64, step: usize) -> u64 {
    rng::hash_keys(
        seed,
        Domain::Encoder,
        &[tags::BERNOULLI, sample, step as u64],
    )
}

/// Chris Wellons' `lowbias32`: a bijective 32-bit mixer with low avalanche bias.
#[inline(always)]
fn lowbias32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// One row of Bernoulli trials, counter-based: the uniform of input `i` is
/// `u_i = lowbias32(lowbias32(i·φ ⊕ k_lo) ⊕ k_hi) >> 1` (31 bits) with `k` the row key,
/// and `out[i] = (u_i < thresholds[i])`. Every element is independent of the others'
/// draws, so the loop vectorises; integer arithmetic makes the result identical on
/// every machine and code path.
#[inline(always)]
fn bernoulli_row_portable<S: SpikeValue>(key: u64, thresholds: &[u32], out: &mut [S]) {
    let (k0, k1) = (key as u32, (key >> 32) as u32);
    for (i, (o, &t)) in out.iter_mut().zip(thresholds).enumerate() {
        let h = lowbias32(lowbias32((i as u32).wrapping_mul(0x9e37_79b9) ^ k0) ^ k1);
        *o = S::from_bool((h >> 1) < t);
    }
}

/// The same loop compiled for AVX2 (8 lanes of 32-bit multiplies).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn bernoulli_row_avx2<S: SpikeValue>(key: u64, thresholds: &[u32], out: &mut [S]) {
    bernoulli_row_portable(key, thresholds, out)
}

#[inline]
fn bernoulli_row<S: SpikeValue>(key: u64, thresholds: &[u32], out: &mut [S]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        unsafe { bernoulli_row_avx2(key, thresholds, out) };
        return;
    }
    bernoulli_row_portable(key, thresholds, out)
}

impl Encoder for BernoulliRate {
    fn name(&self) -> &'static str {
        "bernoulli"
    }

    fn n_outputs(&self, n_inputs: usize) -> usize {
        n_inputs
    }

    fn encode(&self, values: &[f32], grid: &TimeGrid, seed: u64, sample: u64) -> SpikeTrains {
        let mut out = SpikeTrains::new(values.len(), grid.duration_ms());
        let thresholds: Vec<u32> = values.iter().map(|&x| self.threshold(x)).collect();
        let mut row = vec![0u8; values.len()];
        for t in 0..grid.n_steps {
            bernoulli_row(row_key(seed, sample, t), &thresholds, &mut row);
            let time = grid.time_of(t);
            for (i, &s) in row.iter().enumerate() {
                if s != 0 {
                    out.push(i as u32, time);
                }
            }
        }
        out
    }

    fn encode_batch_f32(
        &self,
        inputs: &[f32],
        n_inputs: usize,
        samples: &[u64],
        grid: &TimeGrid,
        seed: u64,
        out: &mut [f32],
    ) -> Result<()> {
        self.encode_batch(inputs, n_inputs, samples, grid, seed, out)
    }

    fn encode_batch_u8(
        &self,
        inputs: &[f32],
        n_inputs: usize,
        samples: &[u64],
        grid: &TimeGrid,
        seed: u64,
        out: &mut [u8],
    ) -> Result<()> {
        self.encode_batch(inputs, n_inputs, samples, grid, seed, out)
    }
}

impl Decoder for BernoulliRate {
    fn decode(&self, trains: &SpikeTrains, grid: &TimeGrid, n_inputs: usize) -> Vec<f32> {
        let full = grid.n_steps as f64 * self.max_prob * self.gain;
        decode_counts(trains, n_inputs, full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::encode_batch_via_trains;

    /// Mean and variance of the spike count over many samples.
    fn count_stats(enc: &dyn Encoder, x: f32, grid: &TimeGrid, n: u64) -> (f64, f64) {
        let counts: Vec<f64> = (0..n)
            .map(|s| enc.encode(&[x], grid, 9, s).len() as f64)
            .collect();
        let mean = counts.iter().sum::<f64>() / n as f64;
        let var = counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        (mean, var)
    }

    #[test]
    fn poisson_counts_have_poisson_mean_and_variance() {
        let enc = PoissonRate::new(200.0, 1.0).unwrap();
        let grid = TimeGrid::new(100, 1.0).unwrap(); // 100 ms
        for x in [0.1f32, 0.5, 1.0] {
            let want = 200.0 * x as f64 * 0.1;
            let (mean, var) = count_stats(&enc, x, &grid, 4000);
            // Standard error of the mean: sqrt(want / 4000).
            let se = (want / 4000.0).sqrt();
            assert!(
                (mean - want).abs() < 5.0 * se,
                "x {x}: mean {mean} want {want}"
            );
            assert!((var / want - 1.0).abs() < 0.1, "x {x}: Fano {}", var / want);
        }
    }

    #[test]
    fn poisson_intervals_are_exponential() {
        // Coefficient of variation of the ISIs of a Poisson process is 1.
        let enc = PoissonRate::new(100.0, 1.0).unwrap();
        let grid = TimeGrid::new(100_000, 1.0).unwrap(); // 100 s
        let s = enc.encode(&[1.0], &grid, 3, 0);
        let isi: Vec<f64> = s.times_ms.windows(2).map(|w| w[1] - w[0]).collect();
        let m = isi.iter().sum::<f64>() / isi.len() as f64;
        let sd = (isi.iter().map(|d| (d - m).powi(2)).sum::<f64>() / isi.len() as f64).sqrt();
        assert!((m - 10.0).abs() < 0.3, "mean ISI {m}");
        assert!((sd / m - 1.0).abs() < 0.05, "CV {}", sd / m);
    }

    #[test]
    fn gain_scales_and_max_rate_saturates() {
        let enc = PoissonRate::new(50.0, 4.0).unwrap();
        assert!((enc.rate_hz(0.1) - 20.0).abs() < 1e-5);
        assert_eq!(enc.rate_hz(0.5), 50.0);
        assert_eq!(enc.rate_hz(f32::NAN), 0.0);
        let b = BernoulliRate::new(0.5, 2.0).unwrap();
        assert!((b.prob(0.25) - 0.25).abs() < 1e-7);
        assert_eq!(b.prob(0.9), 0.5);
        assert!(BernoulliRate::new(1.5, 1.0).is_err());
        assert!(BernoulliRate::from_rate(2000.0, 1.0, 1.0).is_err());
        assert_eq!(
            BernoulliRate::from_rate(100.0, 1.0, 1.0).unwrap().max_prob,
            0.1
        );
        assert!(PoissonRate::new(-1.0, 1.0).is_err());
    }

    #[test]
    fn bernoulli_rate_matches_probability_and_extremes_are_exact() {
        let enc = BernoulliRate::default();
        let grid = TimeGrid::new(200, 1.0).unwrap();
        let s = enc.encode(&[0.0, 1.0, 0.3], &grid, 1, 0);
        let c = s.counts();
        assert_eq!(c[0], 0);
        assert_eq!(c[1], 200);
        let (mean, var) = count_stats(&enc, 0.3, &grid, 3000);
        let (want_m, want_v) = (0.3 * 200.0, 200.0 * 0.3 * 0.7);
        assert!(
            (mean - want_m).abs() < 5.0 * (want_v / 3000.0f64).sqrt(),
            "mean {mean}"
        );
        assert!((var / want_v - 1.0).abs() < 0.1, "var {var} want {want_v}");
    }

    #[test]
    fn bernoulli_neighbouring_inputs_are_independent() {
        // Correlation between inputs i and i+1 of one row, over many rows, is ~0.
        let enc = BernoulliRate::default();
        let grid = TimeGrid::new(1000, 1.0).unwrap();
        let s = enc.encode(&[0.5; 100], &grid, 8, 1);
        let mut dense = vec![0u8; 1000 * 100];
        s.to_dense(&grid, &mut dense).unwrap();
        let x: Vec<f64> = dense.iter().map(|&v| v as f64 - 0.5).collect();
        let c = x
            .chunks(100)
            .flat_map(|r| r.windows(2).map(|w| w[0] * w[1]))
            .sum::<f64>()
            / (99_000.0 * 0.25);
        assert!(c.abs() < 0.02, "lag-1 correlation across inputs {c}");
        assert!((x.iter().sum::<f64>() / 100_000.0).abs() < 0.01);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_and_portable_rows_are_identical() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("skipping: this CPU has no AVX2");
            return;
        }
        let thr: Vec<u32> = (0..1001u32)
            .map(|i| i.wrapping_mul(2_654_435_761) >> 1)
            .collect();
        let (mut a, mut b) = (vec![0f32; 1001], vec![0f32; 1001]);
        for key in [0u64, 1, u64::MAX, 0x1234_5678_9abc_def0] {
            bernoulli_row_portable(key, &thr, &mut a);
            // SAFETY: AVX2 is available (checked above).
            unsafe { bernoulli_row_avx2(key, &thr, &mut b) };
            assert_eq!(a, b);
        }
    }

    #[test]
    fn bernoulli_steps_are_independent() {
        // Correlation between consecutive steps of one input is ~0.
        let enc = BernoulliRate::default();
        let grid = TimeGrid::new(100_000, 1.0).unwrap();
        let mut dense = vec![0u8; 100_000];
        enc.encode(&[0.5], &grid, 2, 0)
            .to_dense(&grid, &mut dense)
            .unwrap();
        let x: Vec<f64> = dense.iter().map(|&v| v as f64 - 0.5).collect();
        let c = x.windows(2).map(|w| w[0] * w[1]).sum::<f64>() / (x.len() as f64 * 0.25);
        assert!(c.abs() < 0.02, "lag-1 correlation {c}");
    }

    #[test]
    fn fast_batch_path_equals_per_sample_encoding_for_u8_and_f32() {
        let enc = BernoulliRate::new(0.8, 1.5).unwrap();
        let (batch, n) = (5, 13);
        let grid = TimeGrid::new(7, 0.5).unwrap();
        let inputs: Vec<f32> = (0..batch * n).map(|i| (i % 11) as f32 / 10.0).collect();
        let samples: Vec<u64> = vec![3, 99, 4, 0, 7];
        let mut fast = vec![0u8; 7 * batch * n];
        enc.encode_batch_u8(&inputs, n, &samples, &grid, 5, &mut fast)
            .unwrap();
        let mut generic = vec![0u8; 7 * batch * n];
        encode_batch_via_trains(&enc, &inputs, n, &samples, &grid, 5, &mut generic).unwrap();
        assert_eq!(fast, generic);
        let mut f = vec![0f32; 7 * batch * n];
        enc.encode_batch_f32(&inputs, n, &samples, &grid, 5, &mut f)
            .unwrap();
        assert!(f.iter().zip(&fast).all(|(a, &b)| *a == b as f32));
        // A sample's spikes do not depend on its batch or position.
        let mut one = vec![0u8; 7 * n];
        enc.encode_batch_u8(&inputs[n..2 * n], n, &[99], &grid, 5, &mut one)
            .unwrap();
        for t in 0..7 {
            assert_eq!(
                &one[t * n..(t + 1) * n],
                &fast[(t * batch + 1) * n..(t * batch + 2) * n]
            );
        }
        assert!(enc
            .encode_batch_u8(&inputs, n, &samples, &grid, 5, &mut one)
            .is_err());
    }

    #[test]
    fn rate_decoders_round_trip() {
        let grid = TimeGrid::new(2000, 1.0).unwrap(); // 2 s
        let xs: Vec<f32> = (0..=10).map(|i| i as f32 / 10.0).collect();
        let p = PoissonRate::new(500.0, 1.0).unwrap();
        let back = p.decode(&p.encode(&xs, &grid, 4, 0), &grid, xs.len());
        let b = BernoulliRate::new(0.5, 1.0).unwrap();
        let back_b = b.decode(&b.encode(&xs, &grid, 4, 0), &grid, xs.len());
        for (i, &x) in xs.iter().enumerate() {
            // Poisson: sd of x̂ = sqrt(x / 1000) <= 0.032; Bernoulli: sd <= 0.016.
            assert!((back[i] - x).abs() < 0.12, "poisson {x} -> {}", back[i]);
            assert!(
                (back_b[i] - x).abs() < 0.06,
                "bernoulli {x} -> {}",
                back_b[i]
            );
        }
        assert_eq!(back[0], 0.0);
        let full = BernoulliRate::default();
        let exact = full.decode(&full.encode(&[1.0, 0.0], &grid, 4, 0), &grid, 2);
        assert_eq!(exact, vec![1.0, 0.0], "p = 1 and p = 0 are exact");
    }
}
