//! The layer list of a trainer network cut into the pieces the export maps: runs of
//! linear layers (composed into one weight matrix), neuron layers and max poolings of
//! spikes.

use crate::nn::layers::batchnorm::BatchNorm;
use crate::nn::network::Network;
use spikelab_core::error::{Error, Result};

/// One piece of the layer list, in order.
#[derive(Debug)]
pub(super) enum Piece {
    /// Layers `lo..hi` form one linear block.
    Block(usize, usize),
    /// A neuron layer.
    Neuron(usize),
    /// Max pooling of spikes.
    Or(usize),
}

/// Splits the layers into linear blocks, neuron layers and spike max-pools.
pub(super) fn pieces(net: &Network) -> Result<Vec<Piece>> {
    let layers = net.layers();
    let mut out = Vec::new();
    let mut i = 0;
    let mut after_spikes = false;
    while i < layers.len() {
        let l = &layers[i];
        let f = format!("layer[{i}] ({})", l.kind());
        match l.kind() {
            "linear" | "conv2d" | "avg_pool2d" | "flatten" | "dropout" | "batch_norm" => {
                if let Some(bn) = l.as_any().downcast_ref::<BatchNorm>() {
                    if bn.per_step() {
                        return Err(Error::field(
                            f,
                            "per-step batch norm changes with time and cannot be folded into engine weights",
                        ));
                    }
                }
                let lo = i;
                while i < layers.len()
                    && matches!(
                        layers[i].kind(),
                        "linear" | "conv2d" | "avg_pool2d" | "flatten" | "dropout" | "batch_norm"
                    )
                {
                    if layers[i]
                        .as_any()
                        .downcast_ref::<BatchNorm>()
                        .is_some_and(|b| b.per_step())
                    {
                        return Err(Error::field(
                            format!("layer[{i}]"),
                            "per-step batch norm cannot be folded into engine weights",
                        ));
                    }
                    i += 1;
                }
                // A block that only reshapes spikes (flatten/dropout) passes them on.
                let only_reshape = layers[lo..i]
                    .iter()
                    .all(|l| matches!(l.kind(), "flatten" | "dropout"));
                if !(only_reshape
                    && after_spikes
                    && i < layers.len()
                    && layers[i].kind() == "max_pool2d")
                {
                    out.push(Piece::Block(lo, i));
                    after_spikes = false;
                }
                continue;
            }
            "lif" | "if" | "alif" | "rlif" | "readout" => {
                out.push(Piece::Neuron(i));
                after_spikes = l.kind() != "readout";
            }
            "max_pool2d" => {
                if !after_spikes {
                    return Err(Error::field(
                        f,
                        "max pooling of currents (before a neuron layer) has no engine equivalent; pool the spikes (put the pooling after the neuron layer)",
                    ));
                }
                out.push(Piece::Or(i));
            }
            other => {
                return Err(Error::field(
                    f,
                    format!(
                    "`{other}` layers have no engine equivalent (export supports spiking networks)"
                ),
                ))
            }
        }
        i += 1;
    }
    Ok(out)
}
