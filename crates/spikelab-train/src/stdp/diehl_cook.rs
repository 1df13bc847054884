//! Diehl & Cook (2015), "Unsupervised learning of digit recognition using
//! spike-timing-dependent plasticity", Front. Comput. Neurosci. 9:99 — the network of
//! the paper as in its original code, built on the core engine.
//!
//! * 784 Poisson inputs, rate = pixel / 8 × intensity Hz (intensity 2 → pixel / 4,
//!   at most 63.75 Hz), Bernoulli per step as Brian's `PoissonGroup`.
//! * N excitatory conductance-based LIF neurons: rest −65 mV, reset −65 mV,
//!   threshold −52 mV + θ, refractory 5 ms, τ_m 100 ms; synapses τ 1 ms (E 0 mV) and
//!   2 ms (E −100 mV); adaptive threshold θ += 0.05 mV per spike, τ_θ = 10⁷ ms.
//! * N inhibitory LIF neurons: rest −60 mV, reset −45 mV, threshold −40 mV,
//!   refractory 2 ms, τ_m 10 ms; synapses τ 1 ms (E 0 mV) and 2 ms (E −85 mV).
//! * input → excitatory: all-to-all, w = (U[0,1) + 0.01) · 0.3, delays U[0, 10] ms,
//!   plastic: nearest-spike triplet rule with presynaptic trace τ 20 ms and
//!   postsynaptic traces τ 20 / 40 ms; on a presynaptic spike w −= 0.0001 · post1, on
//!   a postsynaptic spike w += 0.01 · pre · post2 (before its update), w ∈ [0, 1].
//!   Each neuron's input weights are normalised to sum 78 before every example.
//! * excitatory → inhibitory one-to-one (w 10.4); inhibitory → excitatory all but the
//!   same index (w 17.0).
//! * dt 0.5 ms; 350 ms presentation, then 150 ms without input. If the excitatory
//!   neurons fire fewer than 5 spikes, the intensity rises by 1 and the image is shown
//!   again.
//!
//! The engine delivers a spike one step after it is emitted at the earliest, which is
//! what Brian does for a synapse without delay; delays are therefore shifted by one
//! step (Brian's 0 ms is our 0.5 ms).

use crate::checkpoint::{LoadedFile, TensorFile};
use spikelab_core::plasticity::{Pairing, PlasticitySpec, Triplet, WeightDependence};
use spikelab_core::prelude::*;
use spikelab_core::source::PoissonProcess;

/// Pixels of an input image.
pub const PIXELS: usize = 784;
/// Most excitatory neurons of a network (five times the paper's largest, 6,400).
pub const MAX_NEURONS: usize = 32768;

/// Parameters of a Diehl & Cook network and its presentation protocol.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DiehlCookConfig {
    /// Excitatory (and inhibitory) neurons.
    pub n_neurons: usize,
    /// Seed of every random stream.
    pub seed: u64,
    /// Worker threads for the simulation.
    pub threads: usize,
    /// Time step (ms).
    pub dt_ms: f64,
    /// Presentation time (ms).
    pub present_ms: f64,
    /// Rest time between presentations (ms).
    pub rest_ms: f64,
    /// Starting input intensity (rate = pixel / 8 × intensity Hz).
    pub start_intensity: f64,
    /// Fewest excitatory spikes accepted for a presentation.
    pub min_spikes: usize,
    /// Most presentations of one image (each with intensity + 1).
    pub max_presentations: usize,
    /// Sum of each neuron's input weights after normalisation.
    pub weight_sum: f64,
    /// How the neurons integrate: exponential Euler (default, stable for any
    /// conductance) or forward Euler (the paper's Brian code; unstable once many
    /// inhibitory spikes coincide — at dt 0.5 ms and τ_m 100 ms the membrane overshoots
    /// when the inhibitory conductance passes 400 leak units, which happens in
    /// networks of 1,600 neurons). Checkpoints written before this field existed used
    /// forward Euler.
    #[serde(default = "original_integration")]
    pub integration: Integration,
}

/// Forward Euler, the integration of the original code (and of checkpoints that do
/// not say).
fn original_integration() -> Integration {
    Integration::Euler
}

