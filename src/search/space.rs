//! The encoding operations a search needs, and the legal domain of one run
//! (parameter limits; in tabular mode, only what the archive scored).

use std::collections::HashSet;
use std::fmt::Display;

use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

use super::{ParamLimits, SearchError};
use crate::space::autoformer::{AutoformerArch, AutoformerSpace};
use crate::space::nb201::{NUM_EDGES, Nb201Arch, Nb201Config, Nb201Net, Op};

/// Sample, mutate, cross and count parameters.
pub trait SearchSpace {
    type Arch: Clone + PartialEq + Display;

    fn sample(&self, rng: &mut ChaCha8Rng) -> Self::Arch;
    /// `m_prob`: per ordinary gene; `s_prob`: per structural gene (depth,
    /// width), for spaces that have them.
    fn mutate(&self, arch: &Self::Arch, m_prob: f64, s_prob: f64, rng: &mut ChaCha8Rng) -> Self::Arch;
    fn cross(&self, a: &Self::Arch, b: &Self::Arch, rng: &mut ChaCha8Rng) -> Self::Arch;
    fn params(&self, arch: &Self::Arch) -> u64;
    fn parse(&self, key: &str) -> Result<Self::Arch, String>;
}

/// NB201 cells on a given skeleton.
#[derive(Clone, Debug)]
pub struct Nb201Space {
    pub config: Nb201Config,
    /// Parameters of the all-`none` network.
    base_params: u64,
    /// Parameters one conv edge adds to every cell of all three stages,
    /// indexed by kernel size (1 or 3).
    conv_edge_params: [u64; 4],
}

impl Nb201Space {
    pub fn new(config: Nb201Config) -> Nb201Space {
        let base_params = Nb201Net::new(Nb201Arch { ops: [Op::None; NUM_EDGES] }, config).1.num_params() as u64;
        let (c, n) = (config.channels as u64, config.cells_per_stage as u64);
        // Conv k x k at ch -> ch plus BN's gamma and beta, in N cells of each stage.
        let edge = |k: u64| [c, 2 * c, 4 * c].iter().map(|ch| n * (ch * ch * k * k + 2 * ch)).sum();
        Nb201Space {
            config,
            base_params,
            conv_edge_params: [0, edge(1), 0, edge(3)],
        }
    }
}

impl SearchSpace for Nb201Space {
    type Arch = Nb201Arch;

    fn sample(&self, rng: &mut ChaCha8Rng) -> Nb201Arch {
        Nb201Arch::sample(rng)
    }

    fn mutate(&self, arch: &Nb201Arch, m_prob: f64, _s_prob: f64, rng: &mut ChaCha8Rng) -> Nb201Arch {
        arch.mutate_genes(m_prob, rng)
    }

    fn cross(&self, a: &Nb201Arch, b: &Nb201Arch, rng: &mut ChaCha8Rng) -> Nb201Arch {
        a.cross(b, rng)
    }

    fn params(&self, arch: &Nb201Arch) -> u64 {
        let convs: u64 = arch
            .ops
            .iter()
            .map(|op| match op {
                Op::NorConv1x1 => self.conv_edge_params[1],
                Op::NorConv3x3 => self.conv_edge_params[3],
                _ => 0,
            })
            .sum();
        self.base_params + convs
    }

    fn parse(&self, key: &str) -> Result<Nb201Arch, String> {
        Nb201Arch::parse_any(key).map_err(|e| e.to_string())
    }
}

/// AutoFormer-Small ViTs; every method is one call into the encoding.
impl SearchSpace for AutoformerSpace {
    type Arch = AutoformerArch;

    fn sample(&self, rng: &mut ChaCha8Rng) -> AutoformerArch {
        AutoformerArch::sample(rng)
    }

    fn mutate(&self, arch: &AutoformerArch, m_prob: f64, s_prob: f64, rng: &mut ChaCha8Rng) -> AutoformerArch {
        arch.mutate(m_prob, s_prob, rng)
    }

    fn cross(&self, a: &AutoformerArch, b: &AutoformerArch, rng: &mut ChaCha8Rng) -> AutoformerArch {
        a.cross(b, rng)
    }

    fn params(&self, arch: &AutoformerArch) -> u64 {
        arch.params(self.basis)
    }

