//! Recurrent LIF layer (snnTorch's `RLeaky` with all-to-all recurrence): the layer's
//! own spikes of the previous step feed back through a weight matrix `V` (`[from][to]`),
//!
//! ```text
//! h_t = β·v_{t−1} + x_t + Σ_k s_{t−1,k}·V[k][·]
//! ```
//!
//! then threshold and reset as the LIF ([`super::spiking`]). On the engine this is a
//! projection of the population onto itself with a one-step delay. The forward pass
//! adds the rows of `V` of the neurons that spiked; the backward pass runs the steps
//! backwards for all samples at once (one GEMM per step for `∂L/∂s_{t−1} += V·∂L/∂h_t`)
//! and gets `∂L/∂V` from the bit-packed spikes with the sparse weight-gradient kernel.
//!
//! With an [`Adaptation`] (ρ, γ) the neurons are adaptive LIF ([`alif_step`]: the
//! threshold rises by γ per recent spike and decays by ρ per step) — the recurrent
//! layer of an LSNN (Bellec et al. 2018); the threshold in force at each step is
//! recorded for the backward pass, as in the feed-forward ALIF layer.

use super::spiking::{backward_row, neuron_params, SpikingSpec};
use super::{sum_over_steps, uniform_init, Layer, Param, ParamKind, Pass};
use crate::nn::kernels::dense::{matmul, Mat};
use crate::nn::kernels::sparse::{spike_weight_grad, SpikeIndex};
use crate::nn::tensor::{pack_row, Activation, FeatShape, SpikeTensor, Tensor};
use rayon::prelude::*;
use spikelab_core::neuron::discrete_time::{Heaviside, SpikeFn};
use spikelab_core::neuron::lif::backward::{BackCfg, BackState};
use spikelab_core::neuron::lif::Adaptation;
use spikelab_core::neuron::lif::{alif_step, lif_step};
use spikelab_core::neuron::surrogate::SmoothSpike;
use std::any::Any;

/// See the module docs.
#[derive(Debug)]
pub struct RecurrentLif {
    /// Neuron parameters.
    pub spec: SpikingSpec,
    n: usize,
    /// Recurrent weights `[from][to]`.
    pub recurrent: Param,
    /// Decay β.
    pub beta: Param,
    /// Threshold θ (the base threshold of adaptive neurons).
    pub threshold: Param,
    /// Threshold adaptation (ρ, γ); [`Adaptation::NONE`] for the plain LIF.
    pub adaptation: Adaptation,
    /// Membranes, whether the input was static, and (adaptive) the thresholds in
    /// force, of the recorded forward pass.
    cache: Option<(Vec<f32>, bool, Vec<f32>)>,
    spikes: u64,
}

impl RecurrentLif {
    /// A recurrent layer of `n` neurons; `V` is initialised `U(−1/√n, 1/√n)`.
    pub fn new(spec: SpikingSpec, n: usize, seed: u64, index: usize) -> Self {
        let (beta, threshold) = neuron_params(&spec, n, None);
        let bound = 1.0 / (n as f32).sqrt();
        RecurrentLif {
            spec,
            n,
            recurrent: Param::new(
                "recurrent",
                vec![n, n],
                uniform_init(n * n, bound, seed, index, 2),
                ParamKind::Weight,
            ),
            beta,
            threshold,
            adaptation: Adaptation::NONE,
            cache: None,
            spikes: 0,
        }
    }

    /// A recurrent layer of `n` adaptive LIF neurons (an LSNN layer).
    pub fn adaptive(
        spec: SpikingSpec,
        adaptation: Adaptation,
        n: usize,
        seed: u64,
        index: usize,
    ) -> Self {
        RecurrentLif {
            adaptation,
            ..Self::new(spec, n, seed, index)
        }
    }

    fn is_adaptive(&self) -> bool {
        self.adaptation != Adaptation::NONE
    }

