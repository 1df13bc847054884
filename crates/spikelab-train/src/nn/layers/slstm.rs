//! Spiking LSTM layer (snnTorch's `SLSTM`; Rezaabad & Vishwanath 2020): an LSTM cell
//! whose hidden state `h` (snnTorch's `mem`) is thresholded into the layer's spikes.
//! The input is the `4n` gate pre-activations of the linear layer before it
//! (`x·W_ih + b`, so spike inputs use the linear layer's sparse kernels); per step
//!
//! ```text
//! z = a_t + h_{t−1}·W_hh          (gates i, f, g, o: n each)
//! c_t = σ(z_f)·c_{t−1} + σ(z_i)·tanh(z_g)
//! h_t = σ(z_o)·tanh(c_t)
//! s_t = H(h_t − θ)                 (no reset: the LSTM keeps its state, as snnTorch's default)
//! ```
//!
//! The recurrence carries `h` (real-valued), as an LSTM does; the layer's output is the
//! spikes. The backward pass is the LSTM's through time with the surrogate gradient of
//! `H` at `h − θ`. `W_hh` is `[n][4n]` (gates i, f, g, o), initialised as PyTorch's
//! `U(−1/√n, 1/√n)`.

use super::{sum_over_steps, uniform_init, Layer, Param, ParamKind, Pass};
use crate::nn::tensor::{pack_row, Activation, FeatShape, SpikeTensor, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};
use spikelab_core::neuron::surrogate::Surrogate;
use std::any::Any;

fn half() -> f32 {
    0.5
}

/// Parameters of a spiking LSTM layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlstmSpec {
    /// Hidden units (spiking outputs).
    pub hidden: usize,
    /// Threshold of `h = o·tanh(c)`, which lies in (−1, 1).
    #[serde(default = "half")]
    pub threshold: f32,
    /// Surrogate gradient of the threshold.
    #[serde(default)]
    pub surrogate: Surrogate,
}

impl SlstmSpec {
    /// Checks ranges; `field` prefixes messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        if self.hidden == 0 {
            return Err(Error::field(
                format!("{field}.hidden"),
                "must be at least 1",
            ));
        }
        if !(self.threshold.is_finite() && self.threshold > -1.0 && self.threshold < 1.0) {
            return Err(Error::field(
                format!("{field}.threshold"),
                format!(
                    "must be in (−1, 1), where h = o·tanh(c) lies (got {})",
                    self.threshold
                ),
            ));
        }
        self.surrogate.validate(&format!("{field}.surrogate"))
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// What the backward pass needs: gates after their nonlinearity, cells, hidden states.
#[derive(Debug)]
struct Cache {
    /// `rows × 4n`: i, f, g, o.
    gates: Vec<f32>,
    /// `rows × n`.
    c: Vec<f32>,
    /// `rows × n`.
    h: Vec<f32>,
    was_static: bool,
}

/// See the module docs.
#[derive(Debug)]
pub struct Slstm {
    /// The specification.
    pub spec: SlstmSpec,
    /// Recurrent weights `[n][4n]`.
    pub recurrent: Param,
    cache: Option<Cache>,
    spikes: u64,
}

impl Slstm {
    /// A layer of `spec.hidden` units, initialised from (seed, layer index).
    pub fn new(spec: SlstmSpec, seed: u64, index: usize) -> Self {
        let n = spec.hidden;
        let bound = 1.0 / (n as f32).sqrt();
        Slstm {
            recurrent: Param::new(
                "recurrent",
                vec![n, 4 * n],
                uniform_init(n * 4 * n, bound, seed, index, 3),
                ParamKind::Weight,
            ),
            spec,
            cache: None,
            spikes: 0,
        }
    }

