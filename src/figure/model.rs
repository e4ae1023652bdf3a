//! The UI's one door to `archive` and `analysis`: every query the panels
//! make is answered here as plot-ready or table-ready plain data (rerun
//! style: query in one place, draw in another). When the archive or
//! analysis API changes, this is the only UI file that has to follow.
//!
//! Conventions of everything returned here:
//! - rows are archive rows (indices into the archive's keys);
//! - `NaN` is a missing value, `None` an undefined statistic;
//! - ranks in scatters are "1 = best" (highest value), average ranks on ties.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::analysis::info::{BinRule, ig_matrix};
use crate::analysis::libra::{
    self, AblationTable, Combination, LibraResult, LibraSettings, Pick, ProxyTable, Z2Strategy, Z3Strategy,
};
use crate::analysis::ranks::{average_ranks, kendall_tau_b, pearson, spearman};
use crate::analysis::windows::{WindowData, intensity_by_depth, intensity_series, synthetic_profiles};
use crate::archive::{self, Archive, ArchiveBuilder, AttachOptions, Prefer, Provenance, Space};
use crate::engine::profile::{LayerProfile, LayerStatistic, PERC_BINS};
use crate::search::band::Band;
use crate::search::tabular::TabularEvaluator;
use crate::search::{Evaluation, Fitness, ranked};
use crate::space::nb201::Nb201Arch;
use crate::space::{NetConfig, cannot_build};

/// Number of depth bins (10).
pub const BINS: usize = PERC_BINS;

/// A proxy missing on more than this share of a task's records is left out
/// of LIBRA and of the IG matrix (SPEC.md conventions).
pub const MAX_MISSING_FRACTION: f64 = 0.1;

// ---------------------------------------------------------------------------
// Dataset: an opened archive
// ---------------------------------------------------------------------------

/// Where a dataset came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// An archive built into the binary.
    Builtin(super::builtin::Builtin),
    /// Generated in code (tests, or when the demo asset is missing).
    Synthetic,
    File(PathBuf),
}

/// A file that could not be read, and why; shown in the UI as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    pub file: String,
    pub reason: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.reason)
    }
}

impl LoadError {
    fn from_archive(file: &str, e: archive::ArchiveError) -> LoadError {
        let reason = e.to_string();
        // Archive errors usually start with the file name already.
        let reason = reason
            .strip_prefix(file)
            .map(|r| r.trim_start_matches([':', ' ']).to_string())
            .unwrap_or(reason);
        LoadError {
            file: file.to_string(),
            reason,
        }
    }
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// An opened archive, cheap to clone (the data is shared). `generation`
/// changes whenever the data does, so caches key on it.
#[derive(Clone)]
pub struct Dataset {
    archive: Arc<Archive>,
    pub label: String,
    pub origin: Origin,
    pub generation: u64,
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("label", &self.label)
            .field("origin", &self.origin)
            .field("records", &self.len())
            .finish()
    }
}

/// One proxy of a task, as the archive panel lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyCount {
    pub name: String,
    pub present: usize,
    pub missing: usize,
    /// Stored "lower is better" and negated at load.
    pub negated: bool,
}

/// A task and its columns, for pickers and summaries.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskInfo {
    pub name: String,
    pub records: usize,
    pub has_truth: bool,
    pub proxies: Vec<ProxyCount>,
}

