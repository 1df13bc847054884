//! Fuzzing the model-file parser and validator with proptest: arbitrary strings and
//! mutations of the example model files (`examples/*.toml`) must give `Ok` or an
//! error, never a panic, and must not allocate absurd memory (a guard allocator counts
//! every allocation over 64 MiB); whatever validates must serialise and parse back to
//! the same network. Only parsing and validation run here, no simulation.

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use spikelab_core::network::NetworkSpec;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

/// Allocations above this count as absurd for parsing and validating a model file.
const LARGE: usize = 64 << 20;
/// Allocations above this are refused outright (the process aborts) to protect the
/// machine; the counter catches anything between `LARGE` and this first.
const REFUSE: usize = 2 << 30;

thread_local! {
    static LARGE_ALLOCS: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, counting large allocations per thread.
struct Guard;

unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LARGE {
            let _ = LARGE_ALLOCS.try_with(|c| c.set(c.get() + 1));
            if layout.size() > REFUSE {
                return std::ptr::null_mut();
            }
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LARGE {
            let _ = LARGE_ALLOCS.try_with(|c| c.set(c.get() + 1));
            if layout.size() > REFUSE {
                return std::ptr::null_mut();
            }
        }
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > LARGE {
            let _ = LARGE_ALLOCS.try_with(|c| c.set(c.get() + 1));
            if new_size > REFUSE {
                return std::ptr::null_mut();
            }
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GUARD: Guard = Guard;

fn large_allocs() -> usize {
    LARGE_ALLOCS.with(|c| c.get())
}

/// The example model files, as text.
fn examples() -> &'static [String] {
    static FILES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    FILES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        assert!(paths.len() >= 5, "examples/*.toml not found in {dir:?}");
        paths
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    })
}

/// Tokens that replace numbers: huge, negative, zero, not-a-number, limits of the
/// integer types the fields use.
const NUMBERS: &[&str] = &[
    "1e308",
    "-1e308",
    "-1",
    "nan",
    "-nan",
    "inf",
    "-inf",
    "0",
    "-0.0",
    "1e-308",
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "4294967295",
    "2147483647",
    "2147483648",
    "65535",
    "65536",
    "1e12",
    "1e15",
    "0.5",
    "3",
];

/// Byte ranges of the numbers in `text` (a digit, or a sign followed by a digit, not
/// inside a word, then digits, `.`, `_`, exponent characters).
fn number_spans(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = b[i].is_ascii_digit()
            || ((b[i] == b'-' || b[i] == b'+') && b.get(i + 1).is_some_and(u8::is_ascii_digit));
        let in_word = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if starts && !in_word {
            let mut j = i + 1;
            while j < b.len()
                && (b[j].is_ascii_digit()
                    || matches!(b[j], b'.' | b'_' | b'e' | b'E')
                    || (matches!(b[j], b'-' | b'+') && matches!(b[j - 1], b'e' | b'E')))
            {
                j += 1;
            }
            spans.push((i, j));
            i = j;
        } else {
            i += 1;
        }
    }
    spans
}

/// Byte ranges of the double-quoted strings in `text` (quotes included).
fn string_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut open = None;
    for (i, c) in text.bytes().enumerate() {
        if c == b'\n' {
            open = None;
        } else if c == b'"' {
            match open.take() {
                None => open = Some(i),
                Some(o) => spans.push((o, i + 1)),
            }
        }
    }
    spans
}

/// One edit of a model file; `a`, `b` pick positions (taken modulo the length) and
/// `bytes` is the new content where one is needed.
#[derive(Clone, Debug)]
struct Edit {
    kind: u8,
    a: usize,
    b: usize,
    bytes: Vec<u8>,
}

const EDIT_KINDS: u8 = 7;

