//! No reader panics on any byte sequence. Random bytes and mutations of
//! small real fixtures go to every reader; whatever a reader accepts must
//! also survive the summary and a native round trip unchanged.
//!
//! Runs 256 cases per property in CI (seconds). A longer run:
//! `PROPTEST_CASES=20000 cargo test --release archive::fuzz`.

use proptest::prelude::*;

use super::csv::tests::NB201_CSV_FIXTURE;
use super::native::tests::{reseal, sample};
use super::scores::tests::scores_fixture;
use super::suite_zero::tests::{NB101_FIXTURE, NB201_FIXTURE};
use super::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Whatever was accepted is a valid archive: it summarises and round-trips.
fn check_accepted(result: Result<Archive, ArchiveError>) {
    if let Ok(a) = result {
        let _ = a.summary().to_string();
        let _ = a.summary().to_markdown();
        for t in a.tasks() {
            let _ = t.missing_counts();
            let _ = a.params_column(t.name());
            if let Ok(csv) = task_csv(&a, t.name()) {
                assert!(csv.starts_with("arch"));
            }
        }
        let bytes = encode_native(&a).expect("an accepted archive encodes");
        let back = decode_native(&bytes, "round-trip").expect("an encoded archive decodes");
        assert_eq!(back, a);
    }
}

fn all_readers(bytes: &[u8]) {
    check_accepted(parse_suite_zero(bytes, "f.json", None));
    check_accepted(parse_suite_zero(
        bytes,
        "zc_transbench101_micro.json",
        Some(Space::Nb201),
    ));
    check_accepted(parse_csv(bytes, "f.csv", &CsvOptions::default()));
    check_accepted(parse_csv(
        bytes,
        "f.csv",
        &CsvOptions {
            truth: Some(vec!["cifar10_test_200ep".into()]),
            proxies: vec!["*".into()],
            space: Some(Space::Nb201),
            ..CsvOptions::default()
        },
    ));
    check_accepted(parse_scores(bytes, "f.jsonl", None));
    check_accepted(parse_scores(bytes, "f.jsonl", Some(Space::Nb201)));
    check_accepted(decode_native(bytes, "f.lswag"));
    check_accepted(decode_native(&reseal(bytes.to_vec()), "f.lswag"));
    check_accepted(parse_any(bytes, "f", &OpenOptions::default()).map(|(_, a)| a));
    let mut target = parse_csv(NB201_CSV_FIXTURE.as_bytes(), "t.csv", &CsvOptions::default()).expect("fixture");
    if attach_scores_bytes(&mut target, bytes, "f.jsonl", &AttachOptions::default()).is_ok() {
        check_accepted(Ok(target));
    }
}

fn fixtures() -> Vec<Vec<u8>> {
    vec![
        NB201_FIXTURE.as_bytes().to_vec(),
        NB101_FIXTURE.as_bytes().to_vec(),
        NB201_CSV_FIXTURE.as_bytes().to_vec(),
        scores_fixture().into_bytes(),
        encode_native(&sample()).expect("fixture encodes"),
    ]
}

/// One edit of a byte string.
#[derive(Clone, Debug)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    /// Copy a slice of the input over another place (duplicates keys, lines).
    Splice(usize, usize, usize),
    /// An interesting token at a place.
    Token(usize, usize),
}

const TOKENS: [&str; 12] = [
    "NaN",
    "-Infinity",
    "null",
    "\"",
    "{",
    "}",
    ",",
    "\n",
    "-1e8",
    "1e999",
    "\"val_accuracy\": ",
    "|none~0|",
];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Flip(p, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Insert(p, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), any::<usize>(), 0usize..64).prop_map(|(a, b, n)| Edit::Splice(a, b, n)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(p, t)| Edit::Token(p, t)),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len().max(1);
        match *e {
            Edit::Flip(p, b) => {
                if !bytes.is_empty() {
                    bytes[p % n] ^= b;
                }
            }
            Edit::Insert(p, b) => bytes.insert(p % (bytes.len() + 1), b),
            Edit::Delete(p) => {
                if !bytes.is_empty() {
                    bytes.remove(p % n);
                }
            }
            Edit::Truncate(p) => bytes.truncate(p % (bytes.len() + 1)),
            Edit::Splice(from, to, len) => {
                if !bytes.is_empty() {
                    let from = from % n;
                    let end = (from + len).min(bytes.len());
                    let piece = bytes[from..end].to_vec();
                    let to = to % (bytes.len() + 1);
                    bytes.splice(to..to, piece);
                }
            }
            Edit::Token(p, t) => {
                let at = p % (bytes.len() + 1);
                bytes.splice(at..at, TOKENS[t].bytes());
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        all_readers(&bytes);
    }

    #[test]
    fn mutated_fixtures_never_panic(which in 0usize..5, edits in proptest::collection::vec(edit(), 1..6)) {
        let base = fixtures().swap_remove(which);
        all_readers(&apply(base, &edits));
    }

    #[test]
    fn mutated_native_payloads_decode_or_error(edits in proptest::collection::vec(edit(), 1..4)) {
        // Re-sealed, so the decoder itself (not the checksum) meets the damage.
        let bytes = encode_native(&sample()).expect("fixture encodes");
        let (header, payload) = bytes.split_at(32);
        let mut damaged = header.to_vec();
        damaged.extend(apply(payload.to_vec(), &edits));
        check_accepted(decode_native(&reseal(damaged), "m.lswag"));
    }
}

#[test]
fn the_fixtures_themselves_are_accepted() {
    for f in fixtures() {
        let (_, a) = parse_any(&f, "fixture", &OpenOptions::default()).expect("fixture parses");
        check_accepted(Ok(a));
    }
}