impl Dataset {
    pub fn new(archive: Archive, label: impl Into<String>, origin: Origin) -> Dataset {
        Dataset {
            archive: Arc::new(archive),
            label: label.into(),
            origin,
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The archive, shared (for jobs that outlive a frame).
    pub fn archive_arc(&self) -> Arc<Archive> {
        self.archive.clone()
    }

    /// Opens a file in any format the archive layer reads.
    pub fn open(path: &Path) -> Result<Dataset, LoadError> {
        let archive = archive::open_any(path).map_err(|e| LoadError::from_archive(&path.display().to_string(), e))?;
        Ok(Dataset::from_file(path, archive))
    }

    /// An archive read from `path`, labelled by the file's name.
    pub fn from_file(path: &Path, archive: Archive) -> Dataset {
        let label = path
            .file_name()
            .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        Dataset::new(archive, label, Origin::File(path.to_path_buf()))
    }

    /// Reads bytes in any format (the embedded demo).
    pub fn from_bytes(bytes: &[u8], source: &str, label: &str, origin: Origin) -> Result<Dataset, LoadError> {
        let (_, archive) = archive::parse_any(bytes, source, &archive::OpenOptions::default())
            .map_err(|e| LoadError::from_archive(source, e))?;
        Ok(Dataset::new(archive, label, origin))
    }

    /// A deterministic synthetic NB201 archive of `n` architectures: layer
    /// profiles, two tasks with ground truth that follows L-SWAG[3..7] plus
    /// noise, and proxies of graded quality (some values missing). For
    /// tests and as a stand-in when the demo asset is missing; its label
    /// says it is synthetic.
    pub fn synthetic(n: usize, seed: u64) -> Dataset {
        let n = n.clamp(3, crate::space::nb201::NUM_ARCHS);
        let (profiles, truth) = synthetic_profiles(n, seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED);
        let mut b = ArchiveBuilder::new(Space::Nb201);
        let prov = b.add_provenance(Provenance::new(
            "synthetic",
            format!("{{\"generator\":\"ui::model::Dataset::synthetic\",\"n\":{n},\"seed\":{seed}}}"),
        ));
        let c10 = b.task("cifar10", Some(prov));
        let c100 = b.task("cifar100", Some(prov));
        let names = ["lswag", "zico", "nwot", "synflow", "grad_norm", "flops"];
        let cols: Vec<_> = names.iter().map(|name| b.shared_column(name, prov, false)).collect();
        let lo = truth.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = truth.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // Spread the keys over the space so they look like a sample.
        let stride = (crate::space::nb201::NUM_ARCHS / n).max(1);
        for (i, (profile, t)) in profiles.into_iter().zip(&truth).enumerate() {
            let key = Nb201Arch::from_index((i * stride + seed as usize) % crate::space::nb201::NUM_ARCHS).to_string();
            let row = b.row(&key);
            // Accuracy-like numbers: 40..94 %.
            let acc = 40.0 + 54.0 * (t - lo) / (hi - lo).max(1e-12);
            b.set_truth(c10, row, acc);
            b.set_truth(c100, row, (acc - 25.0) * 0.9 + rng.random_range(-4.0..4.0));
            let params = profile.params as f64;
            let values = [
                profile.lswag(3, 7),
                acc + rng.random_range(-7.0..7.0) + params / 2e5,
                acc * 0.5 + rng.random_range(-5.0..5.0),
                (params / 1e4).ln() * 8.0 + acc * 0.2 + rng.random_range(-6.0..6.0),
                acc * 0.3 + rng.random_range(-20.0..20.0),
                profile.flops as f64 / 1e6,
            ];
            for (k, (&col, v)) in cols.iter().zip(values).enumerate() {
                // ~2% failures in one proxy, as real tables have.
                let missing = k == 3 && rng.random_bool(0.02);
                b.set(col, row, if missing { f64::NAN } else { v });
            }
            b.set_profile(row, profile);
        }
        match b.build() {
            Ok(archive) => Dataset::new(
                archive,
                format!("synthetic example ({n} architectures, not a benchmark)"),
                Origin::Synthetic,
            ),
            Err(_) => Dataset::new(Archive::empty(Space::Nb201), "empty", Origin::Synthetic),
        }
    }

    /// Like [`Dataset::synthetic`] but as a score run on its own: layer
    /// profiles and proxies, no ground truth (what a demo scored on
    /// Gaussian input looks like).
    pub fn synthetic_scores_only(n: usize, seed: u64) -> Dataset {
        let full = Dataset::synthetic(n, seed);
        let mut b = ArchiveBuilder::new(Space::Nb201);
        let prov = b.add_provenance(Provenance::new(
            "synthetic scores",
            format!("{{\"n\":{n},\"seed\":{seed}}}"),
        ));
        let columns = full.proxy_columns("cifar10");
        let ids: Vec<_> = columns
            .iter()
            .filter(|(name, _, _)| name != "params")
            .map(|(name, neg, values)| (b.shared_column(name, prov, *neg), values))
            .collect();
        for row in 0..full.len() {
            let r = b.row(full.key(row));
            for (id, values) in &ids {
                b.set(*id, r, values[row]);
            }
            if let Some(p) = full.profiles()[row].clone() {
                b.set_profile(r, p);
            }
        }
        match b.build() {
            Ok(a) => Dataset::new(
                a,
                format!("synthetic scores ({n} architectures, no ground truth)"),
                Origin::Synthetic,
            ),
            Err(_) => full,
        }
    }

    pub fn len(&self) -> usize {
        self.archive.len()
    }

    pub fn is_empty(&self) -> bool {
        self.archive.is_empty()
    }

    pub fn space_name(&self) -> String {
        self.archive.space().name().to_string()
    }

    pub fn space(&self) -> &Space {
        self.archive.space()
    }

    /// The files it was built from.
    pub fn sources(&self) -> String {
        self.archive.source_names()
    }

    /// Per source: file, time read and the configuration it carries.
    pub fn provenance(&self) -> Vec<(String, String, String)> {
        self.archive
            .provenance()
            .iter()
            .map(|p| (p.source.clone(), p.read_at.clone(), p.config.clone()))
            .collect()
    }

    pub fn profile_count(&self) -> usize {
        self.archive.profile_count()
    }

    pub fn task_names(&self) -> Vec<String> {
        self.archive.task_names().into_iter().map(str::to_string).collect()
    }

    pub fn has_task(&self, task: &str) -> bool {
        self.archive.task(task).is_some()
    }

    /// The first task with ground truth, else the first task.
    pub fn default_task(&self) -> Option<String> {
        let tasks = self.archive.tasks();
        tasks
            .iter()
            .find(|t| t.has_truth())
            .or(tasks.first())
            .map(|t| t.name().to_string())
    }

    pub fn tasks(&self) -> Vec<TaskInfo> {
        self.archive
            .summary()
            .tasks
            .into_iter()
            .map(|t| TaskInfo {
                name: t.name,
                records: t.records,
                has_truth: t.has_truth,
                proxies: t
                    .proxies
                    .into_iter()
                    .map(|p| ProxyCount {
                        name: p.name,
                        present: p.present,
                        missing: p.missing,
                        negated: p.negated,
                    })
                    .collect(),
            })
            .collect()
    }

    pub fn task_info(&self, task: &str) -> Option<TaskInfo> {
        self.tasks().into_iter().find(|t| t.name == task)
    }

    pub fn has_truth(&self, task: &str) -> bool {
        self.archive.task(task).is_some_and(|t| t.has_truth())
    }

    pub fn key(&self, row: usize) -> &str {
        self.archive.key(row).unwrap_or("?")
    }

    pub fn profiles(&self) -> &[Option<LayerProfile>] {
        self.archive.profiles()
    }

    /// Archive rows that belong to a task (all rows when it has no truth).
    pub fn task_rows(&self, task: &str) -> Vec<usize> {
        match self.archive.task(task) {
            Some(t) => (0..self.len()).filter(|&r| t.is_member(r)).collect(),
            None => Vec::new(),
        }
    }

    /// Ground truth aligned with the archive rows (`NaN` = none).
    pub fn truth(&self, task: &str) -> Vec<f64> {
        self.archive
            .task(task)
            .map(|t| t.truth().to_vec())
            .unwrap_or_else(|| vec![f64::NAN; self.len()])
    }

    /// Parameter counts (the task's `params` proxy, else the profiles').
    pub fn params(&self, task: &str) -> Option<Vec<f64>> {
        self.archive.params_column(task).map(<[f64]>::to_vec)
    }

    /// Every proxy column of a task, plus `params` from the profiles when
    /// the task has no such proxy: (name, negated, values by archive row).
    pub fn proxy_columns(&self, task: &str) -> Vec<(String, bool, Vec<f64>)> {
        let Some(t) = self.archive.task(task) else {
            return Vec::new();
        };
        let mut out: Vec<(String, bool, Vec<f64>)> = t
            .proxies()
            .iter()
            .map(|c| (c.name().to_string(), c.negated(), c.values().to_vec()))
            .collect();
        if t.proxy("params").is_none()
            && let Some(p) = self.archive.params_column(task)
        {
            out.push(("params".to_string(), false, p.to_vec()));
        }
        out
    }

    /// The archive's space with its default network settings, and the rows
    /// whose keys the probe can build.
    pub fn scorable_rows(&self) -> Result<(NetConfig, Vec<(usize, String)>), String> {
        let net = NetConfig::default_for(self.archive.space()).ok_or_else(|| cannot_build(self.archive.space()))?;
        let parse = net.key_parser();
        let rows = self
            .archive
            .keys()
            .iter()
            .enumerate()
            .filter_map(|(row, key)| parse(key).ok().map(|k| (row, k)))
            .collect();
        Ok((net, rows))
    }

    /// Row of a key.
    pub fn row_of(&self, key: &str) -> Option<usize> {
        self.archive.index_of(key)
    }

    /// A new dataset with a score file attached (new values win), and what
    /// was attached.
    pub fn with_scores(&self, path: &Path) -> Result<(Dataset, String), LoadError> {
        let file = path.display().to_string();
        let mut archive = (*self.archive).clone();
        let opts = AttachOptions {
            prefer: Some(Prefer::Right),
            ..AttachOptions::default()
        };
        let report =
            archive::attach_scores_with(&mut archive, path, &opts).map_err(|e| LoadError::from_archive(&file, e))?;
        Ok((
            Dataset::new(archive, self.label.clone(), self.origin.clone()),
            report.to_string(),
        ))
    }
}

// ---------------------------------------------------------------------------
// The archive table
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    Truth,
    Params,
    Proxy,
}

/// One column of the archive table, aligned with [`TaskTable::rows`].
#[derive(Clone, Debug, PartialEq)]
pub struct TableColumn {
    pub name: String,
    pub kind: ColumnKind,
    pub negated: bool,
    pub values: Vec<f64>,
    pub missing: usize,
}

/// The architectures of one task: truth, params and every proxy.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskTable {
    pub task: String,
    pub has_truth: bool,
    /// Archive rows of the task's records.
    pub rows: Vec<usize>,
    pub columns: Vec<TableColumn>,
}

