//! Publication figures: every kind renders for the demo archive as valid
//! SVG with its labels as text; the PDF keeps that text as text (read back
//! here through the font's ToUnicode map, a reader independent of the
//! writer); the PNG has the pixel size the millimetres and dpi ask for;
//! each bad option fails naming itself; and the app's "Figure…" button
//! writes the same figure.

use std::path::{Path, PathBuf};
use std::process::Command;

use lswag_studio::analysis::spearman;
use lswag_studio::figure::output::{self, Format, encode};
use lswag_studio::figure::svg::{Page, Theme};
use lswag_studio::figure::{self, FigureSpec, Kind, model};
use model::Dataset;

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo.lswag");
const TASK: &str = "procedural_valid_2ep";

fn demo() -> Dataset {
    Dataset::open(Path::new(DEMO)).unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lswag-figure-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn spec(kind: Kind) -> FigureSpec {
    FigureSpec {
        kind,
        task: Some(TASK.into()),
        proxy: None,
        by_depth: false,
        window: None,
        page: Page::new(120.0, 80.0, Theme::Light),
    }
}

/// The text of every `<text>` element, after checking that `svg` is
/// well-formed XML and an SVG that usvg reads.
fn svg_texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}\n{svg}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    resvg::usvg::Tree::from_str(svg, &resvg::usvg::Options::default()).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").to_string())
        .collect()
}

fn has(texts: &[String], want: &str) -> bool {
    texts.iter().any(|t| t == want)
}

/// `v` as the figures print it: fixed decimals, typographic minus.
fn printed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    match s.strip_prefix('-') {
        Some(rest) => format!("−{rest}"),
        None => s,
    }
}

#[test]
fn every_archive_kind_renders_its_labels_as_text() {
    let ds = demo();
    let proxy = ds.proxy_columns(TASK)[0].0.clone();
    let truth = ds.truth(TASK);
    for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::Search) {
        let mut s = spec(kind);
        if kind == Kind::Scatter {
            s.proxy = Some(proxy.clone());
        }
        let svg = figure::render(&ds, &s).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        let texts = svg_texts(&svg);
        let wanted: Vec<String> = match kind {
            Kind::Curves => vec![
                "Gradient intensity per depth bin: Λ_l = log Σ_w 1/σ_w".into(),
                "depth bin p (10% of the weight layers each, 1 = input side)".into(),
                model::statistic_axis(Default::default()).into(),
                "1".into(),
                "10".into(),
            ],
            Kind::Windows => vec![
                "window end b (L-hat)".into(),
                "window start a (l-hat)".into(),
                "Spearman ρ".into(),
            ],
            Kind::Bins => vec!["depth bin p".into(), "bin outside the window".into()],
            Kind::Scatter => vec!["true rank (1 = best)".into(), format!("rank by {proxy} (1 = best)")],
            Kind::Proxies => vec![format!("{TASK} ρ"), format!("{TASK} τ"), "proxy".into(), proxy.clone()],
            Kind::Libra => vec!["Spearman ρ with the ground truth".into(), "rank sum".into()],
            Kind::Search => unreachable!(),
        };
        for w in &wanted {
            assert!(has(&texts, w), "{kind:?}: no <text>{w}</text> in {texts:?}");
        }
        // No label is empty or left as a placeholder.
        assert!(
            texts.iter().all(|t| !t.trim().is_empty() && !t.contains("NaN")),
            "{kind:?}: {texts:?}"
        );
    }

    // The numbers printed are the data's, computed here a second way:
    // Spearman rho of L-SWAG over all ten bins, straight from the profiles.
    let lswag: Vec<f64> = ds
        .profiles()
        .iter()
        .map(|p| p.as_ref().map_or(f64::NAN, |p| p.lswag(1, 10)))
        .collect();
    let all = spearman(&lswag, &truth).unwrap().value.unwrap();
    let texts = svg_texts(&figure::render(&ds, &spec(Kind::Windows)).unwrap());
    assert!(has(&texts, &printed(all, 2)), "window [1, 10] = {all}: {texts:?}");
    // The proxy matrix prints the proxy's rho with three decimals.
    let values = &ds.proxy_columns(TASK)[0].2;
    let rho = spearman(values, &truth).unwrap().value.unwrap();
    let texts = svg_texts(&figure::render(&ds, &spec(Kind::Proxies)).unwrap());
    assert!(has(&texts, &printed(rho, 3)), "{proxy} rho = {rho}: {texts:?}");
    // LIBRA's best single proxy and its rho label the last bar.
    let v = model::run_libra(&ds, TASK, &Default::default()).unwrap();
    let texts = svg_texts(&figure::render(&ds, &spec(Kind::Libra)).unwrap());
    assert!(has(&texts, &format!("best single: {}", v.best_single.0)), "{texts:?}");
    assert!(has(&texts, &printed(v.best_single.1, 3)), "{texts:?}");
}

