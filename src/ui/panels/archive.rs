//! Archive panel: what is loaded (space, tasks, sources), how to open
//! another archive, missing values per proxy, and a sortable, filterable
//! table of every architecture of the task.

use eframe::egui;
use std::path::PathBuf;

use egui::{Align, Layout, RichText, ScrollArea, TextEdit, Ui, vec2};
use serde::{Deserialize, Serialize};

use super::PanelCtx;
use crate::figure::builtin::Builtin;
use crate::figure::model::Origin;
use crate::ui::model::{ColumnKind, TaskTable, format_value};
use crate::ui::widgets;

/// Persisted settings of the archive table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ArchiveSettings {
    pub filter: String,
    /// Column sorted by (name); `None` = by key.
    pub sort: Option<String>,
    pub descending: bool,
}

/// What the panel asks the shell to do.
#[derive(Clone, Debug, PartialEq)]
pub enum ArchiveAction {
    /// Show the open dialog.
    PickFile,
    /// Ask for a score file to attach to the open archive.
    PickScores,
    Open(PathBuf),
    /// Forget an attached score file (the archive is reopened without it).
    Detach(PathBuf),
    Builtin(Builtin),
}

type OrderKey = (u64, String, String, Option<String>, bool);

#[derive(Default)]
pub struct ArchivePanel {
    table: Option<(u64, String, TaskTable)>,
    order: Option<(OrderKey, Vec<usize>)>,
}

const ROW_H: f32 = 20.0;
const INDEX_W: f32 = 56.0;
const KEY_W: f32 = 520.0;
const NUM_W: f32 = 96.0;

impl ArchivePanel {
    fn refresh(&mut self, ctx: &PanelCtx<'_>) {
        let stale = self
            .table
            .as_ref()
            .is_none_or(|(g, t, _)| *g != ctx.data.generation || t != ctx.task);
        if stale {
            self.table = Some((
                ctx.data.generation,
                ctx.task.to_string(),
                TaskTable::build(ctx.data, ctx.task),
            ));
            self.order = None;
        }
    }

