//! Training gives bitwise the same weights and losses as recorded before the neuron
//! models, the surrogate and the encoders were reorganised: a few batches of several
//! small networks (every spiking model, every surrogate, every reset, fused and plain
//! convolutions, rate, latency and direct input) are trained and fingerprinted.

use spikelab_core::neuron::discrete_time::DiscreteReset;
use spikelab_train::data::SampleShape;
use spikelab_train::prelude::*;

/// A toy task: 4 classes of 16-pixel images, each class lighting one quadrant.
fn toy_data(n: usize) -> Dataset {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let y = (next() % 4) as u8;
        for p in 0..16 {
            let quadrant = (p / 4 / 2) * 2 + (p % 4) / 2;
            let noise = (next() % 60) as u8;
            images.push(if quadrant == y as usize {
                195 + noise
            } else {
                noise
            });
        }
        labels.push(y);
    }
    spikelab_train::data::dataset(images, labels, FeatShape::image(1, 4, 4))
}

/// FNV-1a over the bits of every parameter value and of the losses.
fn fingerprint(arch: &str, opts: &ArchOptions, config: TrainConfig) -> (u64, f64) {
    let data = toy_data(64);
    let spec = parse_arch(arch, data.shape(), opts).unwrap();
    let mut t = Trainer::new(&spec, config).unwrap();
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |x: u64| {
        for b in x.to_le_bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    };
    let mut last = 0.0;
    for b in 0..4 {
        let idx: Vec<usize> = (b * 16..(b + 1) * 16).collect();
        let (loss, _) = t.train_batch(&data, &idx, 5e-3);
        eat(loss.to_bits());
        last = loss;
    }
    for (_, p) in t.net.named_params() {
        for v in &p.value {
            eat(v.to_bits() as u64);
        }
    }
    (h, last)
}

fn spiking(kind: SurrogateKind, reset: DiscreteReset, learn: Learn, detach: bool) -> SpikingSpec {
    SpikingSpec {
        learn_beta: learn,
        learn_threshold: learn,
        reset,
        detach_reset: detach,
        surrogate: Surrogate::new(kind),
        ..SpikingSpec::default()
    }
}

fn config(encoding: Encoding, loss: LossSpec) -> TrainConfig {
    TrainConfig {
        steps: 6,
        batch_size: 16,
        encoding,
        loss,
        ..TrainConfig::default()
    }
}

#[test]
fn training_results_are_bitwise_those_recorded_before_the_reorganisation() {
    let rate = Encoding::Rate { gain: 1.0 };
    let latency = Encoding::Latency { threshold: 0.01 };
    let cases: Vec<(&str, &str, ArchOptions, TrainConfig)> = vec![
        (
            "lif fast_sigmoid subtract, learnable per neuron",
            "16-12-4",
            ArchOptions {
                spiking: spiking(
                    SurrogateKind::FastSigmoid,
                    DiscreteReset::Subtract,
                    Learn::Neuron,
                    false,
                ),
                ..ArchOptions::default()
            },
            config(rate.clone(), LossSpec::CeCount),
        ),
        (
            "alif atan zero reset",
            "16-12-4",
            ArchOptions {
                neuron: NeuronKind::Alif,
                spiking: spiking(
                    SurrogateKind::Atan,
                    DiscreteReset::Zero,
                    Learn::Layer,
                    false,
                ),
                ..ArchOptions::default()
            },
            config(rate.clone(), LossSpec::CeCount),
        ),
        (
            "if conv (fused) sigmoid, latency",
            "4C3-MP2-4",
            ArchOptions {
                neuron: NeuronKind::If,
                spiking: spiking(
                    SurrogateKind::Sigmoid,
                    DiscreteReset::Subtract,
                    Learn::No,
                    false,
                ),
                ..ArchOptions::default()
            },
            config(latency, LossSpec::CeCount),
        ),
        (
            "alif conv triangle detach, pooled backward",
            "4C3-MP2-4",
            ArchOptions {
                neuron: NeuronKind::Alif,
                spiking: spiking(
                    SurrogateKind::Triangle,
                    DiscreteReset::Subtract,
                    Learn::Neuron,
                    true,
                ),
                ..ArchOptions::default()
            },
            config(rate, LossSpec::parse("mse-count").unwrap()),
        ),
        (
            "rlif straight-through none reset, direct, membrane readout",
            "16-8R-4",
            ArchOptions {
                spiking: spiking(
                    SurrogateKind::StraightThrough,
                    DiscreteReset::None,
                    Learn::Layer,
                    false,
                ),
                output: OutputKind::Membrane { beta: 0.8 },
                ..ArchOptions::default()
            },
            config(Encoding::Direct, LossSpec::CeMembrane),
        ),
    ];
    // Recorded on main at 3bd2866, before the reorganisation.
    let want: [(u64, f64); 5] = [
        (0xb25f6b5eaa93b577, 1.5203096184356866),
        (0x2f15eec3f102ede6, 1.542645494654986),
        (0x711766efb7cbbcbe, 2.101982137849487),
        (0x815effd0a9d25d1e, 4.808750250027515),
        (0xbd14f2d5f0fc4473, 1.4834170257045742),
    ];
    let mut got = Vec::new();
    for (name, arch, opts, cfg) in &cases {
        let f = fingerprint(arch, opts, cfg.clone());
        println!("{name}: ({:#x}, {:?})", f.0, f.1);
        got.push(f);
    }
    for ((name, ..), (g, w)) in cases.iter().zip(got.iter().zip(&want)) {
        assert_eq!(
            g.0, w.0,
            "{name}: weights and losses changed (last loss {})",
            g.1
        );
    }
}
