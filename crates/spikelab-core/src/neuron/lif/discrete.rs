//! The discrete-time, dimensionless LIF and adaptive LIF: the forward kernels of the
//! trainer's spiking layers (DESIGN.md idea 1) and their exact mapping to the engine's
//! [`Lif`]. The backward steps are in [`super::backward`]. Every kernel advances `n`
//! neurons by one step over structure-of-arrays slices; the trainer calls them on
//! cache-sized chunks of a `steps × batch × neurons` activation (a fused loop over
//! time), and [`lif_multistep`] shows the same loop over whole `steps × n` slices.
//!
//! ## Equations (one step, per neuron)
//!
//! ```text
//! LIF            h = β·v + x                s = H(h − θ)      v ← reset(h, s, θ)
//! IF             LIF with β = 1             (see super::super::iaf)
//! adaptive LIF   θ_t = θ0 + γ·a             h = β·v + x       s = H(h − θ_t)
//!                v ← reset(h, s, θ_t)       a ← ρ·a + s
//! reset:  subtract  v = h − θ·s     zero  v = h·(1 − s)     none  v = h
//! ```
//!
//! `x` is the input of the step (a weighted sum of the previous layer's spikes of the
//! same step, or a current), `h` the membrane before reset (what surrogate gradients
//! are evaluated at), `s` the spike, `a` the adaptation variable (ρ, γ: [`Adaptation`]).
//! `H` is the Heaviside step with `H(0) = 1` ([`Heaviside`]).
//!
//! ## Mapping to the engine ([`Lif::from_discrete`], [`Lif::from_discrete_adaptive`])
//!
//! A discrete LIF with decay `β` and threshold `θ`, fed by the spikes of a previous
//! layer with weights `w`, is step-for-step the engine's [`Lif`] with
//!
//! * `tau_m_ms = −dt_ms / ln β` (so `β = exp(−dt/τ_m)`), `v_rest_mv = 0`,
//!   `v_reset_mv = 0`, `v_thresh_mv = θ`, `t_ref_ms = 0`, `i_bias_mv = 0`,
//!   `reset = subtract` (or `value` for the zero reset), exact integration;
//! * a delta receptor, and synaptic weights `w / β`: the engine adds a jump `J` before
//!   decaying, `v ← α·(v + J)`, so `J = w/β` gives `β·v + w`;
//! * a one-step delay: a spike emitted at engine step `k` arrives at step `k + 1`, so
//!   layer `l` (inputs are layer 0) of a feed-forward network computes the trainer's
//!   step `t` at engine step `t + l`; simulate `T + L` steps for `L` layers. A recurrent
//!   projection (delay one step) then feeds `s_{t−1}` into step `t`, as in the trainer.
//!
//! The adaptive LIF is the same [`Lif`] with its adaptive threshold:
//! `theta_plus_mv = γ/ρ`, `tau_theta_ms = −dt_ms/ln ρ` (none for ρ = 1). The engine
//! decays `theta` by `d = exp(−dt/τθ)` before the threshold test and adds
//! `theta_plus` after a spike, so with `d = ρ` and `plus = γ/ρ` its `theta` at step `t`
//! is `ρ·(theta_{t−1} + (γ/ρ)·s_{t−1}) = ρ·theta_{t−1} + γ·s_{t−1} = γ·a_t`: the
//! threshold in force is `θ0 + γ·a_t`, and reset by subtraction subtracts it, as here.
//!
//! A constant current input `x` per step corresponds to an engine current
//! `I = x / (1 − β)` (mV).

use super::Lif;
use crate::error::{Error, Result};
#[cfg(doc)]
use crate::neuron::discrete_time::Heaviside;
use crate::neuron::discrete_time::{DiscreteReset, NeuronParam, SpikeFn};
use crate::neuron::ResetMode;

/// Spike-triggered threshold adaptation of the discrete adaptive LIF:
/// `θ_t = θ0 + γ·a_t`, `a ← ρ·a + s`. The one parameter set of the adaptive LIF;
/// [`Adaptation::engine_threshold`] gives the engine's `theta_plus_mv` and
/// `tau_theta_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Adaptation {
    /// Decay of the adaptation variable per step, in [0, 1].
    pub rho: f32,
    /// Threshold increase per unit of adaptation (≥ 0); 0 is the plain LIF.
    pub gamma: f32,
}

