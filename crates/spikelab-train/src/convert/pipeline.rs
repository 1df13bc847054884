//! The conversion workflow end to end (`spikelab convert`): load a trained ANN,
//! evaluate it, convert it ([`super::convert`]), measure accuracy and synaptic
//! operations at every `T` up to `max_steps` ([`super::curve`]), and write the spiking
//! model (`model.safetensors`, `T = steps`), `curve.csv` and `conversion.json` into the
//! output directory. Plots are the caller's (the command line draws `curve.png` and
//! `synops.png` from the report).
//!
//! Progress goes to a [`ConvertMonitor`]: the ANN's evaluation, the conversion's scales
//! and the curve as soon as each is known, and the curve's evaluation progress through
//! [`Monitor::on_eval`].

use super::curve::{accuracy_curve, ann_macs, Curve};
use super::{convert, set_params, ConvertOptions, Converted, ConvertedOutput};
use crate::bptt::encode::Encoding;
use crate::bptt::evaluation::model_file;
use crate::bptt::loss::LossSpec;
use crate::bptt::optim::{OptimizerSpec, Schedule};
use crate::bptt::trainer::{evaluate, load_model, Monitor, Silent, TrainConfig, Trainer};
use crate::data::{load_idx_dataset, Dataset, Split};
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};
use spikelab_core::recording::write_csv;
use std::path::{Path, PathBuf};

/// What to convert and how (the defaults are `spikelab convert`'s).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConvertConfig {
    /// The ANN: a model file or a run directory of ANN training.
    pub model: PathBuf,
    /// Dataset directory (training samples calibrate, test samples evaluate).
    pub data: PathBuf,
    /// Output directory (default: `<model dir>/snn`).
    pub out: Option<PathBuf>,
    /// Input coding: `analog` (or `direct`; pixel intensity as a constant current) or
    /// `rate` (Bernoulli spikes). It sets `options.encoding`.
    pub input: String,
    /// The conversion (its `encoding` is replaced by that of `input`).
    pub options: ConvertOptions,
    /// Time steps stored with the spiking model.
    pub steps: usize,
    /// Largest T of the curve (evaluated at every T from 1 to this).
    pub max_steps: usize,
    /// Evaluate on the first N test samples only.
    pub limit: Option<usize>,
    /// Samples per forward pass of the curve.
    pub batch: usize,
    /// Seed of rate-coded input.
    pub seed: u64,
}

impl Default for ConvertConfig {
    fn default() -> Self {
        ConvertConfig {
            model: PathBuf::from("runs"),
            data: PathBuf::from("../shared/data/mnist"),
            out: None,
            input: "analog".into(),
            options: ConvertOptions::default(),
            steps: 64,
            max_steps: 256,
            limit: None,
            batch: 32,
            seed: 0,
        }
    }
}

/// The input encoding named by `input`: `analog`/`direct` or `rate`.
pub fn input_encoding(input: &str) -> Result<Encoding> {
    match input {
        "analog" | "direct" => Ok(Encoding::Direct),
        "rate" => Ok(Encoding::Rate { gain: 1.0 }),
        other => Err(Error::Invalid(format!(
            "invalid value for `input`: `{other}`; allowed: analog, rate"
        ))),
    }
}

/// The ANN as evaluated before conversion.
#[derive(Clone, Debug)]
pub struct AnnSummary {
    /// Its model file.
    pub model: PathBuf,
    /// Test accuracy (%).
    pub accuracy: f64,
    /// Test samples evaluated.
    pub samples: usize,
    /// Multiply-accumulates per inference.
    pub macs: u64,
}

/// Receives the results of [`convert_model`] as they come (all optional).
pub trait ConvertMonitor: Monitor {
    /// After the ANN's evaluation.
    fn on_ann(&mut self, _ann: &AnnSummary) {}
    /// After the conversion (`seconds` of it, `calibration` samples used).
    fn on_converted(&mut self, _c: &Converted, _seconds: f64, _calibration: usize) {}
    /// After the curve was measured.
    fn on_curve(&mut self, _curve: &Curve, _ann: &AnnSummary) {}
}

impl ConvertMonitor for Silent {}

/// What [`convert_model`] measured and wrote.
#[derive(Debug)]
pub struct ConvertReport {
    /// The ANN before conversion.
    pub ann: AnnSummary,
    /// ANN test accuracy (%).
    pub ann_accuracy: f64,
    /// The conversion (spiking network, parameters, scales, folded ANN).
    pub converted: Converted,
    /// The converted network's curve.
    pub curve: Curve,
    /// The output directory.
    pub out: PathBuf,
    /// Where the spiking model was written.
    pub model: PathBuf,
}

/// The conversion options of `cfg`, checked, with the encoding of its `input`.
fn checked_options(cfg: &ConvertConfig) -> Result<ConvertOptions> {
    let mut opts = cfg.options.clone();
    opts.encoding = input_encoding(&cfg.input)?;
    if cfg.steps == 0 || cfg.max_steps == 0 {
        return Err(Error::Invalid(
            "invalid value for `steps`/`max-steps`: must be at least 1".into(),
        ));
    }
    Ok(opts)
}

