//! Batch normalisation through time: per channel, `y = γ·(x − μ)/√(σ² + ε) + β`,
//! with `μ, σ²` taken over every step, sample and pixel of the batch (the multi-step
//! BatchNorm of SpikingJelly), or, with `per_step`, separately for each time step with
//! parameters and running statistics per step (BNTT, Kim & Panda 2021). Training
//! passes use batch statistics and update running statistics (momentum, unbiased
//! variance, as PyTorch); evaluation uses the running statistics.

use super::{Layer, Param, ParamKind, Pass};
use crate::nn::kernels::group_ranges;
use crate::nn::tensor::{Activation, FeatShape, Tensor};
use rayon::prelude::*;
use std::any::Any;

/// See the module docs.
#[derive(Debug)]
pub struct BatchNorm {
    shape: FeatShape,
    /// Statistics groups: 1, or the number of steps with `per_step`.
    groups: usize,
    eps: f32,
    momentum: f32,
    /// Scale γ, `[groups][c]`.
    pub weight: Param,
    /// Shift β, `[groups][c]`.
    pub bias: Param,
    /// Running mean, `[groups][c]`.
    pub running_mean: Param,
    /// Running variance, `[groups][c]`.
    pub running_var: Param,
    cache: Option<Cache>,
}

#[derive(Debug)]
struct Cache {
    xhat: Vec<f32>,
    inv_std: Vec<f32>,
    batch_stats: bool,
    was_static: bool,
}

impl BatchNorm {
    /// Normalises rows of `shape` per channel; `per_step` gives each of `steps` steps
    /// its own statistics and parameters.
    pub fn new(shape: FeatShape, per_step: bool, steps: usize, eps: f32, momentum: f32) -> Self {
        let groups = if per_step { steps } else { 1 };
        let n = groups * shape.c;
        let p =
            |name: &str, v: f32, kind| Param::new(name, vec![groups, shape.c], vec![v; n], kind);
        BatchNorm {
            shape,
            groups,
            eps,
            momentum,
            weight: p("weight", 1.0, ParamKind::Norm),
            bias: p("bias", 0.0, ParamKind::Norm),
            running_mean: p("running_mean", 0.0, ParamKind::Buffer),
            running_var: p("running_var", 1.0, ParamKind::Buffer),
            cache: None,
        }
    }

    /// True when statistics are kept per time step.
    pub fn per_step(&self) -> bool {
        self.groups > 1
    }

    /// Group of row `r` with `steps` steps.
    #[inline]
    fn group(&self, r: usize, steps: usize) -> usize {
        if self.groups > 1 {
            r % steps
        } else {
            0
        }
    }

    /// Per (group, channel) sums of `f(row, feature_value, index)` over rows.
    fn channel_sums(
        &self,
        data: &[f32],
        steps: usize,
        f: impl Fn(usize, f32) -> f64 + Sync,
    ) -> Vec<f64> {
        let (n, c) = (self.shape.len(), self.shape.c);
        let rows = data.len() / n;
        let partials: Vec<Vec<f64>> = group_ranges(rows)
            .into_par_iter()
            .map(|range| {
                let mut s = vec![0.0f64; self.groups * c];
                for r in range {
                    let g = self.group(r, steps);
                    let acc = &mut s[g * c..(g + 1) * c];
                    for (i, &v) in data[r * n..(r + 1) * n].iter().enumerate() {
                        acc[i % c] += f(r * n + i, v);
                    }
                }
                s
            })
            .collect();
        let mut out = vec![0.0f64; self.groups * c];
        for p in &partials {
            for (o, v) in out.iter_mut().zip(p) {
                *o += v;
            }
        }
        out
    }
}

