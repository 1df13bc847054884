//! Dropout with one mask per sample, shared by all time steps (as SpikingJelly's
//! multi-step dropout): a dropped unit stays silent for the whole presentation. Kept
//! values are scaled by `1/(1−p)`; on spikes the mask is applied to the bits and the
//! scale is carried by the spike value. Masks are drawn from streams keyed by (seed,
//! epoch, batch, layer, sample), so they do not depend on threads. Identity when not
//! training.

use super::{Layer, Pass};
use crate::nn::tensor::{Activation, FeatShape, Tensor};
use rand::Rng;
use std::any::Any;

/// See the module docs.
#[derive(Debug)]
pub struct Dropout {
    shape: FeatShape,
    /// Drop probability in [0, 1).
    pub p: f32,
    index: usize,
    /// Bit masks (1 = kept) per sample, from the last training pass.
    mask: Option<Vec<u64>>,
}

impl Dropout {
    /// Dropout with probability `p` on rows of `shape`; `index` keys the masks.
    pub fn new(shape: FeatShape, p: f32, index: usize) -> Self {
        Dropout {
            shape,
            p,
            index,
            mask: None,
        }
    }

    fn words(&self) -> usize {
        self.shape.len().div_ceil(64)
    }

    fn draw(&self, pass: &Pass) -> Vec<u64> {
        let (n, words) = (self.shape.len(), self.words());
        let mut mask = vec![0u64; pass.batch * words];
        for b in 0..pass.batch {
            let mut rng = spikelab_core::rng::stream(
                pass.key[0],
                spikelab_core::rng::Domain::Training,
                &[
                    0xD409,
                    pass.key[1],
                    pass.key[2],
                    self.index as u64,
                    b as u64,
                ],
            );
            for j in 0..n {
                if rng.random::<f32>() >= self.p {
                    mask[b * words + j / 64] |= 1 << (j % 64);
                }
            }
        }
        mask
    }

    fn apply_dense(&self, t: &mut Tensor, mask: &[u64], rows_per_sample: usize) {
        let (n, words) = (t.cols(), self.words());
        let scale = 1.0 / (1.0 - self.p);
        for (r, row) in t.data.chunks_exact_mut(n).enumerate() {
            let m = &mask[(r / rows_per_sample) * words..][..words];
            for (j, v) in row.iter_mut().enumerate() {
                *v = if m[j / 64] >> (j % 64) & 1 == 1 {
                    *v * scale
                } else {
                    0.0
                };
            }
        }
    }
}

impl Layer for Dropout {
    fn kind(&self) -> &'static str {
        "dropout"
    }
    fn in_shape(&self) -> FeatShape {
        self.shape
    }
    fn out_shape(&self) -> FeatShape {
        self.shape
    }
    fn forward(&mut self, x: Activation, pass: &Pass) -> Activation {
        if !pass.train || self.p == 0.0 {
            self.mask = None;
            return x;
        }
        let mask = self.draw(pass);
        let out = match x {
            Activation::Spikes(mut s) => {
                let words = s.words;
                for (r, row) in s.bits.chunks_exact_mut(words).enumerate() {
                    let m = &mask[(r / pass.steps) * words..][..words];
                    for (w, k) in row.iter_mut().zip(m) {
                        *w &= k;
                    }
                }
                s.scale /= 1.0 - self.p;
                Activation::Spikes(s)
            }
            Activation::Dense(mut t) => {
                self.apply_dense(&mut t, &mask, pass.steps);
                Activation::Dense(t)
            }
            Activation::Static(mut t) => {
                self.apply_dense(&mut t, &mask, 1);
                Activation::Static(t)
            }
        };
        self.mask = Some(mask);
        out
    }
    fn backward(&mut self, mut grad: Tensor, pass: &Pass, need: bool) -> Option<Tensor> {
        if !need {
            return None;
        }
        if let Some(mask) = self.mask.take() {
            let per_sample = grad.rows / pass.batch;
            self.apply_dense(&mut grad, &mask, per_sample);
        }
        Some(grad)
    }
    fn clear(&mut self) {
        self.mask = None;
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
    fn backward_matches_finite_differences_in_training() {
        let shape = FeatShape::flat(40);
        let mut d = Dropout::new(shape, 0.3, 1);
        let pass = Pass::train(3, 2, [5, 0, 0]);
        let x = Activation::Dense(random_dense(6, shape, 2, 1.0));
        assert!(check(&mut d, &x, &pass, 1e-2, 1e-3) > 30);
        let xs = Activation::Static(random_dense(2, shape, 3, 1.0));
        assert!(check(&mut d, &xs, &pass, 1e-2, 1e-3) > 30);
    }

    #[test]
    fn masks_are_shared_over_steps_scaled_and_reproducible() {
        let shape = FeatShape::flat(1000);
        let mut d = Dropout::new(shape, 0.25, 3);
        let pass = Pass::train(4, 2, [7, 1, 2]);
        let mut s = SpikeTensor::zeros(8, shape);
        s.bits.iter_mut().for_each(|w| *w = u64::MAX);
        s.bits.chunks_exact_mut(s.words).for_each(|r| {
            let last = r.len() - 1;
            r[last] &= (1u64 << (1000 % 64)) - 1;
        });
        let out = d.forward(Activation::Spikes(s.clone()), &pass);
        let o = out.as_spikes().unwrap().clone();
        assert!((o.scale - 1.0 / 0.75).abs() < 1e-6);
        let kept = o.count() as f64 / 8000.0;
        assert!((kept - 0.75).abs() < 0.05, "kept {kept}");
        for t in 1..4 {
            assert_eq!(o.row(0), o.row(t)); // same mask at every step of sample 0
        }
        assert_ne!(o.row(0), o.row(4)); // another sample, another mask
                                        // The gradient is masked and scaled like the values.
        let g = d
            .backward(Tensor::from_vec(vec![1.0; 8000], 8, shape), &pass, true)
            .unwrap();
        assert_eq!(g.data, o.to_dense().data);
        // Same key, same mask; evaluation is the identity.
        let again = d.forward(Activation::Spikes(s.clone()), &pass);
        assert_eq!(again.as_spikes().unwrap(), &o);
        let ev = d.forward(Activation::Spikes(s.clone()), &Pass::eval(4, 2));
        assert_eq!(ev.as_spikes().unwrap(), &s);
    }
}
