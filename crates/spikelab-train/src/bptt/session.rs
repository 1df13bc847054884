//! A training session in an output directory: the policy around [`Trainer::fit`] that
//! every training workflow shares (`train surrogate`, `train ann`, `train hybrid`, and
//! any program or binding that trains).
//!
//! * The directory holds `checkpoint.safetensors` while and after training. A new
//!   session refuses to start over a checkpoint unless [`SessionConfig::force`] is set;
//!   [`SessionConfig::resume`] continues it instead (bit for bit, see
//!   [`crate::bptt::trainer`]), raising its epoch count to [`SessionConfig::epochs`] if
//!   that is larger.
//! * Checkpoints are written after every epoch and every
//!   [`SessionConfig::checkpoint_every_s`] seconds within one (0 = epoch ends only).
//! * At the end the model (`model.safetensors`), a summary (`model.json`: network,
//!   steps, configuration, history) and the history as `history.csv` are written.
//!
//! Progress goes to a [`Monitor`]: [`Monitor::on_session_start`] once the trainer is
//! ready (fresh or resumed), then the batch, evaluation and epoch callbacks of
//! [`Trainer::fit`].

use crate::bptt::trainer::{FitOptions, FitOutcome, Monitor, Trainer};
use crate::data::Dataset;
use crate::data::SampleShape;
use crate::nn::tensor::FeatShape;
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};
use std::path::{Path, PathBuf};

/// File name of the checkpoint in a session directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// File name of the trained model in a session directory.
pub const MODEL_FILE: &str = "model.safetensors";

/// Where and how a training session runs (the defaults are the command line's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// Output directory: checkpoint, model, summary, history.
    pub out: PathBuf,
    /// Epochs to reach (a resumed run is extended to this many).
    pub epochs: usize,
    /// Continue the run in `out` from its checkpoint.
    pub resume: bool,
    /// Start over even if `out` holds a checkpoint.
    pub force: bool,
    /// Seconds between checkpoints within an epoch (0 = at epoch ends only).
    pub checkpoint_every_s: f64,
    /// Train on the first N training samples only.
    pub train_limit: Option<usize>,
    /// Evaluate on the first N test samples only.
    pub test_limit: Option<usize>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            out: default_out_dir("784-1000-10"),
            epochs: 1,
            resume: false,
            force: false,
            checkpoint_every_s: 60.0,
            train_limit: None,
            test_limit: None,
        }
    }
}

impl SessionConfig {
    /// The checkpoint file in the output directory.
    pub fn checkpoint(&self) -> PathBuf {
        self.out.join(CHECKPOINT_FILE)
    }
    /// The model file in the output directory.
    pub fn model(&self) -> PathBuf {
        self.out.join(MODEL_FILE)
    }
    /// Checks the fields that do not depend on the directory.
    pub fn validate(&self) -> Result<()> {
        if self.resume && self.force {
            return Err(Error::field(
                "resume",
                "cannot be combined with `force` (continue or start over, not both)",
            ));
        }
        if !(self.checkpoint_every_s.is_finite() && self.checkpoint_every_s >= 0.0) {
            return Err(Error::field(
                "checkpoint_every_s",
                format!(
                    "must be a finite number ≥ 0 (got {})",
                    self.checkpoint_every_s
                ),
            ));
        }
        Ok(())
    }
}

/// The default output directory of an architecture: `runs/<arch>` with every character
/// other than ASCII letters, digits and `.` replaced by `_`.
pub fn default_out_dir(arch: &str) -> PathBuf {
    let name: String = arch
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    PathBuf::from("runs").join(name)
}

/// What a session starts from, reported by [`Monitor::on_session_start`].
pub struct SessionStart<'a> {
    /// The checkpoint it resumed from; `None` for a fresh trainer.
    pub resumed_from: Option<&'a Path>,
    /// The trainer about to train.
    pub trainer: &'a Trainer,
    /// Training samples (after `train_limit`).
    pub train_samples: usize,
    /// Test samples evaluated after each epoch (after `test_limit`).
    pub test_samples: usize,
    /// Shape of a sample.
    pub shape: FeatShape,
}

/// How a session ended.
#[derive(Debug)]
pub struct SessionOutcome {
    /// The trainer at the end.
    pub trainer: Trainer,
    /// Whether every epoch finished or the monitor stopped it.
    pub fit: FitOutcome,
    /// Whether it continued a checkpoint.
    pub resumed: bool,
    /// The model file written.
    pub model: PathBuf,
}

