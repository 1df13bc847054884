//! Equation models (`model = "equations"`): the same spikes as the built-in models
//! they restate, the JIT bit-identical to the interpreter, results independent of
//! the thread count, and an error naming the equation and term for each kind of
//! mistake.

use spikelab_core::equations::{EquationModel, EquationModelSpec, Execution, Method};
use spikelab_core::neuron::NeuronModel;
use spikelab_core::prelude::*;
use std::path::Path;

fn parse(toml: &str) -> NetworkSpec {
    NetworkSpec::from_toml_str(toml, Path::new("test.toml")).unwrap()
}

/// Spikes (step, neuron) of every population after `ms`, with `threads`.
fn run(spec: &NetworkSpec, threads: usize) -> Vec<Vec<(u64, u32)>> {
    let mut sim = Simulator::build_with_threads(spec, threads).unwrap();
    sim.run_ms(spec.simulation.duration_ms);
    sim.recordings()
        .spikes
        .iter()
        .map(|s| {
            s.steps
                .iter()
                .copied()
                .zip(s.neurons.iter().copied())
                .collect()
        })
        .collect()
}

fn per_neuron(spikes: &[(u64, u32)], n: usize) -> Vec<Vec<u64>> {
    let mut out = vec![Vec::new(); n];
    for &(s, i) in spikes {
        out[i as usize].push(s);
    }
    out
}

/// LIF driven by a constant input and by 50 Poisson inputs through exponential
/// conductances, written as a built-in model or as equations.
fn coba_feedforward(equations: bool, method: &str) -> String {
    let neuron = if equations {
        format!(
            r#"
[population.neuron]
model = "equations"
equations = """
dv/dt = (v_rest + i_bias - v + g_e*(e_e - v) + g_i*(e_i - v)) / tau_m : mV (unless refractory)
dg_e/dt = -g_e / tau_e : 1
dg_i/dt = -g_i / tau_i : 1
"""
threshold = "v >= v_th"
reset = "v = v_reset"
refractory = "5 ms"
method = "{method}"
parameters = {{ tau_m = "20 ms", v_rest = "-60 mV", i_bias = "15 mV", v_th = "-50 mV", v_reset = "-60 mV", e_e = "0 mV", e_i = "-80 mV", tau_e = "5 ms", tau_i = "10 ms" }}
[[population.receptor]]
name = "e"
type = "delta"
variable = "g_e"
[[population.receptor]]
name = "i"
type = "delta"
variable = "g_i"
"#
        )
    } else {
        let integration = if method == "euler" {
            "euler"
        } else {
            "exponential_euler"
        };
        format!(
            r#"
[population.neuron]
model = "lif"
tau_m_ms = 20.0
v_rest_mv = -60.0
v_reset_mv = -60.0
v_thresh_mv = -50.0
t_ref_ms = 5.0
i_bias_mv = 15.0
integration = "{integration}"
[[population.receptor]]
name = "e"
type = "conductance"
tau_ms = 5.0
e_rev_mv = 0.0
[[population.receptor]]
name = "i"
type = "conductance"
tau_ms = 10.0
e_rev_mv = -80.0
"#
        )
    };
    format!(
        r#"
[simulation]
dt_ms = 0.1
duration_ms = 1000.0
seed = 3

[[population]]
name = "input"
size = 50
[population.neuron]
model = "poisson"
rate_hz = 20.0

[[population]]
name = "cells"
size = 40
{neuron}
[population.initial]
v = {{ uniform = {{ low = -60.0, high = -50.0 }} }}

[[projection]]
source = "input"
target = "cells"
receptor = "e"
connectivity = {{ rule = "fixed_probability", p = 0.3 }}
weight = {{ uniform = {{ low = 0.0, high = 0.3 }} }}

[[projection]]
source = "input"
target = "cells"
receptor = "i"
connectivity = {{ rule = "fixed_probability", p = 0.2 }}
weight = {{ uniform = {{ low = 0.0, high = 0.4 }} }}

[[monitor]]
kind = "spikes"
population = "cells"
"#
    )
}

