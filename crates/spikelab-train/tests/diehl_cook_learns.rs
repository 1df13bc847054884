//! A fast check that the Diehl & Cook network learns from a few hundred MNIST images:
//! accuracy well above chance, receptive fields that resemble the digits of their
//! class, and checkpoints that resume to the same weights. Needs the MNIST files in
//! ../shared/data/mnist (skips with a message otherwise); the full 60,000-image run is
//! a benchmark (`spikelab train stdp`).

use spikelab_train::stdp::diehl_cook::{DiehlCookConfig, PIXELS};
use spikelab_train::stdp::train::{evaluate, train, TrainOptions, CLASSES};
use std::io::Read;
use std::path::PathBuf;

fn mnist(split: &str, n: usize) -> Option<(Vec<u8>, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist");
    let read = |name: &str, header: usize, len: usize| -> Option<Vec<u8>> {
        let f = std::fs::File::open(dir.join(format!("{name}.gz"))).ok()?;
        let mut out = vec![0u8; header + len];
        flate2::read::GzDecoder::new(f).read_exact(&mut out).ok()?;
        Some(out.split_off(header))
    };
    let prefix = if split == "train" { "train" } else { "t10k" };
    Some((
        read(&format!("{prefix}-images-idx3-ubyte"), 16, n * PIXELS)?,
        read(&format!("{prefix}-labels-idx1-ubyte"), 8, n)?,
    ))
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (
        a.iter().map(|&x| x as f64).sum::<f64>() / n,
        b.iter().map(|&x| x as f64).sum::<f64>() / n,
    );
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64 - ma, y as f64 - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    sab / (saa * sbb).sqrt().max(1e-12)
}

#[test]
fn learns_digits_from_a_few_hundred_images() {
    let Some((train_x, train_y)) = mnist("train", 400) else {
        eprintln!("SKIPPED: MNIST not found in ../shared/data/mnist");
        return;
    };
    let (test_x, test_y) = mnist("test", 200).expect("MNIST test set");
    let dir = tempfile::tempdir().unwrap();
    let opts = TrainOptions {
        config: DiehlCookConfig {
            n_neurons: 100,
            seed: 1,
            ..Default::default()
        },
        epochs: 1,
        examples: Some(400),
        assign_examples: 400,
        checkpoint: Some(dir.path().join("dc.safetensors")),
        checkpoint_every: 200,
        ..Default::default()
    };
    let mut trained = train(&opts, &train_x, &train_y, |_| {}).unwrap();
    let eval = evaluate(&mut trained.net, &trained.labels, &test_x, &test_y, |_| {}).unwrap();
    assert!(
        eval.accuracy > 0.4,
        "test accuracy {:.3} after 400 images (chance 0.1)",
        eval.accuracy
    );

    // Receptive fields resemble the mean image of the class their neuron votes for;
    // the initial random weights do not.
    let mut class_mean = vec![vec![0f32; PIXELS]; CLASSES];
    let mut count = vec![0f32; CLASSES];
    for (img, &l) in train_x.chunks(PIXELS).zip(&train_y) {
        count[l as usize] += 1.0;
        for (m, &p) in class_mean[l as usize].iter_mut().zip(img) {
            *m += p as f32;
        }
    }
    for (m, c) in class_mean.iter_mut().zip(&count) {
        m.iter_mut().for_each(|x| *x /= c.max(1.0));
    }
    let rf = trained.net.receptive_fields();
    let corr = |fields: &[Vec<f32>]| -> Vec<f64> {
        fields
            .iter()
            .zip(&trained.labels.assignment)
            .map(|(w, &a)| correlation(w, &class_mean[a as usize]))
            .collect()
    };
    let learned = corr(&rf);
    let initial = corr(
        &spikelab_train::stdp::DiehlCook::new(opts.config.clone())
            .unwrap()
            .receptive_fields(),
    );
    let digit_like = |c: &[f64]| c.iter().filter(|&&x| x > 0.3).count();
    assert!(
        digit_like(&learned) >= rf.len() / 10 && digit_like(&initial) == 0,
        "{} of {} receptive fields correlate > 0.3 with their class's mean image (initially {})",
        digit_like(&learned),
        rf.len(),
        digit_like(&initial)
    );
}

#[test]
fn a_resumed_run_ends_with_the_same_weights() {
    let Some((x, y)) = mnist("train", 60) else {
        eprintln!("SKIPPED: MNIST not found in ../shared/data/mnist");
        return;
    };
    let config = DiehlCookConfig {
        n_neurons: 20,
        seed: 3,
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let opts = |path: PathBuf, examples| TrainOptions {
        config: config.clone(),
        examples: Some(examples),
        assign_examples: 10,
        checkpoint: Some(path),
        checkpoint_every: 30,
        ..Default::default()
    };
    // Straight through.
    let whole = train(&opts(dir.path().join("a.safetensors"), 60), &x, &y, |_| {}).unwrap();
    // Killed after 30 examples (the checkpoint of example 30 is on disk), then resumed.
    let path = dir.path().join("b.safetensors");
    let killed = std::panic::catch_unwind(|| {
        train(&opts(path.clone(), 60), &x, &y, |p| {
            if p.done == 30 {
                panic!("killed");
            }
        })
    });
    assert!(killed.is_err());
    let resumed = train(&opts(path, 60), &x, &y, |_| {}).unwrap();
    assert_eq!(resumed.trained_examples, 30);
    let (a, b) = (resumed.net.weights(), whole.net.weights());
    let differing = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert_eq!(
        differing,
        0,
        "{differing} of {} weights differ after resuming",
        a.len()
    );
    assert!(
        resumed.net.theta() == whole.net.theta(),
        "thresholds differ after resuming"
    );
}
