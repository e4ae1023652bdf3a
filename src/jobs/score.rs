//! Scoring architectures with the probe, written to JSON lines as it goes.
//!
//! File layout: the first line is `{"provenance": {...}}` (config, seed,
//! backend, data source, version); every other line is one architecture:
//! `{"arch", "proxies": {name: number|null}, "profile", "seconds"}`.
//! Re-running with the same output resumes: architectures already in the
//! file are skipped, and a half-written last line (a killed run) is cut off.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::output::OutputLock;
use super::{CancelToken, Progress, jsonl};
use crate::engine::backend::{Backend, BackendKind};
use crate::engine::data::{
    Batch, DataSource, Selection, TargetKind, Targets, gaussian_batch, load_batch, procedural_indices,
};
use crate::engine::params::{InitScheme, ParamStore, arch_seed};
use crate::engine::probe::{Network, ProbeSettings, probe};
use crate::engine::profile::{LayerProfile, PERC_BINS};
use crate::proxy::{self, ProxyInfo};
use crate::space::autoformer::AutoformerConfig;
use crate::space::nb201::Nb201Config;
use crate::space::{ArchSpace, NetConfig, WithSpace};

/// Everything that determines the numbers of a score run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ScoreConfigFile")]
pub struct ScoreConfig {
    /// The space and its network settings.
    pub net: NetConfig,
    pub seed: u64,
    pub init: InitScheme,
    pub backend: BackendKind,
    pub data: DataSource,
    pub batch: usize,
    /// Seed of the random batch selection; `None` = the first images.
    pub batch_seed: Option<u64>,
    pub proxies: Vec<String>,
    pub probe: ProbeSettings,
}

/// A score configuration as files hold it: today's `net`, or the fields
/// that files written before the space abstraction carry (`space`, `nb201`
/// and, for ViTs, `autoformer`), so that those files still resume.
#[derive(Deserialize)]
struct ScoreConfigFile {
    #[serde(default)]
    net: Option<NetConfig>,
    #[serde(default)]
    space: Option<String>,
    #[serde(default)]
    nb201: Option<Nb201Config>,
    #[serde(default)]
    autoformer: Option<AutoformerConfig>,
    seed: u64,
    init: InitScheme,
    backend: BackendKind,
    data: DataSource,
    batch: usize,
    batch_seed: Option<u64>,
    proxies: Vec<String>,
    probe: ProbeSettings,
}

impl TryFrom<ScoreConfigFile> for ScoreConfig {
    type Error = String;

    fn try_from(f: ScoreConfigFile) -> Result<Self, String> {
        let net = match (f.net, f.space.as_deref()) {
            (Some(net), _) => net,
            (None, Some("nb201")) => NetConfig::Nb201(f.nb201.ok_or("space nb201 without its `nb201` settings")?),
            (None, Some("autoformer")) => NetConfig::Autoformer(f.autoformer.unwrap_or_default()),
            (None, Some(other)) => return Err(format!("space `{other}`: no network settings for it")),
            (None, None) => return Err("missing field `net`".into()),
        };
        Ok(ScoreConfig {
            net,
            seed: f.seed,
            init: f.init,
            backend: f.backend,
            data: f.data,
            batch: f.batch,
            batch_seed: f.batch_seed,
            proxies: f.proxies,
            probe: f.probe,
        })
    }
}

/// Largest batch the probe takes: activation patterns pack one bit per
/// sample into a u64 per neuron.
pub const MAX_BATCH: usize = 64;

