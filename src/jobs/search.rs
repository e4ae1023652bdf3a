//! A search as a job: configuration, the live (probe) evaluator, and a log
//! of one JSON line per evaluation that makes a killed search resumable.
//!
//! Log layout: `{"search": {config, fitness, ...}}`, then one
//! [`Evaluation`] per line, then `{"result": {...}}` when it ends. Resuming
//! replays the seeded search with the logged evaluations as a cache, so it
//! continues exactly where the killed run stopped; only new evaluations are
//! scored and appended.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::output::OutputLock;
use super::score::{
    ScoreConfig, ScoreError, ScoreLine, append_line, config_batch, config_proxies, open_score_file, score_arch,
    score_network,
};
use super::{CancelToken, Progress, jsonl};
use crate::archive::{Archive, open_any};
use crate::engine::backend::Backend;
use crate::engine::data::Batch;
use crate::engine::params::ParamStore;
use crate::engine::probe::Network;
use crate::proxy::ProxyInfo;
use crate::search::band::{Band, random_band};
use crate::search::evolution::evolution;
use crate::search::prune::{Prunable, prune, prune_result, supernet_evaluations};
use crate::search::random::random;
use crate::search::space::{Domain, SearchSpace};
use crate::search::tabular::{ArchiveTruth, TabularEvaluator, TabularSupernet};
use crate::search::{
    Algo, Budget, Component, Evaluation, Evaluator, EvolutionSettings, Fitness, FitnessSpec, NoTruth, ParamLimits,
    PauseToken, SearchError, SearchResult, Session, Truth,
};
use crate::space::nb201::{Nb201Net, Nb201Supernet};
use crate::space::nb301::{Nb301Net, Nb301Supernet};
use crate::space::{ArchSpace, NetConfig, ParamCounter, WithSpace};

/// Everything that determines a search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchConfig {
    pub algo: Algo,
    /// As written: `lswag`, `lswag:A-B`, a proxy, `libra`, `libra:P1,P2,P3`.
    pub fitness: String,
    pub budget: Budget,
    pub seed: u64,
    pub param_limits: Option<ParamLimits>,
    pub evolution: EvolutionSettings,
    /// Benchmark archive: ground truth, and in tabular mode the scores.
    pub archive: Option<PathBuf>,
    pub task: Option<String>,
    pub tabular: bool,
    /// The space searched (`score.net`) and how the probe scores in live
    /// mode (the network settings also set the parameter counts in tabular
    /// mode). Logs written before the space abstraction also carry a
    /// top-level `space`, which `score` repeats and serde skips.
    pub score: ScoreConfig,
}

impl SearchConfig {
    /// The space searched, with its network settings.
    pub fn net(&self) -> &NetConfig {
        &self.score.net
    }

