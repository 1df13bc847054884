//! Accuracy and synaptic operations of a spiking network as a function of the number
//! of time steps `T` (the accuracy-vs-latency curve of converted networks).
//!
//! The network is causal, so one presentation of `T_max` steps gives the answer for
//! every `T ≤ T_max`: the prediction at `T` is the largest output (spike count or summed
//! membrane) over the first `T` steps — exactly what a run of `T` steps predicts.
//!
//! Synaptic operations (an energy proxy) count what the event-driven engine counts:
//! every spike of a stage (a spiking layer, a spike max-pool, or spike input) times its
//! fan-out in the next block of linear layers (convolutions, pooling and linear layers
//! composed into one synapse list, as [`crate::export`] builds it), plus one event per
//! step for every neuron with a bias after the first block (the engine's bias
//! generator). With analog input the first block is computed once per sample and is
//! counted apart ([`ann_macs`] gives the multiply-accumulates of the ANN itself).

use crate::bptt::encode::{encode, Encoding};
use crate::bptt::loss::argmax;
use crate::bptt::trainer::{eval_keys, Monitor};
use crate::data::Dataset;
use crate::data::SampleShape;
use crate::export::compose;
use crate::nn::layers::pool::MaxPool2d;
use crate::nn::layers::Pass;
use crate::nn::network::{LayerSpec, NetSpec, Network};
use crate::nn::tensor::{Activation, SpikeTensor};
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};
use std::time::Instant;

/// One point of the curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Time steps `T`.
    pub steps: usize,
    /// Accuracy (%) after `T` steps.
    pub accuracy: f64,
    /// Synaptic operations per inference in the first `T` steps (bias events included).
    pub synops_per_inference: f64,
    /// Of which bias events.
    pub bias_synops_per_inference: f64,
    /// Spikes per inference in the first `T` steps (all stages, input spikes included).
    pub spikes_per_inference: f64,
}

/// The curve and how it was measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// Samples evaluated.
    pub samples: usize,
    /// One point per requested `T`, in increasing order.
    pub points: Vec<CurvePoint>,
    /// Wall time (s).
    pub seconds: f64,
}

/// `1, 2, 4, …` up to `t_max` (and `t_max` itself).
pub fn powers_of_two(t_max: usize) -> Vec<usize> {
    let mut v = Vec::new();
    let mut t = 1;
    while t < t_max {
        v.push(t);
        t *= 2;
    }
    if t_max > 0 {
        v.push(t_max);
    }
    v
}

/// Multiply-accumulates of one inference of an ANN with the layers of `spec` (linear and
/// conv layers; padding taps counted as if present).
pub fn ann_macs(spec: &NetSpec) -> Result<u64> {
    let shapes = spec.shapes()?;
    let mut macs = 0u64;
    let mut input = spec.input;
    for (l, out) in spec.layers.iter().zip(&shapes) {
        macs += match *l {
            LayerSpec::Linear { out: n, .. } => (input.len() * n) as u64,
            LayerSpec::Conv2d { kernel, .. } => (out.len() * kernel * kernel * input.c) as u64,
            _ => 0,
        };
        input = *out;
    }
    Ok(macs)
}

/// A layer whose output spikes are counted, with the fan-out of each neuron.
struct Stage {
    /// Layer index (`None`: the input).
    layer: Option<usize>,
    fan_out: Vec<u32>,
}

fn is_neuron(kind: &str) -> bool {
    matches!(kind, "lif" | "if" | "alif" | "rlif" | "readout")
}

/// The stages of `net` and the bias events per step.
fn stages(net: &mut Network, spike_input: bool) -> (Vec<Stage>, u64) {
    let n = net.layers().len();
    let kinds: Vec<&'static str> = net.layers().iter().map(|l| l.kind()).collect();
    // Fan-out of the outputs of layer `i` (or the input for `None`) into the next block.
    let fan = |net: &mut Network, i: Option<usize>| -> (Vec<u32>, u64) {
        let lo = i.map_or(0, |i| i + 1);
        let src = if lo == 0 {
            net.input_shape().len()
        } else {
            net.layers()[lo - 1].out_shape().len()
        };
        if lo >= n {
            return (vec![0; src], 0);
        }
        if let Some(mp) = net.layers()[lo].as_any().downcast_ref::<MaxPool2d>() {
            let g = mp.geom;
            let mut f = vec![0u32; src];
            for oy in 0..g.h_out {
                for ox in 0..g.w_out {
                    for p in g.window(oy, ox) {
                        for c in 0..g.c {
                            f[p * g.c + c] += 1;
                        }
                    }
                }
            }
            return (f, 0);
        }
        let hi = (lo..n)
            .find(|&j| is_neuron(kinds[j]) || kinds[j] == "max_pool2d")
            .unwrap_or(n);
        let (syn, bias, _) = compose(net, lo, hi);
        let mut f = vec![0u32; src];
        for (s, _, _) in syn {
            f[s as usize] += 1;
        }
        (f, bias.iter().filter(|b| **b != 0.0).count() as u64)
    };
    let mut out = Vec::new();
    let mut bias_events = 0;
    if spike_input {
        let (f, b) = fan(net, None);
        out.push(Stage {
            layer: None,
            fan_out: f,
        });
        bias_events += b;
    }
    for i in 0..n {
        let spiking_kind = |k: &str| matches!(k, "lif" | "if" | "alif" | "rlif");
        let spiking = spiking_kind(kinds[i])
            || (kinds[i] == "max_pool2d" && i > 0 && spiking_kind(kinds[i - 1]));
        if spiking {
            let (f, b) = fan(net, Some(i));
            out.push(Stage {
                layer: Some(i),
                fan_out: f,
            });
            bias_events += b;
        }
    }
    (out, bias_events)
}

