//! Downloading data sets into a cache directory, with checksums.
//!
//! [`fetch`] makes sure the four IDX files of a data set are in
//! `root/<data set>/` (e.g. `~/.cache/spikelab/mnist/`): a file already there whose
//! checksum matches is reused; otherwise it is downloaded from each mirror in turn into
//! a temporary file beside its destination, its md5 is checked, and only then is it
//! renamed into place, so an interrupted or corrupt download never leaves a file that
//! looks complete.
//!
//! **Checksums.** Each file has the md5 of its `.gz` as the mirrors publish it (the
//! values torchvision uses). MNIST also has the md5 of the decompressed files
//! (LeCun's originals); a `.gz` whose own md5 differs but whose decompressed content
//! matches is accepted too, so a recompressed copy (such as `../shared/data/mnist`)
//! counts as cached.
//!
//! Mirrors are `http://`, `https://` (with the default `download` feature) or
//! `file://` URLs of a folder; [`Manifest::mirrors`] can be replaced to use a local
//! mirror.

use crate::error::{Error, Result};
use crate::idx::is_gzip;
use crate::images::DatasetName;
use md5::{Digest, Md5};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// One file of a data set and its published checksums.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteFile {
    /// File name on the mirrors and in the cache (`train-images-idx3-ubyte.gz`).
    pub name: String,
    /// md5 (hex) of the file as published.
    pub md5: String,
    /// md5 (hex) of the decompressed content, where known.
    pub raw_md5: Option<String>,
}

/// Where a data set comes from: its folder name, mirrors and files.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// Folder under the data root (`mnist`).
    pub dir_name: String,
    /// Base URLs tried in order (each ends with `/`).
    pub mirrors: Vec<String>,
    /// The files.
    pub files: Vec<RemoteFile>,
}

fn file(name: &str, md5: &str, raw_md5: Option<&str>) -> RemoteFile {
    RemoteFile {
        name: name.into(),
        md5: md5.into(),
        raw_md5: raw_md5.map(Into::into),
    }
}

impl Manifest {
    /// The standard mirrors and checksums of a data set.
    pub fn standard(name: DatasetName) -> Manifest {
        let (mirrors, files): (&[&str], Vec<RemoteFile>) = match name {
            DatasetName::Mnist => (
                &[
                    "https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/",
                ],
                vec![
                    file(
                        "train-images-idx3-ubyte.gz",
                        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                        Some("6bbc9ace898e44ae57da46a324031adb"),
                    ),
                    file(
                        "train-labels-idx1-ubyte.gz",
                        "d53e105ee54ea40749a09fcbcd1e9432",
                        Some("a25bea736e30d166cdddb491f175f624"),
                    ),
                    file(
                        "t10k-images-idx3-ubyte.gz",
                        "9fb629c4189551a2d022fa330f9573f3",
                        Some("2646ac647ad5339dbf082846283269ea"),
                    ),
                    file(
                        "t10k-labels-idx1-ubyte.gz",
                        "ec29112dd5afa0611ce80d1b7f02629c",
                        Some("27ae3e4e09519cfbb04c329615203637"),
                    ),
                ],
            ),
            DatasetName::FashionMnist => (
                &[
                    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
                ],
                vec![
                    file("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", None),
                    file("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", None),
                    file("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", None),
                    file("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", None),
                ],
            ),
            DatasetName::Kmnist => (
                &["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"],
                vec![
                    file("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7", None),
                    file("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344", None),
                    file("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7", None),
                    file("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134", None),
                ],
            ),
        };
        Manifest {
            dir_name: name.dir_name().into(),
            mirrors: mirrors.iter().map(|s| s.to_string()).collect(),
            files,
        }
    }
}

/// The default data root: `$SPIKELAB_DATA`, else `$XDG_CACHE_HOME/spikelab`, else
/// `$HOME/.cache/spikelab`, else `./data`.
pub fn default_data_root() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("SPIKELAB_DATA")
        .or_else(|| env("XDG_CACHE_HOME").map(|p| p.join("spikelab")))
        .or_else(|| env("HOME").map(|p| p.join(".cache").join("spikelab")))
        .unwrap_or_else(|| PathBuf::from("data"))
}

