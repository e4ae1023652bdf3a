//! grad_norm: sum over layers of the L2 norm of the batch gradient.

use super::{NONE, ProxyInfo, req};
use crate::engine::probe::ProbeNeeds;

pub const INFO: ProxyInfo = ProxyInfo {
    name: "grad_norm",
    summary: "sum_l ||dLoss/dw_l||_2 (batch gradient, mean cross-entropy)",
    requires: req(true, true, true),
    gradient_based: true,
    negated: false,
    needs: ProbeNeeds {
        batch_grads: true,
        ..NONE
    },
    compute: |rec| Some(rec.batch_grads.as_ref()?.iter().map(|s| s.grad_l2).sum()),
};