impl TaskTable {
    pub fn build(ds: &Dataset, task: &str) -> TaskTable {
        let rows = ds.task_rows(task);
        let take = |values: &[f64]| {
            rows.iter()
                .map(|&r| values.get(r).copied().unwrap_or(f64::NAN))
                .collect()
        };
        let column = |name: &str, kind, negated, values: Vec<f64>| TableColumn {
            name: name.to_string(),
            kind,
            negated,
            missing: values.iter().filter(|v| v.is_nan()).count(),
            values,
        };
        let has_truth = ds.has_truth(task);
        let mut columns = Vec::new();
        if has_truth {
            columns.push(column("truth", ColumnKind::Truth, false, take(&ds.truth(task))));
        }
        let proxies = ds.proxy_columns(task);
        if let Some((_, negated, values)) = proxies.iter().find(|(n, _, _)| n == "params") {
            columns.push(column("params", ColumnKind::Params, *negated, take(values)));
        }
        for (name, negated, values) in proxies.iter().filter(|(n, _, _)| n != "params") {
            columns.push(column(name, ColumnKind::Proxy, *negated, take(values)));
        }
        TaskTable {
            task: task.to_string(),
            has_truth,
            rows,
            columns,
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Positions (into `rows`) whose key contains `filter` (case-insensitive),
    /// sorted by column `sort` (`None` = by key), missing values last.
    pub fn order(&self, ds: &Dataset, filter: &str, sort: Option<usize>, descending: bool) -> Vec<usize> {
        let needle = filter.trim().to_lowercase();
        let mut order: Vec<usize> = (0..self.rows.len())
            .filter(|&i| needle.is_empty() || ds.key(self.rows[i]).to_lowercase().contains(&needle))
            .collect();
        match sort.and_then(|c| self.columns.get(c)) {
            Some(col) => order.sort_by(|&i, &j| {
                let (a, b) = (col.values[i], col.values[j]);
                match (a.is_nan(), b.is_nan()) {
                    (true, true) => i.cmp(&j),
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if descending => b.total_cmp(&a).then(i.cmp(&j)),
                    _ => a.total_cmp(&b).then(i.cmp(&j)),
                }
            }),
            None => {
                order.sort_by(|&i, &j| ds.key(self.rows[i]).cmp(ds.key(self.rows[j])));
                if descending {
                    order.reverse();
                }
            }
        }
        order
    }
}

/// A number as the tables show it: up to 6 significant digits, `-` for
/// missing.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "-".to_string();
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e7).contains(&a) {
        format!("{v:.4e}")
    } else if v.fract() == 0.0 && a < 1e7 {
        format!("{v:.0}")
    } else {
        let digits = (6 - (a.log10().floor() as i32 + 1)).clamp(1, 6) as usize;
        format!("{v:.digits$}")
    }
}

// ---------------------------------------------------------------------------
// Layers: profiles, curves, windows
// ---------------------------------------------------------------------------

/// The archive's profiles with freshly scored ones laid over them (a
/// running score job fills the overlay).
#[derive(Clone, Debug)]
pub struct ProfileSource {
    pub dataset: Dataset,
    pub overlay: Arc<BTreeMap<usize, LayerProfile>>,
}

impl ProfileSource {
    pub fn new(dataset: Dataset) -> ProfileSource {
        ProfileSource {
            dataset,
            overlay: Arc::new(BTreeMap::new()),
        }
    }

    /// One entry per archive row.
    pub fn view(&self) -> Vec<Option<&LayerProfile>> {
        self.dataset
            .profiles()
            .iter()
            .enumerate()
            .map(|(row, p)| self.overlay.get(&row).or(p.as_ref()))
            .collect()
    }

    pub fn count(&self) -> usize {
        self.view().iter().filter(|p| p.is_some()).count()
    }
}

/// The per-layer statistic of the curves.
pub fn statistic_label(stat: LayerStatistic) -> &'static str {
    match stat {
        LayerStatistic::Lambda => "Λ_l = log Σ_w 1/σ_w",
        LayerStatistic::MeanLogSigma => "mean_w log σ_w",
    }
}

/// Axis label of the curves' y axis, with the unit.
pub fn statistic_axis(stat: LayerStatistic) -> &'static str {
    match stat {
        LayerStatistic::Lambda => "Λ_l, mean over the bin's layers (nats)",
        LayerStatistic::MeanLogSigma => "mean log σ_w, bin mean (nats)",
    }
}

/// One point of a curve: mean and population std across architectures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CurvePoint {
    pub bin: usize,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub count: usize,
}

/// A gradient-intensity curve.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    pub label: String,
    pub depth: Option<usize>,
    pub architectures: usize,
    pub points: Vec<CurvePoint>,
}

/// The curves of the layers panel.
#[derive(Clone, Debug, PartialEq)]
pub struct Intensity {
    pub statistic: LayerStatistic,
    pub all: Curve,
    /// One per depth L when asked for.
    pub by_depth: Vec<Curve>,
}

fn curve_of(s: &crate::analysis::IntensitySeries, label: String) -> Curve {
    Curve {
        label,
        depth: s.depth,
        architectures: s.architectures,
        points: s
            .bins
            .iter()
            .map(|b| CurvePoint {
                bin: b.bin,
                mean: b.mean,
                std: b.std,
                count: b.count,
            })
            .collect(),
    }
}

