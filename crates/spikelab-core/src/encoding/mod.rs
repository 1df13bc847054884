//! Encoders: turning data (pixel intensities, scalar signals, frame sequences) into
//! spikes, and decoders that read the values back. One definition serves both the
//! simulator and the trainer (DESIGN.md idea 1):
//!
//! * the **simulator** takes one sample as [`SpikeTrains`] (a list of
//!   `(neuron, time_ms)`) and replays it with a spike-generator population
//!   ([`SpikeTrains::to_generator`], [`crate::engine::Simulator::set_spike_generator`]);
//! * the **trainer** takes a batch as a dense spike tensor laid out
//!   `T × batch × n_outputs` ([`Encoder::encode_batch_f32`] / [`Encoder::encode_batch_u8`]).
//!
//! Both views of an encoder agree exactly: the dense tensor of a sample is its spike
//! trains binned on the time grid ([`SpikeTrains::to_dense`]; a spike at `t` falls in
//! step `⌊t/dt⌋`, at most one spike per neuron per step).
//!
//! Conventions shared by every encoder in this module:
//!
//! * Inputs are intensities `x ∈ [0, 1]` (images: pixel / 255). Values outside are
//!   clamped and NaN counts as 0. Population coding takes scalars in its own range.
//! * Deterministic encoders use a `threshold`: an input with `x ≤ threshold` is
//!   silent (emits no spike).
//! * Time is in ms from the start of the sample window `[0, n_steps·dt_ms)` given by a
//!   [`TimeGrid`]; spikes outside the window are dropped.
//! * Random encoders draw from [`crate::rng`] streams keyed by
//!   `(seed, Domain::Encoder, encoder tag, sample key, neuron or step)`, so the spikes of a
//!   sample depend only on the seed and on the sample's key (e.g. its index in the data
//!   set, plus `epoch × len` for fresh noise every epoch), never on the batch it sits in
//!   or on the thread that encodes it.
//!
//! One file per encoder family: [`rate`] (Poisson, Bernoulli), [`latency`]
//! (time-to-first-spike), [`rank_order`], [`log_temporal`], [`temporal_switch`],
//! [`phase`] (phase and burst coding), [`population`] (Gaussian receptive fields) and
//! [`delta`] (event-camera emulation from frames, and from a static image with
//! saccades). [`EncoderSpec`] names them all for model and training files.

pub mod delta;
pub mod latency;
pub mod log_temporal;
pub mod phase;
pub mod population;
pub mod rank_order;
pub mod rate;
pub mod spec;
pub mod temporal_switch;
mod trains;

pub use delta::{Event, EventSensor, Polarity, Saccades};
pub use latency::{Latency, LatencyMapping};
pub use log_temporal::LogTemporal;
pub use phase::{Burst, Phase};
pub use population::GaussianPopulation;
pub use rank_order::RankOrder;
pub use rate::{BernoulliRate, PoissonRate};
pub use spec::EncoderSpec;
pub use temporal_switch::TemporalSwitch;
pub use trains::SpikeTrains;

use crate::error::{check_positive, Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The time window of one encoded sample: `n_steps` steps of `dt_ms` (duration
/// `n_steps · dt_ms`). Continuous-time encoders use only the duration.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeGrid {
    /// Number of time steps (>= 1).
    pub n_steps: usize,
    /// Step length (ms, > 0).
    pub dt_ms: f64,
}

impl TimeGrid {
    /// A grid of `n_steps` steps of `dt_ms`.
    pub fn new(n_steps: usize, dt_ms: f64) -> Result<Self> {
        let g = TimeGrid { n_steps, dt_ms };
        g.validate("time_grid")?;
        Ok(g)
    }

    /// Checks the grid; `field` names it in error messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        if self.n_steps == 0 {
            return Err(Error::field(
                format!("{field}.n_steps"),
                "must be at least 1",
            ));
        }
        check_positive(&format!("{field}.dt_ms"), self.dt_ms)
    }

    /// Length of the window (ms).
    pub fn duration_ms(&self) -> f64 {
        self.n_steps as f64 * self.dt_ms
    }

    /// The step in which a spike at `t_ms` falls (`⌊t/dt⌋`, with a tolerance of
    /// 1e-9 steps so that `k·dt` computed in floating point lands in step `k`), or
    /// `None` outside the window.
    #[inline]
    pub fn step_of(&self, t_ms: f64) -> Option<usize> {
        let s = (t_ms / self.dt_ms + 1e-9).floor();
        if s >= 0.0 && s < self.n_steps as f64 {
            Some(s as usize)
        } else {
            None
        }
    }

    /// Start time of step `k` (ms).
    #[inline]
    pub fn time_of(&self, step: usize) -> f64 {
        step as f64 * self.dt_ms
    }
}

