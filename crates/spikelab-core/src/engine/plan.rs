//! The resolved build plan: a [`NetworkSpec`] checked field by field, with every name
//! resolved to an index, every neuron model prepared for the time step, every
//! plasticity rule prepared and the ring-buffer depth of every population known. It
//! is the single place where a network is validated; a backend builds from it without
//! looking anything up again ([`NetworkSpec::validate`] builds it and drops it).
//!
//! Resolution runs in the order of the model file — simulation, populations,
//! projections, currents, monitors — and returns the first problem with its field
//! path.

use crate::connectivity::{delay_steps, Connectivity};
use crate::error::{check_positive, Error, Result};
use crate::input::CurrentSpec;
use crate::monitor::MonitorSpec;
use crate::network::{NetworkSpec, NeuronSpec, PopulationSpec, ProjectionSpec, SimulationSpec};
use crate::neuron::NeuronModel;
use crate::plasticity::Rule;
use crate::selection::NeuronSelection;
use crate::synapse::{ReceptorKind, ReceptorSpec};
use crate::value::Value;
use std::collections::HashSet;

/// A validated network with names resolved and models prepared. See the module docs.
#[derive(Debug)]
pub struct BuildPlan<'a> {
    /// The description this plan resolves.
    pub spec: &'a NetworkSpec,
    /// Time step (ms).
    pub dt_ms: f64,
    /// Seed of every random stream.
    pub seed: u64,
    /// Populations, in model-file order.
    pub populations: Vec<PopulationPlan<'a>>,
    /// Projections, in model-file order.
    pub projections: Vec<ProjectionPlan<'a>>,
    /// Injected currents, in model-file order.
    pub currents: Vec<CurrentPlan<'a>>,
    /// Summed Poisson drives, in model-file order: (spec, target population, receptor).
    pub poisson_inputs: Vec<(&'a crate::poisson_input::PoissonInputSpec, usize, usize)>,
    /// Monitors, in model-file order.
    pub monitors: Vec<MonitorPlan<'a>>,
}

/// A population of the plan.
#[derive(Debug)]
pub struct PopulationPlan<'a> {
    /// Its description.
    pub spec: &'a PopulationSpec,
    /// The neuron model prepared for the time step (None for spike sources).
    pub model: Option<Box<dyn NeuronModel>>,
    /// Whether a receptor is conductance-based.
    pub has_conductance: bool,
    /// Whether a receptor is a delta (voltage jump) receptor.
    pub has_jump: bool,
    /// Longest delay (steps) of the synapses ending here: the ring-buffer depth.
    pub max_delay_steps: u16,
}

impl PopulationPlan<'_> {
    /// State variable names of the model (empty for spike sources).
    pub fn state_names(&self) -> Vec<String> {
        self.model.as_ref().map_or_else(Vec::new, |m| {
            m.state_names().iter().map(|s| s.to_string()).collect()
        })
    }

    /// Variables that can be set initially or recorded: the model's state and
    /// `g_<receptor>` for every receptor with a state (not delta receptors).
    fn known_variables(&self) -> Vec<String> {
        let mut known = self.state_names();
        known.extend(
            self.spec
                .receptors
                .iter()
                .filter(|r| r.kind != ReceptorKind::Delta)
                .map(|r| format!("g_{}", r.name)),
        );
        known
    }
}

/// A projection of the plan.
#[derive(Debug)]
pub struct ProjectionPlan<'a> {
    /// Its description.
    pub spec: &'a ProjectionSpec,
    /// Display name (given, or `source->target`).
    pub name: String,
    /// Source population index.
    pub source: usize,
    /// Target population index.
    pub target: usize,
    /// Receptor index in the target population.
    pub receptor: usize,
    /// Delay (ms), the default of one step filled in.
    pub delay_ms: Value,
    /// The plasticity rule prepared for the time step.
    pub rule: Option<Rule>,
    /// Reward population index and dopamine per spike (reward-modulated rules).
    pub reward_source: Option<(usize, f32)>,
    /// Periodic normalisation: total and interval (steps).
    pub normalize_every: Option<(f32, u64)>,
}

