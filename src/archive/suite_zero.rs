//! NAS-Bench-Suite-Zero `zc_*.json` files (NASLib, zerocost branch).
//!
//! Layout: `{task: {arch_key: {"idx", "arch", "val_accuracy", proxy: {"score",
//! "time"}, ...}}}`, possibly under one wrapper key (`zc_nasbench101.json`:
//! `{"nasbench101": {"cifar10": ...}}`, where proxies are bare numbers and
//! there is no `idx`/`arch`). Both proxy forms are read; `time` is dropped.
//!
//! - `val_accuracy` is the ground truth. It must be a finite number: a
//!   missing, `NaN` or `-1e8` accuracy is an error, not a missing value.
//! - Proxy values of `-1e8` (failed evaluation), `NaN`, `±Infinity` and
//!   `null` are missing values, and a proxy absent from a record is missing
//!   there too (`synflow` on one NB201 record).
//! - Keys are canonicalised by the space: NB201 tuples become arch strings.
//!   Other spaces keep NASLib's key text.
//! - Sign convention: every Suite-Zero proxy is "higher is better" as stored,
//!   as far as we know. [`LOWER_IS_BETTER`] is the hook for one that is not:
//!   it is negated at load and its column says `negated`.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::json;

use super::error::{ArchiveError, BadKey, Location};
use super::json::{self, Json};
use super::model::{Archive, ArchiveBuilder, ColumnId, FAILED_SENTINEL, Provenance, Space};

/// Suite-Zero proxies stored with "lower is better"; none known.
pub const LOWER_IS_BETTER: &[&str] = &[];

/// The seven TransNAS-Bench-101 tasks.
const TRANSNAS_TASKS: [&str; 7] = [
    "class_scene",
    "class_object",
    "autoencoder",
    "normal",
    "jigsaw",
    "room_layout",
    "segmentsemantic",
];

/// Metadata fields of a record, not proxies.
const METADATA: [&str; 2] = ["idx", "arch"];

pub fn read_suite_zero(path: &Path) -> Result<Archive, ArchiveError> {
    read_suite_zero_as(path, None)
}

/// Reads with a given space instead of detecting it.
pub fn read_suite_zero_as(path: &Path, space: Option<Space>) -> Result<Archive, ArchiveError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ArchiveError::Read {
        file: file.clone(),
        source,
    })?;
    parse_suite_zero(&bytes, &file, space)
}