/// Element type of a dense spike tensor (`u8` or `f32`; 1 = spike, 0 = none).
pub trait SpikeValue: Copy + Send + Sync + PartialEq + 'static {
    /// No spike.
    const ZERO: Self;
    /// A spike.
    const ONE: Self;
    /// `ONE` if `spike`, else `ZERO`.
    fn from_bool(spike: bool) -> Self;
    /// Whether the element holds a spike (non-zero).
    fn is_spike(self) -> bool;
}

impl SpikeValue for u8 {
    const ZERO: Self = 0;
    const ONE: Self = 1;
    #[inline(always)]
    fn from_bool(spike: bool) -> Self {
        spike as u8
    }
    #[inline(always)]
    fn is_spike(self) -> bool {
        self != 0
    }
}

impl SpikeValue for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    #[inline(always)]
    fn from_bool(spike: bool) -> Self {
        spike as u8 as f32
    }
    #[inline(always)]
    fn is_spike(self) -> bool {
        self != 0.0
    }
}

/// An encoder of a vector of input values into spikes. See the module documentation
/// for the conventions (input range, thresholds, time window, random streams).
pub trait Encoder: Send + Sync {
    /// Short name (`"poisson"`, `"latency"`, ...).
    fn name(&self) -> &'static str;

    /// Number of output neurons for `n_inputs` input values (equal for most encoders;
    /// `2·n` for temporal-switch coding, `m·n` for population coding ...).
    fn n_outputs(&self, n_inputs: usize) -> usize;

    /// Encodes one sample. `seed` and `sample` key the random streams of stochastic
    /// encoders (deterministic encoders ignore them).
    fn encode(&self, values: &[f32], grid: &TimeGrid, seed: u64, sample: u64) -> SpikeTrains;

    /// Encodes a batch into a dense `f32` tensor `out[(t·batch + b)·n_outputs + j]`,
    /// `t < grid.n_steps`. `inputs` holds `batch = samples.len()` rows of `n_inputs`
    /// values; `samples[b]` is the key of row `b` (see the module documentation). Every
    /// element of `out` is written.
    fn encode_batch_f32(
        &self,
        inputs: &[f32],
        n_inputs: usize,
        samples: &[u64],
        grid: &TimeGrid,
        seed: u64,
        out: &mut [f32],
    ) -> Result<()> {
        encode_batch_via_trains(self, inputs, n_inputs, samples, grid, seed, out)
    }

    /// As [`Encoder::encode_batch_f32`], into a `u8` tensor (4× less memory).
    fn encode_batch_u8(
        &self,
        inputs: &[f32],
        n_inputs: usize,
        samples: &[u64],
        grid: &TimeGrid,
        seed: u64,
        out: &mut [u8],
    ) -> Result<()> {
        encode_batch_via_trains(self, inputs, n_inputs, samples, grid, seed, out)
    }
}

/// Reads values back from spikes (the inverse of an encoder, up to its resolution
/// and noise). Silent inputs decode to 0 (or to the bottom of the encoder's range).
pub trait Decoder {
    /// Decodes `n_inputs` values from the spike trains of one sample encoded on `grid`.
    fn decode(&self, trains: &SpikeTrains, grid: &TimeGrid, n_inputs: usize) -> Vec<f32>;
}

