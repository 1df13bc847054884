//! `fetch` against a local HTTP server on 127.0.0.1 and a file:// mirror: download,
//! checksum verification, cache reuse, mirror fallback, no partial files.

mod common;

use common::Server;
use spikelab_data::fetch::{fetch, md5_reader, FetchStatus, Manifest, RemoteFile};
use std::collections::HashMap;

fn manifest(files: &[(&str, &[u8])], mirrors: Vec<String>) -> Manifest {
    Manifest {
        dir_name: "toy".into(),
        mirrors,
        files: files
            .iter()
            .map(|(n, b)| RemoteFile {
                name: n.to_string(),
                md5: md5_reader(*b).unwrap(),
                raw_md5: None,
            })
            .collect(),
    }
}

fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn downloads_verifies_and_reuses_the_cache() {
    let a: &[u8] = b"first file";
    let b = vec![7u8; 3_000_000];
    let server = Server::start(HashMap::from([
        ("a.gz".to_string(), a.to_vec()),
        ("b.gz".to_string(), b.clone()),
    ]));
    let m = manifest(&[("a.gz", a), ("b.gz", &b)], vec![server.base_url.clone()]);
    let root = tempfile::tempdir().unwrap();
    let mut progress = 0;
    let r = fetch(&m, root.path(), &mut |e| {
        if matches!(e, spikelab_data::fetch::FetchEvent::Progress { .. }) {
            progress += 1;
        }
    })
    .unwrap();
    assert!(r
        .files
        .iter()
        .all(|(_, s)| matches!(s, FetchStatus::Downloaded(_))));
    assert_eq!(std::fs::read(root.path().join("toy/b.gz")).unwrap(), b);
    assert!(progress >= 2, "progress reported per MiB");
    assert_eq!(server.hits(), 2);
    // Second run: everything cached, no request.
    let r = fetch(&m, root.path(), &mut |_| {}).unwrap();
    assert!(r.files.iter().all(|(_, s)| *s == FetchStatus::Cached));
    assert_eq!(server.hits(), 2);
    // A corrupted cache file is downloaded again.
    std::fs::write(root.path().join("toy/a.gz"), b"corrupt").unwrap();
    let r = fetch(&m, root.path(), &mut |_| {}).unwrap();
    assert!(matches!(r.files[0].1, FetchStatus::Downloaded(_)));
    assert_eq!(r.files[1].1, FetchStatus::Cached);
    assert_eq!(std::fs::read(root.path().join("toy/a.gz")).unwrap(), a);
    assert_eq!(server.hits(), 3);
    assert_eq!(names_in(&root.path().join("toy")), vec!["a.gz", "b.gz"]);
}

#[test]
fn falls_back_to_the_next_mirror_and_rejects_bad_checksums() {
    let good: &[u8] = b"the real content";
    let bad_server = Server::start(HashMap::from([("f.gz".to_string(), b"tampered!".to_vec())]));
    let empty_server = Server::start(HashMap::new());
    let good_server = Server::start(HashMap::from([("f.gz".to_string(), good.to_vec())]));
    let root = tempfile::tempdir().unwrap();
    // 404, then wrong checksum, then the good one.
    let m = manifest(
        &[("f.gz", good)],
        vec![
            empty_server.base_url.clone(),
            bad_server.base_url.clone(),
            good_server.base_url.clone(),
        ],
    );
    let mut failures = Vec::new();
    let r = fetch(&m, root.path(), &mut |e| {
        if let spikelab_data::fetch::FetchEvent::Failed { error, .. } = e {
            failures.push(error.to_string());
        }
    })
    .unwrap();
    assert_eq!(
        r.files[0].1,
        FetchStatus::Downloaded(format!("{}f.gz", good_server.base_url))
    );
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures[0].contains("404"), "{}", failures[0]);
    assert!(failures[1].contains("checksum mismatch"), "{}", failures[1]);
    // Only bad mirrors: a clear error and no file (not even a partial one).
    let root2 = tempfile::tempdir().unwrap();
    let m = manifest(&[("f.gz", good)], vec![bad_server.base_url.clone()]);
    let e = fetch(&m, root2.path(), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot download f.gz") && e.contains("checksum mismatch"),
        "{e}"
    );
    assert!(names_in(&root2.path().join("toy")).is_empty());
}

#[test]
fn file_urls_work_as_mirrors() {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("x.gz"), b"local").unwrap();
    let m = manifest(
        &[("x.gz", b"local")],
        vec![format!("file://{}", src.path().display())],
    );
    let root = tempfile::tempdir().unwrap();
    let r = fetch(&m, root.path(), &mut |_| {}).unwrap();
    assert!(matches!(r.files[0].1, FetchStatus::Downloaded(_)));
    let m = manifest(&[("y.gz", b"none")], vec!["ftp://example.invalid/".into()]);
    let e = fetch(&m, root.path(), &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("unsupported URL scheme"), "{e}");
}