/// An injected current of the plan.
#[derive(Debug)]
pub struct CurrentPlan<'a> {
    /// Its description.
    pub spec: &'a CurrentSpec,
    /// Target population index.
    pub target: usize,
}

/// A monitor of the plan.
#[derive(Debug)]
pub struct MonitorPlan<'a> {
    /// Its description.
    pub spec: &'a MonitorSpec,
    /// Recorded population index.
    pub population: usize,
    /// What it records, resolved.
    pub kind: MonitorPlanKind,
}

/// What a monitor records, with indices resolved. The recorded neurons stay a
/// selection (checked against the population size): the plan holds nothing per neuron,
/// so validating a file with a huge population allocates nothing in proportion to it;
/// a backend lists them with [`NeuronSelection::indices`] after its memory check.
#[derive(Debug)]
pub enum MonitorPlanKind {
    /// Spikes of these neurons.
    Spikes {
        /// Recorded neurons.
        neurons: NeuronSelection,
    },
    /// State variables of these neurons every `every_steps` steps.
    State {
        /// Recorded neurons.
        neurons: NeuronSelection,
        /// Recorded variables.
        variables: Vec<StateVariable>,
        /// Sampling interval (steps).
        every_steps: u64,
    },
    /// Spike counts in bins of `bin_steps` steps.
    Rate {
        /// Bin width (steps).
        bin_steps: u64,
    },
}

/// A recordable variable of a neuron population.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateVariable {
    /// State variable of the model, by index in its state names.
    Neuron(usize),
    /// Output (`g_<name>`) of the receptor with this index.
    Receptor(usize),
}

/// Steps in `ms`, at least one.
fn whole_steps(ms: f64, dt_ms: f64) -> u64 {
    ((ms / dt_ms).round() as u64).max(1)
}

impl<'a> BuildPlan<'a> {
    /// Validates `spec` and resolves it; the first problem is returned with its field
    /// path.
    pub fn new(spec: &'a NetworkSpec) -> Result<Self> {
        check_simulation(&spec.simulation)?;
        if spec.scale.is_some_and(|s| !s.is_identity()) {
            return Err(Error::field(
                "scale",
                "is applied when a model file is parsed; on a network built in code call NetworkSpec::scale_by and clear `scale`",
            ));
        }
        let dt = spec.simulation.dt_ms;
        if spec.populations.is_empty() {
            return Err(Error::field("population", "the network has no populations"));
        }
        let mut names = HashSet::new();
        let mut populations = Vec::with_capacity(spec.populations.len());
        for p in &spec.populations {
            if !p.name.is_empty() && !names.insert(p.name.as_str()) {
                return Err(Error::field(
                    format!("population[{}].name", p.name),
                    "is used by two populations",
                ));
            }
            populations.push(resolve_population(p, dt)?);
        }
        let mut projections = Vec::with_capacity(spec.projections.len());
        for (k, pr) in spec.projections.iter().enumerate() {
            projections.push(resolve_projection(spec, k, pr, dt)?);
        }
        for (pr, plan) in spec.projections.iter().zip(&projections) {
            let pop = &mut populations[plan.target];
            pop.max_delay_steps = pop.max_delay_steps.max(max_delay_steps(pr, plan, dt));
        }
        let mut currents = Vec::with_capacity(spec.currents.len());
        for (k, c) in spec.currents.iter().enumerate() {
            currents.push(resolve_current(spec, k, c)?);
        }
        let mut poisson_inputs = Vec::with_capacity(spec.poisson_inputs.len());
        for (k, pin) in spec.poisson_inputs.iter().enumerate() {
            poisson_inputs.push(resolve_poisson_input(spec, k, pin, dt)?);
        }
        let mut plan = BuildPlan {
            spec,
            dt_ms: dt,
            seed: spec.simulation.seed,
            populations,
            projections,
            currents,
            poisson_inputs,
            monitors: Vec::with_capacity(spec.monitors.len()),
        };
        for (k, m) in spec.monitors.iter().enumerate() {
            let monitor = resolve_monitor(&plan, k, m)?;
            plan.monitors.push(monitor);
        }
        Ok(plan)
    }

