//! NB301 (DARTS) encoding and parameter count against NAS-Bench-Suite-Zero's
//! `zc_nasbench301.json`.

use lswag_studio::space::nb301::{Nb301Arch, Nb301Config};
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
