//! Benchmark archives: one in-memory model ([`Archive`] -> [`Task`] ->
//! [`Column`]), readers for every format users arrive with, the native
//! format the app saves, and operations (join, attach, subset, export).
//!
//! | format | reader | notes |
//! |---|---|---|
//! | native `.lswag` | [`read_native`] | versioned postcard, atomic writes |
//! | NAS-Bench-Suite-Zero `zc_*.json` | [`read_suite_zero`] | bare NaN/Infinity, -1e8 = missing |
//! | CSV | [`read_csv`] | key / truth / proxy columns, auto mode |
//! | `score` output `.jsonl` | [`read_scores`], [`attach_scores`] | proxies + LayerProfiles |
//!
//! [`open_any`] detects the format from the content (magic bytes, the first
//! JSON line) and the extension. No reader panics on any input: the
//! property test in `fuzz` feeds random and mutated files to all of them
//! (`PROPTEST_CASES=20000 cargo test --release archive::fuzz` for a longer run).

mod csv;
mod error;
#[cfg(test)]
mod fuzz;
mod json;
mod model;
mod native;
mod ops;
mod plausible;
mod scores;
mod suite_zero;

use std::io::Read;
use std::path::Path;

pub use self::csv::{CsvOptions, parse_csv, read_csv};
pub use error::{ArchiveError, BadKey, Conflict, Location};
pub use model::{
    Archive, ArchiveBuilder, Column, ColumnId, FAILED_SENTINEL, Provenance, ProxySummary, SCORES_TASK, Space, Summary,
    Task, TaskId, TaskSummary, Values, clean_value, now_rfc3339,
};
pub use native::{
    BenchConfig, BenchReport, MAGIC, NATIVE_EXTENSION, OLDEST_READABLE_VERSION, OpenMeasurement, SCHEMA_VERSION,
    bench_native, checksum, decode_native, encode_native, measure_open, proc_bytes, process_alive, read_native,
    synthetic_nb201, write_atomic, write_native,
};
pub use ops::{Prefer, convert, export, export_task_csv, format_value, info, join, join_files, task_csv};
pub use plausible::implausible_truth;
pub use scores::{
    AttachOptions, AttachReport, UnknownKeys, attach_scores, attach_scores_bytes, attach_scores_with, parse_scores,
    read_scores,
};
pub use suite_zero::{LOWER_IS_BETTER, parse_suite_zero, read_suite_zero, read_suite_zero_as};

/// The formats [`open_any`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Native,
    SuiteZero,
    ScoresJsonl,
    Csv,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::SuiteZero => "nas-bench-suite-zero",
            Format::ScoresJsonl => "score-jsonl",
            Format::Csv => "csv",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        match name.trim().to_ascii_lowercase().as_str() {
            "native" | "lswag" => Some(Format::Native),
            "nas-bench-suite-zero" | "suite-zero" | "suitezero" | "json" => Some(Format::SuiteZero),
            "score-jsonl" | "scores" | "jsonl" => Some(Format::ScoresJsonl),
            "csv" | "tsv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// How [`open_with`] reads a file. The default detects everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpenOptions {
    /// Skip detection.
    pub format: Option<Format>,
    /// The space, for formats that cannot always tell (CSV, JSON).
    pub space: Option<Space>,
    pub csv: CsvOptions,
}

/// How many leading bytes detection looks at.
const SNIFF_BYTES: usize = 64 * 1024;

/// Detects the format of `head` (the start of a file called `name`):
/// native magic bytes first, then a first line that is a complete JSON
/// object with `provenance` or `arch` (a score run), then any other JSON
/// (Suite-Zero), then CSV by extension or a delimiter in the first line.
pub fn sniff_format(head: &[u8], name: &str) -> Result<Format, String> {
    if head.starts_with(&MAGIC) {
        return Ok(Format::Native);
    }
    let ext = Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if ext == NATIVE_EXTENSION {
        return Ok(Format::Native);
    }
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        return Err("it is UTF-16 text; save it as UTF-8".to_string());
    }
    let body = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head).trim_ascii_start();
    if body.is_empty() {
        return Err("the file is empty".to_string());
    }
    if body.contains(&0) {
        return Err("it holds binary data (NUL bytes): not a native archive, JSON or CSV".to_string());
    }
    if body[0] == b'[' {
        return Err(
            "it is a JSON array; the JSON formats read here are objects (a Suite-Zero file, or score lines)"
                .to_string(),
        );
    }
    let first_line = body.split(|&b| b == b'\n').next().unwrap_or(body);
    if body[0] == b'{' {
        let cleaned = json::nan_tokens_to_null(first_line.trim_ascii());
        if let Ok(json::Json::Obj(fields)) = serde_json::from_slice::<json::Json>(&cleaned)
            && fields.iter().any(|(k, _)| k == "provenance" || k == "arch")
        {
            return Ok(Format::ScoresJsonl);
        }
        if ext == "jsonl" || ext == "ndjson" {
            return Ok(Format::ScoresJsonl);
        }
        return Ok(Format::SuiteZero);
    }
    if ext == "csv" || ext == "tsv" || first_line.contains(&b',') || first_line.contains(&b'\t') {
        return Ok(Format::Csv);
    }
    Err(
        "it is not a native archive (no magic bytes), not JSON (no leading `{`) and not CSV \
         (no `.csv` extension, no delimiter in the first line)"
            .to_string(),
    )
}

