//! fisher (Theis et al., as in NASLib's `fisher.py`): per output channel of
//! every conv and linear layer, 0.5 * mean_s (sum_spatial act * grad)^2 with
//! act the layer's output and grad dLoss/d(act), counted once per weight of
//! the channel's filter, summed.

use super::{NONE, ProxyInfo, req};
use crate::engine::probe::ProbeNeeds;

pub const INFO: ProxyInfo = ProxyInfo {
    name: "fisher",
    summary: "fisher: per channel 0.5 mean_s (sum_spatial act * grad)^2, times the filter size, summed",
    requires: req(true, true, true),
    gradient_based: true,
    negated: false,
    needs: ProbeNeeds { fisher: true, ..NONE },
    compute: |rec| Some(rec.fisher.as_ref()?.iter().sum()),
};