    /// Index of the population called `name`; `field` is named in the error.
    pub fn population_index(&self, name: &str, field: &str) -> Result<usize> {
        self.spec.population_index(name, field)
    }
}

fn check_simulation(sim: &SimulationSpec) -> Result<()> {
    check_positive("simulation.dt_ms", sim.dt_ms)?;
    if sim.dt_ms > 10.0 {
        return Err(Error::field(
            "simulation.dt_ms",
            format!("{} ms is too coarse; use at most 10 ms", sim.dt_ms),
        ));
    }
    if !(sim.duration_ms.is_finite() && sim.duration_ms >= 0.0) {
        return Err(Error::field(
            "simulation.duration_ms",
            format!("must be finite and >= 0 (got {})", sim.duration_ms),
        ));
    }
    if !(sim.transient_ms.is_finite() && sim.transient_ms >= 0.0) {
        return Err(Error::field(
            "simulation.transient_ms",
            format!("must be finite and >= 0 (got {})", sim.transient_ms),
        ));
    }
    if sim.duration_ms / sim.dt_ms > 1e12 {
        return Err(Error::field(
            "simulation.duration_ms",
            "needs more than 10^12 steps",
        ));
    }
    if sim.threads > 4096 {
        return Err(Error::field(
            "simulation.threads",
            format!("{} is more than 4096", sim.threads),
        ));
    }
    Ok(())
}

/// Checks population `p` (the caller checks that names are unique) and prepares its
/// model once.
fn resolve_population(p: &PopulationSpec, dt: f64) -> Result<PopulationPlan<'_>> {
    let f = format!("population[{}]", p.name);
    if p.name.is_empty() {
        return Err(Error::field("population.name", "must not be empty"));
    }
    if p.size == 0 || p.size > u32::MAX as usize / 2 {
        return Err(Error::field(
            format!("{f}.size"),
            format!("must be in 1..=2^31 (got {})", p.size),
        ));
    }
    let has_conductance = p
        .receptors
        .iter()
        .any(|r| r.kind == ReceptorKind::Conductance);
    let has_jump = p
        .receptors
        .iter()
        .any(|r| r.kind == ReceptorKind::Delta && r.variable.is_none());
    let model = match &p.neuron {
        NeuronSpec::Poisson(s) => {
            s.validate(&format!("{f}.neuron"), p.size)?;
            None
        }
        NeuronSpec::SpikeGenerator(s) => {
            s.validate(&format!("{f}.neuron"), p.size)?;
            None
        }
        spec => {
            let mut m = spec
                .neuron_model()
                .ok_or_else(|| Error::Invalid(format!("{f}.neuron: not a neuron model")))?;
            m.prepare(&format!("{f}.neuron"), dt, has_conductance)?;
            Some(m)
        }
    };
    let plan = PopulationPlan {
        spec: p,
        model,
        has_conductance,
        has_jump,
        max_delay_steps: 1,
    };
    if plan.model.is_some() {
        let known = plan.known_variables();
        if let Some(var) = p.initial.keys().find(|v| !known.contains(v)) {
            return Err(Error::UnknownName {
                kind: "state variable",
                name: var.clone(),
                field: format!("{f}.initial"),
                known,
            });
        }
    } else {
        if !p.receptors.is_empty() {
            return Err(Error::field(
                format!("{f}.receptor"),
                "spike sources have no receptors",
            ));
        }
        if !p.initial.is_empty() {
            return Err(Error::field(
                format!("{f}.initial"),
                "spike sources have no state",
            ));
        }
    }
    for (k, v) in &p.initial {
        v.validate(&format!("{f}.initial.{k}"))?;
    }
    let equations = matches!(p.neuron, NeuronSpec::Equations(_));
    for r in &p.receptors {
        let rf = format!("{f}.receptor[{}]", r.name);
        match &r.variable {
            Some(var) => {
                let names = plan.state_names();
                if !names.iter().any(|n| n == var) || var == "refractory_steps" {
                    return Err(Error::UnknownName {
                        kind: "state variable",
                        name: var.clone(),
                        field: format!("{rf}.variable"),
                        known: names.into_iter().filter(|n| n != "refractory_steps").collect(),
                    });
                }
            }
            None if equations => {
                return Err(Error::field(
                    format!("{rf}.variable"),
                    "is required: an equation model receives synapses through its own variables (`type = \"delta\"`, `variable = \"g_e\"` adds each weight to g_e)",
                ))
            }
            None => {}
        }
    }
    let mut rnames = HashSet::new();
    for r in &p.receptors {
        let rf = format!("{f}.receptor[{}]", r.name);
        r.validate(&rf)?;
        if !rnames.insert(r.name.as_str()) {
            return Err(Error::field(
                format!("{rf}.name"),
                "is used by two receptors",
            ));
        }
    }
    Ok(plan)
}

