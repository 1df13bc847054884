//! Fuzzing the loaders of model, checkpoint and STDP files with proptest: mutations of
//! valid files written by the library (flipped bytes in header and body, truncations,
//! appended garbage, a wrong header length, edits of the header JSON — shapes, dtypes,
//! offsets, metadata values, the checksum removed) must give `Ok` or an error, never a
//! panic, and must not allocate absurd memory (a guard allocator counts every
//! allocation over 64 MiB; the base files are a few KiB).

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};
use spikelab_train::bptt::io::{CHECKPOINT_FORMAT, MODEL_FORMAT};
use spikelab_train::checkpoint::{LoadedFile, TensorFile, CHECKSUM_KEY};
use spikelab_train::prelude::*;
use spikelab_train::stdp::train::STDP_FORMAT;
use spikelab_train::stdp::{DiehlCook, DiehlCookConfig};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

mod common;

use common::{LARGE, LARGE_ALLOCS};

#[global_allocator]
static GUARD: common::Guard = common::Guard;

/// The valid files every mutation starts from: a model and a checkpoint of two small
/// networks (one dense, one with convolution, batch norm, pooling, a recurrent layer
/// and dropout) and a Diehl & Cook STDP network.
struct Bases {
    dir: tempfile::TempDir,
    files: Vec<Vec<u8>>,
}

/// `path` read, with the header's keys sorted: the metadata is written from a hash
/// map, in an order that changes from run to run, and the seeded mutations must see
/// the same bytes every time.
fn canonical(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let (header, body) = split(&bytes).unwrap();
    let bytes = join(&header, body);
    std::fs::write(path, &bytes).unwrap();
    bytes
}

fn bases() -> &'static Bases {
    static BASES: OnceLock<Bases> = OnceLock::new();
    BASES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        let image = FeatShape::image(1, 4, 4);
        let alif = ArchOptions {
            neuron: NeuronKind::Alif,
            ..ArchOptions::default()
        };
        let specs = [
            parse_arch("16-8-4", image, &ArchOptions::default()).unwrap(),
            parse_arch("2C3p1bn-MP2-D0.1-6R-4", image, &alif).unwrap(),
        ];
        for (k, spec) in specs.iter().enumerate() {
            let config = TrainConfig {
                steps: 4,
                batch_size: 8,
                ..Default::default()
            };
            let trainer = Trainer::new(spec, config).unwrap();
            let model = dir.path().join(format!("model{k}.safetensors"));
            let checkpoint = dir.path().join(format!("checkpoint{k}.safetensors"));
            trainer.save_model(&model).unwrap();
            trainer.save_checkpoint(&checkpoint).unwrap();
            files.push(canonical(&model));
            files.push(canonical(&checkpoint));
            // The files load as written.
            load_model(&model).unwrap();
            load_model(&checkpoint).unwrap();
            Trainer::resume(&checkpoint).unwrap();
        }
        // A Diehl & Cook file as `stdp::train` writes it, with labels.
        let n = 4;
        let net = DiehlCook::new(DiehlCookConfig {
            n_neurons: n,
            ..DiehlCookConfig::default()
        })
        .unwrap();
        let mut f = TensorFile::new(STDP_FORMAT);
        net.save_state(&mut f).unwrap();
        f.meta("recipe", "diehl_cook_2015".into());
        f.json("config", &net.config);
        f.meta("epoch", "1".into());
        f.meta("next_example", "3".into());
        f.tensor("assignments".into(), vec![n], &[0.0, 1.0, 2.0, 9.0]);
        f.tensor("proportions".into(), vec![10, n], &[0.1; 40]);
        let stdp = dir.path().join("stdp.safetensors");
        f.write(&stdp).unwrap();
        files.push(canonical(&stdp));
        assert!(spikelab_train::stdp::train::load(&stdp)
            .unwrap()
            .3
            .is_some());
        Bases { dir, files }
    })
}

/// A fresh path in the temporary directory.
fn scratch_path() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let k = NEXT.fetch_add(1, Ordering::Relaxed);
    bases().dir.path().join(format!("fuzz{k}.safetensors"))
}

/// Header (the JSON object) and body of a safetensors file, if it has them.
fn split(bytes: &[u8]) -> Option<(Map<String, Value>, &[u8])> {
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?) as usize;
    let header = bytes.get(8..8usize.checked_add(n)?)?;
    let map = serde_json::from_slice(header).ok()?;
    Some((map, &bytes[8 + n..]))
}

