//! L-SWAG (paper Eq. 1, 7, 8): Lambda[a..b] * Psi[..b] over depth bins.

use super::{NONE, ProxyInfo, req};
use crate::engine::probe::{ProbeNeeds, ProbeRecord};

const NEEDS: ProbeNeeds = ProbeNeeds {
    sigma: true,
    patterns: true,
    ..NONE
};

pub const INFO: ProxyInfo = ProxyInfo {
    name: "lswag",
    summary: "L-SWAG over all depth bins: sum_l log(sum_w 1/sigma_w) * distinct activation patterns",
    requires: req(true, true, true),
    gradient_based: true,
    negated: false,
    needs: NEEDS,
    compute: |rec| window(rec, 1, 10),
};

pub const DOT_INFO: ProxyInfo = ProxyInfo {
    name: "lswag_dot",
    summary: "L-SWAG layer-wise dot variant: sum_l Lambda_l * Psi_l",
    requires: req(true, true, true),
    gradient_based: true,
    negated: false,
    needs: NEEDS,
    compute: |rec| Some(rec.profile()?.lswag_layerwise_dot(1, 10)),
};

/// L-SWAG over the window [a, b] of depth bins.
pub fn window(rec: &ProbeRecord, a: usize, b: usize) -> Option<f64> {
    let profile = rec.profile()?;
    (!profile.all_dead()).then(|| profile.lswag(a, b))
}