#[test]
fn by_depth_legend_runs_shallow_to_deep_numerically() {
    let ds = demo();
    let mut s = spec(Kind::Curves);
    s.by_depth = true;
    s.page = Page::new(180.0, 90.0, Theme::Dark);
    let texts = svg_texts(&figure::render(&ds, &s).unwrap());
    let depths: Vec<usize> = texts
        .iter()
        .filter_map(|t| t.strip_prefix("L = ")?.split(' ').next()?.parse().ok())
        .collect();
    assert!(depths.len() >= 2, "{texts:?}");
    let mut sorted = depths.clone();
    sorted.sort_unstable();
    assert_eq!(depths, sorted);
}

/// The y of each `<text>` element with its text, top first.
fn texts_by_height(svg: &str) -> Vec<(f64, String)> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    let mut v: Vec<(f64, String)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            (
                n.attribute("y").unwrap().parse().unwrap(),
                n.text().unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

#[test]
fn title_line_is_replaced_or_dropped_and_the_plot_takes_its_space() {
    let ds = demo();
    let own = "Gradient intensity per depth bin: Λ_l = log Σ_w 1/σ_w";
    let svg_title = |svg: &str| {
        let doc = roxmltree::Document::parse(svg).unwrap();
        let t = doc.descendants().find(|n| n.has_tag_name("title")).unwrap();
        t.text().unwrap().to_string()
    };
    let render = |title: Option<&str>| {
        let mut s = spec(Kind::Curves);
        s.page = s.page.with_title(title.map(str::to_string));
        figure::render(&ds, &s).unwrap()
    };
    let default = render(None);
    let top = texts_by_height(&default);
    assert_eq!(top[0].1, own);
    assert_eq!(svg_title(&default), own);

    let custom = render(Some("TNB-101 micro: normal"));
    let texts = texts_by_height(&custom);
    assert_eq!(texts[0].1, "TNB-101 micro: normal");
    assert!(!texts.iter().any(|t| t.1 == own));
    assert_eq!(svg_title(&custom), "TNB-101 micro: normal");

    let none = render(Some(""));
    let texts = texts_by_height(&none);
    assert!(!texts.iter().any(|t| t.1 == own), "{texts:?}");
    // The file still names the figure; everything below the title moves up.
    assert_eq!(svg_title(&none), own);
    assert_eq!(texts.len(), top.len() - 1);
    assert!(texts[0].0 < top[1].0 - 2.0, "{:?} against {:?}", texts[0], top[1]);

    let dir = temp_dir("title");
    let out_path = dir.join("curves.svg");
    let args = [
        "figure",
        "curves",
        DEMO,
        "--task",
        TASK,
        "--title",
        "",
        "--out",
        out_path.to_str().unwrap(),
    ];
    let out = cli(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(&out_path).unwrap();
    assert!(!texts_by_height(&written).iter().any(|t| t.1 == own));
}

// ---------------------------------------------------------------------------
// PDF: a small reader for the text svg2pdf writes
// ---------------------------------------------------------------------------

/// Every stream of a PDF, inflated when it is FlateDecode'd.
fn pdf_streams(pdf: &[u8]) -> Vec<Vec<u8>> {
    let find = |from: usize, pat: &[u8]| pdf[from..].windows(pat.len()).position(|w| w == pat).map(|i| i + from);
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(s) = find(at, b"stream") {
        // Skip the "stream" inside "endstream".
        if s >= 3 && &pdf[s - 3..s] == b"end" {
            at = s + 6;
            continue;
        }
        let mut body = s + 6;
        if pdf[body] == b'\r' {
            body += 1;
        }
        if pdf[body] == b'\n' {
            body += 1;
        }
        let end = find(body, b"endstream").unwrap();
        let dict_start = pdf[..s].windows(2).rposition(|w| w == b"<<").unwrap_or(0);
        let dict = &pdf[dict_start..s];
        let raw = &pdf[body..end];
        let flate = dict.windows(11).any(|w| w == b"FlateDecode");
        out.push(if flate {
            miniz_oxide::inflate::decompress_to_vec_zlib(raw).unwrap_or_default()
        } else {
            raw.to_vec()
        });
        at = end + 9;
    }
    out
}

/// The strings shown in a content stream (literal and hex).
fn shown_strings(content: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < content.len() {
        match content[i] {
            b'(' => {
                let mut depth = 1;
                let mut s = Vec::new();
                i += 1;
                while depth > 0 {
                    let c = content[i];
                    match c {
                        b'\\' => {
                            i += 1;
                            let e = content[i];
                            match e {
                                b'n' => s.push(b'\n'),
                                b'r' => s.push(b'\r'),
                                b't' => s.push(b'\t'),
                                b'b' => s.push(8),
                                b'f' => s.push(12),
                                b'0'..=b'7' => {
                                    let mut v = 0u32;
                                    let mut k = 0;
                                    while k < 3 && (b'0'..=b'7').contains(&content[i]) {
                                        v = v * 8 + (content[i] - b'0') as u32;
                                        i += 1;
                                        k += 1;
                                    }
                                    i -= 1;
                                    s.push(v as u8);
                                }
                                other => s.push(other),
                            }
                        }
                        b'(' => {
                            depth += 1;
                            s.push(c);
                        }
                        b')' => {
                            depth -= 1;
                            if depth > 0 {
                                s.push(c);
                            }
                        }
                        _ => s.push(c),
                    }
                    i += 1;
                }
                out.push(s);
            }
            b'<' if content.get(i + 1) != Some(&b'<') => {
                let end = i + content[i..].iter().position(|&c| c == b'>').unwrap();
                let hex: Vec<u8> = content[i + 1..end]
                    .iter()
                    .copied()
                    .filter(u8::is_ascii_hexdigit)
                    .collect();
                out.push(
                    hex.chunks(2)
                        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
                        .collect(),
                );
                i = end + 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// The text of a PDF whose fonts use two-byte codes with a ToUnicode map
/// (what svg2pdf writes for embedded text).
fn pdf_text(pdf: &[u8]) -> String {
    let streams = pdf_streams(pdf);
    let mut map = std::collections::HashMap::new();
    let hex_u16 = |h: &str| u16::from_str_radix(h, 16).unwrap();
    for s in streams.iter().filter(|s| s.windows(9).any(|w| w == b"begincmap")) {
        let text = String::from_utf8_lossy(s);
        for block in text.split("beginbfchar").skip(1) {
            let block = block.split("endbfchar").next().unwrap();
            let hexes: Vec<&str> = block
                .split(['<', '>'])
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .collect();
            for pair in hexes.chunks(2) {
                let units: Vec<u16> = pair[1]
                    .as_bytes()
                    .chunks(4)
                    .map(|c| hex_u16(std::str::from_utf8(c).unwrap()))
                    .collect();
                map.insert(hex_u16(pair[0]), String::from_utf16_lossy(&units));
            }
        }
    }
    assert!(!map.is_empty(), "no ToUnicode map: the text was not embedded as text");
    let mut text = String::new();
    for s in streams
        .iter()
        .filter(|s| s.windows(2).any(|w| w == b"Tj" || w == b"TJ"))
    {
        for shown in shown_strings(s) {
            for code in shown.chunks(2).filter(|c| c.len() == 2) {
                if let Some(t) = map.get(&u16::from_be_bytes([code[0], code[1]])) {
                    text.push_str(t);
                }
            }
        }
    }
    text
}

#[test]
fn pdf_keeps_the_text_as_text_on_a_page_of_the_asked_size() {
    let ds = demo();
    let svg = figure::render(&ds, &spec(Kind::Windows)).unwrap();
    let pdf = encode(&svg, Format::Pdf).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let text = pdf_text(&pdf);
    let title = "Spearman ρ of L-SWAG[a..b] on procedural_valid_2ep";
    assert!(text.contains(title), "{text}");
    assert!(text.contains("window end b (L-hat)"), "{text}");
    // One font, embedded (a subset), so no reader needs it installed.
    let raw = String::from_utf8_lossy(&pdf);
    assert!(raw.contains("/FontFile2"), "the font is not embedded");
    // 120 x 80 mm = 340.16 x 226.77 pt.
    let media = raw.split("/MediaBox [").nth(1).unwrap();
    let nums: Vec<f64> = media
        .split(']')
        .next()
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert!((nums[2] - 120.0 / 25.4 * 72.0).abs() < 0.05, "{nums:?}");
    assert!((nums[3] - 80.0 / 25.4 * 72.0).abs() < 0.05, "{nums:?}");
}

#[test]
fn png_has_the_pixels_the_size_and_dpi_ask_for() {
    let ds = demo();
    let mut s = spec(Kind::Bins);
    s.page = Page::new(100.0, 60.0, Theme::Light);
    let svg = figure::render(&ds, &s).unwrap();
    let bytes = encode(&svg, Format::Png { dpi: 150.0 }).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
    let reader = decoder.read_info().unwrap();
    let info = reader.info();
    // 100 mm * 150 / 25.4 = 590.6; 60 mm -> 354.3.
    assert_eq!((info.width, info.height), (591, 354));
    let dims = info.pixel_dims.unwrap();
    assert_eq!(dims.xppu, (150.0f64 / 0.0254).round() as u32);
    // Something is drawn: dark pixels of text and bars on white.
    let img = image::load_from_memory(&bytes).unwrap().to_rgba8();
    let ink = img.pixels().filter(|p| p.0[0] < 128).count();
    assert!(ink > 2_000, "{ink} dark pixels");
    assert_eq!(output::pixels(100.0, 150.0), 591);
}

// ---------------------------------------------------------------------------
// Search logs
// ---------------------------------------------------------------------------

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lswag-studio"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

/// A tabular evolution search on the demo, logged to `dir/search.jsonl`,
/// and what it reported on stderr.
fn search_log(dir: &Path) -> (PathBuf, String) {
    let log = dir.join("search.jsonl");
    let _ = std::fs::remove_file(&log);
    let out = cli(&[
        "search",
        "--tabular",
        "--archive",
        DEMO,
        "--task",
        TASK,
        "--fitness",
        "zico",
        "--budget",
        "60",
        "--population",
        "20",
        "--out",
        log.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    (log, err)
}

#[test]
fn search_log_figure_draws_the_band_as_one_area_between_two_lines() {
    let dir = temp_dir("search");
    let (log, reported) = search_log(&dir);
    let f = model::search_from_log(&log, None, |p| Dataset::open(p).map_err(|e| e.to_string())).unwrap();
    assert!(f.no_band.is_none(), "{:?}", f.no_band);
    let band = f.view.band.as_ref().unwrap();
    assert_eq!(band.median.len(), 60);
    // The band drawn from the log is the one the search itself reported.
    let k = band.median.len() - 1;
    let line = format!(
        "random search with this fitness and budget returns {:.2} (median; 10-90%: {:.2}-{:.2}, 1000 simulated runs)",
        band.median[k], band.p10[k], band.p90[k]
    );
    assert!(reported.contains(&line), "{line}\n{reported}");
    let page = Page::new(170.0, 70.0, Theme::Light);
    let svg = figure::search_svg(&page, &f).unwrap();
    let texts = svg_texts(&svg);
    for w in [
        "evaluations",
        "true accuracy (%)",
        "fitness rank (1 = best)",
        "random search, 10–90% of 1000 runs",
    ] {
        assert!(has(&texts, w), "no {w} in {texts:?}");
    }
    // The band: one closed path along p90 and back along p10, 2 x 60
    // vertices, not a fan of triangles.
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let paths: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("path"))
        .filter_map(|n| n.attribute("d"))
        .collect();
    assert_eq!(paths.len(), 1, "{paths:?}");
    let vertices = paths[0].matches(['M', 'L']).count();
    assert_eq!(vertices, 2 * band.median.len());
    assert!(paths[0].ends_with('Z'));

    // The scatter CSV names each architecture.
    let csv = f.view.scatter_csv();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("arch,generation,true_rank,fitness_rank"));
    let first = lines.next().unwrap();
    let arch = first.split(',').next().unwrap();
    assert!(
        Dataset::open(Path::new(DEMO)).unwrap().row_of(arch).is_some(),
        "{first}"
    );
    assert_eq!(csv.lines().count() - 1, f.view.with_truth);

    // Through the CLI, as PDF.
    let pdf = dir.join("search.pdf");
    let out = cli(&[
        "figure",
        "search",
        log.to_str().unwrap(),
        "--out",
        pdf.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = pdf_text(&std::fs::read(&pdf).unwrap());
    assert!(text.contains("Best-so-far true accuracy"), "{text}");
}

// ---------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------

#[test]
fn cli_writes_each_format() {
    let dir = temp_dir("cli");
    for (kind, file, extra) in [
        ("curves", "curves.svg", vec!["--by-depth"]),
        ("windows", "windows.pdf", vec!["--window", "3,7"]),
        ("bins", "bins.png", vec!["--dpi", "100", "--theme", "dark"]),
        ("libra", "libra.pdf", vec![]),
        (
            "proxies",
            "proxies.svg",
            vec!["--width-mm", "160", "--height-mm", "100"],
        ),
    ] {
        let out_path = dir.join(file);
        let _ = std::fs::remove_file(&out_path);
        let mut args = vec![
            "figure",
            kind,
            DEMO,
            "--task",
            TASK,
            "--out",
            out_path.to_str().unwrap(),
        ];
        args.extend(extra);
        let out = cli(&args);
        assert!(out.status.success(), "{kind}: {}", String::from_utf8_lossy(&out.stderr));
        let bytes = std::fs::read(&out_path).unwrap();
        match file.rsplit('.').next().unwrap() {
            "svg" => assert!(bytes.starts_with(b"<svg")),
            "pdf" => assert!(bytes.starts_with(b"%PDF-")),
            _ => {
                let r = png::Decoder::new(std::io::Cursor::new(&bytes)).read_info().unwrap();
                // 120 x 80 mm at 100 dpi.
                assert_eq!((r.info().width, r.info().height), (472, 315));
            }
        }
    }
    let windows = pdf_text(&std::fs::read(dir.join("windows.pdf")).unwrap());
    assert!(windows.contains("window [3, 7] outlined"), "{windows}");
}

#[test]
fn cli_refuses_each_bad_option_by_name() {
    let dir = temp_dir("errors");
    let svg = dir.join("x.svg");
    let s = svg.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["figure", "histogram", DEMO, "--out", s],
            "KIND: histogram is not a figure kind",
        ),
        (vec!["figure", "bins", DEMO, "--out", "x.png", "--dpi", "0"], "--dpi 0"),
        (vec!["figure", "bins", DEMO, "--out", "x.png", "--dpi", "many"], "--dpi"),
        (
            vec!["figure", "bins", DEMO, "--out", "x.pdf", "--dpi", "300"],
            "PNG output only",
        ),
        (
            vec![
                "figure",
                "bins",
                DEMO,
                "--out",
                "x.png",
                "--dpi",
                "2400",
                "--width-mm",
                "1000",
            ],
            "94488 x 7559 pixels is more than the 20000",
        ),
        (vec!["figure", "bins", DEMO, "--out", "x.eps"], ".svg, .pdf or .png"),
        (vec!["figure", "bins", DEMO, "--out", DEMO], "--out"),
        (
            vec!["figure", "curves", DEMO, "--out", s, "--proxy", "zico"],
            "--proxy does not apply",
        ),
        (vec!["figure", "scatter", DEMO, "--out", s], "--proxy: scatter needs"),
        (
            vec!["figure", "scatter", DEMO, "--out", s, "--proxy", "nope"],
            "--proxy: nope is not a proxy",
        ),
        (
            vec!["figure", "bins", DEMO, "--out", s, "--window", "7,3"],
            "--window 7,3",
        ),
        (vec!["figure", "bins", DEMO, "--out", s, "--window", "3"], "--window"),
        (
            vec!["figure", "bins", DEMO, "--out", s, "--task", "imagenet"],
            "--task: imagenet",
        ),
        (
            vec!["figure", "bins", DEMO, "--out", s, "--theme", "sepia"],
            "--theme sepia",
        ),
        (
            vec!["figure", "bins", DEMO, "--out", s, "--width-mm", "10"],
            "--width-mm 10",
        ),
        (
            vec!["figure", "search", DEMO, "--out", s],
            "reads the log `lswag-studio search --out LOG` writes",
        ),
    ];
    for (args, want) in cases {
        let out = cli(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    assert!(!svg.exists());
    assert!(
        std::fs::metadata(DEMO).unwrap().len() > 1000,
        "the archive was overwritten"
    );
}

// ---------------------------------------------------------------------------
// The app's "Figure…" button
// ---------------------------------------------------------------------------

#[test]
fn figure_button_saves_the_panel_figure_as_pdf() {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;
    use lswag_studio::ui::app::{AppOptions, Panel, StudioApp, demo_dataset};
    use lswag_studio::ui::export::FolderDialogs;

    let dir = temp_dir("gui");
    let mut opts = AppOptions::for_tests(demo_dataset().0);
    opts.dialogs = Box::new(FolderDialogs {
        dir: dir.clone(),
        open: None,
    });
    let mut app = StudioApp::new(opts);
    app.state.panel = Panel::Layers;
    let mut h = Harness::builder()
        .with_size([1400.0, 900.0])
        .with_max_steps(24)
        .build_ui_state(|ui, app: &mut StudioApp| app.show(ui), app);
    h.run();
    // The first "Figure…" belongs to the curves; PDF is the default format.
    h.get_all_by_label("Figure…").next().unwrap().click();
    h.run();
    h.get_by_label("Save PDF…").click();
    h.run();
    let t = std::time::Instant::now();
    while h.state().exporter.written.is_empty() && t.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        h.run();
    }
    assert!(h.state().msgs.errors.is_empty(), "{:?}", h.state().msgs.errors);
    let written = h.state().exporter.written.clone();
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written[0].extension().unwrap(), "pdf");
    let text = pdf_text(&std::fs::read(&written[0]).unwrap());
    // The panel's window (all layers by default) is the one shaded.
    assert!(text.contains("Gradient intensity per depth bin"), "{text}");
    assert!(text.contains("window [1, 10]"), "{text}");

    // "Title line" off: the same figure without its title, for a caption.
    h.get_all_by_label("Figure…").next().unwrap().click();
    h.run();
    h.get_by_label("Title line").click();
    h.run();
    h.get_by_label("Save PDF…").click();
    h.run();
    let t = std::time::Instant::now();
    while h.state().exporter.written.len() < 2 && t.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        h.run();
    }
    let written = h.state().exporter.written.clone();
    assert_eq!(written.len(), 2, "{written:?}");
    let text = pdf_text(&std::fs::read(&written[1]).unwrap());
    assert!(!text.contains("Gradient intensity per depth bin"), "{text}");
    assert!(text.contains("window [1, 10]"), "{text}");
}
