//! Pruning-based search for cell spaces (TE-NAS): start from the supernet
//! with every op on every edge; each round scores the supernet without each
//! candidate removal and applies, in every group at once, the removal that
//! leaves the highest fitness (the least important op or edge). NB201
//! groups are its edges (ops go until one per edge); DARTS (NB301) first
//! prunes ops the same way, then the edges of each node down to two.

use std::fmt::Display;

use super::{SearchError, SearchResult, Session};
use crate::space::NetConfig;
use crate::space::nb201::{NUM_EDGES, Nb201Supernet, Op as Nb201Op};
use crate::space::nb301::Nb301Supernet;
use crate::space::nb301::supernet::Removal;

/// A supernet that pruning can shrink to one architecture.
pub trait Prunable: Display + Copy {
    type Removal: Copy;
    fn full() -> Self;
    /// The next round's candidate removals, in groups of which each round
    /// applies one; empty once the supernet is one architecture.
    fn removal_groups(&self) -> Vec<Vec<Self::Removal>>;
    fn apply(&self, removal: Self::Removal) -> Self;
}

impl Prunable for Nb201Supernet {
    type Removal = (usize, Nb201Op);

    fn full() -> Self {
        Nb201Supernet::full()
    }

    fn removal_groups(&self) -> Vec<Vec<(usize, Nb201Op)>> {
        (0..NUM_EDGES)
            .filter(|&e| self.ops(e).count() > 1)
            .map(|e| self.ops(e).map(|op| (e, op)).collect())
            .collect()
    }

    fn apply(&self, (edge, op): (usize, Nb201Op)) -> Self {
        self.without(edge, op)
    }
}

impl Prunable for Nb301Supernet {
    type Removal = Removal;

    fn full() -> Self {
        Nb301Supernet::full()
    }

    fn removal_groups(&self) -> Vec<Vec<Removal>> {
        Nb301Supernet::removal_groups(self)
    }

    fn apply(&self, removal: Removal) -> Self {
        Nb301Supernet::apply(self, removal)
    }
}

/// Supernet evaluations a full prune takes: the full supernet, every
/// candidate of every round, and the final cell (the count does not depend
/// on which removals win). NB201: 1 + 6 * (5 + 4 + 3 + 2) + 1 = 86; NB301:
/// 1 + 28 * (7 + 6 + 5 + 4 + 3 + 2) + 2 * (3 + 4 + 5 + 3 + 4 + 3) + 1 = 802.
pub fn prune_evaluations<S: Prunable>() -> usize {
    let mut state = S::full();
    let mut count = 2;
    loop {
        let groups = state.removal_groups();
        if groups.is_empty() {
            return count;
        }
        count += groups.iter().map(Vec::len).sum::<usize>();
        for g in groups {
            state = state.apply(g[0]);
        }
    }
}

/// Evaluations a full prune of the space's supernet takes; `None` for a
/// space without a supernet.
pub fn supernet_evaluations(net: &NetConfig) -> Option<usize> {
    match net {
        NetConfig::Nb201(_) => Some(prune_evaluations::<Nb201Supernet>()),
        NetConfig::Nb301(_) => Some(prune_evaluations::<Nb301Supernet>()),
        _ => None,
    }
}

/// Runs the pruning; returns the final cell (`None` when stopped early).
pub fn prune<S: Prunable>(session: &mut Session<S>) -> Result<Option<S>, SearchError> {
    let mut state = S::full();
    if session.evaluate(&state, 0)?.is_none() {
        return Ok(None);
    }
    let mut round = 0;
    loop {
        let groups = state.removal_groups();
        if groups.is_empty() {
            break;
        }
        round += 1;
        let mut trials: Vec<Vec<(S::Removal, usize)>> = Vec::with_capacity(groups.len());
        for group in groups {
            let mut trial = Vec::with_capacity(group.len());
            for removal in group {
                match session.evaluate(&state.apply(removal), round)? {
                    Some(i) => trial.push((removal, i)),
                    None => return Ok(None),
                }
            }
            trials.push(trial);
        }
        let fitness = session.fitness_values();
        let mut next = state;
        for trial in trials {
            // Highest fitness after removal = least important; the earliest
            // candidate (the space's op and edge order) wins ties.
            let drop = trial
                .iter()
                .max_by(|a, b| super::cmp_fitness(fitness[a.1], fitness[b.1]).then(b.1.cmp(&a.1)));
            if let Some(&(removal, _)) = drop {
                next = next.apply(removal);
            }
        }
        state = next;
    }
    // Score the final cell too, so its fitness and truth are in the log.
    session.evaluate(&state, round)?;
    Ok(Some(state))
}

