//! Output of `lswag-studio score`: JSON lines.
//!
//! ```text
//! {"provenance": {"space": "nb201", "seed": 0, "backend": "cpu", ...}}
//! {"arch": "|nor_conv_3x3~0|+...", "proxies": {"lswag": 1.0, "zico": null}, "profile": {...}, "seconds": 0.8}
//! ```
//!
//! - A `{"provenance": ...}` line may appear anywhere (concatenated shards
//!   repeat it); distinct provenance objects are kept, in order, as the
//!   column provenance's config (one object, or a JSON array of several).
//!   Its `config.space` (what the engine writes) or `space` field, when
//!   present, names the space.
//! - `proxies` values are numbers or `null`/`NaN` (missing); `profile` is a
//!   `LayerProfile` as serde JSON or `null`; `seconds` is not stored.
//!   Unknown fields are ignored (newer engines may add some).
//! - The same architecture twice (a resumed run, overlapping shards) is
//!   fine when both lines agree and an error naming both lines otherwise.
//! - A truncated line (a run killed mid-write) is an error naming it.
//!
//! Scores do not depend on the task, so [`attach_scores`] puts every proxy
//! into every task of the target archive (stored once, shared), or into one
//! task when [`AttachOptions::task`] names it.
//!
//! Unknown architectures: a score for an architecture the target archive
//! lacks is an error naming the line and key when the target has ground
//! truth (scores for the wrong benchmark are the likely cause), and is added
//! as a record without ground truth when it has none (building up an
//! archive from score runs). [`UnknownKeys`] overrides either way.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::engine::profile::{LayerProfile, LayerStat, PERC_BINS};

use super::error::{ArchiveError, BadKey, Location, json_message};
use super::json::nan_tokens_to_null;
use super::model::{Archive, ArchiveBuilder, ColumnId, Provenance, Space, bits_eq, profile_bits_eq, validate_profile};
use super::ops::{Prefer, attach_archive};

/// What to do with scores of architectures the target archive lacks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnknownKeys {
    /// Error if the target has ground truth, add otherwise.
    #[default]
    Auto,
    Error,
    /// Add them as records without ground truth.
    Add,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttachOptions {
    /// Attach to this task only; default every task.
    pub task: Option<String>,
    pub unknown: UnknownKeys,
    /// How to resolve a value that differs from one already there.
    pub prefer: Option<Prefer>,
}

/// What an attach did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttachReport {
    /// Scored architectures found in the archive.
    pub matched: usize,
    /// Scored architectures added as new records.
    pub added: usize,
    pub proxies: Vec<String>,
    pub profiles: usize,
    pub tasks: Vec<String>,
}

impl fmt::Display for AttachReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "attached {} proxies ({}) and {} profiles to tasks {}: {} architectures matched, {} added",
            self.proxies.len(),
            self.proxies.join(", "),
            self.profiles,
            self.tasks.join(", "),
            self.matched,
            self.added
        )
    }
}

/// Proxy name -> value (`None` = missing), in file order; a repeated name
/// is a deserialisation error.
#[derive(Debug, Default, PartialEq)]
struct ProxyMap(Vec<(String, Option<f64>)>);