/// A safetensors file of `header` and `body`, the header padded with spaces to a
/// multiple of 8 bytes as safetensors writes it.
fn join(header: &Map<String, Value>, body: &[u8]) -> Vec<u8> {
    let mut h = serde_json::to_vec(header).unwrap();
    h.resize(h.len().next_multiple_of(8), b' ');
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(body);
    out
}

/// Numbers that replace numbers in the header and in metadata JSON.
fn number(k: usize) -> Value {
    let n: [Value; 14] = [
        0.into(),
        1.into(),
        (-1).into(),
        2.into(),
        u64::MAX.into(),
        (1u64 << 31).into(),
        (1u64 << 32).into(),
        (1u64 << 40).into(),
        65536.into(),
        1e308.into(),
        (-1e308).into(),
        0.5.into(),
        1e-30.into(),
        100000.into(),
    ];
    n[k % n.len()].clone()
}

/// Strings that replace strings in metadata JSON: layer types, neuron models, format
/// tags, option names.
const STRINGS: &[&str] = &[
    "linear",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "flatten",
    "dropout",
    "batch_norm",
    "relu",
    "lif",
    "if",
    "alif",
    "rlif",
    "readout",
    "model/1",
    "checkpoint/1",
    "stdp/1",
    "adam",
    "sgd",
    "",
    "x",
];

/// The `k`-th number or string in `v` (depth first), replaced by `f`; true if found.
fn replace_nth(v: &mut Value, k: &mut usize, numbers: bool, f: &dyn Fn() -> Value) -> bool {
    match v {
        Value::Number(_) if numbers => {
            if *k == 0 {
                *v = f();
                return true;
            }
            *k -= 1;
            false
        }
        Value::String(_) if !numbers => {
            if *k == 0 {
                *v = f();
                return true;
            }
            *k -= 1;
            false
        }
        Value::Array(a) => a.iter_mut().any(|x| replace_nth(x, k, numbers, f)),
        Value::Object(o) => o.values_mut().any(|x| replace_nth(x, k, numbers, f)),
        _ => false,
    }
}

fn count(v: &Value, numbers: bool) -> usize {
    match v {
        Value::Number(_) => usize::from(numbers),
        Value::String(_) => usize::from(!numbers),
        Value::Array(a) => a.iter().map(|x| count(x, numbers)).sum(),
        Value::Object(o) => o.values().map(|x| count(x, numbers)).sum(),
        _ => 0,
    }
}

/// One edit of a file; `a`, `b` pick what and how (taken modulo), `bytes` is new
/// content where one is needed.
#[derive(Clone, Debug)]
struct Edit {
    kind: u8,
    a: usize,
    b: usize,
    bytes: Vec<u8>,
}

const EDIT_KINDS: u8 = 13;

fn apply(mut bytes: Vec<u8>, e: &Edit) -> Vec<u8> {
    let header_len = bytes
        .get(..8)
        .map_or(0, |h| u64::from_le_bytes(h.try_into().unwrap()) as usize)
        .min(bytes.len().saturating_sub(8));
    match e.kind % EDIT_KINDS {
        // A flipped bit or a new byte in the header.
        0 if header_len > 0 => {
            let p = 8 + e.a % header_len;
            if e.b.is_multiple_of(2) {
                bytes[p] ^= 1 << (e.b / 2 % 8);
            } else {
                bytes[p] = e.bytes.first().copied().unwrap_or(b'"');
            }
        }
        // The same in the body (the tensor data).
        1 if bytes.len() > 8 + header_len => {
            let body = bytes.len() - 8 - header_len;
            let p = 8 + header_len + e.a % body;
            bytes[p] ^= 1 << (e.b % 8);
        }
        // Truncated.
        2 => bytes.truncate(e.a % (bytes.len() + 1)),
        // Appended garbage.
        3 => bytes.extend_from_slice(&e.bytes),
        // A wrong header length.
        4 if bytes.len() >= 8 => {
            let n = header_len as u64;
            let v = match e.b % 4 {
                0 => n.wrapping_add(1 + e.a as u64 % 8),
                1 => n.saturating_sub(1 + e.a as u64 % 8),
                2 => e.a as u64,
                _ => u64::MAX - e.a as u64 % 16,
            };
            bytes[..8].copy_from_slice(&v.to_le_bytes());
        }
        // Edits of the header JSON; the length is rewritten to match.
        k => {
            let Some((mut header, body)) = split(&bytes) else {
                return bytes;
            };
            edit_header(&mut header, k, e);
            return join(&header, body);
        }
    }
    bytes
}

