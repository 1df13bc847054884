//! Networks trained on inputs of the core encoders (here population and phase coding)
//! export to the event-driven engine and give the trainer's predictions there, sample
//! for sample: the engine replays exactly the spikes the trainer saw.

use spikelab_train::bptt::trainer::Silent;
use spikelab_train::data::SampleShape;
use spikelab_train::export::{evaluate_on_engine, export};
use spikelab_train::prelude::*;

/// Four classes of 4×4 images, each lighting one quadrant, with noise.
fn quadrants(n: usize, seed: u64) -> Dataset {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let y = (next() % 4) as usize;
        for p in 0..16 {
            let quadrant = (p / 4 / 2) * 2 + (p % 4) / 2;
            let noise = (next() % 60) as u8;
            images.push(if quadrant == y { 195 + noise } else { noise });
        }
        labels.push(y as u8);
    }
    spikelab_train::data::dataset(images, labels, FeatShape::image(1, 4, 4))
}

#[test]
fn population_and_phase_coded_networks_run_identically_on_the_engine() {
    let (train, test) = (quadrants(300, 1), quadrants(100, 2));
    for (name, arch) in [("population", "6C3p1-MP2-4"), ("phase", "16-24-4")] {
        let encoding = Encoding::named(name, 10, train.shape()).unwrap();
        let input = encoding.input_shape(train.shape()).unwrap();
        let spec = parse_arch(arch, input, &ArchOptions::default()).unwrap();
        let config = TrainConfig {
            steps: 10,
            batch_size: 16,
            epochs: 3,
            lr: 5e-3,
            encoding,
            ..TrainConfig::default()
        };
        let mut t = Trainer::new(&spec, config).unwrap();
        t.fit(&train, None, &FitOptions::default(), &mut Silent)
            .unwrap();
        let exported = export(&mut t.net, &t.config, 1.0).unwrap();
        let engine = evaluate_on_engine(&mut t.net, &t.config, &exported, &test, None).unwrap();
        let trainer = t.evaluate(&test, None, &mut Silent);
        assert_eq!(engine.predictions, trainer.predictions, "{name}");
        assert!(trainer.accuracy > 60.0, "{name}: {}", trainer.accuracy);
    }
}