impl Intensity {
    pub fn build(profiles: &[Option<&LayerProfile>], statistic: LayerStatistic, by_depth: bool) -> Intensity {
        let all = intensity_series(profiles, statistic);
        let label = format!("all architectures (n = {})", all.architectures);
        Intensity {
            statistic,
            all: curve_of(&all, label),
            by_depth: if by_depth {
                intensity_by_depth(profiles, statistic)
                    .iter()
                    .map(|s| {
                        curve_of(
                            s,
                            format!("L = {} layers (n = {})", s.depth.unwrap_or(0), s.architectures),
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// CSV of what the curve plot draws.
    pub fn csv(&self) -> String {
        let mut out = String::from("curve,depth_layers,bin,mean,std,architectures\n");
        for c in std::iter::once(&self.all).chain(&self.by_depth) {
            for p in &c.points {
                out.push_str(&format!(
                    "{},{},{},{},{},{}\n",
                    csv_field(&c.label),
                    c.depth.map_or(String::new(), |d| d.to_string()),
                    p.bin,
                    opt_csv(p.mean),
                    opt_csv(p.std),
                    p.count
                ));
            }
        }
        out
    }
}

/// Predicted rank against true rank, one point per architecture.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RankScatter {
    /// `[true rank, predicted rank]`, 1 = best.
    pub points: Vec<[f64; 2]>,
    /// Archive row of each point.
    pub rows: Vec<usize>,
    pub rho: Option<f64>,
    pub n: usize,
    pub dropped: usize,
}

impl RankScatter {
    /// From scores and truth aligned with `rows`; missing pairs dropped.
    pub fn build(scores: &[f64], truth: &[f64], rows: &[usize]) -> RankScatter {
        let keep: Vec<usize> = (0..scores.len().min(truth.len()).min(rows.len()))
            .filter(|&i| !scores[i].is_nan() && !truth[i].is_nan())
            .collect();
        let s: Vec<f64> = keep.iter().map(|&i| scores[i]).collect();
        let t: Vec<f64> = keep.iter().map(|&i| truth[i]).collect();
        let n = keep.len();
        let best_first = |r: f64| n as f64 + 1.0 - r;
        let (rs, rt) = (average_ranks(&s), average_ranks(&t));
        RankScatter {
            points: rt
                .iter()
                .zip(&rs)
                .map(|(t, s)| [best_first(*t), best_first(*s)])
                .collect(),
            rows: keep.iter().map(|&i| rows[i]).collect(),
            rho: spearman(&s, &t).ok().and_then(|c| c.value),
            n,
            dropped: scores.len() - n,
        }
    }

    /// Fast path for complete scores against precomputed "1 = best" truth
    /// ranks (the window tuner: one sort per window instead of four).
    pub fn with_truth_ranks(scores: &[f64], truth_best_first: &[f64], rows: &[usize]) -> RankScatter {
        let n = scores.len();
        if scores.iter().any(|v| v.is_nan()) || truth_best_first.len() != n || rows.len() != n {
            return RankScatter::default();
        }
        let rs = average_ranks(scores);
        let points: Vec<[f64; 2]> = truth_best_first
            .iter()
            .zip(&rs)
            .map(|(t, s)| [*t, n as f64 + 1.0 - s])
            .collect();
        // Spearman = Pearson of the ranks.
        let mean = (n as f64 + 1.0) / 2.0;
        let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
        for p in &points {
            let (dx, dy) = (p[0] - mean, p[1] - mean);
            sxy += dx * dy;
            sxx += dx * dx;
            syy += dy * dy;
        }
        let rho = (sxx > 0.0 && syy > 0.0).then(|| (sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0));
        RankScatter {
            points,
            rows: rows.to_vec(),
            rho,
            n,
            dropped: 0,
        }
    }

    pub fn csv(&self, ds: &Dataset, score_name: &str) -> String {
        let mut out = format!("arch,true_rank,{}_rank\n", csv_field(score_name));
        for (p, &row) in self.points.iter().zip(&self.rows) {
            out.push_str(&format!("{},{},{}\n", csv_field(ds.key(row)), p[0], p[1]));
        }
        out
    }
}

/// Everything the window tuner needs for one task, built once; any window
/// is then recomputed from the cached profiles.
#[derive(Clone, Debug)]
pub struct WindowModel {
    data: WindowData,
    /// Truth ranks (1 = best) of the kept architectures, aligned with
    /// `data.rows()`.
    truth_ranks: Vec<f64>,
    /// `grid[a-1][b-1]` = Spearman rho of L-SWAG[a..b]; `None` below the
    /// diagonal or undefined.
    pub grid: [[Option<f64>; BINS]; BINS],
    /// Rho of each single bin [p, p].
    pub single: [Option<f64>; BINS],
    pub best: Option<(usize, usize, f64)>,
    /// Architectures with a profile and a ground truth.
    pub n: usize,
    pub dropped: usize,
}

impl WindowModel {
    /// Builds the column layout and scores all 55 windows.
    pub fn build(profiles: &[Option<&LayerProfile>], truth: &[f64]) -> Result<WindowModel, String> {
        let data = WindowData::new(profiles, truth).map_err(|e| e.to_string())?;
        if data.len() < 3 {
            return Err(format!(
                "only {} architectures have both a layer profile and a ground truth; at least 3 are needed",
                data.len()
            ));
        }
        let g = data.all_windows();
        let grid = g.matrix();
        let single = std::array::from_fn(|p| grid[p][p]);
        let kept_truth: Vec<f64> = data.rows().iter().map(|&r| truth[r]).collect();
        let n = kept_truth.len() as f64;
        let truth_ranks = average_ranks(&kept_truth).iter().map(|r| n + 1.0 - r).collect();
        Ok(WindowModel {
            truth_ranks,
            best: g.best().and_then(|w| w.rho.value.map(|r| (w.a, w.b, r))),
            n: g.n,
            dropped: g.dropped,
            grid,
            single,
            data,
        })
    }

    /// L-SWAG[a..b] against the truth, as a rank scatter with its rho.
    pub fn live(&self, a: usize, b: usize) -> RankScatter {
        match self.data.scores(a, b) {
            Ok(scores) => RankScatter::with_truth_ranks(&scores, &self.truth_ranks, self.data.rows()),
            Err(_) => RankScatter::default(),
        }
    }

    /// CSV of the 10 x 10 window grid.
    pub fn grid_csv(&self) -> String {
        let mut out = String::from("a,b,spearman_rho\n");
        for a in 1..=BINS {
            for b in a..=BINS {
                out.push_str(&format!("{a},{b},{}\n", opt_csv(self.grid[a - 1][b - 1])));
            }
        }
        out
    }

    pub fn single_csv(&self) -> String {
        let mut out = String::from("bin,spearman_rho,n\n");
        for (p, r) in self.single.iter().enumerate() {
            out.push_str(&format!("{},{},{}\n", p + 1, opt_csv(*r), self.n));
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Proxies: correlations, bias, information gain
// ---------------------------------------------------------------------------

/// Signed rank correlations of every proxy with every task's truth.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CorrelationTable {
    pub proxies: Vec<String>,
    pub negated: Vec<bool>,
    /// Tasks with ground truth (columns).
    pub tasks: Vec<String>,
    /// `[proxy][task]`.
    pub spearman: Vec<Vec<Option<f64>>>,
    pub kendall: Vec<Vec<Option<f64>>>,
    pub n: Vec<Vec<usize>>,
    /// Tasks left out for lack of ground truth.
    pub without_truth: Vec<String>,
}

impl CorrelationTable {
    pub fn build(ds: &Dataset) -> CorrelationTable {
        let mut t = CorrelationTable::default();
        let mut names: Vec<(String, bool)> = Vec::new();
        let mut per_task = Vec::new();
        for task in ds.task_names() {
            if !ds.has_truth(&task) {
                t.without_truth.push(task);
                continue;
            }
            let cols = ds.proxy_columns(&task);
            for (name, neg, _) in &cols {
                if !names.iter().any(|(n, _)| n == name) {
                    names.push((name.clone(), *neg));
                }
            }
            per_task.push((task.clone(), ds.truth(&task), cols));
            t.tasks.push(task);
        }
        for (name, neg) in &names {
            let mut s = Vec::new();
            let mut k = Vec::new();
            let mut n = Vec::new();
            for (_, truth, cols) in &per_task {
                match cols.iter().find(|(c, _, _)| c == name) {
                    Some((_, _, values)) => {
                        let sp = spearman(values, truth).ok();
                        s.push(sp.and_then(|c| c.value));
                        n.push(sp.map_or(0, |c| c.n));
                        k.push(kendall_tau_b(values, truth).ok().and_then(|c| c.value));
                    }
                    None => {
                        s.push(None);
                        k.push(None);
                        n.push(0);
                    }
                }
            }
            t.proxies.push(name.clone());
            t.negated.push(*neg);
            t.spearman.push(s);
            t.kendall.push(k);
            t.n.push(n);
        }
        t
    }

    /// The matrix columns: per task, Spearman rho then Kendall tau.
    pub fn matrix_columns(&self) -> Vec<String> {
        self.tasks
            .iter()
            .flat_map(|t| [format!("{t} ρ"), format!("{t} τ")])
            .collect()
    }

    /// Proxies sorted by matrix column `col` (highest first, or lowest
    /// first when `ascending`); the table's order without a column.
    pub fn order_by(&self, col: Option<usize>, ascending: bool) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.proxies.len()).collect();
        if let Some(c) = col {
            let (task, tau) = (c / 2, c % 2 == 1);
            let value = |i: usize| {
                if tau {
                    self.kendall[i][task]
                } else {
                    self.spearman[i][task]
                }
                .unwrap_or(f64::NEG_INFINITY)
            };
            order.sort_by(|&i, &j| {
                let o = value(j).total_cmp(&value(i));
                if ascending { o.reverse() } else { o }
            });
        }
        order
    }

    /// What the correlation matrix shows for the proxies in `order`: row
    /// labels, column labels ([`Self::matrix_columns`]) and `[row][column]`.
    pub fn matrix(&self, order: &[usize]) -> (Vec<String>, Vec<String>, Vec<Vec<Option<f64>>>) {
        let rows = order
            .iter()
            .map(|&i| {
                if self.negated[i] {
                    format!("{} (negated)", self.proxies[i])
                } else {
                    self.proxies[i].clone()
                }
            })
            .collect();
        let values = order
            .iter()
            .map(|&i| {
                (0..self.tasks.len())
                    .flat_map(|t| [self.spearman[i][t], self.kendall[i][t]])
                    .collect()
            })
            .collect();
        (rows, self.matrix_columns(), values)
    }

    /// The table as rows of cells: header then one row per proxy, in `order`.
    pub fn cells(&self, order: &[usize]) -> (Vec<String>, Vec<Vec<String>>) {
        let mut header = vec!["proxy".to_string()];
        for task in &self.tasks {
            header.push(format!("{task} Spearman ρ"));
            header.push(format!("{task} Kendall τ"));
            header.push(format!("{task} n"));
        }
        let rows = order
            .iter()
            .map(|&i| {
                let mut row = vec![self.proxies[i].clone() + if self.negated[i] { " (negated)" } else { "" }];
                for j in 0..self.tasks.len() {
                    row.push(opt_fixed(self.spearman[i][j], 4));
                    row.push(opt_fixed(self.kendall[i][j], 4));
                    row.push(self.n[i][j].to_string());
                }
                row
            })
            .collect();
        (header, rows)
    }
}

/// Rank scatter of one proxy on one task.
pub fn proxy_scatter(ds: &Dataset, task: &str, proxy: &str) -> Option<RankScatter> {
    let cols = ds.proxy_columns(task);
    let (_, _, values) = cols.iter().find(|(n, _, _)| n == proxy)?;
    let rows: Vec<usize> = (0..ds.len()).collect();
    Some(RankScatter::build(values, &ds.truth(task), &rows))
}

/// Bias of each proxy: correlation with the parameter count.
#[derive(Clone, Debug, PartialEq)]
pub struct BiasRow {
    pub name: String,
    /// Pearson of rank(proxy) and rank(params) (SPEC's bias b_h).
    pub rank_pearson: Option<f64>,
    /// Pearson of the raw values.
    pub pearson: Option<f64>,
    /// |b_y - b_h|.
    pub gap: Option<f64>,
    pub n: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BiasTable {
    pub task: String,
    /// b_y, when the task has ground truth.
    pub truth_bias: Option<f64>,
    pub rows: Vec<BiasRow>,
}

impl BiasTable {
    pub fn build(ds: &Dataset, task: &str) -> Option<BiasTable> {
        let params = ds.params(task)?;
        let truth_bias = if ds.has_truth(task) {
            spearman(&ds.truth(task), &params).ok().and_then(|c| c.value)
        } else {
            None
        };
        let members = ds.task_rows(task);
        let take = |v: &[f64]| members.iter().map(|&r| v[r]).collect::<Vec<f64>>();
        let p = take(&params);
        let rows = ds
            .proxy_columns(task)
            .into_iter()
            .filter(|(n, _, _)| n != "params")
            .map(|(name, _, values)| {
                let v = take(&values);
                let rc = spearman(&v, &p).ok();
                let b = rc.and_then(|c| c.value);
                BiasRow {
                    name,
                    rank_pearson: b,
                    pearson: pearson(&v, &p).ok().and_then(|c| c.value),
                    gap: b.zip(truth_bias).map(|(b, y)| (y - b).abs()),
                    n: rc.map_or(0, |c| c.n),
                }
            })
            .collect();
        Some(BiasTable {
            task: task.to_string(),
            truth_bias,
            rows,
        })
    }

    pub fn cells(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let header = [
            "proxy",
            "bias b_h (rank Pearson with params)",
            "Pearson with params",
            "|b_y − b_h|",
            "n",
        ]
        .map(String::from)
        .to_vec();
        let mut rows = vec![vec![
            "ground truth (b_y)".to_string(),
            opt_fixed(self.truth_bias, 4),
            String::new(),
            String::new(),
            String::new(),
        ]];
        rows.extend(self.rows.iter().map(|r| {
            vec![
                r.name.clone(),
                opt_fixed(r.rank_pearson, 4),
                opt_fixed(r.pearson, 4),
                opt_fixed(r.gap, 4),
                r.n.to_string(),
            ]
        }));
        (header, rows)
    }
}

/// How many equal-width bins the entropies use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinChoice {
    /// NAS-Bench-Suite-Zero: round(1 + 3.322 ln N).
    #[default]
    SuiteZero,
    /// ceil(log2 N) + 1.
    Sturges,
    Fixed(usize),
}

impl BinChoice {
    fn rule(self) -> BinRule {
        match self {
            BinChoice::SuiteZero => BinRule::SuiteZero,
            BinChoice::Sturges => BinRule::Sturges,
            BinChoice::Fixed(k) => BinRule::Fixed(k.max(1)),
        }
    }

    pub fn describe(self) -> String {
        self.rule().describe()
    }
}

/// IG(z_j | z_i) of every pair of proxies of a task.
#[derive(Clone, Debug, PartialEq)]
pub struct IgModel {
    pub names: Vec<String>,
    /// `values[i][j] = H(y | z_i) - H(y | z_i, z_j)`, nats.
    pub values: Vec<Vec<f64>>,
    pub n: usize,
    pub dropped: usize,
    pub bins: usize,
    /// Proxies left out: missing on more than 10% of the records.
    pub left_out: Vec<String>,
}

impl IgModel {
    pub fn build(ds: &Dataset, task: &str, bins: BinChoice) -> Result<IgModel, String> {
        if !ds.has_truth(task) {
            return Err(format!("task `{task}` has no ground truth"));
        }
        let members = ds.task_rows(task);
        let take = |v: &[f64]| members.iter().map(|&r| v[r]).collect::<Vec<f64>>();
        let truth = take(&ds.truth(task));
        let mut names = Vec::new();
        let mut columns = Vec::new();
        let mut left_out = Vec::new();
        for (name, _, values) in ds.proxy_columns(task) {
            let v = take(&values);
            let missing = v.iter().filter(|x| x.is_nan()).count();
            if missing as f64 > MAX_MISSING_FRACTION * v.len() as f64 {
                left_out.push(name);
            } else {
                names.push(name);
                columns.push(v);
            }
        }
        let refs: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let m = ig_matrix(&names, &refs, &truth, bins.rule()).map_err(|e| e.to_string())?;
        Ok(IgModel {
            names: m.names,
            values: m.values,
            n: m.n,
            dropped: m.dropped,
            bins: m.bins,
            left_out,
        })
    }

    pub fn cells(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let mut header = vec!["given z_i \\ added z_j".to_string()];
        header.extend(self.names.iter().cloned());
        let rows = self
            .names
            .iter()
            .zip(&self.values)
            .map(|(n, row)| {
                let mut cells = vec![n.clone()];
                cells.extend(row.iter().map(|v| format!("{v:.4}")));
                cells
            })
            .collect();
        (header, rows)
    }
}

// ---------------------------------------------------------------------------
// LIBRA
// ---------------------------------------------------------------------------

/// How the ensemble's members are combined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CombineChoice {
    #[default]
    RankSum,
    LogRank,
    MinMaxProduct,
}

impl CombineChoice {
    pub const ALL: [CombineChoice; 3] = [
        CombineChoice::RankSum,
        CombineChoice::LogRank,
        CombineChoice::MinMaxProduct,
    ];

    fn rule(self) -> Combination {
        match self {
            CombineChoice::RankSum => Combination::RankSum,
            CombineChoice::LogRank => Combination::LogRank,
            CombineChoice::MinMaxProduct => Combination::MinMaxProduct,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CombineChoice::RankSum => "rank sum (TE-NAS)",
            CombineChoice::LogRank => "Σ log(rank/N) (AZ-NAS)",
            CombineChoice::MinMaxProduct => "product of min-max scores",
        }
    }

    fn key(self) -> &'static str {
        self.rule().key()
    }
}

/// LIBRA's settings as the UI keeps them (persisted).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LibraConfig {
    pub tol: f64,
    pub bias_column: String,
    pub bins: BinChoice,
    pub combination: CombineChoice,
    /// Proxies that do not take part.
    pub excluded: Vec<String>,
    pub seed: u64,
}

impl Default for LibraConfig {
    fn default() -> Self {
        LibraConfig {
            tol: 0.1,
            bias_column: "params".to_string(),
            bins: BinChoice::default(),
            combination: CombineChoice::default(),
            excluded: Vec::new(),
            seed: 0,
        }
    }
}

/// One pick (z1, z2 or z3) with the numbers behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct PickView {
    pub slot: &'static str,
    pub name: String,
    pub rule: String,
    pub rho: f64,
    pub ig: Option<f64>,
    pub bias: Option<f64>,
    pub bias_gap: Option<f64>,
}

impl PickView {
    fn new(slot: &'static str, p: &Pick) -> PickView {
        PickView {
            slot,
            name: p.facts.name.clone(),
            rule: p.rule.describe().to_string(),
            rho: p.facts.rho,
            ig: p.facts.ig,
            bias: p.facts.bias,
            bias_gap: p.facts.bias_gap,
        }
    }

