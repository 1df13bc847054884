//! Simulator networks (a core [`NetworkSpec`]) as NIR graphs. Each spike source
//! population (Poisson, spike generator) becomes an `Input`; each LIF population a
//! `LIF` node (delta synapses) or a `CubaLIF` node (exponential current synapses, one
//! time constant); each IF population with delta synapses an `IF` node; each
//! projection a dense `Linear` node per distinct delay followed by a `Delay` node, with
//! the synapses the engine builds from the model file's seed (multapses summed). A
//! node with several incoming projections sums them, as NIR defines.
//!
//! Units: time in seconds, potentials in mV as in the model file. With the input of a
//! node being the weighted spike train, `R` (or `w_in`) is chosen so that one spike of
//! weight `w` moves the membrane (or the synaptic current, in mV) by `w`, as in the
//! engine: `R = τ_m` for delta synapses on a LIF, `w_in = τ_syn` and `R = 1` for
//! current synapses, `R = 1` for an IF. `i_bias` goes into `v_leak`.
//!
//! Refused, by name: conductance synapses, receptors of other kinetics or of several
//! time constants on one population, adaptive thresholds, reset by subtraction, models
//! other than LIF and IF, injected currents and summed Poisson drives, plastic projections (their weights are
//! exported as built, with a note), and dense matrices over 2^25 entries. A refractory
//! period, which NIR cannot say, is reported and dropped.

use super::graph::{NirGraph, NirNode, Op};
use super::hdf5::{Array, Dtype, Strings, Value};
use super::keys;
use crate::nir::export::ExportReport;
use spikelab_core::engine::Simulator;
use spikelab_core::error::{Error, Result};
use spikelab_core::network::{NetworkSpec, NeuronSpec};
use spikelab_core::neuron::ResetMode;
use spikelab_core::synapse::{Kinetics, ReceptorKind};
use std::collections::BTreeMap;
use std::path::Path;

/// Largest dense weight matrix written (entries).
pub const MAX_DENSE: usize = 1 << 25;

fn text(s: &str) -> Value {
    Value::Strings(Strings::scalar(s))
}

fn filled(n: usize, v: f64) -> Array {
    Array::vector(Dtype::F64, vec![v; n])
}

/// Exports the simulator network of model file `path` to the NIR file `out`.
pub fn export_network_file(path: &Path, out: &Path) -> Result<ExportReport> {
    let spec = NetworkSpec::load(path)?;
    let report = export_network(&spec)?;
    report.graph.write(out)?;
    Ok(report)
}