/// Parses the bytes of a Suite-Zero file; `source` names it in messages and
/// provenance (and its file name helps tell TransNAS micro from macro).
pub fn parse_suite_zero(bytes: &[u8], source: &str, space: Option<Space>) -> Result<Archive, ArchiveError> {
    let root = json::parse(bytes, source)?;
    let (prefix, tasks) = find_tasks(&root, source)?;
    let space = match space {
        Some(s) => s,
        None => detect_space(source, &prefix, tasks)?,
    };
    let config = json!({
        "format": "nas-bench-suite-zero",
        "space": space.name(),
        "wrapper": prefix,
    });
    let mut b = ArchiveBuilder::new(space.clone());
    let prov = b.add_provenance(Provenance::new(source, config.to_string()));
    let path =
        |rest: &[&str]| -> Location { Location::KeyPath(prefix.iter().chain(rest).map(|s| s.to_string()).collect()) };

    let mut task_names: HashSet<&str> = HashSet::new();
    for (task_name, task_value) in tasks {
        if !task_names.insert(task_name) {
            return Err(ArchiveError::unexpected(
                source,
                path(&[task_name]),
                "each task once",
                "the task a second time",
            ));
        }
        if task_name.is_empty() {
            return Err(ArchiveError::unexpected(
                source,
                path(&[task_name]),
                "a task name",
                "an empty key",
            ));
        }
        let records = task_value.as_obj().ok_or_else(|| {
            ArchiveError::unexpected(
                source,
                path(&[task_name]),
                "an object {architecture: record}",
                task_value.describe(),
            )
        })?;
        let tid = b.task(task_name, Some(prov));
        // Raw key of each row seen in this task, to name both spellings of a duplicate.
        let mut seen: Vec<Option<&str>> = Vec::new();
        let mut columns: HashMap<&str, ColumnId> = HashMap::new();
        for (raw_key, record) in records {
            let key = space.canonical_key(raw_key).map_err(|reason| {
                ArchiveError::BadKey(Box::new(BadKey {
                    file: source.to_string(),
                    at: path(&[task_name, raw_key]),
                    key: raw_key.clone(),
                    space: space.name().to_string(),
                    reason,
                }))
            })?;
            let row = b.row(&key);
            if seen.len() <= row {
                seen.resize(row + 1, None);
            }
            if let Some(first) = seen[row] {
                return Err(ArchiveError::DuplicateKey {
                    file: source.to_string(),
                    at: path(&[task_name, raw_key]),
                    key,
                    first: path(&[task_name, first]),
                });
            }
            seen[row] = Some(raw_key);
            let fields = record.as_obj().ok_or_else(|| {
                ArchiveError::unexpected(
                    source,
                    path(&[task_name, raw_key]),
                    "an object with `val_accuracy` and proxies",
                    record.describe(),
                )
            })?;
            let mut has_truth = false;
            let mut seen_fields: HashSet<&str> = HashSet::with_capacity(fields.len());
            for (field, value) in fields {
                let at = || path(&[task_name, raw_key, field]);
                if !seen_fields.insert(field) {
                    return Err(ArchiveError::unexpected(
                        source,
                        at(),
                        "each field once",
                        "it a second time",
                    ));
                }
                if field == "val_accuracy" {
                    let v = match value {
                        Json::Num(v) if v.is_finite() && *v != FAILED_SENTINEL => *v,
                        other => {
                            return Err(ArchiveError::unexpected(
                                source,
                                at(),
                                "a finite accuracy (ground truth cannot be missing)",
                                other.describe(),
                            ));
                        }
                    };
                    b.set_truth(tid, row, v);
                    has_truth = true;
                } else if METADATA.contains(&field.as_str()) {
                    continue;
                } else if field.is_empty() {
                    return Err(ArchiveError::unexpected(
                        source,
                        at(),
                        "a proxy name",
                        "an empty field name",
                    ));
                } else {
                    let v = proxy_value(value).ok_or_else(|| {
                        ArchiveError::unexpected(
                            source,
                            at(),
                            "a number, null, or {\"score\": number, \"time\": number}",
                            value.describe(),
                        )
                    })?;
                    let negated = LOWER_IS_BETTER.contains(&field.as_str());
                    let col = *columns
                        .entry(field)
                        .or_insert_with(|| b.column(tid, field, prov, negated));
                    b.set(col, row, if negated { -v } else { v });
                }
            }
            if !has_truth {
                return Err(ArchiveError::unexpected(
                    source,
                    path(&[task_name, raw_key]),
                    "a `val_accuracy` field (the ground truth)",
                    "a record without it",
                ));
            }
        }
    }
    b.build()
}

/// A proxy value: a number, `null` (missing), or `{"score": number|null}`.
fn proxy_value(value: &Json) -> Option<f64> {
    match value {
        Json::Num(v) => Some(*v),
        Json::Null => Some(f64::NAN),
        Json::Obj(_) => match value.get("score")? {
            Json::Num(v) => Some(*v),
            Json::Null => Some(f64::NAN),
            _ => None,
        },
        _ => None,
    }
}

/// A record: an object with a `val_accuracy` field.
fn is_record(v: &Json) -> bool {
    v.get("val_accuracy").is_some()
}

/// A task: a non-empty object whose first value is a record.
fn is_task(v: &Json) -> bool {
    v.as_obj().and_then(|o| o.first()).is_some_and(|(_, r)| is_record(r))
}

type Fields = [(String, Json)];

/// Finds the `{task: {key: record}}` level, through at most two wrapper
/// keys. Returns the wrapper path and the tasks.
fn find_tasks<'a>(root: &'a Json, source: &str) -> Result<(Vec<&'a str>, &'a Fields), ArchiveError> {
    let mut prefix: Vec<&str> = Vec::new();
    let mut cur = root;
    for _ in 0..3 {
        let found = match cur.as_obj() {
            Some(obj) if !obj.is_empty() && obj.iter().all(|(_, v)| is_task(v)) => return Ok((prefix, obj)),
            Some([(wrapper, inner)]) if inner.as_obj().is_some() => {
                prefix.push(wrapper);
                cur = inner;
                continue;
            }
            Some([]) => "an empty object".to_string(),
            Some(_) => "an object whose values are not all tasks of records".to_string(),
            None => cur.describe(),
        };
        let at = if prefix.is_empty() {
            Location::File
        } else {
            Location::KeyPath(prefix.iter().map(|s| s.to_string()).collect())
        };
        return Err(ArchiveError::unexpected(
            source,
            at,
            "{task: {architecture: {\"val_accuracy\": number, proxy: {\"score\": number}}}}",
            found,
        ));
    }
    Err(ArchiveError::unexpected(
        source,
        Location::KeyPath(prefix.iter().map(|s| s.to_string()).collect()),
        "tasks within two wrapper levels",
        "deeper nesting",
    ))
}

