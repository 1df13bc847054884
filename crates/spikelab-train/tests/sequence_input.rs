//! Sequence input: a sample presented one part per time step (sequential MNIST, time
//! series). The encoding lays the values out as the trainer's rows, and a recurrent
//! network learns a task that only the order of its inputs decides.

use spikelab_train::bptt::encode::{encode, permutation, Encoding};
use spikelab_train::bptt::trainer::{FitOptions, Silent, TrainConfig, Trainer};
use spikelab_train::data::dataset;
use spikelab_train::nn::tensor::Activation;
use spikelab_train::prelude::*;

#[test]
fn each_step_gets_its_part_of_the_sample() {
    let images: Vec<u8> = (0..12).map(|k| (k * 20) as u8).collect(); // 2 samples of 2×3
    let shape = FeatShape::image(1, 2, 3);
    let enc = Encoding::Sequence {
        steps: 2,
        permute_seed: None,
    };
    assert_eq!(enc.input_shape(shape).unwrap(), FeatShape::image(1, 1, 3));
    let Activation::Dense(t) = encode(&enc, &images, shape, &[0, 1], 2, 0) else {
        panic!("sequence input is dense");
    };
    // Row b·T + t holds row t of sample b.
    assert_eq!(t.rows, 4);
    let want: Vec<f32> = images.iter().map(|&b| b as f32 / 255.0).collect();
    assert_eq!(t.data, want);
    // Pixel by pixel: 6 steps of one value.
    let pixels = Encoding::Sequence {
        steps: 6,
        permute_seed: None,
    };
    assert_eq!(pixels.input_shape(shape).unwrap().len(), 1);
    // A permutation is one fixed reordering of every sample.
    let perm = permutation(6, 3);
    let shuffled = Encoding::Sequence {
        steps: 2,
        permute_seed: Some(3),
    };
    let Activation::Dense(p) = encode(&shuffled, &images, shape, &[0, 1], 2, 0) else {
        panic!("dense");
    };
    for b in 0..2 {
        for (k, &src) in perm.iter().enumerate() {
            assert_eq!(p.data[b * 6 + k], want[b * 6 + src]);
        }
    }
    let mut sorted = perm.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..6).collect::<Vec<_>>());
    // Steps must divide the sample.
    let e = Encoding::Sequence {
        steps: 4,
        permute_seed: None,
    }
    .input_shape(shape)
    .unwrap_err()
    .to_string();
    assert!(e.contains("steps") && e.contains("does not divide"), "{e}");
}

/// Samples of 8 steps × 2 channels: a pulse on channel 0 and one on channel 1, in
/// one order (class 0) or the other (class 1). At every step both classes look
/// alike; only the order, which a network must remember across steps, tells them
/// apart.
fn order_task(n: usize, seed: u64) -> Dataset {
    let mut images = Vec::with_capacity(n * 16);
    let mut labels = Vec::with_capacity(n);
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..n {
        let class = (next() % 2) as u8;
        let first = (next() % 3) as usize; // steps 0..2
        let second = 4 + (next() % 3) as usize; // steps 4..6
        let mut x = [0u8; 16];
        let (a, b) = if class == 0 { (0, 1) } else { (1, 0) };
        x[first * 2 + a] = 255;
        x[second * 2 + b] = 255;
        images.extend_from_slice(&x);
        labels.push(class);
    }
    dataset(images, labels, FeatShape::image(1, 8, 2))
}

fn accuracy_on_the_order_task(encoding: Encoding, arch: &str) -> f64 {
    let (train, test) = (order_task(1024, 1), order_task(256, 2));
    let input = encoding.input_shape(FeatShape::image(1, 8, 2)).unwrap();
    let spec = parse_arch(arch, input, &ArchOptions::default()).unwrap();
    let config = TrainConfig {
        steps: 8,
        batch_size: 32,
        epochs: 6,
        lr: 1e-2,
        encoding,
        seed: 5,
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(&spec, config).unwrap();
    t.fit(&train, None, &FitOptions::default(), &mut Silent)
        .unwrap();
    t.evaluate(&test, None, &mut Silent).accuracy
}

#[test]
fn a_recurrent_network_learns_what_only_the_order_of_its_inputs_decides() {
    let sequence = Encoding::Sequence {
        steps: 8,
        permute_seed: None,
    };
    let learned = accuracy_on_the_order_task(sequence, "2-32R-2");
    assert!(learned > 90.0, "sequence input, recurrent: {learned:.1} %");
}

#[test]
fn sequence_networks_are_refused_by_the_engine_export_with_the_reason() {
    let enc = Encoding::Sequence {
        steps: 8,
        permute_seed: None,
    };
    let spec = parse_arch("2-8R-2", FeatShape::image(1, 1, 2), &ArchOptions::default()).unwrap();
    let config = TrainConfig {
        steps: 8,
        encoding: enc,
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(&spec, config.clone()).unwrap();
    let e = spikelab_train::export::export(&mut t.net, &config, 1.0)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("sequence"), "{e}");
    let bad = TrainConfig { steps: 7, ..config };
    let e = Trainer::new(&spec, bad).err().unwrap().to_string();
    assert!(e.contains("steps"), "{e}");
}
