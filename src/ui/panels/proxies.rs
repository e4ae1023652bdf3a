//! Proxies panel: the correlation table proxies x tasks (signed Spearman
//! and Kendall, colour scale, sortable); a click on a cell shows that
//! proxy's rank scatter on that task (hover names the architecture); the
//! bias table (correlation with the parameter count) and the information
//! gain matrix of the task picked in the top bar.

use eframe::egui;
use egui::{Align, Layout, RichText, ScrollArea, Ui, vec2};
use serde::{Deserialize, Serialize};

use super::{PanelCtx, no_truth_text};
use crate::figure;
use crate::ui::background::Background;
use crate::ui::model::{BiasTable, BinChoice, CorrelationTable, IgModel, RankScatter, opt_fixed, proxy_scatter};
use crate::ui::widgets::matrix::{Matrix, Scale};
use crate::ui::widgets::scatter::rank_scatter_ui;
use crate::ui::widgets::{self, table_figure, table_heading, vector_figure, vector_table_figure};

/// Persisted settings of the proxies panel.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProxiesSettings {
    /// Column of the correlation table sorted by (its header text).
    pub sort: Option<String>,
    pub ascending: bool,
    /// (proxy, task) whose scatter is shown.
    pub selected: Option<(String, String)>,
    pub ig_bins: BinChoice,
    /// The correlation table's colours span its values (else -1..1).
    pub fit_colours: bool,
}

type ScatterKey = (u64, String, String);

#[derive(Default)]
pub struct ProxiesPanel {
    corr: Background<u64, CorrelationTable>,
    ig: Background<(u64, String, BinChoice), Result<IgModel, String>>,
    bias: Option<((u64, String), Option<BiasTable>)>,
    scatter: Option<(ScatterKey, Option<RankScatter>)>,
}

impl ProxiesPanel {
    pub fn is_busy(&self) -> bool {
        self.corr.is_running() || self.ig.is_running()
    }