/// Integers of a Python tuple string `(1, 0, 2)`.
fn tuple_values(key: &str) -> Option<Vec<i64>> {
    let inner = key.trim().strip_prefix('(')?.strip_suffix(')')?;
    inner.split(',').map(|v| v.trim().parse().ok()).collect()
}

/// Which space a file holds: its wrapper key, then the shape of its tasks
/// and keys, then its file name to tell TransNAS micro from macro.
fn detect_space(source: &str, prefix: &[&str], tasks: &Fields) -> Result<Space, ArchiveError> {
    if let Some(w) = prefix.first() {
        let s = Space::from_name(w);
        if !matches!(s, Space::Other(_)) {
            return Ok(s);
        }
    }
    let file_name = Path::new(source)
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let keys = || {
        tasks
            .iter()
            .filter_map(|(_, t)| t.as_obj())
            .flatten()
            .map(|(k, _)| k.as_str())
    };
    if tasks.iter().all(|(name, _)| TRANSNAS_TASKS.contains(&name.as_str())) {
        // Micro keys are 6 ops in 0..=3 where 0 (none) may sit anywhere;
        // macro keys are up to 6 blocks in 1..=4, padded with trailing 0s.
        let tuples: Vec<Vec<i64>> = keys().filter_map(tuple_values).collect();
        let macro_sign = tuples.iter().any(|t| t.len() != 6 || t.contains(&4));
        let micro_sign = tuples.iter().any(|t| {
            let last_nonzero = t.iter().rposition(|&v| v != 0).unwrap_or(0);
            t[..last_nonzero].contains(&0)
        });
        return match (micro_sign, macro_sign) {
            (true, false) => Ok(Space::TransNasMicro),
            (false, true) => Ok(Space::TransNasMacro),
            _ if file_name.contains("micro") => Ok(Space::TransNasMicro),
            _ if file_name.contains("macro") => Ok(Space::TransNasMacro),
            _ => Err(ArchiveError::UnknownFormat {
                file: source.to_string(),
                reason: "TransNAS-Bench-101 tasks, but the keys do not tell micro from macro; \
                         name the space (tnb101-micro or tnb101-macro)"
                    .to_string(),
            }),
        };
    }
    let first_key = keys().next().unwrap_or("");
    if first_key.trim_start().starts_with("[[") || first_key.contains("Genotype") {
        return Ok(Space::Nb301);
    }
    if let Some(t) = tuple_values(first_key) {
        if t.len() == 56 {
            return Ok(Space::Nb101);
        }
        if t.len() == 6 && keys().all(|k| crate::space::nb201::Nb201Arch::parse_naslib_tuple(k).is_ok()) {
            return Ok(Space::Nb201);
        }
    }
    for (hint, space) in [("201", Space::Nb201), ("101", Space::Nb101), ("301", Space::Nb301)] {
        if file_name.contains(hint) && !file_name.contains("trans") {
            return Ok(space);
        }
    }
    let stem = Path::new(source)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "unknown".to_string());
    Ok(Space::Other(stem))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testdata::shared_data_dir;

    /// NB201-style fixture: bare NaN/Infinity tokens, a -1e8 failure, a
    /// record lacking one proxy, a key also in a second task.
    pub(crate) const NB201_FIXTURE: &str = r#"{"cifar10": {
 "(0, 2, 3, 2, 3, 1)": {"idx": "534", "arch": "(0, 2, 3, 2, 3, 1)", "val_accuracy": 86.06,
   "synflow": {"score": 41.5, "time": 0.4}, "nwot": {"score": 406.5, "time": 0.5}, "jacov": {"score": -60.0, "time": 0.1}},
 "(1, 0, 1, 4, 0, 1)": {"idx": "7", "arch": "(1, 0, 1, 4, 0, 1)", "val_accuracy": 10.0,
   "synflow": {"score": NaN, "time": 0.4}, "nwot": {"score": -Infinity, "time": 0.5}, "jacov": {"score": -100000000.0, "time": 0.1}},
 "(3, 2, 4, 0, 4, 4)": {"idx": "9", "arch": "(3, 2, 4, 0, 4, 4)", "val_accuracy": 88.5,
   "nwot": {"score": Infinity, "time": 0.5}, "jacov": {"score": -55.0, "time": 0.1}}
},
"cifar100": {
 "(0, 2, 3, 2, 3, 1)": {"idx": "534", "arch": "(0, 2, 3, 2, 3, 1)", "val_accuracy": 60.5,
   "synflow": {"score": 41.5, "time": 0.4}}
}}"#;

    /// NB101-style fixture: one wrapper level, bare-number proxies; two
    /// cells of `zc_nasbench101.json` with their values (the second's snip
    /// replaced by the file format's -1e8 for missing).
    pub(crate) const NB101_FIXTURE: &str = r#"{"nasbench101": {"cifar10": {
 "(0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 4, 4, 4, 1)": {"flops": 624.55808, "params": 4.095778, "snip": 112.05493927001953, "val_accuracy": 92.578125},
 "(0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 2, 3, 3, 2, 1)": {"flops": 268.100288, "params": 1.749031, "snip": -1e8, "val_accuracy": 92.46794581413269}
}}}"#;

    fn parse(s: &str, name: &str) -> Result<Archive, ArchiveError> {
        parse_suite_zero(s.as_bytes(), name, None)
    }

    #[test]
    fn fixture_nb201_reads_tokens_keys_and_missing_values() {
        let a = parse(NB201_FIXTURE, "zc_nasbench201.json").unwrap();
        assert_eq!(a.space(), &Space::Nb201);
        assert_eq!(a.len(), 3);
        assert_eq!(a.task_names(), ["cifar10", "cifar100"]);
        let row = a.index_of("(0, 2, 3, 2, 3, 1)").unwrap();
        assert_eq!(
            a.key(row).unwrap(),
            "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|"
        );
        let c10 = a.task("cifar10").unwrap();
        assert_eq!(c10.truth()[row], 86.06);
        assert_eq!(c10.proxy("synflow").unwrap()[row], 41.5);
        assert_eq!(c10.record_count(), 3);
        // synflow: NaN token + absent in one record; nwot: -Infinity and
        // Infinity; jacov: -1e8.
        assert_eq!(
            c10.missing_counts(),
            [
                ("synflow".to_string(), 2),
                ("nwot".to_string(), 2),
                ("jacov".to_string(), 1)
            ]
        );
        let c100 = a.task("cifar100").unwrap();
        assert_eq!(c100.record_count(), 1);
        assert_eq!(c100.missing_counts(), [("synflow".to_string(), 0)]);
        assert!(c100.truth()[a.index_of("(3, 2, 4, 0, 4, 4)").unwrap()].is_nan());
        assert!(a.provenance()[0].config.contains("nas-bench-suite-zero"));
        assert!(c10.proxies().iter().all(|c| !c.negated()));
    }

    #[test]
    fn fixture_nb101_is_read_through_its_wrapper() {
        let a = parse(NB101_FIXTURE, "whatever.json").unwrap();
        assert_eq!(a.space(), &Space::Nb101);
        let t = a.task("cifar10").unwrap();
        assert_eq!(t.proxy_names(), ["flops", "params", "snip"]);
        assert_eq!(t.missing_counts()[2], ("snip".to_string(), 1));
        assert_eq!(a.params_column("cifar10").unwrap(), [4.095778, 1.749031]);
        assert_eq!(
            a.keys()[0],
            "(0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, \
             0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 4, 4, 4, 1)"
        );
    }

    #[test]
    fn bad_input_errors_name_file_path_and_expectation() {
        let cases: [(&str, &str); 8] = [
            (
                r#"{"cifar10": {"(0, 1, 2, 3, 4, 0)": {"val_accuracy": 1.0, "snip": {"score": "x"}}}}"#,
                "`snip`",
            ),
            (
                r#"{"cifar10": {"(0, 1, 2, 3, 4, 0)": {"val_accuracy": NaN}}}"#,
                "finite accuracy",
            ),
            (
                r#"{"cifar10": {"(0, 1, 2, 3, 4, 0)": {"val_accuracy": -100000000}}}"#,
                "finite accuracy",
            ),
            (
                r#"{"cifar10": {"(0, 1, 2, 3, 4, 0)": {"val_accuracy": 1.0}, "(9, 9, 9, 9, 9, 9)": {"val_accuracy": 1.0}}}"#,
                "not a valid nb201",
            ),
            (
                r#"{"cifar10": {"(0, 1, 2, 3, 4, 0)": {"val_accuracy": 1.0}, "(0,1,2,3,4,0)": {"val_accuracy": 2.0}}}"#,
                "duplicate architecture",
            ),
            (
                r#"{"cifar10": {"(0, 1, 2, 3, 4, 0)": {"val_accuracy": 1.0, "val_accuracy": 2.0}}}"#,
                "each field once",
            ),
            (r#"[1, 2]"#, "expected {task"),
            (
                r#"{"cifar10": {"(0, 1, 2, 3, 4, 0)": {"val_accuracy": 1.0}, "(0, 1, 2, 3, 4, 1)": [1]}}"#,
                "an array",
            ),
        ];
        for (input, want) in cases {
            let err = parse_suite_zero(input.as_bytes(), "zc_nasbench201.json", Some(Space::Nb201)).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("zc_nasbench201.json"), "{msg}");
            assert!(msg.contains(want), "want `{want}` in: {msg}");
        }
        let err = parse(r#"{"cifar10": {"(0, 1, 2, 3, 4, 0)": {"val_accur"#, "t.json").unwrap_err();
        assert!(matches!(err, ArchiveError::Syntax { line: 1, .. }), "{err}");
        let err = parse(r#"{"cifar10": {"(0, 1, 2, 3, 4, 0)": {"snip": 1.0}}}"#, "t.json").unwrap_err();
        assert!(err.to_string().contains("expected {task"), "{err}");
    }

    /// Expected numbers below were read from the files with Python:
    /// `json.load(f, parse_constant=float)`, then per task `len(records)`,
    /// and per proxy the records where the key is absent or `score` is
    /// -1e8 or non-finite (script in the archive work notes; one line each:
    /// `sum(1 for r in recs.values() if p not in r or bad(r[p]))`).
    #[test]
    fn shared_suite_zero_files_have_the_counts_python_reports() {
        let Some(dir) = shared_data_dir() else { return };
        let dir = dir.join("suite_zero");

        let nb201 = read_suite_zero(&dir.join("zc_nasbench201.json")).unwrap();
        assert_eq!(nb201.space(), &Space::Nb201);
        assert_eq!(nb201.task_names(), ["cifar10", "cifar100", "ImageNet16-120"]);
        assert_eq!(nb201.len(), 725); // union of keys; ImageNet16-120 lacks (1, 2, 2, 4, 0, 4)
        let counts: Vec<usize> = nb201.tasks().iter().map(|t| t.record_count()).collect();
        assert_eq!(counts, [725, 725, 724]);
        let c10 = nb201.task("cifar10").unwrap();
        assert_eq!(c10.proxies().len(), 12); // every field but idx, arch, val_accuracy (params and flops included)
        let missing = |t: &str, p: &str| {
            nb201
                .task(t)
                .unwrap()
                .missing_counts()
                .into_iter()
                .find(|(n, _)| n == p)
                .unwrap()
                .1
        };
        // synflow absent from (3, 2, 4, 0, 4, 4); nwot -Infinity, epe_nas and
        // jacov -1e8 on (1, 0, 1, 4, 0, 1).
        assert_eq!(missing("cifar10", "synflow"), 1);
        assert_eq!(missing("cifar10", "nwot"), 1);
        assert_eq!(missing("cifar10", "epe_nas"), 1);
        assert_eq!(missing("cifar10", "jacov"), 1);
        assert_eq!(missing("cifar10", "snip"), 0);
        assert_eq!(missing("cifar100", "synflow"), 0);
        assert_eq!(missing("ImageNet16-120", "epe_nas"), 9);
        let row = nb201.index_of("(0, 2, 3, 2, 3, 1)").unwrap();
        assert_eq!(c10.truth()[row], 86.06);
        assert_eq!(c10.proxy("synflow").unwrap()[row], 41.94876860937543);
        assert_eq!(c10.proxy("nwot").unwrap()[row], 406.5381264995463);
        assert_eq!(nb201.task("ImageNet16-120").unwrap().truth()[row], 32.20000001017252);
        let bad = nb201.index_of("(1, 0, 1, 4, 0, 1)").unwrap();
        assert!(c10.proxy("nwot").unwrap()[bad].is_nan());
        assert!(c10.proxy("jacov").unwrap()[bad].is_nan());

        let nb101 = read_suite_zero(&dir.join("zc_nasbench101.json")).unwrap();
        assert_eq!(nb101.space(), &Space::Nb101);
        assert_eq!(nb101.task_names(), ["cifar10"]);
        assert_eq!(nb101.task("cifar10").unwrap().record_count(), 500);
        assert_eq!(nb101.task("cifar10").unwrap().proxies().len(), 11);
        assert!(
            nb101
                .task("cifar10")
                .unwrap()
                .missing_counts()
                .iter()
                .all(|(_, m)| *m == 0)
        );
        let k = "(0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, \
                 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 4, 4, 4, 1)";
        let r = nb101.index_of(k).unwrap();
        assert_eq!(nb101.task("cifar10").unwrap().truth()[r], 92.578125);
        assert_eq!(
            nb101.task("cifar10").unwrap().proxy("synflow").unwrap()[r],
            88.08498394991342
        );

        let nb301 = read_suite_zero(&dir.join("zc_nasbench301.json")).unwrap();
        assert_eq!(nb301.space(), &Space::Nb301);
        assert_eq!(nb301.task("cifar10").unwrap().record_count(), 725);
        assert!(
            nb301
                .task("cifar10")
                .unwrap()
                .missing_counts()
                .iter()
                .all(|(_, m)| *m == 0)
        );
        let k = "[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], \
                 [(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]";
        let r = nb301.index_of(k).unwrap();
        assert_eq!(nb301.task("cifar10").unwrap().truth()[r], 93.32119084207302);
        assert_eq!(
            nb301.task("cifar10").unwrap().proxy("nwot").unwrap()[r],
            448.83994136418596
        );

        let micro = read_suite_zero(&dir.join("zc_transbench101_micro.json")).unwrap();
        assert_eq!(micro.space(), &Space::TransNasMicro);
        assert_eq!(micro.task_names(), TRANSNAS_TASKS);
        assert_eq!(micro.len(), 711);
        for t in micro.tasks() {
            assert_eq!(t.record_count(), 711, "{}", t.name());
            assert_eq!(t.proxies().len(), 11, "{}", t.name()); // no synflow in TransNAS files
            let m: Vec<(String, usize)> = t.missing_counts().into_iter().filter(|(_, m)| *m > 0).collect();
            let epe = if t.name() == "jigsaw" { 325 } else { 711 };
            assert_eq!(
                m,
                [("epe_nas".to_string(), epe), ("jacov".to_string(), 20)],
                "{}",
                t.name()
            );
        }
        let r = micro.index_of("(1, 0, 0, 2, 1, 0)").unwrap();
        assert_eq!(micro.task("class_scene").unwrap().truth()[r], 34.89251708984375);
        assert_eq!(micro.task("autoencoder").unwrap().truth()[r], 0.5280563831329346);
        assert_eq!(
            micro.task("class_scene").unwrap().proxy("jacov").unwrap()[r],
            -32.46256087841203
        );
        let text = micro.summary().to_string();
        assert!(text.contains("tasks: 7"), "{text}");
        assert!(text.contains("segmentsemantic: 711 records"), "{text}");

        let macro_ = read_suite_zero(&dir.join("zc_transbench101_macro.json")).unwrap();
        assert_eq!(macro_.space(), &Space::TransNasMacro);
        assert_eq!(macro_.len(), 725);
        let counts: Vec<usize> = macro_.tasks().iter().map(|t| t.record_count()).collect();
        assert_eq!(counts, [662, 662, 725, 725, 725, 725, 725]);
        let epe: Vec<usize> = macro_
            .tasks()
            .iter()
            .map(|t| t.missing_counts().into_iter().find(|(n, _)| n == "epe_nas").unwrap().1)
            .collect();
        assert_eq!(epe, [662, 662, 725, 725, 319, 725, 725]);
    }

    #[test]
    fn transnas_space_detection_uses_keys_then_file_name() {
        let micro = r#"{"jigsaw": {"(1, 0, 2, 3, 0, 1)": {"val_accuracy": 1.0}}}"#;
        assert_eq!(parse(micro, "x.json").unwrap().space(), &Space::TransNasMicro);
        let macro_ = r#"{"jigsaw": {"(1, 4, 2, 2, 0, 0)": {"val_accuracy": 1.0}}}"#;
        assert_eq!(parse(macro_, "x.json").unwrap().space(), &Space::TransNasMacro);
        // A real macro key whose digits are also micro op codes.
        let unclear = r#"{"jigsaw": {"(1, 2, 1, 1, 1, 3)": {"val_accuracy": 1.0}}}"#;
        assert!(parse(unclear, "x.json").is_err());
        assert_eq!(
            parse(unclear, "zc_transbench101_macro.json").unwrap().space(),
            &Space::TransNasMacro
        );
    }
}