    #[allow(clippy::too_many_arguments)]
    fn run_sample<F: SpikeFn>(
        &self,
        f: F,
        beta: &[f32],
        theta: &[f32],
        x_static: Option<&[f32]>,
        h: &mut [f32],
        theta_t: &mut [f32],
        values: Option<&mut [f32]>,
        bits: Option<&mut [u64]>,
    ) {
        let n = self.n;
        let steps = h.len() / n;
        let w = &self.recurrent.value;
        let (mut v, mut s, mut s_prev, mut xb, mut a) = (
            vec![0.0f32; n],
            vec![0.0f32; n],
            vec![0.0f32; n],
            vec![0.0f32; n],
            vec![0.0f32; n],
        );
        let words = n.div_ceil(64);
        let adaptive = self.is_adaptive();
        let (mut values, mut bits) = (values, bits);
        for t in 0..steps {
            let hr = &mut h[t * n..(t + 1) * n];
            match x_static {
                Some(x) => xb.copy_from_slice(x),
                None => xb.copy_from_slice(hr),
            }
            if t > 0 {
                for (k, &sk) in s_prev.iter().enumerate() {
                    if sk != 0.0 {
                        for (a, wk) in xb.iter_mut().zip(&w[k * n..(k + 1) * n]) {
                            *a += sk * wk;
                        }
                    }
                }
            }
            if adaptive {
                let tt = &mut theta_t[t * n..(t + 1) * n];
                let (reset, adaptation) = (self.spec.reset, self.adaptation);
                alif_step(
                    beta, theta, adaptation, reset, f, &mut v, &mut a, &xb, hr, &mut s, tt,
                );
            } else {
                lif_step(beta, theta, self.spec.reset, f, &mut v, &xb, hr, &mut s);
            }
            if let Some(out) = values.as_deref_mut() {
                out[t * n..(t + 1) * n].copy_from_slice(&s);
            }
            if let Some(b) = bits.as_deref_mut() {
                pack_row(&s, &mut b[t * words..(t + 1) * words]);
            }
            std::mem::swap(&mut s, &mut s_prev);
        }
    }

    fn backward_with<F: SpikeFn>(
        &mut self,
        f: F,
        g: &mut Tensor,
        pass: &Pass,
        h: &[f32],
        theta_t: &[f32],
    ) {
        let (n, steps, batch) = (self.n, pass.steps, pass.batch);
        let beta = self.beta.expanded(n);
        let theta = self.threshold.expanded(n);
        let adaptive = self.is_adaptive();
        // The threshold in force at row r (sample-major rows b·T + t).
        let th = |r: usize| -> &[f32] {
            if adaptive {
                &theta_t[r * n..(r + 1) * n]
            } else {
                &theta[..]
            }
        };
        let cfg = BackCfg {
            reset: self.spec.reset,
            detach: self.spec.detach_reset,
            surrogate: self.spec.surrogate,
            adaptation: self.adaptation,
            learn_beta: self.beta.trainable,
            learn_theta: self.threshold.trainable,
        };
        let mut states: Vec<BackState> = (0..batch).map(|_| BackState::new(n, &cfg)).collect();
        let mut ext = vec![0.0f32; batch * n];
        for t in (0..steps).rev() {
            if t + 1 < steps {
                // ∂L/∂s_t += V · ∂L/∂h_{t+1} for every sample (rows b·T + t + 1).
                let d_next = Mat {
                    data: &g.data[(t + 1) * n..],
                    rows: batch,
                    cols: n,
                    rs: steps * n,
                    cs: 1,
                };
                matmul(
                    d_next,
                    Mat::new(&self.recurrent.value, n, n).t(),
                    &mut ext,
                    false,
                );
            }
            let has_ext = t + 1 < steps;
            g.data
                .par_chunks_mut(steps * n)
                .zip(h.par_chunks(steps * n))
                .zip(states.par_iter_mut())
                .enumerate()
                .for_each(|(b, ((gs, hs), st))| {
                    let row = t * n..(t + 1) * n;
                    let gr = &mut gs[row.clone()];
                    if has_ext {
                        for (a, e) in gr.iter_mut().zip(&ext[b * n..(b + 1) * n]) {
                            *a += e;
                        }
                    }
                    let r = b * steps + t;
                    let prev = (t > 0).then(|| (&hs[(t - 1) * n..t * n], th(r - 1)));
                    backward_row(&cfg, f, &beta, th(r), &hs[row], prev, gr, st);
                });
        }
        // Recurrent weight gradient: spikes of step t−1 times ∂L/∂h_t.
        let rows = steps * batch;
        let mut prev_s = Tensor::zeros(rows, FeatShape::flat(n));
        for r in 0..rows {
            if r % steps > 0 {
                let (hp, tp, out) = (&h[(r - 1) * n..r * n], th(r - 1), prev_s.row_mut(r));
                for k in 0..n {
                    out[k] = f.fire(hp[k] - tp[k]);
                }
            }
        }
        if f.fire(-1.0) == 0.0 && f.fire(0.0) == 1.0 {
            // Binary spikes: sparse kernel.
            let idx = SpikeIndex::from_spikes(&SpikeTensor::from_dense(&prev_s));
            spike_weight_grad(&idx, &g.data, n, 1.0, &mut self.recurrent.grad);
        } else {
            matmul(
                Mat::new(&prev_s.data, rows, n).t(),
                Mat::new(&g.data, rows, n),
                &mut self.recurrent.grad,
                false,
            );
        }
        if cfg.learn_beta {
            let mut acc = vec![0.0f32; n];
            for st in &states {
                acc.iter_mut().zip(&st.dbeta).for_each(|(a, x)| *a += x);
            }
            self.beta.set_grad_from(&acc);
        }
        if cfg.learn_theta {
            let mut acc = vec![0.0f32; n];
            for st in &states {
                acc.iter_mut().zip(&st.dtheta).for_each(|(a, x)| *a += x);
            }
            self.threshold.set_grad_from(&acc);
        }
    }
}

