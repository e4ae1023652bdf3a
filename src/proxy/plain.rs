//! plain: sum w * dLoss/dw.

use super::{NONE, ProxyInfo, req};
use crate::engine::probe::ProbeNeeds;

pub const INFO: ProxyInfo = ProxyInfo {
    name: "plain",
    summary: "plain: sum w dLoss/dw over conv and linear weights",
    requires: req(true, true, true),
    gradient_based: true,
    negated: false,
    needs: ProbeNeeds {
        batch_grads: true,
        ..NONE
    },
    compute: |rec| Some(rec.batch_grads.as_ref()?.iter().map(|s| s.plain).sum()),
};
