//! Export of a trained feed-forward spiking network to a core [`NetworkSpec`]
//! (populations and projections) and its evaluation on the event-driven engine, with
//! the synaptic-operation count per inference as an energy proxy.
//!
//! ## How layers map
//!
//! * Every run of linear layers between two neuron stages (linear, conv, average
//!   pooling, flatten, dropout, batch norm with shared statistics) is composed into one
//!   weight matrix by evaluating it on unit vectors with the offsets zeroed, and one bias
//!   vector by evaluating it on zero: batch norm is folded, convolutions become sparse
//!   synapse lists. Weights become delta synapses with a one-step delay.
//! * LIF layers become `lif` populations (`v_rest = v_reset = 0`, `τ_m = −dt/ln β`,
//!   `t_ref = 0`, reset by subtraction or to zero) with weights divided by β (the engine
//!   decays a jump with the membrane); IF layers become `if` populations. Per-neuron
//!   thresholds are folded into the incoming weights (threshold 1). A recurrent LIF adds
//!   a projection of the population onto itself (delay one step).
//! * Max pooling of spikes becomes a population of IF neurons with threshold ½ and
//!   reset to zero, each receiving weight 1 from its window: it fires when any input
//!   fired (an OR).
//! * Biases come from a one-neuron spike generator firing at every step of the
//!   presentation, projecting to each stage with a delay equal to the stage's lag.
//! * A leaky-integrator readout becomes a LIF (or IF for β = 1) population with an
//!   unreachable threshold whose membrane is read every step.
//! * Spike inputs (rate, latency) replay the trainer's own encoded spikes from a spike
//!   generator; with direct (current) input, the first linear block is computed by the
//!   trainer and injected into the first stage's membrane every step.
//!
//! Timing: the engine delivers a spike emitted at step `k` at step `k + 1`, so stage
//! `l` computes the trainer's step `t` at engine step `t + lag(l)` (lag 1 for the first
//! stage after spike input, 0 after direct input, +1 per further stage). A
//! presentation runs `T + lag(output)` steps and the output is read at the lagged steps;
//! the result equals the trainer's up to float rounding.
//!
//! Not exportable (clear errors): adaptive LIF (no engine model yet), per-neuron
//! decay, β = 0, reset `none`, ReLU layers, per-step batch norm, max pooling of currents.

use crate::bptt::encode::encode;
use crate::bptt::loss::argmax;
use crate::bptt::trainer::TrainConfig;
use crate::data::Dataset;
use crate::nn::layers::batchnorm::BatchNorm;
use crate::nn::layers::pool::MaxPool2d;
use crate::nn::layers::readout::Readout;
use crate::nn::layers::recurrent::RecurrentLif;
use crate::nn::layers::spiking::{Spiking, SpikingModel};
use crate::nn::layers::{Layer, Pass};
use crate::nn::network::Network;
use crate::nn::tensor::{Activation, Tensor};
use rayon::prelude::*;
use spikelab_core::connectivity::Connectivity;
use spikelab_core::error::{Error, Result};
use spikelab_core::neuron::discrete_time::DiscreteReset;
use spikelab_core::prelude::*;
use spikelab_core::source::SpikeGenerator;

/// A synapse of a composed block: (source, target, weight).
type Synapse = (u32, u32, f32);

/// Per presentation: (prediction, synaptic events, spikes per stage).
type Presentation = (usize, u64, Vec<u64>);

/// Threshold of non-spiking readout populations (never reached).
const NEVER: f64 = 1e30;

/// A neuron population of the export and how it lines up with the trainer.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    /// Population name in the spec.
    pub population: String,
    /// Index of the trainer layer it comes from.
    pub layer: usize,
    /// Neurons.
    pub size: usize,
    /// Engine step of the trainer's step 0.
    pub lag: usize,
    /// Scale that turns the trainer's input current into an engine jump (1/β or 1/θ...).
    pub input_scale: Vec<f32>,
}

/// What the output of the export is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputRead {
    /// Spike counts of the output population.
    Spikes,
    /// Summed membrane of the output population.
    Membrane,
}