    pub fn ui(&mut self, ui: &mut Ui, ctx: &mut PanelCtx<'_>, s: &mut ProxiesSettings) {
        let palette = ctx.palette;
        let ds = ctx.data;
        self.corr.poll();
        self.ig.poll();
        if self.corr.needs(&ds.generation) {
            let d = ds.clone();
            self.corr
                .start(ctx.exec, ds.generation, move |_| CorrelationTable::build(&d));
        }
        let Some(corr) = self.corr.get().cloned() else {
            widgets::working(ui, "Computing Spearman ρ and Kendall τ of every proxy on every task…");
            return;
        };
        let corr = &corr;
        ScrollArea::vertical().id_salt("proxies_scroll").show(ui, |ui| {
            if corr.tasks.is_empty() {
                widgets::note(
                    ui,
                    &palette,
                    "No task of this archive has ground truth, so no proxy can be correlated with accuracy. \
                     Open an archive with accuracies (Archive panel) to fill this panel.",
                );
                return;
            }
            if corr.proxies.is_empty() {
                widgets::note(
                    ui,
                    &palette,
                    super::no_proxies_text(ds, ctx.task, "there is nothing to correlate"),
                );
                return;
            }
            // Columns: per task, rho and tau.
            let cols = corr.matrix_columns();
            let sort_col = s.sort.as_ref().and_then(|name| cols.iter().position(|c| c == name));
            let order = corr.order_by(sort_col, s.ascending);
            let (rows, _, values) = corr.matrix(&order);
            if s.selected
                .as_ref()
                .is_none_or(|(p, t)| !corr.proxies.contains(p) || !corr.tasks.contains(t))
            {
                s.selected = default_selection(corr, ctx.task);
            }
            let selected_cell = s.selected.as_ref().and_then(|(p, t)| {
                let r = order.iter().position(|&i| &corr.proxies[i] == p)?;
                let c = corr.tasks.iter().position(|x| x == t)? * 2;
                Some((r, c))
            });
            let label = |r: usize, c: usize| {
                let i = order[r];
                let (t, tau) = (c / 2, c % 2 == 1);
                let v = if tau { corr.kendall[i][t] } else { corr.spearman[i][t] };
                format!(
                    "{} on {}: {} = {} (n = {})",
                    corr.proxies[i],
                    corr.tasks[t],
                    if tau { "Kendall τ" } else { "Spearman ρ" },
                    opt_fixed(v, 3),
                    corr.n[i][t]
                )
            };
            let title = "Rank correlation with the ground truth (signed; click a cell for its scatter)";
            let mut clicked = None;
            let mut header = None;
            vector_table_figure(
                ui,
                ctx.exporter,
                ctx.msgs,
                title,
                || corr.cells(&order),
                |page| figure::proxies_svg(page, corr, &order),
                |ui| {
                    let cell_w = if corr.tasks.len() > 4 { 52.0 } else { 64.0 };
                    let scale = if s.fit_colours {
                        Scale::fitted(&values)
                    } else {
                        Scale::Diverging
                    };
                    // Many tasks: the table scrolls sideways rather than being cut.
                    let r = ScrollArea::horizontal()
                        .id_salt("correlation_h")
                        .show(ui, |ui| {
                            Matrix::new("correlation_table", &rows, &cols, &values)
                                .cell_size(vec2(cell_w, 22.0))
                                .decimals(3)
                                .scale(scale)
                                .legend("rank correlation")
                                .cell_label(&label)
                                .selected(selected_cell)
                                .sortable(sort_col.map(|c| (c, !s.ascending)))
                                .ui(ui, &palette)
                        })
                        .inner;
                    clicked = r.clicked;
                    header = r.header_clicked;
                },
            );
            if let Some((r, c)) = clicked {
                s.selected = Some((corr.proxies[order[r]].clone(), corr.tasks[c / 2].clone()));
            }
            if let Some(c) = header {
                let name = cols[c].clone();
                if s.sort.as_deref() == Some(name.as_str()) {
                    s.ascending = !s.ascending;
                } else {
                    s.sort = Some(name);
                    s.ascending = false;
                }
            }
            let mut notes = vec![
                "ρ: Spearman, τ: Kendall tau-b; average ranks on ties; missing values dropped pairwise.".to_string(),
            ];
            if corr.negated.iter().any(|n| *n) {
                notes.push(
                    "\"(negated)\": stored lower-is-better and negated at load, so higher is better everywhere."
                        .to_string(),
                );
            }
            if !corr.without_truth.is_empty() {
                notes.push(format!(
                    "Tasks without ground truth left out: {}.",
                    corr.without_truth.join(", ")
                ));
            }
            ui.label(RichText::new(notes.join(" ")).color(palette.weak_text));
            ui.checkbox(&mut s.fit_colours, "colour scale fitted to the data")
                .on_hover_text("Spread the colours over the values shown instead of the full −1 to 1");
            ui.separator();

            let avail = ui.available_width();
            ui.horizontal_top(|ui| {
                // Scatter of the selected cell.
                let left_w = (avail * 0.42).max(320.0);
                ui.allocate_ui_with_layout(vec2(left_w, 464.0), Layout::top_down(Align::Min), |ui| {
                    ui.set_width(left_w);
                    if let Some((proxy, task)) = s.selected.clone() {
                        let key = (ds.generation, task.clone(), proxy.clone());
                        if self.scatter.as_ref().is_none_or(|(k, _)| *k != key) {
                            self.scatter = Some((key, proxy_scatter(ds, &task, &proxy)));
                        }
                        if let Some((_, Some(sc))) = &self.scatter {
                            let title = format!("Rank of {proxy} against the true rank ({task})");
                            vector_figure(
                                ui,
                                ctx.exporter,
                                ctx.msgs,
                                &title,
                                || sc.csv(ds, &proxy),
                                |page| figure::scatter_svg(page, &title, sc, &proxy),
                                |ui| {
                                    rank_scatter_ui(ui, "proxy_scatter", &palette, ds, sc, &proxy, 400.0);
                                },
                            );
                        }
                    }
                });
                ui.add_space(12.0);
                ui.vertical(|ui| {
                    self.bias_ui(ui, ctx, s);
                });
            });
        });
    }

