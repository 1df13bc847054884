//! Input encodings: pixel intensities (bytes, `x = byte/255`) to network input over
//! `T` steps.
//!
//! * `rate`: Bernoulli rate coding, a spike at each step with probability
//!   `min(1, gain·x)` (snnTorch `spikegen.rate`). Only non-zero pixels draw.
//! * `latency`: one spike per pixel at step `round((1 − x)·(T − 1))` (bright pixels
//!   first), none below `threshold` (snnTorch `spikegen.latency`, linear, normalised).
//! * `direct`: the intensities themselves as a current at every step; the first
//!   layer acts as a learnable encoder, computed once per sample.
//!
//! Random draws come from a stream per sample keyed by (seed, pass key, sample index),
//! so the spikes of a sample do not depend on batching or threads, and an evaluation
//! on the engine can replay exactly the trainer's inputs.

use crate::tensor::{Activation, FeatShape, SpikeTensor, Tensor};
use rand::RngCore;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};
use spikelab_core::rng::{self, Domain};

fn one() -> f32 {
    1.0
}
fn latency_threshold() -> f32 {
    0.01
}

/// How samples become network input.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Encoding {
    /// Bernoulli spikes with probability `gain·x` per step.
    Rate {
        /// Probability per step of a pixel of intensity 1.
        #[serde(default = "one")]
        gain: f32,
    },
    /// One spike per pixel, earlier for brighter pixels.
    Latency {
        /// Pixels below this intensity do not spike.
        #[serde(default = "latency_threshold")]
        threshold: f32,
    },
    /// The intensities as a constant input current.
    Direct,
}

impl Encoding {
    /// Names accepted on the command line.
    pub const NAMES: &'static str = "rate, latency, direct";

    /// Parses a name (with default parameters).
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

    /// Checks parameters.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Encoding::Rate { gain } if !(gain.is_finite() && gain > 0.0) => Err(Error::field(
                "encoding.gain",
                format!("must be a finite number > 0 (got {gain})"),
            )),
            Encoding::Latency { threshold } if !(0.0..=1.0).contains(&threshold) => {
                Err(Error::field(
                    "encoding.threshold",
                    format!("must be in [0, 1] (got {threshold})"),
                ))
            }
            _ => Ok(()),
        }
    }

    /// True when the encoding produces spikes.
    pub fn is_spiking(&self) -> bool {
        !matches!(self, Encoding::Direct)
    }
}

/// Key of evaluation passes (training passes use the epoch).
pub const EVAL_KEY: u64 = u64::MAX;

/// Encodes a batch: `images` holds `indices.len()` samples of `shape.len()` bytes;
/// `indices` are the samples' positions in their dataset and `key` the epoch (or
/// [`EVAL_KEY`]), which together key the random streams.
pub fn encode(
    enc: &Encoding,
    images: &[u8],
    shape: FeatShape,
    indices: &[usize],
    steps: usize,
    seed: u64,
    key: u64,
) -> Activation {
    let n = shape.len();
    let batch = indices.len();
    assert_eq!(images.len(), batch * n, "encode: image bytes");
    match *enc {
        Encoding::Direct => {
            let data = images.iter().map(|&b| b as f32 / 255.0).collect();
            Activation::Static(Tensor::from_vec(data, batch, shape))
        }
        Encoding::Rate { gain } => {
            let mut s = SpikeTensor::zeros(batch * steps, shape);
            let words = s.words;
            s.bits
                .par_chunks_mut(steps * words)
                .zip(images.par_chunks(n))
                .zip(indices.par_iter())
                .for_each_init(Vec::new, |active, ((bits, img), &idx)| {
                    // Threshold on a 32-bit uniform: spike when u < p·2^32.
                    active.clear();
                    for (j, &b) in img.iter().enumerate() {
                        if b > 0 {
                            let p = (gain * b as f32 / 255.0).min(1.0) as f64;
                            active.push((j, (p * 4_294_967_296.0).round() as u64));
                        }
                    }
                    let mut rng = rng::stream(seed, Domain::Encoder, &[key, idx as u64]);
                    for t in 0..steps {
                        let row = &mut bits[t * words..(t + 1) * words];
                        let mut pair = active.chunks_exact(2);
                        for two in &mut pair {
                            let r = rng.next_u64();
                            let (u0, u1) = (r & 0xFFFF_FFFF, r >> 32);
                            let (j0, p0) = two[0];
                            let (j1, p1) = two[1];
                            row[j0 / 64] |= ((u0 < p0) as u64) << (j0 % 64);
                            row[j1 / 64] |= ((u1 < p1) as u64) << (j1 % 64);
                        }
                        if let [(j, p)] = pair.remainder() {
                            let u = rng.next_u64() & 0xFFFF_FFFF;
                            row[j / 64] |= ((u < *p) as u64) << (j % 64);
                        }
                    }
                });
            Activation::Spikes(s)
        }
        Encoding::Latency { threshold } => {
            let mut s = SpikeTensor::zeros(batch * steps, shape);
            let words = s.words;
            s.bits
                .par_chunks_mut(steps * words)
                .zip(images.par_chunks(n))
                .for_each(|(bits, img)| {
                    for (j, &b) in img.iter().enumerate() {
                        let x = b as f32 / 255.0;
                        if b > 0 && x >= threshold {
                            let t = ((1.0 - x) * (steps - 1) as f32).round() as usize;
                            bits[t * words + j / 64] |= 1 << (j % 64);
                        }
                    }
                });
            Activation::Spikes(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_coding_has_the_right_rate_and_is_keyed_by_sample() {
        let shape = FeatShape::flat(100);
        let img: Vec<u8> = (0..100).map(|j| if j < 50 { 0 } else { 51 }).collect(); // x = 0.2
        let imgs = [img.clone(), img.clone()].concat();
        let a = encode(
            &Encoding::Rate { gain: 1.0 },
            &imgs,
            shape,
            &[7, 8],
            400,
            1,
            0,
        );
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
        let b = encode(&Encoding::Rate { gain: 1.0 }, &img, shape, &[8], 400, 1, 0);
        assert_eq!(&s.bits[400 * s.words..], &b.as_spikes().unwrap().bits[..]);
        // Another epoch, other spikes.
        let c = encode(&Encoding::Rate { gain: 1.0 }, &img, shape, &[8], 400, 1, 1);
        assert_ne!(b, c);
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
            0,
        );
        let s = a.as_spikes().unwrap();
        assert!(s.get(0, 0)); // brightest at step 0
        assert!(s.get(5, 1)); // (1 − 0.502)·10 ≈ 5
        assert_eq!(s.count(), 2); // 10/255 < 0.1: silent
        let d = encode(&Encoding::Direct, &[255, 0, 51], shape, &[0], 11, 0, 0);
        assert_eq!(
            d,
            Activation::Static(Tensor::from_vec(vec![1.0, 0.0, 0.2], 1, shape))
        );
        assert!(Encoding::parse("poisson")
            .unwrap_err()
            .to_string()
            .contains("rate, latency"));
    }
}