/// A network exported for the engine.
#[derive(Clone, Debug)]
pub struct Exported {
    /// The engine network (time step `dt_ms`, threads 1).
    pub spec: NetworkSpec,
    /// Time steps `T` of a presentation in the trainer.
    pub steps: usize,
    /// Neuron stages in order; the last is the output.
    pub stages: Vec<Stage>,
    /// Index of the first layer after the host-computed input block (direct input), or
    /// `None` for spike input through the `input` population.
    pub host_layers: Option<usize>,
    /// How the output is read.
    pub readout: OutputRead,
    /// Synapses of the bias projections (each fires `T` times per presentation).
    pub bias_synapses: usize,
}

impl Exported {
    /// Engine steps of one presentation.
    pub fn total_steps(&self) -> usize {
        self.steps + self.stages.last().map_or(0, |s| s.lag)
    }
}

#[derive(Debug)]
enum Piece {
    /// Layers `lo..hi` form one linear block.
    Block(usize, usize),
    /// A neuron layer.
    Neuron(usize),
    /// Max pooling of spikes.
    Or(usize),
}

/// Splits the layers into linear blocks, neuron layers and spike max-pools.
fn pieces(net: &Network) -> Result<Vec<Piece>> {
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
                if !(only_reshape && after_spikes && i < layers.len() && layers[i].kind() == "max_pool2d") {
                    out.push(Piece::Block(lo, i));
                    after_spikes = false;
                }
                continue;
            }
            "lif" | "if" | "rlif" | "readout" => {
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
            "alif" => {
                return Err(Error::field(
                    f,
                    "the engine has no adaptive LIF model yet; export supports lif, if, rlif and readout layers",
                ))
            }
            other => {
                return Err(Error::field(
                    f,
                    format!("`{other}` layers have no engine equivalent (export supports spiking networks)"),
                ))
            }
        }
        i += 1;
    }
    Ok(out)
}

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

fn reset_mode(r: DiscreteReset, f: &str) -> Result<ResetMode> {
    match r {
        DiscreteReset::Subtract => Ok(ResetMode::Subtract),
        DiscreteReset::Zero => Ok(ResetMode::Value),
        DiscreteReset::None => Err(Error::field(
            f,
            "reset `none` has no engine equivalent (engine neurons always reset)",
        )),
    }
}

fn lif_neuron(beta: f32, theta: f64, reset: ResetMode, dt: f64, f: &str) -> Result<NeuronSpec> {
    if beta >= 1.0 {
        return Ok(NeuronSpec::If(Iaf {
            v_reset_mv: 0.0,
            v_thresh_mv: theta,
            t_ref_ms: 0.0,
            reset,
            ..Iaf::default()
        }));
    }
    if beta <= 0.0 {
        return Err(Error::field(
            f,
            "β = 0 has no engine equivalent (the engine applies input before the decay)",
        ));
    }
    Ok(NeuronSpec::Lif(Lif {
        tau_m_ms: -dt / (beta as f64).ln(),
        v_rest_mv: 0.0,
        v_reset_mv: 0.0,
        v_thresh_mv: theta,
        t_ref_ms: 0.0,
        reset,
        ..Lif::default()
    }))
}

