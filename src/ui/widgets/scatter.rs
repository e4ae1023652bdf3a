//! Predicted rank against true rank (paper Fig. 8 style), one marker per
//! architecture; hovering a marker names the architecture.

use eframe::egui;
use egui::{Response, Ui};
use egui_plot::{HoverPosition, Line, LineStyle, MarkerShape, Plot, PlotPoints, Points};

use crate::ui::model::{Dataset, RankScatter};
use crate::ui::theme::Palette;
use crate::ui::widgets::{LegendItem, Mark, legend_row};

/// Draws a rank scatter of `score` (its name) on `task`.
pub fn rank_scatter_ui(
    ui: &mut Ui,
    id: &str,
    palette: &Palette,
    ds: &Dataset,
    s: &RankScatter,
    score: &str,
    height: f32,
) -> Response {
    let n = s.n.max(1) as f64;
    let points_name = format!(
        "architectures (n = {}), Spearman ρ = {}",
        s.n,
        s.rho.map_or("undefined".to_string(), |r| format!("{r:.3}"))
    );
    let radius = if s.n > 5_000 {
        1.2
    } else if s.n > 1_000 {
        1.8
    } else {
        2.6
    };
    let hover_name = points_name.clone();
    let legend = [
        LegendItem::new(Mark::Dot, palette.scatter, points_name.clone()),
        LegendItem::new(Mark::Dashed, palette.diagonal, "perfect ranking (y = x)"),
    ];
    let rows = &s.rows;
    let pts = &s.points;
    let response = Plot::new(id)
        .height(height)
        .custom_x_axes(vec![egui_plot::AxisHints::new_x().label_spacing(28.0..=44.0)])
        .x_axis_label("true rank (1 = best)")
        .y_axis_label(format!("rank by {score} (1 = best)"))
        .include_x(0.0)
        .include_x(n + 1.0)
        .include_y(0.0)
        .include_y(n + 1.0)
        .show_crosshair(false)
        .label_formatter(move |pos| match pos {
            HoverPosition::NearDataPoint { plot_name, index, .. } if *plot_name == hover_name => {
                let row = *rows.get(*index)?;
                let p = pts.get(*index)?;
                Some(format!(
                    "{}\ntrue rank {:.0}, predicted rank {:.0}",
                    ds.key(row),
                    p[0],
                    p[1]
                ))
            }
            _ => None,
        })
        .show(ui, |plot| {
            plot.line(
                Line::new("perfect ranking (y = x)", PlotPoints::new(vec![[1.0, 1.0], [n, n]]))
                    .color(palette.diagonal)
                    .style(LineStyle::dashed_dense())
                    .width(1.2)
                    .allow_hover(false),
            );
            plot.points(
                Points::new(points_name, PlotPoints::new(s.points.clone()))
                    .shape(MarkerShape::Circle)
                    .filled(true)
                    .radius(radius)
                    .color(palette.scatter),
            );
        })
        .response;
    // Under the plot: a legend in a corner would hide the points there.
    legend_row(ui, palette, &legend);
    response
}
