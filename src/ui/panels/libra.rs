//! LIBRA panel: settings (tolerance, bias column, bin rule, combination,
//! proxies taking part), the result (z1, z2, z3 with the reason for each),
//! rho of the ensemble against the best single proxy, the ensemble's rank
//! scatter, and the paper's Table 4 ablation grid on demand. The result
//! follows the settings live (computed in the background).

use eframe::egui;
use egui::{Align, Color32, Frame, Layout, Margin, RichText, ScrollArea, Ui, vec2};
use egui_plot::{Bar, BarChart, Plot};

use super::{PanelCtx, no_proxies_text, no_truth_text};
use crate::figure;
use crate::ui::background::Background;
use crate::ui::model::{
    AblationView, BinChoice, CombineChoice, LibraConfig, LibraView, libra_candidates, opt_fixed, run_ablations,
    run_libra, short_bar_label,
};
use crate::ui::theme::{Palette, with_alpha};
use crate::ui::widgets::matrix::{Matrix, Scale};
use crate::ui::widgets::scatter::rank_scatter_ui;
use crate::ui::widgets::{self, table_figure, table_heading, vector_figure};

type Key = (u64, String, LibraConfig);

#[derive(Default)]
pub struct LibraPanel {
    result: Background<Key, Result<std::sync::Arc<LibraView>, String>>,
    ablations: Background<Key, Result<AblationView, String>>,
}

impl LibraPanel {
    pub fn is_busy(&self) -> bool {
        self.result.is_running() || self.ablations.is_running()
    }

    /// Starts the ablations for the current settings (the button does this).
    pub fn start_ablations(&mut self, ctx: &PanelCtx<'_>, cfg: &LibraConfig) {
        let key = (ctx.data.generation, ctx.task.to_string(), cfg.clone());
        let (d, t, c) = (ctx.data.clone(), ctx.task.to_string(), cfg.clone());
        self.ablations.start(ctx.exec, key, move |_| run_ablations(&d, &t, &c));
    }

    pub fn ui(&mut self, ui: &mut Ui, ctx: &mut PanelCtx<'_>, cfg: &mut LibraConfig) {
        let palette = ctx.palette;
        let ds = ctx.data;
        let task = ctx.task.to_string();
        self.result.poll();
        self.ablations.poll();
        if !ds.has_truth(&task) {
            widgets::note(
                ui,
                &palette,
                no_truth_text(&task, "LIBRA (which ranks proxies against accuracy)"),
            );
            return;
        }
        let names = libra_candidates(ds, &task);
        if names.is_empty() {
            widgets::note(
                ui,
                &palette,
                no_proxies_text(ds, &task, "LIBRA has nothing to pick from"),
            );
            return;
        }
        if !names.contains(&cfg.bias_column)
            && let Some(first) = names.iter().find(|n| *n == "params").or(names.first())
        {
            cfg.bias_column = first.clone();
        }

        ui.horizontal_top(|ui| {
            // Settings.
            let h = ui.available_height();
            ui.allocate_ui_with_layout(vec2(280.0, h), Layout::top_down(Align::Min), |ui| {
                ui.set_width(280.0);
                ScrollArea::vertical().id_salt("libra_settings").show(ui, |ui| {
                    settings_ui(ui, cfg, &names, &palette);
                });
            });
            ui.separator();
            ui.vertical(|ui| {
                let key: Key = (ds.generation, task.clone(), cfg.clone());
                if self.result.needs(&key) {
                    let (d, t, c) = (ds.clone(), task.clone(), cfg.clone());
                    self.result
                        .start(ctx.exec, key, move |_| run_libra(&d, &t, &c).map(std::sync::Arc::new));
                }
                ScrollArea::vertical()
                    .id_salt("libra_result")
                    .show(ui, |ui| match self.result.get() {
                        Some(Ok(view)) => {
                            let view = view.clone();
                            result_ui(ui, ctx, &view);
                            ui.separator();
                            self.ablation_ui(ui, ctx, cfg);
                        }
                        Some(Err(reason)) => widgets::note(ui, &palette, format!("LIBRA cannot run: {reason}")),
                        None if self.result.is_lost() => widgets::note(ui, &palette, "LIBRA stopped unexpectedly."),
                        None => widgets::working(ui, "Running LIBRA…"),
                    });
            });
        });
    }

