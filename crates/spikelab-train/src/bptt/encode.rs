//! Input encodings for training: pixel intensities (bytes, `x = byte/255`) to network
//! input over `T` steps. The spiking encoders are the ones of
//! `spikelab_core::encoding` (one definition for the simulator and the trainer,
//! DESIGN.md idea 1); this module chooses one, runs its batch path and packs the
//! spikes into bits in the trainer's row order (sample-major, `b·T + t`).
//!
//! * `rate`: Bernoulli rate coding ([`BernoulliRate`]), a spike at each step with
//!   probability `min(1, gain·x)` (snnTorch `spikegen.rate`);
//! * `latency`: one spike per pixel at step `⌊(1 − x)·(T − 1)⌋` (bright pixels first),
//!   none at or below `threshold` ([`Latency`], linear map; snnTorch
//!   `spikegen.latency` with `linear=True, normalize=True`);
//! * `direct`: the intensities themselves as a current at every step; the first layer
//!   acts as a learnable encoder, computed once per sample;
//! * [`Encoding::Encoder`]: any other encoder of the core ([`EncoderSpec`]: poisson,
//!   bernoulli, latency_log, rank_order, log_temporal, temporal_switch, phase, burst,
//!   population, saccades) on a grid of `T` steps of `dt_ms`. By name
//!   ([`Encoding::named`]) its time parameters are fitted to the window as `spikelab
//!   data show` fits them ([`EncoderSpec::fitted_to`]); from a parameter file
//!   ([`Encoding::from_toml`], the file `data show --encoder-file` reads) they are
//!   used as written. Encoders with several outputs per pixel widen the input:
//!   population coding gives `m` channels per input channel, temporal-switch coding
//!   and saccades two (ON/OFF), laid out channels-last as the layers expect
//!   ([`Encoding::input_shape`]). A step holds at most one spike per input neuron.
//!
//! Random draws are keyed by (seed, sample key): training uses `epoch·N + index` (fresh
//! noise every epoch), evaluation `EVAL_KEY + index`, so the spikes of a sample do not
//! depend on batching or threads and the engine evaluation can replay exactly the
//! trainer's inputs.

use crate::nn::tensor::{Activation, FeatShape, SpikeTensor, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use spikelab_core::encoding::{
    BernoulliRate, Encoder, EncoderSpec, Latency, LatencyMapping, TimeGrid,
};
use spikelab_core::error::{Error, Result};

fn one() -> f32 {
    1.0
}
fn latency_threshold() -> f32 {
    0.01
}
fn one_ms() -> f64 {
    1.0
}

/// How samples become network input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Encoding {
    /// Bernoulli spikes with probability `gain·x` per step.
    Rate {
        /// Probability per step of a pixel of intensity 1 (before saturation at 1).
        #[serde(default = "one")]
        gain: f32,
    },
    /// One spike per pixel, earlier for brighter pixels.
    Latency {
        /// Pixels at or below this intensity do not spike.
        #[serde(default = "latency_threshold")]
        threshold: f32,
    },
    /// The intensities as a constant input current.
    Direct,
    /// A sequence: each sample (its values in row-major order) is cut into `steps`
    /// equal parts presented one per time step as input currents — an image row by
    /// row (sequential MNIST: 28 steps of 28 pixels), pixel by pixel (784 steps of
    /// 1), or a time series of `steps × channels` values step by step. With
    /// `permute_seed` the values of each sample are first shuffled by one fixed
    /// permutation of that seed (permuted sequential MNIST).
    Sequence {
        /// Time steps per sample (the trainer's `steps`).
        steps: usize,
        /// Seed of a fixed permutation of the values (None: their order).
        #[serde(default)]
        permute_seed: Option<u64>,
    },
    /// A sequence (cut as [`Encoding::Sequence`]) level-crossing coded: each value
    /// channel becomes an UP and a DOWN neuron that spike when the channel has moved
    /// `threshold` (in the samples' 0–1 scale) from its reference level
    /// (`spikelab_core::encoding::delta::send_on_delta`; send-on-delta coding of
    /// sensor signals).
    Delta {
        /// Time steps per sample (the trainer's `steps`).
        steps: usize,
        /// Change that makes a spike.
        #[serde(default = "delta_threshold")]
        threshold: f32,
    },
    /// A sequence (cut as [`Encoding::Sequence`]) rate coded: at every step each value
    /// spikes with its own probability (`spikelab_core::encoding::BernoulliRate`, one
    /// counter-based stream per sample and step).
    SequenceRate {
        /// Time steps per sample (the trainer's `steps`).
        steps: usize,
    },
    /// A sequence (cut as [`Encoding::Sequence`]) population coded: each value drives
    /// `neurons` Gaussian receptive fields over [0, 1]
    /// (`spikelab_core::encoding::GaussianPopulation`), their responses in (0, 1] as
    /// input currents; channels-last (value `i`, field `j` at `i·neurons + j`).
    SequencePopulation {
        /// Time steps per sample (the trainer's `steps`).
        steps: usize,
        /// Receptive fields per value (3..=1024).
        #[serde(default = "population_fields")]
        neurons: u32,
    },
    /// Any encoder of `spikelab_core::encoding`, on a grid of `T` steps of `dt_ms`.
    Encoder {
        /// The encoder and its parameters (`kind = "phase"`, ...).
        encoder: EncoderSpec,
        /// Length of one trainer step in the encoder's time parameters (ms).
        #[serde(default = "one_ms")]
        dt_ms: f64,
    },
}

