//! Labelled time series in the UCR/UEA archive's `.ts` text format (sktime's format):
//! the [`TimeSeriesSet`] type, parsing with line-numbered errors, loading a split of a
//! named problem from a directory, per-dimension normalisation and time-major batches
//! for recurrent and reservoir networks.
//!
//! A `.ts` file has header lines (`#` comments and `@key value` tags), then `@data`,
//! then one sample per line: the dimensions separated by `:`, each a comma-separated
//! list of values, and the class label last:
//!
//! ```text
//! @problemName Toy
//! @univariate false
//! @dimensions 2
//! @equalLength false
//! @classLabel true walk run
//! @data
//! 0.1,0.2,0.3:1.0,1.1,1.2:walk
//! 0.5,0.4:2.0,2.1:run
//! ```
//!
//! Supported tags: `@problemName`, `@timeStamps` (must be `false`), `@missing` (with
//! `true`, `?` reads as NaN), `@univariate`, `@dimensions`, `@equalLength`,
//! `@seriesLength`, `@classLabel true <labels…>` (classification; the labels' order
//! gives the class indices), `@data`. Regression files (`@targetLabel`) and time-stamped
//! series are refused with a clear error. Series within one sample must have the same
//! length in every dimension; lengths may differ between samples unless
//! `@equalLength true`.

use crate::error::{Error, Result};
use crate::images::{ImageSet, Split};
use std::path::{Path, PathBuf};

const FORMAT: &str = "UCR/UEA .ts";

/// One labelled multivariate series, stored time-major: `values[t * dims + d]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Values, time-major (`steps × dims`).
    pub values: Vec<f32>,
    /// Number of time steps.
    pub steps: usize,
    /// Class index into [`TimeSeriesSet::class_names`].
    pub label: u16,
}

/// A labelled set of time series (one split of a UCR/UEA problem).
#[derive(Clone, Debug, PartialEq)]
pub struct TimeSeriesSet {
    /// The problem's name (`@problemName`, or the file name).
    pub name: String,
    /// Number of dimensions (channels) of every series.
    pub dims: usize,
    /// Class labels as written in the file, in the order of `@classLabel`.
    pub class_names: Vec<String>,
    /// The samples, in file order.
    pub samples: Vec<Series>,
}

/// Mean and standard deviation of each dimension over all steps of all samples.
#[derive(Clone, Debug, PartialEq)]
pub struct DimensionStats {
    /// Mean of each dimension.
    pub mean: Vec<f32>,
    /// Standard deviation of each dimension (population, never below 1e-8).
    pub std: Vec<f32>,
}

#[derive(Default)]
struct Header {
    name: Option<String>,
    missing: bool,
    dims: Option<usize>,
    univariate: Option<bool>,
    equal_length: bool,
    series_length: Option<usize>,
    classes: Option<Vec<String>>,
}

fn bool_tag(value: &str, at: &str, tag: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Error::format(
            at,
            FORMAT,
            format!("@{tag} must be true or false (got `{value}`)"),
        )),
    }
}

fn count_tag(value: &str, at: &str, tag: &str) -> Result<usize> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Error::format(
            at,
            FORMAT,
            format!("@{tag} must be a whole number > 0 (got `{value}`)"),
        )),
    }
}