/// Largest shift (in steps) between the k-th spikes of each neuron, and the number
/// of neurons whose spike counts differ.
fn compare(a: &[Vec<u64>], b: &[Vec<u64>]) -> (u64, usize) {
    let mut worst = 0;
    let mut count_diff = 0;
    for (x, y) in a.iter().zip(b) {
        if x.len() != y.len() {
            count_diff += 1;
        }
        for (s, t) in x.iter().zip(y) {
            worst = worst.max(s.abs_diff(*t));
        }
    }
    (worst, count_diff)
}

#[test]
fn coba_equations_give_the_builtin_lif_spikes_within_one_step() {
    for method in ["euler", "exponential_euler"] {
        let builtin = run(&parse(&coba_feedforward(false, method)), 1);
        let eq = run(&parse(&coba_feedforward(true, method)), 1);
        let (a, b) = (per_neuron(&builtin[0], 40), per_neuron(&eq[0], 40));
        let total: usize = a.iter().map(Vec::len).sum();
        assert!(
            total > 200,
            "{method}: the cells must fire ({total} spikes)"
        );
        let (worst, counts) = compare(&a, &b);
        eprintln!("{method}: {total} spikes, worst shift {worst} steps, {counts} neurons with other counts");
        assert!(
            worst <= 1 && counts == 0,
            "{method}: worst shift {worst} steps, {counts} neurons differ"
        );
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let spec = parse(&coba_feedforward(true, "exponential_euler"));
    let one = run(&spec, 1);
    assert!(!one[0].is_empty());
    for threads in [2, 3] {
        assert_eq!(run(&spec, threads), one, "{threads} threads");
    }
}

/// A model with every construct the lowering has: noise, subexpressions, per-neuron
/// constants, functions, conditions, refractoriness, a reset with several
/// statements.
fn kitchen_sink(execution: Execution, method: Method) -> EquationModel {
    let mut spec = EquationModelSpec::new(
        "
        dv/dt = (-(v - v_rest) + delta_t*exp((v - v_t)/delta_t) - r_w*w + drive + sigma*sqrt(tau_m)*xi) / tau_m : mV (unless refractory)
        dw/dt = (a*(v - v_rest) - w) / tau_w : pA
        dy/dt = (clip(v, -70*mV, -40*mV) - y)/(5*ms) + where(v > -55*mV, 1*mV/ms, 0*mV/ms) + 0.1*sin(t/(7*ms))*mV/ms : mV
        drive = i0 * (1 + 0.5*tanh(log(1 + abs(y/mV))) + int(w > 10*pA)) : mV
        i0 : mV (constant)
        ",
    );
    let p = |s: &str| spikelab_core::equations::ParamValue::Text(s.into());
    for (k, v) in [
        ("tau_m", "20 ms"),
        ("v_rest", "-65 mV"),
        ("delta_t", "2 mV"),
        ("v_t", "-52 mV"),
        ("r_w", "0.5 Gohm"),
        ("tau_w", "100 ms"),
        ("a", "2 nS"),
        ("sigma", "1.5 mV"),
        ("b", "5 pA"),
    ] {
        spec.parameters.insert(k.into(), p(v));
    }
    spec.threshold = Some("v > -40*mV or y > -41*mV".into());
    spec.reset = Some("v = -60*mV; w += b\ny = y - 1*mV".into());
    spec.refractory = Some(p("2 ms"));
    spec.execution = execution;
    spec.method = method;
    let mut m = EquationModel::new(spec);
    m.prepare("neuron", 0.1, false).unwrap();
    m
}

#[test]
fn the_jit_is_bit_identical_to_the_interpreter() {
    for method in [Method::Euler, Method::Heun] {
        let jit = kitchen_sink(Execution::Jit, method);
        let interp = kitchen_sink(Execution::Interpreter, method);
        assert!(jit.is_compiled() && !interp.is_compiled());
        let ms = jit.compile_seconds().unwrap();
        eprintln!("{method:?}: compiled in {:.1} ms", ms * 1e3);
        let names = jit.state_names();
        assert_eq!(names, ["v", "w", "y", "i0", "refractory_steps"]);
        // 37 neurons: nine groups of four and one through the scalar path.
        let n = 37;
        let init = |k: usize| -> Vec<f32> {
            (0..n)
                .map(|i| match k {
                    0 => -65.0 + i as f32 * 0.7,
                    1 => i as f32 * 0.3,
                    2 => -60.0,
                    3 => 10.0 + i as f32,
                    _ => 0.0,
                })
                .collect()
        };
        let mut a: Vec<Vec<f32>> = (0..names.len()).map(init).collect();
        let mut b = a.clone();
        let mut fired_a = vec![0u32; n];
        let mut fired_b = vec![0u32; n];
        let mut spikes = 0;
        let mut rng = 12345u64;
        for step in 0..3000 {
            let normals: Vec<f32> = (0..n)
                .map(|_| {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((rng >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.0
                })
                .collect();
            let t = step as f32 * 0.1;
            jit.step_arrays(&mut a, &normals, t, &mut fired_a);
            interp.step_arrays(&mut b, &normals, t, &mut fired_b);
            assert_eq!(fired_a, fired_b, "{method:?} step {step}");
            for k in 0..names.len() {
                for i in 0..n {
                    assert_eq!(
                        a[k][i].to_bits(),
                        b[k][i].to_bits(),
                        "{method:?} step {step} {} neuron {i}: {} vs {}",
                        names[k],
                        a[k][i],
                        b[k][i]
                    );
                }
            }
            spikes += fired_a.iter().sum::<u32>();
        }
        assert!(spikes > 100, "{method:?}: {spikes} spikes");
    }
}

/// Izhikevich (2003) written as equations, with the built-in model's arithmetic
/// order: forward Euler gives the built-in model's spikes bit for bit.
#[test]
fn izhikevich_equations_are_bitwise_the_builtin_model_under_euler() {
    let net = |equations: bool| {
        let neuron = if equations {
            r#"
[population.neuron]
model = "equations"
equations = """
dv/dt = ((0.04/mV*v + 5)*v + 140*mV - u + i_bias) / ms : mV
du/dt = a*(b*v - u) / ms : mV
"""
threshold = "v >= 30*mV"
reset = "v = c; u += d"
method = "euler"
parameters = { a = 0.02, b = 0.2, c = "-50 mV", d = "2 mV", i_bias = "10 mV" }
init = { v = "-65 mV", u = "-13 mV" }
"#
        } else {
            r#"
[population.neuron]
model = "izhikevich"
preset = "chattering"
i_bias = 10.0
integration = "euler"
"#
        };
        parse(&format!(
            r#"
[simulation]
dt_ms = 0.5
duration_ms = 1000.0
[[population]]
name = "n"
size = 5
{neuron}
[[monitor]]
kind = "spikes"
population = "n"
"#
        ))
    };
    let builtin = run(&net(false), 1);
    let eq = run(&net(true), 1);
    assert!(builtin[0].len() > 50, "{} spikes", builtin[0].len());
    assert_eq!(eq, builtin);
}

/// Izhikevich's own scheme (two 0.5 ms half steps of v, then u with the new v, per
/// 1 ms step) as `sequential_euler` with `substeps = { v = 2 }`, against the scheme
/// written out by hand.
#[test]
fn sequential_euler_reproduces_izhikevich_s_published_scheme() {
    let mut spec = EquationModelSpec::new(
        "dv/dt = (0.04/mV*v**2 + 5*v + 140*mV - u + i_in) / ms : mV
         du/dt = a*(b*v - u) / ms : mV",
    );
    let p = |s: &str| spikelab_core::equations::ParamValue::Text(s.into());
    spec.parameters = [
        ("a", "0.02"),
        ("b", "0.2"),
        ("c", "-65 mV"),
        ("d", "8 mV"),
        ("i_in", "10 mV"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), p(v)))
    .collect();
    spec.threshold = Some("v >= 30*mV".into());
    spec.reset = Some("v = c; u += d".into());
    spec.method = Method::SequentialEuler;
    spec.substeps.insert("v".into(), 2);
    let mut m = EquationModel::new(spec);
    m.prepare("neuron", 1.0, false).unwrap();
    let mut arrays = vec![vec![-65.0f32], vec![-13.0f32]];
    let (mut v, mut u) = (-65.0f32, -13.0f32);
    let mut fired = [0u32];
    let mut spikes = 0;
    for step in 0..1000 {
        // Izhikevich (2003), Matlab code: v=v+0.5*(0.04*v.^2+5*v+140-u+I) twice.
        for _ in 0..2 {
            v += 0.5 * (0.04 * (v * v) + 5.0 * v + 140.0 - u + 10.0);
        }
        u += 0.02 * (0.2 * v - u);
        let f = v >= 30.0;
        if f {
            v = -65.0;
            u += 8.0;
            spikes += 1;
        }
        m.step_arrays(&mut arrays, &[], step as f32, &mut fired);
        assert_eq!(
            (fired[0] == 1, arrays[0][0], arrays[1][0]),
            (f, v, u),
            "step {step}"
        );
    }
    assert!(spikes > 5);
}

/// A LIF neuron with a constant drive fires with the analytic period
/// `t_ref + τ ln(I / (I − (θ − v_r)))`, by exact integration.
#[test]
fn an_equation_lif_fires_at_the_analytic_rate() {
    let net = parse(
        r#"
[simulation]
dt_ms = 0.01
duration_ms = 500.0
[[population]]
name = "n"
size = 1
[population.neuron]
model = "equations"
equations = "dv/dt = (v_rest - v + i_bias) / tau : mV (unless refractory)"
threshold = "v > v_th"
reset = "v = v_rest"
refractory = "2 ms"
parameters = { v_rest = "-70 mV", i_bias = "25 mV", tau = "10 ms", v_th = "-55 mV" }
init = { v = "-70 mV" }
[[monitor]]
kind = "spikes"
population = "n"
"#,
    );
    let mut sim = Simulator::build_with_threads(&net, 1).unwrap();
    sim.run_ms(500.0);
    let t = sim.recordings().spikes[0].times_ms(0.01);
    let period = 2.0 + 10.0 * (25.0f64 / (25.0 - 15.0)).ln();
    let measured = (t[t.len() - 1] - t[0]) / (t.len() - 1) as f64;
    assert!((measured - period).abs() < 0.011, "{measured} vs {period}");
    assert!(
        (t[0] - 10.0 * 2.5f64.ln()).abs() < 0.011,
        "first spike {}",
        t[0]
    );
}

fn model_error(equations: &str, edit: impl FnOnce(&mut EquationModelSpec)) -> String {
    let mut spec = EquationModelSpec::new(equations);
    let p = |s: &str| spikelab_core::equations::ParamValue::Text(s.into());
    for (k, v) in [
        ("v_rest", "-60 mV"),
        ("tau", "10 ms"),
        ("i_bias", "20 mV"),
        ("r", "10 Mohm"),
    ] {
        spec.parameters.insert(k.into(), p(v));
    }
    edit(&mut spec);
    let mut m = EquationModel::new(spec);
    m.prepare("population[n].neuron", 0.1, false)
        .unwrap_err()
        .to_string()
}

fn has(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "`{p}` missing from: {msg}");
    }
}

