//! AutoFormer-Small (ViT): encodings and the burn network.

pub mod encoding;
pub mod net;

pub use encoding::*;
pub use net::{AutoformerConfig, AutoformerNet};

use rand_chacha::ChaCha8Rng;

/// The space as a search sees it. Parameter counts, and so parameter
/// limits, refer to `basis`: by default the paper's 224 x 224 inputs and
/// 1000 classes, so `--param-limits 18,23` selects the same architectures
/// whatever image size the probe runs at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoformerSpace {
    pub basis: CountBasis,
}

impl Default for AutoformerSpace {
    fn default() -> Self {
        AutoformerSpace {
            basis: CountBasis::PAPER,
        }
    }
}

// The search layer's trait, implemented here beside the encoding it
// delegates to (every method is one call into `AutoformerArch`).
impl crate::search::space::SearchSpace for AutoformerSpace {
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
