//! Fully connected layer `y = x·W + b`, weights `[in][out]`.
//!
//! With spike input the forward pass sums the weight rows of the inputs that spiked
//! and the weight gradient adds gradient rows into the rows of the inputs that
//! spiked ([`crate::nn::kernels::sparse`]); the spikes are kept bit-packed for the
//! backward pass. Dense and static inputs use GEMM. Initialisation as PyTorch:
//! `U(−1/√in, 1/√in)` for weights and bias.

use super::{uniform_init, Layer, Param, ParamKind, Pass};
use crate::nn::kernels::dense::{col_sums, matmul, Mat};
use crate::nn::kernels::sparse::{spike_matmul, spike_weight_grad, SpikeIndex};
use crate::nn::tensor::{Activation, FeatShape, Tensor};
use std::any::Any;

/// See the module docs.
#[derive(Debug)]
pub struct Linear {
    n_in: usize,
    n_out: usize,
    in_shape: FeatShape,
    /// Weights `[n_in][n_out]`.
    pub weight: Param,
    /// Bias `[n_out]`, if any.
    pub bias: Option<Param>,
    input: Option<Input>,
}

/// What the backward pass needs of the input: the active inputs of spike rows (with
/// the value of a spike), or the dense values.
#[derive(Debug)]
enum Input {
    Spikes(SpikeIndex, f32),
    Dense(Activation),
}

impl Linear {
    /// A layer from `in_shape` (flattened) to `n_out` features, initialised from
    /// (seed, layer index).
    pub fn new(in_shape: FeatShape, n_out: usize, bias: bool, seed: u64, index: usize) -> Self {
        let n_in = in_shape.len();
        let bound = 1.0 / (n_in as f32).sqrt();
        Linear {
            n_in,
            n_out,
            in_shape,
            weight: Param::new(
                "weight",
                vec![n_in, n_out],
                uniform_init(n_in * n_out, bound, seed, index, 0),
                ParamKind::Weight,
            ),
            bias: bias.then(|| {
                Param::new(
                    "bias",
                    vec![n_out],
                    uniform_init(n_out, bound, seed, index, 1),
                    ParamKind::Bias,
                )
            }),
            input: None,
        }
    }

    fn dense_forward(&self, x: &Tensor) -> Tensor {
        let mut out = Tensor::uninit(x.rows, FeatShape::flat(self.n_out));
        matmul(
            Mat::new(&x.data, x.rows, self.n_in),
            Mat::new(&self.weight.value, self.n_in, self.n_out),
            &mut out.data,
            false,
        );
        if let Some(b) = &self.bias {
            for row in out.data.chunks_exact_mut(self.n_out) {
                for (a, bb) in row.iter_mut().zip(&b.value) {
                    *a += bb;
                }
            }
        }
        out
    }
}

impl Layer for Linear {
    fn kind(&self) -> &'static str {
        "linear"
    }
    fn in_shape(&self) -> FeatShape {
        self.in_shape
    }
    fn out_shape(&self) -> FeatShape {
        FeatShape::flat(self.n_out)
    }

    fn forward(&mut self, x: Activation, pass: &Pass) -> Activation {
        let (out, input) = match x {
            Activation::Spikes(s) => {
                let idx = SpikeIndex::from_spikes(&s);
                let mut out = Tensor::uninit(s.rows, FeatShape::flat(self.n_out));
                spike_matmul(
                    &idx,
                    &self.weight.value,
                    self.n_out,
                    self.bias.as_ref().map(|b| &b.value[..]),
                    s.scale,
                    &mut out.data,
                );
                (Activation::Dense(out), Input::Spikes(idx, s.scale))
            }
            Activation::Dense(t) => (
                Activation::Dense(self.dense_forward(&t)),
                Input::Dense(Activation::Dense(t)),
            ),
            Activation::Static(t) => (
                Activation::Static(self.dense_forward(&t)),
                Input::Dense(Activation::Static(t)),
            ),
        };
        self.input = pass.record.then_some(input);
        out
    }

    fn backward(&mut self, grad: Tensor, _pass: &Pass, need_input_grad: bool) -> Option<Tensor> {
        let x = self
            .input
            .take()
            .expect("Linear::backward without a recorded forward");
        let g = &grad.data;
        if let Some(b) = &mut self.bias {
            col_sums(g, self.n_out, &mut b.grad);
        }
        match &x {
            Input::Spikes(idx, scale) => {
                spike_weight_grad(idx, g, self.n_out, *scale, &mut self.weight.grad);
            }
            Input::Dense(Activation::Dense(t) | Activation::Static(t)) => matmul(
                Mat::new(&t.data, t.rows, self.n_in).t(),
                Mat::new(g, grad.rows, self.n_out),
                &mut self.weight.grad,
                false,
            ),
            Input::Dense(Activation::Spikes(_)) => unreachable!("spikes are kept as an index"),
        }
        need_input_grad.then(|| {
            let mut dx = Tensor::uninit(grad.rows, self.in_shape);
            matmul(
                Mat::new(g, grad.rows, self.n_out),
                Mat::new(&self.weight.value, self.n_in, self.n_out).t(),
                &mut dx.data,
                false,
            );
            dx
        })
    }

    fn params(&self) -> Vec<&Param> {
        let mut v = vec![&self.weight];
        v.extend(self.bias.as_ref());
        v
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        let mut v = vec![&mut self.weight];
        v.extend(self.bias.as_mut());
        v
    }
    fn clear(&mut self) {
        self.input = None;
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
    use crate::nn::tensor::SpikeTensor;

    #[test]
    fn backward_matches_finite_differences() {
        let pass = Pass::eval(3, 2);
        let mut l = Linear::new(FeatShape::flat(7), 5, true, 1, 0);
        let x = random_dense(6, FeatShape::flat(7), 2, 1.0);
        assert!(check(&mut l, &Activation::Dense(x.clone()), &pass, 1e-2, 1e-3) > 20);
        // Static input: the same values at every step.
        let xs = random_dense(2, FeatShape::flat(7), 3, 1.0);
        assert!(check(&mut l, &Activation::Static(xs), &pass, 1e-2, 1e-3) > 20);
    }

    #[test]
    fn spike_input_gives_the_dense_result_and_gradients() {
        let pass = Pass::eval(2, 3);
        let mut l = Linear::new(FeatShape::flat(70), 9, true, 4, 1);
        let mut s = SpikeTensor::zeros(6, FeatShape::flat(70));
        for r in 0..6 {
            for j in (r % 3..70).step_by(4) {
                s.set(r, j);
            }
        }
        s.scale = 1.5;
        let mut rec = pass;
        rec.record = true;
        let a = l.forward(Activation::Spikes(s.clone()), &rec);
        let ga = Tensor::from_vec(
            super::super::gradcheck::coeffs(54, 1),
            6,
            FeatShape::flat(9),
        );
        l.backward(ga.clone(), &rec, false);
        let wg_sparse = l.weight.grad.clone();
        let b = l.forward(Activation::Dense(s.to_dense()), &rec);
        l.backward(ga, &rec, false);
        let (a, b) = (a.to_dense(2), b.to_dense(2));
        assert!(a
            .data
            .iter()
            .zip(&b.data)
            .all(|(x, y)| (x - y).abs() < 1e-4));
        assert!(wg_sparse
            .iter()
            .zip(&l.weight.grad)
            .all(|(x, y)| (x - y).abs() < 1e-4));
    }
}
