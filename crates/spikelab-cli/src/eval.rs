//! `spikelab eval`: evaluates a trained model on the test split of a dataset with the
//! trainer and, with `--engine`, exports it to a core network and runs it on the
//! event-driven engine: accuracy of both, agreement of their predictions, and
//! synaptic operations per inference (an energy proxy).

use crate::train::set_threads;
use anyhow::{Context, Result};
use clap::Args;
use spikelab_train::export::{evaluate_on_engine, export, EngineEval};
use spikelab_train::prelude::*;
use spikelab_train::trainer::{evaluate, EvalResult};
use std::path::PathBuf;

/// Arguments of `spikelab eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Model file, or a run directory holding model.safetensors.
    #[arg(long)]
    pub model: PathBuf,
    /// Dataset directory (MNIST-format IDX files).
    #[arg(long, default_value = "../shared/data/mnist")]
    pub data: PathBuf,
    /// Evaluate on the first N test samples only.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Also run the exported network on the event-driven engine.
    #[arg(long)]
    pub engine: bool,
    /// Engine time step (ms); the decay β maps to τ_m = −dt/ln β.
    #[arg(long, default_value_t = 1.0)]
    pub dt_ms: f64,
    /// Write the exported engine network as a model file (TOML).
    #[arg(long)]
    pub export_toml: Option<PathBuf>,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// What `spikelab eval` measured.
#[derive(Debug)]
pub struct EvalReport {
    /// The trainer's evaluation.
    pub trainer: EvalResult,
    /// The engine's, with `--engine`.
    pub engine: Option<EngineEval>,
}

/// Runs `spikelab eval`.
pub fn eval(a: &EvalArgs) -> Result<EvalReport> {
    set_threads(a.threads)?;
    let path = if a.model.is_dir() {
        a.model.join("model.safetensors")
    } else {
        a.model.clone()
    };
    let mut model = load_model(&path)?;
    let test = load_idx_dataset(&a.data, Split::Test)?;
    let n = a.limit.unwrap_or(test.len()).min(test.len());
    println!(
        "{}: {} (T={}, encoding {:?}), {n} test samples",
        path.display(),
        model
            .net
            .spec
            .layers
            .iter()
            .map(|l| l.name())
            .collect::<Vec<_>>()
            .join("-"),
        model.config.steps,
        model.config.encoding
    );
    let tr = evaluate(&mut model.net, &model.config, &test, a.limit, &mut Silent);
    println!(
        "trainer: accuracy {:.2}%  loss {:.4}  {:.0} samples/s",
        tr.accuracy,
        tr.loss,
        n as f64 / tr.seconds.max(1e-9)
    );
    for (layer, neurons, s) in &tr.spikes_per_sample {
        println!(
            "  layer {layer}: {s:.1} spikes per sample ({:.4} per neuron per step)",
            s / (*neurons as f64 * model.config.steps as f64)
        );
    }
    let engine = if a.engine || a.export_toml.is_some() {
        let ex = export(&mut model.net, &model.config, a.dt_ms)?;
        let synapses: usize = ex
            .spec
            .projections
            .iter()
            .map(|p| p.connectivity.expected_synapses(0, 0) as usize)
            .sum();
        println!(
            "exported: {} populations, {} projections, {synapses} synapses, {} engine steps per sample",
            ex.spec.populations.len(),
            ex.spec.projections.len(),
            ex.total_steps()
        );
        if let Some(p) = &a.export_toml {
            let text = ex.spec.to_toml_string()?;
            spikelab_train::io::write_atomic(p, text.as_bytes())
                .with_context(|| format!("cannot write {}", p.display()))?;
            println!("wrote {}", p.display());
        }
        if a.engine {
            let ev = evaluate_on_engine(&mut model.net, &model.config, &ex, &test, a.limit)?;
            let agree = ev
                .predictions
                .iter()
                .zip(&tr.predictions)
                .filter(|(x, y)| x == y)
                .count();
            println!(
                "engine:  accuracy {:.2}%  ({:+.2} points vs trainer; predictions agree on {:.2}% of samples)  {:.1} s",
                ev.accuracy,
                ev.accuracy - tr.accuracy,
                100.0 * agree as f64 / n.max(1) as f64,
                ev.seconds
            );
            println!(
                "synaptic operations per inference: {:.0} (of which {:.0} from biases)",
                ev.synops_per_inference, ev.bias_synops_per_inference
            );
            for (pop, s) in &ev.spikes_per_inference {
                println!("  {pop}: {s:.1} spikes per inference");
            }
            Some(ev)
        } else {
            None
        }
    } else {
        None
    };
    Ok(EvalReport {
        trainer: tr,
        engine,
    })
}
