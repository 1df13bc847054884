//! The liquid of a liquid state machine as an engine network: excitatory and
//! inhibitory LIF neurons in parameter groups (heterogeneous membrane time constants
//! and background drive), random or distance-based sparse recurrence with random
//! weights and delays (Maass, Natschläger & Markram 2002), optional slow
//! (and optionally STDP-plastic) excitatory synapses beside the fast ones, and the
//! projections from the input (or from the liquid below, when liquids are stacked).
//! [`build_network`] turns a [`LiquidConfig`] into a core `NetworkSpec`; every random
//! choice comes from streams keyed by the seed, so the same seed gives the same liquid.

use rand::Rng;
use serde::{Deserialize, Serialize};
use spikelab_core::connectivity::Connectivity;
use spikelab_core::error::{Error, Result};
use spikelab_core::monitor::MonitorSpec;
use spikelab_core::network::{NetworkSpec, NeuronSpec, PopulationSpec, ProjectionSpec};
use spikelab_core::neuron::lif::Lif;
use spikelab_core::plasticity::stdp::Stdp;
use spikelab_core::plasticity::PlasticitySpec;
use spikelab_core::rng::{self, Domain, Stream};
use spikelab_core::selection::NeuronSelection;
use spikelab_core::source::SpikeGenerator;
use spikelab_core::synapse::ReceptorSpec;
use spikelab_core::value::{Distribution, Value};

/// Name of the input population (a spike generator the encoded series drive).
pub const INPUT: &str = "input";

/// How the neurons of a liquid are connected to each other.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Topology {
    /// Each ordered pair independently with a probability per connection type
    /// (E→E, E→I, I→E, I→I).
    Random {
        /// Connection probabilities `[ee, ei, ie, ii]`.
        p: [f64; 4],
    },
    /// Neurons on a 3-D integer grid (E and I positions shuffled), each pair with
    /// probability `C·exp(−(D/λ)²)` of their distance `D` (Maass et al. 2002).
    Distance {
        /// Length constant λ (grid units); Maass et al. use 2.
        lambda: f64,
        /// `C` per connection type `[ee, ei, ie, ii]`; Maass et al. use 0.3, 0.2, 0.4, 0.1.
        c: [f64; 4],
        /// Grid extent `[x, y, z]` (at least the liquid's size); default a column
        /// `[⌈N/9⌉, 3, 3]`, as the paper's 15 × 3 × 3.
        #[serde(default)]
        grid: Option<[usize; 3]>,
    },
}

impl Topology {
    /// Random sparse recurrence: 10 % of E→E, E→I and I→I pairs, 20 % of I→E.
    pub fn random() -> Self {
        Topology::Random {
            p: [0.1, 0.1, 0.2, 0.1],
        }
    }

    /// Maass et al. (2002)'s distance rule: λ = 2, C = 0.3, 0.2, 0.4, 0.1, a column.
    pub fn maass() -> Self {
        Topology::Distance {
            lambda: 2.0,
            c: [0.3, 0.2, 0.4, 0.1],
            grid: None,
        }
    }
}

impl Default for Topology {
    /// The distance rule ([`Topology::maass`]).
    fn default() -> Self {
        Topology::maass()
    }
}

/// Slow excitatory synapses beside the fast ones (E→E only), optionally plastic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlowSynapses {
    /// Decay time constant of the slow receptor (ms).
    pub tau_ms: f64,
    /// Connection probability of each E→E pair.
    pub p: f64,
    /// Initial weight (mV of drive, as the fast ones).
    pub weight_mv: f64,
    /// STDP on the slow synapses; the liquid adapts to the training input for
    /// `LsmConfig::adapt_epochs` passes before its states are read out, then freezes.
    pub stdp: Option<Stdp>,
}

impl Default for SlowSynapses {
    fn default() -> Self {
        SlowSynapses {
            tau_ms: 50.0,
            p: 0.1,
            weight_mv: 0.5,
            stdp: None,
        }
    }
}

