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
//!   acts as a learnable encoder, computed once per sample.
//!
//! Random draws are keyed by (seed, sample key): training uses `epoch·N + index` (fresh
//! noise every epoch), evaluation `EVAL_KEY + index`, so the spikes of a sample do not
//! depend on batching or threads and the engine evaluation can replay exactly the
//! trainer's inputs.

use crate::nn::tensor::{Activation, FeatShape, SpikeTensor, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use spikelab_core::encoding::{BernoulliRate, Latency, LatencyMapping, TimeGrid};
use spikelab_core::error::{Error, Result};

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
            Encoding::Latency { threshold } if !(0.0..1.0).contains(&threshold) => {
                Err(Error::field(
                    "encoding.threshold",
                    format!("must be in [0, 1) (got {threshold})"),
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

/// Offset of evaluation sample keys (training keys are `epoch·N + index`).
pub const EVAL_KEY: u64 = 1 << 62;

/// Encodes a batch: `images` holds `keys.len()` samples of `shape.len()` bytes;
/// `keys[b]` keys the random stream of sample `b` (see the module docs).
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
    let grid = TimeGrid {
        n_steps: steps,
        dt_ms: 1.0,
    };
    // Dense `T × batch × n` bytes from the core encoder.
    let mut dense = vec![0u8; steps * batch * n];
    let done = match *enc {
        Encoding::Rate { gain } => BernoulliRate {
            max_prob: 1.0,
            gain: gain as f64,
        }
        .encode_batch(&x, n, keys, &grid, seed, &mut dense),
        Encoding::Latency { threshold } => Latency {
            mapping: LatencyMapping::Linear,
            t_min_ms: 0.0,
            t_max_ms: (steps - 1) as f64,
            tau_ms: 1.0,
            threshold: threshold as f64,
        }
        .encode_batch(&x, n, keys, &grid, &mut dense),
        Encoding::Direct => unreachable!(),
    };
    done.expect("encoder shapes are consistent by construction");
    let mut s = SpikeTensor::zeros(batch * steps, shape);
    let words = s.words;
    s.bits
        .par_chunks_mut(steps * words)
        .enumerate()
        .for_each(|(b, bits)| {
            for t in 0..steps {
                let row = &dense[(t * batch + b) * n..(t * batch + b + 1) * n];
                pack_bytes(row, &mut bits[t * words..(t + 1) * words]);
            }
        });
    Activation::Spikes(s)
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
}