    /// Why this proxy, in words.
    pub fn reason(&self, window: (f64, f64), truth_bias: Option<f64>) -> String {
        match self.slot {
            "z1" => format!("highest Spearman ρ of all participants ({:.3})", self.rho),
            "z2" if self.rule.starts_with("fallback") => format!(
                "no other proxy within ρ in ({:.3}, {:.3}]: next-best ρ ({:.3})",
                window.0, window.1, self.rho
            ),
            "z2" => format!(
                "least information gain over z1 among the candidates: IG = {} nats (ρ {:.3})",
                opt_fixed(self.ig, 4),
                self.rho
            ),
            _ if self.rule.starts_with("fallback") => format!("candidate pool empty: next-best ρ ({:.3})", self.rho),
            _ => format!(
                "bias closest to the ground truth's: |b_y − b_h| = {} (b_h {}, b_y {})",
                opt_fixed(self.bias_gap, 3),
                opt_fixed(self.bias, 3),
                opt_fixed(truth_bias, 3)
            ),
        }
    }
}

/// A candidate in LIBRA's rho window.
#[derive(Clone, Debug, PartialEq)]
pub struct CandidateView {
    pub name: String,
    pub rho: f64,
    pub ig: Option<f64>,
    pub bias: Option<f64>,
    pub bias_gap: Option<f64>,
}

/// LIBRA's answer, ready to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct LibraView {
    pub task: String,
    pub picks: Vec<PickView>,
    pub candidates: Vec<CandidateView>,
    pub window: (f64, f64),
    pub truth_bias: Option<f64>,
    /// Rho of every participant, best first.
    pub rho: Vec<(String, Option<f64>)>,
    /// (combination, rho of the ensemble).
    pub ensemble: Vec<(CombineChoice, Option<f64>)>,
    pub best_single: (String, f64),
    pub n: usize,
    pub dropped: usize,
    pub bins: usize,
    pub bin_rule: String,
    pub left_out: Vec<String>,
    pub notes: Vec<String>,
    pub members: Vec<String>,
    /// The ensemble under the chosen combination.
    pub scatter: RankScatter,
    pub combination: CombineChoice,
    /// The CLI's text report, for export.
    pub report: String,
}

