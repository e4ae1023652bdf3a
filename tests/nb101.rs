//! NB101: parameters against Suite-Zero's file, nasbench's hash, the built
//! network, and bad keys.

use burn::tensor::{Tensor, TensorData};
use lswag_studio::engine::backend::{Backend, BackendKind};
use lswag_studio::engine::data::gaussian_batch;
use lswag_studio::engine::exec::{Exec, NormMode, PassConfig};
use lswag_studio::engine::params::InitScheme;
use lswag_studio::engine::probe::{GradPath, Needs, Network, ProbeSettings, SIGMA_CHUNK, probe};
use lswag_studio::proxy;
use lswag_studio::space::nb101::{Nb101Arch, Nb101Config, Nb101Net};
use lswag_studio::space::{ArchSpace, Nb101Space, NetOverrides, NetSettings};
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

/// Cells of `zc_nasbench101.json` with the file's `params` (millions): the
/// smallest, the median and the largest of its 500.
const FULL_SIZE: [(&str, f64); 3] = [
    (
        "(0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, \
         0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 2, 2, 2, 2, 1)",
        0.29313,
    ),
    (
        "(0, 0, 0, 1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, \
         0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 2, 3, 4, 3, 1)",
        2.793866,
    ),
    (
        "(0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, \
         0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 4, 4, 4, 1)",
        30.679178,
    ),
];

/// Two more cells of the file: max pools, 1x1 and 3x3 convs, and (the
/// first) an input -> output edge, whose projection is added to the concat.
const MIXED: [&str; 2] = [
    "(0, 1, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, \
     0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 4, 3, 4, 2, 1)",
    "(0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, \
     0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 4, 4, 3, 2, 1)",
];

/// The default skeleton shrunk through the overrides the CLI and the app
/// set (8 stem channels, one cell per stack): a probe in well under a second.
fn shrunk() -> Nb101Config {
    let mut c = Nb101Config::default();
    c.apply(&NetOverrides {
        channels: Some(8),
        cells: Some(1),
        ..NetOverrides::default()
    })
    .unwrap();
    c.validate().unwrap();
    assert_eq!((c.stem_channels, c.stacks, c.cells_per_stack), (8, 3, 1));
    c
}

#[test]
fn built_network_params_equal_suite_zero_at_full_size() {
    for (key, millions) in FULL_SIZE {
        let arch = Nb101Arch::parse(key).unwrap();
        let built = Nb101Net::new(&arch, Nb101Config::default()).1.num_params() as u64;
        assert_eq!(built, (millions * 1e6).round() as u64, "{key}");
    }
}

#[test]
fn every_proxy_is_finite_on_a_shrunk_real_cell_and_relu_patterns_belong_to_their_conv() {
    let config = shrunk();
    let backend = Backend::new(BackendKind::Cpu);
    let batch = gaussian_batch(8, [3, 32, 32], 10, 5);
    let proxies = proxy::parse_list("all").unwrap();
    let arch = Nb101Arch::parse(MIXED[0]).unwrap();
    let (net, mut params) = Nb101Net::new(&arch, config);
    params.init(InitScheme::KaimingNormal, 0);
    let rec = probe(
        &net,
        &params,
        &batch,
        &backend,
        &ProbeSettings::default(),
        proxy::needs_of(&proxies),
    );
    for p in &proxies {
        let v = p.compute(&rec);
        assert!(v.is_some_and(f64::is_finite), "{}: {v:?}", p.name);
    }
    // Post-activation conv-BN-ReLU: every conv (stem, projections, vertex
    // ops) owns exactly the one ReLU that follows its BN, over all of its
    // output neurons; the classifier owns none, and none is left over.
    let mut exec = Exec::new(
        &params,
        backend.device.clone(),
        PassConfig {
            patterns: true,
            ..PassConfig::forward_only(NormMode::Groups(1))
        },
    );
    let x = Tensor::<4>::from_data(TensorData::new(batch.images.clone(), batch.shape), &backend.device);
    let _ = net.forward(&mut exec, x);
    assert_eq!(exec.uncredited_patterns(), 0);
    let (head, convs) = exec.layers.split_last().unwrap();
    assert_eq!(head.name, "classifier");
    assert!(head.patterns.is_empty());
    // Pruned (nothing feeds vertex 2): input, 1x1, 1x1, 3x3, max pool,
    // output. Stem; per cell 4 input projections (3 vertices and the
    // output) and the 3 vertex convs.
    assert_eq!(arch.pruned.ops, [0, 3, 3, 4, 2, 1]);
    assert_eq!(convs.len(), 1 + 3 * (4 + 3));
    for l in convs {
        let weights: usize = l.shape.iter().product();
        let neurons = l.shape[0] as u64 * l.macs / weights as u64;
        assert_eq!(l.patterns.len(), 1, "{}", l.name);
        assert_eq!(l.patterns[0].len() as u64, neurons, "{}", l.name);
    }
}

/// An NB101 network that does not offer per-sample chunks: the probe then
/// runs the per-sample pass on the whole batch at once.
struct Unchunked<'a>(&'a Nb101Net);

impl Network for Unchunked<'_> {
    fn input_chw(&self) -> [usize; 3] {
        self.0.input_chw()
    }

    fn forward(&self, exec: &mut Exec, x: Tensor<4>) -> Tensor<2> {
        self.0.forward(exec, x)
    }
}

#[test]
fn naive_batched_and_chunked_per_sample_gradients_agree_on_real_cells() {
    let config = shrunk();
    let backend = Backend::new(BackendKind::Cpu);
    // 12 samples: chunks of 8 and 4 in the chunked (default) path.
    let batch = gaussian_batch(12, [3, 32, 32], 10, 4);
    assert!(batch.len() > SIGMA_CHUNK);
    let needs = Needs {
        sigma: true,
        ..Needs::default()
    };
    for (i, key) in [MIXED[0], MIXED[1], FULL_SIZE[2].0].iter().enumerate() {
        let arch = Nb101Arch::parse(key).unwrap();
        let (net, mut params) = Nb101Net::new(&arch, config);
        params.init(InitScheme::KaimingNormal, i as u64);
        let mut settings = ProbeSettings::default();
        let chunked = probe(&net, &params, &batch, &backend, &settings, needs).sigma.unwrap();
        let batched = probe(&Unchunked(&net), &params, &batch, &backend, &settings, needs)
            .sigma
            .unwrap();
        settings.grad_path = GradPath::Naive;
        let naive = probe(&net, &params, &batch, &backend, &settings, needs).sigma.unwrap();
        assert_eq!((chunked.len(), batched.len()), (naive.len(), naive.len()));
        for (l, ((a, b), c)) in batched.iter().zip(&naive).zip(&chunked).enumerate() {
            for (what, x, y, z) in [
                ("lambda", a.lambda, b.lambda, c.lambda),
                ("mean log sigma", a.mean_log_sigma, b.mean_log_sigma, c.mean_log_sigma),
            ] {
                let (x, y, z) = (x.unwrap(), y.unwrap(), z.unwrap());
                assert!(
                    (x - y).abs() <= 1e-4 * y.abs(),
                    "{key} layer {l}: {what} batched {x} vs naive {y}"
                );
                assert!(
                    (z - y).abs() <= 1e-4 * y.abs(),
                    "{key} layer {l}: {what} chunked {z} vs naive {y}"
                );
            }
        }
    }
}
