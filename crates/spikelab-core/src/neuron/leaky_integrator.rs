//! Leaky integrator: the trainer's non-spiking readout, `v_t = β·v_{t−1} + x_t`, whose
//! membrane is the output (for losses on the membrane), with its backward step and its
//! engine form.
//!
//! Backward (per sample, going back in time, `g_t = ∂L/∂v_t` on entry):
//! `g_t += β·g_{t+1}` (then `∂L/∂x_t = g_t`) and `∂L/∂β = Σ_t g_t·v_{t−1}`.
//!
//! Engine form ([`engine_model`]): a LIF (IF for β = 1) with `v_rest = v_reset = 0`, an
//! unreachable threshold and delta weights `w/β`, whose membrane `v` is read every step
//! (see [`super::lif::discrete`] for the mapping of the decay).

use super::discrete_time::NeuronParam;
use super::iaf::Iaf;
use super::lif::Lif;
use super::ResetMode;
use crate::error::Result;
use crate::network::NeuronSpec;

/// Threshold of engine readout populations (never reached).
pub const NEVER_MV: f64 = 1e30;

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

/// The backward pass of one sample of `steps × n` rows (step-major): `g` holds
/// `∂L/∂v_t` on entry and `∂L/∂x_t` on exit, `m` the membranes of the forward pass.
/// Returns `∂L/∂β` of the sample.
#[inline(always)]
pub fn li_backward_sample(beta: f32, n: usize, g: &mut [f32], m: &[f32]) -> f32 {
    let steps = g.len() / n;
    let mut db = 0.0f32;
    for t in (0..steps).rev() {
        for i in 0..n {
            if t + 1 < steps {
                g[t * n + i] += beta * g[(t + 1) * n + i];
            }
            if t > 0 {
                db += g[t * n + i] * m[(t - 1) * n + i];
            }
        }
    }
    db
}

/// The engine population model of a leaky-integrator readout with decay `beta`:
/// an IF neuron for β ≥ 1, else a LIF ([`Lif::from_discrete`]), both with an
/// unreachable threshold. Incoming delta weights are `w / β`.
pub fn engine_model(beta: f32, dt_ms: f64) -> Result<NeuronSpec> {
    Ok(if beta >= 1.0 {
        NeuronSpec::If(Iaf::from_discrete(NEVER_MV, ResetMode::Value))
    } else {
        NeuronSpec::Lif(Lif::from_discrete(beta, NEVER_MV, ResetMode::Value, dt_ms)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaky_integrator_is_a_geometric_sum() {
        let mut v = vec![0.0f32];
        for _ in 0..10 {
            li_step(0.5, &mut v, &[1.0]);
        }
        assert!((v[0] - (1.0 - 0.5f32.powi(10)) / 0.5).abs() < 1e-6);
    }

    #[test]
    fn backward_is_the_adjoint_of_the_forward_pass() {
        // L = Σ_t c_t·v_t with v_t = Σ_{u ≤ t} β^{t−u} x_u: ∂L/∂x_u = Σ_{t ≥ u} β^{t−u} c_t.
        let (beta, c) = (0.5f32, [1.0f32, 2.0, 3.0]);
        let mut g = c.to_vec();
        let m = [1.0f32, 1.5, 1.75]; // v for x = 1, 1, 1
        let db = li_backward_sample(beta, 1, &mut g, &m);
        assert_eq!(g, vec![1.0 + 0.5 * 2.0 + 0.25 * 3.0, 2.0 + 0.5 * 3.0, 3.0]);
        // ∂L/∂β = Σ_t g_t·v_{t−1} = 3.5·1 + 3·1.5.
        assert!((db - (3.5 + 4.5)).abs() < 1e-6);
    }
}
