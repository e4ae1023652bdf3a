//! Building a mini-benchmark: train a sample of architectures briefly,
//! record their validation accuracy, write a native archive with that
//! ground truth.
//!
//! Like `score`, the job writes a JSON-lines log as it goes: the first line
//! is `{"provenance": {...}}` (the whole configuration, data source, version),
//! then one line per trained architecture. Re-running with the same log
//! resumes: trained architectures are skipped and a half-written last line
//! is cut off. When every architecture is in the log, the archive is
//! (re)written from the log alone, so a finished log always reproduces it.
//!
//! Each architecture's initial weights come from `arch_seed(seed, arch)`
//! with the same init scheme as `score`, so scoring the same sample with the
//! same seed probes exactly the networks that were trained here.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::output::OutputLock;
use super::{CancelToken, Progress, jsonl};
use crate::archive::{self, ArchiveBuilder, Space};
use crate::engine::backend::{Backend, BackendKind};
use crate::engine::data::{DataSource, load_split};
use crate::engine::params::{InitScheme, arch_seed};
use crate::engine::train::{EpochStats, StepProgress, TrainConfig, train};
use crate::space::nb201::{Nb201Arch, Nb201Config, Nb201Net, sample_cells};

/// Everything that determines a mini-benchmark's numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildConfig {
    pub space: String,
    pub nb201: Nb201Config,
    /// Architectures sampled uniformly with `seed`.
    pub sample: usize,
    /// Seed of the sample and (per architecture) of the initial weights and
    /// the mini-batch order.
    pub seed: u64,
    pub init: InitScheme,
    pub backend: BackendKind,
    pub data: DataSource,
    pub train_images: usize,
    pub val_images: usize,
    pub train: TrainConfig,
}

impl BuildConfig {
    /// Checks every setting before anything is loaded or written, with an
    /// error naming the setting, its value and what is allowed.
    pub fn validate(&self, out: &Path) -> Result<(), BuildError> {
        let bad = |s: String| Err(BuildError::Setting(s));
        self.nb201.validate().map_err(BuildError::Setting)?;
        let t = &self.train;
        if self.sample == 0 {
            return bad("sample 0: train at least one architecture".into());
        }
        if t.epochs == 0 {
            return bad("epochs 0: ground truth needs at least one epoch of training".into());
        }
        if self.train_images == 0 {
            return bad("training images 0: training needs at least one image".into());
        }
        if t.batch_size == 0 || t.batch_size > self.train_images {
            return bad(format!(
                "batch {}: 1 to the number of training images ({})",
                t.batch_size, self.train_images
            ));
        }
        if self.val_images == 0 {
            return bad("validation images 0: the ground truth is the validation accuracy".into());
        }
        if !(t.lr > 0.0 && t.lr.is_finite()) {
            return bad(format!("learning rate {}: a positive finite number", t.lr));
        }
        if out.extension().is_none_or(|e| !e.eq_ignore_ascii_case("lswag")) {
            return bad(format!(
                "--out {}: this writes a native archive; name it *.lswag (convert it afterwards with `archive export`)",
                out.display()
            ));
        }
        Ok(())
    }

    /// The archive task holding the ground truth, e.g. `procedural_valid_3ep`
    /// (NB201's naming: dataset, split, epochs).
    pub fn task_name(&self) -> String {
        let dataset = match &self.data {
            DataSource::Procedural { .. } => "procedural",
            DataSource::Cifar10(_) => "cifar10",
            DataSource::Gaussian => "gaussian",
            DataSource::Folder(_) | DataSource::FolderTargets { .. } => "folder",
        };
        format!("{dataset}_valid_{}ep", self.train.epochs)
    }
}

/// First line of a log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildProvenance {
    pub app: String,
    pub version: String,
    pub config: BuildConfig,
    pub train_source: String,
    pub val_source: String,
    pub created: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    provenance: BuildProvenance,
}

