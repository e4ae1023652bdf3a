//! SWAP: distinct activation patterns over all layers (= Psi[..10]).

use super::{NONE, ProxyInfo, req};
use crate::engine::probe::ProbeNeeds;

pub const INFO: ProxyInfo = ProxyInfo {
    name: "swap",
    summary: "SWAP: number of distinct activation patterns over all layers",
    requires: req(true, false, false),
    gradient_based: false,
    negated: false,
    needs: ProbeNeeds { patterns: true, ..NONE },
    compute: |rec| rec.psi_cumulative()?.last().map(|&v| v as f64),
};
