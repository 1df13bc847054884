//! Leaky-integrator readout: non-spiking neurons `v_t = β·v_{t−1} + x_t` whose
//! membrane is the output (for losses on the membrane). β can be trained. The model
//! (forward and backward step) is [`spikelab_core::neuron::leaky_integrator`].

use super::{sum_over_steps, Layer, Param, ParamKind, Pass};
use crate::nn::tensor::{Activation, FeatShape, Tensor};
use rayon::prelude::*;
use spikelab_core::neuron::leaky_integrator::{li_backward_sample, li_step};
use std::any::Any;

/// See the module docs.
#[derive(Debug)]
pub struct Readout {
    n: usize,
    /// Decay β (one value for the layer).
    pub beta: Param,
    cache: Option<(Vec<f32>, bool)>,
}

impl Readout {
    /// A readout of `n` neurons with decay `beta`.
    pub fn new(n: usize, beta: f32, learn_beta: bool) -> Self {
        Readout {
            n,
            beta: Param::new("beta", vec![1], vec![beta], ParamKind::Neuron)
                .trainable(learn_beta)
                .bounded(0.0, 1.0),
            cache: None,
        }
    }
}

impl Layer for Readout {
    fn kind(&self) -> &'static str {
        "readout"
    }
    fn in_shape(&self) -> FeatShape {
        FeatShape::flat(self.n)
    }
    fn out_shape(&self) -> FeatShape {
        FeatShape::flat(self.n)
    }
    fn forward(&mut self, x: Activation, pass: &Pass) -> Activation {
        let (n, steps) = (self.n, pass.steps);
        let was_static = x.is_static();
        let st = match &x {
            Activation::Static(t) => Some(t),
            _ => None,
        };
        let mut m = match &x {
            Activation::Static(_) => crate::nn::pool::take(pass.rows() * n),
            other => other.to_dense(steps).into_data(),
        };
        let beta = self.beta.value[0];
        m.par_chunks_mut(steps * n).enumerate().for_each(|(b, mc)| {
            let mut v = vec![0.0f32; n];
            for t in 0..steps {
                let row = &mut mc[t * n..(t + 1) * n];
                match st {
                    Some(s) => li_step(beta, &mut v, s.row(b)),
                    None => li_step(beta, &mut v, row),
                }
                row.copy_from_slice(&v);
            }
        });
        self.cache = pass.record.then(|| (m.clone(), was_static));
        Activation::Dense(Tensor::from_vec(m, pass.rows(), FeatShape::flat(n)))
    }
    fn backward(&mut self, mut grad: Tensor, pass: &Pass, need: bool) -> Option<Tensor> {
        let (m, was_static) = self
            .cache
            .take()
            .expect("readout backward without a forward");
        let (n, steps) = (self.n, pass.steps);
        let beta = self.beta.value[0];
        let dbeta: Vec<f32> = grad
            .data
            .par_chunks_mut(steps * n)
            .zip(m.par_chunks(steps * n))
            .map(|(g, mc)| li_backward_sample(beta, n, g, mc))
            .collect();
        self.beta.grad[0] = dbeta.iter().sum();
        need.then(|| {
            if was_static {
                sum_over_steps(&grad, steps)
            } else {
                grad
            }
        })
    }
    fn params(&self) -> Vec<&Param> {
        vec![&self.beta]
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.beta]
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
    fn backward_matches_finite_differences() {
        let mut l = Readout::new(4, 0.7, true);
        let pass = Pass::eval(5, 2);
        let x = Activation::Dense(random_dense(10, FeatShape::flat(4), 1, 1.0));
        assert!(check(&mut l, &x, &pass, 1e-2, 1e-3) > 30);
        let xs = Activation::Static(random_dense(2, FeatShape::flat(4), 2, 1.0));
        assert!(check(&mut l, &xs, &pass, 1e-2, 1e-3) > 5);
    }
}