impl ScoreConfig {
    /// Checks every setting before anything is loaded or written, with an
    /// error naming the setting, its value and what is allowed. The CLI and
    /// the app both come through here (score jobs, live searches).
    pub fn validate(&self) -> Result<(), ScoreError> {
        let bad = |s: String| Err(ScoreError::Setting(s));
        self.net.validate().map_err(ScoreError::Setting)?;
        if self.init == InitScheme::Source && self.net.settings().source_init().is_none() {
            return bad(format!(
                "init source: the studio records no initialisation of the {} benchmark's own builder; \
                 use kaiming-normal, xavier-normal, gaussian or torch-default",
                self.net.space()
            ));
        }
        let b = self.batch;
        if !(2..=MAX_BATCH).contains(&b) {
            return bad(format!(
                "batch {b}: the probe takes 2 to {MAX_BATCH} samples (L-SWAG's sigma is a spread over samples; \
                 activation patterns pack {MAX_BATCH} samples per neuron)"
            ));
        }
        if let Some(k) = self.probe.grad_splits
            && !(k >= 2 && k <= b && b.is_multiple_of(k))
        {
            return bad(format!(
                "grad splits {k}: sigma_w over k mini-batches needs k >= 2 dividing the batch ({b})"
            ));
        }
        if let Some(k) = self.probe.pattern_samples
            && !(1..=b).contains(&k)
        {
            return bad(format!("pattern samples {k}: allowed 1 to the batch size ({b})"));
        }
        if let DataSource::Procedural { size, .. } = self.data {
            if !(4..=1024).contains(&size) {
                return bad(format!(
                    "data {}: procedural images are 4 to 1024 pixels wide",
                    self.data
                ));
            }
            // Such networks see the images at the size they were made.
            if self.net.settings().takes_procedural_as_is() {
                self.net
                    .with_input(size, self.net.num_classes())
                    .and_then(|n| n.validate())
                    .map_err(|e| ScoreError::Setting(format!("data {}: {e}", self.data)))?;
            }
        }
        // A missing image file or folder is named before any network is built
        // (and before the memory estimate, which would otherwise come first).
        let missing = |path: &Path, folder: bool| {
            let there = if folder { path.is_dir() } else { path.is_file() };
            (!there).then(|| {
                let what = if folder { "no such folder" } else { "no such file" };
                format!("data {}: {what} {}", self.data, path.display())
            })
        };
        let problem = match &self.data {
            DataSource::Cifar10(p) => missing(p, false),
            DataSource::Folder(p) => missing(p, true),
            DataSource::FolderTargets { images, targets } => missing(images, true).or_else(|| missing(targets, true)),
            DataSource::Gaussian | DataSource::Procedural { .. } => None,
        };
        if let Some(problem) = problem {
            return bad(problem);
        }
        if config_proxies(self)?.is_empty() {
            return bad("proxies: none named; give a comma-separated list or `all`".into());
        }
        Ok(())
    }
}

/// First line of a score file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub app: String,
    pub version: String,
    pub config: ScoreConfig,
    pub batch_source: String,
    pub created: String,
}

/// One scored architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreLine {
    pub arch: String,
    pub proxies: BTreeMap<String, Option<f64>>,
    pub profile: Option<LayerProfile>,
    /// Psi[..p] with the patterns of the first k samples, for each k of
    /// `probe::ABLATION_PATTERN_SAMPLES` the run's patterns cover: SPEC's
    /// 16/32/64 report from one pass, even from a `swap`-only run. Absent
    /// in files written before it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub psi_upto_by_samples: BTreeMap<usize, [u64; PERC_BINS]>,
    pub seconds: f64,
}

#[derive(Serialize, Deserialize)]
struct Header {
    provenance: Provenance,
}

#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} line {line}: {reason}")]
    Format { path: PathBuf, line: usize, reason: String },
    #[error(
        "{path} was written with a different configuration; use another --out or the same settings\n  file: {file}\n  now:  {now}"
    )]
    ConfigMismatch { path: PathBuf, file: String, now: String },
    #[error(transparent)]
    Data(#[from] crate::engine::data::DataError),
    #[error(transparent)]
    Proxy(#[from] proxy::UnknownProxy),
    #[error("shard `{0}`: expected i/n with 0 <= i < n")]
    Shard(String),
    #[error("{0}")]
    Setting(String),
}

/// Events a score job reports.
// One `Scored` per architecture (seconds each): boxing would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum ScoreEvent {
    Started { total: usize, already_done: usize },
    Scored { line: ScoreLine, progress: Progress },
    Finished { scored: usize, cancelled: bool },
    Failed(String),
}

/// `i/n`: this shard takes every n-th architecture starting at i.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = ScoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (i, n) = s.split_once('/').ok_or_else(|| ScoreError::Shard(s.into()))?;
        let (index, count) = (
            i.trim().parse().map_err(|_| ScoreError::Shard(s.into()))?,
            n.trim().parse().map_err(|_| ScoreError::Shard(s.into()))?,
        );
        if count == 0 || index >= count {
            return Err(ScoreError::Shard(s.into()));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    pub fn select<T: Clone>(&self, items: &[T]) -> Vec<T> {
        items.iter().skip(self.index).step_by(self.count).cloned().collect()
    }
}