impl Layer for RecurrentLif {
    fn kind(&self) -> &'static str {
        if self.is_adaptive() {
            "ralif"
        } else {
            "rlif"
        }
    }
    fn in_shape(&self) -> FeatShape {
        FeatShape::flat(self.n)
    }
    fn out_shape(&self) -> FeatShape {
        FeatShape::flat(self.n)
    }

    fn forward(&mut self, x: Activation, pass: &Pass) -> Activation {
        let (n, steps, rows) = (self.n, pass.steps, pass.rows());
        let (mut h, x_static) = match x {
            Activation::Dense(t) => (t.into_data(), None),
            Activation::Spikes(s) => (s.to_dense().into_data(), None),
            Activation::Static(t) => (crate::nn::pool::take(rows * n), Some(t)),
        };
        let beta = self.beta.expanded(n);
        let theta = self.threshold.expanded(n);
        let xs = |b: usize| x_static.as_ref().map(|t| t.row(b));
        // Adaptive neurons record the threshold in force at every step.
        let adaptive = self.is_adaptive();
        let mut theta_t = vec![0.0f32; if adaptive { rows * n } else { 0 }];
        let tts: Vec<&mut [f32]> = if adaptive {
            theta_t.chunks_mut(steps * n).collect()
        } else {
            (0..pass.batch).map(|_| &mut [][..]).collect()
        };
        let out = if pass.smooth {
            let f = SmoothSpike(self.spec.surrogate);
            let mut vals = vec![0.0f32; rows * n];
            h.par_chunks_mut(steps * n)
                .zip(vals.par_chunks_mut(steps * n))
                .zip(tts.into_par_iter())
                .enumerate()
                .for_each(|(b, ((hc, vc), tc))| {
                    self.run_sample(f, &beta, &theta, xs(b), hc, tc, Some(vc), None)
                });
            Activation::Dense(Tensor::from_vec(vals, rows, FeatShape::flat(n)))
        } else {
            let mut s = SpikeTensor::zeros(rows, FeatShape::flat(n));
            let wc = steps * s.words;
            h.par_chunks_mut(steps * n)
                .zip(s.bits.par_chunks_mut(wc))
                .zip(tts.into_par_iter())
                .enumerate()
                .for_each(|(b, ((hc, bc), tc))| {
                    self.run_sample(Heaviside, &beta, &theta, xs(b), hc, tc, None, Some(bc))
                });
            self.spikes = s.count();
            Activation::Spikes(s)
        };
        if pass.record {
            self.cache = Some((h, x_static.is_some(), theta_t));
        } else {
            // Inference: the membranes go back to the pool for the next batch.
            self.cache = None;
            crate::nn::pool::give(h);
        }
        out
    }

    fn backward(&mut self, mut grad: Tensor, pass: &Pass, need: bool) -> Option<Tensor> {
        let (h, was_static, theta_t) = self
            .cache
            .take()
            .expect("rlif backward without a recorded forward");
        if pass.smooth {
            let f = SmoothSpike(self.spec.surrogate);
            self.backward_with(f, &mut grad, pass, &h, &theta_t);
        } else {
            self.backward_with(Heaviside, &mut grad, pass, &h, &theta_t);
        }
        crate::nn::pool::give(h);
        need.then(|| {
            if was_static {
                sum_over_steps(&grad, pass.steps)
            } else {
                grad
            }
        })
    }

    fn params(&self) -> Vec<&Param> {
        vec![&self.recurrent, &self.beta, &self.threshold]
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.recurrent, &mut self.beta, &mut self.threshold]
    }
    fn clear(&mut self) {
        self.cache = None;
    }
    fn last_spike_count(&self) -> Option<u64> {
        Some(self.spikes)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::super::gradcheck::{check, random_dense};
    use super::super::spiking::Learn;
    use super::*;
    use spikelab_core::neuron::discrete_time::DiscreteReset;
    use spikelab_core::neuron::surrogate::{Surrogate, SurrogateKind};

    #[test]
    fn backward_matches_finite_differences() {
        let (steps, batch, n) = (4, 3, 5);
        let mut pass = Pass::eval(steps, batch);
        pass.smooth = true;
        for reset in [DiscreteReset::Subtract, DiscreteReset::Zero] {
            let spec = SpikingSpec {
                beta: 0.85,
                threshold: 0.8,
                learn_beta: Learn::Neuron,
                learn_threshold: Learn::Layer,
                reset,
                surrogate: Surrogate::new(SurrogateKind::Sigmoid),
                ..SpikingSpec::default()
            };
            let mut l = RecurrentLif::new(spec.clone(), n, 3, 0);
            let x = Activation::Dense(random_dense(steps * batch, FeatShape::flat(n), 1, 1.5));
            assert!(check(&mut l, &x, &pass, 1e-3, 2e-2) > 40);
            let xs = Activation::Static(random_dense(batch, FeatShape::flat(n), 2, 1.5));
            assert!(check(&mut l, &xs, &pass, 1e-3, 2e-2) > 40);
            // The adaptive (LSNN) layer: the thresholds in force enter the gradient.
            let adaptation = Adaptation {
                rho: 0.9,
                gamma: 0.6,
            };
            let mut a = RecurrentLif::adaptive(spec, adaptation, n, 3, 0);
            assert_eq!(a.kind(), "ralif");
            assert!(check(&mut a, &x, &pass, 1e-3, 2e-2) > 40);
            assert!(check(&mut a, &xs, &pass, 1e-3, 2e-2) > 40);
        }
    }

    #[test]
    fn adaptation_raises_the_threshold_after_spikes() {
        // Constant drive above threshold: the adaptive layer fires less.
        let (steps, n) = (40, 4);
        let spec = SpikingSpec::default();
        let x = Activation::Static(Tensor::from_vec(vec![1.5; n], 1, FeatShape::flat(n)));
        let pass = Pass::eval(steps, 1);
        let mut plain = RecurrentLif::new(spec.clone(), n, 1, 0);
        plain.recurrent.value.iter_mut().for_each(|w| *w = 0.0);
        let mut adaptive = RecurrentLif::adaptive(
            spec,
            Adaptation {
                rho: 0.95,
                gamma: 0.5,
            },
            n,
            1,
            0,
        );
        adaptive.recurrent.value.iter_mut().for_each(|w| *w = 0.0);
        plain.forward(x.clone(), &pass);
        adaptive.forward(x, &pass);
        let (p, a) = (plain.spikes, adaptive.spikes);
        assert!(a > 0 && a < p, "adaptive {a} vs plain {p} spikes");
    }

    #[test]
    fn recurrent_spikes_feed_back_one_step_later() {
        let spec = SpikingSpec {
            beta: 0.0,
            ..SpikingSpec::default()
        };
        let mut l = RecurrentLif::new(spec, 2, 0, 0);
        // Neuron 0 excites neuron 1 strongly; nothing else.
        l.recurrent.value = vec![0.0, 2.0, 0.0, 0.0];
        let mut x = Tensor::zeros(3, FeatShape::flat(2));
        x.row_mut(0)[0] = 1.5;
        let out = l.forward(Activation::Dense(x), &Pass::eval(3, 1));
        let s = out.as_spikes().unwrap();
        assert!(s.get(0, 0) && !s.get(0, 1));
        assert!(!s.get(1, 0) && s.get(1, 1));
        assert_eq!(s.count(), 2);
    }
}
