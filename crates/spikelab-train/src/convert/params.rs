//! Parameters by name (`"<layer>.<name>"`, as `Network::named_params`): reading one,
//! setting a list, and copying between networks whose layers share names.

use crate::nn::network::Network;
use spikelab_core::error::{Error, Result};

/// Parameter values by name (`"<layer>.<name>"`, as [`Network::named_params`]).
pub type NamedParams = Vec<(String, Vec<f32>)>;

/// Sets parameters by name (`"<layer>.<name>"`); every name must exist with the same
/// length.
pub fn set_params(net: &mut Network, params: &[(String, Vec<f32>)]) -> Result<()> {
    let names: Vec<String> = net.named_params().into_iter().map(|(n, _)| n).collect();
    let mut slots = net.params_mut();
    for (name, v) in params {
        let k = names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| Error::field(name, "no such parameter in the network"))?;
        if slots[k].value.len() != v.len() {
            return Err(Error::field(
                name,
                format!("has {} values, expected {}", v.len(), slots[k].value.len()),
            ));
        }
        slots[k].value.copy_from_slice(v);
    }
    Ok(())
}

pub(crate) fn param(net: &Network, layer: usize, name: &str) -> Option<Vec<f32>> {
    net.layers()[layer]
        .params()
        .into_iter()
        .find(|p| p.name == name)
        .map(|p| p.value.clone())
}

/// Copies every parameter of `from` into the parameter of `to` with the same name,
/// broadcasting a single value to a per-neuron parameter; parameters of `to` that
/// `from` lacks keep their values. Returns the number copied.
pub fn copy_params(from: &Network, to: &mut Network) -> usize {
    let src: Vec<(String, Vec<f32>)> = from
        .named_params()
        .into_iter()
        .map(|(n, p)| (n, p.value.clone()))
        .collect();
    let names: Vec<String> = to.named_params().into_iter().map(|(n, _)| n).collect();
    let mut copied = 0;
    for (p, name) in to.params_mut().into_iter().zip(names) {
        if let Some((_, v)) = src.iter().find(|(n, _)| *n == name) {
            if v.len() == p.value.len() {
                p.value.copy_from_slice(v);
                copied += 1;
            } else if v.len() == 1 {
                p.value.iter_mut().for_each(|x| *x = v[0]);
                copied += 1;
            }
        }
    }
    copied
}
