//! Writing what a simulation recorded ([`Recordings`]) as files a user can read with
//! any tool: spikes as CSV or NPY, population rates and state traces as CSV, each file
//! written atomically ([`crate::io`]). Also the CSV and NPY writers themselves, which
//! other results (training histories, accuracy curves) use.
//!
//! Files, in the output directory:
//! * `spikes_<population>.csv` (`time_ms,neuron`) or `.npy` (`(n, 2)` float64);
//! * `rate_<population>.csv` (`time_ms,rate_hz`, one row per bin);
//! * `state_<population>_<k>.csv` (`time_ms,<var>_<neuron>,...`, the k-th state monitor).

use crate::error::{Error, Result};
use crate::io::write_atomic_with;
use crate::monitor::{RateRecord, Recordings, SpikeRecord, StateRecord};
use npyz::WriterBuilder;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// File format of recorded spikes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpikeFileFormat {
    /// `time_ms,neuron` text.
    #[default]
    Csv,
    /// NumPy `(n, 2)` float64 array of `[time_ms, neuron]`.
    Npy,
}

/// Writes every record of `recordings` (time step `dt_ms`) into `dir`; returns the
/// files written, in order.
pub fn write_recordings(
    recordings: &Recordings,
    dt_ms: f64,
    dir: &Path,
    format: SpikeFileFormat,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    let mut files = Vec::new();
    for s in &recordings.spikes {
        files.push(write_spikes(s, dt_ms, dir, format)?);
    }
    for r in &recordings.rates {
        files.push(write_rates(r, dt_ms, dir)?);
    }
    for (k, s) in recordings.states.iter().enumerate() {
        files.push(write_states(s, k, dt_ms, dir)?);
    }
    Ok(files)
}

/// Writes `spikes_<population>.csv` or `.npy`.
pub fn write_spikes(
    s: &SpikeRecord,
    dt_ms: f64,
    dir: &Path,
    format: SpikeFileFormat,
) -> Result<PathBuf> {
    let times = s.times_ms(dt_ms);
    match format {
        SpikeFileFormat::Csv => {
            let path = dir.join(format!("spikes_{}.csv", s.population));
            write_csv(
                &path,
                &["time_ms", "neuron"],
                times
                    .iter()
                    .zip(&s.neurons)
                    .map(|(&t, &n)| vec![t, n as f64]),
            )?;
            Ok(path)
        }
        SpikeFileFormat::Npy => {
            let path = dir.join(format!("spikes_{}.npy", s.population));
            let data: Vec<f64> = times
                .iter()
                .zip(&s.neurons)
                .flat_map(|(&t, &n)| [t, n as f64])
                .collect();
            write_npy_f64(&path, &data, times.len(), 2)?;
            Ok(path)
        }
    }
}

/// Writes `rate_<population>.csv`: the rate (Hz) at the start time of every bin.
pub fn write_rates(r: &RateRecord, dt_ms: f64, dir: &Path) -> Result<PathBuf> {
    let path = dir.join(format!("rate_{}.csv", r.population));
    let bin_ms = r.bin_steps as f64 * dt_ms;
    write_csv(
        &path,
        &["time_ms", "rate_hz"],
        r.rates_hz(dt_ms)
            .iter()
            .enumerate()
            .map(|(k, &x)| vec![k as f64 * bin_ms, x]),
    )?;
    Ok(path)
}

/// Writes `state_<population>_<k>.csv` for the `k`-th state monitor: one column per
/// (neuron, variable), named `<variable>_<neuron>`.
pub fn write_states(s: &StateRecord, k: usize, dt_ms: f64, dir: &Path) -> Result<PathBuf> {
    let path = dir.join(format!("state_{}_{k}.csv", s.population));
    let mut header = vec!["time_ms".to_string()];
    for n in &s.neurons {
        for v in &s.variables {
            header.push(format!("{v}_{n}"));
        }
    }
    let hdr: Vec<&str> = header.iter().map(|s| s.as_str()).collect();
    let width = s.neurons.len() * s.variables.len();
    write_csv(
        &path,
        &hdr,
        s.steps.iter().enumerate().map(|(i, &st)| {
            let mut row = vec![st as f64 * dt_ms];
            row.extend(
                s.values[i * width..(i + 1) * width]
                    .iter()
                    .map(|&x| x as f64),
            );
            row
        }),
    )?;
    Ok(path)
}

