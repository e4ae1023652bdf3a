//! Proxies: one file each, computed from what the probe recorded, and a
//! registry with each proxy's needs, family and sign convention.

pub mod epe_nas;
mod fisher;
mod flops;
mod grad_norm;
mod grasp;
pub mod jacov;
mod l2_norm;
pub mod lswag;
pub mod nwot;
mod params;
mod plain;
mod snip;
mod swap;
mod synflow;
mod zen;
mod zico;

use serde::Serialize;

use crate::engine::probe::{ProbeNeeds, ProbeRecord};

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
    /// is its negation. None of the proxies here needs it: each is stored
    /// with the sign NAS-Bench-Suite-Zero stores (grasp and jacov carry
    /// their minus sign in their definitions, as NASLib's code does).
    pub negated: bool,
    /// What the probe must record.
    #[serde(skip)]
    pub(crate) needs: ProbeNeeds,
    #[serde(skip)]
    pub(crate) compute: fn(&ProbeRecord) -> Option<f64>,
}

/// Requirements without input gradients or second order.
const fn req(data: bool, labels: bool, param_grads: bool) -> Requirements {
    Requirements {
        data,
        labels,
        param_grads,
        input_grads: false,
        second_order: false,
    }
}

/// Requirements of the Jacobian proxies: data and input gradients, no
/// parameter gradients.
const fn req_input_grads(labels: bool) -> Requirements {
    Requirements {
        data: true,
        labels,
        param_grads: false,
        input_grads: true,
        second_order: false,
    }
}

const NONE: ProbeNeeds = ProbeNeeds::NONE;

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
    jacov::INFO,
    fisher::INFO,
    epe_nas::INFO,
    zen::INFO,
    grasp::INFO,
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
pub fn needs_of(proxies: &[&ProxyInfo]) -> ProbeNeeds {
    proxies.iter().fold(NONE, |a, p| a.union(p.needs))
}

/// Why a proxy can come out undefined (stored as missing) on an
/// architecture: what its definition needs that the network did not give.
pub fn missing_reason(name: &str) -> &'static str {
    match name {
        "lswag" | "lswag_dot" | "zico" => {
            "every layer's gradient spread is zero (a network whose output does not depend on its weights' \
             gradients, e.g. a cell cut off from its input)"
        }
        "jacov" | "epe_nas" => {
            "the logits do not depend on the image (a cell cut off from its input), so the input Jacobian \
             has a constant row and its correlations are undefined"
        }
        "nwot" => "the activation-pattern kernel is singular (two samples share every ReLU pattern)",
        "synflow" => {
            "the synaptic flow is zero (no path of non-zero weights from input to output); its log is undefined"
        }
        "zen" => {
            "the network has no global average pool whose input zen compares (TransNAS-Bench-101's pixel \
             heads: segmentsemantic, autoencoder, normal), or its feature maps do not react to the input \
             perturbation (difference 0), so its log is undefined"
        }
        _ => "the value was not finite (an overflow, or a term that is undefined on this network)",
    }
}

/// Why a proxy can take one value on every architecture of a run, where
/// the cause is known (the batch, not the networks).
pub fn constant_reason(name: &str) -> Option<&'static str> {
    match name {
        "epe_nas" => Some(
            "with more than 100 classes NASLib's EPE-NAS drops every class that has a single sample in the \
             batch and scores the differences between the rest, so it is 0 unless two classes each have two \
             samples (TransNAS-Bench-101's jigsaw: 32 puzzles of 1000 permutations rarely share one; \
             Suite-Zero's jigsaw files hold 0 or a failure on 84% of their cells)",
        ),
        _ => None,
    }
}

impl ProxyInfo {
    /// The proxy's value; `None` when the network gives no defined value
    /// (e.g. every layer dead) or the probe did not record what it needs.
    pub fn compute(&self, rec: &ProbeRecord) -> Option<f64> {
        (self.compute)(rec).filter(|v| v.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every proxy of SPEC.md's tables.
    const SPEC: &[&str] = &[
        "lswag",
        "zico",
        "swap",
        "nwot",
        "params",
        "flops",
        "grad_norm",
        "snip",
        "plain",
        "l2_norm",
        "synflow",
        "jacov",
        "fisher",
        "epe_nas",
        "zen",
        "grasp",
    ];

    #[test]
    fn all_covers_the_spec_table_and_records_everything() {
        let all = parse_list("all").unwrap();
        for name in SPEC {
            assert!(all.iter().any(|p| p.name == *name), "`all` lacks {name}");
        }
        let needs = needs_of(&all);
        let every = ProbeNeeds {
            sigma: true,
            zico: true,
            batch_grads: true,
            patterns: true,
            nwot: true,
            synflow: true,
            jacobian: true,
            fisher: true,
            zen: true,
            grasp: true,
        };
        assert_eq!(needs, every);
    }

    #[test]
    fn registry_metadata_follows_suite_zero() {
        let get = |n: &str| info(n).unwrap_or_else(|| panic!("{n} missing"));
        // Input gradients: the two Jacobian proxies only; second order: grasp.
        for p in REGISTRY {
            assert_eq!(
                p.requires.input_grads,
                matches!(p.name, "jacov" | "epe_nas"),
                "{}",
                p.name
            );
            assert_eq!(p.requires.second_order, p.name == "grasp", "{}", p.name);
            // Nothing stored here is negated (Suite-Zero's signs).
            assert!(!p.negated, "{}", p.name);
            // A proxy that needs labels needs data.
            assert!(!p.requires.labels || p.requires.data, "{}", p.name);
        }
        // LIBRA's Table 4 families as NAS-Bench-Suite-Zero groups them.
        let based = [
            "grasp",
            "fisher",
            "jacov",
            "epe_nas",
            "snip",
            "synflow",
            "grad_norm",
            "zico",
            "plain",
            "lswag",
        ];
        let free = ["nwot", "zen", "params", "flops", "l2_norm", "swap"];
        for p in REGISTRY {
            if based.contains(&p.name) || free.contains(&p.name) {
                assert_eq!(p.gradient_based, based.contains(&p.name), "{}", p.name);
            }
        }
        assert!(!get("zen").requires.data && !get("zen").gradient_based);
        assert!(get("epe_nas").requires.labels && !get("jacov").requires.labels);
        assert!(get("fisher").requires.param_grads && get("grasp").requires.param_grads);
        assert!(!get("l2_norm").requires.data && !get("l2_norm").gradient_based);
    }

    #[test]
    fn unknown_names_are_reported_with_the_known_ones() {
        let err = parse_list("jacov,nope").unwrap_err();
        assert_eq!(err.name, "nope");
        assert!(err.known.contains("grasp"));
    }
}