/// The names of the proxies of a task that LIBRA can use.
pub fn libra_candidates(ds: &Dataset, task: &str) -> Vec<String> {
    ds.proxy_columns(task).into_iter().map(|(n, _, _)| n).collect()
}

fn proxy_table(ds: &Dataset, task: &str) -> (ProxyTable, Vec<usize>) {
    let members = ds.task_rows(task);
    let take = |v: &[f64]| members.iter().map(|&r| v[r]).collect::<Vec<f64>>();
    let cols = ds.proxy_columns(task);
    let table = ProxyTable {
        gradient_based: cols
            .iter()
            .map(|(n, _, _)| crate::analysis::table::gradient_based(n))
            .collect(),
        names: cols.iter().map(|(n, _, _)| n.clone()).collect(),
        columns: cols.iter().map(|(_, _, v)| take(v)).collect(),
        truth: take(&ds.truth(task)),
    };
    (table, members)
}

fn settings_of(cfg: &LibraConfig, table: &ProxyTable) -> LibraSettings {
    LibraSettings {
        tol: cfg.tol,
        bias_column: cfg.bias_column.clone(),
        bins: cfg.bins.rule(),
        max_missing_fraction: MAX_MISSING_FRACTION,
        include: None,
        exclude: cfg
            .excluded
            .iter()
            .filter(|n| table.index_of(n).is_some() && **n != cfg.bias_column)
            .cloned()
            .collect(),
        fallback: true,
        combination: cfg.combination.rule(),
        seed: cfg.seed,
    }
}

/// Runs LIBRA on one task.
pub fn run_libra(ds: &Dataset, task: &str, cfg: &LibraConfig) -> Result<LibraView, String> {
    if !ds.has_truth(task) {
        return Err(format!(
            "task `{task}` has no ground truth; LIBRA ranks proxies against it"
        ));
    }
    let (table, members) = proxy_table(ds, task);
    if table.index_of(&cfg.bias_column).is_none() {
        return Err(format!(
            "the bias column `{}` is not in task `{task}`; pick another in the settings",
            cfg.bias_column
        ));
    }
    let settings = settings_of(cfg, &table);
    let r: LibraResult = libra::libra(&table, &settings).map_err(|e| e.to_string())?;
    let mut picks = vec![PickView::new("z1", &r.reasons.z1)];
    picks.extend(r.reasons.z2.as_ref().map(|p| PickView::new("z2", p)));
    picks.extend(r.reasons.z3.as_ref().map(|p| PickView::new("z3", p)));
    let mut rho: Vec<(String, Option<f64>)> = r.rho.iter().map(|(k, v)| (k.clone(), *v)).collect();
    rho.sort_by(|a, b| {
        b.1.unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&a.1.unwrap_or(f64::NEG_INFINITY))
    });
    let ensemble = CombineChoice::ALL
        .iter()
        .map(|c| (*c, r.ensemble.get(c.key()).copied().flatten()))
        .collect();
    // The ensemble's scores on LIBRA's rows: truth, bias and every
    // participant present.
    let needed: Vec<usize> = r
        .reasons
        .participants
        .iter()
        .chain(std::iter::once(&cfg.bias_column))
        .filter_map(|n| table.index_of(n))
        .collect();
    let keep: Vec<usize> = (0..table.truth.len())
        .filter(|&i| !table.truth[i].is_nan() && needed.iter().all(|&j| !table.columns[j][i].is_nan()))
        .collect();
    let member_cols: Vec<Vec<f64>> = r
        .members
        .iter()
        .filter_map(|m| table.index_of(m))
        .map(|j| keep.iter().map(|&i| table.columns[j][i]).collect())
        .collect();
    let refs: Vec<&[f64]> = member_cols.iter().map(Vec::as_slice).collect();
    let combined = libra::combine(&refs, cfg.combination.rule());
    let truth: Vec<f64> = keep.iter().map(|&i| table.truth[i]).collect();
    let rows: Vec<usize> = keep.iter().map(|&i| members[i]).collect();
    let scatter = RankScatter::build(&combined, &truth, &rows);
    Ok(LibraView {
        task: task.to_string(),
        picks,
        candidates: r
            .reasons
            .candidates
            .iter()
            .map(|f| CandidateView {
                name: f.name.clone(),
                rho: f.rho,
                ig: f.ig,
                bias: f.bias,
                bias_gap: f.bias_gap,
            })
            .collect(),
        window: r.reasons.window,
        truth_bias: r.reasons.truth_bias,
        rho,
        ensemble,
        best_single: (r.best_single.name.clone(), r.best_single.rho),
        n: r.n,
        dropped: r.dropped,
        bins: r.reasons.bins,
        bin_rule: r.reasons.bin_rule.describe(),
        left_out: r
            .reasons
            .left_out
            .iter()
            .map(|l| format!("{} (missing on {} of {})", l.name, l.missing, l.rows))
            .collect(),
        notes: r.reasons.notes.clone(),
        members: r.members.clone(),
        scatter,
        combination: cfg.combination,
        report: crate::analysis::report::format_libra(&r),
    })
}

