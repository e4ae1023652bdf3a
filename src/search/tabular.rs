//! Tabular mode: fitness and ground truth looked up in a scored archive, for
//! thousands of searches per minute and for studying a search itself.

use std::fmt::Display;

use super::{Component, Evaluator, Fitness, SearchError, Truth};
use crate::archive::{Archive, Task};
use crate::space::nb201::{Nb201Arch, Nb201Supernet};

/// Where one component's values come from.
enum Source<'a> {
    Column(&'a [f64]),
    Window { a: usize, b: usize },
}

/// Looks a candidate's components up in one task of an archive.
pub struct TabularEvaluator<'a> {
    archive: &'a Archive,
    sources: Vec<Source<'a>>,
    rows: Vec<usize>,
}

impl<'a> TabularEvaluator<'a> {
    pub fn new(archive: &'a Archive, task: &str, fitness: &Fitness) -> Result<TabularEvaluator<'a>, SearchError> {
        let t = archive.require_task(task)?;
        let sources = fitness
            .components
            .iter()
            .map(|c| match c {
                Component::Proxy(name) => t.proxy(name).map(Source::Column).ok_or_else(|| {
                    let names = t.proxy_names();
                    SearchError::Setting(if names.is_empty() {
                        format!(
                            "task `{task}` of the archive has no proxy scores at all (ground truth only): \
                             a tabular search looks its fitness `{name}` up there; score the archive's \
                             architectures first, or search live"
                        )
                    } else {
                        format!(
                            "task `{task}` of the archive has no proxy `{name}`; it has: {}",
                            names.join(", ")
                        )
                    })
                }),
                Component::Window { a, b } => {
                    if archive.profile_count() == 0 {
                        Err(SearchError::Setting(format!(
                            "fitness {} needs layer profiles and the archive has none; score it with --proxies lswag",
                            c.label()
                        )))
                    } else {
                        Ok(Source::Window { a: *a, b: *b })
                    }
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut evaluator = TabularEvaluator {
            archive,
            sources,
            rows: Vec::new(),
        };
        evaluator.rows = (0..archive.len())
            .filter(|&r| t.is_member(r) && evaluator.values(r).iter().all(|v| v.is_finite()))
            .collect();
        if evaluator.rows.is_empty() {
            return Err(SearchError::Setting(format!(
                "no architecture of task `{task}` has every component of the fitness {}",
                fitness.label()
            )));
        }
        Ok(evaluator)
    }

    /// Component values of an archive row (`NaN` = missing).
    pub fn values(&self, row: usize) -> Vec<f64> {
        self.sources
            .iter()
            .map(|s| match s {
                Source::Column(v) => v[row],
                Source::Window { a, b } => self.archive.profile(row).map_or(f64::NAN, |p| p.lswag(*a, *b)),
            })
            .collect()
    }

    /// Rows of the task where every component is present: the pool a
    /// tabular search draws from.
    pub fn rows(&self) -> &[usize] {
        &self.rows
    }

    pub fn archive(&self) -> &Archive {
        self.archive
    }
}

impl TabularEvaluator<'_> {
    fn lookup(&self, key: &str) -> Result<Vec<f64>, SearchError> {
        let row = self.archive.index_of(key).ok_or_else(|| SearchError::Evaluate {
            key: key.to_string(),
            reason: "not in the archive (tabular mode scores only archived architectures)".into(),
        })?;
        Ok(self.values(row))
    }
}

// A lookup changes nothing, so a shared table serves every search of a study.
impl<A: Display> Evaluator<A> for &TabularEvaluator<'_> {
    fn evaluate(&mut self, _arch: &A, key: &str) -> Result<Vec<f64>, SearchError> {
        self.lookup(key)
    }
}

/// Tabular pruning: a supernet scores the mean of each component over the
/// pool's architectures it contains (its expected value under uniform
/// sampling from the sub-space).
pub struct TabularSupernet {
    members: Vec<(Nb201Arch, Vec<f64>)>,
}

impl TabularSupernet {
    pub fn new(table: &TabularEvaluator) -> TabularSupernet {
        let members = table
            .rows()
            .iter()
            .filter_map(|&r| {
                let arch = table.archive().key(r)?.parse::<Nb201Arch>().ok()?;
                Some((arch, table.values(r)))
            })
            .collect();
        TabularSupernet { members }
    }
}

impl Evaluator<Nb201Supernet> for TabularSupernet {
    fn evaluate(&mut self, cell: &Nb201Supernet, _key: &str) -> Result<Vec<f64>, SearchError> {
        let width = self.members.first().map_or(0, |m| m.1.len());
        let mut sum = vec![0.0; width];
        let mut n = 0usize;
        for (arch, values) in &self.members {
            if cell.contains(arch) {
                n += 1;
                for (s, v) in sum.iter_mut().zip(values) {
                    *s += v;
                }
            }
        }
        Ok(sum
            .into_iter()
            .map(|s| if n == 0 { f64::NAN } else { s / n as f64 })
            .collect())
    }
}

/// Ground truth of one task, by key.
pub struct ArchiveTruth<'a> {
    archive: &'a Archive,
    task: &'a Task,
}

impl<'a> ArchiveTruth<'a> {
    pub fn new(archive: &'a Archive, task: &str) -> Result<ArchiveTruth<'a>, SearchError> {
        let task = archive.require_task(task)?;
        if !task.has_truth() {
            return Err(SearchError::Setting(format!(
                "task `{}` has no ground truth",
                task.name()
            )));
        }
        Ok(ArchiveTruth { archive, task })
    }
}

impl Truth for ArchiveTruth<'_> {
    fn truth(&self, key: &str) -> Option<f64> {
        let row = self.archive.index_of(key)?;
        self.task.truth().get(row).copied().filter(|v| v.is_finite())
    }
}
