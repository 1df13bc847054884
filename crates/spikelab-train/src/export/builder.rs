//! The engine network under construction: appends the population of each stage and
//! the projections that feed it (composed weights, biases from the bias generator,
//! recurrent weights, max-pool windows), and tracks each stage's lag.

use super::neurons::NeuronStage;
use super::{Stage, Synapse};
use crate::nn::layers::pool::PoolGeom;
use spikelab_core::connectivity::Connectivity;
use spikelab_core::prelude::*;
use spikelab_core::source::SpikeGenerator;

/// The export under construction.
pub(super) struct Builder {
    /// The engine network so far.
    pub spec: NetworkSpec,
    /// Neuron stages so far.
    pub stages: Vec<Stage>,
    /// Source of the next block: (population name, its lag); `None` before the first
    /// stage of a network with direct (host-computed) input.
    pub source: Option<(String, usize)>,
    /// Synapses of the bias projections.
    pub bias_synapses: usize,
    dt_ms: f64,
}

impl Builder {
    /// An engine network of `inputs` spike inputs (`None` for direct input) and the
    /// bias generator firing at every step of a `steps`-step presentation.
    pub fn new(dt_ms: f64, steps: usize, inputs: Option<usize>) -> Self {
        let mut spec = NetworkSpec::new(dt_ms, steps as f64 * dt_ms).threads(1);
        let mut source = None;
        if let Some(n) = inputs {
            spec.populations.push(PopulationSpec::new(
                "input",
                n,
                NeuronSpec::SpikeGenerator(SpikeGenerator::default()),
            ));
            source = Some(("input".to_string(), 0));
        }
        let bias_gen = SpikeGenerator {
            neurons: vec![0; steps],
            times_ms: (0..steps).map(|t| t as f64 * dt_ms).collect(),
        };
        spec.populations.push(PopulationSpec::new(
            "bias",
            1,
            NeuronSpec::SpikeGenerator(bias_gen),
        ));
        Builder {
            spec,
            stages: Vec::new(),
            source,
            bias_synapses: 0,
            dt_ms,
        }
    }

    /// Adds a delta projection `src → dst` given as a synapse list, with a delay of
    /// `delay_steps` steps when given (else the minimum, one step).
    fn connect(
        &mut self,
        src: &str,
        dst: &str,
        pairs: Vec<(u32, u32)>,
        weights: Option<Vec<f64>>,
        delay_steps: Option<usize>,
    ) {
        let w = if weights.is_some() { 0.0 } else { 1.0 };
        let list = Connectivity::List {
            pairs,
            weights,
            delays_ms: None,
        };
        let mut p = ProjectionSpec::new(src, dst, "in", list, w);
        if let Some(d) = delay_steps {
            p = p.with_delay_ms(d as f64 * self.dt_ms);
        }
        self.spec
            .projections
            .push(p.named(&format!("{src}->{dst}")));
    }

    /// Appends the population of neuron layer `layer` (`kind`, `n` neurons) fed by the
    /// current source through the composed weights `w` and bias `b`.
    pub fn add_neuron_stage(
        &mut self,
        layer: usize,
        kind: &str,
        n: usize,
        stage: NeuronStage,
        w: &[Synapse],
        b: &[f32],
    ) {
        let lag = self.source.as_ref().map_or(0, |(_, l)| l + 1);
        let name = format!("l{layer}_{kind}");
        self.spec.populations.push(
            PopulationSpec::new(&name, n, stage.neuron).with_receptor(ReceptorSpec::delta("in")),
        );
        let scale = stage.scale;
        if let Some((src, _)) = self.source.clone() {
            let (pairs, weights) = w
                .iter()
                .map(|&(a, t, x)| ((a, t), (x * scale[t as usize]) as f64))
                .unzip();
            self.connect(&src, &name, pairs, Some(weights), None);
            let (pairs, weights): (Vec<(u32, u32)>, Vec<f64>) = b
                .iter()
                .enumerate()
                .filter(|(_, &x)| x != 0.0)
                .map(|(j, &x)| ((0, j as u32), (x * scale[j]) as f64))
                .unzip();
            if !pairs.is_empty() {
                self.bias_synapses += pairs.len();
                self.connect("bias", &name, pairs, Some(weights), Some(lag));
            }
        }
        if let Some(v) = stage.recurrent {
            let (pairs, weights) = (0..n)
                .flat_map(|k| (0..n).map(move |j| (k, j)))
                .filter(|&(k, j)| v[k * n + j] != 0.0)
                .map(|(k, j)| ((k as u32, j as u32), (v[k * n + j] * scale[j]) as f64))
                .unzip();
            self.connect(&name, &name, pairs, Some(weights), None);
        }
        self.push_stage(name, layer, n, lag, scale);
    }

    /// Appends max pooling `layer` of the current source's spikes: IF neurons with
    /// threshold ½ and reset to zero, each receiving weight 1 from its window (an OR).
    pub fn add_or_pool(&mut self, layer: usize, g: &PoolGeom) {
        let (src, src_lag) = self.source.clone().expect("pooling follows a neuron stage");
        let name = format!("l{layer}_max_pool");
        let n = g.c * g.h_out * g.w_out;
        let or = Iaf::from_discrete(0.5, ResetMode::Value);
        self.spec.populations.push(
            PopulationSpec::new(&name, n, NeuronSpec::If(or))
                .with_receptor(ReceptorSpec::delta("in")),
        );
        self.connect(&src, &name, window_pairs(g), None, None);
        self.push_stage(name, layer, n, src_lag + 1, vec![1.0; n]);
    }

    fn push_stage(&mut self, name: String, layer: usize, n: usize, lag: usize, scale: Vec<f32>) {
        self.stages.push(Stage {
            population: name.clone(),
            layer,
            size: n,
            lag,
            input_scale: scale,
        });
        self.source = Some((name, lag));
    }
}

/// (input, output) pairs of every pooling window, channels-last.
fn window_pairs(g: &PoolGeom) -> Vec<(u32, u32)> {
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
    pairs
}
