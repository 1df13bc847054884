//! The Diehl & Cook training protocol: present the training images in order for a
//! number of epochs with STDP on, report a running accuracy, checkpoint regularly so
//! a killed run resumes exactly where it stopped, then freeze learning and assign
//! each neuron the class it responds to most on the training set; evaluation
//! classifies by the mean response of each class's neurons.

use super::diehl_cook::{
    assign_labels, classify, classify_weighted, DiehlCook, DiehlCookConfig, DiehlCookError, Labels,
    Result, PIXELS,
};
use crate::checkpoint::{LoadedFile, TensorFile};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Classes of the digit task.
pub const CLASSES: usize = 10;

/// Options of [`train`].
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// The network.
    pub config: DiehlCookConfig,
    /// Passes over the training images.
    pub epochs: usize,
    /// Training images used per epoch (the first ones; all when None).
    pub examples: Option<usize>,
    /// Training images shown with learning frozen to assign labels (the first ones).
    pub assign_examples: usize,
    /// Examples between updates of the running accuracy.
    pub update_interval: usize,
    /// Checkpoint file (written every `checkpoint_every` examples and at the end).
    pub checkpoint: Option<PathBuf>,
    /// Examples between checkpoints.
    pub checkpoint_every: usize,
    /// Seconds between checkpoints (0 = by examples only); whichever comes first.
    pub checkpoint_every_s: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            config: DiehlCookConfig::default(),
            epochs: 1,
            examples: None,
            assign_examples: 10_000,
            update_interval: 250,
            checkpoint: None,
            checkpoint_every: 1000,
            checkpoint_every_s: 0.0,
        }
    }
}

/// Which phase a progress report belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Learning.
    Train,
    /// Frozen pass over training images to assign labels.
    Assign,
    /// Frozen pass over test images.
    Test,
}

/// A progress report.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Phase.
    pub phase: Phase,
    /// Epoch (0-based, training only).
    pub epoch: usize,
    /// Examples done in this phase (over all epochs when training).
    pub done: usize,
    /// Examples in this phase.
    pub total: usize,
    /// Accuracy of the predictions made so far with the labels known at the time.
    pub running_accuracy: Option<f64>,
    /// Mean excitatory spikes per accepted presentation.
    pub mean_spikes: f64,
    /// Seconds since the phase started.
    pub elapsed_s: f64,
}

/// A trained network: what `eval stdp` needs.
pub struct Trained {
    /// The network, learning frozen.
    pub net: DiehlCook,
    /// What each excitatory neuron stands for.
    pub labels: Labels,
    /// Wall time of the learning phase (s), this session only.
    pub train_s: f64,
    /// Examples learned in this session (less than the total when resumed).
    pub trained_examples: usize,
}

/// Result of an evaluation.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Fraction classified correctly (Diehl & Cook's vote: the class whose neurons
    /// respond most on average).
    pub accuracy: f64,
    /// Fraction classified correctly by the proportion-weighted vote.
    pub accuracy_weighted: f64,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<u32>>,
    /// Wall time (s).
    pub wall_s: f64,
}

fn check_data(images: &[u8], labels: &[u8]) -> Result<usize> {
    if !images.len().is_multiple_of(PIXELS) || images.len() / PIXELS != labels.len() {
        return Err(DiehlCookError::Invalid(format!(
            "{} bytes of images do not match {} labels of {PIXELS}-pixel images",
            images.len(),
            labels.len()
        )));
    }
    if let Some(l) = labels.iter().find(|&&l| l as usize >= CLASSES) {
        return Err(DiehlCookError::Invalid(format!(
            "label {l} is not a digit 0-9"
        )));
    }
    Ok(labels.len())
}

fn config_json(c: &DiehlCookConfig) -> String {
    serde_json::to_string(c).expect("config serialises")
}

/// Format tag of STDP network files (files written before the tag existed are
/// recognised by their `recipe` entry).
pub const STDP_FORMAT: &str = "stdp/1";
/// The `recipe` metadata entry of Diehl & Cook files.
const RECIPE: &str = "diehl_cook_2015";

/// Saves a trained or partially trained network with its progress.
fn save(
    net: &DiehlCook,
    path: &Path,
    epoch: usize,
    next: usize,
    labels: Option<&Labels>,
) -> Result<()> {
    let mut file = TensorFile::new(STDP_FORMAT);
    net.save_state(&mut file)?;
    file.meta("recipe", RECIPE.into());
    file.meta("config", config_json(&net.config));
    file.meta("epoch", epoch.to_string());
    file.meta("next_example", next.to_string());
    if let Some(l) = labels {
        let n = l.assignment.len();
        let assignment: Vec<f32> = l.assignment.iter().map(|&x| x as f32).collect();
        file.tensor("assignments".into(), vec![n], &assignment);
        let proportion: Vec<f32> = l.proportion.iter().flatten().copied().collect();
        file.tensor("proportions".into(), vec![CLASSES, n], &proportion);
    }
    file.write(path)?;
    Ok(())
}

