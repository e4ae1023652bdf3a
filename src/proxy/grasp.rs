//! GraSP (Wang et al., as in NASLib's `grasp.py`): -sum w * (H g) over conv
//! and linear weights, g the batch gradient of the loss and H its Hessian
//! with respect to those weights. burn has no second backward, so H g is a
//! central finite difference of gradients in f64 (see
//! `engine::probe::GRASP_REL_STEP`).

use super::{NONE, ProxyInfo, Requirements};
use crate::engine::probe::ProbeNeeds;

pub const INFO: ProxyInfo = ProxyInfo {
    name: "grasp",
    summary: "GraSP: -sum w (H g), Hessian-vector product by central differences of gradients (f64)",
    requires: Requirements {
        data: true,
        labels: true,
        param_grads: true,
        input_grads: false,
        second_order: true,
    },
    gradient_based: true,
    negated: false,
    needs: ProbeNeeds { grasp: true, ..NONE },
    compute: |rec| Some(rec.grasp.as_ref()?.iter().sum()),
};
