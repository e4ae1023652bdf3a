//! The in-memory archive: one search space, one row per architecture
//! (`keys`), and per task a ground-truth column plus proxy columns, all
//! stored column by column.
//!
//! # Contract with the analysis layer
//! A column is a `&[f64]` aligned with [`Archive::keys`]; `NaN` means
//! missing. Input values of `-1e8` (Suite-Zero's "evaluation failed") and
//! non-finite values never reach a column as numbers: [`clean_value`] maps
//! them to `NaN` and they are counted as missing.
//!
//! # Why columnar
//! Analysis ranks whole columns, and 15,625 records x 15 proxies is 234k
//! numbers: as `f64` columns that is 1.9 MB, where a map per record would
//! cost ten times that. Column data sits in `Arc<[f64]>` so that a proxy
//! computed by our engine (which does not depend on the task) is stored
//! once and shared by every task it is attached to.
//!
//! # Task membership
//! Keys are the union over all tasks (TransNAS-Bench macro has 662 records
//! in two tasks and 725 in the others). A record belongs to a task when its
//! ground truth there is present; a task without any ground truth (a score
//! run on its own) contains every record.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::engine::profile::{LayerProfile, LayerStat, PERC_BINS};
pub use crate::space::Space;

use super::error::ArchiveError;

/// Column storage, shared between tasks where the data is the same.
pub type Values = Arc<[f64]>;

/// Suite-Zero stores a failed proxy evaluation as this number.
pub const FAILED_SENTINEL: f64 = -1e8;

/// Name of the task that holds scores without ground truth (a score run
/// opened on its own).
pub const SCORES_TASK: &str = "scores";

/// Maps an input value to the column contract: finite values stay, `-1e8`
/// and non-finite values become `NaN` (missing).
#[inline]
pub fn clean_value(v: f64) -> f64 {
    if v.is_finite() && v != FAILED_SENTINEL {
        v
    } else {
        f64::NAN
    }
}

/// Where a column came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    /// The file it was read from, as given.
    pub source: String,
    /// When it was read, RFC 3339 UTC.
    pub read_at: String,
    /// How: reader and options, or the score run's own provenance JSON.
    pub config: String,
}

impl Provenance {
    pub fn new(source: impl Into<String>, config: impl Into<String>) -> Provenance {
        Provenance {
            source: source.into(),
            read_at: now_rfc3339(),
            config: config.into(),
        }
    }
}

/// The current time as `YYYY-MM-DDTHH:MM:SSZ`, without a date crate.
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// One proxy column of a task.
#[derive(Clone, Debug)]
pub struct Column {
    pub(crate) name: String,
    pub(crate) values: Values,
    /// Indices into [`Archive::provenance`], in order of contribution (a
    /// joined column has several).
    pub(crate) provenance: Vec<usize>,
    /// True when the reader negated the stored values because the source
    /// uses "lower is better" (SPEC: negated at load time, and says so).
    pub(crate) negated: bool,
}

impl Column {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn values(&self) -> &[f64] {
        &self.values
    }
    pub fn provenance(&self) -> &[usize] {
        &self.provenance
    }
    pub fn negated(&self) -> bool {
        self.negated
    }
    /// The shared storage, for callers that want to keep the column alive
    /// cheaply (e.g. a background analysis job).
    pub fn shared_values(&self) -> Values {
        self.values.clone()
    }
}

impl PartialEq for Column {
    /// Bitwise on values, so `NaN == NaN` (two archives with the same missing
    /// values are equal).
    fn eq(&self, other: &Column) -> bool {
        self.name == other.name
            && self.negated == other.negated
            && self.provenance == other.provenance
            && bits_eq(&self.values, &other.values)
    }
}

pub(crate) fn bits_eq(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Profile equality with floats compared bitwise, so a profile holding a
/// NaN equals itself (`LayerProfile`'s derived `PartialEq` says it does not,
/// which would make a round trip or a self-join look like a conflict).
pub fn profile_bits_eq(a: &LayerProfile, b: &LayerProfile) -> bool {
    let f32_bits = |x: Option<f32>| x.map(f32::to_bits);
    bits_eq(&a.lambda_bin, &b.lambda_bin)
        && a.psi_upto == b.psi_upto
        && a.psi_bin == b.psi_bin
        && a.params == b.params
        && a.flops == b.flops
        && a.layers.len() == b.layers.len()
        && a.layers.iter().zip(&b.layers).all(|(x, y)| {
            x.bin == y.bin
                && x.psi == y.psi
                && f32_bits(x.lambda) == f32_bits(y.lambda)
                && f32_bits(x.mean_log_sigma) == f32_bits(y.mean_log_sigma)
        })
}

fn profiles_bits_eq(a: &[Option<LayerProfile>], b: &[Option<LayerProfile>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Some(x), Some(y)) => profile_bits_eq(x, y),
            (None, None) => true,
            _ => false,
        })
}

