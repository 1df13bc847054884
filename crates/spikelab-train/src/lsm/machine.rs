//! The liquid state machine: a [`LiquidStateMachine`] encodes each (z-scored) series
//! as input spikes, runs its liquid on the engine from the same initial state,
//! low-pass filters every liquid neuron's spikes (`exp(−t/τ)` traces) and samples
//! them at evenly spaced points of the sample — the liquid state — and fits a linear
//! readout on those states. Samples are independent runs, spread over threads with
//! one engine per thread, so states are identical for any thread count. With plastic
//! slow synapses the liquid first adapts to the training series (STDP, one engine,
//! in order), then freezes.

use super::input::{Frames, SeriesEncoding};
use super::liquid::{build_network, Arrangement, BuiltLiquid, LiquidConfig, INPUT};
use super::readout::{self, FitInfo, Readout, ReadoutKind};
use crate::checkpoint::{LoadedFile, TensorFile};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use spikelab_core::engine::Simulator;
use spikelab_core::error::{Error, Result};
use spikelab_core::monitor::SpikeRecord;
use spikelab_core::source::SpikeGenerator;
use spikelab_data::timeseries::{DimensionStats, Series, TimeSeriesSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How liquid states are read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// Time constant of the spike filter (ms); Maass et al. (2002) use 30.
    pub tau_ms: f64,
    /// Points per sample at which the filtered spikes are read, evenly spaced up to
    /// the sample's end (their concatenation is the state).
    pub points: usize,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            tau_ms: 30.0,
            points: 4,
        }
    }
}

/// Everything that defines a liquid state machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LsmConfig {
    /// Each liquid.
    pub liquid: LiquidConfig,
    /// How many liquids, and how they are arranged.
    pub arrangement: Arrangement,
    /// How series become input spikes.
    pub encoding: SeriesEncoding,
    /// Duration of one series step (ms).
    pub frame_ms: f64,
    /// Engine time step (ms).
    pub dt_ms: f64,
    /// Quiet time simulated after a series ends (ms), within the last state point.
    pub tail_ms: f64,
    /// How states are read.
    pub state: StateConfig,
    /// The readout.
    pub readout: ReadoutKind,
    /// Passes over the training series with STDP on before freezing (plastic slow
    /// synapses only).
    pub adapt_epochs: usize,
    /// Seed of the liquid and of the encoder's draws.
    pub seed: u64,
}

impl Default for LsmConfig {
    fn default() -> Self {
        LsmConfig {
            liquid: LiquidConfig::default(),
            arrangement: Arrangement::default(),
            encoding: SeriesEncoding::default(),
            frame_ms: 10.0,
            dt_ms: 1.0,
            tail_ms: 0.0,
            state: StateConfig::default(),
            readout: ReadoutKind::default(),
            adapt_epochs: 1,
            seed: 0,
        }
    }
}

impl LsmConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        self.liquid.validate("liquid")?;
        self.encoding.validate("encoding")?;
        self.readout.validate("readout")?;
        let pos = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::field(name, format!("must be > 0 (got {v})")))
            }
        };
        pos("dt_ms", self.dt_ms)?;
        pos("frame_ms", self.frame_ms)?;
        pos("state.tau_ms", self.state.tau_ms)?;
        if self.frame_ms < self.dt_ms || (self.frame_ms / self.dt_ms).fract().abs() > 1e-9 {
            return Err(Error::field(
                "frame_ms",
                format!(
                    "must be a whole number of time steps of {} ms (got {})",
                    self.dt_ms, self.frame_ms
                ),
            ));
        }
        if !(self.tail_ms.is_finite() && self.tail_ms >= 0.0) {
            return Err(Error::field("tail_ms", "must be >= 0"));
        }
        if !(1..=64).contains(&self.state.points) {
            return Err(Error::field(
                "state.points",
                format!("must be 1..=64 (got {})", self.state.points),
            ));
        }
        if self.arrangement.liquids == 0 {
            return Err(Error::field("arrangement.liquids", "must be >= 1"));
        }
        Ok(())
    }

    fn frame_steps(&self) -> usize {
        (self.frame_ms / self.dt_ms).round() as usize
    }

    fn frames(&self) -> Frames {
        Frames {
            frame_steps: self.frame_steps(),
            dt_ms: self.dt_ms,
        }
    }

    fn tail_steps(&self) -> usize {
        (self.tail_ms / self.dt_ms).round() as usize
    }
}

