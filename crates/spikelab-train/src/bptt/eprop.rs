//! e-prop (Bellec et al. 2020, Nat. Commun. 11:3625): online learning of a recurrent
//! spiking network with eligibility traces and a broadcast learning signal, on the
//! same network definition as BPTT — `<in>-<n>R-<out>` (a linear layer, a recurrent
//! LIF or adaptive LIF layer, a linear layer and the leaky-integrator readout of the
//! membrane losses) — so the two compare directly (`--learning eprop`).
//!
//! Per neuron `j` and presynaptic input `i` (the layer's inputs, its own spikes of
//! the previous step, or 1 for the bias) the eligibility vector follows the neuron's
//! own state, `ε_t = β_j·c_{j,t−1}·ε_{t−1} + pre_{i,t}` (`c = 1 − s` for reset to zero,
//! else 1: the reset is treated as detached), and adaptive neurons add the threshold's
//! `εa_t = ρ·εa_{t−1} + e_t`; the eligibility trace is `e_t = ψ_{j,t}(ε_t − γ·εa_{t−1})`
//! with `ψ` the surrogate derivative at `h − θ`. The readout filters it with its decay κ
//! (`ē_t = κ·ē_{t−1} + e_t`) and the gradient is `Σ_t L_{j,t}·ē_{ji,t}`, with the learning
//! signal `L_{j,t} = Σ_k W_out[j][k]·∂E/∂y_{k,t}` (symmetric e-prop). The readout's own
//! weights get their exact gradient from the filtered spikes. Where it is exact: with
//! no recurrent weights and a detached reset, e-prop's gradient is BPTT's (the test
//! below checks it); otherwise it drops the paths through other neurons' future states.
//!
//! Memory does not grow with the number of neurons × steps: a first pass keeps only the
//! readout's values (classes × steps per sample) for the loss, whose gradient the second
//! pass consumes step by step while updating the traces (which live only for the
//! current step). Samples are independent and summed in order, so gradients do not
//! depend on the thread count. The neurons' β and θ are not learned by e-prop.

use crate::bptt::loss::{self, LossOutput, LossSpec};
use crate::nn::layers::linear::Linear;
use crate::nn::layers::readout::Readout;
use crate::nn::layers::recurrent::RecurrentLif;
use crate::nn::network::{LayerSpec, NetSpec, Network};
use crate::nn::tensor::{Activation, FeatShape, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};
use spikelab_core::neuron::discrete_time::{DiscreteReset, Heaviside};
use spikelab_core::neuron::lif::{alif_step, lif_step, Adaptation};
use spikelab_core::neuron::surrogate::Surrogate;

/// How gradients are computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Learning {
    /// Backpropagation through time (exact gradients of the surrogate network).
    #[default]
    Bptt,
    /// e-prop: eligibility traces and a broadcast learning signal (see the module docs).
    Eprop,
}

impl Learning {
    /// Names accepted on the command line.
    pub const NAMES: &'static str = "bptt, eprop";

    /// The learning rule called `name`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "bptt" => Ok(Learning::Bptt),
            "eprop" | "e-prop" => Ok(Learning::Eprop),
            other => Err(Error::field(
                "learning",
                format!("unknown learning rule `{other}` (known: {})", Self::NAMES),
            )),
        }
    }
}

const SHAPE_HELP: &str = "e-prop trains networks of the form <in>-<n>R-<out> (a linear layer, one recurrent LIF or ALIF layer, a linear layer) with a membrane loss (ce-membrane, ce-last or ce-mean)";

/// Checks that `spec` and `loss` are a network e-prop trains.
pub fn check_network(spec: &NetSpec, loss: &LossSpec) -> Result<()> {
    let kinds: Vec<&LayerSpec> = spec
        .layers
        .iter()
        .filter(|l| !matches!(l, LayerSpec::Flatten))
        .collect();
    let ok = matches!(
        kinds.as_slice(),
        [
            LayerSpec::Linear { .. },
            LayerSpec::Rlif(_) | LayerSpec::Ralif(_),
            LayerSpec::Linear { .. },
            LayerSpec::Readout { .. }
        ]
    );
    if !ok {
        let names: Vec<&str> = kinds.iter().map(|l| l.name()).collect();
        return Err(Error::field(
            "learning",
            format!("{SHAPE_HELP}; this network is {names:?}"),
        ));
    }
    if matches!(loss, LossSpec::CeCount | LossSpec::MseCount { .. }) {
        return Err(Error::field("learning", SHAPE_HELP.to_string()));
    }
    Ok(())
}

