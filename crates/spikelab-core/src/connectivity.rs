//! Connectivity rules and the generation of synapses from them. Every row of a
//! projection (a source neuron, or a target neuron for in-degree rules) draws from its
//! own stream keyed by (seed, projection, row), so generation can run in parallel and
//! gives the same synapses for any thread count.

use crate::error::{check_probability, Error, Result};
use crate::rng::{self, Domain, Stream};
use crate::value::Value;
use rand::Rng;
use rand_distr::Distribution as _;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

fn yes() -> bool {
    true
}

/// How the neurons of two populations are connected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum Connectivity {
    /// Every source to every target.
    AllToAll {
        /// Allow i→i when source and target are the same population.
        #[serde(default = "yes")]
        allow_self: bool,
    },
    /// Source i to target i (sizes must match).
    OneToOne,
    /// Each pair independently with probability `p`.
    FixedProbability {
        /// Connection probability in [0, 1].
        p: f64,
        /// Allow i→i when source and target are the same population.
        #[serde(default = "yes")]
        allow_self: bool,
    },
    /// Every target receives exactly `k` distinct sources.
    FixedInDegree {
        /// Number of sources per target.
        k: usize,
        /// Allow i→i when source and target are the same population.
        #[serde(default = "yes")]
        allow_self: bool,
    },
    /// Exactly `n` synapses in all, each between a source and a target drawn
    /// uniformly at random (NEST's `fixed_total_number`): with multapses (the
    /// default) a pair may be drawn more than once. Generated target by target: the
    /// in-degrees are a multinomial split of `n` (hypergeometric without multapses),
    /// then each target draws its sources from its own stream.
    FixedTotalNumber {
        /// Total number of synapses.
        n: usize,
        /// Allow i→i when source and target are the same population.
        #[serde(default = "yes")]
        allow_self: bool,
        /// Allow several synapses between the same pair.
        #[serde(default = "yes")]
        allow_multapses: bool,
    },
    /// Every source projects to exactly `k` distinct targets.
    FixedOutDegree {
        /// Number of targets per source.
        k: usize,
        /// Allow i→i when source and target are the same population.
        #[serde(default = "yes")]
        allow_self: bool,
    },
    /// Explicit pairs, with optional per-pair weights and delays overriding the
    /// projection's `weight` and `delay_ms`.
    List {
        /// `[source, target]` pairs.
        pairs: Vec<(u32, u32)>,
        /// One weight per pair.
        #[serde(default)]
        weights: Option<Vec<f64>>,
        /// One delay (ms) per pair.
        #[serde(default)]
        delays_ms: Option<Vec<f64>>,
    },
}

impl Connectivity {
    /// Rule names accepted in model files.
    pub const NAMES: &'static str =
        "all_to_all, one_to_one, fixed_probability, fixed_in_degree, fixed_total_number, fixed_out_degree, list";

    /// Whether synapses are generated target by target (in-degree rules): each
    /// partition then generates only the synapses ending on its own neurons.
    pub fn is_target_major(&self) -> bool {
        matches!(
            self,
            Connectivity::FixedInDegree { .. } | Connectivity::FixedTotalNumber { .. }
        )
    }