/// Runs a session that trains a fresh `spec` with `config` (see the module docs).
pub fn run_session(
    spec: &crate::nn::network::NetSpec,
    config: &crate::bptt::trainer::TrainConfig,
    train: Dataset,
    test: &Dataset,
    session: &SessionConfig,
    monitor: &mut dyn Monitor,
) -> Result<SessionOutcome> {
    run_session_with(
        |_| Trainer::new(spec, config.clone()),
        train,
        test,
        session,
        monitor,
    )
}

/// Runs a session whose fresh trainer comes from `fresh` (given the sample shape; not
/// called when resuming). Errors of `fresh` come back unchanged.
pub fn run_session_with<E: From<Error>>(
    fresh: impl FnOnce(FeatShape) -> std::result::Result<Trainer, E>,
    mut train: Dataset,
    test: &Dataset,
    session: &SessionConfig,
    monitor: &mut dyn Monitor,
) -> std::result::Result<SessionOutcome, E> {
    session.validate()?;
    if let Some(n) = session.train_limit {
        train = train.truncated(n);
    }
    let ckpt = session.checkpoint();
    let resumed = session.resume;
    let mut trainer = if resumed {
        let trainer = resume(&ckpt, session.epochs)?;
        // What this command asks for must be what the checkpoint was trained with.
        let requested = fresh(train.shape())?;
        check_same_settings(&requested, &trainer, &ckpt)?;
        trainer
    } else {
        if ckpt.exists() && !session.force {
            return Err(Error::Invalid(format!(
                "{} holds a checkpoint; pass --resume to continue it or --force to start over",
                session.out.display()
            ))
            .into());
        }
        fresh(train.shape())?
    };
    monitor.on_session_start(&SessionStart {
        resumed_from: resumed.then_some(ckpt.as_path()),
        trainer: &trainer,
        train_samples: train.len(),
        test_samples: session.test_limit.unwrap_or(test.len()).min(test.len()),
        shape: train.shape(),
    });
    // Model, model.json and history.csv after every epoch, as well as at the end.
    let opts = FitOptions {
        checkpoint: Some(ckpt),
        every_s: session.checkpoint_every_s,
        test_limit: session.test_limit,
        model: Some(session.model()),
        summary_dir: Some(session.out.clone()),
    };
    let fit = trainer.fit(&train, Some(test), &opts, monitor)?;
    let model = session.model();
    trainer.save_model(&model)?;
    write_summary(&session.out, &trainer)?;
    Ok(SessionOutcome {
        trainer,
        fit,
        resumed,
        model,
    })
}

/// A fresh trainer with `config` that starts from the network and weights of the model
/// file `model` (a training run's, a converted one, or one imported from NIR): the
/// fine-tuning start of `train surrogate --init`. Returns it and the number of
/// parameters carried over.
pub fn trainer_from_model(
    model: &Path,
    config: crate::bptt::trainer::TrainConfig,
) -> Result<(Trainer, usize)> {
    let m = crate::bptt::trainer::load_model(&crate::bptt::evaluation::model_file(model))?;
    let mut t = Trainer::new(&m.net.spec, config)?;
    let copied = crate::convert::params::copy_params(&m.net, &mut t.net);
    Ok((t, copied))
}

/// Refuses to resume `resumed` (from `ckpt`) with settings that change the result:
/// the network, or any hyper-parameter but the number of epochs (which a resumed run
/// may extend). Names each difference with both values.
pub fn check_same_settings(requested: &Trainer, resumed: &Trainer, ckpt: &Path) -> Result<()> {
    let (a, b) = (&requested.config, &resumed.config);
    let mut diffs: Vec<String> = Vec::new();
    let mut differ = |name: &str, asked: String, stored: String| {
        if asked != stored {
            diffs.push(format!("{name}: {asked} (checkpoint: {stored})"));
        }
    };
    differ("steps", a.steps.to_string(), b.steps.to_string());
    differ("batch", a.batch_size.to_string(), b.batch_size.to_string());
    differ("lr", a.lr.to_string(), b.lr.to_string());
    differ("seed", a.seed.to_string(), b.seed.to_string());
    differ(
        "encoding",
        format!("{:?}", a.encoding),
        format!("{:?}", b.encoding),
    );
    differ("loss", format!("{:?}", a.loss), format!("{:?}", b.loss));
    differ(
        "optimizer",
        format!("{:?}", a.optimizer),
        format!("{:?}", b.optimizer),
    );
    differ(
        "schedule",
        format!("{:?}", a.schedule),
        format!("{:?}", b.schedule),
    );
    let (x, y) = (&requested.net.spec, &resumed.net.spec);
    if x.input != y.input {
        diffs.push(format!("input: {} (checkpoint: {})", x.input, y.input));
    } else if x.layers.len() != y.layers.len() {
        diffs.push(format!(
            "arch: {} layers (checkpoint: {})",
            x.layers.len(),
            y.layers.len()
        ));
    } else if let Some(i) = (0..x.layers.len()).find(|&i| x.layers[i] != y.layers[i]) {
        diffs.push(format!(
            "arch or neuron options, layer {i}: {:?} (checkpoint: {:?})",
            x.layers[i], y.layers[i]
        ));
    }
    if diffs.is_empty() {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "--resume: {} was trained with other settings: {}; give the checkpoint's settings, or --force to start over",
        ckpt.display(),
        diffs.join("; ")
    )))
}

