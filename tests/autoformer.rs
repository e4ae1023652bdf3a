//! The AutoFormer-Small ViT: parameter counts against a closed form, the
//! attention op against a hand computation, the probe's layers and GELU
//! patterns, and the batched per-sample gradients against the naive path.

use burn::tensor::{Device, Tensor, TensorData};
use lswag_studio::engine::backend::{Backend, BackendKind};
use lswag_studio::engine::data::gaussian_batch;
use lswag_studio::engine::exec::{Exec, NormMode, PassConfig};
use lswag_studio::engine::params::{InitScheme, ParamRole, ParamStore};
use lswag_studio::engine::probe::{GradPath, Needs, Network, ProbeSettings, SIGMA_CHUNK, probe};
use lswag_studio::space::autoformer::{AutoformerArch, AutoformerConfig, AutoformerNet, CountBasis, MlpRatio};

fn arch(embed: usize, mlp: &[f64], heads: &[usize]) -> AutoformerArch {
    let ratio = |v: f64| match v {
        3.0 => MlpRatio::R3,
        3.5 => MlpRatio::R3_5,
        4.0 => MlpRatio::R4,
        _ => panic!("ratio {v}"),
    };
    AutoformerArch {
        embed,
        mlp: mlp.iter().map(|&v| ratio(v)).collect(),
        heads: heads.to_vec(),
    }
}

/// The parameter count written out module by module (independently of the
/// library's closed form): for embed E, T = (img/16)^2 + 1 tokens, C classes,
///   patch conv 3*16*16*E + E, cls E, pos T*E,
///   per block: LN 2E, qkv (64h*3)*E + 64h*3, proj E*64h + E, LN 2E,
///              fc1 hid*E + hid, fc2 E*hid + E   (hid = ratio * E),
///   final LN 2E, head C*E + C.
fn by_hand(a: &AutoformerArch, img: usize, classes: usize) -> u64 {
    let e = a.embed as u64;
    let t = ((img / 16) * (img / 16) + 1) as u64;
    let mut n = e * 3 * 16 * 16 + e + e + t * e;
    for (r, h) in a.mlp.iter().zip(&a.heads) {
        let q = 64 * *h as u64;
        let hid = (r.value() * a.embed as f64) as u64;
        n += 2 * e + q * 3 * e + q * 3 + e * q + e + 2 * e + hid * e + hid + e * hid + e;
    }
    n + 2 * e + classes as u64 * e + classes as u64
}

#[test]
fn parameter_counts_match_the_closed_form() {
    let small = arch(320, &[3.0; 12], &[5; 12]);
    let large = arch(448, &[4.0; 14], &[7; 14]);
    let mixed = arch(
        384,
        &[3.5, 3.0, 4.0, 3.5, 3.0, 3.0, 4.0, 4.0, 3.5, 4.0, 3.5, 4.0, 3.5],
        &[6, 6, 5, 7, 5, 5, 5, 6, 6, 7, 7, 6, 7],
    );
    // Values of `by_hand`, also computed separately in Python: the space
    // spans 13.0 M to 34.7 M parameters at 224 x 224 and 1000 classes.
    for (a, at224, at32) in [
        (&small, 12_965_160u64, 12_585_930u64),
        (&large, 34_682_920, 34_152_394),
        (&mixed, 22_201_000, 21_746_122),
    ] {
        assert_eq!(by_hand(a, 224, 1000), at224);
        assert_eq!(by_hand(a, 32, 10), at32);
        assert_eq!(a.params(CountBasis::PAPER), at224, "{a}");
        assert_eq!(
            a.params(CountBasis {
                image_size: 32,
                num_classes: 10
            }),
            at32,
            "{a}"
        );
        for (img, classes, want) in [(224, 1000, at224), (32, 10, at32)] {
            let (_, store) = AutoformerNet::new(
                a,
                AutoformerConfig {
                    image_size: img,
                    num_classes: classes,
                },
            );
            assert_eq!(store.num_params() as u64, want, "{a} at {img}");
        }
    }
}