    fn ablation_ui(&mut self, ui: &mut Ui, ctx: &mut PanelCtx<'_>, cfg: &LibraConfig) {
        let palette = ctx.palette;
        let key: Key = (ctx.data.generation, ctx.task.to_string(), cfg.clone());
        let current = self.ablations.key() == Some(&key);
        ui.horizontal(|ui| {
            ui.label(RichText::new("Ablations (paper Table 4)").strong());
            let label = if current { "Run ablations again" } else { "Run ablations" };
            if ui
                .button(label)
                .on_hover_text("z2 by min IG / max IG / random / gradient type, z3 by none / random / bias minimisation / bias matching")
                .clicked()
            {
                self.start_ablations(ctx, cfg);
            }
            if self.ablations.key().is_some() && !current {
                ui.label(RichText::new("(shown for earlier settings)").color(palette.warn));
            }
        });
        match self.ablations.get() {
            Some(Ok(abl)) => {
                let title = format!(
                    "Spearman ρ of each ablation, combined by {} (n = {})",
                    abl.combination.label(),
                    abl.n
                );
                let values: Vec<Vec<Option<f64>>> = abl.rho.clone();
                let label = |r: usize, c: usize| {
                    let members = abl.members[r][c].join(" + ");
                    match (abl.rho[r][c], &abl.notes[r][c]) {
                        (Some(v), note) => format!(
                            "z2 {} / z3 {}: ρ = {v:.3} ({members}){}",
                            abl.z2[r],
                            abl.z3[c],
                            note.as_ref().map_or(String::new(), |n| format!("; {n}"))
                        ),
                        (None, note) => format!(
                            "z2 {} / z3 {}: {}",
                            abl.z2[r],
                            abl.z3[c],
                            note.clone().unwrap_or_else(|| "not available".to_string())
                        ),
                    }
                };
                let lo = abl
                    .rho
                    .iter()
                    .flatten()
                    .flatten()
                    .copied()
                    .fold(f64::INFINITY, f64::min);
                let hi = abl
                    .rho
                    .iter()
                    .flatten()
                    .flatten()
                    .copied()
                    .fold(f64::NEG_INFINITY, f64::max);
                let scale = if lo.is_finite() && hi > lo {
                    Scale::Sequential { min: lo, max: hi }
                } else {
                    Scale::Diverging
                };
                table_figure(
                    ui,
                    ctx.exporter,
                    ctx.msgs,
                    &title,
                    || abl.cells(),
                    |ui| {
                        Matrix::new("ablation_grid", &abl.z2, &abl.z3, &values)
                            .cell_size(vec2(118.0, 26.0))
                            .decimals(3)
                            .scale(scale)
                            .titles("z2 strategy", "z3 strategy")
                            .legend("Spearman ρ")
                            .cell_label(&label)
                            .ui(ui, &palette);
                    },
                );
            }
            Some(Err(reason)) => widgets::note(ui, &palette, format!("Ablations cannot run: {reason}")),
            None if self.ablations.is_running() => widgets::working(ui, "Running the ablations…"),
            None => {
                ui.label(RichText::new("Not run yet.").color(palette.weak_text));
            }
        }
    }
}

