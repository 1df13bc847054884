//! The prepared receptor: per-step propagators of its kinetics and the kernel that
//! turns arrivals into drive (see the parent module for the equations and units).
//!
//! State layout per chunk of `n` neurons (the first `n` entries are always the output
//! g or I, which is what `g_<name>` monitors read):
//!
//! ```text
//! exponential                 [g]       g ← g·e_d
//! alpha                       [g, y]    g ← (g + dt·y)·e_d,  y ← y·e_d          arrival: y += w·e/τ
//! difference_of_exponentials  [g, r]    g ← g·e_d + N(e_d − e_r)·r,  r ← r·e_r   arrival: r += w
//! ```
//!
//! with `e_d = exp(−dt/τ_d)`, `e_r = exp(−dt/τ_r)`. The alpha form is the exact solution
//! of `dg/dt = −g/τ + y, dy/dt = −y/τ`; the difference of exponentials keeps
//! `g = N(a − r)` for the decaying and rising components `a`, `r`, which both jump by
//! `w` on arrival (so g does not jump).

use super::{DriveBuffers, Kinetics, ReceptorKind, ReceptorSpec};
use crate::math::exp_f32;

/// Jahr & Stevens (1990) Mg²⁺ block of NMDA receptors at membrane potential `v_mv`
/// and extracellular Mg²⁺ concentration `mg_mm`:
/// `B(v) = 1 / (1 + [Mg²⁺]/3.57 mM · exp(−0.062 v/mV))`.
pub fn mg_block(v_mv: f64, mg_mm: f64) -> f64 {
    1.0 / (1.0 + mg_mm / MG_HALF_MM * (-MG_SLOPE_PER_MV * v_mv).exp())
}

/// Jahr & Stevens (1990): Mg²⁺ concentration of half block at 0 mV (mM).
const MG_HALF_MM: f64 = 3.57;
/// Jahr & Stevens (1990): voltage dependence of the block (1/mV).
const MG_SLOPE_PER_MV: f64 = 0.062;

/// A prepared receptor: constants for the chosen time step.
#[derive(Clone, Debug)]
pub struct Receptor {
    /// The description it came from.
    pub spec: ReceptorSpec,
    /// exp(−dt/τ_d).
    decay: f32,
    /// exp(−dt/τ_r) (difference of exponentials).
    decay_rise: f32,
    /// Coupling of the second state into g over one step (alpha: dt·e_d; difference
    /// of exponentials: N(e_d − e_r)).
    coupling: f32,
    /// Factor on arrivals into the second state (alpha: e/τ; otherwise 1).
    arrival: f32,
    /// Output factors on the first and second state (1 and 0 unless the target
    /// integrates exactly, see [`exact_current_scale`]).
    scale: [f32; 2],
    e_rev: f32,
    /// [Mg²⁺]/3.57 mM when the receptor has a Mg²⁺ block.
    mg_ratio: Option<f32>,
}

impl Receptor {
    /// Prepares `spec` (already validated) for time step `dt_ms`. `exact_tau_m_ms` is
    /// the membrane time constant of a neuron model that integrates exactly (see the
    /// module docs). With `forward_euler` (the neuron integrates with forward Euler) an
    /// exponential receptor decays by `1 − dt/τ` per step (clamped at 0) instead of
    /// `e^{−dt/τ}`, so the population is the forward-Euler scheme of its whole ODE
    /// system, as in Brian; alpha and difference-of-exponentials kinetics stay exact.
    pub fn prepare(
        spec: &ReceptorSpec,
        dt_ms: f64,
        exact_tau_m_ms: Option<f64>,
        forward_euler: bool,
    ) -> Self {
        let tau = spec.tau_ms.unwrap_or(1.0);
        let tau_r = spec.tau_rise_ms.unwrap_or(tau * 0.5);
        let ed = if forward_euler && spec.kinetics == Kinetics::Exponential {
            (1.0 - dt_ms / tau).max(0.0)
        } else {
            (-dt_ms / tau).exp()
        };
        let er = (-dt_ms / tau_r).exp();
        let norm = difference_of_exponentials_norm(tau_r, tau);
        let (coupling, arrival) = match spec.kinetics {
            Kinetics::Exponential => (0.0, 1.0),
            Kinetics::Alpha => (dt_ms * ed, std::f64::consts::E / tau),
            Kinetics::DifferenceOfExponentials => (norm * (ed - er), 1.0),
        };
        let scale = match (spec.kind, exact_tau_m_ms) {
            (ReceptorKind::Current, Some(tau_m)) => match spec.kinetics {
                Kinetics::Exponential => [exact_current_scale(dt_ms, tau, tau_m), 0.0],
                Kinetics::Alpha => {
                    let (s0, s1) = exact_alpha_scales(dt_ms, tau, tau_m);
                    [s0, s1]
                }
                Kinetics::DifferenceOfExponentials => {
                    let sd = exact_current_scale(dt_ms, tau, tau_m);
                    let sr = exact_current_scale(dt_ms, tau_r, tau_m);
                    [sd, norm * (sd - sr)]
                }
            },
            _ => [1.0, 0.0],
        };
        Receptor {
            spec: spec.clone(),
            decay: ed as f32,
            decay_rise: er as f32,
            coupling: coupling as f32,
            arrival: arrival as f32,
            scale: [scale[0] as f32, scale[1] as f32],
            e_rev: spec.e_rev_mv.unwrap_or(0.0) as f32,
            mg_ratio: spec.mg_mm.map(|m| (m / MG_HALF_MM) as f32),
        }
    }

