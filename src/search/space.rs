//! The encoding operations a search needs, and the legal domain of one run
//! (parameter limits; in tabular mode, only what the archive scored).

use std::collections::HashMap;

use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

use super::{ParamLimits, SearchError};
pub use crate::space::ArchSpace as SearchSpace;

/// How many draws a search makes before it gives up on finding a legal,
/// unvisited candidate.
const MAX_TRIES: usize = 10_000;

/// The legal candidates of one run.
pub struct Domain<'a, S: SearchSpace> {
    pub space: &'a S,
    pub limits: Option<ParamLimits>,
    /// Tabular mode: only these candidates (already filtered by limits).
    pool: Option<Pool<S::Arch>>,
}

/// A tabular run's candidates, found by their identity (see
/// [`SearchSpace::identity`]).
struct Pool<A> {
    archs: Vec<A>,
    by_identity: HashMap<String, usize>,
}

impl<'a, S: SearchSpace> Domain<'a, S> {
    pub fn new(space: &'a S, limits: Option<ParamLimits>) -> Domain<'a, S> {
        Domain {
            space,
            limits,
            pool: None,
        }
    }

    /// Restricts the domain to `pool` (what a table can score).
    pub fn restricted(
        space: &'a S,
        limits: Option<ParamLimits>,
        pool: Vec<S::Arch>,
    ) -> Result<Domain<'a, S>, SearchError> {
        let pool: Vec<S::Arch> = pool
            .into_iter()
            .filter(|a| limits.is_none_or(|l| l.contains(space.params(a))))
            .collect();
        if pool.is_empty() {
            return Err(SearchError::Exhausted(
                "the archive scores no candidate within the parameter limits".into(),
            ));
        }
        let by_identity = pool.iter().enumerate().map(|(i, a)| (space.identity(a), i)).collect();
        Ok(Domain {
            space,
            limits,
            pool: Some(Pool {
                archs: pool,
                by_identity,
            }),
        })
    }

    pub fn pool_size(&self) -> Option<usize> {
        self.pool.as_ref().map(|p| p.archs.len())
    }

    pub fn is_legal(&self, arch: &S::Arch) -> bool {
        self.legal(arch.clone()).is_some()
    }

    /// `arch` as this run evaluates it, if legal: in tabular mode the
    /// table's own spelling of it (NB101 mutants come out spelled otherwise
    /// than the archive's keys), else `arch` within the limits.
    fn legal(&self, arch: S::Arch) -> Option<S::Arch> {
        match &self.pool {
            Some(p) => p
                .by_identity
                .get(&self.space.identity(&arch))
                .map(|&i| p.archs[i].clone()),
            None => self
                .limits
                .is_none_or(|l| l.contains(self.space.params(&arch)))
                .then_some(arch),
        }
    }

    /// A legal candidate whose key `fresh` accepts, drawn uniformly.
    pub fn sample(&self, rng: &mut ChaCha8Rng, fresh: impl Fn(&str) -> bool) -> Result<S::Arch, SearchError> {
        for _ in 0..MAX_TRIES {
            let a = match &self.pool {
                Some(p) => p
                    .archs
                    .choose(rng)
                    .cloned()
                    .ok_or_else(|| SearchError::Exhausted("empty pool".into()))?,
                None => self.space.sample(rng),
            };
            if let Some(a) = self.legal(a).filter(|a| fresh(&a.to_string())) {
                return Ok(a);
            }
        }
        Err(SearchError::Exhausted(format!(
            "{MAX_TRIES} random draws found no legal, unvisited candidate"
        )))
    }

    /// Children from `make` until one is legal and fresh; `None` after
    /// [`MAX_TRIES`] / 10 draws (AutoFormer then simply makes fewer children).
    pub fn child(
        &self,
        rng: &mut ChaCha8Rng,
        fresh: impl Fn(&str) -> bool,
        mut make: impl FnMut(&mut ChaCha8Rng) -> S::Arch,
    ) -> Option<S::Arch> {
        (0..MAX_TRIES / 10)
            .map(|_| make(rng))
            .find_map(|a| self.legal(a).filter(|a| fresh(&a.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::nb201::{Nb201Arch, Nb201Config, Nb201Space};
    use rand::SeedableRng;

    #[test]
    fn a_tabular_domain_finds_another_spelling_of_a_pooled_nb101_graph() {
        use crate::space::nb101::{Nb101Arch, Nb101Config, Nb101Space};
        // input -> {conv3x3, maxpool} -> output, with the two middle
        // vertices in either order: one graph, two keys.
        let adjacency = "0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0";
        let a = Nb101Arch::parse(&format!("({adjacency}, 0, 4, 2, 1)")).unwrap();
        let b = Nb101Arch::parse(&format!("({adjacency}, 0, 2, 4, 1)")).unwrap();
        assert_ne!(a.to_string(), b.to_string());
        let space = Nb101Space::new(Nb101Config::default());
        let domain = Domain::restricted(&space, None, vec![a.clone()]).unwrap();
        // b is legal and is evaluated under the table's spelling, a.
        assert!(domain.is_legal(&b));
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let child = domain.child(&mut rng, |_| true, |_| b.clone()).unwrap();
        assert_eq!(child.to_string(), a.to_string());
        // Visited under that spelling, it is not fresh again.
        let key = a.to_string();
        assert!(domain.child(&mut rng, |k| k != key, |_| b.clone()).is_none());
    }

    #[test]
    fn restricted_domain_samples_only_its_pool_within_limits() {
        let space = Nb201Space::new(Nb201Config::default());
        let pool: Vec<Nb201Arch> = (0..50).map(|i| Nb201Arch::from_index(i * 300)).collect();
        let limits = ParamLimits { min: 0, max: 600_000 };
        let domain = Domain::restricted(&space, Some(limits), pool.clone()).unwrap();
        let inside: Vec<&Nb201Arch> = pool.iter().filter(|a| space.params(a) <= 600_000).collect();
        assert_eq!(domain.pool_size(), Some(inside.len()));
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for _ in 0..200 {
            let a = domain.sample(&mut rng, |_| true).unwrap();
            assert!(inside.contains(&&a));
        }
        let none = Domain::restricted(&space, Some(ParamLimits { min: 0, max: 10 }), pool);
        assert!(none.is_err());
    }
}
