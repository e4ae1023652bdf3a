//! Number of parameters.

use super::{NONE, ProxyInfo, req};

pub const INFO: ProxyInfo = ProxyInfo {
    name: "params",
    summary: "number of parameters (millions)",
    requires: req(false, false, false),
    gradient_based: false,
    negated: false,
    needs: NONE,
    compute: |rec| Some(rec.params as f64 / 1e6),
};