impl Default for DiehlCookConfig {
    fn default() -> Self {
        DiehlCookConfig {
            n_neurons: 400,
            seed: 0,
            threads: 1,
            dt_ms: 0.5,
            present_ms: 350.0,
            rest_ms: 150.0,
            start_intensity: 2.0,
            min_spikes: 5,
            max_presentations: 16,
            weight_sum: 78.0,
            integration: Integration::ExponentialEuler,
        }
    }
}

/// Errors of the Diehl & Cook recipe.
#[derive(Debug, thiserror::Error)]
pub enum DiehlCookError {
    /// From the engine.
    #[error(transparent)]
    Core(#[from] spikelab_core::error::Error),
    /// Bad arguments.
    #[error("{0}")]
    Invalid(String),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, DiehlCookError>;

/// What one presentation produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Presentation {
    /// Spikes of each excitatory neuron during the accepted presentation.
    pub counts: Vec<u32>,
    /// Presentations needed (1 unless the network was too quiet).
    pub presentations: usize,
}

/// The network, built on a [`Simulator`].
pub struct DiehlCook {
    /// The configuration it was built with.
    pub config: DiehlCookConfig,
    sim: Simulator,
    input: usize,
    exc: usize,
    inh: usize,
    plastic: usize,
    learning: bool,
}

fn exc_neuron(learning: bool, integration: Integration) -> Lif {
    Lif {
        tau_m_ms: 100.0,
        v_rest_mv: -65.0,
        v_reset_mv: -65.0,
        v_thresh_mv: -52.0,
        t_ref_ms: 5.0,
        integration,
        theta_plus_mv: if learning { 0.05 } else { 0.0 },
        tau_theta_ms: Some(if learning { 1e7 } else { f64::MAX }),
        ..Lif::default()
    }
}

impl DiehlCook {
    /// The network description (a model file could hold the same).
    pub fn network(config: &DiehlCookConfig) -> NetworkSpec {
        let n = config.n_neurons;
        let dt = config.dt_ms;
        let inh_neuron = Lif {
            tau_m_ms: 10.0,
            v_rest_mv: -60.0,
            v_reset_mv: -45.0,
            v_thresh_mv: -40.0,
            t_ref_ms: 2.0,
            integration: config.integration,
            ..Lif::default()
        };
        let stdp = PlasticitySpec::Triplet(Triplet {
            a2_plus: 0.0,
            a3_plus: 0.01,
            a2_minus: 0.0001,
            a3_minus: 0.0,
            tau_plus_ms: 20.0,
            tau_x_ms: 20.0,
            tau_minus_ms: 20.0,
            tau_y_ms: 40.0,
            w_min: 0.0,
            w_max: 1.0,
            weight_dependence: WeightDependence::Additive,
            pairing: Pairing::Nearest,
        });
        let all_but_self: Vec<(u32, u32)> = (0..n as u32)
            .flat_map(|i| (0..n as u32).filter(move |&j| j != i).map(move |j| (i, j)))
            .collect();
        NetworkSpec::new(dt, 0.0)
            .seed(config.seed)
            .threads(config.threads)
            .population(PopulationSpec::new(
                "input",
                PIXELS,
                NeuronSpec::Poisson(PoissonSource {
                    rate_hz: Some(Value::Constant(0.0)),
                    rates_hz: None,
                    process: PoissonProcess::Bernoulli,
                }),
            ))
            .population(
                PopulationSpec::new(
                    "exc",
                    n,
                    NeuronSpec::Lif(exc_neuron(true, config.integration)),
                )
                .with_receptor(ReceptorSpec::conductance_exp("e", 1.0, 0.0))
                .with_receptor(ReceptorSpec::conductance_exp("i", 2.0, -100.0))
                .with_initial("v", -105.0),
            )
            .population(
                PopulationSpec::new("inh", n, NeuronSpec::Lif(inh_neuron))
                    .with_receptor(ReceptorSpec::conductance_exp("e", 1.0, 0.0))
                    .with_receptor(ReceptorSpec::conductance_exp("i", 2.0, -85.0))
                    .with_initial("v", -100.0),
            )
            .projection(
                ProjectionSpec::new(
                    "input",
                    "exc",
                    "e",
                    Connectivity::AllToAll { allow_self: true },
                    Value::uniform(0.003, 0.303),
                )
                .with_delay_ms(Value::uniform(dt, 10.0 + dt))
                .with_plasticity(stdp)
                .named("input->exc"),
            )
            .projection(
                ProjectionSpec::new("exc", "inh", "e", Connectivity::OneToOne, 10.4)
                    .named("exc->inh"),
            )
            .projection(
                ProjectionSpec::new(
                    "inh",
                    "exc",
                    "i",
                    Connectivity::List {
                        pairs: all_but_self,
                        weights: None,
                        delays_ms: None,
                    },
                    17.0,
                )
                .named("inh->exc"),
            )
            .monitor(MonitorSpec::Spikes {
                population: "exc".into(),
                neurons: NeuronSelection::All,
            })
    }