    /// Checks every setting before the log is opened, with an error naming
    /// the setting, its value and what is allowed (CLI and app alike).
    pub fn validate(&self) -> Result<(), SearchJobError> {
        let bad = |s: String| Err(SearchError::Setting(s).into());
        let e = &self.evolution;
        for (name, p) in [
            ("mutation probability (--m-prob)", e.m_prob),
            ("structural mutation probability (--s-prob)", e.s_prob),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{name} {p}: a probability, 0 to 1"));
            }
        }
        if self.algo == Algo::Evolution {
            if e.population == 0 {
                return bad("population 0: evolution needs at least one initial architecture".into());
            }
            if e.parents == 0 {
                return bad("parents 0: evolution needs at least one parent".into());
            }
            if e.generations == 0 {
                return bad("generations 0: evolution needs at least one generation".into());
            }
            if e.mutations + e.crossovers == 0 {
                return bad("mutations and crossovers are both 0: evolution would make no children".into());
            }
        }
        if self.budget.evaluations == 0 {
            return bad("budget 0: a search needs at least one evaluation".into());
        }
        if let Some(t) = self.budget.seconds
            && !(t > 0.0 && t.is_finite())
        {
            return bad(format!("time limit {t} s: a positive number of seconds"));
        }
        if self.tabular {
            // Only the network settings count (parameter counts); batch and
            // probe settings are never used.
            self.net().validate().map_err(|e| SearchError::Setting(e).into())
        } else {
            Ok(self.score.validate()?)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SearchJobError {
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error(transparent)]
    Score(#[from] ScoreError),
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} line {line}: {reason}")]
    Log { path: PathBuf, line: usize, reason: String },
}

/// Events a search job reports.
#[derive(Clone, Debug)]
pub enum SearchEvent {
    Started {
        fitness: Fitness,
        /// Evaluations restored from the log.
        resumed: usize,
        /// Random search with the same fitness and budget on the archive's
        /// scored pool, when the archive can score the fitness.
        band: Option<Band>,
    },
    Evaluated {
        evaluation: Evaluation,
        progress: Progress,
    },
    Finished(SearchResult),
    Failed(String),
}

#[derive(Serialize, Deserialize)]
struct Header {
    search: LogHeader,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct LogHeader {
    app: String,
    version: String,
    config: SearchConfig,
    fitness: Fitness,
    created: String,
}

#[derive(Serialize, Deserialize)]
struct ResultLine {
    result: SearchResult,
}

/// A search log as read back.
#[derive(Clone, Debug)]
pub struct SearchLog {
    pub config: SearchConfig,
    /// The fitness as the search resolved it (LIBRA's picks included).
    pub fitness: Fitness,
    pub evaluations: Vec<Evaluation>,
    pub result: Option<SearchResult>,
    /// Byte length of the complete lines (a killed run may leave half a line).
    valid_len: u64,
}

/// The settings an existing search log was written with (its header
/// alone); `None` where there is no readable log.
pub fn logged_config(path: &Path) -> Option<SearchConfig> {
    jsonl::read_header::<Header>(path).map(|h| h.search.config)
}

/// Reads a search log; a truncated last line is ignored.
pub fn read_log(path: &Path) -> Result<SearchLog, SearchJobError> {
    let read = jsonl::read_complete(path).map_err(|source| SearchJobError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |line: usize, reason: String| SearchJobError::Log {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let header = read
        .lines
        .first()
        .ok_or_else(|| bad(1, "empty file: no search header".into()))?;
    let h: Header = serde_json::from_str(header).map_err(|e| bad(1, format!("expected the search header: {e}")))?;
    let mut log = SearchLog {
        config: h.search.config,
        fitness: h.search.fitness,
        evaluations: Vec::new(),
        result: None,
        valid_len: read.valid_len,
    };
    for (i, text) in read.lines.iter().enumerate().skip(1) {
        if text.starts_with("{\"result\"") {
            let r: ResultLine = serde_json::from_str(text).map_err(|e| bad(i + 1, format!("bad result line: {e}")))?;
            log.result = Some(r.result);
        } else if !text.trim().is_empty() {
            log.evaluations
                .push(serde_json::from_str(text).map_err(|e| bad(i + 1, format!("expected an evaluation: {e}")))?);
        }
    }
    Ok(log)
}

/// The band drawn behind a search's best-so-far curve: `runs` random
/// searches with the same fitness, budget and parameter limits on the
/// archive's scored pool (`table`). `None` for pruning, which has no
/// random counterpart, and for `runs = 0`.
pub fn random_search_band(
    config: &SearchConfig,
    table: &TabularEvaluator,
    archive: &Archive,
    task: &str,
    fitness: &Fitness,
    runs: usize,
) -> Result<Option<Band>, SearchJobError> {
    if runs == 0 || config.algo == Algo::Prune {
        return Ok(None);
    }
    let key_params: ParamCounter = config.net().param_counter();
    let truth_col = archive.require_task(task)?.truth();
    let rows: Vec<usize> = table
        .rows()
        .iter()
        .copied()
        .filter(|&r| truth_col[r].is_finite())
        .filter(|&r| {
            config
                .param_limits
                .is_none_or(|l| archive.key(r).and_then(&key_params).is_some_and(|p| l.contains(p)))
        })
        .collect();
    let raw: Vec<Vec<f64>> = rows.iter().map(|&r| table.values(r)).collect();
    let truth_v: Vec<f64> = rows.iter().map(|&r| truth_col[r]).collect();
    Ok(random_band(
        &raw,
        &truth_v,
        fitness,
        config.budget.evaluations,
        runs,
        config.seed ^ 0xBA4D,
    ))
}

/// Live evaluation: the probe scores each new candidate (an NB201 cell or a
/// pruning supernet). Optionally shares a score file with other runs, so a
/// candidate scored once is never probed again.
pub struct LiveEvaluator {
    config: ScoreConfig,
    proxies: Vec<&'static ProxyInfo>,
    components: Vec<Component>,
    batch: Batch,
    backend: Backend,
    cache: HashMap<String, ScoreLine>,
    cache_file: Option<(PathBuf, File)>,
}

impl LiveEvaluator {
    pub fn new(config: &ScoreConfig, fitness: &Fitness, cache: Option<&Path>) -> Result<LiveEvaluator, SearchJobError> {
        let mut config = config.clone();
        let mut names: Vec<String> = Vec::new();
        for c in &fitness.components {
            let name = match c {
                Component::Proxy(p) => p.clone(),
                // Windows come from the layer profile, which L-SWAG records.
                Component::Window { .. } => "lswag".to_string(),
            };
            if crate::proxy::info(&name).is_none() {
                return Err(SearchError::Setting(format!(
                    "live mode cannot compute `{name}`; the probe computes: {}",
                    crate::proxy::all_names().join(", ")
                ))
                .into());
            }
            if !names.contains(&name) {
                names.push(name);
            }
        }
        config.proxies = names;
        let proxies = config_proxies(&config)?;
        let batch = config_batch(&config)?;
        let mut evaluator = LiveEvaluator {
            backend: Backend::new(config.backend),
            components: fitness.components.clone(),
            proxies,
            batch,
            cache: HashMap::new(),
            cache_file: None,
            config,
        };
        if let Some(path) = cache {
            let (file, lines) = open_score_file(path, &evaluator.config, &evaluator.batch.source)?;
            evaluator.cache = lines.into_iter().map(|l| (l.arch.clone(), l)).collect();
            evaluator.cache_file = Some((path.to_path_buf(), file));
        }
        Ok(evaluator)
    }

    fn components_of(&self, line: &ScoreLine) -> Vec<f64> {
        self.components
            .iter()
            .map(|c| match c {
                Component::Proxy(p) => line.proxies.get(p).copied().flatten().unwrap_or(f64::NAN),
                Component::Window { a, b } => line.profile.as_ref().map_or(f64::NAN, |p| p.lswag(*a, *b)),
            })
            .collect()
    }

    fn scored(&mut self, key: &str, score: impl FnOnce(&Self) -> ScoreLine) -> Result<Vec<f64>, SearchError> {
        if let Some(line) = self.cache.get(key) {
            return Ok(self.components_of(line));
        }
        let line = score(self);
        let values = self.components_of(&line);
        if let Some((path, file)) = &mut self.cache_file {
            append_line(file, path, &line).map_err(|e| SearchError::Evaluate {
                key: key.to_string(),
                reason: e.to_string(),
            })?;
        }
        self.cache.insert(key.to_string(), line);
        Ok(values)
    }
}

/// The probe on architectures of one space.
pub struct LiveArch<'a, S> {
    pub live: LiveEvaluator,
    pub space: &'a S,
}

impl<S: ArchSpace> Evaluator<S::Arch> for LiveArch<'_, S> {
    fn evaluate(&mut self, arch: &S::Arch, key: &str) -> Result<Vec<f64>, SearchError> {
        let space = self.space;
        self.live.scored(key, |s| {
            score_arch(space, arch, &s.config, &s.proxies, &s.batch, &s.backend)
        })
    }
}

impl LiveEvaluator {
    /// Scores a pruning supernet unless cached; `skeleton` is the network
    /// settings of `space`, `None` when the search's settings are another
    /// space's.
    fn score_supernet<C, N: Network>(
        &mut self,
        key: &str,
        space: &str,
        skeleton: Option<C>,
        build: impl FnOnce(C) -> (N, ParamStore),
    ) -> Result<Vec<f64>, SearchError> {
        let Some(skeleton) = skeleton else {
            return Err(SearchError::Setting(format!(
                "{space} supernets need {space} network settings, not {}",
                self.config.net.space()
            )));
        };
        self.scored(key, |s| {
            let (net, params) = build(skeleton);
            score_network(
                &net,
                params,
                key.to_string(),
                &s.config,
                &s.proxies,
                &s.batch,
                &s.backend,
            )
        })
    }
}

impl Evaluator<Nb201Supernet> for LiveEvaluator {
    fn evaluate(&mut self, cell: &Nb201Supernet, key: &str) -> Result<Vec<f64>, SearchError> {
        let skeleton = match self.config.net {
            NetConfig::Nb201(c) => Some(c),
            _ => None,
        };
        self.score_supernet(key, "NB201", skeleton, |c| Nb201Net::supernet(*cell, c))
    }
}

impl Evaluator<Nb301Supernet> for LiveEvaluator {
    fn evaluate(&mut self, cell: &Nb301Supernet, key: &str) -> Result<Vec<f64>, SearchError> {
        let skeleton = match self.config.net {
            NetConfig::Nb301(c) => Some(c),
            _ => None,
        };
        self.score_supernet(key, "NB301", skeleton, |c| Nb301Net::supernet(*cell, c))
    }
}

/// Serves logged evaluations of a resumed run before asking the inner
/// evaluator.
struct Replay<'a, E: ?Sized> {
    logged: HashMap<String, Vec<f64>>,
    inner: &'a mut E,
}

impl<A, E: Evaluator<A> + ?Sized> Evaluator<A> for Replay<'_, E> {
    fn evaluate(&mut self, arch: &A, key: &str) -> Result<Vec<f64>, SearchError> {
        match self.logged.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.inner.evaluate(arch, key),
        }
    }
}