/// Exports `net` (trained with `config`) for the engine with time step `dt_ms`.
pub fn export(net: &mut Network, config: &TrainConfig, dt_ms: f64) -> Result<Exported> {
    let pieces = pieces(net)?;
    let steps = config.steps;
    let mut spec = NetworkSpec::new(dt_ms, (steps + pieces.len() + 1) as f64 * dt_ms).threads(1);
    let direct = !config.encoding.is_spiking();
    // Source of the next block: (population name, its lag).
    let mut source: Option<(String, usize)> = None;
    let mut host_layers = None;
    if !direct {
        spec = spec.population(PopulationSpec::new(
            "input",
            net.input_shape().len(),
            NeuronSpec::SpikeGenerator(SpikeGenerator::default()),
        ));
        source = Some(("input".into(), 0));
    }
    let bias_gen = SpikeGenerator {
        neurons: vec![0; steps],
        times_ms: (0..steps).map(|t| t as f64 * dt_ms).collect(),
    };
    spec = spec.population(PopulationSpec::new(
        "bias",
        1,
        NeuronSpec::SpikeGenerator(bias_gen),
    ));
    let mut stages: Vec<Stage> = Vec::new();
    let mut pending: Option<(Vec<Synapse>, Vec<f32>)> = None;
    let mut bias_synapses = 0;
    let mut readout = OutputRead::Spikes;
    for piece in &pieces {
        match *piece {
            Piece::Block(lo, hi) => {
                if pending.is_some() {
                    return Err(Error::field(
                        format!("layer[{lo}]"),
                        "two linear blocks without a neuron layer between them",
                    ));
                }
                if source.is_none() {
                    // Direct input: the first block runs in the trainer.
                    if host_layers.is_some() || lo != 0 {
                        return Err(Error::field(format!("layer[{lo}]"), "unexpected block"));
                    }
                    host_layers = Some(hi);
                    pending = Some((Vec::new(), Vec::new()));
                } else {
                    let (w, b, _) = compose(net, lo, hi);
                    pending = Some((w, b));
                }
            }
            Piece::Neuron(i) => {
                let layer = &net.layers()[i];
                let f = format!("layer[{i}] ({})", layer.kind());
                let n = layer.out_shape().len();
                let (w, b) = pending.take().ok_or_else(|| {
                    Error::field(&f, "a neuron layer must follow a linear layer for export")
                })?;
                let lag = match &source {
                    Some((_, l)) => l + 1,
                    None => 0,
                };
                // Neuron parameters, and per-target input scale.
                let (neuron, scale, recurrent): (NeuronSpec, Vec<f32>, Option<Vec<f32>>) =
                    if let Some(s) = layer.as_any().downcast_ref::<Spiking>() {
                        if s.beta.len() > 1 {
                            return Err(Error::field(
                                &f,
                                "per-neuron decay (learn_beta = neuron) cannot be exported: an engine population has one τ_m",
                            ));
                        }
                        let beta = match s.model {
                            SpikingModel::If => 1.0,
                            _ => s.beta.value[0],
                        };
                        let reset = reset_mode(s.spec.reset, &f)?;
                        let per_neuron_theta = s.threshold.len() > 1;
                        let theta = if per_neuron_theta {
                            1.0
                        } else {
                            s.threshold.value[0] as f64
                        };
                        let scale = (0..n)
                            .map(|j| {
                                let th = if per_neuron_theta {
                                    s.threshold.value[j]
                                } else {
                                    1.0
                                };
                                1.0 / (beta * th)
                            })
                            .collect();
                        (lif_neuron(beta, theta, reset, dt_ms, &f)?, scale, None)
                    } else if let Some(r) = layer.as_any().downcast_ref::<RecurrentLif>() {
                        if r.beta.len() > 1 {
                            return Err(Error::field(&f, "per-neuron decay cannot be exported"));
                        }
                        let beta = r.beta.value[0];
                        let reset = reset_mode(r.spec.reset, &f)?;
                        let per_neuron_theta = r.threshold.len() > 1;
                        let theta = if per_neuron_theta {
                            1.0
                        } else {
                            r.threshold.value[0] as f64
                        };
                        let scale: Vec<f32> = (0..n)
                            .map(|j| {
                                let th = if per_neuron_theta {
                                    r.threshold.value[j]
                                } else {
                                    1.0
                                };
                                1.0 / (beta * th)
                            })
                            .collect();
                        (
                            lif_neuron(beta, theta, reset, dt_ms, &f)?,
                            scale,
                            Some(r.recurrent.value.clone()),
                        )
                    } else if let Some(r) = layer.as_any().downcast_ref::<Readout>() {
                        readout = OutputRead::Membrane;
                        let beta = r.beta.value[0];
                        let neuron = lif_neuron(beta, NEVER, ResetMode::Value, dt_ms, &f)?;
                        (neuron, vec![1.0 / beta.max(f32::MIN_POSITIVE); n], None)
                    } else {
                        return Err(Error::field(&f, "unsupported neuron layer"));
                    };
                let name = format!("l{i}_{}", layer.kind());
                spec = spec.population(
                    PopulationSpec::new(&name, n, neuron).with_receptor(ReceptorSpec::delta("in")),
                );
                if let Some((src, _)) = &source {
                    let (pairs, weights): (Vec<(u32, u32)>, Vec<f64>) = w
                        .iter()
                        .map(|&(a, b, x)| ((a, b), (x * scale[b as usize]) as f64))
                        .unzip();
                    spec = spec.projection(
                        ProjectionSpec::new(
                            src,
                            &name,
                            "in",
                            Connectivity::List {
                                pairs,
                                weights: Some(weights),
                                delays_ms: None,
                            },
                            0.0,
                        )
                        .named(&format!("{src}->{name}")),
                    );
                    let (pairs, weights): (Vec<(u32, u32)>, Vec<f64>) = b
                        .iter()
                        .enumerate()
                        .filter(|(_, &x)| x != 0.0)
                        .map(|(j, &x)| ((0, j as u32), (x * scale[j]) as f64))
                        .unzip();
                    if !pairs.is_empty() {
                        bias_synapses += pairs.len();
                        spec = spec.projection(
                            ProjectionSpec::new(
                                "bias",
                                &name,
                                "in",
                                Connectivity::List {
                                    pairs,
                                    weights: Some(weights),
                                    delays_ms: None,
                                },
                                0.0,
                            )
                            .with_delay_ms(lag as f64 * dt_ms)
                            .named(&format!("bias->{name}")),
                        );
                    }
                }
                if let Some(v) = recurrent {
                    let (pairs, weights): (Vec<(u32, u32)>, Vec<f64>) = (0..n)
                        .flat_map(|k| (0..n).map(move |j| (k, j)))
                        .filter(|&(k, j)| v[k * n + j] != 0.0)
                        .map(|(k, j)| ((k as u32, j as u32), (v[k * n + j] * scale[j]) as f64))
                        .unzip();
                    spec = spec.projection(
                        ProjectionSpec::new(
                            &name,
                            &name,
                            "in",
                            Connectivity::List {
                                pairs,
                                weights: Some(weights),
                                delays_ms: None,
                            },
                            0.0,
                        )
                        .named(&format!("{name}->{name}")),
                    );
                }
                stages.push(Stage {
                    population: name.clone(),
                    layer: i,
                    size: n,
                    lag,
                    input_scale: scale,
                });
                source = Some((name, lag));
            }
            Piece::Or(i) => {
                let mp = net.layers()[i]
                    .as_any()
                    .downcast_ref::<MaxPool2d>()
                    .expect("max pool layer");
                let g = mp.geom;
                let (src, src_lag) = source.clone().expect("pooling follows a neuron stage");
                let name = format!("l{i}_max_pool");
                let n = g.c * g.h_out * g.w_out;
                let or = Iaf {
                    v_reset_mv: 0.0,
                    v_thresh_mv: 0.5,
                    t_ref_ms: 0.0,
                    reset: ResetMode::Value,
                    ..Iaf::default()
                };
                spec = spec.population(
                    PopulationSpec::new(&name, n, NeuronSpec::If(or))
                        .with_receptor(ReceptorSpec::delta("in")),
                );
                let mut pairs = Vec::new();
                for oy in 0..g.h_out {
                    for ox in 0..g.w_out {
                        for dy in 0..g.k {
                            for dx in 0..g.k {
                                let (y, x) = (oy * g.stride + dy, ox * g.stride + dx);
                                for c in 0..g.c {
                                    pairs.push((
                                        ((y * g.w_in + x) * g.c + c) as u32,
                                        ((oy * g.w_out + ox) * g.c + c) as u32,
                                    ));
                                }
                            }
                        }
                    }
                }
                spec = spec.projection(
                    ProjectionSpec::new(
                        &src,
                        &name,
                        "in",
                        Connectivity::List {
                            pairs,
                            weights: None,
                            delays_ms: None,
                        },
                        1.0,
                    )
                    .named(&format!("{src}->{name}")),
                );
                stages.push(Stage {
                    population: name.clone(),
                    layer: i,
                    size: n,
                    lag: src_lag + 1,
                    input_scale: vec![1.0; n],
                });
                source = Some((name, src_lag + 1));
            }
        }
    }
    if pending.is_some() {
        return Err(Error::field(
            "layers",
            "the network must end with a neuron layer (spiking or readout) for export",
        ));
    }
    match pieces.last() {
        Some(Piece::Neuron(_)) => {}
        _ => {
            return Err(Error::field(
                "layers",
                "the network must end with a neuron layer for export",
            ))
        }
    }
    let total = steps + stages.last().map_or(0, |s| s.lag);
    spec.simulation.duration_ms = total as f64 * dt_ms;
    Ok(Exported {
        spec,
        steps,
        stages,
        host_layers,
        readout,
        bias_synapses,
    })
}

