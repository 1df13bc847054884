//! The network description: populations, projections, inputs and monitors, with the
//! time step, duration and seed. It is plain data (serde) — a TOML model file
//! deserialises into it and a Rust program builds it with the builder methods —
//! and [`NetworkSpec::plan`] checks every field before anything is allocated,
//! resolving it into the [`BuildPlan`] the engine builds from.

use crate::connectivity::Connectivity;
use crate::engine::plan::BuildPlan;
use crate::equations::{EquationModel, EquationModelSpec};
use crate::error::{Error, Result};
use crate::input::CurrentSpec;
use crate::monitor::MonitorSpec;
use crate::neuron::adex::{Adex, AdexModel};
use crate::neuron::escape_lif::{EscapeLif, EscapeLifModel};
use crate::neuron::hodgkin_huxley::{HodgkinHuxley, HodgkinHuxleyModel};
use crate::neuron::izhikevich::{Izhikevich, IzhikevichModel};
use crate::neuron::{iaf::Iaf, iaf::IafModel, lif::Lif, lif::LifModel, NeuronModel};
use crate::plasticity::{NormalizationSpec, PlasticitySpec};
use crate::source::{PoissonSource, SpikeGenerator};
use crate::synapse::stp::TsodyksMarkram;
use crate::synapse::ReceptorSpec;
use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Simulation settings (`[simulation]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationSpec {
    /// Time step (ms).
    #[serde(default = "default_dt")]
    pub dt_ms: f64,
    /// Duration of `spikelab run` (ms).
    #[serde(default = "default_duration")]
    pub duration_ms: f64,
    /// Seed of every random stream.
    #[serde(default)]
    pub seed: u64,
    /// Worker threads (0 = one per core).
    #[serde(default)]
    pub threads: usize,
    /// Start-up time (ms) that `spikelab run` simulates before `duration_ms` and
    /// leaves out of the summary's rates and ISI statistics (the recordings keep it).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub transient_ms: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn default_dt() -> f64 {
    0.1
}
fn default_duration() -> f64 {
    1000.0
}

impl Default for SimulationSpec {
    fn default() -> Self {
        SimulationSpec {
            dt_ms: default_dt(),
            duration_ms: default_duration(),
            seed: 0,
            threads: 0,
            transient_ms: 0.0,
        }
    }
}

/// The model of a population (`[population.neuron]`, tagged by `model`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum NeuronSpec {
    /// Leaky integrate-and-fire ([`Lif`]).
    Lif(Lif),
    /// Perfect integrate-and-fire ([`Iaf`]).
    #[serde(rename = "if")]
    If(Iaf),
    /// Adaptive exponential integrate-and-fire ([`Adex`]).
    Adex(Adex),
    /// Izhikevich (2003) simple model ([`Izhikevich`]).
    Izhikevich(Izhikevich),
    /// Hodgkin–Huxley with Traub–Miles kinetics ([`HodgkinHuxley`]).
    #[serde(rename = "hh")]
    Hh(HodgkinHuxley),
    /// Leaky integrate-and-fire with escape noise ([`EscapeLif`]).
    EscapeLif(EscapeLif),
    /// Poisson spike source ([`PoissonSource`]).
    Poisson(PoissonSource),
    /// Explicit spike times ([`SpikeGenerator`]).
    SpikeGenerator(SpikeGenerator),
    /// A model written as equations ([`EquationModelSpec`]), compiled at run time.
    Equations(EquationModelSpec),
}

impl NeuronSpec {
    /// Model names accepted in model files.
    pub const NAMES: &'static str =
        "lif, if, adex, izhikevich, hh, escape_lif, poisson, spike_generator, equations";

    /// The model as a trait object, or None for spike sources.
    pub fn neuron_model(&self) -> Option<Box<dyn NeuronModel>> {
        match self {
            NeuronSpec::Lif(m) => Some(Box::new(LifModel::new(m.clone()))),
            NeuronSpec::If(m) => Some(Box::new(IafModel::new(m.clone()))),
            NeuronSpec::Adex(m) => Some(Box::new(AdexModel::new(m.clone()))),
            NeuronSpec::Izhikevich(m) => Some(Box::new(IzhikevichModel::new(m.clone()))),
            NeuronSpec::Hh(m) => Some(Box::new(HodgkinHuxleyModel::new(m.clone()))),
            NeuronSpec::EscapeLif(m) => Some(Box::new(EscapeLifModel::new(m.clone()))),
            NeuronSpec::Equations(m) => Some(Box::new(EquationModel::new(m.clone()))),
            NeuronSpec::Poisson(_) | NeuronSpec::SpikeGenerator(_) => None,
        }
    }

    /// True for spike sources (no membrane, no receptors).
    pub fn is_source(&self) -> bool {
        matches!(self, NeuronSpec::Poisson(_) | NeuronSpec::SpikeGenerator(_))
    }
}

/// A population (`[[population]]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopulationSpec {
    /// Unique name.
    pub name: String,
    /// Number of neurons (> 0).
    pub size: usize,
    /// Neuron model and parameters.
    pub neuron: NeuronSpec,
    /// Synaptic receptors (`[[population.receptor]]`).
    #[serde(default, rename = "receptor")]
    pub receptors: Vec<ReceptorSpec>,
    /// Initial values of state variables by name (constant or distribution).
    #[serde(default)]
    pub initial: BTreeMap<String, Value>,
}

/// A projection (`[[projection]]`): synapses from one population onto a receptor of
/// another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectionSpec {
    /// Optional name (default `source->target`).
    #[serde(default)]
    pub name: Option<String>,
    /// Source population.
    pub source: String,
    /// Target population.
    pub target: String,
    /// Receptor of the target population.
    pub receptor: String,
    /// Connectivity rule.
    pub connectivity: Connectivity,
    /// Weight (unit of the receptor: see the target model).
    pub weight: Value,
    /// Delay (ms); default one time step. Must be at least one step.
    #[serde(default)]
    pub delay_ms: Option<Value>,
    /// Long-term plasticity rule (`[projection.plasticity]`).
    #[serde(default)]
    pub plasticity: Option<PlasticitySpec>,
    /// Normalisation of each target's incoming weights (`[projection.normalization]`).
    #[serde(default)]
    pub normalization: Option<NormalizationSpec>,
    /// Tsodyks–Markram short-term plasticity of every synapse of the projection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stp: Option<TsodyksMarkram>,
}

