//! Publication figures without egui: the data comes from `model` (the same
//! queries the panels make), the drawing is plain SVG written by `svg`, so
//! axes, ticks and labels stay real text, and `output` turns the SVG into
//! PDF (text kept as text, the font embedded) or PNG at a chosen
//! resolution. The panels' export buttons call the same `*_svg` functions
//! with what they show.

pub mod builtin;
pub mod model;
pub mod output;
pub mod svg;

use std::path::Path;

use eframe::egui::Color32;

use crate::engine::profile::LayerStatistic;
use crate::ui::theme::{Palette, sequential, with_alpha};
use model::{
    BINS, CorrelationTable, Dataset, Intensity, LibraConfig, LibraView, ProfileSource, RankScatter, SearchFigure,
    SearchView, WindowModel, proxy_scatter, run_libra, short_bar_label,
};
pub use output::Format;
use svg::{Axis, Canvas, Cell, Heatmap, Mark, Page, Plot, Series};

/// The figure kinds of `lswag-studio figure`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Curves,
    Windows,
    Bins,
    Scatter,
    Proxies,
    Libra,
    Search,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Curves,
        Kind::Windows,
        Kind::Bins,
        Kind::Scatter,
        Kind::Proxies,
        Kind::Libra,
        Kind::Search,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Curves => "curves",
            Kind::Windows => "windows",
            Kind::Bins => "bins",
            Kind::Scatter => "scatter",
            Kind::Proxies => "proxies",
            Kind::Libra => "libra",
            Kind::Search => "search",
        }
    }

    pub fn parse(s: &str) -> Result<Kind, String> {
        Kind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            format!("KIND: {s} is not a figure kind ({})", names.join(", "))
        })
    }
}

/// What to draw from an archive, and at which size.
#[derive(Clone, Debug)]
pub struct FigureSpec {
    pub kind: Kind,
    pub task: Option<String>,
    pub proxy: Option<String>,
    pub by_depth: bool,
    /// The window [a, b] of curves and bins; `None` = the best one.
    pub window: Option<(usize, usize)>,
    pub page: Page,
}

/// The SVG text of one figure of `ds` (every kind but `search`), or an
/// error naming the option.
pub fn render(ds: &Dataset, spec: &FigureSpec) -> Result<String, String> {
    spec.page.check()?;
    if let Some((a, b)) = spec.window
        && !(1 <= a && a <= b && b <= BINS)
    {
        return Err(format!("--window {a},{b}: expected 1 <= a <= b <= {BINS}"));
    }
    let task = match &spec.task {
        Some(t) if ds.has_task(t) => t.clone(),
        Some(t) => {
            return Err(format!(
                "--task: {t} is not a task of {} (tasks: {})",
                ds.label,
                ds.task_names().join(", ")
            ));
        }
        None => ds.default_task().ok_or("--task: the archive has no tasks")?,
    };
    let needs_truth = |what: &str| {
        if ds.has_truth(&task) {
            Ok(())
        } else {
            Err(format!(
                "{}: task {task} has no ground truth, so {what} cannot be drawn",
                ds.label
            ))
        }
    };
    let page = &spec.page;
    match spec.kind {
        Kind::Curves => {
            let src = ProfileSource::new(ds.clone());
            if src.count() == 0 {
                return Err(format!("{}: no layer profiles in this archive", ds.label));
            }
            let it = Intensity::build(&src.view(), LayerStatistic::default(), spec.by_depth);
            let windows = if ds.has_truth(&task) {
                WindowModel::build(&src.view(), &ds.truth(&task)).ok()
            } else {
                None
            };
            let window = spec
                .window
                .or(windows.as_ref().and_then(|m| m.best.map(|(a, b, _)| (a, b))));
            let rho = windows
                .as_ref()
                .zip(window)
                .and_then(|(m, (a, b))| m.grid[a - 1][b - 1]);
            Ok(curves_svg(page, &it, window.map(|w| (w, rho))))
        }
        Kind::Windows | Kind::Bins => {
            needs_truth("the windows")?;
            let src = ProfileSource::new(ds.clone());
            let w = WindowModel::build(&src.view(), &ds.truth(&task)).map_err(|e| format!("{}: {e}", ds.label))?;
            let window = spec.window.or(w.best.map(|(a, b, _)| (a, b))).unwrap_or((1, BINS));
            Ok(if spec.kind == Kind::Windows {
                windows_svg(page, &w, &task, window)
            } else {
                bins_svg(page, &w, &task, window)
            })
        }
        Kind::Scatter => {
            needs_truth("a rank scatter")?;
            let proxy = spec
                .proxy
                .as_deref()
                .ok_or("--proxy: scatter needs the proxy to plot")?;
            let sc: RankScatter = proxy_scatter(ds, &task, proxy).ok_or_else(|| {
                let names: Vec<String> = ds.proxy_columns(&task).into_iter().map(|c| c.0).collect();
                format!(
                    "--proxy: {proxy} is not a proxy of {} (proxies: {})",
                    ds.label,
                    names.join(", ")
                )
            })?;
            Ok(scatter_svg(
                page,
                &format!("Rank of {proxy} against the true rank ({task})"),
                &sc,
                proxy,
            ))
        }
        Kind::Proxies => {
            let t = CorrelationTable::build(ds);
            if t.proxies.is_empty() || t.tasks.is_empty() {
                return Err(format!(
                    "{}: no proxy and task with ground truth to correlate",
                    ds.label
                ));
            }
            let order: Vec<usize> = (0..t.proxies.len()).collect();
            Ok(proxies_svg(page, &t, &order))
        }
        Kind::Libra => {
            needs_truth("LIBRA")?;
            let v = run_libra(ds, &task, &LibraConfig::default()).map_err(|e| format!("{}: {e}", ds.label))?;
            Ok(libra_svg(page, &v))
        }
        Kind::Search => Err("KIND search draws a search log: lswag-studio figure search LOG".to_string()),
    }
}

