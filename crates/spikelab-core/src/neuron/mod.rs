//! Neuron models. Each model lives in its own file as parameters plus a discrete-time
//! update over structure-of-arrays slices (DESIGN.md idea 1): the simulator calls it on
//! a chunk of a population, the trainer calls the same kernels on `batch × neurons`.
//! The discrete-time (trainer) form of a model and its backward step live in the
//! model's file too (`lif/`, `iaf.rs`, `leaky_integrator.rs`); the pieces they share
//! are in [`discrete_time`], surrogate gradients in [`surrogate`].
//!
//! A model sees its synaptic input as a [`Drive`], already summed over receptors by the
//! engine and held constant over the step. Models that integrate linear dynamics
//! exactly receive exponential currents pre-scaled so that the result is exact (see
//! [`crate::synapse`]).

pub mod adex;
pub mod discrete_time;
pub mod escape_lif;
pub mod hodgkin_huxley;
pub mod iaf;
pub mod izhikevich;
pub mod leaky_integrator;
pub mod lif;
pub mod surrogate;

use crate::error::Result;
use crate::math::select_f32;
use crate::rng::Stream;
use std::fmt::Debug;

/// How a model integrates its ODE over one time step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Integration {
    /// The model's most accurate stable method (exact where the ODE is linear).
    #[default]
    Auto,
    /// Exact propagation of a linear ODE (input held constant over the step).
    Exact,
    /// Forward (explicit) Euler.
    Euler,
    /// Exponential Euler: exact for the linear part given the input at step start.
    ExponentialEuler,
    /// Classical fourth-order Runge–Kutta.
    Rk4,
}

impl Integration {
    /// Names accepted in model files.
    pub const NAMES: &'static str = "auto, exact, euler, exponential_euler, rk4";
}

/// Synaptic and injected input to a chunk of neurons for one step.
///
/// Units are the model's own: for the LIF family, currents are in mV (`R·I`) and
/// conductances are relative to the leak conductance; each model's docs say which.
#[derive(Debug)]
pub struct Drive<'a> {
    /// Current-type input, constant over the step.
    pub current: &'a [f32],
    /// Total synaptic conductance (`Σ g`) and reversal-weighted sum (`Σ g·E`), if the
    /// population has conductance receptors.
    pub conductance: Option<(&'a [f32], &'a [f32])>,
    /// Instantaneous jumps of the membrane potential (delta synapses), applied at the
    /// start of the step unless the neuron is refractory.
    pub jump: Option<&'a [f32]>,
}

/// Per-step context given to [`NeuronModel::update`].
pub struct UpdateContext<'a> {
    /// Index of the step being computed.
    pub step: u64,
    /// Time step in ms.
    pub dt_ms: f64,
    /// Per-neuron random streams, present when [`NeuronModel::uses_rng`] is true.
    pub rng: &'a mut [Stream],
}

/// A neuron model: parameters plus a discrete-time update over SoA state.
pub trait NeuronModel: Send + Sync + Debug {
    /// Name of the model as written in model files.
    fn name(&self) -> &'static str;

    /// Names of the state variables, in storage order. The first is the membrane
    /// potential `v` in mV.
    fn state_names(&self) -> &'static [&'static str];

    /// Default initial value of each state variable (same order as `state_names`).
    fn default_initial_state(&self) -> Vec<f64>;

    /// Membrane time constant in ms if the model is a leaky integrator whose
    /// sub-threshold dynamics are linear with input held constant over a step; the
    /// engine then scales exponential current receptors so that integration is exact.
    fn exact_membrane_tau_ms(&self) -> Option<f64> {
        None
    }

    /// Whether the model integrates with forward Euler; its receptors then decay with
    /// forward Euler too (`g ← g·(1 − dt/τ)`), so the whole population is the
    /// forward-Euler discretisation of its ODE system, as Brian does for `euler`.
    fn forward_euler(&self) -> bool {
        false
    }

    /// Whether the model draws random numbers (then `UpdateContext::rng` has one
    /// stream per neuron).
    fn uses_rng(&self) -> bool {
        false
    }

    /// Completes the initial state of a whole population once the defaults and the
    /// model file's `initial` values are in; `given[k]` tells whether variable `k` was
    /// set by the model file. Models override this to derive values (Izhikevich:
    /// `u = b·v` and heterogeneous parameters; Hodgkin–Huxley: gates at their steady
    /// state). `rng` is a stream keyed by (seed, population), so the result does not
    /// depend on the number of threads.
    fn complete_initial_state(&self, _state: &mut [Vec<f32>], _given: &[bool], _rng: &mut Stream) {}

    /// Validates the parameters (`field` is the prefix for error messages) and
    /// precomputes propagators for time step `dt_ms`. `has_conductance` tells whether
    /// the population has conductance-based receptors (some integration methods
    /// only apply to current input); a model that cannot take conductances errs.
    fn prepare(&mut self, field: &str, dt_ms: f64, has_conductance: bool) -> Result<()>;

    /// Advances every neuron of the chunk by one step. `state[k]` is the k-th state
    /// variable for all neurons of the chunk; local indices of neurons that fired are
    /// pushed to `spikes` in increasing order.
    fn update(
        &self,
        state: &mut [Vec<f32>],
        drive: &Drive,
        ctx: &mut UpdateContext,
        spikes: &mut Vec<u32>,
    );

    /// A copy of the model as a trait object.
    fn clone_box(&self) -> Box<dyn NeuronModel>;
}