#[test]
fn every_kind_of_mistake_names_the_equation_and_the_term() {
    let none = |_: &mut EquationModelSpec| {};
    has(
        &model_error("dv/dt = (v_rest - v + i_bias*r) / tau : mV", none),
        &[
            "population[n].neuron.equations",
            "dv/dt",
            "`v_rest - v` is volt but `i_bias*r` is",
        ],
    );
    has(
        &model_error("dv/dt = v_rest - v : mV", none),
        &["dv/dt", "`v_rest - v` is volt but must be volt/second"],
    );
    has(
        &model_error("dv/dt = (v_rst - v)/tau : mV", none),
        &["dv/dt", "unknown name `v_rst`"],
    );
    has(
        &model_error("dv/dt = foo(v)/tau : mV", none),
        &["unknown function `foo`", "exp, exprel, log"],
    );
    has(
        &model_error("dv/dt = -v/tau : mVolt", none),
        &["dv/dt", "unknown unit `mVolt`"],
    );
    has(
        &model_error("dv/dt = (v - 1 : mV", none),
        &["equations", "`dv/dt = (v - 1 : mV`"],
    );
    has(
        &model_error("dv/dt = -v/tau : mV (unles refractory)", none),
        &[
            "dv/dt",
            "unknown flag `(unles refractory)`",
            "unless refractory",
        ],
    );
    has(
        &model_error("dv/dt = exp(v)/tau : mV", none),
        &["argument of `exp` must be dimensionless", "`v` is volt"],
    );
    has(
        &model_error("dv/dt = -v/tau : mV\ndv/dt = v/tau : mV", none),
        &["`v` is defined twice"],
    );
    has(
        &model_error("dv/dt = -v/tau + a/tau : mV\na = b : mV\nb = a : mV", none),
        &["cycle", "a, b"],
    );
    has(
        &model_error("x = v : mV", none),
        &["no differential equation"],
    );
    // Methods.
    let nonlinear = "dv/dt = v**2/(tau*mV) : mV";
    has(
        &model_error(nonlinear, |s| s.method = Method::Exact),
        &["method", "linear equations with constant coefficients"],
    );
    has(
        &model_error(nonlinear, |s| s.method = Method::ExponentialEuler),
        &["method", "exponential_euler", "dv/dt"],
    );
    has(
        &model_error("dv/dt = -v/tau + sqrt(2/tau)*mV*xi : mV", |s| {
            s.method = Method::Rk4
        }),
        &["method", "rk4 does not apply to stochastic equations"],
    );
    has(
        &model_error("dv/dt = -v/tau + v*xi*mV/sqrt(tau)/mV : mV", |s| {
            s.method = Method::Rk2
        }),
        &["rk2 does not apply"],
    );
    has(
        &model_error("dv/dt = -v/tau : mV", |s| {
            s.substeps.insert("v".into(), 2).map_or((), |_| ())
        }),
        &["substeps apply to method = \"sequential_euler\" only"],
    );
    // Threshold, reset, refractory, parameters, initial values.
    has(
        &model_error("dv/dt = -v/tau : mV", |s| s.threshold = Some("v".into())),
        &[
            "neuron.threshold",
            "`v` is a number (volt) where a condition is needed",
        ],
    );
    has(
        &model_error("dv/dt = -v/tau : mV", |s| {
            s.threshold = Some("v > 1".into())
        }),
        &["neuron.threshold", "`v` is volt but `1` is 1"],
    );
    has(
        &model_error("dv/dt = -v/tau : mV", |s| {
            s.threshold = Some("v > v_rest".into());
            s.reset = Some("v = 3".into());
        }),
        &["neuron.reset", "`v = 3`", "`3` is 1 but must be volt"],
    );
    has(
        &model_error("dv/dt = -v/tau : mV", |s| {
            s.threshold = Some("v > v_rest".into());
            s.reset = Some("w = 3".into());
        }),
        &["neuron.reset", "`w` is not a state variable", "known: v"],
    );
    has(
        &model_error("dv/dt = -v/tau : mV", |s| {
            s.reset = Some("v = v_rest".into())
        }),
        &["reset needs a threshold"],
    );
    has(
        &model_error("dv/dt = -v/tau : mV", |s| {
            s.threshold = Some("v > v_rest".into());
            s.refractory = Some(spikelab_core::equations::ParamValue::Text("2 mV".into()));
        }),
        &["neuron.refractory", "must be a duration"],
    );
    has(
        &model_error("dv/dt = -v/tau : mV", |s| {
            s.parameters.insert(
                "tau".into(),
                spikelab_core::equations::ParamValue::Text("10 parsec".into()),
            );
        }),
        &["neuron.parameters", "unknown unit `parsec`"],
    );
    has(
        &model_error("dv/dt = -v/tau : mV", |s| {
            s.init.insert(
                "v".into(),
                spikelab_core::equations::ParamValue::Text("5 ms".into()),
            );
        }),
        &["neuron.init.v", "`v` is volt, but \"5 ms\" is second"],
    );
}

