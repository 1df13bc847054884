//! Tsodyks–Markram short-term plasticity (depression and facilitation) of a projection,
//! computed event-driven on spike arrival.
//!
//! A projection with `stp = { u = 0.5, tau_rec_ms = 800.0, tau_fac_ms = 0.0 }` scales
//! the weight `w` of every synapse of a presynaptic neuron by `u_n · x_n` at its n-th
//! spike, where `x` is the fraction of available resources and `u` the utilisation.
//! With `Δ` the time since the previous spike of that neuron (the recursion of
//! Markram, Wang & Tsodyks 1998 in the form of NEST's `tsodyks2_synapse`, Costa et al.
//! 2015 eqs. 4–5):
//!
//! ```text
//! first spike:  u_1 = U,  x_1 = 1
//! later spikes: x_{n+1} = 1 − (1 − x_n (1 − u_n)) · exp(−Δ/τ_rec)    (recovery of what spike n left)
//!               u_{n+1} = U + u_n (1 − U) · exp(−Δ/τ_fac)            (u_{n+1} = U when τ_fac = 0)
//! PSC/PSP amplitude of spike n: w · u_n · x_n
//! ```
//!
//! The weight is therefore the absolute efficacy `A` of Tsodyks & Markram (the first
//! spike after a long silence gives `U·w`). The one difference from NEST's
//! `tsodyks2_synapse` is the first spike: NEST treats the simulation start as a
//! previous spike (its first amplitude is `w·U·(1 − U e^{−t/τ_rec})`), here the
//! synapse starts fully recovered (`w·U`), as in Markram et al. (1998).
//!
//! Because the parameters are per projection, the state depends only on the
//! presynaptic spike train, so it is kept per (projection, source neuron) rather than
//! per synapse. Each partition of the engine updates its own copy from the global
//! spike list, which keeps runs bitwise identical for any thread count. Spike times are
//! emission steps (the same for every synapse of the row, whatever its delay).
//!
//! References: Tsodyks & Markram (1997) PNAS 94:719; Markram, Wang & Tsodyks (1998)
//! PNAS 95:5323; Costa et al. (2015) eLife 4:e09457.

use crate::error::{check_non_negative, check_positive, Error, Result};
use serde::{Deserialize, Serialize};

/// Tsodyks–Markram parameters of a projection (`stp = { ... }` in `[[projection]]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsodyksMarkram {
    /// Utilisation of resources by a spike, U in (0, 1].
    pub u: f64,
    /// Recovery time constant of resources (ms), > 0.
    pub tau_rec_ms: f64,
    /// Facilitation time constant (ms), >= 0; 0 disables facilitation.
    #[serde(default)]
    pub tau_fac_ms: f64,
}

impl TsodyksMarkram {
    /// Parameters U, τ_rec, τ_fac.
    pub fn new(u: f64, tau_rec_ms: f64, tau_fac_ms: f64) -> Self {
        TsodyksMarkram {
            u,
            tau_rec_ms,
            tau_fac_ms,
        }
    }

    /// Checks the parameters; `field` prefixes messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        if !(self.u > 0.0 && self.u <= 1.0) {
            return Err(Error::field(
                format!("{field}.u"),
                format!("must be in (0, 1] (got {})", self.u),
            ));
        }
        check_positive(&format!("{field}.tau_rec_ms"), self.tau_rec_ms)?;
        check_non_negative(&format!("{field}.tau_fac_ms"), self.tau_fac_ms)
    }

    /// The amplitudes `u_n x_n` (relative to the weight) of a train of spikes with the
    /// given intervals (ms) between consecutive spikes: the recursion of the module
    /// docs in f64, for tests and analysis.
    pub fn amplitudes(&self, intervals_ms: &[f64]) -> Vec<f64> {
        let mut u = self.u;
        let mut x = 1.0;
        let mut out = vec![u * x];
        for &d in intervals_ms {
            x = 1.0 - (1.0 - x * (1.0 - u)) * (-d / self.tau_rec_ms).exp();
            u = if self.tau_fac_ms > 0.0 {
                self.u + u * (1.0 - self.u) * (-d / self.tau_fac_ms).exp()
            } else {
                self.u
            };
            out.push(u * x);
        }
        out
    }
}