/// `n` distinct architectures of `net`'s space drawn with `seed` (within
/// `limits`, parameters as the space counts them), as keys in drawn order.
pub fn sample_keys(
    net: &NetConfig,
    n: usize,
    seed: u64,
    limits: Option<(u64, u64)>,
) -> Result<Vec<String>, ScoreError> {
    struct Sample(usize, u64, Option<(u64, u64)>);
    impl WithSpace for Sample {
        type Out = Result<Vec<String>, String>;
        fn run<S: ArchSpace>(self, space: &S) -> Self::Out {
            Ok(space
                .sample_distinct(self.0, self.1, self.2)?
                .iter()
                .map(|a| a.to_string())
                .collect())
        }
    }
    net.with(Sample(n, seed, limits)).map_err(ScoreError::Setting)
}

/// Every architecture of `net`'s space, as keys; an error for a space too
/// large to list.
pub fn all_keys(net: &NetConfig) -> Result<Vec<String>, ScoreError> {
    struct All;
    impl WithSpace for All {
        type Out = Option<Vec<String>>;
        fn run<S: ArchSpace>(self, space: &S) -> Self::Out {
            Some(space.all()?.iter().map(|a| a.to_string()).collect())
        }
    }
    net.with(All).ok_or_else(|| {
        ScoreError::Setting(format!(
            "--all: the {} space is too large to list; use --sample N",
            net.space()
        ))
    })
}

/// Reads architecture keys of `net`'s space from a file, one per line, in
/// their canonical form; an error names the file, the line and the problem.
pub fn read_key_list(net: &NetConfig, path: &Path) -> Result<Vec<String>, ScoreError> {
    let keys = read_key_file(path, |l| net.canonical_key(l))?;
    let mut seen = HashSet::new();
    for (i, k) in keys.iter().enumerate() {
        if !seen.insert(k) {
            return Err(ScoreError::Format {
                path: path.to_path_buf(),
                line: i + 1,
                reason: format!("architecture {k} is listed twice (lines without comments counted)"),
            });
        }
    }
    Ok(keys)
}

/// One architecture per line (blank lines and `#` comments skipped); an
/// error names the file and the line.
fn read_key_file<A>(path: &Path, parse: impl Fn(&str) -> Result<A, String>) -> Result<Vec<A>, ScoreError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // Editors on Windows begin a text file with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| {
            parse(l).map_err(|reason| ScoreError::Format {
                path: path.to_path_buf(),
                line: i + 1,
                reason,
            })
        })
        .collect()
}

/// The batch a configuration describes, at the network's image size
/// (Gaussian pixels drawn at that size, images resized bilinearly).
pub fn config_batch(config: &ScoreConfig) -> Result<Batch, ScoreError> {
    let selection = config.batch_seed.map_or(Selection::First, Selection::Random);
    let (size, num_classes) = (config.net.image_size(), config.net.num_classes());
    let batch = match &config.data {
        DataSource::Gaussian => {
            let seed = config.batch_seed.unwrap_or(0);
            gaussian_batch(config.batch, [3, size, size], num_classes, seed)
        }
        DataSource::Folder(path) => {
            crate::engine::folder::ImageFolder::read(path)?.batch(config.batch, selection, size, num_classes)?
        }
        DataSource::FolderTargets { images, targets } => {
            let kind = config
                .net
                .settings()
                .task_targets()
                .filter(|k| *k != TargetKind::Layout)
                .ok_or_else(|| {
                    ScoreError::Setting(format!(
                        "data {}: the {} network's task takes no target images (TransNAS-Bench-101's \
                         segmentsemantic and normal do); give folder:DIR alone",
                        config.data,
                        config.net.space()
                    ))
                })?;
            crate::engine::folder::ImageFolder::read(images)?.batch_with_targets(
                config.batch,
                selection,
                size,
                num_classes,
                Some((targets, kind)),
            )?
        }
        DataSource::Procedural { .. } if config.net.settings().takes_procedural_as_is() => {
            return Ok(load_batch(&config.data, config.batch, selection, num_classes)?);
        }
        // The scene's own targets for the tasks that compare with some.
        DataSource::Procedural { seed, size: side } if let Some(kind) = config.net.settings().task_targets() => {
            let indices = procedural_indices(config.batch, selection);
            resize_batch(
                &crate::engine::procedural::batch_with_targets(*seed, *side, &indices, kind),
                size,
            )
        }
        _ => resize_batch(&load_batch(&config.data, config.batch, selection, num_classes)?, size),
    };
    batch.check_shape([3, size, size])?;
    Ok(config.net.settings().task_batch(batch, config.batch_seed.unwrap_or(0)))
}