/// Options that do not change the numbers.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Live mode: shared score file (see [`LiveEvaluator`]).
    pub cache: Option<PathBuf>,
    /// Simulated random searches for the band (0 = no band).
    pub band_runs: usize,
}

/// Runs (or resumes) a search into `out`, opening `config.archive`.
pub fn run(
    config: &SearchConfig,
    options: &RunOptions,
    out: &Path,
    cancel: &CancelToken,
    pause: &PauseToken,
    report: &dyn Fn(SearchEvent),
) -> Result<SearchResult, SearchJobError> {
    let archive: Option<Archive> = config.archive.as_deref().map(open_any).transpose()?;
    run_on(config, archive.as_ref(), options, out, cancel, pause, report)
}

/// Whether an existing log holds evaluations a new run would lose: a log
/// cut off in its header line, or a header alone (a run refused or failed
/// before its first evaluation), is started afresh instead of blocking the
/// corrected command. A file that is not a search log is left to the
/// usual checks and their errors.
fn log_holds_work(out: &Path) -> std::io::Result<bool> {
    let empty = jsonl::holds_only_header(out, b"{\"search\"", |h| serde_json::from_str::<Header>(h).is_ok())?;
    Ok(!empty)
}

/// [`run`] on an archive already in memory (the app's open dataset).
pub fn run_on(
    config: &SearchConfig,
    archive: Option<&Archive>,
    options: &RunOptions,
    out: &Path,
    cancel: &CancelToken,
    pause: &PauseToken,
    report: &dyn Fn(SearchEvent),
) -> Result<SearchResult, SearchJobError> {
    config.validate()?;
    if config.algo == Algo::Prune {
        let Some(needed) = supernet_evaluations(config.net()) else {
            return Err(SearchError::Setting(format!(
                "pruning needs a cell space with a supernet (nb201, nb301); `{}` searches by evolution or random search",
                config.net().space()
            ))
            .into());
        };
        if config.budget.evaluations < needed {
            return Err(SearchError::Setting(format!(
                "pruning {} takes {needed} supernet evaluations; the budget is {}",
                config.net().space(),
                config.budget.evaluations
            ))
            .into());
        }
        if config.tabular && !matches!(config.net(), NetConfig::Nb201(_)) {
            return Err(SearchError::Setting(format!(
                "tabular pruning scores a supernet by the archived cells it contains, which only NB201's 15,625 \
                 cells make meaningful; prune `{}` live (without --tabular)",
                config.net().space()
            ))
            .into());
        }
    }
    let task_name = match (archive, &config.task) {
        (Some(a), None) => a.task_names().first().map(|t| t.to_string()),
        (_, t) => t.clone(),
    };
    let bench = archive.zip(task_name.as_deref());
    let spec: FitnessSpec = config.fitness.parse()?;
    let fitness = spec.resolve(bench)?;
    let truth: Box<dyn Truth> = match bench {
        Some((a, t)) if a.require_task(t)?.has_truth() => Box::new(ArchiveTruth::new(a, t)?),
        _ => Box::new(NoTruth),
    };
    // Tabular mode needs the table; live mode only draws the random-search
    // band from it, and goes without the band when the archive cannot score
    // the fitness.
    let table = match bench {
        Some((a, t)) => match TabularEvaluator::new(a, t, &fitness) {
            Ok(table) => Some(table),
            Err(e) if config.tabular => return Err(e.into()),
            Err(_) => None,
        },
        None if config.tabular => {
            return Err(SearchError::Setting("--tabular needs --archive (and --task)".into()).into());
        }
        None => None,
    };

    // A live search probes one candidate at a time: refuse settings under
    // which one probe cannot fit, as `score` does, before the log exists.
    if !config.tabular && config.algo != Algo::Prune {
        let first = super::score::sample_keys(config.net(), 1, config.seed, None)?;
        super::score::check_memory(&config.score, &first[..1], 1)?;
    }
    // The log: resume or start.
    let io = |source| SearchJobError::Io {
        path: out.to_path_buf(),
        source,
    };
    let _lock = OutputLock::acquire(out).map_err(|e| SearchError::Setting(e.to_string()))?;
    let mut logged: Vec<Evaluation> = Vec::new();
    let mut offset = 0.0;
    let mut file =
        if out.exists() && std::fs::metadata(out).map_err(io)?.len() > 0 && log_holds_work(out).map_err(io)? {
            let log = read_log(out)?;
            if log.config != *config {
                return Err(SearchJobError::Log {
                    path: out.to_path_buf(),
                    line: 1,
                    reason: "written by a search with other settings; use another --out or the same settings".into(),
                });
            }
            if let Some(result) = log.result {
                report(SearchEvent::Started {
                    fitness: fitness.clone(),
                    resumed: log.evaluations.len(),
                    band: None,
                });
                let total = log.evaluations.len();
                for e in log.evaluations {
                    report(SearchEvent::Evaluated {
                        progress: Progress {
                            done: e.index + 1,
                            total,
                            elapsed: std::time::Duration::ZERO,
                        },
                        evaluation: e,
                    });
                }
                report(SearchEvent::Finished(result.clone()));
                return Ok(result);
            }
            offset = log.evaluations.iter().map(|e| e.seconds).sum();
            logged = log.evaluations;
            jsonl::append_after(out, log.valid_len).map_err(io)?
        } else {
            let header = Header {
                search: LogHeader {
                    app: "lswag-studio".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    config: config.clone(),
                    fitness: fitness.clone(),
                    created: crate::archive::now_rfc3339(),
                },
            };
            jsonl::create(out, &header).map_err(io)?
        };

    let band = match (&table, bench) {
        (Some(t), Some((a, task))) => random_search_band(config, t, a, task, &fitness, options.band_runs)?,
        _ => None,
    };
    report(SearchEvent::Started {
        fitness: fitness.clone(),
        resumed: logged.len(),
        band,
    });

    let resumed = logged.len();
    let logged_keys: Vec<String> = logged.iter().map(|e| e.arch.clone()).collect();
    let cache: HashMap<String, Vec<f64>> = logged
        .iter()
        .map(|e| {
            (
                e.arch.clone(),
                e.components.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
            )
        })
        .collect();
    let budget_total = config.budget.evaluations;
    let start = std::time::Instant::now();
    let mut write_error: Option<SearchJobError> = None;
    let mut on_eval = |e: &Evaluation| {
        if e.index < resumed {
            if logged_keys[e.index] != e.arch && write_error.is_none() {
                write_error = Some(SearchJobError::Log {
                    path: out.to_path_buf(),
                    line: e.index + 2,
                    reason: format!(
                        "replay diverged: the log has {} where the search now draws {}",
                        logged_keys[e.index], e.arch
                    ),
                });
            }
        } else if write_error.is_none()
            && let Err(source) = jsonl::append_json(&mut file, e)
        {
            write_error = Some(SearchJobError::Io {
                path: out.to_path_buf(),
                source,
            });
        }
        report(SearchEvent::Evaluated {
            evaluation: e.clone(),
            progress: Progress {
                done: e.index + 1,
                total: budget_total,
                elapsed: start.elapsed(),
            },
        });
    };

    let result = match config.algo {
        Algo::Prune => {
            let prune_run = PruneRun {
                config,
                fitness: &fitness,
                truth: truth.as_ref(),
                cancel,
                pause,
                offset,
            };
            let live = || LiveEvaluator::new(&config.score, &fitness, options.cache.as_deref());
            match (config.net(), &table) {
                (NetConfig::Nb301(_), _) => prune_run.run::<Nb301Supernet>(&mut live()?, cache, &mut on_eval)?,
                (_, Some(t)) if config.tabular => {
                    prune_run.run::<Nb201Supernet>(&mut TabularSupernet::new(t), cache, &mut on_eval)?
                }
                _ => prune_run.run::<Nb201Supernet>(&mut live()?, cache, &mut on_eval)?,
            }
        }
        Algo::Evolution | Algo::Random => {
            let run = Run {
                table: table.as_ref().filter(|_| config.tabular),
                fitness: &fitness,
                config,
                options,
                truth: truth.as_ref(),
                cancel,
                pause,
                offset,
            };
            config.net().with(RunSpace {
                run: &run,
                logged: cache,
                on_eval: &mut on_eval,
            })?
        }
    };
    if let Some(e) = write_error {
        return Err(e);
    }
    // A cancelled search writes no result line: running it again resumes.
    if !result.cancelled {
        jsonl::append_json(&mut file, &ResultLine { result: result.clone() }).map_err(io)?;
    }
    file.sync_all().map_err(io)?;
    report(SearchEvent::Finished(result.clone()));
    Ok(result)
}

