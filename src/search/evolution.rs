//! Evolution as in AutoFormer: a random first population; then every
//! generation the top-k of everything evaluated so far are the parents of
//! `mutations` mutants and `crossovers` children, and random legal
//! candidates fill the population up.

use std::collections::HashSet;

use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

use super::space::{Domain, SearchSpace};
use super::{EvolutionSettings, SearchError, Session, ranked};

pub fn evolution<S: SearchSpace>(
    domain: &Domain<S>,
    session: &mut Session<S::Arch>,
    settings: &EvolutionSettings,
    rng: &mut ChaCha8Rng,
) -> Result<(), SearchError> {
    if settings.population == 0 || settings.parents == 0 {
        return Err(SearchError::Setting(
            "evolution needs a population and at least one parent".into(),
        ));
    }
    // Evaluated candidates, aligned with the session's history.
    let mut evaluated: Vec<S::Arch> = Vec::new();
    let mut candidates: Vec<S::Arch> = Vec::new();
    for generation in 0..settings.generations.max(1) {
        fill_random(domain, session, &mut candidates, settings.population, rng)?;
        for arch in &candidates {
            let before = session.history().len();
            match session.evaluate(arch, generation)? {
                None => return Ok(()),
                Some(i) if i == before => evaluated.push(arch.clone()),
                Some(_) => {}
            }
        }
        let fitness = session.fitness_values();
        let parents: Vec<S::Arch> = ranked(&fitness)
            .into_iter()
            .take(settings.parents)
            .map(|i| evaluated[i].clone())
            .collect();
        candidates.clear();
        let mut pending: HashSet<String> = HashSet::new();
        for _ in 0..settings.mutations {
            let fresh = |k: &str| !session.is_visited(k) && !pending.contains(k);
            let child = domain.child(rng, fresh, |rng| {
                let parent = parents
                    .choose(rng)
                    .unwrap_or_else(|| unreachable!("parents is not empty"));
                domain.space.mutate(parent, settings.m_prob, settings.s_prob, rng)
            });
            if let Some(c) = child {
                pending.insert(c.to_string());
                candidates.push(c);
            }
        }
        for _ in 0..settings.crossovers {
            let fresh = |k: &str| !session.is_visited(k) && !pending.contains(k);
            let child = domain.child(rng, fresh, |rng| {
                let mut two = parents.choose_multiple(rng, 2);
                let a = two.next().unwrap_or_else(|| unreachable!("parents is not empty"));
                let b = two.next().unwrap_or(a);
                domain.space.cross(a, b, rng)
            });
            if let Some(c) = child {
                pending.insert(c.to_string());
                candidates.push(c);
            }
        }
    }
    Ok(())
}

/// Tops `candidates` up to `population` with random legal, unvisited ones.
fn fill_random<S: SearchSpace>(
    domain: &Domain<S>,
    session: &Session<S::Arch>,
    candidates: &mut Vec<S::Arch>,
    population: usize,
    rng: &mut ChaCha8Rng,
) -> Result<(), SearchError> {
    let mut pending: HashSet<String> = candidates.iter().map(|a| a.to_string()).collect();
    while candidates.len() < population {
        let fresh = |k: &str| !session.is_visited(k) && !pending.contains(k);
        match domain.sample(rng, fresh) {
            Ok(a) => {
                pending.insert(a.to_string());
                candidates.push(a);
            }
            Err(SearchError::Exhausted(_)) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