/// Checks projection `k` and resolves its populations, receptor and rule.
fn resolve_projection<'a>(
    spec: &NetworkSpec,
    k: usize,
    pr: &'a ProjectionSpec,
    dt: f64,
) -> Result<ProjectionPlan<'a>> {
    let f = format!(
        "projection[{}]",
        pr.name.clone().unwrap_or_else(|| k.to_string())
    );
    let si = spec.population_index(&pr.source, &format!("{f}.source"))?;
    let ti = spec.population_index(&pr.target, &format!("{f}.target"))?;
    let tp = &spec.populations[ti];
    if tp.neuron.is_source() {
        return Err(Error::field(
            format!("{f}.target"),
            format!(
                "`{}` is a spike source and cannot receive synapses",
                tp.name
            ),
        ));
    }
    let ri = tp
        .receptors
        .iter()
        .position(|r| r.name == pr.receptor)
        .ok_or_else(|| Error::UnknownName {
            kind: "receptor",
            name: pr.receptor.clone(),
            field: format!("{f}.receptor"),
            known: tp.receptors.iter().map(|r| r.name.clone()).collect(),
        })?;
    let receptor = &tp.receptors[ri];
    pr.connectivity.validate(
        &format!("{f}.connectivity"),
        spec.populations[si].size,
        tp.size,
        si == ti,
    )?;
    pr.weight.validate(&format!("{f}.weight"))?;
    if let Some(stp) = &pr.stp {
        stp.validate(&format!("{f}.stp"))?;
    }
    check_weight_signs(&f, pr, receptor)?;
    let delay_ms = pr.delay_ms.clone().unwrap_or(Value::Constant(dt));
    check_delay_range(&f, &delay_ms, dt)?;
    let (rule, reward_source) = resolve_plasticity(spec, &f, pr, receptor, dt)?;
    let normalize_every = resolve_normalization(&f, pr, dt)?;
    if let Connectivity::List {
        delays_ms: Some(d), ..
    } = &pr.connectivity
    {
        for (k, &x) in d.iter().enumerate() {
            check_delay(x, dt, format!("{f}.connectivity.delays_ms[{k}]"))?;
        }
    }
    Ok(ProjectionPlan {
        spec: pr,
        name: pr.display_name(),
        source: si,
        target: ti,
        receptor: ri,
        delay_ms,
        rule,
        reward_source,
        normalize_every,
    })
}

/// Conductances cannot be negative.
fn check_weight_signs(f: &str, pr: &ProjectionSpec, receptor: &ReceptorSpec) -> Result<()> {
    if receptor.kind != ReceptorKind::Conductance {
        return Ok(());
    }
    if pr.weight.range().0 < 0.0 {
        return Err(Error::field(
            format!("{f}.weight"),
            format!("conductances cannot be negative (receptor `{}` is conductance-based); use a receptor with a lower reversal potential for inhibition", receptor.name),
        ));
    }
    if let Connectivity::List {
        weights: Some(w), ..
    } = &pr.connectivity
    {
        if w.iter().any(|&x| x < 0.0) {
            return Err(Error::field(
                format!("{f}.connectivity.weights"),
                "conductances cannot be negative",
            ));
        }
    }
    Ok(())
}

