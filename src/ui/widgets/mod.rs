//! Pieces shared by panels: a figure frame with its exports, table export
//! buttons, notes, the colour matrix and the rank scatter.

pub mod matrix;
pub mod scatter;

use eframe::egui;
use egui::{Frame, Margin, RichText, Ui};

use super::Messages;
use super::export::{Exporter, figure_menu, table_csv, table_markdown};
use super::theme::Palette;
use crate::figure::svg::Page;

/// A figure: a title line with "PNG…" and "CSV…" buttons, then the content
/// drawn by `add`. The PNG is the content's rectangle as drawn; the CSV is
/// what `csv` returns (the numbers the figure draws).
pub fn figure<R>(
    ui: &mut Ui,
    exporter: &mut Exporter,
    msgs: &mut Messages,
    title: &str,
    csv: impl FnOnce() -> String,
    add: impl FnOnce(&mut Ui) -> R,
) -> R {
    figure_row(ui, exporter, msgs, title, Exports::Csv(Box::new(csv)), None, add)
}

/// A [`figure`] that `draw` also draws as a figure file: its title line
/// adds "Figure…" (SVG, PDF or PNG at a chosen size, see
/// [`crate::ui::export::figure_menu`]).
pub fn vector_figure<R>(
    ui: &mut Ui,
    exporter: &mut Exporter,
    msgs: &mut Messages,
    title: &str,
    csv: impl FnOnce() -> String,
    draw: impl FnOnce(&Page) -> String,
    add: impl FnOnce(&mut Ui) -> R,
) -> R {
    figure_row(
        ui,
        exporter,
        msgs,
        title,
        Exports::Csv(Box::new(csv)),
        Some(Box::new(draw)),
        add,
    )
}

/// A figure that is also a table (a colour matrix): "PNG…", "CSV…" and
/// "Markdown…" on the title line.
pub fn table_figure<R>(
    ui: &mut Ui,
    exporter: &mut Exporter,
    msgs: &mut Messages,
    title: &str,
    cells: impl FnOnce() -> (Vec<String>, Vec<Vec<String>>),
    add: impl FnOnce(&mut Ui) -> R,
) -> R {
    figure_row(ui, exporter, msgs, title, Exports::Table(Box::new(cells)), None, add)
}

/// A [`table_figure`] that `draw` also draws as a figure file.
pub fn vector_table_figure<R>(
    ui: &mut Ui,
    exporter: &mut Exporter,
    msgs: &mut Messages,
    title: &str,
    cells: impl FnOnce() -> (Vec<String>, Vec<Vec<String>>),
    draw: impl FnOnce(&Page) -> String,
    add: impl FnOnce(&mut Ui) -> R,
) -> R {
    figure_row(
        ui,
        exporter,
        msgs,
        title,
        Exports::Table(Box::new(cells)),
        Some(Box::new(draw)),
        add,
    )
}

type Cells<'a> = Box<dyn FnOnce() -> (Vec<String>, Vec<Vec<String>>) + 'a>;
/// Draws a figure for a page (see [`crate::figure`]).
type Draw<'a> = Box<dyn FnOnce(&Page) -> String + 'a>;

/// The numbers a figure's title line exports.
enum Exports<'a> {
    Csv(Box<dyn FnOnce() -> String + 'a>),
    Table(Cells<'a>),
}

/// The one title line of every figure: title, then (right to left) the
/// number exports and "Figure…" (with `draw`: figure files and the
/// screenshot), else "PNG…" (the screenshot).
fn figure_row<'a, R>(
    ui: &mut Ui,
    exporter: &mut Exporter,
    msgs: &mut Messages,
    title: &str,
    numbers: Exports<'a>,
    draw: Option<Draw<'a>>,
    add: impl FnOnce(&mut Ui) -> R,
) -> R {
    let mut png = false;
    title_row(ui, title, |ui| {
        match numbers {
            Exports::Csv(csv) => {
                if ui
                    .small_button("CSV…")
                    .on_hover_text(format!("Save the numbers of \"{title}\" as CSV"))
                    .clicked()
                {
                    exporter.save_text(msgs, title, "csv", &csv());
                }
            }
            Exports::Table(cells) => table_exports(ui, exporter, msgs, title, cells),
        }
        // A figure file's menu holds the screenshot too: one button fewer
        // keeps titles readable at 1024 px.
        png = match draw {
            Some(draw) => figure_menu(ui, exporter, title, draw),
            None => ui
                .small_button("PNG…")
                .on_hover_text(format!("Save \"{title}\" as a PNG image, as on screen"))
                .clicked(),
        };
    });
    let inner = ui.scope(add);
    if png {
        exporter.request_png(ui.ctx(), title, inner.response.rect);
    }
    inner.inner
}

/// "CSV…" and "Markdown…" buttons for a table of text cells; the cells are
/// only built when a button is clicked.
pub fn table_exports(
    ui: &mut Ui,
    exporter: &mut Exporter,
    msgs: &mut Messages,
    name: &str,
    cells: impl FnOnce() -> (Vec<String>, Vec<Vec<String>>),
) {
    let csv = ui
        .small_button("CSV…")
        .on_hover_text(format!("Save the table \"{name}\" as CSV"))
        .clicked();
    let md = ui
        .small_button("Markdown…")
        .on_hover_text(format!("Save the table \"{name}\" as Markdown"))
        .clicked();
    if csv || md {
        let (header, rows) = cells();
        if csv {
            exporter.save_text(msgs, name, "csv", &table_csv(&header, &rows));
        } else {
            exporter.save_text(msgs, name, "md", &table_markdown(&header, &rows));
        }
    }
}