    /// Builds the network.
    pub fn new(config: DiehlCookConfig) -> Result<Self> {
        if config.n_neurons == 0 {
            return Err(DiehlCookError::Invalid(
                "n_neurons must be at least 1".into(),
            ));
        }
        // The inhibition is listed pair by pair (n² − n pairs) before the engine checks
        // the memory, so an absurd size must be refused here.
        if config.n_neurons > MAX_NEURONS {
            return Err(DiehlCookError::Invalid(format!(
                "n_neurons must be at most {MAX_NEURONS} (got {}; the lateral inhibition alone would be n² synapses)",
                config.n_neurons
            )));
        }
        if !matches!(
            config.integration,
            Integration::Euler | Integration::ExponentialEuler
        ) {
            return Err(DiehlCookError::Invalid(format!(
                "integration must be euler or exponential_euler, got {:?}",
                config.integration
            )));
        }
        let spec = Self::network(&config);
        let sim = Simulator::build(&spec)?;
        Ok(DiehlCook {
            input: sim.population_index("input")?,
            exc: sim.population_index("exc")?,
            inh: sim.population_index("inh")?,
            plastic: sim.projection_index("input->exc")?,
            config,
            sim,
            learning: true,
        })
    }

    /// The simulator (for inspection).
    pub fn simulator(&self) -> &Simulator {
        &self.sim
    }

    /// Switches learning (STDP and threshold adaptation) on or off; off freezes the
    /// weights and thresholds, as at test time in the paper.
    pub fn set_learning(&mut self, on: bool) -> Result<()> {
        self.sim.set_plasticity_enabled(self.plastic, on)?;
        self.sim.set_neuron_params(
            self.exc,
            &NeuronSpec::Lif(exc_neuron(on, self.config.integration)),
        )?;
        self.learning = on;
        Ok(())
    }

    /// Presents one image (`PIXELS` bytes) for the presentation time, repeating with
    /// a higher intensity while fewer than `min_spikes` excitatory spikes occur, each
    /// presentation followed by the rest period. `key` keys the input's random streams
    /// (use a unique number per example so runs can be resumed exactly).
    pub fn present(&mut self, image: &[u8], key: u64) -> Result<Presentation> {
        if image.len() != PIXELS {
            return Err(DiehlCookError::Invalid(format!(
                "an image has {PIXELS} pixels, got {}",
                image.len()
            )));
        }
        let c = &self.config;
        let present = (c.present_ms / c.dt_ms).round() as u64;
        let rest = (c.rest_ms / c.dt_ms).round() as u64;
        let mut intensity = c.start_intensity;
        let zeros = vec![0.0; PIXELS];
        let mut counts = vec![0u32; c.n_neurons];
        for k in 0..c.max_presentations.max(1) {
            self.sim.clear_synaptic_state();
            self.sim.reseed(key.wrapping_mul(64).wrapping_add(k as u64));
            if self.learning {
                self.sim.normalize_weights(self.plastic, c.weight_sum)?;
            }
            let rates: Vec<f64> = image.iter().map(|&p| p as f64 / 8.0 * intensity).collect();
            self.sim.set_poisson_rates(self.input, &rates)?;
            self.sim.take_recordings();
            self.sim.run_steps(present);
            let rec = self.sim.take_recordings();
            counts.iter_mut().for_each(|x| *x = 0);
            for &n in &rec.spikes[0].neurons {
                counts[n as usize] += 1;
            }
            self.sim.set_poisson_rates(self.input, &zeros)?;
            self.sim.run_steps(rest);
            if rec.spikes[0].neurons.len() >= c.min_spikes {
                return Ok(Presentation {
                    counts,
                    presentations: k + 1,
                });
            }
            intensity += 1.0;
        }
        Ok(Presentation {
            counts,
            presentations: c.max_presentations.max(1),
        })
    }

