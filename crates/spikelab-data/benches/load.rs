//! Loading speed of the full MNIST training set (60,000 gzip-compressed images and
//! labels) from ../shared/data/mnist; skipped with a message when absent.
//!
//! `cargo bench -p spikelab-data --bench load`

use criterion::{criterion_group, criterion_main, Criterion};
use spikelab_data::images::{load, DatasetName, Split};
use std::path::PathBuf;

fn bench(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if !root.join("mnist").is_dir() {
        eprintln!("skipping: {} is absent", root.join("mnist").display());
        return;
    }
    c.bench_function("load_mnist_train_60000", |b| {
        b.iter(|| {
            let set = load(&root, DatasetName::Mnist, Split::Train, None).unwrap();
            assert_eq!(set.len(), 60_000);
            set
        })
    });
    c.bench_function("load_mnist_train_first_500", |b| {
        b.iter(|| load(&root, DatasetName::Mnist, Split::Train, Some(500)).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