/// What a prune needs besides its supernet type.
struct PruneRun<'a> {
    config: &'a SearchConfig,
    fitness: &'a Fitness,
    truth: &'a dyn Truth,
    cancel: &'a CancelToken,
    pause: &'a PauseToken,
    offset: f64,
}

impl PruneRun<'_> {
    /// Prunes the supernet `S`, scored by `inner` behind the replayed log.
    fn run<S: Prunable>(
        &self,
        inner: &mut dyn Evaluator<S>,
        logged: HashMap<String, Vec<f64>>,
        on_eval: &mut dyn FnMut(&Evaluation),
    ) -> Result<SearchResult, SearchJobError> {
        let mut replay = Replay { logged, inner };
        // Supernets have no key of the space; the final cell does.
        let counter = self.config.net().param_counter();
        let params_of = |s: &S| counter(&s.to_string());
        let mut session = Session::new(
            &mut replay,
            self.truth,
            self.fitness.clone(),
            self.config.budget,
            self.cancel.clone(),
            self.pause.clone(),
            &params_of,
            on_eval,
        )
        .with_elapsed(self.offset);
        let last = prune(&mut session)?;
        Ok(prune_result(&session, last))
    }
}

/// What an evolution or random search needs besides its space.
struct Run<'a> {
    /// Tabular mode: the archive's scores (and so the pool).
    table: Option<&'a TabularEvaluator<'a>>,
    fitness: &'a Fitness,
    config: &'a SearchConfig,
    options: &'a RunOptions,
    truth: &'a dyn Truth,
    cancel: &'a CancelToken,
    pause: &'a PauseToken,
    offset: f64,
}