/// The liquid states of a set of series.
#[derive(Clone, Debug)]
pub struct LiquidStates {
    /// One row per series: `points × neurons` filtered spike values.
    pub features: Array2<f64>,
    /// Mean firing rate of the liquid neurons over all samples (Hz).
    pub mean_rate_hz: f64,
    /// Simulated engine steps.
    pub steps: u64,
}

/// The spikes of one run of the liquid, for plots.
#[derive(Clone, Debug)]
pub struct SampleRun {
    /// The input spikes.
    pub input: SpikeGenerator,
    /// Liquid spikes per population, in the order of the machine's populations.
    pub liquid: Vec<SpikeRecord>,
    /// Engine steps simulated.
    pub steps: u64,
    /// Duration (ms).
    pub duration_ms: f64,
}

/// Accuracy and confusion of a labelled set.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Evaluation {
    /// Accuracy (%).
    pub accuracy: f64,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// The predicted class of each sample.
    pub predictions: Vec<usize>,
}

/// What fitting reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FitReport {
    /// Training accuracy (%) of the fitted readout.
    pub train_accuracy: f64,
    /// The readout's regularisation and leave-one-out figures.
    pub readout: FitInfo,
    /// Separation of the classes' liquid states (see [`separation`]).
    pub separation: f64,
    /// Mean liquid firing rate on the training set (Hz).
    pub mean_rate_hz: f64,
    /// Wall time of the liquid runs (s).
    pub liquid_s: f64,
    /// Wall time of the readout fit (s).
    pub readout_s: f64,
}

/// Progress callbacks of long work (called from worker threads).
pub trait LsmMonitor: Sync {
    /// `done` of `total` samples of `phase` (`adapt`, `states`) are finished.
    fn progress(&self, _phase: &str, _done: usize, _total: usize) {}
}

/// A monitor that ignores everything.
pub struct Quiet;
impl LsmMonitor for Quiet {}

/// The liquid state machine (see the module docs).
#[derive(Clone, Debug)]
pub struct LiquidStateMachine {
    /// Its definition.
    pub config: LsmConfig,
    /// Channels of the series it takes.
    pub channels: usize,
    /// Class names (their number is the readout's outputs).
    pub class_names: Vec<String>,
    /// Per-channel normalisation (from the training set).
    pub normalisation: DimensionStats,
    /// The engine network and its state map.
    pub built: BuiltLiquid,
    /// Weights of the plastic projections after adaptation (name, weights).
    pub adapted: Vec<(String, Vec<f32>)>,
    /// The fitted readout.
    pub readout: Option<Readout>,
}

const FORMAT: &str = "lsm";

impl LiquidStateMachine {
    /// A machine for series of `channels` channels and these classes, not yet fitted.
    pub fn new(config: LsmConfig, channels: usize, class_names: Vec<String>) -> Result<Self> {
        config.validate()?;
        if channels == 0 || class_names.len() < 2 {
            return Err(Error::Invalid(format!(
                "a liquid state machine needs at least 1 channel and 2 classes (got {channels} and {})",
                class_names.len()
            )));
        }
        let per = config.encoding.per_channel();
        let built = build_network(
            &config.liquid,
            &config.arrangement,
            channels * per,
            per,
            config.dt_ms,
            config.seed,
        )?;
        Ok(LiquidStateMachine {
            normalisation: DimensionStats {
                mean: vec![0.0; channels],
                std: vec![1.0; channels],
            },
            config,
            channels,
            class_names,
            built,
            adapted: Vec::new(),
            readout: None,
        })
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.class_names.len()
    }