fn population_fields() -> u32 {
    8
}

fn delta_threshold() -> f32 {
    0.02
}

/// How an encoder's outputs are laid out relative to its inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// One output per input, in input order.
    Same,
    /// `m` outputs per input, next to each other (output `i·m + j`): channels-last.
    Interleaved(usize),
    /// `p` planes of outputs (output `k·n + i`), `n` per plane: re-laid out
    /// channels-last when packed.
    Planes(usize),
}

impl Encoding {
    /// Names accepted on the command line: the trainer's own three and every encoder
    /// of the core (dashes or underscores).
    pub const NAMES: &'static str = "rate, latency, direct, sequence, permuted_sequence, delta, sequence_rate, sequence_population, poisson, bernoulli, latency_log, rank_order, log_temporal, temporal_switch, phase, burst, population, saccades";

    /// Parses one of the trainer's own names (`rate`, `latency`, `direct`) with default
    /// parameters; [`Encoding::named`] knows every encoder.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "rate" => Ok(Encoding::Rate { gain: 1.0 }),
            "latency" => Ok(Encoding::Latency { threshold: 0.01 }),
            "direct" => Ok(Encoding::Direct),
            _ => Err(Error::field(
                "encoding",
                format!("unknown encoding `{s}`; known: {}", Self::NAMES),
            )),
        }
    }

    /// The encoding `name` (any of [`Encoding::NAMES`]) for `steps` steps of 1 ms and
    /// samples of `image` shape: the trainer's own with default parameters, a core
    /// encoder with its time parameters fitted to the window.
    pub fn named(name: &str, steps: usize, image: FeatShape) -> Result<Self> {
        if let Ok(own) = Self::parse(name) {
            return Ok(own);
        }
        match name.replace('-', "_").as_str() {
            "sequence" => {
                return Ok(Encoding::Sequence {
                    steps,
                    permute_seed: None,
                })
            }
            "permuted_sequence" => {
                return Ok(Encoding::Sequence {
                    steps,
                    permute_seed: Some(PERMUTATION_SEED),
                })
            }
            "delta" => {
                return Ok(Encoding::Delta {
                    steps,
                    threshold: delta_threshold(),
                })
            }
            "sequence_rate" => return Ok(Encoding::SequenceRate { steps }),
            "sequence_population" => {
                return Ok(Encoding::SequencePopulation {
                    steps,
                    neurons: population_fields(),
                })
            }
            _ => {}
        }
        let core_name = name.replace('-', "_");
        let spec = EncoderSpec::by_name(&core_name).map_err(|_| {
            Error::field(
                "encoding",
                format!("unknown encoding `{name}`; known: {}", Self::NAMES),
            )
        })?;
        let grid = TimeGrid {
            n_steps: steps,
            dt_ms: 1.0,
        };
        Ok(Encoding::Encoder {
            encoder: spec.fitted_to(&grid, image.w, image.h),
            dt_ms: 1.0,
        })
    }

    /// A core encoder from a parameter file's text (TOML, `kind = "..."` and the
    /// encoder's fields, as `spikelab data show --encoder-file` reads); `source` names
    /// the file in errors. One trainer step lasts `dt_ms`.
    pub fn from_toml(text: &str, source: &str, dt_ms: f64) -> Result<Self> {
        let encoder = EncoderSpec::from_toml(text, source)?;
        let enc = Encoding::Encoder { encoder, dt_ms };
        enc.validate()?;
        Ok(enc)
    }

    /// The shape of the network input for samples of `image` shape (the encoders with
    /// several outputs per pixel widen it).
    pub fn input_shape(&self, image: FeatShape) -> Result<FeatShape> {
        let per_step = |steps: usize| {
            Encoding::Sequence {
                steps,
                permute_seed: None,
            }
            .input_shape(image)
        };
        match *self {
            Encoding::Delta { steps, .. } => {
                return Ok(FeatShape::image(1, 1, 2 * per_step(steps)?.len()))
            }
            Encoding::SequenceRate { steps } => return per_step(steps),
            Encoding::SequencePopulation { steps, neurons } => {
                return Ok(FeatShape::image(
                    1,
                    1,
                    neurons as usize * per_step(steps)?.len(),
                ))
            }
            _ => {}
        }
        if let Encoding::Sequence { steps, .. } = *self {
            let n = image.len();
            if steps == 0 || !n.is_multiple_of(steps) {
                return Err(Error::field(
                    "steps",
                    format!(
                        "sequence input cuts each sample ({image}, {n} values) into `steps` equal parts: {steps} does not divide {n} (e.g. {} steps of {} values)",
                        image.h.max(1),
                        n / image.h.max(1)
                    ),
                ));
            }
            return Ok(FeatShape::image(1, 1, n / steps));
        }
        let Encoding::Encoder { encoder, .. } = self else {
            return Ok(image);
        };
        let n = image.len();
        let outputs = encoder.n_outputs(n);
        let shape = match (encoder, layout(encoder)) {
            (EncoderSpec::Saccades(sac), _) => {
                if sac.width * sac.height != n {
                    return Err(Error::field(
                        "encoder.width",
                        format!(
                            "saccades of a {}×{} image need samples of {} pixels; these are {image}",
                            sac.width,
                            sac.height,
                            sac.width * sac.height
                        ),
                    ));
                }
                let (w, h) = sac.canvas();
                FeatShape::image(2 * image.c, h, w)
            }
            (_, Layout::Same) => image,
            (_, Layout::Interleaved(m)) | (_, Layout::Planes(m)) => {
                FeatShape::image(image.c * m, image.h, image.w)
            }
        };
        debug_assert_eq!(shape.len(), outputs);
        Ok(shape)
    }

    /// Checks parameters.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Encoding::Rate { gain } if !(gain.is_finite() && gain > 0.0) => Err(Error::field(
                "encoding.gain",
                format!("must be a finite number > 0 (got {gain})"),
            )),
            Encoding::Latency { threshold } if !(0.0..1.0).contains(&threshold) => {
                Err(Error::field(
                    "encoding.threshold",
                    format!("must be in [0, 1) (got {threshold})"),
                ))
            }
            Encoding::Sequence { steps: 0, .. } | Encoding::Delta { steps: 0, .. } => Err(
                Error::field("encoding.steps", "a sequence needs at least 1 step"),
            ),
            Encoding::SequencePopulation { neurons, .. } if !(3..=1024).contains(&neurons) => {
                Err(Error::field(
                    "encoding.neurons",
                    format!("must be in 3..=1024 (got {neurons})"),
                ))
            }
            Encoding::Delta { threshold, .. } if !(threshold > 0.0 && threshold < 1.0) => {
                Err(Error::field(
                    "encoding.threshold",
                    format!("must be in (0, 1) (got {threshold})"),
                ))
            }
            Encoding::Encoder { ref encoder, dt_ms } => {
                if !(dt_ms.is_finite() && dt_ms > 0.0) {
                    return Err(Error::field(
                        "encoding.dt_ms",
                        format!("must be a finite number > 0 (got {dt_ms})"),
                    ));
                }
                encoder.validate("encoding.encoder")
            }
            _ => Ok(()),
        }
    }

    /// The name of the encoding (`rate`, `direct`, or the core encoder's name).
    pub fn name(&self) -> &'static str {
        match self {
            Encoding::Rate { .. } => "rate",
            Encoding::Latency { .. } => "latency",
            Encoding::Direct => "direct",
            Encoding::Sequence {
                permute_seed: None, ..
            } => "sequence",
            Encoding::Sequence { .. } => "permuted_sequence",
            Encoding::Delta { .. } => "delta",
            Encoding::SequenceRate { .. } => "sequence_rate",
            Encoding::SequencePopulation { .. } => "sequence_population",
            Encoding::Encoder { encoder, .. } => encoder.name(),
        }
    }

    /// True when the encoding produces spikes.
    pub fn is_spiking(&self) -> bool {
        !matches!(
            self,
            Encoding::Direct | Encoding::Sequence { .. } | Encoding::SequencePopulation { .. }
        )
    }
}

