//! A small SVG writer for the figure kinds: a millimetre page, plots with
//! ticks, labels and a legend that keeps off the data, and colour matrices
//! with a colour bar. Text stays text; its width is measured with the font
//! the PDF and PNG embed ([`FONT`]), so labels are laid out, not guessed.

use std::fmt::Write;
use std::sync::OnceLock;

use eframe::egui::Color32;

use crate::ui::theme::{Palette, contrast_text, diverging, palette};

/// The one font of every figure: egui's Ubuntu Light (Ubuntu Font Licence
/// 1.0, which allows embedding). It has the Greek letters and the minus
/// sign the labels use.
pub const FONT: &[u8] = epaint_default_fonts::UBUNTU_LIGHT;

/// Text sizes in millimetres (1 pt = 25.4 / 72 mm).
const PT: f64 = 25.4 / 72.0;
const TITLE: f64 = 9.0 * PT;
const LABEL: f64 = 8.0 * PT;
const TICK: f64 = 7.0 * PT;
const LEGEND: f64 = 7.0 * PT;
const TICK_LEN: f64 = 1.0;
const STROKE: f64 = 0.25;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Theme {
    Light,
    Dark,
}

impl Theme {
    pub fn parse(s: &str) -> Result<Theme, String> {
        match s {
            "light" => Ok(Theme::Light),
            "dark" => Ok(Theme::Dark),
            t => Err(format!("--theme {t}: expected light or dark")),
        }
    }
}

/// Size, theme and title line of a figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub width_mm: f64,
    pub height_mm: f64,
    pub theme: Theme,
    /// `None`: the figure's own title; `Some("")`: no title line (a paper's
    /// caption says it), the plot takes the space; `Some(text)`: that text.
    pub title: Option<String>,
}

impl Page {
    /// Smallest and largest side a figure is laid out for.
    pub const MIN_MM: f64 = 40.0;
    pub const MAX_MM: f64 = 1000.0;

    pub fn new(width_mm: f64, height_mm: f64, theme: Theme) -> Page {
        Page {
            width_mm,
            height_mm,
            theme,
            title: None,
        }
    }

    /// The same page with its title line replaced (see [`Page::title`]).
    pub fn with_title(self, title: Option<String>) -> Page {
        Page { title, ..self }
    }

    /// An error naming the option when a side is out of range.
    pub fn check(&self) -> Result<(), String> {
        for (flag, v) in [("--width-mm", self.width_mm), ("--height-mm", self.height_mm)] {
            if !(Page::MIN_MM..=Page::MAX_MM).contains(&v) {
                return Err(format!(
                    "{flag} {v}: a figure side must be between {} and {} mm",
                    Page::MIN_MM,
                    Page::MAX_MM
                ));
            }
        }
        Ok(())
    }
}

/// A rectangle on the page, in millimetres (y down).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    fn w(&self) -> f64 {
        self.x1 - self.x0
    }
    fn h(&self) -> f64 {
        self.y1 - self.y0
    }
    fn overlaps(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
    fn contains(&self, x: f64, y: f64) -> bool {
        (self.x0..=self.x1).contains(&x) && (self.y0..=self.y1).contains(&y)
    }

    /// `n` side-by-side columns with `gap` between them.
    pub fn columns(&self, n: usize, gap: f64) -> Vec<Rect> {
        let n = n.max(1);
        let w = (self.w() - gap * (n - 1) as f64) / n as f64;
        (0..n)
            .map(|i| {
                let x0 = self.x0 + i as f64 * (w + gap);
                Rect {
                    x1: x0 + w,
                    x0,
                    ..*self
                }
            })
            .collect()
    }
}

/// Escapes text for an SVG text node or attribute.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn face() -> &'static ttf_parser::Face<'static> {
    static FACE: OnceLock<ttf_parser::Face<'static>> = OnceLock::new();
    FACE.get_or_init(|| ttf_parser::Face::parse(FONT, 0).expect("egui's default font parses"))
}

/// Width of `s` set in [`FONT`] at `size` mm.
pub fn text_width(s: &str, size: f64) -> f64 {
    let f = face();
    let fallback = f.glyph_index('?');
    let units: f64 = s
        .chars()
        .map(|c| {
            f.glyph_index(c)
                .or(fallback)
                .and_then(|g| f.glyph_hor_advance(g))
                .unwrap_or(0) as f64
        })
        .sum();
    units / f.units_per_em() as f64 * size
}

/// Tick positions on [lo, hi]: steps of 1, 2 or 5 times a power of ten, at
/// most `max` ticks.
pub fn nice_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let max = max.max(2) as f64;
    let raw = (hi - lo) / max;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0, 20.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| (hi - lo) / s <= max)
        .unwrap_or(20.0 * mag);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// A tick label: fixed decimals enough for the step, a leading zero
/// ("0.086") and a typographic minus ("−0.5"); never "−0".
pub fn tick_label(v: f64, ticks: &[f64]) -> String {
    let step = if ticks.len() > 1 {
        (ticks[1] - ticks[0]).abs()
    } else {
        1.0
    };
    let dec = if step >= 1.0 {
        0
    } else {
        (-step.log10() - 1e-9).ceil() as usize
    };
    number(v, dec)
}

