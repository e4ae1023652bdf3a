//! Operations on whole archives: join, attach, subset, export, and the
//! functions behind `lswag-studio archive info|convert|join|export`, which
//! return the text to print.
//!
//! Join semantics: keys are the union (left order, then the right's new
//! keys); tasks and proxy columns with the same name are merged value by
//! value. A value present on one side fills a gap on the other; two present
//! values must be equal (bitwise up to `0.0 == -0.0`), otherwise the join
//! fails naming both files and the key, unless a [`Prefer`] rule picks a
//! side. Layer profiles merge the same way. Provenance lists are
//! concatenated, so a merged column names every file it came from.
//! Columns shared between tasks stay shared after a join.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::error::{ArchiveError, Conflict, Location};
use super::model::{Archive, Column, Provenance, SCORES_TASK, Space, Task, Values, profile_bits_eq};
use super::native::{SCHEMA_VERSION, write_atomic, write_native};
use super::scores::{AttachOptions, AttachReport, UnknownKeys, attach_scores_with};
use super::{Format, OpenOptions, open_detected};

/// Which side wins when two archives disagree on a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefer {
    Left,
    Right,
}

impl FromStr for Prefer {
    type Err = String;
    fn from_str(s: &str) -> Result<Prefer, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "left" | "first" => Ok(Prefer::Left),
            "right" | "second" | "last" => Ok(Prefer::Right),
            other => Err(format!("`{other}` is not a prefer rule: expected left or right")),
        }
    }
}

fn ptr(v: &Values) -> usize {
    std::sync::Arc::as_ptr(v) as *const f64 as usize
}

/// A value as messages and CSV write it: shortest text that reads back as
/// the same `f64`, empty for missing.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else if v == 0.0 || (1e-5..1e16).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

struct Joiner<'a> {
    left: &'a Archive,
    right: &'a Archive,
    prefer: Option<Prefer>,
    keys: Vec<String>,
    /// Right row -> union row.
    right_rows: Vec<usize>,
    right_is_prefix: bool,
    /// Right provenance index -> union provenance index.
    prov_remap: Vec<usize>,
    memo_left: HashMap<usize, Values>,
    memo_right: HashMap<usize, Values>,
    memo_both: HashMap<(usize, usize), Values>,
}

impl Joiner<'_> {
    fn n(&self) -> usize {
        self.keys.len()
    }

    fn remap(&self, idx: &[usize]) -> Vec<usize> {
        idx.iter().filter_map(|&i| self.prov_remap.get(i).copied()).collect()
    }

    fn union_prov(&self, left: &[usize], right: &[usize]) -> Vec<usize> {
        let mut out = left.to_vec();
        for i in self.remap(right) {
            if !out.contains(&i) {
                out.push(i);
            }
        }
        out
    }

    fn left_only(&mut self, v: &Values) -> Values {
        let n = self.n();
        if v.len() == n {
            return v.clone();
        }
        self.memo_left
            .entry(ptr(v))
            .or_insert_with(|| {
                let mut out = v.to_vec();
                out.resize(n, f64::NAN);
                Values::from(out)
            })
            .clone()
    }

    fn right_only(&mut self, v: &Values) -> Values {
        let n = self.n();
        if self.right_is_prefix && v.len() == n {
            return v.clone();
        }
        let rows = &self.right_rows;
        self.memo_right
            .entry(ptr(v))
            .or_insert_with(|| {
                let mut out = vec![f64::NAN; n];
                for (r, &u) in rows.iter().enumerate() {
                    out[u] = v[r];
                }
                Values::from(out)
            })
            .clone()
    }

    fn both(
        &mut self,
        l: &Values,
        r: &Values,
        what: &dyn Fn() -> String,
        left_prov: &[usize],
        right_prov: &[usize],
    ) -> Result<Values, ArchiveError> {
        if r.iter().all(|v| v.is_nan()) {
            return Ok(self.left_only(l));
        }
        if let Some(v) = self.memo_both.get(&(ptr(l), ptr(r))) {
            return Ok(v.clone());
        }
        let mut out = l.to_vec();
        out.resize(self.n(), f64::NAN);
        for (ri, &u) in self.right_rows.iter().enumerate() {
            let rv = r[ri];
            if rv.is_nan() {
                continue;
            }
            let lv = out[u];
            if lv.is_nan() {
                out[u] = rv;
            } else if lv != rv {
                match self.prefer {
                    Some(Prefer::Left) => {}
                    Some(Prefer::Right) => out[u] = rv,
                    None => {
                        return Err(ArchiveError::Conflict(Box::new(Conflict {
                            what: what(),
                            key: self.keys[u].clone(),
                            left_file: self.left.sources_of(left_prov),
                            left_value: format_value(lv),
                            right_file: self.right.sources_of(right_prov),
                            right_value: format_value(rv),
                        })));
                    }
                }
            }
        }
        let out = Values::from(out);
        self.memo_both.insert((ptr(l), ptr(r)), out.clone());
        Ok(out)
    }

    fn left_task(&mut self, t: &Task) -> Task {
        let truth = self.left_only(&t.truth);
        let proxies = t
            .proxies
            .iter()
            .map(|c| Column {
                values: self.left_only(&c.values),
                ..c.clone()
            })
            .collect();
        Task::new(t.name.clone(), truth, t.truth_provenance.clone(), proxies)
    }

    fn right_task(&mut self, t: &Task) -> Task {
        let truth = self.right_only(&t.truth);
        let proxies = t.proxies.iter().map(|c| self.right_column(c)).collect();
        Task::new(t.name.clone(), truth, self.remap(&t.truth_provenance), proxies)
    }

    fn right_column(&mut self, c: &Column) -> Column {
        Column {
            name: c.name.clone(),
            values: self.right_only(&c.values),
            provenance: self.remap(&c.provenance),
            negated: c.negated,
        }
    }

    fn merge_task(&mut self, lt: &Task, rt: &Task) -> Result<Task, ArchiveError> {
        let what = || format!("ground truth of task `{}`", lt.name);
        let truth = self.both(&lt.truth, &rt.truth, &what, &lt.truth_provenance, &rt.truth_provenance)?;
        let truth_prov = self.union_prov(&lt.truth_provenance, &rt.truth_provenance);
        let mut proxies = Vec::with_capacity(lt.proxies.len() + rt.proxies.len());
        let right_columns: HashMap<&str, &Column> = rt.proxies.iter().map(|c| (c.name.as_str(), c)).collect();
        let left_names: HashSet<&str> = lt.proxies.iter().map(|c| c.name.as_str()).collect();
        for lc in &lt.proxies {
            let Some(&rc) = right_columns.get(lc.name.as_str()) else {
                proxies.push(Column {
                    values: self.left_only(&lc.values),
                    ..lc.clone()
                });
                continue;
            };
            if lc.negated != rc.negated {
                let sign = |neg: bool| if neg { "it negated at load" } else { "it as stored" }.to_string();
                return Err(ArchiveError::Conflict(Box::new(Conflict {
                    what: format!("sign conventions of proxy `{}` in task `{}`", lc.name, lt.name),
                    key: "every record".to_string(),
                    left_file: self.left.sources_of(&lc.provenance),
                    left_value: sign(lc.negated),
                    right_file: self.right.sources_of(&rc.provenance),
                    right_value: sign(rc.negated),
                })));
            }
            let what = || format!("values of proxy `{}` in task `{}`", lc.name, lt.name);
            let values = self.both(&lc.values, &rc.values, &what, &lc.provenance, &rc.provenance)?;
            proxies.push(Column {
                name: lc.name.clone(),
                values,
                provenance: self.union_prov(&lc.provenance, &rc.provenance),
                negated: lc.negated,
            });
        }
        for rc in &rt.proxies {
            if !left_names.contains(rc.name.as_str()) {
                let c = self.right_column(rc);
                proxies.push(c);
            }
        }
        Ok(Task::new(lt.name.clone(), truth, truth_prov, proxies))
    }
}