/// A delay must be between one step and 65535 steps.
fn check_delay(d: f64, dt: f64, field: String) -> Result<()> {
    if d < dt * (1.0 - 1e-6) {
        Err(Error::field(
            field,
            format!("delays must be at least one time step ({dt} ms); got {d} ms"),
        ))
    } else if d / dt > u16::MAX as f64 {
        Err(Error::field(
            field,
            format!(
                "delays must be at most {} ms (65535 steps); got {d} ms",
                u16::MAX as f64 * dt
            ),
        ))
    } else {
        Ok(())
    }
}

/// The delay value of a projection and both ends of its range.
fn check_delay_range(f: &str, delay: &Value, dt: f64) -> Result<()> {
    delay.validate(&format!("{f}.delay_ms"))?;
    let (lo, hi) = delay.range();
    check_delay(lo, dt, format!("{f}.delay_ms"))?;
    if !hi.is_finite() {
        return Err(Error::field(
            format!("{f}.delay_ms"),
            "needs a bounded distribution (uniform, or normal with low and high)",
        ));
    }
    check_delay(hi, dt, format!("{f}.delay_ms"))
}

type ResolvedRule = (Option<Rule>, Option<(usize, f32)>);

/// Validates and prepares the plasticity rule, resolving its reward population.
fn resolve_plasticity(
    spec: &NetworkSpec,
    f: &str,
    pr: &ProjectionSpec,
    receptor: &ReceptorSpec,
    dt: f64,
) -> Result<ResolvedRule> {
    let Some(rule) = &pr.plasticity else {
        return Ok((None, None));
    };
    rule.validate(&format!("{f}.plasticity"))?;
    let reward_source = match rule.reward_population() {
        Some(rp) => Some((
            spec.population_index(rp, &format!("{f}.plasticity.reward_population"))?,
            rule.reward_per_spike() as f32,
        )),
        None => None,
    };
    if receptor.kind == ReceptorKind::Conductance && rule.bounds().0 < 0.0 {
        return Err(Error::field(
            format!("{f}.plasticity.w_min"),
            "conductances cannot be negative",
        ));
    }
    Ok((Some(rule.prepare(dt)), reward_source))
}

/// Validates the normalisation; returns the periodic one (total, interval in steps).
fn resolve_normalization(f: &str, pr: &ProjectionSpec, dt: f64) -> Result<Option<(f32, u64)>> {
    let Some(n) = &pr.normalization else {
        return Ok(None);
    };
    check_positive(&format!("{f}.normalization.total"), n.total)?;
    if let Some(e) = n.every_ms {
        if !(e.is_finite() && e >= dt) {
            return Err(Error::field(
                format!("{f}.normalization.every_ms"),
                format!("must be at least one time step ({dt} ms); got {e}"),
            ));
        }
    }
    Ok(n.every_ms.map(|e| (n.total as f32, whole_steps(e, dt))))
}

/// Longest delay (steps) of projection `pr`.
fn max_delay_steps(pr: &ProjectionSpec, plan: &ProjectionPlan, dt: f64) -> u16 {
    let mut d = delay_steps(plan.delay_ms.range().1, dt);
    if let Connectivity::List {
        delays_ms: Some(ds),
        ..
    } = &pr.connectivity
    {
        d = ds
            .iter()
            .map(|&x| delay_steps(x, dt))
            .max()
            .unwrap_or(1)
            .max(d);
    }
    d
}

fn resolve_current<'a>(
    spec: &NetworkSpec,
    k: usize,
    c: &'a CurrentSpec,
) -> Result<CurrentPlan<'a>> {
    let f = format!("current[{k}]");
    let ti = spec.population_index(&c.target, &format!("{f}.target"))?;
    let tp = &spec.populations[ti];
    if tp.neuron.is_source() {
        return Err(Error::field(
            format!("{f}.target"),
            format!("`{}` is a spike source", tp.name),
        ));
    }
    if matches!(tp.neuron, NeuronSpec::Equations(_)) {
        return Err(Error::field(
            format!("{f}.target"),
            format!("`{}` is an equation model: write the input into its equations (a parameter or a variable driven by a receptor with `variable`)", tp.name),
        ));
    }
    c.neurons.validate(&format!("{f}.neurons"), tp.size)?;
    c.validate(&f)?;
    Ok(CurrentPlan {
        spec: c,
        target: ti,
    })
}