/// Checks that samples of `image` shape, encoded by `encoding`, fit a network taking
/// `input`.
pub fn check_input(encoding: &Encoding, image: FeatShape, input: FeatShape) -> Result<()> {
    let encoded = encoding.input_shape(image)?;
    if encoded == input {
        return Ok(());
    }
    let how = if encoded == image {
        String::new()
    } else {
        format!(", {} encoding makes them {encoded},", encoding.name())
    };
    Err(Error::field(
        "data",
        format!("the samples are {image}{how} but the network takes {input}"),
    ))
}

/// Offset of evaluation sample keys (training keys are `epoch·N + index`).
pub const EVAL_KEY: u64 = 1 << 62;

/// Encodes a batch: `images` holds `keys.len()` samples of `shape.len()` bytes;
/// `keys[b]` keys the random stream of sample `b` (see the module docs).
///
/// # Panics
/// If `images` does not hold `keys.len()` samples of `shape`, or a core encoder does
/// not fit `shape` ([`Encoding::input_shape`] says; training and evaluation check it
/// first).
pub fn encode(
    enc: &Encoding,
    images: &[u8],
    shape: FeatShape,
    keys: &[u64],
    steps: usize,
    seed: u64,
) -> Activation {
    let n = shape.len();
    let batch = keys.len();
    assert_eq!(images.len(), batch * n, "encode: image bytes");
    let x: Vec<f32> = images.iter().map(|&b| b as f32 / 255.0).collect();
    if let Encoding::Direct = enc {
        return Activation::Static(Tensor::from_vec(x, batch, shape));
    }
    if let Encoding::Sequence {
        steps: parts,
        permute_seed,
    } = *enc
    {
        assert_eq!(parts, steps, "sequence encoding: steps");
        let row = enc
            .input_shape(shape)
            .expect("the encoding fits the samples (checked by the caller)");
        // Samples are row-major and the trainer's rows are sample-major (sample b,
        // step t at row b·T + t): the values are already in place.
        let x = match permute_seed {
            None => x,
            Some(seed) => {
                let perm = permutation(n, seed);
                let mut out = vec![0.0; x.len()];
                for (src, dst) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
                    for (d, &p) in dst.iter_mut().zip(&perm) {
                        *d = src[p];
                    }
                }
                out
            }
        };
        return Activation::Dense(Tensor::from_vec(x, batch * steps, row));
    }
    if let Encoding::SequencePopulation {
        steps: parts,
        neurons,
    } = *enc
    {
        assert_eq!(parts, steps, "sequence_population encoding: steps");
        let out_shape = enc
            .input_shape(shape)
            .expect("the encoding fits the samples (checked by the caller)");
        let pop = spikelab_core::encoding::GaussianPopulation::new(neurons, 0.0, 1.0, 1.0)
            .expect("neurons checked by validate");
        let m = neurons as usize;
        let mut out = vec![0.0f32; x.len() * m];
        out.par_chunks_mut(m).zip(x.par_iter()).for_each(|(o, &v)| {
            for (a, r) in o.iter_mut().zip(pop.responses(v)) {
                *a = r as f32;
            }
        });
        return Activation::Dense(Tensor::from_vec(out, batch * steps, out_shape));
    }
    if let Encoding::SequenceRate { steps: parts } = *enc {
        assert_eq!(parts, steps, "sequence_rate encoding: steps");
        let row = enc
            .input_shape(shape)
            .expect("the encoding fits the samples (checked by the caller)");
        let k = row.len();
        // Every (sample, step) is one Bernoulli row of its own key.
        let row_keys: Vec<u64> = keys
            .iter()
            .flat_map(|&key| {
                (0..steps).map(move |t| {
                    spikelab_core::rng::hash_keys(
                        0,
                        spikelab_core::rng::Domain::Encoder,
                        &[0x5e9_4a7e, key, t as u64],
                    )
                })
            })
            .collect();
        let mut dense = vec![0u8; batch * steps * k];
        BernoulliRate {
            max_prob: 1.0,
            gain: 1.0,
        }
        .encode_batch(
            &x,
            k,
            &row_keys,
            &TimeGrid {
                n_steps: 1,
                dt_ms: 1.0,
            },
            seed,
            &mut dense,
        )
        .expect("shapes are consistent by construction");
        let mut s = SpikeTensor::zeros(batch * steps, row);
        let words = s.words;
        s.bits
            .par_chunks_mut(words)
            .zip(dense.par_chunks(k))
            .for_each(|(bits, d)| pack_bytes(d, bits));
        return Activation::Spikes(s);
    }
    if let Encoding::Delta {
        steps: parts,
        threshold,
    } = *enc
    {
        assert_eq!(parts, steps, "delta encoding: steps");
        let out_shape = enc
            .input_shape(shape)
            .expect("the encoding fits the samples (checked by the caller)");
        let (channels, m) = (n / steps, out_shape.len());
        let mut s = SpikeTensor::zeros(batch * steps, out_shape);
        let words = s.words;
        s.bits
            .par_chunks_mut(steps * words)
            .zip(x.par_chunks(n))
            .for_each(|(bits, sample)| {
                let mut dense = vec![0u8; steps * m];
                spikelab_core::encoding::delta::send_on_delta(
                    sample, steps, channels, threshold, &mut dense,
                );
                for t in 0..steps {
                    pack_bytes(
                        &dense[t * m..(t + 1) * m],
                        &mut bits[t * words..(t + 1) * words],
                    );
                }
            });
        return Activation::Spikes(s);
    }
    let out_shape = enc
        .input_shape(shape)
        .expect("the encoding fits the samples (checked by the caller)");
    let m = out_shape.len();
    let dt_ms = match enc {
        Encoding::Encoder { dt_ms, .. } => *dt_ms,
        _ => 1.0,
    };
    let grid = TimeGrid {
        n_steps: steps,
        dt_ms,
    };
    // Dense `T × batch × m` bytes from the core encoder.
    let mut dense = vec![0u8; steps * batch * m];
    let done = match enc {
        Encoding::Rate { gain } => BernoulliRate {
            max_prob: 1.0,
            gain: *gain as f64,
        }
        .encode_batch(&x, n, keys, &grid, seed, &mut dense),
        Encoding::Latency { threshold } => Latency {
            mapping: LatencyMapping::Linear,
            t_min_ms: 0.0,
            t_max_ms: (steps - 1) as f64,
            tau_ms: 1.0,
            threshold: *threshold as f64,
        }
        .encode_batch(&x, n, keys, &grid, &mut dense),
        Encoding::Encoder { encoder, .. } => {
            let r = encoder.encode_batch_u8(&x, n, keys, &grid, seed, &mut dense);
            // At most one spike per neuron and step (a Poisson step may hold more).
            dense.iter_mut().for_each(|b| *b = (*b != 0) as u8);
            if let Layout::Planes(p) = layout(encoder) {
                channels_last(&mut dense, m, p, shape.c);
            }
            r
        }
        Encoding::Direct
        | Encoding::Sequence { .. }
        | Encoding::Delta { .. }
        | Encoding::SequenceRate { .. }
        | Encoding::SequencePopulation { .. } => unreachable!(),
    };
    done.expect("encoder shapes are consistent by construction");
    let mut s = SpikeTensor::zeros(batch * steps, out_shape);
    let words = s.words;
    s.bits
        .par_chunks_mut(steps * words)
        .enumerate()
        .for_each(|(b, bits)| {
            for t in 0..steps {
                let row = &dense[(t * batch + b) * m..(t * batch + b + 1) * m];
                pack_bytes(row, &mut bits[t * words..(t + 1) * words]);
            }
        });
    Activation::Spikes(s)
}

