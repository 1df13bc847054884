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
//! * Adaptive LIF layers become `lif` populations with the adaptive threshold
//!   `theta_plus = γ/ρ`, `τθ = −dt/ln ρ` (exact; see
//!   `spikelab_core::neuron::lif::discrete`).
//!
//! Not exportable (clear errors): per-neuron decay, β = 0, reset `none`, adaptive LIF
//! with per-neuron thresholds, β = 1 or ρ = 0, ReLU layers, per-step batch norm, max
//! pooling of currents.
//!
//! Files: `pieces.rs` cuts the layer list, `compose.rs` composes linear blocks,
//! `neurons.rs` maps each neuron layer (through the model files' own mappings),
//! `builder.rs` appends populations and projections, `engine_eval.rs` runs the result.

mod builder;
mod compose;
mod engine_eval;
mod neurons;
mod pieces;

pub(crate) use compose::compose;
pub use engine_eval::{evaluate_on_engine, EngineEval};

use crate::bptt::encode::Encoding;
use crate::bptt::trainer::TrainConfig;
use crate::nn::layers::pool::MaxPool2d;
use crate::nn::network::Network;
use builder::Builder;
use neurons::neuron_stage;
use pieces::{pieces, Piece};
use spikelab_core::error::{Error, Result};
use spikelab_core::network::NetworkSpec;

/// A synapse of a composed block: (source, target, weight).
pub(crate) type Synapse = (u32, u32, f32);

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

/// Exports `net` (trained with `config`) for the engine with time step `dt_ms`.
pub fn export(net: &mut Network, config: &TrainConfig, dt_ms: f64) -> Result<Exported> {
    if let Encoding::Sequence { .. } | Encoding::SequencePopulation { .. } = config.encoding {
        return Err(Error::field(
            "encoding",
            "a network trained on sequence input cannot be exported to the engine yet: its input changes at every step, and the engine takes spike trains or a constant current",
        ));
    }
    let pieces = pieces(net)?;
    let steps = config.steps;
    let inputs = config
        .encoding
        .is_spiking()
        .then(|| net.input_shape().len());
    let mut b = Builder::new(dt_ms, steps, inputs);
    let mut pending: Option<(Vec<Synapse>, Vec<f32>)> = None;
    let mut host_layers = None;
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
                pending = Some(block(net, &b, lo, hi, &mut host_layers)?);
            }
            Piece::Neuron(i) => {
                let layer = &net.layers()[i];
                let f = format!("layer[{i}] ({})", layer.kind());
                let (w, bias) = pending.take().ok_or_else(|| {
                    Error::field(&f, "a neuron layer must follow a linear layer for export")
                })?;
                let stage = neuron_stage(layer.as_ref(), &f, dt_ms)?;
                if stage.membrane {
                    readout = OutputRead::Membrane;
                }
                let n = layer.out_shape().len();
                b.add_neuron_stage(i, layer.kind(), n, stage, &w, &bias);
            }
            Piece::Or(i) => {
                let mp = net.layers()[i]
                    .as_any()
                    .downcast_ref::<MaxPool2d>()
                    .expect("max pool layer");
                b.add_or_pool(i, &mp.geom);
            }
        }
    }
    if pending.is_some() || !matches!(pieces.last(), Some(Piece::Neuron(_))) {
        return Err(Error::field(
            "layers",
            "the network must end with a neuron layer (spiking or readout) for export",
        ));
    }
    let mut ex = Exported {
        spec: b.spec,
        steps,
        stages: b.stages,
        host_layers,
        readout,
        bias_synapses: b.bias_synapses,
    };
    ex.spec.simulation.duration_ms = ex.total_steps() as f64 * dt_ms;
    Ok(ex)
}

/// The weights and bias of linear block `lo..hi`: composed from the trainer's layers,
/// or (direct input, first block) computed by the trainer on the host, which
/// `host_layers` then records.
fn block(
    net: &mut Network,
    b: &Builder,
    lo: usize,
    hi: usize,
    host_layers: &mut Option<usize>,
) -> Result<(Vec<Synapse>, Vec<f32>)> {
    if b.source.is_some() {
        let (w, bias, _) = compose(net, lo, hi);
        return Ok((w, bias));
    }
    if host_layers.is_some() || lo != 0 {
        return Err(Error::field(format!("layer[{lo}]"), "unexpected block"));
    }
    *host_layers = Some(hi);
    Ok((Vec::new(), Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bptt::encode::Encoding;
    use crate::bptt::loss::LossSpec;
    use crate::bptt::trainer::{tests::toy_data, FitOptions, Silent, Trainer};
    use crate::data::Dataset;
    use crate::data::SampleShape;
    use crate::nn::arch::{parse_arch, ArchOptions, OutputKind};
    use crate::nn::layers::spiking::{Learn, SpikingSpec};
    use crate::nn::network::LayerSpec;
    use spikelab_core::neuron::discrete_time::DiscreteReset;

    fn train(
        arch: &str,
        opts: &ArchOptions,
        cfg: TrainConfig,
        extra_bn: bool,
    ) -> (Trainer, Dataset) {
        let (train, test) = (toy_data(300, 11), toy_data(120, 12));
        let mut spec = parse_arch(arch, train.shape(), opts).unwrap();
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

    /// An adaptive-LIF network (θ + γ·a thresholds) exported to the engine's LIF with
    /// its adaptive threshold gives the trainer's predictions and, layer by layer, the
    /// same number of spikes (the step-by-step check of the mapping is
    /// `spikelab_core::neuron::lif::discrete`'s engine test).
    #[test]
    fn adaptive_lif_network_runs_identically_on_the_engine() {
        for reset in [DiscreteReset::Subtract, DiscreteReset::Zero] {
            let opts = ArchOptions {
                neuron: crate::nn::arch::NeuronKind::Alif,
                spiking: SpikingSpec {
                    reset,
                    // (a learned β may reach 1, which the engine's adaptive LIF cannot
                    // take: the IF model has no adaptive threshold)
                    learn_threshold: Learn::Layer,
                    ..SpikingSpec::default()
                },
                ..ArchOptions::default()
            };
            let (mut t, test) = train("16-24-4", &opts, cfg(), false);
            assert!(t.net.layers().iter().any(|l| l.kind() == "alif"));
            let ev = check_equivalence(&mut t, &test);
            let tr = t.evaluate(&test, None, &mut Silent);
            let ex = export(&mut t.net, &t.config, 1.0).unwrap();
            for (stage, (_, count)) in ex.stages.iter().zip(&ev.spikes_per_inference) {
                let (_, _, want) = tr
                    .spikes_per_sample
                    .iter()
                    .find(|(l, _, _)| *l == stage.layer)
                    .expect("a spiking layer per stage");
                assert_eq!(count, want, "{reset:?} spikes of {}", stage.population);
            }
            assert!(ev.spikes_per_inference.iter().all(|(_, c)| *c > 0.0));
        }
    }

    #[test]
    fn unsupported_layers_are_refused_with_the_reason() {
        let opts = ArchOptions {
            neuron: crate::nn::arch::NeuronKind::Alif,
            spiking: SpikingSpec {
                learn_threshold: Learn::Neuron,
                ..SpikingSpec::default()
            },
            ..ArchOptions::default()
        };
        let (mut t, _) = train("16-8-4", &opts, TrainConfig { epochs: 1, ..cfg() }, false);
        let e = export(&mut t.net, &t.config, 1.0).unwrap_err().to_string();
        assert!(e.contains("adaptive") && e.contains("per-neuron"), "{e}");
    }
}
