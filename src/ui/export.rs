//! Exports: CSV and Markdown of tables, CSV of what a plot draws, PNG of a
//! figure (a screenshot of the window cropped to the figure), and the
//! figure itself as SVG, PDF or PNG at a chosen size, drawn by `figure` as
//! `lswag-studio figure` draws it. The path comes from [`Files`] (a system
//! or built-in dialog, answered on a later frame; tests answer at once);
//! the contents wait for it.

use eframe::egui;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};

use egui::containers::menu::{MenuButton, MenuConfig};
use egui::{ColorImage, DragValue, PopupCloseBehavior, Rect, Ui};
use serde::{Deserialize, Serialize};

use super::Messages;
use super::files::{Files, Purpose, Request};
use super::model::csv_field;
use crate::figure::output::{DPI_RANGE, pixels};
use crate::figure::svg::{Page, Theme};
use crate::figure::{self, Format};

pub use super::files::{Dialogs, FolderDialogs, NativeDialogs, NoDialogs, NoSystemDialogs};

struct PendingPng {
    name: String,
    rect: Rect,
    pixels_per_point: f32,
    rx: Receiver<Arc<ColorImage>>,
}

/// What an export writes once its path is known.
enum Payload {
    Bytes(Vec<u8>),
    Png(ColorImage),
    /// A figure's SVG, converted and written on a worker thread (a PDF of
    /// 15k points or a 600 dpi PNG takes a moment).
    /// The context repaints when the file is written.
    Figure(String, Format, egui::Context),
}

/// A figure file being rendered and written off the UI thread.
type PendingFigure = Receiver<(PathBuf, Result<(), String>)>;

/// Runs exports and reports what happened to [`Messages`].
pub struct Exporter {
    /// Every file dialog of the app (exports, opening, the probe's files).
    pub files: Files,
    pending: Option<PendingPng>,
    /// Exports waiting for their path, by request number.
    saves: Vec<(u64, Payload)>,
    next_save: u64,
    figures: Vec<PendingFigure>,
    /// Notes for the next [`Exporter::poll`] from calls without messages.
    notes: Vec<String>,
    /// Paths written, newest last (tests read it).
    pub written: Vec<PathBuf>,
}

impl Exporter {
    pub fn new(dialogs: Box<dyn Dialogs>) -> Exporter {
        Exporter {
            files: Files::new(dialogs),
            pending: None,
            saves: Vec::new(),
            next_save: 0,
            figures: Vec::new(),
            notes: Vec::new(),
            written: Vec::new(),
        }
    }

    /// Asks where to save, then writes `contents`.
    pub fn save_text(&mut self, msgs: &mut Messages, name: &str, ext: &str, contents: &str) {
        self.save_bytes(msgs, name, ext, contents.as_bytes().to_vec());
    }

    /// Asks where to save, then writes `bytes` (any export format).
    pub fn save_bytes(&mut self, msgs: &mut Messages, name: &str, ext: &str, bytes: Vec<u8>) {
        self.ask_save(name, ext, Payload::Bytes(bytes));
        self.finish_saves(msgs);
    }

    /// Asks where to save, then renders the figure `draw` returns for the
    /// chosen page in the chosen format; [`Exporter::poll`] reports.
    pub fn save_figure(
        &mut self,
        ctx: &egui::Context,
        name: &str,
        settings: &FigureSettings,
        draw: impl FnOnce(&Page) -> String,
    ) {
        let format = settings.format();
        let svg = draw(&settings.page());
        self.ask_save(name, format.extension(), Payload::Figure(svg, format, ctx.clone()));
        ctx.request_repaint();
    }

    fn ask_save(&mut self, name: &str, ext: &str, payload: Payload) {
        let id = self.next_save;
        self.next_save += 1;
        if self
            .files
            .ask(Request::save(Purpose::Export(id), &file_stem(name), ext))
        {
            self.saves.push((id, payload));
        } else {
            self.notes.push("A file dialog is already open: finish it first".into());
        }
    }

    /// Writes the exports whose path has come (drops the cancelled ones).
    fn finish_saves(&mut self, msgs: &mut Messages) {
        let mut i = 0;
        while i < self.saves.len() {
            let Some(answer) = self.files.take(&Purpose::Export(self.saves[i].0)) else {
                i += 1;
                continue;
            };
            let (_, payload) = self.saves.remove(i);
            let Some(path) = answer else { continue };
            let result = match payload {
                Payload::Bytes(b) => std::fs::write(&path, b).map_err(|e| format!("could not write: {e}")),
                Payload::Png(image) => write_png(&path, &image),
                Payload::Figure(svg, format, repaint) => {
                    let (tx, rx) = channel();
                    std::thread::spawn(move || {
                        let result = figure::write(&svg, format, &path);
                        let _ = tx.send((path, result));
                        repaint.request_repaint();
                    });
                    self.figures.push(rx);
                    continue;
                }
            };
            match result {
                Ok(()) => {
                    msgs.info(format!("Saved {}", path.display()));
                    self.written.push(path);
                }
                Err(reason) => msgs.error(path.display().to_string(), reason),
            }
        }
    }