/// One liquid: its neurons, synapses and input. Voltages are relative to rest (mV),
/// weights are the peak drive of a synaptic current (mV, the core LIF's unit).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiquidConfig {
    /// Excitatory neurons.
    pub excitatory: usize,
    /// Inhibitory neurons.
    pub inhibitory: usize,
    /// Parameter groups per neuron type: each group draws its own membrane time
    /// constant and background drive from the ranges below (heterogeneity).
    pub groups: usize,
    /// Range `[low, high]` of the groups' membrane time constants (ms).
    pub tau_m_ms: [f64; 2],
    /// Range of the groups' constant background drive (mV; below threshold, so a
    /// liquid without input is silent).
    pub i_bias_mv: [f64; 2],
    /// Threshold above rest (mV).
    pub v_thresh_mv: f64,
    /// Reset above rest (mV).
    pub v_reset_mv: f64,
    /// Refractory period of excitatory neurons (ms).
    pub t_ref_exc_ms: f64,
    /// Refractory period of inhibitory neurons (ms).
    pub t_ref_inh_ms: f64,
    /// Decay time constant of excitatory synaptic currents (ms).
    pub tau_exc_ms: f64,
    /// Decay time constant of inhibitory synaptic currents (ms).
    pub tau_inh_ms: f64,
    /// Recurrent connectivity.
    pub topology: Topology,
    /// Mean weight magnitudes `[ee, ei, ie, ii]` (mV; inhibitory ones act negatively).
    pub weights_mv: [f64; 4],
    /// Relative standard deviation of every weight (redrawn to keep its sign).
    pub weight_cv: f64,
    /// Range of the uniformly drawn synaptic delays (ms).
    pub delay_ms: [f64; 2],
    /// Probability that an input neuron projects to a liquid neuron.
    pub input_p: f64,
    /// Mean weight of the input synapses (mV).
    pub input_weight_mv: f64,
    /// Slow excitatory synapses (absent: fast synapses only).
    pub slow: Option<SlowSynapses>,
}

impl Default for LiquidConfig {
    fn default() -> Self {
        LiquidConfig {
            excitatory: 400,
            inhibitory: 100,
            groups: 4,
            tau_m_ms: [20.0, 40.0],
            i_bias_mv: [5.0, 12.0],
            v_thresh_mv: 15.0,
            v_reset_mv: 0.0,
            t_ref_exc_ms: 3.0,
            t_ref_inh_ms: 2.0,
            tau_exc_ms: 3.0,
            tau_inh_ms: 6.0,
            topology: Topology::default(),
            weights_mv: [10.0, 20.0, 20.0, 20.0],
            weight_cv: 0.5,
            delay_ms: [1.0, 2.0],
            input_p: 0.2,
            input_weight_mv: 20.0,
            slow: None,
        }
    }
}

fn check(field: &str, ok: bool, what: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::field(field, what.to_string()))
    }
}

fn check_range(field: &str, r: [f64; 2], min_exclusive: f64) -> Result<()> {
    check(
        field,
        r.iter().all(|x| x.is_finite()) && r[0] > min_exclusive && r[1] >= r[0],
        &format!(
            "must be [low, high] with {min_exclusive} < low <= high (got [{}, {}])",
            r[0], r[1]
        ),
    )
}

fn check_probabilities(field: &str, p: &[f64]) -> Result<()> {
    check(
        field,
        p.iter().all(|x| (0.0..=1.0).contains(x)),
        &format!("probabilities must be in [0, 1] (got {p:?})"),
    )
}

impl LiquidConfig {
    /// Neurons of the liquid.
    pub fn size(&self) -> usize {
        self.excitatory + self.inhibitory
    }