/// A section heading with table exports on the right.
pub fn table_heading(
    ui: &mut Ui,
    exporter: &mut Exporter,
    msgs: &mut Messages,
    title: &str,
    cells: impl FnOnce() -> (Vec<String>, Vec<Vec<String>>),
) {
    // Right-to-left: the last button added sits leftmost.
    title_row(ui, title, |ui| table_exports(ui, exporter, msgs, title, cells));
}

/// A title line with buttons on the right (added right to left): the title
/// takes the space left of them, cut with "…" (full on hover) rather than
/// running under them.
pub fn title_row(ui: &mut Ui, title: &str, buttons: impl FnOnce(&mut Ui)) {
    ui.horizontal(|ui| {
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            buttons(ui);
            ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                ui.add(egui::Label::new(RichText::new(title).strong()).truncate())
                    .on_hover_text(title);
            });
        });
    });
}

/// How a legend entry is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mark {
    Line,
    Dashed,
    Dotted,
    Dot,
    Fill,
}

/// One legend entry.
#[derive(Clone, Debug, PartialEq)]
pub struct LegendItem {
    pub mark: Mark,
    pub color: egui::Color32,
    pub label: String,
}

impl LegendItem {
    pub fn new(mark: Mark, color: egui::Color32, label: impl Into<String>) -> LegendItem {
        LegendItem {
            mark,
            color,
            label: label.into(),
        }
    }
}

/// A legend under a plot, off the data: entries in the order given,
/// wrapped to the width.
pub fn legend_row(ui: &mut Ui, palette: &Palette, items: &[LegendItem]) {
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 12.0;
        for item in items {
            legend_item(ui, palette, item);
        }
    });
}

/// Swatch and label as one allocation, so that they wrap together.
fn legend_item(ui: &mut Ui, palette: &Palette, item: &LegendItem) {
    let font = egui::TextStyle::Small.resolve(ui.style());
    let galley = ui.painter().layout_no_wrap(item.label.clone(), font, palette.text);
    let swatch = egui::vec2(22.0, 14.0);
    let size = egui::vec2(swatch.x + 4.0 + galley.size().x, swatch.y.max(galley.size().y));
    let (rect, resp) = ui.allocate_exact_size(size, egui::Sense::hover());
    // Readable by screen readers (and tests) like any label.
    resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, &item.label));
    let sw = egui::Rect::from_min_size(egui::pos2(rect.min.x, rect.center().y - swatch.y / 2.0), swatch);
    let painter = ui.painter();
    let (l, r, y) = (sw.left() + 1.0, sw.right() - 1.0, sw.center().y);
    let stroke = |w: f32| egui::Stroke::new(w, item.color);
    match item.mark {
        Mark::Line => {
            painter.line_segment([egui::pos2(l, y), egui::pos2(r, y)], stroke(2.2));
        }
        Mark::Dashed | Mark::Dotted => {
            let (dash, gap) = if item.mark == Mark::Dashed {
                (5.0, 3.0)
            } else {
                (2.0, 2.0)
            };
            painter.extend(egui::Shape::dashed_line(
                &[egui::pos2(l, y), egui::pos2(r, y)],
                stroke(1.8),
                dash,
                gap,
            ));
        }
        Mark::Dot => {
            painter.circle_filled(sw.center(), 4.0, item.color);
        }
        Mark::Fill => {
            painter.rect_filled(sw.shrink2(egui::vec2(1.0, 2.0)), 2.0, item.color);
        }
    }
    let text_pos = egui::pos2(sw.right() + 4.0, rect.center().y - galley.size().y / 2.0);
    painter.galley(text_pos, galley, palette.text);
}

/// A plain-language note in a tinted box (missing ground truth, missing
/// profiles, ...).
pub fn note(ui: &mut Ui, palette: &Palette, text: impl Into<String>) {
    Frame::new()
        .fill(palette.info_fill)
        .inner_margin(Margin::symmetric(10, 8))
        .corner_radius(4.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.label(RichText::new(text.into()).color(palette.text));
        });
}

/// A spinner with what is being computed.
pub fn working(ui: &mut Ui, what: &str) {
    ui.horizontal(|ui| {
        ui.spinner();
        ui.label(what);
    });
    ui.ctx().request_repaint_after(std::time::Duration::from_millis(100));
}

/// A small filled triangle marking the sorted column (pointing down when
/// sorted from high to low).
pub fn sort_arrow(painter: &egui::Painter, center: egui::Pos2, descending: bool, color: egui::Color32) {
    let (w, h) = (4.5, 4.0);
    let pts = if descending {
        vec![
            center + egui::vec2(-w, -h / 2.0),
            center + egui::vec2(w, -h / 2.0),
            center + egui::vec2(0.0, h / 2.0 + 1.0),
        ]
    } else {
        vec![
            center + egui::vec2(-w, h / 2.0),
            center + egui::vec2(w, h / 2.0),
            center + egui::vec2(0.0, -h / 2.0 - 1.0),
        ]
    };
    painter.add(egui::Shape::convex_polygon(pts, color, egui::Stroke::NONE));
}

/// A striped text table: a bold header row, then `rows`, each cell drawn
/// as `style(column, row_len, text)` returns it.
pub fn text_grid(
    ui: &mut Ui,
    id: &str,
    header: &[String],
    rows: &[Vec<String>],
    style: impl Fn(usize, usize, &str) -> RichText,
) {
    egui::Grid::new(id)
        .striped(true)
        .num_columns(header.len())
        .show(ui, |ui| {
            for h in header {
                ui.label(RichText::new(h).strong());
            }
            ui.end_row();
            for row in rows {
                for (i, cell) in row.iter().enumerate() {
                    ui.label(style(i, row.len(), cell));
                }
                ui.end_row();
            }
        });
}