impl LibraView {
    /// The ensemble-vs-best-single bars: (label, rho).
    pub fn bars(&self) -> Vec<(String, Option<f64>)> {
        let mut out: Vec<(String, Option<f64>)> = self
            .ensemble
            .iter()
            .map(|(c, r)| (format!("LIBRA, {}", c.label()), *r))
            .collect();
        out.push((format!("best single: {}", self.best_single.0), Some(self.best_single.1)));
        out
    }

    pub fn bars_csv(&self) -> String {
        let mut out = String::from("score,members,spearman_rho,n\n");
        for (c, r) in &self.ensemble {
            out.push_str(&format!(
                "{},{},{},{}\n",
                csv_field(&format!("LIBRA {}", c.key())),
                csv_field(&self.members.join("+")),
                opt_csv(*r),
                self.n
            ));
        }
        out.push_str(&format!(
            "best_single,{},{},{}\n",
            csv_field(&self.best_single.0),
            self.best_single.1,
            self.n
        ));
        out
    }

    pub fn candidate_cells(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let header = [
            "proxy",
            "Spearman ρ",
            "IG over z1 (nats)",
            "bias b_h",
            "|b_y − b_h|",
            "chosen as",
        ]
        .map(String::from)
        .to_vec();
        let mut rows: Vec<Vec<String>> = Vec::new();
        let chosen = |name: &str| {
            self.picks
                .iter()
                .find(|p| p.name == name)
                .map_or(String::new(), |p| p.slot.to_string())
        };
        let mut seen: Vec<&str> = Vec::new();
        for p in &self.picks {
            seen.push(&p.name);
            rows.push(vec![
                p.name.clone(),
                format!("{:.4}", p.rho),
                opt_fixed(p.ig, 4),
                opt_fixed(p.bias, 4),
                opt_fixed(p.bias_gap, 4),
                p.slot.to_string(),
            ]);
        }
        for c in self.candidates.iter().filter(|c| !seen.contains(&c.name.as_str())) {
            rows.push(vec![
                c.name.clone(),
                format!("{:.4}", c.rho),
                opt_fixed(c.ig, 4),
                opt_fixed(c.bias, 4),
                opt_fixed(c.bias_gap, 4),
                chosen(&c.name),
            ]);
        }
        (header, rows)
    }
}

/// The paper's Table 4 as a grid.
#[derive(Clone, Debug, PartialEq)]
pub struct AblationView {
    pub z2: Vec<String>,
    pub z3: Vec<String>,
    /// `[z2][z3]`.
    pub rho: Vec<Vec<Option<f64>>>,
    pub members: Vec<Vec<Vec<String>>>,
    pub notes: Vec<Vec<Option<String>>>,
    pub n: usize,
    pub combination: CombineChoice,
}

pub fn run_ablations(ds: &Dataset, task: &str, cfg: &LibraConfig) -> Result<AblationView, String> {
    if !ds.has_truth(task) {
        return Err(format!("task `{task}` has no ground truth"));
    }
    let (table, _) = proxy_table(ds, task);
    let settings = settings_of(cfg, &table);
    let t: AblationTable = libra::ablations(&table, &settings).map_err(|e| e.to_string())?;
    let mut rho = Vec::new();
    let mut members = Vec::new();
    let mut notes = Vec::new();
    for z2 in Z2Strategy::ALL {
        let (mut r, mut m, mut n) = (Vec::new(), Vec::new(), Vec::new());
        for z3 in Z3Strategy::ALL {
            let cell = t.get(z2, z3);
            r.push(cell.and_then(|c| c.rho));
            m.push(cell.map(|c| c.members.clone()).unwrap_or_default());
            n.push(cell.and_then(|c| c.note.clone()));
        }
        rho.push(r);
        members.push(m);
        notes.push(n);
    }
    Ok(AblationView {
        z2: Z2Strategy::ALL.iter().map(|s| s.describe().to_string()).collect(),
        z3: Z3Strategy::ALL.iter().map(|s| s.describe().to_string()).collect(),
        rho,
        members,
        notes,
        n: t.n,
        combination: cfg.combination,
    })
}

impl AblationView {
    pub fn cells(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let mut header = vec!["z2 \\ z3".to_string()];
        header.extend(self.z3.iter().cloned());
        let rows = self
            .z2
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut row = vec![name.clone()];
                for j in 0..self.z3.len() {
                    let members = self.members[i][j].join(" + ");
                    row.push(match self.rho[i][j] {
                        Some(r) => format!("{r:.4} ({members})"),
                        None => self.notes[i][j].clone().unwrap_or_else(|| "-".to_string()),
                    });
                }
                row
            })
            .collect();
        (header, rows)
    }
}

/// The short name of a bar of [`LibraView::bars`], for an axis.
pub fn short_bar_label(label: &str) -> String {
    label
        .replace("LIBRA, ", "")
        .replace(" (TE-NAS)", "")
        .replace(" (AZ-NAS)", "")
        .replace("product of min-max scores", "min-max product")
}

// ---------------------------------------------------------------------------
// Search: rank scatter and best-so-far curve
// ---------------------------------------------------------------------------

/// Plot-ready series of a search (query here, draw in the panel or the
/// figure).
#[derive(Clone, Debug, Default)]
pub struct SearchView {
    /// Per generation: `[true rank, fitness rank]`, 1 = best, among the
    /// evaluations with ground truth.
    pub scatter: Vec<(usize, Vec<[f64; 2]>)>,
    /// The architecture of each point of `scatter`, in the same order.
    pub scatter_archs: Vec<Vec<String>>,
    pub with_truth: usize,
    pub rho: Option<f64>,
    /// `[evaluations, true accuracy of the current pick]`.
    pub best: Vec<[f64; 2]>,
    /// `[evaluations, best true accuracy evaluated so far]` (an oracle).
    pub oracle: Vec<[f64; 2]>,
    pub band: Option<Band>,
    /// Evaluation indices, best fitness first.
    pub order: Vec<usize>,
    pub fitness: Vec<f64>,
}