    /// One sample: `a` its `T × 4n` pre-activations (or one row, the same every
    /// step); writes gates, cells and hidden states.
    fn run_sample(&self, a: &[f32], steps: usize, gates: &mut [f32], c: &mut [f32], h: &mut [f32]) {
        let n = self.spec.hidden;
        let w = &self.recurrent.value;
        let mut z = vec![0.0f32; 4 * n];
        for t in 0..steps {
            let at = if a.len() == 4 * n {
                a
            } else {
                &a[t * 4 * n..(t + 1) * 4 * n]
            };
            z.copy_from_slice(at);
            if t > 0 {
                let hp = &h[(t - 1) * n..t * n];
                for (k, &hk) in hp.iter().enumerate() {
                    if hk != 0.0 {
                        for (zj, wj) in z.iter_mut().zip(&w[k * 4 * n..(k + 1) * 4 * n]) {
                            *zj += hk * wj;
                        }
                    }
                }
            }
            let gt = &mut gates[t * 4 * n..(t + 1) * 4 * n];
            for j in 0..n {
                let (i, f, g, o) = (
                    sigmoid(z[j]),
                    sigmoid(z[n + j]),
                    z[2 * n + j].tanh(),
                    sigmoid(z[3 * n + j]),
                );
                gt[j] = i;
                gt[n + j] = f;
                gt[2 * n + j] = g;
                gt[3 * n + j] = o;
                let c_prev = if t > 0 { c[(t - 1) * n + j] } else { 0.0 };
                let ct = f * c_prev + i * g;
                c[t * n + j] = ct;
                h[t * n + j] = o * ct.tanh();
            }
        }
    }
}