/// Joins two archives of the same space (see the module docs).
pub fn join(left: &Archive, right: &Archive, prefer: Option<Prefer>) -> Result<Archive, ArchiveError> {
    if left.space != right.space {
        return Err(ArchiveError::SpaceMismatch {
            left_file: left.source_names(),
            left_space: left.space.name().to_string(),
            right_file: right.source_names(),
            right_space: right.space.name().to_string(),
        });
    }
    let mut provenance: Vec<Provenance> = left.provenance.clone();
    let prov_remap = right
        .provenance
        .iter()
        .map(|p| match provenance.iter().position(|q| q == p) {
            Some(i) => i,
            None => {
                provenance.push(p.clone());
                provenance.len() - 1
            }
        })
        .collect();
    let mut keys = left.keys.clone();
    let right_rows: Vec<usize> = right
        .keys
        .iter()
        .map(|k| match left.row_of(k) {
            Some(i) => i,
            None => {
                keys.push(k.clone());
                keys.len() - 1
            }
        })
        .collect();
    let right_is_prefix = right_rows.iter().enumerate().all(|(i, &u)| i == u);
    let mut j = Joiner {
        left,
        right,
        prefer,
        keys,
        right_rows,
        right_is_prefix,
        prov_remap,
        memo_left: HashMap::new(),
        memo_right: HashMap::new(),
        memo_both: HashMap::new(),
    };
    let mut tasks = Vec::with_capacity(left.tasks.len() + right.tasks.len());
    for lt in &left.tasks {
        let t = match right.task(&lt.name) {
            Some(rt) => j.merge_task(lt, rt)?,
            None => j.left_task(lt),
        };
        tasks.push(t);
    }
    for rt in &right.tasks {
        if left.task(&rt.name).is_none() {
            let t = j.right_task(rt);
            tasks.push(t);
        }
    }
    let n = j.n();
    let mut profiles = left.profiles.clone();
    profiles.resize(n, None);
    for (ri, &u) in j.right_rows.iter().enumerate() {
        let Some(rp) = &right.profiles[ri] else { continue };
        match &profiles[u] {
            None => profiles[u] = Some(rp.clone()),
            Some(lp) if profile_bits_eq(lp, rp) => {}
            Some(_) => match prefer {
                Some(Prefer::Left) => {}
                Some(Prefer::Right) => profiles[u] = Some(rp.clone()),
                None => {
                    return Err(ArchiveError::Conflict(Box::new(Conflict {
                        what: "layer profiles".to_string(),
                        key: j.keys[u].clone(),
                        left_file: left.source_names(),
                        left_value: "one profile".to_string(),
                        right_file: right.source_names(),
                        right_value: "a different one".to_string(),
                    })));
                }
            },
        }
    }
    let keys = std::mem::take(&mut j.keys);
    Ok(Archive::from_parts_unchecked(
        left.space.clone(),
        keys,
        tasks,
        profiles,
        provenance,
    ))
}

