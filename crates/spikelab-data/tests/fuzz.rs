//! Fuzzing the parsers with proptest: arbitrary byte strings and mutations of valid
//! files (raw and gzip) must give `Ok` or an error, never a panic; whatever parses
//! must be self-consistent.

use proptest::prelude::*;
use spikelab_core::encoding::{Event, Polarity};
use spikelab_data::events::{
    encode_csv, encode_nmnist, encode_npy, parse_csv, parse_nmnist, parse_npy,
};
use spikelab_data::idx::{parse_idx, IdxArray, IdxData};
use std::io::Write;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn valid_idx() -> Vec<u8> {
    IdxArray::from_u8(vec![4, 3, 2], (0..24).collect())
        .unwrap()
        .to_bytes()
        .unwrap()
}

fn events() -> Vec<Event> {
    (0..20u64)
        .map(|k| Event {
            t_us: k * 977,
            x: (k % 34) as u16,
            y: (k * 7 % 34) as u16,
            polarity: if k % 2 == 0 {
                Polarity::On
            } else {
                Polarity::Off
            },
        })
        .collect()
}

fn valid_nmnist() -> Vec<u8> {
    let events: Vec<Event> = (0..20u64)
        .map(|k| Event {
            t_us: k * 977,
            x: (k % 34) as u16,
            y: (k * 7 % 34) as u16,
            polarity: if k % 2 == 0 {
                Polarity::On
            } else {
                Polarity::Off
            },
        })
        .collect();
    encode_nmnist(&events).unwrap()
}

/// Applies `edits` (position, new byte; position 0 of an empty file is ignored)
/// and then truncates to `keep` bytes of the result (if smaller).
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], keep: usize) -> Vec<u8> {
    for &(pos, b) in edits {
        if !bytes.is_empty() {
            let p = pos % bytes.len();
            bytes[p] = b;
        }
    }
    bytes.truncate(keep.min(bytes.len()));
    bytes
}

fn check_idx(bytes: &[u8]) {
    if let Ok(a) = parse_idx(bytes) {
        let n: usize = a.dims.iter().product();
        assert_eq!(n, a.len());
        assert!(matches!(a.data, IdxData::U8(_)) || a.dtype().size() > 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn idx_parser_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        check_idx(&bytes);
        // Also with a plausible header in front: two zero bytes, a type and a rank.
        let mut b = vec![0, 0, [8u8, 9, 0x0B, 0x0C, 0x0D, 0x0E][bytes.len() % 6], (bytes.len() % 5) as u8];
        b.extend_from_slice(&bytes);
        check_idx(&b);
    }

    #[test]
    fn idx_parser_never_panics_on_mutated_valid_files(
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        keep in 0usize..60,
        gz in any::<bool>(),
    ) {
        let base = if gz { gzip(&valid_idx()) } else { valid_idx() };
        check_idx(&mutate(base, &edits, keep));
        // Mutations that keep the length: only the header matters for success.
        let base = if gz { gzip(&valid_idx()) } else { valid_idx() };
        check_idx(&mutate(base, &edits, usize::MAX));
    }

    #[test]
    fn event_parsers_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        keep in 0usize..120,
    ) {
        if let Ok(ev) = parse_nmnist(&bytes, "fuzz") {
            prop_assert_eq!(ev.len() * 5 + bytes.iter().skip(1).step_by(5).filter(|&&y| y == 240).count() * 5, bytes.len());
        }
        let m = mutate(valid_nmnist(), &edits, keep);
        let _ = parse_nmnist(&m, "fuzz");
        let m = mutate(encode_npy(&events()).unwrap(), &edits, keep + 100);
        let _ = parse_npy(&m, "fuzz");
        let m = mutate(encode_csv(&events()).into_bytes(), &edits, keep * 2);
        let _ = parse_csv(&String::from_utf8_lossy(&m), "fuzz");
        let _ = parse_csv(&String::from_utf8_lossy(&bytes), "fuzz");
        let _ = parse_npy(&bytes, "fuzz");
    }
}