/// Bilinear resize of every image to `size` x `size` (half-pixel centres,
/// as PyTorch's `interpolate(..., align_corners=False)` and torchvision's
/// Resize when upsampling: AutoFormer feeds CIFAR-10 to ViTs at 224).
pub fn resize_batch(batch: &Batch, size: usize) -> Batch {
    let [n, c, h, w] = batch.shape;
    if (h, w) == (size, size) {
        return batch.clone();
    }
    // Source coordinate and weights along one axis.
    let axis = |src: usize| -> Vec<(usize, usize, f32)> {
        let scale = src as f64 / size as f64;
        (0..size)
            .map(|o| {
                let x = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (x.floor() as usize).min(src - 1);
                let i1 = (i0 + 1).min(src - 1);
                (i0, i1, (x - i0 as f64) as f32)
            })
            .collect()
    };
    let (ys, xs) = (axis(h), axis(w));
    let bilinear = |values: &[f32]| {
        let mut out = Vec::with_capacity(values.len() / (h * w) * size * size);
        for plane in values.chunks_exact(h * w) {
            for &(y0, y1, fy) in &ys {
                for &(x0, x1, fx) in &xs {
                    let p = |y: usize, x: usize| plane[y * w + x];
                    let top = p(y0, x0) * (1.0 - fx) + p(y0, x1) * fx;
                    let bottom = p(y1, x0) * (1.0 - fx) + p(y1, x1) * fx;
                    out.push(top * (1.0 - fy) + bottom * fy);
                }
            }
        }
        out
    };
    // Class maps take the nearest source pixel (the same half-pixel centres).
    let nearest = |values: &[f32]| {
        let near = |src: usize, o: usize| (((o as f64 + 0.5) * src as f64 / size as f64) as usize).min(src - 1);
        let mut out = Vec::with_capacity(values.len() / (h * w) * size * size);
        for plane in values.chunks_exact(h * w) {
            for y in 0..size {
                out.extend((0..size).map(|x| plane[near(h, y) * w + near(w, x)]));
            }
        }
        out
    };
    Batch {
        images: bilinear(&batch.images),
        labels: batch.labels.clone(),
        shape: [n, c, size, size],
        num_classes: batch.num_classes,
        source: format!("{} resized to {size}x{size}", batch.source),
        targets: batch.targets.as_ref().map(|t| Targets {
            kind: t.kind,
            values: match t.kind {
                TargetKind::Classes(_) => nearest(&t.values),
                TargetKind::Normals => bilinear(&t.values),
                TargetKind::Layout => t.values.clone(),
            },
        }),
    }
}

/// Peak memory of a run, where the system or the backend can tell: the
/// process's resident high-water mark (Linux `VmHWM`, host memory: all of
/// it on the CPU backend), and on wgpu the bytes the device allocator has
/// reserved (its pools keep pages, so after a run this is its high-water
/// mark).
pub fn peak_memory(backend: &Backend) -> Option<String> {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let host = crate::archive::proc_bytes("/proc/self/status", "VmHWM")
        .map(|b| format!("host RSS high-water {:.0} MiB", mib(b)));
    let device = match backend.kind {
        BackendKind::Wgpu => backend.device.memory_pool_usage().map(|u| {
            format!(
                "device reserved {:.0} MiB ({:.0} MiB in use now)",
                mib(u.bytes_reserved),
                mib(u.bytes_in_use)
            )
        }),
        BackendKind::Cpu => None,
    };
    match (host, device) {
        (Some(h), Some(d)) => Some(format!("{h}; {d}")),
        (h, d) => h.or(d),
    }
}