impl ProjectionSpec {
    /// A projection with the default delay.
    pub fn new(
        source: &str,
        target: &str,
        receptor: &str,
        connectivity: Connectivity,
        weight: impl Into<Value>,
    ) -> Self {
        ProjectionSpec {
            name: None,
            source: source.into(),
            target: target.into(),
            receptor: receptor.into(),
            connectivity,
            weight: weight.into(),
            delay_ms: None,
            plasticity: None,
            normalization: None,
            stp: None,
        }
    }
    /// Makes the projection plastic.
    pub fn with_plasticity(mut self, rule: PlasticitySpec) -> Self {
        self.plasticity = Some(rule);
        self
    }
    /// Normalises each target's incoming weights to `total` at the start and then
    /// every `every_ms` (if given).
    pub fn with_normalization(mut self, total: f64, every_ms: Option<f64>) -> Self {
        self.normalization = Some(NormalizationSpec { total, every_ms });
        self
    }
    /// Sets the delay.
    pub fn with_delay_ms(mut self, delay: impl Into<Value>) -> Self {
        self.delay_ms = Some(delay.into());
        self
    }
    /// Adds Tsodyks–Markram short-term plasticity.
    pub fn with_stp(mut self, stp: TsodyksMarkram) -> Self {
        self.stp = Some(stp);
        self
    }
    /// Sets the name.
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }
    /// The name used in messages and outputs.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{}->{}", self.source, self.target))
    }
}