/// One benchmark task: ground truth and proxies over the archive's keys.
#[derive(Clone, Debug)]
pub struct Task {
    pub(crate) name: String,
    pub(crate) truth: Values,
    pub(crate) truth_provenance: Vec<usize>,
    pub(crate) proxies: Vec<Column>,
    /// Cached number of present ground-truth values.
    pub(crate) truth_count: usize,
}

impl PartialEq for Task {
    fn eq(&self, other: &Task) -> bool {
        self.name == other.name
            && self.truth_provenance == other.truth_provenance
            && self.proxies == other.proxies
            && bits_eq(&self.truth, &other.truth)
    }
}

impl Task {
    pub(crate) fn new(name: String, truth: Values, truth_provenance: Vec<usize>, proxies: Vec<Column>) -> Task {
        let truth_count = truth.iter().filter(|v| !v.is_nan()).count();
        Task {
            name,
            truth,
            truth_provenance,
            proxies,
            truth_count,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Ground truth aligned with the archive's keys; `NaN` where the record
    /// is not part of this task.
    pub fn truth(&self) -> &[f64] {
        &self.truth
    }

    pub fn truth_provenance(&self) -> &[usize] {
        &self.truth_provenance
    }

    pub fn has_truth(&self) -> bool {
        self.truth_count > 0
    }

    pub fn proxies(&self) -> &[Column] {
        &self.proxies
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.proxies.iter().find(|c| c.name == name)
    }

    /// A proxy column aligned with the archive's keys, `NaN` = missing.
    pub fn proxy(&self, name: &str) -> Option<&[f64]> {
        self.column(name).map(|c| &c.values[..])
    }

    pub fn proxy_names(&self) -> Vec<&str> {
        self.proxies.iter().map(|c| c.name.as_str()).collect()
    }

    /// Whether row `row` is a record of this task (see the module docs).
    pub fn is_member(&self, row: usize) -> bool {
        if self.has_truth() {
            self.truth.get(row).is_some_and(|v| !v.is_nan())
        } else {
            row < self.truth.len()
        }
    }

    /// Number of records in this task.
    pub fn record_count(&self) -> usize {
        if self.has_truth() {
            self.truth_count
        } else {
            self.truth.len()
        }
    }

    /// Per proxy, in column order: how many of this task's records lack a
    /// value.
    pub fn missing_counts(&self) -> Vec<(String, usize)> {
        self.proxies
            .iter()
            .map(|c| {
                let missing = c
                    .values
                    .iter()
                    .enumerate()
                    .filter(|&(row, v)| v.is_nan() && self.is_member(row))
                    .count();
                (c.name.clone(), missing)
            })
            .collect()
    }
}

/// A benchmark archive. Fields are private so that every column stays
/// aligned with `keys` and the key index stays in step; build one with
/// [`ArchiveBuilder`], a reader, or the operations in `ops`.
#[derive(Clone, Debug)]
pub struct Archive {
    pub(crate) space: Space,
    pub(crate) keys: Vec<String>,
    pub(crate) tasks: Vec<Task>,
    pub(crate) profiles: Vec<Option<LayerProfile>>,
    pub(crate) provenance: Vec<Provenance>,
    /// key -> row, rebuilt on load.
    index: HashMap<String, usize>,
    /// `params` from the profiles, for tasks without a `params` proxy.
    profile_params: Option<Values>,
}

impl PartialEq for Archive {
    fn eq(&self, other: &Archive) -> bool {
        self.space == other.space
            && self.keys == other.keys
            && self.tasks == other.tasks
            && profiles_bits_eq(&self.profiles, &other.profiles)
            && self.provenance == other.provenance
    }
}

impl Archive {
    /// An empty archive of a space.
    pub fn empty(space: Space) -> Archive {
        Archive::from_parts_unchecked(space, Vec::new(), Vec::new(), Vec::new(), Vec::new())
    }

    /// Assembles parts that are known to be consistent (derived from a valid
    /// archive). Keys must be unique.
    pub(crate) fn from_parts_unchecked(
        space: Space,
        keys: Vec<String>,
        tasks: Vec<Task>,
        profiles: Vec<Option<LayerProfile>>,
        provenance: Vec<Provenance>,
    ) -> Archive {
        let index = keys.iter().enumerate().map(|(i, k)| (k.clone(), i)).collect();
        let mut archive = Archive {
            space,
            keys,
            tasks,
            profiles,
            provenance,
            index,
            profile_params: None,
        };
        archive.refresh_derived();
        archive
    }

    /// Assembles parts from an untrusted source (a native file), checking
    /// every invariant the rest of the app relies on.
    pub(crate) fn from_parts_checked(
        space: Space,
        keys: Vec<String>,
        tasks: Vec<Task>,
        profiles: Vec<Option<LayerProfile>>,
        provenance: Vec<Provenance>,
    ) -> Result<Archive, String> {
        let n = keys.len();
        let mut index = HashMap::with_capacity(n);
        for (i, key) in keys.iter().enumerate() {
            if let Some(first) = index.insert(key.clone(), i) {
                return Err(format!("duplicate key `{key}` at rows {first} and {i}"));
            }
        }
        if profiles.len() != n {
            return Err(format!("{} profiles for {n} keys", profiles.len()));
        }
        for (row, p) in profiles.iter().enumerate() {
            if let Some(p) = p {
                validate_profile(p).map_err(|e| format!("profile of `{}`: {e}", keys[row]))?;
            }
        }
        let np = provenance.len();
        let check_prov = |what: &str, idx: &[usize]| match idx.iter().find(|&&i| i >= np) {
            Some(i) => Err(format!("{what} refers to source {i}, but there are {np}")),
            None => Ok(()),
        };
        let mut task_names = HashSet::new();
        for task in &tasks {
            if task.name.is_empty() || !task_names.insert(task.name.as_str()) {
                return Err(format!("task name `{}` is empty or repeated", task.name));
            }
            if task.truth.len() != n {
                return Err(format!(
                    "task `{}`: {} truth values for {n} keys",
                    task.name,
                    task.truth.len()
                ));
            }
            check_prov(&format!("task `{}` ground truth", task.name), &task.truth_provenance)?;
            let mut names = HashSet::new();
            for c in &task.proxies {
                if c.name.is_empty() || !names.insert(c.name.as_str()) {
                    return Err(format!(
                        "task `{}`: proxy name `{}` is empty or repeated",
                        task.name, c.name
                    ));
                }
                if c.values.len() != n {
                    return Err(format!(
                        "task `{}` proxy `{}`: {} values for {n} keys",
                        task.name,
                        c.name,
                        c.values.len()
                    ));
                }
                check_prov(&format!("task `{}` proxy `{}`", task.name, c.name), &c.provenance)?;
            }
        }
        let mut archive = Archive {
            space,
            keys,
            tasks,
            profiles,
            provenance,
            index,
            profile_params: None,
        };
        archive.refresh_derived();
        Ok(archive)
    }

    fn refresh_derived(&mut self) {
        self.profile_params = if self.profiles.iter().any(Option::is_some) {
            Some(
                self.profiles
                    .iter()
                    .map(|p| p.as_ref().map_or(f64::NAN, |p| p.params as f64))
                    .collect(),
            )
        } else {
            None
        };
    }

    pub fn space(&self) -> &Space {
        &self.space
    }

    /// Number of records (architectures).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Canonical keys, one per row.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    pub fn key(&self, row: usize) -> Option<&str> {
        self.keys.get(row).map(String::as_str)
    }

    /// Row of a key. Accepts the canonical key or any spelling the space
    /// can canonicalise (an NB201 NASLib tuple, say).
    pub fn index_of(&self, key: &str) -> Option<usize> {
        if let Some(&i) = self.index.get(key) {
            return Some(i);
        }
        let canonical = self.space.canonical_key(key).ok()?;
        self.index.get(&canonical).copied()
    }

    /// Exact lookup of a canonical key.
    pub(crate) fn row_of(&self, key: &str) -> Option<usize> {
        self.index.get(key).copied()
    }

    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    pub fn task(&self, name: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.name == name)
    }

