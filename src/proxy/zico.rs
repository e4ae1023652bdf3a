//! ZiCO: sum_l log(sum_w mean_k|g_w| / std_k(g_w)) over k = 2 mini-batches.

use super::{NONE, ProxyInfo, req};
use crate::engine::probe::ProbeNeeds;

pub const INFO: ProxyInfo = ProxyInfo {
    name: "zico",
    summary: "ZiCO: per-layer log of summed inverse coefficient of variation of gradients over 2 mini-batches",
    requires: req(true, true, true),
    gradient_based: true,
    negated: false,
    needs: ProbeNeeds { zico: true, ..NONE },
    compute: |rec| {
        let terms = rec.zico_terms.as_ref()?;
        let live: Vec<f64> = terms.iter().flatten().copied().collect();
        (!live.is_empty()).then(|| live.iter().sum())
    },
};
