//! Evaluation of a saved model: its accuracy in the trainer and, exported
//! ([`crate::export`]), on the event-driven engine — both accuracies, how often their
//! predictions agree, and synaptic operations per inference (`spikelab eval surrogate`).
//!
//! [`evaluate_model`] does it all; the steps are public too ([`load_for_eval`],
//! [`evaluate_in_trainer`], [`export_model`], [`evaluate_exported`]) for callers that
//! report each result as soon as it is known.

use crate::bptt::session::MODEL_FILE;
use crate::bptt::trainer::{evaluate, load_model, EvalResult, Model, Monitor};
use crate::data::Dataset;
use crate::export::{evaluate_on_engine, export, EngineEval, Exported};
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};
use std::path::{Path, PathBuf};

/// What to evaluate and how (the defaults are the command line's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Model file, or a run directory holding `model.safetensors`.
    pub model: PathBuf,
    /// Evaluate on the first N test samples only.
    pub limit: Option<usize>,
    /// Time steps per sample (default: the model's own).
    pub steps: Option<usize>,
    /// Also run the exported network on the event-driven engine.
    pub engine: bool,
    /// Engine time step (ms); the decay β maps to τ_m = −dt/ln β.
    pub dt_ms: f64,
    /// Write the exported engine network as a model file (TOML).
    pub export_toml: Option<PathBuf>,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            model: PathBuf::from("runs").join(MODEL_FILE),
            limit: None,
            steps: None,
            engine: false,
            dt_ms: 1.0,
            export_toml: None,
        }
    }
}

impl EvalConfig {
    /// Whether the model is exported at all (for the engine or the TOML file).
    pub fn exports(&self) -> bool {
        self.engine || self.export_toml.is_some()
    }
}

/// A model file, or `model.safetensors` in a run directory.
pub fn model_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(MODEL_FILE)
    } else {
        path.to_path_buf()
    }
}

/// The model file of `cfg.model` and the model loaded from it, with `cfg.steps`
/// applied.
pub fn load_for_eval(cfg: &EvalConfig) -> Result<(PathBuf, Model)> {
    let path = model_file(&cfg.model);
    let mut model = load_model(&path)?;
    if let Some(t) = cfg.steps {
        if t == 0 {
            return Err(Error::field("steps", "must be at least 1"));
        }
        model.config.steps = t;
        model.net.steps = t;
    }
    Ok((path, model))
}

/// The model in the trainer, on the first `limit` samples of `test`.
pub fn evaluate_in_trainer(
    model: &mut Model,
    test: &Dataset,
    limit: Option<usize>,
    monitor: &mut dyn Monitor,
) -> EvalResult {
    evaluate(&mut model.net, &model.config, test, limit, monitor)
}

/// The exported network and its size.
#[derive(Clone, Debug)]
pub struct ExportSummary {
    /// The network for the engine.
    pub exported: Exported,
    /// Populations of the engine network.
    pub populations: usize,
    /// Projections of the engine network.
    pub projections: usize,
    /// Synapses (expected count over all projections).
    pub synapses: usize,
    /// Engine steps per sample.
    pub engine_steps: usize,
    /// The TOML file written, if asked for.
    pub toml: Option<PathBuf>,
}

/// Exports the model for the engine (time step `cfg.dt_ms`) and writes the TOML file
/// of `cfg.export_toml`.
pub fn export_model(model: &mut Model, cfg: &EvalConfig) -> Result<ExportSummary> {
    let ex = export(&mut model.net, &model.config, cfg.dt_ms)?;
    let synapses: usize = ex
        .spec
        .projections
        .iter()
        .map(|p| p.connectivity.expected_synapses(0, 0) as usize)
        .sum();
    if let Some(p) = &cfg.export_toml {
        let text = ex.spec.to_toml_string()?;
        spikelab_core::io::write_atomic(p, text.as_bytes())
            .map_err(|e| Error::Invalid(format!("cannot write {}: {e}", p.display())))?;
    }
    Ok(ExportSummary {
        populations: ex.spec.populations.len(),
        projections: ex.spec.projections.len(),
        synapses,
        engine_steps: ex.total_steps(),
        toml: cfg.export_toml.clone(),
        exported: ex,
    })
}

/// The engine's evaluation of an exported model and its agreement with the trainer.
#[derive(Clone, Debug)]
pub struct EngineReport {
    /// Accuracy, predictions, synaptic operations and spikes on the engine.
    pub eval: EngineEval,
    /// Percentage of samples on which engine and trainer predict the same class.
    pub agreement: f64,
}