impl Clone for Box<dyn NeuronModel> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// How the membrane potential is reset after a spike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetMode {
    /// `v ← v_reset`.
    #[default]
    Value,
    /// `v ← v − (v_thresh − v_reset)`: keeps the overshoot (used by converted ANNs).
    /// With an adaptive threshold, the threshold in force is subtracted:
    /// `v ← v − (v_thresh + theta − v_reset)` (as the trainer's adaptive LIF).
    Subtract,
}

/// Converts a refractory period to a whole number of steps (rounded to nearest).
pub fn refractory_steps(t_ref_ms: f64, dt_ms: f64) -> u32 {
    (t_ref_ms / dt_ms).round().max(0.0) as u32
}

/// Neurons per block in model kernels: fired flags of one block fit a stack buffer.
pub const SPIKE_BLOCK: usize = 256;

static ZEROS: [f32; SPIKE_BLOCK] = [0.0; SPIKE_BLOCK];

/// Appends `offset + j` for every `flags[j] != 0`, skipping zero runs eight flags at
/// a time.
#[inline]
pub fn push_fired(flags: &[u32], offset: u32, spikes: &mut Vec<u32>) {
    let mut chunks = flags.chunks_exact(8);
    let mut base = offset;
    for c in &mut chunks {
        if c.iter().fold(0, |a, &f| a | f) != 0 {
            for (j, &f) in c.iter().enumerate() {
                if f != 0 {
                    spikes.push(base + j as u32);
                }
            }
        }
        base += 8;
    }
    for (j, &f) in chunks.remainder().iter().enumerate() {
        if f != 0 {
            spikes.push(base + j as u32);
        }
    }
}

/// Threshold, reset and refractoriness shared by the integrate-and-fire family.
#[derive(Clone, Copy, Debug)]
pub struct ThresholdReset {
    /// Spike threshold (mV).
    pub theta: f32,
    /// Reset potential (mV).
    pub v_reset: f32,
    /// Reset by subtracting the threshold in force minus `v_reset` (`theta + offset −
    /// v_reset`) instead of setting `v_reset`.
    pub subtract: bool,
    /// Refractory steps after a spike.
    pub n_ref: f32,
}

/// The integrate-and-fire step over blocks of [`SPIKE_BLOCK`] neurons:
///
/// 1. `v_in = v + jump` (delta-synapse input, if any);
/// 2. `integrate(range, v_in, v_out)` — the model's sub-threshold update for neurons
///    `range` (global indices into the chunk), written as simple loops over slices so
///    they vectorise;
/// 3. refractory neurons keep `v`; others take `v_out`, fire if `v_out ≥ θ` (plus the
///    neuron's `theta_offset`, for adaptive thresholds), reset (to `v_reset`, or by
///    subtracting the threshold in force minus `v_reset`) and start their
///    refractory count; the indices of neurons that fired are pushed.
///
/// Every pass is branch-free over contiguous slices.
#[inline(always)]
pub fn integrate_and_fire(
    v: &mut [f32],
    refr: &mut [f32],
    jump: Option<&[f32]>,
    theta_offset: Option<&[f32]>,
    tr: &ThresholdReset,
    mut integrate: impl FnMut(std::ops::Range<usize>, &[f32], &mut [f32]),
    spikes: &mut Vec<u32>,
) {
    let n = v.len();
    let refr = &mut refr[..n];
    let (theta, v_reset, n_ref) = (tr.theta, tr.v_reset, tr.n_ref);
    let mut v_in = [0f32; SPIKE_BLOCK];
    let mut v_out = [0f32; SPIKE_BLOCK];
    let mut flags = [0u32; SPIKE_BLOCK];
    let mut lo = 0;
    while lo < n {
        let hi = (lo + SPIKE_BLOCK).min(n);
        let m = hi - lo;
        let (vb, rb) = (&mut v[lo..hi], &mut refr[lo..hi]);
        let (vi, vo, fl) = (&mut v_in[..m], &mut v_out[..m], &mut flags[..m]);
        match jump {
            Some(j) => {
                for ((x, &a), &b) in vi.iter_mut().zip(vb.iter()).zip(&j[lo..hi]) {
                    *x = a + b;
                }
            }
            None => vi.copy_from_slice(vb),
        }
        integrate(lo..hi, vi, vo);
        let th: &[f32] = match theta_offset {
            Some(t) => &t[lo..hi],
            None => &ZEROS[..m],
        };
        if tr.subtract {
            for k in 0..m {
                let (r, vn, vk) = (rb[k], vo[k], vb[k]);
                let active = r <= 0.0;
                let v1 = select_f32(active, vn, vk);
                // The threshold in force (θ + theta offset); without an adaptive
                // threshold the offset is 0 and this is `θ − v_reset` exactly.
                let th_k = theta + th[k];
                let fired = active & (v1 >= th_k);
                vb[k] = select_f32(fired, v1 - (th_k - v_reset), v1);
                let r1 = r - 1.0;
                rb[k] = select_f32(fired, n_ref, select_f32(r1 < 0.0, 0.0, r1));
                fl[k] = fired as u32;
            }
        } else {
            for k in 0..m {
                let (r, vn, vk) = (rb[k], vo[k], vb[k]);
                let active = r <= 0.0;
                let v1 = select_f32(active, vn, vk);
                let fired = active & (v1 >= theta + th[k]);
                vb[k] = select_f32(fired, v_reset, v1);
                let r1 = r - 1.0;
                rb[k] = select_f32(fired, n_ref, select_f32(r1 < 0.0, 0.0, r1));
                fl[k] = fired as u32;
            }
        }
        push_fired(fl, lo as u32, spikes);
        lo = hi;
    }
}