/// Loads a network saved by training; returns it with (epoch, next example) and the
/// neurons' labels if training had finished.
pub fn load(path: &Path) -> Result<(DiehlCook, usize, usize, Option<Labels>)> {
    let file = LoadedFile::read_any(path)?;
    let bad = |m: &str| DiehlCookError::Invalid(format!("{}: {m}", path.display()));
    let recipe = file.meta.get("recipe").map(String::as_str);
    match (file.format(), recipe) {
        (Some(STDP_FORMAT) | None, Some(RECIPE)) => {}
        (Some(f), _) if f != STDP_FORMAT => {
            return Err(bad(&format!(
                "is a spikelab `{f}` file, expected `{STDP_FORMAT}` (a Diehl & Cook network)"
            )))
        }
        _ => return Err(bad("not a Diehl & Cook checkpoint")),
    }
    let config: DiehlCookConfig =
        serde_json::from_str(file.meta.get("config").ok_or_else(|| bad("no config"))?)
            .map_err(|e| bad(&format!("bad config: {e}")))?;
    let num = |k: &str| -> Result<usize> {
        file.meta
            .get(k)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad(&format!("no {k}")))
    };
    let (epoch, next) = (num("epoch")?, num("next_example")?);
    // The config is metadata, not covered by the checksum: check its size against the
    // weights before building a network of that size.
    let n = config.n_neurons;
    match file.tensor_shape("weights") {
        Some(s) if s == [PIXELS, n] => {}
        Some(s) => {
            return Err(bad(&format!(
                "config n_neurons = {n} does not match the weights tensor {s:?} (expected [{PIXELS}, {n}])"
            )))
        }
        None => return Err(bad("tensor `weights` is missing")),
    }
    let mut net = DiehlCook::new(config)?;
    net.load_state(&file)?;
    let n = net.config.n_neurons;
    let labels = if file.has_tensor("assignments") {
        let assignment: Vec<u8> = file
            .tensor("assignments", &[n])?
            .iter()
            .map(|&x| x as u8)
            .collect();
        if assignment.iter().any(|&a| a as usize >= CLASSES) {
            return Err(bad("assignments hold a class outside 0-9"));
        }
        let p = file.tensor("proportions", &[CLASSES, n])?;
        let proportion = p.chunks(n).map(|c| c.to_vec()).collect();
        Some(Labels {
            assignment,
            proportion,
        })
    } else {
        None
    };
    Ok((net, epoch, next, labels))
}

/// Runs the protocol. With a checkpoint file that exists and holds the same
/// configuration, training resumes from it.
pub fn train(
    opts: &TrainOptions,
    images: &[u8],
    labels: &[u8],
    mut on_progress: impl FnMut(&Progress),
) -> Result<Trained> {
    let n_data = check_data(images, labels)?;
    let per_epoch = opts.examples.unwrap_or(n_data).min(n_data);
    if per_epoch == 0 || opts.epochs == 0 {
        return Err(DiehlCookError::Invalid(
            "nothing to train: examples and epochs must be at least 1".into(),
        ));
    }
    let (mut net, mut epoch, mut next) = match &opts.checkpoint {
        Some(p) if p.exists() => {
            let (net, e, n, _) = load(p)?;
            if net.config != opts.config {
                return Err(DiehlCookError::Invalid(format!(
                    "{} was written with a different configuration ({}); use another checkpoint path or delete it",
                    p.display(),
                    config_json(&net.config)
                )));
            }
            (net, e, n)
        }
        _ => (DiehlCook::new(opts.config.clone())?, 0, 0),
    };
    net.set_learning(true)?;
    let total = per_epoch * opts.epochs;
    let start = Instant::now();
    let mut window: VecDeque<(Vec<u32>, u8)> = VecDeque::new();
    let mut assignments: Option<Labels> = None;
    let (mut correct, mut judged, mut spikes, mut shown) = (0usize, 0usize, 0u64, 0usize);
    let first_done = epoch * per_epoch + next;
    let mut last_save = std::time::Instant::now();
    while epoch < opts.epochs {
        while next < per_epoch {
            let i = next;
            let key = (epoch * n_data + i) as u64;
            let p = net.present(&images[i * PIXELS..(i + 1) * PIXELS], key)?;
            if let Some(a) = &assignments {
                judged += 1;
                correct += usize::from(classify(&p.counts, a) == labels[i]);
            }
            spikes += p.counts.iter().map(|&c| c as u64).sum::<u64>();
            shown += 1;
            window.push_back((p.counts, labels[i]));
            if window.len() > 4 * opts.update_interval.max(1) {
                window.pop_front();
            }
            next += 1;
            let done = epoch * per_epoch + next;
            if done % opts.update_interval.max(1) == 0 {
                let (r, l): (Vec<Vec<u32>>, Vec<u8>) = window.iter().cloned().unzip();
                assignments = Some(assign_labels(&r, &l, CLASSES));
            }
            if let Some(path) = &opts.checkpoint {
                let by_time = opts.checkpoint_every_s > 0.0
                    && last_save.elapsed().as_secs_f64() >= opts.checkpoint_every_s;
                if done % opts.checkpoint_every.max(1) == 0 || by_time {
                    save(&net, path, epoch, next, None)?;
                    last_save = std::time::Instant::now();
                }
            }
            on_progress(&Progress {
                phase: Phase::Train,
                epoch,
                done,
                total,
                running_accuracy: (judged > 0).then(|| correct as f64 / judged as f64),
                mean_spikes: spikes as f64 / shown as f64,
                elapsed_s: start.elapsed().as_secs_f64(),
            });
        }
        epoch += 1;
        next = 0;
    }
    let train_s = start.elapsed().as_secs_f64();
    if let Some(path) = &opts.checkpoint {
        save(&net, path, epoch, 0, None)?;
    }

    // Labels from a frozen pass over training images.
    net.set_learning(false)?;
    let n_assign = opts.assign_examples.min(n_data).max(1);
    let start = Instant::now();
    let mut responses = Vec::with_capacity(n_assign);
    let mut spikes = 0u64;
    for i in 0..n_assign {
        let p = net.present(
            &images[i * PIXELS..(i + 1) * PIXELS],
            (1u64 << 40) + i as u64,
        )?;
        spikes += p.counts.iter().map(|&c| c as u64).sum::<u64>();
        responses.push(p.counts);
        on_progress(&Progress {
            phase: Phase::Assign,
            epoch,
            done: i + 1,
            total: n_assign,
            running_accuracy: None,
            mean_spikes: spikes as f64 / (i + 1) as f64,
            elapsed_s: start.elapsed().as_secs_f64(),
        });
    }
    let assigned = assign_labels(&responses, &labels[..n_assign], CLASSES);
    if let Some(path) = &opts.checkpoint {
        save(&net, path, epoch, 0, Some(&assigned))?;
    }
    Ok(Trained {
        net,
        labels: assigned,
        train_s,
        trained_examples: total - first_done.min(total),
    })
}

