//! Trace arithmetic shared by every rule: the tabulated exponential decay of a trace
//! over whole steps and the bump a trace gets when its neuron fires.

/// `exp(−k·dt/τ)` for k steps, tabulated until the factor underflows f32 (so a
/// lookup replaces an `exp` on every event), computed beyond the table's cap.
#[derive(Clone, Debug)]
pub struct DecayTable {
    table: Vec<f32>,
    per_step: f64,
    /// Steps after which the factor is 0 in f32.
    zero_after: u64,
}

impl DecayTable {
    const MAX_LEN: usize = 1 << 16;
    /// exp(−104) is below the smallest f32.
    const ZERO_EXPONENT: f64 = 104.0;

    /// The table for time step `dt_ms` and time constant `tau_ms`.
    pub fn new(dt_ms: f64, tau_ms: f64) -> Self {
        let per_step = dt_ms / tau_ms;
        let zero_after = (Self::ZERO_EXPONENT / per_step).ceil() as u64;
        let len = (zero_after as usize + 1).min(Self::MAX_LEN);
        DecayTable {
            table: (0..len)
                .map(|k| (-(k as f64) * per_step).exp() as f32)
                .collect(),
            per_step,
            zero_after,
        }
    }

    /// The factor for `k` steps.
    #[inline]
    pub fn get(&self, k: u64) -> f32 {
        match self.table.get(k as usize) {
            Some(&x) => x,
            None if k >= self.zero_after => 0.0,
            None => (-(k as f64) * self.per_step).exp() as f32,
        }
    }
}

/// A trace after a spike: `decayed + 1` (all-to-all pairing) or `1` (nearest).
#[inline]
pub fn bump(nearest: bool, decayed: f32) -> f32 {
    if nearest {
        1.0
    } else {
        decayed + 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_table_matches_exp() {
        let d = DecayTable::new(0.5, 20.0);
        for k in [0u64, 1, 10, 1023, 1024, 5000, 1_000_000] {
            let want = (-(k as f64) * 0.5 / 20.0).exp() as f32;
            assert!((d.get(k) - want).abs() < 1e-7, "{k}");
        }
    }
}
