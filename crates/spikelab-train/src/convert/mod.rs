//! ANN→SNN conversion (Diehl et al. 2015; Rueckauer et al. 2017): a ReLU network
//! trained with the same layer code (`spikelab train ann`) becomes a spiking network
//! of integrate-and-fire neurons whose firing rates approximate the ANN's activations.
//!
//! ## Steps
//!
//! 1. **Batch-norm folding.** A batch norm right after a linear or conv layer is folded
//!    into it: `W' = W·γ/√(σ²+ε)`, `b' = (b − μ)·γ/√(σ²+ε) + β` per output channel
//!    (running statistics). Dropout is dropped (the identity at inference).
//! 2. **Activation statistics.** The folded ANN runs on calibration samples (the first
//!    `calibration_samples` of the training set) and records, for every ReLU layer and
//!    the output layer, the maximum and a 65,536-bin histogram of the non-zero
//!    activations (two passes; counts are integers, so the result does not depend on
//!    the number of threads).
//! 3. **Normalisation.** Each layer `l` gets a scale `λ_l`: the maximum activation
//!    (data-based normalisation, Diehl et al. 2015) or the `p`-th percentile of its
//!    non-zero activations (robust normalisation, Rueckauer et al. 2017; p = 99.9 by
//!    default). The input scale `λ_0` is 1 (pixel intensities in [0, 1]). Then either
//!    the weights are normalised (`W'_l = W_l·λ_{l−1}/λ_l`, `b'_l = b_l/λ_l`, threshold
//!    one) or, equivalently for IF neurons, the thresholds are balanced layer by layer
//!    (`W'_l = W_l·λ_{l−1}`, `b'_l = b_l`, threshold `λ_l`). Either way a spike of layer
//!    `l` stands for an activation of `λ_l` and the firing rate per step approximates
//!    `a_l/λ_l`, clipped at 1. A third choice, spike-based layer-wise threshold
//!    balancing (Sengupta et al. 2019, [`ScaleMode::Spikes`]), keeps the ANN's weights
//!    and sets each layer's threshold from the input currents it receives in the
//!    spiking network itself, one layer after the other.
//! 4. **Spiking network.** Every ReLU becomes a layer of IF neurons with reset by
//!    subtraction (no information lost at the reset); biases stay biases, which the
//!    trainer adds at every step: a constant input current (and on the engine, a bias
//!    generator firing every step). Average pooling stays average pooling of spikes
//!    (a linear map of rates). The output layer is a non-leaky integrator (a readout
//!    with β = 1, the membrane sums the logits' input current; default) or IF neurons
//!    whose spike counts decide.
//! 5. **Max pooling** has no exact rate equivalent. [`MaxPoolMode::Spikes`] keeps it as
//!    max pooling of the spikes at each step (an OR of the window: the rate is at least
//!    the largest input rate, so it over-estimates); [`MaxPoolMode::Avg`] replaces it by
//!    average pooling (exact only for an ANN trained with average pooling). The
//!    recommended route is to train the ANN with average pooling (`AP2`).
//!
//! Inputs are analog by default: the pixel intensities are a constant current into the
//! first layer at every step (`Encoding::Direct`, as Rueckauer et al.); rate coding
//! (Bernoulli spikes) is an option. The converted network is an ordinary
//! [`Network`] of the trainer: it evaluates with the trainer, exports to the engine
//! ([`crate::export`]), and fine-tunes with surrogate gradients (hybrid training,
//! [`hybrid_spec`]).

pub mod ann;
pub mod curve;
pub mod fold;
pub mod hybrid;
pub mod options;
pub mod params;
pub mod pipeline;
pub mod scale;
pub mod stats;

pub use fold::fold_batch_norm;
pub use hybrid::hybrid_spec;
pub use options::{ConvertOptions, ConvertedOutput, MaxPoolMode, Normalization, ScaleMode};
pub use params::{copy_params, set_params, NamedParams};
pub use scale::{balance_with_spikes, convert_with_stats, LayerScale};
pub use stats::{activation_stats, ActivationStats, HISTOGRAM_BINS};

use crate::data::Dataset;
use crate::nn::network::{NetSpec, Network};
use spikelab_core::error::Result;