/// Adds the spikes and synaptic events of every row of `s` (rows `b·T + t`) per step.
fn count(s: &SpikeTensor, fan_out: &[u32], steps: usize, spikes: &mut [u64], synops: &mut [u64]) {
    for r in 0..s.rows {
        let t = r % steps;
        let (mut n, mut e) = (0u64, 0u64);
        s.for_each_active(r, |j| {
            n += 1;
            e += fan_out[j] as u64;
        });
        spikes[t] += n;
        synops[t] += e;
    }
}

/// Evaluates `net` on the first `limit` samples of `data` with inputs encoded by
/// `encoding` (keyed as the trainer's evaluation, seed `seed`) for `max(checkpoints)`
/// steps, and returns accuracy and synaptic operations at each checkpoint.
#[allow(clippy::too_many_arguments)]
pub fn accuracy_curve(
    net: &mut Network,
    encoding: &Encoding,
    seed: u64,
    data: &Dataset,
    limit: Option<usize>,
    checkpoints: &[usize],
    batch_size: usize,
    monitor: &mut dyn Monitor,
) -> Result<Curve> {
    let start = Instant::now();
    let mut cps: Vec<usize> = checkpoints.to_vec();
    cps.sort_unstable();
    cps.dedup();
    let t_max = *cps
        .last()
        .ok_or_else(|| Error::field("steps", "no time steps to evaluate"))?;
    if cps[0] == 0 {
        return Err(Error::field("steps", "time steps must be at least 1"));
    }
    if data.shape() != net.input_shape() {
        return Err(Error::field(
            "data",
            format!(
                "the samples are {} but the network takes {}",
                data.shape(),
                net.input_shape()
            ),
        ));
    }
    let n = limit.unwrap_or(data.len()).min(data.len());
    let (stages, bias_per_step) = stages(net, encoding.is_spiking());
    let classes = net.output_shape().len();
    let mut correct = vec![0u64; cps.len()];
    let mut spikes = vec![0u64; t_max];
    let mut synops = vec![0u64; t_max];
    let mut images = Vec::new();
    let bs = batch_size.max(1);
    let mut b0 = 0;
    while b0 < n {
        let idx: Vec<usize> = (b0..(b0 + bs).min(n)).collect();
        data.gather(&idx, &mut images);
        let mut a = encode(
            encoding,
            &images,
            data.shape(),
            &eval_keys(&idx),
            t_max,
            seed,
        );
        if let (Activation::Spikes(s), Some(st)) = (&a, stages.first()) {
            if st.layer.is_none() {
                count(s, &st.fan_out, t_max, &mut spikes, &mut synops);
            }
        }
        let pass = Pass::eval(t_max, idx.len());
        for (i, l) in net.layers_mut().iter_mut().enumerate() {
            a = l.forward(a, &pass);
            if let Activation::Spikes(s) = &a {
                if let Some(st) = stages.iter().find(|st| st.layer == Some(i)) {
                    count(s, &st.fan_out, t_max, &mut spikes, &mut synops);
                }
            }
        }
        let out = a.into_dense(t_max);
        let mut z = vec![0.0f32; classes];
        for (b, &i) in idx.iter().enumerate() {
            z.iter_mut().for_each(|v| *v = 0.0);
            let mut k = 0;
            for t in 0..t_max {
                for (acc, v) in z.iter_mut().zip(out.row(b * t_max + t)) {
                    *acc += v;
                }
                if t + 1 == cps[k] {
                    if argmax(&z) == data.labels[i] as usize {
                        correct[k] += 1;
                    }
                    k += 1;
                }
            }
        }
        b0 += idx.len();
        monitor.on_eval(b0, n);
    }
    let per = 1.0 / n.max(1) as f64;
    let mut points = Vec::new();
    let (mut sp, mut sy) = (0u64, 0u64);
    let mut k = 0;
    for t in 0..t_max {
        sp += spikes[t];
        sy += synops[t];
        if t + 1 == cps[k] {
            let bias = (bias_per_step * (t as u64 + 1)) as f64;
            points.push(CurvePoint {
                steps: t + 1,
                accuracy: 100.0 * correct[k] as f64 * per,
                synops_per_inference: sy as f64 * per + bias,
                bias_synops_per_inference: bias,
                spikes_per_inference: sp as f64 * per,
            });
            k += 1;
        }
    }
    Ok(Curve {
        samples: n,
        points,
        seconds: start.elapsed().as_secs_f64(),
    })
}
