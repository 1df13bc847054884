//! The `train lsm` workflow: a liquid state machine fitted on the training split of a
//! UCR/UEA problem and evaluated on its test split, written to an output directory —
//! `lsm.safetensors` (the machine, reloadable with [`LiquidStateMachine::load`]),
//! `config.json` (its definition) and `metrics.json` (accuracies, leave-one-out curve,
//! separation, rates, timings, confusion matrix). Files are written atomically, and an
//! existing machine is only replaced with `force`.

use super::machine::{Evaluation, FitReport, LiquidStateMachine, LsmConfig, LsmMonitor};
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};
use spikelab_core::io::write_atomic;
use spikelab_data::images::Split;
use spikelab_data::timeseries::{load_ucr, TimeSeriesSet};
use std::path::{Path, PathBuf};

/// Where the data is, what to build and where to write it.
#[derive(Clone, Debug)]
pub struct LsmSession {
    /// Folder of the `.ts` files (see `spikelab_data::timeseries::find_ts_file`).
    pub data: PathBuf,
    /// UCR/UEA problem name (e.g. `JapaneseVowels`).
    pub series: String,
    /// Output directory.
    pub out: PathBuf,
    /// The machine.
    pub config: LsmConfig,
    /// Threads for the liquid runs (0 = all cores).
    pub threads: usize,
    /// Use only the first N training series.
    pub train_limit: Option<usize>,
    /// Replace a machine already in `out`.
    pub force: bool,
}

/// What a session measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LsmReport {
    /// Problem name.
    pub problem: String,
    /// Training series used.
    pub train_samples: usize,
    /// Test series evaluated.
    pub test_samples: usize,
    /// Liquid neurons (all liquids).
    pub neurons: usize,
    /// Length of a state vector.
    pub state_len: usize,
    /// Class names.
    pub class_names: Vec<String>,
    /// Fit figures.
    pub fit: FitReport,
    /// Test accuracy and confusion.
    pub test: Evaluation,
    /// Wall time of the whole session (s).
    pub elapsed_s: f64,
}

/// The machine file in an output directory.
pub fn model_path(out: &Path) -> PathBuf {
    out.join("lsm.safetensors")
}

/// Loads both splits of the session's problem (the training split cut to the limit).
pub fn load_data(s: &LsmSession) -> Result<(TimeSeriesSet, TimeSeriesSet)> {
    let load = |split: Split| {
        load_ucr(&s.data, &s.series, split).map_err(|e| Error::Invalid(e.to_string()))
    };
    let mut train = load(Split::Train)?;
    let test = load(Split::Test)?;
    if let Some(n) = s.train_limit {
        if n < 2 {
            return Err(Error::field("train_limit", "must be >= 2"));
        }
        train.samples.truncate(n);
    }
    Ok((train, test))
}

fn pretty<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("plain data serialises to JSON")
}

/// Runs the session: fit, evaluate, write the output directory.
pub fn run(s: &LsmSession, monitor: &dyn LsmMonitor) -> Result<(LiquidStateMachine, LsmReport)> {
    let start = std::time::Instant::now();
    let path = model_path(&s.out);
    if path.exists() && !s.force {
        return Err(Error::Invalid(format!(
            "{} already holds a liquid state machine; use --force to replace it or choose another --out",
            s.out.display()
        )));
    }
    s.config.validate()?;
    let (train, test) = load_data(s)?;
    let mut machine =
        LiquidStateMachine::new(s.config.clone(), train.dims, train.class_names.clone())?;
    let fit = machine.fit(&train, s.threads, monitor)?;
    let eval = machine.evaluate(&test, s.threads, monitor)?;
    std::fs::create_dir_all(&s.out).map_err(|e| Error::io("cannot create", &s.out, e))?;
    machine.save(&path)?;
    let report = LsmReport {
        problem: train.name.clone(),
        train_samples: train.len(),
        test_samples: test.len(),
        neurons: machine.built.neurons,
        state_len: machine.state_len(),
        class_names: train.class_names.clone(),
        fit,
        test: eval,
        elapsed_s: start.elapsed().as_secs_f64(),
    };
    write_atomic(&s.out.join("config.json"), pretty(&s.config).as_bytes())?;
    write_atomic(&s.out.join("metrics.json"), pretty(&report).as_bytes())?;
    Ok((machine, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lsm::machine::Quiet;

    fn write_problem(dir: &Path) {
        let ts = |n: usize, seed: u64| {
            let mut text = String::from(
                "@problemName Ramps\n@timeStamps false\n@missing false\n@univariate false\n@dimensions 2\n@equalLength false\n@classLabel true up down\n@data\n",
            );
            for i in 0..n {
                let up = i % 2 == 0;
                let steps = 6 + (i * 7 + seed as usize) % 5;
                let ch0: Vec<String> = (0..steps)
                    .map(|t| {
                        let r = t as f64 / steps as f64;
                        format!("{:.3}", if up { r } else { 1.0 - r })
                    })
                    .collect();
                let ch1: Vec<String> = (0..steps)
                    .map(|t| format!("{:.3}", ((t * 13 + i * 5) % 7) as f64 / 7.0))
                    .collect();
                text.push_str(&format!(
                    "{}:{}:{}\n",
                    ch0.join(","),
                    ch1.join(","),
                    if up { "up" } else { "down" }
                ));
            }
            text
        };
        std::fs::write(dir.join("Ramps_TRAIN.ts"), ts(30, 1)).unwrap();
        std::fs::write(dir.join("Ramps_TEST.ts"), ts(20, 2)).unwrap();
    }

    #[test]
    fn a_session_fits_evaluates_and_writes_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        write_problem(dir.path());
        let mut config = LsmConfig::default();
        config.liquid.excitatory = 80;
        config.liquid.inhibitory = 20;
        config.liquid.groups = 2;
        let s = LsmSession {
            data: dir.path().into(),
            series: "Ramps".into(),
            out: dir.path().join("out"),
            config,
            threads: 2,
            train_limit: None,
            force: false,
        };
        let (_, report) = run(&s, &Quiet).unwrap();
        assert_eq!((report.train_samples, report.test_samples), (30, 20));
        assert!(report.test.accuracy >= 90.0, "{report:?}");
        let metrics: serde_json::Value =
            serde_json::from_slice(&std::fs::read(s.out.join("metrics.json")).unwrap()).unwrap();
        assert_eq!(metrics["test"]["accuracy"], report.test.accuracy);
        let loaded = LiquidStateMachine::load(&model_path(&s.out)).unwrap();
        assert_eq!(loaded.config, s.config);
        // A second run does not overwrite without force; a missing problem names it.
        let e = run(&s, &Quiet).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        let missing = LsmSession {
            series: "Nope".into(),
            force: true,
            ..s
        };
        let e = run(&missing, &Quiet).unwrap_err();
        assert!(e.to_string().contains("Nope_TRAIN.ts"), "{e}");
    }
}
