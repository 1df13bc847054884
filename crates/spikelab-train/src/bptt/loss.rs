//! Losses on the network output and the prediction rule.
//!
//! * `ce_count`: cross-entropy of the softmax of the output spike counts
//!   `z_c = Σ_t s_{t,c}` (snnTorch `ce_count_loss`).
//! * `mse_count`: mean squared error between spike counts and targets
//!   `T·correct_rate` for the true class, `T·incorrect_rate` for the others (snnTorch
//!   `mse_count_loss`).
//! * `ce_membrane`: cross-entropy of the membrane (a readout layer's output) at every
//!   step, averaged over steps (snnTorch `ce_mem_loss`).
//!
//! The predicted class is the largest spike count, or the largest summed membrane;
//! ties go to the lowest class index. Losses are means over the batch.

use crate::nn::tensor::{Activation, Tensor};
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};

fn correct_rate() -> f32 {
    0.8
}
fn incorrect_rate() -> f32 {
    0.2
}

/// Which loss.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LossSpec {
    /// Cross-entropy on spike counts.
    CeCount,
    /// Squared error on spike counts.
    MseCount {
        /// Target firing probability per step of the true class.
        #[serde(default = "correct_rate")]
        correct_rate: f32,
        /// Target firing probability per step of the other classes.
        #[serde(default = "incorrect_rate")]
        incorrect_rate: f32,
    },
    /// Cross-entropy on the membrane at every step.
    CeMembrane,
    /// Cross-entropy on the membrane at the last step (sequences: the answer after
    /// the whole input); the prediction is the last step's too.
    CeLast,
    /// Cross-entropy on the membrane's mean over the steps.
    CeMean,
}

impl LossSpec {
    /// Names accepted on the command line.
    pub const NAMES: &'static str = "ce-count, mse-count, ce-membrane, ce-last, ce-mean";

    /// Parses a name (with default parameters).
    pub fn parse(s: &str) -> Result<Self> {
        match s.replace('_', "-").as_str() {
            "ce-count" => Ok(LossSpec::CeCount),
            "mse-count" => Ok(LossSpec::MseCount {
                correct_rate: 0.8,
                incorrect_rate: 0.2,
            }),
            "ce-membrane" | "ce-mem" => Ok(LossSpec::CeMembrane),
            "ce-last" => Ok(LossSpec::CeLast),
            "ce-mean" => Ok(LossSpec::CeMean),
            _ => Err(Error::field(
                "loss",
                format!("unknown loss `{s}`; known: {}", Self::NAMES),
            )),
        }
    }

    /// True for losses on the membrane (the output must be a readout).
    pub fn on_membrane(&self) -> bool {
        matches!(
            self,
            LossSpec::CeMembrane | LossSpec::CeLast | LossSpec::CeMean
        )
    }
}

/// Loss value, its gradient with respect to the output, and predictions.
#[derive(Clone, Debug)]
pub struct LossOutput {
    /// Mean loss over the batch.
    pub loss: f64,
    /// Gradient with respect to the output (same rows as the output).
    pub grad: Tensor,
    /// Predicted class of each sample.
    pub predictions: Vec<usize>,
}

/// Per-sample sums over steps of the output (`batch × classes`): spike counts, or
/// summed values of a dense output.
pub fn step_sums(out: &Activation, steps: usize) -> (Vec<f32>, usize) {
    let c = out.shape().len();
    let batch = out.rows() / steps;
    let mut z = vec![0.0f32; batch * c];
    match out {
        Activation::Spikes(s) => {
            for r in 0..s.rows {
                let zb = &mut z[(r / steps) * c..(r / steps + 1) * c];
                s.for_each_active(r, |j| zb[j] += s.scale);
            }
        }
        Activation::Dense(t) => {
            for r in 0..t.rows {
                let zb = &mut z[(r / steps) * c..(r / steps + 1) * c];
                for (a, v) in zb.iter_mut().zip(t.row(r)) {
                    *a += v;
                }
            }
        }
        Activation::Static(t) => {
            for (a, v) in z.iter_mut().zip(&t.data) {
                *a = v * steps as f32;
            }
        }
    }
    (z, c)
}

/// Index of the largest value (the first on ties).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Predicted classes of a batch.
pub fn predict(out: &Activation, steps: usize) -> Vec<usize> {
    let (z, c) = step_sums(out, steps);
    z.chunks_exact(c).map(argmax).collect()
}

/// Softmax cross-entropy of `logits` with `label`; writes `softmax − onehot` to `g`.
fn softmax_ce(logits: &[f32], label: usize, g: &mut [f32]) -> f64 {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&x| (x as f64 - m).exp()).sum();
    for (k, (gk, &x)) in g.iter_mut().zip(logits).enumerate() {
        let p = (x as f64 - m).exp() / sum;
        *gk = (p - if k == label { 1.0 } else { 0.0 }) as f32;
    }
    sum.ln() + m - logits[label] as f64
}

