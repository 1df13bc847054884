//! Rank-order coding (Thorpe & Gautrais 1998): each input above threshold fires
//! exactly once and only the *order* of the spikes carries information.
//!
//! ```text
//! rank_i = #{ j : x_j > x_i } + #{ j < i : x_j = x_i }      (0 = strongest; ties by index)
//! t_i    = t_start + rank_i · interval                        for x_i > θ, else silent
//! ```
//!
//! Decoding (Thorpe's desensitisation): `x̂_i = modulation^{rank_i}` with the rank read
//! from the spike order, 0 for silent inputs. This recovers the order of the inputs,
//! not their magnitudes; `modulation ∈ (0, 1)` sets how fast the weight of later spikes
//! falls. In a dense tensor the order survives when `interval ≥ dt`.
//!
//! Reference: Thorpe S, Gautrais J (1998) Rank order coding. Computational
//! Neuroscience: Trends in Research, 113–118.

use super::{is_silent, unit, Decoder, Encoder, SpikeTrains, TimeGrid};
use crate::error::{check_non_negative, check_positive, Error, Result};
use serde::{Deserialize, Serialize};

/// Rank-order coding (see the module documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RankOrder {
    /// Time of the first (strongest) spike (ms, >= 0).
    pub t_start_ms: f64,
    /// Time between successive ranks (ms, > 0).
    pub interval_ms: f64,
    /// Inputs `x ≤ threshold` are silent (in [0, 1)).
    pub threshold: f64,
    /// Decoding weight ratio between successive ranks (in (0, 1]).
    pub modulation: f64,
}

impl Default for RankOrder {
    fn default() -> Self {
        RankOrder {
            t_start_ms: 0.0,
            interval_ms: 1.0,
            threshold: 0.0,
            modulation: 0.99,
        }
    }
}

impl RankOrder {
    /// Rank-order coding with one rank every `interval_ms` from `t_start_ms`.
    pub fn new(t_start_ms: f64, interval_ms: f64, threshold: f64) -> Result<Self> {
        let e = RankOrder {
            t_start_ms,
            interval_ms,
            threshold,
            ..Default::default()
        };
        e.validate("encoder")?;
        Ok(e)
    }

    /// Checks the parameters; `field` names the encoder in error messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        check_non_negative(&format!("{field}.t_start_ms"), self.t_start_ms)?;
        check_positive(&format!("{field}.interval_ms"), self.interval_ms)?;
        if !(0.0..1.0).contains(&self.threshold) {
            return Err(Error::field(
                format!("{field}.threshold"),
                format!("must be in [0, 1) (got {})", self.threshold),
            ));
        }
        if !(self.modulation > 0.0 && self.modulation <= 1.0) {
            return Err(Error::field(
                format!("{field}.modulation"),
                format!("must be in (0, 1] (got {})", self.modulation),
            ));
        }
        Ok(())
    }

    /// Indices of the inputs above threshold, strongest first (ties by index).
    pub fn ranking(&self, values: &[f32]) -> Vec<u32> {
        let mut idx: Vec<u32> = (0..values.len() as u32)
            .filter(|&i| !is_silent(unit(values[i as usize]), self.threshold))
            .collect();
        idx.sort_by(|&a, &b| {
            unit(values[b as usize])
                .total_cmp(&unit(values[a as usize]))
                .then(a.cmp(&b))
        });
        idx
    }

    /// The order in which neurons fired (first spike of each, earliest first).
    pub fn firing_order(trains: &SpikeTrains) -> Vec<u32> {
        let mut seen = vec![false; trains.n_neurons];
        let mut order = Vec::new();
        for (n, _) in trains.iter() {
            if let Some(s) = seen.get_mut(n as usize) {
                if !*s {
                    *s = true;
                    order.push(n);
                }
            }
        }
        order
    }
}

impl Encoder for RankOrder {
    fn name(&self) -> &'static str {
        "rank_order"
    }

    fn n_outputs(&self, n_inputs: usize) -> usize {
        n_inputs
    }

    fn encode(&self, values: &[f32], grid: &TimeGrid, _seed: u64, _sample: u64) -> SpikeTrains {
        let mut out = SpikeTrains::new(values.len(), grid.duration_ms());
        for (rank, i) in self.ranking(values).into_iter().enumerate() {
            let t = self.t_start_ms + rank as f64 * self.interval_ms;
            if t >= grid.duration_ms() {
                break;
            }
            out.push(i, t);
        }
        out
    }
}

impl Decoder for RankOrder {
    fn decode(&self, trains: &SpikeTrains, _grid: &TimeGrid, n_inputs: usize) -> Vec<f32> {
        let mut x = vec![0f32; n_inputs];
        let mut w = 1.0f64;
        for n in Self::firing_order(trains) {
            if let Some(v) = x.get_mut(n as usize) {
                *v = w as f32;
            }
            w *= self.modulation;
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spikes_come_in_order_of_decreasing_value_one_interval_apart() {
        let enc = RankOrder::new(2.0, 0.5, 0.1).unwrap();
        let grid = TimeGrid::new(100, 0.1).unwrap();
        let s = enc.encode(&[0.3, 0.9, 0.05, 0.9, 0.5], &grid, 0, 0);
        assert_eq!(s.pairs(), vec![(1, 2.0), (3, 2.5), (4, 3.0), (0, 3.5)]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The decoded values order the inputs exactly as the inputs themselves
        /// (above threshold, distinct values), also through the dense tensor.
        #[test]
        fn decoding_recovers_the_order(values in prop::collection::vec(0.0f32..1.0, 1..60)) {
            let enc = RankOrder::new(0.0, 1.0, 0.2).unwrap();
            let grid = TimeGrid::new(64, 1.0).unwrap();
            let s = enc.encode(&values, &grid, 0, 0);
            let mut dense = vec![0u8; 64 * values.len()];
            s.to_dense(&grid, &mut dense).unwrap();
            let s2 = SpikeTrains::from_dense(&grid, values.len(), &dense).unwrap();
            for trains in [&s, &s2] {
                let back = enc.decode(trains, &grid, values.len());
                for i in 0..values.len() {
                    prop_assert_eq!(back[i] > 0.0, values[i] > 0.2);
                    for j in 0..values.len() {
                        if values[i] > 0.2 && values[j] > 0.2 && values[i] > values[j] {
                            prop_assert!(back[i] > back[j]);
                        }
                    }
                }
                prop_assert_eq!(RankOrder::firing_order(trains), enc.ranking(&values));
            }
        }
    }
}