    /// Length of a state vector.
    pub fn state_len(&self) -> usize {
        self.built.neurons * self.config.state.points
    }

    fn check_set(&self, set: &TimeSeriesSet) -> Result<()> {
        if set.dims != self.channels {
            return Err(Error::Invalid(format!(
                "the machine takes {} channels, {} has {}",
                self.channels, set.name, set.dims
            )));
        }
        Ok(())
    }

    /// An engine for the liquid, with adapted weights and plasticity frozen.
    fn engine(&self, frozen: bool) -> Result<Simulator> {
        let mut sim = Simulator::build_with_threads(&self.built.network, 1)?;
        for (name, w) in &self.adapted {
            let p = sim.projection_index(name)?;
            sim.set_weights(p, w)?;
        }
        if frozen {
            for name in &self.built.plastic_projections {
                let p = sim.projection_index(name)?;
                sim.set_plasticity_enabled(p, false)?;
            }
        }
        Ok(sim)
    }

    fn z_scored(&self, s: &Series) -> Vec<f32> {
        let d = self.channels;
        s.values
            .iter()
            .enumerate()
            .map(|(i, &v)| (v - self.normalisation.mean[i % d]) / self.normalisation.std[i % d])
            .collect()
    }

    /// Runs one series on `sim` from the initial state.
    fn run_one(&self, sim: &mut Simulator, s: &Series) -> Result<SampleRun> {
        let cfg = &self.config;
        let z = self.z_scored(s);
        let key = sample_key(&z);
        let input = cfg
            .encoding
            .encode(&z, s.steps, self.channels, cfg.frames(), cfg.seed, key);
        sim.reset();
        sim.reseed(key);
        let input_pop = sim.population_index(INPUT)?;
        sim.set_spike_generator(input_pop, &input)?;
        let steps = (s.steps.max(1) * cfg.frame_steps() + cfg.tail_steps()) as u64;
        sim.run_steps(steps);
        Ok(SampleRun {
            input,
            liquid: sim.take_recordings().spikes,
            steps,
            duration_ms: steps as f64 * cfg.dt_ms,
        })
    }

    /// The state vector of one run: per point k, each neuron's filtered spikes at
    /// step `t_k = ⌈(k+1)·T/points⌉ − 1`.
    fn state_of(&self, spikes: &[SpikeRecord], steps: u64, out: &mut [f64]) {
        let points = self.config.state.points;
        let n = self.built.neurons;
        let decay_per_step = self.config.dt_ms / self.config.state.tau_ms;
        let at: Vec<u64> = (0..points)
            .map(|k| (((k + 1) as u64 * steps).div_ceil(points as u64)).max(1) - 1)
            .collect();
        out.fill(0.0);
        for (rec, pop) in spikes.iter().zip(&self.built.populations) {
            for (&step, &neuron) in rec.steps.iter().zip(&rec.neurons) {
                let idx = pop.offset + neuron as usize;
                for (k, &t) in at.iter().enumerate() {
                    if step <= t {
                        out[k * n + idx] += (-((t - step) as f64) * decay_per_step).exp();
                    }
                }
            }
        }
    }