/// What [`fetch`] reports while it works.
#[derive(Clone, Debug, PartialEq)]
pub enum FetchEvent<'a> {
    /// A file was found in the cache with a matching checksum.
    Cached {
        /// The file.
        path: &'a Path,
    },
    /// A download starts (`total` bytes if the server said).
    Start {
        /// File name.
        name: &'a str,
        /// Source URL.
        url: &'a str,
        /// Expected size (bytes).
        total: Option<u64>,
    },
    /// Bytes received so far.
    Progress {
        /// File name.
        name: &'a str,
        /// Bytes so far.
        bytes: u64,
    },
    /// A mirror failed; the next one is tried.
    Failed {
        /// File name.
        name: &'a str,
        /// Source URL.
        url: &'a str,
        /// What went wrong.
        error: &'a str,
    },
    /// A file was downloaded and verified.
    Done {
        /// The file.
        path: &'a Path,
        /// Its size (bytes).
        bytes: u64,
    },
}

/// How a file came to be in the cache.
#[derive(Clone, Debug, PartialEq)]
pub enum FetchStatus {
    /// It was there already.
    Cached,
    /// It was downloaded from this URL.
    Downloaded(String),
}

/// Result of [`fetch`]: the folder and each file's path and status.
#[derive(Clone, Debug, PartialEq)]
pub struct FetchReport {
    /// The data set folder (`root/<dir_name>`).
    pub dir: PathBuf,
    /// Each file with its status.
    pub files: Vec<(PathBuf, FetchStatus)>,
}