/// Scores one architecture of `space`.
pub fn score_arch<S: ArchSpace>(
    space: &S,
    arch: &S::Arch,
    config: &ScoreConfig,
    proxies: &[&ProxyInfo],
    batch: &Batch,
    backend: &Backend,
) -> ScoreLine {
    let (net, params) = space.build(arch);
    score_network(net.as_ref(), params, arch.to_string(), config, proxies, batch, backend)
}

/// Scores a built network (an architecture or a pruning supernet) under
/// `key`; its weights are initialised from the run seed and the key.
pub fn score_network(
    net: &dyn Network,
    mut params: ParamStore,
    key: String,
    config: &ScoreConfig,
    proxies: &[&ProxyInfo],
    batch: &Batch,
    backend: &Backend,
) -> ScoreLine {
    let start = Instant::now();
    params.init(config.init, arch_seed(config.seed, &key));
    let rec = probe(net, &params, batch, backend, &config.probe, proxy::needs_of(proxies));
    ScoreLine {
        proxies: proxies.iter().map(|p| (p.name.to_string(), p.compute(&rec))).collect(),
        profile: rec.profile(),
        psi_upto_by_samples: rec.psi_upto_by_samples(),
        seconds: start.elapsed().as_secs_f64(),
        arch: key,
    }
}

/// The proxies a configuration names (`all` expanded).
pub fn config_proxies(config: &ScoreConfig) -> Result<Vec<&'static ProxyInfo>, ScoreError> {
    Ok(config
        .proxies
        .iter()
        .map(|n| proxy::parse_list(n))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect())
}

/// Whether a file written with `file` can be continued with `now`: the
/// same settings, the images named by any path to the same file (a run
/// resumed from another folder).
fn same_run(file: &ScoreConfig, now: &ScoreConfig) -> bool {
    file == now || {
        let (mut a, mut b) = (file.clone(), now.clone());
        a.data = a.data.canonical();
        b.data = b.data.canonical();
        // Patterns of the whole batch, written as None (the only form before
        // the default became 16) or as the batch size.
        for c in [&mut a, &mut b] {
            c.probe.pattern_samples = Some(c.probe.pattern_samples.unwrap_or(c.batch));
        }
        a == b
    }
}

/// Opens a score file for appending: an existing one must have been
/// written with `config` (its complete lines are returned and a half-written
/// last line is cut off); a new one gets the provenance header.
pub fn open_score_file(
    out: &Path,
    config: &ScoreConfig,
    batch_source: &str,
) -> Result<(File, Vec<ScoreLine>), ScoreError> {
    let io = |source| ScoreError::Io {
        path: out.to_path_buf(),
        source,
    };
    if out.exists() && std::fs::metadata(out).map_err(io)?.len() > 0 && holds_work(out)? {
        let (prov, lines, valid_len) = read_score_file(out)?;
        if !same_run(&prov.config, config) {
            return Err(ScoreError::ConfigMismatch {
                path: out.to_path_buf(),
                file: serde_json::to_string(&prov.config).unwrap_or_default(),
                now: serde_json::to_string(config).unwrap_or_default(),
            });
        }
        Ok((jsonl::append_after(out, valid_len).map_err(io)?, lines))
    } else {
        let header = Header {
            provenance: Provenance {
                app: "lswag-studio".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                config: config.clone(),
                batch_source: batch_source.to_string(),
                created: crate::archive::now_rfc3339(),
            },
        };
        Ok((jsonl::create(out, &header).map_err(io)?, Vec::new()))
    }
}

/// Whether an existing score file holds anything a new run would lose: a
/// file cut off in its header line, or a header of a run that scored
/// nothing (it was refused or failed on its first architecture), is
/// started afresh instead of blocking the corrected command.
fn holds_work(out: &Path) -> Result<bool, ScoreError> {
    let empty = jsonl::holds_only_header(out, b"{\"provenance\"", |h| serde_json::from_str::<Header>(h).is_ok())
        .map_err(|source| ScoreError::Io {
            path: out.to_path_buf(),
            source,
        })?;
    Ok(!empty)
}

/// Appends one line and flushes it, so a kill loses at most the line in flight.
pub fn append_line(file: &mut File, out: &Path, line: &ScoreLine) -> Result<(), ScoreError> {
    jsonl::append_json(file, line).map_err(|source| ScoreError::Io {
        path: out.to_path_buf(),
        source,
    })
}