    /// Like [`Archive::task`], with an error that lists the tasks there are.
    pub fn require_task(&self, name: &str) -> Result<&Task, ArchiveError> {
        self.task(name).ok_or_else(|| ArchiveError::NoTask {
            task: name.to_string(),
            context: format!("the archive from {}", self.source_names()),
            available: self.task_names().join(", "),
        })
    }

    pub fn task_names(&self) -> Vec<&str> {
        self.tasks.iter().map(|t| t.name.as_str()).collect()
    }

    pub fn profiles(&self) -> &[Option<LayerProfile>] {
        &self.profiles
    }

    pub fn profile(&self, row: usize) -> Option<&LayerProfile> {
        self.profiles.get(row)?.as_ref()
    }

    pub fn profile_count(&self) -> usize {
        self.profiles.iter().filter(|p| p.is_some()).count()
    }

    pub fn provenance(&self) -> &[Provenance] {
        &self.provenance
    }

    /// The files this archive was built from, for messages.
    pub fn source_names(&self) -> String {
        if self.provenance.is_empty() {
            return "(no source)".to_string();
        }
        let mut names: Vec<&str> = Vec::new();
        for p in &self.provenance {
            if !names.contains(&p.source.as_str()) {
                names.push(&p.source);
            }
        }
        names.join(" + ")
    }

