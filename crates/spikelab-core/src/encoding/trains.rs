//! [`SpikeTrains`]: the spikes of one encoded sample as parallel lists of neuron
//! indices and times, with conversions to a spike generator (simulator), to a dense
//! per-step tensor (trainer) and the summaries decoders need (counts, first spikes).

use super::{SpikeValue, TimeGrid};
use crate::error::{Error, Result};
use crate::source::SpikeGenerator;

/// Spikes of `n_neurons` neurons over `[0, duration_ms)`, sorted by time then neuron.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpikeTrains {
    /// Number of neurons (indices are `< n_neurons`).
    pub n_neurons: usize,
    /// Length of the window the spikes were generated for (ms).
    pub duration_ms: f64,
    /// Neuron of each spike.
    pub neurons: Vec<u32>,
    /// Time of each spike (ms).
    pub times_ms: Vec<f64>,
}

impl SpikeTrains {
    /// No spikes yet.
    pub fn new(n_neurons: usize, duration_ms: f64) -> Self {
        SpikeTrains {
            n_neurons,
            duration_ms,
            neurons: Vec::new(),
            times_ms: Vec::new(),
        }
    }

    /// From `(neuron, time_ms)` pairs in any order (they are sorted).
    pub fn from_pairs(n_neurons: usize, duration_ms: f64, pairs: Vec<(u32, f64)>) -> Self {
        let mut s = SpikeTrains::new(n_neurons, duration_ms);
        s.neurons.reserve(pairs.len());
        s.times_ms.reserve(pairs.len());
        for (n, t) in pairs {
            s.push(n, t);
        }
        s.sort();
        s
    }

    /// Appends a spike (call [`SpikeTrains::sort`] after appending out of order).
    #[inline]
    pub fn push(&mut self, neuron: u32, time_ms: f64) {
        self.neurons.push(neuron);
        self.times_ms.push(time_ms);
    }

    /// Sorts the spikes by time, then by neuron.
    pub fn sort(&mut self) {
        let sorted = self
            .times_ms
            .windows(2)
            .zip(self.neurons.windows(2))
            .all(|(t, n)| (t[0], n[0]) <= (t[1], n[1]));
        if sorted {
            return;
        }
        let mut pairs: Vec<(f64, u32)> = self
            .times_ms
            .iter()
            .copied()
            .zip(self.neurons.iter().copied())
            .collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        self.times_ms = pairs.iter().map(|p| p.0).collect();
        self.neurons = pairs.iter().map(|p| p.1).collect();
    }

    /// Number of spikes.
    pub fn len(&self) -> usize {
        self.neurons.len()
    }

    /// Whether there are no spikes.
    pub fn is_empty(&self) -> bool {
        self.neurons.is_empty()
    }