/// The parameters of an e-prop network, copied out of its layers.
struct Weights {
    n_in: usize,
    n: usize,
    c: usize,
    w_in: Vec<f32>,
    b_in: Option<Vec<f32>>,
    v: Vec<f32>,
    w_out: Vec<f32>,
    b_out: Option<Vec<f32>>,
    beta: Vec<f32>,
    theta: Vec<f32>,
    adaptation: Adaptation,
    reset: DiscreteReset,
    surrogate: Surrogate,
    kappa: f32,
}

/// Per-sample gradient sums, in the layers' layouts.
struct Grads {
    w_in: Vec<f32>,
    b_in: Vec<f32>,
    v: Vec<f32>,
    w_out: Vec<f32>,
    b_out: Vec<f32>,
}

fn layer<T: 'static>(net: &Network, i: usize) -> Result<&T> {
    net.layers()
        .get(i)
        .and_then(|l| l.as_any().downcast_ref::<T>())
        .ok_or_else(|| Error::field("learning", SHAPE_HELP.to_string()))
}

fn indices(net: &Network) -> Result<[usize; 4]> {
    let idx: Vec<usize> = net
        .layers()
        .iter()
        .enumerate()
        .filter(|(_, l)| l.kind() != "flatten")
        .map(|(i, _)| i)
        .collect();
    idx.try_into()
        .map_err(|_| Error::field("learning", SHAPE_HELP.to_string()))
}

impl Weights {
    fn of(net: &Network) -> Result<Self> {
        let [li, ri, lo, ro] = indices(net)?;
        let lin: &Linear = layer(net, li)?;
        let rec: &RecurrentLif = layer(net, ri)?;
        let lout: &Linear = layer(net, lo)?;
        let read: &Readout = layer(net, ro)?;
        let (n_in, n) = (lin.weight.shape[0], lin.weight.shape[1]);
        let c = lout.weight.shape[1];
        Ok(Weights {
            n_in,
            n,
            c,
            w_in: lin.weight.value.clone(),
            b_in: lin.bias.as_ref().map(|b| b.value.clone()),
            v: rec.recurrent.value.clone(),
            w_out: lout.weight.value.clone(),
            b_out: lout.bias.as_ref().map(|b| b.value.clone()),
            beta: rec.beta.expanded(n),
            theta: rec.threshold.expanded(n),
            adaptation: rec.adaptation,
            reset: rec.spec.reset,
            surrogate: rec.spec.surrogate,
            kappa: read.beta.value[0],
        })
    }
}

/// The input of sample `b` at step `t` as values.
fn input_row(x: &Activation, b: usize, t: usize, steps: usize, out: &mut [f32]) {
    match x {
        Activation::Dense(d) => out.copy_from_slice(d.row(b * steps + t)),
        Activation::Static(d) => out.copy_from_slice(d.row(b)),
        Activation::Spikes(s) => {
            let r = b * steps + t;
            for (j, o) in out.iter_mut().enumerate() {
                *o = if s.get(r, j) { s.scale } else { 0.0 };
            }
        }
    }
}

/// `v[r]`, or nothing when `v` is empty (the adaptation traces of plain LIF neurons).
fn sub(v: &mut [f32], r: std::ops::Range<usize>) -> &mut [f32] {
    if v.is_empty() {
        v
    } else {
        &mut v[r]
    }
}