/// Detects the format of a file from its first bytes and its name.
pub fn detect_format(path: &Path) -> Result<Format, ArchiveError> {
    let file = path.display().to_string();
    let read_err = |source| ArchiveError::Read {
        file: file.clone(),
        source,
    };
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    std::fs::File::open(path)
        .map_err(read_err)?
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(read_err)?;
    sniff_format(&head, &file).map_err(|reason| ArchiveError::UnknownFormat {
        file: file.clone(),
        reason,
    })
}

/// The format `opts` names, else the one detected from the file.
pub fn detect_format_with(path: &Path, opts: &OpenOptions) -> Result<Format, ArchiveError> {
    match opts.format {
        Some(f) => Ok(f),
        None => detect_format(path),
    }
}

/// Reads bytes in a known format; `source` names them in messages.
pub fn parse_as(format: Format, bytes: &[u8], source: &str, opts: &OpenOptions) -> Result<Archive, ArchiveError> {
    // Editors on Windows write a UTF-8 byte-order mark; no text format here has one.
    let bytes = match format {
        Format::Native => bytes,
        _ => bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes),
    };
    match format {
        Format::Native => decode_native(bytes, source),
        Format::SuiteZero => parse_suite_zero(bytes, source, opts.space.clone()),
        Format::ScoresJsonl => parse_scores(bytes, source, opts.space.clone()),
        Format::Csv => {
            let mut csv = opts.csv.clone();
            if csv.space.is_none() {
                csv.space = opts.space.clone();
            }
            parse_csv(bytes, source, &csv)
        }
    }
}

/// Detects the format of bytes (unless given) and reads them.
pub fn parse_any(bytes: &[u8], source: &str, opts: &OpenOptions) -> Result<(Format, Archive), ArchiveError> {
    let format = match opts.format {
        Some(f) => return Ok((f, parse_as(f, bytes, source, opts)?)),
        None => sniff_format(&bytes[..bytes.len().min(SNIFF_BYTES)], source).map_err(|reason| {
            ArchiveError::UnknownFormat {
                file: source.to_string(),
                reason,
            }
        })?,
    };
    let archive = parse_as(format, bytes, source, opts).map_err(|e| match e {
        // A native archive's own errors already say it is one.
        e @ (ArchiveError::Corrupt { .. } | ArchiveError::Version { .. }) => e,
        e => ArchiveError::AsDetected {
            format: format.name(),
            inner: Box::new(e),
        },
    })?;
    Ok((format, archive))
}

/// Opens a file in any format, returning the format it was read as.
pub fn open_detected(path: &Path, opts: &OpenOptions) -> Result<(Format, Archive), ArchiveError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ArchiveError::Read {
        file: file.clone(),
        source,
    })?;
    parse_any(&bytes, &file, opts)
}

/// Opens a file in any format with options.
pub fn open_with(path: &Path, opts: &OpenOptions) -> Result<Archive, ArchiveError> {
    open_detected(path, opts).map(|(_, a)| a)
}

