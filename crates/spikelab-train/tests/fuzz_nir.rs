//! The NIR reader on a file written by the reference Python package (h5py's layout),
//! and fuzzed: mutations of that file and of files Spikelab writes (flipped bits,
//! truncations, overwritten runs, appended garbage) must give `Ok` or an error, never a
//! panic, and must not allocate absurd memory (a guard allocator counts every
//! allocation over 64 MiB; the files are a few KiB). What reads back is also imported,
//! so the importer sees the damaged graphs too.

use rand::{Rng, SeedableRng};
use spikelab_train::nir::export::{export_network, ExportOptions};
use spikelab_train::nir::import::{import_graph, ImportOptions};
use spikelab_train::nir::{NirGraph, Op};
use spikelab_train::prelude::*;
use std::io::Read;
use std::sync::atomic::Ordering;

mod common;

use common::LARGE_ALLOCS;

#[global_allocator]
static GUARD: common::Guard = common::Guard;

fn python_fixture() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/nir_python_affine_lif.nir.gz"
    );
    let gz = std::fs::read(path).expect("fixture");
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

/// A conv net with max pooling and a recurrent readout net, exported by Spikelab.
fn spikelab_files() -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (arch, shape) in [
        ("2C3-MP2-4", FeatShape::image(2, 6, 6)),
        ("5-6R-3", FeatShape::flat(5)),
    ] {
        let spec = parse_arch(arch, shape, &ArchOptions::default()).unwrap();
        let net = Network::build(&spec, 4, 1).unwrap();
        let r = export_network(&net, &TrainConfig::default(), &ExportOptions::default()).unwrap();
        let p = dir.path().join("f.nir");
        r.graph.write(&p).unwrap();
        files.push(std::fs::read(&p).unwrap());
    }
    files
}

#[test]
fn a_file_written_by_the_python_nir_package_reads_and_imports() {
    let g = NirGraph::from_bytes(python_fixture(), "fixture").unwrap();
    match &g.nodes["fc"].op {
        Op::Affine { weight, bias } => {
            assert_eq!(weight.shape, [2, 3]);
            assert_eq!(weight.data, [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]);
            assert_eq!(bias.data, [0.5, -1.0]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(g.edges.len(), 3);
    // τ/R = 1 ms for both neurons: the time step is inferred, β = 1 − dt/τ.
    let imp = import_graph(&g, &ImportOptions::default()).unwrap();
    assert!((imp.dt_s - 1e-3).abs() < 1e-12);
    let names: Vec<&str> = imp.net.spec.layers.iter().map(|l| l.name()).collect();
    assert_eq!(names, ["linear", "lif"]);
    let beta = imp
        .net
        .named_params()
        .into_iter()
        .find(|(n, _)| n == "1.beta")
        .unwrap()
        .1
        .value
        .clone();
    assert_eq!(beta, [0.95, 0.9]);
}

#[test]
fn damaged_nir_files_give_errors_not_panics() {
    let mut bases = vec![python_fixture()];
    bases.extend(spikelab_files());
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    let (mut ok, mut err, mut imported) = (0usize, 0usize, 0usize);
    let cases = 1500;
    for i in 0..cases {
        let base = &bases[i % bases.len()];
        let mut b = base.clone();
        match rng.random_range(0..4) {
            0 => {
                for _ in 0..rng.random_range(1..8) {
                    let p = rng.random_range(0..b.len());
                    b[p] ^= 1 << rng.random_range(0..8);
                }
            }
            1 => b.truncate(rng.random_range(0..b.len())),
            2 => {
                let p = rng.random_range(0..b.len());
                let v: u8 = rng.random();
                for k in p..(p + 8).min(b.len()) {
                    b[k] = if k == p { v } else { 0xff };
                }
            }
            _ => {
                let extra: Vec<u8> = (0..rng.random_range(1..64)).map(|_| rng.random()).collect();
                b.extend(extra);
            }
        }
        let r = std::panic::catch_unwind(|| match NirGraph::from_bytes(b, "fuzz") {
            Ok(g) => {
                let o = ImportOptions {
                    dt_ms: Some(1.0),
                    ..ImportOptions::default()
                };
                (true, import_graph(&g, &o).is_ok())
            }
            Err(_) => (false, false),
        });
        match r {
            Ok((true, imp)) => {
                ok += 1;
                imported += imp as usize;
            }
            Ok((false, _)) => err += 1,
            Err(_) => panic!("case {i} panicked"),
        }
    }
    println!("{cases} damaged files: {ok} read ({imported} imported), {err} refused");
    assert_eq!(ok + err, cases);
    assert!(err > cases / 10, "most damage should be noticed ({err})");
    assert_eq!(
        LARGE_ALLOCS.load(Ordering::Relaxed),
        0,
        "an absurd allocation"
    );
}