impl Layer for BatchNorm {
    fn kind(&self) -> &'static str {
        "batch_norm"
    }
    fn in_shape(&self) -> FeatShape {
        self.shape
    }
    fn out_shape(&self) -> FeatShape {
        self.shape
    }

    fn forward(&mut self, x: Activation, pass: &Pass) -> Activation {
        let was_static = x.is_static() && self.groups == 1;
        let mut t = match x {
            Activation::Static(t) if self.groups == 1 => t,
            other => other.to_dense(pass.steps),
        };
        // With a static input every step is the same row: use steps = 1 for grouping.
        let steps = if was_static { 1 } else { pass.steps };
        let (n, c) = (self.shape.len(), self.shape.c);
        let rows = t.rows;
        let count = (rows / if self.groups > 1 { steps } else { 1 }) * self.shape.h * self.shape.w;
        let (mean, var): (Vec<f32>, Vec<f32>) = if pass.train {
            let s1 = self.channel_sums(&t.data, steps, |_, v| v as f64);
            let mean: Vec<f64> = s1.iter().map(|s| s / count as f64).collect();
            let s2 = self.channel_sums(&t.data, steps, |i, v| {
                let r = i / n;
                let g = self.group(r, steps);
                let d = v as f64 - mean[g * c + i % c];
                d * d
            });
            let var: Vec<f64> = s2.iter().map(|s| s / count as f64).collect();
            let m = self.momentum;
            let unbias = count as f64 / (count.max(2) - 1) as f64;
            for k in 0..mean.len() {
                let rm = &mut self.running_mean.value[k];
                *rm = (1.0 - m) * *rm + m * mean[k] as f32;
                let rv = &mut self.running_var.value[k];
                *rv = (1.0 - m) * *rv + m * (var[k] * unbias) as f32;
            }
            (
                mean.iter().map(|&x| x as f32).collect(),
                var.iter().map(|&x| x as f32).collect(),
            )
        } else {
            (
                self.running_mean.value.clone(),
                self.running_var.value.clone(),
            )
        };
        let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + self.eps).sqrt()).collect();
        let mut xhat = if pass.record {
            vec![0.0f32; t.data.len()]
        } else {
            Vec::new()
        };
        let (gamma, beta) = (&self.weight.value, &self.bias.value);
        let groups = self.groups;
        let body = |r: usize, row: &mut [f32], xh: Option<&mut [f32]>| {
            let g = if groups > 1 { r % steps } else { 0 };
            let base = g * c;
            match xh {
                Some(xh) => {
                    for (i, v) in row.iter_mut().enumerate() {
                        let k = base + i % c;
                        let h = (*v - mean[k]) * inv_std[k];
                        xh[i] = h;
                        *v = gamma[k] * h + beta[k];
                    }
                }
                None => {
                    for (i, v) in row.iter_mut().enumerate() {
                        let k = base + i % c;
                        *v = gamma[k] * (*v - mean[k]) * inv_std[k] + beta[k];
                    }
                }
            }
        };
        if pass.record {
            t.data
                .par_chunks_mut(n)
                .zip(xhat.par_chunks_mut(n))
                .enumerate()
                .for_each(|(r, (row, xh))| body(r, row, Some(xh)));
        } else {
            t.data
                .par_chunks_mut(n)
                .enumerate()
                .for_each(|(r, row)| body(r, row, None));
        }
        self.cache = pass.record.then_some(Cache {
            xhat,
            inv_std,
            batch_stats: pass.train,
            was_static,
        });
        if was_static {
            Activation::Static(t)
        } else {
            Activation::Dense(t)
        }
    }

    fn backward(&mut self, mut grad: Tensor, pass: &Pass, need: bool) -> Option<Tensor> {
        let cache = self
            .cache
            .take()
            .expect("BatchNorm::backward without a recorded forward");
        let steps = if cache.was_static { 1 } else { pass.steps };
        let (n, c) = (self.shape.len(), self.shape.c);
        let xhat = &cache.xhat;
        let sum_g = self.channel_sums(&grad.data, steps, |_, g| g as f64);
        let sum_gx = self.channel_sums(&grad.data, steps, |i, g| g as f64 * xhat[i] as f64);
        for k in 0..self.groups * c {
            self.weight.grad[k] = sum_gx[k] as f32;
            self.bias.grad[k] = sum_g[k] as f32;
        }
        if !need {
            return None;
        }
        let count =
            (grad.rows / if self.groups > 1 { steps } else { 1 }) * self.shape.h * self.shape.w;
        let inv_n = 1.0 / count as f32;
        let gamma = &self.weight.value;
        let inv_std = &cache.inv_std;
        let groups = self.groups;
        let batch_stats = cache.batch_stats;
        let (mg, mgx): (Vec<f32>, Vec<f32>) = (
            sum_g.iter().map(|&s| s as f32 * inv_n).collect(),
            sum_gx.iter().map(|&s| s as f32 * inv_n).collect(),
        );
        grad.data
            .par_chunks_mut(n)
            .zip(xhat.par_chunks(n))
            .enumerate()
            .for_each(|(r, (row, xh))| {
                let g0 = if groups > 1 { r % steps } else { 0 } * c;
                for (i, gv) in row.iter_mut().enumerate() {
                    let k = g0 + i % c;
                    *gv = if batch_stats {
                        gamma[k] * inv_std[k] * (*gv - mg[k] - xh[i] * mgx[k])
                    } else {
                        gamma[k] * inv_std[k] * *gv
                    };
                }
            });
        Some(grad)
    }

    fn params(&self) -> Vec<&Param> {
        vec![
            &self.weight,
            &self.bias,
            &self.running_mean,
            &self.running_var,
        ]
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![
            &mut self.weight,
            &mut self.bias,
            &mut self.running_mean,
            &mut self.running_var,
        ]
    }
    fn clear(&mut self) {
        self.cache = None;
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

    #[test]
    fn backward_matches_finite_differences_in_both_modes() {
        let shape = FeatShape::image(3, 2, 2);
        for per_step in [false, true] {
            let mut bn = BatchNorm::new(shape, per_step, 3, 1e-5, 0.1);
            // Non-trivial γ, β.
            bn.weight.value = (0..bn.weight.len()).map(|i| 0.5 + 0.1 * i as f32).collect();
            bn.bias.value = (0..bn.bias.len()).map(|i| 0.05 * i as f32).collect();
            let x = Activation::Dense(random_dense(6, shape, 4, 2.0));
            let mut pass = Pass::train(3, 2, [0; 3]);
            pass.record = true;
            assert!(check(&mut bn, &x, &pass, 1e-2, 2e-2) > 20);
            let eval = Pass::eval(3, 2);
            assert!(check(&mut bn, &x, &eval, 1e-2, 2e-2) > 20);
        }
    }

    #[test]
    fn training_output_is_normalised_and_running_stats_move() {
        let shape = FeatShape::flat(4);
        let mut bn = BatchNorm::new(shape, false, 1, 1e-5, 0.5);
        let x = random_dense(64, shape, 2, 3.0);
        let y = bn.forward(Activation::Dense(x), &Pass::train(1, 64, [0; 3]));
        let y = y.to_dense(1);
        for ch in 0..4 {
            let vals: Vec<f32> = (0..64).map(|r| y.row(r)[ch]).collect();
            let m = vals.iter().sum::<f32>() / 64.0;
            let v = vals.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / 64.0;
            assert!(m.abs() < 1e-4 && (v - 1.0).abs() < 1e-3, "{m} {v}");
        }
        assert!(bn.running_mean.value.iter().any(|&m| m != 0.0));
        assert!(bn.running_var.value.iter().all(|&v| v != 1.0));
    }
}