/// One trained architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainedLine {
    pub arch: String,
    /// Validation accuracy in %.
    pub val_acc: f64,
    pub val_loss: f64,
    pub epochs: Vec<EpochStats>,
    pub steps: usize,
    pub diverged: bool,
    pub params: u64,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} line {line}: {reason}")]
    Format { path: PathBuf, line: usize, reason: String },
    #[error(
        "{path} was written with a different configuration; use another log or the same settings\n  file: {file}\n  now:  {now}"
    )]
    ConfigMismatch { path: PathBuf, file: String, now: String },
    #[error("--space {0}: only nb201 is supported")]
    Space(String),
    #[error(transparent)]
    Data(#[from] crate::engine::data::DataError),
    #[error("training {arch}: {source}")]
    Train {
        arch: String,
        source: crate::engine::train::TrainError,
    },
    #[error(transparent)]
    Archive(#[from] archive::ArchiveError),
    #[error("{0}")]
    Setting(String),
}

/// Events a build reports.
#[derive(Clone, Debug)]
pub enum BuildEvent {
    Started {
        total: usize,
        already_done: usize,
    },
    /// A training step of the architecture in flight.
    Step {
        arch: String,
        step: StepProgress,
    },
    Trained {
        line: TrainedLine,
        progress: Progress,
    },
    /// The archive was written (all architectures trained).
    Written {
        path: PathBuf,
        records: usize,
        bytes: u64,
    },
    Finished {
        trained: usize,
        cancelled: bool,
    },
}

/// Reads a log: provenance, trained lines, and the byte length of its
/// complete part (a killed run leaves a cut-off last line).
pub fn read_log(path: &Path) -> Result<(BuildProvenance, Vec<TrainedLine>, u64), BuildError> {
    let complete = jsonl::read_complete(path).map_err(|source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let err = |line: usize, reason: String| BuildError::Format {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut rows = complete.lines.iter().enumerate();
    let provenance = match rows.next() {
        Some((_, first)) => {
            serde_json::from_str::<Header>(first)
                .map_err(|e| err(1, format!("expected the provenance header: {e}")))?
                .provenance
        }
        None => return Err(err(1, "no complete provenance header".into())),
    };
    let lines = rows
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| err(i + 1, format!("expected a trained architecture: {e}"))))
        .collect::<Result<Vec<TrainedLine>, BuildError>>()?;
    Ok((provenance, lines, complete.valid_len))
}

/// The archive of a complete log: one task with the validation accuracy as
/// ground truth, the log's provenance attached to it.
pub fn archive_of(prov: &BuildProvenance, lines: &[TrainedLine], log: &Path) -> Result<archive::Archive, BuildError> {
    let mut b = ArchiveBuilder::new(Space::from_name(&prov.config.space));
    let config = serde_json::to_string(prov).unwrap_or_default();
    let p = b.add_provenance(archive::Provenance::new(log.display().to_string(), config));
    let task = b.task(&prov.config.task_name(), Some(p));
    for line in lines {
        let row = b.row(&line.arch);
        b.set_truth(task, row, line.val_acc);
    }
    Ok(b.build()?)
}

/// Trains the sampled architectures into `log`, resuming, then writes the
/// archive to `out` once all are trained.
pub fn run(
    config: &BuildConfig,
    log: &Path,
    out: &Path,
    cancel: &CancelToken,
    report: &dyn Fn(BuildEvent),
) -> Result<usize, BuildError> {
    // Training runs on NB201 skeletons only (the settings below are NB201's).
    if Space::from_name(&config.space) != Space::Nb201 {
        return Err(BuildError::Space(config.space.clone()));
    }
    config.validate(out)?;
    let _lock = OutputLock::acquire(log).map_err(|e| BuildError::Setting(e.to_string()))?;
    let archs: Vec<Nb201Arch> = sample_cells(config.sample, config.seed);
    let (train_set, val_set) = load_split(&config.data, config.train_images, config.val_images)?;
    let io = |source| BuildError::Io {
        path: log.to_path_buf(),
        source,
    };
    let (prov, mut done, mut file) = if log.exists() && std::fs::metadata(log).map_err(io)?.len() > 0 {
        let (prov, lines, valid_len) = read_log(log)?;
        if prov.config != *config {
            return Err(BuildError::ConfigMismatch {
                path: log.to_path_buf(),
                file: serde_json::to_string(&prov.config).unwrap_or_default(),
                now: serde_json::to_string(config).unwrap_or_default(),
            });
        }
        (prov, lines, jsonl::append_after(log, valid_len).map_err(io)?)
    } else {
        let prov = BuildProvenance {
            app: "lswag-studio".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config: config.clone(),
            train_source: train_set.source.clone(),
            val_source: val_set.source.clone(),
            created: archive::now_rfc3339(),
        };
        let mut f = File::create(log).map_err(io)?;
        jsonl::append_json(
            &mut f,
            &Header {
                provenance: prov.clone(),
            },
        )
        .map_err(io)?;
        (prov, Vec::new(), f)
    };
    let todo: Vec<Nb201Arch> = archs
        .iter()
        .filter(|a| !done.iter().any(|l| l.arch == a.to_string()))
        .copied()
        .collect();
    report(BuildEvent::Started {
        total: todo.len(),
        already_done: archs.len() - todo.len(),
    });
    let backend = Backend::new(config.backend);
    let start = Instant::now();
    let mut trained = 0;
    for arch in &todo {
        if cancel.is_cancelled() {
            break;
        }
        let key = arch.to_string();
        let (net, mut params) = Nb201Net::new(*arch, config.nb201);
        params.init(config.init, arch_seed(config.seed, &key));
        // The batch order's stream is keyed apart from the weights' stream.
        let train_config = TrainConfig {
            seed: arch_seed(config.train.seed, &format!("{key}/batch-order")),
            ..config.train.clone()
        };
        let stop = || cancel.is_cancelled();
        let mut on_step = |step: StepProgress| {
            report(BuildEvent::Step {
                arch: key.clone(),
                step,
            })
        };
        let r = train(
            &net,
            &mut params,
            &train_set,
            &val_set,
            &train_config,
            &backend,
            &stop,
            &mut on_step,
        )
        .map_err(|source| BuildError::Train {
            arch: key.clone(),
            source,
        })?;
        if r.stopped {
            break; // cancelled mid-training: nothing of it is kept
        }
        let line = TrainedLine {
            arch: key,
            val_acc: r.val.accuracy,
            val_loss: r.val.loss,
            epochs: r.epochs,
            steps: r.steps,
            diverged: r.diverged,
            params: params.num_params() as u64,
            seconds: r.seconds,
        };
        jsonl::append_json(&mut file, &line).map_err(io)?;
        trained += 1;
        done.push(line.clone());
        report(BuildEvent::Trained {
            line,
            progress: Progress {
                done: trained,
                total: todo.len(),
                elapsed: start.elapsed(),
            },
        });
    }
    file.sync_all().map_err(io)?;
    let complete = archs.iter().all(|a| done.iter().any(|l| l.arch == a.to_string()));
    if complete {
        // The archive lists architectures in sampled order, whatever order
        // resumed runs trained them in.
        let ordered: Vec<TrainedLine> = archs
            .iter()
            .filter_map(|a| done.iter().find(|l| l.arch == a.to_string()).cloned())
            .collect();
        let archive = archive_of(&prov, &ordered, log)?;
        let bytes = archive::write_native(&archive, out)?;
        report(BuildEvent::Written {
            path: out.to_path_buf(),
            records: archive.len(),
            bytes,
        });
    }
    report(BuildEvent::Finished {
        trained,
        cancelled: cancel.is_cancelled(),
    });
    Ok(trained)
}
