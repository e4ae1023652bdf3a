//! Layers panel, the window tuner: gradient-intensity curves per depth bin
//! (mean line with a +-1 std band, statistic selectable, one curve per
//! depth on demand) with the window [l-hat, L-hat] as two draggable handles;
//! under it the Spearman rho of L-SWAG per single bin, the 10 x 10 window
//! heatmap (click a cell to set the window) and the live rank scatter of
//! L-SWAG for the current window, recomputed from the cached profiles.

use eframe::egui;
use egui::{Align, Color32, CursorIcon, Layout, RichText, Stroke, Ui, vec2};
use egui_plot::{Bar, BarChart, FilledArea, GridMark, Line, MarkerShape, Plot, PlotPoints, Points, Span, VLine};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{PanelCtx, no_truth_text};
use crate::engine::profile::LayerStatistic;
use crate::figure::{self, svg::Page};
use crate::ui::background::Background;
use crate::ui::model::{BINS, Intensity, ProfileSource, RankScatter, WindowModel, statistic_axis, statistic_label};
use crate::ui::scoring::{ScoreRun, ScoreSettings};
use crate::ui::theme::with_alpha;
use crate::ui::widgets::matrix::{Matrix, Scale};
use crate::ui::widgets::scatter::rank_scatter_ui;
use crate::ui::widgets::{self, LegendItem, Mark, vector_figure};

/// Persisted settings of the layers panel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LayersSettings {
    pub statistic: LayerStatistic,
    pub by_depth: bool,
    /// The window [a, b], 1 <= a <= b <= 10.
    pub window: (usize, usize),
    pub score: ScoreSettings,
    /// The heatmap's colours span its values (else the full -1..1).
    pub fit_colours: bool,
}

impl Default for LayersSettings {
    fn default() -> Self {
        LayersSettings {
            statistic: LayerStatistic::Lambda,
            by_depth: false,
            window: (1, BINS),
            score: ScoreSettings::default(),
            fit_colours: false,
        }
    }
}