    /// Files behind some provenance indices, for conflict messages.
    pub(crate) fn sources_of(&self, idx: &[usize]) -> String {
        let mut names: Vec<&str> = Vec::new();
        for &i in idx {
            if let Some(p) = self.provenance.get(i)
                && !names.contains(&p.source.as_str())
            {
                names.push(&p.source);
            }
        }
        if names.is_empty() {
            self.source_names()
        } else {
            names.join(" + ")
        }
    }

    /// The parameter counts LIBRA's bias uses: the task's `params` proxy if
    /// it has one, else the profiles' `params`. Units differ (Suite-Zero:
    /// millions; profiles: a count), which rank-based use does not see.
    pub fn params_column(&self, task: &str) -> Option<&[f64]> {
        let t = self.task(task)?;
        t.proxy("params").or(self.profile_params.as_deref())
    }

    /// Estimated heap bytes held by this archive: the capacity of every
    /// vector and string, each shared column once, and the key index as
    /// hashbrown lays it out (buckets of `(String, usize)` plus one control
    /// byte, buckets = next power of two of 8/7 of the capacity). Allocator
    /// overhead (8-16 bytes per allocation) is not included.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let string = |s: &String| s.capacity();
        let mut total = self.keys.capacity() * size_of::<String>() + self.keys.iter().map(string).sum::<usize>();
        let buckets = (self.index.capacity() * 8 / 7).next_power_of_two();
        total += buckets * (size_of::<(String, usize)>() + 1) + self.index.keys().map(string).sum::<usize>();
        let mut seen: HashSet<usize> = HashSet::new();
        let mut arc = |v: &Values| {
            if seen.insert(Arc::as_ptr(v) as *const f64 as usize) {
                2 * size_of::<usize>() + v.len() * size_of::<f64>()
            } else {
                0
            }
        };
        total += self.tasks.capacity() * size_of::<Task>();
        for t in &self.tasks {
            total += t.name.capacity() + t.truth_provenance.capacity() * size_of::<usize>() + arc(&t.truth);
            total += t.proxies.capacity() * size_of::<Column>();
            for c in &t.proxies {
                total += c.name.capacity() + c.provenance.capacity() * size_of::<usize>() + arc(&c.values);
            }
        }
        if let Some(p) = &self.profile_params {
            total += arc(p);
        }
        total += self.profiles.capacity() * size_of::<Option<LayerProfile>>();
        total += self
            .profiles
            .iter()
            .flatten()
            .map(|p| p.layers.capacity() * size_of::<LayerStat>())
            .sum::<usize>();
        total += self.provenance.capacity() * size_of::<Provenance>();
        total += self
            .provenance
            .iter()
            .map(|p| p.source.capacity() + p.read_at.capacity() + p.config.capacity())
            .sum::<usize>();
        total
    }

    /// What `archive info` prints (its `Display`), also as data for the UI.
    pub fn summary(&self) -> Summary {
        Summary {
            space: self.space.name().to_string(),
            records: self.len(),
            profiles: self.profile_count(),
            sources: self.provenance.clone(),
            tasks: self
                .tasks
                .iter()
                .map(|t| {
                    let missing = t.missing_counts();
                    TaskSummary {
                        name: t.name.clone(),
                        records: t.record_count(),
                        has_truth: t.has_truth(),
                        proxies: t
                            .proxies
                            .iter()
                            .zip(missing)
                            .map(|(c, (_, missing))| ProxySummary {
                                name: c.name.clone(),
                                present: t.record_count() - missing,
                                missing,
                                negated: c.negated,
                            })
                            .collect(),
                    }
                })
                .collect(),
        }
    }
}

/// Checks what `LayerProfile`'s methods index by: bins must be 1..=10.
pub(crate) fn validate_profile(p: &LayerProfile) -> Result<(), String> {
    for (i, layer) in p.layers.iter().enumerate() {
        if !(1..=PERC_BINS).contains(&(layer.bin as usize)) {
            return Err(format!(
                "layer {} has depth bin {}, expected 1..={PERC_BINS}",
                i + 1,
                layer.bin
            ));
        }
    }
    Ok(())
}