/// Reads an existing score file: its provenance and scored lines. A
/// truncated last line (a killed run) is reported as `valid_len`, the byte
/// length of the complete part.
/// The probe settings an existing score file was written with (`None`
/// where there is no readable file), so that a run resumed without a flag
/// keeps the file's setting rather than a newer default.
pub fn recorded_probe(path: &Path) -> Option<ProbeSettings> {
    jsonl::read_header::<Header>(path).map(|h| h.provenance.config.probe)
}

pub fn read_score_file(path: &Path) -> Result<(Provenance, Vec<ScoreLine>, u64), ScoreError> {
    let read = jsonl::read_complete(path).map_err(|source| ScoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let fmt_err = |line: usize, reason: String| ScoreError::Format {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let header = read
        .lines
        .first()
        .ok_or_else(|| fmt_err(1, "empty file: no provenance header".into()))?;
    let h: Header =
        serde_json::from_str(header).map_err(|e| fmt_err(1, format!("expected the provenance header: {e}")))?;
    let mut lines = Vec::new();
    for (i, text) in read.lines.iter().enumerate().skip(1) {
        if !text.trim().is_empty() {
            lines.push(serde_json::from_str(text).map_err(|e| fmt_err(i + 1, format!("expected a score line: {e}")))?);
        }
    }
    Ok((h.provenance, lines, read.valid_len))
}

/// Scores `archs` (anything that prints as a key of `config.net`'s space)
/// into `out`, resuming from what it already holds. Every key is parsed
/// before anything is probed; a bad one is an error naming it.
pub fn run<K: std::fmt::Display>(
    archs: &[K],
    config: &ScoreConfig,
    out: &Path,
    cancel: &CancelToken,
    report: &dyn Fn(ScoreEvent),
) -> Result<usize, ScoreError> {
    struct Run<'a> {
        keys: Vec<String>,
        config: &'a ScoreConfig,
        out: &'a Path,
        cancel: &'a CancelToken,
        report: &'a dyn Fn(ScoreEvent),
    }
    impl WithSpace for Run<'_> {
        type Out = Result<usize, ScoreError>;
        fn run<S: ArchSpace>(self, space: &S) -> Self::Out {
            let archs = self
                .keys
                .iter()
                .map(|k| {
                    space
                        .parse(k)
                        .map_err(|e| ScoreError::Setting(format!("architecture `{k}`: {e}")))
                })
                .collect::<Result<Vec<S::Arch>, _>>()?;
            check_memory(
                self.config,
                &self.keys,
                probe_workers(self.config.backend, &self.config.net, self.keys.len()),
            )?;
            run_with(
                &archs,
                self.config,
                self.out,
                self.cancel,
                self.report,
                &|a, c, p, b, be| score_arch(space, a, c, p, b, be),
            )
        }
    }
    config.validate()?;
    let keys = archs.iter().map(|a| a.to_string()).collect();
    config.net.with(Run {
        keys,
        config,
        out,
        cancel,
        report,
    })
}

/// The same for runs whose passes are forward only (activation patterns:
/// swap, nwot; no gradient is taken, so no graph is kept): measured peaks
/// of `--proxies swap,nwot`, batch 64 (TransNAS-Bench-101: 32) were NB201
/// 135 MB, NB301 331 MB, TransNAS-Bench-101 micro class_object at 64 px
/// 185 MB, against the all-proxy estimate's 1.5, 4.0 and 0.44 GB.
pub const FORWARD_BYTES_PER_OUTPUT_FLOAT: (f64, f64) = (1.0, 5.0);

/// The process before any probe: code, allocator, the images.
const BASE_BYTES: f64 = 100.0 * 1024.0 * 1024.0;

/// The expected peak memory of a probe run: a run above `low` will not fit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemoryEstimate {
    pub low: u64,
    pub high: u64,
}