fn edit_header(header: &mut Map<String, Value>, kind: u8, e: &Edit) {
    let tensors: Vec<String> = header
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect();
    let meta_keys: Vec<String> = header
        .get("__metadata__")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    match kind {
        // The shape of a tensor: reversed, flattened, one dimension changed, one added
        // or removed.
        5 if !tensors.is_empty() => {
            let t = &tensors[e.a % tensors.len()];
            let Some(Value::Array(shape)) = header[t].get_mut("shape") else {
                return;
            };
            match e.b % 5 {
                0 => shape.reverse(),
                1 => {
                    let n: u64 = shape.iter().filter_map(Value::as_u64).product();
                    *shape = vec![n.into()];
                }
                2 if !shape.is_empty() => {
                    let i = e.b / 5 % shape.len();
                    shape[i] = number(e.a / 7);
                }
                3 => shape.push(1.into()),
                _ => {
                    shape.pop();
                }
            }
        }
        // The dtype of a tensor.
        6 if !tensors.is_empty() => {
            let t = &tensors[e.a % tensors.len()];
            let dtypes = [
                "F16", "BF16", "F64", "I32", "I64", "U8", "BOOL", "F8_E4M3", "X",
            ];
            header[t]["dtype"] = dtypes[e.b % dtypes.len()].into();
        }
        // The data offsets of a tensor.
        7 if !tensors.is_empty() => {
            let t = &tensors[e.a % tensors.len()];
            let Some(Value::Array(o)) = header[t].get_mut("data_offsets") else {
                return;
            };
            if o.len() == 2 {
                match e.b % 4 {
                    0 => o.swap(0, 1),
                    1 => o[1] = number(e.a / 3),
                    2 => o[0] = number(e.a / 3),
                    _ => {
                        let end = o[1].as_u64().unwrap_or(0);
                        o[1] = (end + 4).into();
                    }
                }
            }
        }
        // A number in a metadata value (JSON or a plain number).
        8 | 9 if !meta_keys.is_empty() => {
            let key = &meta_keys[e.a % meta_keys.len()];
            let meta = header["__metadata__"].as_object_mut().unwrap();
            let Some(text) = meta[key].as_str() else {
                return;
            };
            let Ok(mut v) = serde_json::from_str::<Value>(text) else {
                return;
            };
            let n = count(&v, true);
            if n > 0 {
                replace_nth(&mut v, &mut (e.b % n), true, &|| number(e.a / 11));
                meta[key] = v.to_string().into();
            }
        }
        // A string in a metadata JSON value (layer types, option names).
        10 if !meta_keys.is_empty() => {
            let key = &meta_keys[e.a % meta_keys.len()];
            let meta = header["__metadata__"].as_object_mut().unwrap();
            let Some(text) = meta[key].as_str() else {
                return;
            };
            match serde_json::from_str::<Value>(text) {
                Ok(mut v) if count(&v, false) > 0 => {
                    let n = count(&v, false);
                    let s = STRINGS[e.a / 11 % STRINGS.len()];
                    replace_nth(&mut v, &mut (e.b % n), false, &|| s.into());
                    meta[key] = v.to_string().into();
                }
                // Plain strings (the format tag) and bare numbers.
                _ => meta[key] = STRINGS[e.b % STRINGS.len()].into(),
            }
        }
        // A metadata entry removed, emptied, or replaced by another's value or garbage.
        11 if !meta_keys.is_empty() => {
            let key = meta_keys[e.a % meta_keys.len()].clone();
            let other = meta_keys[e.b % meta_keys.len()].clone();
            let meta = header["__metadata__"].as_object_mut().unwrap();
            match e.b % 4 {
                0 => {
                    meta.remove(&key);
                }
                1 => meta[&key] = "".into(),
                2 => {
                    let v = meta[&other].clone();
                    meta[&key] = v;
                }
                _ => meta[&key] = String::from_utf8_lossy(&e.bytes).into_owned().into(),
            }
        }
        // The checksum removed (files from before it existed load without), so that
        // edits of shapes and tensor data reach the loaders; or a tensor removed.
        _ => {
            if !e.b.is_multiple_of(3) || tensors.is_empty() {
                if let Some(m) = header
                    .get_mut("__metadata__")
                    .and_then(Value::as_object_mut)
                {
                    m.remove(CHECKSUM_KEY);
                }
            } else {
                header.remove(&tensors[e.a % tensors.len()]);
            }
        }
    }
}

/// Base file `file` (modulo their number) with `edits` applied in order.
fn mutate(file: usize, edits: &[Edit]) -> Vec<u8> {
    let files = &bases().files;
    edits.iter().fold(files[file % files.len()].clone(), apply)
}