impl PopulationSpec {
    /// The unit of state variable `var` of this population, for axis labels and
    /// files ("" for dimensionless or unknown variables); see the units section of
    /// [`crate::synapse`] for receptor states.
    pub fn state_unit(&self, var: &str) -> &'static str {
        use crate::synapse::ReceptorKind;
        if let NeuronSpec::Equations(eq) = &self.neuron {
            return crate::equations::state_unit(eq, var);
        }
        if let Some(name) = var.strip_prefix("g_") {
            let kind = self
                .receptors
                .iter()
                .find(|r| r.name == name)
                .map(|r| r.kind);
            return match (&self.neuron, kind) {
                (
                    NeuronSpec::Lif(_) | NeuronSpec::EscapeLif(_),
                    Some(ReceptorKind::Conductance),
                ) => "× leak conductance",
                (NeuronSpec::Lif(_) | NeuronSpec::EscapeLif(_), Some(_)) => "mV",
                (
                    NeuronSpec::If(_) | NeuronSpec::Adex(_) | NeuronSpec::Hh(_),
                    Some(ReceptorKind::Conductance),
                ) => "nS",
                (NeuronSpec::If(_) | NeuronSpec::Adex(_) | NeuronSpec::Hh(_), Some(_)) => "pA",
                (NeuronSpec::Izhikevich(_), Some(ReceptorKind::Conductance)) => "1/mV",
                (NeuronSpec::Izhikevich(_), Some(_)) => "mV/ms",
                _ => "",
            };
        }
        match (var, &self.neuron) {
            ("v" | "theta", _) => "mV",
            ("w", NeuronSpec::Adex(_)) => "pA",
            ("u", NeuronSpec::Izhikevich(_)) => "mV/ms",
            ("refractory_steps", _) => "steps",
            _ => "",
        }
    }

    /// A population without receptors or initial values.
    pub fn new(name: &str, size: usize, neuron: NeuronSpec) -> Self {
        PopulationSpec {
            name: name.into(),
            size,
            neuron,
            receptors: Vec::new(),
            initial: BTreeMap::new(),
        }
    }
    /// Adds a receptor.
    pub fn with_receptor(mut self, r: ReceptorSpec) -> Self {
        self.receptors.push(r);
        self
    }
    /// Sets the initial value of a state variable.
    pub fn with_initial(mut self, var: &str, v: impl Into<Value>) -> Self {
        self.initial.insert(var.into(), v.into());
        self
    }
}

/// A whole network (a model file).
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Simulation settings.
    #[serde(default)]
    pub simulation: SimulationSpec,
    /// Populations.
    #[serde(default, rename = "population")]
    pub populations: Vec<PopulationSpec>,
    /// Projections.
    #[serde(default, rename = "projection")]
    pub projections: Vec<ProjectionSpec>,
    /// Injected currents.
    #[serde(default, rename = "current")]
    pub currents: Vec<CurrentSpec>,
    /// Summed external Poisson drives (`[[poisson_input]]`).
    #[serde(
        default,
        rename = "poisson_input",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub poisson_inputs: Vec<crate::poisson_input::PoissonInputSpec>,
    /// Monitors.
    #[serde(default, rename = "monitor")]
    pub monitors: Vec<MonitorSpec>,
    /// A model file's `[scale]` table: [`NetworkSpec::from_toml_str`] applies it
    /// ([`NetworkSpec::scale_by`]) and clears it, so a parsed network is always the
    /// network that runs; building a network that still has one is refused.
    #[serde(default, skip_serializing)]
    pub scale: Option<crate::scale::ScaleSpec>,
}

