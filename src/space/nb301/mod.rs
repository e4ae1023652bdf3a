//! NAS-Bench-301: the DARTS cell space as NASLib's `nasbench301` search
//! space builds it (NAS-Bench-Suite-Zero's values come from there): the
//! genotype key, the parameter count from the encoding, and the network on
//! the executor.

pub mod encoding;
pub mod net;
pub mod supernet;

pub use encoding::{Nb301Arch, Nb301Config, Op};
pub use net::Nb301Net;
pub use supernet::Nb301Supernet;

use rand_chacha::ChaCha8Rng;

use super::{ArchSpace, NetConfig, NetOverrides, NetSettings};
use crate::engine::params::ParamStore;
use crate::engine::probe::Network;

/// NB301 genotypes on a given skeleton.
#[derive(Clone, Debug)]
pub struct Nb301Space {
    pub config: Nb301Config,
}

impl Nb301Space {
    pub fn new(config: Nb301Config) -> Nb301Space {
        Nb301Space { config }
    }
}

impl ArchSpace for Nb301Space {
    type Arch = Nb301Arch;

    fn config(&self) -> NetConfig {
        NetConfig::Nb301(self.config)
    }

    fn parse(&self, key: &str) -> Result<Nb301Arch, String> {
        Nb301Arch::parse(key)
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> Nb301Arch {
        Nb301Arch::sample(rng)
    }

    fn mutate(&self, arch: &Nb301Arch, m_prob: f64, _s_prob: f64, rng: &mut ChaCha8Rng) -> Nb301Arch {
        arch.mutate_genes(m_prob, rng)
    }

    fn cross(&self, a: &Nb301Arch, b: &Nb301Arch, rng: &mut ChaCha8Rng) -> Nb301Arch {
        a.cross(b, rng)
    }

    fn params(&self, arch: &Nb301Arch) -> u64 {
        self.config.params(arch)
    }

    fn build(&self, arch: &Nb301Arch) -> (Box<dyn Network>, ParamStore) {
        let (net, params) = Nb301Net::new(arch.clone(), self.config);
        (Box::new(net), params)
    }
}

impl NetSettings for Nb301Config {
    fn image_size(&self) -> usize {
        self.image_size
    }

    fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Measured 4.8 GiB at 32 px, batch 64, C = 32, 8 cells: 22.4 bytes per
    /// output float, below the default model's low end.
    fn probe_memory(&self) -> crate::space::ProbeMemory {
        crate::space::ProbeMemory {
            fixed: 0.0,
            per_output_float: (20.0, 46.0),
        }
    }

    fn apply(&mut self, o: &NetOverrides) -> Result<(), String> {
        o.set_all(
            &mut self.channels,
            &mut self.cells,
            &mut self.num_classes,
            &mut self.image_size,
        );
        Ok(())
    }

    fn validate(&self) -> Result<(), String> {
        Nb301Config::validate(self)
    }
}