/// The seed of the permutation of `permuted_sequence` (a fixed one, so that every
/// run and every tool permutes alike).
pub const PERMUTATION_SEED: u64 = 0x05ee_d5e9;

/// A fixed permutation of `n` values drawn from `seed` (Fisher–Yates on the
/// library's seeded stream).
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    use rand::Rng;
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = spikelab_core::rng::stream(
        seed,
        spikelab_core::rng::Domain::Training,
        &[0x9e7, n as u64],
    );
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
    order
}

/// How the outputs of `encoder` relate to its inputs.
fn layout(encoder: &EncoderSpec) -> Layout {
    match encoder {
        EncoderSpec::Population(p) => Layout::Interleaved(p.n_neurons as usize),
        EncoderSpec::TemporalSwitch(_) | EncoderSpec::Saccades(_) => Layout::Planes(2),
        _ => Layout::Same,
    }
}

/// Re-lays out each row of `row_len` outputs in `planes` planes (output `k·P + i`, `P`
/// per plane, `i` running over pixels × `channels` channels-last) as channels-last with
/// `planes·channels` channels: output `(i / c)·(p·c) + k·c + i mod c`.
fn channels_last(rows: &mut [u8], row_len: usize, planes: usize, channels: usize) {
    let per_plane = row_len / planes;
    let mut planar = vec![0u8; row_len];
    for row in rows.chunks_exact_mut(row_len) {
        planar.copy_from_slice(row);
        for k in 0..planes {
            for i in 0..per_plane {
                let pixel = i / channels;
                row[pixel * planes * channels + k * channels + i % channels] =
                    planar[k * per_plane + i];
            }
        }
    }
}