/// Result of an evaluation on the engine.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EngineEval {
    /// Samples evaluated.
    pub samples: usize,
    /// Accuracy (%).
    pub accuracy: f64,
    /// Predicted class of each sample.
    pub predictions: Vec<usize>,
    /// Synaptic events per inference (spikes × synapses delivered), bias included.
    pub synops_per_inference: f64,
    /// Of which from the bias generator.
    pub bias_synops_per_inference: f64,
    /// Spikes per inference per stage within its `T`-step window (population name,
    /// mean count).
    pub spikes_per_inference: Vec<(String, f64)>,
    /// Wall time (s).
    pub seconds: f64,
}

/// Evaluates the exported network on the first `limit` samples of `data`, replaying
/// the trainer's inputs; `net` computes the host block for direct input.
pub fn evaluate_on_engine(
    net: &mut Network,
    config: &TrainConfig,
    exported: &Exported,
    data: &Dataset,
    limit: Option<usize>,
) -> Result<EngineEval> {
    let n = limit.unwrap_or(data.len()).min(data.len());
    let start = std::time::Instant::now();
    let steps = config.steps;
    // Inputs as the trainer sees them: spikes, or the host block's currents.
    let chunk = 256;
    let mut inputs: Vec<Input> = Vec::with_capacity(n);
    let mut images = Vec::new();
    let mut b0 = 0;
    while b0 < n {
        let idx: Vec<usize> = (b0..(b0 + chunk).min(n)).collect();
        data.gather(&idx, &mut images);
        let x = encode(
            &config.encoding,
            &images,
            data.shape,
            &crate::bptt::trainer::eval_keys(&idx),
            steps,
            config.seed,
        );
        match (&x, exported.host_layers) {
            (Activation::Spikes(s), None) => {
                for b in 0..idx.len() {
                    let (mut neurons, mut times) = (Vec::new(), Vec::new());
                    for t in 0..steps {
                        s.for_each_active(b * steps + t, |j| {
                            neurons.push(j as u32);
                            times.push(t as f64 * config_dt(exported));
                        });
                    }
                    inputs.push(Input::Spikes(SpikeGenerator {
                        neurons,
                        times_ms: times,
                    }));
                }
            }
            (Activation::Static(t), Some(hi)) => {
                let pass = Pass::eval(1, t.rows);
                let mut a = x.clone();
                for l in &mut net.layers_mut()[..hi] {
                    a = l.forward(a, &pass);
                }
                let c = match a {
                    Activation::Static(c) | Activation::Dense(c) => c,
                    Activation::Spikes(_) => unreachable!("linear blocks give currents"),
                };
                for b in 0..idx.len() {
                    inputs.push(Input::Current(c.row(b).to_vec()));
                }
            }
            _ => {
                return Err(Error::Invalid(
                    "the export does not match the model's input encoding".into(),
                ))
            }
        }
        b0 += idx.len();
    }
    // Parallel over fixed chunks of samples, one single-threaded simulator each.
    let per_task = n.div_ceil(rayon::current_num_threads().max(1) * 4).max(1);
    let results: Vec<Result<Vec<Presentation>>> = inputs
        .par_chunks(per_task)
        .map(|chunk| run_chunk(exported, chunk))
        .collect();
    let mut out = EngineEval {
        samples: n,
        ..Default::default()
    };
    let mut synops = 0u64;
    let mut spikes = vec![0u64; exported.stages.len()];
    for r in results {
        for (pred, events, sp) in r? {
            out.predictions.push(pred);
            synops += events;
            for (a, s) in spikes.iter_mut().zip(sp) {
                *a += s;
            }
        }
    }
    let correct = out
        .predictions
        .iter()
        .enumerate()
        .filter(|(i, &p)| p == data.labels[*i] as usize)
        .count();
    out.accuracy = 100.0 * correct as f64 / n.max(1) as f64;
    out.synops_per_inference = synops as f64 / n.max(1) as f64;
    out.bias_synops_per_inference = (exported.bias_synapses * steps) as f64;
    out.spikes_per_inference = exported
        .stages
        .iter()
        .zip(spikes)
        .map(|(s, c)| (s.population.clone(), c as f64 / n.max(1) as f64))
        .collect();
    out.seconds = start.elapsed().as_secs_f64();
    Ok(out)
}

