//! Training and the mini-benchmark builder: training learns, a cell whose
//! output is cut off learns nothing, the builder resumes after a kill, and
//! the procedural samples picture stays what the generator draws.
//!
//! `UPDATE_SNAPSHOTS=1 cargo test --test train` rewrites
//! `screenshots/procedural.png`.

use std::path::PathBuf;

use lswag_studio::archive;
use lswag_studio::engine::backend::{Backend, BackendKind};
use lswag_studio::engine::data::{DataSource, load_split};
use lswag_studio::engine::params::InitScheme;
use lswag_studio::engine::procedural;
use lswag_studio::engine::train::{TrainConfig, train};
use lswag_studio::jobs::CancelToken;
use lswag_studio::jobs::build_bench::{self, BuildConfig, BuildEvent};
use lswag_studio::space::nb201::{Nb201Arch, Nb201Config, Nb201Net};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lswag-train-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tiny(channels: usize) -> Nb201Config {
    Nb201Config {
        channels,
        cells_per_stage: 1,
        num_classes: 10,
        image_size: 32,
    }
}

/// A conv-heavy cell on 16 x 16 procedural images: the loss falls and the
/// validation accuracy clearly beats chance (10%; with 200 balanced
/// validation images, 20% is 4.7 binomial standard deviations above it).
#[test]
fn training_learns_the_procedural_classes() {
    let arch = Nb201Arch::parse_any(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    )
    .unwrap();
    let (net, mut params) = Nb201Net::new(arch, tiny(8));
    params.init(InitScheme::KaimingNormal, 1);
    let src = DataSource::Procedural { seed: 0, size: 16 };
    let (tr, va) = load_split(&src, 1280, 200).unwrap();
    let config = TrainConfig {
        epochs: 4,
        batch_size: 32,
        ..TrainConfig::default()
    };
    let backend = Backend::new(BackendKind::Cpu);
    let r = train(&net, &mut params, &tr, &va, &config, &backend, &|| false, &mut |_| {}).unwrap();
    eprintln!("{r:?}");
    assert!(!r.diverged && !r.stopped);
    assert_eq!(r.steps, 4 * 40);
    let (first, last) = (r.epochs[0].loss, r.epochs[3].loss);
    assert!(last < first - 0.2, "loss {first:.3} -> {last:.3}");
    assert!(r.val.accuracy >= 20.0, "validation accuracy {:.1}%", r.val.accuracy);
}

/// With every edge into the output node `none`, the cell outputs zeros, so
/// the logits do not depend on the image: one class is predicted for all,
/// which on a balanced validation set (labels i % 10 over 200 consecutive
/// indices) is exactly 10% accuracy.
#[test]
fn a_cut_off_cell_predicts_one_class() {
    let arch = Nb201Arch::parse_any("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|").unwrap();
    let (net, mut params) = Nb201Net::new(arch, tiny(4));
    params.init(InitScheme::KaimingNormal, 2);
    let src = DataSource::Procedural { seed: 0, size: 16 };
    let (tr, va) = load_split(&src, 128, 200).unwrap();
    let config = TrainConfig {
        epochs: 1,
        batch_size: 32,
        ..TrainConfig::default()
    };
    let backend = Backend::new(BackendKind::Cpu);
    let r = train(&net, &mut params, &tr, &va, &config, &backend, &|| false, &mut |_| {}).unwrap();
    assert!((r.val.accuracy - 10.0).abs() < 1e-9, "{}", r.val.accuracy);
}

/// Training runs on wgpu too (lavapipe in CI) and follows the CPU run:
/// the same host-side updates from gradients that agree to f32 rounding,
/// so after 4 steps the mean training loss agrees to 1e-3 and the
/// validation loss to 1e-2 (relative).
#[test]
fn training_on_wgpu_follows_the_cpu() {
    let adapters = lswag_studio::engine::backend::wgpu_adapters();
    if adapters.is_empty() {
        let required = std::env::var("LSWAG_REQUIRE_WGPU").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "LSWAG_REQUIRE_WGPU=1 but no wgpu adapter (install mesa-vulkan-drivers)"
        );
        eprintln!("note: no wgpu adapter; skipping wgpu training");
        return;
    }
    let arch = Nb201Arch::parse_any(
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    )
    .unwrap();
    let src = DataSource::Procedural { seed: 0, size: 8 };
    let (tr, va) = load_split(&src, 128, 40).unwrap();
    let config = TrainConfig {
        epochs: 1,
        batch_size: 32,
        ..TrainConfig::default()
    };
    let run = |kind| {
        let (net, mut params) = Nb201Net::new(arch, tiny(4));
        params.init(InitScheme::KaimingNormal, 5);
        train(
            &net,
            &mut params,
            &tr,
            &va,
            &config,
            &Backend::new(kind),
            &|| false,
            &mut |_| {},
        )
        .unwrap()
    };
    let (cpu, gpu) = (run(BackendKind::Cpu), run(BackendKind::Wgpu));
    let rel = |a: f64, b: f64| (a - b).abs() / a.abs().max(1e-12);
    assert!(rel(cpu.epochs[0].loss, gpu.epochs[0].loss) < 1e-3, "{cpu:?}\n{gpu:?}");
    assert!(rel(cpu.val.loss, gpu.val.loss) < 1e-2, "{cpu:?}\n{gpu:?}");
}