impl Adaptation {
    /// No adaptation (the plain LIF).
    pub const NONE: Adaptation = Adaptation {
        rho: 0.0,
        gamma: 0.0,
    };

    /// Whether the threshold adapts at all (`γ ≠ 0`).
    pub fn is_adaptive(self) -> bool {
        self.gamma != 0.0
    }

    /// Checks ranges; `field` prefixes messages (`{field}.rho`, `{field}.gamma`).
    pub fn validate(&self, field: &str) -> Result<()> {
        if !(0.0..=1.0).contains(&self.rho) {
            return Err(Error::field(format!("{field}.rho"), "must be in [0, 1]"));
        }
        if !(self.gamma.is_finite() && self.gamma >= 0.0) {
            return Err(Error::field(format!("{field}.gamma"), "must be >= 0"));
        }
        Ok(())
    }

    /// The engine's adaptive threshold for time step `dt_ms`:
    /// (`theta_plus_mv = γ/ρ`, `tau_theta_ms = −dt/ln ρ`, none for ρ = 1). Errs for
    /// ρ = 0 with γ > 0 (the engine decays before it adds, so a threshold that lasts
    /// exactly one step has no engine form).
    pub fn engine_threshold(self, dt_ms: f64) -> Result<(f64, Option<f64>)> {
        if !self.is_adaptive() {
            return Ok((0.0, None));
        }
        let rho = self.rho as f64;
        if rho <= 0.0 {
            return Err(Error::field(
                "rho",
                "ρ = 0 has no engine equivalent (the engine decays the threshold before adding to it)",
            ));
        }
        let tau = (rho < 1.0).then(|| -dt_ms / rho.ln());
        Ok((self.gamma as f64 / rho, tau))
    }
}

impl Lif {
    /// The engine model of a discrete LIF with decay `beta` in (0, 1), threshold
    /// `theta`, reset `reset` and time step `dt_ms` (see the module docs; incoming
    /// delta weights are `w / β`). Errs for β outside (0, 1) (use
    /// [`super::super::iaf::Iaf::from_discrete`] for β = 1).
    pub fn from_discrete(beta: f32, theta: f64, reset: ResetMode, dt_ms: f64) -> Result<Lif> {
        if !(beta > 0.0 && beta < 1.0) {
            return Err(Error::field(
                "beta",
                format!("must be in (0, 1) for an engine LIF (got {beta}; β = 0 has no engine equivalent: the engine applies input before the decay)"),
            ));
        }
        Ok(Lif {
            tau_m_ms: -dt_ms / (beta as f64).ln(),
            v_rest_mv: 0.0,
            v_reset_mv: 0.0,
            v_thresh_mv: theta,
            t_ref_ms: 0.0,
            reset,
            ..Lif::default()
        })
    }

    /// The engine model of a discrete adaptive LIF: [`Lif::from_discrete`] plus the
    /// adaptive threshold of [`Adaptation::engine_threshold`].
    pub fn from_discrete_adaptive(
        beta: f32,
        theta0: f64,
        adaptation: Adaptation,
        reset: ResetMode,
        dt_ms: f64,
    ) -> Result<Lif> {
        let (theta_plus_mv, tau_theta_ms) = adaptation.engine_threshold(dt_ms)?;
        Ok(Lif {
            theta_plus_mv,
            tau_theta_ms,
            ..Lif::from_discrete(beta, theta0, reset, dt_ms)?
        })
    }
}

/// One LIF step for `v.len()` neurons: `h = β·v + x`, `s = f(h − θ)`, `v ← reset`.
/// Writes the membrane before reset to `h` and the spikes to `s`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn lif_step<B: NeuronParam, T: NeuronParam, F: SpikeFn>(
    beta: B,
    theta: T,
    reset: DiscreteReset,
    f: F,
    v: &mut [f32],
    x: &[f32],
    h: &mut [f32],
    s: &mut [f32],
) {
    let n = v.len();
    h[..n].copy_from_slice(&x[..n]);
    lif_step_in_place(beta, theta, reset, f, v, h, s);
}