#[test]
fn a_network_with_an_equation_model_checks_its_receptors_and_inputs() {
    let net = |receptor: &str, extra: &str| {
        format!(
            r#"
[[population]]
name = "src"
size = 2
[population.neuron]
model = "poisson"
rate_hz = 10.0
[[population]]
name = "n"
size = 2
[population.neuron]
model = "equations"
equations = "dv/dt = -v / (10*ms) : mV"
{receptor}
[[projection]]
source = "src"
target = "n"
receptor = "e"
connectivity = {{ rule = "all_to_all" }}
weight = 1.0
{extra}
"#
        )
    };
    let err = |text: String| {
        NetworkSpec::from_toml_str(&text, Path::new("m.toml"))
            .and_then(|s| s.validate())
            .unwrap_err()
            .to_string()
    };
    has(
        &err(net(
            "[[population.receptor]]\nname = \"e\"\ntype = \"delta\"",
            "",
        )),
        &["population[n].receptor[e].variable", "is required"],
    );
    has(
        &err(net(
            "[[population.receptor]]\nname = \"e\"\ntype = \"delta\"\nvariable = \"g\"",
            "",
        )),
        &["unknown state variable `g`", "receptor[e].variable", "v"],
    );
    has(
        &err(net("[[population.receptor]]\nname = \"e\"\ntype = \"current\"\ntau_ms = 2.0\nvariable = \"v\"", "")),
        &["receptor[e].variable", "delta receptors only"],
    );
    let ok = "[[population.receptor]]\nname = \"e\"\ntype = \"delta\"\nvariable = \"v\"";
    has(
        &err(net(
            ok,
            "[[current]]\ntarget = \"n\"\nkind = \"dc\"\namplitude = 1.0",
        )),
        &["current[0].target", "equation model"],
    );
    let spec = NetworkSpec::from_toml_str(&net(ok, ""), Path::new("m.toml")).unwrap();
    spec.validate().unwrap();
}

