//! Searches: evolution, random and pruning. They ask an [`Evaluator`] for
//! scores and never touch a network; the evaluator is a table lookup
//! ([`tabular`]) or the probe (`jobs::search`).
//!
//! A [`Session`] owns everything a search has seen: it counts the budget,
//! skips candidates already evaluated, looks up ground truth (never shown
//! to the algorithm), keeps the best-so-far and reports every evaluation as
//! it happens. Fitness is recomputed over the whole history because an
//! ensemble's fitness is a rank among everything scored so far.

pub mod band;
pub mod evolution;
pub mod fitness;
pub mod prune;
pub mod random;
pub mod space;
pub mod tabular;

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use fitness::{Component, Fitness, FitnessSpec};

/// Which algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algo {
    Evolution,
    Random,
    Prune,
}

impl Algo {
    pub const ALL: [Algo; 3] = [Algo::Evolution, Algo::Random, Algo::Prune];

    pub fn name(self) -> &'static str {
        match self {
            Algo::Evolution => "evolution",
            Algo::Random => "random",
            Algo::Prune => "prune",
        }
    }
}

impl std::str::FromStr for Algo {
    type Err = SearchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algo::ALL.into_iter().find(|a| a.name() == s.trim()).ok_or_else(|| {
            SearchError::Setting(format!("unknown algorithm `{s}`: expected evolution, random or prune"))
        })
    }
}

/// AutoFormer's evolution defaults (SPEC.md).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvolutionSettings {
    pub population: usize,
    /// Parents: the top-k of everything evaluated so far.
    pub parents: usize,
    pub mutations: usize,
    pub crossovers: usize,
    pub generations: usize,
    /// Per-gene mutation probability.
    pub m_prob: f64,
    /// Mutation probability of the structural genes (ViT depth and width).
    pub s_prob: f64,
}

impl Default for EvolutionSettings {
    fn default() -> Self {
        EvolutionSettings {
            population: 50,
            parents: 10,
            mutations: 25,
            crossovers: 25,
            generations: 20,
            m_prob: 0.2,
            s_prob: 0.4,
        }
    }
}

/// Limits shared by every algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Evaluations (one candidate scored; pruning: one supernet scored).
    pub evaluations: usize,
    /// Wall-clock seconds, counted over resumed runs too; `None` = no limit.
    pub seconds: Option<f64>,
}

/// Parameter-count window in parameters (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamLimits {
    pub min: u64,
    pub max: u64,
}

impl ParamLimits {
    pub fn contains(&self, params: u64) -> bool {
        (self.min..=self.max).contains(&params)
    }

    /// Parses `min,max` in millions (`18,23`).
    pub fn parse_millions(s: &str) -> Result<ParamLimits, SearchError> {
        let bad = || {
            SearchError::Setting(format!(
                "parameter limits `{s}`: expected MIN,MAX in millions, e.g. 18,23"
            ))
        };
        let (a, b) = s.split_once(',').ok_or_else(bad)?;
        let (a, b): (f64, f64) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        if !(a >= 0.0 && b >= a) {
            return Err(bad());
        }
        Ok(ParamLimits {
            min: (a * 1e6).round() as u64,
            max: (b * 1e6).round() as u64,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("{0}")]
    Setting(String),
    #[error("candidate {key}: {reason}")]
    Evaluate { key: String, reason: String },
    #[error("no legal candidate left: {0}")]
    Exhausted(String),
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
}

/// Scores candidates: one raw value per fitness component, `NaN` where a
/// value is missing (that candidate then ranks last).
pub trait Evaluator<A> {
    fn evaluate(&mut self, arch: &A, key: &str) -> Result<Vec<f64>, SearchError>;
}

/// Ground truth by key, never shown to the algorithm.
pub trait Truth {
    fn truth(&self, key: &str) -> Option<f64>;
}

/// No ground truth.
pub struct NoTruth;

impl Truth for NoTruth {
    fn truth(&self, _key: &str) -> Option<f64> {
        None
    }
}

impl Truth for HashMap<String, f64> {
    fn truth(&self, key: &str) -> Option<f64> {
        self.get(key).copied()
    }
}

/// One evaluation, as logged (one JSON line each).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// 0-based evaluation number.
    pub index: usize,
    /// Evolution generation, pruning round; 0 for random search.
    pub generation: usize,
    pub arch: String,
    /// Raw fitness components (`null` = missing).
    pub components: Vec<Option<f64>>,
    /// Fitness when it was evaluated (an ensemble's rank sum among
    /// everything scored so far).
    pub fitness: Option<f64>,
    pub truth: Option<f64>,
    pub params: Option<u64>,
    /// The search's pick so far (highest fitness) and its true accuracy.
    pub best_arch: String,
    pub best_fitness: Option<f64>,
    pub best_truth: Option<f64>,
    pub seconds: f64,
}

/// What a search returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    pub arch: String,
    pub fitness: Option<f64>,
    pub truth: Option<f64>,
    pub evaluations: usize,
    /// Highest true accuracy among everything evaluated (an oracle, for
    /// comparison only).
    pub best_evaluated_truth: Option<f64>,
    pub seconds: f64,
    pub cancelled: bool,
}

/// Shared cancel flag: searches and jobs stop at their next item.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Pauses a running search between evaluations.
#[derive(Clone, Debug, Default)]
pub struct PauseToken(Arc<AtomicBool>);

impl PauseToken {
    pub fn set(&self, paused: bool) {
        self.0.store(paused, Ordering::Relaxed);
    }