/// Renders `svg` as `format` and writes it to `out` atomically (a reader
/// never sees half a figure).
pub fn write(svg: &str, format: Format, out: &Path) -> Result<(), String> {
    let bytes = output::encode(svg, format)?;
    crate::archive::write_atomic(out, &bytes).map_err(|e| e.to_string())
}

/// One figure filling the page under its title.
fn single(page: &Page, title: &str, draw: impl FnOnce(&mut Canvas, svg::Rect)) -> String {
    let mut c = Canvas::new(page);
    let area = c.area();
    let rest = c.title(area, title);
    draw(&mut c, rest);
    c.finish()
}

fn colors(page: &Page) -> Palette {
    svg::Colors::of(page.theme).palette
}

/// Gradient-intensity curves: the mean with a ±1 std band, one curve per
/// depth when built so, and the window shaded (with its rho, when known).
pub fn curves_svg(page: &Page, it: &Intensity, window: Option<((usize, usize), Option<f64>)>) -> String {
    let p = colors(page);
    let mut series = Vec::new();
    if let Some(((a, b), rho)) = window {
        let label = match rho {
            Some(r) => format!("window [{a}, {b}]: ρ = {}", svg::number(r, 3)),
            None => format!("window [{a}, {b}]"),
        };
        series.push(Series::new(
            label,
            Mark::Span {
                x0: a as f64 - 0.5,
                x1: b as f64 + 0.5,
                color: p.window_fill,
            },
        ));
    }
    let all = &it.all;
    let band: Vec<(f64, f64, f64)> = all
        .points
        .iter()
        .filter_map(|q| Some((q.bin as f64, q.mean? - q.std?, q.mean? + q.std?)))
        .collect();
    if !band.is_empty() {
        series.push(Series::new(
            "± 1 std across architectures",
            Mark::Band {
                x: band.iter().map(|t| t.0).collect(),
                lo: band.iter().map(|t| t.1).collect(),
                hi: band.iter().map(|t| t.2).collect(),
                color: p.band_fill,
            },
        ));
    }
    let mut depth: Vec<_> = it.by_depth.iter().collect();
    // Shallow to deep, numerically (L = 8 before L = 23).
    depth.sort_by_key(|c| c.depth);
    for (i, c) in depth.iter().enumerate() {
        series.push(Series::new(
            c.label.clone(),
            Mark::Line {
                points: curve_points(c),
                color: depth_colour(&p, i, depth.len()),
                width: 0.35,
                dash: None,
                markers: false,
            },
        ));
    }
    series.push(Series::new(
        format!("mean, {}", all.label),
        Mark::Line {
            points: curve_points(all),
            color: if depth.is_empty() { p.accent } else { p.text },
            width: 0.6,
            dash: None,
            markers: true,
        },
    ));
    let ys = series.iter().flat_map(|s| match &s.mark {
        Mark::Line { points, .. } => points.iter().map(|q| q.1).collect::<Vec<_>>(),
        Mark::Band { lo, hi, .. } => lo.iter().chain(hi).copied().collect(),
        _ => Vec::new(),
    });
    let plot = Plot {
        title: None,
        x_label: "depth bin p (10% of the weight layers each, 1 = input side)".into(),
        y_label: model::statistic_axis(it.statistic).into(),
        x: Axis::integers(1, BINS),
        y: Axis::auto(ys.collect::<Vec<f64>>(), &[]),
        series,
    };
    single(
        page,
        &format!(
            "Gradient intensity per depth bin: {}",
            model::statistic_label(it.statistic)
        ),
        |c, r| c.plot(r, &plot),
    )
}