impl Header {
    /// Reads one `@tag value` line; returns true at `@data`.
    fn tag(&mut self, line: &str, at: &str) -> Result<bool> {
        let mut parts = line[1..].split_whitespace();
        let tag = parts.next().unwrap_or("").to_ascii_lowercase();
        let rest: Vec<&str> = parts.collect();
        let value = rest.first().copied().unwrap_or("");
        match tag.as_str() {
            "data" => return Ok(true),
            "problemname" => self.name = Some(rest.join(" ")),
            "timestamps" => {
                if bool_tag(value, at, "timeStamps")? {
                    return Err(Error::format(
                        at,
                        FORMAT,
                        "time-stamped series (@timeStamps true) are not supported",
                    ));
                }
            }
            "missing" => self.missing = bool_tag(value, at, "missing")?,
            "univariate" => self.univariate = Some(bool_tag(value, at, "univariate")?),
            "dimensions" | "dimension" => self.dims = Some(count_tag(value, at, "dimensions")?),
            "equallength" => self.equal_length = bool_tag(value, at, "equalLength")?,
            "serieslength" => self.series_length = Some(count_tag(value, at, "seriesLength")?),
            "classlabel" => {
                if !bool_tag(value, at, "classLabel")? {
                    return Err(Error::format(
                        at,
                        FORMAT,
                        "@classLabel false: files without class labels are not supported",
                    ));
                }
                let labels: Vec<String> = rest[1..].iter().map(|s| s.to_string()).collect();
                if labels.is_empty() {
                    return Err(Error::format(
                        at,
                        FORMAT,
                        "@classLabel true must list the class labels",
                    ));
                }
                if labels.len() > u16::MAX as usize {
                    return Err(Error::format(at, FORMAT, "more than 65,535 class labels"));
                }
                self.classes = Some(labels);
            }
            "targetlabel" => {
                return Err(Error::format(
                    at,
                    FORMAT,
                    "regression files (@targetLabel) are not supported; classification files have @classLabel true",
                ))
            }
            other => {
                return Err(Error::format(
                    at,
                    FORMAT,
                    format!(
                        "unknown header tag `@{other}`; allowed: problemName, timeStamps, missing, univariate, dimensions, equalLength, seriesLength, classLabel, data"
                    ),
                ))
            }
        }
        Ok(false)
    }
}

fn parse_value(s: &str, missing: bool, at: &str) -> Result<f32> {
    let s = s.trim();
    if s == "?" || s.eq_ignore_ascii_case("nan") {
        return if missing {
            Ok(f32::NAN)
        } else {
            Err(Error::format(
                at,
                FORMAT,
                "missing value `?` but the header says @missing false",
            ))
        };
    }
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(Error::format(
            at,
            FORMAT,
            format!("`{s}` is not a finite number"),
        )),
    }
}

/// Parses one data line into a time-major series and its label text.
fn parse_sample(
    line: &str,
    dims: Option<usize>,
    missing: bool,
    at: &str,
) -> Result<(Series, String)> {
    let fields: Vec<&str> = line.split(':').collect();
    if fields.len() < 2 {
        return Err(Error::format(
            at,
            FORMAT,
            "a sample needs at least one dimension and a class label separated by `:`",
        ));
    }
    let (label, channels) = fields.split_last().expect("two fields at least");
    if let Some(d) = dims {
        if channels.len() != d {
            return Err(Error::format(
                at,
                FORMAT,
                format!("{} dimensions, but the header says {d}", channels.len()),
            ));
        }
    }
    let per_dim: Vec<Vec<f32>> = channels
        .iter()
        .map(|c| c.split(',').map(|v| parse_value(v, missing, at)).collect())
        .collect::<Result<_>>()?;
    let steps = per_dim[0].len();
    if let Some((d, c)) = per_dim.iter().enumerate().find(|(_, c)| c.len() != steps) {
        return Err(Error::format(
            at,
            FORMAT,
            format!(
                "dimension {d} has {} steps but dimension 0 has {steps}; every dimension of a sample must have the same length",
                c.len()
            ),
        ));
    }
    let n_dims = per_dim.len();
    let mut values = vec![0f32; steps * n_dims];
    for (d, channel) in per_dim.iter().enumerate() {
        for (t, &v) in channel.iter().enumerate() {
            values[t * n_dims + d] = v;
        }
    }
    let series = Series {
        values,
        steps,
        label: 0,
    };
    Ok((series, label.trim().to_string()))
}

