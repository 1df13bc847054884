//! Round trips trainer → NIR → trainer, the discretisation against a direct simulation
//! of NIR's equations, and the refusals.

use super::export::{export_network, ExportOptions};
use super::graph::{NirGraph, NirNode, Op, Padding, Pool2d};
use super::hdf5::{Array, Dtype};
use super::import::{import_graph, ImportOptions};
use super::Discretisation;
use crate::bptt::trainer::TrainConfig;
use crate::nn::arch::{parse_arch, ArchOptions, NeuronKind, OutputKind};
use crate::nn::layers::spiking::{Learn, SpikingSpec};
use crate::nn::layers::Pass;
use crate::nn::network::{AlifSpec, LayerSpec, NetSpec, Network};
use crate::nn::tensor::{Activation, FeatShape, Tensor};
use rand::{Rng, SeedableRng};
use spikelab_core::neuron::discrete_time::DiscreteReset;

fn forward(net: &mut Network, x: &Tensor) -> Vec<f32> {
    let steps = net.steps;
    let rows = x.rows / steps;
    let pass = Pass::eval(steps, rows);
    let out = net.forward(Activation::Dense(x.clone()), &pass);
    let d = out.into_dense(steps).data.clone();
    net.clear();
    d
}

fn random_input(net: &Network, batch: usize, seed: u64) -> Tensor {
    let shape = net.input_shape();
    let mut x = Tensor::zeros(batch * net.steps, shape);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for v in x.data.iter_mut() {
        *v = if rng.random::<f32>() < 0.3 { 1.0 } else { 0.0 };
    }
    x
}