fn curve_points(c: &model::Curve) -> Vec<(f64, f64)> {
    c.points
        .iter()
        .filter_map(|q| q.mean.map(|m| (q.bin as f64, m)))
        .collect()
}

/// Shallow to deep along viridis, as the Layers panel colours depths.
pub fn depth_colour(p: &Palette, i: usize, n: usize) -> Color32 {
    let t = if n > 1 { i as f64 / (n - 1) as f64 } else { 0.0 };
    sequential(if p.dark { 0.25 + 0.75 * t } else { 0.85 * t })
}

/// The 10 x 10 grid of window rhos, `window` outlined.
pub fn windows_svg(page: &Page, w: &WindowModel, task: &str, window: (usize, usize)) -> String {
    let labels: Vec<String> = (1..=BINS).map(|i| i.to_string()).collect();
    let cells = (0..BINS)
        .map(|a| {
            (0..BINS)
                .map(|b| match w.grid[a][b] {
                    _ if b < a => Cell::Blank,
                    Some(v) => Cell::Value(v),
                    None => Cell::Missing,
                })
                .collect()
        })
        .collect();
    let m = Heatmap {
        title: None,
        x_label: "window end b (L-hat)".into(),
        y_label: "window start a (l-hat)".into(),
        cols: labels.clone(),
        rows: labels,
        cells,
        decimals: 2,
        outlined: vec![(window.0 - 1, window.1 - 1)],
        scale_label: "Spearman ρ".into(),
    };
    let title = format!(
        "Spearman ρ of L-SWAG[a..b] on {task} (n = {}), window [{}, {}] outlined",
        w.n, window.0, window.1
    );
    single(page, &title, |c, r| c.heatmap(r, &m))
}

/// Rho of each single bin, the bins of `window` in the handle colour.
pub fn bins_svg(page: &Page, w: &WindowModel, task: &str, window: (usize, usize)) -> String {
    let p = colors(page);
    let (a, b) = window;
    let bars = |inside: bool| -> Vec<(f64, f64)> {
        w.single
            .iter()
            .enumerate()
            .filter(|(i, _)| (a..=b).contains(&(i + 1)) == inside)
            .filter_map(|(i, r)| r.map(|r| ((i + 1) as f64, r)))
            .collect()
    };
    let mut series = vec![Series::new(
        format!("bin inside the window [{a}, {b}]"),
        Mark::Bars {
            bars: bars(true),
            color: with_alpha(p.handle, 210),
            width: 0.7,
            horizontal: false,
            values: false,
        },
    )];
    let outside = bars(false);
    if !outside.is_empty() {
        series.push(Series::new(
            "bin outside the window",
            Mark::Bars {
                bars: outside,
                color: with_alpha(p.accent, 210),
                width: 0.7,
                horizontal: false,
                values: false,
            },
        ));
    }
    let plot = Plot {
        title: None,
        x_label: "depth bin p".into(),
        y_label: format!("Spearman ρ of L-SWAG[p..p] (n = {})", w.n),
        x: Axis::integers(1, BINS),
        y: Axis::auto(w.single.iter().flatten().copied(), &[0.0]),
        series,
    };
    single(page, &format!("Spearman ρ per single bin ({task})"), |c, r| {
        c.plot(r, &plot)
    })
}