/// What the panel asks the shell to do.
#[derive(Clone, Debug, PartialEq)]
pub enum LayersAction {
    /// A score run ended with results: attach its file to the archive.
    AttachScores(std::path::PathBuf),
    /// A score run ended without results (cancelled early, failed): its status.
    Ended(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Handle {
    Start,
    End,
}

type CurveKey = (u64, u64, LayerStatistic, bool);
type WindowKey = (u64, String, u64);

#[derive(Default)]
pub struct LayersPanel {
    curves: Option<(CurveKey, Intensity)>,
    windows: Background<WindowKey, Result<WindowModel, String>>,
    live: Option<((WindowKey, usize, usize), Arc<RankScatter>)>,
    drag: Option<Handle>,
    pub score_open: bool,
    pub score: Option<ScoreRun>,
}

/// Clamps a window to 1 <= a <= b <= 10.
pub fn clamp_window((a, b): (usize, usize)) -> (usize, usize) {
    let a = a.clamp(1, BINS);
    (a, b.clamp(a, BINS))
}

impl LayersPanel {
    fn overlay_version(&self) -> u64 {
        self.score.as_ref().map_or(0, |s| s.overlay_version)
    }

    fn source(&self, ctx: &PanelCtx<'_>) -> ProfileSource {
        self.source_of(ctx.data)
    }

    fn source_of(&self, data: &crate::ui::model::Dataset) -> ProfileSource {
        let mut src = ProfileSource::new(data.clone());
        if let Some(run) = &self.score {
            src.overlay = run.overlay.clone();
        }
        src
    }

    /// Layer profiles of `data` and of a score run in progress (the status
    /// bar counts those arriving, not only the archive's).
    pub fn profile_count(&self, data: &crate::ui::model::Dataset) -> usize {
        match &self.score {
            Some(run) if !run.overlay.is_empty() => self.source_of(data).count(),
            _ => data.profile_count(),
        }
    }

    /// The window model when ready (tests and the screenshot mode wait on it).
    pub fn is_busy(&self) -> bool {
        self.windows.is_running() || self.score.as_ref().is_some_and(ScoreRun::is_running)
    }

    /// The rank scatter of the current window, once computed.
    pub fn live(&self) -> Option<&RankScatter> {
        self.live.as_ref().map(|(_, l)| l.as_ref())
    }

    /// Polls the score job; returns an action when it has ended.
    pub fn poll(&mut self) -> Option<LayersAction> {
        self.windows.poll();
        let run = self.score.as_mut()?;
        if !run.poll() {
            return None;
        }
        Some(if run.finished.is_some_and(|(n, _)| n > 0) {
            LayersAction::AttachScores(run.out.clone())
        } else {
            LayersAction::Ended(run.status())
        })
    }

    /// Cancels a running score run (another archive opens); true if one ran.
    pub fn cancel_score(&mut self) -> bool {
        match &mut self.score {
            Some(run) if run.is_running() => {
                run.cancel();
                true
            }
            _ => false,
        }
    }

    /// Forgets the scored overlay once it is part of the archive (the
    /// run's last status stays on screen).
    pub fn scores_attached(&mut self) {
        if let Some(run) = &mut self.score
            && !run.is_running()
        {
            run.clear_overlay();
        }
    }

    pub fn ui(&mut self, ui: &mut Ui, ctx: &mut PanelCtx<'_>, s: &mut LayersSettings) {
        // Scrolls when the window is too small for the plots' minimum sizes.
        egui::ScrollArea::vertical()
            .id_salt("layers_scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| self.content(ui, ctx, s));
    }

    fn content(&mut self, ui: &mut Ui, ctx: &mut PanelCtx<'_>, s: &mut LayersSettings) {
        let palette = ctx.palette;
        let buildable = crate::space::NetConfig::default_for(ctx.data.space()).is_some();
        s.window = clamp_window(s.window);
        let src = self.source(ctx);
        let profile_count = src.count();
        let version = self.overlay_version();

        // Controls.
        ui.horizontal_wrapped(|ui| {
            ui.label("Statistic:");
            egui::ComboBox::from_id_salt("layer_statistic")
                .selected_text(statistic_label(s.statistic))
                .show_ui(ui, |ui| {
                    for stat in [LayerStatistic::Lambda, LayerStatistic::MeanLogSigma] {
                        ui.selectable_value(&mut s.statistic, stat, statistic_label(stat));
                    }
                })
                .response
                .accessible_name("Statistic");
            ui.checkbox(&mut s.by_depth, "one curve per depth L");
            ui.separator();
            ui.label("Window:");
            let (mut a, mut b) = s.window;
            ui.add(egui::DragValue::new(&mut a).range(1..=BINS).prefix("l-hat = "))
                .on_hover_text("First depth bin of the window (l-hat)");
            ui.add(egui::DragValue::new(&mut b).range(1..=BINS).prefix("L-hat = "))
                .on_hover_text("Last depth bin of the window (L-hat)");
            if (a, b) != s.window {
                s.window = if a != s.window.0 {
                    clamp_window((a, b.max(a)))
                } else {
                    clamp_window((a.min(b), b))
                };
            }
            if ui.small_button("All layers").clicked() {
                s.window = (1, BINS);
            }
            ui.separator();
            let running = self.score.as_ref().is_some_and(ScoreRun::is_running);
            if ui
                .add_enabled(!running && buildable, egui::Button::new("Score…"))
                .on_hover_text("Run the probe on architectures of this archive (background job)")
                .on_disabled_hover_text(if buildable {
                    "A score run is in progress".to_string()
                } else {
                    crate::space::cannot_build(ctx.data.space())
                })
                .clicked()
            {
                self.score_open = true;
            }
        });
        if let Some(run) = &mut self.score {
            ui.horizontal(|ui| {
                if run.is_running()
                    && ui
                        .add_enabled(!run.cancelling, egui::Button::new("Cancel"))
                        .on_hover_text("Stop after the architecture being probed; the file keeps every result")
                        .clicked()
                {
                    run.cancel();
                }
                run.ui(ui, &palette);
            });
            if run.is_running() {
                ui.ctx().request_repaint_after(std::time::Duration::from_millis(200));
            }
        }
        self.score_window(ui, ctx, s);

        if profile_count == 0 {
            let text = if buildable {
                "This archive has no layer profiles, so there are no gradient-intensity curves yet. \
                 Use Score… to probe architectures of the archive (profiles appear here as they are computed), \
                 or attach a score file that carries profiles (Archive panel)."
                    .to_string()
            } else {
                format!(
                    "This archive has no layer profiles, and the probe cannot make them: {}. \
                     Open an archive, or attach a score file, that carries profiles (Archive panel).",
                    crate::space::cannot_build(ctx.data.space())
                )
            };
            widgets::note(ui, &palette, text);
            return;
        }

        let has_truth = ctx.data.has_truth(ctx.task);
        // Curves (cheap: recomputed on the UI thread when inputs change).
        let curve_key: CurveKey = (ctx.data.generation, version, s.statistic, s.by_depth);
        if self.curves.as_ref().is_none_or(|(k, _)| *k != curve_key) {
            self.curves = Some((curve_key, Intensity::build(&src.view(), s.statistic, s.by_depth)));
        }

        // Windows need ground truth.
        let wkey: WindowKey = (ctx.data.generation, ctx.task.to_string(), version);
        if has_truth && self.windows.needs(&wkey) {
            let truth = ctx.data.truth(ctx.task);
            let job_src = src.clone();
            self.windows.start(ctx.exec, wkey.clone(), move |_| {
                WindowModel::build(&job_src.view(), &truth)
            });
        }
        let model = if has_truth {
            self.windows.get().and_then(|r| r.as_ref().ok())
        } else {
            None
        };
        let live = model.map(|m| {
            let key = (wkey.clone(), s.window.0, s.window.1);
            if self.live.as_ref().is_none_or(|(k, _)| *k != key) {
                self.live = Some((key, Arc::new(m.live(s.window.0, s.window.1))));
            }
            match &self.live {
                Some((_, l)) => l.clone(),
                None => Arc::new(RankScatter::default()),
            }
        });

        // Summary line.
        ui.horizontal_wrapped(|ui| {
            let (a, b) = s.window;
            match (&live, model) {
                (Some(l), Some(m)) => {
                    ui.label(
                        RichText::new(format!(
                            "Spearman ρ of L-SWAG[{a}..{b}] = {}",
                            l.rho.map_or("undefined".to_string(), |r| format!("{r:.3}"))
                        ))
                        .strong()
                        .size(17.0)
                        .color(palette.accent),
                    );
                    ui.label(format!("on {} architectures", l.n));
                    if let Some((ba, bb, br)) = m.best {
                        ui.label(
                            RichText::new(format!("· best window [{ba}, {bb}]: ρ = {br:.3}")).color(palette.weak_text),
                        );
                    }
                    if let Some(all) = m.grid[0][BINS - 1] {
                        ui.label(RichText::new(format!("· all layers [1, 10]: ρ = {all:.3}")).color(palette.weak_text));
                    }
                    // The stored `lswag` proxy is undefined on these cells, so
                    // the Proxies panel's ρ is over fewer architectures.
                    let dead = ctx.data.profiles().iter().flatten().filter(|p| p.all_dead()).count();
                    if dead > 0 {
                        ui.label(
                            RichText::new(format!(
                                "· {dead} with every layer dead count as L-SWAG 0 here; the lswag proxy column \
                                 (Proxies panel) leaves them out"
                            ))
                            .color(palette.weak_text),
                        )
                        .on_hover_text(
                            "A cell cut off from its input has no gradient spread in any layer: windows over its \
                             profile sum to 0, while the stored lswag value is undefined (missing), so the two \
                             all-layers ρ differ by these architectures",
                        );
                    }
                }
                _ => {
                    ui.label(format!("{profile_count} architectures with layer profiles"));
                }
            }
        });

        let avail = ui.available_width();
        let share = if has_truth { 0.42 } else { 0.7 };
        let curve_h = (ui.available_height() * share).clamp(200.0, 560.0);
        if let Some((_, curves)) = &self.curves {
            let csv = || curves.csv();
            let title = format!("Gradient intensity per depth bin: {}", statistic_label(s.statistic));
            let mut window = s.window;
            let shown = s.window;
            let rho = model.and_then(|m| m.grid[shown.0 - 1][shown.1 - 1]);
            let draw = |page: &Page| figure::curves_svg(page, curves, Some((shown, rho)));
            vector_figure(ui, ctx.exporter, ctx.msgs, &title, csv, draw, |ui| {
                self.drag = curves_plot(ui, curves, &mut window, self.drag, &palette, curve_h - 24.0, avail);
            });
            s.window = clamp_window(window);
        }

        if !has_truth {
            widgets::note(
                ui,
                &palette,
                no_truth_text(
                    ctx.task,
                    "the Spearman ρ per bin, the window heatmap and the rank scatter",
                ),
            );
            return;
        }
        let Some(model) = model else {
            if let Some(Err(reason)) = self.windows.get() {
                widgets::note(ui, &palette, format!("Windows cannot be scored: {reason}"));
            } else if self.windows.is_lost() {
                widgets::note(ui, &palette, "The window computation stopped unexpectedly.");
            } else {
                widgets::working(ui, "Scoring all 55 windows…");
            }
            return;
        };

        ui.add_space(4.0);
        let bottom_h = ui.available_height().clamp(260.0, 420.0);
        let cell = vec2(34.0, ((bottom_h - 90.0) / BINS as f32).clamp(16.0, 26.0));
        let heat_w = 24.0 + 30.0 + cell.x * BINS as f32 + 14.0 + 78.0 + 16.0;
        // Three columns when the bars and the scatter get 260 px each; else
        // the scatter goes under the bars and the heatmap.
        let one_row = avail - heat_w - 24.0 >= 520.0;
        let rest = if one_row {
            avail - heat_w - 24.0
        } else {
            (avail - heat_w - 16.0).max(200.0) / 0.42
        };
        let bars_w = rest * 0.42;
        let scatter_w = if one_row { rest - bars_w } else { avail - 8.0 };
        let layout = if one_row {
            Layout::left_to_right(Align::Min)
        } else {
            Layout::left_to_right(Align::Min).with_main_wrap(true)
        };
        ui.with_layout(layout, |ui| {
            ui.allocate_ui_with_layout(vec2(bars_w, bottom_h), Layout::top_down(Align::Min), |ui| {
                ui.set_width(bars_w);
                vector_figure(
                    ui,
                    ctx.exporter,
                    ctx.msgs,
                    "Spearman ρ per single bin",
                    || model.single_csv(),
                    |page| figure::bins_svg(page, model, ctx.task, s.window),
                    |ui| {
                        single_bins_plot(ui, model, s.window, &palette, bottom_h - 64.0);
                    },
                );
            });
            ui.allocate_ui_with_layout(vec2(heat_w, bottom_h), Layout::top_down(Align::Min), |ui| {
                ui.set_width(heat_w);
                let mut clicked = None;
                let (task, window) = (ctx.task, s.window);
                vector_figure(
                    ui,
                    ctx.exporter,
                    ctx.msgs,
                    "Spearman ρ of every window [a, b]",
                    || model.grid_csv(),
                    |page| figure::windows_svg(page, model, task, window),
                    |ui| {
                        clicked = heatmap_ui(ui, model, s.window, &palette, cell, s.fit_colours);
                    },
                );
                ui.checkbox(&mut s.fit_colours, "colour scale fitted to the data")
                    .on_hover_text("Spread the colours over the values shown instead of the full −1 to 1");
                if let Some(w) = clicked {
                    s.window = w;
                }
            });
            ui.allocate_ui_with_layout(vec2(scatter_w, bottom_h), Layout::top_down(Align::Min), |ui| {
                ui.set_width(scatter_w);
                if let Some(l) = &live {
                    let (a, b) = s.window;
                    let name = format!("L-SWAG[{a}..{b}]");
                    let title = format!("{name}: predicted vs true rank ({})", ctx.task);
                    let ds = ctx.data;
                    vector_figure(
                        ui,
                        ctx.exporter,
                        ctx.msgs,
                        &title,
                        || l.csv(ds, &name),
                        |page| figure::scatter_svg(page, &title, l, &name),
                        |ui| {
                            rank_scatter_ui(ui, "layers_scatter", &palette, ds, l, &name, bottom_h - 64.0);
                        },
                    );
                }
            });
        });
    }

    fn score_window(&mut self, ui: &mut Ui, ctx: &mut PanelCtx<'_>, s: &mut LayersSettings) {
        if !self.score_open {
            return;
        }
        let mut open = true;
        let mut start = false;
        let palette = ctx.palette;
        egui::Window::new("Score architectures")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .show(ui.ctx(), |ui| {
                start = crate::ui::scoring::settings_ui(
                    ui,
                    &mut s.score,
                    ctx.data,
                    &mut ctx.exporter.files,
                    ctx.msgs,
                    &palette,
                );
            });
        if start {
            match ScoreRun::start(ctx.data, &s.score, ctx.task) {
                Ok(run) => {
                    self.score = Some(run);
                    open = false;
                }
                Err(reason) => ctx.msgs.error(ctx.data.label.clone(), reason),
            }
        }
        self.score_open = open;
    }
}

/// The curves with the window and its handles; returns the handle being
/// dragged.
fn curves_plot(
    ui: &mut Ui,
    curves: &Intensity,
    window: &mut (usize, usize),
    mut drag: Option<Handle>,
    palette: &crate::ui::theme::Palette,
    height: f32,
    width: f32,
) -> Option<Handle> {
    let (a, b) = *window;
    let xs: Vec<f64> = (1..=BINS).map(|p| p as f64).collect();
    let all = &curves.all;
    let mean: Vec<[f64; 2]> = all
        .points
        .iter()
        .filter_map(|p| p.mean.map(|m| [p.bin as f64, m]))
        .collect();
    let band: Vec<(f64, f64, f64)> = all
        .points
        .iter()
        .filter_map(|p| Some((p.bin as f64, p.mean? - p.std?, p.mean? + p.std?)))
        .collect();
    let handle_stroke = Stroke::new(3.0, palette.handle);
    // Shallow to deep along viridis, so the order of depths reads off the colour.
    let depth_colour = |i: usize| {
        let t = if curves.by_depth.len() > 1 {
            i as f64 / (curves.by_depth.len() - 1) as f64
        } else {
            0.0
        };
        crate::ui::theme::sequential(if palette.dark { 0.25 + 0.75 * t } else { 0.85 * t })
    };
    let mean_name = format!("mean, {}", all.label);
    let mean_color = if curves.by_depth.is_empty() {
        palette.accent
    } else {
        palette.text
    };
    // The legend sits under the plot (off the data), depths in numeric order.
    let mut legend = vec![
        LegendItem::new(Mark::Fill, palette.window_fill, format!("window [{a}, {b}]")),
        LegendItem::new(Mark::Fill, palette.band_fill, "± 1 std across architectures"),
        LegendItem::new(Mark::Line, mean_color, mean_name.clone()),
    ];
    legend.extend(
        curves
            .by_depth
            .iter()
            .enumerate()
            .map(|(i, c)| LegendItem::new(Mark::Line, depth_colour(i), c.label.clone())),
    );
    let resp = Plot::new("intensity_plot")
        .height(height)
        .width(width)
        .custom_x_axes(vec![egui_plot::AxisHints::new_x().label_spacing(28.0..=44.0)])
        .x_axis_label("depth bin p (each bin = 10% of the network's weight layers, 1 = input side)")
        .y_axis_label(statistic_axis(curves.statistic))
        .include_x(0.5)
        .include_x(BINS as f64 + 0.5)
        .x_grid_spacer(|_| {
            (1..=BINS)
                .map(|p| GridMark {
                    value: p as f64,
                    step_size: 1.0,
                })
                .collect()
        })
        // Round steps (1, 2 or 5 x 10^k), 4-6 labelled: egui_plot's powers of
        // ten left one label on a curve spanning 24-38 nats.
        .y_grid_spacer(|input| {
            let ticks = figure::svg::nice_ticks(input.bounds.0, input.bounds.1, 6);
            let step = ticks.get(1).zip(ticks.first()).map_or(1.0, |(b, a)| b - a);
            ticks
                .into_iter()
                .map(|value| GridMark { value, step_size: step })
                .collect()
        })
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .show_crosshair(false)
        .show(ui, |plot| {
            plot.span(
                Span::new(format!("window [{a}, {b}]"), (a as f64 - 0.5)..=(b as f64 + 0.5)).fill(palette.window_fill),
            );
            if !band.is_empty() {
                let bx: Vec<f64> = band.iter().map(|t| t.0).collect();
                let lo: Vec<f64> = band.iter().map(|t| t.1).collect();
                let hi: Vec<f64> = band.iter().map(|t| t.2).collect();
                plot.add(FilledArea::new("± 1 std across architectures", &bx, &lo, &hi).fill_color(palette.band_fill));
            }
            for (i, c) in curves.by_depth.iter().enumerate() {
                let pts: Vec<[f64; 2]> = c
                    .points
                    .iter()
                    .filter_map(|p| p.mean.map(|m| [p.bin as f64, m]))
                    .collect();
                plot.line(
                    Line::new(c.label.clone(), PlotPoints::new(pts))
                        .color(depth_colour(i))
                        .width(1.5),
                );
            }
            plot.line(
                Line::new(mean_name.clone(), PlotPoints::new(mean.clone()))
                    .color(mean_color)
                    .width(2.5),
            );
            plot.points(
                Points::new(mean_name, PlotPoints::new(mean))
                    .color(mean_color)
                    .radius(4.0)
                    .shape(MarkerShape::Circle)
                    .filled(true),
            );
            plot.vline(VLine::new("", a as f64 - 0.5).stroke(handle_stroke).allow_hover(false));
            plot.vline(VLine::new("", b as f64 + 0.5).stroke(handle_stroke).allow_hover(false));
        });
    let _ = xs;
    let t = resp.transform;
    let frame = *t.frame();
    let hx = [
        t.position_from_point_x(a as f64 - 0.5),
        t.position_from_point_x(b as f64 + 0.5),
    ];
    // Grab knobs at the top of each handle.
    let backdrop = with_alpha(ui.visuals().extreme_bg_color, 220);
    let painter = ui.painter_at(frame.expand(8.0));
    for x in &hx {
        let knob = egui::Rect::from_center_size(egui::pos2(*x, frame.min.y + 9.0), vec2(12.0, 18.0));
        painter.rect_filled(knob, 3.0, palette.handle);
        for dy in [-4.0, 0.0, 4.0] {
            painter.line_segment(
                [
                    egui::pos2(x - 3.0, knob.center().y + dy),
                    egui::pos2(x + 3.0, knob.center().y + dy),
                ],
                Stroke::new(1.0, Color32::WHITE),
            );
        }
    }
    // Labels beside their handle, inside the window, on a backdrop: the
    // handle line never runs through them.
    for (i, (x, label)) in hx
        .iter()
        .zip([format!("l-hat = {a}"), format!("L-hat = {b}")])
        .enumerate()
    {
        let (pos, anchor) = if i == 0 {
            (egui::pos2(x + 5.0, frame.max.y - 4.0), egui::Align2::LEFT_BOTTOM)
        } else {
            (egui::pos2(x - 5.0, frame.max.y - 4.0), egui::Align2::RIGHT_BOTTOM)
        };
        let font = egui::FontId::proportional(13.0);
        let galley = painter.layout_no_wrap(label, font, palette.handle);
        let rect = anchor.anchor_size(pos, galley.size());
        painter.rect_filled(rect.expand(2.0), 2.0, backdrop);
        painter.galley(rect.min, galley, palette.handle);
    }
    // Accessible handles (keyboard users and tests find them by label).
    for (i, x) in hx.iter().enumerate() {
        let r = egui::Rect::from_center_size(egui::pos2(*x, frame.center().y), vec2(14.0, frame.height()));
        let id = ui.scope_id().with(("window_handle", i));
        let label = if i == 0 {
            "Window start handle"
        } else {
            "Window end handle"
        };
        let h = ui.interact(r, id, egui::Sense::drag());
        h.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Slider, true, label));
        if h.hovered() || h.dragged() {
            ui.ctx().set_cursor_icon(CursorIcon::ResizeHorizontal);
        }
        if h.drag_started() {
            drag = Some(if i == 0 { Handle::Start } else { Handle::End });
        }
        if h.dragged()
            && let Some(pos) = h.interact_pointer_pos()
        {
            let v = t.value_from_position(pos).x;
            *window = match drag {
                Some(Handle::Start) => clamp_window((((v + 0.5).round() as usize).clamp(1, b), b)),
                Some(Handle::End) => clamp_window((a, ((v - 0.5).round().max(1.0) as usize).clamp(a, BINS))),
                None => *window,
            };
        }
        if h.drag_stopped() {
            drag = None;
        }
    }
    widgets::legend_row(ui, palette, &legend);
    drag
}

fn single_bins_plot(ui: &mut Ui, m: &WindowModel, window: (usize, usize), palette: &crate::ui::theme::Palette, h: f32) {
    let (a, b) = window;
    let bars = |inside: bool| -> Vec<Bar> {
        m.single
            .iter()
            .enumerate()
            .filter(|(p, _)| (a..=b).contains(&(p + 1)) == inside)
            .filter_map(|(p, r)| {
                let color = if inside { palette.handle } else { palette.accent };
                r.map(|r| {
                    Bar::new((p + 1) as f64, r)
                        .width(0.7)
                        .fill(with_alpha(color, 210))
                        .name(format!("bin {}", p + 1))
                })
            })
            .collect()
    };
    Plot::new("single_bins_plot")
        .height(h)
        .custom_x_axes(vec![egui_plot::AxisHints::new_x().label_spacing(12.0..=20.0)])
        .x_axis_label("depth bin p")
        .y_axis_label(format!("Spearman ρ of L-SWAG[p..p] (n = {})", m.n))
        .include_x(0.5)
        .include_x(BINS as f64 + 0.5)
        .include_y(0.0)
        .include_y(1.0)
        .x_grid_spacer(|_| {
            (1..=BINS)
                .map(|p| GridMark {
                    value: p as f64,
                    step_size: 1.0,
                })
                .collect()
        })
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.bar_chart(BarChart::new("bin inside the window", bars(true)).color(palette.handle));
            let outside = bars(false);
            if !outside.is_empty() {
                plot.bar_chart(BarChart::new("bin outside the window", outside).color(palette.accent));
            }
        });
    widgets::legend_row(
        ui,
        palette,
        &[
            LegendItem::new(Mark::Fill, with_alpha(palette.handle, 210), "bin inside the window"),
            LegendItem::new(Mark::Fill, with_alpha(palette.accent, 210), "bin outside"),
        ],
    );
}

