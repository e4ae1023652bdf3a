//! NAS-Bench-201: encodings and the burn network.

pub mod encoding;
pub mod net;

pub use encoding::*;
pub use net::{Nb201Config, Nb201Net};

use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;

use super::{ArchSpace, NetConfig};
use crate::engine::params::ParamStore;
use crate::engine::probe::Network;

/// `n` (at most 15,625) distinct cells drawn uniformly with `seed`, in drawn order.
pub fn sample_cells(n: usize, seed: u64) -> Vec<Nb201Arch> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    sample(&mut rng, NUM_ARCHS, n.min(NUM_ARCHS))
        .into_iter()
        .map(Nb201Arch::from_index)
        .collect()
}

/// NB201 cells on a given skeleton.
#[derive(Clone, Debug)]
pub struct Nb201Space {
    pub config: Nb201Config,
    /// Parameters of the all-`none` network, counted on first use (archive
    /// readers make a space per key to parse it, and never count).
    base_params: std::sync::OnceLock<u64>,
    /// Parameters one conv edge adds to every cell of all three stages,
    /// indexed by kernel size (1 or 3).
    conv_edge_params: [u64; 4],
}

impl Nb201Space {
    pub fn new(config: Nb201Config) -> Nb201Space {
        let (c, n) = (config.channels as u64, config.cells_per_stage as u64);
        // Conv k x k at ch -> ch plus BN's gamma and beta, in N cells of each stage.
        let edge = |k: u64| [c, 2 * c, 4 * c].iter().map(|ch| n * (ch * ch * k * k + 2 * ch)).sum();
        Nb201Space {
            config,
            base_params: std::sync::OnceLock::new(),
            conv_edge_params: [0, edge(1), 0, edge(3)],
        }
    }
}

impl ArchSpace for Nb201Space {
    type Arch = Nb201Arch;

    fn config(&self) -> NetConfig {
        NetConfig::Nb201(self.config)
    }

    fn parse(&self, key: &str) -> Result<Nb201Arch, String> {
        Nb201Arch::parse_any(key).map_err(|e| e.to_string())
    }

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
        let base = *self.base_params.get_or_init(|| {
            Nb201Net::new(
                Nb201Arch {
                    ops: [Op::None; NUM_EDGES],
                },
                self.config,
            )
            .1
            .num_params() as u64
        });
        base + convs
    }

    fn build(&self, arch: &Nb201Arch) -> (Box<dyn Network>, ParamStore) {
        let (net, params) = Nb201Net::new(*arch, self.config);
        (Box::new(net), params)
    }

    fn all(&self) -> Option<Vec<Nb201Arch>> {
        Some(Nb201Arch::all().collect())
    }

    /// Index sampling over the 15,625 cells: every draw is distinct, and
    /// score runs keep the architecture lists they had before limits existed.
    fn sample_distinct(&self, n: usize, seed: u64, limits: Option<(u64, u64)>) -> Result<Vec<Nb201Arch>, String> {
        if n > NUM_ARCHS {
            return Err(format!("the NB201 space holds {NUM_ARCHS} cells, {n} asked for"));
        }
        let out: Vec<Nb201Arch> = sample_cells(if limits.is_some() { NUM_ARCHS } else { n }, seed)
            .into_iter()
            .filter(|a| limits.is_none_or(|(lo, hi)| (lo..=hi).contains(&self.params(a))))
            .take(n)
            .collect();
        if out.len() < n {
            return Err(format!(
                "the NB201 space holds only {} cells within these settings, {n} asked for",
                out.len()
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_form_params_match_the_built_network() {
        for config in [
            Nb201Config::default(),
            Nb201Config {
                channels: 8,
                cells_per_stage: 1,
                num_classes: 10,
                image_size: 32,
            },
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
        let all3: Nb201Arch =
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
                .parse()
                .unwrap();
        assert_eq!(Nb201Space::new(Nb201Config::default()).params(&all3), 1_531_546);
    }
}