fn apply(text: &str, e: &Edit) -> String {
    let mut b = text.as_bytes().to_vec();
    let n = b.len().max(1);
    match e.kind % EDIT_KINDS {
        // Replace a short byte range with random bytes.
        0 => {
            let lo = (e.a % n).min(b.len());
            let hi = (lo + e.b % 8).min(b.len());
            b.splice(lo..hi, e.bytes.iter().copied());
        }
        // Delete a range (up to a few lines).
        1 => {
            let lo = (e.a % n).min(b.len());
            let hi = (lo + e.b % 200).min(b.len());
            b.drain(lo..hi);
        }
        // Duplicate a line (or a block of up to four lines).
        2 => {
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            if lines.is_empty() {
                return text.to_string();
            }
            let lo = e.a % lines.len();
            let hi = (lo + 1 + e.b % 4).min(lines.len());
            let block: String = lines[lo..hi].concat();
            let mut out: String = lines[..hi].concat();
            out.push_str(&block);
            out.push_str(&lines[hi..].concat());
            return out;
        }
        // Replace a number with a huge, negative or non-finite token.
        3 | 4 => {
            let spans = number_spans(text);
            if spans.is_empty() {
                return text.to_string();
            }
            let (lo, hi) = spans[e.a % spans.len()];
            b.splice(lo..hi, NUMBERS[e.b % NUMBERS.len()].bytes());
        }
        // Replace a string with another string of the file (names that clash or
        // refer to the wrong thing).
        5 => {
            let spans = string_spans(text);
            if spans.is_empty() {
                return text.to_string();
            }
            let (lo, hi) = spans[e.a % spans.len()];
            let (slo, shi) = spans[e.b % spans.len()];
            let with = text[slo..shi].to_string();
            b.splice(lo..hi, with.bytes());
        }
        // Truncate.
        _ => b.truncate(e.a % (b.len() + 1)),
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// Example `file` (modulo their number) with `edits` applied in order.
fn mutate(file: usize, edits: &[Edit]) -> String {
    let files = examples();
    let mut text = files[file % files.len()].clone();
    for e in edits {
        text = apply(&text, e);
    }
    text
}

/// Parses and validates `text`; true when it validates. Panics (a bug) when
/// validation allocates more than 64 MiB, when an error has no message, or when a
/// valid network does not round-trip through its model-file text.
fn check(text: &str) -> bool {
    let before = large_allocs();
    let path = Path::new("fuzz.toml");
    let parsed = NetworkSpec::from_toml_str(text, path);
    let valid = parsed
        .as_ref()
        .map_err(|e| e.to_string())
        .and_then(|spec| spec.validate().map_err(|e| e.to_string()));
    assert_eq!(
        large_allocs(),
        before,
        "parsing and validating allocated more than {LARGE} bytes at once"
    );
    match valid {
        Ok(()) => {
            let spec = parsed.unwrap();
            let again = spec.to_toml_string().unwrap();
            let back = NetworkSpec::from_toml_str(&again, path).unwrap();
            back.validate().unwrap();
            assert_eq!(back, spec, "the valid network does not round-trip");
            true
        }
        Err(message) => {
            assert!(!message.is_empty());
            false
        }
    }
}

fn edit() -> impl Strategy<Value = Edit> {
    (
        0..EDIT_KINDS,
        any::<usize>(),
        any::<usize>(),
        prop::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(|(kind, a, b, bytes)| Edit { kind, a, b, bytes })
}

fn random_edit(rng: &mut impl Rng) -> Edit {
    let len = rng.random_range(0..8);
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
    #![proptest_config(config(3000))]

    #[test]
    fn parser_never_panics_on_arbitrary_strings(text in "\\PC{0,300}") {
        check(&text);
    }

    #[test]
    fn parser_never_panics_on_toml_like_strings(
        text in "[\\[\\]a-z_.=\"{},0-9 \n-]{0,300}",
        prefix in 0usize..5,
    ) {
        // Also after a valid header, so that the text is read as fields of a table.
        let heads = ["", "[simulation]\n", "[[population]]\n", "[[projection]]\n", "[[monitor]]\n"];
        check(&format!("{}{text}", heads[prefix]));
    }

    #[test]
    fn validator_never_panics_on_mutated_examples(
        file in 0usize..16,
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        check(&mutate(file, &edits));
    }
}

/// Every example validates and round-trips unmutated.
#[test]
fn examples_validate() {
    for text in examples() {
        assert!(check(text));
    }
}

/// A fixed, seeded run of 20,000 mutated examples (`SPIKELAB_FUZZ_RUNS` and
/// `SPIKELAB_FUZZ_SEED` change the number and the seed), counting outcomes: none may
/// panic.
#[test]
fn seeded_mutations_never_panic() {
    let mut rng =
        rand::rngs::StdRng::seed_from_u64(env_or("SPIKELAB_FUZZ_SEED", 0x5eed_f022) as u64);
    let (mut ok, mut err, mut panics) = (0, 0, Vec::new());
    let runs = env_or("SPIKELAB_FUZZ_RUNS", 20_000);
    for _ in 0..runs {
        let file = rng.random_range(0..16);
        let edits: Vec<Edit> = (0..rng.random_range(1..4))
            .map(|_| random_edit(&mut rng))
            .collect();
        let text = mutate(file, &edits);
        match std::panic::catch_unwind(|| check(&text)) {
            Ok(true) => ok += 1,
            Ok(false) => err += 1,
            Err(_) => panics.push(text),
        }
    }
    println!(
        "model files: {runs} inputs, {ok} Ok, {err} Err, {} panics",
        panics.len()
    );
    assert_eq!(ok + err + panics.len(), runs);
    assert!(
        panics.is_empty(),
        "{} inputs panicked; the first:\n{}",
        panics.len(),
        panics[0]
    );
    assert!(ok > 0 && err > 0, "{ok} Ok, {err} Err");
}

/// Found while fuzzing (the `2147483647` size token): a population of 2^31 - 1 neurons (the largest size allowed)
/// with a spike or state monitor of every neuron made `validate` list the recorded
/// neurons, 8 GiB of indices, before the backend's memory check could refuse the
/// network. The plan now keeps the selection (`engine/plan.rs`, `resolve_monitor`).
#[test]
fn largest_populations_validate_without_allocating_per_neuron() {
    let mut valid = 0;
    for text in examples() {
        let mut big = String::new();
        for line in text.split_inclusive('\n') {
            if line.starts_with("size = ") {
                big.push_str("size = 2147483647\n");
            } else {
                big.push_str(line);
            }
        }
        // The monitor selections of every kind: all, first N, a list.
        valid += usize::from(check(&big));
        valid += usize::from(check(&big.replace(
            "population = \"exc\"\n",
            "population = \"exc\"\nneurons = { first = 2147483647 }\n",
        )));
    }
    assert!(valid >= 3, "only {valid} of the enlarged files validate");
}