impl TimeSeriesSet {
    /// Parses the text of a `.ts` file; `source_name` (a path) names it in errors, with
    /// the line number.
    pub fn parse(text: &str, source_name: &str) -> Result<Self> {
        let mut header = Header::default();
        let mut in_data = false;
        let mut samples = Vec::new();
        let mut labels = Vec::new();
        let mut dims = None;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = format!("{source_name}:{}", i + 1);
            if !in_data {
                if !line.starts_with('@') {
                    return Err(Error::format(
                        at,
                        FORMAT,
                        "data before the @data line (header lines start with @ or #)",
                    ));
                }
                in_data = header.tag(line, &at)?;
                dims = header.dims.or(header.univariate.filter(|&u| u).map(|_| 1));
                continue;
            }
            let (mut series, label) = parse_sample(line, dims, header.missing, &at)?;
            // Without @dimensions, the first sample fixes the count (every value parsed, so steps ≥ 1).
            dims.get_or_insert(series.values.len() / series.steps);
            if header.equal_length {
                let expected = *header.series_length.get_or_insert(series.steps);
                if series.steps != expected {
                    return Err(Error::format(
                        at,
                        FORMAT,
                        format!(
                            "{} steps, but the header says @equalLength true with {expected} steps",
                            series.steps
                        ),
                    ));
                }
            }
            series.label = match &header.classes {
                Some(classes) => match classes.iter().position(|c| *c == label) {
                    Some(k) => k as u16,
                    None => {
                        return Err(Error::format(
                            at,
                            FORMAT,
                            format!(
                                "class label `{label}` is not one of @classLabel: {}",
                                classes.join(" ")
                            ),
                        ))
                    }
                },
                None => 0,
            };
            labels.push(label);
            samples.push(series);
        }
        if !in_data {
            return Err(Error::format(source_name, FORMAT, "no @data line"));
        }
        let class_names = match header.classes {
            Some(c) => c,
            None => {
                return Err(Error::format(
                    source_name,
                    FORMAT,
                    "no @classLabel line: only classification files are supported",
                ))
            }
        };
        if samples.is_empty() {
            return Err(Error::format(source_name, FORMAT, "no samples after @data"));
        }
        let name = header.name.unwrap_or_else(|| {
            Path::new(source_name)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        Ok(TimeSeriesSet {
            name,
            dims: dims.unwrap_or(1),
            class_names,
            samples,
        })
    }

    /// Reads and parses a `.ts` file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether the set has no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.class_names.len()
    }

    /// Shortest and longest series, in steps.
    pub fn length_range(&self) -> (usize, usize) {
        let lens = self.samples.iter().map(|s| s.steps);
        (lens.clone().min().unwrap_or(0), lens.max().unwrap_or(0))
    }

    /// Samples per class, indexed by class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes()];
        for s in &self.samples {
            counts[s.label as usize] += 1;
        }
        counts
    }

    /// Labels of every sample, in order.
    pub fn labels(&self) -> Vec<u16> {
        self.samples.iter().map(|s| s.label).collect()
    }

    /// Mean and standard deviation of each dimension over every step of every sample
    /// (NaNs of missing values are skipped). Compute them on the training split and
    /// apply them to both splits with [`TimeSeriesSet::normalize`].
    pub fn dimension_stats(&self) -> DimensionStats {
        let d = self.dims;
        let (mut sum, mut sq, mut n) = (vec![0f64; d], vec![0f64; d], vec![0u64; d]);
        for s in &self.samples {
            for row in s.values.chunks_exact(d) {
                for (k, &v) in row.iter().enumerate() {
                    if v.is_finite() {
                        sum[k] += v as f64;
                        sq[k] += (v as f64) * (v as f64);
                        n[k] += 1;
                    }
                }
            }
        }
        let mean: Vec<f64> = (0..d).map(|k| sum[k] / n[k].max(1) as f64).collect();
        let std = (0..d)
            .map(|k| {
                ((sq[k] / n[k].max(1) as f64 - mean[k] * mean[k])
                    .max(0.0)
                    .sqrt() as f32)
                    .max(1e-8)
            })
            .collect();
        DimensionStats {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
        }
    }

    /// Subtracts each dimension's mean and divides by its standard deviation.
    pub fn normalize(&mut self, stats: &DimensionStats) -> Result<()> {
        if stats.mean.len() != self.dims || stats.std.len() != self.dims {
            return Err(Error::Invalid(format!(
                "normalisation statistics have {} dimensions, the data set {}",
                stats.mean.len(),
                self.dims
            )));
        }
        for s in &mut self.samples {
            for row in s.values.chunks_exact_mut(self.dims) {
                for (k, v) in row.iter_mut().enumerate() {
                    *v = (*v - stats.mean[k]) / stats.std[k];
                }
            }
        }
        Ok(())
    }

    /// A time-major batch for recurrent networks: `out[(t * batch + b) * dims + d]` for
    /// `t < steps`, zero after a sample's end (and for missing values); returns each
    /// sample's length (capped at `steps`). `out` must hold `steps × indices.len() × dims`
    /// values.
    pub fn batch_time_major(
        &self,
        indices: &[usize],
        steps: usize,
        out: &mut [f32],
    ) -> Result<Vec<usize>> {
        let (b, d) = (indices.len(), self.dims);
        if out.len() != steps * b * d {
            return Err(Error::Invalid(format!(
                "batch buffer holds {} values, expected steps × batch × dims = {steps} × {b} × {d}",
                out.len()
            )));
        }
        if let Some(&i) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(Error::Invalid(format!(
                "sample index {i} out of range (the set has {} samples)",
                self.len()
            )));
        }
        out.fill(0.0);
        let mut lengths = Vec::with_capacity(b);
        for (j, &i) in indices.iter().enumerate() {
            let s = &self.samples[i];
            let len = s.steps.min(steps);
            for t in 0..len {
                let dst = &mut out[(t * b + j) * d..(t * b + j + 1) * d];
                for (o, &v) in dst.iter_mut().zip(&s.values[t * d..(t + 1) * d]) {
                    *o = if v.is_finite() { v } else { 0.0 };
                }
            }
            lengths.push(len);
        }
        Ok(lengths)
    }
}