/// Spikelab → NIR file → Spikelab: the same layers, identical parameters, identical
/// outputs.
fn round_trip(spec: &NetSpec, steps: usize, opts: &ExportOptions) -> Network {
    let mut net = Network::build(spec, steps, 7).unwrap();
    // Make every parameter distinct from its initial value (thresholds, decays too).
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for p in net.params_mut() {
        // (IF layers keep their fixed β = 1.)
        if p.name == "beta" && p.value[0] != 1.0 {
            p.value
                .iter_mut()
                .for_each(|v| *v = 0.5 + 0.45 * rng.random::<f32>());
        } else if p.name == "threshold" {
            p.value
                .iter_mut()
                .for_each(|v| *v = 0.3 + rng.random::<f32>());
        } else if p.name == "weight" || p.name == "recurrent" {
            p.value.iter_mut().for_each(|v| *v *= 3.0);
        }
    }
    let loss = match spec.layers.last() {
        Some(LayerSpec::Readout { .. }) => crate::bptt::loss::LossSpec::CeMembrane,
        _ => crate::bptt::loss::LossSpec::CeCount,
    };
    let config = TrainConfig {
        steps,
        loss,
        ..TrainConfig::default()
    };
    let report = export_network(&net, &config, opts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.nir");
    report.graph.write(&path).unwrap();
    let back = import_graph(&NirGraph::read(&path).unwrap(), &ImportOptions::default()).unwrap();
    let mut imported = back.net;
    assert_eq!(imported.spec, net.spec);
    assert_eq!(back.config, config);
    assert_eq!(imported.steps, steps);
    for ((a, p), (b, q)) in net.named_params().iter().zip(imported.named_params()) {
        assert_eq!(*a, b);
        assert_eq!(p.value, q.value, "{a}");
    }
    let x = random_input(&net, 5, 11);
    let (y0, y1) = (forward(&mut net, &x), forward(&mut imported, &x));
    assert_eq!(y0, y1);
    assert!(y0.iter().any(|&v| v != 0.0), "the outputs say nothing");
    imported
}

fn opts(neuron: NeuronKind, output: OutputKind) -> ArchOptions {
    ArchOptions {
        neuron,
        output,
        ..ArchOptions::default()
    }
}

#[test]
fn an_mlp_round_trips_with_identical_weights_and_outputs() {
    let spec = parse_arch(
        "16-24-10",
        FeatShape::image(1, 4, 4),
        &opts(NeuronKind::Lif, OutputKind::Spiking),
    )
    .unwrap();
    round_trip(&spec, 6, &ExportOptions::default());
    // Per-neuron decays and thresholds, reset to zero, exact discretisation, readout.
    let mut spec = parse_arch(
        "16-24-10",
        FeatShape::flat(16),
        &opts(NeuronKind::Lif, OutputKind::Membrane { beta: 0.8 }),
    )
    .unwrap();
    for l in &mut spec.layers {
        if let LayerSpec::Lif(s) = l {
            s.learn_beta = Learn::Neuron;
            s.learn_threshold = Learn::Neuron;
            s.reset = DiscreteReset::Zero;
        }
    }
    round_trip(
        &spec,
        6,
        &ExportOptions {
            dt_ms: 0.5,
            discretisation: Discretisation::Exact,
        },
    );
    // IF neurons.
    let spec = parse_arch(
        "9-20-6",
        FeatShape::flat(9),
        &opts(NeuronKind::If, OutputKind::Spiking),
    )
    .unwrap();
    round_trip(&spec, 5, &ExportOptions::default());
    // As a converted network: IF layers, average pooling, a non-leaky readout (an I
    // node).
    let spec = NetSpec::new(FeatShape::image(1, 6, 6))
        .conv(3, 3)
        .layer(LayerSpec::If(SpikingSpec::default()))
        .layer(LayerSpec::AvgPool2d {
            kernel: 2,
            stride: None,
        })
        .flatten()
        .linear(4)
        .layer(LayerSpec::Readout {
            beta: 1.0,
            learn_beta: false,
        });
    let net = Network::build(&spec, 4, 0).unwrap();
    let g = export_network(&net, &TrainConfig::default(), &ExportOptions::default())
        .unwrap()
        .graph;
    assert!(g.nodes.values().any(|n| matches!(n.op, Op::I { .. })));
    round_trip(&spec, 4, &ExportOptions::default());
}

#[test]
fn a_conv_net_round_trips_channels_first() {
    // Two input channels and a flatten of a multi-channel image exercise the
    // channels-last ↔ channels-first reordering.
    let spec = parse_arch(
        "4C3-MP2-6C3P1-AP2-10",
        FeatShape::image(2, 10, 10),
        &opts(NeuronKind::Lif, OutputKind::Membrane { beta: 0.9 }),
    )
    .unwrap();
    // Pooled to 1 × 1: the linear layer flattens by itself (no flatten layer).
    let small = parse_arch(
        "2C3-MP2-3",
        FeatShape::image(1, 4, 4),
        &opts(NeuronKind::Lif, OutputKind::Spiking),
    )
    .unwrap();
    round_trip(&small, 4, &ExportOptions::default());
    let net = round_trip(&spec, 4, &ExportOptions::default());
    assert!(net
        .spec
        .layers
        .iter()
        .any(|l| matches!(l, LayerSpec::MaxPool2d { .. })));
}

#[test]
fn a_recurrent_net_round_trips_through_a_subgraph() {
    let spec = parse_arch(
        "7-12R-5",
        FeatShape::flat(7),
        &opts(NeuronKind::Lif, OutputKind::Membrane { beta: 0.95 }),
    )
    .unwrap();
    assert!(spec.layers.iter().any(|l| matches!(l, LayerSpec::Rlif(_))));
    let net = Network::build(&spec, 6, 1).unwrap();
    let report = export_network(&net, &TrainConfig::default(), &ExportOptions::default()).unwrap();
    let sub = report
        .graph
        .nodes
        .values()
        .find_map(|n| match &n.op {
            Op::Graph(g) => Some(g),
            _ => None,
        })
        .expect("a subgraph");
    assert!(sub.edges.contains(&("w_rec".into(), "lif".into())));
    round_trip(&spec, 6, &ExportOptions::default());
}

#[test]
fn batch_norm_is_folded_and_dropout_dropped() {
    let spec = NetSpec::new(FeatShape::image(1, 6, 6))
        .conv(3, 3)
        .layer(LayerSpec::BatchNorm {
            per_step: false,
            eps: 1e-5,
            momentum: 0.1,
        })
        .lif(SpikingSpec::default())
        .layer(LayerSpec::Dropout { p: 0.2 })
        .flatten()
        .linear(4)
        .lif(SpikingSpec::default());
    let mut net = Network::build(&spec, 5, 2).unwrap();
    for p in net.params_mut() {
        match p.name.as_str() {
            "running_mean" => p.value.iter_mut().for_each(|v| *v = 0.1),
            "running_var" => p.value.iter_mut().for_each(|v| *v = 0.5),
            "weight" => p.value.iter_mut().for_each(|v| *v *= 4.0),
            _ => {}
        }
    }
    let report = export_network(&net, &TrainConfig::default(), &ExportOptions::default()).unwrap();
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("batch_norm): folded")),
        "{:?}",
        report.notes
    );
    assert!(report.notes.iter().any(|n| n.contains("dropout")));
    let mut back = import_graph(&report.graph, &ImportOptions::default())
        .unwrap()
        .net;
    let x = random_input(&net, 4, 5);
    let (y0, y1) = (forward(&mut net, &x), forward(&mut back, &x));
    let differ = y0.iter().zip(&y1).filter(|(a, b)| a != b).count();
    // Folding changes rounding only: spikes may flip where a membrane sits on the
    // threshold, which random weights make rare.
    assert!(differ * 50 <= y0.len(), "{differ} of {}", y0.len());
}

