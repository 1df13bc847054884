use rand::Rng;
use spikelab_train::layers::pool::*;
use spikelab_train::layers::{Layer, Pass};
use spikelab_train::tensor::*;
use std::time::Instant;
fn main() {
    let shape = FeatShape::image(12, 24, 24);
    let rows = 3200;
    let mut rng = spikelab_core::rng::stream(1, spikelab_core::rng::Domain::Training, &[]);
    let mut s = SpikeTensor::zeros(rows, shape);
    for r in 0..rows {
        for j in 0..shape.len() {
            if rng.random::<f32>() < 0.06 {
                s.set(r, j);
            }
        }
    }
    let mut p = MaxPool2d::new(PoolGeom::new(shape, 2, 2).unwrap());
    let mut pass = Pass::eval(25, 128);
    pass.record = true;
    for _ in 0..4 {
        let t = Instant::now();
        let out = p.forward(Activation::Spikes(s.clone()), &pass);
        let t1 = t.elapsed().as_secs_f64();
        let g = Tensor::zeros(rows, out.shape());
        let t = Instant::now();
        let dx = p.backward(g, &pass, true).unwrap();
        println!(
            "fwd {:.1} ms bwd {:.1} ms ({})",
            t1 * 1e3,
            t.elapsed().as_secs_f64() * 1e3,
            dx.data.len()
        );
    }
}
