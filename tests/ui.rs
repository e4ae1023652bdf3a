//! UI tests with egui_kittest on the wgpu renderer (lavapipe where there is
//! no GPU): click through the panels, move the window, run LIBRA, and keep
//! one snapshot per panel in `screenshots/`.
//!
//! Regenerate the pictures with
//!
//! ```text
//! UPDATE_SNAPSHOTS=1 cargo test --test ui
//! ```
//!
//! (`UPDATE_SNAPSHOTS=force` rewrites them even when they match.) A failing
//! comparison leaves `NAME.new.png` and `NAME.diff.png` next to the
//! snapshot.

use std::path::{Path, PathBuf};

use eframe::egui;
use egui_kittest::kittest::Queryable;
use egui_kittest::{Harness, SnapshotOptions};
use lswag_studio::ui::app::{AppOptions, Panel, StudioApp, demo_dataset};
use lswag_studio::ui::export::FolderDialogs;
use lswag_studio::ui::model::Dataset;

const SIZE: [f32; 2] = [1400.0, 900.0];

fn snapshot_options() -> SnapshotOptions {
    SnapshotOptions::new()
        .output_path(concat!(env!("CARGO_MANIFEST_DIR"), "/screenshots"))
        .threshold(1.0)
        .max_failed_pixels(400)
}

fn harness_with(opts: AppOptions, panel: Panel, dark: bool) -> Harness<'static, StudioApp> {
    let mut app = StudioApp::new(opts);
    app.state.panel = panel;
    app.state.dark = dark;
    let mut h = Harness::builder()
        .with_size(SIZE)
        .with_options(snapshot_options())
        .with_max_steps(24)
        .wgpu()
        .build_ui_state(|ui, app: &mut StudioApp| app.show(ui), app);
    h.run();
    h
}

fn demo() -> Dataset {
    demo_dataset().0
}

/// The demo's ground-truth task: validation accuracy after 2 epochs on the
/// procedural images.
const DEMO_TASK: &str = "procedural_valid_2ep";

fn harness(panel: Panel) -> Harness<'static, StudioApp> {
    harness_with(AppOptions::for_tests(demo()), panel, false)
}

/// The demo carries its own ground truth: each of its 200 cells has a
/// validation accuracy (a percentage), a layer profile and a value for the
/// proxies every score run writes; and it opens fast enough for a start
/// under 2 s (measured here in the debug build).
#[test]
fn demo_has_its_own_ground_truth_and_opens_fast() {
    let t = std::time::Instant::now();
    let (ds, note) = demo_dataset();
    let opened = t.elapsed();
    assert!(note.is_none(), "{note:?}");
    assert!(opened.as_secs_f64() < 2.0, "{opened:?}");
    drop(ds);
    let a = lswag_studio::archive::decode_native(lswag_studio::ui::app::DEMO_BYTES, "demo.lswag").unwrap();
    assert_eq!(a.len(), 200);
    let task = a.require_task(DEMO_TASK).unwrap();
    assert!(
        task.truth().iter().all(|v| (0.0..=100.0).contains(v)),
        "{:?}",
        task.truth()
    );
    assert_eq!(a.profile_count(), 200);
    for proxy in ["lswag", "zico", "swap", "nwot", "synflow", "params", "flops"] {
        let values = task.proxy(proxy).unwrap_or_else(|| panic!("{proxy} missing"));
        assert!(values.iter().filter(|v| v.is_finite()).count() >= 190, "{proxy}");
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lswag-ui-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn archive_panel() {
    let mut h = harness(Panel::Archive);
    assert!(h.query_all_by_label("Open archive…").count() >= 1);
    h.get_by_label_contains("Architectures of");
    // Sort by truth, best first.
    h.get_by_label("truth").click();
    h.run();
    assert_eq!(h.state().state.archive.sort.as_deref(), Some("truth"));
    assert!(h.state().state.archive.descending);
    h.remove_cursor();
    h.run();
    h.snapshot("archive");
}

#[test]
fn layers_panel_moves_the_window() {
    let mut h = harness(Panel::Layers);
    assert_eq!(h.state().state.layers.window, (1, 10));
    let all_layers = h.state().live_window_rho();
    assert!(all_layers.is_some(), "live rho for [1, 10]");
    h.remove_cursor();
    h.run();
    h.snapshot("layers");

    // Click a heatmap cell: the window follows and rho is recomputed.
    h.get_by_label_contains("Window [3, 7]").click();
    h.run();
    assert_eq!(h.state().state.layers.window, (3, 7));
    let rho_37 = h.state().live_window_rho();
    assert!(rho_37.is_some());
    assert_ne!(rho_37, all_layers);

    // Drag the end handle one bin to the left.
    let handle = h.get_by_label("Window end handle").rect();
    let from = handle.center();
    let bin_width = {
        let start = h.get_by_label("Window start handle").rect().center().x;
        (from.x - start) / 5.0
    };
    h.hover_at(from);
    h.run();
    h.drag_at(from);
    h.run();
    let to = from - egui::vec2(bin_width, 0.0);
    h.hover_at(to);
    h.run();
    h.drop_at(to);
    h.run();
    assert_eq!(h.state().state.layers.window, (3, 6));
    h.remove_cursor();
    h.run();
    h.snapshot("layers-window");
}

#[test]
fn layers_panel_dark_theme() {
    let mut h = harness_with(AppOptions::for_tests(demo()), Panel::Layers, true);
    h.get_by_label("Light").click();
    h.run();
    assert!(!h.state().state.dark);
    h.get_by_label("Dark").click();
    h.run();
    assert!(h.state().state.dark);
    h.remove_cursor();
    h.run();
    h.snapshot("layers-dark");
}

#[test]
fn proxies_panel_shows_a_scatter_for_the_clicked_cell() {
    let mut h = harness(Panel::Proxies);
    assert!(h.query_all_by_label_contains("IG(").count() > 1);
    h.get_by_label_contains(&format!("nwot on {DEMO_TASK}: Spearman"))
        .click();
    h.run();
    assert_eq!(
        h.state().state.proxies.selected,
        Some(("nwot".to_string(), DEMO_TASK.to_string()))
    );
    h.get_by_label_contains("Rank of nwot");
    h.remove_cursor();
    h.run();
    h.snapshot("proxies");
    // The colour scale fitted to the values: -0.357..0.655 here, so the
    // strongest proxy is the darkest blue, not a mid blue of -1..1.
    h.get_by_label("colour scale fitted to the data").click();
    h.run();
    assert!(h.state().state.proxies.fit_colours);
    h.remove_cursor();
    h.run();
    h.snapshot("proxies-fitted");
}

#[test]
fn libra_panel_runs_libra_and_the_ablations() {
    let mut h = harness(Panel::Libra);
    h.get_by_label_contains("z1 = ");
    h.get_by_label_contains("Ensemble ρ = ");
    h.get_by_label("Run ablations").click();
    h.run();
    h.remove_cursor();
    h.run();
    h.snapshot("libra");
    h.get_by_label_contains("z2 min IG / z3 bias matching").scroll_to_me();
    h.run();
    h.remove_cursor();
    h.run();
    h.snapshot("libra-ablations");
}

#[test]
fn tabs_switch_panels() {
    let mut h = harness(Panel::Archive);
    for (label, panel) in [
        ("Layers", Panel::Layers),
        ("Proxies", Panel::Proxies),
        ("LIBRA", Panel::Libra),
        ("Search", Panel::Search),
        ("Archive", Panel::Archive),
    ] {
        h.get_by_label(label).click();
        h.run();
        assert_eq!(h.state().state.panel, panel);
    }
}

#[test]
fn search_panel_runs_an_evolution_and_draws_it_live() {
    let ds = demo();
    let mut opts = AppOptions::for_tests(ds);
    opts.state.search.out_dir = Some(temp_dir("search"));
    // L-SWAG over bins 3..8 as the fitness, from the Layers window.
    opts.state.layers.window = (3, 8);
    let mut h = harness_with(opts, Panel::Search, false);
    h.get_by_label("Start search").click();
    h.run();
    let result = h.state().search_result().cloned().expect("the inline search finished");
    assert_eq!(result.evaluations, 100);
    assert!(!result.cancelled);
    // Every candidate is one of the 200 scored cells, so it has ground truth.
    assert!(result.truth.is_some());
    h.get_by_label_contains("Rank by fitness vs true rank (n = 100");
    h.get_by_label_contains("Top 10 by fitness");
    h.get_by_label_contains("evolution · L-SWAG[3-8]");
    h.remove_cursor();
    h.run();
    h.snapshot("search");
}

#[test]
fn panels_without_ground_truth_say_so() {
    let ds = Dataset::synthetic_scores_only(200, 4);
    let mut h = harness_with(AppOptions::for_tests(ds), Panel::Layers, false);
    assert!(h.query_all_by_label_contains("has no ground truth").count() >= 1);
    for (label, says) in [
        ("Proxies", "No task of this archive has ground truth"),
        ("LIBRA", "has no ground truth"),
    ] {
        h.get_by_label(label).click();
        h.run();
        assert!(h.query_all_by_label_contains(says).count() >= 1, "{label}");
    }
    h.get_by_label("Layers").click();
    h.run();
    snapshot_curves_per_depth(&mut h, "layers-no-truth");
}

/// Switches the Layers panel to one curve per depth L and snapshots it.
fn snapshot_curves_per_depth(h: &mut Harness<'static, StudioApp>, name: &str) {
    h.get_by_label("one curve per depth L").click();
    h.run();
    assert!(h.state().state.layers.by_depth);
    h.remove_cursor();
    h.run();
    h.snapshot(name);
}

#[test]
fn unreadable_file_shows_the_file_and_the_reason() {
    let dir = temp_dir("bad-file");
    let bad = dir.join("broken.csv");
    std::fs::write(&bad, b"\x00\x01\x02 not an archive").unwrap();
    let mut opts = AppOptions::for_tests(demo());
    opts.dialogs = Box::new(FolderDialogs {
        dir: dir.clone(),
        open: Some(bad.clone()),
    });
    let mut h = harness_with(opts, Panel::Archive, false);
    h.get_all_by_label("Open archive…").next().unwrap().click();
    h.run();
    let errors = &h.state().msgs.errors;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].file.contains("broken.csv"));
    assert!(h.query_all_by_label_contains("broken.csv").count() >= 1);
    h.get_by_label("Dismiss").click();
    h.run();
    assert!(h.state().msgs.errors.is_empty());
}