    /// `(neuron, time_ms)` of every spike, in order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, f64)> + '_ {
        self.neurons
            .iter()
            .copied()
            .zip(self.times_ms.iter().copied())
    }

    /// The spikes as `(neuron, time_ms)` pairs.
    pub fn pairs(&self) -> Vec<(u32, f64)> {
        self.iter().collect()
    }

    /// Spike count of every neuron.
    pub fn counts(&self) -> Vec<u32> {
        let mut c = vec![0u32; self.n_neurons];
        for &n in &self.neurons {
            if let Some(x) = c.get_mut(n as usize) {
                *x += 1;
            }
        }
        c
    }

    /// Time of the first spike of every neuron (`None` if silent).
    pub fn first_spike_ms(&self) -> Vec<Option<f64>> {
        let mut f: Vec<Option<f64>> = vec![None; self.n_neurons];
        for (n, t) in self.iter() {
            if let Some(slot) = f.get_mut(n as usize) {
                if slot.is_none_or(|s| t < s) {
                    *slot = Some(t);
                }
            }
        }
        f
    }

    /// Spike times of every neuron.
    pub fn per_neuron(&self) -> Vec<Vec<f64>> {
        let mut v = vec![Vec::new(); self.n_neurons];
        for (n, t) in self.iter() {
            if let Some(list) = v.get_mut(n as usize) {
                list.push(t);
            }
        }
        v
    }

    /// Bins the spikes on `grid` into `out[t·n_neurons + j]` (`T × n_neurons`): a spike
    /// at `t` sets step `⌊t/dt⌋`; spikes outside the window are dropped and several
    /// spikes of a neuron in one step count once.
    pub fn to_dense<S: SpikeValue>(&self, grid: &TimeGrid, out: &mut [S]) -> Result<()> {
        let want = grid.n_steps * self.n_neurons;
        if out.len() != want {
            return Err(Error::Invalid(format!(
                "to_dense: output has {} elements but n_steps ({}) × n_neurons ({}) = {want}",
                out.len(),
                grid.n_steps,
                self.n_neurons
            )));
        }
        out.fill(S::ZERO);
        for (n, t) in self.iter() {
            if let Some(s) = grid.step_of(t) {
                if (n as usize) < self.n_neurons {
                    out[s * self.n_neurons + n as usize] = S::ONE;
                }
            }
        }
        Ok(())
    }

    /// The spikes of a dense `T × n_neurons` tensor, each at the start of its step.
    pub fn from_dense<S: SpikeValue>(
        grid: &TimeGrid,
        n_neurons: usize,
        dense: &[S],
    ) -> Result<Self> {
        if dense.len() != grid.n_steps * n_neurons {
            return Err(Error::Invalid(format!(
                "from_dense: tensor has {} elements but n_steps ({}) × n_neurons ({n_neurons}) = {}",
                dense.len(),
                grid.n_steps,
                grid.n_steps * n_neurons
            )));
        }
        let mut s = SpikeTrains::new(n_neurons, grid.duration_ms());
        for t in 0..grid.n_steps {
            for (j, v) in dense[t * n_neurons..(t + 1) * n_neurons].iter().enumerate() {
                if v.is_spike() {
                    s.push(j as u32, grid.time_of(t));
                }
            }
        }
        Ok(s)
    }

    /// The same spikes moved to the start of their step (`⌊t/dt⌋·dt`), dropping those
    /// outside the window and merging repeats within a step. A generator fed with these
    /// fires in exactly the steps of the dense tensor ([`SpikeTrains::to_dense`]); the
    /// engine rounds other times to the nearest step.
    pub fn snapped_to_steps(&self, grid: &TimeGrid) -> SpikeTrains {
        let mut s = SpikeTrains::new(self.n_neurons, grid.duration_ms());
        let mut pairs: Vec<(usize, u32)> = self
            .iter()
            .filter_map(|(n, t)| grid.step_of(t).map(|k| (k, n)))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        for (k, n) in pairs {
            s.push(n, grid.time_of(k));
        }
        s
    }

    /// Appends `other`'s spikes delayed by `offset_ms` (to present samples one after
    /// another); the window grows to cover them.
    pub fn append_shifted(&mut self, other: &SpikeTrains, offset_ms: f64) {
        self.n_neurons = self.n_neurons.max(other.n_neurons);
        for (n, t) in other.iter() {
            self.push(n, t + offset_ms);
        }
        self.duration_ms = self.duration_ms.max(offset_ms + other.duration_ms);
        self.sort();
    }

    /// A spike generator replaying these spikes (see
    /// [`crate::engine::Simulator::set_spike_generator`]). Times are kept as they are;
    /// use [`SpikeTrains::snapped_to_steps`] first to match a trainer's dense tensor.
    pub fn to_generator(&self) -> SpikeGenerator {
        SpikeGenerator {
            neurons: self.neurons.clone(),
            times_ms: self.times_ms.clone(),
        }
    }
}

impl From<SpikeTrains> for SpikeGenerator {
    fn from(s: SpikeTrains) -> Self {
        SpikeGenerator {
            neurons: s.neurons,
            times_ms: s.times_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_sorted_and_summaries_agree() {
        let s = SpikeTrains::from_pairs(3, 10.0, vec![(2, 5.0), (0, 1.0), (2, 0.5), (1, 1.0)]);
        assert_eq!(s.pairs(), vec![(2, 0.5), (0, 1.0), (1, 1.0), (2, 5.0)]);
        assert_eq!(s.counts(), vec![1, 1, 2]);
        assert_eq!(s.first_spike_ms(), vec![Some(1.0), Some(1.0), Some(0.5)]);
        assert_eq!(s.per_neuron()[2], vec![0.5, 5.0]);
    }

    #[test]
    fn dense_round_trip_merges_within_step_and_drops_outside() {
        let g = TimeGrid::new(4, 1.0).unwrap();
        let s = SpikeTrains::from_pairs(2, 4.0, vec![(0, 0.2), (0, 0.7), (1, 3.5), (1, 4.0)]);
        let mut d = vec![0u8; 8];
        s.to_dense(&g, &mut d).unwrap();
        assert_eq!(d, vec![1, 0, 0, 0, 0, 0, 0, 1]);
        let back = SpikeTrains::from_dense(&g, 2, &d).unwrap();
        assert_eq!(back.pairs(), vec![(0, 0.0), (1, 3.0)]);
        assert_eq!(s.snapped_to_steps(&g), back);
        assert!(s.to_dense(&g, &mut [0u8; 7]).is_err());
    }

    #[test]
    fn append_shifted_concatenates_presentations() {
        let mut a = SpikeTrains::from_pairs(2, 5.0, vec![(0, 1.0)]);
        let b = SpikeTrains::from_pairs(2, 5.0, vec![(1, 2.0)]);
        a.append_shifted(&b, 5.0);
        assert_eq!(a.pairs(), vec![(0, 1.0), (1, 7.0)]);
        assert_eq!(a.duration_ms, 10.0);
        let g = a.to_generator();
        assert!(g.validate("g", 2).is_ok());
    }
}