    /// Checks every field; `field` prefixes messages (e.g. `liquid`).
    pub fn validate(&self, field: &str) -> Result<()> {
        check(
            &format!("{field}.excitatory"),
            self.excitatory > 0,
            "must be > 0",
        )?;
        check(
            &format!("{field}.groups"),
            self.groups >= 1 && self.groups <= self.excitatory.min(self.inhibitory.max(1)),
            &format!(
                "must be between 1 and the number of excitatory and of inhibitory neurons (got {})",
                self.groups
            ),
        )?;
        check_range(&format!("{field}.tau_m_ms"), self.tau_m_ms, 0.0)?;
        check_range(&format!("{field}.i_bias_mv"), self.i_bias_mv, f64::MIN)?;
        check(
            &format!("{field}.v_reset_mv"),
            self.v_reset_mv.is_finite()
                && self.v_thresh_mv.is_finite()
                && self.v_reset_mv < self.v_thresh_mv,
            "must be below v_thresh_mv",
        )?;
        for (name, v) in [
            ("t_ref_exc_ms", self.t_ref_exc_ms),
            ("t_ref_inh_ms", self.t_ref_inh_ms),
        ] {
            check(
                &format!("{field}.{name}"),
                v.is_finite() && v >= 0.0,
                "must be >= 0",
            )?;
        }
        for (name, v) in [
            ("tau_exc_ms", self.tau_exc_ms),
            ("tau_inh_ms", self.tau_inh_ms),
        ] {
            check(
                &format!("{field}.{name}"),
                v.is_finite() && v > 0.0,
                "must be > 0",
            )?;
        }
        match &self.topology {
            Topology::Random { p } => check_probabilities(&format!("{field}.topology.p"), p)?,
            Topology::Distance { lambda, c, grid } => {
                check(
                    &format!("{field}.topology.lambda"),
                    lambda.is_finite() && *lambda > 0.0,
                    "must be > 0",
                )?;
                check_probabilities(&format!("{field}.topology.c"), c)?;
                if let Some(g) = grid {
                    check(
                        &format!("{field}.topology.grid"),
                        g.iter().product::<usize>() >= self.size(),
                        &format!(
                            "{g:?} has {} places for {} neurons",
                            g.iter().product::<usize>(),
                            self.size()
                        ),
                    )?;
                }
            }
        }
        check(
            &format!("{field}.weights_mv"),
            self.weights_mv.iter().all(|w| w.is_finite() && *w >= 0.0),
            "weight magnitudes must be finite and >= 0 (inhibition is negative by type)",
        )?;
        check(
            &format!("{field}.weight_cv"),
            self.weight_cv.is_finite() && (0.0..=2.0).contains(&self.weight_cv),
            "must be in [0, 2]",
        )?;
        check_range(&format!("{field}.delay_ms"), self.delay_ms, 0.0)?;
        check_probabilities(&format!("{field}.input_p"), &[self.input_p])?;
        check(
            &format!("{field}.input_weight_mv"),
            self.input_weight_mv.is_finite() && self.input_weight_mv >= 0.0,
            "must be finite and >= 0",
        )?;
        if let Some(s) = &self.slow {
            check(
                &format!("{field}.slow.tau_ms"),
                s.tau_ms.is_finite() && s.tau_ms > 0.0,
                "must be > 0",
            )?;
            check_probabilities(&format!("{field}.slow.p"), &[s.p])?;
            check(
                &format!("{field}.slow.weight_mv"),
                s.weight_mv.is_finite() && s.weight_mv >= 0.0,
                "must be finite and >= 0",
            )?;
        }
        Ok(())
    }
}

/// How several liquids are arranged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Arrangement {
    /// Number of liquids (each with its own random connectivity).
    pub liquids: usize,
    /// Stacked: liquid k + 1 is driven by the excitatory spikes of liquid k instead of
    /// the input (a deep LSM); all liquids are read out.
    pub stacked: bool,
    /// Partitioned: side by side, each liquid receives only its share of the input
    /// channels (channel c goes to liquid c mod liquids).
    pub partition_inputs: bool,
}

impl Default for Arrangement {
    fn default() -> Self {
        Arrangement {
            liquids: 1,
            stacked: false,
            partition_inputs: false,
        }
    }
}

/// One population of a built liquid machine, as the state reader sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct LiquidPopulation {
    /// Population name in the network.
    pub name: String,
    /// Liquid index.
    pub liquid: usize,
    /// True for excitatory groups.
    pub excitatory: bool,
    /// Neurons.
    pub size: usize,
    /// Index of its first neuron in the state vector (all liquids' neurons in order).
    pub offset: usize,
}

/// A liquid machine as an engine network, with the map from its populations to the
/// state vector.
#[derive(Clone, Debug)]
pub struct BuiltLiquid {
    /// The network (input spike generator, liquids, spike monitors on every group).
    pub network: NetworkSpec,
    /// The liquids' populations, in network order.
    pub populations: Vec<LiquidPopulation>,
    /// Neurons of all liquids (the length of a state vector per sample point).
    pub neurons: usize,
    /// Names of the plastic (slow, STDP) projections.
    pub plastic_projections: Vec<String>,
}