/// AdEx (Brette & Gerstner 2005, the built-in model's defaults) written as
/// equations, RK4 at dt = 0.1 ms, driven at three levels: every spike within one step
/// of the built-in model's over 1 s.
#[test]
fn adex_equations_give_the_builtin_spikes_within_one_step() {
    for i_bias in [800.0, 1000.0, 1500.0] {
        let net = |equations: bool| {
            let neuron = if equations {
                format!(
                    r#"
[population.neuron]
model = "equations"
equations = """
dv/dt = (g_l*(e_l - vc) + g_l*delta_t*exp((vc - v_t)/delta_t) - w + i_bias) / c_m : mV (unless refractory)
dw/dt = (a*(vc - e_l) - w) / tau_w : pA
vc = minimum(v, v_peak) : mV
"""
threshold = "v >= v_peak"
reset = "v = e_l; w += b"
refractory = "2 ms"
method = "rk4"
parameters = {{ c_m = "281 pF", g_l = "30 nS", e_l = "-70.6 mV", v_t = "-50.4 mV", delta_t = "2 mV", v_peak = "-40.4 mV", tau_w = "144 ms", a = "4 nS", b = "80.5 pA", i_bias = "{i_bias} pA" }}
init = {{ v = "-70.6 mV" }}
"#
                )
            } else {
                format!(
                    r#"
[population.neuron]
model = "adex"
t_ref_ms = 2.0
i_bias_pa = {i_bias}
"#
                )
            };
            parse(&format!(
                "[simulation]\ndt_ms = 0.1\nduration_ms = 1000.0\n[[population]]\nname = \"n\"\nsize = 1\n{neuron}\n[[monitor]]\nkind = \"spikes\"\npopulation = \"n\"\n"
            ))
        };
        let a = per_neuron(&run(&net(false), 1)[0], 1);
        let b = per_neuron(&run(&net(true), 1)[0], 1);
        assert!(a[0].len() > 5, "{i_bias} pA: {} spikes", a[0].len());
        let (worst, counts) = compare(&a, &b);
        assert!(
            worst <= 1 && counts == 0,
            "{i_bias} pA: {:?} vs {:?}",
            a[0],
            b[0]
        );
    }
}

