//! Atomic file writing, the one implementation every Spikelab crate uses: the content
//! goes to a temporary file beside the target, is flushed and synced, and only then is
//! renamed over the target. A failed or killed write leaves the previous file (or no
//! file), never a partial one (DESIGN.md, idea 6).
//!
//! Three entry points for three kinds of writer:
//! * [`write_atomic`]: bytes already in memory (model files, checkpoints, JSON);
//! * [`write_atomic_with`]: a closure writing into a buffered `Write` (CSV, NPY, gzip);
//! * [`write_atomic_to_path`]: a closure given the temporary file's path, for
//!   libraries that open files themselves (PNG plots, downloads verified by re-reading).
//!
//! The temporary file is `.spikelab-*` with the target's extension, so writers that
//! choose a format by extension see the right one.

use crate::error::{Error, Result};
use std::io::{BufWriter, Write};
use std::path::Path;
use tempfile::NamedTempFile;

/// Writes `bytes` to `path` atomically (temporary file, sync, rename). Creates the
/// parent directory if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| {
        w.write_all(bytes)
            .map_err(|e| Error::io("cannot write", path, e))
    })
}

/// Writes `path` atomically from `write`, which fills a buffered temporary file; the
/// file is renamed to `path` only if `write` succeeds. `E` is the caller's error type
/// (it must hold this crate's [`Error`], as `anyhow::Error` and the other crates'
/// errors do).
pub fn write_atomic_with<E: From<Error>>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let tmp = temporary_beside(path)?;
    {
        let mut w = BufWriter::new(tmp.as_file());
        write(&mut w)?;
        w.flush().map_err(|e| Error::io("cannot write", path, e))?;
    }
    Ok(persist(tmp, path)?)
}

/// Writes `path` atomically through a closure that is given the path of an empty
/// temporary file beside `path` (with the same extension) and writes it by itself;
/// the file is renamed to `path` only if `write` succeeds.
pub fn write_atomic_to_path<E: From<Error>>(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let tmp = temporary_beside(path)?;
    write(tmp.path())?;
    Ok(persist(tmp, path)?)
}

/// An empty temporary file in the directory of `path` (created if missing).
fn temporary_beside(path: &Path) -> Result<NamedTempFile> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    let suffix = path
        .extension()
        .map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
    tempfile::Builder::new()
        .prefix(".spikelab-")
        .suffix(&suffix)
        .tempfile_in(dir)
        .map_err(|e| Error::io("cannot create a temporary file in", dir, e))
}

/// Syncs the temporary file and renames it to `path`.
fn persist(tmp: NamedTempFile, path: &Path) -> Result<()> {
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io("cannot write", path, e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("cannot write", path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_the_file_and_failures_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/a.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic_with(&p, |w| {
            w.write_all(b"two")
                .map_err(|e| Error::io("cannot write", &p, e))
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        let r: Result<()> = write_atomic_with(&p, |_| Err(Error::Invalid("boom".into())));
        assert!(r.is_err());
        let r: Result<()> = write_atomic_to_path(&p, |tmp| {
            assert_eq!(tmp.extension().unwrap(), "txt");
            std::fs::write(tmp, b"half").unwrap();
            Err(Error::Invalid("boom".into()))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        // Only the file itself is left (no temporary files).
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
        write_atomic_to_path(&p, |tmp| {
            std::fs::write(tmp, b"three").map_err(|e| Error::io("cannot write", tmp, e))
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "three");
    }
}