/// [`lif_step`] with the input and the membrane before reset sharing one buffer:
/// `xh` holds `x` on entry and `h` on exit. Branch-free over the neurons, so it
/// vectorises.
#[inline(always)]
pub fn lif_step_in_place<B: NeuronParam, T: NeuronParam, F: SpikeFn>(
    beta: B,
    theta: T,
    reset: DiscreteReset,
    f: F,
    v: &mut [f32],
    xh: &mut [f32],
    s: &mut [f32],
) {
    let n = v.len();
    let (xh, s) = (&mut xh[..n], &mut s[..n]);
    let (beta, theta) = (beta.prefix(n), theta.prefix(n));
    macro_rules! body {
        ($reset:expr) => {
            for i in 0..n {
                let th = theta.at(i);
                let hi = beta.at(i) * v[i] + xh[i];
                let si = f.fire(hi - th);
                xh[i] = hi;
                s[i] = si;
                v[i] = $reset.apply(hi, si, th);
            }
        };
    }
    match reset {
        DiscreteReset::Subtract => body!(DiscreteReset::Subtract),
        DiscreteReset::Zero => body!(DiscreteReset::Zero),
        DiscreteReset::None => body!(DiscreteReset::None),
    }
}

/// One adaptive-LIF step (`adaptation` = (ρ, γ)): `θ_t = θ0 + γ·a`, `h = β·v + x`, `s = f(h − θ_t)`,
/// `v ← reset(h, s, θ_t)`, `a ← ρ·a + s`. Writes `h`, `s` and the threshold used
/// (`theta_t`, needed by the backward pass).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn alif_step<B: NeuronParam, T: NeuronParam, F: SpikeFn>(
    beta: B,
    theta0: T,
    adaptation: Adaptation,
    reset: DiscreteReset,
    f: F,
    v: &mut [f32],
    a: &mut [f32],
    x: &[f32],
    h: &mut [f32],
    s: &mut [f32],
    theta_t: &mut [f32],
) {
    let n = v.len();
    let (a, x, h, s, theta_t) = (
        &mut a[..n],
        &x[..n],
        &mut h[..n],
        &mut s[..n],
        &mut theta_t[..n],
    );
    let (beta, theta0) = (beta.prefix(n), theta0.prefix(n));
    let Adaptation { rho, gamma } = adaptation;
    for i in 0..n {
        let th = theta0.at(i) + gamma * a[i];
        let hi = beta.at(i) * v[i] + x[i];
        let si = f.fire(hi - th);
        h[i] = hi;
        s[i] = si;
        theta_t[i] = th;
        v[i] = reset.apply(hi, si, th);
        a[i] = rho * a[i] + si;
    }
}