/// The CUBA LIF (exponential currents, exact integration in the built-in model)
/// restated by `restate::lif_as_equations`: the equations are integrated by their
/// propagator matrix (`exact`), and the spikes match.
#[test]
fn cuba_restated_as_equations_integrates_exactly() {
    let text = coba_feedforward(false, "exact")
        .replace(
            "type = \"conductance\"\ntau_ms = 5.0\ne_rev_mv = 0.0",
            "type = \"current\"\ntau_ms = 5.0",
        )
        .replace(
            "type = \"conductance\"\ntau_ms = 10.0\ne_rev_mv = -80.0",
            "type = \"current\"\ntau_ms = 10.0",
        )
        .replace(
            "integration = \"exponential_euler\"",
            "integration = \"exact\"",
        )
        .replace("high = 0.3 }", "high = 3.0 }")
        .replace("high = 0.4 }", "high = -1.0 }")
        .replace("low = 0.0, high = -1.0", "low = -4.0, high = 0.0");
    let builtin = parse(&text);
    let mut eq = builtin.clone();
    let pop = eq
        .populations
        .iter_mut()
        .find(|p| p.name == "cells")
        .unwrap();
    *pop = spikelab_core::equations::restate::population_as_equations(pop).unwrap();
    let NeuronSpec::Equations(m) = &pop.neuron else {
        panic!()
    };
    assert_eq!(m.method, Method::Exact);
    // The two compute the same exact propagation with different f32 arithmetic:
    // membrane potentials agree to 1e-3 mV until a neuron grazes the threshold
    // (within the ~1e-4 mV the arithmetic differs by) on one side and not the other.
    let mut s1 = Simulator::build_with_threads(&builtin, 1).unwrap();
    let mut s2 = Simulator::build_with_threads(&eq, 1).unwrap();
    let mut diverged = [false; 40];
    let mut compared = 0;
    for _ in 0..10_000 {
        s1.run_steps(1);
        s2.run_steps(1);
        let (x, y) = (s1.state(1, "v").unwrap(), s2.state(1, "v").unwrap());
        let (fx, fy) = (s1.last_spikes(1), s2.last_spikes(1));
        for i in 0..40 {
            if diverged[i] {
                continue;
            }
            if fx.contains(&(i as u32)) != fy.contains(&(i as u32)) {
                diverged[i] = true;
                continue;
            }
            assert!(
                (x[i] - y[i]).abs() < 1e-3,
                "neuron {i}: {} vs {}",
                x[i],
                y[i]
            );
            compared += 1;
        }
    }
    assert!(compared > 300_000, "{compared} neuron-steps compared");
    let a = per_neuron(&run(&builtin, 1)[0], 40);
    let b = per_neuron(&run(&eq, 1)[0], 40);
    let total: usize = a.iter().map(Vec::len).sum();
    assert!(total > 200, "{total} spikes");
    let (_, counts) = compare(&a, &b);
    let same: usize = a
        .iter()
        .zip(&b)
        .map(|(x, y)| x.iter().zip(y).filter(|(s, t)| s == t).count())
        .sum();
    assert!(
        counts == 0 && same * 100 >= total * 95,
        "{same} of {total} spikes at the same step, {counts} neurons differ"
    );
}