/// The file of a split of problem `name`: `<name>_TRAIN.ts` or `<name>_TEST.ts`, looked
/// for in `dir/ucr/`, `dir/<name>/` and `dir`.
pub fn find_ts_file(dir: &Path, name: &str, split: Split) -> Result<PathBuf> {
    let file = format!("{name}_{}.ts", split.name().to_ascii_uppercase());
    let candidates = [
        dir.join("ucr").join(&file),
        dir.join(name).join(&file),
        dir.join(&file),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no {file} in {} (looked in ucr/, {name}/ and the folder itself)",
                dir.display()
            ))
        })
}

/// Loads a split of a UCR/UEA problem by name (`JapaneseVowels`, `BasicMotions`,
/// `GunPoint`, ...) from a data root (see [`find_ts_file`]).
pub fn load_ucr(dir: &Path, name: &str, split: Split) -> Result<TimeSeriesSet> {
    TimeSeriesSet::load(&find_ts_file(dir, name, split)?)
}

impl TimeSeriesSet {
    /// The set as the trainer's samples: each series padded with its last step (or
    /// cut) to `steps` steps, one row per step and one column per dimension, and each
    /// value quantised to a byte by `stats` (±2 standard deviations around the mean
    /// span 0..255; beyond is clipped). Labels must be below 256.
    pub fn to_samples(&self, steps: usize, stats: &DimensionStats) -> Result<ImageSet> {
        if steps == 0 {
            return Err(Error::Invalid(
                "time series samples need at least 1 step".into(),
            ));
        }
        if self.class_names.len() > 256 {
            return Err(Error::Invalid(format!(
                "{} has {} classes; the trainer takes at most 256",
                self.name,
                self.class_names.len()
            )));
        }
        let d = self.dims;
        let mut images = Vec::with_capacity(self.samples.len() * steps * d);
        for s in &self.samples {
            for t in 0..steps {
                let row = t.min(s.steps.saturating_sub(1));
                for k in 0..d {
                    let v = s.values.get(row * d + k).copied().unwrap_or(0.0);
                    let z = (v - stats.mean[k]) / (4.0 * stats.std[k]) + 0.5;
                    let z = if z.is_finite() {
                        z.clamp(0.0, 1.0)
                    } else {
                        0.5
                    };
                    images.push((z * 255.0).round() as u8);
                }
            }
        }
        Ok(ImageSet {
            images,
            labels: self.samples.iter().map(|s| s.label as u8).collect(),
            rows: steps,
            cols: d,
            channels: 1,
        })
    }
}