/// `archive info`: the space, each task with its record count, and each
/// proxy with its present and missing counts.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub space: String,
    pub records: usize,
    pub profiles: usize,
    pub sources: Vec<Provenance>,
    pub tasks: Vec<TaskSummary>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TaskSummary {
    pub name: String,
    pub records: usize,
    pub has_truth: bool,
    pub proxies: Vec<ProxySummary>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProxySummary {
    pub name: String,
    pub present: usize,
    pub missing: usize,
    pub negated: bool,
}

impl Summary {
    fn task_heading(t: &TaskSummary) -> String {
        let truth = if t.has_truth {
            "with ground truth"
        } else {
            "no ground truth"
        };
        format!(
            "{}: {} records ({truth}), {} proxies",
            t.name,
            t.records,
            t.proxies.len()
        )
    }

    /// The same content as a Markdown document.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        s.push_str("# Archive summary\n\n");
        s.push_str(&format!(
            "- space: `{}`\n- records: {}\n- layer profiles: {}\n- tasks: {}\n\n",
            self.space,
            self.records,
            self.profiles,
            self.tasks.len()
        ));
        s.push_str("## Sources\n\n| # | file | read at | config |\n|---|---|---|---|\n");
        for (i, p) in self.sources.iter().enumerate() {
            s.push_str(&format!(
                "| {i} | `{}` | {} | `{}` |\n",
                p.source,
                p.read_at,
                p.config.replace('|', "\\|")
            ));
        }
        for t in &self.tasks {
            s.push_str(&format!("\n## {}\n\n", Summary::task_heading(t)));
            if t.proxies.is_empty() {
                continue;
            }
            s.push_str("| proxy | present | missing |\n|---|---:|---:|\n");
            for p in &t.proxies {
                let neg = if p.negated { " (negated at load)" } else { "" };
                s.push_str(&format!("| {}{neg} | {} | {} |\n", p.name, p.present, p.missing));
            }
        }
        s
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "space: {}", self.space)?;
        writeln!(f, "records: {}", self.records)?;
        writeln!(f, "layer profiles: {}", self.profiles)?;
        writeln!(f, "sources:")?;
        for (i, p) in self.sources.iter().enumerate() {
            writeln!(f, "  [{i}] {} (read {}) {}", p.source, p.read_at, p.config)?;
        }
        writeln!(f, "tasks: {}", self.tasks.len())?;
        for t in &self.tasks {
            writeln!(f, "  {}", Summary::task_heading(t))?;
            if t.proxies.is_empty() {
                continue;
            }
            let width = t.proxies.iter().map(|p| p.name.len()).max().unwrap_or(5).max(5);
            writeln!(f, "    {:width$}  {:>7}  {:>7}", "proxy", "present", "missing")?;
            for p in &t.proxies {
                let neg = if p.negated { "  (negated at load)" } else { "" };
                writeln!(f, "    {:width$}  {:>7}  {:>7}{neg}", p.name, p.present, p.missing)?;
            }
        }
        Ok(())
    }
}

/// Handle to a task inside an [`ArchiveBuilder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskId(usize);

/// Handle to a column inside an [`ArchiveBuilder`]: a task's own column or
/// a shared one that every task receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnId {
    Task { task: usize, column: usize },
    Shared(usize),
}

#[derive(Debug)]
struct ColumnDraft {
    name: String,
    values: Vec<f64>,
    provenance: Vec<usize>,
    negated: bool,
}

#[derive(Debug)]
struct TaskDraft {
    name: String,
    truth: Vec<f64>,
    truth_provenance: Vec<usize>,
    proxies: Vec<ColumnDraft>,
    /// Proxy name -> position (hash lookups: a hostile file may hold many).
    index: HashMap<String, usize>,
}

/// Builds an archive row by row (readers, the mini-benchmark builder).
/// Columns grow lazily; `build` pads them with `NaN` to the number of keys.
/// Every value goes through [`clean_value`].
#[derive(Debug)]
pub struct ArchiveBuilder {
    space: Space,
    keys: Vec<String>,
    index: HashMap<String, usize>,
    provenance: Vec<Provenance>,
    tasks: Vec<TaskDraft>,
    task_index: HashMap<String, usize>,
    shared: Vec<ColumnDraft>,
    shared_index: HashMap<String, usize>,
    profiles: Vec<Option<LayerProfile>>,
}

fn put(values: &mut Vec<f64>, row: usize, v: f64) {
    if values.len() <= row {
        values.resize(row + 1, f64::NAN);
    }
    values[row] = clean_value(v);
}

impl ArchiveBuilder {
    pub fn new(space: Space) -> ArchiveBuilder {
        ArchiveBuilder {
            space,
            keys: Vec::new(),
            index: HashMap::new(),
            provenance: Vec::new(),
            tasks: Vec::new(),
            task_index: HashMap::new(),
            shared: Vec::new(),
            shared_index: HashMap::new(),
            profiles: Vec::new(),
        }
    }

