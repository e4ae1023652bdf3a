//! `score` job: shards, resume after a kill, provenance.

use std::collections::BTreeMap;

use lswag_studio::engine::backend::BackendKind;
use lswag_studio::engine::data::{DataSource, TargetKind};
use lswag_studio::engine::params::InitScheme;
use lswag_studio::engine::probe::ProbeSettings;
use lswag_studio::jobs::CancelToken;
use lswag_studio::jobs::score::{self, ScoreConfig, ScoreLine, Shard};
use lswag_studio::space::NetConfig;
use lswag_studio::space::nb201::{Nb201Config, sample_cells};

fn config() -> ScoreConfig {
    ScoreConfig {
        net: NetConfig::Nb201(Nb201Config {
            channels: 4,
            cells_per_stage: 1,
            num_classes: 10,
            image_size: 32,
        }),
        seed: 3,
        init: InitScheme::KaimingNormal,
        backend: BackendKind::Cpu,
        data: DataSource::Gaussian,
        batch: 8,
        batch_seed: None,
        proxies: vec!["lswag,zico,swap,nwot,params,synflow".into()],
        probe: ProbeSettings::default(),
    }
}

fn scores(path: &std::path::Path) -> BTreeMap<String, ScoreLine> {
    let (_, lines, _) = score::read_score_file(path).unwrap();
    lines.into_iter().map(|l| (l.arch.clone(), l)).collect()
}

fn run(archs: &[lswag_studio::space::nb201::Nb201Arch], out: &std::path::Path) -> usize {
    score::run(archs, &config(), out, &CancelToken::default(), &|_| {}).unwrap()
}