    pub fn ui(
        &mut self,
        ui: &mut Ui,
        ctx: &mut PanelCtx<'_>,
        settings: &mut ArchiveSettings,
        recent: &[PathBuf],
        attached: &[PathBuf],
    ) -> Option<ArchiveAction> {
        let mut action = None;
        let ds = ctx.data;
        ui.heading(&ds.label);
        if let Origin::Builtin(b) = ds.origin {
            widgets::note(ui, &ctx.palette, b.note());
            if let Some(licence) = b.licence() {
                egui::CollapsingHeader::new("Licence of the data (Apache-2.0)")
                    .id_salt("builtin-licence")
                    .show(ui, |ui| {
                        ScrollArea::vertical().max_height(240.0).show(ui, |ui| {
                            ui.label(RichText::new(licence).monospace().size(11.0));
                        });
                    });
            }
        }
        ui.label(format!(
            "Space {} · {} architectures · {} with layer profiles · from {}",
            ds.space_name(),
            ds.len(),
            ds.profile_count(),
            ds.sources()
        ));
        ui.horizontal_wrapped(|ui| {
            if ui.button("Open archive…").clicked() {
                action = Some(ArchiveAction::PickFile);
            }
            ui.add_enabled_ui(!recent.is_empty(), |ui| {
                ui.menu_button("Recent files", |ui| {
                    for path in recent {
                        if ui.button(path.display().to_string()).clicked() {
                            action = Some(ArchiveAction::Open(path.clone()));
                            ui.close();
                        }
                    }
                });
            });
            for b in Builtin::ALL {
                if ui.button(b.button()).on_hover_text(b.hint()).clicked() {
                    action = Some(ArchiveAction::Builtin(b));
                }
            }
            ui.label(
                RichText::new("or drop a file on the window (native .lswag, Suite-Zero JSON, CSV, score .jsonl)")
                    .color(ctx.palette.weak_text),
            );
        });
        ui.horizontal_wrapped(|ui| {
            if ui
                .button("Attach scores…")
                .on_hover_text(
                    "Add the proxies and layer profiles of a score file (written by Score…) to this archive; \
                     attached again whenever the archive is reopened",
                )
                .clicked()
            {
                action = Some(ArchiveAction::PickScores);
            }
            if attached.is_empty() {
                ui.label(RichText::new("no score files attached").color(ctx.palette.weak_text));
            } else {
                ui.label("Attached:");
            }
            for path in attached {
                let name = path
                    .file_name()
                    .map_or(path.display().to_string(), |n| n.to_string_lossy().to_string());
                ui.label(RichText::new(name).monospace())
                    .on_hover_text(path.display().to_string());
                if ui
                    .small_button("Detach")
                    .on_hover_text(format!("Reopen the archive without {}", path.display()))
                    .clicked()
                {
                    action = Some(ArchiveAction::Detach(path.clone()));
                }
            }
        });
        ui.collapsing("Sources and provenance", |ui| {
            for (source, read_at, config) in ds.provenance() {
                ui.label(format!("{source} (read {read_at})"));
                if !config.is_empty() {
                    ui.label(RichText::new(config).monospace().small());
                }
            }
        });
        ui.separator();

        // Tasks overview.
        let tasks = ds.tasks();
        widgets::table_heading(ui, ctx.exporter, ctx.msgs, "Tasks", || {
            let header = ["task", "records", "ground truth", "proxies"]
                .map(String::from)
                .to_vec();
            let rows = tasks
                .iter()
                .map(|t| {
                    vec![
                        t.name.clone(),
                        t.records.to_string(),
                        if t.has_truth { "yes" } else { "no" }.to_string(),
                        t.proxies.len().to_string(),
                    ]
                })
                .collect();
            (header, rows)
        });
        egui::Grid::new("tasks_grid")
            .striped(true)
            .num_columns(4)
            .show(ui, |ui| {
                ui.strong("task");
                ui.strong("records");
                ui.strong("ground truth");
                ui.strong("proxies");
                ui.end_row();
                for t in &tasks {
                    let name = if t.name == ctx.task {
                        RichText::new(format!("{} (shown)", t.name)).strong()
                    } else {
                        RichText::new(&t.name)
                    };
                    ui.label(name);
                    ui.label(t.records.to_string());
                    if t.has_truth {
                        ui.label("yes");
                    } else {
                        ui.label(RichText::new("none").color(ctx.palette.warn));
                    }
                    ui.label(t.proxies.len().to_string());
                    ui.end_row();
                }
            });
        ui.add_space(4.0);

        let palette = ctx.palette;
        self.refresh(ctx);
        let Some((_, _, table)) = &self.table else {
            return action;
        };
        if table.columns.iter().all(|c| c.kind == ColumnKind::Truth) && table.columns.len() <= 1 {
            widgets::note(ui, &palette, "This task has no proxy columns yet.");
        }

        // Missing values per column.
        let missing_title = format!("Missing values, task \"{}\" ({} records)", table.task, table.len());
        widgets::table_heading(ui, ctx.exporter, ctx.msgs, &missing_title, || {
            let header = ["column", "present", "missing", "note"].map(String::from).to_vec();
            let rows = table
                .columns
                .iter()
                .map(|c| {
                    vec![
                        c.name.clone(),
                        (table.len() - c.missing).to_string(),
                        c.missing.to_string(),
                        if c.negated {
                            "stored lower-is-better, negated at load"
                        } else {
                            ""
                        }
                        .to_string(),
                    ]
                })
                .collect();
            (header, rows)
        });
        ui.horizontal_wrapped(|ui| {
            for c in &table.columns {
                let text = format!("{}: {} missing", c.name, c.missing);
                let color = if c.missing == 0 {
                    palette.weak_text
                } else if c.missing as f64 > 0.1 * table.len() as f64 {
                    palette.error
                } else {
                    palette.warn
                };
                ui.label(RichText::new(text).color(color));
                ui.label(RichText::new("·").color(palette.weak_text));
            }
        });
        if !table.has_truth {
            widgets::note(
                ui,
                &palette,
                format!(
                    "Task \"{}\" has no ground truth: the table lists its scores only. \
                     Correlations, the window heatmap and LIBRA need accuracies.",
                    table.task
                ),
            );
        }
        ui.separator();

        // Filter, sort and the table itself.
        let mut filter = settings.filter.clone();
        ui.horizontal(|ui| {
            ui.label("Filter keys:");
            ui.add(
                TextEdit::singleline(&mut filter)
                    .hint_text("e.g. nor_conv_3x3~0")
                    .desired_width(260.0),
            );
            if !filter.is_empty() && ui.small_button("Clear").clicked() {
                filter.clear();
            }
        });
        if filter != settings.filter {
            settings.filter = filter;
        }
        let sort_index = settings
            .sort
            .as_ref()
            .and_then(|name| table.columns.iter().position(|c| &c.name == name));
        let key: OrderKey = (
            ctx.data.generation,
            table.task.clone(),
            settings.filter.clone(),
            settings.sort.clone(),
            settings.descending,
        );
        if self.order.as_ref().is_none_or(|(k, _)| *k != key) {
            let order = table.order(ctx.data, &settings.filter, sort_index, settings.descending);
            self.order = Some((key, order));
        }
        let order: &[usize] = match &self.order {
            Some((_, o)) => o,
            None => &[],
        };
        let title = format!("Architectures of \"{}\"", table.task);
        ui.horizontal(|ui| {
            ui.label(RichText::new(&title).strong());
            ui.label(RichText::new(format!("showing {} of {}", order.len(), table.len())).color(palette.weak_text));
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                widgets::table_exports(ui, ctx.exporter, ctx.msgs, &title, || {
                    table_cells(ctx.data, table, order)
                });
            });
        });

        let mut clicked_sort: Option<Option<String>> = None;
        let width = INDEX_W + KEY_W + NUM_W * table.columns.len() as f32;
        ScrollArea::horizontal().id_salt("archive_table_h").show(ui, |ui| {
            ui.set_min_width(width);
            ui.horizontal(|ui| {
                ui.spacing_mut().item_spacing.x = 0.0;
                ui.add_sized(vec2(INDEX_W, ROW_H), egui::Label::new(RichText::new("#").strong()));
                let key_resp = ui
                    .add_sized(
                        vec2(KEY_W, ROW_H),
                        egui::Button::new(RichText::new("key").strong()).frame(false),
                    )
                    .on_hover_text("Sort by key");
                if settings.sort.is_none() {
                    arrow(ui, &key_resp, settings.descending, palette.handle);
                }
                if key_resp.clicked() {
                    clicked_sort = Some(None);
                }
                for c in &table.columns {
                    let active = settings.sort.as_deref() == Some(c.name.as_str());
                    let mut name = c.name.clone();
                    if c.negated {
                        name.push('*');
                    }
                    let hover = if c.negated {
                        format!("Sort by {} (stored lower-is-better, negated at load)", c.name)
                    } else {
                        format!("Sort by {}", c.name)
                    };
                    let resp = ui
                        .add_sized(
                            vec2(NUM_W, ROW_H),
                            egui::Button::new(RichText::new(&name).strong()).frame(false),
                        )
                        .on_hover_text(hover);
                    if active {
                        arrow(ui, &resp, settings.descending, palette.handle);
                    }
                    if resp.clicked() {
                        clicked_sort = Some(Some(c.name.clone()));
                    }
                }
            });
            ui.separator();
            ScrollArea::vertical()
                .id_salt("archive_table_v")
                .auto_shrink([false, false])
                .show_rows(ui, ROW_H, order.len(), |ui, range| {
                    for i in range {
                        let pos = order[i];
                        let row = table.rows[pos];
                        ui.horizontal(|ui| {
                            ui.spacing_mut().item_spacing.x = 0.0;
                            ui.add_sized(
                                vec2(INDEX_W, ROW_H),
                                egui::Label::new(RichText::new((row + 1).to_string()).color(palette.weak_text)),
                            );
                            let key = ds.key(row);
                            cell(
                                ui,
                                KEY_W,
                                Align::Min,
                                egui::Label::new(RichText::new(key).monospace()).truncate(),
                            )
                            .on_hover_text(key);
                            for c in &table.columns {
                                let v = c.values[pos];
                                let text = if v.is_nan() {
                                    RichText::new("missing").color(palette.weak_text).italics()
                                } else {
                                    RichText::new(format_value(v)).monospace()
                                };
                                cell(ui, NUM_W, Align::Max, egui::Label::new(text));
                            }
                        });
                    }
                });
        });
        if let Some(sort) = clicked_sort {
            if settings.sort == sort {
                settings.descending = !settings.descending;
            } else {
                settings.sort = sort;
                // Numbers: best first; keys: alphabetical.
                settings.descending = settings.sort.is_some();
            }
        }
        if ctx.data.is_empty() {
            widgets::note(ui, &palette, "The archive is empty.");
        }
        action
    }
}

