//! Proxies: one file each, computed from what the probe recorded, and a
//! registry with each proxy's needs, family and sign convention.

mod flops;
mod grad_norm;
mod l2_norm;
pub mod lswag;
pub mod nwot;
mod params;
mod plain;
mod snip;
mod swap;
mod synflow;
mod zico;

use serde::Serialize;

use crate::engine::probe::{Needs, ProbeRecord};

/// What computing a proxy requires, as NAS-Bench-Suite-Zero classifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Requirements {
    pub data: bool,
    pub labels: bool,
    pub param_grads: bool,
    pub input_grads: bool,
    pub second_order: bool,
}

/// Registry entry of a proxy.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ProxyInfo {
    pub name: &'static str,
    pub summary: &'static str,
    pub requires: Requirements,
    /// Gradient-based (LIBRA's Table 4 groups proxies by this).
    pub gradient_based: bool,
    /// True where the raw quantity is "lower is better" and the stored score
    /// is its negation. None of the proxies here needs it.
    pub negated: bool,
    /// What the probe must record.
    #[serde(skip)]
    pub(crate) needs: Needs,
    #[serde(skip)]
    pub(crate) compute: fn(&ProbeRecord) -> Option<f64>,
}

const fn req(data: bool, labels: bool, param_grads: bool) -> Requirements {
    Requirements {
        data,
        labels,
        param_grads,
        input_grads: false,
        second_order: false,
    }
}

const NONE: Needs = Needs {
    sigma: false,
    zico: false,
    batch_grads: false,
    patterns: false,
    nwot: false,
    synflow: false,
};

/// Every proxy the engine computes, in display order.
pub const REGISTRY: &[ProxyInfo] = &[
    lswag::INFO,
    lswag::DOT_INFO,
    zico::INFO,
    swap::INFO,
    nwot::INFO,
    params::INFO,
    flops::INFO,
    synflow::INFO,
    grad_norm::INFO,
    snip::INFO,
    plain::INFO,
    l2_norm::INFO,
];

pub fn info(name: &str) -> Option<&'static ProxyInfo> {
    REGISTRY.iter().find(|p| p.name == name)
}

pub fn all_names() -> Vec<&'static str> {
    REGISTRY.iter().map(|p| p.name).collect()
}

#[derive(Debug, thiserror::Error)]
#[error("unknown proxy `{name}`; known: {known}")]
pub struct UnknownProxy {
    pub name: String,
    pub known: String,
}

/// Parses a comma-separated list (`all` = every proxy).
pub fn parse_list(list: &str) -> Result<Vec<&'static ProxyInfo>, UnknownProxy> {
    if list.trim() == "all" {
        return Ok(REGISTRY.iter().collect());
    }
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            info(name).ok_or_else(|| UnknownProxy {
                name: name.to_string(),
                known: all_names().join(", "),
            })
        })
        .collect()
}

/// Union of what a set of proxies needs from the probe.
pub fn needs_of(proxies: &[&ProxyInfo]) -> Needs {
    proxies.iter().fold(NONE, |a, p| Needs {
        sigma: a.sigma || p.needs.sigma,
        zico: a.zico || p.needs.zico,
        batch_grads: a.batch_grads || p.needs.batch_grads,
        patterns: a.patterns || p.needs.patterns,
        nwot: a.nwot || p.needs.nwot,
        synflow: a.synflow || p.needs.synflow,
    })
}

impl ProxyInfo {
    /// The proxy's value; `None` when the network gives no defined value
    /// (e.g. every layer dead) or the probe did not record what it needs.
    pub fn compute(&self, rec: &ProbeRecord) -> Option<f64> {
        (self.compute)(rec).filter(|v| v.is_finite())
    }
}
