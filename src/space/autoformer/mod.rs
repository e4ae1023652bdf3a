//! AutoFormer-Small (ViT): encodings and the burn network.

pub mod encoding;
pub mod net;

pub use encoding::*;
pub use net::{AutoformerConfig, AutoformerNet};

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