    /// The liquid states of every series of `set`, on `threads` threads (0 = all).
    pub fn states(
        &self,
        set: &TimeSeriesSet,
        threads: usize,
        monitor: &dyn LsmMonitor,
    ) -> Result<LiquidStates> {
        self.check_set(set)?;
        let n = set.len();
        let width = self.state_len();
        let mut features = vec![0f64; n * width];
        let workers = if threads == 0 {
            rayon::current_num_threads()
        } else {
            threads
        }
        .clamp(1, n.max(1));
        let chunk = n.div_ceil(workers).max(1);
        let done = AtomicUsize::new(0);
        let results: Vec<Result<(u64, u64)>> = features
            .par_chunks_mut(chunk * width)
            .enumerate()
            .map(|(c, out)| {
                let mut sim = self.engine(true)?;
                let (mut spikes, mut steps) = (0u64, 0u64);
                for (i, row) in out.chunks_mut(width).enumerate() {
                    let s = &set.samples[c * chunk + i];
                    let run = self.run_one(&mut sim, s)?;
                    let (rec, t) = (run.liquid, run.steps);
                    spikes += rec.iter().map(|r| r.steps.len() as u64).sum::<u64>();
                    steps += t;
                    self.state_of(&rec, t, row);
                    let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                    monitor.progress("states", d, n);
                }
                Ok((spikes, steps))
            })
            .collect();
        let (mut spikes, mut steps) = (0u64, 0u64);
        for r in results {
            let (s, t) = r?;
            spikes += s;
            steps += t;
        }
        let neuron_s = self.built.neurons as f64 * steps as f64 * self.config.dt_ms / 1000.0;
        Ok(LiquidStates {
            features: Array2::from_shape_vec((n, width), features).expect("n × width states"),
            mean_rate_hz: if neuron_s > 0.0 {
                spikes as f64 / neuron_s
            } else {
                0.0
            },
            steps,
        })
    }

    /// The spikes of one run of `series`, for raster plots.
    pub fn sample_run(&self, series: &Series) -> Result<SampleRun> {
        self.run_one(&mut self.engine(true)?, series)
    }

    /// Lets the plastic slow synapses adapt to the training series (STDP on, one
    /// engine, samples in order), `adapt_epochs` times; nothing without them.
    fn adapt(&mut self, train: &TimeSeriesSet, monitor: &dyn LsmMonitor) -> Result<()> {
        if self.built.plastic_projections.is_empty() || self.config.adapt_epochs == 0 {
            return Ok(());
        }
        self.adapted.clear();
        let mut sim = self.engine(false)?;
        let total = train.len() * self.config.adapt_epochs;
        for e in 0..self.config.adapt_epochs {
            for (i, s) in train.samples.iter().enumerate() {
                self.run_one(&mut sim, s)?;
                monitor.progress("adapt", e * train.len() + i + 1, total);
            }
        }
        for name in &self.built.plastic_projections {
            let p = sim.projection_index(name)?;
            self.adapted.push((name.clone(), sim.synapses(p)?.weight));
        }
        Ok(())
    }

    /// Fits the machine to `train`: normalisation, adaptation, states, readout.
    pub fn fit(
        &mut self,
        train: &TimeSeriesSet,
        threads: usize,
        monitor: &dyn LsmMonitor,
    ) -> Result<FitReport> {
        self.check_set(train)?;
        if let Some(s) = train
            .samples
            .iter()
            .find(|s| s.label as usize >= self.classes())
        {
            return Err(Error::Invalid(format!(
                "label {} is not below the machine's {} classes",
                s.label,
                self.classes()
            )));
        }
        self.normalisation = train.dimension_stats();
        let start = std::time::Instant::now();
        self.adapt(train, monitor)?;
        let states = self.states(train, threads, monitor)?;
        let liquid_s = start.elapsed().as_secs_f64();
        let labels: Vec<usize> = train.samples.iter().map(|s| s.label as usize).collect();
        let start = std::time::Instant::now();
        let (readout, info) = readout::fit(
            states.features.view(),
            &labels,
            self.classes(),
            &self.config.readout,
        )?;
        let readout_s = start.elapsed().as_secs_f64();
        let pred = readout.predict(states.features.view())?;
        self.readout = Some(readout);
        Ok(FitReport {
            train_accuracy: accuracy(&pred, &labels),
            readout: info,
            separation: separation(states.features.view(), &labels, self.classes()),
            mean_rate_hz: states.mean_rate_hz,
            liquid_s,
            readout_s,
        })
    }