/// Checks the shapes of a batch-encoding call; returns the batch size.
pub fn check_batch_shapes(
    encoder: &(impl Encoder + ?Sized),
    inputs_len: usize,
    n_inputs: usize,
    samples: &[u64],
    grid: &TimeGrid,
    out_len: usize,
) -> Result<usize> {
    grid.validate("grid")?;
    let batch = samples.len();
    if inputs_len != batch * n_inputs {
        return Err(Error::Invalid(format!(
            "{} encoder: inputs has {inputs_len} values but samples ({batch}) × n_inputs ({n_inputs}) = {}",
            encoder.name(),
            batch * n_inputs
        )));
    }
    let want = grid.n_steps * batch * encoder.n_outputs(n_inputs);
    if out_len != want {
        return Err(Error::Invalid(format!(
            "{} encoder: output buffer has {out_len} elements but n_steps ({}) × batch ({batch}) × n_outputs ({}) = {want}",
            encoder.name(),
            grid.n_steps,
            encoder.n_outputs(n_inputs)
        )));
    }
    Ok(batch)
}

/// Generic batch encoding: each sample is encoded to [`SpikeTrains`] (in parallel),
/// then scattered into the dense tensor. Encoders with a faster direct path override
/// the trait methods; this function defines what they must agree with.
pub fn encode_batch_via_trains<E: Encoder + ?Sized, S: SpikeValue>(
    encoder: &E,
    inputs: &[f32],
    n_inputs: usize,
    samples: &[u64],
    grid: &TimeGrid,
    seed: u64,
    out: &mut [S],
) -> Result<()> {
    let batch = check_batch_shapes(encoder, inputs.len(), n_inputs, samples, grid, out.len())?;
    let n_out = encoder.n_outputs(n_inputs);
    let trains: Vec<SpikeTrains> = (0..batch)
        .into_par_iter()
        .map(|b| {
            encoder.encode(
                &inputs[b * n_inputs..(b + 1) * n_inputs],
                grid,
                seed,
                samples[b],
            )
        })
        .collect();
    out.fill(S::ZERO);
    for (b, tr) in trains.iter().enumerate() {
        for (n, t) in tr.iter() {
            if let Some(s) = grid.step_of(t) {
                out[(s * batch + b) * n_out + n as usize] = S::ONE;
            }
        }
    }
    Ok(())
}

/// An input intensity clamped to `[0, 1]`, NaN read as 0.
#[inline(always)]
pub fn unit(x: f32) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        (x as f64).clamp(0.0, 1.0)
    }
}

/// Whether an input `x` (already in `[0, 1]`) is silent under `threshold`: `x ≤ θ`,
/// compared at the f32 precision of the input so that `θ = 0.05` silences an input
/// `0.05f32`.
#[inline(always)]
pub fn is_silent(x: f64, threshold: f64) -> bool {
    x <= threshold as f32 as f64
}

/// Stream tags of the random encoders (the first key after the domain), so two
/// encoders with the same seed and sample do not share draws.
pub(crate) mod tags {
    pub const POISSON: u64 = 1;
    pub const BERNOULLI: u64 = 2;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_of_bins_floor_and_drops_outside() {
        let g = TimeGrid::new(10, 0.1).unwrap();
        assert_eq!(g.step_of(0.0), Some(0));
        for k in 0..10 {
            assert_eq!(g.step_of(g.time_of(k)), Some(k), "{k}");
            assert_eq!(g.step_of(g.time_of(k) + 0.099), Some(k));
        }
        assert_eq!(g.step_of(1.0), None);
        assert_eq!(g.step_of(-0.01), None);
        assert!(TimeGrid::new(0, 1.0).is_err());
        assert!(TimeGrid::new(5, 0.0).is_err());
    }
}
