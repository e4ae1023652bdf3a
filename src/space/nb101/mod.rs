//! NAS-Bench-101: cells, nasbench's hash and sampler, the network.

pub mod encoding;
mod md5;
pub mod net;

pub use encoding::Nb101Arch;
pub use net::{Nb101Config, Nb101Net, count_params};

use rand_chacha::ChaCha8Rng;

use super::{ArchSpace, NetConfig};
use crate::engine::params::ParamStore;
use crate::engine::probe::Network;

#[derive(Clone, Debug)]
pub struct Nb101Space {
    pub config: Nb101Config,
}

impl Nb101Space {
    pub fn new(config: Nb101Config) -> Nb101Space {
        Nb101Space { config }
    }
}

impl ArchSpace for Nb101Space {
    type Arch = Nb101Arch;

    fn config(&self) -> NetConfig {
        NetConfig::Nb101(self.config)
    }

    fn parse(&self, key: &str) -> Result<Nb101Arch, String> {
        Nb101Arch::parse(key)
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> Nb101Arch {
        Nb101Arch::sample(rng)
    }

    fn mutate(&self, arch: &Nb101Arch, m_prob: f64, _s_prob: f64, rng: &mut ChaCha8Rng) -> Nb101Arch {
        arch.mutate(m_prob, rng)
    }

    fn cross(&self, a: &Nb101Arch, b: &Nb101Arch, rng: &mut ChaCha8Rng) -> Nb101Arch {
        a.cross(b, rng)
    }

    fn identity(&self, arch: &Nb101Arch) -> String {
        arch.hash.clone()
    }

    fn params(&self, arch: &Nb101Arch) -> u64 {
        count_params(&arch.pruned, &self.config)
    }

    fn build(&self, arch: &Nb101Arch) -> (Box<dyn Network>, ParamStore) {
        let (net, params) = Nb101Net::new(arch, self.config);
        (Box::new(net), params)
    }
}