/// Predicted rank against true rank, and the diagonal.
pub fn scatter_svg(page: &Page, title: &str, s: &RankScatter, score: &str) -> String {
    let plot = rank_plot(
        page,
        None,
        s.n,
        &format!("rank by {score} (1 = best)"),
        vec![(
            Some(format!(
                "architectures (n = {}), Spearman ρ = {}",
                s.n,
                s.rho.map_or("undefined".to_string(), |r| svg::number(r, 3))
            )),
            s.points.clone(),
            colors(page).scatter,
        )],
    );
    single(page, title, |c, r| c.plot(r, &plot))
}

/// A rank-vs-rank plot of `groups` (legend label, points, colour).
fn rank_plot(
    page: &Page,
    title: Option<String>,
    n: usize,
    y_label: &str,
    groups: Vec<(Option<String>, Vec<[f64; 2]>, Color32)>,
) -> Plot {
    let p = colors(page);
    let nf = n.max(1) as f64;
    let radius = if n > 5_000 {
        0.22
    } else if n > 1_000 {
        0.32
    } else {
        0.5
    };
    let mut series = vec![Series::new(
        "perfect ranking (y = x)",
        Mark::Line {
            points: vec![(1.0, 1.0), (nf, nf)],
            color: p.diagonal,
            width: 0.3,
            dash: Some("1.2,0.8"),
            markers: false,
        },
    )];
    for (label, pts, color) in groups {
        series.push(Series {
            label,
            mark: Mark::Points {
                points: pts.iter().map(|q| (q[0], q[1])).collect(),
                color,
                radius,
            },
        });
    }
    Plot {
        title,
        x_label: "true rank (1 = best)".into(),
        y_label: y_label.into(),
        x: Axis::ranged(0.0, nf + 1.0),
        y: Axis::ranged(0.0, nf + 1.0),
        series,
    }
}

/// The correlation matrix of the Proxies panel: per task Spearman rho and
/// Kendall tau, proxies in `order`.
pub fn proxies_svg(page: &Page, t: &CorrelationTable, order: &[usize]) -> String {
    let (rows, cols, values) = t.matrix(order);
    let m = Heatmap {
        title: None,
        x_label: "task and coefficient (ρ: Spearman, τ: Kendall tau-b)".into(),
        y_label: "proxy".into(),
        cols,
        rows,
        cells: values
            .iter()
            .map(|r| r.iter().map(|v| v.map_or(Cell::Missing, Cell::Value)).collect())
            .collect(),
        decimals: 3,
        outlined: Vec::new(),
        scale_label: "rank correlation".into(),
    };
    single(page, "Rank correlation of each proxy with the ground truth", |c, r| {
        c.heatmap(r, &m)
    })
}

/// LIBRA's ensemble under each combination rule against the best single
/// proxy, as the LIBRA panel draws them (first rule on top).
pub fn libra_svg(page: &Page, v: &LibraView) -> String {
    let p = colors(page);
    let bars = v.bars();
    let n = bars.len();
    // Top to bottom in reading order: bar i at y = n - 1 - i.
    let labels: Vec<String> = bars.iter().rev().map(|(l, _)| short_bar_label(l)).collect();
    let series: Vec<Series> = bars
        .iter()
        .enumerate()
        .filter_map(|(i, (_, r))| {
            let color = if i + 1 == n { p.series[7] } else { p.series[i % 7] };
            r.map(|r| {
                Series::unlabelled(Mark::Bars {
                    bars: vec![((n - 1 - i) as f64, r)],
                    color,
                    width: 0.65,
                    horizontal: true,
                    values: true,
                })
            })
        })
        .collect();
    let lo = bars.iter().filter_map(|b| b.1).fold(0.0, f64::min);
    let plot = Plot {
        title: None,
        x_label: "Spearman ρ with the ground truth".into(),
        y_label: String::new(),
        x: Axis::ranged(lo, 1.0),
        y: Axis::categories(&labels),
        series,
    };
    let title = format!(
        "LIBRA ({}) against the best single proxy ({}, n = {})",
        v.members.join(" + "),
        v.task,
        v.n
    );
    single(page, &title, |c, r| c.plot(r, &plot))
}