    /// The predicted class of every series of `set`.
    pub fn predict(
        &self,
        set: &TimeSeriesSet,
        threads: usize,
        monitor: &dyn LsmMonitor,
    ) -> Result<Vec<usize>> {
        let readout = self
            .readout
            .as_ref()
            .ok_or_else(|| Error::Invalid("the liquid state machine is not fitted yet".into()))?;
        let states = self.states(set, threads, monitor)?;
        readout.predict(states.features.view())
    }

    /// Accuracy and confusion matrix on a labelled set.
    pub fn evaluate(
        &self,
        set: &TimeSeriesSet,
        threads: usize,
        monitor: &dyn LsmMonitor,
    ) -> Result<Evaluation> {
        let predictions = self.predict(set, threads, monitor)?;
        let labels: Vec<usize> = set.samples.iter().map(|s| s.label as usize).collect();
        let c = self.classes();
        let mut confusion = vec![vec![0usize; c]; c];
        for (&l, &p) in labels.iter().zip(&predictions) {
            if l < c {
                confusion[l][p] += 1;
            }
        }
        Ok(Evaluation {
            accuracy: accuracy(&predictions, &labels),
            confusion,
            predictions,
        })
    }

    /// Writes the machine (definition, normalisation, adapted weights, readout) to
    /// `path` (safetensors); the liquid is rebuilt from its seeded definition on load.
    pub fn save(&self, path: &Path) -> Result<()> {
        let readout = self.readout.as_ref().ok_or_else(|| {
            Error::Invalid("cannot save a liquid state machine before fit".into())
        })?;
        let mut f = TensorFile::new(FORMAT);
        f.json("config", &self.config);
        f.json("channels", &self.channels);
        f.json("class_names", &self.class_names);
        f.json(
            "adapted",
            &self.adapted.iter().map(|a| &a.0).collect::<Vec<_>>(),
        );
        let d = readout.features();
        let c = readout.classes;
        f.tensor("readout.mean".into(), vec![d], &readout.mean);
        f.tensor("readout.scale".into(), vec![d], &readout.scale);
        f.tensor("readout.weights".into(), vec![d, c], &readout.weights);
        f.tensor("readout.bias".into(), vec![c], &readout.bias);
        f.tensor(
            "normalisation.mean".into(),
            vec![self.channels],
            &self.normalisation.mean,
        );
        f.tensor(
            "normalisation.std".into(),
            vec![self.channels],
            &self.normalisation.std,
        );
        for (name, w) in &self.adapted {
            f.tensor(format!("adapted.{name}"), vec![w.len()], w);
        }
        f.write(path)
    }

    /// Reads a machine written by [`LiquidStateMachine::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let file = LoadedFile::read(path, FORMAT)?;
        let config: LsmConfig = file.json("config")?;
        let channels: usize = file.json("channels")?;
        let class_names: Vec<String> = file.json("class_names")?;
        let adapted_names: Vec<String> = file.json("adapted")?;
        let mut m = LiquidStateMachine::new(config, channels, class_names)
            .map_err(|e| file.error(format!("holds an invalid machine: {e}")))?;
        let d = m.state_len();
        let c = m.classes();
        m.readout = Some(Readout {
            mean: file.tensor("readout.mean", &[d])?,
            scale: file.tensor("readout.scale", &[d])?,
            weights: file.tensor("readout.weights", &[d, c])?,
            bias: file.tensor("readout.bias", &[c])?,
            classes: c,
        });
        m.normalisation = DimensionStats {
            mean: file.tensor("normalisation.mean", &[channels])?,
            std: file.tensor("normalisation.std", &[channels])?,
        };
        let sim = Simulator::build_with_threads(&m.built.network, 1)?;
        for name in adapted_names {
            let p = sim
                .projection_index(&name)
                .map_err(|e| file.error(e.to_string()))?;
            let n = sim.projections()[p].synapses;
            let w = file.tensor(&format!("adapted.{name}"), &[n])?;
            m.adapted.push((name, w));
        }
        Ok(m)
    }
}