/// Sizes of `n` split into `groups` near-equal parts.
fn split_sizes(n: usize, groups: usize) -> Vec<usize> {
    (0..groups)
        .map(|g| n / groups + usize::from(g < n % groups))
        .collect()
}

/// A draw of `mean` with relative spread `cv`, redrawn until it has the sign of
/// `mean` (a truncated normal), as a core value.
fn weight_value(mean: f64, cv: f64) -> Value {
    if cv == 0.0 || mean == 0.0 {
        return Value::Constant(mean);
    }
    let (low, high) = if mean > 0.0 {
        (Some(0.0), None)
    } else {
        (None, Some(0.0))
    };
    Value::Random(Distribution::Normal {
        mean,
        std: cv * mean.abs(),
        low,
        high,
    })
}

fn draw_weight(rng: &mut Stream, mean: f64, cv: f64) -> f64 {
    use rand_distr::{Distribution as _, StandardNormal};
    if cv == 0.0 || mean == 0.0 {
        return mean;
    }
    for _ in 0..64 {
        let z: f64 = StandardNormal.sample(rng);
        let w = mean + cv * mean.abs() * z;
        if w * mean > 0.0 {
            return w;
        }
    }
    mean
}

/// Positions of `n` neurons on `grid` (shuffled places), for the distance rule.
fn grid_positions(rng: &mut Stream, n: usize, grid: [usize; 3]) -> Vec<[f64; 3]> {
    let mut places: Vec<[f64; 3]> = Vec::with_capacity(grid.iter().product());
    for x in 0..grid[0] {
        for y in 0..grid[1] {
            for z in 0..grid[2] {
                places.push([x as f64, y as f64, z as f64]);
            }
        }
    }
    // Partial Fisher–Yates: the first n places, uniformly chosen and ordered.
    for i in 0..n.min(places.len()) {
        let j = rng.random_range(i..places.len());
        places.swap(i, j);
    }
    places.truncate(n);
    places
}