#[test]
fn attention_matches_a_hand_computation() {
    // S = 2 samples, T = 3 tokens, H = 2 heads of D = 2: qkv [2, 3, 12].
    let (s, t, h, d) = (2, 3, 2, 2);
    let c = 3 * h * d;
    let values: Vec<f32> = (0..s * t * c).map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0).collect();
    let device = Device::flex();
    let store = ParamStore::default();
    let mut exec = Exec::new(&store, device.clone(), PassConfig::forward_only(NormMode::Groups(1)));
    let qkv = Tensor::<3>::from_data(TensorData::new(values.clone(), [s, t, c]), &device);
    let got: Vec<f32> = exec.attention(qkv, h).into_data().try_to_vec().unwrap();
    // Token layout (3, H, D): q of head j at [j*D..], k at [H*D + j*D..], v at [2*H*D + j*D..].
    let at = |b: usize, tok: usize, part: usize, head: usize, k: usize| {
        values[(b * t + tok) * c + part * h * d + head * d + k] as f64
    };
    for b in 0..s {
        for head in 0..h {
            for i in 0..t {
                let scores: Vec<f64> = (0..t)
                    .map(|j| {
                        (0..d).map(|k| at(b, i, 0, head, k) * at(b, j, 1, head, k)).sum::<f64>() / (d as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                let w: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                let z: f64 = w.iter().sum();
                for k in 0..d {
                    let want: f64 = (0..t).map(|j| w[j] / z * at(b, j, 2, head, k)).sum();
                    let g = got[(b * t + i) * h * d + head * d + k] as f64;
                    assert!(
                        (g - want).abs() < 1e-5,
                        "sample {b} head {head} token {i} dim {k}: {g} vs {want}"
                    );
                }
            }
        }
    }
}

/// A ViT far smaller than the space allows (embed 32, two blocks of one
/// and two heads, 32 x 32 images = 4 patches + the class token), so the
/// naive path's per-sample passes stay cheap.
fn tiny() -> (AutoformerNet, ParamStore) {
    let a = AutoformerArch {
        embed: 32,
        mlp: vec![MlpRatio::R3, MlpRatio::R4],
        heads: vec![1, 2],
    };
    let (net, mut params) = AutoformerNet::new(
        &a,
        AutoformerConfig {
            image_size: 32,
            num_classes: 10,
        },
    );
    params.init(InitScheme::KaimingNormal, 11);
    // Norms away from (1, 0), so their scaling reaches the gradients.
    for e in &mut params.entries {
        if matches!(e.role, ParamRole::NormWeight | ParamRole::NormBias) {
            for (i, v) in e.data.iter_mut().enumerate() {
                *v += ((i * 13 % 7) as f32 - 3.0) * 0.05;
            }
        }
    }
    (net, params)
}

#[test]
fn layers_are_every_linear_weight_and_gelu_patterns_belong_to_fc1() {
    let (net, params) = tiny();
    let batch = gaussian_batch(8, [3, 32, 32], 10, 2);
    let backend = Backend::new(BackendKind::Cpu);
    let needs = Needs {
        sigma: true,
        patterns: true,
        ..Needs::default()
    };
    let rec = probe(&net, &params, &batch, &backend, &ProbeSettings::default(), needs);
    let names: Vec<&str> = rec.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "patch_embed_super.proj",
            "blocks.0.attn.qkv",
            "blocks.0.attn.proj",
            "blocks.0.fc1",
            "blocks.0.fc2",
            "blocks.1.attn.qkv",
            "blocks.1.attn.proj",
            "blocks.1.fc1",
            "blocks.1.fc2",
            "head"
        ]
    );
    let shapes: Vec<Vec<usize>> = rec.layers.iter().map(|l| l.shape.clone()).collect();
    assert_eq!(shapes[1], [3 * 64, 32]);
    assert_eq!(shapes[2], [32, 64]);
    assert_eq!(shapes[7], [128, 32]);
    // MACs per image: patch conv 4 patches x 32 x 768; token layers 5 tokens each.
    assert_eq!(rec.layers[0].macs, 4 * 32 * 768);
    assert_eq!(rec.layers[3].macs, 5 * 96 * 32);
    let patterns = rec.layer_patterns.as_ref().unwrap();
    for (l, p) in patterns.iter().enumerate() {
        // A neuron is a token feature of a GELU output: 5 tokens x hidden.
        match l {
            3 => assert!(!p.is_empty() && p.len() <= 5 * 96, "{}", p.len()),
            7 => assert!(!p.is_empty() && p.len() <= 5 * 128, "{}", p.len()),
            _ => assert!(p.is_empty(), "layer {l} has {} patterns", p.len()),
        }
    }
    // Raw (undeduplicated) neuron count of each GELU call.
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
    assert_eq!(
        exec.activation_calls.iter().map(Vec::len).collect::<Vec<_>>(),
        [5 * 96, 5 * 128]
    );
    assert_eq!(exec.uncredited_patterns(), 0);
    assert!(rec.sigma.unwrap().iter().all(|s| s.lambda.is_some()));
}

