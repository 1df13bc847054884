//! Spike sources: populations whose spikes are given rather than computed — Poisson
//! processes with per-neuron rates and generators replaying explicit spike times.
//! Like neuron populations they are split by the engine into chunks; each chunk
//! draws from streams keyed by (seed, population, neuron), so the spikes do not
//! depend on the split.

use crate::error::{check_positive, Error, Result};
use crate::rng::{self, Domain, Stream};
use crate::value::Value;
use serde::{Deserialize, Serialize};

/// How a Poisson source maps its process onto time steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoissonProcess {
    /// A continuous-time Poisson process (exponential inter-spike intervals); every
    /// spike is delivered in the step it falls in, so a neuron can fire several times
    /// per step at high rates (as NEST's `poisson_generator`): the count per step is
    /// Poisson(rate·dt).
    #[default]
    Continuous,
    /// At most one spike per step, with probability `rate·dt` (clipped to 1), as
    /// Brian2's `PoissonGroup`.
    Bernoulli,
}

/// Poisson spike source (`model = "poisson"`), see [`PoissonProcess`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoissonSource {
    /// Rate of every neuron (Hz), constant or a distribution drawn once per neuron.
    #[serde(default)]
    pub rate_hz: Option<Value>,
    /// Per-neuron rates (Hz); length must equal the population size.
    #[serde(default)]
    pub rates_hz: Option<Vec<f64>>,
    /// Continuous (default) or per-step Bernoulli process.
    #[serde(default)]
    pub process: PoissonProcess,
}

/// Spike generator (`model = "spike_generator"`): replays explicit spikes, given as
/// parallel lists of neuron indices and times (ms). Times are rounded to the nearest
/// step; several spikes of one neuron in one step count once.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpikeGenerator {
    /// Index of the neuron of each spike.
    pub neurons: Vec<u32>,
    /// Time of each spike (ms, >= 0).
    pub times_ms: Vec<f64>,
}

impl PoissonSource {
    /// A source where every neuron fires at `rate_hz`.
    pub fn constant(rate_hz: f64) -> Self {
        PoissonSource {
            rate_hz: Some(Value::Constant(rate_hz)),
            rates_hz: None,
            process: PoissonProcess::Continuous,
        }
    }

    /// Checks the rates for a population of `size`.
    pub fn validate(&self, field: &str, size: usize) -> Result<()> {
        match (&self.rate_hz, &self.rates_hz) {
            (Some(v), None) => {
                v.validate(&format!("{field}.rate_hz"))?;
                if v.range().0 < 0.0 {
                    return Err(Error::field(
                        format!("{field}.rate_hz"),
                        "rates must be >= 0 Hz",
                    ));
                }
                Ok(())
            }
            (None, Some(r)) => {
                if r.len() != size {
                    return Err(Error::field(
                        format!("{field}.rates_hz"),
                        format!("has {} entries but the population has {size}", r.len()),
                    ));
                }
                if let Some((i, x)) = r
                    .iter()
                    .enumerate()
                    .find(|(_, x)| !(x.is_finite() && **x >= 0.0))
                {
                    return Err(Error::field(
                        format!("{field}.rates_hz[{i}]"),
                        format!("must be a finite rate >= 0 Hz (got {x})"),
                    ));
                }
                Ok(())
            }
            _ => Err(Error::field(
                field,
                "give exactly one of rate_hz (one value or distribution) or rates_hz (a list)",
            )),
        }
    }
}

impl SpikeGenerator {
    /// Checks indices and times for a population of `size`.
    pub fn validate(&self, field: &str, size: usize) -> Result<()> {
        if self.neurons.len() != self.times_ms.len() {
            return Err(Error::field(
                field,
                format!(
                    "neurons ({}) and times_ms ({}) must have the same length",
                    self.neurons.len(),
                    self.times_ms.len()
                ),
            ));
        }
        if let Some((k, &i)) = self
            .neurons
            .iter()
            .enumerate()
            .find(|(_, &i)| i as usize >= size)
        {
            return Err(Error::field(
                format!("{field}.neurons[{k}]"),
                format!("index {i} is out of range 0..{size}"),
            ));
        }
        if let Some((k, &t)) = self
            .times_ms
            .iter()
            .enumerate()
            .find(|(_, &t)| !(t.is_finite() && t >= 0.0))
        {
            return Err(Error::field(
                format!("{field}.times_ms[{k}]"),
                format!("must be a finite time >= 0 ms (got {t})"),
            ));
        }
        Ok(())
    }
}

/// The part of a source population owned by one partition.
#[derive(Clone, Debug)]
pub enum SourceChunk {
    /// Poisson neurons `lo..lo+n`.
    Poisson(PoissonChunk),
    /// Explicit spikes of neurons `lo..hi`.
    Generator(GeneratorChunk),
}

