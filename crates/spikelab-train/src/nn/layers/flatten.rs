//! Flatten: an image row `h × w × c` becomes a vector of `h·w·c` features. Rows are
//! stored channels-last, so the data do not move; only the shape changes.

use super::{Layer, Pass};
use crate::nn::tensor::{Activation, FeatShape, Tensor};
use std::any::Any;

/// See the module docs.
#[derive(Debug)]
pub struct Flatten {
    in_shape: FeatShape,
}

impl Flatten {
    /// Flattens `in_shape`.
    pub fn new(in_shape: FeatShape) -> Self {
        Flatten { in_shape }
    }
}

impl Layer for Flatten {
    fn kind(&self) -> &'static str {
        "flatten"
    }
    fn in_shape(&self) -> FeatShape {
        self.in_shape
    }
    fn out_shape(&self) -> FeatShape {
        FeatShape::flat(self.in_shape.len())
    }
    fn forward(&mut self, x: Activation, _pass: &Pass) -> Activation {
        let shape = self.out_shape();
        match x {
            Activation::Dense(mut t) => {
                t.shape = shape;
                Activation::Dense(t)
            }
            Activation::Static(mut t) => {
                t.shape = shape;
                Activation::Static(t)
            }
            Activation::Spikes(mut s) => {
                s.shape = shape;
                Activation::Spikes(s)
            }
        }
    }
    fn backward(&mut self, mut grad: Tensor, _pass: &Pass, need: bool) -> Option<Tensor> {
        grad.shape = self.in_shape;
        need.then_some(grad)
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
        let shape = FeatShape::image(2, 3, 2);
        let mut f = Flatten::new(shape);
        let x = Activation::Dense(random_dense(4, shape, 1, 1.0));
        assert!(check(&mut f, &x, &Pass::eval(2, 2), 1e-2, 1e-3) > 20);
        assert_eq!(f.out_shape(), FeatShape::flat(12));
    }
}