/// Colour of a search generation: sky blue to vermilion, as in the Search panel.
pub fn generation_colour(palette: &Palette, g: usize, count: usize) -> Color32 {
    let t = if count <= 1 { 1.0 } else { g as f32 / (count - 1) as f32 };
    let (a, b) = (palette.series[4], palette.series[5]);
    let mix = |x: u8, y: u8| (x as f32 + (y as f32 - x as f32) * t).round() as u8;
    Color32::from_rgb(mix(a.r(), b.r()), mix(a.g(), b.g()), mix(a.b(), b.b()))
}

fn search_scatter_plot(page: &Page, v: &SearchView, title: Option<String>) -> Plot {
    let p = colors(page);
    let count = v.scatter.last().map_or(1, |(g, _)| g + 1);
    let last = v.scatter.len().saturating_sub(1);
    // The first and last generation name the colour ramp; the rest follow it.
    let groups = v
        .scatter
        .iter()
        .enumerate()
        .map(|(i, (g, pts))| {
            let label = (i == 0 || i == last).then(|| format!("generation {g}"));
            (label, pts.clone(), generation_colour(&p, *g, count))
        })
        .collect();
    rank_plot(page, title, v.with_truth, "fitness rank (1 = best)", groups)
}

fn search_scatter_title(v: &SearchView) -> String {
    format!(
        "Rank by fitness vs true rank (n = {}, ρ = {})",
        v.with_truth,
        v.rho.map_or("–".into(), |r| svg::number(r, 3))
    )
}

fn search_curve_plot(page: &Page, v: &SearchView, budget: usize, title: Option<String>) -> Plot {
    let p = colors(page);
    let mut series = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    if let Some(b) = &v.band {
        let x: Vec<f64> = (1..=b.median.len()).map(|k| k as f64).collect();
        ys.extend(b.p10.iter().chain(&b.p90));
        series.push(Series::new(
            format!("random search, 10–90% of {} runs", b.runs),
            Mark::Band {
                x: x.clone(),
                lo: b.p10.clone(),
                hi: b.p90.clone(),
                color: with_alpha(p.series[7], 50),
            },
        ));
        series.push(Series::new(
            "random search, median",
            Mark::Line {
                points: x.iter().copied().zip(b.median.iter().copied()).collect(),
                color: p.series[7],
                width: 0.35,
                dash: Some("1.6,1.0"),
                markers: false,
            },
        ));
    }
    ys.extend(v.oracle.iter().chain(&v.best).map(|q| q[1]));
    series.push(Series::new(
        "best evaluated (oracle)",
        Mark::Line {
            points: v.oracle.iter().map(|q| (q[0], q[1])).collect(),
            color: p.series[2],
            width: 0.4,
            dash: Some("0.5,0.6"),
            markers: false,
        },
    ));
    series.push(Series::new(
        "search's pick",
        Mark::Line {
            points: v.best.iter().map(|q| (q[0], q[1])).collect(),
            color: p.accent,
            width: 0.6,
            dash: None,
            markers: false,
        },
    ));
    Plot {
        title,
        x_label: "evaluations".into(),
        y_label: "true accuracy (%)".into(),
        x: Axis::ranged(0.0, budget.max(1) as f64),
        y: Axis::auto(ys, &[]),
        series,
    }
}

/// The Search panel's rank scatter on its own.
pub fn search_scatter_svg(page: &Page, v: &SearchView) -> String {
    let plot = search_scatter_plot(page, v, None);
    single(page, &search_scatter_title(v), |c, r| c.plot(r, &plot))
}

/// The Search panel's best-so-far curve on its own.
pub fn search_curve_svg(page: &Page, v: &SearchView, budget: usize) -> String {
    let plot = search_curve_plot(page, v, budget, None);
    single(page, "Best-so-far true accuracy", |c, r| c.plot(r, &plot))
}

/// A search log's figure: rank scatter and best-so-far curve side by side.
pub fn search_svg(page: &Page, f: &SearchFigure) -> Result<String, String> {
    page.check()?;
    let scatter = search_scatter_plot(page, &f.view, Some(search_scatter_title(&f.view)));
    let curve = search_curve_plot(page, &f.view, f.budget, Some("Best-so-far true accuracy".into()));
    Ok(single(page, &format!("Search: {}", f.description), |c, r| {
        let cols = r.columns(2, 4.0);
        c.plot(cols[0], &scatter);
        c.plot(cols[1], &curve);
    }))
}
