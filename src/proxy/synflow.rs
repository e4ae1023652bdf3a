//! synflow (Tanaka et al.): log sum |w * dR/dw| with |w|, BN off, ones input.

use super::{NONE, ProxyInfo, req};
use crate::engine::probe::ProbeNeeds;

pub const INFO: ProxyInfo = ProxyInfo {
    name: "synflow",
    summary: "synflow: log of sum |w dR/dw|, weights |w|, BN off, all-ones input",
    requires: req(false, false, true),
    gradient_based: true,
    negated: false,
    needs: ProbeNeeds { synflow: true, ..NONE },
    compute: |rec| rec.synflow_sum.filter(|&v| v > 0.0).map(f64::ln),
};