/// [`Run::space`] on whichever space the configuration names.
struct RunSpace<'r, 'a> {
    run: &'r Run<'a>,
    logged: HashMap<String, Vec<f64>>,
    on_eval: &'r mut dyn FnMut(&Evaluation),
}

impl WithSpace for RunSpace<'_, '_> {
    type Out = Result<SearchResult, SearchJobError>;
    fn run<S: ArchSpace>(self, space: &S) -> Self::Out {
        self.run.space(space, self.logged, self.on_eval)
    }
}

impl Run<'_> {
    /// Builds the evaluator (a table lookup or the probe, behind the
    /// replayed log) and the domain, then searches `space`.
    fn space<S: SearchSpace>(
        &self,
        space: &S,
        logged: HashMap<String, Vec<f64>>,
        on_eval: &mut dyn FnMut(&Evaluation),
    ) -> Result<SearchResult, SearchJobError> {
        let mut live;
        let mut tab_eval;
        let (inner, domain): (&mut dyn Evaluator<S::Arch>, Domain<S>) = match self.table {
            Some(t) => {
                tab_eval = t;
                (&mut tab_eval, pool_domain(space, t, self.config.param_limits)?)
            }
            None => {
                live = LiveArch {
                    live: LiveEvaluator::new(&self.config.score, self.fitness, self.options.cache.as_deref())?,
                    space,
                };
                (&mut live, Domain::new(space, self.config.param_limits))
            }
        };
        let mut replay = Replay { logged, inner };
        Ok(search_space(
            &domain,
            &mut replay,
            self.truth,
            self.fitness,
            self.config,
            (self.cancel, self.pause, self.offset),
            on_eval,
        )?)
    }
}