    /// Number of state variables per neuron.
    pub fn state_len(&self) -> usize {
        self.spec.state_len()
    }

    /// Adds this step's `arrivals` (then zeroes them), adds the output to `drive`, and
    /// advances the state by one step. `v` is the membrane potential of the chunk at
    /// the start of the step (used by the Mg²⁺ block).
    #[inline]
    pub fn step(
        &self,
        state: &mut [f32],
        arrivals: &mut [f32],
        v: &[f32],
        drive: &mut DriveBuffers,
    ) {
        let n = arrivals.len();
        match self.spec.kind {
            ReceptorKind::Delta => {
                let jump = &mut drive.jump[..n];
                for i in 0..n {
                    jump[i] += arrivals[i];
                    arrivals[i] = 0.0;
                }
            }
            ReceptorKind::Current => {
                let cur = &mut drive.current[..n];
                let [s0, s1] = self.scale;
                self.advance(state, arrivals, |i, g, y| cur[i] += g * s0 + y * s1);
            }
            ReceptorKind::Conductance => {
                let gs = &mut drive.g_sum[..n];
                let ge = &mut drive.g_rev[..n];
                let e = self.e_rev;
                match self.mg_ratio {
                    None => self.advance(state, arrivals, |i, g, _| {
                        gs[i] += g;
                        ge[i] += g * e;
                    }),
                    Some(m) => {
                        let v = &v[..n];
                        let slope = -MG_SLOPE_PER_MV as f32;
                        self.advance(state, arrivals, |i, g, _| {
                            let gb = g / (1.0 + m * exp_f32(slope * v[i]));
                            gs[i] += gb;
                            ge[i] += gb * e;
                        })
                    }
                }
            }
        }
    }

    /// Adds arrivals, calls `emit(i, first, second)` with the start-of-step state of
    /// neuron `i`, and propagates the state over one step.
    #[inline(always)]
    fn advance(
        &self,
        state: &mut [f32],
        arrivals: &mut [f32],
        mut emit: impl FnMut(usize, f32, f32),
    ) {
        let n = arrivals.len();
        let (decay, decay_rise, coupling, arrival) =
            (self.decay, self.decay_rise, self.coupling, self.arrival);
        match self.spec.kinetics {
            Kinetics::Exponential => {
                let s = &mut state[..n];
                for i in 0..n {
                    let x = s[i] + arrivals[i];
                    arrivals[i] = 0.0;
                    emit(i, x, 0.0);
                    s[i] = x * decay;
                }
            }
            Kinetics::Alpha => {
                let (g, y) = state[..2 * n].split_at_mut(n);
                for i in 0..n {
                    let yi = y[i] + arrivals[i] * arrival;
                    arrivals[i] = 0.0;
                    let gi = g[i];
                    emit(i, gi, yi);
                    g[i] = gi * decay + coupling * yi;
                    y[i] = yi * decay;
                }
            }
            Kinetics::DifferenceOfExponentials => {
                let (g, r) = state[..2 * n].split_at_mut(n);
                for i in 0..n {
                    let ri = r[i] + arrivals[i];
                    arrivals[i] = 0.0;
                    let gi = g[i];
                    emit(i, gi, ri);
                    g[i] = gi * decay + coupling * ri;
                    r[i] = ri * decay_rise;
                }
            }
        }
    }
}