fn heatmap_ui(
    ui: &mut Ui,
    m: &WindowModel,
    window: (usize, usize),
    palette: &crate::ui::theme::Palette,
    cell: egui::Vec2,
    fit: bool,
) -> Option<(usize, usize)> {
    let labels: Vec<String> = (1..=BINS).map(|p| p.to_string()).collect();
    let values: Vec<Vec<Option<f64>>> = m.grid.iter().map(|row| row.to_vec()).collect();
    let scale = if fit { Scale::fitted(&values) } else { Scale::Diverging };
    let label = |r: usize, c: usize| {
        format!(
            "Window [{}, {}]: ρ = {}",
            r + 1,
            c + 1,
            m.grid[r][c].map_or("undefined".to_string(), |v| format!("{v:.3}"))
        )
    };
    let resp = ui
        .with_layout(Layout::top_down(Align::Min), |ui| {
            Matrix::new("window_heatmap", &labels, &labels, &values)
                .cell_size(cell)
                .decimals(2)
                .scale(scale)
                .titles("window start a (l-hat)", "window end b (L-hat)")
                .legend("Spearman ρ")
                .selected(Some((window.0 - 1, window.1 - 1)))
                .cell_label(&label)
                .ui(ui, palette)
        })
        .inner;
    resp.clicked.filter(|(r, c)| r <= c).map(|(r, c)| (r + 1, c + 1))
}