/// The tiny ViT as a network that does not declare its samples
/// independent: the probe then runs the whole batch in one split pass.
struct Unchunked<'a>(&'a AutoformerNet);

impl Network for Unchunked<'_> {
    fn input_chw(&self) -> [usize; 3] {
        self.0.input_chw()
    }

    fn forward(&self, exec: &mut Exec, x: Tensor<4>) -> Tensor<2> {
        self.0.forward(exec, x)
    }
}

#[test]
fn naive_batched_and_chunked_per_sample_gradients_agree_on_a_tiny_vit() {
    let (net, params) = tiny();
    // 20 samples: chunks of 8, 8 and 4 in the chunked path.
    let batch = gaussian_batch(20, [3, 32, 32], 10, 4);
    let backend = Backend::new(BackendKind::Cpu);
    let needs = Needs {
        sigma: true,
        ..Needs::default()
    };
    let mut settings = ProbeSettings::default();
    assert!(batch.len() > SIGMA_CHUNK);
    let chunked = probe(&net, &params, &batch, &backend, &settings, needs).sigma.unwrap();
    let batched = probe(&Unchunked(&net), &params, &batch, &backend, &settings, needs)
        .sigma
        .unwrap();
    settings.grad_path = GradPath::Naive;
    let naive = probe(&net, &params, &batch, &backend, &settings, needs).sigma.unwrap();
    assert_eq!((chunked.len(), batched.len(), naive.len()), (10, 10, 10));
    for (l, ((a, b), c)) in batched.iter().zip(&naive).zip(&chunked).enumerate() {
        for (what, x, y, z) in [
            ("lambda", a.lambda, b.lambda, c.lambda),
            ("mean log sigma", a.mean_log_sigma, b.mean_log_sigma, c.mean_log_sigma),
        ] {
            let (x, y, z) = (x.unwrap(), y.unwrap(), z.unwrap());
            assert!(
                (x - y).abs() <= 1e-4 * y.abs(),
                "layer {l}: {what} batched {x} vs naive {y}"
            );
            assert!(
                (z - y).abs() <= 1e-4 * y.abs(),
                "layer {l}: {what} chunked {z} vs naive {y}"
            );
        }
    }
}