fn settings_ui(ui: &mut Ui, cfg: &mut LibraConfig, names: &[String], palette: &Palette) {
    ui.heading("Settings");
    egui::Grid::new("libra_settings_grid")
        .num_columns(2)
        .spacing([8.0, 6.0])
        .show(ui, |ui| {
            ui.label("Tolerance");
            ui.add(
                egui::DragValue::new(&mut cfg.tol)
                    .range(0.0..=1.0)
                    .speed(0.005)
                    .fixed_decimals(3),
            )
            .accessible_name("Tolerance")
            .on_hover_text("Candidates: ρ_best − tol < ρ_h ≤ ρ_best (paper: 0.1; 0.2 on two benchmarks)");
            ui.end_row();
            ui.label("Bias column");
            egui::ComboBox::from_id_salt("libra_bias")
                .selected_text(cfg.bias_column.clone())
                .show_ui(ui, |ui| {
                    for n in names {
                        ui.selectable_value(&mut cfg.bias_column, n.clone(), n);
                    }
                })
                .response
                .accessible_name("Bias column");
            ui.end_row();
            ui.label("Entropy bins");
            let fixed = matches!(cfg.bins, BinChoice::Fixed(_));
            egui::ComboBox::from_id_salt("libra_bins")
                .selected_text(match cfg.bins {
                    BinChoice::SuiteZero => "Suite-Zero".to_string(),
                    BinChoice::Sturges => "Sturges".to_string(),
                    BinChoice::Fixed(k) => format!("fixed {k}"),
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut cfg.bins, BinChoice::SuiteZero, "Suite-Zero")
                        .on_hover_text("round(1 + 3.322 ln N), as NAS-Bench-Suite-Zero's code");
                    ui.selectable_value(&mut cfg.bins, BinChoice::Sturges, "Sturges")
                        .on_hover_text("ceil(log2 N) + 1");
                    if ui.selectable_label(fixed, "fixed").clicked() && !fixed {
                        cfg.bins = BinChoice::Fixed(10);
                    }
                })
                .response
                .accessible_name("Entropy bins");
            ui.end_row();
            if let BinChoice::Fixed(k) = &mut cfg.bins {
                ui.label("bins");
                ui.add(egui::DragValue::new(k).range(1..=200))
                    .accessible_name("Number of bins");
                ui.end_row();
            }
            ui.label("Combination");
            egui::ComboBox::from_id_salt("libra_combination")
                .selected_text(cfg.combination.label())
                .width(170.0)
                .show_ui(ui, |ui| {
                    for c in CombineChoice::ALL {
                        ui.selectable_value(&mut cfg.combination, c, c.label());
                    }
                })
                .response
                .accessible_name("Combination");
            ui.end_row();
            ui.label("Ablation seed");
            ui.add(egui::DragValue::new(&mut cfg.seed))
                .accessible_name("Ablation seed");
            ui.end_row();
        });
    ui.add_space(6.0);
    ui.horizontal(|ui| {
        ui.label(RichText::new("Proxies taking part").strong());
        if ui.small_button("all").clicked() {
            cfg.excluded.clear();
        }
    });
    for n in names {
        let mut on = !cfg.excluded.contains(n);
        if ui.checkbox(&mut on, n).changed() {
            if on {
                cfg.excluded.retain(|x| x != n);
            } else {
                cfg.excluded.push(n.clone());
                cfg.excluded.sort();
            }
        }
    }
    ui.label(
        RichText::new("A proxy missing on more than 10% of the task's architectures is left out automatically.")
            .color(palette.weak_text)
            .small(),
    );
}