/// The result of a prune: the final cell, not the best-scored supernet.
pub fn prune_result<S: Display>(session: &Session<S>, last: Option<S>) -> SearchResult {
    match last {
        Some(cell) => {
            let key = cell.to_string();
            session.result_where(|e| e.arch == key)
        }
        None => SearchResult {
            arch: String::new(),
            fitness: None,
            truth: None,
            ..session.result()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::{Budget, CancelToken, Component, Evaluator, Fitness, NoTruth, PauseToken};
    use crate::space::nb301::Op as Nb301Op;
    use crate::space::nb301::supernet::{EDGES_PER_CELL, NODES, edge_index};

    /// A distinct cost per (cell, edge, op), scrambled so that neither the
    /// op order nor the edge order decides.
    fn cost(cell: usize, edge: usize, op: Nb301Op) -> f64 {
        ((cell * 131 + edge * 37 + op as usize * 53 + 11) % 97) as f64 + (op as usize) as f64 * 1e-3
    }

    /// Fitness = minus the summed cost of every op left in the supernet.
    struct Additive;

    impl Evaluator<Nb301Supernet> for Additive {
        fn evaluate(&mut self, s: &Nb301Supernet, _key: &str) -> Result<Vec<f64>, SearchError> {
            let mut total = 0.0;
            for cell in 0..2 {
                for edge in 0..EDGES_PER_CELL {
                    total -= s.ops(cell, edge).map(|op| cost(cell, edge, op)).sum::<f64>();
                }
            }
            Ok(vec![total])
        }
    }

    #[test]
    fn pruning_darts_keeps_the_cheapest_op_per_edge_then_the_two_cheapest_edges_per_node() {
        // Removing the costliest op (edge) raises an additive fitness most,
        // so the prune must end where the hand-derived choice below does:
        // each edge keeps its cheapest op, each node its two cheapest edges.
        let mut expected = [[(0, Nb301Op::MaxPool3x3); 8]; 2];
        for (cell, pairs) in expected.iter_mut().enumerate() {
            for target in NODES {
                let mut best: Vec<(f64, usize, Nb301Op)> = (0..target)
                    .map(|source| {
                        let edge = edge_index(source, target);
                        let op = Nb301Op::ALL
                            .into_iter()
                            .min_by(|a, b| cost(cell, edge, *a).total_cmp(&cost(cell, edge, *b)))
                            .unwrap();
                        (cost(cell, edge, op), source, op)
                    })
                    .collect();
                best.sort_by(|a, b| a.0.total_cmp(&b.0));
                let mut two = [best[0], best[1]];
                two.sort_by_key(|t| t.1);
                pairs[2 * (target - 2)] = (two[0].1, two[0].2);
                pairs[2 * (target - 2) + 1] = (two[1].1, two[1].2);
            }
        }
        let expected = crate::space::nb301::Nb301Arch { cells: expected };
        let (last, result) = additive_prune(802);
        assert_eq!(last.and_then(|s| s.genotype()), Some(expected.clone()));
        assert_eq!(result.arch, expected.to_string());
        assert_eq!(result.evaluations, 802);
    }

    /// Prunes the full NB301 supernet on [`Additive`] within `budget`
    /// evaluations: the final cell and the result.
    fn additive_prune(budget: usize) -> (Option<Nb301Supernet>, SearchResult) {
        let mut evaluator = Additive;
        let mut report = |_: &crate::search::Evaluation| {};
        let no_params = |_: &Nb301Supernet| None;
        let mut session = Session::new(
            &mut evaluator,
            &NoTruth,
            Fitness {
                components: vec![Component::Proxy("additive".into())],
                combination: Default::default(),
            },
            Budget {
                evaluations: budget,
                seconds: None,
            },
            CancelToken::default(),
            PauseToken::default(),
            &no_params,
            &mut report,
        );
        let last = prune(&mut session).unwrap();
        let result = prune_result(&session, last);
        (last, result)
    }

    #[test]
    fn a_prune_stopped_by_its_budget_returns_no_cell() {
        let (last, result) = additive_prune(100);
        assert_eq!(last, None);
        assert_eq!(result.arch, "");
        assert_eq!(result.evaluations, 100);
    }

    #[test]
    fn a_full_prune_takes_the_documented_evaluations() {
        assert_eq!(prune_evaluations::<Nb201Supernet>(), 86);
        assert_eq!(prune_evaluations::<Nb301Supernet>(), 802);
    }
}
