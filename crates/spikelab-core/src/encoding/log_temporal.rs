//! Logarithmic temporal coding (Zhang et al. 2019): an analog value is written as a
//! sum of powers of two and each power present in the sum is one spike, the larger
//! powers earlier, so spike times are binary-weighted.
//!
//! ```text
//! q       = ⌊x · 2^B⌋,  x ∈ [0, 1)        (B = n_bits; x = 1 is read as 1 − 2^−B)
//! q       = Σ_{k=1..B} b_k 2^{B−k},  b_k ∈ {0, 1}
//! spike k at t_k = t_start + (k − 1) · Δ   for each b_k = 1     (weight 2^−k)
//! x̂      = Σ_{spikes} 2^{−(1 + (t − t_start)/Δ)} = q / 2^B
//! ```
//!
//! At most `B` spikes per input (on average `B/2`), and decoding is exact up to the
//! quantisation `2^−B`. Inputs `x ≤ threshold` (and those with `q = 0`) are silent.
//!
//! Reference: Zhang M, Zheng N, Ma D, Pan G, Gu Z (2019) An efficient and
//! accurate spiking neural network based on logarithmic temporal coding
//! (arXiv:1811.04233).

use super::{is_silent, unit, Decoder, Encoder, SpikeTrains, TimeGrid};
use crate::error::{check_non_negative, check_positive, Error, Result};
use serde::{Deserialize, Serialize};

/// Logarithmic temporal coding (see the module documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogTemporal {
    /// Number of binary digits `B` (1..=24).
    pub n_bits: u32,
    /// Time between the spikes of successive digits `Δ` (ms, > 0).
    pub bit_interval_ms: f64,
    /// Time of the most significant digit (ms, >= 0).
    pub t_start_ms: f64,
    /// Inputs `x ≤ threshold` are silent (in [0, 1)).
    pub threshold: f64,
}

impl Default for LogTemporal {
    fn default() -> Self {
        LogTemporal {
            n_bits: 8,
            bit_interval_ms: 1.0,
            t_start_ms: 0.0,
            threshold: 0.0,
        }
    }
}

impl LogTemporal {
    /// `n_bits` digits, one every `bit_interval_ms` from 0.
    pub fn new(n_bits: u32, bit_interval_ms: f64) -> Result<Self> {
        let e = LogTemporal {
            n_bits,
            bit_interval_ms,
            ..Default::default()
        };
        e.validate("encoder")?;
        Ok(e)
    }

    /// Checks the parameters; `field` names the encoder in error messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        if !(1..=24).contains(&self.n_bits) {
            return Err(Error::field(
                format!("{field}.n_bits"),
                format!("must be in 1..=24 (got {})", self.n_bits),
            ));
        }
        check_positive(&format!("{field}.bit_interval_ms"), self.bit_interval_ms)?;
        check_non_negative(&format!("{field}.t_start_ms"), self.t_start_ms)?;
        if !(0.0..1.0).contains(&self.threshold) {
            return Err(Error::field(
                format!("{field}.threshold"),
                format!("must be in [0, 1) (got {})", self.threshold),
            ));
        }
        Ok(())
    }

    /// The quantised value `q = ⌊x·2^B⌋` (0 if silent).
    pub fn quantize(&self, x: f32) -> u32 {
        let x = unit(x);
        if is_silent(x, self.threshold) {
            return 0;
        }
        let full = 1u32 << self.n_bits;
        ((x * full as f64).floor() as u32).min(full - 1)
    }

    /// `q / 2^B`: the value the decoder returns for input `x`.
    pub fn quantized_value(&self, x: f32) -> f32 {
        (self.quantize(x) as f64 / (1u64 << self.n_bits) as f64) as f32
    }
}

impl Encoder for LogTemporal {
    fn name(&self) -> &'static str {
        "log_temporal"
    }

    fn n_outputs(&self, n_inputs: usize) -> usize {
        n_inputs
    }

    fn encode(&self, values: &[f32], grid: &TimeGrid, _seed: u64, _sample: u64) -> SpikeTrains {
        let mut out = SpikeTrains::new(values.len(), grid.duration_ms());
        for (i, &x) in values.iter().enumerate() {
            let q = self.quantize(x);
            for k in 1..=self.n_bits {
                if q >> (self.n_bits - k) & 1 == 1 {
                    let t = self.t_start_ms + (k - 1) as f64 * self.bit_interval_ms;
                    if t < grid.duration_ms() {
                        out.push(i as u32, t);
                    }
                }
            }
        }
        out.sort();
        out
    }
}

impl Decoder for LogTemporal {
    fn decode(&self, trains: &SpikeTrains, _grid: &TimeGrid, n_inputs: usize) -> Vec<f32> {
        let mut x = vec![0f64; n_inputs];
        for (n, t) in trains.iter() {
            let k = ((t - self.t_start_ms) / self.bit_interval_ms).round();
            if (0.0..self.n_bits as f64).contains(&k) {
                if let Some(v) = x.get_mut(n as usize) {
                    *v += 0.5f64.powi(k as i32 + 1);
                }
            }
        }
        x.into_iter().map(|v| v as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spikes_are_the_binary_digits_most_significant_first() {
        let enc = LogTemporal::new(4, 2.0).unwrap();
        let grid = TimeGrid::new(10, 1.0).unwrap();
        // 0.8125 = 0.1101b: digits 1, 2 and 4 fire at 0, 2 and 6 ms.
        let s = enc.encode(&[0.8125, 0.0, 1.0], &grid, 0, 0);
        let per = s.per_neuron();
        assert_eq!(per[0], vec![0.0, 2.0, 6.0]);
        assert!(per[1].is_empty());
        assert_eq!(per[2], vec![0.0, 2.0, 4.0, 6.0], "1.0 reads as 0.1111b");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// decode(encode(x)) = ⌊x·2^B⌋ / 2^B exactly, directly and through the dense
        /// tensor when the bit interval is a whole number of steps.
        #[test]
        fn round_trip_is_exact_to_the_quantisation(
            values in prop::collection::vec(0.0f32..=1.0, 1..40),
            bits in 1u32..12,
        ) {
            let enc = LogTemporal::new(bits, 1.0).unwrap();
            let grid = TimeGrid::new(bits as usize, 1.0).unwrap();
            let s = enc.encode(&values, &grid, 0, 0);
            let mut dense = vec![0f32; bits as usize * values.len()];
            s.to_dense(&grid, &mut dense).unwrap();
            let s2 = SpikeTrains::from_dense(&grid, values.len(), &dense).unwrap();
            for trains in [&s, &s2] {
                let back = enc.decode(trains, &grid, values.len());
                for (x, y) in values.iter().zip(&back) {
                    prop_assert_eq!(*y, enc.quantized_value(*x));
                    prop_assert!(x - y < 1.0 / (1u32 << bits) as f32 + 1e-6 && y <= x);
                }
            }
        }
    }
}