    pub fn is_paused(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Why a search stopped early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Budget,
    Cancelled,
}

/// Everything one search run has seen.
pub struct Session<'a, A> {
    evaluator: &'a mut dyn Evaluator<A>,
    truth: &'a dyn Truth,
    fitness: Fitness,
    budget: Budget,
    cancel: CancelToken,
    pause: PauseToken,
    report: &'a mut dyn FnMut(&Evaluation),
    params_of: &'a dyn Fn(&A) -> Option<u64>,
    history: Vec<Evaluation>,
    raw: Vec<Vec<f64>>,
    visited: HashMap<String, usize>,
    start: Instant,
    /// Seconds spent by earlier runs of a resumed search.
    offset: f64,
    stopped: Option<Stop>,
}

impl<'a, A: Display> Session<'a, A> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        evaluator: &'a mut dyn Evaluator<A>,
        truth: &'a dyn Truth,
        fitness: Fitness,
        budget: Budget,
        cancel: CancelToken,
        pause: PauseToken,
        params_of: &'a dyn Fn(&A) -> Option<u64>,
        report: &'a mut dyn FnMut(&Evaluation),
    ) -> Session<'a, A> {
        Session {
            evaluator,
            truth,
            fitness,
            budget,
            cancel,
            pause,
            report,
            params_of,
            history: Vec::new(),
            raw: Vec::new(),
            visited: HashMap::new(),
            start: Instant::now(),
            offset: 0.0,
            stopped: None,
        }
    }

    /// Counts `seconds` from earlier runs against the time budget.
    pub fn with_elapsed(mut self, seconds: f64) -> Self {
        self.offset = seconds;
        self
    }

    pub fn history(&self) -> &[Evaluation] {
        &self.history
    }

    pub fn is_visited(&self, key: &str) -> bool {
        self.visited.contains_key(key)
    }

    /// Whether the search must stop now (budget spent or cancelled).
    pub fn should_stop(&mut self) -> bool {
        if self.stopped.is_some() {
            return true;
        }
        while self.pause.is_paused() && !self.cancel.is_cancelled() {
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.cancel.is_cancelled() {
            self.stopped = Some(Stop::Cancelled);
        } else if self.history.len() >= self.budget.evaluations
            || self.budget.seconds.is_some_and(|s| self.elapsed() >= s)
        {
            self.stopped = Some(Stop::Budget);
        }
        self.stopped.is_some()
    }

    fn elapsed(&self) -> f64 {
        self.offset + self.start.elapsed().as_secs_f64()
    }

    /// Current fitness of every evaluation so far (index-aligned).
    pub fn fitness_values(&self) -> Vec<f64> {
        self.fitness.values(&self.raw)
    }

    /// Evaluates `arch` unless it was evaluated before; returns its index in
    /// the history, or `None` when the search must stop.
    pub fn evaluate(&mut self, arch: &A, generation: usize) -> Result<Option<usize>, SearchError> {
        let key = arch.to_string();
        if let Some(&i) = self.visited.get(&key) {
            return Ok(Some(i));
        }
        if self.should_stop() {
            return Ok(None);
        }
        let t0 = Instant::now();
        let raw = self.evaluator.evaluate(arch, &key)?;
        let seconds = t0.elapsed().as_secs_f64();
        let truth = self.truth.truth(&key);
        let params = (self.params_of)(arch);
        self.raw.push(raw.clone());
        let fitness = self.fitness_values();
        let index = self.history.len();
        let best = argmax(&fitness).unwrap_or(index);
        let (best_arch, best_truth) = if best == index {
            (key.clone(), truth)
        } else {
            (self.history[best].arch.clone(), self.history[best].truth)
        };
        let e = Evaluation {
            index,
            generation,
            arch: key.clone(),
            components: raw.iter().map(|v| finite(*v)).collect(),
            fitness: finite(fitness[index]),
            truth,
            params,
            best_arch,
            best_fitness: finite(fitness[best]),
            best_truth,
            seconds,
        };
        (self.report)(&e);
        self.history.push(e);
        self.visited.insert(key, index);
        Ok(Some(index))
    }

    /// The pick (highest fitness among evaluated candidates that `accept`).
    pub fn result_where(&self, accept: impl Fn(&Evaluation) -> bool) -> SearchResult {
        let fitness = self.fitness_values();
        let best = (0..self.history.len())
            .filter(|&i| accept(&self.history[i]))
            .max_by(|&a, &b| cmp_fitness(fitness[a], fitness[b]).then(b.cmp(&a)));
        let best_evaluated_truth = self.history.iter().filter_map(|e| e.truth).reduce(f64::max);
        SearchResult {
            arch: best.map(|i| self.history[i].arch.clone()).unwrap_or_default(),
            fitness: best.and_then(|i| finite(fitness[i])),
            truth: best.and_then(|i| self.history[i].truth),
            evaluations: self.history.len(),
            best_evaluated_truth,
            seconds: self.elapsed(),
            cancelled: self.stopped == Some(Stop::Cancelled),
        }
    }

    pub fn result(&self) -> SearchResult {
        self.result_where(|_| true)
    }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Orders fitness values; missing (non-finite) ranks below everything.
pub fn cmp_fitness(a: f64, b: f64) -> std::cmp::Ordering {
    let key = |v: f64| if v.is_finite() { v } else { f64::NEG_INFINITY };
    key(a).total_cmp(&key(b))
}

/// Index of the highest fitness; the earliest wins ties.
pub fn argmax(values: &[f64]) -> Option<usize> {
    (0..values.len()).max_by(|&a, &b| cmp_fitness(values[a], values[b]).then(b.cmp(&a)))
}

/// Indices sorted best first (earliest first on ties).
pub fn ranked(values: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| cmp_fitness(values[b], values[a]).then(a.cmp(&b)));
    order
}
