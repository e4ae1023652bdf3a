//! NB301 (DARTS) encoding and parameter count against NAS-Bench-Suite-Zero's
//! `zc_nasbench301.json`, the built network's parameters and layer order,
//! and a probe of a small cell with every proxy.

use lswag_studio::engine::backend::{Backend, BackendKind};
use lswag_studio::engine::data::gaussian_batch;
use lswag_studio::engine::params::InitScheme;
use lswag_studio::engine::probe::{GradPath, Needs, ProbeSettings, probe};
use lswag_studio::proxy;
use lswag_studio::space::nb301::{Nb301Arch, Nb301Config, Nb301Net, Nb301Supernet};
use lswag_studio::space::{ArchSpace, Nb301Space, NetConfig, Space};
use lswag_studio::testdata::shared_data_dir;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// `params.score` is millions of parameters with six decimals, i.e. the
/// exact count / 1e6: the closed form must give it exactly on every cell,
/// and each key must print back as the file writes it.
#[test]
fn params_match_suite_zero_on_all_725_cells() {
    let Some(dir) = shared_data_dir() else { return };
    let text = std::fs::read_to_string(dir.join("suite_zero/zc_nasbench301.json")).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cells = file["cifar10"].as_object().unwrap();
    assert_eq!(cells.len(), 725);
    let config = Nb301Config::default();
    for (key, entry) in cells {
        let arch = Nb301Arch::parse(key).unwrap();
        assert_eq!(arch.to_string(), *key);
        let want = (entry["params"]["score"].as_f64().unwrap() * 1e6).round() as u64;
        assert_eq!(config.params(&arch), want, "{key}");
    }
}

/// A hand count on one genotype: every pair sep_conv_3x3 on nodes 0/1
/// (normal) and skip_connect on inputs 0/1 (reduction: FactorizedReduce).
#[test]
fn params_by_hand_on_one_genotype() {
    let normal = "[(0, 3), (1, 3), (0, 3), (1, 3), (0, 3), (1, 3), (0, 3), (1, 3)]";
    let reduce = "[(0, 2), (1, 2), (0, 2), (1, 2), (0, 2), (1, 2), (0, 2), (1, 2)]";
    let arch = Nb301Arch::parse(&format!("[{normal}, {reduce}]")).unwrap();
    let sep = |c: u64| 8 * 2 * (9 * c + c * c);
    let fr = |c: u64| 8 * c * c;
    let stem = 3 * 96 * 9 + 2 * 96; // 3x3 conv 3 -> 96, affine BN
    // preprocess0 + preprocess1 (each conv + affine BN) per cell: C_pp, C_p, C.
    let pre = |cpp: u64, cp: u64, c: u64, fr0: bool| (if fr0 { 2 * cpp * (c / 2) } else { cpp * c }) + cp * c + 4 * c;
    let total = stem
        + pre(96, 96, 32, false)
        + sep(32)
        + pre(96, 128, 32, false)
        + sep(32)
        + pre(128, 128, 64, false)
        + fr(64)
        + pre(128, 256, 64, true)
        + sep(64)
        + pre(256, 256, 64, false)
        + sep(64)
        + pre(256, 256, 128, false)
        + fr(128)
        + pre(256, 512, 128, true)
        + sep(128)
        + pre(512, 512, 128, false)
        + sep(128)
        + 512 * 10
        + 10;
    assert_eq!(Nb301Config::default().params(&arch), total);
}

#[test]
fn bad_genotypes_are_errors_naming_key_and_problem() {
    let ok = "[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)]";
    let cases = [
        (
            format!("[{ok}, [(1, 0), (0, 7), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]"),
            "op index 7 out of range",
        ),
        (
            format!("[{ok}, [(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (5, 6)]]"),
            "node 5 reads node 5",
        ),
        (
            format!("[{ok}, [(1, 0), (2, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]"),
            "node 2 reads node 2",
        ),
        (
            format!("[{ok}, [(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0)]]"),
            "cell 1 has 7",
        ),
        (format!("[{ok}]"), "expected two cells"),
        (
            format!("[{ok}, [(1, 0), (1, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]"),
            "node 2 reads node 1 twice",
        ),
        (
            format!("[{ok}, [(1, 0), (0, x), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]"),
            "numbers, expected 32",
        ),
    ];
    for (key, want) in cases {
        let err = Nb301Arch::parse(&key).unwrap_err();
        assert!(err.contains(want) && err.contains(&key), "{key}: {err}");
    }
}