    /// Starts a PNG export of the screen region `rect` (points): the next
    /// frame is captured, cropped, and saved where the user says.
    pub fn request_png(&mut self, ctx: &egui::Context, name: &str, rect: Rect) {
        let (tx, rx) = channel();
        let repaint = ctx.clone();
        ctx.request_screenshot(move |image| {
            let _ = tx.send(image);
            repaint.request_repaint();
        });
        self.pending = Some(PendingPng {
            name: file_stem(name),
            rect,
            pixels_per_point: ctx.pixels_per_point(),
            rx,
        });
    }

    pub fn png_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Finishes exports: a PNG whose screenshot has arrived asks for its
    /// path; exports whose path has come are written; figures written on
    /// their thread are reported.
    pub fn poll(&mut self, msgs: &mut Messages) {
        for note in self.notes.drain(..) {
            msgs.info(note);
        }
        if let Some(p) = &self.pending
            && let Ok(image) = p.rx.try_recv()
            && let Some(p) = self.pending.take()
        {
            let cropped = crop(&image, p.rect, p.pixels_per_point);
            self.ask_save(&p.name, "png", Payload::Png(cropped));
        }
        self.finish_saves(msgs);
        let mut still = Vec::new();
        for rx in std::mem::take(&mut self.figures) {
            match rx.try_recv() {
                Ok((path, Ok(()))) => {
                    msgs.info(format!("Saved {}", path.display()));
                    self.written.push(path);
                }
                Ok((path, Err(reason))) => msgs.error(path.display().to_string(), reason),
                Err(std::sync::mpsc::TryRecvError::Empty) => still.push(rx),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    msgs.error("figure export", "the thread writing the figure stopped unexpectedly")
                }
            }
        }
        self.figures = still;
    }
}
/// The file format offered by a figure's "Figure…" menu.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FigureFormat {
    Svg,
    #[default]
    Pdf,
    Png,
}

/// Size, format and theme of the figures saved from the app; one set for
/// every figure (a paper's figures share a size), kept between runs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FigureSettings {
    pub format: FigureFormat,
    pub width_mm: f64,
    pub height_mm: f64,
    /// PNG only.
    pub dpi: f64,
    pub dark: bool,
    /// Off: no title line, for a paper whose caption names the figure.
    pub title_line: bool,
}

impl Default for FigureSettings {
    fn default() -> Self {
        FigureSettings {
            format: FigureFormat::Pdf,
            width_mm: 120.0,
            height_mm: 80.0,
            dpi: 300.0,
            dark: false,
            title_line: true,
        }
    }
}

impl FigureSettings {
    pub fn page(&self) -> Page {
        let clamp = |v: f64| v.clamp(Page::MIN_MM, Page::MAX_MM);
        Page::new(
            clamp(self.width_mm),
            clamp(self.height_mm),
            if self.dark { Theme::Dark } else { Theme::Light },
        )
        .with_title((!self.title_line).then(String::new))
    }

    pub fn format(&self) -> Format {
        match self.format {
            FigureFormat::Svg => Format::Svg,
            FigureFormat::Pdf => Format::Pdf,
            FigureFormat::Png => Format::Png { dpi: self.dpi },
        }
    }
}

/// Where the figure settings live in egui's persisted memory.
fn figure_settings_id() -> egui::Id {
    egui::Id::unique("lswag_figure_export_settings")
}

/// The figure settings as last chosen.
pub fn figure_settings(ctx: &egui::Context) -> FigureSettings {
    ctx.data_mut(|d| *d.get_persisted_mut_or_default::<FigureSettings>(figure_settings_id()))
}