/// The domain of a tabular search: the table's architectures.
fn pool_domain<'s, S: SearchSpace>(
    space: &'s S,
    table: &TabularEvaluator,
    limits: Option<ParamLimits>,
) -> Result<Domain<'s, S>, SearchError> {
    let pool = table
        .rows()
        .iter()
        .filter_map(|&r| table.archive().key(r).and_then(|k| space.parse(k).ok()))
        .collect();
    Domain::restricted(space, limits, pool)
}

/// Evolution or random search over any space.
fn search_space<S: SearchSpace>(
    domain: &Domain<S>,
    evaluator: &mut dyn Evaluator<S::Arch>,
    truth: &dyn Truth,
    fitness: &Fitness,
    config: &SearchConfig,
    (cancel, pause, offset): (&CancelToken, &PauseToken, f64),
    on_eval: &mut dyn FnMut(&Evaluation),
) -> Result<SearchResult, SearchError> {
    let space = domain.space;
    let params_of = |a: &S::Arch| Some(space.params(a));
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut session = Session::new(
        evaluator,
        truth,
        fitness.clone(),
        config.budget,
        cancel.clone(),
        pause.clone(),
        &params_of,
        on_eval,
    )
    .with_elapsed(offset);
    if config.algo == Algo::Evolution {
        evolution(domain, &mut session, &config.evolution, &mut rng)?;
    } else {
        random(domain, &mut session, &mut rng)?;
    }
    Ok(session.result())
}