    fn bias_ui(&mut self, ui: &mut Ui, ctx: &mut PanelCtx<'_>, s: &mut ProxiesSettings) {
        let palette = ctx.palette;
        let ds = ctx.data;
        let task = ctx.task.to_string();
        let key = (ds.generation, task.clone());
        if self.bias.as_ref().is_none_or(|(k, _)| *k != key) {
            self.bias = Some((key, BiasTable::build(ds, &task)));
        }
        match &self.bias {
            Some((_, Some(bias))) => {
                let title = format!("Bias: correlation with the parameter count ({task})");
                table_heading(ui, ctx.exporter, ctx.msgs, &title, || bias.cells());
                let (header, rows) = bias.cells();
                // The tables scroll sideways when wider than what is left (13
                // proxies at 1400 px); their headings stay in view.
                ScrollArea::horizontal().id_salt("bias_h").show(ui, |ui| {
                    widgets::text_grid(ui, "bias_grid", &header, &rows, |i, _, cell| {
                        if i == 0 {
                            RichText::new(cell)
                        } else {
                            RichText::new(cell).monospace()
                        }
                    });
                });
                ui.label(
                    RichText::new("b_h: Pearson correlation of rank(proxy) and rank(params), as LIBRA's bias.")
                        .color(palette.weak_text),
                );
            }
            _ => widgets::note(ui, &palette, "No parameter counts in this task: no bias table."),
        }
        ui.add_space(8.0);

        // IG matrix.
        if !ds.has_truth(&task) {
            widgets::note(ui, &palette, no_truth_text(&task, "the information gain matrix"));
            return;
        }
        let key = (ds.generation, task.clone(), s.ig_bins);
        if self.ig.needs(&key) {
            let d = ds.clone();
            let (t, bins) = (task.clone(), s.ig_bins);
            self.ig.start(ctx.exec, key, move |_| IgModel::build(&d, &t, bins));
        }
        match self.ig.get() {
            Some(Ok(ig)) => {
                let title = format!("Information gain IG(z_j | z_i) about the ground truth ({task})");
                let values: Vec<Vec<Option<f64>>> = ig
                    .values
                    .iter()
                    .enumerate()
                    .map(|(i, row)| row.iter().enumerate().map(|(j, v)| (i != j).then_some(*v)).collect())
                    .collect();
                let max = ig.values.iter().flatten().copied().fold(0.0f64, f64::max).max(1e-9);
                let label =
                    |r: usize, c: usize| format!("IG({} | {}) = {:.4} nats", ig.names[c], ig.names[r], ig.values[r][c]);
                table_figure(
                    ui,
                    ctx.exporter,
                    ctx.msgs,
                    &title,
                    || ig.cells(),
                    |ui| {
                        ScrollArea::horizontal().id_salt("ig_h").show(ui, |ui| {
                            Matrix::new("ig_matrix", &ig.names, &ig.names, &values)
                                .cell_size(vec2(44.0, 20.0))
                                .decimals(2)
                                .scale(Scale::Sequential { min: 0.0, max })
                                .titles("given z_i", "added z_j")
                                .legend("IG (nats)")
                                .cell_label(&label)
                                .ui(ui, &palette);
                        });
                    },
                );
                ui.horizontal(|ui| {
                    ui.label(
                        RichText::new(format!(
                            "H(y | z_i) − H(y | z_i, z_j) on {} architectures (all present), {} bins per variable.",
                            ig.n, ig.bins
                        ))
                        .color(palette.weak_text),
                    );
                    egui::ComboBox::from_id_salt("ig_bins")
                        .selected_text(format!("bins: {}", s.ig_bins.describe()))
                        .show_ui(ui, |ui| {
                            ui.selectable_value(&mut s.ig_bins, BinChoice::SuiteZero, BinChoice::SuiteZero.describe());
                            ui.selectable_value(&mut s.ig_bins, BinChoice::Sturges, BinChoice::Sturges.describe());
                        })
                        .response
                        .accessible_name("Entropy bins of the IG matrix");
                });
                if !ig.left_out.is_empty() {
                    ui.label(
                        RichText::new(format!(
                            "Left out (missing on more than 10%): {}",
                            ig.left_out.join(", ")
                        ))
                        .color(palette.warn),
                    );
                }
            }
            Some(Err(reason)) => widgets::note(ui, &palette, format!("IG matrix unavailable: {reason}")),
            None => widgets::working(ui, "Computing the information gain matrix…"),
        }
    }
}

/// The best proxy by Spearman rho on `task` (else on the first task).
fn default_selection(corr: &CorrelationTable, task: &str) -> Option<(String, String)> {
    let t = corr.tasks.iter().position(|x| x == task).unwrap_or(0);
    let best = (0..corr.proxies.len()).max_by(|&i, &j| {
        corr.spearman[i][t]
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&corr.spearman[j][t].unwrap_or(f64::NEG_INFINITY))
    })?;
    Some((corr.proxies[best].clone(), corr.tasks.get(t)?.clone()))
}