/// Classifies `images` with learning frozen.
pub fn evaluate(
    net: &mut DiehlCook,
    neurons: &Labels,
    images: &[u8],
    labels: &[u8],
    mut on_progress: impl FnMut(&Progress),
) -> Result<Evaluation> {
    let n = check_data(images, labels)?;
    net.set_learning(false)?;
    let start = Instant::now();
    let mut confusion = vec![vec![0u32; CLASSES]; CLASSES];
    let (mut correct, mut correct_weighted, mut spikes) = (0usize, 0usize, 0u64);
    for i in 0..n {
        let p = net.present(
            &images[i * PIXELS..(i + 1) * PIXELS],
            (1u64 << 41) + i as u64,
        )?;
        let pred = classify(&p.counts, neurons);
        confusion[labels[i] as usize][pred as usize] += 1;
        correct += usize::from(pred == labels[i]);
        correct_weighted += usize::from(classify_weighted(&p.counts, neurons) == labels[i]);
        spikes += p.counts.iter().map(|&c| c as u64).sum::<u64>();
        on_progress(&Progress {
            phase: Phase::Test,
            epoch: 0,
            done: i + 1,
            total: n,
            running_accuracy: Some(correct as f64 / (i + 1) as f64),
            mean_spikes: spikes as f64 / (i + 1) as f64,
            elapsed_s: start.elapsed().as_secs_f64(),
        });
    }
    Ok(Evaluation {
        accuracy: correct as f64 / n.max(1) as f64,
        accuracy_weighted: correct_weighted as f64 / n.max(1) as f64,
        confusion,
        wall_s: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> DiehlCook {
        DiehlCook::new(DiehlCookConfig {
            n_neurons: 3,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn networks_round_trip_and_files_of_before_the_format_tag_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let dc = net();
        let labels = Labels {
            assignment: vec![2, 0, 9],
            proportion: (0..CLASSES).map(|c| vec![c as f32 / 10.0; 3]).collect(),
        };
        save(&dc, &path, 1, 7, Some(&labels)).unwrap();
        let file = LoadedFile::read(&path, STDP_FORMAT).unwrap();
        assert_eq!(file.format(), Some(STDP_FORMAT));
        let (back, epoch, next, l) = load(&path).unwrap();
        assert_eq!((epoch, next), (1, 7));
        assert_eq!(l.unwrap(), labels);
        assert_eq!(back.weights(), dc.weights());
        assert_eq!(back.theta(), dc.theta());

        // A file of before the tag: same content, no `spikelab.format`.
        let old = dir.path().join("old.safetensors");
        let mut f = TensorFile::default();
        dc.save_state(&mut f).unwrap();
        f.meta("recipe", RECIPE.into());
        f.meta("config", config_json(&dc.config));
        f.meta("epoch", "0".into());
        f.meta("next_example", "5".into());
        f.write(&old).unwrap();
        let (back, _, next, l) = load(&old).unwrap();
        assert_eq!((next, l), (5, None));
        assert_eq!(back.weights(), dc.weights());

        // Another spikelab file is named for what it is.
        let model = dir.path().join("trainer.safetensors");
        TensorFile::new("model/1").write(&model).unwrap();
        let e = load(&model).err().unwrap().to_string();
        assert!(e.contains("`model/1` file, expected `stdp/1`"), "{e}");
        std::fs::write(&model, b"junk").unwrap();
        assert!(load(&model).is_err());
    }
}