impl<'de> Deserialize<'de> for ProxyMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ProxyMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of proxy name -> number or null")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ProxyMap, A::Error> {
                let mut out: Vec<(String, Option<f64>)> = Vec::new();
                let mut seen = HashSet::new();
                while let Some((name, value)) = map.next_entry::<String, Option<f64>>()? {
                    if !seen.insert(name.clone()) {
                        return Err(de::Error::custom(format!("proxy `{name}` appears twice")));
                    }
                    out.push((name, value));
                }
                Ok(ProxyMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// `LayerProfile` as JSON, with `null` allowed where serde_json writes a
/// non-finite float. A mirror rather than `LayerProfile` itself so that a
/// NaN bin sum (written as `null`) still reads.
#[derive(Debug, Deserialize)]
struct ProfileWire {
    lambda_bin: [Option<f64>; PERC_BINS],
    psi_upto: [u64; PERC_BINS],
    psi_bin: [u64; PERC_BINS],
    layers: Vec<LayerWire>,
    params: u64,
    flops: u64,
}

#[derive(Debug, Deserialize)]
struct LayerWire {
    bin: u8,
    lambda: Option<f32>,
    mean_log_sigma: Option<f32>,
    psi: u32,
}

impl From<ProfileWire> for LayerProfile {
    fn from(w: ProfileWire) -> LayerProfile {
        LayerProfile {
            lambda_bin: w.lambda_bin.map(|v| v.unwrap_or(f64::NAN)),
            psi_upto: w.psi_upto,
            psi_bin: w.psi_bin,
            layers: w
                .layers
                .into_iter()
                .map(|l| LayerStat {
                    bin: l.bin,
                    lambda: l.lambda,
                    mean_log_sigma: l.mean_log_sigma,
                    psi: l.psi,
                })
                .collect(),
            params: w.params,
            flops: w.flops,
        }
    }
}

#[derive(Debug, Deserialize)]
struct RawLine {
    #[serde(default)]
    provenance: Option<serde_json::Value>,
    #[serde(default)]
    arch: Option<String>,
    #[serde(default)]
    proxies: Option<ProxyMap>,
    #[serde(default)]
    profile: Option<ProfileWire>,
}

struct Entry {
    line: u64,
    arch: String,
    proxies: ProxyMap,
    profile: Option<LayerProfile>,
}

fn score_values(e: &Entry) -> (Vec<&str>, Vec<f64>) {
    e.proxies
        .0
        .iter()
        .map(|(n, v)| (n.as_str(), super::model::clean_value(v.unwrap_or(f64::NAN))))
        .unzip()
}

fn same_scores(a: &Entry, b: &Entry) -> bool {
    let (na, va) = score_values(a);
    let (nb, vb) = score_values(b);
    let same_profile = match (&a.profile, &b.profile) {
        (Some(x), Some(y)) => profile_bits_eq(x, y),
        (None, None) => true,
        _ => false,
    };
    na == nb && bits_eq(&va, &vb) && same_profile
}

pub fn read_scores(path: &Path) -> Result<Archive, ArchiveError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ArchiveError::Read {
        file: file.clone(),
        source,
    })?;
    parse_scores(&bytes, &file, None)
}

/// Parses a score file into an archive of its own: one task
/// [`SCORES_TASK`](super::model::SCORES_TASK) without ground truth.
pub fn parse_scores(bytes: &[u8], source: &str, space: Option<Space>) -> Result<Archive, ArchiveError> {
    parse_scores_lines(bytes, source, space).map(|(a, _)| a)
}