impl Layer for Slstm {
    fn kind(&self) -> &'static str {
        "slstm"
    }
    fn in_shape(&self) -> FeatShape {
        FeatShape::flat(4 * self.spec.hidden)
    }
    fn out_shape(&self) -> FeatShape {
        FeatShape::flat(self.spec.hidden)
    }

    fn forward(&mut self, x: Activation, pass: &Pass) -> Activation {
        let (n, steps, rows) = (self.spec.hidden, pass.steps, pass.rows());
        let was_static = x.is_static();
        let a = match &x {
            Activation::Static(t) => t.data.clone(),
            other => other.to_dense(steps).into_data(),
        };
        let per = if was_static { 4 * n } else { steps * 4 * n };
        let mut gates = vec![0.0f32; rows * 4 * n];
        let mut c = vec![0.0f32; rows * n];
        let mut h = vec![0.0f32; rows * n];
        gates
            .par_chunks_mut(steps * 4 * n)
            .zip(c.par_chunks_mut(steps * n))
            .zip(h.par_chunks_mut(steps * n))
            .zip(a.par_chunks(per))
            .for_each(|(((g, c), h), a)| self.run_sample(a, steps, g, c, h));
        let theta = self.spec.threshold;
        let out = if pass.smooth {
            let s = self.spec.surrogate;
            let vals: Vec<f32> = h.iter().map(|&v| s.primitive(v - theta)).collect();
            Activation::Dense(Tensor::from_vec(vals, rows, FeatShape::flat(n)))
        } else {
            let mut s = SpikeTensor::zeros(rows, FeatShape::flat(n));
            let words = s.words;
            let mut row = vec![0.0f32; n];
            for r in 0..rows {
                for (o, &v) in row.iter_mut().zip(&h[r * n..(r + 1) * n]) {
                    *o = if v >= theta { 1.0 } else { 0.0 };
                }
                pack_row(&row, &mut s.bits[r * words..(r + 1) * words]);
            }
            self.spikes = s.count();
            Activation::Spikes(s)
        };
        self.cache = pass.record.then_some(Cache {
            gates,
            c,
            h,
            was_static,
        });
        out
    }

    fn backward(&mut self, grad: Tensor, pass: &Pass, need: bool) -> Option<Tensor> {
        let cache = self
            .cache
            .take()
            .expect("slstm backward without a recorded forward");
        let (n, steps) = (self.spec.hidden, pass.steps);
        let (theta, sur) = (self.spec.threshold, self.spec.surrogate);
        let w = &self.recurrent.value;
        let rows = grad.rows;
        let mut dz_all = vec![0.0f32; rows * 4 * n];
        // Per sample: ∂L/∂z for every step, and its share of ∂L/∂W_hh.
        let partial: Vec<Vec<f32>> = dz_all
            .par_chunks_mut(steps * 4 * n)
            .enumerate()
            .map(|(b, dz_s)| {
                let base = b * steps;
                let mut dw = vec![0.0f32; n * 4 * n];
                let mut dh_rec = vec![0.0f32; n];
                let mut dc_next = vec![0.0f32; n];
                for t in (0..steps).rev() {
                    let r = base + t;
                    let g = &cache.gates[r * 4 * n..(r + 1) * 4 * n];
                    let (c, h) = (&cache.c[r * n..(r + 1) * n], &cache.h[r * n..(r + 1) * n]);
                    let f_next = (t + 1 < steps)
                        .then(|| &cache.gates[(r + 1) * 4 * n + n..(r + 1) * 4 * n + 2 * n]);
                    let dz = &mut dz_s[t * 4 * n..(t + 1) * 4 * n];
                    for j in 0..n {
                        let dh = grad.data[r * n + j] * sur.grad(h[j] - theta) + dh_rec[j];
                        let tc = c[j].tanh();
                        let (i, f, gg, o) = (g[j], g[n + j], g[2 * n + j], g[3 * n + j]);
                        let mut dc = dh * o * (1.0 - tc * tc);
                        if let Some(fnx) = f_next {
                            dc += dc_next[j] * fnx[j];
                        }
                        let c_prev = if t > 0 { cache.c[(r - 1) * n + j] } else { 0.0 };
                        dz[j] = dc * gg * i * (1.0 - i);
                        dz[n + j] = dc * c_prev * f * (1.0 - f);
                        dz[2 * n + j] = dc * i * (1.0 - gg * gg);
                        dz[3 * n + j] = dh * tc * o * (1.0 - o);
                        dc_next[j] = dc;
                    }
                    // Into h_{t−1}: its recurrent weights and ∂L/∂h of the step before.
                    dh_rec.iter_mut().for_each(|v| *v = 0.0);
                    if t > 0 {
                        let hp = &cache.h[(r - 1) * n..r * n];
                        for k in 0..n {
                            let wk = &w[k * 4 * n..(k + 1) * 4 * n];
                            let mut acc = 0.0f32;
                            for (wj, dj) in wk.iter().zip(dz.iter()) {
                                acc += wj * dj;
                            }
                            dh_rec[k] = acc;
                            let hk = hp[k];
                            if hk != 0.0 {
                                for (d, dj) in
                                    dw[k * 4 * n..(k + 1) * 4 * n].iter_mut().zip(dz.iter())
                                {
                                    *d += hk * dj;
                                }
                            }
                        }
                    }
                }
                dw
            })
            .collect();
        // Summed in sample order: the same for any thread count.
        let gw = &mut self.recurrent.grad;
        gw.iter_mut().for_each(|v| *v = 0.0);
        for p in &partial {
            gw.iter_mut().zip(p).for_each(|(a, b)| *a += b);
        }
        need.then(|| {
            let dz = Tensor::from_vec(dz_all, rows, FeatShape::flat(4 * n));
            if cache.was_static {
                sum_over_steps(&dz, steps)
            } else {
                dz
            }
        })
    }

    fn params(&self) -> Vec<&Param> {
        vec![&self.recurrent]
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.recurrent]
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
    use super::*;
    use spikelab_core::neuron::surrogate::SurrogateKind;

    fn spec(n: usize) -> SlstmSpec {
        SlstmSpec {
            hidden: n,
            threshold: 0.1,
            surrogate: Surrogate::new(SurrogateKind::Sigmoid),
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let (steps, batch, n) = (5, 3, 4);
        let mut pass = Pass::eval(steps, batch);
        pass.smooth = true;
        let mut l = Slstm::new(spec(n), 2, 0);
        l.recurrent.value.iter_mut().for_each(|w| *w *= 2.0);
        let x = Activation::Dense(random_dense(steps * batch, FeatShape::flat(4 * n), 1, 1.5));
        assert!(check(&mut l, &x, &pass, 1e-3, 2e-2) > 60);
        let xs = Activation::Static(random_dense(batch, FeatShape::flat(4 * n), 2, 1.5));
        assert!(check(&mut l, &xs, &pass, 1e-3, 2e-2) > 60);
    }

    #[test]
    fn the_cell_remembers_and_the_output_spikes() {
        // A strong input gate at step 0 only: the cell keeps it (forget gate open), and
        // h = o·tanh(c) stays above the threshold without further input.
        let n = 1;
        let mut l = Slstm::new(spec(n), 0, 0);
        l.recurrent.value.iter_mut().for_each(|w| *w = 0.0);
        let steps = 6;
        let mut x = Tensor::zeros(steps, FeatShape::flat(4));
        for t in 0..steps {
            let row = x.row_mut(t);
            row[1] = 6.0; // forget gate open
            row[3] = 6.0; // output gate open
            if t == 0 {
                row[0] = 6.0; // input gate
                row[2] = 3.0; // candidate
            } else {
                row[0] = -6.0;
            }
        }
        let out = l.forward(Activation::Dense(x), &Pass::eval(steps, 1));
        let s = out.as_spikes().unwrap();
        assert!(
            (0..steps).all(|t| s.get(t, 0)),
            "the remembered cell keeps firing"
        );
        assert!(SlstmSpec {
            threshold: 1.5,
            ..spec(2)
        }
        .validate("l")
        .is_err());
    }
}