/// The sort arrow at the right end of a header button.
fn arrow(ui: &Ui, resp: &egui::Response, descending: bool, color: egui::Color32) {
    let c = egui::pos2(resp.rect.max.x - 9.0, resp.rect.center().y);
    widgets::sort_arrow(ui.painter(), c, descending, color);
}

fn table_cells(ds: &crate::ui::model::Dataset, table: &TaskTable, order: &[usize]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header = vec!["arch".to_string()];
    header.extend(table.columns.iter().map(|c| c.name.clone()));
    let rows = order
        .iter()
        .map(|&pos| {
            let mut r = vec![ds.key(table.rows[pos]).to_string()];
            r.extend(table.columns.iter().map(|c| {
                let v = c.values[pos];
                if v.is_nan() { String::new() } else { v.to_string() }
            }));
            r
        })
        .collect();
    (header, rows)
}

/// A fixed-width table cell, aligned left (`Min`) or right (`Max`).
fn cell(ui: &mut Ui, width: f32, align: Align, label: egui::Label) -> egui::Response {
    let layout = if align == Align::Max {
        Layout::right_to_left(Align::Center)
    } else {
        Layout::left_to_right(Align::Center)
    };
    ui.allocate_ui_with_layout(vec2(width, ROW_H), layout, |ui| {
        ui.set_width(width - 10.0);
        ui.add(label)
    })
    .inner
}