/// Sample, mutate and cross give valid genotypes only, and reach every
/// (node, input) choice.
#[test]
fn sample_mutate_cross_stay_valid() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut seen = std::collections::HashSet::new();
    let mut prev = Nb301Arch::sample(&mut rng);
    for _ in 0..2000 {
        let a = Nb301Arch::sample(&mut rng);
        let m = a.mutate_genes(0.3, &mut rng);
        let c = a.cross(&prev, &mut rng);
        for g in [&a, &m, &c] {
            g.validate().unwrap();
            assert_eq!(Nb301Arch::parse(&g.to_string()).unwrap(), *g);
        }
        for (i, &(input, op)) in a.cells[0].iter().enumerate() {
            seen.insert((i, input, op as usize));
        }
        prev = m;
    }
    // Pairs of node n have n input choices and 7 ops: 2*7*(2+3+4+5) = 196.
    assert_eq!(seen.len(), 196);
}

/// The built network's ParamStore holds exactly Suite-Zero's `params` on
/// every 12th cell of the file (61 cells), and the closed form agrees with
/// the built store on random genotypes of small skeletons.
#[test]
fn built_network_params_match_suite_zero_and_the_closed_form() {
    if let Some(dir) = shared_data_dir() {
        let text = std::fs::read_to_string(dir.join("suite_zero/zc_nasbench301.json")).unwrap();
        let file: serde_json::Value = serde_json::from_str(&text).unwrap();
        let cells = file["cifar10"].as_object().unwrap();
        let mut checked = 0;
        for (key, entry) in cells.iter().step_by(12) {
            let (net, store) = Nb301Net::new(Nb301Arch::parse(key).unwrap(), Nb301Config::default());
            let want = (entry["params"]["score"].as_f64().unwrap() * 1e6).round() as usize;
            assert_eq!(store.num_params(), want, "{key}");
            assert_eq!(net.input_chw(), [3, 32, 32]);
            checked += 1;
        }
        assert_eq!(checked, 61);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for (channels, cells) in [(4, 3), (6, 4), (8, 5), (16, 8)] {
        let config = Nb301Config {
            channels,
            cells,
            num_classes: 7,
            image_size: 8,
        };
        for _ in 0..20 {
            let arch = Nb301Arch::sample(&mut rng);
            let built = Nb301Net::new(arch.clone(), config).1.num_params() as u64;
            assert_eq!(config.params(&arch), built, "C={channels} cells={cells} {arch}");
        }
    }
}

/// The genotype written out by hand for the layer-order test below.
/// Normal: node 2 = sep3(1) + max(0), node 3 = skip(2) + dil3(0),
/// node 4 = avg(1) + dil5(3), node 5 = sep5(4) + skip(0).
/// Reduction: node 2 = skip(0) + dil3(1), others pools and skips.
const HAND_WRITTEN: &str = "[[(1, 3), (0, 0), (2, 2), (0, 5), (1, 1), (3, 6), (4, 4), (0, 2)], \
                            [(0, 2), (1, 5), (0, 0), (2, 1), (3, 2), (1, 0), (4, 2), (2, 1)]]";

/// A small skeleton for probes: C = 4, 3 cells (reductions at cells 1 and
/// 2), 10 classes, 8 x 8 inputs.
fn small() -> Nb301Config {
    Nb301Config {
        channels: 4,
        cells: 3,
        num_classes: 10,
        image_size: 8,
    }
}

/// Weight layers in execution order (NASLib's graph order) on a 3-cell
/// network whose cells are written out by hand: reductions at cells 1
/// and 2, so cell 2's first input (from cell 0) is a FactorizedReduce.
#[test]
fn layers_run_in_naslibs_graph_order() {
    let arch = Nb301Arch::parse(HAND_WRITTEN).unwrap();
    let config = small();
    let (net, params) = Nb301Net::new(arch, config);
    let backend = Backend::new(BackendKind::Cpu);
    let batch = gaussian_batch(2, [3, 8, 8], 10, 1);
    let needs = Needs {
        patterns: true,
        ..Needs::default()
    };
    let rec = probe(&net, &params, &batch, &backend, &ProbeSettings::default(), needs);
    let names: Vec<&str> = rec.layers.iter().map(|l| l.name.as_str()).collect();
    let cell0 = [
        // Source 0: pair 1 (max pool, no weights), pair 3 (dil3), pair 7 (skip).
        "cells.0.ops.3.op.1",
        "cells.0.ops.3.op.2",
        // Source 1: pair 0 (sep3), pair 4 (avg).
        "cells.0.ops.0.op.1",
        "cells.0.ops.0.op.2",
        "cells.0.ops.0.op.5",
        "cells.0.ops.0.op.6",
        // Source 3: pair 5 (dil5); source 4: pair 6 (sep5).
        "cells.0.ops.5.op.1",
        "cells.0.ops.5.op.2",
        "cells.0.ops.6.op.1",
        "cells.0.ops.6.op.2",
        "cells.0.ops.6.op.5",
        "cells.0.ops.6.op.6",
    ];
    let mut want = vec![
        "stem.0",
        "cells.0.preprocess1.op.1",
        "cells.0.preprocess0.op.1",
        "cells.1.preprocess0.op.1",
    ];
    want.extend(cell0);
    // The edges leaving cell 0: cell 1's second input, then cell 2's first,
    // which skips the reduction in cell 1: a FactorizedReduce.
    want.extend([
        "cells.1.preprocess1.op.1",
        "cells.2.preprocess0.conv_1",
        "cells.2.preprocess0.conv_2",
    ]);
    // Cell 1 reduces: stride-2 skips from inputs are FactorizedReduce.
    // Source 0: pair 0 (skip -> FR), pair 2 (max); source 1: pair 1 (dil3), pair 5 (max).
    want.extend([
        "cells.1.ops.0.conv_1",
        "cells.1.ops.0.conv_2",
        "cells.1.ops.1.op.1",
        "cells.1.ops.1.op.2",
    ]);
    want.push("cells.2.preprocess1.op.1");
    want.extend([
        "cells.2.ops.0.conv_1",
        "cells.2.ops.0.conv_2",
        "cells.2.ops.1.op.1",
        "cells.2.ops.1.op.2",
        "classifier",
    ]);
    assert_eq!(names, want);
    // Every layer but the pointwise convs, FactorizedReduce's second conv
    // and the head gets the pattern of the ReLU right before it.
    for (layer, pats) in rec.layers.iter().zip(rec.layer_patterns.as_ref().unwrap()) {
        let after_relu = !(layer.name.ends_with(".op.2") && !layer.name.contains("preprocess")
            || layer.name.ends_with(".op.6")
            || layer.name.ends_with("conv_2")
            || layer.name == "classifier"
            || layer.name == "stem.0");
        assert_eq!(!pats.is_empty(), after_relu, "{}", layer.name);
    }
}

/// The space's settings: defaults are NASLib's, overrides apply, and bad
/// values are errors naming the setting.
#[test]
fn nb301_config_defaults_overrides_and_errors() {
    let net = NetConfig::default_for(&Space::Nb301).unwrap();
    assert_eq!(net, NetConfig::Nb301(Nb301Config::default()));
    assert_eq!((net.image_size(), net.num_classes()), (32, 10));
    let json = serde_json::to_string(&net).unwrap();
    assert!(json.contains("\"space\":\"nb301\""), "{json}");
    assert_eq!(serde_json::from_str::<NetConfig>(&json).unwrap(), net);
    let key = "[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], \
               [(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]";
    assert!(net.canonical_key(key).unwrap().starts_with("[[(0, 0), (1, 5)"));
    let o = |channels, cells, image_size| lswag_studio::space::NetOverrides {
        channels,
        cells,
        classes: None,
        image_size,
    };
    let small = NetConfig::from_overrides(&Space::Nb301, &o(Some(8), Some(3), Some(16))).unwrap();
    assert_eq!(
        small,
        NetConfig::Nb301(Nb301Config {
            channels: 8,
            cells: 3,
            num_classes: 10,
            image_size: 16
        })
    );
    for (bad, want) in [
        (o(Some(7), None, None), "nb301 channels 7"),
        (o(None, Some(2), None), "nb301 cells 2"),
        (o(None, None, Some(30)), "nb301 image size 30"),
    ] {
        let err = NetConfig::from_overrides(&Space::Nb301, &bad).unwrap_err();
        assert!(err.contains(want), "{err}");
    }
    let space = Nb301Space::new(Nb301Config::default());
    let arch = space.parse(key).unwrap();
    assert_eq!(space.params(&arch), Nb301Config::default().params(&arch));
}

/// One small NB301 network (C = 4, 3 cells, 8 x 8 inputs) probed with every
/// proxy: all values finite, and L-SWAG's per-sample sigma_w from the
/// batched pass equal to the naive one-sample-at-a-time path.
#[test]
fn small_cell_probes_with_every_proxy_and_batched_sigma_matches_naive() {
    let key = "[[(0, 3), (1, 4), (0, 5), (2, 6), (1, 0), (3, 1), (4, 2), (0, 3)], \
               [(0, 2), (1, 3), (2, 4), (0, 5), (1, 6), (3, 0), (4, 1), (2, 2)]]";
    let config = small();
    let (net, mut params) = Nb301Net::new(Nb301Arch::parse(key).unwrap(), config);
    params.init(InitScheme::KaimingNormal, 11);
    let batch = gaussian_batch(8, [3, 8, 8], 10, 2);
    let backend = Backend::new(BackendKind::Cpu);
    let mut settings = ProbeSettings::default();
    let all = proxy::parse_list("all").unwrap();
    let rec = probe(&net, &params, &batch, &backend, &settings, proxy::needs_of(&all));
    assert_eq!(all.len(), 17);
    for p in &all {
        let v = p.compute(&rec);
        assert!(v.is_some_and(f64::is_finite), "{}: {v:?}", p.name);
    }
    let batched = rec.sigma.unwrap();
    settings.grad_path = GradPath::Naive;
    let sigma_only = Needs {
        sigma: true,
        ..Needs::default()
    };
    let naive = probe(&net, &params, &batch, &backend, &settings, sigma_only)
        .sigma
        .unwrap();
    assert_eq!(batched.len(), naive.len());
    for (l, (a, b)) in batched.iter().zip(&naive).enumerate() {
        let (x, y) = (a.lambda.unwrap(), b.lambda.unwrap());
        assert!((x - y).abs() <= 1e-4 * y.abs().max(1.0), "layer {l}: {x} vs {y}");
    }
}

/// The pruning supernet of one genotype (one op per edge, two edges per
/// node) is that genotype's network: the same parameter shapes in the same
/// order and the same per-layer L-SWAG statistics on the same weights.
#[test]
fn a_supernet_of_one_genotype_is_that_genotypes_network() {
    let arch = Nb301Arch::parse(HAND_WRITTEN).unwrap();
    let config = small();
    let (net, mut params) = Nb301Net::new(arch.clone(), config);
    let (super_net, mut super_params) = Nb301Net::supernet(Nb301Supernet::from_arch(&arch), config);
    let shapes = |p: &lswag_studio::engine::params::ParamStore| -> Vec<Vec<usize>> {
        p.entries.iter().map(|e| e.shape.clone()).collect()
    };
    assert_eq!(shapes(&params), shapes(&super_params));
    params.init(InitScheme::KaimingNormal, 5);
    super_params.init(InitScheme::KaimingNormal, 5);
    let batch = gaussian_batch(4, [3, 8, 8], 10, 3);
    let backend = Backend::new(BackendKind::Cpu);
    let needs = Needs {
        sigma: true,
        patterns: true,
        ..Needs::default()
    };
    let settings = ProbeSettings::default();
    let a = probe(&net, &params, &batch, &backend, &settings, needs);
    let b = probe(&super_net, &super_params, &batch, &backend, &settings, needs);
    let lambdas = |r: &lswag_studio::engine::probe::ProbeRecord| -> Vec<Option<f64>> {
        r.sigma.as_ref().unwrap().iter().map(|l| l.lambda).collect()
    };
    assert_eq!(lambdas(&a), lambdas(&b));
    assert_eq!(a.layers.len(), b.layers.len());
}

/// The full DARTS supernet (all 7 ops on all 14 edges of both cells): its
/// parameters by hand, and a small one probes to a finite L-SWAG.
#[test]
fn the_full_supernet_counts_every_op_of_every_edge() {
    // Per edge at c channels, stride 1: sep3 2(9c + c^2), sep5 2(25c + c^2),
    // dil3 9c + c^2, dil5 25c + c^2, pools and skip nothing: 102c + 6c^2.
    // A reduction cell's 8 edges from its inputs add a FactorizedReduce
    // skip (two 1x1 convs c -> c/2): c^2 each.
    let edges = |c: u64, reduction: bool| 14 * (102 * c + 6 * c * c) + if reduction { 8 * c * c } else { 0 };
    let pools = "[(0, 0), (1, 0), (0, 0), (1, 0), (0, 0), (1, 0), (0, 0), (1, 0)]";
    let all_pools = Nb301Arch::parse(&format!("[{pools}, {pools}]")).unwrap();
    for config in [Nb301Config::default(), small()] {
        // The genotype of max pools has the skeleton's parameters only.
        let mut want = config.params(&all_pools);
        let mut c = config.channels as u64;
        for i in 0..config.cells {
            let reduction = config.is_reduction(i);
            if reduction {
                c *= 2;
            }
            want += edges(c, reduction);
        }
        let (_, store) = Nb301Net::supernet(Nb301Supernet::full(), config);
        assert_eq!(store.num_params() as u64, want, "C = {}", config.channels);
    }
    let config = small();
    let (net, mut params) = Nb301Net::supernet(Nb301Supernet::full(), config);
    params.init(InitScheme::KaimingNormal, 1);
    let batch = gaussian_batch(4, [3, 8, 8], 10, 4);
    let lswag = proxy::parse_list("lswag").unwrap();
    let rec = probe(
        &net,
        &params,
        &batch,
        &Backend::new(BackendKind::Cpu),
        &ProbeSettings::default(),
        proxy::needs_of(&lswag),
    );
    let v = lswag[0].compute(&rec);
    assert!(v.is_some_and(f64::is_finite), "{v:?}");
}
