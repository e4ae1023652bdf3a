//! Pruning-based search for cell spaces (TE-NAS): start from the supernet
//! with every op on every edge; each round scores the supernet without each
//! remaining op and drops, on every edge at once, the op whose removal
//! leaves the highest fitness (the least important one), until one op per
//! edge is left.

use super::{SearchError, SearchResult, Session};
use crate::space::nb201::{NUM_EDGES, Nb201Supernet};

/// Supernet evaluations a full prune of NB201 takes: the full supernet,
/// 30 + 24 + 18 + 12 candidates over four rounds, and the final cell.
pub const NB201_PRUNE_EVALUATIONS: usize = 1 + 6 * (5 + 4 + 3 + 2) + 1;

/// Runs the pruning; returns the final cell (`None` when stopped early).
pub fn prune(session: &mut Session<Nb201Supernet>) -> Result<Option<Nb201Supernet>, SearchError> {
    let mut state = Nb201Supernet::full();
    if session.evaluate(&state, 0)?.is_none() {
        return Ok(None);
    }
    let mut round = 0;
    while state.single().is_none() {
        round += 1;
        let mut trials: Vec<(usize, crate::space::nb201::Op, usize)> = Vec::new();
        for edge in 0..NUM_EDGES {
            if state.ops(edge).count() < 2 {
                continue;
            }
            for op in state.ops(edge) {
                match session.evaluate(&state.without(edge, op), round)? {
                    Some(i) => trials.push((edge, op, i)),
                    None => return Ok(None),
                }
            }
        }
        let fitness = session.fitness_values();
        let mut next = state;
        for edge in 0..NUM_EDGES {
            // Highest fitness after removal = least important op; the
            // earliest (NB201 op order) wins ties.
            let drop = trials
                .iter()
                .filter(|t| t.0 == edge)
                .max_by(|a, b| super::cmp_fitness(fitness[a.2], fitness[b.2]).then(b.2.cmp(&a.2)));
            if let Some(&(_, op, _)) = drop {
                next = next.without(edge, op);
            }
        }
        state = next;
    }
    // Score the final cell too, so its fitness and truth are in the log.
    session.evaluate(&state, round)?;
    Ok(Some(state))
}

/// The result of a prune: the final cell, not the best-scored supernet.
pub fn prune_result(session: &Session<Nb201Supernet>, last: Option<Nb201Supernet>) -> SearchResult {
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
