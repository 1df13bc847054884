//! Discrete-time, dimensionless neuron updates: the forward kernels of the trainer's
//! spiking layers (DESIGN.md idea 1). Every kernel advances `n` neurons by one step over
//! structure-of-arrays slices; the trainer calls them on cache-sized chunks of a
//! `steps × batch × neurons` activation (a fused loop over time), and
//! [`lif_multistep`] shows the same loop over whole `steps × n` slices.
//!
//! ## Equations (one step, per neuron)
//!
//! ```text
//! LIF            h = β·v + x                s = H(h − θ)      v ← reset(h, s, θ)
//! IF             LIF with β = 1
//! adaptive LIF   θ_t = θ0 + γ·a             h = β·v + x       s = H(h − θ_t)
//!                v ← reset(h, s, θ_t)       a ← ρ·a + s
//! leaky readout  v ← β·v + x                (no spikes; the output is v)
//! reset:  subtract  v = h − θ·s     zero  v = h·(1 − s)     none  v = h
//! ```
//!
//! `x` is the input of the step (a weighted sum of the previous layer's spikes of the
//! same step, or a current), `h` the membrane before reset (what surrogate gradients
//! are evaluated at), `s` the spike. `H` is the Heaviside step with `H(0) = 1`, i.e. a
//! neuron fires when `h ≥ θ`, as in the engine. The spike function is a parameter
//! ([`SpikeFn`]) so that gradient checks can swap `H` for a smooth function.
//!
//! ## Mapping to the simulator's models
//!
//! A discrete LIF with decay `β` and threshold `θ`, fed by the spikes of a previous
//! layer with weights `w`, is step-for-step the engine's [`super::lif::Lif`] with
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
//! The perfect integrator (IF) is the engine's [`super::iaf::Iaf`] with
//! `v_reset_mv = 0`, `v_thresh_mv = θ`, `t_ref_ms = 0` and delta weights `w` unchanged.
//! A constant current input `x` per step corresponds to an engine current
//! `I = x / (1 − β)` (mV) for the LIF, `I = x·C_m/dt` (pA) for the IF.

/// How the membrane is reset after a spike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscreteReset {
    /// `v = h − θ·s`: keeps the overshoot.
    #[default]
    Subtract,
    /// `v = h·(1 − s)`: back to zero.
    Zero,
    /// No reset (`v = h`).
    None,
}

impl DiscreteReset {
    /// Names accepted in specs.
    pub const NAMES: &'static str = "subtract, zero, none";

    /// The membrane after the spike `s` (0 or 1, or a smooth value in gradient checks).
    #[inline(always)]
    pub fn apply(self, h: f32, s: f32, theta: f32) -> f32 {
        match self {
            DiscreteReset::Subtract => h - theta * s,
            DiscreteReset::Zero => h * (1.0 - s),
            DiscreteReset::None => h,
        }
    }
}

/// The spike nonlinearity `s = f(h − θ)`.
pub trait SpikeFn: Copy + Send + Sync {
    /// Spike output for membrane minus threshold `x`.
    fn fire(&self, x: f32) -> f32;
}

/// The Heaviside step, `H(x) = 1` for `x ≥ 0`: what simulation and training use.
#[derive(Clone, Copy, Debug, Default)]
pub struct Heaviside;

impl SpikeFn for Heaviside {
    #[inline(always)]
    fn fire(&self, x: f32) -> f32 {
        if x >= 0.0 {
            1.0
        } else {
            0.0
        }
    }
}

/// A parameter that is either one value for every neuron (`f32`) or one per neuron
/// (`&[f32]`, indexed like the neurons of the step).
pub trait NeuronParam: Copy {
    /// The value for neuron `i`.
    fn at(self, i: usize) -> f32;
    /// The parameter for the first `n` neurons (lets the compiler drop bounds checks
    /// and vectorise the kernels).
    fn prefix(self, n: usize) -> Self;
}

impl NeuronParam for f32 {
    #[inline(always)]
    fn at(self, _i: usize) -> f32 {
        self
    }
    #[inline(always)]
    fn prefix(self, _n: usize) -> Self {
        self
    }
}

impl NeuronParam for &[f32] {
    #[inline(always)]
    fn at(self, i: usize) -> f32 {
        self[i]
    }
    #[inline(always)]
    fn prefix(self, n: usize) -> Self {
        &self[..n]
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

/// One adaptive-LIF step: `θ_t = θ0 + γ·a`, `h = β·v + x`, `s = f(h − θ_t)`,
/// `v ← reset(h, s, θ_t)`, `a ← ρ·a + s`. Writes `h`, `s` and the threshold used
/// (`theta_t`, needed by the backward pass).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn alif_step<B: NeuronParam, T: NeuronParam, F: SpikeFn>(
    beta: B,
    theta0: T,
    rho: f32,
    gamma: f32,
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

/// One step of the leaky integrator (non-spiking readout): `v ← β·v + x`.
#[inline(always)]
pub fn li_step<B: NeuronParam>(beta: B, v: &mut [f32], x: &[f32]) {
    let n = v.len();
    let x = &x[..n];
    let beta = beta.prefix(n);
    for i in 0..n {
        v[i] = beta.at(i) * v[i] + x[i];
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
                0.8,
                0.5,
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

    #[test]
    fn leaky_integrator_is_a_geometric_sum() {
        let mut v = vec![0.0f32];
        for _ in 0..10 {
            li_step(0.5, &mut v, &[1.0]);
        }
        assert!((v[0] - (1.0 - 0.5f32.powi(10)) / 0.5).abs() < 1e-6);
    }

    /// The discrete LIF and the engine's LIF (parameters mapped as in the module docs)
    /// produce the same spikes at every step, with the engine one step later.
    #[test]
    fn discrete_lif_matches_the_engine_step_for_step() {
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
        let mut v = vec![0.0f32; n_out];
        let (mut h, mut s) = (vec![0.0; n_out], vec![0.0; n_out]);
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
            lif_step(
                beta,
                theta,
                DiscreteReset::Subtract,
                Heaviside,
                &mut v,
                &x,
                &mut h,
                &mut s,
            );
            margin = margin.min(
                h.iter()
                    .map(|&h| (h - theta).abs())
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
        let lif = Lif {
            tau_m_ms: -dt / (beta as f64).ln(),
            v_rest_mv: 0.0,
            v_reset_mv: 0.0,
            v_thresh_mv: theta as f64,
            t_ref_ms: 0.0,
            reset: ResetMode::Subtract,
            ..Lif::default()
        };
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
            assert_eq!(&got, want_t, "step {t}");
            total += got.iter().filter(|&&x| x).count();
        }
        assert!(total > 10, "the test should exercise spikes ({total})");
    }
}