/// Runs sample `b`; with `grad` (the loss gradient at the readout, `steps × c`) it
/// accumulates e-prop gradients, else it returns the readout values.
fn run_sample(
    w: &Weights,
    x: &Activation,
    b: usize,
    steps: usize,
    grad: Option<&[f32]>,
) -> (Vec<f32>, Option<Grads>) {
    let (n_in, n, c) = (w.n_in, w.n, w.c);
    let adaptive = w.adaptation != Adaptation::NONE;
    let gamma = w.adaptation.gamma;
    let rho = w.adaptation.rho;
    let mut u = vec![0f32; n_in];
    let mut xin = vec![0f32; n];
    let (mut vm, mut a, mut h, mut s, mut s_prev, mut th) = (
        vec![0f32; n],
        vec![0f32; n],
        vec![0f32; n],
        vec![0f32; n],
        vec![0f32; n],
        vec![0f32; n],
    );
    let mut y = vec![0f32; c];
    let mut ys = vec![0f32; steps * c];
    let learn = grad.is_some();
    // Eligibility vectors (ε, εa) and filtered traces (ē) for inputs [i][j], bias [j],
    // recurrence [k][j]; filtered spikes and ones for the readout.
    let sz = |len: usize| if learn { vec![0f32; len] } else { Vec::new() };
    let sza = |len: usize| {
        if learn && adaptive {
            vec![0f32; len]
        } else {
            vec![0f32; 0]
        }
    };
    let (mut e_in, mut ea_in, mut f_in) = (sz(n_in * n), sza(n_in * n), sz(n_in * n));
    let (mut e_b, mut ea_b, mut f_b) = (sz(n), sza(n), sz(n));
    let (mut e_v, mut ea_v, mut f_v) = (sz(n * n), sza(n * n), sz(n * n));
    let mut s_bar = sz(n);
    let mut one_bar = 0f32;
    let mut g = Grads {
        w_in: sz(n_in * n),
        b_in: sz(n),
        v: sz(n * n),
        w_out: sz(n * c),
        b_out: sz(c),
    };
    let mut decay = vec![0f32; n];
    let mut psi = vec![0f32; n];
    let mut signal = vec![0f32; n];
    for t in 0..steps {
        input_row(x, b, t, steps, &mut u);
        // x_t = u·W_in + b_in + s_{t−1}·V.
        match &w.b_in {
            Some(bias) => xin.copy_from_slice(bias),
            None => xin.fill(0.0),
        }
        for (i, &ui) in u.iter().enumerate() {
            if ui != 0.0 {
                for (o, wij) in xin.iter_mut().zip(&w.w_in[i * n..(i + 1) * n]) {
                    *o += ui * wij;
                }
            }
        }
        for (k, &sk) in s_prev.iter().enumerate() {
            if sk != 0.0 {
                for (o, vkj) in xin.iter_mut().zip(&w.v[k * n..(k + 1) * n]) {
                    *o += sk * vkj;
                }
            }
        }
        // The state decay of the eligibility vectors uses the previous step's spike.
        for j in 0..n {
            let keep = match w.reset {
                DiscreteReset::Zero => 1.0 - s_prev[j],
                _ => 1.0,
            };
            decay[j] = w.beta[j] * keep;
        }
        if adaptive {
            alif_step(
                &w.beta[..],
                &w.theta[..],
                w.adaptation,
                w.reset,
                Heaviside,
                &mut vm,
                &mut a,
                &xin,
                &mut h,
                &mut s,
                &mut th,
            );
        } else {
            lif_step(
                &w.beta[..],
                &w.theta[..],
                w.reset,
                Heaviside,
                &mut vm,
                &xin,
                &mut h,
                &mut s,
            );
            th.copy_from_slice(&w.theta);
        }
        // Readout: y = κ·y + s·W_out + b_out.
        for (k, yk) in y.iter_mut().enumerate() {
            *yk = w.kappa * *yk + w.b_out.as_ref().map_or(0.0, |bo| bo[k]);
        }
        for (j, &sj) in s.iter().enumerate() {
            if sj != 0.0 {
                for (yk, wjk) in y.iter_mut().zip(&w.w_out[j * c..(j + 1) * c]) {
                    *yk += sj * wjk;
                }
            }
        }
        ys[t * c..(t + 1) * c].copy_from_slice(&y);
        if let Some(grad) = grad {
            let gt = &grad[t * c..(t + 1) * c];
            for j in 0..n {
                psi[j] = w.surrogate.grad(h[j] - th[j]);
                signal[j] = w.w_out[j * c..(j + 1) * c]
                    .iter()
                    .zip(gt)
                    .map(|(a, b)| a * b)
                    .sum();
            }
            let kappa = w.kappa;
            // One group of synapses onto every neuron j: pre value p.
            // One group of synapses onto every neuron j: pre value p. Two loops
            // without branches, so each vectorises.
            let update =
                |eps: &mut [f32], eps_a: &mut [f32], fil: &mut [f32], gr: &mut [f32], p: f32| {
                    let (eps, fil, gr) = (&mut eps[..n], &mut fil[..n], &mut gr[..n]);
                    let (decay, psi, signal) = (&decay[..n], &psi[..n], &signal[..n]);
                    if adaptive {
                        let eps_a = &mut eps_a[..n];
                        for j in 0..n {
                            let e_v = decay[j] * eps[j] + p;
                            eps[j] = e_v;
                            let e = psi[j] * (e_v - gamma * eps_a[j]);
                            eps_a[j] = rho * eps_a[j] + e;
                            let f = kappa * fil[j] + e;
                            fil[j] = f;
                            gr[j] += signal[j] * f;
                        }
                    } else {
                        for j in 0..n {
                            let e_v = decay[j] * eps[j] + p;
                            eps[j] = e_v;
                            let f = kappa * fil[j] + psi[j] * e_v;
                            fil[j] = f;
                            gr[j] += signal[j] * f;
                        }
                    }
                };
            for (i, &ui) in u.iter().enumerate() {
                let r = i * n..(i + 1) * n;
                update(
                    &mut e_in[r.clone()],
                    sub(&mut ea_in, r.clone()),
                    &mut f_in[r.clone()],
                    &mut g.w_in[r],
                    ui,
                );
            }
            update(&mut e_b, sub(&mut ea_b, 0..n), &mut f_b, &mut g.b_in, 1.0);
            for (k, &sk) in s_prev.iter().enumerate() {
                let r = k * n..(k + 1) * n;
                update(
                    &mut e_v[r.clone()],
                    sub(&mut ea_v, r.clone()),
                    &mut f_v[r.clone()],
                    &mut g.v[r],
                    sk,
                );
            }
            one_bar = kappa * one_bar + 1.0;
            for j in 0..n {
                s_bar[j] = kappa * s_bar[j] + s[j];
                if s_bar[j] != 0.0 {
                    for (o, gk) in g.w_out[j * c..(j + 1) * c].iter_mut().zip(gt) {
                        *o += s_bar[j] * gk;
                    }
                }
            }
            for (o, gk) in g.b_out.iter_mut().zip(gt) {
                *o += one_bar * gk;
            }
        }
        std::mem::swap(&mut s, &mut s_prev);
    }
    (ys, if learn { Some(g) } else { None })
}