/// Packs bytes that are 0 or 1 into bits (the last word zero-padded). Eight bytes at
/// a time: multiplying them, read as one little-endian `u64`, by `0x0102040810204080`
/// moves byte `i` to bit `56 + i` with no carries.
fn pack_bytes(values: &[u8], words: &mut [u64]) {
    for (k, chunk) in values.chunks(64).enumerate() {
        let mut w = 0u64;
        let mut eights = chunk.chunks_exact(8);
        for (q, e) in (&mut eights).enumerate() {
            let x = u64::from_le_bytes(e.try_into().expect("8 bytes"));
            w |= (x.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * q);
        }
        let base = chunk.len() - eights.remainder().len();
        for (j, &x) in eights.remainder().iter().enumerate() {
            w |= ((x != 0) as u64) << (base + j);
        }
        words[k] = w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_rate_and_population_code_each_step_of_a_series() {
        // One sample of 200 steps × 1 channel at 0.25, then the same at 0.75.
        let steps = 200;
        let shape = FeatShape::image(1, steps, 1);
        let sample: Vec<u8> = (0..steps).map(|t| if t < 100 { 64 } else { 191 }).collect();
        let rate = Encoding::named("sequence_rate", steps, shape).unwrap();
        let s = encode(&rate, &sample, shape, &[3], steps, 1);
        let s = s.as_spikes().unwrap();
        let first = (0..100).filter(|&t| s.get(t, 0)).count();
        let second = (100..200).filter(|&t| s.get(t, 0)).count();
        assert!((15..=35).contains(&first), "{first} spikes at p = 0.25");
        assert!((65..=85).contains(&second), "{second} spikes at p = 0.75");
        // The same key gives the same spikes, another key others.
        let again = encode(&rate, &sample, shape, &[3], steps, 1);
        assert_eq!(again.as_spikes().unwrap().bits, s.bits);
        let other = encode(&rate, &sample, shape, &[4], steps, 1);
        assert_ne!(other.as_spikes().unwrap().bits, s.bits);
        // Population: 8 fields per value, the best-tuned field moves up with the value.
        let pop = Encoding::named("sequence_population", steps, shape).unwrap();
        assert_eq!(pop.input_shape(shape).unwrap().len(), 8);
        let x = encode(&pop, &sample, shape, &[0], steps, 1).into_dense(steps);
        let argmax = |r: usize| {
            let row = x.row(r);
            (0..8).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap()
        };
        assert!(argmax(0) < argmax(150), "{} vs {}", argmax(0), argmax(150));
        assert!(x.data.iter().all(|&v| v > 0.0 && v <= 1.0));
    }

    #[test]
    fn delta_coding_spikes_up_and_down_where_a_series_moves() {
        // Two samples of 4 steps × 2 channels: channel 0 rises by 20/255 per step,
        // channel 1 falls once by 60/255; threshold 0.05 (≈ 12.75/255).
        let steps = 4;
        let a: Vec<u8> = vec![100, 200, 120, 200, 140, 140, 160, 140];
        let imgs = [a.clone(), a].concat();
        let enc = Encoding::named("delta", steps, FeatShape::image(1, steps, 2)).unwrap();
        let enc = match enc {
            Encoding::Delta { steps, .. } => Encoding::Delta {
                steps,
                threshold: 0.05,
            },
            other => panic!("{other:?}"),
        };
        assert_eq!(
            enc.input_shape(FeatShape::image(1, steps, 2))
                .unwrap()
                .len(),
            4
        );
        let x = encode(
            &enc,
            &imgs,
            FeatShape::image(1, steps, 2),
            &[0, 1],
            steps,
            0,
        );
        let s = x.as_spikes().unwrap();
        for b in 0..2 {
            let row = |t: usize| (0..4).map(|j| s.get(b * steps + t, j)).collect::<Vec<_>>();
            assert_eq!(row(0), [false; 4], "the first step sets the references");
            assert_eq!(row(1), [true, false, false, false]);
            assert_eq!(
                row(2),
                [true, false, false, true],
                "UP on channel 0, DOWN on 1"
            );
            assert_eq!(row(3), [true, false, false, false]);
        }
        assert!(Encoding::Delta {
            steps: 4,
            threshold: 1.5
        }
        .validate()
        .is_err());
    }

    #[test]
    fn rate_coding_has_the_right_rate_and_is_keyed_by_sample() {
        let shape = FeatShape::flat(100);
        let img: Vec<u8> = (0..100).map(|j| if j < 50 { 0 } else { 51 }).collect(); // x = 0.2
        let imgs = [img.clone(), img.clone()].concat();
        let a = encode(&Encoding::Rate { gain: 1.0 }, &imgs, shape, &[7, 8], 400, 1);
        let s = a.as_spikes().unwrap();
        let mut on = 0;
        for r in 0..400 {
            for j in 0..100 {
                if s.get(r, j) {
                    assert!(j >= 50, "dark pixels never spike");
                    on += 1;
                }
            }
        }
        let rate = on as f64 / (400.0 * 50.0);
        assert!((rate - 0.2).abs() < 0.01, "rate {rate}");
        // Sample 8 in another batch, alone, gets the same spikes.
        let b = encode(&Encoding::Rate { gain: 1.0 }, &img, shape, &[8], 400, 1);
        assert_eq!(&s.bits[400 * s.words..], &b.as_spikes().unwrap().bits[..]);
        // Another key (the next epoch), other spikes.
        let c = encode(&Encoding::Rate { gain: 1.0 }, &img, shape, &[108], 400, 1);
        assert_ne!(b, c);
    }

    #[test]
    fn byte_packing_matches_the_definition() {
        let bytes: Vec<u8> = (0..150).map(|i| ((i * 7 + i / 3) % 3 == 0) as u8).collect();
        let mut words = vec![0u64; 3];
        pack_bytes(&bytes, &mut words);
        for (i, &b) in bytes.iter().enumerate() {
            assert_eq!(words[i / 64] >> (i % 64) & 1, b as u64, "bit {i}");
        }
    }

    #[test]
    fn latency_and_direct_coding() {
        let shape = FeatShape::flat(3);
        let a = encode(
            &Encoding::Latency { threshold: 0.1 },
            &[255, 128, 10],
            shape,
            &[0],
            11,
            0,
        );
        let s = a.as_spikes().unwrap();
        assert!(s.get(0, 0)); // brightest at step 0
        assert!(s.get(4, 1)); // ⌊(1 − 0.502)·10⌋ = 4
        assert_eq!(s.count(), 2); // 10/255 < 0.1: silent
        let d = encode(&Encoding::Direct, &[255, 0, 51], shape, &[0], 11, 0);
        assert_eq!(
            d,
            Activation::Static(Tensor::from_vec(vec![1.0, 0.0, 0.2], 1, shape))
        );
        assert!(Encoding::parse("poisson")
            .unwrap_err()
            .to_string()
            .contains("rate, latency"));
    }

    /// The spikes of a core encoder as the trainer packs them: bit `(b·T + t, j)`
    /// with `j` channels-last, against the encoder's own per-sample trains.
    fn assert_matches_core(enc: &Encoding, images: &[u8], shape: FeatShape, steps: usize) {
        let Encoding::Encoder { encoder, dt_ms } = enc else {
            panic!("a core encoder")
        };
        let out = enc.input_shape(shape).unwrap();
        let keys = [3u64, 9];
        let a = encode(enc, images, shape, &keys, steps, 7);
        let s = a.as_spikes().unwrap();
        assert_eq!(s.shape, out);
        let grid = TimeGrid {
            n_steps: steps,
            dt_ms: *dt_ms,
        };
        let n = shape.len();
        let planes = match layout(encoder) {
            Layout::Planes(p) => p,
            _ => 1,
        };
        assert!(s.count() > 0, "{}: no spikes", enc.name());
        for (b, &key) in keys.iter().enumerate() {
            let x: Vec<f32> = images[b * n..(b + 1) * n]
                .iter()
                .map(|&v| v as f32 / 255.0)
                .collect();
            let trains = encoder.encode(&x, &grid, 7, key);
            let mut want = vec![false; steps * out.len()];
            let per_plane = out.len() / planes;
            for (&neuron, &t_ms) in trains.neurons.iter().zip(&trains.times_ms) {
                let (k, i) = (neuron as usize / per_plane, neuron as usize % per_plane);
                let j = if planes > 1 {
                    (i / shape.c) * planes * shape.c + k * shape.c + i % shape.c
                } else {
                    neuron as usize
                };
                want[grid.step_of(t_ms).unwrap() * out.len() + j] = true;
            }
            for t in 0..steps {
                for j in 0..out.len() {
                    assert_eq!(
                        s.get(b * steps + t, j),
                        want[t * out.len() + j],
                        "{} sample {b} step {t} output {j}",
                        enc.name()
                    );
                }
            }
        }
    }

    #[test]
    fn core_encoders_are_packed_channels_last_as_they_encode() {
        let shape = FeatShape::image(1, 4, 4);
        let images: Vec<u8> = (0..32).map(|i| ((i * 37) % 256) as u8).collect();
        for name in [
            "rank-order",
            "phase",
            "population",
            "temporal_switch",
            "saccades",
        ] {
            let enc = Encoding::named(name, 16, shape).unwrap();
            assert_matches_core(&enc, &images, shape, 16);
        }
        let pop = Encoding::named("population", 16, shape).unwrap();
        let Encoding::Encoder {
            encoder: EncoderSpec::Population(p),
            ..
        } = &pop
        else {
            panic!("population")
        };
        let m = p.n_neurons as usize;
        assert_eq!(pop.input_shape(shape).unwrap(), FeatShape::image(m, 4, 4));
        let sw = Encoding::named("temporal-switch", 16, shape).unwrap();
        assert_eq!(sw.input_shape(shape).unwrap(), FeatShape::image(2, 4, 4));
        // Saccades are fitted to the images; other images are refused by field.
        let sac = Encoding::named("saccades", 16, shape).unwrap();
        let e = sac.input_shape(FeatShape::image(1, 5, 5)).unwrap_err();
        assert!(e.to_string().contains("encoder.width"), "{e}");
    }

    #[test]
    fn poisson_steps_hold_at_most_one_spike() {
        let shape = FeatShape::flat(50);
        let text = "kind = \"poisson\"\nmax_rate_hz = 900.0";
        let enc = Encoding::from_toml(text, "p.toml", 1.0).unwrap();
        let a = encode(&enc, &[255u8; 50], shape, &[1], 200, 3);
        let rate = a.as_spikes().unwrap().count() as f64 / (50.0 * 200.0);
        // P(at least one event in 1 ms at 900 Hz) = 1 − e^(−0.9) ≈ 0.593.
        assert!((rate - 0.593).abs() < 0.02, "rate {rate}");
    }

    #[test]
    fn encoder_files_and_names_are_checked() {
        let shape = FeatShape::flat(4);
        let ok = Encoding::from_toml("kind = \"latency\"\nt_max_ms = 9.0", "a.toml", 1.0);
        assert!(matches!(ok, Ok(Encoding::Encoder { .. })));
        let bad = Encoding::from_toml("kind = \"morse\"", "b.toml", 1.0).unwrap_err();
        assert!(bad.to_string().contains("b.toml") && bad.to_string().contains("phase"));
        let field = Encoding::from_toml("kind = \"latency\"\ntau = 1", "c.toml", 1.0)
            .unwrap_err()
            .to_string();
        assert!(field.contains("tau"), "{field}");
        let dt = Encoding::from_toml("kind = \"phase\"", "d.toml", 0.0).unwrap_err();
        assert!(dt.to_string().contains("encoding.dt_ms"), "{dt}");
        let e = Encoding::named("morse", 8, shape).unwrap_err().to_string();
        assert!(e.contains("morse") && e.contains("rank_order"), "{e}");
        // The trainer's own names keep their meaning (bitwise-stable training).
        assert_eq!(
            Encoding::named("latency", 8, shape).unwrap(),
            Encoding::Latency { threshold: 0.01 }
        );
        // Configurations round-trip through JSON, as model files store them.
        let enc = Encoding::named("phase", 8, shape).unwrap();
        let json = serde_json::to_string(&enc).unwrap();
        assert_eq!(serde_json::from_str::<Encoding>(&json).unwrap(), enc);
    }
}