fn result_ui(ui: &mut Ui, ctx: &mut PanelCtx<'_>, view: &LibraView) {
    let palette = ctx.palette;
    let avail = ui.available_width() - 18.0;
    ui.set_max_width(avail);
    ui.horizontal_wrapped(|ui| {
        ui.heading(format!("LIBRA on \"{}\"", view.task));
        ui.label(
            RichText::new(format!(
                "{} architectures with every participant present ({} dropped) · {} bins ({})",
                view.n, view.dropped, view.bins, view.bin_rule
            ))
            .color(palette.weak_text),
        );
    });
    // z1, z2, z3 (wrapping onto a second line in a narrow window).
    // Three cards with their frames (margins, stroke, spacing: ~30 px each).
    let card_w = ((avail - 90.0) / 3.0).clamp(140.0, 320.0);
    ui.horizontal_wrapped(|ui| {
        for (i, p) in view.picks.iter().enumerate() {
            Frame::new()
                .fill(with_alpha(palette.series[i % palette.series.len()], 28))
                .stroke(egui::Stroke::new(1.5, palette.series[i % palette.series.len()]))
                .corner_radius(6.0)
                .inner_margin(Margin::same(10))
                .show(ui, |ui| {
                    ui.vertical(|ui| {
                        ui.set_width(card_w);
                        ui.label(RichText::new(format!("{} = {}", p.slot, p.name)).size(18.0).strong());
                        ui.label(RichText::new(format!("rule: {}", p.rule)).color(palette.weak_text));
                        ui.label(p.reason(view.window, view.truth_bias));
                    });
                });
        }
        if view.picks.len() < 3 {
            ui.label(RichText::new("No z3: see the notes below.").color(palette.warn));
        }
    });
    let best_ens = view
        .ensemble
        .iter()
        .filter_map(|(_, r)| *r)
        .fold(f64::NEG_INFINITY, f64::max);
    let chosen = view
        .ensemble
        .iter()
        .find(|(c, _)| *c == view.combination)
        .and_then(|(_, r)| *r);
    ui.label(
        RichText::new(format!(
            "Ensemble ρ = {} ({}) against the best single proxy {} ρ = {:.3}",
            opt_fixed(chosen, 3),
            view.combination.label(),
            view.best_single.0,
            view.best_single.1
        ))
        .size(16.0)
        .strong()
        .color(if chosen.unwrap_or(f64::NEG_INFINITY) >= view.best_single.1 {
            palette.good
        } else {
            palette.warn
        }),
    );
    let _ = best_ens;

    let h = 300.0;
    // Side by side when both fit, else one above the other.
    let side_by_side = avail >= 640.0;
    let layout = if side_by_side {
        Layout::left_to_right(Align::Min)
    } else {
        Layout::top_down(Align::Min)
    };
    ui.with_layout(layout, |ui| {
        let w = if side_by_side { avail * 0.45 } else { avail };
        ui.allocate_ui_with_layout(vec2(w, h + 54.0), Layout::top_down(Align::Min), |ui| {
            ui.set_width(w);
            vector_figure(
                ui,
                ctx.exporter,
                ctx.msgs,
                "Ensemble against the best single proxy",
                || view.bars_csv(),
                |page| figure::libra_svg(page, view),
                |ui| {
                    bars_ui(ui, view, &palette, h);
                },
            );
        });
        let w2 = if side_by_side { avail - w - 16.0 } else { avail };
        ui.allocate_ui_with_layout(vec2(w2, h + 54.0), Layout::top_down(Align::Min), |ui| {
            ui.set_width(w2);
            let name = "LIBRA".to_string();
            let title = format!(
                "LIBRA ({}): predicted vs true rank ({})",
                view.members.join(" + "),
                view.task
            );
            let ds = ctx.data;
            vector_figure(
                ui,
                ctx.exporter,
                ctx.msgs,
                &title,
                || view.scatter.csv(ds, "libra"),
                |page| figure::scatter_svg(page, &title, &view.scatter, &name),
                |ui| {
                    rank_scatter_ui(ui, "libra_scatter", &palette, ds, &view.scatter, &name, h);
                },
            );
        });
    });

    // Candidates.
    let title = format!(
        "Candidates: ρ in ({:.3}, {:.3}]; bias of the ground truth b_y = {}",
        view.window.0,
        view.window.1,
        opt_fixed(view.truth_bias, 3)
    );
    table_heading(ui, ctx.exporter, ctx.msgs, &title, || view.candidate_cells());
    let (header, rows) = view.candidate_cells();
    crate::ui::widgets::text_grid(ui, "libra_candidates", &header, &rows, |i, len, c| {
        if i == 0 || i + 1 == len {
            RichText::new(c).strong()
        } else {
            RichText::new(c).monospace()
        }
    });
    ui.collapsing("Spearman ρ of every participant", |ui| {
        ui.horizontal(|ui| {
            crate::ui::widgets::table_exports(ui, ctx.exporter, ctx.msgs, "Spearman rho of every participant", || {
                let header = vec!["proxy".to_string(), "Spearman ρ".to_string(), "n".to_string()];
                let rows = view
                    .rho
                    .iter()
                    .map(|(n, r)| vec![n.clone(), opt_fixed(*r, 4), view.n.to_string()])
                    .collect();
                (header, rows)
            });
        });
        egui::Grid::new("libra_rho").striped(true).show(ui, |ui| {
            for (n, r) in &view.rho {
                ui.label(n);
                ui.label(RichText::new(opt_fixed(*r, 4)).monospace());
                ui.end_row();
            }
        });
    });
    for n in &view.notes {
        ui.label(RichText::new(format!("Note: {n}")).color(palette.warn));
    }
    if !view.left_out.is_empty() {
        ui.label(RichText::new(format!("Left out: {}", view.left_out.join(", "))).color(palette.warn));
    }
    ui.horizontal(|ui| {
        if ui
            .small_button("Report…")
            .on_hover_text("Save LIBRA's text report")
            .clicked()
        {
            ctx.exporter
                .save_text(ctx.msgs, &format!("libra-{}", view.task), "txt", &view.report);
        }
    });
}