/// As [`parse_scores`], also returning each record's line number.
pub(crate) fn parse_scores_lines(
    bytes: &[u8],
    source: &str,
    space: Option<Space>,
) -> Result<(Archive, Vec<u64>), ArchiveError> {
    let mut provenances: Vec<serde_json::Value> = Vec::new();
    let mut declared: Option<(Space, u64)> = None;
    let mut entries: Vec<Entry> = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i as u64 + 1;
        let text = raw.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let cleaned = nan_tokens_to_null(text);
        let parsed: RawLine = serde_json::from_slice(&cleaned).map_err(|e| ArchiveError::Syntax {
            file: source.to_string(),
            line,
            column: e.column() as u64,
            message: if e.is_eof() {
                format!(
                    "{} (a truncated line: was the run killed while writing it?)",
                    json_message(&e)
                )
            } else {
                json_message(&e)
            },
        })?;
        match (parsed.provenance, parsed.arch) {
            (Some(_), Some(_)) => {
                return Err(ArchiveError::unexpected(
                    source,
                    Location::Line(line),
                    "either a provenance line or a score line",
                    "both `provenance` and `arch`",
                ));
            }
            (Some(p), None) => {
                // The engine writes `config.net.space` (before network
                // configs: `config.space`); accept a top-level `space` too.
                let config = p.get("config");
                let named = p
                    .get("space")
                    .or_else(|| config.and_then(|c| c.get("net")).and_then(|n| n.get("space")))
                    .or_else(|| config.and_then(|c| c.get("space")));
                if let Some(name) = named.and_then(|s| s.as_str()) {
                    let s = Space::from_name(name);
                    match &declared {
                        Some((d, first)) if *d != s => {
                            return Err(ArchiveError::unexpected(
                                source,
                                Location::Line(line),
                                format!("the space of line {first} ({d})"),
                                format!("space {s}"),
                            ));
                        }
                        Some(_) => {}
                        None => declared = Some((s, line)),
                    }
                }
                if !provenances.contains(&p) {
                    provenances.push(p);
                }
            }
            (None, Some(arch)) => {
                if let Some(proxies) = &parsed.proxies
                    && proxies.0.iter().any(|(name, _)| name.is_empty())
                {
                    return Err(ArchiveError::unexpected(
                        source,
                        Location::Line(line),
                        "a name for every proxy",
                        "an empty proxy name",
                    ));
                }
                let profile = match parsed.profile {
                    Some(w) => {
                        let p = LayerProfile::from(w);
                        validate_profile(&p).map_err(|e| {
                            ArchiveError::unexpected(source, Location::Line(line), "a valid profile", e)
                        })?;
                        Some(p)
                    }
                    None => None,
                };
                entries.push(Entry {
                    line,
                    arch,
                    proxies: parsed.proxies.unwrap_or_default(),
                    profile,
                });
            }
            (None, None) => {
                return Err(ArchiveError::unexpected(
                    source,
                    Location::Line(line),
                    "an `arch` field (or a `provenance` line)",
                    "neither",
                ));
            }
        }
    }

    let space = match (space, declared) {
        (Some(s), Some((d, line))) if s != d => {
            return Err(ArchiveError::unexpected(
                source,
                Location::Line(line),
                format!("scores for {s}"),
                format!("space {d}"),
            ));
        }
        (Some(s), _) => s,
        (None, Some((d, _))) => d,
        (None, None) => {
            let nb201 = !entries.is_empty()
                && entries
                    .iter()
                    .all(|e| e.arch.trim().starts_with('|') && Space::Nb201.canonical_key(&e.arch).is_ok());
            if nb201 {
                Space::Nb201
            } else {
                Space::Other("unknown".to_string())
            }
        }
    };
    let config = match provenances.len() {
        0 => "{}".to_string(),
        1 => provenances[0].to_string(),
        _ => serde_json::Value::Array(provenances).to_string(),
    };
    let mut b = ArchiveBuilder::new(space.clone());
    let prov = b.add_provenance(Provenance::new(source, config));
    let mut columns: HashMap<String, ColumnId> = HashMap::new();
    let mut first_entry: Vec<usize> = Vec::new(); // row -> index into entries
    for (i, e) in entries.iter().enumerate() {
        let key = space.canonical_key(&e.arch).map_err(|reason| {
            ArchiveError::BadKey(Box::new(BadKey {
                file: source.to_string(),
                at: Location::Line(e.line),
                key: e.arch.clone(),
                space: space.name().to_string(),
                reason,
            }))
        })?;
        let row = match b.insert_key(key.clone()) {
            Ok(row) => row,
            Err(row) => {
                let first = &entries[first_entry[row]];
                if same_scores(first, e) {
                    continue;
                }
                return Err(ArchiveError::unexpected(
                    source,
                    Location::Line(e.line),
                    format!(
                        "the scores of line {} for `{key}` (a repeated architecture must repeat them)",
                        first.line
                    ),
                    "different scores",
                ));
            }
        };
        first_entry.push(i);
        for (name, value) in &e.proxies.0 {
            let col = match columns.get(name) {
                Some(&col) => col,
                None => {
                    let col = b.shared_column(name, prov, false);
                    columns.insert(name.clone(), col);
                    col
                }
            };
            b.set(col, row, value.unwrap_or(f64::NAN));
        }
        if let Some(p) = &e.profile {
            b.set_profile(row, p.clone());
        }
    }
    let lines = first_entry.iter().map(|&i| entries[i].line).collect();
    Ok((b.build()?, lines))
}

/// Attaches a score file to every task of `archive` (see the module docs
/// for unknown architectures and conflicts).
pub fn attach_scores(archive: &mut Archive, path: &Path) -> Result<AttachReport, ArchiveError> {
    attach_scores_with(archive, path, &AttachOptions::default())
}

pub fn attach_scores_with(
    archive: &mut Archive,
    path: &Path,
    opts: &AttachOptions,
) -> Result<AttachReport, ArchiveError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ArchiveError::Read {
        file: file.clone(),
        source,
    })?;
    attach_scores_bytes(archive, &bytes, &file, opts)
}