/// Builds the network of `arrangement` liquids of `liquid` driven by `inputs` input
/// neurons, where input neuron `j` belongs to channel `j / per_channel`.
pub fn build_network(
    liquid: &LiquidConfig,
    arrangement: &Arrangement,
    inputs: usize,
    per_channel: usize,
    dt_ms: f64,
    seed: u64,
) -> Result<BuiltLiquid> {
    liquid.validate("liquid")?;
    if arrangement.liquids == 0 {
        return Err(Error::field("liquids", "must be >= 1"));
    }
    if arrangement.stacked && arrangement.partition_inputs {
        return Err(Error::field(
            "partition_inputs",
            "stacked liquids take the whole input in the first liquid; choose stacked or partition_inputs",
        ));
    }
    if inputs == 0 || per_channel == 0 {
        return Err(Error::Invalid(
            "a liquid needs at least one input neuron".into(),
        ));
    }
    let mut net = NetworkSpec::new(dt_ms, 1000.0).seed(seed);
    net = net.population(PopulationSpec::new(
        INPUT,
        inputs,
        NeuronSpec::SpikeGenerator(SpikeGenerator {
            neurons: vec![],
            times_ms: vec![],
        }),
    ));
    let mut populations = Vec::new();
    let mut plastic_projections = Vec::new();
    let mut offset = 0usize;
    let channels = inputs.div_ceil(per_channel);
    for l in 0..arrangement.liquids {
        let mut rng = rng::stream(seed, Domain::Connectivity, &[0x4C53_4D00, l as u64]);
        // Groups: parameters drawn per group.
        let mut groups: Vec<(String, bool, usize)> = Vec::new();
        for (excitatory, n) in [(true, liquid.excitatory), (false, liquid.inhibitory)] {
            if n == 0 {
                continue;
            }
            for (g, size) in split_sizes(n, liquid.groups).into_iter().enumerate() {
                let name = format!("l{l}_{}{g}", if excitatory { "e" } else { "i" });
                let tau_m = uniform_in(&mut rng, liquid.tau_m_ms);
                let i_bias = uniform_in(&mut rng, liquid.i_bias_mv);
                let lif = Lif {
                    tau_m_ms: tau_m,
                    v_rest_mv: 0.0,
                    v_reset_mv: liquid.v_reset_mv,
                    v_thresh_mv: liquid.v_thresh_mv,
                    t_ref_ms: if excitatory {
                        liquid.t_ref_exc_ms
                    } else {
                        liquid.t_ref_inh_ms
                    },
                    i_bias_mv: i_bias,
                    ..Lif::default()
                };
                let mut pop = PopulationSpec::new(&name, size, NeuronSpec::Lif(lif))
                    .with_receptor(ReceptorSpec::current_exp("exc", liquid.tau_exc_ms))
                    .with_receptor(ReceptorSpec::current_exp("inh", liquid.tau_inh_ms))
                    .with_initial(
                        "v",
                        Value::Random(Distribution::Uniform {
                            low: liquid.v_reset_mv,
                            high: liquid.v_thresh_mv,
                        }),
                    );
                if excitatory {
                    if let Some(s) = &liquid.slow {
                        pop = pop.with_receptor(ReceptorSpec::current_exp("slow", s.tau_ms));
                    }
                }
                net = net.population(pop);
                net.monitors.push(MonitorSpec::Spikes {
                    population: name.clone(),
                    neurons: NeuronSelection::All,
                });
                populations.push(LiquidPopulation {
                    name: name.clone(),
                    liquid: l,
                    excitatory,
                    size,
                    offset,
                });
                offset += size;
                groups.push((name, excitatory, size));
            }
        }
        // Recurrence.
        let kind = |src_e: bool, tgt_e: bool| match (src_e, tgt_e) {
            (true, true) => 0,
            (true, false) => 1,
            (false, true) => 2,
            (false, false) => 3,
        };
        let positions = match &liquid.topology {
            Topology::Distance { grid, .. } => {
                let n = liquid.size();
                let grid = grid.unwrap_or([n.div_ceil(9), 3, 3]);
                Some(grid_positions(&mut rng, n, grid))
            }
            Topology::Random { .. } => None,
        };
        let group_offsets: Vec<usize> = groups
            .iter()
            .scan(0usize, |o, g| {
                let start = *o;
                *o += g.2;
                Some(start)
            })
            .collect();
        for (si, (src, src_e, src_n)) in groups.iter().enumerate() {
            for (ti, (tgt, tgt_e, tgt_n)) in groups.iter().enumerate() {
                let k = kind(*src_e, *tgt_e);
                let sign = if *src_e { 1.0 } else { -1.0 };
                let mean = sign * liquid.weights_mv[k];
                let receptor = if *src_e { "exc" } else { "inh" };
                let same = si == ti;
                let proj = match (&liquid.topology, &positions) {
                    (Topology::Random { p }, _) => ProjectionSpec::new(
                        src,
                        tgt,
                        receptor,
                        Connectivity::FixedProbability {
                            p: p[k],
                            allow_self: false,
                        },
                        weight_value(mean, liquid.weight_cv),
                    )
                    .with_delay_ms(delay_value(liquid.delay_ms)),
                    (Topology::Distance { lambda, c, .. }, Some(pos)) => {
                        let mut pairs = Vec::new();
                        let mut weights = Vec::new();
                        let mut delays = Vec::new();
                        for i in 0..*src_n {
                            let a = pos[group_offsets[si] + i];
                            for j in 0..*tgt_n {
                                if same && i == j {
                                    continue;
                                }
                                let b = pos[group_offsets[ti] + j];
                                let d2: f64 = (0..3).map(|q| (a[q] - b[q]).powi(2)).sum();
                                let p = c[k] * (-d2 / (lambda * lambda)).exp();
                                if rng.random::<f64>() < p {
                                    pairs.push((i as u32, j as u32));
                                    weights.push(draw_weight(&mut rng, mean, liquid.weight_cv));
                                    delays.push(uniform_in(&mut rng, liquid.delay_ms));
                                }
                            }
                        }
                        if pairs.is_empty() {
                            continue;
                        }
                        ProjectionSpec::new(
                            src,
                            tgt,
                            receptor,
                            Connectivity::List {
                                pairs,
                                weights: Some(weights),
                                delays_ms: Some(delays),
                            },
                            mean,
                        )
                    }
                    (Topology::Distance { .. }, None) => unreachable!("positions drawn above"),
                };
                net = net.projection(proj);
            }
        }
        // Slow (optionally plastic) E→E synapses.
        if let Some(s) = &liquid.slow {
            for (src, src_e, _) in &groups {
                for (tgt, tgt_e, _) in &groups {
                    if !(*src_e && *tgt_e) {
                        continue;
                    }
                    let name = format!("{src}->{tgt}:slow");
                    let mut proj = ProjectionSpec::new(
                        src,
                        tgt,
                        "slow",
                        Connectivity::FixedProbability {
                            p: s.p,
                            allow_self: false,
                        },
                        weight_value(s.weight_mv, liquid.weight_cv),
                    )
                    .with_delay_ms(delay_value(liquid.delay_ms))
                    .named(&name);
                    if let Some(rule) = &s.stdp {
                        proj = proj.with_plasticity(PlasticitySpec::Stdp(rule.clone()));
                        plastic_projections.push(name);
                    }
                    net = net.projection(proj);
                }
            }
        }
        // Drive: the input (first or every liquid), or the liquid below.
        let below: Vec<&LiquidPopulation> = if arrangement.stacked && l > 0 {
            populations
                .iter()
                .filter(|p| p.liquid == l - 1 && p.excitatory)
                .collect()
        } else {
            Vec::new()
        };
        let mut in_rng = rng::stream(seed, Domain::Connectivity, &[0x4C53_4D01, l as u64]);
        for (tgt, _, tgt_n) in &groups {
            let sources: Vec<(String, Vec<u32>)> = if below.is_empty() {
                let allowed: Vec<u32> = (0..inputs as u32)
                    .filter(|&j| {
                        !arrangement.partition_inputs
                            || (j as usize / per_channel) % arrangement.liquids == l
                            || channels < arrangement.liquids
                    })
                    .collect();
                vec![(INPUT.to_string(), allowed)]
            } else {
                below
                    .iter()
                    .map(|p| (p.name.clone(), (0..p.size as u32).collect()))
                    .collect()
            };
            for (src, allowed) in sources {
                let mut pairs = Vec::new();
                let mut weights = Vec::new();
                for &i in &allowed {
                    for j in 0..*tgt_n as u32 {
                        if in_rng.random::<f64>() < liquid.input_p {
                            pairs.push((i, j));
                            weights.push(draw_weight(
                                &mut in_rng,
                                liquid.input_weight_mv,
                                liquid.weight_cv,
                            ));
                        }
                    }
                }
                if pairs.is_empty() {
                    continue;
                }
                net = net.projection(ProjectionSpec::new(
                    &src,
                    tgt,
                    "exc",
                    Connectivity::List {
                        pairs,
                        weights: Some(weights),
                        delays_ms: None,
                    },
                    liquid.input_weight_mv,
                ));
            }
        }
    }
    Ok(BuiltLiquid {
        network: net,
        populations,
        neurons: offset,
        plastic_projections,
    })
}