impl SourceChunk {
    /// Pushes the local indices of neurons spiking at `step`.
    pub fn emit(&mut self, step: u64, spikes: &mut Vec<u32>) {
        match self {
            SourceChunk::Poisson(p) => p.emit(step, spikes),
            SourceChunk::Generator(g) => g.emit(step, spikes),
        }
    }
}

/// Poisson chunk state: per neuron a stream and the time of its next spike in units
/// of steps (one random draw per spike, so silent or slow neurons cost almost nothing).
#[derive(Clone, Debug)]
pub struct PoissonChunk {
    rng: Vec<Stream>,
    /// Continuous: mean interval in steps (1 / (rate·dt)); Bernoulli: per-step
    /// probability.
    param: Vec<f64>,
    next: Vec<f64>,
    dt_ms: f64,
    process: PoissonProcess,
}

impl PoissonChunk {
    /// Chunk of neurons `lo..lo+rates.len()` of population `pop` with the given rates.
    pub fn new(
        seed: u64,
        pop: usize,
        lo: usize,
        rates_hz: &[f64],
        dt_ms: f64,
        process: PoissonProcess,
    ) -> Self {
        let rng: Vec<Stream> = (0..rates_hz.len())
            .map(|i| rng::stream(seed, Domain::Source, &[pop as u64, (lo + i) as u64]))
            .collect();
        let mut c = PoissonChunk {
            rng,
            param: vec![0.0; rates_hz.len()],
            next: vec![f64::INFINITY; rates_hz.len()],
            dt_ms,
            process,
        };
        c.set_rates(rates_hz, 0);
        c
    }

    /// Changes the rates from `step` on (the process is memoryless, so the next
    /// spike is redrawn from `step`).
    pub fn set_rates(&mut self, rates_hz: &[f64], step: u64) {
        for (i, &r) in rates_hz.iter().enumerate() {
            let per_step = r * self.dt_ms * 1e-3;
            self.param[i] = match self.process {
                PoissonProcess::Continuous => {
                    if per_step > 0.0 {
                        1.0 / per_step
                    } else {
                        f64::INFINITY
                    }
                }
                PoissonProcess::Bernoulli => per_step.min(1.0),
            };
        }
        self.restart(step);
    }

    /// Redraws every neuron's next spike from `step` on, keeping the rates.
    pub fn restart(&mut self, step: u64) {
        for i in 0..self.param.len() {
            self.next[i] = step as f64 + self.interval(i) - self.first_offset();
        }
    }

    /// Bernoulli intervals count trials (>= 1) from the previous step; the first
    /// spike may fall in `step` itself, hence the offset of one step.
    fn first_offset(&self) -> f64 {
        match self.process {
            PoissonProcess::Continuous => 0.0,
            PoissonProcess::Bernoulli => 1.0,
        }
    }

    #[inline]
    fn interval(&mut self, i: usize) -> f64 {
        match self.process {
            PoissonProcess::Continuous => {
                let mean = self.param[i];
                if mean.is_finite() {
                    -rng::uniform_open0(&mut self.rng[i]).ln() * mean
                } else {
                    f64::INFINITY
                }
            }
            PoissonProcess::Bernoulli => {
                match rng::geometric_trials(&mut self.rng[i], self.param[i]) {
                    u64::MAX => f64::INFINITY,
                    k => k as f64,
                }
            }
        }
    }

    fn emit(&mut self, step: u64, spikes: &mut Vec<u32>) {
        let end = (step + 1) as f64;
        for i in 0..self.next.len() {
            while self.next[i] < end {
                spikes.push(i as u32);
                self.next[i] += self.interval(i);
            }
        }
    }
}

/// Generator chunk: its spikes sorted by step, with a cursor.
#[derive(Clone, Debug)]
pub struct GeneratorChunk {
    events: Vec<(u64, u32)>,
    cursor: usize,
}

impl GeneratorChunk {
    /// Chunk of neurons `lo..hi` of `spec`, for time step `dt_ms`.
    pub fn new(spec: &SpikeGenerator, lo: usize, hi: usize, dt_ms: f64) -> Self {
        let mut events: Vec<(u64, u32)> = spec
            .neurons
            .iter()
            .zip(&spec.times_ms)
            .filter(|(&i, _)| (lo..hi).contains(&(i as usize)))
            .map(|(&i, &t)| ((t / dt_ms).round() as u64, i - lo as u32))
            .collect();
        events.sort_unstable();
        events.dedup();
        GeneratorChunk { events, cursor: 0 }
    }

    /// Starts replaying from the first spike again.
    pub fn rewind(&mut self) {
        self.cursor = 0;
    }

    /// The same spikes, `steps` later.
    pub fn shifted(mut self, steps: u64) -> Self {
        for e in &mut self.events {
            e.0 += steps;
        }
        self
    }

