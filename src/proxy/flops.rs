//! Forward FLOPs per image.

use super::{NONE, ProxyInfo, req};

pub const INFO: ProxyInfo = ProxyInfo {
    name: "flops",
    summary: "forward multiply-accumulates of conv and linear layers per image (millions)",
    requires: req(false, false, false),
    gradient_based: false,
    negated: false,
    needs: NONE,
    compute: |rec| (!rec.layers.is_empty()).then(|| rec.flops() as f64 / 1e6),
};