/// Attaches the proxies and profiles of a score archive (one task, usually
/// [`SCORES_TASK`]) to `target`: see `scores` for the rules. `lines` gives
/// each score record's line, for messages.
pub(crate) fn attach_archive(
    target: &mut Archive,
    scores: &Archive,
    opts: &AttachOptions,
    lines: Option<&[u64]>,
) -> Result<AttachReport, ArchiveError> {
    if target.space != scores.space {
        return Err(ArchiveError::SpaceMismatch {
            left_file: target.source_names(),
            left_space: target.space.name().to_string(),
            right_file: scores.source_names(),
            right_space: scores.space.name().to_string(),
        });
    }
    let columns: Vec<Column> = match scores.tasks.as_slice() {
        [] => Vec::new(),
        [t] => t.proxies.clone(),
        many => {
            return Err(ArchiveError::invalid(
                format!("attaching `{}`", scores.source_names()),
                format!("expected scores in one task, found {} tasks", many.len()),
            ));
        }
    };
    let names: Vec<String> = match &opts.task {
        Some(t) => {
            target.require_task(t)?;
            vec![t.clone()]
        }
        None if target.tasks.is_empty() => vec![SCORES_TASK.to_string()],
        None => target.tasks.iter().map(|t| t.name.clone()).collect(),
    };
    let add = match opts.unknown {
        UnknownKeys::Auto => !target.tasks.iter().any(Task::has_truth),
        UnknownKeys::Error => false,
        UnknownKeys::Add => true,
    };
    let (mut matched, mut added) = (0, 0);
    for (row, key) in scores.keys.iter().enumerate() {
        if target.row_of(key).is_some() {
            matched += 1;
        } else if add {
            added += 1;
        } else {
            return Err(ArchiveError::UnknownKey {
                file: scores.source_names(),
                at: lines
                    .and_then(|l| l.get(row))
                    .map_or(Location::File, |&l| Location::Line(l)),
                key: key.clone(),
            });
        }
    }
    let no_truth: Values = vec![f64::NAN; scores.len()].into();
    let tasks = names
        .iter()
        .map(|name| Task::new(name.clone(), no_truth.clone(), Vec::new(), columns.clone()))
        .collect();
    let broadcast = Archive::from_parts_unchecked(
        scores.space.clone(),
        scores.keys.clone(),
        tasks,
        scores.profiles.clone(),
        scores.provenance.clone(),
    );
    *target = join(target, &broadcast, opts.prefer)?;
    Ok(AttachReport {
        matched,
        added,
        proxies: columns.iter().map(|c| c.name.clone()).collect(),
        profiles: scores.profile_count(),
        tasks: names,
    })
}

impl Archive {
    /// [`join`] as a method.
    pub fn join(&self, other: &Archive, prefer: Option<Prefer>) -> Result<Archive, ArchiveError> {
        join(self, other, prefer)
    }

    /// Attaches an in-memory score archive (e.g. from a running job).
    pub fn attach(&mut self, scores: &Archive, opts: &AttachOptions) -> Result<AttachReport, ArchiveError> {
        attach_archive(self, scores, opts, None)
    }

    /// The records for which `keep(row, key)` holds, in archive order.
    pub fn subset(&self, mut keep: impl FnMut(usize, &str) -> bool) -> Archive {
        let rows: Vec<usize> = (0..self.len()).filter(|&r| keep(r, &self.keys[r])).collect();
        self.gather(&rows)
    }

    /// The given records, in the given order (repeats ignored). A key the
    /// archive lacks is an error.
    pub fn subset_keys<S: AsRef<str>>(&self, keys: &[S]) -> Result<Archive, ArchiveError> {
        let mut rows = Vec::with_capacity(keys.len());
        let mut seen = vec![false; self.len()];
        for k in keys {
            let k = k.as_ref();
            let row = self.index_of(k).ok_or_else(|| ArchiveError::UnknownKey {
                file: self.source_names(),
                at: Location::KeyPath(vec![k.to_string()]),
                key: k.to_string(),
            })?;
            if !std::mem::replace(&mut seen[row], true) {
                rows.push(row);
            }
        }
        Ok(self.gather(&rows))
    }

    /// Only the named tasks, in the given order.
    pub fn select_tasks<S: AsRef<str>>(&self, names: &[S]) -> Result<Archive, ArchiveError> {
        let mut tasks = Vec::with_capacity(names.len());
        for name in names {
            let t = self.require_task(name.as_ref())?;
            if !tasks.iter().any(|x: &Task| x.name == t.name) {
                tasks.push(t.clone());
            }
        }
        Ok(Archive::from_parts_unchecked(
            self.space.clone(),
            self.keys.clone(),
            tasks,
            self.profiles.clone(),
            self.provenance.clone(),
        ))
    }