/// Probe time of one ViT by phase (README numbers): `VIT_IMAGE=32
/// VIT_BATCH=64 VIT_PROXIES=lswag VIT_BACKEND=cpu|wgpu cargo test --test
/// autoformer -- --ignored --nocapture probe_time`.
#[test]
#[ignore]
fn probe_time_on_the_cpu() {
    use lswag_studio::proxy;
    let image = std::env::var("VIT_IMAGE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let s = std::env::var("VIT_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let names = std::env::var("VIT_PROXIES").unwrap_or_else(|_| "lswag".into());
    let a: AutoformerArch = "{\"embed\":384,\"depth\":13,\"mlp\":[3.5,3,4,3.5,3,3,4,4,3.5,4,3.5,4,3.5],\"heads\":[6,6,5,7,5,5,5,6,6,7,7,6,7]}"
        .parse()
        .unwrap();
    let (net, mut params) = AutoformerNet::new(
        &a,
        AutoformerConfig {
            image_size: image,
            num_classes: 10,
        },
    );
    params.init(InitScheme::KaimingNormal, 0);
    let batch = gaussian_batch(s, [3, image, image], 10, 0);
    let kind = match std::env::var("VIT_BACKEND").as_deref() {
        Ok("wgpu") => BackendKind::Wgpu,
        _ => BackendKind::Cpu,
    };
    let backend = Backend::new(kind);
    let proxies: Vec<_> = proxy::parse_list(&names).unwrap();
    let t = std::time::Instant::now();
    let rec = probe(
        &net,
        &params,
        &batch,
        &backend,
        &ProbeSettings::default(),
        proxy::needs_of(&proxies),
    );
    println!(
        "{} params, {}, image {image}, batch {s}, proxies {names}: {:.1} s; {:?}; {}",
        rec.params,
        kind.name(),
        t.elapsed().as_secs_f64(),
        rec.times,
        lswag_studio::jobs::score::peak_memory(&backend).unwrap_or_default()
    );
}

#[test]
fn resize_is_bilinear_with_half_pixel_centres() {
    use lswag_studio::engine::data::Batch;
    use lswag_studio::jobs::score::resize_batch;
    // One 2 x 2 plane [[0, 1], [2, 3]] -> 4 x 4. Output pixel o samples the
    // source at (o + 0.5) / 2 - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (-> 1).
    let b = Batch {
        images: vec![0.0, 1.0, 2.0, 3.0],
        labels: vec![0],
        shape: [1, 1, 2, 2],
        num_classes: 10,
        source: "t".into(),
        targets: None,
    };
    let r = resize_batch(&b, 4);
    assert_eq!(r.shape, [1, 1, 4, 4]);
    let axis = [0.0f32, 0.25, 0.75, 1.0];
    for (y, fy) in axis.iter().enumerate() {
        for (x, fx) in axis.iter().enumerate() {
            // Bilinear in a plane with value 2y + x is exact: 2 fy + fx.
            assert!(
                (r.images[y * 4 + x] - (2.0 * fy + fx)).abs() < 1e-6,
                "({y}, {x}): {}",
                r.images[y * 4 + x]
            );
        }
    }
}

/// `score --space autoformer`: sampled ViTs within limits go into a score
/// file that the archive layer reads as an AutoFormer archive with profiles.
#[test]
fn score_job_writes_an_autoformer_archive() {
    use lswag_studio::archive::{self, Space};
    use lswag_studio::engine::data::DataSource;
    use lswag_studio::jobs::CancelToken;
    use lswag_studio::jobs::score::{self, ScoreConfig};
    use lswag_studio::space::NetConfig;
    let dir = std::env::temp_dir().join(format!("lswag-autoformer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("vit.jsonl");
    let _ = std::fs::remove_file(&out);
    let config = ScoreConfig {
        net: NetConfig::Autoformer(AutoformerConfig {
            image_size: 32,
            num_classes: 10,
        }),
        seed: 1,
        init: InitScheme::KaimingNormal,
        backend: BackendKind::Cpu,
        data: DataSource::Gaussian,
        batch: 4,
        batch_seed: None,
        proxies: vec!["lswag,swap,params,flops".into()],
        probe: ProbeSettings::default(),
    };
    let keys = score::sample_keys(&config.net, 2, 9, Some((18_000_000, 23_000_000))).unwrap();
    let archs: Vec<AutoformerArch> = keys.iter().map(|k| k.parse().unwrap()).collect();
    assert!(
        archs
            .iter()
            .all(|a| (18_000_000..=23_000_000).contains(&a.params(CountBasis::PAPER)))
    );
    assert_eq!(
        score::run(&archs, &config, &out, &CancelToken::default(), &|_| {}).unwrap(),
        2
    );
    let bytes = std::fs::read(&out).unwrap();
    let (_, a) = archive::parse_any(&bytes, "vit.jsonl", &Default::default()).unwrap();
    assert_eq!(a.space(), &Space::AutoFormer);
    assert_eq!(a.len(), 2);
    assert_eq!(a.profile_count(), 2);
    for (row, key) in a.keys().iter().enumerate() {
        let arch: AutoformerArch = key.parse().unwrap();
        let p = a.profile(row).unwrap();
        // Layers: patch embedding, four per block, head; params at 32 x 32.
        assert_eq!(p.layers.len(), 4 * arch.depth() + 2, "{key}");
        assert_eq!(
            p.params,
            arch.params(CountBasis {
                image_size: 32,
                num_classes: 10
            })
        );
    }
    // Limits nothing satisfies, and ViT keys in another space, are clear errors.
    let e = score::sample_keys(&config.net, 1, 0, Some((40_000_000, 50_000_000)))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("found only 0 distinct architectures with 40000000..=50000000 parameters"),
        "{e}"
    );
    let nb = ScoreConfig {
        net: NetConfig::default_for(&Space::Nb201).unwrap(),
        ..config
    };
    let e = score::run(&archs, &nb, &dir.join("x.jsonl"), &CancelToken::default(), &|_| {}).unwrap_err();
    assert!(e.to_string().contains(&format!("architecture `{}`", archs[0])), "{e}");
}

#[test]
fn key_files_name_the_bad_line() {
    use lswag_studio::space::NetConfig;
    let net = NetConfig::default_for(&lswag_studio::archive::Space::AutoFormer).unwrap();
    let read_autoformer_file =
        |p: &std::path::Path| -> Result<Vec<AutoformerArch>, lswag_studio::jobs::score::ScoreError> {
            Ok(lswag_studio::jobs::score::read_key_list(&net, p)?
                .iter()
                .map(|k| k.parse().unwrap())
                .collect())
        };
    let dir = std::env::temp_dir().join(format!("lswag-autoformer-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("keys.txt");
    let good = arch(320, &[3.0; 12], &[5; 12]).to_string();
    std::fs::write(&path, format!("# two ViTs\n{good}\n\n{}\n", good.replace("320", "321"))).unwrap();
    let e = read_autoformer_file(&path).unwrap_err().to_string();
    assert!(
        e.contains("keys.txt line 4") && e.contains("embed 321 is not one of"),
        "{e}"
    );
    std::fs::write(&path, format!("{good}\n")).unwrap();
    assert_eq!(read_autoformer_file(&path).unwrap(), [arch(320, &[3.0; 12], &[5; 12])]);
    // A byte-order mark (Windows editors) is not part of the first key.
    std::fs::write(&path, format!("\u{feff}{good}\n")).unwrap();
    assert_eq!(read_autoformer_file(&path).unwrap(), [arch(320, &[3.0; 12], &[5; 12])]);
}

/// The same tiny ViT on the wgpu backend (lavapipe where there is no GPU):
/// layers, sigma and patterns as on the CPU.
#[test]
fn wgpu_and_cpu_agree_on_a_tiny_vit() {
    let (net, params) = tiny();
    let batch = gaussian_batch(4, [3, 32, 32], 10, 6);
    let needs = Needs {
        sigma: true,
        patterns: true,
        ..Needs::default()
    };
    let settings = ProbeSettings::default();
    let cpu = probe(&net, &params, &batch, &Backend::new(BackendKind::Cpu), &settings, needs);
    let gpu = probe(
        &net,
        &params,
        &batch,
        &Backend::new(BackendKind::Wgpu),
        &settings,
        needs,
    );
    assert_eq!(cpu.layers, gpu.layers);
    for (l, (a, b)) in cpu.sigma.unwrap().iter().zip(gpu.sigma.unwrap()).enumerate() {
        let (x, y) = (a.lambda.unwrap(), b.lambda.unwrap());
        assert!((x - y).abs() <= 1e-3 * x.abs(), "layer {l}: lambda cpu {x} vs wgpu {y}");
    }
    // Pattern counts: a sign flip of a near-zero pre-activation may differ.
    for (a, b) in cpu.layer_patterns.unwrap().iter().zip(gpu.layer_patterns.unwrap()) {
        assert!(
            a.len().abs_diff(b.len()) <= a.len() / 100 + 1,
            "{} vs {}",
            a.len(),
            b.len()
        );
    }
}