/// Both splits of UCR/UEA problem `name` in `dir` as the trainer's samples (see
/// [`TimeSeriesSet::to_samples`]): padded to the longest series of either split and
/// quantised with the training split's statistics.
pub fn load_ucr_samples(dir: &Path, name: &str) -> Result<(ImageSet, ImageSet)> {
    let train = load_ucr(dir, name, Split::Train)?;
    let test = load_ucr(dir, name, Split::Test)?;
    let steps = train.length_range().1.max(test.length_range().1);
    let stats = train.dimension_stats();
    Ok((
        train.to_samples(steps, &stats)?,
        test.to_samples(steps, &stats)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_become_padded_quantised_samples() {
        let set = TimeSeriesSet::parse(TOY, "toy.ts").unwrap();
        let stats = set.dimension_stats();
        let s = set.to_samples(4, &stats).unwrap();
        assert_eq!((s.rows, s.cols, s.channels, s.len()), (4, 2, 1, 2));
        assert_eq!(s.labels, vec![0, 1]);
        // The second sample has 2 steps: steps 2 and 3 repeat its last one.
        let second = s.image(1);
        assert_eq!(&second[4..6], &second[2..4]);
        assert_eq!(&second[6..8], &second[2..4]);
        // Larger values give larger bytes within a dimension.
        let first = s.image(0);
        assert!(first[0] < first[2] && first[2] < first[4]);
        assert!(set.to_samples(0, &stats).is_err());
    }

    const TOY: &str = "# a comment\n@problemName Toy\n@timeStamps false\n@missing false\n@univariate false\n@dimensions 2\n@equalLength false\n@classLabel true walk run\n@data\n0.1,0.2,0.3:1.0,1.1,1.2:walk\n\n0.5,0.4:2.0,2.1:run\n";

    fn err(text: &str) -> String {
        TimeSeriesSet::parse(text, "bad.ts")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn parses_a_multivariate_file_time_major() {
        let set = TimeSeriesSet::parse(TOY, "toy.ts").unwrap();
        assert_eq!(set.name, "Toy");
        assert_eq!(set.dims, 2);
        assert_eq!(set.class_names, ["walk", "run"]);
        assert_eq!(set.len(), 2);
        assert_eq!(set.samples[0].steps, 3);
        assert_eq!(set.samples[0].values, [0.1, 1.0, 0.2, 1.1, 0.3, 1.2]);
        assert_eq!(set.labels(), [0, 1]);
        assert_eq!(set.length_range(), (2, 3));
        assert_eq!(set.class_counts(), [1, 1]);
    }

    #[test]
    fn batches_are_time_major_and_zero_padded() {
        let set = TimeSeriesSet::parse(TOY, "toy.ts").unwrap();
        let mut out = vec![9f32; 3 * 2 * 2];
        let lens = set.batch_time_major(&[1, 0], 3, &mut out).unwrap();
        assert_eq!(lens, [2, 3]);
        // t = 0: sample 1 then sample 0; t = 2: sample 1 has ended.
        assert_eq!(&out[0..4], &[0.5, 2.0, 0.1, 1.0]);
        assert_eq!(&out[8..12], &[0.0, 0.0, 0.3, 1.2]);
        assert!(set
            .batch_time_major(&[2], 3, &mut out[..6])
            .unwrap_err()
            .to_string()
            .contains("out of range"));
        assert!(set
            .batch_time_major(&[0], 3, &mut out)
            .unwrap_err()
            .to_string()
            .contains("steps × batch × dims"));
    }

    #[test]
    fn normalisation_gives_zero_mean_unit_variance() {
        let mut set = TimeSeriesSet::parse(TOY, "toy.ts").unwrap();
        let stats = set.dimension_stats();
        set.normalize(&stats).unwrap();
        let after = set.dimension_stats();
        for k in 0..2 {
            assert!(after.mean[k].abs() < 1e-5, "{:?}", after.mean);
            assert!((after.std[k] - 1.0).abs() < 1e-4, "{:?}", after.std);
        }
        let wrong = DimensionStats {
            mean: vec![0.0],
            std: vec![1.0],
        };
        assert!(set.normalize(&wrong).is_err());
    }

    #[test]
    fn missing_values_read_as_nan_only_when_declared() {
        let text = TOY
            .replace("@missing false", "@missing true")
            .replace("0.2,0.3", "?,0.3");
        let set = TimeSeriesSet::parse(&text, "m.ts").unwrap();
        assert!(set.samples[0].values[2].is_nan());
        assert!(set.dimension_stats().mean[0].is_finite());
        assert!(err(&TOY.replace("0.2,0.3", "?,0.3")).contains("@missing false"));
    }

    #[test]
    fn bad_files_are_clear_errors_with_the_line() {
        let cases = [
            (
                TOY.replace("0.5,0.4:2.0,2.1:run", "0.5,0.4:2.0:run"),
                "bad.ts:12",
                "same length",
            ),
            (
                TOY.replace(":run", ":jump"),
                "bad.ts:12",
                "`jump` is not one of",
            ),
            (
                TOY.replace("0.5,0.4:2.0,2.1:run", "0.5,0.4:run"),
                "bad.ts:12",
                "1 dimensions, but the header says 2",
            ),
            (
                TOY.replace("0.3:", "x:"),
                "bad.ts:10",
                "`x` is not a finite number",
            ),
            (
                TOY.replace("@timeStamps false", "@timeStamps true"),
                "bad.ts:3",
                "time-stamped",
            ),
            (
                TOY.replace("@equalLength false", "@equalLength true"),
                "bad.ts:12",
                "@equalLength true with 3 steps",
            ),
            (
                TOY.replace("@dimensions 2", "@dimensions zero"),
                "bad.ts:6",
                "@dimensions must be a whole number",
            ),
            (
                TOY.replace("@classLabel true walk run", "@targetLabel true"),
                "bad.ts:8",
                "regression",
            ),
            (
                TOY.replace("@univariate false", "@colour red"),
                "bad.ts:5",
                "unknown header tag `@colour`",
            ),
            (
                TOY.replace("@data\n", ""),
                "bad.ts:9",
                "data before the @data line",
            ),
            (
                TOY.replace("@classLabel true walk run\n", ""),
                "bad.ts",
                "no @classLabel",
            ),
            (
                TOY.split("0.1").next().unwrap().to_string(),
                "bad.ts",
                "no samples",
            ),
            ("@problemName X\n".to_string(), "bad.ts", "no @data line"),
            (
                TOY.replace("0.1,0.2,0.3:1.0,1.1,1.2:walk", "0.1"),
                "bad.ts:10",
                "class label separated",
            ),
        ];
        for (text, at, what) in cases {
            let e = err(&text);
            assert!(
                e.contains(at) && e.contains(what),
                "expected `{at}` and `{what}` in: {e}"
            );
            assert!(e.contains("UCR/UEA .ts"), "{e}");
        }
        let missing = load_ucr(Path::new("/nonexistent"), "Toy", Split::Train).unwrap_err();
        assert!(missing.to_string().contains("no Toy_TRAIN.ts"), "{missing}");
    }

    #[test]
    fn files_are_found_by_problem_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("ucr")).unwrap();
        std::fs::write(dir.path().join("ucr/Toy_TEST.ts"), TOY).unwrap();
        let set = load_ucr(dir.path(), "Toy", Split::Test).unwrap();
        assert_eq!(set.len(), 2);
    }

    /// The three problems in `../shared/data/ucr` (skipped when absent).
    #[test]
    fn reads_the_shared_ucr_problems() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
        if !root.join("ucr").is_dir() {
            eprintln!("skipped: no {}", root.join("ucr").display());
            return;
        }
        // (name, split, samples, dims, classes, shortest, longest)
        let expected = [
            ("JapaneseVowels", Split::Train, 270, 12, 9, 7, 29),
            ("JapaneseVowels", Split::Test, 370, 12, 9, 7, 29),
            ("BasicMotions", Split::Train, 40, 6, 4, 100, 100),
            ("BasicMotions", Split::Test, 40, 6, 4, 100, 100),
            ("GunPoint", Split::Train, 50, 1, 2, 150, 150),
            ("GunPoint", Split::Test, 150, 1, 2, 150, 150),
        ];
        for (name, split, n, dims, classes, lo, hi) in expected {
            let set = load_ucr(&root, name, split).unwrap();
            assert_eq!(
                (set.len(), set.dims, set.classes()),
                (n, dims, classes),
                "{name} {split:?}"
            );
            let (shortest, longest) = set.length_range();
            assert!(
                shortest >= lo && longest <= hi,
                "{name}: lengths {shortest}..{longest}"
            );
            assert!(
                set.class_counts().iter().all(|&c| c > 0),
                "{name}: {:?}",
                set.class_counts()
            );
        }
        let vowels = load_ucr(&root, "JapaneseVowels", Split::Train).unwrap();
        assert_eq!(vowels.class_counts(), vec![30; 9]);
        assert_eq!(vowels.length_range(), (7, 26));
    }
}
