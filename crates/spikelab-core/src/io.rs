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
//!
//! A run's output directory is written as a whole the same way ([`OutputDir`]): into
//! a staging directory beside the target, renamed into place only when everything
//! is written, so a killed run never leaves a half-written directory or a mix of two
//! runs' files. [`Fnv1a`] is the checksum of files that carry one.

use crate::error::{Error, Result};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
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
    let mut builder = tempfile::Builder::new();
    builder.prefix(".spikelab-").suffix(&suffix);
    // Files get the usual mode: 0666 less the umask (0644 with the common umask
    // 022), not the 0600 of temporary files.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder
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

/// 64-bit FNV-1a, a fast non-cryptographic checksum: enough to tell a corrupted or
/// different file, not meant against tampering.
#[derive(Clone, Copy, Debug)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    /// Feeds `bytes`.
    pub fn eat(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    /// The checksum as 16 hexadecimal digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
    /// The checksum of `bytes` as 16 hexadecimal digits.
    pub fn of(bytes: &[u8]) -> String {
        let mut h = Fnv1a::default();
        h.eat(bytes);
        h.hex()
    }
}

/// Name of the file that marks a directory as a Spikelab output directory.
pub const OUTPUT_MARKER: &str = ".spikelab-output";

/// An output directory written as a whole: files go to [`OutputDir::path`], a
/// staging directory beside the target, and [`OutputDir::commit`] puts it in place
/// of the target. Dropped without a commit (an error), the staging directory is
/// removed; one left by a killed run is removed by the next run into the same target.
#[derive(Debug)]
pub struct OutputDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

impl OutputDir {
    /// Prepares to write `target`. Refuses a target that is a file, or a non-empty
    /// directory Spikelab did not write (no [`OUTPUT_MARKER`]); one it wrote is
    /// replaced at the commit. The staging directory is created now, so a path that
    /// cannot be written fails before any long work.
    pub fn begin(target: &Path) -> Result<Self> {
        if target.is_file() {
            return Err(Error::field(
                "out",
                format!("{} is a file; give a directory", target.display()),
            ));
        }
        if target.is_dir() && !target.join(OUTPUT_MARKER).is_file() {
            let mut entries =
                std::fs::read_dir(target).map_err(|e| Error::io("cannot read", target, e))?;
            if entries.next().is_some() {
                return Err(Error::field(
                    "out",
                    format!(
                        "{} is a directory with files Spikelab did not write; give another --out or empty it",
                        target.display()
                    ),
                ));
            }
        }
        let (parent, name) = split_target(target)?;
        std::fs::create_dir_all(&parent).map_err(|e| Error::io("cannot create", &parent, e))?;
        remove_stale(&parent, &name);
        let staging = parent.join(format!(".{name}.spikelab-staging-{}", std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging)
                .map_err(|e| Error::io("cannot remove", &staging, e))?;
        }
        std::fs::create_dir(&staging)
            .map_err(|e| Error::io("cannot create the output directory beside", target, e))?;
        Ok(OutputDir {
            target: target.to_path_buf(),
            staging,
            committed: false,
        })
    }

    /// Where to write the files now.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// The final directory.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Marks the staging directory as Spikelab's and puts it in place of the target
    /// (the previous output there is removed). Returns the target.
    pub fn commit(mut self) -> Result<PathBuf> {
        let marker = format!(
            "{{\"written_by\": \"spikelab {}\"}}\n",
            env!("CARGO_PKG_VERSION")
        );
        write_atomic(&self.staging.join(OUTPUT_MARKER), marker.as_bytes())?;
        let (parent, name) = split_target(&self.target)?;
        let old = parent.join(format!(".{name}.spikelab-old-{}", std::process::id()));
        if self.target.exists() {
            std::fs::rename(&self.target, &old)
                .map_err(|e| Error::io("cannot replace", &self.target, e))?;
        }
        std::fs::rename(&self.staging, &self.target)
            .map_err(|e| Error::io("cannot write", &self.target, e))?;
        self.committed = true;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| Error::io("cannot remove", &old, e))?;
        }
        Ok(self.target.clone())
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// The parent directory and the file name of `target`.
fn split_target(target: &Path) -> Result<(PathBuf, String)> {
    let name = target
        .file_name()
        .ok_or_else(|| Error::field("out", format!("{} has no directory name", target.display())))?
        .to_string_lossy()
        .into_owned();
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    Ok((parent, name))
}

/// Removes staging and replaced directories of `name` left by runs that are gone.
fn remove_stale(parent: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&format!(".{name}.spikelab-")) else {
            continue;
        };
        let Some(pid) = rest
            .strip_prefix("staging-")
            .or_else(|| rest.strip_prefix("old-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
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

    #[test]
    fn output_directories_are_written_whole_and_owned() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("run");
        // First run: nothing in place until the commit.
        let out = OutputDir::begin(&target).unwrap();
        write_atomic(&out.path().join("a.csv"), b"1").unwrap();
        assert!(!target.exists());
        out.commit().unwrap();
        assert!(target.join("a.csv").is_file() && target.join(OUTPUT_MARKER).is_file());
        // A second run replaces it whole: no file of the first is left.
        let out = OutputDir::begin(&target).unwrap();
        write_atomic(&out.path().join("b.csv"), b"2").unwrap();
        out.commit().unwrap();
        assert!(!target.join("a.csv").exists() && target.join("b.csv").is_file());
        // A failed run (dropped) leaves the previous output and no staging directory.
        let out = OutputDir::begin(&target).unwrap();
        write_atomic(&out.path().join("c.csv"), b"3").unwrap();
        drop(out);
        assert!(target.join("b.csv").is_file() && !target.join("c.csv").exists());
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
        // A killed run's staging directory is removed by the next run.
        let stale = root.path().join(".run.spikelab-staging-4000000");
        std::fs::create_dir(&stale).unwrap();
        OutputDir::begin(&target).unwrap().commit().unwrap();
        assert!(!stale.exists());
        // Directories Spikelab did not write, and files, are refused by field.
        let mine = root.path().join("mine");
        std::fs::create_dir(&mine).unwrap();
        std::fs::write(mine.join("thesis.tex"), b"x").unwrap();
        let e = OutputDir::begin(&mine).unwrap_err().to_string();
        assert!(e.contains("out") && e.contains("did not write"), "{e}");
        let e = OutputDir::begin(&mine.join("thesis.tex"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a file"), "{e}");
        // An empty directory is fine.
        let empty = root.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        OutputDir::begin(&empty).unwrap().commit().unwrap();
        assert_eq!(Fnv1a::of(b"a"), "af63dc4c8601ec8c");
    }

    /// Files get 0666 less the umask, as files made by `open` do (the test compares
    /// with a file created the ordinary way in the same directory).
    #[cfg(unix)]
    #[test]
    fn files_get_the_ordinary_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ordinary = dir.path().join("ordinary");
        std::fs::write(&ordinary, b"x").unwrap();
        let want = std::fs::metadata(&ordinary).unwrap().permissions().mode() & 0o777;
        let p = dir.path().join("a.json");
        write_atomic(&p, b"{}").unwrap();
        let got = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(got, want, "{got:o} vs {want:o}");
        assert_ne!(got, 0o600);
    }
}
