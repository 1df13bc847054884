//! Writing results: CSV and NPY files written atomically (a temporary file renamed
//! into place, so a failed or interrupted run never leaves a partial file).

use anyhow::{Context, Result};
use npyz::WriterBuilder;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes a file atomically: `write` fills a buffered temporary file beside `path`,
/// which is then renamed to `path`.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".spikelab-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    {
        let mut w = BufWriter::new(tmp.as_file());
        write(&mut w)?;
        w.flush()
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Writes a CSV file with a header and rows of numbers.
pub fn write_csv(path: &Path, header: &[&str], rows: impl Iterator<Item = Vec<f64>>) -> Result<()> {
    write_atomic(path, |w| {
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
    })
}

/// Writes a 2-D f64 array (`rows × cols`, row-major) as NPY.
pub fn write_npy_f64(path: &Path, data: &[f64], rows: usize, cols: usize) -> Result<()> {
    anyhow::ensure!(data.len() == rows * cols, "npy shape mismatch");
    write_atomic(path, |w| {
        let mut writer = npyz::WriteOptions::<f64>::new()
            .default_dtype()
            .shape(&[rows as u64, cols as u64])
            .writer(w)
            .begin_nd()?;
        writer.extend(data.iter().copied())?;
        writer.finish()?;
        Ok(())
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
    }

    #[test]
    fn failed_write_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        let r = write_atomic(&p, |_| anyhow::bail!("boom"));
        assert!(r.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