impl NetworkSpec {
    /// An empty network with time step and duration.
    pub fn new(dt_ms: f64, duration_ms: f64) -> Self {
        NetworkSpec {
            simulation: SimulationSpec {
                dt_ms,
                duration_ms,
                ..Default::default()
            },
            ..Default::default()
        }
    }
    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.simulation.seed = seed;
        self
    }
    /// Sets the number of threads (0 = one per core).
    pub fn threads(mut self, threads: usize) -> Self {
        self.simulation.threads = threads;
        self
    }
    /// Adds a population.
    pub fn population(mut self, p: PopulationSpec) -> Self {
        self.populations.push(p);
        self
    }
    /// Adds a projection.
    pub fn projection(mut self, p: ProjectionSpec) -> Self {
        self.projections.push(p);
        self
    }
    /// Adds a current input.
    pub fn current(mut self, c: CurrentSpec) -> Self {
        self.currents.push(c);
        self
    }
    /// Adds a summed Poisson drive (`[[poisson_input]]`).
    pub fn poisson_input(mut self, p: crate::poisson_input::PoissonInputSpec) -> Self {
        self.poisson_inputs.push(p);
        self
    }
    /// Adds a monitor.
    pub fn monitor(mut self, m: MonitorSpec) -> Self {
        self.monitors.push(m);
        self
    }

    /// Parses a model file's text; `path` is used in messages.
    /// A `[scale]` table is applied here (see [`crate::scale`]).
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Self> {
        let mut spec: NetworkSpec = toml::from_str(text).map_err(|e| Error::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if let Some(scale) = spec.scale.take() {
            spec.scale_by(&scale, "scale")?;
        }
        Ok(spec)
    }

    /// Reads, parses and validates a model file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
        let spec = Self::from_toml_str(&text, path)?;
        spec.validate()?;
        Ok(spec)
    }

    /// The model file text of this network.
    pub fn to_toml_string(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::Invalid(format!("cannot serialise network: {e}")))
    }

    /// Index of the population called `name`; `field` is named in the error.
    pub fn population_index(&self, name: &str, field: &str) -> Result<usize> {
        self.populations
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| Error::UnknownName {
                kind: "population",
                name: name.into(),
                field: field.into(),
                known: self.populations.iter().map(|p| p.name.clone()).collect(),
            })
    }

    /// Checks every field; the first problem is returned with its field path. This
    /// resolves the network into a [`BuildPlan`] and drops it.
    pub fn validate(&self) -> Result<()> {
        self.plan().map(drop)
    }

    /// Validates the network and resolves it into the plan a backend builds from
    /// (names resolved to indices, models and rules prepared once).
    pub fn plan(&self) -> Result<BuildPlan<'_>> {
        BuildPlan::new(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_units_follow_the_model_and_the_receptor() {
        let lif = PopulationSpec::new("a", 1, NeuronSpec::Lif(Lif::default()))
            .with_receptor(ReceptorSpec::current_exp("e", 5.0));
        assert_eq!(lif.state_unit("v"), "mV");
        assert_eq!(lif.state_unit("g_e"), "mV");
        assert_eq!(lif.state_unit("refractory_steps"), "steps");
        assert_eq!(lif.state_unit("g_nope"), "");
        let adex = PopulationSpec::new("b", 1, NeuronSpec::Adex(Adex::default()))
            .with_receptor(ReceptorSpec::current_exp("e", 5.0));
        assert_eq!(adex.state_unit("w"), "pA");
        assert_eq!(adex.state_unit("g_e"), "pA");
    }

    const GOOD: &str = r#"
[simulation]
dt_ms = 0.1
duration_ms = 100.0
seed = 1

[[population]]
name = "exc"
size = 10
[population.neuron]
model = "lif"
tau_m_ms = 20.0
[[population.receptor]]
name = "e"
type = "conductance"
tau_ms = 5.0
e_rev_mv = 0.0
[population.initial]
v = { normal = { mean = -60.0, std = 2.0 } }

[[population]]
name = "in"
size = 5
[population.neuron]
model = "poisson"
rate_hz = 10.0

[[projection]]
source = "in"
target = "exc"
receptor = "e"
connectivity = { rule = "fixed_probability", p = 0.5 }
weight = 0.1
delay_ms = { uniform = { low = 0.1, high = 2.0 } }

[[monitor]]
kind = "spikes"
population = "exc"
"#;

    fn parse(s: &str) -> Result<NetworkSpec> {
        let n = NetworkSpec::from_toml_str(s, Path::new("test.toml"))?;
        n.validate()?;
        Ok(n)
    }

    #[test]
    fn good_file_parses_and_round_trips() {
        let n = parse(GOOD).unwrap();
        assert_eq!(n.populations.len(), 2);
        let again = parse(&n.to_toml_string().unwrap()).unwrap();
        assert_eq!(n, again);
    }

    fn err(s: &str) -> String {
        parse(s).unwrap_err().to_string()
    }

    #[test]
    fn bad_files_name_the_field() {
        assert!(err(&GOOD.replace("tau_m_ms = 20.0", "tau_m_ms = -20.0"))
            .contains("population[exc].neuron.tau_m_ms"));
        assert!(err(&GOOD.replace("tau_m_ms = 20.0", "tau_mm = 20.0")).contains("tau_mm"));
        assert!(err(&GOOD.replace("p = 0.5", "p = 1.5")).contains("connectivity.p"));
        assert!(err(&GOOD.replace("low = 0.1", "low = 0.05")).contains("delay_ms"));
        assert!(err(&GOOD.replace("receptor = \"e\"", "receptor = \"x\"")).contains("known: e"));
        assert!(err(&GOOD.replace("model = \"lif\"", "model = \"lifx\"")).contains("lifx"));
        assert!(err(&GOOD.replace("size = 10", "size = 0")).contains("population[exc].size"));
        assert!(err(&GOOD.replace("weight = 0.1", "weight = -0.1")).contains("weight"));
        assert!(err(&GOOD.replace("seed = 1", "seed = 1\nbogus = 2")).contains("bogus"));
        assert!(err(&GOOD.replace("dt_ms = 0.1", "dt_ms = 0")).contains("simulation.dt_ms"));
        assert!(err(&GOOD.replace("v = {", "w = {")).contains("state variable `w`"));
    }
}