/// Memory a probe run is expected to take at its peak on the CPU backend,
/// from the layer shapes of `key` at a reduced image size (one forward of
/// one image; outputs scale with the pixel count), times the probes run at
/// once. `None` when the network cannot be built at a smaller size.
pub fn estimate_memory(config: &ScoreConfig, key: &str, workers: usize) -> Option<MemoryEstimate> {
    struct Shapes<'a>(&'a str);
    impl WithSpace for Shapes<'_> {
        type Out = Option<(u64, u64)>;
        fn run<S: ArchSpace>(self, space: &S) -> Self::Out {
            let arch = space.parse(self.0).ok()?;
            let (net, params) = space.build(&arch);
            let device = Backend::new(BackendKind::Cpu).device;
            let layers = crate::engine::probe::layer_shapes(net.as_ref(), &params, &device);
            Some((
                crate::engine::probe::output_floats_per_image(&layers),
                params.num_params() as u64,
            ))
        }
    }
    let (size, classes) = (config.net.image_size(), config.net.num_classes());
    let smaller = |r: usize| config.net.with_input(r, classes).and_then(|n| n.validate().map(|_| n));
    let mut reference = size;
    while reference > 64 && reference.is_multiple_of(2) && smaller(reference / 2).is_ok() {
        reference /= 2;
    }
    // The input batch, loaded and resized.
    let input = 2.0 * (config.batch * 3 * size * size * 4) as f64;
    if reference > 512 {
        // Too large to shape cheaply: the input alone is the floor.
        let b = (input + BASE_BYTES) as u64;
        return Some(MemoryEstimate { low: b, high: b });
    }
    let (floats, params) = smaller(reference).ok()?.with(Shapes(key))?;
    // Data-free proxies (params, flops) run one forward of one image;
    // pattern proxies forward passes without a graph.
    let needs = proxy::needs_of(&config_proxies(config).ok()?);
    let passes = needs != crate::engine::probe::ProbeNeeds::NONE;
    let forward_only = crate::engine::probe::ProbeNeeds {
        patterns: needs.patterns,
        nwot: needs.nwot,
        ..crate::engine::probe::ProbeNeeds::NONE
    } == needs;
    let model = if forward_only {
        crate::space::ProbeMemory {
            fixed: 0.0,
            per_output_float: FORWARD_BYTES_PER_OUTPUT_FLOAT,
        }
    } else {
        config.net.settings().probe_memory()
    };
    let per_float = model.per_output_float;
    let images = if passes { config.batch } else { 1 } * config.net.settings().inputs_per_sample();
    let outputs = images as f64 * floats as f64 * (size as f64 / reference as f64).powi(2);
    // Weights, their gradients and the copies the passes make.
    let weights = 16.0 * params as f64;
    let total = |k: f64| (workers as f64 * (k * outputs + weights + model.fixed) + input + BASE_BYTES) as u64;
    Some(MemoryEstimate {
        low: total(per_float.0),
        high: total(per_float.1),
    })
}

/// Memory the system can give now (Linux `MemAvailable`), where it tells.
pub fn available_memory() -> Option<u64> {
    crate::archive::proc_bytes("/proc/meminfo", "MemAvailable")
}

/// `n` bytes in GiB (or MiB below one GiB), for messages.
pub fn format_bytes(n: u64) -> String {
    let mib = n as f64 / (1024.0 * 1024.0);
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB")
    }
}

/// The estimate for a run of `keys` (from its first architecture), on the
/// CPU backend; `None` on a GPU (its memory is the device's) or where the
/// network cannot be shaped.
pub fn run_memory(config: &ScoreConfig, keys: &[String]) -> Option<MemoryEstimate> {
    run_memory_with(config, keys, probe_workers(config.backend, &config.net, keys.len()))
}

fn run_memory_with(config: &ScoreConfig, keys: &[String], workers: usize) -> Option<MemoryEstimate> {
    if config.backend != BackendKind::Cpu {
        return None;
    }
    estimate_memory(config, keys.first()?, workers)
}

/// `LSWAG_MEMORY_CHECK=off` skips the refusal below (an estimate is a model
/// fitted to measured peaks, and a machine may swap); `on` is the default.
pub const MEMORY_CHECK_ENV: &str = "LSWAG_MEMORY_CHECK";

