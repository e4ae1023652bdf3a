//! Scoring architectures with the probe, written to JSON lines as it goes.
//!
//! File layout: the first line is `{"provenance": {...}}` (config, seed,
//! backend, data source, version); every other line is one architecture:
//! `{"arch", "proxies": {name: number|null}, "profile", "seconds"}`.
//! Re-running with the same output resumes: architectures already in the
//! file are skipped, and a half-written last line (a killed run) is cut off.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{CancelToken, Progress, jsonl};
use crate::engine::backend::{Backend, BackendKind};
use crate::engine::data::{Batch, DataSource, Selection, load_batch};
use crate::engine::params::{InitScheme, ParamStore, arch_seed};
use crate::engine::probe::{Network, ProbeSettings, probe};
use crate::engine::profile::LayerProfile;
use crate::proxy::{self, ProxyInfo};
use crate::space::nb201::{NUM_ARCHS, Nb201Arch, Nb201Config, Nb201Net};

/// Everything that determines the numbers of a score run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreConfig {
    pub space: String,
    pub nb201: Nb201Config,
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
}

/// Events a score job reports.
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

/// `n` distinct architectures sampled uniformly with `seed`, in sampled order.
pub fn sample_archs(n: usize, seed: u64) -> Vec<Nb201Arch> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    sample(&mut rng, NUM_ARCHS, n.min(NUM_ARCHS))
        .into_iter()
        .map(Nb201Arch::from_index)
        .collect()
}

/// Reads architectures from a file, one arch string or NASLib tuple per line.
pub fn read_arch_file(path: &Path) -> Result<Vec<Nb201Arch>, ScoreError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| {
            Nb201Arch::parse_any(l).map_err(|e| ScoreError::Format {
                path: path.to_path_buf(),
                line: i + 1,
                reason: e.to_string(),
            })
        })
        .collect()
}

/// The batch a configuration describes.
pub fn config_batch(config: &ScoreConfig) -> Result<Batch, ScoreError> {
    let selection = config.batch_seed.map_or(Selection::First, Selection::Random);
    Ok(load_batch(&config.data, config.batch, selection, config.nb201.num_classes)?)
}

/// Scores one architecture.
pub fn score_arch(
    arch: Nb201Arch,
    config: &ScoreConfig,
    proxies: &[&ProxyInfo],
    batch: &Batch,
    backend: &Backend,
) -> ScoreLine {
    let (net, params) = Nb201Net::new(arch, config.nb201);
    score_network(&net, params, arch.to_string(), config, proxies, batch, backend)
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

/// Opens a score file for appending: an existing one must have been
/// written with `config` (its complete lines are returned and a half-written
/// last line is cut off); a new one gets the provenance header.
pub fn open_score_file(out: &Path, config: &ScoreConfig, batch_source: &str) -> Result<(File, Vec<ScoreLine>), ScoreError> {
    let io = |source| ScoreError::Io {
        path: out.to_path_buf(),
        source,
    };
    if out.exists() && std::fs::metadata(out).map_err(io)?.len() > 0 {
        let (prov, lines, valid_len) = read_score_file(out)?;
        if prov.config != *config {
            return Err(ScoreError::ConfigMismatch {
                path: out.to_path_buf(),
                file: serde_json::to_string(&prov.config).unwrap_or_default(),
                now: serde_json::to_string(config).unwrap_or_default(),
            });
        }
        Ok((jsonl::append_after(out, valid_len).map_err(io)?, lines))
    } else {
        let mut f = File::create(out).map_err(io)?;
        let header = Header {
            provenance: Provenance {
                app: "lswag-studio".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                config: config.clone(),
                batch_source: batch_source.to_string(),
                created: crate::archive::now_rfc3339(),
            },
        };
        writeln!(f, "{}", serde_json::to_string(&header).unwrap_or_default()).map_err(io)?;
        Ok((f, Vec::new()))
    }
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
    let header = read.lines.first().ok_or_else(|| fmt_err(1, "empty file: no provenance header".into()))?;
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

/// Scores `archs` into `out`, resuming from what it already holds.
pub fn run(
    archs: &[Nb201Arch],
    config: &ScoreConfig,
    out: &Path,
    cancel: &CancelToken,
    report: &dyn Fn(ScoreEvent),
) -> Result<usize, ScoreError> {
    let proxies = config_proxies(config)?;
    let batch = config_batch(config)?;
    let io = |source| ScoreError::Io {
        path: out.to_path_buf(),
        source,
    };
    let (mut file, lines) = open_score_file(out, config, &batch.source)?;
    let done: HashSet<String> = lines.into_iter().map(|l| l.arch).collect();
    let todo: Vec<Nb201Arch> = archs.iter().filter(|a| !done.contains(&a.to_string())).copied().collect();
    report(ScoreEvent::Started {
        total: todo.len(),
        already_done: archs.len() - todo.len(),
    });
    let backend = Backend::new(config.backend);
    let start = Instant::now();
    let mut scored = 0;
    for arch in &todo {
        if cancel.is_cancelled() {
            break;
        }
        let line = score_arch(*arch, config, &proxies, &batch, &backend);
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
    file.sync_all().map_err(io)?;
    report(ScoreEvent::Finished {
        scored,
        cancelled: cancel.is_cancelled(),
    });
    Ok(scored)
}