/// Hex md5 of everything `reader` yields.
pub fn md5_reader(mut reader: impl Read) -> std::io::Result<String> {
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Hex md5 of a file.
pub fn md5_file(path: &Path) -> Result<String> {
    let f = std::fs::File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
    md5_reader(f).map_err(|e| Error::io("cannot read", path, e))
}

/// Hex md5 of the decompressed content of a gzip file.
pub fn md5_gunzipped(path: &Path) -> Result<String> {
    let f = std::fs::File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
    let r = crate::idx::maybe_gunzip(BufReader::new(f))
        .map_err(|e| Error::io("cannot read", path, e))?;
    md5_reader(r).map_err(|e| Error::io("cannot decompress", path, e))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a local copy of `f`: `Ok(())` if its md5 (or, for a gzip with a known raw
/// md5, the md5 of its content) matches, else the checksum error.
pub fn verify(path: &Path, f: &RemoteFile) -> Result<()> {
    let actual = md5_file(path)?;
    if actual == f.md5 {
        return Ok(());
    }
    if let Some(raw) = &f.raw_md5 {
        let mut head = [0u8; 2];
        let n = std::fs::File::open(path)
            .and_then(|mut h| h.read(&mut head))
            .map_err(|e| Error::io("cannot read", path, e))?;
        if is_gzip(&head[..n]) && md5_gunzipped(path).is_ok_and(|m| &m == raw) {
            return Ok(());
        }
    }
    Err(Error::Checksum {
        file: path.display().to_string(),
        expected: f.md5.clone(),
        actual,
    })
}

/// Makes sure every file of `manifest` is in `root/<dir_name>/` with a valid checksum,
/// downloading what is missing or corrupt (see the module documentation). `on_event`
/// is told about cached files, downloads and their progress.
pub fn fetch(
    manifest: &Manifest,
    root: &Path,
    on_event: &mut dyn FnMut(FetchEvent),
) -> Result<FetchReport> {
    let dir = root.join(&manifest.dir_name);
    let mut report = FetchReport {
        dir: dir.clone(),
        files: Vec::new(),
    };
    for f in &manifest.files {
        let target = dir.join(&f.name);
        if target.is_file() && verify(&target, f).is_ok() {
            on_event(FetchEvent::Cached { path: &target });
            report.files.push((target, FetchStatus::Cached));
            continue;
        }
        if let (Some(raw), Some(stem)) = (&f.raw_md5, f.name.strip_suffix(".gz")) {
            let raw_path = dir.join(stem);
            if raw_path.is_file() && md5_file(&raw_path).is_ok_and(|m| &m == raw) {
                on_event(FetchEvent::Cached { path: &raw_path });
                report.files.push((raw_path, FetchStatus::Cached));
                continue;
            }
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let mut attempts = Vec::new();
        let mut done = None;
        for mirror in &manifest.mirrors {
            let url = format!("{}/{}", mirror.trim_end_matches('/'), f.name);
            match download(&url, &dir, f, on_event) {
                Ok(bytes) => {
                    done = Some((url, bytes));
                    break;
                }
                Err(e) => {
                    on_event(FetchEvent::Failed {
                        name: &f.name,
                        url: &url,
                        error: &e,
                    });
                    attempts.push(format!("  {url}: {e}"));
                }
            }
        }
        match done {
            Some((url, bytes)) => {
                on_event(FetchEvent::Done {
                    path: &target,
                    bytes,
                });
                report.files.push((target, FetchStatus::Downloaded(url)));
            }
            None => {
                if attempts.is_empty() {
                    attempts.push("  (no mirrors given)".into());
                }
                return Err(Error::Download {
                    file: f.name.clone(),
                    attempts: attempts.join("\n"),
                });
            }
        }
    }
    Ok(report)
}

/// Downloads `url` into a temporary file in `dir`, verifies it and renames it to
/// `dir/<f.name>`; returns its size. Errors are messages for the attempt list.
fn download(
    url: &str,
    dir: &Path,
    f: &RemoteFile,
    on_event: &mut dyn FnMut(FetchEvent),
) -> std::result::Result<u64, String> {
    let (mut body, total) = open_url(url)?;
    on_event(FetchEvent::Start {
        name: &f.name,
        url,
        total,
    });
    let target = dir.join(&f.name);
    let mut bytes = 0u64;
    spikelab_core::io::write_atomic_to_path(&target, |tmp: &Path| {
        bytes = receive_verified(&mut body, total, tmp, f, on_event)?;
        Ok::<(), Error>(())
    })
    .map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// Streams `body` into the temporary file `tmp` and checks its length and checksum;
/// returns its size. Errors are messages for the attempt list.
fn receive_verified(
    body: &mut dyn Read,
    total: Option<u64>,
    tmp: &Path,
    f: &RemoteFile,
    on_event: &mut dyn FnMut(FetchEvent),
) -> Result<u64> {
    let fail = |m: String| Error::Invalid(m);
    let dir = tmp.parent().unwrap_or(Path::new("."));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(tmp)
        .map_err(|e| {
            fail(format!(
                "cannot create a temporary file in {}: {e}",
                dir.display()
            ))
        })?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    let mut last_report = 0u64;
    {
        let mut w = std::io::BufWriter::new(file);
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(fail(format!(
                        "download interrupted after {bytes} bytes: {e}"
                    )))
                }
            };
            h.update(&buf[..n]);
            w.write_all(&buf[..n])
                .map_err(|e| fail(format!("cannot write to {}: {e}", dir.display())))?;
            bytes += n as u64;
            if bytes - last_report >= 1 << 20 {
                last_report = bytes;
                on_event(FetchEvent::Progress {
                    name: &f.name,
                    bytes,
                });
            }
        }
        w.flush()
            .map_err(|e| fail(format!("cannot write to {}: {e}", dir.display())))?;
    }
    if let Some(t) = total {
        if t != bytes {
            return Err(fail(format!("received {bytes} of {t} bytes")));
        }
    }
    let actual = hex(&h.finalize());
    if actual != f.md5 {
        let raw_ok = f
            .raw_md5
            .as_ref()
            .is_some_and(|raw| md5_gunzipped(tmp).is_ok_and(|m| &m == raw));
        if !raw_ok {
            return Err(fail(format!(
                "checksum mismatch: md5 {actual}, expected {} (corrupt or wrong file)",
                f.md5
            )));
        }
    }
    Ok(bytes)
}

type Body = (Box<dyn Read>, Option<u64>);

/// Opens a `file://`, `http://` or `https://` URL for reading, with its length if known.
fn open_url(url: &str) -> std::result::Result<Body, String> {
    if let Some(path) = url.strip_prefix("file://") {
        let f = std::fs::File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
        let len = f.metadata().ok().map(|m| m.len());
        return Ok((Box::new(f), len));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err("unsupported URL scheme; use http://, https:// or file://".into());
    }
    http_get(url)
}

#[cfg(feature = "download")]
fn http_get(url: &str) -> std::result::Result<Body, String> {
    use std::time::Duration;
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .user_agent(concat!("spikelab/", env!("CARGO_PKG_VERSION")))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let resp = agent.get(url).call().map_err(|e| e.to_string())?;
    let total = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    Ok((Box::new(resp.into_body().into_reader()), total))
}

#[cfg(not(feature = "download"))]
fn http_get(_url: &str) -> std::result::Result<Body, String> {
    Err("this build has no HTTP support (spikelab-data was built without the `download` feature); use a file:// mirror".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_matches_the_rfc_1321_test_vectors() {
        assert_eq!(
            md5_reader(&b""[..]).unwrap(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            md5_reader(&b"message digest"[..]).unwrap(),
            "f96b697d7cb7938d525a2f31aaf161d0"
        );
    }

    #[test]
    fn standard_manifests_list_four_files_with_md5s() {
        for name in DatasetName::ALL {
            let m = Manifest::standard(name);
            assert_eq!(m.files.len(), 4);
            assert!(!m.mirrors.is_empty());
            for f in &m.files {
                assert_eq!(f.md5.len(), 32);
                assert!(f.md5.chars().all(|c| c.is_ascii_hexdigit()));
            }
        }
    }
}