fn tiny_build(sample: usize) -> BuildConfig {
    BuildConfig {
        space: "nb201".into(),
        nb201: tiny(2),
        sample,
        seed: 3,
        init: InitScheme::KaimingNormal,
        backend: BackendKind::Cpu,
        data: DataSource::Procedural { seed: 0, size: 8 },
        train_images: 64,
        val_images: 20,
        train: TrainConfig {
            epochs: 1,
            batch_size: 32,
            ..TrainConfig::default()
        },
    }
}

/// Cancel after the first architecture, cut the log mid-line as a kill
/// would, resume: the first line is kept as it was, the rest is trained,
/// and the archive carries every validation accuracy as ground truth.
#[test]
fn build_benchmark_resumes_after_a_kill_and_writes_the_truth() {
    let dir = temp_dir("resume");
    let (log, out) = (dir.join("b.train.jsonl"), dir.join("b.lswag"));
    let _ = std::fs::remove_file(&log);
    let config = tiny_build(3);
    let cancel = CancelToken::default();
    let c2 = cancel.clone();
    let stop_after_one = move |e: BuildEvent| {
        if let BuildEvent::Trained { .. } = e {
            c2.cancel();
        }
    };
    assert_eq!(
        build_bench::run(&config, &log, &out, &cancel, &stop_after_one).unwrap(),
        1
    );
    assert!(!out.exists(), "no archive before every architecture is trained");
    let (_, first, _) = build_bench::read_log(&log).unwrap();
    assert_eq!(first.len(), 1);
    // A kill mid-write leaves half a line.
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("{\"arch\": \"|nor_conv");
    std::fs::write(&log, text).unwrap();

    let trained = build_bench::run(&config, &log, &out, &CancelToken::default(), &|_| {}).unwrap();
    assert_eq!(trained, 2);
    let (prov, lines, _) = build_bench::read_log(&log).unwrap();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], first[0]);
    assert_eq!(prov.config, config);
    let a = archive::read_native(&out).unwrap();
    assert_eq!(a.len(), 3);
    let task = a.require_task("procedural_valid_1ep").unwrap();
    for l in &lines {
        let row = a.index_of(&l.arch).unwrap();
        assert_eq!(task.truth()[row], l.val_acc, "{}", l.arch);
        assert!((0.0..=100.0).contains(&l.val_acc));
    }
    // A different configuration does not silently mix into the log.
    let other = BuildConfig { seed: 4, ..config };
    let e = build_bench::run(&other, &log, &out, &CancelToken::default(), &|_| {}).unwrap_err();
    assert!(
        e.to_string().contains("b.train.jsonl") && e.to_string().contains("different configuration"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `screenshots/procedural.png` (32 x 32, shown at 3x) and
/// `screenshots/procedural-16.png` (16 x 16 as the demo trains on, at 6x):
/// one row per class (label order), eight samples each, seed 0. Compared
/// with the committed pictures (a few levels of tolerance for libm
/// differences between platforms); `UPDATE_SNAPSHOTS=1` rewrites them.
#[test]
fn procedural_samples_picture() {
    for (size, scale, name) in [(32, 3, "procedural.png"), (16, 6, "procedural-16.png")] {
        let img = procedural::sample_grid(0, size, 8, scale);
        let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/screenshots")).join(name);
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() || !path.exists() {
            img.save(&path).unwrap();
            continue;
        }
        let old = image::open(&path).unwrap().to_rgb8();
        assert_eq!(old.dimensions(), img.dimensions(), "regenerate with UPDATE_SNAPSHOTS=1");
        let differing = old
            .pixels()
            .zip(img.pixels())
            .filter(|(a, b)| a.0.iter().zip(b.0.iter()).any(|(x, y)| x.abs_diff(*y) > 3))
            .count();
        assert!(differing < 200, "{differing} pixels differ from {}", path.display());
    }
}
