//! The rectifier `max(0, x)`: the activation of ANNs trained "with the same layer
//! code" before conversion to spiking networks (run them with one time step). On
//! spikes it is the identity.

use super::{Layer, Pass};
use crate::nn::tensor::{Activation, FeatShape, Tensor};
use std::any::Any;

/// See the module docs.
#[derive(Debug)]
pub struct Relu {
    shape: FeatShape,
    /// Output of the last recording pass (its sign is the gradient mask).
    out: Option<Activation>,
}

impl Relu {
    /// A rectifier on rows of `shape`.
    pub fn new(shape: FeatShape) -> Self {
        Relu { shape, out: None }
    }
}

impl Layer for Relu {
    fn kind(&self) -> &'static str {
        "relu"
    }
    fn in_shape(&self) -> FeatShape {
        self.shape
    }
    fn out_shape(&self) -> FeatShape {
        self.shape
    }
    fn forward(&mut self, x: Activation, pass: &Pass) -> Activation {
        let out = match x {
            Activation::Dense(mut t) => {
                t.data.iter_mut().for_each(|v| *v = v.max(0.0));
                Activation::Dense(t)
            }
            Activation::Static(mut t) => {
                t.data.iter_mut().for_each(|v| *v = v.max(0.0));
                Activation::Static(t)
            }
            s @ Activation::Spikes(_) => s,
        };
        self.out = pass.record.then(|| out.clone());
        out
    }
    fn backward(&mut self, mut grad: Tensor, _pass: &Pass, need: bool) -> Option<Tensor> {
        let out = self
            .out
            .take()
            .expect("Relu::backward without a recorded forward");
        if let Activation::Dense(t) | Activation::Static(t) = &out {
            for (g, y) in grad.data.iter_mut().zip(&t.data) {
                if *y <= 0.0 {
                    *g = 0.0;
                }
            }
        }
        need.then_some(grad)
    }
    fn clear(&mut self) {
        self.out = None;
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
        let mut r = Relu::new(FeatShape::flat(50));
        let x = random_dense(3, FeatShape::flat(50), 1, 1.0);
        assert!(check(&mut r, &Activation::Dense(x), &Pass::eval(3, 1), 1e-3, 1e-3) > 30);
    }
}