/// A key of a sample's values, so the same series always gets the same random input
/// spikes wherever it appears.
fn sample_key(values: &[f32]) -> u64 {
    let mut h = 0x4C53_4D5F_4B45_5931u64;
    for v in values {
        h = spikelab_core::rng::mix64(h ^ v.to_bits() as u64);
    }
    h
}

fn accuracy(pred: &[usize], labels: &[usize]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    let ok = pred.iter().zip(labels).filter(|(a, b)| a == b).count();
    100.0 * ok as f64 / labels.len() as f64
}

/// Separation of the classes' states (Goodman & Ventura 2006): the mean distance
/// between class centroids over one plus the mean distance of states to their
/// class centroid. Larger is better; 0 when all states coincide.
pub fn separation(x: ArrayView2<f64>, labels: &[usize], classes: usize) -> f64 {
    let d = x.ncols();
    let mut centroids = vec![vec![0f64; d]; classes];
    let mut counts = vec![0usize; classes];
    for (row, &l) in x.rows().into_iter().zip(labels) {
        counts[l] += 1;
        for (c, v) in centroids[l].iter_mut().zip(row) {
            *c += v;
        }
    }
    for (c, &n) in centroids.iter_mut().zip(&counts) {
        for v in c.iter_mut() {
            *v /= n.max(1) as f64;
        }
    }
    let dist = |a: &[f64], b: &[f64]| -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let present: Vec<usize> = (0..classes).filter(|&c| counts[c] > 0).collect();
    let mut inter = 0.0;
    let mut pairs = 0usize;
    for (i, &a) in present.iter().enumerate() {
        for &b in &present[i + 1..] {
            inter += dist(&centroids[a], &centroids[b]);
            pairs += 1;
        }
    }
    let inter = inter / pairs.max(1) as f64;
    let mut intra = vec![0f64; classes];
    for (row, &l) in x.rows().into_iter().zip(labels) {
        intra[l] += dist(row.as_slice().unwrap_or(&row.to_vec()), &centroids[l]);
    }
    let intra = present
        .iter()
        .map(|&c| intra[c] / counts[c] as f64)
        .sum::<f64>()
        / present.len().max(1) as f64;
    inter / (1.0 + intra)
}

#[cfg(test)]
mod tests {
    use super::*;
    use spikelab_data::timeseries::Series;

    /// Two classes of 3-channel series: a rising or a falling ramp on channel 0, noise
    /// elsewhere, lengths 8–12 steps.
    pub(crate) fn toy_set(n: usize, seed: u64) -> TimeSeriesSet {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let samples = (0..n)
            .map(|i| {
                let label = (i % 2) as u16;
                let steps = rng.random_range(8..13);
                let mut values = Vec::new();
                for t in 0..steps {
                    let ramp = t as f32 / steps as f32 * 3.0 - 1.5;
                    values.push(if label == 0 { ramp } else { -ramp });
                    values.push(rng.random_range(-1.0..1.0));
                    values.push(rng.random_range(-1.0..1.0));
                }
                Series {
                    values,
                    steps,
                    label,
                }
            })
            .collect();
        TimeSeriesSet {
            name: "toy".into(),
            dims: 3,
            class_names: vec!["up".into(), "down".into()],
            samples,
        }
    }

    fn small() -> LsmConfig {
        LsmConfig {
            liquid: LiquidConfig {
                excitatory: 80,
                inhibitory: 20,
                groups: 2,
                ..LiquidConfig::default()
            },
            ..LsmConfig::default()
        }
    }

