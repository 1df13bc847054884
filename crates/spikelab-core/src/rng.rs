//! Seeded random streams. Every random draw in Spikelab comes from a stream keyed by
//! the run seed and by *what* draws (a population and neuron, a projection and row),
//! never by which thread draws it; this is what makes runs bitwise reproducible for
//! any thread count (DESIGN.md idea 5).

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// The random generator used everywhere: xoshiro256++ (fast, 256-bit state, stable
/// output across crate versions because the algorithm is fixed by name).
pub type Stream = Xoshiro256PlusPlus;

/// Domain tags keep streams for different purposes apart even with equal indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Domain {
    /// Initial state of a population's neurons.
    InitialState = 1,
    /// Spike generation of a source population (Poisson ...).
    Source = 2,
    /// Intrinsic noise of a neuron (escape noise ...).
    Neuron = 3,
    /// Connectivity and weight/delay sampling of a projection.
    Connectivity = 4,
    /// Noise of current inputs.
    Current = 5,
    /// Plasticity rules with stochastic updates.
    Plasticity = 6,
    /// Encoders of data into spikes.
    Encoder = 7,
    /// Training: shuffling, dropout, initialisation.
    Training = 8,
}

/// SplitMix64 finaliser: a bijective 64-bit mixer with good avalanche.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes a seed, a domain and a list of keys into one 64-bit value.
#[inline]
pub fn hash_keys(seed: u64, domain: Domain, keys: &[u64]) -> u64 {
    let mut h = mix64(seed ^ 0x5350_494B_454C_4142); // "SPIKELAB"
    h = mix64(h ^ domain as u64);
    for &k in keys {
        h = mix64(h ^ k);
    }
    h
}

/// A stream keyed by (seed, domain, keys...). Equal keys give equal streams.
pub fn stream(seed: u64, domain: Domain, keys: &[u64]) -> Stream {
    Stream::seed_from_u64(hash_keys(seed, domain, keys))
}

/// A counter-based uniform number in [0, 1) from a hash of the keys: stateless,
/// for draws whose count is known in advance (one per neuron per step ...).
#[inline]
pub fn hash_uniform(seed: u64, domain: Domain, keys: &[u64]) -> f64 {
    (hash_keys(seed, domain, keys) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform f64 in [0, 1).
#[inline]
pub fn uniform(rng: &mut Stream) -> f64 {
    rng.random::<f64>()
}

/// Uniform f64 in (0, 1], safe to take the logarithm of.
#[inline]
pub fn uniform_open0(rng: &mut Stream) -> f64 {
    1.0 - rng.random::<f64>()
}

/// Number of Bernoulli(p) trials up to and including the first success (>= 1),
/// i.e. the step distance to the next spike of a per-step Bernoulli process.
/// Returns `u64::MAX` for p <= 0.
#[inline]
pub fn geometric_trials(rng: &mut Stream, p: f64) -> u64 {
    if p <= 0.0 {
        return u64::MAX;
    }
    if p >= 1.0 {
        return 1;
    }
    let u = uniform_open0(rng);
    let k = (u.ln() / (-p).ln_1p()).floor() + 1.0;
    if k >= u64::MAX as f64 {
        u64::MAX
    } else {
        k as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_give_equal_streams_and_different_keys_differ() {
        let mut a = stream(7, Domain::Source, &[1, 2]);
        let mut b = stream(7, Domain::Source, &[1, 2]);
        let mut c = stream(7, Domain::Source, &[1, 3]);
        let mut d = stream(7, Domain::Neuron, &[1, 2]);
        let xa: u64 = a.random();
        assert_eq!(xa, b.random::<u64>());
        assert_ne!(xa, c.random::<u64>());
        assert_ne!(xa, d.random::<u64>());
    }

    #[test]
    fn geometric_trials_has_mean_one_over_p() {
        let mut rng = stream(1, Domain::Source, &[0]);
        let p = 0.05;
        let n = 200_000;
        let mean: f64 = (0..n)
            .map(|_| geometric_trials(&mut rng, p) as f64)
            .sum::<f64>()
            / n as f64;
        assert!((mean - 1.0 / p).abs() < 0.2, "mean {mean}");
        assert_eq!(geometric_trials(&mut rng, 0.0), u64::MAX);
        assert_eq!(geometric_trials(&mut rng, 1.0), 1);
    }

    #[test]
    fn hash_uniform_is_in_unit_interval_and_roughly_uniform() {
        let n = 100_000u64;
        let mut sum = 0.0;
        for i in 0..n {
            let u = hash_uniform(3, Domain::Neuron, &[i, 5]);
            assert!((0.0..1.0).contains(&u));
            sum += u;
        }
        assert!((sum / n as f64 - 0.5).abs() < 0.01);
    }
}
