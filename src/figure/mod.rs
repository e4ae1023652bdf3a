//! Publication figures without egui: the data comes from `model` (the same
//! queries the panels make), the drawing is plain SVG text written here, so
//! axes, ticks and labels stay real text in the file and no plotting crate
//! adds to the build.

pub mod model;
pub mod svg;

use std::path::Path;

use crate::engine::profile::LayerStatistic;
use model::{CorrelationTable, Dataset, Intensity, ProfileSource, RankScatter, WindowModel, proxy_scatter};
use svg::{Canvas, Theme};

/// What to draw and at which size.
#[derive(Clone, Debug)]
pub struct FigureSpec {
    pub kind: String,
    pub task: Option<String>,
    pub proxy: Option<String>,
    pub by_depth: bool,
    pub width_mm: f64,
    pub height_mm: f64,
    pub theme: Theme,
}

/// The SVG text of one figure of `ds`, or an error naming the option.
pub fn render(ds: &Dataset, spec: &FigureSpec) -> Result<String, String> {
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
    let mut c = Canvas::new(spec.width_mm, spec.height_mm, spec.theme);
    match spec.kind.as_str() {
        "curves" => {
            let src = ProfileSource::new(ds.clone());
            if src.count() == 0 {
                return Err(format!("{}: no layer profiles in this archive", ds.label));
            }
            let it = Intensity::build(&src.view(), LayerStatistic::default(), spec.by_depth);
            let window = if ds.has_truth(&task) {
                WindowModel::build(&src.view(), &ds.truth(&task))
                    .ok()
                    .and_then(|w| w.best)
            } else {
                None
            };
            let mut curves = vec![&it.all];
            let mut depth: Vec<_> = it.by_depth.iter().collect();
            depth.sort_by_key(|c| c.depth);
            curves.extend(depth);
            let series: Vec<(String, Vec<(f64, f64)>)> = curves
                .iter()
                .map(|cv| {
                    let pts = cv
                        .points
                        .iter()
                        .filter_map(|p| p.mean.map(|m| (p.bin as f64 + 1.0, m)))
                        .collect();
                    (cv.label.clone(), pts)
                })
                .collect();
            let title = match window {
                Some((a, b, r)) => format!(
                    "Gradient intensity · best window [{a}, {b}] ρ = {}",
                    model::format_value(r)
                ),
                None => "Gradient intensity".to_string(),
            };
            c.lines(
                &title,
                "percentile bin",
                model::statistic_axis(it.statistic),
                &series,
                window.map(|(a, b, _)| (a as f64 - 0.5, b as f64 + 0.5)),
            );
        }
        "windows" => {
            let src = ProfileSource::new(ds.clone());
            let w = WindowModel::build(&src.view(), &ds.truth(&task)).map_err(|e| format!("{}: {e}", ds.label))?;
            let labels: Vec<String> = (1..=w.grid.len()).map(|i| i.to_string()).collect();
            let cells: Vec<Vec<Option<f64>>> = w.grid.iter().map(|r| r.to_vec()).collect();
            c.heatmap(
                &format!("Spearman ρ of L-SWAG[a..b] on {task} (n = {})", w.n),
                "b (last bin)",
                "a (first bin)",
                &labels,
                &labels,
                &cells,
            );
        }
        "scatter" => {
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
            let rho = sc.rho.map_or("undefined".to_string(), model::format_value);
            c.scatter(
                &format!("{proxy} on {task}: ρ = {rho}, n = {}", sc.n),
                "true rank (1 = best)",
                &format!("{proxy} rank (1 = best)"),
                &sc.points,
            );
        }
        "proxies" => {
            let t = CorrelationTable::build(ds);
            if t.proxies.is_empty() {
                return Err(format!("{}: no proxies in this file", ds.label));
            }
            let cells: Vec<Vec<Option<f64>>> = t.spearman.clone();
            let rows: Vec<String> = t
                .proxies
                .iter()
                .zip(&t.negated)
                .map(|(p, n)| if *n { format!("−{p}") } else { p.clone() })
                .collect();
            c.heatmap(
                "Spearman ρ of each proxy with each task",
                "task",
                "proxy",
                &t.tasks,
                &rows,
                &cells,
            );
        }
        other => {
            return Err(format!(
                "KIND: {other} is not a figure kind (curves, windows, scatter, proxies)"
            ));
        }
    }
    Ok(c.finish())
}

/// Writes the figure; the extension of `out` chooses the format.
pub fn write(ds: &Dataset, spec: &FigureSpec, out: &Path) -> Result<(), String> {
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext != "svg" {
        return Err(format!(
            "--out {}: this build writes .svg figures (convert with rsvg-convert or Inkscape for PDF/PNG)",
            out.display()
        ));
    }
    let text = render(ds, spec)?;
    std::fs::write(out, text).map_err(|e| format!("{}: {e}", out.display()))
}