    /// Input weights as `[input pixel][neuron]` (row-major, `PIXELS × n_neurons`).
    pub fn weights(&self) -> Vec<f32> {
        self.sim
            .synapses(self.plastic)
            .expect("plastic projection")
            .weight
    }

    /// Each neuron's 28×28 receptive field (its input weights).
    pub fn receptive_fields(&self) -> Vec<Vec<f32>> {
        let w = self.weights();
        let n = self.config.n_neurons;
        (0..n)
            .map(|j| (0..PIXELS).map(|p| w[p * n + j]).collect())
            .collect()
    }

    /// Adaptive thresholds θ (mV) of the excitatory neurons.
    pub fn theta(&self) -> Vec<f32> {
        self.sim.state(self.exc, "theta").expect("exc has theta")
    }

    /// Stores weights, thresholds and membrane state in `file`.
    pub fn save_state(&self, file: &mut TensorFile) -> Result<()> {
        let n = self.config.n_neurons;
        file.tensor("weights".into(), vec![PIXELS, n], &self.weights());
        file.tensor("theta".into(), vec![n], &self.theta());
        for (pop, name) in [(self.exc, "exc"), (self.inh, "inh")] {
            file.tensor(format!("{name}_v"), vec![n], &self.sim.state(pop, "v")?);
            file.tensor(
                format!("{name}_refractory"),
                vec![n],
                &self.sim.state(pop, "refractory_steps")?,
            );
        }
        Ok(())
    }