/// Tsodyks–Markram state of every source neuron of a projection (one copy per
/// partition), advanced by the spikes of each step.
#[derive(Clone, Debug)]
pub struct StpState {
    params: TsodyksMarkram,
    dt_ms: f64,
    /// Utilisation at the last spike of each source.
    u: Vec<f64>,
    /// Resources at the last spike of each source.
    x: Vec<f64>,
    /// Step of the last spike of each source (`u64::MAX`: none yet).
    last_step: Vec<u64>,
    /// Factors of the current step's spikes.
    factors: Vec<f32>,
}

impl StpState {
    /// Fully recovered state for `n_src` source neurons at time step `dt_ms`.
    pub fn new(params: &TsodyksMarkram, n_src: usize, dt_ms: f64) -> Self {
        StpState {
            params: params.clone(),
            dt_ms,
            u: vec![params.u; n_src],
            x: vec![1.0; n_src],
            last_step: vec![u64::MAX; n_src],
            factors: Vec::new(),
        }
    }

    /// Back to the fully recovered state (no spike seen yet).
    pub fn reset(&mut self) {
        self.u.fill(self.params.u);
        self.x.fill(1.0);
        self.last_step.fill(u64::MAX);
    }

    /// Advances the sources `offset + s` for `s` in `spikes` (emitted at `step`) and
    /// returns the factor `u_n x_n` of each spike, in the order of `spikes`.
    pub fn on_spikes(&mut self, spikes: &[u32], offset: u32, step: u64) -> &[f32] {
        let p = &self.params;
        self.factors.clear();
        for &s in spikes {
            let s = (s + offset) as usize;
            let last = self.last_step[s];
            if last != u64::MAX {
                let d = (step - last) as f64 * self.dt_ms;
                let (u, x) = (self.u[s], self.x[s]);
                self.x[s] = 1.0 - (1.0 - x * (1.0 - u)) * (-d / p.tau_rec_ms).exp();
                self.u[s] = if p.tau_fac_ms > 0.0 {
                    p.u + u * (1.0 - p.u) * (-d / p.tau_fac_ms).exp()
                } else {
                    p.u
                };
            }
            self.last_step[s] = step;
            self.factors.push((self.u[s] * self.x[s]) as f32);
        }
        &self.factors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depression_follows_the_closed_form_for_a_regular_train() {
        // τ_fac = 0: R_n = R∞ + (1 − R∞)((1 − U)e)^{n−1}, R∞ = (1 − e)/(1 − (1 − U)e).
        let p = TsodyksMarkram::new(0.4, 300.0, 0.0);
        let isi = 25.0;
        let amps = p.amplitudes(&[isi; 29]);
        let e = (-isi / p.tau_rec_ms).exp();
        let r_inf = (1.0 - e) / (1.0 - (1.0 - p.u) * e);
        for (n, a) in amps.iter().enumerate() {
            let r = r_inf + (1.0 - r_inf) * ((1.0 - p.u) * e).powi(n as i32);
            assert!((a - p.u * r).abs() < 1e-12, "spike {}: {a}", n + 1);
        }
    }

    #[test]
    fn state_matches_recursion_per_source_and_resets() {
        let p = TsodyksMarkram::new(0.1, 100.0, 500.0);
        let mut st = StpState::new(&p, 3, 0.1);
        // Source 1 fires every 200 steps (20 ms), source 2 once.
        let mut got = Vec::new();
        for k in 0..10u64 {
            let spikes: Vec<u32> = if k == 3 { vec![1, 2] } else { vec![1] };
            let f = st.on_spikes(&spikes, 0, k * 200).to_vec();
            got.push(f[0] as f64);
            if k == 3 {
                assert!((f[1] as f64 - 0.1).abs() < 1e-7);
            }
        }
        let want = p.amplitudes(&[20.0; 9]);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-6, "{g} vs {w}");
        }
        // Facilitation dominates at first with U = 0.1.
        assert!(want[1] > want[0]);
        st.reset();
        assert!((st.on_spikes(&[0], 1, 5)[0] as f64 - 0.1).abs() < 1e-7);
    }

    #[test]
    fn validation_names_the_field() {
        let e = TsodyksMarkram::new(0.0, 100.0, 0.0)
            .validate("projection[p].stp")
            .unwrap_err()
            .to_string();
        assert!(e.contains("projection[p].stp.u"), "{e}");
        let e = TsodyksMarkram::new(0.5, -1.0, 0.0)
            .validate("s")
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.tau_rec_ms"), "{e}");
        let e = TsodyksMarkram::new(0.5, 1.0, f64::NAN)
            .validate("s")
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.tau_fac_ms"), "{e}");
    }
}