/// Exports `spec` (built with its own seed) as a NIR graph.
pub fn export_network(spec: &NetworkSpec) -> Result<ExportReport> {
    spec.validate()?;
    let dt_s = spec.simulation.dt_ms * 1e-3;
    let mut notes = Vec::new();
    if let Some(c) = spec.currents.first() {
        return Err(Error::field(
            "current",
            format!(
                "injected currents ({} of them, the first onto `{}`) have no NIR node",
                spec.currents.len(),
                c.target
            ),
        ));
    }
    if let Some(p) = spec.poisson_inputs.first() {
        return Err(Error::field(
            "poisson_input",
            format!(
                "a summed Poisson drive (onto `{}`) has no NIR node; model its sources as a spike-source population",
                p.target
            ),
        ));
    }
    let mut graph = NirGraph::default();
    for (pi, pop) in spec.populations.iter().enumerate() {
        let at = format!("population[{}] ({})", pi, pop.name);
        let n = pop.size;
        let receptors = &pop.receptors;
        let refractory = |t_ref_ms: f64, notes: &mut Vec<String>| {
            if t_ref_ms > 0.0 {
                notes.push(format!(
                    "{at}: refractory period {t_ref_ms} ms dropped (NIR neurons have none)"
                ));
            }
        };
        let op = match &pop.neuron {
            NeuronSpec::Poisson(_) | NeuronSpec::SpikeGenerator(_) => {
                notes.push(format!(
                    "{at}: a spike source, written as an Input of {n} (its spikes are not part of the graph)"
                ));
                Op::Input { shape: vec![n] }
            }
            NeuronSpec::Lif(p) => {
                if p.theta_plus_mv != 0.0 || p.tau_theta_ms.is_some() {
                    return Err(Error::field(
                        format!("{at}.neuron.theta_plus_mv"),
                        "an adaptive threshold has no NIR node",
                    ));
                }
                if p.reset != ResetMode::Value {
                    return Err(Error::field(
                        format!("{at}.neuron.reset"),
                        "NIR resets to v_reset; reset by subtraction cannot be said",
                    ));
                }
                if p.c_m_pf.is_some() {
                    return Err(Error::field(
                        format!("{at}.neuron.c_m_pf"),
                        "currents in pA (c_m_pf) are not exported to NIR yet; give the inputs as drives in mV",
                    ));
                }
                refractory(p.t_ref_ms, &mut notes);
                let tau = p.tau_m_ms * 1e-3;
                let v_leak = p.v_rest_mv + p.i_bias_mv;
                let kinds: Vec<&ReceptorKind> = receptors.iter().map(|r| &r.kind).collect();
                if let Some(r) = receptors.iter().find(|r| r.kind == ReceptorKind::Conductance) {
                    return Err(Error::field(
                        format!("{at}.receptor[{}]", r.name),
                        "conductance synapses have no NIR node (NIR's neurons are current-based)",
                    ));
                }
                let currents: Vec<_> = receptors
                    .iter()
                    .filter(|r| r.kind == ReceptorKind::Current)
                    .collect();
                if currents.is_empty() {
                    Op::Lif {
                        tau: filled(n, tau),
                        r: filled(n, tau),
                        v_leak: filled(n, v_leak),
                        v_threshold: filled(n, p.v_thresh_mv),
                        v_reset: filled(n, p.v_reset_mv),
                    }
                } else {
                    if kinds.contains(&&ReceptorKind::Delta) {
                        return Err(Error::field(
                            format!("{at}.receptor"),
                            "delta and current synapses on one population cannot be said in NIR (a CubaLIF filters all its input)",
                        ));
                    }
                    for r in &currents {
                        if r.kinetics != Kinetics::Exponential {
                            return Err(Error::field(
                                format!("{at}.receptor[{}].kinetics", r.name),
                                "only exponential current synapses have a NIR node (CubaLIF)",
                            ));
                        }
                    }
                    let tau_syn = currents[0].tau_ms.unwrap_or(0.0);
                    if let Some(r) = currents.iter().find(|r| r.tau_ms != currents[0].tau_ms) {
                        return Err(Error::field(
                            format!("{at}.receptor[{}].tau_ms", r.name),
                            format!(
                                "{:?} ms differs from `{}`'s {tau_syn} ms; a CubaLIF has one synaptic time constant",
                                r.tau_ms, currents[0].name
                            ),
                        ));
                    }
                    let tau_syn = tau_syn * 1e-3;
                    Op::CubaLif {
                        tau_syn: filled(n, tau_syn),
                        tau_mem: filled(n, tau),
                        r: filled(n, 1.0),
                        v_leak: filled(n, v_leak),
                        v_threshold: filled(n, p.v_thresh_mv),
                        v_reset: filled(n, p.v_reset_mv),
                        w_in: filled(n, tau_syn),
                    }
                }
            }
            NeuronSpec::If(p) => {
                if p.reset != ResetMode::Value {
                    return Err(Error::field(
                        format!("{at}.neuron.reset"),
                        "NIR resets to v_reset; reset by subtraction cannot be said",
                    ));
                }
                if p.i_bias_pa != 0.0 {
                    return Err(Error::field(
                        format!("{at}.neuron.i_bias_pa"),
                        "NIR's IF node has no constant input",
                    ));
                }
                if p.v_min_mv.is_some() {
                    return Err(Error::field(
                        format!("{at}.neuron.v_min_mv"),
                        "NIR's IF node has no lower bound",
                    ));
                }
                if let Some(r) = receptors.iter().find(|r| r.kind != ReceptorKind::Delta) {
                    return Err(Error::field(
                        format!("{at}.receptor[{}]", r.name),
                        "an IF population exports with delta synapses only",
                    ));
                }
                refractory(p.t_ref_ms, &mut notes);
                Op::If {
                    r: filled(n, 1.0),
                    v_threshold: filled(n, p.v_thresh_mv),
                    v_reset: filled(n, p.v_reset_mv),
                }
            }
            other => {
                return Err(Error::field(
                    format!("{at}.neuron"),
                    format!(
                        "the `{}` model has no NIR node; export lif, if, poisson and spike_generator populations",
                        match other {
                            NeuronSpec::Adex(_) => "adex",
                            NeuronSpec::Izhikevich(_) => "izhikevich",
                            NeuronSpec::Hh(_) => "hh",
                            _ => "escape_lif",
                        }
                    ),
                ))
            }
        };
        graph.nodes.insert(pop.name.clone(), op.into());
    }
    // The synapses as the engine builds them.
    let sim = Simulator::build_with_threads(spec, 1)?;
    for (k, info) in sim.projections().iter().enumerate() {
        let proj = &spec.projections[k];
        let at = format!("projection[{k}] ({})", info.name);
        if proj.plasticity.is_some() || proj.stp.is_some() {
            notes.push(format!(
                "{at}: plastic; its weights are written as built (NIR has no plasticity)"
            ));
        }
        let (n_src, n_tgt) = (
            spec.populations[info.source].size,
            spec.populations[info.target].size,
        );
        let cells = n_src.saturating_mul(n_tgt);
        if cells > MAX_DENSE {
            return Err(Error::field(
                at,
                format!(
                    "a dense {n_tgt} × {n_src} weight matrix ({cells} entries) is larger than NIR export writes ({MAX_DENSE}); NIR has no sparse weights"
                ),
            ));
        }
        let rows = sim.synapses(k)?;
        let mut by_delay: BTreeMap<u16, Vec<f64>> = BTreeMap::new();
        for s in 0..n_src {
            for i in rows.row_ptr[s]..rows.row_ptr[s + 1] {
                let w = by_delay
                    .entry(rows.delay[i])
                    .or_insert_with(|| vec![0.0; cells]);
                w[rows.target[i] as usize * n_src + s] += f64::from(rows.weight[i]);
            }
        }
        if by_delay.len() > 16 {
            return Err(Error::field(
                at,
                format!(
                    "{} distinct delays: each needs its own dense matrix; use at most 16",
                    by_delay.len()
                ),
            ));
        }
        let base = format!("{}__{}", k, info.name.replace(['/', '.', ' '], "_"));
        for (d, w) in by_delay {
            let lin = format!("{base}__w_d{d}");
            let del = format!("{base}__delay_d{d}");
            graph.nodes.insert(
                lin.clone(),
                Op::Linear {
                    weight: Array::new(Dtype::F32, vec![n_tgt, n_src], w),
                }
                .into(),
            );
            graph.nodes.insert(
                del.clone(),
                NirNode::from(Op::Delay {
                    delay: filled(n_tgt, f64::from(d) * dt_s),
                }),
            );
            let src = &spec.populations[info.source].name;
            let tgt = &spec.populations[info.target].name;
            graph.edges.push((src.clone(), lin.clone()));
            graph.edges.push((lin, del.clone()));
            graph.edges.push((del, tgt.clone()));
        }
    }
    graph.metadata.insert(
        keys::DT_S.into(),
        Value::Array(Array::scalar(Dtype::F64, dt_s)),
    );
    graph
        .metadata
        .insert(keys::VERSION.into(), text(env!("CARGO_PKG_VERSION")));
    graph.metadata.insert(
        keys::NOTE.into(),
        text("A Spikelab simulator network: time in s, potentials in mV; one spike of weight w moves the membrane (delta synapses) or the synaptic current (CubaLIF) by w; delays as Delay nodes; populations are named as in the model file."),
    );
    graph.check("export")?;
    Ok(ExportReport { graph, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET: &str = r#"
[simulation]
dt_ms = 0.1
duration_ms = 10
seed = 3

[[population]]
name = "in"
size = 20
neuron = { model = "poisson", rate_hz = 50.0 }

[[population]]
name = "delta"
size = 8
neuron = { model = "lif", tau_m_ms = 20.0, v_rest_mv = -65.0, v_reset_mv = -65.0, v_thresh_mv = -50.0, t_ref_ms = 2.0 }
receptor = [{ name = "jump", type = "delta" }]

[[population]]
name = "cuba"
size = 6
neuron = { model = "lif", tau_m_ms = 10.0 }
receptor = [{ name = "exc", type = "current", tau_ms = 5.0 }, { name = "inh", type = "current", tau_ms = 5.0 }]

[[projection]]
source = "in"
target = "delta"
receptor = "jump"
connectivity = { rule = "fixed_probability", p = 0.5 }
weight = 1.5
delay_ms = { uniform = { low = 0.1, high = 0.35 } }

[[projection]]
source = "delta"
target = "cuba"
receptor = "inh"
connectivity = { rule = "all_to_all" }
weight = -2.0
delay_ms = 1.0
"#;

    #[test]
    fn populations_and_projections_become_nodes_with_the_engines_synapses() {
        let spec = NetworkSpec::from_toml_str(NET, Path::new("net.toml")).unwrap();
        let r = export_network(&spec).unwrap();
        let g = &r.graph;
        assert!(matches!(g.nodes["in"].op, Op::Input { .. }));
        match &g.nodes["delta"].op {
            Op::Lif { tau, r, v_leak, .. } => {
                assert!((tau.data[0] - 0.02).abs() < 1e-12 && r.data[0] == tau.data[0]);
                assert_eq!(v_leak.data[0], -65.0);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(g.nodes["cuba"].op, Op::CubaLif { .. }));
        assert!(r.notes.iter().any(|n| n.contains("refractory period 2 ms")));
        // The weights per delay add up to the engine's synapses.
        let sim = Simulator::build_with_threads(&spec, 1).unwrap();
        let rows = sim.synapses(0).unwrap();
        let total: f64 = rows.weight.iter().map(|&w| f64::from(w)).sum();
        let mut written = 0.0;
        let mut delays = Vec::new();
        for (name, n) in &g.nodes {
            if name.starts_with("0__") {
                match &n.op {
                    Op::Linear { weight } => {
                        assert_eq!(weight.shape, [8, 20]);
                        written += weight.data.iter().sum::<f64>();
                    }
                    Op::Delay { delay } => delays.push(delay.data[0]),
                    other => panic!("{other:?}"),
                }
            }
        }
        assert!((written - total).abs() < 1e-3, "{written} vs {total}");
        let mut want: Vec<u16> = rows.delay.clone();
        want.sort();
        want.dedup();
        assert_eq!(delays.len(), want.len());
        assert!(want.len() > 1, "the test wants several delays");
        // The graph is a valid NIR file.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("net.nir");
        r.graph.write(&p).unwrap();
        assert_eq!(&NirGraph::read(&p).unwrap(), g);
    }

    #[test]
    fn what_nir_cannot_say_is_refused_by_name() {
        let coba = NET.replace(
            r#"{ name = "exc", type = "current", tau_ms = 5.0 }"#,
            r#"{ name = "exc", type = "conductance", tau_ms = 5.0, e_rev_mv = 0.0 }"#,
        );
        let two_taus = NET.replace(
            r#"{ name = "inh", type = "current", tau_ms = 5.0 }"#,
            r#"{ name = "inh", type = "current", tau_ms = 10.0 }"#,
        );
        let izh = NET.replace(
            r#"{ model = "lif", tau_m_ms = 10.0 }"#,
            r#"{ model = "izhikevich" }"#,
        );
        for (text, want) in [
            (coba, "receptor[exc]"),
            (two_taus, "one synaptic time constant"),
            (izh, "`izhikevich` model has no NIR node"),
        ] {
            let spec = NetworkSpec::from_toml_str(&text, Path::new("net.toml")).unwrap();
            let e = export_network(&spec).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }
}