    /// Restores what [`DiehlCook::save_state`] stored.
    pub fn load_state(&mut self, file: &LoadedFile) -> Result<()> {
        let n = self.config.n_neurons;
        self.sim
            .set_weights(self.plastic, &file.tensor("weights", &[PIXELS, n])?)?;
        self.sim
            .set_state(self.exc, "theta", &file.tensor("theta", &[n])?)?;
        for (pop, name) in [(self.exc, "exc"), (self.inh, "inh")] {
            self.sim
                .set_state(pop, "v", &file.tensor(&format!("{name}_v"), &[n])?)?;
            self.sim.set_state(
                pop,
                "refractory_steps",
                &file.tensor(&format!("{name}_refractory"), &[n])?,
            )?;
        }
        Ok(())
    }
}

/// What each excitatory neuron stands for, learned from responses to labelled images.
#[derive(Clone, Debug, PartialEq)]
pub struct Labels {
    /// The class each neuron responds to most on average (0 for silent neurons).
    pub assignment: Vec<u8>,
    /// `proportion[c][j]`: neuron j's mean response to class c over the sum of its
    /// mean responses to all classes.
    pub proportion: Vec<Vec<f32>>,
}

/// Per-neuron labels from responses: each neuron takes the class for which its mean
/// response is highest (neurons that never fired get class 0), and its response
/// proportions per class are kept for proportion-weighted voting.
pub fn assign_labels(responses: &[Vec<u32>], labels: &[u8], n_classes: usize) -> Labels {
    let n = responses.first().map_or(0, |r| r.len());
    let mut sums = vec![vec![0.0f64; n]; n_classes];
    let mut per_class = vec![0usize; n_classes];
    for (r, &l) in responses.iter().zip(labels) {
        per_class[l as usize] += 1;
        for (s, &c) in sums[l as usize].iter_mut().zip(r) {
            *s += c as f64;
        }
    }
    let means: Vec<Vec<f64>> = (0..n_classes)
        .map(|c| {
            sums[c]
                .iter()
                .map(|&s| {
                    if per_class[c] > 0 {
                        s / per_class[c] as f64
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();
    let assignment = (0..n)
        .map(|j| {
            let mut best = (0usize, -1.0f64);
            for (c, m) in means.iter().enumerate() {
                if per_class[c] > 0 && m[j] > best.1 {
                    best = (c, m[j]);
                }
            }
            best.0 as u8
        })
        .collect();
    let proportion = (0..n_classes)
        .map(|c| {
            (0..n)
                .map(|j| {
                    let total: f64 = means.iter().map(|m| m[j]).sum();
                    if total > 0.0 {
                        (means[c][j] / total) as f32
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();
    Labels {
        assignment,
        proportion,
    }
}

/// The class whose assigned neurons fired most on average (Diehl & Cook 2015; ties go
/// to the lowest class).
pub fn classify(counts: &[u32], labels: &Labels) -> u8 {
    let n_classes = labels.proportion.len();
    let mut sum = vec![0.0f64; n_classes];
    let mut num = vec![0usize; n_classes];
    for (&c, &a) in counts.iter().zip(&labels.assignment) {
        sum[a as usize] += c as f64;
        num[a as usize] += 1;
    }
    argmax((0..n_classes).map(|c| {
        if num[c] > 0 {
            sum[c] / num[c] as f64
        } else {
            -1.0
        }
    }))
}

/// Proportion-weighted vote (as BindsNET's `proportion_weighting`): each neuron's
/// spikes count for its assigned class, weighted by the share of its response that
/// class receives, averaged over the class's neurons.
pub fn classify_weighted(counts: &[u32], labels: &Labels) -> u8 {
    let n_classes = labels.proportion.len();
    let mut sum = vec![0.0f64; n_classes];
    let mut num = vec![0usize; n_classes];
    for (j, (&c, &a)) in counts.iter().zip(&labels.assignment).enumerate() {
        sum[a as usize] += c as f64 * labels.proportion[a as usize][j] as f64;
        num[a as usize] += 1;
    }
    argmax((0..n_classes).map(|c| {
        if num[c] > 0 {
            sum[c] / num[c] as f64
        } else {
            -1.0
        }
    }))
}

fn argmax(scores: impl Iterator<Item = f64>) -> u8 {
    let mut best = (0usize, f64::NEG_INFINITY);
    for (c, s) in scores.enumerate() {
        if s > best.1 {
            best = (c, s);
        }
    }
    best.0 as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_and_classification() {
        let responses = vec![vec![5, 0, 1], vec![4, 1, 0], vec![0, 3, 0], vec![1, 0, 6]];
        let labels = vec![0, 0, 1, 2];
        let a = assign_labels(&responses, &labels, 3);
        assert_eq!(a.assignment, vec![0, 1, 2]);
        assert_eq!(classify(&[9, 0, 1], &a), 0);
        assert_eq!(classify(&[0, 0, 1], &a), 2);
        // Neuron 0 answers class 0 with 4.5 of its 4.5 + 0 + 1 spikes.
        assert!((a.proportion[0][0] - 4.5 / 5.5).abs() < 1e-6);
        assert_eq!(classify_weighted(&[9, 0, 1], &a), 0);
    }

    #[test]
    fn integration_defaults_and_old_checkpoints() {
        assert_eq!(
            DiehlCookConfig::default().integration,
            Integration::ExponentialEuler
        );
        // A configuration saved before the field existed was integrated by forward Euler.
        let mut json = serde_json::to_value(DiehlCookConfig::default()).unwrap();
        json.as_object_mut().unwrap().remove("integration");
        let old: DiehlCookConfig = serde_json::from_value(json).unwrap();
        assert_eq!(old.integration, Integration::Euler);
        let err = DiehlCook::new(DiehlCookConfig {
            n_neurons: 2,
            integration: Integration::Rk4,
            ..Default::default()
        })
        .err()
        .expect("rk4 is refused");
        assert!(err.to_string().contains("integration"), "{err}");
    }

    #[test]
    fn rejects_bad_images_and_sizes() {
        assert!(DiehlCook::new(DiehlCookConfig {
            n_neurons: 0,
            ..Default::default()
        })
        .is_err());
        let e = DiehlCook::new(DiehlCookConfig {
            n_neurons: MAX_NEURONS + 1,
            ..Default::default()
        })
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("n_neurons must be at most"), "{e}");
        let mut dc = DiehlCook::new(DiehlCookConfig {
            n_neurons: 4,
            ..Default::default()
        })
        .unwrap();
        assert!(dc
            .present(&[0u8; 10], 0)
            .unwrap_err()
            .to_string()
            .contains("784"));
    }
}