#[test]
fn three_shards_score_exactly_the_unsharded_run_with_identical_values() {
    let dir = std::env::temp_dir().join(format!("lswag-shards-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let archs = sample_cells(7, 11);
    run(&archs, &dir.join("all.jsonl"));
    let all = scores(&dir.join("all.jsonl"));
    assert_eq!(all.len(), 7);
    let mut union = BTreeMap::new();
    for i in 0..3 {
        let shard: Shard = format!("{i}/3").parse().unwrap();
        let out = dir.join(format!("shard{i}.jsonl"));
        run(&shard.select(&archs), &out);
        for (k, mut v) in scores(&out) {
            v.seconds = 0.0;
            assert!(union.insert(k, v).is_none(), "an architecture in two shards");
        }
    }
    let all: BTreeMap<_, _> = all
        .into_iter()
        .map(|(k, mut v)| {
            v.seconds = 0.0;
            (k, v)
        })
        .collect();
    assert_eq!(union, all);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_killed_run_resumes_and_loses_only_the_line_in_flight() {
    let dir = std::env::temp_dir().join(format!("lswag-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("run.jsonl");
    let archs = sample_cells(4, 5);
    run(&archs[..3], &out);
    // Simulate a kill mid-write: cut the last line in half.
    let text = std::fs::read_to_string(&out).unwrap();
    let cut = text.trim_end().rfind('\n').unwrap() + 40;
    std::fs::write(&out, &text[..cut]).unwrap();
    assert_eq!(scores(&out).len(), 2);
    // Resuming scores the lost one and the new one, nothing twice.
    assert_eq!(run(&archs, &out), 2);
    let got = scores(&out);
    assert_eq!(got.len(), 4);
    let lines = std::fs::read_to_string(&out).unwrap().lines().count();
    assert_eq!(lines, 5, "header + 4 architectures");
    // A different configuration refuses to append to this file.
    let mut other = config();
    other.seed = 4;
    let err = score::run(&archs, &other, &out, &CancelToken::default(), &|_| {}).unwrap_err();
    assert!(err.to_string().contains("different configuration"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn connected_cells_get_every_requested_proxy() {
    let dir = std::env::temp_dir().join(format!("lswag-proxies-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("p.jsonl");
    let arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
    run(&[arch.parse().unwrap()], &out);
    let line = scores(&out).remove(arch).unwrap();
    for (name, value) in &line.proxies {
        assert!(value.is_some_and(f64::is_finite), "{name} is {value:?}");
    }
    let profile = line.profile.unwrap();
    assert_eq!(profile.psi_upto(10) as f64, line.proxies["swap"].unwrap());
    assert!((profile.lswag(1, 10) - line.proxies["lswag"].unwrap()).abs() < 1e-9 * profile.lswag(1, 10));
    std::fs::remove_dir_all(&dir).ok();
}

/// ImageNet16-120's setting: CIFAR-10 images halved to 16 x 16 (bilinear
/// with half-pixel centres samples the middle of each 2 x 2 block, so it is
/// the block's mean), and a network whose convolutions cost a quarter.
#[test]
fn a_16_pixel_probe_halves_the_images_and_quarters_the_convolutions() {
    let Some(dir) = lswag_studio::testdata::shared_data_dir() else {
        return;
    };
    let mut c = config();
    c.data = DataSource::Cifar10(dir.join("cifar10/cifar10_test_1000.bin"));
    c.batch = 4;
    let full = score::config_batch(&c).unwrap();
    c.net = c.net.with_input(16, 10).unwrap();
    let half = score::config_batch(&c).unwrap();
    assert_eq!(half.shape, [4, 3, 16, 16]);
    assert_eq!(half.labels, full.labels);
    for (p, plane) in full.images.chunks_exact(32 * 32).enumerate() {
        for (y, x) in [(0, 0), (7, 3), (15, 15)] {
            let block = [(0, 0), (0, 1), (1, 0), (1, 1)].map(|(dy, dx)| plane[(2 * y + dy) * 32 + 2 * x + dx]);
            let mean = block.iter().sum::<f32>() / 4.0;
            let got = half.images[p * 256 + y * 16 + x];
            assert!((got - mean).abs() < 1e-6, "plane {p} ({y}, {x}): {got} vs {mean}");
        }
    }

    let dir = std::env::temp_dir().join(format!("lswag-score16-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let arch: lswag_studio::space::nb201::Nb201Arch =
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
            .parse()
            .unwrap();
    let mut flops = vec![];
    for size in [32, 16] {
        c.net = c.net.with_input(size, 10).unwrap();
        c.proxies = vec!["flops,lswag".into()];
        let out = dir.join(format!("s{size}.jsonl"));
        let _ = std::fs::remove_file(&out);
        score::run(std::slice::from_ref(&arch), &c, &out, &CancelToken::default(), &|_| {}).unwrap();
        let line = scores(&out).into_values().next().unwrap();
        assert!(
            line.proxies["lswag"].is_some_and(f64::is_finite),
            "{size}: {:?}",
            line.proxies
        );
        flops.push(line.proxies["flops"].unwrap() * 1e6);
    }
    // Every layer but the classifier (4 C = 16 features -> 10 classes)
    // scales with the pixel count.
    let head = 16.0 * 10.0;
    assert!((flops[0] - head - 4.0 * (flops[1] - head)).abs() < 0.5, "{flops:?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Architectures probed at once (one worker per rayon thread) give the
/// values of one-at-a-time scoring: inside a one-thread pool the run is
/// serial, in a four-thread pool four probes run together.
#[test]
fn concurrent_probes_give_the_serial_values() {
    let dir = std::env::temp_dir().join(format!("lswag-workers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let archs = sample_cells(6, 5);
    let mut runs = vec![];
    for threads in [1, 4] {
        let out = dir.join(format!("t{threads}.jsonl"));
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        assert_eq!(pool.install(|| run(&archs, &out)), 6);
        let lines: BTreeMap<_, _> = scores(&out)
            .into_iter()
            .map(|(k, mut v)| {
                v.seconds = 0.0;
                (k, v)
            })
            .collect();
        runs.push(lines);
    }
    assert_eq!(runs[0].len(), 6);
    assert_eq!(runs[0], runs[1]);
    std::fs::remove_dir_all(&dir).ok();
}

/// A score file written before the space abstraction (`space`, `nb201` and
/// no `net` in its configuration, as every file of earlier versions has)
/// resumes under today's configuration: its lines count as done.
#[test]
fn a_score_file_of_the_format_before_net_configs_resumes() {
    let dir = std::env::temp_dir().join(format!("lswag-oldformat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("old.jsonl");
    let archs = sample_cells(3, 8);
    run(&archs[..2], &out);
    let text = std::fs::read_to_string(&out).unwrap();
    let new_net = r#""net":{"space":"nb201","channels":4,"cells_per_stage":1,"num_classes":10,"image_size":32}"#;
    assert!(text.contains(new_net), "{}", text.lines().next().unwrap());
    // The header exactly as version 0.1.0 before this change wrote it.
    let old = r#""space":"nb201","nb201":{"channels":4,"cells_per_stage":1,"num_classes":10,"image_size":32}"#;
    std::fs::write(&out, text.replacen(new_net, old, 1)).unwrap();
    assert_eq!(
        run(&archs, &out),
        1,
        "the two old lines are kept, only the third is probed"
    );
    assert_eq!(scores(&out).len(), 3);
    // An old ViT header maps to the ViT network settings.
    let vit = r#"{"space":"autoformer","nb201":{"channels":16,"cells_per_stage":5,"num_classes":10,"image_size":32},"autoformer":{"image_size":32,"num_classes":10},"seed":1,"init":"kaiming_normal","backend":"cpu","data":"Gaussian","batch":4,"batch_seed":null,"proxies":["swap"],"probe":{"grad_splits":null,"pattern_samples":null,"grad_path":"batched"}}"#;
    let c: ScoreConfig = serde_json::from_str(vit).unwrap();
    assert_eq!(
        c.net,
        NetConfig::Autoformer(lswag_studio::space::AutoformerConfig {
            image_size: 32,
            num_classes: 10
        })
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A run resumed from another folder names its images by another path to
/// the same file: it continues; another file of images is refused.
#[test]
fn a_score_file_resumes_when_its_images_are_named_by_another_path() {
    let dir = std::env::temp_dir().join(format!("lswag-datapath-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    for name in ["images.bin", "other.bin"] {
        std::fs::write(dir.join(name), [0u8; 3073]).unwrap();
    }
    let out = dir.join("s.jsonl");
    let with = |p: std::path::PathBuf| ScoreConfig {
        data: DataSource::Cifar10(p),
        ..config()
    };
    score::open_score_file(&out, &with(dir.join("images.bin")), "first 8").unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&out)
        .map(|mut f| {
            std::io::Write::write_all(
                &mut f,
                b"{\"arch\":\"x\",\"proxies\":{},\"profile\":null,\"seconds\":1.0}\n",
            )
        })
        .unwrap()
        .unwrap();
    let same = dir.join("sub").join("..").join("images.bin");
    assert!(score::open_score_file(&out, &with(same), "first 8").is_ok());
    let err = score::open_score_file(&out, &with(dir.join("other.bin")), "first 8").unwrap_err();
    assert!(matches!(err, score::ScoreError::ConfigMismatch { .. }), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_out_of_range_probe_setting_is_refused_by_name_before_the_output_is_created() {
    let dir = std::env::temp_dir().join(format!("lswag-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("never.jsonl");
    let archs = sample_cells(1, 1);
    type Change = Box<dyn Fn(&mut ScoreConfig)>;
    let cases: Vec<(Change, &str)> = vec![
        (Box::new(|c| c.batch = 1), "batch 1"),
        (Box::new(|c| c.batch = 0), "batch 0"),
        // More than 64 samples overflowed the u64 pattern packing (a panic).
        (Box::new(|c| c.batch = 1000), "batch 1000"),
        (Box::new(|c| c.probe.grad_splits = Some(3)), "grad splits 3"),
        (Box::new(|c| c.probe.grad_splits = Some(0)), "grad splits 0"),
        (Box::new(|c| c.probe.grad_splits = Some(1)), "grad splits 1"),
        (Box::new(|c| c.probe.pattern_samples = Some(0)), "pattern samples 0"),
        (Box::new(|c| c.probe.pattern_samples = Some(9)), "pattern samples 9"),
        (Box::new(|c| c.proxies = vec!["".into()]), "proxies: none"),
        (
            Box::new(|c| c.data = DataSource::Procedural { seed: 0, size: 2 }),
            "procedural",
        ),
        // NB201 takes procedural images at their own size: 5 cannot be halved twice.
        (
            Box::new(|c| c.data = DataSource::Procedural { seed: 0, size: 5 }),
            "procedural:0:5: image size 5",
        ),
        (
            Box::new(|c| {
                if let NetConfig::Nb201(n) = &mut c.net {
                    n.image_size = 5;
                }
            }),
            "image size 5",
        ),
        (
            Box::new(|c| {
                if let NetConfig::Nb201(n) = &mut c.net {
                    n.channels = 0;
                }
            }),
            "channels 0",
        ),
        (
            Box::new(|c| {
                if let NetConfig::Nb201(n) = &mut c.net {
                    n.num_classes = 1;
                }
            }),
            "classes 1",
        ),
        (
            Box::new(|c| {
                if let NetConfig::Nb201(n) = &mut c.net {
                    n.cells_per_stage = 0;
                }
            }),
            "cells 0",
        ),
    ];
    for (change, expected) in cases {
        let mut c = config();
        change(&mut c);
        let err = score::run(&archs, &c, &out, &CancelToken::default(), &|_| {}).unwrap_err();
        assert!(err.to_string().contains(expected), "expected `{expected}` in: {err}");
        assert!(!out.exists(), "a refused run ({expected}) left {}", out.display());
    }
    // The defaults of the tests pass, and 2 splits of 8 are fine.
    let mut c = config();
    c.probe.grad_splits = Some(2);
    c.validate().unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_header_without_scores_or_a_cut_header_never_blocks_the_corrected_run() {
    let dir = std::env::temp_dir().join(format!("lswag-header-only-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("run.jsonl");
    let archs = sample_cells(1, 2);
    // A run with other settings that wrote its header and then died.
    run(&archs, &out);
    let text = std::fs::read_to_string(&out).unwrap();
    let header = text.lines().next().unwrap().replace("\"seed\":3", "\"seed\":99");
    assert!(header.contains("\"seed\":99"), "{header}");
    std::fs::write(&out, format!("{header}\n")).unwrap();
    assert_eq!(
        run(&archs, &out),
        1,
        "the header-only file of another config is started afresh"
    );
    assert_eq!(scores(&out).len(), 1);
    // Killed while writing the header itself.
    std::fs::write(&out, &text[..30]).unwrap();
    assert_eq!(run(&archs, &out), 1);
    // A file that is not a score file is never replaced, even without a newline.
    let foreign = dir.join("archive.json");
    std::fs::write(&foreign, "{\"201\": {}}").unwrap();
    assert!(score::run(&archs, &config(), &foreign, &CancelToken::default(), &|_| {}).is_err());
    assert_eq!(std::fs::read_to_string(&foreign).unwrap(), "{\"201\": {}}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_second_writer_of_one_score_file_is_refused_while_the_first_runs() {
    let dir = std::env::temp_dir().join(format!("lswag-lock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("run.jsonl");
    let held = lswag_studio::jobs::output::OutputLock::acquire(&out).unwrap();
    // The lock holds this process's pid: as another process sees it, the
    // holder is alive. Make it look like pid 1's.
    let lock = lswag_studio::jobs::output::OutputLock::lock_path(&out);
    std::fs::write(&lock, "1\n").unwrap();
    let err = score::run(&sample_cells(1, 3), &config(), &out, &CancelToken::default(), &|_| {}).unwrap_err();
    assert!(
        err.to_string().contains("another lswag-studio process (pid 1)"),
        "{err}"
    );
    assert!(!out.exists());
    drop(held);
    assert_eq!(run(&sample_cells(1, 3), &out), 1, "runs once the lock is gone");
    assert!(!lock.exists(), "the lock is released after the run");
    std::fs::remove_dir_all(&dir).ok();
}

/// Peaks measured on this machine (host RSS high-water that `score` prints,
/// MiB; `--sample 1 --seed 0 --proxies all --data procedural`, one probe,
/// `RAYON_NUM_THREADS=1`), with the batch and image size of each run: what
/// the memory model of each space is fitted to.
const MEASURED_PEAKS: &[(&str, Option<&str>, usize, usize, f64)] = &[
    ("nb201", None, 32, 64, 352.0),
    ("nb201", None, 64, 64, 466.0),
    ("nb201", None, 128, 64, 1040.0),
    ("nb201", None, 256, 64, 3744.0),
    ("nb301", None, 32, 64, 4899.0),
    ("nb101", None, 32, 64, 4519.0),
    ("tnb101-micro", Some("class_object"), 64, 32, 529.0),
    ("tnb101-micro", Some("class_object"), 128, 32, 1241.0),
    ("tnb101-macro", Some("class_object"), 128, 32, 689.0),
    ("tnb101-macro", Some("segmentsemantic"), 128, 32, 2135.0),
    ("tnb101-micro", Some("autoencoder"), 256, 32, 9244.0),
    // Nine tiles per sample through the encoder (`inputs_per_sample`): counted
    // as one image, the estimate was 297-405 MiB against 1446 MiB measured on
    // another cell.
    ("tnb101-micro", Some("jigsaw"), 192, 32, 2735.0),
];

/// The estimate of one measured run, and the bytes per output float the
/// measurement implies under the space's fixed bytes.
fn estimate_of_measured(
    space: &str,
    task: Option<&str>,
    size: usize,
    batch: usize,
    measured_mib: f64,
) -> (score::MemoryEstimate, f64) {
    use lswag_studio::space::Space;
    let net = NetConfig::default_for(&Space::from_name(space)).unwrap();
    let net = match task {
        Some(t) => net.with_task(t).unwrap(),
        None => net,
    };
    let net = net
        .with_overrides(&lswag_studio::space::NetOverrides {
            image_size: Some(size),
            ..Default::default()
        })
        .unwrap();
    let key = score::sample_keys(&net, 1, 0, None).unwrap().remove(0);
    let config = ScoreConfig {
        net,
        batch,
        proxies: vec!["all".into()],
        ..config()
    };
    let est = score::estimate_memory(&config, &key, 1).unwrap();
    let model = net.settings().probe_memory();
    let (lo, hi) = model.per_output_float;
    let outputs = (est.high - est.low) as f64 / (hi - lo);
    let rest = est.low as f64 - lo * outputs - model.fixed;
    let implied = (measured_mib * 1048576.0 - rest - model.fixed) / outputs;
    (est, implied)
}

/// Prints each measured run's estimate and the bytes per output float its
/// peak implies (`cargo test --test score_jobs memory_calibration --
/// --ignored --nocapture`), for README's calibration table.
#[test]
#[ignore]
fn memory_calibration() {
    for &(space, task, size, batch, mib) in MEASURED_PEAKS {
        let (est, k) = estimate_of_measured(space, task, size, batch, mib);
        println!(
            "{space} {} {size} px batch {batch}: estimate {} to {}, measured {mib} MiB, {k:.1} bytes per output float",
            task.unwrap_or(""),
            score::format_bytes(est.low),
            score::format_bytes(est.high),
        );
    }
}

/// Every measured peak lies inside its estimate: a run that fits is never
/// refused (the low end is below the peak), and the high end is not
/// exceeded.
#[test]
fn estimates_bracket_the_measured_peaks() {
    for &(space, task, size, batch, mib) in MEASURED_PEAKS {
        let (est, _) = estimate_of_measured(space, task, size, batch, mib);
        let bytes = (mib * 1048576.0) as u64;
        assert!(
            est.low <= bytes && bytes <= est.high,
            "{space} {task:?} {size} px: measured {mib} MiB, estimate {} to {}",
            score::format_bytes(est.low),
            score::format_bytes(est.high)
        );
    }
}

/// Pattern proxies run forward passes without a graph: their estimate is
/// the forward-only one. Measured here on one NB301 cell at batch 64:
/// `score --proxies swap,nwot` 331 MB peak RSS; every proxy on another cell
/// (`bench --space nb301 --proxies all`) 7.0 GB. Each estimate must
/// bracket its measurement, so a SWAP-only run is not refused where only a
/// fraction of a GB is free.
#[test]
fn forward_only_proxies_are_estimated_without_the_gradient_passes() {
    let net = NetConfig::default_for(&lswag_studio::space::Space::from_name("nb301")).unwrap();
    // The cell of `score --space nb301 --sample 1 --seed 3`, where 331 MB was measured.
    let key = score::sample_keys(&net, 1, 3, None).unwrap().remove(0);
    let estimate = |proxies: &str| {
        let config = ScoreConfig {
            net,
            batch: 64,
            proxies: vec![proxies.into()],
            ..config()
        };
        score::estimate_memory(&config, &key, 1).unwrap()
    };
    let patterns = estimate("swap,nwot");
    let all = estimate("all");
    let gb = |b: u64| b as f64 / 1e9;
    assert!(gb(patterns.low) <= 0.331 && gb(patterns.high) >= 0.331, "{patterns:?}");
    assert!(gb(all.low) <= 7.0 && gb(all.high) >= 7.0 * 0.8, "{all:?}");
    // Adding one gradient proxy brings the gradient passes back.
    assert_eq!(estimate("swap,zico"), estimate("zico,nwot,swap"));
    assert!(estimate("swap,zico").low > 2 * patterns.high);
}

#[test]
fn a_probe_that_cannot_fit_in_memory_is_refused_before_the_output_exists() {
    // NB201 with C = 64 at 1024 x 1024, batch 64: 4 x the channels and 1024 x
    // the pixels of the 32-pixel run whose outputs the NB201 model puts at 2.8
    // bytes a float over 190 MiB (measured 352 MiB), some 140 GiB.
    let config = ScoreConfig {
        net: NetConfig::Nb201(Nb201Config {
            channels: 64,
            cells_per_stage: 5,
            num_classes: 10,
            image_size: 1024,
        }),
        batch: 64,
        ..config()
    };
    let keys = vec![sample_cells(1, 0)[0].to_string()];
    let m = score::run_memory(&config, &keys).unwrap();
    assert!(m.low > 100 << 30 && m.low <= m.high, "{m:?}");
    let dir = std::env::temp_dir().join(format!("lswag-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("big.jsonl");
    let e = score::run(&keys, &config, &out, &CancelToken::default(), &|_| {}).unwrap_err();
    assert!(
        e.to_string().starts_with("memory:")
            && e.to_string().contains("1024 x 1024")
            && e.to_string().contains("LSWAG_MEMORY_CHECK=off runs it anyway"),
        "{e}"
    );
    assert!(!out.exists(), "a refused run leaves no output behind");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_image_folder_feeds_the_probe_at_the_networks_size() {
    let dir = std::env::temp_dir().join(format!("lswag-folder-score-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // 8 photos of two classes at an odd size, not square.
    for i in 0..8u32 {
        let class = dir.join(if i % 2 == 0 { "a" } else { "b" });
        std::fs::create_dir_all(&class).unwrap();
        let img = image::RgbImage::from_fn(40, 30, |x, y| {
            image::Rgb([(x * 6) as u8, (y * 8) as u8, (i * 30) as u8])
        });
        img.save(class.join(format!("{i}.png"))).unwrap();
    }
    let config = ScoreConfig {
        data: DataSource::Folder(dir.clone()),
        ..config()
    };
    let batch = score::config_batch(&config).unwrap();
    assert_eq!(batch.shape, [8, 3, 32, 32]);
    assert_eq!(batch.labels, [0, 0, 0, 0, 1, 1, 1, 1]);
    let out = dir.join("s.jsonl");
    let archs = sample_cells(2, 0);
    score::run(&archs, &config, &out, &CancelToken::default(), &|_| {}).unwrap();
    let (prov, lines, _) = score::read_score_file(&out).unwrap();
    assert!(
        prov.batch_source.contains("folder:") && prov.batch_source.contains("2 classes"),
        "{}",
        prov.batch_source
    );
    assert!(lines.iter().all(|l| l.proxies["lswag"].is_some()));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--init source` is the benchmark builder's own initialisation: the default for
/// TransNAS-Bench-101, whose builder the studio follows, and refused by name elsewhere.
#[test]
fn init_source_is_taken_only_where_the_builders_init_is_recorded() {
    let mut nb201 = config();
    nb201.init = InitScheme::Source;
    let err = nb201.validate().unwrap_err().to_string();
    assert!(err.contains("init source") && err.contains("nb201"), "{err}");
    let tnb = NetConfig::default_for(&lswag_studio::space::Space::from_name("tnb101-micro")).unwrap();
    assert_eq!(tnb.settings().default_init(), InitScheme::Source);
    assert_eq!(nb201.net.settings().default_init(), InitScheme::KaimingNormal);
    let ok = ScoreConfig {
        net: tnb.with_input(64, tnb.num_classes()).unwrap(),
        ..nb201
    };
    ok.validate().unwrap();
}

/// `folder:DIR,targets:DIR` gives TransNAS-Bench-101's segmentation its label maps: the
/// batch carries them at the network's side, the score file says so, and L-SWAG differs from
/// the run on the synthetic targets. A task that takes no target images refuses the folder.
#[test]
fn target_folders_feed_the_pixel_tasks() {
    use lswag_studio::space::tnb101::{Task, Tnb101Config};
    let dir = std::env::temp_dir().join(format!("lswag-targets-score-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (images, targets) = (dir.join("images"), dir.join("labels"));
    std::fs::create_dir_all(&images).unwrap();
    std::fs::create_dir_all(&targets).unwrap();
    for i in 0..2u32 {
        image::RgbImage::from_fn(80, 64, |x, y| {
            image::Rgb([(x * 3) as u8, (y * 4) as u8, (i * 90) as u8])
        })
        .save(images.join(format!("{i}.jpg")))
        .unwrap();
        // Left half class 2 + i, right half class 16.
        image::GrayImage::from_fn(80, 64, |x, _| image::Luma([if x < 40 { 2 + i as u8 } else { 16 }]))
            .save(targets.join(format!("{i}.png")))
            .unwrap();
    }
    let seg = Tnb101Config {
        task: Task::Segmentsemantic,
        image_size: 64,
        channels: 8,
    };
    let config = ScoreConfig {
        net: NetConfig::Tnb101Micro(seg),
        init: InitScheme::Source,
        data: format!("folder:{},targets:{}", images.display(), targets.display())
            .parse()
            .unwrap(),
        batch: 2,
        proxies: vec!["lswag".into()],
        ..config()
    };
    let batch = score::config_batch(&config).unwrap();
    let t = batch.targets.as_ref().unwrap();
    assert_eq!((t.kind, t.values.len()), (TargetKind::Classes(17), 2 * 64 * 64));
    // The 80 x 64 map is centre-cropped to columns 8..72: the first 32 columns of a row are
    // class 2 (image 0), the last 32 class 16.
    assert_eq!(&t.values[..64], [[2.0f32; 32], [16.0; 32]].concat());
    let archs = ["(3, 1, 0, 2, 1, 3)".to_string()];
    let score_with = |config: &ScoreConfig, name: &str| {
        let out = dir.join(name);
        score::run(&archs, config, &out, &CancelToken::default(), &|_| {}).unwrap();
        let (prov, lines, _) = score::read_score_file(&out).unwrap();
        (prov.batch_source, lines[0].proxies["lswag"].unwrap())
    };
    let (source, with_targets) = score_with(&config, "targets.jsonl");
    assert!(
        source.contains("targets:") && source.contains("label maps, 17 classes"),
        "{source}"
    );
    let synthetic = ScoreConfig {
        data: DataSource::Folder(images.clone()),
        ..config.clone()
    };
    let (_, without) = score_with(&synthetic, "synthetic.jsonl");
    assert!(with_targets.is_finite() && (with_targets - without).abs() > 1e-6 * without.abs());
    let class_object = ScoreConfig {
        net: NetConfig::Tnb101Micro(Tnb101Config {
            task: Task::ClassObject,
            ..seg
        }),
        ..config
    };
    let err = score::config_batch(&class_object).unwrap_err().to_string();
    assert!(
        err.contains("takes no target images") && err.contains("segmentsemantic"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Procedural images bring their scenes' targets to the pixel and layout tasks, resized with
/// the images (class maps by nearest neighbour, so they stay classes): a 32-pixel scene at the
/// network's 64 is each target pixel doubled.
#[test]
fn procedural_scenes_give_the_tasks_their_targets() {
    use lswag_studio::engine::procedural;
    use lswag_studio::space::tnb101::{Task, Tnb101Config};
    let with_task = |task| ScoreConfig {
        net: NetConfig::Tnb101Micro(Tnb101Config {
            task,
            image_size: 64,
            channels: 8,
        }),
        init: InitScheme::Source,
        data: "procedural:3:32".parse().unwrap(),
        batch: 2,
        ..config()
    };
    let seg = score::config_batch(&with_task(Task::Segmentsemantic)).unwrap();
    let t = seg.targets.unwrap();
    assert_eq!((t.kind, t.values.len()), (TargetKind::Classes(17), 2 * 64 * 64));
    let scene = procedural::render_scene(3, 1, 32);
    for (y, x) in [(0, 0), (17, 40), (63, 63), (31, 9)] {
        assert_eq!(
            t.values[64 * 64 + y * 64 + x],
            scene.segments[(y / 2) * 32 + x / 2],
            "({y}, {x})"
        );
    }
    let layout = score::config_batch(&with_task(Task::RoomLayout)).unwrap();
    assert_eq!(layout.targets.unwrap().values[9..], scene.layout);
    assert!(seg.source.contains("the scenes' label maps"), "{}", seg.source);
    assert!(
        score::config_batch(&with_task(Task::ClassObject))
            .unwrap()
            .targets
            .is_none()
    );
}