/// The result of [`convert`].
#[derive(Clone, Debug)]
pub struct Converted {
    /// The spiking network.
    pub spec: NetSpec,
    /// Its weights and biases by name (`"<layer>.<weight|bias>"`).
    pub params: NamedParams,
    /// Per weight layer, the normalisation.
    pub scales: Vec<LayerScale>,
    /// The folded ANN (batch norm folded, dropout removed).
    pub folded_ann: NetSpec,
}

impl Converted {
    /// Builds the spiking network for `steps` time steps.
    pub fn network(&self, steps: usize) -> Result<Network> {
        let mut net = Network::build(&self.spec, steps, 0)?;
        set_params(&mut net, &self.params)?;
        Ok(net)
    }
}

/// Converts a trained ReLU network (see the module docs); `calibration` supplies the
/// activation statistics (the training set).
pub fn convert(ann: &Network, calibration: &Dataset, opts: &ConvertOptions) -> Result<Converted> {
    opts.normalization.validate()?;
    let (folded, folded_params) = fold_batch_norm(ann)?;
    let mut fnet = Network::build(&folded, 1, 0)?;
    set_params(&mut fnet, &folded_params)?;
    let stats = activation_stats(
        &mut fnet,
        calibration,
        opts.calibration_samples,
        opts.batch_size,
    )?;
    let converted = convert_with_stats(&fnet, &stats, opts)?;
    if opts.scale == ScaleMode::Spikes {
        balance_with_spikes(&fnet, converted, calibration, opts)
    } else {
        Ok(converted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bptt::encode::Encoding;
    use crate::bptt::trainer::tests::toy_data;
    use crate::bptt::trainer::{evaluate, FitOptions, Silent, TrainConfig, Trainer};
    use crate::convert::curve::{accuracy_curve, powers_of_two};
    use crate::data::SampleShape;
    use crate::nn::arch::{parse_arch, ArchOptions, NeuronKind, OutputKind};
    use crate::nn::layers::spiking::{Learn, SpikingSpec};
    use crate::nn::layers::Pass;
    use crate::nn::network::LayerSpec;
    use crate::nn::tensor::Activation;
    use crate::nn::tensor::{FeatShape, Tensor};

    fn named(net: &Network, name: &str) -> Vec<f32> {
        net.named_params()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.value.clone())
            .unwrap()
    }

    /// Runs `net` on static rows `x` (one step) and returns the output.
    fn run_static(net: &mut Network, x: Tensor) -> Tensor {
        let pass = Pass::eval(1, x.rows);
        let mut a = Activation::Static(x);
        for l in net.layers_mut() {
            a = l.forward(a, &pass);
        }
        a.into_dense(1)
    }

    #[test]
    fn rates_of_a_hand_set_network_are_proportional_to_the_ann_activations() {
        // 3 inputs → 4 ReLUs (with biases) → 2 logits.
        let spec = NetSpec::new(FeatShape::flat(3))
            .linear(4)
            .layer(LayerSpec::Relu)
            .linear(2);
        let mut ann = Network::build(&spec, 1, 0).unwrap();
        let w0 = vec![
            0.5, -0.2, 0.8, 0.1, //
            0.3, 0.4, -0.5, 0.2, //
            -0.1, 0.6, 0.2, 0.3,
        ];
        let b0 = vec![0.05, 0.1, 0.0, -0.02];
        set_params(
            &mut ann,
            &[
                ("0.weight".into(), w0.clone()),
                ("0.bias".into(), b0.clone()),
                (
                    "2.weight".into(),
                    vec![1.0, -1.0, 0.5, 0.5, -0.3, 0.2, 0.1, 0.9],
                ),
                ("2.bias".into(), vec![0.0, 0.1]),
            ],
        )
        .unwrap();
        // Calibration set: a few three-pixel "images".
        let data = crate::data::dataset(
            vec![255, 128, 0, 10, 200, 90, 180, 180, 180, 60, 30, 240],
            vec![0, 1, 0, 1],
            FeatShape::flat(3),
        );
        let opts = ConvertOptions {
            normalization: Normalization::Max,
            ..ConvertOptions::default()
        };
        let c = convert(&ann, &data, &opts).unwrap();
        let names: Vec<&str> = c.spec.layers.iter().map(|l| l.name()).collect();
        assert_eq!(names, ["linear", "if", "linear", "readout"]);
        let lambda = c.scales[0].lambda;
        let steps = 2000;
        let mut snn = c.network(steps).unwrap();
        for s in 0..data.len() {
            let x: Vec<f32> = data.image(s).iter().map(|&b| b as f32 / 255.0).collect();
            let ann_hidden: Vec<f32> = (0..4)
                .map(|j| {
                    let z: f32 = (0..3).map(|i| x[i] * w0[i * 4 + j]).sum::<f32>() + b0[j];
                    z.max(0.0)
                })
                .collect();
            let pass = Pass::eval(steps, 1);
            let a = Activation::Static(Tensor::from_vec(x.clone(), 1, FeatShape::flat(3)));
            let a = snn.layers_mut()[0].forward(a, &pass);
            let spikes = snn.layers_mut()[1].forward(a, &pass).into_dense(steps);
            for (j, a) in ann_hidden.iter().enumerate() {
                let count: f32 = (0..steps).map(|t| spikes.row(t)[j]).sum();
                let rate = count / steps as f32;
                let expected = (a / lambda).min(1.0);
                assert!(
                    (rate - expected).abs() <= 1.5 / steps as f32,
                    "sample {s} neuron {j}: rate {rate} vs a/λ {expected}"
                );
            }
        }
        // With max normalisation no hidden neuron saturates on the calibration set.
        assert!(c.scales[0].max_activation <= lambda);
        // Spike-based balancing: with analog input the first layer's current is the
        // ANN's pre-activation, so its threshold is the largest activation; the ANN's
        // weights are kept.
        let spikes = ConvertOptions {
            scale: ScaleMode::Spikes,
            balance_steps: 16,
            ..opts
        };
        let b = convert(&ann, &data, &spikes).unwrap();
        assert!((b.scales[0].threshold.unwrap() - lambda).abs() < 1e-6);
        assert_eq!(b.scales[0].weight_factor, 1.0);
        assert_eq!(b.params[0].1, w0);
        assert!(b.scales[1].threshold.is_none() && b.scales[1].bias_factor == 1.0 / lambda);
    }

    #[test]
    fn batch_norm_folding_keeps_the_ann_output() {
        let shape = FeatShape::image(2, 6, 6);
        let spec = NetSpec::new(shape)
            .layer(LayerSpec::Conv2d {
                channels: 3,
                kernel: 3,
                stride: 1,
                padding: 1,
                bias: false,
            })
            .layer(LayerSpec::BatchNorm {
                per_step: false,
                eps: 1e-5,
                momentum: 0.1,
            })
            .layer(LayerSpec::Relu)
            .layer(LayerSpec::AvgPool2d {
                kernel: 2,
                stride: None,
            })
            .layer(LayerSpec::Dropout { p: 0.3 })
            .flatten()
            .layer(LayerSpec::Linear { out: 5, bias: true })
            .layer(LayerSpec::BatchNorm {
                per_step: false,
                eps: 1e-3,
                momentum: 0.1,
            })
            .layer(LayerSpec::Relu)
            .linear(4);
        let mut ann = Network::build(&spec, 1, 3).unwrap();
        // Non-trivial statistics and affine parameters.
        for (k, p) in ann.params_mut().into_iter().enumerate() {
            if matches!(
                p.name.as_str(),
                "running_mean" | "running_var" | "weight" | "bias"
            ) && p.kind != crate::nn::layers::ParamKind::Weight
                && p.kind != crate::nn::layers::ParamKind::Bias
            {
                for (i, v) in p.value.iter_mut().enumerate() {
                    let r = ((i * 7 + k * 13) % 11) as f32 / 11.0;
                    *v = match p.name.as_str() {
                        "running_var" => 0.2 + 2.0 * r,
                        "weight" => 0.5 + r,
                        _ => r - 0.5,
                    };
                }
            }
        }
        let (folded_spec, params) = fold_batch_norm(&ann).unwrap();
        assert!(folded_spec
            .layers
            .iter()
            .all(|l| !matches!(l, LayerSpec::BatchNorm { .. } | LayerSpec::Dropout { .. })));
        let mut folded = Network::build(&folded_spec, 1, 0).unwrap();
        set_params(&mut folded, &params).unwrap();
        let x = crate::nn::layers::gradcheck::random_dense(5, shape, 11, 1.0);
        let a = run_static(&mut ann, x.clone());
        let b = run_static(&mut folded, x);
        for (u, v) in a.data.iter().zip(&b.data) {
            assert!((u - v).abs() <= 1e-5 * u.abs().max(1.0), "{u} vs {v}");
        }
        assert!(a.data.iter().any(|v| v.abs() > 1e-3));
    }

    #[test]
    fn scale_factors_of_a_hand_made_activation_set() {
        // 1, 2, …, 1000 with zeros mixed in (ignored, as snntoolbox does).
        let mut v: Vec<f32> = (1..=1000).map(|i| i as f32).collect();
        v.extend(std::iter::repeat_n(0.0, 500));
        let s = ActivationStats::of(&v);
        assert_eq!((s.max, s.count), (1000.0, 1000));
        // numpy.percentile(1..1000, q) = 1 + q/100·999.
        for (q, want) in [(99.9, 999.001), (50.0, 500.5), (90.0, 900.1)] {
            let got = s.percentile(q) as f64;
            assert!((got - want).abs() < 0.05, "p{q}: {got} vs {want}");
        }
        assert_eq!(s.scale(Normalization::Max), 1000.0);
        assert!((s.scale(Normalization::Percentile { p: 99.9 }) - 999.0).abs() < 0.05);
        assert_eq!(
            ActivationStats::of(&[0.0, -1.0]).scale(Normalization::Max),
            1.0
        );

        // A two-layer network with hand-made statistics: λ1 = 4, λ2 = 10.
        let spec = NetSpec::new(FeatShape::flat(2))
            .linear(2)
            .layer(LayerSpec::Relu)
            .linear(2);
        let net = Network::build(&spec, 1, 1).unwrap();
        let stats = vec![
            (1, ActivationStats::of(&[1.0, 4.0, 2.0])),
            (2, ActivationStats::of(&[10.0, 3.0])),
        ];
        let weights = ConvertOptions {
            normalization: Normalization::Max,
            output: ConvertedOutput::Spikes,
            ..ConvertOptions::default()
        };
        let c = convert_with_stats(&net, &stats, &weights).unwrap();
        let (l1, l2) = (&c.scales[0], &c.scales[1]);
        assert_eq!((l1.lambda, l2.lambda), (4.0, 10.0));
        assert_eq!((l1.weight_factor, l1.bias_factor), (0.25, 0.25));
        assert_eq!((l2.weight_factor, l2.bias_factor), (0.4, 0.1));
        assert_eq!((l1.threshold, l2.threshold), (Some(1.0), Some(1.0)));
        let snn = c.network(1).unwrap();
        let w = named(&net, "2.weight");
        let ws = named(&snn, "2.weight");
        for (a, b) in w.iter().zip(&ws) {
            assert!((a * 0.4 - b).abs() < 1e-6);
        }
        // Threshold balancing: the same network with the scale in the thresholds.
        let th = ConvertOptions {
            scale: ScaleMode::Thresholds,
            ..weights
        };
        let c = convert_with_stats(&net, &stats, &th).unwrap();
        assert_eq!(
            (c.scales[0].weight_factor, c.scales[0].threshold),
            (1.0, Some(4.0))
        );
        assert_eq!(
            (c.scales[1].weight_factor, c.scales[1].threshold),
            (4.0, Some(10.0))
        );
        assert!(Normalization::parse("p101").is_err());
        assert_eq!(
            Normalization::parse("p99.9").unwrap(),
            Normalization::Percentile { p: 99.9 }
        );
    }

    #[test]
    fn unsupported_layers_are_named() {
        let data = toy_data(8, 1);
        let shape = data.shape();
        let err = |spec: NetSpec, opts: &ConvertOptions| {
            let net = Network::build(&spec, 1, 0).unwrap();
            convert(&net, &data, opts).unwrap_err().to_string()
        };
        let o = ConvertOptions::default();
        let lif = NetSpec::new(shape)
            .linear(4)
            .lif(SpikingSpec::default())
            .linear(4);
        let e = err(lif, &o);
        assert!(e.contains("layer[1] (lif)") && e.contains("relu"), "{e}");
        let bn_late = NetSpec::new(shape)
            .linear(4)
            .layer(LayerSpec::Relu)
            .layer(LayerSpec::BatchNorm {
                per_step: false,
                eps: 1e-5,
                momentum: 0.1,
            })
            .linear(4);
        let e = err(bn_late, &o);
        assert!(e.contains("layer[2] (batch_norm)"), "{e}");
        let pool_first = NetSpec::new(shape)
            .conv(2, 3)
            .max_pool(2)
            .layer(LayerSpec::Relu)
            .linear(4);
        let e = err(pool_first.clone(), &o);
        assert!(e.contains("layer[1] (max_pool2d)"), "{e}");
        // With average pooling in its place it converts.
        let avg = ConvertOptions {
            max_pool: MaxPoolMode::Avg,
            ..o.clone()
        };
        let net = Network::build(&pool_first, 1, 0).unwrap();
        assert!(convert(&net, &data, &avg).is_ok());
        let relu_out = NetSpec::new(shape).linear(4).layer(LayerSpec::Relu);
        let e = err(relu_out, &o);
        assert!(
            e.contains("layer[1] (relu)") && e.contains("linear layer"),
            "{e}"
        );
    }

    /// A small conv ANN learns the toy task, converts, reaches the ANN's accuracy at
    /// large T on the trainer, and gives the same curve for any thread count.
    #[test]
    fn converted_conv_net_matches_the_ann_and_is_thread_independent() {
        let (train, test) = (toy_data(400, 1), toy_data(200, 2));
        let opts = ArchOptions {
            neuron: NeuronKind::Relu,
            output: OutputKind::Linear,
            ..ArchOptions::default()
        };
        let mut spec = parse_arch("4C3p1-AP2-8-4", train.shape(), &opts).unwrap();
        spec.layers[0] = LayerSpec::Conv2d {
            channels: 4,
            kernel: 3,
            stride: 1,
            padding: 1,
            bias: false,
        };
        spec.layers.insert(
            1,
            LayerSpec::BatchNorm {
                per_step: false,
                eps: 1e-5,
                momentum: 0.1,
            },
        );
        let config = TrainConfig {
            steps: 1,
            batch_size: 16,
            epochs: 3,
            lr: 5e-3,
            encoding: Encoding::Direct,
            ..TrainConfig::default()
        };
        let mut t = Trainer::new(&spec, config.clone()).unwrap();
        t.fit(&train, None, &FitOptions::default(), &mut Silent)
            .unwrap();
        let ann_acc = evaluate(&mut t.net, &config, &test, None, &mut Silent).accuracy;
        assert!(ann_acc > 90.0, "ANN accuracy {ann_acc}");
        let c = convert(&t.net, &train, &ConvertOptions::default()).unwrap();
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    let mut snn = c.network(64).unwrap();
                    accuracy_curve(
                        &mut snn,
                        &Encoding::Direct,
                        0,
                        &test,
                        None,
                        &powers_of_two(64),
                        32,
                        &mut Silent,
                    )
                    .unwrap()
                })
        };
        let curve = run(1);
        let last = curve.points.last().unwrap();
        assert_eq!(last.steps, 64);
        assert!(
            last.accuracy >= ann_acc - 2.0,
            "SNN {} vs ANN {ann_acc}",
            last.accuracy
        );
        assert!(last.synops_per_inference > curve.points[0].synops_per_inference);
        let again = run(3);
        assert_eq!(curve.points, again.points);
        // Rate-coded input works too.
        let mut snn = c.network(64).unwrap();
        let rate = accuracy_curve(
            &mut snn,
            &Encoding::Rate { gain: 1.0 },
            0,
            &test,
            None,
            &[64],
            32,
            &mut Silent,
        )
        .unwrap();
        assert!(rate.points[0].accuracy > 80.0, "{:?}", rate.points);
        // Hybrid spec: IF → LIF at β = 1 with learned leak and threshold.
        let h = hybrid_spec(&c.spec, Learn::Layer, Learn::Layer);
        let mut hn = Network::build(&h, 4, 0).unwrap();
        assert!(copy_params(&snn, &mut hn) >= 6);
        assert!(h
            .layers
            .iter()
            .any(|l| matches!(l, LayerSpec::Lif(s) if s.beta == 1.0)));
    }
}