/// One tabular search per seed (`config.seed` is replaced), on one loaded
/// archive (the one `config.archive` names, read by the caller): the study
/// mode behind `search --tabular --repeat N`.
pub fn tabular_study(
    config: &SearchConfig,
    archive: &Archive,
    seeds: std::ops::Range<u64>,
    cancel: &CancelToken,
    mut each: impl FnMut(u64, &SearchResult),
) -> Result<(Fitness, Vec<SearchResult>), SearchJobError> {
    if config.algo == Algo::Prune {
        return Err(SearchError::Setting(
            "a tabular study repeats evolution or random search; pruning is deterministic".into(),
        )
        .into());
    }
    let task = match &config.task {
        Some(t) => t.clone(),
        None => archive
            .task_names()
            .first()
            .map(|t| t.to_string())
            .ok_or_else(|| SearchError::Setting("a tabular study needs an archive with a task".into()))?,
    };
    let fitness = config.fitness.parse::<FitnessSpec>()?.resolve(Some((archive, &task)))?;
    let truth = ArchiveTruth::new(archive, &task)?;
    let table = TabularEvaluator::new(archive, &task, &fitness)?;
    let results = config.net().with(Study {
        table: &table,
        truth: &truth,
        fitness: &fitness,
        config,
        seeds,
        cancel,
        each: &mut each,
    })?;
    Ok((fitness, results))
}

/// The seeds of a tabular study, on whichever space the configuration names.
struct Study<'a> {
    table: &'a TabularEvaluator<'a>,
    truth: &'a dyn Truth,
    fitness: &'a Fitness,
    config: &'a SearchConfig,
    seeds: std::ops::Range<u64>,
    cancel: &'a CancelToken,
    each: &'a mut dyn FnMut(u64, &SearchResult),
}

impl WithSpace for Study<'_> {
    type Out = Result<Vec<SearchResult>, SearchJobError>;
    fn run<S: ArchSpace>(self, space: &S) -> Self::Out {
        let Study {
            table,
            truth,
            fitness,
            config,
            seeds,
            cancel,
            each,
        } = self;
        study_space(space, table, truth, fitness, config, seeds, cancel, each)
    }
}

#[allow(clippy::too_many_arguments)]
fn study_space<S: SearchSpace>(
    space: &S,
    table: &TabularEvaluator,
    truth: &dyn Truth,
    fitness: &Fitness,
    config: &SearchConfig,
    seeds: std::ops::Range<u64>,
    cancel: &CancelToken,
    each: &mut dyn FnMut(u64, &SearchResult),
) -> Result<Vec<SearchResult>, SearchJobError> {
    let domain = pool_domain(space, table, config.param_limits)?;
    let mut lookup = table;
    let mut results = Vec::new();
    for seed in seeds {
        if cancel.is_cancelled() {
            break;
        }
        let run = SearchConfig { seed, ..config.clone() };
        let r = search_space(
            &domain,
            &mut lookup,
            truth,
            fitness,
            &run,
            (cancel, &PauseToken::default(), 0.0),
            &mut |_| {},
        )?;
        each(seed, &r);
        results.push(r);
    }
    Ok(results)
}
