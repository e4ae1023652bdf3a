//! AutoFormer-Small (ViT): encodings and the burn network.

pub mod encoding;
pub mod net;

pub use encoding::*;
pub use net::{AutoformerConfig, AutoformerNet};

use rand_chacha::ChaCha8Rng;

use super::{ArchSpace, NetConfig};
use crate::engine::params::ParamStore;
use crate::engine::probe::Network;

/// The space as a search sees it. Parameter counts, and so parameter
/// limits, refer to `basis`: by default the paper's 224 x 224 inputs and
/// 1000 classes, so `--param-limits 18,23` selects the same architectures
/// whatever image size the probe runs at; `config` is the network probed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoformerSpace {
    pub basis: CountBasis,
    pub config: AutoformerConfig,
}

impl AutoformerSpace {
    pub fn new(config: AutoformerConfig) -> AutoformerSpace {
        AutoformerSpace {
            basis: CountBasis::PAPER,
            config,
        }
    }
}

impl Default for AutoformerSpace {
    fn default() -> Self {
        AutoformerSpace::new(AutoformerConfig::default())
    }
}

/// Every method is one call into the encoding.
impl ArchSpace for AutoformerSpace {
    type Arch = AutoformerArch;

    fn config(&self) -> NetConfig {
        NetConfig::Autoformer(self.config)
    }

    fn parse(&self, key: &str) -> Result<AutoformerArch, String> {
        AutoformerArch::parse(key).map_err(|e| e.to_string())
    }

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

    fn build(&self, arch: &AutoformerArch) -> (Box<dyn Network>, ParamStore) {
        let (net, params) = AutoformerNet::new(arch, self.config);
        (Box::new(net), params)
    }
}
