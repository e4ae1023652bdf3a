//! NB101: parameters against Suite-Zero's file, nasbench's hash, the built
//! network, and bad keys.

use lswag_studio::space::nb101::{Nb101Arch, Nb101Config, Nb101Net};
use lswag_studio::space::{ArchSpace, Nb101Space};
use lswag_studio::testdata::shared_data_dir;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[test]
fn params_match_suite_zero_on_every_cell() {
    let Some(dir) = shared_data_dir() else { return };
    let text = std::fs::read_to_string(dir.join("suite_zero/zc_nasbench101.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cells = json["nasbench101"]["cifar10"].as_object().unwrap();
    assert_eq!(cells.len(), 500);
    let space = Nb101Space::new(Nb101Config::default());
    for (key, row) in cells {
        let arch = space.parse(key).unwrap();
        // The file gives millions with 6 decimals: exact to one parameter.
        let want = (row["params"].as_f64().unwrap() * 1e6).round() as u64;
        assert_eq!(space.params(&arch), want, "{key}");
        assert_eq!(arch.to_string(), *key, "the key prints as the file writes it");
    }
}

#[test]
fn hash_matches_python_hashlib_and_merges_spellings() {
    // input -> conv3x3 -> output and input -> maxpool3x3 -> output; the hash
    // computed with Python's hashlib following graph_util.hash_module.
    let a = Nb101Arch::parse("(0,1,1,0, 0,0,0,1, 0,0,0,1, 0,0,0,0, 0,4,2,1)").unwrap();
    assert_eq!(a.hash, "7c65f6bd01b87407734781b6038050bc");
    // The same graph with the two interior vertices swapped, and as a
    // 7-vertex spelling with dangling vertices that pruning removes.
    let b = Nb101Arch::parse("(0,1,1,0, 0,0,0,1, 0,0,0,1, 0,0,0,0, 0,2,4,1)").unwrap();
    let c = Nb101Arch::parse(
        "(0,1,1,0,0,0,0, 0,0,0,0,0,0,1, 0,0,0,0,0,0,1, 0,0,0,0,1,0,0, 0,0,0,0,0,0,0, 0,0,0,0,0,0,0, 0,0,0,0,0,0,0, 0,4,2,3,3,4,1)",
    )
    .unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(c.pruned.n(), 4);
    let d = Nb101Arch::parse("(0,1,1,0, 0,0,0,1, 0,0,0,1, 0,0,0,0, 0,4,3,1)").unwrap();
    assert_ne!(a, d);
}

#[test]
fn built_network_has_the_closed_form_params() {
    let space = Nb101Space::new(Nb101Config::default());
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for _ in 0..20 {
        let a = space.sample(&mut rng);
        assert!(a.pruned.edges() <= 9);
        let built = Nb101Net::new(&a, space.config).1.num_params() as u64;
        assert_eq!(space.params(&a), built, "{a}");
        let m = space.mutate(&a, 0.2, 0.0, &mut rng);
        assert_ne!(m, a);
        let _ = space.cross(&a, &m, &mut rng);
    }
}

#[test]
fn bad_keys_name_the_key_and_problem() {
    let err = |k: &str| Nb101Arch::parse(k).unwrap_err();
    assert!(err("(0,1,1, 0,0,0, 0,0,0, 4,1)").contains("11 values"));
    assert!(err("(0,1,1,0, 1,0,0,1, 0,0,0,1, 0,0,0,0, 0,4,2,1)").contains("not upper triangular"));
    assert!(err("(0,1,0,0, 0,0,0,0, 0,0,0,1, 0,0,0,0, 0,4,2,1)").contains("unreachable"));
    assert!(err("(0,1,1,0, 0,0,0,1, 0,0,0,1, 0,0,0,0, 0,7,2,1)").contains("unknown op 7"));
    let full = "(0,1,1,1,1,1,1, 0,0,1,1,1,1,1, 0,0,0,1,1,1,1, 0,0,0,0,1,1,1, 0,0,0,0,0,1,1, 0,0,0,0,0,0,1, 0,0,0,0,0,0,0, 0,4,4,4,4,4,1)";
    let e = err(full);
    assert!(e.contains("21 edges") && e.contains(full), "{e}");
}
