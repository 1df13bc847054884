//! 2-D convolution on channels-last rows, weights `[kh][kw][c_in][c_out]`, with
//! stride and zero padding. Spike inputs sparser than [`SPARSE_MAX_DENSITY`] use
//! the gather kernels on the packed bits (each output sums the weight rows of the
//! taps whose input spiked; the weight gradient adds each output gradient to them);
//! others use im2col + GEMM. The spikes are kept bit-packed for the backward pass. Initialisation as PyTorch:
//! `U(−1/√fan_in, 1/√fan_in)`, `fan_in = c_in·kh·kw`.

use super::{uniform_init, Layer, Param, ParamKind, Pass};
use crate::nn::kernels::conv::{
    conv_forward_dense, conv_forward_scatter, conv_forward_sparse, conv_input_grad,
    conv_weight_grad_dense, conv_weight_grad_scatter, conv_weight_grad_sparse, prefer_scatter,
    ConvGeom,
};
use crate::nn::kernels::dense::col_sums;
use crate::nn::kernels::sparse::SpikeIndex;
use crate::nn::tensor::{Activation, FeatShape, SpikeTensor, Tensor};
use std::any::Any;

/// Spike inputs with at most this fraction of ones use the sparse kernels.
pub const SPARSE_MAX_DENSITY: f64 = 0.5;

/// See the module docs.
#[derive(Debug)]
pub struct Conv2d {
    /// Geometry.
    pub geom: ConvGeom,
    /// Weights `[kh][kw][c_in][c_out]`.
    pub weight: Param,
    /// Bias `[c_out]`, if any.
    pub bias: Option<Param>,
    input: Option<Input>,
}

/// What the backward pass needs of the input.
#[derive(Debug)]
enum Input {
    /// Sparse spike rows, bit-packed (gather kernels).
    Sparse(SpikeTensor),
    /// Sparse spike rows as active indices and the value of a spike (scatter kernels).
    Scatter(SpikeIndex, f32),
    /// Dense values (busy spike rows are kept dense).
    Dense(Tensor),
}

impl Conv2d {
    /// A convolution of `in_shape` to `out_channels` with a square `kernel`.
    pub fn new(geom: ConvGeom, bias: bool, seed: u64, index: usize) -> Self {
        let fan_in = geom.k();
        let bound = 1.0 / (fan_in as f32).sqrt();
        Conv2d {
            weight: Param::new(
                "weight",
                vec![geom.kh, geom.kw, geom.c_in, geom.c_out],
                uniform_init(fan_in * geom.c_out, bound, seed, index, 0),
                ParamKind::Weight,
            ),
            bias: bias.then(|| {
                Param::new(
                    "bias",
                    vec![geom.c_out],
                    uniform_init(geom.c_out, bound, seed, index, 1),
                    ParamKind::Bias,
                )
            }),
            geom,
            input: None,
        }
    }

    fn out_tensor(&self, rows: usize) -> Tensor {
        Tensor::uninit(rows, self.out_shape())
    }

    /// Whether spikes `s` take the scatter kernels (sparse spikes, stride 1).
    pub fn scatters(&self, s: &SpikeTensor) -> bool {
        let density = s.density();
        density <= SPARSE_MAX_DENSITY && prefer_scatter(&self.geom, density)
    }

    /// Whether spikes `s` take one of the sparse kernels (scatter or gather), the
    /// paths [`super::fused`] runs one sample at a time.
    pub fn sparse(&self, s: &SpikeTensor) -> bool {
        s.density() <= SPARSE_MAX_DENSITY
    }

    /// Keeps the input of a fused forward pass for its backward pass.
    pub(super) fn record_fused(&mut self, input: FusedInput) {
        self.input = Some(match input {
            FusedInput::Scatter(active, scale) => Input::Scatter(active, scale),
            FusedInput::Gather(s) => Input::Sparse(s),
        });
    }

    /// Whether the last recording pass kept sparse spike input (what the fused
    /// backward pass needs).
    pub fn has_sparse_input(&self) -> bool {
        matches!(self.input, Some(Input::Scatter(..) | Input::Sparse(_)))
    }

