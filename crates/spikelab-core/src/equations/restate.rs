//! Built-in models restated as equations: the engine's LIF with exponential
//! current or conductance receptors as the equation model that computes the same
//! thing. Benchmarks compare the two (`spikelab bench coba --model equations`), tests
//! check that they give the same spikes, and users get a starting point to edit.

use super::{EquationModelSpec, Method, ParamValue};
use crate::network::{NeuronSpec, PopulationSpec};
use crate::neuron::lif::Lif;
use crate::neuron::{Integration, ResetMode};
use crate::synapse::{Kinetics, ReceptorKind, ReceptorSpec};

fn q(x: f64, unit: &str) -> ParamValue {
    ParamValue::Text(format!("{x} {unit}"))
}

/// The LIF `lif` with exponential receptors `receptors` as an equation model and
/// the receptors that feed it (`g_<name>` or `i_<name>` variables; conductances in
/// units of the leak conductance, currents as drives in mV, as the built-in model).
/// None where the model uses what the equations do not restate (adaptive threshold,
/// reset by subtraction, pA inputs, non-exponential or delta receptors).
pub fn lif_as_equations(
    lif: &Lif,
    receptors: &[ReceptorSpec],
) -> Option<(EquationModelSpec, Vec<ReceptorSpec>)> {
    if lif.has_adaptive_threshold() || lif.reset != ResetMode::Value || lif.c_m_pf.is_some() {
        return None;
    }
    let mut drive = vec!["v_rest + i_bias - v".to_string()];
    let mut lines = Vec::new();
    let mut spec = EquationModelSpec::new("");
    let mut fed = Vec::new();
    for r in receptors {
        if r.kinetics != Kinetics::Exponential || r.mg_mm.is_some() || r.variable.is_some() {
            return None;
        }
        let tau = r.tau_ms?;
        let name = &r.name;
        let var = match r.kind {
            ReceptorKind::Conductance => {
                drive.push(format!("g_{name}*(e_{name} - v)"));
                spec.parameters
                    .insert(format!("e_{name}"), q(r.e_rev_mv?, "mV"));
                lines.push(format!("dg_{name}/dt = -g_{name} / tau_{name} : 1"));
                format!("g_{name}")
            }
            ReceptorKind::Current => {
                drive.push(format!("i_{name}"));
                lines.push(format!("di_{name}/dt = -i_{name} / tau_{name} : mV"));
                format!("i_{name}")
            }
            ReceptorKind::Delta => return None,
        };
        spec.parameters.insert(format!("tau_{name}"), q(tau, "ms"));
        fed.push(ReceptorSpec::onto_variable(name, &var));
    }
    lines.insert(
        0,
        format!(
            "dv/dt = ({}) / tau_m : mV (unless refractory)",
            drive.join(" + ")
        ),
    );
    spec.equations = lines.join("\n");
    spec.threshold = Some("v >= v_th".into());
    spec.reset = Some("v = v_reset".into());
    spec.refractory = Some(q(lif.t_ref_ms, "ms"));
    for (k, x, u) in [
        ("tau_m", lif.tau_m_ms, "ms"),
        ("v_rest", lif.v_rest_mv, "mV"),
        ("i_bias", lif.i_bias_mv, "mV"),
        ("v_th", lif.v_thresh_mv, "mV"),
        ("v_reset", lif.v_reset_mv, "mV"),
    ] {
        spec.parameters.insert(k.into(), q(x, u));
    }
    spec.method = match lif.integration {
        Integration::Euler => Method::Euler,
        Integration::Rk4 => Method::Rk4,
        Integration::ExponentialEuler => Method::ExponentialEuler,
        Integration::Auto | Integration::Exact => {
            if receptors
                .iter()
                .any(|r| r.kind == ReceptorKind::Conductance)
            {
                Method::ExponentialEuler
            } else {
                Method::Exact
            }
        }
    };
    Some((spec, fed))
}

/// `pop` with its LIF neurons restated as equations (see [`lif_as_equations`]);
/// None if the population is not such a LIF.
pub fn population_as_equations(pop: &PopulationSpec) -> Option<PopulationSpec> {
    let NeuronSpec::Lif(lif) = &pop.neuron else {
        return None;
    };
    let (spec, receptors) = lif_as_equations(lif, &pop.receptors)?;
    let mut initial = pop.initial.clone();
    for r in &pop.receptors {
        if let Some(v) = initial.remove(&format!("g_{}", r.name)) {
            let var = match r.kind {
                ReceptorKind::Conductance => format!("g_{}", r.name),
                _ => format!("i_{}", r.name),
            };
            initial.insert(var, v);
        }
    }
    initial.remove("refractory_steps");
    Some(PopulationSpec {
        name: pop.name.clone(),
        size: pop.size,
        neuron: NeuronSpec::Equations(spec),
        receptors,
        initial,
    })
}