/// A uniform draw in `[low, high)`, or `low` for an empty range.
fn uniform_in(rng: &mut Stream, r: [f64; 2]) -> f64 {
    if r[1] > r[0] {
        rng.random_range(r[0]..r[1])
    } else {
        r[0]
    }
}

fn delay_value(r: [f64; 2]) -> Value {
    if r[1] > r[0] {
        Value::Random(Distribution::Uniform {
            low: r[0],
            high: r[1],
        })
    } else {
        Value::Constant(r[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spikelab_core::engine::Simulator;

    #[test]
    fn liquids_build_on_the_engine_with_the_requested_sizes_and_sparsity() {
        let cfg = LiquidConfig {
            excitatory: 80,
            inhibitory: 20,
            groups: 2,
            topology: Topology::random(),
            ..LiquidConfig::default()
        };
        let built = build_network(&cfg, &Arrangement::default(), 12, 1, 1.0, 3).unwrap();
        assert_eq!(built.neurons, 100);
        assert_eq!(built.populations.len(), 4);
        let sim = Simulator::build(&built.network).unwrap();
        // E→E pairs (80·79) at p = 0.1 give about 632 synapses.
        let ee: usize = sim
            .projections()
            .iter()
            .filter(|p| {
                let s = &sim.populations()[p.source].name;
                let t = &sim.populations()[p.target].name;
                s.starts_with("l0_e") && t.starts_with("l0_e")
            })
            .map(|p| p.synapses)
            .sum();
        assert!((500..780).contains(&ee), "E→E synapses {ee}");
        // The same seed gives the same liquid; another seed another.
        let again = build_network(&cfg, &Arrangement::default(), 12, 1, 1.0, 3).unwrap();
        assert_eq!(
            format!("{:?}", again.network),
            format!("{:?}", built.network)
        );
        let other = build_network(&cfg, &Arrangement::default(), 12, 1, 1.0, 4).unwrap();
        assert_ne!(
            format!("{:?}", other.network),
            format!("{:?}", built.network)
        );
    }

    #[test]
    fn distance_based_liquids_connect_near_neurons_more_often() {
        let cfg = LiquidConfig {
            excitatory: 108,
            inhibitory: 27,
            groups: 1,
            topology: Topology::Distance {
                lambda: 2.0,
                c: [0.3, 0.2, 0.4, 0.1],
                grid: Some([15, 3, 3]),
            },
            ..LiquidConfig::default()
        };
        let built = build_network(&cfg, &Arrangement::default(), 4, 1, 1.0, 1).unwrap();
        let sim = Simulator::build(&built.network).unwrap();
        let recurrent: usize = sim
            .projections()
            .iter()
            .filter(|p| sim.populations()[p.source].name != INPUT)
            .map(|p| p.synapses)
            .sum();
        // Each neuron reaches about C·Σ exp(−D²/λ²) over its neighbours: a few per
        // neuron on a 15 × 3 × 3 column, far below the random rule's 10 %.
        let per_neuron = recurrent as f64 / 135.0;
        assert!(
            (1.0..12.0).contains(&per_neuron),
            "{per_neuron} synapses per neuron"
        );
        let bad = LiquidConfig {
            topology: Topology::Distance {
                lambda: 2.0,
                c: [0.3, 0.2, 0.4, 0.1],
                grid: Some([2, 2, 2]),
            },
            ..cfg
        };
        let e = build_network(&bad, &Arrangement::default(), 4, 1, 1.0, 1).unwrap_err();
        assert!(e.to_string().contains("liquid.topology.grid"), "{e}");
    }

    #[test]
    fn stacked_and_partitioned_liquids_wire_their_drive() {
        let cfg = LiquidConfig {
            excitatory: 40,
            inhibitory: 10,
            groups: 1,
            ..LiquidConfig::default()
        };
        let stacked = Arrangement {
            liquids: 2,
            stacked: true,
            partition_inputs: false,
        };
        let built = build_network(&cfg, &stacked, 6, 2, 1.0, 0).unwrap();
        let sim = Simulator::build(&built.network).unwrap();
        let from = |name: &str, to: &str| {
            sim.projections().iter().any(|p| {
                sim.populations()[p.source].name == name && sim.populations()[p.target].name == to
            })
        };
        assert!(from(INPUT, "l0_e0") && !from(INPUT, "l1_e0") && from("l0_e0", "l1_e0"));
        let part = Arrangement {
            liquids: 3,
            stacked: false,
            partition_inputs: true,
        };
        let built = build_network(&cfg, &part, 6, 2, 1.0, 0).unwrap();
        // Liquid 1 receives only channel 1 (input neurons 2 and 3).
        for p in &built.network.projections {
            if p.source == INPUT && p.target.starts_with("l1_") {
                let Connectivity::List { pairs, .. } = &p.connectivity else {
                    panic!("input projections are lists");
                };
                assert!(pairs.iter().all(|(i, _)| *i == 2 || *i == 3), "{pairs:?}");
            }
        }
        let both = Arrangement {
            liquids: 2,
            stacked: true,
            partition_inputs: true,
        };
        assert!(build_network(&cfg, &both, 6, 2, 1.0, 0).is_err());
        let bad = LiquidConfig {
            weight_cv: -1.0,
            ..cfg
        };
        let e = build_network(&bad, &Arrangement::default(), 6, 2, 1.0, 0).unwrap_err();
        assert!(e.to_string().contains("liquid.weight_cv"), "{e}");
    }
}