/// Opens a file in any format, detected.
pub fn open_any(path: &Path) -> Result<Archive, ArchiveError> {
    open_with(path, &OpenOptions::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::csv::tests::NB201_CSV_FIXTURE;
    use crate::archive::scores::tests::scores_fixture;
    use crate::archive::suite_zero::tests::{NB101_FIXTURE, NB201_FIXTURE};
    use crate::testdata::shared_data_dir;

    #[test]
    fn formats_are_sniffed_from_content_then_extension() {
        let native = encode_native(&native::tests::sample()).unwrap();
        assert_eq!(sniff_format(&native, "x.bin"), Ok(Format::Native));
        assert_eq!(sniff_format(b"garbage", "x.lswag"), Ok(Format::Native));
        assert_eq!(sniff_format(NB201_FIXTURE.as_bytes(), "x.json"), Ok(Format::SuiteZero));
        assert_eq!(sniff_format(NB101_FIXTURE.as_bytes(), "x"), Ok(Format::SuiteZero));
        assert_eq!(
            sniff_format(scores_fixture().as_bytes(), "x.json"),
            Ok(Format::ScoresJsonl)
        );
        assert_eq!(sniff_format(b"{\"arch\": \"x\"}\n", "x"), Ok(Format::ScoresJsonl));
        assert_eq!(sniff_format(b"{\"cifar10\": 1}", "x.jsonl"), Ok(Format::ScoresJsonl));
        assert_eq!(sniff_format(NB201_CSV_FIXTURE.as_bytes(), "x.txt"), Ok(Format::Csv));
        assert_eq!(sniff_format(b"arch\n", "x.csv"), Ok(Format::Csv));
        assert!(sniff_format(b"   ", "x.csv").is_err());
        assert!(sniff_format(b"hello", "x").is_err());
        for f in [Format::Native, Format::SuiteZero, Format::ScoresJsonl, Format::Csv] {
            assert_eq!(Format::from_name(f.name()), Some(f));
        }
    }

    #[test]
    fn parse_any_reads_every_fixture() {
        let opts = OpenOptions::default();
        let (f, a) = parse_any(NB201_FIXTURE.as_bytes(), "zc.json", &opts).unwrap();
        assert_eq!((f, a.len()), (Format::SuiteZero, 3));
        let (f, a) = parse_any(NB201_CSV_FIXTURE.as_bytes(), "a.csv", &opts).unwrap();
        assert_eq!((f, a.len()), (Format::Csv, 3));
        let (f, a) = parse_any(scores_fixture().as_bytes(), "s.jsonl", &opts).unwrap();
        assert_eq!((f, a.len()), (Format::ScoresJsonl, 2));
        let err = parse_any(b"\x00\x01", "x", &opts).unwrap_err().to_string();
        assert!(err.contains("cannot tell its format"), "{err}");
    }

    #[test]
    fn every_shared_file_opens_through_open_any() {
        let Some(dir) = shared_data_dir() else { return };
        for (file, format, records) in [
            ("suite_zero/zc_nasbench201.json", Format::SuiteZero, 725),
            ("suite_zero/zc_nasbench101.json", Format::SuiteZero, 500),
            ("suite_zero/zc_nasbench301.json", Format::SuiteZero, 725),
            ("suite_zero/zc_transbench101_micro.json", Format::SuiteZero, 711),
            ("suite_zero/zc_transbench101_macro.json", Format::SuiteZero, 725),
            ("nb201/nb201_accuracies.csv", Format::Csv, 15_625),
        ] {
            let path = dir.join(file);
            assert_eq!(detect_format(&path).unwrap(), format, "{file}");
            assert_eq!(open_any(&path).unwrap().len(), records, "{file}");
        }
        let err = open_any(&dir.join("cifar10/cifar10_test_1000.bin"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cifar10_test_1000.bin"), "{err}");
    }

    #[test]
    fn a_reader_error_says_which_format_was_detected() {
        let opts = OpenOptions::default();
        let e = parse_any(b"{\"cifar10\": [1, 2", "x.json", &opts)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x.json") && e.contains("read as nas-bench-suite-zero"),
            "{e}"
        );
        let e = parse_any(b"arch,acc\nx,1,2\n", "x.txt", &opts).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("read as csv"), "{e}");
        // A named format needs no such note.
        let named = OpenOptions {
            format: Some(Format::Csv),
            ..OpenOptions::default()
        };
        let e = parse_any(b"arch,acc\nx,1,2\n", "x.txt", &named)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("read as"), "{e}");
    }

    #[test]
    fn a_byte_order_mark_is_skipped_and_utf16_binary_and_arrays_are_named() {
        let opts = OpenOptions::default();
        for (text, name, records) in [
            (NB201_FIXTURE.to_string(), "zc.json", 3),
            (NB201_CSV_FIXTURE.to_string(), "a.csv", 3),
            (scores_fixture(), "s.jsonl", 2),
        ] {
            let with_bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
            let (_, plain) = parse_any(text.as_bytes(), name, &opts).unwrap();
            let (_, bom) = parse_any(&with_bom, name, &opts).unwrap();
            assert_eq!((bom.len(), bom.keys()), (records, plain.keys()), "{name}");
        }
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("{\"a\": 1}".bytes().flat_map(|b| [b, 0]))
            .collect();
        for (bytes, expected) in [
            (utf16.as_slice(), "UTF-16"),
            (b"{\x00\x01\x02".as_slice(), "binary data"),
            (b"arch,acc\n\x00\x00".as_slice(), "binary data"),
            (b"[{\"arch\": 1}]".as_slice(), "JSON array"),
        ] {
            let err = parse_any(bytes, "x.json", &opts).unwrap_err().to_string();
            assert!(err.contains(expected) && err.contains("x.json"), "{expected}: {err}");
        }
    }
}