#[test]
fn what_nir_cannot_say_is_refused_by_name() {
    let cases: Vec<(NetSpec, &str)> = vec![
        (
            NetSpec::new(FeatShape::flat(4))
                .linear(3)
                .layer(LayerSpec::Alif(AlifSpec {
                    neuron: SpikingSpec::default(),
                    rho: 0.9,
                    gamma: 0.5,
                })),
            "adaptive threshold",
        ),
        (
            NetSpec::new(FeatShape::flat(4))
                .linear(3)
                .layer(LayerSpec::Relu),
            "ReLU",
        ),
        (
            NetSpec::new(FeatShape::image(1, 4, 4))
                .conv(2, 3)
                .max_pool(2)
                .lif(SpikingSpec::default()),
            "pools currents",
        ),
        (
            NetSpec::new(FeatShape::flat(4)).linear(3).lif(SpikingSpec {
                reset: DiscreteReset::None,
                ..SpikingSpec::default()
            }),
            "reset `none`",
        ),
    ];
    for (spec, want) in cases {
        let net = Network::build(&spec, 3, 0).unwrap();
        let e = export_network(&net, &TrainConfig::default(), &ExportOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(want) && e.contains("layer["), "{e}");
    }
    let net = Network::build(&NetSpec::new(FeatShape::flat(4)).linear(3), 3, 0).unwrap();
    let e = export_network(
        &net,
        &TrainConfig::default(),
        &ExportOptions {
            dt_ms: -1.0,
            ..ExportOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("dt_ms"), "{e}");
}

fn vals(n: usize, x: f64) -> Array {
    Array::vector(Dtype::F64, vec![x; n])
}

fn chain(ops: Vec<(&str, Op)>) -> NirGraph {
    let mut g = NirGraph::default();
    let mut prev: Option<String> = None;
    for (name, op) in ops {
        if let Some(p) = prev {
            g.edges.push((p, name.to_string()));
        }
        g.nodes.insert(name.to_string(), NirNode::from(op));
        prev = Some(name.to_string());
    }
    g
}

/// NIR's LIF equations stepped by forward Euler with the input held over the step, as
/// a reference for the import's discretisation (reset to v_reset = 0 or by
/// subtraction).
#[allow(clippy::too_many_arguments)]
fn reference_lif(
    w: &[f64],
    b: &[f64],
    n_in: usize,
    tau: f64,
    r: f64,
    v_leak: f64,
    thr: f64,
    dt: f64,
    subtract: bool,
    xs: &[Vec<f64>],
) -> Vec<Vec<f64>> {
    let n = b.len();
    let mut v = vec![0.0; n];
    xs.iter()
        .map(|x| {
            (0..n)
                .map(|o| {
                    let i: f64 = (0..n_in).map(|j| w[o * n_in + j] * x[j]).sum::<f64>() + b[o];
                    v[o] += dt / tau * (v_leak - v[o] + r * i);
                    if v[o] > thr {
                        v[o] = if subtract { v[o] - thr } else { 0.0 };
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect()
}

#[test]
fn a_foreign_lif_graph_runs_as_nir_defines_it() {
    // An snnTorch-style graph without Spikelab metadata, with a gain R·dt/τ ≠ 1 and a
    // leak potential, against a direct simulation of the equations.
    let (n_in, n) = (5, 4);
    let dt = 1e-4;
    let (tau, r, v_leak, thr) = (2e-3, 3.0, 0.2, 1.0);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let w: Vec<f64> = (0..n * n_in)
        .map(|_| rng.random::<f32>() as f64 * 4.0 - 1.0)
        .collect();
    let b: Vec<f64> = (0..n).map(|_| rng.random::<f32>() as f64 * 0.5).collect();
    let g = chain(vec![
        ("input", Op::Input { shape: vec![n_in] }),
        (
            "fc",
            Op::Affine {
                weight: Array::new(Dtype::F32, vec![n, n_in], w.clone()),
                bias: Array::new(Dtype::F32, vec![n], b.clone()),
            },
        ),
        (
            "lif",
            Op::Lif {
                tau: vals(n, tau),
                r: vals(n, r),
                v_leak: vals(n, v_leak),
                v_threshold: vals(n, thr),
                v_reset: vals(n, 0.0),
            },
        ),
        ("output", Op::Output { shape: vec![n] }),
    ]);
    let steps = 40;
    let xs: Vec<Vec<f64>> = (0..steps)
        .map(|_| {
            (0..n_in)
                .map(|_| if rng.random::<f32>() < 0.4 { 1.0 } else { 0.0 })
                .collect()
        })
        .collect();
    for subtract in [false, true] {
        let o = ImportOptions {
            dt_ms: Some(dt * 1e3),
            steps: Some(steps),
            reset: subtract.then_some(DiscreteReset::Subtract),
            ..ImportOptions::default()
        };
        let imp = import_graph(&g, &o).unwrap();
        assert!(
            imp.notes.iter().any(|s| s.contains("v_leak folded")),
            "{:?}",
            imp.notes
        );
        let mut net = imp.net;
        let mut x = Tensor::zeros(steps, FeatShape::flat(n_in));
        for (t, row) in xs.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                x.data[t * n_in + j] = v as f32;
            }
        }
        let y = forward(&mut net, &x);
        let want = reference_lif(&w, &b, n_in, tau, r, v_leak, thr, dt, subtract, &xs);
        let got: Vec<Vec<f64>> = y
            .chunks(n)
            .map(|c| c.iter().map(|&v| f64::from(v)).collect())
            .collect();
        let spikes: f64 = want.iter().flatten().sum();
        assert!(spikes > 5.0, "the reference barely spikes ({spikes})");
        assert_eq!(got, want, "subtract = {subtract}");
    }
}

#[test]
fn snntorch_conventions_give_back_beta_and_the_time_step() {
    // snnTorch writes Leaky(β) as τ = dt/(1 − β), R = τ/dt with dt = 0.1 ms.
    let dt = 1e-4;
    let beta: f64 = 0.9;
    let tau = dt / (1.0 - beta);
    let g = chain(vec![
        ("input", Op::Input { shape: vec![3] }),
        (
            "fc",
            Op::Linear {
                weight: Array::new(Dtype::F32, vec![2, 3], vec![0.5; 6]),
            },
        ),
        (
            "lif",
            Op::Lif {
                tau: vals(2, tau),
                r: vals(2, tau / dt),
                v_leak: vals(2, 0.0),
                v_threshold: vals(2, 1.0),
                v_reset: vals(2, 0.0),
            },
        ),
        ("output", Op::Output { shape: vec![2] }),
    ]);
    let imp = import_graph(&g, &ImportOptions::default()).unwrap();
    assert!((imp.dt_s - dt).abs() < 1e-12);
    assert!(
        imp.notes.iter().any(|n| n.contains("inferred")),
        "{:?}",
        imp.notes
    );
    assert!(
        imp.notes.iter().any(|n| n.contains("reset to zero")),
        "{:?}",
        imp.notes
    );
    match &imp.net.spec.layers[1] {
        LayerSpec::Lif(s) => {
            assert!((f64::from(s.beta) - beta).abs() < 1e-6, "{}", s.beta);
            assert!((s.threshold - 1.0).abs() < 1e-6);
            assert_eq!(s.reset, DiscreteReset::Zero);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn sum_pooling_and_scale_fold_into_the_next_and_previous_weights() {
    let conv = Op::Conv2d {
        input_shape: Some([4, 4]),
        weight: Array::new(
            Dtype::F32,
            vec![2, 1, 3, 3],
            (0..18).map(|i| i as f64 * 0.1).collect(),
        ),
        stride: [1, 1],
        padding: Padding::Same,
        dilation: [1, 1],
        groups: 1,
        bias: vals(2, 0.0),
    };
    let g = chain(vec![
        (
            "input",
            Op::Input {
                shape: vec![1, 4, 4],
            },
        ),
        ("conv", conv),
        (
            "scale",
            Op::Scale {
                scale: Array::vector(Dtype::F32, vec![2.0, 0.5]),
            },
        ),
        (
            "pool",
            Op::SumPool2d(Pool2d {
                kernel_size: [2, 2],
                stride: [2, 2],
                padding: [0, 0],
            }),
        ),
        (
            "flat",
            Op::Flatten {
                input_type: None,
                start_dim: 0,
                end_dim: -1,
            },
        ),
        (
            "fc",
            Op::Linear {
                weight: Array::new(Dtype::F32, vec![3, 8], vec![1.0; 24]),
            },
        ),
        (
            "if",
            Op::If {
                r: vals(3, 1000.0),
                v_threshold: vals(3, 1.0),
                v_reset: vals(3, 0.0),
            },
        ),
        ("output", Op::Output { shape: vec![3] }),
    ]);
    let imp = import_graph(
        &g,
        &ImportOptions {
            dt_ms: Some(1.0),
            ..ImportOptions::default()
        },
    )
    .unwrap();
    let names: Vec<&str> = imp.net.spec.layers.iter().map(|l| l.name()).collect();
    assert_eq!(names, ["conv2d", "avg_pool2d", "flatten", "linear", "if"]);
    let w = crate::convert::params::param(&imp.net, 0, "weight").unwrap();
    // Channel 0 doubled, channel 1 halved (the output channel is the fastest index).
    assert!(
        (w[1] - 0.45).abs() < 1e-6 && (w[2] - 0.2).abs() < 1e-6,
        "{:?}",
        &w[..4]
    );
    let fc = crate::convert::params::param(&imp.net, 3, "weight").unwrap();
    assert!(fc.iter().all(|&v| v == 4.0));
    assert!(imp
        .notes
        .iter()
        .any(|n| n.contains("SumPool2d read as average pooling")));
}

#[test]
fn unsupported_graphs_name_the_node_and_its_type() {
    let lif_with = |n, r: f64, v_reset: f64| Op::Lif {
        tau: vals(n, 0.01),
        r: vals(n, r),
        v_leak: vals(n, 0.0),
        v_threshold: vals(n, 1.0),
        v_reset: vals(n, v_reset),
    };
    let lif = |n| lif_with(n, 10.0, 0.0);
    let fc = |o, i| Op::Linear {
        weight: Array::new(Dtype::F32, vec![o, i], vec![0.1; o * i]),
    };
    let cases: Vec<(NirGraph, &str)> = vec![
        (
            chain(vec![
                ("input", Op::Input { shape: vec![3] }),
                ("fc", fc(2, 3)),
                (
                    "d",
                    Op::Delay {
                        delay: vals(2, 1e-3),
                    },
                ),
                ("output", Op::Output { shape: vec![2] }),
            ]),
            "node `d` (Delay)",
        ),
        (
            chain(vec![
                ("input", Op::Input { shape: vec![3] }),
                ("fc", fc(2, 3)),
                (
                    "c",
                    Op::CubaLif {
                        tau_syn: vals(2, 5e-3),
                        tau_mem: vals(2, 0.01),
                        r: vals(2, 10.0),
                        v_leak: vals(2, 0.0),
                        v_threshold: vals(2, 1.0),
                        v_reset: vals(2, 0.0),
                        w_in: vals(2, 1.0),
                    },
                ),
                ("output", Op::Output { shape: vec![2] }),
            ]),
            "node `c` (CubaLIF)",
        ),
        (
            chain(vec![
                ("input", Op::Input { shape: vec![3] }),
                ("fc", fc(2, 4)),
                ("lif", lif(2)),
                ("output", Op::Output { shape: vec![2] }),
            ]),
            "node `fc` (Linear): weight is 2 × 4, but 3 values arrive",
        ),
        (
            chain(vec![
                ("input", Op::Input { shape: vec![3] }),
                ("fc", fc(2, 3)),
                ("lif", lif_with(2, 10.0, -0.5)),
                ("output", Op::Output { shape: vec![2] }),
            ]),
            "`v_reset` ≠ 0",
        ),
    ];
    for (g, want) in cases {
        let e = import_graph(
            &g,
            &ImportOptions {
                dt_ms: Some(1.0),
                ..ImportOptions::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(want), "{e}");
    }
    // A branch.
    let mut g = chain(vec![
        ("input", Op::Input { shape: vec![3] }),
        ("fc", fc(3, 3)),
        ("lif", lif(3)),
        ("output", Op::Output { shape: vec![3] }),
    ]);
    g.nodes.insert("fc2".into(), fc(3, 3).into());
    g.edges.push(("input".into(), "fc2".into()));
    g.edges.push(("fc2".into(), "lif".into()));
    let e = import_graph(
        &g,
        &ImportOptions {
            dt_ms: Some(1.0),
            ..ImportOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("has 2 outputs") || e.contains("has 2 inputs"),
        "{e}"
    );
    // No time step stated and none to infer.
    let g = chain(vec![
        ("input", Op::Input { shape: vec![3] }),
        ("fc", fc(3, 3)),
        ("lif", lif_with(3, 1.0, 0.0)),
        ("output", Op::Output { shape: vec![3] }),
    ]);
    let mut g2 = g.clone();
    if let Some(n) = g2.nodes.get_mut("lif") {
        if let Op::Lif { tau, .. } = &mut n.op {
            tau.data[1] = 0.02;
        }
    }
    let e = import_graph(&g2, &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("dt_ms"), "{e}");
}