/// `v` with `dec` decimals, typographic minus, no negative zero.
pub fn number(v: f64, dec: usize) -> String {
    let s = format!("{:.*}", dec, v);
    match s.strip_prefix('-') {
        Some(rest) if rest.trim_start_matches(['0', '.']).is_empty() => rest.to_string(),
        Some(rest) => format!("−{rest}"),
        None => s,
    }
}

fn hex(c: Color32) -> String {
    let [r, g, b, _] = c.to_srgba_unmultiplied();
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// `fill="#rrggbb"` and, when translucent, its opacity.
fn paint(attr: &str, c: Color32) -> String {
    let a = c.to_srgba_unmultiplied()[3];
    if a == 255 {
        format!(r#"{attr}="{}""#, hex(c))
    } else {
        format!(r#"{attr}="{}" {attr}-opacity="{:.3}""#, hex(c), a as f64 / 255.0)
    }
}

/// An axis: its data range and labelled ticks.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub range: (f64, f64),
    pub ticks: Vec<(f64, String)>,
    pub grid: bool,
}

impl Axis {
    /// Range of the values and `include`, padded by 5% on each side, with
    /// round ticks.
    pub fn auto(values: impl IntoIterator<Item = f64>, include: &[f64]) -> Axis {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values
            .into_iter()
            .chain(include.iter().copied())
            .filter(|v| v.is_finite())
        {
            (lo, hi) = (lo.min(v), hi.max(v));
        }
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if hi - lo < 1e-12 {
            (lo, hi) = (lo - 0.5, hi + 0.5);
        }
        let pad = (hi - lo) * 0.05;
        Axis::ranged(lo - pad, hi + pad)
    }

    /// Exactly `lo..hi`, with round ticks.
    pub fn ranged(lo: f64, hi: f64) -> Axis {
        let t = nice_ticks(lo, hi, 6);
        Axis {
            range: (lo, hi),
            ticks: t.iter().map(|&v| (v, tick_label(v, &t))).collect(),
            grid: true,
        }
    }

    /// Integer categories `lo..=hi`, each labelled with its number.
    pub fn integers(lo: usize, hi: usize) -> Axis {
        Axis {
            range: (lo as f64 - 0.5, hi as f64 + 0.5),
            ticks: (lo..=hi).map(|i| (i as f64, i.to_string())).collect(),
            grid: false,
        }
    }

    /// Named categories at 0, 1, ...
    pub fn categories(labels: &[String]) -> Axis {
        Axis {
            range: (-0.6, labels.len() as f64 - 0.4),
            ticks: labels.iter().enumerate().map(|(i, l)| (i as f64, l.clone())).collect(),
            grid: false,
        }
    }
}

/// What a series draws.
#[derive(Clone, Debug, PartialEq)]
pub enum Mark {
    Line {
        points: Vec<(f64, f64)>,
        color: Color32,
        width: f64,
        dash: Option<&'static str>,
        markers: bool,
    },
    /// The area between two lines over the same x (a filled band).
    Band {
        x: Vec<f64>,
        lo: Vec<f64>,
        hi: Vec<f64>,
        color: Color32,
    },
    Points {
        points: Vec<(f64, f64)>,
        color: Color32,
        radius: f64,
    },
    /// A shaded x range over the whole height.
    Span { x0: f64, x1: f64, color: Color32 },
    /// Bars from 0 at category positions; horizontal bars run along x.
    Bars {
        bars: Vec<(f64, f64)>,
        color: Color32,
        width: f64,
        horizontal: bool,
        /// Write each bar's value at its end.
        values: bool,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend entry; `None` = not in the legend.
    pub label: Option<String>,
    pub mark: Mark,
}

impl Series {
    pub fn new(label: impl Into<String>, mark: Mark) -> Series {
        Series {
            label: Some(label.into()),
            mark,
        }
    }

    pub fn unlabelled(mark: Mark) -> Series {
        Series { label: None, mark }
    }
}

/// One plot: axes and the series drawn in them.
#[derive(Clone, Debug, PartialEq)]
pub struct Plot {
    pub title: Option<String>,
    pub x_label: String,
    pub y_label: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
}

/// A cell of a colour matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell {
    /// Nothing drawn (below the diagonal of the window grid).
    Blank,
    /// An undefined value: a grey cell.
    Missing,
    Value(f64),
}

/// A matrix of values in [-1, 1] on the diverging scale, each cell
/// labelled with its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Heatmap {
    pub title: Option<String>,
    pub x_label: String,
    pub y_label: String,
    pub cols: Vec<String>,
    pub rows: Vec<String>,
    /// `cells[row][col]`.
    pub cells: Vec<Vec<Cell>>,
    pub decimals: usize,
    /// Cells outlined, with the outline's meaning for the caption line.
    pub outlined: Vec<(usize, usize)>,
    pub scale_label: String,
}

/// Colours of a figure.
#[derive(Clone, Copy, Debug)]
pub struct Colors {
    pub palette: Palette,
    pub bg: Color32,
    pub fg: Color32,
    pub grid: Color32,
}

impl Colors {
    pub fn of(theme: Theme) -> Colors {
        let dark = theme == Theme::Dark;
        let palette = palette(dark);
        Colors {
            palette,
            bg: if dark { Color32::from_gray(0x1B) } else { Color32::WHITE },
            fg: palette.text,
            grid: if dark {
                Color32::from_gray(0x3A)
            } else {
                Color32::from_gray(0xE2)
            },
        }
    }
}

pub struct Canvas {
    w: f64,
    h: f64,
    pub colors: Colors,
    body: String,
    clip_ids: usize,
    /// The figure's title, also its SVG `<title>` (what a browser's tab and
    /// a screen reader name it by).
    name: Option<String>,
    /// The page's title override, taken by the first [`Canvas::title`].
    title: Option<String>,
}

/// Where the legend of a plot goes.
enum LegendPlace {
    Inside(Rect),
    Right,
    /// Rows above the plot, each a list of (x, entry index).
    Top(f64, Vec<Vec<(f64, usize)>>),
}

impl Canvas {
    pub fn new(page: &Page) -> Canvas {
        let colors = Colors::of(page.theme);
        let mut body = String::new();
        let _ = writeln!(
            body,
            r#"<rect x="0" y="0" width="{}" height="{}" {}/>"#,
            page.width_mm,
            page.height_mm,
            paint("fill", colors.bg)
        );
        Canvas {
            w: page.width_mm,
            h: page.height_mm,
            colors,
            body,
            clip_ids: 0,
            name: None,
            title: page.title.clone(),
        }
    }

    /// The page less a small margin.
    pub fn area(&self) -> Rect {
        Rect {
            x0: 1.5,
            y0: 1.5,
            x1: self.w - 1.5,
            y1: self.h - 1.5,
        }
    }

    /// Writes the figure's title at the top of `r`; returns the rest of `r`.
    pub fn title(&mut self, r: Rect, title: &str) -> Rect {
        let shown = self.title.take().unwrap_or_else(|| title.to_string());
        // The SVG's <title> names the figure even when no title line is drawn.
        let name = if shown.is_empty() { title } else { shown.as_str() };
        self.name.get_or_insert_with(|| name.to_string());
        if shown.is_empty() {
            return r;
        }
        let title = shown.as_str();
        let size = fit_size(title, TITLE, r.w());
        self.text(
            r.x0 + r.w() / 2.0,
            r.y0 + size * 0.8,
            size,
            "middle",
            self.colors.fg,
            title,
        );
        Rect {
            y0: r.y0 + size * 1.45,
            ..r
        }
    }

    fn text(&mut self, x: f64, y: f64, size: f64, anchor: &str, color: Color32, s: &str) {
        let _ = writeln!(
            self.body,
            r#"<text x="{x:.2}" y="{y:.2}" font-size="{size:.2}" text-anchor="{anchor}" {}>{}</text>"#,
            paint("fill", color),
            esc(s)
        );
    }

    fn text_rotated(&mut self, x: f64, y: f64, size: f64, anchor: &str, angle: f64, s: &str) {
        let _ = writeln!(
            self.body,
            r#"<text x="{x:.2}" y="{y:.2}" font-size="{size:.2}" text-anchor="{anchor}" {} transform="rotate({angle} {x:.2} {y:.2})">{}</text>"#,
            paint("fill", self.colors.fg),
            esc(s)
        );
    }

    fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), color: Color32, width: f64) {
        let _ = writeln!(
            self.body,
            r#"<line x1="{x1:.2}" y1="{y1:.2}" x2="{x2:.2}" y2="{y2:.2}" {} stroke-width="{width}"/>"#,
            paint("stroke", color)
        );
    }

    fn rect(&mut self, r: Rect, fill: Color32, stroke: Option<(Color32, f64)>) {
        let stroke = stroke.map_or(String::new(), |(c, w)| {
            format!(r#" {} stroke-width="{w}""#, paint("stroke", c))
        });
        let _ = writeln!(
            self.body,
            r#"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" {}{stroke}/>"#,
            r.x0,
            r.y0,
            r.w().max(0.0),
            r.h().max(0.0),
            paint("fill", fill)
        );
    }

    /// Draws a plot in `r`.
    pub fn plot(&mut self, r: Rect, p: &Plot) {
        let mut r = r;
        if let Some(t) = &p.title {
            r = self.subtitle(r, t);
        }
        let legend = legend_size(&p.series);
        let mut frame = plot_frame(r, p, 0.0);
        let place = match legend {
            None => None,
            Some(size) => match best_corner(&frame, p, size) {
                Some(at) => Some(LegendPlace::Inside(at)),
                None => {
                    // Beside or above the plot, whichever leaves it more room.
                    let right = plot_frame(r, p, size.0 + 2.0);
                    let rows = legend_rows(&p.series, frame.rect.x0, r.x1);
                    let top_h = rows.len() as f64 * LEGEND * 1.45 + 1.0;
                    let top = plot_frame(Rect { y0: r.y0 + top_h, ..r }, p, 0.0);
                    let area = |f: &Frame| f.rect.w().max(0.0) * f.rect.h().max(0.0);
                    if area(&right) >= area(&top) {
                        frame = right;
                        Some(LegendPlace::Right)
                    } else {
                        frame = top;
                        Some(LegendPlace::Top(r.y0, rows))
                    }
                }
            },
        };
        let map = Map::new(frame.rect, p);
        let fg = self.colors.fg;
        let grid = self.colors.grid;
        // Grid first, under the data.
        for (v, _) in p.y.ticks.iter().filter(|_| p.y.grid) {
            let y = map.y(*v);
            self.line((frame.rect.x0, y), (frame.rect.x1, y), grid, STROKE);
        }
        for (v, _) in p.x.ticks.iter().filter(|_| p.x.grid) {
            let x = map.x(*v);
            self.line((x, frame.rect.y0), (x, frame.rect.y1), grid, STROKE);
        }
        self.clip_ids += 1;
        let clip = format!("clip{}", self.clip_ids);
        let fr = frame.rect;
        let _ = writeln!(
            self.body,
            r#"<clipPath id="{clip}"><rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}"/></clipPath><g clip-path="url(#{clip})">"#,
            fr.x0,
            fr.y0,
            fr.w(),
            fr.h()
        );
        for s in &p.series {
            self.mark(&map, &s.mark);
        }
        self.body.push_str("</g>\n");
        // Value labels of bars, outside the clip so they may pass the frame.
        for s in &p.series {
            if let Mark::Bars {
                bars,
                color,
                horizontal: true,
                values: true,
                ..
            } = &s.mark
            {
                for &(pos, v) in bars {
                    let label = number(v, 3);
                    let (x0, x, y) = (map.x(0.0), map.x(v), map.y(pos));
                    let w = text_width(&label, TICK);
                    if (x - x0).abs() > w + 2.0 {
                        let tx = if v >= 0.0 { x - 0.8 } else { x + 0.8 };
                        let anchor = if v >= 0.0 { "end" } else { "start" };
                        self.text(tx, y + TICK * 0.35, TICK, anchor, contrast_text(*color), &label);
                    } else {
                        let tx = if v >= 0.0 { x + 0.8 } else { x - 0.8 };
                        let anchor = if v >= 0.0 { "start" } else { "end" };
                        self.text(tx, y + TICK * 0.35, TICK, anchor, fg, &label);
                    }
                }
            }
        }
        // Axes: left and bottom spines with outward ticks.
        self.line((fr.x0, fr.y1), (fr.x1, fr.y1), fg, STROKE * 1.4);
        self.line((fr.x0, fr.y0), (fr.x0, fr.y1), fg, STROKE * 1.4);
        for (v, label) in &p.x.ticks {
            let x = map.x(*v);
            self.line((x, fr.y1), (x, fr.y1 + TICK_LEN), fg, STROKE);
            self.text(x, fr.y1 + TICK_LEN + 0.6 + TICK * 0.75, TICK, "middle", fg, label);
        }
        for (v, label) in &p.y.ticks {
            let y = map.y(*v);
            self.line((fr.x0 - TICK_LEN, y), (fr.x0, y), fg, STROKE);
            self.text(fr.x0 - TICK_LEN - 0.6, y + TICK * 0.35, TICK, "end", fg, label);
        }
        // Centred under the frame and kept on the page.
        let cx = (fr.x0 + fr.x1) / 2.0;
        let xl_size = fit_size(&p.x_label, LABEL, 2.0 * (cx - r.x0).min(r.x1 - cx));
        self.text(cx, r.y1 - xl_size * 0.25, xl_size, "middle", fg, &p.x_label);
        if !p.y_label.is_empty() {
            let yl_size = fit_size(&p.y_label, LABEL, fr.h() + frame.below);
            let cy = (fr.y0 + fr.y1) / 2.0;
            self.text_rotated(r.x0 + yl_size * 0.8, cy, yl_size, "middle", -90.0, &p.y_label);
        }
        match place {
            Some(LegendPlace::Inside(at)) => self.legend(at, &p.series),
            Some(LegendPlace::Right) => {
                if let Some(size) = legend {
                    let at = Rect {
                        x0: fr.x1 + 2.0,
                        y0: fr.y0,
                        x1: fr.x1 + 2.0 + size.0,
                        y1: fr.y0 + size.1,
                    };
                    self.legend(at, &p.series);
                }
            }
            Some(LegendPlace::Top(y0, rows)) => {
                let labelled: Vec<&Series> = p.series.iter().filter(|s| s.label.is_some()).collect();
                for (k, row) in rows.iter().enumerate() {
                    let y = y0 + (k as f64 + 0.5) * LEGEND * 1.45;
                    for &(x, i) in row {
                        self.legend_entry(x, y, labelled[i]);
                    }
                }
            }
            None => {}
        }
    }

    /// A plot's own title (a panel of a figure with several).
    fn subtitle(&mut self, r: Rect, t: &str) -> Rect {
        let size = fit_size(t, LABEL, r.w());
        self.text(r.x0 + r.w() / 2.0, r.y0 + size * 0.8, size, "middle", self.colors.fg, t);
        Rect {
            y0: r.y0 + size * 1.5,
            ..r
        }
    }

    fn mark(&mut self, map: &Map, m: &Mark) {
        match m {
            Mark::Line {
                points,
                color,
                width,
                dash,
                markers,
            } => {
                let d: Vec<String> = points
                    .iter()
                    .map(|&(x, y)| format!("{:.2},{:.2}", map.x(x), map.y(y)))
                    .collect();
                let dash = dash.map_or(String::new(), |d| format!(r#" stroke-dasharray="{d}""#));
                let _ = writeln!(
                    self.body,
                    r#"<polyline points="{}" fill="none" {} stroke-width="{width}" stroke-linejoin="round"{dash}/>"#,
                    d.join(" "),
                    paint("stroke", *color)
                );
                if *markers {
                    let _ = writeln!(self.body, "<g {}>", paint("fill", *color));
                    for &(x, y) in points {
                        let _ = writeln!(
                            self.body,
                            r#"<circle cx="{:.2}" cy="{:.2}" r="{:.2}"/>"#,
                            map.x(x),
                            map.y(y),
                            width * 1.3
                        );
                    }
                    self.body.push_str("</g>\n");
                }
            }
            Mark::Band { x, lo, hi, color } => {
                // One closed outline: along the upper line, back along the
                // lower one. Where lo <= hi this is a simple polygon.
                let mut d = String::new();
                for (i, (&x, &y)) in x.iter().zip(hi).enumerate() {
                    let _ = write!(d, "{}{:.2},{:.2} ", if i == 0 { "M" } else { "L" }, map.x(x), map.y(y));
                }
                for (&x, &y) in x.iter().zip(lo).rev() {
                    let _ = write!(d, "L{:.2},{:.2} ", map.x(x), map.y(y));
                }
                d.push('Z');
                let _ = writeln!(self.body, r#"<path d="{d}" {}/>"#, paint("fill", *color));
                let edge = Color32::from_rgba_unmultiplied(
                    color.r(),
                    color.g(),
                    color.b(),
                    (color.a() as u16 * 2).min(255) as u8,
                );
                for ys in [hi, lo] {
                    let pts: Vec<String> = x
                        .iter()
                        .zip(ys)
                        .map(|(&x, &y)| format!("{:.2},{:.2}", map.x(x), map.y(y)))
                        .collect();
                    let _ = writeln!(
                        self.body,
                        r#"<polyline points="{}" fill="none" {} stroke-width="{STROKE}"/>"#,
                        pts.join(" "),
                        paint("stroke", edge)
                    );
                }
            }
            Mark::Points { points, color, radius } => {
                let _ = writeln!(self.body, "<g {}>", paint("fill", *color));
                for &(x, y) in points {
                    let _ = writeln!(
                        self.body,
                        r#"<circle cx="{:.2}" cy="{:.2}" r="{radius}"/>"#,
                        map.x(x),
                        map.y(y)
                    );
                }
                self.body.push_str("</g>\n");
            }
            Mark::Span { x0, x1, color } => {
                let r = Rect {
                    x0: map.x(*x0),
                    x1: map.x(*x1),
                    y0: map.frame.y0,
                    y1: map.frame.y1,
                };
                self.rect(r, *color, None);
            }
            Mark::Bars {
                bars,
                color,
                width,
                horizontal,
                ..
            } => {
                for &(pos, v) in bars {
                    self.rect(map.bar(pos, v, *width, *horizontal), *color, None);
                }
            }
        }
    }

    fn legend(&mut self, at: Rect, series: &[Series]) {
        let bg = Color32::from_rgba_unmultiplied(self.colors.bg.r(), self.colors.bg.g(), self.colors.bg.b(), 225);
        self.rect(at, bg, Some((self.colors.grid, STROKE)));
        let row = LEGEND * 1.45;
        let mut y = at.y0 + LEGEND_PAD + row / 2.0;
        for s in series.iter().filter(|s| s.label.is_some()) {
            self.legend_entry(at.x0 + LEGEND_PAD, y, s);
            y += row;
        }
    }

    /// A legend entry: the series' swatch at `x`, its label after it,
    /// centred on `y`.
    fn legend_entry(&mut self, x: f64, y: f64, s: &Series) {
        let Some(label) = &s.label else { return };
        match &s.mark {
            Mark::Line {
                color,
                width,
                dash,
                markers,
                ..
            } => {
                let dash = dash.map_or(String::new(), |d| format!(r#" stroke-dasharray="{d}""#));
                let _ = writeln!(
                    self.body,
                    r#"<line x1="{x:.2}" y1="{y:.2}" x2="{:.2}" y2="{y:.2}" {} stroke-width="{width}"{dash}/>"#,
                    x + SWATCH,
                    paint("stroke", *color)
                );
                if *markers {
                    let _ = writeln!(
                        self.body,
                        r#"<circle cx="{:.2}" cy="{y:.2}" r="{:.2}" {}/>"#,
                        x + SWATCH / 2.0,
                        width * 1.3,
                        paint("fill", *color)
                    );
                }
            }
            Mark::Points { color, radius, .. } => {
                let _ = writeln!(
                    self.body,
                    r#"<circle cx="{:.2}" cy="{y:.2}" r="{:.2}" {}/>"#,
                    x + SWATCH / 2.0,
                    radius.max(0.6),
                    paint("fill", *color)
                );
            }
            Mark::Band { color, .. } | Mark::Span { color, .. } | Mark::Bars { color, .. } => {
                let r = Rect {
                    x0: x,
                    x1: x + SWATCH,
                    y0: y - LEGEND * 0.4,
                    y1: y + LEGEND * 0.4,
                };
                self.rect(r, *color, None);
            }
        }
        self.text(
            x + SWATCH + 1.2,
            y + LEGEND * 0.35,
            LEGEND,
            "start",
            self.colors.fg,
            label,
        );
    }

    /// Draws a colour matrix with its colour bar in `r`.
    pub fn heatmap(&mut self, r: Rect, m: &Heatmap) {
        let mut r = r;
        if let Some(t) = &m.title {
            r = self.subtitle(r, t);
        }
        let fg = self.colors.fg;
        let row_w = m.rows.iter().map(|s| text_width(s, TICK)).fold(0.0, f64::max);
        let left = r.x0 + LABEL * 1.3 + row_w + 1.2;
        // Colour bar: bar, tick labels, rotated label.
        let bar_ticks = [-1.0, -0.5, 0.0, 0.5, 1.0];
        let bar_label_w = bar_ticks
            .iter()
            .map(|&v| text_width(&number(v, 1), TICK))
            .fold(0.0, f64::max);
        let bar_w = 2.6;
        let right = r.x1 - (bar_w + 2.5 + bar_label_w + 1.0 + LABEL * 1.3);
        let cols = m.cols.len().max(1);
        let rows = m.rows.len().max(1);
        let cw = (right - left) / cols as f64;
        let col_w = m.cols.iter().map(|s| text_width(s, TICK)).fold(0.0, f64::max);
        let rotate = col_w > cw * 0.95;
        let col_h = if rotate {
            col_w * std::f64::consts::FRAC_1_SQRT_2 + TICK
        } else {
            TICK * 1.2
        };
        let top = r.y0 + 1.0;
        let bottom = r.y1 - (LABEL * 1.3 + col_h + 1.0);
        let ch = ((bottom - top) / rows as f64).min(cw * 1.2);
        let grid_bottom = top + ch * rows as f64;
        let stroke = self.colors.palette.cell_stroke;
        for (i, row) in m.cells.iter().enumerate() {
            for (j, cell) in row.iter().enumerate() {
                let cr = Rect {
                    x0: left + j as f64 * cw,
                    y0: top + i as f64 * ch,
                    x1: left + (j + 1) as f64 * cw,
                    y1: top + (i + 1) as f64 * ch,
                };
                match *cell {
                    Cell::Blank => {}
                    Cell::Missing => self.rect(cr, self.colors.palette.missing_cell, Some((stroke, STROKE))),
                    Cell::Value(v) => {
                        let fill = diverging(v);
                        self.rect(cr, fill, Some((stroke, STROKE)));
                        let label = number(v, m.decimals);
                        let size = fit_size(&label, TICK, cw * 0.86).min(ch * 0.55);
                        // Below 4 pt a number cannot be read: the colour says it.
                        if size >= 4.0 * PT {
                            self.text(
                                (cr.x0 + cr.x1) / 2.0,
                                (cr.y0 + cr.y1) / 2.0 + size * 0.35,
                                size,
                                "middle",
                                contrast_text(fill),
                                &label,
                            );
                        }
                    }
                }
            }
        }
        for &(i, j) in &m.outlined {
            let cr = Rect {
                x0: left + j as f64 * cw,
                y0: top + i as f64 * ch,
                x1: left + (j + 1) as f64 * cw,
                y1: top + (i + 1) as f64 * ch,
            };
            let _ = writeln!(
                self.body,
                r#"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="none" {} stroke-width="0.6"/>"#,
                cr.x0,
                cr.y0,
                cr.w(),
                cr.h(),
                paint("stroke", fg)
            );
        }
        for (j, c) in m.cols.iter().enumerate() {
            let x = left + (j as f64 + 0.5) * cw;
            if rotate {
                self.text_rotated(x + TICK * 0.3, grid_bottom + 1.2, TICK, "end", -45.0, c);
            } else {
                self.text(x, grid_bottom + 0.8 + TICK * 0.8, TICK, "middle", fg, c);
            }
        }
        for (i, s) in m.rows.iter().enumerate() {
            let y = top + (i as f64 + 0.5) * ch;
            self.text(left - 1.2, y + TICK * 0.35, TICK, "end", fg, s);
        }
        let xl_size = fit_size(&m.x_label, LABEL, r.w());
        self.text(
            (left + right) / 2.0,
            grid_bottom + col_h + 1.0 + xl_size,
            xl_size,
            "middle",
            fg,
            &m.x_label,
        );
        let yl_size = fit_size(&m.y_label, LABEL, grid_bottom - top);
        let cy = (top + grid_bottom) / 2.0;
        self.text_rotated(r.x0 + yl_size * 0.8, cy, yl_size, "middle", -90.0, &m.y_label);
        self.colour_bar(
            Rect {
                x0: right + 2.0,
                y0: top,
                x1: right + 2.0 + bar_w,
                y1: grid_bottom,
            },
            &bar_ticks,
            &m.scale_label,
            r.x1,
        );
    }

    fn colour_bar(&mut self, bar: Rect, ticks: &[f64], label: &str, right_edge: f64) {
        self.clip_ids += 1;
        let id = format!("scale{}", self.clip_ids);
        let mut stops = String::new();
        for k in 0..=20 {
            let t = k as f64 / 20.0;
            // Top of the bar is +1.
            let _ = write!(
                stops,
                r#"<stop offset="{t:.2}" stop-color="{}"/>"#,
                hex(diverging(1.0 - 2.0 * t))
            );
        }
        let _ = writeln!(
            self.body,
            r#"<defs><linearGradient id="{id}" x1="0" y1="0" x2="0" y2="1">{stops}</linearGradient></defs><rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="url(#{id})"/>"#,
            bar.x0,
            bar.y0,
            bar.w(),
            bar.h()
        );
        let fg = self.colors.fg;
        for &v in ticks {
            let y = bar.y1 - (v + 1.0) / 2.0 * bar.h();
            self.line((bar.x1, y), (bar.x1 + TICK_LEN * 0.7, y), fg, STROKE);
            self.text(
                bar.x1 + TICK_LEN + 0.4,
                y + TICK * 0.35,
                TICK,
                "start",
                fg,
                &number(v, 1),
            );
        }
        let size = fit_size(label, LABEL, bar.h());
        let cy = (bar.y0 + bar.y1) / 2.0;
        self.text_rotated(right_edge - size * 0.3, cy, size, "middle", -90.0, label);
    }

    pub fn finish(self) -> String {
        let name = self
            .name
            .map_or(String::new(), |n| format!("<title>{}</title>\n", esc(&n)));
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}mm\" height=\"{h}mm\" viewBox=\"0 0 {w} {h}\" font-family=\"Ubuntu, 'Ubuntu Light', 'DejaVu Sans', Helvetica, Arial, sans-serif\" font-weight=\"300\">\n{name}{}</svg>\n",
            self.body,
            w = self.w,
            h = self.h
        )
    }
}

const LEGEND_PAD: f64 = 1.2;
const SWATCH: f64 = 4.5;

/// The largest size up to `size` at which `s` fits in `width`.
fn fit_size(s: &str, size: f64, width: f64) -> f64 {
    let w = text_width(s, size);
    if w <= width || w <= 0.0 { size } else { size * width / w }
}

fn legend_size(series: &[Series]) -> Option<(f64, f64)> {
    let labels: Vec<&String> = series.iter().filter_map(|s| s.label.as_ref()).collect();
    if labels.is_empty() {
        return None;
    }
    let w = labels.iter().map(|l| text_width(l, LEGEND)).fold(0.0, f64::max);
    Some((
        2.0 * LEGEND_PAD + SWATCH + 1.2 + w,
        2.0 * LEGEND_PAD + labels.len() as f64 * LEGEND * 1.45,
    ))
}

/// The labelled series laid out in rows from `x0` to `x1`: per row, the x
/// of each entry and its index among the labelled series.
fn legend_rows(series: &[Series], x0: f64, x1: f64) -> Vec<Vec<(f64, usize)>> {
    let mut rows: Vec<Vec<(f64, usize)>> = vec![Vec::new()];
    let mut x = x0;
    for (i, label) in series.iter().filter_map(|s| s.label.as_ref()).enumerate() {
        let w = SWATCH + 1.2 + text_width(label, LEGEND) + 3.0;
        if x + w > x1 && x > x0 {
            rows.push(Vec::new());
            x = x0;
        }
        if let Some(row) = rows.last_mut() {
            row.push((x, i));
        }
        x += w;
    }
    rows
}

/// The data rectangle of a plot in `r`, leaving `right` mm for a legend.
struct Frame {
    rect: Rect,
    /// Space under the frame (ticks and the x label).
    below: f64,
}

fn plot_frame(r: Rect, p: &Plot, right: f64) -> Frame {
    let ytick_w = p.y.ticks.iter().map(|(_, l)| text_width(l, TICK)).fold(0.0, f64::max);
    let label_w = if p.y_label.is_empty() { 0.0 } else { LABEL * 1.3 };
    let left = r.x0 + label_w + ytick_w + TICK_LEN + 1.2;
    let below = TICK_LEN + 0.6 + TICK * 1.0 + 1.0 + LABEL * 1.05;
    let last_x = p.x.ticks.last().map_or(0.0, |(_, l)| text_width(l, TICK) / 2.0);
    Frame {
        rect: Rect {
            x0: left,
            y0: r.y0 + TICK * 0.5,
            x1: r.x1 - right - last_x.max(1.0),
            y1: r.y1 - below,
        },
        below,
    }
}

/// Data to page coordinates.
struct Map {
    frame: Rect,
    x: (f64, f64),
    y: (f64, f64),
}

impl Map {
    fn new(frame: Rect, p: &Plot) -> Map {
        Map {
            frame,
            x: p.x.range,
            y: p.y.range,
        }
    }
    fn x(&self, v: f64) -> f64 {
        self.frame.x0 + (v - self.x.0) / (self.x.1 - self.x.0) * self.frame.w()
    }
    fn y(&self, v: f64) -> f64 {
        self.frame.y1 - (v - self.y.0) / (self.y.1 - self.y.0) * self.frame.h()
    }
    fn bar(&self, pos: f64, v: f64, width: f64, horizontal: bool) -> Rect {
        if horizontal {
            let (a, b) = (self.x(0.0), self.x(v));
            Rect {
                x0: a.min(b),
                x1: a.max(b),
                y0: self.y(pos + width / 2.0),
                y1: self.y(pos - width / 2.0),
            }
        } else {
            let (a, b) = (self.y(0.0), self.y(v));
            Rect {
                x0: self.x(pos - width / 2.0),
                x1: self.x(pos + width / 2.0),
                y0: a.min(b),
                y1: a.max(b),
            }
        }
    }
}

/// The first inside corner (top left, top right, bottom right, bottom
/// left) where a legend of `size` covers no data; `None` when each would.
fn best_corner(frame: &Frame, p: &Plot, size: (f64, f64)) -> Option<Rect> {
    let f = frame.rect;
    let inset = 1.2;
    if size.0 + 2.0 * inset > f.w() || size.1 + 2.0 * inset > f.h() {
        return None;
    }
    let map = Map::new(f, p);
    let corners = [
        (f.x0 + inset, f.y0 + inset),
        (f.x1 - inset - size.0, f.y0 + inset),
        (f.x1 - inset - size.0, f.y1 - inset - size.1),
        (f.x0 + inset, f.y1 - inset - size.1),
    ];
    corners
        .iter()
        .map(|&(x0, y0)| Rect {
            x0,
            y0,
            x1: x0 + size.0,
            y1: y0 + size.1,
        })
        .find(|at| !p.series.iter().any(|s| covers(&map, &s.mark, at)))
}

/// Whether `m` draws anything under `at` (lines sampled every 0.3 mm).
fn covers(map: &Map, m: &Mark, at: &Rect) -> bool {
    let line_hits = |pts: &mut dyn Iterator<Item = (f64, f64)>| {
        let pts: Vec<(f64, f64)> = pts.map(|(x, y)| (map.x(x), map.y(y))).collect();
        if pts.len() == 1 {
            return at.contains(pts[0].0, pts[0].1);
        }
        pts.windows(2).any(|w| {
            let ((x1, y1), (x2, y2)) = (w[0], w[1]);
            let steps = ((x2 - x1).hypot(y2 - y1) / 0.3).ceil().max(1.0) as usize;
            (0..=steps).any(|k| {
                let t = k as f64 / steps as f64;
                at.contains(x1 + t * (x2 - x1), y1 + t * (y2 - y1))
            })
        })
    };
    match m {
        Mark::Line { points, .. } => line_hits(&mut points.iter().copied()),
        Mark::Band { x, lo, hi, .. } => {
            line_hits(&mut x.iter().copied().zip(lo.iter().copied()))
                || line_hits(&mut x.iter().copied().zip(hi.iter().copied()))
                // Inside the band: a sample between the lines.
                || x.iter().zip(lo.iter().zip(hi)).any(|(&x, (&l, &h))| {
                    let px = map.x(x);
                    let (a, b) = (map.y(h), map.y(l));
                    px >= at.x0 && px <= at.x1 && a < at.y1 && b > at.y0
                })
        }
        Mark::Points { points, radius, .. } => points.iter().any(|&(x, y)| {
            let (px, py) = (map.x(x), map.y(y));
            px + radius >= at.x0 && px - radius <= at.x1 && py + radius >= at.y0 && py - radius <= at.y1
        }),
        Mark::Span { .. } => false,
        Mark::Bars {
            bars,
            width,
            horizontal,
            ..
        } => bars
            .iter()
            .any(|&(pos, v)| map.bar(pos, v, *width, *horizontal).overlaps(at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside_the_range() {
        assert_eq!(nice_ticks(0.0, 10.0, 6), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        // 0.64 wide: a step of 0.1 would make 7 ticks, so 0.2.
        assert_eq!(nice_ticks(-0.23, 0.41, 6), vec![-0.2, 0.0, 0.2, 0.4]);
        let t = nice_ticks(0.08, 0.095, 6);
        assert!(t.iter().all(|v| (0.08..=0.095).contains(v)), "{t:?}");
        assert_eq!(tick_label(0.086, &[0.084, 0.086]), "0.086");
        assert_eq!(tick_label(-0.5, &[-0.5, 0.0]), "−0.5");
        assert_eq!(tick_label(-1e-17, &[-0.5, 0.0]), "0.0");
        assert_eq!(number(-0.2, 2), "−0.20");
    }

    #[test]
    fn text_is_measured_with_the_embedded_font() {
        // Wider strings measure wider; the size scales linearly.
        let a = text_width("ImageNet16-120", 3.0);
        assert!(a > text_width("ImageNet16-12", 3.0));
        assert!((text_width("ImageNet16-120", 6.0) - 2.0 * a).abs() < 1e-9);
        // Ubuntu's digits are about 0.5 em wide.
        let d = text_width("0", 10.0);
        assert!((4.0..6.5).contains(&d), "{d}");
    }

    #[test]
    fn a_legend_avoids_the_data() {
        // A line rising from bottom left to top right leaves the top left
        // and bottom right corners free; the first free one is taken.
        let p = Plot {
            title: None,
            x_label: "x".into(),
            y_label: "y".into(),
            x: Axis::ranged(0.0, 1.0),
            y: Axis::ranged(0.0, 1.0),
            series: vec![Series::new(
                "diagonal",
                Mark::Line {
                    points: vec![(0.0, 0.0), (1.0, 1.0)],
                    color: Color32::BLACK,
                    width: 0.5,
                    dash: None,
                    markers: false,
                },
            )],
        };
        let frame = plot_frame(
            Rect {
                x0: 0.0,
                y0: 0.0,
                x1: 100.0,
                y1: 60.0,
            },
            &p,
            0.0,
        );
        let size = legend_size(&p.series).unwrap();
        let at = best_corner(&frame, &p, size).unwrap();
        assert!((at.x0 - frame.rect.x0 - 1.2).abs() < 1e-9 && (at.y0 - frame.rect.y0 - 1.2).abs() < 1e-9);
        let map = Map::new(frame.rect, &p);
        assert!(!covers(&map, &p.series[0].mark, &at));
        // The bottom left corner would cover the line.
        let bl = Rect {
            x0: frame.rect.x0 + 1.2,
            y0: frame.rect.y1 - 1.2 - size.1,
            x1: frame.rect.x0 + 1.2 + size.0,
            y1: frame.rect.y1 - 1.2,
        };
        assert!(covers(&map, &p.series[0].mark, &bl));
    }
}