    fn emit(&mut self, step: u64, spikes: &mut Vec<u32>) {
        while self.cursor < self.events.len() && self.events[self.cursor].0 < step {
            self.cursor += 1;
        }
        while self.cursor < self.events.len() && self.events[self.cursor].0 == step {
            spikes.push(self.events[self.cursor].1);
            self.cursor += 1;
        }
    }
}

/// Per-neuron rates of a Poisson source population, drawn from its own stream.
pub fn draw_rates(spec: &PoissonSource, size: usize, seed: u64, pop: usize) -> Vec<f64> {
    match (&spec.rates_hz, &spec.rate_hz) {
        (Some(r), _) => r.clone(),
        (None, Some(v)) => {
            let mut rng = rng::stream(seed, Domain::InitialState, &[pop as u64, u64::MAX]);
            (0..size).map(|_| v.sample(&mut rng).max(0.0)).collect()
        }
        (None, None) => vec![0.0; size],
    }
}

/// Validates a time step for sources.
pub fn check_dt(dt_ms: f64) -> Result<()> {
    check_positive("simulation.dt_ms", dt_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_chunk_fires_at_the_requested_rate() {
        let rates = vec![20.0; 100];
        let mut c = PoissonChunk::new(1, 0, 0, &rates, 0.1, PoissonProcess::Continuous);
        let mut spikes = Vec::new();
        let steps = 100_000u64; // 10 s
        for s in 0..steps {
            c.emit(s, &mut spikes);
        }
        let rate = spikes.len() as f64 / 100.0 / 10.0;
        assert!((rate - 20.0).abs() < 0.5, "rate {rate}");
    }

    #[test]
    fn high_rate_continuous_process_keeps_its_rate_and_bernoulli_saturates() {
        // 20 kHz at dt = 0.1 ms is two spikes per step on average.
        let mut c = PoissonChunk::new(2, 0, 0, &[20_000.0], 0.1, PoissonProcess::Continuous);
        let mut b = PoissonChunk::new(2, 0, 0, &[20_000.0], 0.1, PoissonProcess::Bernoulli);
        let (mut sc, mut sb) = (vec![], vec![]);
        let mut counts = [0u32; 10];
        for s in 0..10_000 {
            let before = sc.len();
            c.emit(s, &mut sc);
            let k = (sc.len() - before).min(9);
            counts[k] += 1;
            b.emit(s, &mut sb);
        }
        let rate = sc.len() as f64 / 1.0; // 1 s
        assert!((rate - 20_000.0).abs() < 600.0, "{rate}");
        // Per-step counts are Poisson(2): P(0) = e^-2.
        let p0 = counts[0] as f64 / 10_000.0;
        assert!((p0 - (-2.0f64).exp()).abs() < 0.02, "{p0}");
        assert_eq!(sb.len(), 10_000, "bernoulli fires every step at p >= 1");
    }

    #[test]
    fn bernoulli_process_fires_with_probability_rate_dt() {
        let mut b = PoissonChunk::new(3, 0, 0, &[100.0; 50], 1.0, PoissonProcess::Bernoulli);
        let mut s = vec![];
        for st in 0..4000 {
            b.emit(st, &mut s);
        }
        let p = s.len() as f64 / (50.0 * 4000.0);
        assert!((p - 0.1).abs() < 0.005, "{p}");
    }

    #[test]
    fn poisson_split_does_not_change_spikes() {
        let rates: Vec<f64> = (0..10).map(|i| 10.0 + i as f64 * 30.0).collect();
        let pr = PoissonProcess::Continuous;
        let mut whole = PoissonChunk::new(5, 2, 0, &rates, 0.5, pr);
        let mut a = PoissonChunk::new(5, 2, 0, &rates[..4], 0.5, pr);
        let mut b = PoissonChunk::new(5, 2, 4, &rates[4..], 0.5, pr);
        for s in 0..2000 {
            let (mut w, mut x, mut y) = (vec![], vec![], vec![]);
            whole.emit(s, &mut w);
            a.emit(s, &mut x);
            b.emit(s, &mut y);
            x.extend(y.iter().map(|i| i + 4));
            assert_eq!(w, x);
        }
    }

    #[test]
    fn generator_replays_times_per_chunk() {
        let g = SpikeGenerator {
            neurons: vec![0, 3, 1, 3],
            times_ms: vec![1.0, 0.5, 1.0, 2.0],
        };
        assert!(g.validate("g", 4).is_ok());
        assert!(g.validate("g", 3).is_err());
        let mut c = GeneratorChunk::new(&g, 1, 4, 0.5);
        let mut out = vec![];
        for s in 0..6 {
            let mut sp = vec![];
            c.emit(s, &mut sp);
            out.push(sp);
        }
        assert_eq!(out[1], vec![2]);
        assert_eq!(out[2], vec![0]);
        assert_eq!(out[4], vec![2]);
    }
}