/// Runs the conversion workflow of `cfg` (see the module docs).
pub fn convert_model(
    cfg: &ConvertConfig,
    monitor: &mut dyn ConvertMonitor,
) -> Result<ConvertReport> {
    checked_options(cfg)?;
    let train = load_idx_dataset(&cfg.data, Split::Train)?;
    let test = load_idx_dataset(&cfg.data, Split::Test)?;
    convert_model_on(cfg, &train, &test, monitor)
}

/// [`convert_model`] on data sets in memory (`train` calibrates, `test` evaluates);
/// `cfg.data` is not read.
pub fn convert_model_on(
    cfg: &ConvertConfig,
    train: &Dataset,
    test: &Dataset,
    monitor: &mut dyn ConvertMonitor,
) -> Result<ConvertReport> {
    let opts = checked_options(cfg)?;
    let path = model_file(&cfg.model);
    let mut ann = load_model(&path)?;
    let out = cfg
        .out
        .clone()
        .unwrap_or_else(|| path.parent().unwrap_or(Path::new(".")).join("snn"));
    let ann_eval = evaluate(&mut ann.net, &ann.config, test, cfg.limit, &mut Silent);
    let summary = AnnSummary {
        model: path.clone(),
        accuracy: ann_eval.accuracy,
        samples: cfg.limit.unwrap_or(test.len()).min(test.len()),
        macs: ann_macs(&ann.net.spec)?,
    };
    monitor.on_ann(&summary);
    let t0 = std::time::Instant::now();
    let converted = convert(&ann.net, train, &opts)?;
    let calibration = opts.calibration_samples.min(train.len());
    monitor.on_converted(&converted, t0.elapsed().as_secs_f64(), calibration);
    let mut net = converted.network(cfg.max_steps)?;
    let curve = accuracy_curve(
        &mut net,
        &opts.encoding,
        cfg.seed,
        test,
        cfg.limit,
        &(1..=cfg.max_steps).collect::<Vec<_>>(),
        cfg.batch,
        monitor,
    )?;
    monitor.on_curve(&curve, &summary);
    let model = write_outputs(cfg, &opts, &out, &converted, &curve, &summary)?;
    Ok(ConvertReport {
        ann_accuracy: summary.accuracy,
        ann: summary,
        converted,
        curve,
        out,
        model,
    })
}

/// Writes the spiking model, `curve.csv` and `conversion.json`; returns the model file.
fn write_outputs(
    cfg: &ConvertConfig,
    opts: &ConvertOptions,
    out: &Path,
    converted: &Converted,
    curve: &Curve,
    ann: &AnnSummary,
) -> Result<PathBuf> {
    // The spiking model, for evaluation on the engine and hybrid fine-tuning.
    let config = TrainConfig {
        steps: cfg.steps,
        batch_size: cfg.batch,
        epochs: 1,
        lr: 1e-3,
        encoding: opts.encoding.clone(),
        loss: match opts.output {
            ConvertedOutput::Membrane => LossSpec::CeMembrane,
            ConvertedOutput::Spikes => LossSpec::CeCount,
        },
        optimizer: OptimizerSpec::parse("adam", None)?,
        schedule: Schedule::Constant,
        seed: cfg.seed,
        learning: Default::default(),
    };
    let mut t = Trainer::new(&converted.spec, config)?;
    set_params(&mut t.net, &converted.params)?;
    let model = out.join("model.safetensors");
    t.save_model(&model)?;
    write_csv(
        &out.join("curve.csv"),
        &[
            "steps",
            "accuracy",
            "ann_accuracy",
            "synops_per_inference",
            "bias_synops_per_inference",
            "spikes_per_inference",
        ],
        curve.points.iter().map(|p| {
            vec![
                p.steps as f64,
                p.accuracy,
                ann.accuracy,
                p.synops_per_inference,
                p.bias_synops_per_inference,
                p.spikes_per_inference,
            ]
        }),
    )?;
    let json = serde_json::json!({
        "ann_model": ann.model,
        "ann_accuracy": ann.accuracy,
        "ann_macs_per_inference": ann.macs,
        "options": opts,
        "input": cfg.input,
        "scales": converted.scales,
        "folded_ann": converted.folded_ann,
        "snn": converted.spec,
        "curve": curve,
    });
    let text = serde_json::to_string_pretty(&json)
        .map_err(|e| Error::Invalid(format!("cannot encode conversion.json: {e}")))?;
    spikelab_core::io::write_atomic(&out.join("conversion.json"), text.as_bytes())?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_options_are_refused_before_anything_is_read() {
        assert_eq!(input_encoding("direct").unwrap(), Encoding::Direct);
        let e = input_encoding("pixels").unwrap_err().to_string();
        assert!(e.contains("`input`") && e.contains("analog, rate"), "{e}");
        let cfg = ConvertConfig {
            model: PathBuf::from("/nonexistent/model.safetensors"),
            max_steps: 0,
            ..ConvertConfig::default()
        };
        let e = convert_model(&cfg, &mut Silent).unwrap_err().to_string();
        assert!(e.contains("max-steps"), "{e}");
        let cfg = ConvertConfig {
            input: "spikes".into(),
            ..cfg
        };
        let e = convert_model(&cfg, &mut Silent).unwrap_err().to_string();
        assert!(e.contains("`input`"), "{e}");
    }
}
