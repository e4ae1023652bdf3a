//! Exports: CSV and Markdown of tables, CSV of what a plot draws, and PNG
//! of a figure (a screenshot of the window cropped to the figure). The
//! path comes from [`Files`] (a system or built-in dialog, answered on a
//! later frame; tests answer at once); the contents wait for it.

use eframe::egui;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};

use egui::{ColorImage, Rect};

use super::Messages;
use super::files::{Files, Purpose, Request};
use super::model::csv_field;

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
}

/// Runs exports and reports what happened to [`Messages`].
pub struct Exporter {
    /// Every file dialog of the app (exports, opening, the probe's files).
    pub files: Files,
    pending: Option<PendingPng>,
    /// Exports waiting for their path, by request number.
    saves: Vec<(u64, Payload)>,
    next_save: u64,
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
            written: Vec::new(),
        }
    }

    /// Asks where to save, then writes `contents`.
    pub fn save_text(&mut self, msgs: &mut Messages, name: &str, ext: &str, contents: &str) {
        self.save_bytes(msgs, name, ext, contents.as_bytes().to_vec());
    }

    /// Asks where to save, then writes `bytes` (any export format).
    pub fn save_bytes(&mut self, msgs: &mut Messages, name: &str, ext: &str, bytes: Vec<u8>) {
        self.ask_save(msgs, name, ext, Payload::Bytes(bytes));
    }

    fn ask_save(&mut self, msgs: &mut Messages, name: &str, ext: &str, payload: Payload) {
        let id = self.next_save;
        self.next_save += 1;
        if self
            .files
            .ask(Request::save(Purpose::Export(id), &file_stem(name), ext))
        {
            self.saves.push((id, payload));
            self.finish_saves(msgs);
        } else {
            msgs.info("A file dialog is already open: finish it first");
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
            let result = match &payload {
                Payload::Bytes(b) => std::fs::write(&path, b).map_err(|e| format!("could not write: {e}")),
                Payload::Png(image) => write_png(&path, image),
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
    /// path; exports whose path has come are written.
    pub fn poll(&mut self, msgs: &mut Messages) {
        if let Some(p) = &self.pending
            && let Ok(image) = p.rx.try_recv()
            && let Some(p) = self.pending.take()
        {
            let cropped = crop(&image, p.rect, p.pixels_per_point);
            self.ask_save(msgs, &p.name, "png", Payload::Png(cropped));
        }
        self.finish_saves(msgs);
    }
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