/// Computes e-prop gradients of `net` on the encoded batch `x` (rows `b·T + t`) and
/// writes them into the parameters' `grad` (β, θ and other parameters get 0); returns
/// the loss as BPTT's `loss::compute` does.
pub fn gradients(
    net: &mut Network,
    x: &Activation,
    labels: &[u8],
    loss_spec: &LossSpec,
    steps: usize,
) -> Result<LossOutput> {
    let w = Weights::of(net)?;
    let batch = labels.len();
    // Pass 1: the readout values for the loss.
    let ys: Vec<Vec<f32>> = (0..batch)
        .into_par_iter()
        .map(|b| run_sample(&w, x, b, steps, None).0)
        .collect();
    let out = Activation::Dense(Tensor::from_vec(
        ys.concat(),
        batch * steps,
        FeatShape::flat(w.c),
    ));
    let l = loss::compute(loss_spec, &out, labels, steps);
    drop(out);
    // Pass 2: traces and gradients, summed over samples in order.
    let per: Vec<Grads> = (0..batch)
        .into_par_iter()
        .map(|b| {
            let g = &l.grad.data[b * steps * w.c..(b + 1) * steps * w.c];
            run_sample(&w, x, b, steps, Some(g))
                .1
                .expect("gradients were asked for")
        })
        .collect();
    let sum = |f: &dyn Fn(&Grads) -> &Vec<f32>, len: usize| -> Vec<f32> {
        let mut out = vec![0f32; len];
        for g in &per {
            for (o, v) in out.iter_mut().zip(f(g)) {
                *o += v;
            }
        }
        out
    };
    let (n_in, n, c) = (w.n_in, w.n, w.c);
    let g_in = sum(&|g| &g.w_in, n_in * n);
    let g_b = sum(&|g| &g.b_in, n);
    let g_v = sum(&|g| &g.v, n * n);
    let g_out = sum(&|g| &g.w_out, n * c);
    let g_bo = sum(&|g| &g.b_out, c);
    for p in net.params_mut() {
        p.grad.iter_mut().for_each(|v| *v = 0.0);
    }
    let [li, ri, lo, _] = indices(net)?;
    let layers = net.layers_mut();
    let set = |dst: &mut Vec<f32>, src: &[f32]| dst.copy_from_slice(src);
    {
        let lin = layers[li]
            .as_any_mut()
            .downcast_mut::<Linear>()
            .expect("checked above");
        set(&mut lin.weight.grad, &g_in);
        if let Some(bias) = &mut lin.bias {
            set(&mut bias.grad, &g_b);
        }
    }
    {
        let rec = layers[ri]
            .as_any_mut()
            .downcast_mut::<RecurrentLif>()
            .expect("checked above");
        set(&mut rec.recurrent.grad, &g_v);
    }
    {
        let lout = layers[lo]
            .as_any_mut()
            .downcast_mut::<Linear>()
            .expect("checked above");
        set(&mut lout.weight.grad, &g_out);
        if let Some(bias) = &mut lout.bias {
            set(&mut bias.grad, &g_bo);
        }
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::arch::{parse_arch, ArchOptions, NeuronKind, OutputKind};
    use crate::nn::layers::Pass;

    fn net(arch: &str, seed: u64, detach: bool) -> (NetSpec, Network) {
        net_of(arch, seed, detach, NeuronKind::Lif, DiscreteReset::Subtract)
    }

    fn net_of(
        arch: &str,
        seed: u64,
        detach: bool,
        neuron: NeuronKind,
        reset: DiscreteReset,
    ) -> (NetSpec, Network) {
        let opts = ArchOptions {
            output: OutputKind::Membrane { beta: 0.9 },
            neuron,
            adaptation: (0.9, 0.3),
            ..ArchOptions::default()
        };
        let mut spec = parse_arch(arch, FeatShape::flat(5), &opts).unwrap();
        for l in &mut spec.layers {
            let s = match l {
                LayerSpec::Rlif(s) => s,
                LayerSpec::Ralif(a) => &mut a.neuron,
                _ => continue,
            };
            s.detach_reset = detach;
            s.threshold = 0.5;
            s.reset = reset;
        }
        let net = Network::build(&spec, 12, seed).unwrap();
        (spec, net)
    }

    fn batch(b: usize, steps: usize, seed: u64) -> Activation {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let data: Vec<f32> = (0..b * steps * 5)
            .map(|_| rng.random_range(-0.5..1.5))
            .collect();
        Activation::Dense(Tensor::from_vec(data, b * steps, FeatShape::flat(5)))
    }

    fn grads(net: &Network) -> Vec<(String, Vec<f32>)> {
        net.named_params()
            .into_iter()
            .map(|(n, p)| (n, p.grad.clone()))
            .collect()
    }

    #[test]
    fn without_recurrence_and_with_a_detached_reset_eprop_is_bptt() {
        let steps = 12;
        let labels = [0u8, 2, 1];
        let cases = [
            (
                LossSpec::CeMembrane,
                NeuronKind::Lif,
                DiscreteReset::Subtract,
            ),
            (LossSpec::CeLast, NeuronKind::Lif, DiscreteReset::Subtract),
            (LossSpec::CeMembrane, NeuronKind::Lif, DiscreteReset::Zero),
            // Adaptive neurons: exact with reset to zero (a subtractive reset would
            // carry the adapted threshold into the membrane, a path e-prop omits).
            (LossSpec::CeMembrane, NeuronKind::Alif, DiscreteReset::Zero),
        ];
        for (loss, neuron, reset) in cases {
            let (_, mut a) = net_of("5-16R-3", 4, true, neuron, reset);
            // No recurrent weights: every path through other neurons vanishes.
            for l in a.layers_mut() {
                if let Some(r) = l.as_any_mut().downcast_mut::<RecurrentLif>() {
                    r.recurrent.value.fill(0.0);
                }
            }
            let x = batch(3, steps, 1);
            let pass = Pass::train(steps, 3, [0, 0, 0]);
            let out = a.forward(x.clone(), &pass);
            let l = loss::compute(&loss, &out, &labels, steps);
            drop(out);
            a.backward(l.grad, &pass);
            let bptt = grads(&a);
            let le = gradients(&mut a, &x, &labels, &loss, steps).unwrap();
            assert!((le.loss - l.loss).abs() < 1e-6, "{} vs {}", le.loss, l.loss);
            let eprop = grads(&a);
            for ((name, gb), (_, ge)) in bptt.iter().zip(&eprop) {
                if name.contains("beta") || name.contains("threshold") {
                    continue;
                }
                let scale = gb.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
                for (k, (x, y)) in gb.iter().zip(ge).enumerate() {
                    assert!(
                        (x - y).abs() <= 1e-4 * scale.max(1.0),
                        "{loss:?} {neuron:?} {reset:?} {name}[{k}]: BPTT {x}, e-prop {y}"
                    );
                }
                assert!(gb.iter().any(|v| *v != 0.0), "{name}: no gradient at all");
            }
        }
    }

    #[test]
    fn with_recurrence_eprop_approximates_bptt_and_networks_are_checked() {
        let steps = 12;
        let labels = [0u8, 2, 1, 1];
        let (spec, mut a) = net("5-16R-3", 5, false);
        let x = batch(4, steps, 2);
        let pass = Pass::train(steps, 4, [0, 0, 0]);
        let out = a.forward(x.clone(), &pass);
        let l = loss::compute(&LossSpec::CeMembrane, &out, &labels, steps);
        drop(out);
        a.backward(l.grad, &pass);
        let bptt = grads(&a);
        gradients(&mut a, &x, &labels, &LossSpec::CeMembrane, steps).unwrap();
        let eprop = grads(&a);
        // The readout's gradients are exact; the input weights' point the same way.
        let cos = |u: &[f32], v: &[f32]| {
            let d: f32 = u.iter().zip(v).map(|(a, b)| a * b).sum();
            let nu: f32 = u.iter().map(|a| a * a).sum::<f32>().sqrt();
            let nv: f32 = v.iter().map(|a| a * a).sum::<f32>().sqrt();
            d / (nu * nv).max(1e-12)
        };
        for ((name, gb), (_, ge)) in bptt.iter().zip(&eprop) {
            if name.starts_with("2.") {
                assert!(cos(gb, ge) > 0.9999, "{name}: {}", cos(gb, ge));
            }
            if name == "0.weight" {
                assert!(cos(gb, ge) > 0.5, "{name}: cosine {}", cos(gb, ge));
            }
        }
        check_network(&spec, &LossSpec::CeMembrane).unwrap();
        let e = check_network(&spec, &LossSpec::CeCount).unwrap_err();
        assert!(e.to_string().contains("membrane loss"), "{e}");
        let ff = parse_arch(
            "5-16-3",
            FeatShape::flat(5),
            &ArchOptions {
                output: OutputKind::Membrane { beta: 0.9 },
                neuron: NeuronKind::Lif,
                ..ArchOptions::default()
            },
        )
        .unwrap();
        let e = check_network(&ff, &LossSpec::CeMembrane).unwrap_err();
        assert!(e.to_string().contains("<in>-<n>R-<out>"), "{e}");
        assert!(Learning::parse("hebb").is_err());
    }
}
