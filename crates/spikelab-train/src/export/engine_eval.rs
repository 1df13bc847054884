//! Evaluation of an exported network on the engine: replays the trainer's encoded
//! inputs (spikes, or the host block's currents) presentation by presentation and
//! reads predictions, synaptic events and spikes per stage.

use super::{Exported, OutputRead};
use crate::bptt::encode::encode;
use crate::bptt::loss::argmax;
use crate::bptt::trainer::TrainConfig;
use crate::data::Dataset;
use crate::data::SampleShape;
use crate::nn::layers::Pass;
use crate::nn::network::Network;
use crate::nn::tensor::Activation;
use rayon::prelude::*;
use spikelab_core::error::{Error, Result};
use spikelab_core::prelude::*;
use spikelab_core::source::SpikeGenerator;

/// Per presentation: (prediction, synaptic events, spikes per stage).
type Presentation = (usize, u64, Vec<u64>);

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
            data.shape(),
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