/// The "Figure…" button of a figure's title row: a menu with the format,
/// the size in millimetres (and the resolution of a PNG) and "Save…",
/// which saves what `draw` draws for that page, and "Screenshot…": the
/// figure as on screen (returns true; the caller knows its rectangle).
pub fn figure_menu(ui: &mut Ui, exporter: &mut Exporter, title: &str, draw: impl FnOnce(&Page) -> String) -> bool {
    let mut s = figure_settings(ui.ctx());
    let mut save = false;
    let mut screenshot = false;
    let config = MenuConfig::new().close_behavior(PopupCloseBehavior::CloseOnClickOutside);
    let (button, _) = MenuButton::from_button(egui::Button::new("Figure…").small())
        .config(config)
        .ui(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label("Format");
                ui.selectable_value(&mut s.format, FigureFormat::Pdf, "PDF");
                ui.selectable_value(&mut s.format, FigureFormat::Svg, "SVG");
                ui.selectable_value(&mut s.format, FigureFormat::Png, "PNG");
            });
            egui::Grid::new("figure_export_size").num_columns(2).show(ui, |ui| {
                let range = Page::MIN_MM..=Page::MAX_MM;
                ui.label("Width");
                ui.add(DragValue::new(&mut s.width_mm).range(range.clone()).suffix(" mm"));
                ui.end_row();
                ui.label("Height");
                ui.add(DragValue::new(&mut s.height_mm).range(range).suffix(" mm"));
                ui.end_row();
                if s.format == FigureFormat::Png {
                    ui.label("Resolution");
                    ui.add(DragValue::new(&mut s.dpi).range(DPI_RANGE).suffix(" dpi"));
                    ui.end_row();
                    ui.label("");
                    ui.label(format!(
                        "{} × {} pixels",
                        pixels(s.width_mm, s.dpi),
                        pixels(s.height_mm, s.dpi)
                    ));
                    ui.end_row();
                }
            });
            ui.checkbox(&mut s.dark, "Dark background");
            ui.checkbox(&mut s.title_line, "Title line")
                .on_hover_text("Off: the figure without its title, for a paper whose caption names it");
            let what = match s.format {
                FigureFormat::Svg => "SVG",
                FigureFormat::Pdf => "PDF",
                FigureFormat::Png => "PNG",
            };
            if ui.button(format!("Save {what}…")).clicked() {
                save = true;
                ui.close();
            }
            ui.separator();
            if ui
                .button("Screenshot…")
                .on_hover_text("Save the figure as a PNG image exactly as on screen")
                .clicked()
            {
                screenshot = true;
                ui.close();
            }
        });
    button.on_hover_text(format!(
        "Save \"{title}\" as a figure file: SVG or PDF (vector, text stays text) or PNG, at a size you choose; \
         or a screenshot of it"
    ));
    ui.ctx().data_mut(|d| d.insert_persisted(figure_settings_id(), s));
    if save {
        let ctx = ui.ctx().clone();
        exporter.save_figure(&ctx, title, &s, draw);
    }
    screenshot
}

/// A file name from a figure title: lowercase, `-` for anything odd.
pub fn file_stem(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() { "export".to_string() } else { out }
}

/// The part of a screenshot under `rect` (points), clamped to the image.
pub fn crop(image: &ColorImage, rect: Rect, pixels_per_point: f32) -> ColorImage {
    let [w, h] = image.size;
    let x0 = ((rect.min.x * pixels_per_point).floor().max(0.0) as usize).min(w);
    let y0 = ((rect.min.y * pixels_per_point).floor().max(0.0) as usize).min(h);
    let x1 = ((rect.max.x * pixels_per_point).ceil().max(0.0) as usize).clamp(x0, w);
    let y1 = ((rect.max.y * pixels_per_point).ceil().max(0.0) as usize).clamp(y0, h);
    image.region_by_pixels([x0, y0], [x1 - x0, y1 - y0])
}

/// Writes an image as PNG.
pub fn write_png(path: &Path, image: &ColorImage) -> Result<(), String> {
    let [w, h] = image.size;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_srgba_unmultiplied()).collect();
    let buffer = image::RgbaImage::from_raw(w as u32, h as u32, bytes)
        .ok_or_else(|| format!("image of {w} x {h} pixels has the wrong number of bytes"))?;
    buffer.save(path).map_err(|e| format!("could not write PNG: {e}"))
}

/// CSV of a table of text cells.
pub fn table_csv(header: &[String], rows: &[Vec<String>]) -> String {
    let line = |cells: &[String]| cells.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(",");
    let mut out = line(header);
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

/// GitHub-flavoured Markdown of a table of text cells.
pub fn table_markdown(header: &[String], rows: &[Vec<String>]) -> String {
    let esc = |s: &String| s.replace('|', "\\|");
    let mut out = format!("| {} |\n", header.iter().map(esc).collect::<Vec<_>>().join(" | "));
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for r in rows {
        out.push_str(&format!("| {} |\n", r.iter().map(esc).collect::<Vec<_>>().join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_render_as_csv_and_markdown() {
        let header = vec!["a".to_string(), "b|c".to_string()];
        let rows = vec![vec!["1".to_string(), "x,y".to_string()]];
        assert_eq!(table_csv(&header, &rows), "a,b|c\n1,\"x,y\"\n");
        assert_eq!(
            table_markdown(&header, &rows),
            "| a | b\\|c |\n|---|---|\n| 1 | x,y |\n"
        );
        assert_eq!(file_stem("Spearman ρ per bin"), "spearman-per-bin");
    }

    #[test]
    fn crop_clamps_to_the_image() {
        let image = ColorImage::filled([10, 8], egui::Color32::RED);
        let c = crop(
            &image,
            Rect::from_min_max(egui::pos2(2.0, 2.0), egui::pos2(50.0, 50.0)),
            1.0,
        );
        assert_eq!(c.size, [8, 6]);
    }
}