/// The trainer of checkpoint `ckpt`, extended to at least `epochs` epochs.
fn resume(ckpt: &Path, epochs: usize) -> Result<Trainer> {
    if !ckpt.is_file() {
        return Err(Error::Invalid(format!(
            "--resume: {} does not exist",
            ckpt.display()
        )));
    }
    let mut t = Trainer::resume(ckpt)?;
    if t.config.epochs < epochs {
        t.config.epochs = epochs;
    }
    Ok(t)
}

/// Writes `model.json` (network, steps, configuration, history) and `history.csv`
/// (one row per epoch) of `t` into `dir`.
pub fn write_summary(dir: &Path, t: &Trainer) -> Result<()> {
    let json = serde_json::json!({
        "network": t.net.spec,
        "steps": t.net.steps,
        "config": t.config,
        "history": t.state.history,
    });
    let text = serde_json::to_string_pretty(&json)
        .map_err(|e| Error::Invalid(format!("cannot encode the summary: {e}")))?;
    spikelab_core::io::write_atomic(&dir.join("model.json"), text.as_bytes())?;
    spikelab_core::recording::write_csv(
        &dir.join("history.csv"),
        &[
            "epoch",
            "train_loss",
            "train_accuracy",
            "test_accuracy",
            "lr",
            "seconds",
            "samples_per_s",
        ],
        t.state.history.iter().map(|r| {
            vec![
                r.epoch as f64,
                r.train_loss,
                r.train_accuracy,
                r.test_accuracy.unwrap_or(f64::NAN),
                r.lr as f64,
                r.seconds,
                r.samples_per_s,
            ]
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bptt::trainer::tests::toy_data;
    use crate::bptt::trainer::{Silent, TrainConfig};
    use crate::nn::arch::{parse_arch, ArchOptions};
    use crate::nn::network::NetSpec;

    fn setup() -> (NetSpec, TrainConfig, Dataset, Dataset) {
        let (train, test) = (toy_data(96, 11), toy_data(40, 12));
        let spec = parse_arch("16-12-4", train.shape(), &ArchOptions::default()).unwrap();
        let cfg = TrainConfig {
            steps: 4,
            batch_size: 16,
            epochs: 1,
            lr: 5e-3,
            ..TrainConfig::default()
        };
        (spec, cfg, train, test)
    }

    fn session(out: &Path, epochs: usize) -> SessionConfig {
        SessionConfig {
            out: out.to_path_buf(),
            epochs,
            ..SessionConfig::default()
        }
    }

    #[derive(Default)]
    struct Starts(Vec<(bool, usize, usize)>);
    impl Monitor for Starts {
        fn on_session_start(&mut self, s: &SessionStart<'_>) {
            self.0.push((
                s.resumed_from.is_some(),
                s.trainer.state.epoch,
                s.train_samples,
            ));
        }
    }

    #[test]
    fn a_resumed_session_matches_an_uninterrupted_one_and_writes_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let (spec, cfg, train, test) = setup();
        let whole_cfg = TrainConfig {
            epochs: 2,
            ..cfg.clone()
        };
        let a = dir.path().join("a");
        let whole = run_session(
            &spec,
            &whole_cfg,
            train.clone(),
            &test,
            &session(&a, 2),
            &mut Silent,
        )
        .unwrap();
        assert_eq!(whole.fit, FitOutcome::Finished);
        assert!(!whole.resumed);
        let b = dir.path().join("b");
        run_session(
            &spec,
            &cfg,
            train.clone(),
            &test,
            &session(&b, 1),
            &mut Silent,
        )
        .unwrap();
        let mut starts = Starts::default();
        let cont = SessionConfig {
            resume: true,
            ..session(&b, 2)
        };
        let resumed = run_session(&spec, &cfg, train, &test, &cont, &mut starts).unwrap();
        assert!(resumed.resumed);
        assert_eq!(starts.0, vec![(true, 1, 96)]);
        assert_eq!(resumed.trainer.state.history.len(), 2);
        for ((_, p), (_, q)) in whole
            .trainer
            .net
            .named_params()
            .iter()
            .zip(resumed.trainer.net.named_params().iter())
        {
            assert_eq!(p.value, q.value);
        }
        for f in [MODEL_FILE, CHECKPOINT_FILE, "model.json", "history.csv"] {
            assert!(b.join(f).is_file(), "{f}");
        }
        let csv = std::fs::read_to_string(b.join("history.csv")).unwrap();
        assert_eq!(csv.lines().count(), 3);
    }

    #[test]
    fn a_checkpoint_is_not_overwritten_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let (spec, cfg, train, test) = setup();
        let out = dir.path().join("o");
        let limited = SessionConfig {
            train_limit: Some(32),
            ..session(&out, 1)
        };
        let first = run_session(&spec, &cfg, train.clone(), &test, &limited, &mut Silent).unwrap();
        let e = run_session(&spec, &cfg, train.clone(), &test, &limited, &mut Silent)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--resume") && e.contains("--force"), "{e}");
        // With force it starts over: a fresh trainer, the same result.
        let forced = SessionConfig {
            force: true,
            ..limited.clone()
        };
        let mut starts = Starts::default();
        let again = run_session(&spec, &cfg, train.clone(), &test, &forced, &mut starts).unwrap();
        assert_eq!(starts.0, vec![(false, 0, 32)]);
        assert_eq!(again.trainer.state.history.len(), 1);
        assert_eq!(
            first.trainer.net.named_params()[0].1.value,
            again.trainer.net.named_params()[0].1.value
        );
        // Resuming where there is nothing to resume, and contradictory options.
        let nothing = SessionConfig {
            resume: true,
            ..session(&dir.path().join("empty"), 1)
        };
        let e = run_session(&spec, &cfg, train.clone(), &test, &nothing, &mut Silent)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
        let both = SessionConfig {
            resume: true,
            force: true,
            ..limited
        };
        let e = run_session(&spec, &cfg, train, &test, &both, &mut Silent)
            .unwrap_err()
            .to_string();
        assert!(e.contains("resume") && e.contains("force"), "{e}");
    }

    /// Looks into the output directory at the end of every epoch.
    struct EpochFiles {
        dir: PathBuf,
        seen: Vec<(bool, usize)>,
    }
    impl Monitor for EpochFiles {
        fn on_epoch(&mut self, r: &crate::bptt::trainer::EpochRecord) {
            let model = crate::bptt::trainer::load_model(&self.dir.join(MODEL_FILE))
                .map(|m| m.history.len());
            let history = std::fs::read_to_string(self.dir.join("history.csv")).unwrap_or_default();
            self.seen.push((
                model.ok() == Some(r.epoch),
                history.lines().count().saturating_sub(1),
            ));
        }
    }

    #[test]
    fn the_model_and_its_history_are_written_after_every_epoch() {
        let (spec, mut cfg, train, test) = setup();
        cfg.epochs = 3;
        let dir = tempfile::tempdir().unwrap();
        let mut monitor = EpochFiles {
            dir: dir.path().to_path_buf(),
            seen: Vec::new(),
        };
        run_session(
            &spec,
            &cfg,
            train,
            &test,
            &session(dir.path(), 3),
            &mut monitor,
        )
        .unwrap();
        // After epoch k the model file holds k epochs and history.csv k rows.
        assert_eq!(monitor.seen, vec![(true, 1), (true, 2), (true, 3)]);
        assert!(dir.path().join("model.json").is_file());
    }

    #[test]
    fn resuming_with_other_settings_is_refused_by_name() {
        let (spec, cfg, train, test) = setup();
        let dir = tempfile::tempdir().unwrap();
        run_session(
            &spec,
            &cfg,
            train.clone(),
            &test,
            &session(dir.path(), 1),
            &mut Silent,
        )
        .unwrap();
        let resume = SessionConfig {
            resume: true,
            ..session(dir.path(), 2)
        };
        let other = TrainConfig {
            lr: 1e-2,
            seed: 9,
            ..cfg.clone()
        };
        let e = run_session(&spec, &other, train.clone(), &test, &resume, &mut Silent)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("lr: 0.01 (checkpoint: 0.005)") && e.contains("seed: 9"),
            "{e}"
        );
        let wider = parse_arch("16-20-4", train.shape(), &ArchOptions::default()).unwrap();
        let e = run_session(&wider, &cfg, train.clone(), &test, &resume, &mut Silent)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("out: 20") && e.contains("out: 12"), "{e}");
        // The same settings (and more epochs) resume.
        let more = TrainConfig { epochs: 2, ..cfg };
        let r = run_session(&spec, &more, train, &test, &resume, &mut Silent).unwrap();
        assert!(r.resumed);
        assert_eq!(r.trainer.state.history.len(), 2);
    }
}