    fn parse(&self, key: &str) -> Result<AutoformerArch, String> {
        AutoformerArch::parse(key).map_err(|e| e.to_string())
    }
}

/// How many draws a search makes before it gives up on finding a legal,
/// unvisited candidate.
const MAX_TRIES: usize = 10_000;

/// The legal candidates of one run.
pub struct Domain<'a, S: SearchSpace> {
    pub space: &'a S,
    pub limits: Option<ParamLimits>,
    /// Tabular mode: only these candidates (already filtered by limits).
    pool: Option<(Vec<S::Arch>, HashSet<String>)>,
}

impl<'a, S: SearchSpace> Domain<'a, S> {
    pub fn new(space: &'a S, limits: Option<ParamLimits>) -> Domain<'a, S> {
        Domain { space, limits, pool: None }
    }

    /// Restricts the domain to `pool` (what a table can score).
    pub fn restricted(space: &'a S, limits: Option<ParamLimits>, pool: Vec<S::Arch>) -> Result<Domain<'a, S>, SearchError> {
        let pool: Vec<S::Arch> = pool
            .into_iter()
            .filter(|a| limits.is_none_or(|l| l.contains(space.params(a))))
            .collect();
        if pool.is_empty() {
            return Err(SearchError::Exhausted("the archive scores no candidate within the parameter limits".into()));
        }
        let keys = pool.iter().map(|a| a.to_string()).collect();
        Ok(Domain {
            space,
            limits,
            pool: Some((pool, keys)),
        })
    }

    pub fn pool_size(&self) -> Option<usize> {
        self.pool.as_ref().map(|(p, _)| p.len())
    }

    pub fn is_legal(&self, arch: &S::Arch) -> bool {
        self.is_legal_keyed(arch, &arch.to_string())
    }

    /// [`Self::is_legal`] with the key already printed (searches test many
    /// candidates; printing once per candidate keeps a tabular run fast).
    fn is_legal_keyed(&self, arch: &S::Arch, key: &str) -> bool {
        match &self.pool {
            Some((_, keys)) => keys.contains(key),
            None => self.limits.is_none_or(|l| l.contains(self.space.params(arch))),
        }
    }

    /// A legal candidate whose key `fresh` accepts, drawn uniformly.
    pub fn sample(&self, rng: &mut ChaCha8Rng, fresh: impl Fn(&str) -> bool) -> Result<S::Arch, SearchError> {
        for _ in 0..MAX_TRIES {
            let a = match &self.pool {
                Some((pool, _)) => pool.choose(rng).cloned().ok_or_else(|| SearchError::Exhausted("empty pool".into()))?,
                None => self.space.sample(rng),
            };
            let key = a.to_string();
            if self.is_legal_keyed(&a, &key) && fresh(&key) {
                return Ok(a);
            }
        }
        Err(SearchError::Exhausted(format!("{MAX_TRIES} random draws found no legal, unvisited candidate")))
    }

    /// Children from `make` until one is legal and fresh; `None` after
    /// [`MAX_TRIES`] / 10 draws (AutoFormer then simply makes fewer children).
    pub fn child(
        &self,
        rng: &mut ChaCha8Rng,
        fresh: impl Fn(&str) -> bool,
        mut make: impl FnMut(&mut ChaCha8Rng) -> S::Arch,
    ) -> Option<S::Arch> {
        (0..MAX_TRIES / 10).map(|_| make(rng)).find(|a| {
            let key = a.to_string();
            self.is_legal_keyed(a, &key) && fresh(&key)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn closed_form_params_match_the_built_network() {
        for config in [
            Nb201Config::default(),
            Nb201Config { channels: 8, cells_per_stage: 1, num_classes: 10, image_size: 32 },
        ] {
            let space = Nb201Space::new(config);
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            for _ in 0..20 {
                let a = space.sample(&mut rng);
                let built = Nb201Net::new(a, config).1.num_params() as u64;
                assert_eq!(space.params(&a), built, "{a}");
            }
        }
        // Suite-Zero's value for the all-3x3 cell at C=16, N=5 (1.531 M with the classifier).
        let all3: Nb201Arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
            .parse()
            .unwrap();
        assert_eq!(Nb201Space::new(Nb201Config::default()).params(&all3), 1_531_546);
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