/// `steps` LIF steps of `n = v.len()` neurons: `x`, `h` and `s` are `steps × n`
/// (step-major). Returns the total number of spikes (with [`Heaviside`]).
#[allow(clippy::too_many_arguments)]
pub fn lif_multistep<B: NeuronParam, T: NeuronParam, F: SpikeFn>(
    beta: B,
    theta: T,
    reset: DiscreteReset,
    f: F,
    v: &mut [f32],
    x: &[f32],
    h: &mut [f32],
    s: &mut [f32],
) -> f32 {
    let n = v.len();
    assert!(n > 0 && x.len().is_multiple_of(n) && h.len() == x.len() && s.len() == x.len());
    x.chunks_exact(n)
        .zip(h.chunks_exact_mut(n).zip(s.chunks_exact_mut(n)))
        .map(|(xt, (ht, st))| {
            lif_step(beta, theta, reset, f, v, xt, ht, st);
            st.iter().sum::<f32>()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neuron::discrete_time::Heaviside;
    use crate::prelude::*;
    use rand::Rng;

    #[test]
    fn lif_step_integrates_fires_and_resets() {
        // β = 0.5, θ = 1: constant input 0.6 gives h = 0.6, 0.9, 1.05 (spike) ...
        let mut v = vec![0.0f32; 2];
        let (mut h, mut s) = (vec![0.0; 2], vec![0.0; 2]);
        let beta = [0.5f32, 0.5];
        let mut hs = Vec::new();
        for _ in 0..4 {
            lif_step(
                &beta[..],
                1.0,
                DiscreteReset::Subtract,
                Heaviside,
                &mut v,
                &[0.6, 0.6],
                &mut h,
                &mut s,
            );
            hs.push((h[0], s[0], v[0]));
        }
        let want = [
            (0.6, 0.0, 0.6),
            (0.9, 0.0, 0.9),
            (1.05, 1.0, 0.05),
            (0.625, 0.0, 0.625),
        ];
        for ((h, s, v), (wh, ws, wv)) in hs.iter().zip(want) {
            assert!((h - wh).abs() < 1e-6 && *s == ws && (v - wv).abs() < 1e-6);
        }
        // Zero reset; an IF neuron (β = 1) fires exactly at h = θ.
        let mut v = vec![0.0f32];
        let (mut h, mut s) = (vec![0.0], vec![0.0]);
        let c = lif_multistep(
            1.0,
            1.0,
            DiscreteReset::Zero,
            Heaviside,
            &mut v,
            &[0.5, 0.5, 0.25],
            &mut [0.0; 3],
            &mut [0.0; 3],
        );
        assert_eq!(c, 1.0);
        assert_eq!(v[0], 0.25);
        lif_step(
            1.0,
            1.0,
            DiscreteReset::None,
            Heaviside,
            &mut v,
            &[1.0],
            &mut h,
            &mut s,
        );
        assert_eq!((h[0], s[0], v[0]), (1.25, 1.0, 1.25));
    }

    #[test]
    fn adaptive_threshold_rises_after_each_spike_and_decays() {
        let (mut v, mut a) = (vec![0.0f32], vec![0.0f32]);
        let (mut h, mut s, mut th) = (vec![0.0], vec![0.0], vec![0.0]);
        let mut thresholds = Vec::new();
        let mut spikes = 0.0;
        for _ in 0..20 {
            alif_step(
                0.9,
                1.0,
                Adaptation {
                    rho: 0.8,
                    gamma: 0.5,
                },
                DiscreteReset::Subtract,
                Heaviside,
                &mut v,
                &mut a,
                &[0.7],
                &mut h,
                &mut s,
                &mut th,
            );
            thresholds.push(th[0]);
            spikes += s[0];
        }
        // The threshold is θ0 + γ·a with a the ρ-filtered spike train.
        let mut a_ref = 0.0f32;
        let mut v_ref = 0.0f32;
        for &t in &thresholds {
            let want = 1.0 + 0.5 * a_ref;
            assert!((t - want).abs() < 1e-6);
            let hh = 0.9 * v_ref + 0.7;
            let ss = if hh >= want { 1.0 } else { 0.0 };
            v_ref = hh - want * ss;
            a_ref = 0.8 * a_ref + ss;
        }
        // Adaptation lowers the rate below the plain LIF's.
        let mut vl = vec![0.0f32];
        let plain = lif_multistep(
            0.9,
            1.0,
            DiscreteReset::Subtract,
            Heaviside,
            &mut vl,
            &[0.7; 20],
            &mut [0.0; 20],
            &mut [0.0; 20],
        );
        assert!(spikes < plain, "adaptive {spikes} vs plain {plain}");
    }

    /// The discrete LIF and the engine's LIF (parameters mapped as in the module docs)
    /// produce the same spikes at every step, with the engine one step later.
    #[test]
    fn discrete_lif_matches_the_engine_step_for_step() {
        matches_the_engine(Adaptation::NONE, DiscreteReset::Subtract);
        matches_the_engine(Adaptation::NONE, DiscreteReset::Zero);
    }

    /// The same for the adaptive LIF: the engine's adaptive threshold with
    /// `theta_plus = γ/ρ`, `τθ = −dt/ln ρ`, reset by subtraction of the threshold in
    /// force.
    #[test]
    fn discrete_adaptive_lif_matches_the_engine_step_for_step() {
        let ad = Adaptation {
            rho: 0.8,
            gamma: 0.3,
        };
        matches_the_engine(ad, DiscreteReset::Subtract);
        matches_the_engine(ad, DiscreteReset::Zero);
        matches_the_engine(Adaptation { rho: 1.0, ..ad }, DiscreteReset::Subtract);
    }

    fn matches_the_engine(ad: Adaptation, reset: DiscreteReset) {
        let (n_in, n_out, steps) = (20usize, 8usize, 60usize);
        let (beta, theta, dt) = (0.9f32, 1.0f32, 1.0f64);
        let mut rng = crate::rng::stream(5, crate::rng::Domain::Training, &[0]);
        let w: Vec<f32> = (0..n_in * n_out)
            .map(|_| rng.random_range(-0.3f32..0.6))
            .collect();
        let input: Vec<Vec<bool>> = (0..steps)
            .map(|_| (0..n_in).map(|_| rng.random::<f32>() < 0.3).collect())
            .collect();

        // Discrete reference.
        let (mut v, mut a) = (vec![0.0f32; n_out], vec![0.0f32; n_out]);
        let (mut h, mut s, mut th) = (vec![0.0; n_out], vec![0.0; n_out], vec![0.0; n_out]);
        let mut want = Vec::new();
        let mut margin = f32::MAX;
        for inp in &input {
            let mut x = vec![0.0f32; n_out];
            for (i, &on) in inp.iter().enumerate() {
                if on {
                    for j in 0..n_out {
                        x[j] += w[i * n_out + j];
                    }
                }
            }
            alif_step(
                beta, theta, ad, reset, Heaviside, &mut v, &mut a, &x, &mut h, &mut s, &mut th,
            );
            margin = margin.min(
                h.iter()
                    .zip(&th)
                    .map(|(&h, &th)| (h - th).abs())
                    .fold(f32::MAX, f32::min),
            );
            want.push(s.iter().map(|&x| x > 0.0).collect::<Vec<_>>());
        }
        assert!(margin > 1e-4, "test inputs too close to threshold");

        // Engine network.
        let (mut neurons, mut times) = (Vec::new(), Vec::new());
        for (t, inp) in input.iter().enumerate() {
            for (i, &on) in inp.iter().enumerate() {
                if on {
                    neurons.push(i as u32);
                    times.push(t as f64 * dt);
                }
            }
        }
        let pairs = (0..n_in as u32)
            .flat_map(|i| (0..n_out as u32).map(move |j| (i, j)))
            .collect();
        let weights = w.iter().map(|&x| (x / beta) as f64).collect();
        let mode = reset.engine_reset().unwrap();
        let lif = Lif::from_discrete_adaptive(beta, theta as f64, ad, mode, dt).unwrap();
        assert_eq!(lif.has_adaptive_threshold(), ad.is_adaptive());
        let net = NetworkSpec::new(dt, steps as f64 * dt)
            .population(PopulationSpec::new(
                "in",
                n_in,
                NeuronSpec::SpikeGenerator(SpikeGenerator {
                    neurons,
                    times_ms: times,
                }),
            ))
            .population(
                PopulationSpec::new("out", n_out, NeuronSpec::Lif(lif))
                    .with_receptor(ReceptorSpec::delta("d")),
            )
            .projection(ProjectionSpec::new(
                "in",
                "out",
                "d",
                Connectivity::List {
                    pairs,
                    weights: Some(weights),
                    delays_ms: None,
                },
                0.0,
            ));
        let mut sim = Simulator::build_with_threads(&net, 1).unwrap();
        sim.run_steps(1); // engine step 0: inputs emitted, nothing arrived yet
        let mut total = 0;
        for (t, want_t) in want.iter().enumerate() {
            sim.run_steps(1);
            let mut got = vec![false; n_out];
            for j in sim.last_spikes(1) {
                got[j as usize] = true;
            }
            assert_eq!(&got, want_t, "{ad:?} {reset:?} step {t}");
            total += got.iter().filter(|&&x| x).count();
        }
        assert!(total > 10, "the test should exercise spikes ({total})");
    }
}