    /// Checks the rule against the population sizes; `same` is true when source and
    /// target are the same population.
    pub fn validate(&self, field: &str, n_src: usize, n_tgt: usize, same: bool) -> Result<()> {
        match self {
            Connectivity::AllToAll { .. } => Ok(()),
            Connectivity::OneToOne => {
                if n_src != n_tgt {
                    Err(Error::field(
                        field,
                        format!("one_to_one needs equal sizes (source {n_src}, target {n_tgt})"),
                    ))
                } else {
                    Ok(())
                }
            }
            Connectivity::FixedProbability { p, .. } => {
                check_probability(&format!("{field}.p"), *p)
            }
            Connectivity::FixedInDegree { k, allow_self } => {
                let avail = n_src - usize::from(same && !allow_self).min(n_src);
                if *k > avail {
                    Err(Error::field(
                        format!("{field}.k"),
                        format!("in-degree {k} exceeds the {avail} available sources"),
                    ))
                } else {
                    Ok(())
                }
            }
            Connectivity::FixedTotalNumber {
                n,
                allow_self,
                allow_multapses,
            } => {
                let pairs = n_src as u128 * n_tgt as u128
                    - if same && !allow_self {
                        n_src.min(n_tgt) as u128
                    } else {
                        0
                    };
                if *n > 0 && pairs == 0 {
                    return Err(Error::field(
                        format!("{field}.n"),
                        format!("{n} synapses but no (source, target) pair is allowed"),
                    ));
                }
                if !allow_multapses && *n as u128 > pairs {
                    return Err(Error::field(
                        format!("{field}.n"),
                        format!("{n} synapses exceed the {pairs} distinct pairs (allow_multapses = false)"),
                    ));
                }
                if *n > u32::MAX as usize {
                    return Err(Error::field(
                        format!("{field}.n"),
                        format!("{n} synapses in one projection; at most {}", u32::MAX),
                    ));
                }
                Ok(())
            }
            Connectivity::FixedOutDegree { k, allow_self } => {
                let avail = n_tgt - usize::from(same && !allow_self).min(n_tgt);
                if *k > avail {
                    Err(Error::field(
                        format!("{field}.k"),
                        format!("out-degree {k} exceeds the {avail} available targets"),
                    ))
                } else {
                    Ok(())
                }
            }
            Connectivity::List {
                pairs,
                weights,
                delays_ms,
            } => {
                for (k, &(i, j)) in pairs.iter().enumerate() {
                    if i as usize >= n_src || j as usize >= n_tgt {
                        return Err(Error::field(
                            format!("{field}.pairs[{k}]"),
                            format!(
                                "[{i}, {j}] is out of range (source 0..{n_src}, target 0..{n_tgt})"
                            ),
                        ));
                    }
                }
                for (name, v) in [("weights", weights), ("delays_ms", delays_ms)] {
                    if let Some(v) = v {
                        if v.len() != pairs.len() {
                            return Err(Error::field(
                                format!("{field}.{name}"),
                                format!("has {} entries for {} pairs", v.len(), pairs.len()),
                            ));
                        }
                        if let Some((k, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
                            return Err(Error::field(
                                format!("{field}.{name}[{k}]"),
                                format!("must be finite (got {x})"),
                            ));
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Expected number of synapses (upper estimate for fixed_probability), used to
    /// check memory before allocating.
    pub fn expected_synapses(&self, n_src: usize, n_tgt: usize) -> f64 {
        let (s, t) = (n_src as f64, n_tgt as f64);
        match self {
            Connectivity::AllToAll { .. } => s * t,
            Connectivity::OneToOne => s,
            Connectivity::FixedProbability { p, .. } => {
                let m = p * s * t;
                m + 5.0 * m.sqrt()
            }
            Connectivity::FixedInDegree { k, .. } => *k as f64 * t,
            Connectivity::FixedTotalNumber { n, .. } => *n as f64,
            Connectivity::FixedOutDegree { k, .. } => *k as f64 * s,
            Connectivity::List { pairs, .. } => pairs.len() as f64,
        }
    }
}

/// Synapses of one projection in source-major order: row `i` holds the synapses of
/// source `i`, with targets in increasing order.
#[derive(Clone, Debug, Default)]
pub struct SynapseRows {
    /// `row_ptr[i]..row_ptr[i+1]` are the synapses of source `i`.
    pub row_ptr: Vec<usize>,
    /// Target neuron (index within the target population).
    pub target: Vec<u32>,
    /// Weight.
    pub weight: Vec<f32>,
    /// Delay in steps (>= 1).
    pub delay: Vec<u16>,
}

impl SynapseRows {
    /// Number of synapses.
    pub fn len(&self) -> usize {
        self.target.len()
    }
    /// True when there are no synapses.
    pub fn is_empty(&self) -> bool {
        self.target.is_empty()
    }
}

/// Everything needed to generate one projection.
pub struct GenerateRequest<'a> {
    /// Connectivity rule.
    pub rule: &'a Connectivity,
    /// Weight value.
    pub weight: &'a Value,
    /// Delay value in ms.
    pub delay_ms: &'a Value,
    /// Time step (ms), to convert delays to steps.
    pub dt_ms: f64,
    /// Source population size.
    pub n_src: usize,
    /// Target population size.
    pub n_tgt: usize,
    /// Source and target are the same population.
    pub same: bool,
    /// Run seed.
    pub seed: u64,
    /// Index of the projection (keys its streams).
    pub projection: usize,
}

/// Converts a delay to steps; callers validate that the result is in 1..=u16::MAX.
#[inline]
pub fn delay_steps(delay_ms: f64, dt_ms: f64) -> u16 {
    (delay_ms / dt_ms).round().clamp(1.0, u16::MAX as f64) as u16
}

/// The synapses of one row (a source's or, for target-major rules, a target's):
/// the other end, weights and delays (steps).
pub type Row = (Vec<u32>, Vec<f32>, Vec<u16>);

/// The stream of row `row` of projection `req.projection`.
fn row_stream(req: &GenerateRequest, row: u64) -> Stream {
    rng::stream(
        req.seed,
        Domain::Connectivity,
        &[req.projection as u64, row],
    )
}

/// Weights and delays (steps) for `count` synapses, drawn from `rng`.
fn draw_weights_and_delays(
    req: &GenerateRequest,
    rng: &mut Stream,
    count: usize,
) -> (Vec<f32>, Vec<u16>) {
    let mut w = Vec::with_capacity(count);
    let mut d = Vec::with_capacity(count);
    for _ in 0..count {
        w.push(req.weight.sample(rng) as f32);
        d.push(delay_steps(req.delay_ms.sample(rng), req.dt_ms));
    }
    (w, d)
}

/// The synapses ending on targets `lo..hi` of a target-major projection (see
/// [`Connectivity::is_target_major`]), one column per target in order: its sources
/// (ascending for `fixed_in_degree`, in draw order for `fixed_total_number`), weights
/// and delays. Each column draws from the stream of its target,
/// so any split of the targets gives the same synapses.
pub fn generate_columns(req: &GenerateRequest, lo: usize, hi: usize) -> Vec<Row> {
    let n_src = req.n_src;
    match req.rule {
        Connectivity::FixedInDegree { k, allow_self } => (lo..hi)
            .into_par_iter()
            .map(|j| {
                let mut rng = row_stream(req, j as u64);
                let exclude = (req.same && !allow_self).then_some(j as u32);
                let idx = sample_distinct(&mut rng, n_src, *k, exclude);
                let (w, d) = draw_weights_and_delays(req, &mut rng, idx.len());
                (idx, w, d)
            })
            .collect(),
        Connectivity::FixedTotalNumber {
            allow_self,
            allow_multapses,
            ..
        } => {
            let counts = total_number_in_degrees(req);
            (lo..hi)
                .into_par_iter()
                .map(|j| {
                    let mut rng = row_stream(req, j as u64);
                    let exclude = (req.same && !allow_self && j < n_src).then_some(j as u32);
                    let k = counts[j] as usize;
                    let idx = if *allow_multapses {
                        sample_with_replacement(&mut rng, n_src, k, exclude)
                    } else {
                        sample_distinct(&mut rng, n_src, k, exclude)
                    };
                    let (w, d) = draw_weights_and_delays(req, &mut rng, idx.len());
                    (idx, w, d)
                })
                .collect()
        }
        _ => panic!("generate_columns needs a target-major rule"),
    }
}

/// The in-degree of every target of a `fixed_total_number` projection: `n` split by
/// sequential binomial draws (a multinomial with equal cells; with multapses), or
/// hypergeometric ones (without: each target's share of the distinct pairs left), from
/// one stream of the projection. Cheap (one draw per target), so every partition
/// computes the whole split and uses its part.
fn total_number_in_degrees(req: &GenerateRequest) -> Vec<u32> {
    let Connectivity::FixedTotalNumber {
        n,
        allow_self,
        allow_multapses,
    } = req.rule
    else {
        unreachable!("called for fixed_total_number only")
    };
    let (n_src, n_tgt) = (req.n_src as u64, req.n_tgt);
    let mut rng = row_stream(req, u64::MAX);
    let avail = |j: usize| n_src - u64::from(req.same && !allow_self && (j as u64) < n_src);
    let mut pairs_left: u64 = (0..n_tgt).map(avail).sum();
    let mut left = *n as u64;
    let mut counts = Vec::with_capacity(n_tgt);
    for j in 0..n_tgt {
        let a = avail(j);
        let c = if left == 0 || a == 0 {
            0
        } else if pairs_left == a {
            left
        } else if *allow_multapses {
            rand_distr::Binomial::new(left, a as f64 / pairs_left as f64)
                .expect("p in [0, 1]")
                .sample(&mut rng)
        } else {
            rand_distr::Hypergeometric::new(pairs_left, a, left)
                .expect("validated: n ≤ pairs")
                .sample(&mut rng)
        };
        counts.push(c as u32);
        left -= c;
        pairs_left -= a;
    }
    counts
}

/// `k` values drawn uniformly with replacement from `0..n` less `exclude`, in draw
/// order (unsorted: the tables sort synapses by source themselves, and a sort was
/// a sixth of the Potjans–Diesmann build).
fn sample_with_replacement(rng: &mut Stream, n: usize, k: usize, exclude: Option<u32>) -> Vec<u32> {
    let m = n - usize::from(exclude.is_some_and(|e| (e as usize) < n));
    (0..k)
        .map(|_| {
            let x = rng.random_range(0..m as u32);
            match exclude {
                Some(e) if x >= e => x + 1,
                _ => x,
            }
        })
        .collect()
}

/// Generates the synapses of a projection.
pub fn generate(req: &GenerateRequest) -> SynapseRows {
    let (n_src, n_tgt) = (req.n_src, req.n_tgt);

    match req.rule {
        Connectivity::FixedInDegree { .. } | Connectivity::FixedTotalNumber { .. } => {
            // Target-major generation, then transposed to source-major.
            transpose(&generate_columns(req, 0, n_tgt), n_src)
        }
        Connectivity::List {
            pairs,
            weights,
            delays_ms,
        } => {
            let mut rng = row_stream(req, 0);
            let mut order: Vec<usize> = (0..pairs.len()).collect();
            order.sort_by_key(|&k| pairs[k]);
            let mut rows = SynapseRows {
                row_ptr: vec![0; n_src + 1],
                ..Default::default()
            };
            for &k in &order {
                let (i, j) = pairs[k];
                rows.row_ptr[i as usize + 1] += 1;
                rows.target.push(j);
                let w = weights
                    .as_ref()
                    .map_or_else(|| req.weight.sample(&mut rng), |w| w[k]);
                let d = delays_ms
                    .as_ref()
                    .map_or_else(|| req.delay_ms.sample(&mut rng), |d| d[k]);
                rows.weight.push(w as f32);
                rows.delay.push(delay_steps(d, req.dt_ms));
            }
            for i in 0..n_src {
                rows.row_ptr[i + 1] += rows.row_ptr[i];
            }
            rows
        }
        rule => {
            let rows: Vec<Row> = (0..n_src)
                .into_par_iter()
                .map(|i| {
                    let mut rng = row_stream(req, i as u64);
                    let idx: Vec<u32> = match rule {
                        Connectivity::AllToAll { allow_self } => (0..n_tgt as u32)
                            .filter(|&j| *allow_self || !req.same || j as usize != i)
                            .collect(),
                        Connectivity::OneToOne => vec![i as u32],
                        Connectivity::FixedProbability { p, allow_self } => {
                            let mut v = Vec::new();
                            let mut j = rng::geometric_trials(&mut rng, *p).saturating_sub(1);
                            while (j as usize) < n_tgt {
                                if *allow_self || !req.same || j as usize != i {
                                    v.push(j as u32);
                                }
                                j = j.saturating_add(rng::geometric_trials(&mut rng, *p));
                            }
                            v
                        }
                        Connectivity::FixedOutDegree { k, allow_self } => {
                            let exclude = (req.same && !allow_self).then_some(i as u32);
                            sample_distinct(&mut rng, n_tgt, *k, exclude)
                        }
                        Connectivity::FixedInDegree { .. }
                        | Connectivity::FixedTotalNumber { .. }
                        | Connectivity::List { .. } => unreachable!(),
                    };
                    let (w, d) = draw_weights_and_delays(req, &mut rng, idx.len());
                    (idx, w, d)
                })
                .collect();
            concat_rows(rows)
        }
    }
}

fn concat_rows(rows: Vec<Row>) -> SynapseRows {
    let total: usize = rows.iter().map(|r| r.0.len()).sum();
    let mut out = SynapseRows {
        row_ptr: Vec::with_capacity(rows.len() + 1),
        target: Vec::with_capacity(total),
        weight: Vec::with_capacity(total),
        delay: Vec::with_capacity(total),
    };
    out.row_ptr.push(0);
    for (t, w, d) in rows {
        out.target.extend_from_slice(&t);
        out.weight.extend_from_slice(&w);
        out.delay.extend_from_slice(&d);
        out.row_ptr.push(out.target.len());
    }
    out
}

/// Turns target-major columns into source-major rows (targets stay ascending).
fn transpose(cols: &[Row], n_src: usize) -> SynapseRows {
    let mut row_ptr = vec![0usize; n_src + 1];
    for (idx, _, _) in cols {
        for &i in idx {
            row_ptr[i as usize + 1] += 1;
        }
    }
    for i in 0..n_src {
        row_ptr[i + 1] += row_ptr[i];
    }
    let total = row_ptr[n_src];
    let mut fill = row_ptr.clone();
    let mut target = vec![0u32; total];
    let mut weight = vec![0f32; total];
    let mut delay = vec![0u16; total];
    for (j, (idx, w, d)) in cols.iter().enumerate() {
        for k in 0..idx.len() {
            let slot = &mut fill[idx[k] as usize];
            target[*slot] = j as u32;
            weight[*slot] = w[k];
            delay[*slot] = d[k];
            *slot += 1;
        }
    }
    SynapseRows {
        row_ptr,
        target,
        weight,
        delay,
    }
}

/// `k` distinct values from `0..n` (excluding `exclude`), sorted ascending (Floyd's
/// algorithm for small k, a partial shuffle otherwise).
fn sample_distinct(rng: &mut Stream, n: usize, k: usize, exclude: Option<u32>) -> Vec<u32> {
    let m = n - usize::from(exclude.is_some_and(|e| (e as usize) < n));
    debug_assert!(k <= m);
    // Sample from 0..m, then shift values at or above the excluded index up by one.
    let mut out: Vec<u32> = if k * 4 < m {
        let mut set = std::collections::HashSet::with_capacity(k * 2);
        let mut v = Vec::with_capacity(k);
        for j in (m - k)..m {
            let t = rng.random_range(0..=j) as u32;
            let x = if set.contains(&t) { j as u32 } else { t };
            set.insert(x);
            v.push(x);
        }
        v
    } else {
        let mut all: Vec<u32> = (0..m as u32).collect();
        for i in 0..k {
            let j = rng.random_range(i..m);
            all.swap(i, j);
        }
        all.truncate(k);
        all
    };
    if let Some(e) = exclude {
        for x in &mut out {
            if *x >= e {
                *x += 1;
            }
        }
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(
        rule: &'a Connectivity,
        w: &'a Value,
        d: &'a Value,
        n: usize,
    ) -> GenerateRequest<'a> {
        GenerateRequest {
            rule,
            weight: w,
            delay_ms: d,
            dt_ms: 0.1,
            n_src: n,
            n_tgt: n,
            same: true,
            seed: 3,
            projection: 0,
        }
    }

    #[test]
    fn fixed_probability_has_the_right_density_and_no_self() {
        let rule = Connectivity::FixedProbability {
            p: 0.1,
            allow_self: false,
        };
        let (w, d) = (Value::Constant(1.0), Value::Constant(0.1));
        let rows = generate(&req(&rule, &w, &d, 1000));
        let m = rows.len() as f64;
        assert!((m - 0.1 * 1000.0 * 999.0).abs() < 5.0 * (m.sqrt()), "{m}");
        for i in 0..1000 {
            let r = &rows.target[rows.row_ptr[i]..rows.row_ptr[i + 1]];
            assert!(r.windows(2).all(|w| w[0] < w[1]));
            assert!(!r.contains(&(i as u32)));
        }
        assert!(rows.delay.iter().all(|&d| d == 1));
    }

    #[test]
    fn fixed_in_degree_gives_exact_in_degrees() {
        let rule = Connectivity::FixedInDegree {
            k: 20,
            allow_self: false,
        };
        let (w, d) = (Value::normal(1.0, 0.1), Value::uniform(0.1, 2.0));
        let rows = generate(&req(&rule, &w, &d, 300));
        let mut indeg = vec![0; 300];
        for i in 0..300 {
            for k in rows.row_ptr[i]..rows.row_ptr[i + 1] {
                indeg[rows.target[k] as usize] += 1;
                assert_ne!(rows.target[k] as usize, i);
            }
        }
        assert!(indeg.iter().all(|&c| c == 20));
        assert!(rows.delay.iter().all(|&d| (1..=20).contains(&d)));
    }

    #[test]
    fn fixed_total_number_has_exactly_n_synapses_and_nest_like_in_degrees() {
        let (w, d) = (Value::Constant(1.0), Value::uniform(0.1, 3.0));
        for multapses in [true, false] {
            let rule = Connectivity::FixedTotalNumber {
                n: 30_000,
                allow_self: false,
                allow_multapses: multapses,
            };
            rule.validate("c", 400, 400, true).unwrap();
            let rows = generate(&req(&rule, &w, &d, 400));
            assert_eq!(rows.len(), 30_000);
            let mut indeg = vec![0usize; 400];
            let mut pairs = std::collections::HashSet::new();
            let mut repeated = 0;
            for i in 0..400 {
                for k in rows.row_ptr[i]..rows.row_ptr[i + 1] {
                    let j = rows.target[k] as usize;
                    assert_ne!(i, j, "no autapses");
                    indeg[j] += 1;
                    repeated += usize::from(!pairs.insert((i, j)));
                }
            }
            // In-degrees are Binomial(30000, 1/400): mean 75, sd ≈ 8.6.
            let mean = indeg.iter().sum::<usize>() as f64 / 400.0;
            let var = indeg
                .iter()
                .map(|&c| (c as f64 - mean).powi(2))
                .sum::<f64>()
                / 400.0;
            assert!((mean - 75.0).abs() < 1e-9);
            assert!((var.sqrt() - 8.6).abs() < 1.5, "sd {}", var.sqrt());
            if multapses {
                // About n²/(2·pairs) ≈ 2,800 repeated pairs are expected.
                assert!(repeated > 2000, "{repeated}");
            } else {
                assert_eq!(repeated, 0);
            }
        }
    }

    #[test]
    fn target_columns_do_not_depend_on_the_split() {
        let (w, d) = (Value::normal(1.0, 0.1), Value::uniform(0.1, 2.0));
        for rule in [
            Connectivity::FixedTotalNumber {
                n: 5000,
                allow_self: true,
                allow_multapses: true,
            },
            Connectivity::FixedInDegree {
                k: 10,
                allow_self: false,
            },
        ] {
            let r = req(&rule, &w, &d, 300);
            let whole = generate_columns(&r, 0, 300);
            let mut parts = generate_columns(&r, 0, 77);
            parts.extend(generate_columns(&r, 77, 300));
            assert_eq!(whole, parts);
        }
    }

    #[test]
    fn fixed_total_number_validation_names_the_field() {
        let r = Connectivity::FixedTotalNumber {
            n: 101,
            allow_self: true,
            allow_multapses: false,
        };
        let e = r
            .validate("projection[x].connectivity", 10, 10, true)
            .unwrap_err();
        assert!(
            e.to_string().contains("projection[x].connectivity.n"),
            "{e}"
        );
        let text = r#"rule = "fixed_total_number"
n = 5"#;
        let parsed: Connectivity = toml::from_str(text).unwrap();
        assert_eq!(
            parsed,
            Connectivity::FixedTotalNumber {
                n: 5,
                allow_self: true,
                allow_multapses: true
            }
        );
    }

    #[test]
    fn fixed_out_degree_and_all_to_all_and_list() {
        let (w, d) = (Value::Constant(0.5), Value::Constant(1.0));
        let rule = Connectivity::FixedOutDegree {
            k: 7,
            allow_self: true,
        };
        let rows = generate(&req(&rule, &w, &d, 50));
        assert!((0..50).all(|i| rows.row_ptr[i + 1] - rows.row_ptr[i] == 7));
        let rule = Connectivity::AllToAll { allow_self: false };
        assert_eq!(generate(&req(&rule, &w, &d, 30)).len(), 30 * 29);
        let rule = Connectivity::List {
            pairs: vec![(2, 1), (0, 3), (2, 0)],
            weights: Some(vec![1.0, 2.0, 3.0]),
            delays_ms: None,
        };
        let rows = generate(&req(&rule, &w, &d, 4));
        assert_eq!(rows.target, vec![3, 0, 1]);
        assert_eq!(rows.weight, vec![2.0, 3.0, 1.0]);
        assert_eq!(rows.row_ptr, vec![0, 1, 1, 3, 3]);
        assert_eq!(rows.delay, vec![10, 10, 10]);
    }

    #[test]
    fn validation_catches_bad_rules() {
        let p = Connectivity::FixedProbability {
            p: 1.5,
            allow_self: true,
        };
        assert!(p
            .validate("proj[x].connectivity", 10, 10, true)
            .unwrap_err()
            .to_string()
            .contains("connectivity.p"));
        assert!(Connectivity::OneToOne.validate("c", 3, 4, false).is_err());
        let k = Connectivity::FixedInDegree {
            k: 10,
            allow_self: false,
        };
        assert!(k.validate("c", 10, 10, true).is_err());
        assert!(k.validate("c", 11, 10, true).is_ok());
    }

    #[test]
    fn sample_distinct_is_distinct_and_excludes() {
        let mut rng = rng::stream(1, Domain::Connectivity, &[9]);
        for &(n, k) in &[(100, 5), (100, 90), (10, 9)] {
            let v = sample_distinct(&mut rng, n, k, Some(3));
            assert_eq!(v.len(), k);
            assert!(v.windows(2).all(|w| w[0] < w[1]));
            assert!(!v.contains(&3));
            assert!(v.iter().all(|&x| (x as usize) < n));
        }
    }
}
