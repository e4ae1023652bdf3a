//! Zen-score (Lin et al., as in NASLib's `zen.py`): with N(0, 1) weights and
//! standard normal inputs x, e, `log mean_s sum |f(x) - f(x + 0.01 e)|` of
//! the features before global average pooling, plus the sum over BatchNorms
//! of log sqrt(mean running_var) after the two train-mode forwards.

use super::{NONE, ProxyInfo, req};
use crate::engine::probe::ProbeNeeds;

pub const INFO: ProxyInfo = ProxyInfo {
    name: "zen",
    summary: "Zen-score: log feature change under a 0.01 input perturbation (Gaussian weights and input) + BN scaling",
    requires: req(false, false, false),
    gradient_based: false,
    negated: false,
    needs: ProbeNeeds { zen: true, ..NONE },
    compute: |rec| {
        let (diff, bn) = rec.zen_parts?;
        (diff > 0.0).then(|| diff.ln() + bn)
    },
};
