//! l2_norm: sum over layers of the L2 norm of the weights.

use super::{NONE, ProxyInfo, req};

pub const INFO: ProxyInfo = ProxyInfo {
    name: "l2_norm",
    summary: "sum_l ||w_l||_2 over conv and linear weights",
    requires: req(false, false, false),
    gradient_based: false,
    negated: false,
    // From the parameters themselves: no pass.
    needs: NONE,
    compute: |rec| (!rec.weight_l2.is_empty()).then(|| rec.weight_l2.iter().sum()),
};