    #[test]
    fn a_small_liquid_separates_rising_from_falling_ramps() {
        let train = toy_set(40, 1);
        let test = toy_set(30, 2);
        let mut m = LiquidStateMachine::new(small(), 3, train.class_names.clone()).unwrap();
        let report = m.fit(&train, 2, &Quiet).unwrap();
        assert!(report.mean_rate_hz > 1.0, "a silent liquid: {report:?}");
        assert!(report.separation > 0.0);
        let eval = m.evaluate(&test, 2, &Quiet).unwrap();
        assert!(eval.accuracy >= 90.0, "test accuracy {} %", eval.accuracy);
        assert_eq!(eval.confusion.iter().flatten().sum::<usize>(), 30);
        // The same states for any thread count.
        let a = m.states(&test, 1, &Quiet).unwrap();
        let b = m.states(&test, 3, &Quiet).unwrap();
        assert_eq!(a.features, b.features);
        // Saved and loaded, it predicts the same.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lsm.safetensors");
        m.save(&path).unwrap();
        let loaded = LiquidStateMachine::load(&path).unwrap();
        assert_eq!(loaded.predict(&test, 1, &Quiet).unwrap(), eval.predictions);
        // A series of the wrong width is refused.
        let mut wide = test.clone();
        wide.dims = 4;
        assert!(m.states(&wide, 1, &Quiet).is_err());
    }

    #[test]
    fn plastic_slow_synapses_adapt_then_freeze() {
        use super::super::liquid::SlowSynapses;
        use spikelab_core::plasticity::stdp::Stdp;
        let mut cfg = small();
        cfg.liquid.slow = Some(SlowSynapses {
            stdp: Some(Stdp {
                a_plus: 0.05,
                a_minus: 0.06,
                tau_plus_ms: 20.0,
                tau_minus_ms: 20.0,
                w_min: 0.0,
                w_max: 6.0,
                weight_dependence: Default::default(),
                pairing: Default::default(),
            }),
            ..SlowSynapses::default()
        });
        let train = toy_set(10, 3);
        let mut m = LiquidStateMachine::new(cfg, 3, train.class_names.clone()).unwrap();
        let before = Simulator::build(&m.built.network).unwrap();
        let p = before
            .projection_index(&m.built.plastic_projections[0])
            .unwrap();
        let w0 = before.synapses(p).unwrap().weight;
        m.fit(&train, 1, &Quiet).unwrap();
        assert_eq!(m.adapted.len(), m.built.plastic_projections.len());
        assert_ne!(m.adapted[0].1, w0, "STDP changed no weight");
        // Frozen: states are repeatable.
        let a = m.states(&train, 1, &Quiet).unwrap();
        let b = m.states(&train, 2, &Quiet).unwrap();
        assert_eq!(a.features, b.features);
    }

    #[test]
    fn bad_configurations_name_the_field() {
        let mut cfg = small();
        cfg.frame_ms = 2.5;
        cfg.dt_ms = 1.0;
        let e = LiquidStateMachine::new(cfg, 3, vec!["a".into(), "b".into()]).unwrap_err();
        assert!(e.to_string().contains("frame_ms"), "{e}");
        let mut cfg = small();
        cfg.state.points = 0;
        let e = LiquidStateMachine::new(cfg, 3, vec!["a".into(), "b".into()]).unwrap_err();
        assert!(e.to_string().contains("state.points"), "{e}");
        assert!(LiquidStateMachine::new(small(), 3, vec!["a".into()]).is_err());
        let m = LiquidStateMachine::new(small(), 3, vec!["a".into(), "b".into()]).unwrap();
        assert!(m.predict(&toy_set(4, 0), 1, &Quiet).is_err());
    }

    #[test]
    fn separation_grows_with_distance_between_classes() {
        let near = Array2::from_shape_vec((4, 1), vec![0.0, 0.1, 1.0, 1.1]).unwrap();
        let far = Array2::from_shape_vec((4, 1), vec![0.0, 0.1, 5.0, 5.1]).unwrap();
        let labels = [0, 0, 1, 1];
        let s_near = separation(near.view(), &labels, 2);
        let s_far = separation(far.view(), &labels, 2);
        assert!((s_near - 1.0 / 1.05).abs() < 1e-9, "{s_near}");
        assert!(s_far > 4.0 * s_near);
    }
}