/// Refuses a CPU run of `workers` probes at once whose estimated peak
/// exceeds the memory available, before any image is loaded or an output
/// is created (score jobs, live searches).
pub(crate) fn check_memory(config: &ScoreConfig, keys: &[String], workers: usize) -> Result<(), ScoreError> {
    match std::env::var_os(MEMORY_CHECK_ENV) {
        Some(v) if v == "off" => return Ok(()),
        Some(v) if v != "on" => {
            return Err(ScoreError::Setting(format!(
                "{MEMORY_CHECK_ENV}={}: expected off (run without the memory check) or on",
                v.to_string_lossy()
            )));
        }
        _ => {}
    }
    let (Some(need), Some(have)) = (run_memory_with(config, keys, workers), available_memory()) else {
        return Ok(());
    };
    if need.low > have {
        let size = config.net.image_size();
        return Err(ScoreError::Setting(format!(
            "memory: the probe would need {} to {} (batch {}, {size} x {size} pixels, {workers} probe(s) at once) \
             and {} is available; lower the batch or the image size{} ({MEMORY_CHECK_ENV}=off runs it anyway)",
            format_bytes(need.low),
            format_bytes(need.high),
            config.batch,
            format_bytes(have),
            if workers > 1 {
                ", or set RAYON_NUM_THREADS=1"
            } else {
                ""
            }
        )));
    }
    Ok(())
}

type ScoreOne<'a, A> = dyn Fn(&A, &ScoreConfig, &[&ProxyInfo], &Batch, &Backend) -> ScoreLine + Sync + 'a;

/// Architectures probed at once: one per rayon thread on the CPU backend
/// for spaces whose probe is nearly serial (`RAYON_NUM_THREADS` limits it;
/// see [`crate::space::NetSettings::parallel_probes`]), else one; a GPU
/// runs one probe at a time.
pub fn probe_workers(backend: BackendKind, net: &NetConfig, todo: usize) -> usize {
    let parallel = backend == BackendKind::Cpu && net.settings().parallel_probes();
    if parallel {
        rayon::current_num_threads().clamp(1, todo.max(1))
    } else {
        1
    }
}

fn run_with<A: std::fmt::Display + Sync>(
    archs: &[A],
    config: &ScoreConfig,
    out: &Path,
    cancel: &CancelToken,
    report: &dyn Fn(ScoreEvent),
    score_one: &ScoreOne<'_, A>,
) -> Result<usize, ScoreError> {
    let proxies = config_proxies(config)?;
    let batch = config_batch(config)?;
    let io = |source| ScoreError::Io {
        path: out.to_path_buf(),
        source,
    };
    let _lock = OutputLock::acquire(out).map_err(|e| ScoreError::Setting(e.to_string()))?;
    let (mut file, lines) = open_score_file(out, config, &batch.source)?;
    let done: HashSet<String> = lines.into_iter().map(|l| l.arch).collect();
    let todo: Vec<&A> = archs.iter().filter(|a| !done.contains(&a.to_string())).collect();
    report(ScoreEvent::Started {
        total: todo.len(),
        already_done: archs.len() - todo.len(),
    });
    let start = Instant::now();
    let mut scored = 0;
    // Workers take the next architecture from a shared counter and send
    // each line here, where it is written as soon as it arrives: a killed
    // run loses only the architectures in flight, one per worker. Every
    // value depends on its architecture alone, so the order lines arrive
    // in changes nothing.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<ScoreLine>();
    std::thread::scope(|scope| -> Result<(), ScoreError> {
        for _ in 0..probe_workers(config.backend, &config.net, todo.len()) {
            let (tx, next, todo, proxies, batch) = (tx.clone(), &next, &todo, &proxies, &batch);
            scope.spawn(move || {
                let backend = Backend::new(config.backend);
                while !cancel.is_cancelled() {
                    let Some(arch) = todo.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) else {
                        break;
                    };
                    // The receiver is gone only when writing failed: stop.
                    if tx.send(score_one(arch, config, proxies, batch, &backend)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for line in rx {
            append_line(&mut file, out, &line)?;
            scored += 1;
            report(ScoreEvent::Scored {
                line,
                progress: Progress {
                    done: scored,
                    total: todo.len(),
                    elapsed: start.elapsed(),
                },
            });
        }
        Ok(())
    })?;
    file.sync_all().map_err(io)?;
    report(ScoreEvent::Finished {
        scored,
        cancelled: cancel.is_cancelled(),
    });
    Ok(scored)
}