    /// The input kept by a recording pass on sparse spikes.
    pub(super) fn take_fused(&mut self) -> FusedInput {
        match self.input.take() {
            Some(Input::Scatter(active, scale)) => FusedInput::Scatter(active, scale),
            Some(Input::Sparse(s)) => FusedInput::Gather(s),
            _ => panic!("fused backward without sparse spike input"),
        }
    }
}

/// The sparse spike input of a convolution run by [`super::fused`].
#[derive(Debug)]
pub enum FusedInput {
    /// Active inputs per row and the value of a spike (scatter kernels).
    Scatter(SpikeIndex, f32),
    /// Packed spikes (gather kernels).
    Gather(SpikeTensor),
}

impl Layer for Conv2d {
    fn kind(&self) -> &'static str {
        "conv2d"
    }
    fn in_shape(&self) -> FeatShape {
        FeatShape::image(self.geom.c_in, self.geom.h_in, self.geom.w_in)
    }
    fn out_shape(&self) -> FeatShape {
        FeatShape::image(self.geom.c_out, self.geom.h_out, self.geom.w_out)
    }

    fn forward(&mut self, x: Activation, pass: &Pass) -> Activation {
        let g = &self.geom;
        let bias = self.bias.as_ref().map(|b| &b.value[..]);
        let (out, input) = match x {
            Activation::Spikes(s) => {
                let mut out = self.out_tensor(s.rows);
                let density = s.density();
                if self.scatters(&s) {
                    let idx = SpikeIndex::from_spikes(&s);
                    conv_forward_scatter(g, &idx, &self.weight.value, bias, s.scale, &mut out.data);
                    (Activation::Dense(out), Input::Scatter(idx, s.scale))
                } else if density <= SPARSE_MAX_DENSITY {
                    conv_forward_sparse(g, &s, &self.weight.value, bias, &mut out.data);
                    (Activation::Dense(out), Input::Sparse(s))
                } else {
                    let d = s.to_dense();
                    conv_forward_dense(g, &d.data, &self.weight.value, bias, &mut out.data);
                    (Activation::Dense(out), Input::Dense(d))
                }
            }
            Activation::Dense(t) => {
                let mut out = self.out_tensor(t.rows);
                conv_forward_dense(g, &t.data, &self.weight.value, bias, &mut out.data);
                (Activation::Dense(out), Input::Dense(t))
            }
            Activation::Static(t) => {
                let mut out = self.out_tensor(t.rows);
                conv_forward_dense(g, &t.data, &self.weight.value, bias, &mut out.data);
                (Activation::Static(out), Input::Dense(t))
            }
        };
        self.input = pass.record.then_some(input);
        out
    }

    fn backward(&mut self, grad: Tensor, _pass: &Pass, need_input_grad: bool) -> Option<Tensor> {
        let x = self
            .input
            .take()
            .expect("Conv2d::backward without a recorded forward");
        let g = self.geom;
        if let Some(b) = &mut self.bias {
            col_sums(&grad.data, g.c_out, &mut b.grad);
        }
        match &x {
            Input::Sparse(s) => {
                conv_weight_grad_sparse(&g, s, &grad.data, &mut self.weight.grad);
            }
            Input::Scatter(idx, scale) => {
                conv_weight_grad_scatter(&g, idx, &grad.data, *scale, &mut self.weight.grad);
            }
            Input::Dense(t) => {
                conv_weight_grad_dense(&g, &t.data, &grad.data, &mut self.weight.grad);
            }
        }
        drop(x);
        need_input_grad.then(|| {
            let mut dx = Tensor::uninit(grad.rows, self.in_shape());
            conv_input_grad(&g, &grad.data, &self.weight.value, &mut dx.data);
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

    #[test]
    fn backward_matches_finite_differences() {
        let pass = Pass::eval(2, 2);
        for &(stride, pad) in &[(1, 0), (2, 1)] {
            let geom = ConvGeom::new(2, 6, 5, 3, 3, 3, stride, pad).unwrap();
            let mut l = Conv2d::new(geom, true, 1, 0);
            let x = random_dense(4, FeatShape::image(2, 6, 5), 2, 1.0);
            assert!(check(&mut l, &Activation::Dense(x), &pass, 1e-2, 1e-3) > 40);
            let xs = random_dense(2, FeatShape::image(2, 6, 5), 3, 1.0);
            assert!(check(&mut l, &Activation::Static(xs), &pass, 1e-2, 1e-3) > 40);
        }
    }
}