/// Peak normalisation `N = 1/(exp(−t_p/τ_d) − exp(−t_p/τ_r))` of a difference of
/// exponentials, `t_p = τ_d τ_r/(τ_d − τ_r) ln(τ_d/τ_r)` the time of the peak.
pub(crate) fn difference_of_exponentials_norm(tau_rise_ms: f64, tau_decay_ms: f64) -> f64 {
    let (r, d) = (tau_rise_ms, tau_decay_ms);
    if (d - r).abs() < 1e-9 * d {
        return 1.0;
    }
    let t_peak = d * r / (d - r) * (d / r).ln();
    1.0 / ((-t_peak / d).exp() - (-t_peak / r).exp())
}

/// Factor that turns the start-of-step value x0 of an exponential current (time
/// constant `tau_s`) into the constant input giving the exact membrane integral over
/// one step of a leaky integrator with time constant `tau_m`:
/// `(1/tau_m) ∫₀^dt e^{-(dt−s)/tau_m} e^{-s/tau_s} ds / (1 − e^{-dt/tau_m})`.
pub fn exact_current_scale(dt_ms: f64, tau_s: f64, tau_m: f64) -> f64 {
    let am = (-dt_ms / tau_m).exp();
    let a_s = (-dt_ms / tau_s).exp();
    let integral = if (tau_s - tau_m).abs() < 1e-9 * tau_m {
        dt_ms / tau_m * am
    } else {
        tau_s / (tau_s - tau_m) * (a_s - am)
    };
    integral / (1.0 - am)
}

