//! Composition of a run of linear layers (linear, conv, average pooling, flatten,
//! dropout, batch norm with shared statistics) into one sparse weight matrix and one
//! bias vector, by evaluating the trainer's own layers on unit vectors and on zero.

use super::Synapse;
use crate::nn::layers::{Layer, Pass};
use crate::nn::network::Network;
use crate::nn::tensor::{Activation, Tensor};

/// Runs layers `lo..hi` on dense rows (evaluation mode).
fn run_block(net: &mut Network, lo: usize, hi: usize, x: Tensor) -> Tensor {
    let rows = x.rows;
    let pass = Pass::eval(1, rows);
    let mut a = Activation::Dense(x);
    for l in &mut net_layers_mut(net)[lo..hi] {
        a = l.forward(a, &pass);
    }
    a.into_dense(1)
}

fn net_layers_mut(net: &mut Network) -> &mut [Box<dyn Layer>] {
    net.layers_mut()
}

/// The block `lo..hi` as a sparse matrix (`(source, target, weight)` with weight ≠ 0)
/// and a bias vector.
pub(crate) fn compose(net: &mut Network, lo: usize, hi: usize) -> (Vec<Synapse>, Vec<f32>, usize) {
    let in_shape = net.layers()[lo].in_shape();
    let n_in = in_shape.len();
    let n_out = net.layers()[hi - 1].out_shape().len();
    // Bias: the block on zero.
    let bias = run_block(net, lo, hi, Tensor::zeros(1, in_shape))
        .data
        .clone();
    // Weights: the block with offsets zeroed, on unit vectors.
    let saved: Vec<Vec<Vec<f32>>> = net_layers_mut(net)[lo..hi]
        .iter_mut()
        .map(|l| {
            l.params_mut()
                .into_iter()
                .map(|p| {
                    let old = p.value.clone();
                    if p.name == "bias" || p.name == "running_mean" {
                        p.value.iter_mut().for_each(|v| *v = 0.0);
                    }
                    old
                })
                .collect()
        })
        .collect();
    let chunk = 256;
    let mut entries = Vec::new();
    let mut i0 = 0;
    while i0 < n_in {
        let m = chunk.min(n_in - i0);
        let mut x = Tensor::zeros(m, in_shape);
        for k in 0..m {
            x.row_mut(k)[i0 + k] = 1.0;
        }
        let y = run_block(net, lo, hi, x);
        for k in 0..m {
            for (j, &w) in y.row(k).iter().enumerate() {
                if w != 0.0 {
                    entries.push(((i0 + k) as u32, j as u32, w));
                }
            }
        }
        i0 += m;
    }
    for (l, old) in net_layers_mut(net)[lo..hi].iter_mut().zip(saved) {
        for (p, v) in l.params_mut().into_iter().zip(old) {
            p.value = v;
        }
    }
    (entries, bias, n_out)
}