    pub fn space(&self) -> &Space {
        &self.space
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn add_provenance(&mut self, p: Provenance) -> usize {
        if let Some(i) = self.provenance.iter().position(|q| *q == p) {
            return i;
        }
        self.provenance.push(p);
        self.provenance.len() - 1
    }

    pub fn index_of(&self, key: &str) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// Adds a key (already canonical). `Err(row)` if it exists.
    pub fn insert_key(&mut self, key: String) -> Result<usize, usize> {
        if let Some(&row) = self.index.get(&key) {
            return Err(row);
        }
        let row = self.keys.len();
        self.index.insert(key.clone(), row);
        self.keys.push(key);
        Ok(row)
    }

    /// The row of a key, adding it if new.
    pub fn row(&mut self, key: &str) -> usize {
        match self.index.get(key) {
            Some(&row) => row,
            None => self.insert_key(key.to_string()).unwrap_or_else(|row| row),
        }
    }

    /// A task by name, created if new; `truth_provenance` is recorded once.
    pub fn task(&mut self, name: &str, truth_provenance: Option<usize>) -> TaskId {
        let i = match self.task_index.get(name) {
            Some(&i) => i,
            None => {
                self.tasks.push(TaskDraft {
                    name: name.to_string(),
                    truth: Vec::new(),
                    truth_provenance: Vec::new(),
                    proxies: Vec::new(),
                    index: HashMap::new(),
                });
                self.task_index.insert(name.to_string(), self.tasks.len() - 1);
                self.tasks.len() - 1
            }
        };
        if let Some(p) = truth_provenance
            && !self.tasks[i].truth_provenance.contains(&p)
        {
            self.tasks[i].truth_provenance.push(p);
        }
        TaskId(i)
    }

    /// A task's own proxy column, created if new.
    pub fn column(&mut self, task: TaskId, name: &str, provenance: usize, negated: bool) -> ColumnId {
        let t = &mut self.tasks[task.0];
        let column = match t.index.get(name) {
            Some(&c) => c,
            None => {
                t.proxies.push(ColumnDraft {
                    name: name.to_string(),
                    values: Vec::new(),
                    provenance: vec![provenance],
                    negated,
                });
                t.index.insert(name.to_string(), t.proxies.len() - 1);
                t.proxies.len() - 1
            }
        };
        ColumnId::Task { task: task.0, column }
    }

    /// A column that every task receives (stored once): proxies that do not
    /// depend on the task, such as our engine's scores.
    pub fn shared_column(&mut self, name: &str, provenance: usize, negated: bool) -> ColumnId {
        let i = match self.shared_index.get(name) {
            Some(&i) => i,
            None => {
                self.shared.push(ColumnDraft {
                    name: name.to_string(),
                    values: Vec::new(),
                    provenance: vec![provenance],
                    negated,
                });
                self.shared_index.insert(name.to_string(), self.shared.len() - 1);
                self.shared.len() - 1
            }
        };
        ColumnId::Shared(i)
    }

    pub fn set_truth(&mut self, task: TaskId, row: usize, value: f64) {
        put(&mut self.tasks[task.0].truth, row, value);
    }

    pub fn set(&mut self, column: ColumnId, row: usize, value: f64) {
        let values = match column {
            ColumnId::Task { task, column } => &mut self.tasks[task].proxies[column].values,
            ColumnId::Shared(i) => &mut self.shared[i].values,
        };
        put(values, row, value);
    }

    pub fn get(&self, column: ColumnId, row: usize) -> f64 {
        let values = match column {
            ColumnId::Task { task, column } => &self.tasks[task].proxies[column].values,
            ColumnId::Shared(i) => &self.shared[i].values,
        };
        values.get(row).copied().unwrap_or(f64::NAN)
    }

    pub fn set_profile(&mut self, row: usize, profile: LayerProfile) {
        if self.profiles.len() <= row {
            self.profiles.resize(row + 1, None);
        }
        self.profiles[row] = Some(profile);
    }

    /// Pads every column to the number of keys and assembles the archive.
    /// Shared columns go into every task; with no task at all they form the
    /// task [`SCORES_TASK`] (scores without ground truth).
    pub fn build(self) -> Result<Archive, ArchiveError> {
        let n = self.keys.len();
        let pad = |mut v: Vec<f64>| -> Values {
            v.resize(n, f64::NAN);
            Values::from(v)
        };
        let shared: Vec<Column> = self
            .shared
            .into_iter()
            .map(|c| Column {
                name: c.name,
                values: pad(c.values),
                provenance: c.provenance,
                negated: c.negated,
            })
            .collect();
        let mut drafts = self.tasks;
        if drafts.is_empty() && !shared.is_empty() {
            drafts.push(TaskDraft {
                name: SCORES_TASK.to_string(),
                truth: Vec::new(),
                truth_provenance: Vec::new(),
                proxies: Vec::new(),
                index: HashMap::new(),
            });
        }
        // One all-missing truth column serves every task without truth.
        let mut no_truth: Option<Values> = None;
        let mut tasks = Vec::with_capacity(drafts.len());
        for d in drafts {
            let truth = if d.truth.iter().all(|v| v.is_nan()) {
                no_truth.get_or_insert_with(|| pad(Vec::new())).clone()
            } else {
                pad(d.truth)
            };
            let mut proxies: Vec<Column> = d
                .proxies
                .into_iter()
                .map(|c| Column {
                    name: c.name,
                    values: pad(c.values),
                    provenance: c.provenance,
                    negated: c.negated,
                })
                .collect();
            for s in &shared {
                if d.index.contains_key(&s.name) {
                    return Err(ArchiveError::invalid(
                        format!("task `{}`", d.name),
                        format!("proxy `{}` is given both for this task and for every task", s.name),
                    ));
                }
                proxies.push(s.clone());
            }
            tasks.push(Task::new(d.name, truth, d.truth_provenance, proxies));
        }
        // Readers reject empty names with a position; this is the safety net
        // for other builders (the native format refuses empty names).
        for t in &tasks {
            if t.name.is_empty() || t.proxies.iter().any(|c| c.name.is_empty()) {
                return Err(ArchiveError::invalid(
                    "building an archive",
                    format!("task `{}` or one of its proxies has an empty name", t.name),
                ));
            }
        }
        let mut profiles = self.profiles;
        profiles.resize(n, None);
        Ok(Archive::from_parts_unchecked(
            self.space,
            self.keys,
            tasks,
            profiles,
            self.provenance,
        ))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::engine::profile::depth_bin;

    /// A profile with `layers` layers and recognisable numbers.
    pub(crate) fn profile(layers: usize, params: u64) -> LayerProfile {
        let mut lambda_bin = [0.0; PERC_BINS];
        let mut psi_bin = [0u64; PERC_BINS];
        let stats: Vec<LayerStat> = (1..=layers)
            .map(|l| {
                let bin = depth_bin(l, layers) as u8;
                let lambda = if l % 7 == 0 { None } else { Some(l as f32 * 0.5) };
                lambda_bin[bin as usize - 1] += lambda.unwrap_or(0.0) as f64;
                psi_bin[bin as usize - 1] += 3;
                LayerStat {
                    bin,
                    lambda,
                    mean_log_sigma: lambda.map(|x| -x),
                    psi: 3,
                }
            })
            .collect();
        let mut psi_upto = [0u64; PERC_BINS];
        let mut acc = 0;
        for p in 0..PERC_BINS {
            acc += psi_bin[p];
            psi_upto[p] = acc;
        }
        LayerProfile {
            lambda_bin,
            psi_upto,
            psi_bin,
            layers: stats,
            params,
            flops: params * 100,
        }
    }

    #[test]
    fn sentinel_and_non_finite_values_become_missing() {
        assert!(clean_value(-1e8).is_nan());
        assert!(clean_value(f64::INFINITY).is_nan());
        assert!(clean_value(f64::NEG_INFINITY).is_nan());
        assert!(clean_value(f64::NAN).is_nan());
        assert_eq!(clean_value(-1e8 + 1.0), -1e8 + 1.0);
        assert_eq!(clean_value(0.0), 0.0);
    }

    #[test]
    fn space_names_are_stable_and_round_trip() {
        for s in [
            Space::Nb201,
            Space::Nb101,
            Space::Nb301,
            Space::TransNasMicro,
            Space::TransNasMacro,
            Space::AutoFormer,
            Space::Other("my-space".into()),
        ] {
            assert_eq!(Space::from_name(s.name()), s);
        }
        assert_eq!(Space::from_name("transbench101_micro"), Space::TransNasMicro);
        assert_eq!(Space::from_name("NASBench201"), Space::Nb201);
    }

    #[test]
    fn nb201_keys_are_canonical_arch_strings() {
        let k = Space::Nb201.canonical_key(" (0, 2, 3, 2, 3, 1) ").unwrap();
        // Independently from the CSV: the row with naslib_tuple "(0, 2, 3, 2, 3, 1)".
        assert_eq!(
            k,
            "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|"
        );
        assert!(Space::Nb201.canonical_key("(0, 1)").is_err());
        assert!(Space::Nb101.canonical_key("  ").is_err());
        // A cell of zc_nasbench101.json, spaced otherwise: printed as the file writes it.
        let spaced = " (0,1,1,1,1,0,1, 0,0,0,0,0,1,1, 0,0,0,0,0,0,1, 0,0,0,0,1,1,0, 0,0,0,0,0,1,1, \
                      0,0,0,0,0,0,0, 0,0,0,0,0,0,0, 0,2,2,4,4,4,1) ";
        assert_eq!(
            Space::Nb101.canonical_key(spaced).unwrap(),
            "(0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, \
             0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 4, 4, 4, 1)"
        );
        assert!(Space::Nb101.canonical_key("(1, 2)").unwrap_err().contains("2 values"));
        // A space the studio cannot parse keeps the key as given, trimmed.
        let other = Space::Other("my-space".into());
        assert_eq!(other.canonical_key(" (1, 2) ").unwrap(), "(1, 2)");
    }

    #[test]
    fn autoformer_keys_are_one_per_network_whatever_the_spelling() {
        let spaced = r#"{ "heads": [5, 6, 7, 5, 6, 7, 5, 6, 7, 5, 6, 7], "depth": 12, "embed": 320,
            "mlp": [3, 3.5, 4, 3, 3.5, 4, 3, 3.5, 4, 3, 3.5, 4] }"#;
        let k = Space::AutoFormer.canonical_key(spaced).unwrap();
        assert_eq!(
            k,
            r#"{"embed":320,"depth":12,"mlp":[3,3.5,4,3,3.5,4,3,3.5,4,3,3.5,4],"heads":[5,6,7,5,6,7,5,6,7,5,6,7]}"#
        );
        assert_eq!(Space::AutoFormer.canonical_key(&k).unwrap(), k);
        let bad = Space::AutoFormer
            .canonical_key(r#"{"embed":321,"depth":12}"#)
            .unwrap_err();
        assert!(bad.contains("embed"), "{bad}");
    }

    #[test]
    fn builder_pads_shares_and_counts_missing() {
        let mut b = ArchiveBuilder::new(Space::Other("toy".into()));
        let p = b.add_provenance(Provenance::new("toy.csv", "{}"));
        let a = b.row("a");
        let c10 = b.task("c10", Some(p));
        let c100 = b.task("c100", Some(p));
        let own = b.column(c10, "own", p, false);
        let shared = b.shared_column("zico", p, false);
        b.set_truth(c10, a, 90.0);
        b.set_truth(c100, a, 70.0);
        b.set(own, a, 1.0);
        b.set(shared, a, -1e8); // failed: missing
        let bb = b.row("b");
        b.set_truth(c10, bb, 80.0);
        b.set(shared, bb, 2.0);
        let c = b.row("c"); // only in no task's truth
        b.set(shared, c, 3.0);
        b.set_profile(bb, profile(5, 1000));
        let archive = b.build().unwrap();

        assert_eq!(archive.len(), 3);
        assert_eq!(archive.task_names(), ["c10", "c100"]);
        let t10 = archive.task("c10").unwrap();
        assert_eq!(t10.record_count(), 2);
        assert_eq!(t10.proxy_names(), ["own", "zico"]);
        assert_eq!(t10.missing_counts(), [("own".to_string(), 1), ("zico".to_string(), 1)]);
        let t100 = archive.task("c100").unwrap();
        assert_eq!(t100.record_count(), 1);
        assert_eq!(t100.missing_counts(), [("zico".to_string(), 1)]);
        // The shared column is one allocation.
        assert!(std::ptr::eq(t10.proxy("zico").unwrap(), t100.proxy("zico").unwrap()));
        let z = t10.proxy("zico").unwrap();
        assert!(z[0].is_nan());
        assert_eq!(&z[1..], [2.0, 3.0]);
        assert_eq!(archive.index_of("c"), Some(2));
        assert_eq!(archive.index_of("d"), None);
        // No `params` proxy: from the profiles, NaN where there is none.
        let params = archive.params_column("c10").unwrap();
        assert!(params[0].is_nan() && params[2].is_nan());
        assert_eq!(params[1], 1000.0);
        assert!(archive.params_column("nope").is_none());
        let s = archive.summary().to_string();
        assert!(s.contains("c10: 2 records (with ground truth), 2 proxies"), "{s}");
        assert!(archive.summary().to_markdown().contains("| zico | 1 | 1 |"));
    }

    #[test]
    fn scores_without_tasks_form_the_scores_task() {
        let mut b = ArchiveBuilder::new(Space::Nb201);
        let p = b.add_provenance(Provenance::new("s.jsonl", "{}"));
        let col = b.shared_column("lswag", p, false);
        for i in 0..3 {
            let row = b.row(&format!("k{i}"));
            if i != 1 {
                b.set(col, row, i as f64);
            }
        }
        let a = b.build().unwrap();
        let t = a.task(SCORES_TASK).unwrap();
        assert!(!t.has_truth());
        assert_eq!(t.record_count(), 3);
        assert_eq!(t.missing_counts(), [("lswag".to_string(), 1)]);
    }

    #[test]
    fn checked_assembly_rejects_inconsistent_parts() {
        let keys = vec!["a".to_string(), "a".to_string()];
        let err = Archive::from_parts_checked(Space::Nb101, keys, vec![], vec![None, None], vec![]).unwrap_err();
        assert!(err.contains("duplicate key"), "{err}");
        let mut bad = profile(4, 1);
        bad.layers[0].bin = 0;
        let err =
            Archive::from_parts_checked(Space::Nb101, vec!["a".into()], vec![], vec![Some(bad)], vec![]).unwrap_err();
        assert!(err.contains("depth bin 0"), "{err}");
        let task = Task::new("t".into(), Values::from(vec![1.0]), vec![3], vec![]);
        let err =
            Archive::from_parts_checked(Space::Nb101, vec!["a".into()], vec![task], vec![None], vec![]).unwrap_err();
        assert!(err.contains("source 3"), "{err}");
    }

    #[test]
    fn rfc3339_time_is_well_formed() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
        assert!(t.starts_with("20"), "{t}");
    }
}