/// [`attach_scores_with`] on bytes already read.
pub fn attach_scores_bytes(
    archive: &mut Archive,
    bytes: &[u8],
    source: &str,
    opts: &AttachOptions,
) -> Result<AttachReport, ArchiveError> {
    let (scores, lines) = parse_scores_lines(bytes, source, Some(archive.space().clone()))?;
    attach_archive(archive, &scores, opts, Some(&lines))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::archive::model::SCORES_TASK;
    use crate::archive::model::tests::profile;

    /// A score run on the first two rows of the CSV fixture plus one more
    /// architecture, with a NaN token and a null.
    pub(crate) fn scores_fixture() -> String {
        let p = serde_json::to_string(&profile(12, 5000)).unwrap();
        format!(
            "{{\"provenance\": {{\"app\": \"lswag-studio\", \"version\": \"0.1.0\", \"config\": {{\"space\": \"nb201\", \"seed\": 0, \"backend\": \"cpu\"}}, \"batch_source\": \"gaussian\", \"created\": \"2025-01-01T00:00:00Z\"}}}}\n\
{{\"arch\": \"|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|\", \"proxies\": {{\"lswag\": 1.5, \"zico\": NaN, \"params\": 5000}}, \"profile\": {p}, \"seconds\": 0.8}}\n\
{{\"arch\": \"|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|\", \"proxies\": {{\"lswag\": 2.5, \"zico\": 7.0, \"params\": 9000}}, \"profile\": null, \"seconds\": 0.9}}\n"
        )
    }

    #[test]
    fn scores_read_as_their_own_archive() {
        let a = parse_scores(scores_fixture().as_bytes(), "s.jsonl", None).unwrap();
        assert_eq!(a.space(), &Space::Nb201);
        assert_eq!(a.len(), 2);
        assert_eq!(a.task_names(), [SCORES_TASK]);
        let t = a.task(SCORES_TASK).unwrap();
        assert_eq!(t.proxy_names(), ["lswag", "zico", "params"]);
        assert_eq!(
            t.missing_counts(),
            [("lswag".into(), 0), ("zico".into(), 1), ("params".into(), 0)]
        );
        assert_eq!(a.profile_count(), 1);
        assert_eq!(a.profile(0).unwrap(), &profile(12, 5000));
        assert!(a.provenance()[0].config.contains("\"backend\":\"cpu\""));
        // The task's `params` proxy wins over the profiles.
        assert_eq!(a.params_column(SCORES_TASK).unwrap(), [5000.0, 9000.0]);
    }

    #[test]
    fn duplicates_agreeing_are_fine_and_disagreeing_name_both_lines() {
        let f = scores_fixture();
        let second = f.lines().nth(1).unwrap();
        let again = format!("{f}{second}\n");
        assert_eq!(parse_scores(again.as_bytes(), "s.jsonl", None).unwrap().len(), 2);
        let changed = second.replace("1.5", "1.6");
        let bad = format!("{f}{changed}\n");
        let msg = parse_scores(bad.as_bytes(), "s.jsonl", None).unwrap_err().to_string();
        assert!(
            msg.contains("s.jsonl") && msg.contains("line 4") && msg.contains("line 2"),
            "{msg}"
        );
    }

    #[test]
    fn bad_lines_are_errors_naming_the_line() {
        let f = scores_fixture();
        let truncated = &f[..f.len() - 20];
        let cases: Vec<(String, &str)> = vec![
            (truncated.to_string(), "line 3"),
            (
                format!("{f}{{\"arch\": \"|bad|\"}}\n"),
                "line 4: `|bad|` is not a valid nb201",
            ),
            (
                format!("{f}{{\"proxies\": {{}}}}\n"),
                "line 4: expected an `arch` field",
            ),
            (
                format!("{f}{{\"arch\": \"x\", \"proxies\": {{\"a\": \"1\"}}}}\n"),
                "line 4",
            ),
            (
                format!("{f}{{\"arch\": \"x\", \"proxies\": {{\"a\": 1, \"a\": 2}}}}\n"),
                "appears twice",
            ),
            (format!("{f}{{\"provenance\": {{\"space\": \"nb101\"}}}}\n"), "line 4"),
            (
                format!("{f}{{\"provenance\": {{\"config\": {{\"space\": \"nb101\"}}}}}}\n"),
                "expected the space of line 1 (nb201)",
            ),
            (
                "{\"arch\": \"x\", \"profile\": {\"lambda_bin\": 1}}\n".to_string(),
                "line 1",
            ),
        ];
        for (input, want) in cases {
            let msg = parse_scores(input.as_bytes(), "s.jsonl", None).unwrap_err().to_string();
            assert!(msg.contains("s.jsonl") && msg.contains(want), "want `{want}` in: {msg}");
        }
        // A profile whose bins would make LayerProfile's methods index out of range.
        let mut p = profile(3, 1);
        p.layers[1].bin = 11;
        let line = format!(
            "{{\"arch\": \"x\", \"profile\": {}}}\n",
            serde_json::to_string(&p).unwrap()
        );
        let msg = parse_scores(line.as_bytes(), "s.jsonl", None).unwrap_err().to_string();
        assert!(msg.contains("depth bin 11"), "{msg}");
    }
}