/// The two factors of an alpha current with state `(I0, y0)` at the start of a step
/// (`I(s) = (I0 + s·y0) e^{−s/τ_s}`): the constant input
/// `scale_i·I0 + scale_y·y0` gives the exact membrane integral over one step of a
/// leaky integrator with time constant `tau_m`, i.e.
/// `(1/τ_m) ∫₀^dt e^{−(dt−s)/τ_m} I(s) ds / (1 − e^{−dt/τ_m})` (as NEST's
/// `iaf_psc_alpha` propagators).
pub fn exact_alpha_scales(dt_ms: f64, tau_s: f64, tau_m: f64) -> (f64, f64) {
    let am = (-dt_ms / tau_m).exp();
    // ∫₀^h s e^{−k s} ds with k = 1/τ_s − 1/τ_m; series near k h = 0.
    let k = 1.0 / tau_s - 1.0 / tau_m;
    let h = dt_ms;
    let kh = k * h;
    let moment1 = if kh.abs() < 1e-4 {
        h * h * (0.5 - kh / 3.0 + kh * kh / 8.0)
    } else {
        (1.0 - (-kh).exp() * (1.0 + kh)) / (k * k)
    };
    let p1 = am / tau_m * moment1;
    (exact_current_scale(dt_ms, tau_s, tau_m), p1 / (1.0 - am))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(spec: &ReceptorSpec, dt: f64, steps: usize, arrive: &[(usize, f32)]) -> Vec<f64> {
        let r = Receptor::prepare(spec, dt, None, false);
        let mut s = vec![0.0f32; r.state_len()];
        let mut d = DriveBuffers::new(1, spec.kind == ReceptorKind::Conductance, false);
        let mut out = Vec::new();
        for k in 0..steps {
            d.clear();
            let mut arr = vec![arrive.iter().filter(|a| a.0 == k).map(|a| a.1).sum()];
            r.step(&mut s, &mut arr, &[-65.0], &mut d);
            assert_eq!(arr[0], 0.0);
            out.push(match spec.kind {
                ReceptorKind::Conductance => d.g_sum[0] as f64,
                _ => d.current[0] as f64,
            });
        }
        out
    }

    /// Midpoint-rule membrane integral of `current(s)` over one step, divided by
    /// `1 − e^{−dt/τ_m}` (the constant input that gives the same increment).
    fn numeric_scale(dt: f64, tm: f64, current: impl Fn(f64) -> f64) -> f64 {
        let k = 100_000;
        let h = dt / k as f64;
        let integral: f64 = (0..k)
            .map(|j| {
                let s = (j as f64 + 0.5) * h;
                (-(dt - s) / tm).exp() * current(s) * h / tm
            })
            .sum();
        integral / (1.0 - (-dt / tm).exp())
    }

    #[test]
    fn exact_scale_matches_numeric_integral() {
        let (dt, ts, tm) = (0.5, 5.0, 20.0);
        let want = numeric_scale(dt, tm, |s| (-s / ts).exp());
        assert!((exact_current_scale(dt, ts, tm) - want).abs() < 1e-9);
        // Equal time constants use the limit.
        let a = exact_current_scale(dt, 10.0, 10.0);
        let b = exact_current_scale(dt, 10.0 + 1e-6, 10.0);
        assert!((a - b).abs() < 1e-6);
    }

    #[test]
    fn exact_alpha_scales_match_numeric_integral() {
        for (dt, ts, tm) in [(0.5, 2.0, 20.0), (0.1, 10.0, 10.0), (1.0, 30.0, 10.0)] {
            let (si, sy) = exact_alpha_scales(dt, ts, tm);
            let wi = numeric_scale(dt, tm, |s| (-s / ts).exp());
            let wy = numeric_scale(dt, tm, |s| s * (-s / ts).exp());
            assert!((si - wi).abs() < 1e-9, "{dt} {ts} {tm}: {si} vs {wi}");
            assert!((sy - wy).abs() < 1e-9 * dt, "{dt} {ts} {tm}: {sy} vs {wy}");
        }
    }

    #[test]
    fn conductance_receptor_decays_exponentially() {
        let spec = ReceptorSpec::conductance_exp("e", 5.0, 0.0);
        let g = run(&spec, 0.1, 50, &[(0, 1.0)]);
        for (k, &x) in g.iter().enumerate() {
            let want = (-(k as f64) * 0.1 / 5.0).exp();
            assert!((x - want).abs() < 1e-5);
        }
    }

    #[test]
    fn alpha_kinetics_follow_the_alpha_function_with_peak_at_tau() {
        let (dt, tau, w) = (0.1, 2.0, 3.0);
        let spec = ReceptorSpec::current_exp("a", tau).alpha();
        let g = run(&spec, dt, 200, &[(10, w as f32)]);
        for (k, &x) in g.iter().enumerate() {
            let t = (k as f64 - 10.0) * dt;
            let want = if t <= 0.0 {
                0.0
            } else {
                w * t / tau * (1.0 - t / tau).exp()
            };
            assert!((x - want).abs() < 2e-5, "step {k}: {x} vs {want}");
        }
        let peak = g.iter().cloned().fold(0.0, f64::max);
        assert!((peak - w).abs() < 1e-5);
        assert_eq!(g.iter().position(|&x| x == peak), Some(10 + 20));
    }

    #[test]
    fn difference_of_exponentials_peaks_at_the_weight() {
        let (dt, tr, td, w) = (0.05, 2.0, 100.0, 0.5);
        let spec = ReceptorSpec::conductance_exp("n", td, 0.0).with_rise_ms(tr);
        let g = run(&spec, dt, 1000, &[(0, w as f32)]);
        let t_peak = td * tr / (td - tr) * (td / tr).ln();
        let norm = difference_of_exponentials_norm(tr, td);
        for (k, &x) in g.iter().enumerate().step_by(37) {
            let t = k as f64 * dt;
            let want = w * norm * ((-t / td).exp() - (-t / tr).exp());
            assert!((x - want).abs() < 5e-5, "t {t}: {x} vs {want}");
        }
        let (kmax, peak) = g
            .iter()
            .enumerate()
            .fold((0, 0.0), |a, (k, &x)| if x > a.1 { (k, x) } else { a });
        assert!((peak - w).abs() < 2e-5, "peak {peak}");
        assert!((kmax as f64 * dt - t_peak).abs() <= dt);
    }

    #[test]
    fn nmda_block_scales_the_conductance_by_the_jahr_stevens_curve() {
        let spec = ReceptorSpec::conductance_exp("n", 100.0, 0.0).with_mg_block(1.2);
        let r = Receptor::prepare(&spec, 0.1, None, false);
        let vs: Vec<f32> = (0..41).map(|k| -100.0 + 5.0 * k as f32).collect();
        let n = vs.len();
        let mut state = vec![2.0f32; n];
        let mut arr = vec![0.0f32; n];
        let mut d = DriveBuffers::new(n, true, false);
        r.step(&mut state, &mut arr, &vs, &mut d);
        for (i, &v) in vs.iter().enumerate() {
            // The formula, written out: 1 / (1 + [Mg]/3.57 · exp(−0.062 v)).
            let b = 1.0 / (1.0 + 1.2 / 3.57 * (-0.062 * v as f64).exp());
            assert!((d.g_sum[i] as f64 - 2.0 * b).abs() < 2e-6 * 2.0, "v {v}");
            assert!((mg_block(v as f64, 1.2) - b).abs() < 1e-15);
            assert_eq!(d.g_rev[i], 0.0);
        }
        // Half block at v where [Mg]/3.57 · exp(−0.062 v) = 1.
        let v_half = (1.2f64 / 3.57).ln() / 0.062;
        assert!((mg_block(v_half, 1.2) - 0.5).abs() < 1e-12);
        // No Mg: no block.
        assert_eq!(mg_block(-80.0, 0.0), 1.0);
    }
}
