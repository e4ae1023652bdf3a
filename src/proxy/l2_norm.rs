//! l2_norm: sum over layers of the L2 norm of the weights.

use super::{NONE, ProxyInfo, req};
use crate::engine::probe::Needs;

pub const INFO: ProxyInfo = ProxyInfo {
    name: "l2_norm",
    summary: "sum_l ||w_l||_2 over conv and linear weights",
    requires: req(false, false, false),
    gradient_based: false,
    negated: false,
    // Recorded with the batch pass's per-layer statistics.
    needs: Needs { batch_grads: true, ..NONE },
    compute: |rec| Some(rec.batch_grads.as_ref()?.iter().map(|s| s.weight_l2).sum()),
};