/// Outcomes of one input: Ok per loader, in the order of [`LOADERS`].
type Outcome = [bool; 4];
const LOADERS: [&str; 4] = [
    "LoadedFile::read",
    "load_model",
    "Trainer::resume",
    "stdp::train::load",
];

/// Writes `bytes` to a file and runs every loader on it. Panics (a bug) when a loader
/// allocates more than 64 MiB at once or an error has no message.
fn check(bytes: &[u8]) -> Outcome {
    let path = scratch_path();
    std::fs::write(&path, bytes).unwrap();
    let before = LARGE_ALLOCS.load(Ordering::Relaxed);
    let outcome = run_loaders(&path);
    assert_eq!(
        LARGE_ALLOCS.load(Ordering::Relaxed),
        before,
        "loading allocated more than {LARGE} bytes at once"
    );
    std::fs::remove_file(&path).unwrap();
    outcome
}

fn ok_or_message<T, E: std::fmt::Display>(r: Result<T, E>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            None
        }
    }
}

fn run_loaders(path: &Path) -> Outcome {
    let mut read = false;
    for format in [MODEL_FORMAT, CHECKPOINT_FORMAT, STDP_FORMAT] {
        if let Some(file) = ok_or_message(LoadedFile::read(path, format)) {
            read = true;
            // Every tensor and metadata entry of the base files, as the loaders ask.
            for (name, shape) in [
                ("0.weight", &[16, 8][..]),
                ("0.bias", &[8]),
                ("1.beta", &[1]),
                ("weights", &[784, 4]),
                ("theta", &[4]),
            ] {
                let _ = file.has_tensor(name);
                let _ = ok_or_message(file.tensor(name, shape));
            }
            for key in file.meta.keys().cloned().collect::<Vec<_>>() {
                let _ = ok_or_message(file.json::<Value>(&key));
            }
            let _ = ok_or_message(file.network());
        }
    }
    let model = ok_or_message(load_model(path));
    if let Some(m) = &model {
        assert!(!m.net.layers().is_empty());
    }
    let resumed = ok_or_message(Trainer::resume(path));
    let stdp = ok_or_message(spikelab_train::stdp::train::load(path));
    [read, model.is_some(), resumed.is_some(), stdp.is_some()]
}

fn edit() -> impl Strategy<Value = Edit> {
    (
        0..EDIT_KINDS,
        any::<usize>(),
        any::<usize>(),
        prop::collection::vec(any::<u8>(), 0..12),
    )
        .prop_map(|(kind, a, b, bytes)| Edit { kind, a, b, bytes })
}

fn random_edit(rng: &mut impl Rng) -> Edit {
    let len = rng.random_range(0..12);
    Edit {
        kind: rng.random_range(0..EDIT_KINDS),
        a: rng.random::<u64>() as usize,
        b: rng.random::<u64>() as usize,
        bytes: (0..len).map(|_| rng.random()).collect(),
    }
}

/// `usize` from environment variable `name` (a longer or another seeded campaign),
/// else `default`.
fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |v| v.parse().expect("a number"))
}

/// Failing cases are reported with their input (proptest finds no source directory to
/// persist them in for tests in `tests/`, and would say so on every run).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn loaders_never_panic_on_mutated_files(
        file in 0usize..5,
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        check(&mutate(file, &edits));
    }

    #[test]
    fn loaders_never_panic_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        header in any::<bool>(),
    ) {
        // Also behind a header length that fits, so the bytes are read as JSON.
        let mut b = bytes.clone();
        if header {
            b = (bytes.len() as u64).to_le_bytes().to_vec();
            b.extend_from_slice(&bytes);
        }
        check(&b);
    }
}

/// A fixed, seeded run of 5,000 mutated files (`SPIKELAB_FUZZ_RUNS` and
/// `SPIKELAB_FUZZ_SEED` change the number and the seed), counting outcomes per loader:
/// none may panic.
#[test]
fn seeded_mutations_never_panic() {
    let mut rng =
        rand::rngs::StdRng::seed_from_u64(env_or("SPIKELAB_FUZZ_SEED", 0x5eed_c4e7) as u64);
    let runs = env_or("SPIKELAB_FUZZ_RUNS", 5000);
    let (mut ok, mut panics) = ([0usize; 4], Vec::new());
    for _ in 0..runs {
        let file = rng.random_range(0..5);
        let edits: Vec<Edit> = (0..rng.random_range(1..4))
            .map(|_| random_edit(&mut rng))
            .collect();
        let bytes = mutate(file, &edits);
        match std::panic::catch_unwind(|| check(&bytes)) {
            Ok(o) => {
                for (n, yes) in ok.iter_mut().zip(o) {
                    *n += usize::from(yes);
                }
            }
            Err(_) => panics.push((file, edits)),
        }
    }
    let executed = runs - panics.len();
    for (name, n) in LOADERS.iter().zip(ok) {
        println!(
            "checkpoints: {name}: {executed} inputs, {n} Ok, {} Err",
            executed - n
        );
    }
    println!("checkpoints: {runs} inputs, {} panics", panics.len());
    assert!(
        panics.is_empty(),
        "{} inputs panicked; the first: {:?}",
        panics.len(),
        panics[0]
    );
    assert!(
        ok.iter().all(|&n| n > 0),
        "some loader never succeeded: {ok:?}"
    );
}