fn config_dt(e: &Exported) -> f64 {
    e.spec.simulation.dt_ms
}

enum Input {
    Spikes(SpikeGenerator),
    Current(Vec<f32>),
}

/// Runs the presentations of `inputs` on one simulator: (prediction, synaptic events,
/// spikes per stage) for each.
fn run_chunk(e: &Exported, inputs: &[Input]) -> Result<Vec<Presentation>> {
    let mut sim = Simulator::build_with_threads(&e.spec, 1)?;
    let pop = |name: &str| sim.population_index(name);
    let stage_pops: Vec<usize> = e
        .stages
        .iter()
        .map(|s| pop(&s.population))
        .collect::<Result<_>>()?;
    let input_pop = pop("input").ok();
    let out_stage = e.stages.last().expect("an output stage");
    let out_pop = *stage_pops.last().expect("output");
    let first = &e.stages[0];
    let first_pop = stage_pops[0];
    let total = e.total_steps();
    let mut results = Vec::with_capacity(inputs.len());
    for input in inputs {
        sim.reset();
        let ev0 = sim.synaptic_events();
        if let (Input::Spikes(g), Some(ip)) = (input, input_pop) {
            sim.set_spike_generator(ip, g)?;
        }
        let mut score = vec![0.0f64; out_stage.size];
        let mut spikes = vec![0u64; stage_pops.len()];
        for k in 0..total {
            if let Input::Current(c) = input {
                if k < e.steps {
                    let mut v = sim.state(first_pop, "v")?;
                    for ((vj, cj), s) in v.iter_mut().zip(c).zip(&first.input_scale) {
                        *vj += cj * s;
                    }
                    sim.set_state(first_pop, "v", &v)?;
                }
            }
            sim.run_steps(1);
            for ((a, &p), st) in spikes.iter_mut().zip(&stage_pops).zip(&e.stages) {
                // Count within the stage's window, as the trainer does (a neuron left
                // above threshold may fire after it; those spikes are never delivered).
                if (st.lag..st.lag + e.steps).contains(&k) {
                    *a += sim.last_spikes(p).len() as u64;
                }
            }
            if (out_stage.lag..out_stage.lag + e.steps).contains(&k) {
                match e.readout {
                    OutputRead::Spikes => {
                        for j in sim.last_spikes(out_pop) {
                            score[j as usize] += 1.0;
                        }
                    }
                    OutputRead::Membrane => {
                        for (s, v) in score.iter_mut().zip(sim.state(out_pop, "v")?) {
                            *s += v as f64;
                        }
                    }
                }
            }
        }
        let scores: Vec<f32> = score.iter().map(|&x| x as f32).collect();
        results.push((argmax(&scores), sim.synaptic_events() - ev0, spikes));
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bptt::encode::Encoding;
    use crate::bptt::loss::LossSpec;
    use crate::bptt::trainer::{tests::toy_data, FitOptions, Silent, Trainer};
    use crate::nn::arch::{parse_arch, ArchOptions, OutputKind};
    use crate::nn::layers::spiking::{Learn, SpikingSpec};
    use crate::nn::network::LayerSpec;

    fn train(
        arch: &str,
        opts: &ArchOptions,
        cfg: TrainConfig,
        extra_bn: bool,
    ) -> (Trainer, Dataset) {
        let (train, test) = (toy_data(300, 11), toy_data(120, 12));
        let mut spec = parse_arch(arch, train.shape, opts).unwrap();
        if extra_bn {
            let at = spec
                .layers
                .iter()
                .position(|l| l.name() == "conv2d")
                .unwrap()
                + 1;
            spec.layers.insert(
                at,
                LayerSpec::BatchNorm {
                    per_step: false,
                    eps: 1e-5,
                    momentum: 0.1,
                },
            );
        }
        let mut t = Trainer::new(&spec, cfg).unwrap();
        t.fit(&train, None, &FitOptions::default(), &mut Silent)
            .unwrap();
        (t, test)
    }

    fn cfg() -> TrainConfig {
        TrainConfig {
            steps: 6,
            batch_size: 16,
            epochs: 2,
            lr: 5e-3,
            ..TrainConfig::default()
        }
    }

    /// The engine reproduces the trainer's predictions on every sample.
    fn check_equivalence(t: &mut Trainer, test: &Dataset) -> EngineEval {
        let ex = export(&mut t.net, &t.config, 1.0).unwrap();
        let ev = evaluate_on_engine(&mut t.net, &t.config, &ex, test, None).unwrap();
        let tr = t.evaluate(test, None, &mut Silent);
        assert_eq!(ev.predictions, tr.predictions);
        assert_eq!(ev.accuracy, tr.accuracy);
        assert!(ev.synops_per_inference > 0.0);
        ev
    }

    #[test]
    fn mlp_with_rate_input_runs_identically_on_the_engine() {
        let spiking = SpikingSpec {
            learn_threshold: Learn::Neuron,
            learn_beta: Learn::Layer,
            ..SpikingSpec::default()
        };
        let opts = ArchOptions {
            spiking,
            ..ArchOptions::default()
        };
        let (mut t, test) = train("16-24-4", &opts, cfg(), false);
        let ev = check_equivalence(&mut t, &test);
        assert!(ev.accuracy > 80.0, "{}", ev.accuracy);
        // Events: every input spike reaches 24 hidden neurons, every hidden spike 4.
        let sp = &ev.spikes_per_inference;
        assert_eq!(sp.len(), 2);
        assert!(sp.iter().all(|(_, c)| *c > 0.0), "{sp:?}");
        assert!(ev.bias_synops_per_inference < ev.synops_per_inference);
    }

    #[test]
    fn conv_net_with_pooling_batch_norm_and_if_neurons_runs_identically() {
        let opts = ArchOptions {
            neuron: crate::nn::arch::NeuronKind::If,
            ..ArchOptions::default()
        };
        let (mut t, test) = train("4C3p1-MP2-AP2-4", &opts, cfg(), true);
        check_equivalence(&mut t, &test);
    }

    #[test]
    fn direct_input_recurrent_layer_and_membrane_readout_run_identically() {
        let opts = ArchOptions {
            output: OutputKind::Membrane { beta: 0.8 },
            spiking: SpikingSpec {
                reset: DiscreteReset::Zero,
                ..SpikingSpec::default()
            },
            ..ArchOptions::default()
        };
        let c = TrainConfig {
            encoding: Encoding::Direct,
            loss: LossSpec::CeMembrane,
            ..cfg()
        };
        let (mut t, test) = train("16-12R-4", &opts, c, false);
        check_equivalence(&mut t, &test);
    }

    #[test]
    fn unsupported_layers_are_refused_with_the_reason() {
        let opts = ArchOptions {
            neuron: crate::nn::arch::NeuronKind::Alif,
            ..ArchOptions::default()
        };
        let (mut t, _) = train("16-8-4", &opts, TrainConfig { epochs: 1, ..cfg() }, false);
        let e = export(&mut t.net, &t.config, 1.0).unwrap_err().to_string();
        assert!(e.contains("adaptive"), "{e}");
    }
}