fn resolve_poisson_input<'a>(
    spec: &NetworkSpec,
    k: usize,
    pin: &'a crate::poisson_input::PoissonInputSpec,
    dt: f64,
) -> Result<(&'a crate::poisson_input::PoissonInputSpec, usize, usize)> {
    let f = format!("poisson_input[{k}]");
    let ti = spec.population_index(&pin.target, &format!("{f}.target"))?;
    let tp = &spec.populations[ti];
    if tp.neuron.is_source() {
        return Err(Error::field(
            format!("{f}.target"),
            format!("`{}` is a spike source", tp.name),
        ));
    }
    let ri = tp
        .receptors
        .iter()
        .position(|r| r.name == pin.receptor)
        .ok_or_else(|| Error::UnknownName {
            kind: "receptor",
            name: pin.receptor.clone(),
            field: format!("{f}.receptor"),
            known: tp.receptors.iter().map(|r| r.name.clone()).collect(),
        })?;
    pin.neurons.validate(&format!("{f}.neurons"), tp.size)?;
    pin.validate(&f, dt)?;
    Ok((pin, ti, ri))
}

fn resolve_monitor<'a>(plan: &BuildPlan, k: usize, m: &'a MonitorSpec) -> Result<MonitorPlan<'a>> {
    let f = format!("monitor[{k}]");
    let pi = plan.population_index(m.population(), &format!("{f}.population"))?;
    let pop = &plan.populations[pi];
    let p = pop.spec;
    m.validate(&f)?;
    let dt = plan.dt_ms;
    let kind = match m {
        MonitorSpec::Spikes { neurons, .. } => {
            neurons.validate(&format!("{f}.neurons"), p.size)?;
            MonitorPlanKind::Spikes {
                neurons: neurons.clone(),
            }
        }
        MonitorSpec::State {
            neurons,
            variables,
            every_ms,
            ..
        } => {
            neurons.validate(&format!("{f}.neurons"), p.size)?;
            let variables = resolve_state_variables(&f, pop, variables)?;
            MonitorPlanKind::State {
                neurons: neurons.clone(),
                variables,
                every_steps: every_ms.map_or(1, |e| whole_steps(e, dt)),
            }
        }
        MonitorSpec::Rate { bin_ms, .. } => MonitorPlanKind::Rate {
            bin_steps: whole_steps(*bin_ms, dt),
        },
    };
    Ok(MonitorPlan {
        spec: m,
        population: pi,
        kind,
    })
}

/// Resolves recorded variable names: model state first, then `g_<receptor>`.
fn resolve_state_variables(
    f: &str,
    pop: &PopulationPlan,
    variables: &[String],
) -> Result<Vec<StateVariable>> {
    if pop.model.is_none() {
        return Err(Error::field(
            format!("{f}.population"),
            format!("`{}` is a spike source and has no state", pop.spec.name),
        ));
    }
    let known = pop.known_variables();
    if let Some(v) = variables.iter().find(|v| !known.contains(v)) {
        return Err(Error::UnknownName {
            kind: "state variable",
            name: v.clone(),
            field: format!("{f}.variables"),
            known,
        });
    }
    if variables.is_empty() {
        return Err(Error::field(
            format!("{f}.variables"),
            "name at least one variable",
        ));
    }
    let names = pop.state_names();
    Ok(variables
        .iter()
        .map(|v| match names.iter().position(|s| s == v) {
            Some(i) => StateVariable::Neuron(i),
            None => StateVariable::Receptor(
                pop.spec
                    .receptors
                    .iter()
                    .position(|r| format!("g_{}", r.name) == *v)
                    .unwrap_or(0),
            ),
        })
        .collect())
}
