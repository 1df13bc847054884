//! Tests on the real MNIST files in ../shared/data/mnist (skipped with a message when
//! absent): label counts and checksums as given in ../shared/data/README.md, and a
//! fetch of the files from a local HTTP server.

mod common;

use common::{shared_data, Server};
use spikelab_data::fetch::{fetch, md5_gunzipped, FetchStatus, Manifest};
use spikelab_data::images::{find_split_files, load, load_mnist, DatasetName, Split};
use std::collections::HashMap;
use std::path::Path;

/// The README's `Training label counts 0..9: ...` line and `name md5` lines of its
/// `## mnist/` section (other data sets follow in sections of their own).
fn readme_facts(root: &Path) -> (Vec<usize>, Vec<(String, String)>) {
    let whole = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = whole
        .find("## mnist/")
        .expect("README.md has a `## mnist/` section");
    let section = &whole[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    let text = &section[..end];
    let counts_line = text
        .lines()
        .find(|l| l.starts_with("Training label counts"))
        .expect("README.md has a `Training label counts 0..9:` line");
    let counts = counts_line
        .split(':')
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(|w| w.trim_end_matches('.').parse().unwrap())
        .collect();
    let md5s = text
        .lines()
        .filter_map(|l| {
            let mut w = l.trim_start_matches("- ").split_whitespace();
            let (name, sum) = (w.next()?, w.next()?);
            (name.contains("-ubyte") && sum.len() == 32)
                .then(|| (name.to_string(), sum.to_string()))
        })
        .collect();
    (counts, md5s)
}

#[test]
fn mnist_training_labels_and_checksums_match_the_readme() {
    let Some(root) = shared_data() else {
        eprintln!("skipping: ../shared/data is absent (see DESIGN.md, Data for tests)");
        return;
    };
    let (counts, md5s) = readme_facts(&root);
    assert_eq!(counts.len(), 10);
    let train = load(&root, DatasetName::Mnist, Split::Train, None).unwrap();
    assert_eq!((train.len(), train.rows, train.cols), (60_000, 28, 28));
    assert_eq!(train.class_counts(), counts);
    let test = load_mnist(&root.join("mnist"), Split::Test).unwrap();
    assert_eq!(test.len(), 10_000);
    assert!(test.labels.iter().all(|&l| l < 10));
    // Our decompression is byte-exact: md5 of the decompressed files as published.
    assert_eq!(md5s.len(), 4, "{md5s:?}");
    for (name, sum) in md5s {
        let path = root.join("mnist").join(format!("{name}.gz"));
        assert_eq!(md5_gunzipped(&path).unwrap(), sum, "{name}");
    }
    // A prefix load reads the same first images.
    let first = load(&root, DatasetName::Mnist, Split::Train, Some(500)).unwrap();
    assert_eq!(first, train.take(500));
}

#[test]
fn fetch_from_a_local_mirror_of_the_shared_files_verifies_and_caches() {
    let Some(root) = shared_data() else {
        eprintln!("skipping: ../shared/data is absent");
        return;
    };
    let mut manifest = Manifest::standard(DatasetName::Mnist);
    let files: HashMap<String, Vec<u8>> = manifest
        .files
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                std::fs::read(root.join("mnist").join(&f.name)).unwrap(),
            )
        })
        .collect();
    let server = Server::start(files);
    manifest.mirrors = vec![server.base_url.clone()];
    let cache = tempfile::tempdir().unwrap();
    let r = fetch(&manifest, cache.path(), &mut |_| {}).unwrap();
    assert!(r
        .files
        .iter()
        .all(|(_, s)| matches!(s, FetchStatus::Downloaded(_))));
    // The shared files themselves count as a valid cache (train-images was
    // recompressed: its .gz md5 differs, its content md5 matches).
    let r = fetch(&manifest, &root, &mut |_| {}).unwrap();
    assert!(r.files.iter().all(|(_, s)| *s == FetchStatus::Cached));
    assert_eq!(server.hits(), 4);
    let (img, _) = find_split_files(&cache.path().join("mnist"), Split::Test).unwrap();
    assert!(img.ends_with("t10k-images-idx3-ubyte.gz"));
    assert_eq!(
        load(cache.path(), DatasetName::Mnist, Split::Test, Some(100)).unwrap(),
        load(&root, DatasetName::Mnist, Split::Test, Some(100)).unwrap()
    );
}