fn bars_ui(ui: &mut Ui, view: &LibraView, palette: &Palette, h: f32) {
    let bars = view.bars();
    let labels: Vec<String> = bars.iter().map(|(l, _)| l.clone()).collect();
    let items: Vec<Bar> = bars
        .iter()
        .enumerate()
        .filter_map(|(i, (label, r))| {
            let color: Color32 = if i + 1 == bars.len() {
                palette.series[7]
            } else {
                palette.series[i % 7]
            };
            r.map(|r| {
                Bar::new(i as f64, r)
                    .width(0.65)
                    .fill(with_alpha(color, 220))
                    .name(format!("{label}: ρ = {r:.3}"))
            })
        })
        .collect();
    let n = labels.len();
    // Room left of zero for a negative bar and its label.
    let lowest = bars.iter().filter_map(|(_, r)| *r).fold(0.0f64, f64::min).min(0.0);
    let lowest = if lowest < 0.0 { lowest - 0.2 } else { 0.0 };
    Plot::new("libra_bars")
        .height(h)
        .custom_x_axes(vec![egui_plot::AxisHints::new_x().label_spacing(18.0..=30.0)])
        .x_axis_label("Spearman ρ with the ground truth")
        .include_x(lowest.min(0.0))
        .include_x(1.0)
        .include_y(-0.6)
        .include_y(n as f64 - 0.4)
        .y_axis_formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                short_bar_label(&labels[i as usize])
            } else {
                String::new()
            }
        })
        .y_axis_min_width(120.0)
        .y_grid_spacer(move |_| {
            (0..n)
                .map(|i| egui_plot::GridMark {
                    value: i as f64,
                    step_size: 1.0,
                })
                .collect()
        })
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.bar_chart(BarChart::new("Spearman ρ", items).horizontal().color(palette.accent));
            for (i, (_, r)) in bars.iter().enumerate() {
                if let Some(r) = r {
                    let (x, anchor, color) = bar_label(*r, palette);
                    plot.text(
                        egui_plot::Text::new(
                            format!("value {i}"),
                            egui_plot::PlotPoint::new(x, i as f64),
                            RichText::new(format!("{r:.3}")).strong().color(color),
                        )
                        .anchor(anchor),
                    );
                }
            }
        });
}

/// Where a bar's value goes: inside the end of a long bar in white, past
/// the end of a short one (at 0.086 the text is wider than the bar, and its
/// leading "0" fell off the plot) in the text colour.
fn bar_label(r: f64, palette: &Palette) -> (f64, egui::Align2, Color32) {
    if r >= 0.2 {
        (r - 0.01, egui::Align2::RIGHT_CENTER, Color32::WHITE)
    } else if r >= 0.0 {
        (r + 0.01, egui::Align2::LEFT_CENTER, palette.text)
    } else {
        (r - 0.01, egui::Align2::RIGHT_CENTER, palette.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A short bar's value goes past its end in the text colour (inside,
    /// "0.086" lost its leading "0" off the plot); a long one's inside it.
    #[test]
    fn short_bars_get_their_value_beside_them() {
        let p = crate::ui::theme::palette(false);
        let (x, anchor, color) = bar_label(0.086, &p);
        assert!((x - 0.096).abs() < 1e-12 && anchor == egui::Align2::LEFT_CENTER && color == p.text);
        let (x, anchor, color) = bar_label(0.655, &p);
        assert!((x - 0.645).abs() < 1e-12 && anchor == egui::Align2::RIGHT_CENTER && color == Color32::WHITE);
        let (x, anchor, _) = bar_label(-0.3, &p);
        assert!(x < -0.3 && anchor == egui::Align2::RIGHT_CENTER);
    }
}