impl SearchView {
    pub fn build(evals: &[Evaluation], fitness: &Fitness, band: Option<&Band>) -> SearchView {
        let raw: Vec<Vec<f64>> = evals
            .iter()
            .map(|e| e.components.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
            .collect();
        let values = fitness.values(&raw);
        let keep: Vec<usize> = (0..evals.len())
            .filter(|&i| evals[i].truth.is_some() && values[i].is_finite())
            .collect();
        let f: Vec<f64> = keep.iter().map(|&i| values[i]).collect();
        let t: Vec<f64> = keep.iter().filter_map(|&i| evals[i].truth).collect();
        let n = keep.len() as f64;
        let (rf, rt) = (average_ranks(&f), average_ranks(&t));
        let mut scatter: Vec<(usize, Vec<[f64; 2]>, Vec<String>)> = Vec::new();
        for (k, &i) in keep.iter().enumerate() {
            let g = evals[i].generation;
            let point = [n + 1.0 - rt[k], n + 1.0 - rf[k]];
            let arch = evals[i].arch.clone();
            match scatter.iter_mut().find(|(gen_, _, _)| *gen_ == g) {
                Some((_, pts, archs)) => {
                    pts.push(point);
                    archs.push(arch);
                }
                None => scatter.push((g, vec![point], vec![arch])),
            }
        }
        scatter.sort_by_key(|(g, _, _)| *g);
        let mut oracle = Vec::new();
        let mut top = f64::NEG_INFINITY;
        for e in evals {
            if let Some(t) = e.truth {
                top = top.max(t);
            }
            if top.is_finite() {
                oracle.push([(e.index + 1) as f64, top]);
            }
        }
        let (scatter, scatter_archs): (Vec<_>, Vec<_>) = scatter.into_iter().map(|(g, p, a)| ((g, p), a)).unzip();
        SearchView {
            scatter,
            scatter_archs,
            with_truth: keep.len(),
            rho: spearman(&f, &t).ok().and_then(|c| c.value),
            best: evals
                .iter()
                .filter_map(|e| e.best_truth.map(|t| [(e.index + 1) as f64, t]))
                .collect(),
            oracle,
            band: band.cloned(),
            order: ranked(&values),
            fitness: values,
        }
    }

    /// CSV of the rank scatter, one row per architecture.
    pub fn scatter_csv(&self) -> String {
        let mut out = String::from("arch,generation,true_rank,fitness_rank\n");
        for ((g, pts), archs) in self.scatter.iter().zip(&self.scatter_archs) {
            for (p, arch) in pts.iter().zip(archs) {
                out.push_str(&format!("{},{g},{},{}\n", csv_field(arch), p[0], p[1]));
            }
        }
        out
    }

    /// CSV of the best-so-far curve and the random-search band.
    pub fn curve_csv(&self) -> String {
        let mut out = String::from("evaluations,pick_truth,best_evaluated_truth,random_p10,random_median,random_p90\n");
        for p in &self.best {
            let k = p[0] as usize;
            let oracle = self
                .oracle
                .iter()
                .find(|o| o[0] as usize == k)
                .map_or(String::new(), |o| o[1].to_string());
            let band = self
                .band
                .as_ref()
                .filter(|b| k >= 1 && k <= b.median.len())
                .map_or(",,".to_string(), |b| {
                    format!("{},{},{}", b.p10[k - 1], b.median[k - 1], b.p90[k - 1])
                });
            out.push_str(&format!("{k},{},{oracle},{band}\n", p[1]));
        }
        out
    }
}

/// A search read back from its log, ready to draw.
#[derive(Clone, Debug)]
pub struct SearchFigure {
    pub view: SearchView,
    pub budget: usize,
    /// "evolution · zico · cifar10".
    pub description: String,
    /// Why there is no random-search band, when there is none.
    pub no_band: Option<String>,
}

/// Random searches behind a figure's band (as many as `lswag-studio search`
/// draws when it reports its band).
pub const BAND_RUNS: usize = 1000;

/// Reads a search log (`lswag-studio search --out LOG`). The band is drawn
/// from `archive`, else from the archive the log names, opened by `open`;
/// a log without either has no band (and says why).
pub fn search_from_log(
    log: &Path,
    archive: Option<&Path>,
    open: impl FnOnce(&Path) -> Result<Dataset, String>,
) -> Result<SearchFigure, String> {
    let read = crate::jobs::search::read_log(log)
        .map_err(|e| format!("{e} (a search figure reads the log `lswag-studio search --out LOG` writes)"))?;
    if read.evaluations.is_empty() {
        return Err(format!("{}: the search log holds no evaluations yet", log.display()));
    }
    let archive = match (archive, &read.config.archive) {
        (Some(path), _) => Some(open(path)?),
        (None, Some(path)) => Some(
            open(path)
                .map_err(|e| format!("{e} (the archive {} names; give another with --archive)", log.display()))?,
        ),
        (None, None) => None,
    };
    let archive = archive.as_ref();
    let task = read
        .config
        .task
        .clone()
        .or_else(|| archive.and_then(Dataset::default_task));
    let band = match (archive, &task) {
        (None, _) => Err("the log names no archive to draw random searches from (--archive)".to_string()),
        (Some(ds), None) => Err(format!("{} has no task", ds.label)),
        (Some(ds), Some(task)) => {
            let a = ds.archive_arc();
            TabularEvaluator::new(&a, task, &read.fitness)
                .map_err(|e| format!("{}: {e}", ds.label))
                .and_then(|table| {
                    crate::jobs::search::random_search_band(&read.config, &table, &a, task, &read.fitness, BAND_RUNS)
                        .map_err(|e| e.to_string())
                })
                .and_then(|b| b.ok_or_else(|| format!("{} has no random counterpart", read.config.algo.name())))
        }
    };
    let (band, no_band) = match band {
        Ok(b) => (Some(b), None),
        Err(why) => (None, Some(why)),
    };
    let mut description = vec![read.config.algo.name().to_string(), read.fitness.label()];
    description.extend(task);
    Ok(SearchFigure {
        view: SearchView::build(&read.evaluations, &read.fitness, band.as_ref()),
        budget: read.config.budget.evaluations,
        description: description.join(" · "),
        no_band,
    })
}

// ---------------------------------------------------------------------------
// Text helpers shared by exports
// ---------------------------------------------------------------------------

/// Quotes a CSV field when needed (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt_csv(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

/// A statistic with fixed decimals, `-` when undefined.
pub fn opt_fixed(v: Option<f64>, decimals: usize) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.decimals$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_dataset_has_everything_the_panels_need() {
        let ds = Dataset::synthetic(120, 3);
        assert_eq!(ds.len(), 120);
        assert_eq!(ds.profile_count(), 120);
        assert_eq!(ds.default_task().as_deref(), Some("cifar10"));
        let table = TaskTable::build(&ds, "cifar10");
        let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names[..2], ["truth", "params"]);
        assert!(names.contains(&"lswag"));
        let corr = CorrelationTable::build(&ds);
        assert_eq!(corr.tasks, ["cifar10", "cifar100"]);
        let i = corr.proxies.iter().position(|p| p == "lswag").unwrap();
        assert!(corr.spearman[i][0].unwrap() > 0.5, "{:?}", corr.spearman[i]);
    }

    #[test]
    fn window_model_matches_the_profiles_directly() {
        let ds = Dataset::synthetic(80, 1);
        let src = ProfileSource::new(ds.clone());
        let truth = ds.truth("cifar10");
        let w = WindowModel::build(&src.view(), &truth).unwrap();
        assert_eq!(w.n, 80);
        let live = w.live(3, 7);
        let direct: Vec<f64> = ds.profiles().iter().map(|p| p.as_ref().unwrap().lswag(3, 7)).collect();
        let want = spearman(&direct, &truth).unwrap().value;
        let close = |x: Option<f64>| (x.unwrap() - want.unwrap()).abs() < 1e-12;
        assert!(close(live.rho), "{:?} vs {want:?}", live.rho);
        assert!(close(w.grid[2][6]));
        // Ranks run 1..n with 1 = best.
        let best = live.points.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min);
        assert_eq!(best, 1.0);
    }

    #[test]
    fn libra_runs_on_the_synthetic_dataset() {
        let ds = Dataset::synthetic(150, 2);
        let view = run_libra(&ds, "cifar10", &LibraConfig::default()).unwrap();
        assert_eq!(view.picks[0].slot, "z1");
        assert!(!view.scatter.points.is_empty());
        let abl = run_ablations(&ds, "cifar10", &LibraConfig::default()).unwrap();
        assert_eq!(abl.rho.len(), 6);
    }

    #[test]
    fn values_format_compactly() {
        assert_eq!(format_value(f64::NAN), "-");
        assert_eq!(format_value(1234.0), "1234");
        assert_eq!(format_value(0.123456789), "0.123457");
        assert_eq!(format_value(93.456), "93.4560");
        assert_eq!(format_value(1.5e9), "1.5000e9");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
    }
}