    fn gather(&self, rows: &[usize]) -> Archive {
        let mut memo: HashMap<usize, Values> = HashMap::new();
        let mut g = |v: &Values| -> Values {
            memo.entry(ptr(v))
                .or_insert_with(|| rows.iter().map(|&r| v[r]).collect())
                .clone()
        };
        let tasks = self
            .tasks
            .iter()
            .map(|t| {
                let truth = g(&t.truth);
                let proxies = t
                    .proxies
                    .iter()
                    .map(|c| Column {
                        values: g(&c.values),
                        ..c.clone()
                    })
                    .collect();
                Task::new(t.name.clone(), truth, t.truth_provenance.clone(), proxies)
            })
            .collect();
        Archive::from_parts_unchecked(
            self.space.clone(),
            rows.iter().map(|&r| self.keys[r].clone()).collect(),
            tasks,
            rows.iter().map(|&r| self.profiles[r].clone()).collect(),
            self.provenance.clone(),
        )
    }
}

/// Header of the key column in exports: what the CSV importer looks for.
fn key_header(space: &Space) -> &'static str {
    if *space == Space::Nb201 { "arch_str" } else { "arch" }
}

/// One task as CSV: the key, the ground truth (headed by the task name,
/// when the task has any) and every proxy; one row per record of the task;
/// missing values are empty cells. Reads back with
/// `CsvOptions { truth: Some(vec![task]), proxies: vec!["*"] }`.
pub fn task_csv(archive: &Archive, task: &str) -> Result<String, ArchiveError> {
    let t = archive.require_task(task)?;
    let mut header: Vec<&str> = vec![key_header(&archive.space)];
    if t.has_truth() {
        header.push(&t.name);
    }
    header.extend(t.proxies.iter().map(|c| c.name.as_str()));
    if let Some(dup) = header.iter().enumerate().find(|(i, h)| header[..*i].contains(h)) {
        return Err(ArchiveError::invalid(
            format!("exporting task `{task}`"),
            format!("the column name `{}` would appear twice in the header", dup.1),
        ));
    }
    let csv_err = |e: String| ArchiveError::invalid(format!("exporting task `{task}`"), e);
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record(&header).map_err(|e| csv_err(e.to_string()))?;
    let mut record: Vec<String> = Vec::with_capacity(header.len());
    for row in 0..archive.len() {
        if !t.is_member(row) {
            continue;
        }
        record.clear();
        record.push(archive.keys[row].clone());
        if t.has_truth() {
            record.push(format_value(t.truth[row]));
        }
        record.extend(t.proxies.iter().map(|c| format_value(c.values[row])));
        w.write_record(&record).map_err(|e| csv_err(e.to_string()))?;
    }
    let bytes = w.into_inner().map_err(|e| csv_err(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| csv_err(e.to_string()))
}

/// Writes [`task_csv`] to a file atomically.
pub fn export_task_csv(archive: &Archive, task: &str, path: &Path) -> Result<(), ArchiveError> {
    write_atomic(path, task_csv(archive, task)?.as_bytes())
}

fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// `archive info FILE`: the detected format and the summary.
pub fn info(path: &Path, opts: &OpenOptions) -> Result<String, ArchiveError> {
    let (format, archive) = open_detected(path, opts)?;
    let mut text = format!("file: {} ({})\n{}", path.display(), format.name(), archive.summary());
    for w in super::implausible_truth(&archive) {
        text.push_str(&format!("\nwarning: {w}"));
    }
    Ok(text)
}

/// `archive convert INPUT OUTPUT`: any readable format to a native archive.
pub fn convert(input: &Path, output: &Path, opts: &OpenOptions) -> Result<String, ArchiveError> {
    refuse_non_native_output(output)?;
    if same_file(input, output) {
        return Err(ArchiveError::invalid(
            format!("writing `{}`", output.display()),
            "it is also the input; convert into another file",
        ));
    }
    let (format, archive) = open_detected(input, opts)?;
    let bytes = write_native(&archive, output)?;
    Ok(format!(
        "read {} ({}): {} records, {} tasks, {} layer profiles\nwrote {} (native schema v{SCHEMA_VERSION}, {bytes} bytes)",
        input.display(),
        format.name(),
        archive.len(),
        archive.tasks().len(),
        archive.profile_count(),
        output.display(),
    ))
}

/// Whether two paths name one existing file (through links and `..`).
fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

fn refuse_non_native_output(output: &Path) -> Result<(), ArchiveError> {
    let ext = extension(output);
    if matches!(ext.as_str(), "csv" | "tsv" | "json" | "jsonl" | "ndjson" | "md") {
        return Err(ArchiveError::invalid(
            format!("writing `{}`", output.display()),
            "this writes the native format: name the output *.lswag (use `archive export` for CSV or Markdown)",
        ));
    }
    Ok(())
}

/// `archive join INPUT... --out OUTPUT [--prefer left|right] [--scored-only]`:
/// joins every benchmark input in order, then attaches every score run
/// (`.jsonl`) to the result, keeps only the records with layer profiles
/// when `scored_only`, and writes a native archive once.
pub fn join_files(
    inputs: &[PathBuf],
    output: &Path,
    prefer: Option<Prefer>,
    scored_only: bool,
    opts: &OpenOptions,
) -> Result<String, ArchiveError> {
    refuse_non_native_output(output)?;
    if let Some(input) = inputs.iter().find(|i| same_file(i, output)) {
        return Err(ArchiveError::invalid(
            format!("writing `{}`", output.display()),
            format!(
                "it is also the input `{}`; writing it would destroy that input",
                input.display()
            ),
        ));
    }
    let mut log = Vec::new();
    let mut merged: Option<Archive> = None;
    let mut score_runs = Vec::new();
    for input in inputs {
        let format = match opts.format {
            Some(f) => f,
            None => super::detect_format(input)?,
        };
        if format == Format::ScoresJsonl {
            score_runs.push(input);
            continue;
        }
        let (_, a) = open_detected(input, opts)?;
        log.push(format!(
            "read {} ({}): {} records",
            input.display(),
            format.name(),
            a.len()
        ));
        merged = Some(match merged {
            None => a,
            Some(m) => join(&m, &a, prefer)?,
        });
    }
    let mut archive = match merged {
        Some(a) => a,
        // Only score runs: the first one decides the space, and the runs
        // build up a score-only archive.
        None => match score_runs.first() {
            Some(first) => Archive::empty(open_detected(first, opts)?.1.space().clone()),
            None => return Err(ArchiveError::invalid("joining archives", "no input files")),
        },
    };
    for run in score_runs {
        let attach = AttachOptions {
            prefer,
            ..AttachOptions::default()
        };
        let report = attach_scores_with(&mut archive, run, &attach)?;
        log.push(format!("{}: {report}", run.display()));
    }
    if scored_only {
        let all = archive.len();
        archive = archive.subset(|row, _| archive.profile(row).is_some());
        log.push(format!(
            "kept the {} of {all} records that have layer profiles",
            archive.len()
        ));
    }
    let bytes = write_native(&archive, output)?;
    log.push(format!(
        "wrote {}: {} records, {} tasks, {} layer profiles ({bytes} bytes)",
        output.display(),
        archive.len(),
        archive.tasks().len(),
        archive.profile_count()
    ));
    Ok(log.join("\n"))
}

/// `archive export INPUT OUTPUT [--task T]`: `.csv` writes one task (the
/// only one, or `--task`), `.md` the Markdown summary, `.lswag` a native copy.
pub fn export(input: &Path, output: &Path, task: Option<&str>, opts: &OpenOptions) -> Result<String, ArchiveError> {
    if same_file(input, output) {
        return Err(ArchiveError::invalid(
            format!("writing `{}`", output.display()),
            "it is also the input; writing it would destroy that input",
        ));
    }
    let ext = extension(output);
    if !matches!(ext.as_str(), "md" | "markdown" | "csv" | "lswag") {
        return Err(ArchiveError::invalid(
            format!("writing `{}`", output.display()),
            "unknown output format: name it *.csv (one task), *.md (the summary) or *.lswag (a native copy)",
        ));
    }
    let (_, archive) = open_detected(input, opts)?;
    match ext.as_str() {
        "md" | "markdown" => {
            write_atomic(output, archive.summary().to_markdown().as_bytes())?;
            Ok(format!(
                "wrote the summary of {} to {}",
                input.display(),
                output.display()
            ))
        }
        "csv" => {
            let name = match (task, archive.tasks()) {
                (Some(t), _) => t.to_string(),
                (None, [only]) => only.name.clone(),
                (None, _) => {
                    return Err(ArchiveError::invalid(
                        format!("exporting `{}`", input.display()),
                        format!("name a task; the archive has: {}", archive.task_names().join(", ")),
                    ));
                }
            };
            export_task_csv(&archive, &name, output)?;
            let rows = archive.require_task(&name)?.record_count();
            Ok(format!("wrote task `{name}` ({rows} rows) to {}", output.display()))
        }
        _ => {
            let bytes = write_native(&archive, output)?;
            Ok(format!("wrote {} (native, {bytes} bytes)", output.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::csv::tests::NB201_CSV_FIXTURE;
    use crate::archive::csv::{CsvOptions, parse_csv};
    use crate::archive::model::tests::profile;
    use crate::archive::model::{ArchiveBuilder, Provenance};
    use crate::archive::native::{decode_native, encode_native, read_native};
    use crate::archive::scores::tests::scores_fixture;
    use crate::archive::scores::{attach_scores, attach_scores_bytes, parse_scores};
    use crate::testdata::shared_data_dir;

    fn toy(file: &str, rows: &[(&str, f64, f64)]) -> Archive {
        let mut b = ArchiveBuilder::new(Space::Other("toy".into()));
        let p = b.add_provenance(Provenance::new(file, "{}"));
        let t = b.task("acc", Some(p));
        let c = b.column(t, "zico", p, false);
        for &(k, acc, z) in rows {
            let r = b.row(k);
            b.set_truth(t, r, acc);
            b.set(c, r, z);
        }
        b.build().unwrap()
    }

    #[test]
    fn join_unions_keys_and_fills_gaps() {
        let l = toy("l.csv", &[("a", 1.0, 10.0), ("b", 2.0, f64::NAN)]);
        let r = toy("r.csv", &[("b", 2.0, 20.0), ("c", 3.0, 30.0)]);
        let j = join(&l, &r, None).unwrap();
        assert_eq!(j.keys(), ["a", "b", "c"]);
        let t = j.task("acc").unwrap();
        assert_eq!(t.truth(), [1.0, 2.0, 3.0]);
        assert_eq!(t.proxy("zico").unwrap(), [10.0, 20.0, 30.0]);
        assert_eq!(t.column("zico").unwrap().provenance(), [0, 1]);
        assert_eq!(j.provenance().len(), 2);
    }

    #[test]
    fn conflicts_name_both_files_and_the_key_unless_a_side_is_preferred() {
        let l = toy("left.csv", &[("a", 1.0, 10.0)]);
        let r = toy("right.csv", &[("a", 1.0, 11.0)]);
        let msg = join(&l, &r, None).unwrap_err().to_string();
        for want in ["left.csv", "right.csv", "`a`", "zico", "10", "11"] {
            assert!(msg.contains(want), "want {want} in {msg}");
        }
        assert_eq!(
            join(&l, &r, Some(Prefer::Left))
                .unwrap()
                .task("acc")
                .unwrap()
                .proxy("zico")
                .unwrap(),
            [10.0]
        );
        assert_eq!(
            join(&l, &r, Some(Prefer::Right))
                .unwrap()
                .task("acc")
                .unwrap()
                .proxy("zico")
                .unwrap(),
            [11.0]
        );
        let other = Archive::empty(Space::Nb201);
        assert!(matches!(
            join(&l, &other, None),
            Err(ArchiveError::SpaceMismatch { .. })
        ));
        assert_eq!("right".parse::<Prefer>().unwrap(), Prefer::Right);
    }

    #[test]
    fn subset_and_select_keep_columns_aligned_and_shared() {
        let csv = parse_csv(
            NB201_CSV_FIXTURE.as_bytes(),
            "f.csv",
            &CsvOptions {
                truth: Some(vec!["cifar10_test_200ep".into(), "cifar100_test_200ep".into()]),
                proxies: vec!["cifar10valid_valid_200ep".into()],
                ..Default::default()
            },
        )
        .unwrap();
        let s = csv.subset(|row, _| row != 1);
        assert_eq!(s.len(), 2);
        assert_eq!(s.task("cifar10_test_200ep").unwrap().truth(), [85.863333, 86.823333]);
        let a = s
            .task("cifar10_test_200ep")
            .unwrap()
            .proxy("cifar10valid_valid_200ep")
            .unwrap();
        let b = s
            .task("cifar100_test_200ep")
            .unwrap()
            .proxy("cifar10valid_valid_200ep")
            .unwrap();
        assert!(std::ptr::eq(a, b));
        let k = s.subset_keys(&["(3, 1, 1, 3, 3, 3)"]).unwrap();
        assert_eq!(k.len(), 1);
        assert_eq!(k.task("cifar100_test_200ep").unwrap().truth(), [55.22]);
        assert!(s.subset_keys(&["(2, 2, 0, 4, 2, 0)"]).is_err());
        let one = csv.select_tasks(&["cifar100_test_200ep"]).unwrap();
        assert_eq!(one.task_names(), ["cifar100_test_200ep"]);
        assert!(
            csv.select_tasks(&["nope"])
                .unwrap_err()
                .to_string()
                .contains("cifar10_test_200ep")
        );
    }

    #[test]
    fn attach_scores_fixture_to_every_task_and_round_trip() {
        let mut a = parse_csv(NB201_CSV_FIXTURE.as_bytes(), "f.csv", &CsvOptions::default()).unwrap();
        let report = attach_scores_bytes(
            &mut a,
            scores_fixture().as_bytes(),
            "s.jsonl",
            &AttachOptions::default(),
        )
        .unwrap();
        assert_eq!(report.matched, 2);
        assert_eq!(report.added, 0);
        assert_eq!(report.proxies, ["lswag", "zico", "params"]);
        assert_eq!(report.tasks.len(), 3);
        for t in a.tasks() {
            assert_eq!(t.proxy("lswag").unwrap()[..2], [1.5, 2.5]);
            assert!(t.proxy("lswag").unwrap()[2].is_nan());
        }
        // Shared, not copied per task.
        let p0 = a.tasks()[0].proxy("zico").unwrap();
        let p2 = a.tasks()[2].proxy("zico").unwrap();
        assert!(std::ptr::eq(p0, p2));
        assert_eq!(a.profile(0).unwrap(), &profile(12, 5000));
        assert_eq!(a.provenance().len(), 2);
        // cifar10valid_valid_200ep has 2 records; lswag missing on none of them.
        let t = a.task("cifar10valid_valid_200ep").unwrap();
        assert_eq!(t.missing_counts()[1], ("zico".to_string(), 1));

        // Attaching the same run again changes nothing.
        let before = a.clone();
        attach_scores_bytes(
            &mut a,
            scores_fixture().as_bytes(),
            "s.jsonl",
            &AttachOptions::default(),
        )
        .unwrap();
        assert_eq!(a, before);

        let bytes = encode_native(&a).unwrap();
        let back = decode_native(&bytes, "x.lswag").unwrap();
        assert_eq!(back, a);
        assert!(std::ptr::eq(
            back.tasks()[0].proxy("zico").unwrap(),
            back.tasks()[1].proxy("zico").unwrap()
        ));
    }

    #[test]
    fn unknown_architectures_error_with_line_or_are_added() {
        let mut a = parse_csv(NB201_CSV_FIXTURE.as_bytes(), "f.csv", &CsvOptions::default()).unwrap();
        let extra = "{\"arch\": \"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\", \"proxies\": {\"lswag\": 0.0}}\n";
        let text = format!("{}{extra}", scores_fixture());
        let msg = attach_scores_bytes(&mut a, text.as_bytes(), "s.jsonl", &AttachOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("s.jsonl") && msg.contains("line 4") && msg.contains("|none~0|"),
            "{msg}"
        );
        let opts = AttachOptions {
            unknown: UnknownKeys::Add,
            ..Default::default()
        };
        let r = attach_scores_bytes(&mut a, text.as_bytes(), "s.jsonl", &opts).unwrap();
        assert_eq!((r.matched, r.added), (2, 1));
        assert_eq!(a.len(), 4);
        assert_eq!(a.task("cifar10_test_200ep").unwrap().record_count(), 3); // no truth for the new one

        // Into a score-only archive, new keys are added by default.
        let mut s = parse_scores(scores_fixture().as_bytes(), "s.jsonl", None).unwrap();
        let r = attach_scores_bytes(&mut s, extra.as_bytes(), "t.jsonl", &AttachOptions::default()).unwrap();
        assert_eq!((r.matched, r.added), (0, 1));
        assert_eq!(s.task(SCORES_TASK).unwrap().proxy("lswag").unwrap(), [1.5, 2.5, 0.0]);

        // One named task only.
        let mut a = parse_csv(NB201_CSV_FIXTURE.as_bytes(), "f.csv", &CsvOptions::default()).unwrap();
        let opts = AttachOptions {
            task: Some("cifar100_test_200ep".into()),
            ..Default::default()
        };
        attach_scores_bytes(&mut a, scores_fixture().as_bytes(), "s.jsonl", &opts).unwrap();
        assert!(a.task("cifar10_test_200ep").unwrap().proxies().is_empty());
        assert_eq!(a.task("cifar100_test_200ep").unwrap().proxies().len(), 3);
    }

    #[test]
    fn conflicting_scores_and_profiles_are_reported() {
        let mut a = parse_csv(NB201_CSV_FIXTURE.as_bytes(), "f.csv", &CsvOptions::default()).unwrap();
        attach_scores_bytes(
            &mut a,
            scores_fixture().as_bytes(),
            "s.jsonl",
            &AttachOptions::default(),
        )
        .unwrap();
        let changed = scores_fixture().replace("\"lswag\": 2.5", "\"lswag\": 2.75");
        let msg = attach_scores_bytes(&mut a, changed.as_bytes(), "s2.jsonl", &AttachOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("s.jsonl") && msg.contains("s2.jsonl") && msg.contains("2.75"),
            "{msg}"
        );
        let prefer = AttachOptions {
            prefer: Some(Prefer::Right),
            ..Default::default()
        };
        attach_scores_bytes(&mut a, changed.as_bytes(), "s2.jsonl", &prefer).unwrap();
        assert_eq!(a.tasks()[0].proxy("lswag").unwrap()[1], 2.75);
    }

    #[test]
    fn csv_export_reads_back_identically() {
        let mut a = parse_csv(NB201_CSV_FIXTURE.as_bytes(), "f.csv", &CsvOptions::default()).unwrap();
        attach_scores_bytes(
            &mut a,
            scores_fixture().as_bytes(),
            "s.jsonl",
            &AttachOptions::default(),
        )
        .unwrap();
        let text = task_csv(&a, "cifar10valid_valid_200ep").unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "arch_str,cifar10valid_valid_200ep,lswag,zico,params"
        );
        assert_eq!(text.lines().count(), 3); // header + the task's 2 records
        let opts = CsvOptions {
            truth: Some(vec!["cifar10valid_valid_200ep".into()]),
            proxies: vec!["*".into()],
            ..Default::default()
        };
        let back = parse_csv(text.as_bytes(), "e.csv", &opts).unwrap();
        let t0 = a.task("cifar10valid_valid_200ep").unwrap();
        let t1 = back.task("cifar10valid_valid_200ep").unwrap();
        assert_eq!(t1.truth(), &t0.truth()[..2]);
        for name in ["lswag", "zico", "params"] {
            assert!(crate::archive::model::bits_eq(
                t1.proxy(name).unwrap(),
                &t0.proxy(name).unwrap()[..2]
            ));
        }
        for v in [0.1, 1e-300, 123456789.123, -2.5e20, 5e-7, f64::MAX] {
            assert_eq!(format_value(v).parse::<f64>().unwrap(), v);
        }
    }

    #[test]
    fn joining_only_score_runs_builds_a_score_archive() {
        let tmp = std::env::temp_dir().join(format!("lswag-archive-scores-only-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let a = tmp.join("a.jsonl");
        let b = tmp.join("b.jsonl");
        std::fs::write(&a, scores_fixture()).unwrap();
        let extra = "{\"arch\": \"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\", \"proxies\": {\"lswag\": 0.5}}\n";
        std::fs::write(&b, extra).unwrap();
        let out = tmp.join("s.lswag");
        let log = join_files(&[a, b], &out, None, false, &OpenOptions::default()).unwrap();
        assert!(log.contains("0 architectures matched, 1 added"), "{log}");
        let s = read_native(&out).unwrap();
        assert_eq!(s.space(), &Space::Nb201);
        assert_eq!(s.task_names(), [SCORES_TASK]);
        assert_eq!(s.task(SCORES_TASK).unwrap().proxy("lswag").unwrap(), [1.5, 2.5, 0.5]);
        assert!(join_files(&[], &out, None, false, &OpenOptions::default()).is_err());
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    /// Done-means of the issue: the NB201 CSV converted to native, joined
    /// with a score run, reopens with identical content; and the CLI
    /// functions run end to end on real files.
    #[test]
    fn shared_csv_to_native_with_scores_round_trips_and_cli_functions_work() {
        let Some(dir) = shared_data_dir() else { return };
        let tmp = std::env::temp_dir().join(format!("lswag-archive-ops-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let csv_path = dir.join("nb201/nb201_accuracies.csv");
        let scores = tmp.join("run.jsonl");
        std::fs::write(&scores, scores_fixture()).unwrap();
        let native = tmp.join("nb201.lswag");

        let msg = convert(&csv_path, &native, &OpenOptions::default()).unwrap();
        assert!(msg.contains("15625 records, 11 tasks"), "{msg}");
        let mut a = read_native(&native).unwrap();
        let fresh = crate::archive::csv::read_csv(&csv_path, &CsvOptions::default()).unwrap();
        assert_eq!(a.keys(), fresh.keys());
        assert_eq!(a.tasks(), fresh.tasks());
        let report = attach_scores(&mut a, &scores).unwrap();
        assert_eq!(report.matched, 2);
        let joined = tmp.join("joined.lswag");
        write_native(&a, &joined).unwrap();
        let back = read_native(&joined).unwrap();
        assert_eq!(back, a);

        // The same through the CLI function.
        let out = tmp.join("cli.lswag");
        let log = join_files(
            &[scores.clone(), csv_path.clone()],
            &out,
            None,
            false,
            &OpenOptions::default(),
        )
        .unwrap();
        assert!(log.contains("2 architectures matched"), "{log}");
        let cli = read_native(&out).unwrap();
        assert_eq!(cli.keys(), a.keys());
        assert_eq!(cli.tasks()[0].proxy_names(), ["lswag", "zico", "params"]);

        // --scored-only keeps the records with profiles, written once.
        let scored = tmp.join("scored.lswag");
        let log = join_files(
            &[scores.clone(), csv_path.clone()],
            &scored,
            None,
            true,
            &OpenOptions::default(),
        )
        .unwrap();
        assert!(log.contains("kept the 1 of 15625 records"), "{log}");
        assert_eq!(
            read_native(&scored).unwrap().len(),
            1,
            "the fixture profiles one of its two cells"
        );
        // An output that is also an input is refused and the input survives.
        let before = std::fs::read(&out).unwrap();
        let e = join_files(
            &[out.clone(), scores.clone()],
            &out,
            None,
            false,
            &OpenOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("also the input"), "{e}");
        let e = export(&out, &out, None, &OpenOptions::default()).unwrap_err();
        assert!(e.to_string().contains("also the input"), "{e}");
        let e = convert(&out, &out, &OpenOptions::default()).unwrap_err();
        assert!(e.to_string().contains("also the input"), "{e}");
        assert_eq!(std::fs::read(&out).unwrap(), before);
        // An unknown export format is named, not silently written as native.
        let e = export(&out, &tmp.join("x.txt"), None, &OpenOptions::default()).unwrap_err();
        assert!(e.to_string().contains("unknown output format"), "{e}");
        assert!(!tmp.join("x.txt").exists());

        let text = info(
            &dir.join("suite_zero/zc_transbench101_micro.json"),
            &OpenOptions::default(),
        )
        .unwrap();
        assert!(
            text.contains("nas-bench-suite-zero") && text.contains("tasks: 7"),
            "{text}"
        );
        let md = tmp.join("summary.md");
        export(&out, &md, None, &OpenOptions::default()).unwrap();
        assert!(
            std::fs::read_to_string(&md)
                .unwrap()
                .contains("## cifar10_test_200ep: 15625 records")
        );
        let csv_out = tmp.join("c10.csv");
        let msg = export(&out, &csv_out, Some("cifar10_test_200ep"), &OpenOptions::default()).unwrap();
        assert!(msg.contains("15625 rows"), "{msg}");
        assert!(export(&out, &csv_out, None, &OpenOptions::default()).is_err());
        assert!(convert(&csv_path, &tmp.join("x.csv"), &OpenOptions::default()).is_err());
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