#[test]
fn opening_a_csv_switches_the_archive_and_remembers_it() {
    let dir = temp_dir("open-csv");
    let csv = dir.join("tiny.csv");
    std::fs::write(
        &csv,
        "arch,cifar10,zico,params\n\
         |nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|,93.1,5.0,1.2\n\
         |avg_pool_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|,55.0,1.0,0.2\n\
         |nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|,88.4,3.0,0.8\n",
    )
    .unwrap();
    let mut opts = AppOptions::for_tests(demo());
    opts.dialogs = Box::new(FolderDialogs {
        dir: dir.clone(),
        open: Some(csv.clone()),
    });
    let mut h = harness_with(opts, Panel::Archive, false);
    h.get_all_by_label("Open archive…").next().unwrap().click();
    h.run();
    assert!(h.state().msgs.errors.is_empty(), "{:?}", h.state().msgs.errors);
    assert_eq!(h.state().dataset().len(), 3);
    assert_eq!(h.state().state.recent, vec![csv.clone()]);
    assert_eq!(h.state().state.last_archive, Some(csv));
}

#[test]
fn exports_write_exactly_what_is_drawn() {
    let dir = temp_dir("exports");
    let mut opts = AppOptions::for_tests(demo());
    opts.dialogs = Box::new(FolderDialogs {
        dir: dir.clone(),
        open: None,
    });
    let mut h = harness_with(opts, Panel::Layers, false);
    // The first CSV button belongs to the curves.
    h.get_all_by_label("CSV…").next().unwrap().click();
    h.run();
    let written = h.state().exporter.written.clone();
    assert_eq!(written.len(), 1, "{written:?}");
    let text = std::fs::read_to_string(&written[0]).unwrap();
    assert!(
        text.starts_with("curve,depth_layers,bin,mean,std,architectures\n"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 11);

    // A PNG of the same figure: the window as rendered, cropped to the plot
    // (the Screenshot… item of its Figure… menu).
    h.get_all_by_label("Figure…").next().unwrap().click();
    h.run();
    h.get_by_label("Screenshot…").click();
    h.run();
    h.run();
    h.run();
    let png = h.state().exporter.written.last().cloned().unwrap();
    assert_eq!(png.extension().unwrap(), "png");
    let (w, height) = image_size(&png);
    assert!(w > 600 && height > 150 && w <= SIZE[0] as u32, "{w} x {height}");

    // A table as Markdown.
    h.get_by_label("Archive").click();
    h.run();
    h.get_all_by_label("Markdown…").next().unwrap().click();
    h.run();
    let md = h.state().exporter.written.last().cloned().unwrap();
    assert_eq!(md.extension().unwrap(), "md");
    assert!(std::fs::read_to_string(md).unwrap().starts_with("| task | records |"));
}

#[test]
fn state_round_trips_through_serde() {
    let mut h = harness(Panel::Proxies);
    h.state_mut().state.layers.window = (2, 8);
    let json = serde_json::to_string(&h.state().state).unwrap();
    let back: lswag_studio::ui::app::State = serde_json::from_str(&json).unwrap();
    assert_eq!(back, h.state().state);
    // Unknown or missing fields fall back to defaults.
    let partial: lswag_studio::ui::app::State = serde_json::from_str("{\"dark\": true}").unwrap();
    assert!(partial.dark);
    assert_eq!(partial.layers.window, (1, 10));
}

/// Width and height of a PNG, from its IHDR chunk.
fn image_size(path: &std::path::Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (be(16), be(20))
}

/// Starts Score… on a 40-cell archive without profiles, with a tiny CPU
/// network (C = 4, N = 1, batch 8) writing a fresh score file in the test
/// folder `name`: `sample` cells, or (`None`) all of them. Returns the
/// harness, the score file and the archive's generation.
fn start_tiny_score_run(
    name: &str,
    cells: usize,
    sample: Option<usize>,
) -> (Harness<'static, StudioApp>, PathBuf, u64) {
    use lswag_studio::ui::scoring::{BackendChoice, ScoreSettings};
    let out = temp_dir(name).join("scores.jsonl");
    let _ = std::fs::remove_file(&out);
    let ds = Dataset::synthetic_scores_only(cells, 9);
    let generation = ds.generation;
    let mut h = harness_with(AppOptions::for_tests(ds), Panel::Layers, false);
    h.state_mut().state.layers.score = ScoreSettings {
        all: sample.is_none(),
        sample: sample.unwrap_or(ScoreSettings::default().sample),
        seed: 3,
        backend: BackendChoice::Cpu,
        batch: 8,
        channels: 4,
        cells: 1,
        out: Some(out.clone()),
        ..ScoreSettings::default()
    };
    h.get_by_label("Score…").click();
    h.run();
    h.get_by_label("Start scoring").click();
    (h, out, generation)
}

#[test]
fn score_job_runs_in_the_background_and_fills_the_archive() {
    let (mut h, out, generation) = start_tiny_score_run("score", 40, Some(2));
    // A spinner repaints continuously while the job runs: step, not run.
    h.run_steps(2);
    assert!(h.state().is_busy(), "the job started");
    let start = std::time::Instant::now();
    // The UI keeps drawing frames while the worker scores.
    let mut frames = 0;
    while h.state().is_busy() && start.elapsed() < std::time::Duration::from_secs(300) {
        h.step();
        frames += 1;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    h.run();
    assert!(!h.state().is_busy(), "scoring did not finish");
    assert!(frames > 1);
    assert!(h.state().msgs.errors.is_empty(), "{:?}", h.state().msgs.errors);
    // The results are on disk and attached: a new generation of the data.
    let lines = std::fs::read_to_string(&out).unwrap();
    assert_eq!(lines.lines().count(), 3, "{lines}");
    assert_ne!(h.state().dataset().generation, generation);
    let info = h.state().msgs.info.clone().unwrap_or_default();
    assert!(info.contains("attached"), "{info}");
    // Batch 8 leaves 8 pattern samples, and these tiny cells show all 2^8 =
    // 256 patterns (as `score` shows on the same settings): the run says Psi
    // is at its ceiling.
    h.get_by_label("Psi at its 2^8 ceiling on 2 architectures: L-SWAG ranks by Lambda there");
}

/// Frame time with all 15,625 NB201 architectures (the size of the space):
/// the layers panel while the window moves, and the proxies panel with a
/// 15,625-point scatter. Timing only, no rendering; run with
/// `cargo test --test ui -- --ignored --nocapture frame_time` (add
/// `--release` for numbers comparable to the shipped binary).
#[test]
#[ignore]
fn frame_time_with_15625_architectures() {
    let ds = Dataset::synthetic(15_625, 0);
    let mut h = harness_with(AppOptions::for_tests(ds), Panel::Layers, false);
    let windows = [(1, 10), (2, 8), (3, 7), (4, 9), (1, 5), (5, 10)];
    let frames = 60;
    let t = std::time::Instant::now();
    for i in 0..frames {
        h.state_mut().state.layers.window = windows[i % windows.len()];
        h.step();
    }
    let drag = t.elapsed().as_secs_f64() * 1000.0 / frames as f64;
    let t = std::time::Instant::now();
    for _ in 0..frames {
        h.step();
    }
    let still = t.elapsed().as_secs_f64() * 1000.0 / frames as f64;
    h.get_by_label("Proxies").click();
    h.run();
    let t = std::time::Instant::now();
    for _ in 0..frames {
        h.hover_at(egui::pos2(400.0, 500.0));
        h.step();
    }
    let scatter = t.elapsed().as_secs_f64() * 1000.0 / frames as f64;
    println!(
        "frame time, 15,625 architectures: layers {still:.1} ms, layers while the window moves {drag:.1} ms, \
         proxies with the 15,625-point scatter (hovered) {scatter:.1} ms"
    );
}

/// `lswag-studio --screenshot PATH --panel NAME` opens the real window,
/// waits for the demo to be drawn, writes the PNG and exits 0. Needs an X
/// server: runs under `xvfb-run` when it is installed, else says so and
/// passes.
#[test]
fn screenshot_cli_under_xvfb() {
    let dir = temp_dir("cli-shot");
    let shot = dir.join("proxies.png");
    let Some((w, h)) = screenshot_under_xvfb(&dir, &["--panel", "proxies"], &shot) else {
        return;
    };
    assert!(w >= 900 && h >= 600, "{w} x {h}");
}

/// Runs the app with `args` and `--screenshot shot` under `xvfb-run` and
/// returns the PNG's size; `None` (said on stderr) where xvfb-run is not
/// installed.
fn screenshot_under_xvfb(dir: &Path, args: &[&str], shot: &Path) -> Option<(u32, u32)> {
    let has_xvfb = std::process::Command::new("sh")
        .args(["-c", "command -v xvfb-run"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_xvfb {
        eprintln!("skipped: xvfb-run is not installed (apt-get install xvfb)");
        return None;
    }
    let _ = std::fs::remove_file(shot);
    let status = std::process::Command::new("timeout")
        .args(["300", "xvfb-run", "-a", "-s", "-screen 0 1600x1000x24"])
        .arg(env!("CARGO_BIN_EXE_lswag-studio"))
        .args(args)
        .arg("--screenshot")
        .arg(shot)
        .env("XDG_RUNTIME_DIR", dir)
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
    Some(image_size(shot))
}

#[test]
fn screenshot_cli_rejects_an_unknown_panel() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lswag-studio"))
        .args(["--screenshot", "/tmp/never.png", "--panel", "histogram"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--panel histogram"), "{err}");
}

/// 100 AutoFormer-Small ViTs sampled over the whole space and probed at
/// 32 x 32 (`tests/data/autoformer_vit100.jsonl`, made by the `score`
/// command in README.md). No ground truth exists offline: the Layers panel
/// says so and still draws the gradient-intensity curves, one per depth.
#[test]
fn autoformer_archive_draws_gradient_intensity_curves() {
    use lswag_studio::archive::{self, Space};
    let bytes = include_bytes!("data/autoformer_vit100.jsonl");
    let (_, a) = archive::parse_any(bytes, "autoformer_vit100.jsonl", &Default::default()).unwrap();
    assert_eq!(a.space(), &Space::AutoFormer);
    assert_eq!((a.len(), a.profile_count()), (100, 100));
    let label = "AutoFormer-Small: 100 ViTs at 32 x 32";
    let ds = Dataset::new(a, label, lswag_studio::ui::model::Origin::Synthetic);
    let mut h = harness_with(AppOptions::for_tests(ds), Panel::Layers, false);
    assert!(h.query_all_by_label_contains("has no ground truth").count() >= 1);
    snapshot_curves_per_depth(&mut h, "layers-autoformer");
}

#[test]
fn search_panel_evolves_vits_of_an_autoformer_archive() {
    use lswag_studio::archive;
    let bytes = include_bytes!("data/autoformer_vit100.jsonl");
    let (_, a) = archive::parse_any(bytes, "autoformer_vit100.jsonl", &Default::default()).unwrap();
    let ds = Dataset::new(
        a,
        "AutoFormer-Small: 100 ViTs at 32 x 32",
        lswag_studio::ui::model::Origin::Synthetic,
    );
    let mut opts = AppOptions::for_tests(ds);
    opts.state.search.out_dir = Some(temp_dir("search-vit"));
    opts.state.search.budget = 30;
    opts.state.search.evolution.population = 10;
    let mut h = harness_with(opts, Panel::Search, false);
    // No supernet for ViTs: pruning is shown but cannot be picked.
    h.get_by_label("prune").click();
    h.run();
    assert_eq!(h.state().state.search.algo, lswag_studio::search::Algo::Evolution);
    h.get_by_label("Start search").click();
    h.run();
    let result = h.state().search_result().cloned().expect("the inline search finished");
    assert_eq!(result.evaluations, 30);
    assert!(result.arch.starts_with("{\"embed\":"), "{}", result.arch);
    // No ground truth for ViTs offline: the panel says why the plots are empty.
    assert!(
        h.query_all_by_label_contains("no ground truth for the scored candidates")
            .count()
            >= 1
    );
}

fn harness_sized(opts: AppOptions, panel: Panel, size: [f32; 2]) -> Harness<'static, StudioApp> {
    let mut app = StudioApp::new(opts);
    app.state.panel = panel;
    let mut h = Harness::builder()
        .with_size(size)
        .with_options(snapshot_options())
        .with_max_steps(24)
        .wgpu()
        .build_ui_state(|ui, app: &mut StudioApp| app.show(ui), app);
    h.run();
    h
}

/// Three NB201 cells of a CSV archive: CIFAR-10 accuracy, zico and params.
const TINY_KEYS: [&str; 3] = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
];

fn tiny_csv(dir: &std::path::Path, proxies: bool) -> PathBuf {
    let path = dir.join("tiny.csv");
    let mut text = String::from(if proxies {
        "arch,cifar10,zico,params\n"
    } else {
        "arch,cifar10\n"
    });
    for (k, (acc, zico, params)) in TINY_KEYS
        .iter()
        .zip([(93.1, 5.0, 1.2), (55.0, 1.0, 0.2), (88.4, 3.0, 0.8)])
    {
        if proxies {
            text.push_str(&format!("{k},{acc},{zico},{params}\n"));
        } else {
            text.push_str(&format!("{k},{acc}\n"));
        }
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// A score file (as Score… writes) with a `synflow` value for each cell of
/// [`tiny_csv`].
fn tiny_scores(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("tiny-scores.jsonl");
    let mut text = String::from(
        "{\"provenance\": {\"app\": \"lswag-studio\", \"version\": \"0.1.0\", \"config\": {\"space\": \"nb201\", \
         \"seed\": 0, \"backend\": \"cpu\"}, \"batch_source\": \"gaussian\", \"created\": \"2026-12-03T00:00:00Z\"}}\n",
    );
    for (k, v) in TINY_KEYS.iter().zip([30.0, 10.0, 20.0]) {
        text.push_str(&format!(
            "{{\"arch\": \"{k}\", \"proxies\": {{\"synflow\": {v}}}, \"profile\": null, \"seconds\": 0.1}}\n"
        ));
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// Replaces the built-in dialog's path field with `text` and presses Enter.
fn type_path(h: &mut Harness<'static, StudioApp>, text: &str) {
    h.get_by_label("Path:").focus();
    h.run();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run();
    h.get_by_label("Path:").type_text(text);
    h.run();
    h.key_press(egui::Key::Enter);
    h.run();
}

/// Without a desktop portal or zenity (a plain X server) "Open archive…"
/// opens the built-in dialog, which says why, lists the folder filtered
/// for archives and opens the file picked.
#[test]
fn builtin_file_dialog_opens_an_archive_when_no_system_dialog_exists() {
    use lswag_studio::ui::files::{NO_SYSTEM_DIALOG, NoSystemDialogs, Purpose};
    // A fixed folder: its name shows in the snapshot.
    let dir = std::env::temp_dir().join("lswag-ui-file-dialog");
    std::fs::create_dir_all(&dir).unwrap();
    let csv = tiny_csv(&dir, true);
    std::fs::write(dir.join("notes.txt"), "not an archive").unwrap();
    let mut opts = AppOptions::for_tests(demo());
    opts.dialogs = Box::new(NoSystemDialogs);
    let mut h = harness_sized(opts, Panel::Archive, [1024.0, 700.0]);
    h.get_all_by_label("Open archive…").next().unwrap().click();
    h.run();
    let (request, reason) = h.state().exporter.files.builtin().expect("the built-in dialog is open");
    assert_eq!(request.purpose, Purpose::OpenArchive);
    assert_eq!(reason, NO_SYSTEM_DIALOG);
    h.get_by_label(NO_SYSTEM_DIALOG);
    type_path(&mut h, &dir.display().to_string());
    // The folder is listed, filtered for archives.
    h.get_by_label("tiny.csv");
    assert_eq!(h.query_all_by_label("notes.txt").count(), 0);
    h.get_by_label("tiny.csv").click();
    h.run();
    h.remove_cursor();
    h.run();
    h.snapshot("file-dialog");
    h.get_by_label("Open").click();
    h.run();
    assert!(h.state().exporter.files.builtin().is_none());
    assert!(h.state().msgs.errors.is_empty(), "{:?}", h.state().msgs.errors);
    assert_eq!(h.state().dataset().len(), 3);
    assert_eq!(h.state().state.last_archive, Some(csv));
}

/// The CIFAR-10 picker shows `.bin` files (not archives) and sets the
/// probe's images to the file picked.
#[test]
fn cifar10_picker_lists_bin_files() {
    use lswag_studio::ui::files::NoSystemDialogs;
    use lswag_studio::ui::scoring::DataChoice;
    let dir = temp_dir("cifar-picker");
    let bin = dir.join("data_batch_1.bin");
    std::fs::write(&bin, [0u8; 3073]).unwrap();
    std::fs::write(dir.join("other.lswag"), "x").unwrap();
    let mut opts = AppOptions::for_tests(demo());
    opts.dialogs = Box::new(NoSystemDialogs);
    let mut h = harness_with(opts, Panel::Layers, false);
    h.get_by_label("Score…").click();
    h.run();
    h.get_by_label("CIFAR-10 file…").click();
    h.run();
    type_path(&mut h, &dir.display().to_string());
    h.get_by_label("data_batch_1.bin");
    assert_eq!(h.query_all_by_label("other.lswag").count(), 0);
    h.get_by_label("data_batch_1.bin").click();
    h.run();
    h.get_by_label("Open").click();
    h.run();
    assert_eq!(h.state().state.layers.score.data, DataChoice::Cifar10(bin));
}

/// Score…'s image folder and its target folder are picked as folders (here in the built-in
/// dialog, as on a plain X server) and reach the probe as `folder:DIR,targets:DIR`.
#[test]
fn image_and_target_folders_are_picked_for_the_probe() {
    use lswag_studio::engine::data::DataSource;
    use lswag_studio::space::Space;
    use lswag_studio::ui::files::Mode;
    use lswag_studio::ui::files::NoSystemDialogs;
    use lswag_studio::ui::scoring::DataChoice;
    // A fixed path: the snapshot shows it.
    let dir = std::env::temp_dir().join("lswag-ui-folder-picker");
    let _ = std::fs::remove_dir_all(&dir);
    let (images, labels) = (dir.join("images"), dir.join("labels"));
    std::fs::create_dir_all(images.join("a")).unwrap();
    std::fs::create_dir_all(&labels).unwrap();
    let mut opts = AppOptions::for_tests(demo());
    opts.dialogs = Box::new(NoSystemDialogs);
    let mut h = harness_with(opts, Panel::Layers, false);
    h.get_by_label("Score…").click();
    h.run();
    h.get_by_label("Image folder…").click();
    h.run();
    assert_eq!(
        h.state().exporter.files.builtin().map(|(r, _)| r.mode.clone()),
        Some(Mode::Folder)
    );
    type_path(&mut h, &images.display().to_string());
    h.get_by_label("Target images…").click();
    h.run();
    type_path(&mut h, &labels.display().to_string());
    assert!(h.state().exporter.files.builtin().is_none());
    let score = h.state().state.layers.score.clone();
    assert_eq!(
        score.data,
        DataChoice::Folder {
            images: images.clone(),
            targets: Some(labels.clone())
        }
    );
    let (config, _) = score
        .score_config(&Space::from_name("tnb101-micro"), "normal", "lswag")
        .unwrap();
    assert_eq!(
        config.data,
        DataSource::FolderTargets {
            images,
            targets: labels
        }
    );
    h.remove_cursor();
    h.run();
    h.snapshot("score-folders");
    h.get_by_label("no targets").click();
    h.run();
    assert!(matches!(
        h.state().state.layers.score.data,
        DataChoice::Folder { targets: None, .. }
    ));
}

/// `lswag-studio FILE` opens the file at start.
#[test]
fn a_file_given_at_start_is_opened() {
    let dir = temp_dir("open-at-start");
    let csv = tiny_csv(&dir, true);
    let mut opts = AppOptions::for_tests(demo());
    opts.dataset = None;
    opts.open = Some(csv.clone());
    let h = harness_with(opts, Panel::Archive, false);
    assert_eq!(h.state().dataset().len(), 3);
    assert_eq!(h.state().state.recent, vec![csv]);
}

#[test]
fn file_argument_that_does_not_exist_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lswag-studio"))
        .args(["/nonexistent/archive.csv", "--panel", "archive"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/archive.csv: no such file"), "{err}");
}

/// A score file attached from the Archive panel stays attached: reopening
/// the archive from Recent files brings its proxies back.
#[test]
fn attached_scores_come_back_when_the_archive_is_reopened() {
    use lswag_studio::ui::files::NoSystemDialogs;
    let dir = temp_dir("attach-reopen");
    let csv = tiny_csv(&dir, true);
    let scores = tiny_scores(&dir);
    let mut opts = AppOptions::for_tests(demo());
    opts.dataset = None;
    opts.open = Some(csv.clone());
    opts.dialogs = Box::new(NoSystemDialogs);
    let mut h = harness_with(opts, Panel::Archive, false);
    let has_synflow = |h: &Harness<'static, StudioApp>| {
        h.state()
            .dataset()
            .proxy_columns("cifar10")
            .iter()
            .any(|(n, _, _)| n == "synflow")
    };
    assert!(!has_synflow(&h));
    h.get_by_label("Attach scores…").click();
    h.run();
    type_path(&mut h, &scores.display().to_string());
    assert!(h.state().msgs.errors.is_empty(), "{:?}", h.state().msgs.errors);
    assert!(has_synflow(&h));
    assert_eq!(h.state().attached_scores(), std::slice::from_ref(&scores));
    // Another archive, then this one again from Recent files.
    h.get_by_label("Demo archive").click();
    h.run();
    assert!(!has_synflow(&h));
    h.get_by_label("Recent files").click();
    h.run();
    h.get_by_label(&csv.display().to_string()).click();
    h.run();
    assert!(has_synflow(&h), "the attached scores came back");
    let info = h.state().msgs.info.clone().unwrap_or_default();
    assert!(info.contains("1 attached score file"), "{info}");
    // Detach: reopened without them.
    h.get_by_label("Detach").click();
    h.run();
    assert!(!has_synflow(&h));
    assert!(h.state().attached_scores().is_empty());
}

/// Results of one archive never stay on screen for another: the search
/// result goes, and the status bar names the archive now open.
#[test]
fn switching_archives_clears_what_belonged_to_the_previous_one() {
    let dir = temp_dir("switch");
    let csv = tiny_csv(&dir, true);
    let mut opts = AppOptions::for_tests(demo());
    opts.state.search.out_dir = Some(temp_dir("switch-search"));
    opts.state.search.budget = 20;
    opts.dialogs = Box::new(FolderDialogs {
        dir: dir.clone(),
        open: Some(csv),
    });
    let mut h = harness_with(opts, Panel::Search, false);
    h.get_by_label("Start search").click();
    h.run();
    assert!(h.state().search_result().is_some());
    h.get_all_by_label("Open archive…").next().unwrap().click();
    h.run();
    assert_eq!(h.state().dataset().len(), 3);
    assert!(h.state().search_result().is_none(), "the demo's search result is gone");
    let info = h.state().msgs.info.clone().unwrap_or_default();
    assert!(info.starts_with("Opened tiny.csv"), "{info}");
}

/// An accuracy table without proxies: LIBRA and the Proxies panel say "no
/// proxies in this file"; a search from the archive says it has nothing to
/// rank by, and live search offers the probe's proxies as fitness.
#[test]
fn an_archive_without_proxies_says_so_and_live_search_offers_the_probe() {
    let dir = temp_dir("no-proxies");
    let csv = tiny_csv(&dir, false);
    let mut opts = AppOptions::for_tests(demo());
    opts.dataset = None;
    opts.open = Some(csv);
    let mut h = harness_with(opts, Panel::Libra, false);
    assert!(h.query_all_by_label_contains("No proxies in this file").count() >= 1);
    h.get_by_label("Proxies").click();
    h.run();
    assert!(h.query_all_by_label_contains("No proxies in this file").count() >= 1);
    h.get_by_label("Search").click();
    h.run();
    assert!(h.query_all_by_label_contains("nothing to rank candidates by").count() >= 1);
    h.get_by_label("probe live").click();
    h.run();
    // The combo box (the grid's "Fitness" label comes first).
    h.get_all_by_label("Fitness").last().unwrap().click();
    h.run();
    for proxy in ["synflow", "zico", "swap", "lswag"] {
        assert!(h.query_all_by_label(proxy).count() >= 1, "{proxy} offered live");
    }
}

/// Score… then Cancel: "Cancelling…" at once, then "Cancelled after N of M".
#[test]
fn cancelling_a_score_run_says_so_and_then_how_far_it_got() {
    // Enough cells that an idle machine cannot finish them between the two
    // frames before Cancel is seen (40 could, and the test then missed
    // "Cancelling…").
    const CELLS: usize = 2000;
    let (mut h, out, _) = start_tiny_score_run("score-cancel", CELLS, None);
    h.run_steps(2);
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    assert!(
        h.query_all_by_label_contains("Cancelling…").count() >= 1,
        "Cancelling… is shown while the job stops"
    );
    let start = std::time::Instant::now();
    while h.state().is_busy() && start.elapsed() < std::time::Duration::from_secs(120) {
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    h.run();
    assert!(!h.state().is_busy(), "the job stopped");
    let done = std::fs::read_to_string(&out).map_or(0, |t| t.lines().count().saturating_sub(1));
    assert!(done < CELLS, "cancelled before the end ({done})");
    let shown = format!("Cancelled after {done} of {CELLS}");
    assert!(h.query_all_by_label_contains(&shown).count() >= 1, "{shown}");
}

/// Every panel at the smallest and the largest supported window: nothing
/// runs off the right edge (the export buttons of every figure are inside),
/// the task picker does not overlap the top bar's buttons; one snapshot each.
#[test]
fn every_panel_fits_from_1024x700_to_1920x1080() {
    let mut results = egui_kittest::SnapshotResults::new();
    let mut problems = Vec::new();
    for (size, tag) in [([1024.0, 700.0], "small"), ([1920.0, 1080.0], "large")] {
        for panel in Panel::ALL {
            let mut opts = AppOptions::for_tests(demo());
            opts.state.search.out_dir = Some(temp_dir("sizes"));
            let mut h = harness_sized(opts, panel, size);
            if panel == Panel::Search {
                h.get_by_label("Start search").click();
                h.run();
            }
            let picker = h.get_by_label("Task").rect();
            let open = h.get_all_by_label("Open archive…").next().unwrap().rect();
            if picker.intersects(open) {
                problems.push(format!("{tag} {panel:?}: the task picker {picker:?} overlaps {open:?}"));
            }
            let status_top = h.get_by_label_contains(" layer profiles · lswag-studio v").rect().min.y - 4.0;
            let texts: Vec<(String, egui::Rect)> = h
                .query_all_by_role(egui::accesskit::Role::Label)
                .map(|n| (n.value().unwrap_or_default(), n.rect()))
                .collect();
            for label in ["Figure…", "PNG…", "CSV…", "Markdown…"] {
                for node in h.query_all_by_label(label) {
                    let r = node.rect();
                    if r.max.x > size[0] + 0.5 {
                        problems.push(format!("{tag} {panel:?}: {label} at {r:?}"));
                    }
                    // No title runs under an export button (one scrolled
                    // under the status bar is hidden, not overlapped).
                    if r.max.y > status_top {
                        continue;
                    }
                    for (text, t) in &texts {
                        if t.intersects(r.shrink(1.0)) {
                            problems.push(format!("{tag} {panel:?}: \"{text}\" {t:?} under {label} {r:?}"));
                        }
                    }
                }
            }
            h.remove_cursor();
            h.run();
            h.snapshot(format!("{tag}-{}", panel.label().to_ascii_lowercase()));
            results.extend_harness(&mut h);
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The shared data folder (`LSWAG_DATA`, else `../shared/data`), if present.
fn shared_data() -> Option<PathBuf> {
    let dir = std::env::var_os("LSWAG_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")));
    dir.is_dir().then_some(dir)
}

/// A Suite-Zero file of the shared data as the app opens it; `None` (said
/// on stderr) where the shared data is not there.
fn suite_zero(file: &str) -> Option<Dataset> {
    let Some(data) = shared_data() else {
        eprintln!("skipped: no shared data (set LSWAG_DATA)");
        return None;
    };
    Some(Dataset::open(&data.join("suite_zero").join(file)).unwrap())
}

/// NAS-Bench-Suite-Zero's NB201 file (3 tasks, 12 proxies) on the Proxies
/// panel at 1400 x 900: every task's ρ and τ header is whole, and the IG
/// matrix of all 12 proxies is there (it scrolls rather than stopping at
/// the edge).
#[test]
fn proxies_panel_with_suite_zero_nb201() {
    let Some(ds) = suite_zero("zc_nasbench201.json") else {
        return;
    };
    assert!(ds.task_names().iter().any(|t| t == "ImageNet16-120"));
    let mut opts = AppOptions::for_tests(ds);
    opts.state.task = Some("cifar10".to_string());
    let mut h = harness_with(opts, Panel::Proxies, false);
    for header in ["Sort by ImageNet16-120 ρ", "Sort by ImageNet16-120 τ"] {
        h.get_by_label(header);
    }
    assert!(h.query_all_by_label_contains("IG(snip | ").count() >= 11);
    assert!(h.query_all_by_label_contains(" | snip) = ").count() >= 11);
    h.remove_cursor();
    h.run();
    h.snapshot("proxies-suite-zero");
}

/// `lswag-studio FILE --panel archive --screenshot PATH`: the window opens
/// on FILE at the Archive panel and saves the PNG. Needs an X server: runs
/// under `xvfb-run` when it is installed, else says so and passes.
#[test]
fn file_panel_and_screenshot_combine_under_xvfb() {
    let dir = temp_dir("cli-file-shot");
    let csv = tiny_csv(&dir, true);
    let shot = dir.join("archive.png");
    let Some((w, h)) = screenshot_under_xvfb(&dir, &[csv.to_str().unwrap(), "--panel", "archive"], &shot) else {
        return;
    };
    assert!(w >= 900 && h >= 600, "{w} x {h}");
}

/// The demo's cells have 1- and 2-digit depths: one curve per depth is
/// listed in numeric order (L = 8 before L = 12), as the legend under the
/// plot shows it.
#[test]
fn curves_per_depth_are_listed_in_numeric_order() {
    let mut h = harness(Panel::Layers);
    h.get_by_label("one curve per depth L").click();
    h.run();
    let depths: Vec<usize> = h
        .query_all_by_label_contains(" layers (n = ")
        .filter_map(|n| {
            let text = format!("{n:?}");
            let at = text.find("L = ")?;
            text[at + 4..].split(' ').next()?.parse().ok()
        })
        .collect();
    assert!(
        depths.iter().any(|d| *d < 10) && depths.iter().any(|d| *d >= 10),
        "{depths:?}"
    );
    assert!(depths.windows(2).all(|w| w[0] < w[1]), "{depths:?}");
}

/// The demo says what it is where it opens, and the Layers panel says why
/// its all-layers ρ (all 200 profiles) differs from the Proxies panel's
/// lswag column (undefined on the 2 cells whose every layer is dead).
#[test]
fn the_demo_explains_itself_and_the_two_all_layers_values() {
    let h = harness(Panel::Archive);
    h.get_by_label_contains("trained for 2 epochs on 5,000 procedural 16 x 16 images");
    let h = harness(Panel::Layers);
    h.get_by_label_contains("2 with every layer dead count as L-SWAG 0 here");
    let dead = demo().profiles().iter().flatten().filter(|p| p.all_dead()).count();
    let missing = demo()
        .archive_arc()
        .task(DEMO_TASK)
        .unwrap()
        .proxy("lswag")
        .unwrap()
        .iter()
        .filter(|v| v.is_nan())
        .count();
    assert_eq!((dead, missing), (2, 2));
}

/// The built-in Suite-Zero archive holds NAS-Bench-Suite-Zero's NB201 file
/// exactly (every task's ground truth and every one of its proxies, read by
/// the JSON reader from the shared file as a second path) plus the studio's
/// layer profiles and its own proxies on every cell.
#[test]
fn the_suite_zero_builtin_is_the_benchmark_file_plus_the_studios_scores() {
    use lswag_studio::ui::app::{Builtin, builtin_dataset};
    let t = std::time::Instant::now();
    let (ds, note) = builtin_dataset(Builtin::SuiteZeroNb201);
    assert!(note.is_none(), "{note:?}");
    assert!(t.elapsed().as_secs_f64() < 2.0, "{:?}", t.elapsed());
    assert_eq!(ds.len(), 725);
    assert_eq!(ds.task_names(), ["cifar10", "cifar100", "ImageNet16-120"]);
    assert_eq!(ds.profile_count(), 725);
    let a = ds.archive_arc();
    for task in ["cifar10", "cifar100", "ImageNet16-120"] {
        for proxy in ["lswag", "lswag_dot", "swap", "zico", "zen"] {
            let v = a
                .task(task)
                .unwrap()
                .proxy(proxy)
                .unwrap_or_else(|| panic!("{task}/{proxy}"));
            assert!(v.iter().filter(|x| x.is_finite()).count() >= 700, "{task}/{proxy}");
        }
    }
    let Some(data) = shared_data() else {
        eprintln!("skipped the comparison with the shared file: no shared data (set LSWAG_DATA)");
        return;
    };
    let file = Dataset::open(&data.join("suite_zero/zc_nasbench201.json")).unwrap();
    let f = file.archive_arc();
    let mut filled = 0;
    for task in f.task_names() {
        let (ft, bt) = (f.task(task).unwrap(), a.task(task).unwrap());
        for (row, key) in f.keys().iter().enumerate() {
            let b = a.index_of(key).unwrap_or_else(|| panic!("{key} not built in"));
            let same = |x: f64, y: f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
            assert!(same(ft.truth()[row], bt.truth()[b]), "{task} {key} truth");
            for name in ft.proxy_names() {
                let (x, y) = (ft.proxy(name).unwrap()[row], bt.proxy(name).unwrap()[b]);
                // Where the file's evaluation failed (missing), the studio's value fills in.
                if !x.is_nan() {
                    assert!(same(x, y), "{task} {key} {name}: file {x}, built in {y}");
                } else {
                    filled += 1;
                }
            }
        }
    }
    // The file's failed evaluations (-1e8, read as missing) on the 12 proxies, 3 tasks.
    assert_eq!(filled, 30, "values filled in");
}

/// The Archive panel offers the Suite-Zero archive beside the demo; it
/// opens with its note and its licence, and is open again on the next start.
#[test]
fn the_suite_zero_builtin_opens_beside_the_demo_with_its_licence() {
    use lswag_studio::ui::app::Builtin;
    let mut h = harness(Panel::Archive);
    h.get_by_label("Suite-Zero NB201 (real data)").click();
    h.run();
    assert_eq!(h.state().dataset().len(), 725);
    assert_eq!(h.state().state.last_builtin, Builtin::SuiteZeroNb201);
    assert_eq!(h.state().state.last_archive, None);
    h.get_by_label_contains("NAS-Bench-Suite-Zero's NB201 file (725 cells");
    h.remove_cursor();
    h.run();
    h.snapshot("suite-zero-archive");
    h.get_by_label("Licence of the data (Apache-2.0)").click();
    h.run();
    h.get_by_label_contains("Apache License");

    // The next start reopens it.
    let mut opts = AppOptions::for_tests(demo());
    opts.dataset = None;
    opts.state = h.state().state.clone();
    opts.reopen_last = true;
    let again = StudioApp::new(opts);
    assert_eq!(again.dataset().len(), 725);
    assert!(again.dataset().label.starts_with("NAS-Bench-Suite-Zero NB201"));

    // And the demo comes back from its button.
    h.get_by_label("Demo archive").click();
    h.run();
    assert_eq!(h.state().dataset().len(), 200);
    assert_eq!(h.state().state.last_builtin, Builtin::Demo);
}

/// Spearman ρ of the all-layers L-SWAG window against Suite-Zero's cifar10
/// val_accuracy on the built-in archive: `rho.py` in
/// assets/evidence/nb201-suite-zero (average ranks, no code of ours).
const SUITE_ZERO_CIFAR10_LSWAG_RHO: f64 = 0.7404;

/// The paper's curves on real ground truth: the Layers panel on the
/// Suite-Zero archive's cifar10 task, its all-layers ρ being the Spearman
/// correlation of the studio's lswag column with val_accuracy (the cells
/// with a finite lswag), computed independently in Python (average ranks)
/// from scores.jsonl and zc_nasbench201.json.
#[test]
fn the_suite_zero_builtin_on_the_layers_panel() {
    use lswag_studio::ui::app::{Builtin, builtin_dataset};
    let mut opts = AppOptions::for_tests(builtin_dataset(Builtin::SuiteZeroNb201).0);
    opts.state.task = Some("cifar10".to_string());
    let mut h = harness_with(opts, Panel::Layers, false);
    let rho = h.state().live_window_rho().expect("a live rho");
    assert!((rho - SUITE_ZERO_CIFAR10_LSWAG_RHO).abs() < 5e-4, "{rho}");
    h.remove_cursor();
    h.run();
    h.snapshot("suite-zero-layers");
}

/// Pruning needs a supernet: the Search panel offers it on an NB301
/// archive (DARTS, TE-NAS's space) and not on an NB101 one.
#[test]
fn pruning_is_offered_where_the_space_has_a_supernet() {
    let Some(data) = shared_data() else {
        eprintln!("skipped: no shared data (set LSWAG_DATA)");
        return;
    };
    for (file, prunable) in [("zc_nasbench301.json", true), ("zc_nasbench101.json", false)] {
        let ds = Dataset::open(&data.join("suite_zero").join(file)).unwrap();
        let mut h = harness_with(AppOptions::for_tests(ds), Panel::Search, false);
        h.get_by_label("prune").click();
        h.run();
        let want = if prunable {
            lswag_studio::search::Algo::Prune
        } else {
            lswag_studio::search::Algo::Evolution
        };
        assert_eq!(h.state().state.search.algo, want, "{file}");
    }
}

/// Score… on a TransNAS-Bench-101 archive names the benchmark's network
/// instead of NB201's C and N (which had reached it: 16 channels instead of
/// 64), and takes an image size of one's own for a CPU run.
#[test]
fn score_dialog_builds_the_benchmarks_network_and_takes_a_tnb_image_size() {
    use lswag_studio::space::Space;
    let Some(ds) = suite_zero("zc_transbench101_micro.json") else {
        return;
    };
    let mut h = harness_with(AppOptions::for_tests(ds), Panel::Layers, false);
    h.get_by_label("Score…").click();
    h.run();
    assert!(
        h.query_by_label("Channels C").is_none(),
        "NB201's knobs are not offered"
    );
    assert!(
        h.query_by_label_contains("TransNAS-Bench-101's: 64 channels").is_some(),
        "the dialog names the benchmark's network"
    );
    assert_eq!(h.state().state.layers.score.tnb_image_size, None);
    h.get_by_label("the task's own").click();
    h.run();
    let score = h.state().state.layers.score.clone();
    assert_eq!(score.tnb_image_size, Some(128));
    let (config, _) = score
        .score_config(&Space::TransNasMicro, "segmentsemantic", "lswag")
        .unwrap();
    assert_eq!((config.net.image_size(), config.net.num_classes()), (128, 17));
}