/// Computes a loss; `labels` has one class per sample.
pub fn compute(spec: &LossSpec, out: &Activation, labels: &[u8], steps: usize) -> LossOutput {
    let c = out.shape().len();
    let batch = labels.len();
    let rows = out.rows();
    let (z, _) = step_sums(out, steps);
    let mut predictions: Vec<usize> = z.chunks_exact(c).map(argmax).collect();
    let mut grad = Tensor::zeros(rows, out.shape());
    let mut loss = 0.0f64;
    let mut gz = vec![0.0f32; c];
    match *spec {
        LossSpec::CeCount | LossSpec::MseCount { .. } => {
            for b in 0..batch {
                let zb = &z[b * c..(b + 1) * c];
                let y = labels[b] as usize;
                match *spec {
                    LossSpec::CeCount => {
                        loss += softmax_ce(zb, y, &mut gz);
                        gz.iter_mut().for_each(|g| *g /= batch as f32);
                    }
                    LossSpec::MseCount {
                        correct_rate,
                        incorrect_rate,
                    } => {
                        for k in 0..c {
                            let rate = if k == y { correct_rate } else { incorrect_rate };
                            let d = zb[k] - rate * steps as f32;
                            loss += (d * d) as f64 / c as f64;
                            gz[k] = 2.0 * d / (c * batch) as f32;
                        }
                    }
                    LossSpec::CeMembrane | LossSpec::CeLast | LossSpec::CeMean => unreachable!(),
                }
                // d z / d s_t = 1 for every step.
                let per_sample = rows / batch;
                for r in b * per_sample..(b + 1) * per_sample {
                    grad.row_mut(r).copy_from_slice(&gz);
                }
            }
        }
        LossSpec::CeLast => {
            let d = out.to_dense(steps);
            for (b, p) in predictions.iter_mut().enumerate() {
                let r = b * steps + steps - 1;
                loss += softmax_ce(d.row(r), labels[b] as usize, &mut gz);
                for (g, v) in grad.row_mut(r).iter_mut().zip(&gz) {
                    *g = v / batch as f32;
                }
                *p = argmax(d.row(r));
            }
        }
        LossSpec::CeMean => {
            let mut mean = vec![0.0f32; c];
            for b in 0..batch {
                for (m, v) in mean.iter_mut().zip(&z[b * c..(b + 1) * c]) {
                    *m = v / steps as f32;
                }
                loss += softmax_ce(&mean, labels[b] as usize, &mut gz);
                let per_sample = rows / batch;
                let scale = 1.0 / (batch * steps) as f32;
                for r in b * per_sample..(b + 1) * per_sample {
                    for (g, v) in grad.row_mut(r).iter_mut().zip(&gz) {
                        *g = v * scale;
                    }
                }
            }
        }
        LossSpec::CeMembrane => {
            let d = out.to_dense(steps);
            let scale = 1.0 / (batch * steps) as f32;
            for r in 0..d.rows {
                let y = labels[r / steps] as usize;
                loss += softmax_ce(d.row(r), y, &mut gz) / steps as f64;
                for (g, v) in grad.row_mut(r).iter_mut().zip(&gz) {
                    *g = v * scale;
                }
            }
        }
    }
    LossOutput {
        loss: loss / batch as f64,
        grad,
        predictions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::tensor::{FeatShape, SpikeTensor};

    fn fd_check(spec: LossSpec, out: &Tensor, labels: &[u8], steps: usize) {
        let g = compute(&spec, &Activation::Dense(out.clone()), labels, steps).grad;
        for i in 0..out.data.len() {
            let mut p = out.clone();
            p.data[i] += 1e-3;
            let mut m = out.clone();
            m.data[i] -= 1e-3;
            let lp = compute(&spec, &Activation::Dense(p), labels, steps).loss;
            let lm = compute(&spec, &Activation::Dense(m), labels, steps).loss;
            let num = (lp - lm) / 2e-3;
            assert!(
                (num - g.data[i] as f64).abs() < 1e-3,
                "{spec:?} [{i}] {num} vs {}",
                g.data[i]
            );
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let out = crate::nn::layers::gradcheck::random_dense(6, FeatShape::flat(4), 3, 2.0);
        for spec in [
            LossSpec::CeCount,
            LossSpec::parse("mse-count").unwrap(),
            LossSpec::CeMembrane,
            LossSpec::CeLast,
            LossSpec::CeMean,
        ] {
            fd_check(spec, &out, &[1, 3], 3);
        }
    }

    #[test]
    fn the_last_step_decides_for_ce_last() {
        // Sample of 2 steps: class 0 leads at step 0, class 1 at the last step.
        let out = Tensor::from_vec(vec![5.0, 0.0, 0.0, 1.0], 2, FeatShape::flat(2));
        let a = Activation::Dense(out);
        assert_eq!(compute(&LossSpec::CeLast, &a, &[1], 2).predictions, vec![1]);
        assert_eq!(compute(&LossSpec::CeMean, &a, &[1], 2).predictions, vec![0]);
        let g = compute(&LossSpec::CeLast, &a, &[1], 2).grad;
        assert_eq!(
            &g.data[..2],
            &[0.0, 0.0],
            "no gradient before the last step"
        );
    }

    #[test]
    fn counts_predict_and_ties_go_to_the_first_class() {
        let mut s = SpikeTensor::zeros(4, FeatShape::flat(3));
        s.set(0, 2);
        s.set(1, 2);
        s.set(1, 0);
        // sample 0: counts [1, 0, 2] → 2; sample 1: no spikes → 0.
        let a = Activation::Spikes(s);
        assert_eq!(predict(&a, 2), vec![2, 0]);
        let l = compute(&LossSpec::CeCount, &a, &[2, 1], 2);
        assert_eq!(l.predictions, vec![2, 0]);
        let want = ((1f64.exp() + 1.0 + 2f64.exp()).ln() - 2.0 + 3f64.ln()) / 2.0;
        assert!((l.loss - want).abs() < 1e-6);
    }
}