/// `file` with metadata entry `key` (JSON) changed by `f`; the checksum stays valid,
/// since it covers the tensors only.
fn with_metadata(file: usize, key: &str, f: impl Fn(&mut Value)) -> Vec<u8> {
    let (mut header, body) = split(&bases().files[file]).unwrap();
    let meta = header["__metadata__"].as_object_mut().unwrap();
    let mut v: Value = serde_json::from_str(meta[key].as_str().unwrap()).unwrap();
    f(&mut v);
    meta[key] = v.to_string().into();
    join(&header, body)
}

/// Found by the fuzzer: the network description in the metadata is not covered by
/// the checksum, and `LoadedFile::network` built it before comparing it with the
/// tensors, so a layer size changed to 2^31 (16 × 2^31 weights, 128 GiB) aborted the
/// process in `Network::build`. The description is now checked against the values the
/// file holds first (`bptt/io.rs`, `LoadedFile::network`; `NetSpec::param_values`).
#[test]
fn huge_layers_in_metadata_are_refused_before_building() {
    for file in [0, 1] {
        for out in [1u64 << 31, 1 << 40, u64::MAX] {
            let bytes = with_metadata(file, "spikelab.network", |v| {
                // Layer 0 is the flatten before it.
                v["layers"][1]["out"] = out.into();
            });
            let path = scratch_path();
            std::fs::write(&path, &bytes).unwrap();
            let e = load_model(&path).err().unwrap().to_string();
            assert!(
                e.contains("spikelab.network") && e.contains("layer[1]"),
                "{e}"
            );
            if file == 1 {
                let e = Trainer::resume(&path).err().unwrap().to_string();
                assert!(e.contains("spikelab.network"), "{e}");
            }
            assert_eq!(check(&bytes), [true, false, false, false]);
        }
    }
    // Per-step batch norm with an absurd number of steps.
    let bytes = with_metadata(3, "spikelab.network", |v| {
        for l in v["layers"].as_array_mut().unwrap() {
            if l["type"] == "batch_norm" {
                l["per_step"] = true.into();
            }
        }
    });
    let (mut header, body) = split(&bytes).unwrap();
    header["__metadata__"]["spikelab.steps"] = (1u64 << 40).to_string().into();
    let bytes = join(&header, body);
    let path = scratch_path();
    std::fs::write(&path, &bytes).unwrap();
    let e = Trainer::resume(&path).err().unwrap().to_string();
    assert!(e.contains("batch_norm"), "{e}");
    assert_eq!(check(&bytes), [true, false, false, false]);
}

/// Found by the fuzzer: `stdp::train::load` built the network of the size in the
/// `config` metadata (not covered by the checksum) before reading the weights, and
/// `DiehlCook::new` listed its n² − n inhibitory pairs before the engine's memory
/// check, so `n_neurons = 65536` asked for 32 GiB and aborted. The loader now checks
/// the size against the weights tensor first (`stdp/train.rs`, `load`) and
/// `DiehlCook::new` refuses more than `MAX_NEURONS` (`stdp/diehl_cook.rs`).
#[test]
fn huge_stdp_networks_in_metadata_are_refused_before_building() {
    for n in [5u64, 65536, 1 << 31, u64::MAX] {
        let bytes = with_metadata(4, "config", |v| v["n_neurons"] = n.into());
        let path = scratch_path();
        std::fs::write(&path, &bytes).unwrap();
        let e = spikelab_train::stdp::train::load(&path)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("n_neurons"), "{e}");
        assert_eq!(check(&bytes), [true, false, false, false]);
    }
    let e = DiehlCook::new(DiehlCookConfig {
        n_neurons: 65536,
        ..DiehlCookConfig::default()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("n_neurons must be at most 32768"), "{e}");
}