/// Traub–Miles Hodgkin–Huxley (the COBAHH cell) in the equations of Brian2's COBAHH
/// example (with `exprel`), exponential Euler at dt = 0.1 ms as the built-in model:
/// spikes within one step of the built-in model's at three drives.
#[test]
fn hodgkin_huxley_equations_give_the_builtin_spikes_within_one_step() {
    let hh = spikelab_core::neuron::hodgkin_huxley::HodgkinHuxley::default();
    let [m0, h0, n0] = hh.steady_state_gates(hh.e_leak_mv);
    for i_bias in [100.0, 300.0, 800.0] {
        let net = |equations: bool| {
            let neuron = if equations {
                format!(
                    r#"
[population.neuron]
model = "equations"
equations = """
dv/dt = (gl*(El - v) - g_na*(m*m*m)*h*(v - ENa) - g_kd*(n*n*n*n)*(v - EK) + i_bias)/Cm : mV
dm/dt = 0.32*(mV**-1)*4*mV/exprel((13.*mV - v + VT)/(4*mV))/ms*(1 - m) - 0.28*(mV**-1)*5*mV/exprel((v - VT - 40.*mV)/(5*mV))/ms*m : 1
dn/dt = 0.032*(mV**-1)*5*mV/exprel((15.*mV - v + VT)/(5*mV))/ms*(1. - n) - .5*exp((10.*mV - v + VT)/(40.*mV))/ms*n : 1
dh/dt = 0.128*exp((17.*mV - v + VT)/(18.*mV))/ms*(1. - h) - 4./(1 + exp((40.*mV - v + VT)/(5.*mV)))/ms*h : 1
"""
threshold = "v > -20*mV"
refractory = "3 ms"
method = "exponential_euler"
parameters = {{ Cm = "200 pF", gl = "10 nS", El = "-60 mV", g_na = "20 uS", ENa = "50 mV", g_kd = "6 uS", EK = "-90 mV", VT = "-63 mV", i_bias = "{i_bias} pA" }}
init = {{ v = "-60 mV", m = {m0}, h = {h0}, n = {n0} }}
"#
                )
            } else {
                format!("[population.neuron]\nmodel = \"hh\"\ni_bias_pa = {i_bias}\n")
            };
            parse(&format!(
                "[simulation]\ndt_ms = 0.1\nduration_ms = 1000.0\n[[population]]\nname = \"n\"\nsize = 1\n{neuron}\n[[monitor]]\nkind = \"spikes\"\npopulation = \"n\"\n"
            ))
        };
        let a = per_neuron(&run(&net(false), 1)[0], 1);
        let b = per_neuron(&run(&net(true), 1)[0], 1);
        assert!(a[0].len() > 5, "{i_bias} pA: {} spikes", a[0].len());
        let (worst, counts) = compare(&a, &b);
        assert!(
            worst <= 1 && counts == 0,
            "{i_bias} pA: {:?} vs {:?}",
            a[0],
            b[0]
        );
    }
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    const TOKENS: &[&str] = &[
        "v", "w", "tau", "v_rest", "i_bias", "r", "mV", "ms", "nS", "1", "2.5", "0", "+", "-", "*",
        "/", "**", "(", ")", "exp(", "log(", "sqrt(", "where(", "clip(", "int(", ",", ">", "<=",
        "and", "not", "xi", "t", "dt", "e-3",
    ];

    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec(0..TOKENS.len(), 1..14)
            .prop_map(|ix| ix.iter().map(|&i| TOKENS[i]).collect::<Vec<_>>().join(" "))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
        /// Random equations, thresholds and resets give a model or an error, and a
        /// model that compiles runs (the JIT never touches memory it was not given).
        #[test]
        fn random_models_are_checked_or_refused(rhs in text(), rhs_w in text(), th in text(), reset in text(), method in 0usize..7) {
            let methods = [Method::Auto, Method::Euler, Method::Rk4, Method::Heun, Method::ExponentialEuler, Method::Exact, Method::Rk2];
            let mut spec = EquationModelSpec::new(&format!("dv/dt = {rhs} : mV (unless refractory)\ndw/dt = {rhs_w} : 1"));
            let p = |s: &str| spikelab_core::equations::ParamValue::Text(s.into());
            for (k, v) in [("v_rest", "-60 mV"), ("tau", "10 ms"), ("i_bias", "20 mV"), ("r", "10 Mohm")] {
                spec.parameters.insert(k.into(), p(v));
            }
            spec.threshold = Some(th);
            spec.reset = Some(format!("v = {reset}"));
            spec.refractory = Some(p("1 ms"));
            spec.method = methods[method];
            let mut m = EquationModel::new(spec);
            if m.prepare("neuron", 0.1, false).is_ok() {
                let k = m.state_names().len();
                let n = 9;
                let mut arrays = vec![vec![-55.0f32; n]; k];
                let normals = vec![0.5f32; n * 4];
                let mut fired = vec![0u32; n];
                for step in 0..5 {
                    m.step_arrays(&mut arrays, &normals, step as f32 * 0.1, &mut fired);
                }
                prop_assert!(fired.iter().all(|&f| f <= 1));
            }
        }
    }
}