/// Writes a CSV file atomically: a header and rows of numbers (whole numbers without a
/// decimal point).
pub fn write_csv(path: &Path, header: &[&str], rows: impl Iterator<Item = Vec<f64>>) -> Result<()> {
    write_atomic_with(path, |w| {
        csv_rows(w, header, rows).map_err(|e| Error::io("cannot write", path, e))
    })
}

fn csv_rows(
    w: &mut dyn Write,
    header: &[&str],
    rows: impl Iterator<Item = Vec<f64>>,
) -> std::io::Result<()> {
    writeln!(w, "{}", header.join(","))?;
    for row in rows {
        let mut first = true;
        for x in row {
            if !first {
                w.write_all(b",")?;
            }
            first = false;
            if x.fract() == 0.0 && x.abs() < 1e15 {
                write!(w, "{}", x as i64)?;
            } else {
                write!(w, "{x}")?;
            }
        }
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes a 2-D f64 array (`rows × cols`, row-major) as NPY, atomically.
pub fn write_npy_f64(path: &Path, data: &[f64], rows: usize, cols: usize) -> Result<()> {
    if data.len() != rows * cols {
        return Err(Error::Invalid(format!(
            "cannot write {}: {} values do not fill a {rows}×{cols} array",
            path.display(),
            data.len()
        )));
    }
    write_atomic_with(path, |w| {
        let npy = || -> std::io::Result<()> {
            let mut writer = npyz::WriteOptions::<f64>::new()
                .default_dtype()
                .shape(&[rows as u64, cols as u64])
                .writer(w)
                .begin_nd()?;
            writer.extend(data.iter().copied())?;
            writer.finish()
        };
        npy().map_err(|e| Error::io("cannot write", path, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_npy_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        write_csv(
            &p,
            &["t", "i"],
            vec![vec![0.5, 3.0], vec![1.0, 4.0]].into_iter(),
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "t,i\n0.5,3\n1,4\n");
        let q = dir.path().join("a.npy");
        write_npy_f64(&q, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 2).unwrap();
        let bytes = std::fs::read(&q).unwrap();
        let arr = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(arr.shape(), &[3, 2]);
        let v: Vec<f64> = arr.into_vec().unwrap();
        assert_eq!(v, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert!(write_npy_f64(&q, &[1.0], 3, 2).is_err());
    }

    #[test]
    fn recordings_become_files() {
        let rec = Recordings {
            spikes: vec![SpikeRecord {
                population: "exc".into(),
                steps: vec![1, 3],
                neurons: vec![0, 2],
                recorded_neurons: 3,
            }],
            states: vec![StateRecord {
                population: "exc".into(),
                variables: vec!["v".into()],
                neurons: vec![0, 1],
                steps: vec![0, 2],
                values: vec![-65.0, -64.5, -60.0, -61.0],
                every_steps: 2,
            }],
            rates: vec![RateRecord {
                population: "exc".into(),
                size: 2,
                bin_steps: 10,
                counts: vec![1, 0],
            }],
        };
        let dir = tempfile::tempdir().unwrap();
        let files = write_recordings(&rec, 0.5, dir.path(), SpikeFileFormat::Csv).unwrap();
        assert_eq!(files.len(), 3);
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert_eq!(read("spikes_exc.csv"), "time_ms,neuron\n0.5,0\n1.5,2\n");
        assert_eq!(read("rate_exc.csv"), "time_ms,rate_hz\n0,100\n5,0\n");
        assert_eq!(
            read("state_exc_0.csv"),
            "time_ms,v_0,v_1\n0,-65,-64.5\n1,-60,-61\n"
        );
        write_recordings(&rec, 0.5, dir.path(), SpikeFileFormat::Npy).unwrap();
        assert!(dir.path().join("spikes_exc.npy").is_file());
    }
}