/// Runs the exported model on the engine over the samples the trainer evaluated
/// (`trainer.predictions`, the first `limit` of `test`) and compares predictions.
pub fn evaluate_exported(
    model: &mut Model,
    exported: &Exported,
    test: &Dataset,
    limit: Option<usize>,
    trainer: &EvalResult,
) -> Result<EngineReport> {
    let ev = evaluate_on_engine(&mut model.net, &model.config, exported, test, limit)?;
    let agree = ev
        .predictions
        .iter()
        .zip(&trainer.predictions)
        .filter(|(x, y)| x == y)
        .count();
    let n = limit.unwrap_or(test.len()).min(test.len());
    Ok(EngineReport {
        agreement: 100.0 * agree as f64 / n.max(1) as f64,
        eval: ev,
    })
}

/// Everything [`evaluate_model`] measured.
#[derive(Debug)]
pub struct EvalReport {
    /// The model file evaluated.
    pub model: PathBuf,
    /// Test samples evaluated.
    pub samples: usize,
    /// The trainer's evaluation.
    pub trainer: EvalResult,
    /// The export, when asked for (engine or TOML).
    pub export: Option<ExportSummary>,
    /// The engine's evaluation, with `engine`.
    pub engine: Option<EngineReport>,
}

/// Evaluates the model of `cfg` on `test` in the trainer and, as asked, exported and on
/// the engine.
pub fn evaluate_model(
    cfg: &EvalConfig,
    test: &Dataset,
    monitor: &mut dyn Monitor,
) -> Result<EvalReport> {
    let (path, mut model) = load_for_eval(cfg)?;
    let trainer = evaluate_in_trainer(&mut model, test, cfg.limit, monitor);
    let mut report = EvalReport {
        model: path,
        samples: cfg.limit.unwrap_or(test.len()).min(test.len()),
        trainer,
        export: None,
        engine: None,
    };
    if cfg.exports() {
        let ex = export_model(&mut model, cfg)?;
        if cfg.engine {
            report.engine = Some(evaluate_exported(
                &mut model,
                &ex.exported,
                test,
                cfg.limit,
                &report.trainer,
            )?);
        }
        report.export = Some(ex);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bptt::trainer::tests::toy_data;
    use crate::bptt::trainer::{FitOptions, Silent, TrainConfig, Trainer};
    use crate::data::SampleShape;
    use crate::nn::arch::{parse_arch, ArchOptions};

    #[test]
    fn a_saved_model_agrees_on_the_engine_and_bad_steps_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (train, test) = (toy_data(64, 21), toy_data(24, 22));
        let spec = parse_arch("16-12-4", train.shape(), &ArchOptions::default()).unwrap();
        let cfg = TrainConfig {
            steps: 4,
            batch_size: 16,
            lr: 5e-3,
            ..TrainConfig::default()
        };
        let mut t = Trainer::new(&spec, cfg).unwrap();
        t.fit(&train, None, &FitOptions::default(), &mut Silent)
            .unwrap();
        t.save_model(&dir.path().join(MODEL_FILE)).unwrap();
        let toml = dir.path().join("net.toml");
        let ecfg = EvalConfig {
            model: dir.path().to_path_buf(),
            limit: Some(20),
            engine: true,
            export_toml: Some(toml.clone()),
            ..EvalConfig::default()
        };
        let r = evaluate_model(&ecfg, &test, &mut Silent).unwrap();
        assert_eq!(r.samples, 20);
        assert_eq!(r.trainer.predictions.len(), 20);
        let e = r.engine.unwrap();
        assert_eq!(e.eval.predictions, r.trainer.predictions);
        assert_eq!(e.agreement, 100.0);
        assert!(e.eval.synops_per_inference > 0.0);
        let ex = r.export.unwrap();
        assert!(ex.synapses > 0 && ex.engine_steps >= 4);
        assert!(spikelab_core::network::NetworkSpec::load(&toml).is_ok());
        // Without engine or TOML nothing is exported.
        let plain = EvalConfig {
            engine: false,
            export_toml: None,
            steps: Some(2),
            ..ecfg.clone()
        };
        let r = evaluate_model(&plain, &test, &mut Silent).unwrap();
        assert!(r.export.is_none() && r.engine.is_none());
        let zero = EvalConfig {
            steps: Some(0),
            ..ecfg
        };
        let e = evaluate_model(&zero, &test, &mut Silent).unwrap_err();
        assert!(e.to_string().contains("`steps`"), "{e}");
    }
}
