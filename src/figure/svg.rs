//! A small SVG writer for the figure kinds: millimetre page, text in a
//! generic sans-serif font, ticks from `nice_ticks`.

use std::fmt::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Theme {
    Light,
    Dark,
}

const SERIES: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

pub struct Canvas {
    w: f64,
    h: f64,
    fg: &'static str,
    body: String,
}

/// Escapes text for an SVG text node or attribute.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Tick positions on [lo, hi]: steps of 1, 2 or 5 times a power of ten, 4-8 ticks.
pub fn nice_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| (hi - lo) / s <= 8.0)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// A tick label: fixed decimals enough for the step, with a leading zero ("0.086").
pub fn tick_label(v: f64, ticks: &[f64]) -> String {
    let step = if ticks.len() > 1 {
        (ticks[1] - ticks[0]).abs()
    } else {
        1.0
    };
    let dec = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    let s = format!("{:.*}", dec, v);
    if s.starts_with('-') && s.trim_start_matches(['-', '0', '.']).is_empty() {
        s[1..].to_string()
    } else {
        s
    }
}

/// Diverging colour for rho in [-1, 1]: blue (negative) through white to red.
pub fn diverging(v: f64) -> String {
    let t = v.clamp(-1.0, 1.0);
    let (r, g, b) = if t >= 0.0 {
        (255.0, 255.0 - 160.0 * t, 255.0 - 190.0 * t)
    } else {
        (255.0 + 200.0 * t, 255.0 + 120.0 * t, 255.0)
    };
    format!("#{:02x}{:02x}{:02x}", r as u8, g as u8, b as u8)
}

struct Frame {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Frame {
    fn x(&self, v: f64) -> f64 {
        self.left + (v - self.x0) / (self.x1 - self.x0) * (self.right - self.left)
    }
    fn y(&self, v: f64) -> f64 {
        self.bottom - (v - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)
    }
}

impl Canvas {
    pub fn new(width_mm: f64, height_mm: f64, theme: Theme) -> Canvas {
        let (bg, fg) = match theme {
            Theme::Light => ("#ffffff", "#000000"),
            Theme::Dark => ("#1b1b1b", "#e6e6e6"),
        };
        let mut body = String::new();
        let _ = writeln!(
            body,
            r#"<rect x="0" y="0" width="{width_mm}" height="{height_mm}" fill="{bg}"/>"#
        );
        Canvas {
            w: width_mm,
            h: height_mm,
            fg,
            body,
        }
    }

    fn text(&mut self, x: f64, y: f64, size: f64, anchor: &str, s: &str) {
        let _ = writeln!(
            self.body,
            r#"<text x="{x:.2}" y="{y:.2}" font-size="{size}" text-anchor="{anchor}" fill="{}">{}</text>"#,
            self.fg,
            esc(s)
        );
    }

    /// Axes with ticks and the labels `[title, x label, y label]`; returns
    /// the data-to-page mapping.
    fn axes(
        &mut self,
        [title, xl, yl]: [&str; 3],
        (x0, x1): (f64, f64),
        (y0, y1): (f64, f64),
        xticks: &[f64],
        right_margin: f64,
    ) -> Frame {
        let f = Frame {
            x0,
            x1,
            y0,
            y1,
            left: 16.0,
            right: self.w - 4.0 - right_margin,
            top: 9.0,
            bottom: self.h - 12.0,
        };
        self.text(self.w / 2.0, 5.5, 3.5, "middle", title);
        let _ = writeln!(
            self.body,
            r#"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="none" stroke="{}" stroke-width="0.25"/>"#,
            f.left,
            f.top,
            f.right - f.left,
            f.bottom - f.top,
            self.fg
        );
        for &t in xticks {
            let x = f.x(t);
            let _ = writeln!(
                self.body,
                r#"<line x1="{x:.2}" y1="{:.2}" x2="{x:.2}" y2="{:.2}" stroke="{}" stroke-width="0.25"/>"#,
                f.bottom,
                f.bottom + 1.2,
                self.fg
            );
            self.text(x, f.bottom + 4.2, 2.8, "middle", &tick_label(t, xticks));
        }
        let yt = nice_ticks(y0, y1);
        for &t in &yt {
            let y = f.y(t);
            let _ = writeln!(
                self.body,
                r#"<line x1="{:.2}" y1="{y:.2}" x2="{:.2}" y2="{y:.2}" stroke="{}" stroke-width="0.25"/>"#,
                f.left - 1.2,
                f.left,
                self.fg
            );
            self.text(f.left - 1.8, y + 1.0, 2.8, "end", &tick_label(t, &yt));
        }
        self.text((f.left + f.right) / 2.0, self.h - 2.5, 3.0, "middle", xl);
        let cy = (f.top + f.bottom) / 2.0;
        let _ = writeln!(
            self.body,
            r#"<text x="3.5" y="{cy:.2}" font-size="3" text-anchor="middle" fill="{}" transform="rotate(-90 3.5 {cy:.2})">{}</text>"#,
            self.fg,
            esc(yl)
        );
        f
    }

    /// Line series with a legend right of the plot and an optional shaded x range.
    pub fn lines(
        &mut self,
        title: &str,
        xl: &str,
        yl: &str,
        series: &[(String, Vec<(f64, f64)>)],
        shade: Option<(f64, f64)>,
    ) {
        let all = series.iter().flat_map(|s| s.1.iter());
        let (mut ylo, mut yhi) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut xlo, mut xhi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &(x, y) in all {
            (xlo, xhi, ylo, yhi) = (xlo.min(x), xhi.max(x), ylo.min(y), yhi.max(y));
        }
        if !xlo.is_finite() {
            (xlo, xhi, ylo, yhi) = (0.0, 1.0, 0.0, 1.0);
        }
        let pad = ((yhi - ylo) * 0.05).max(1e-12);
        let legend_w = if series.len() > 1 { 38.0 } else { 0.0 };
        let xr = (xlo - 0.5, xhi + 0.5);
        let xt: Vec<f64> = (xlo.ceil() as i64..=xhi.floor() as i64).map(|v| v as f64).collect();
        let f = self.axes([title, xl, yl], xr, (ylo - pad, yhi + pad), &xt, legend_w);
        if let Some((a, b)) = shade {
            let _ = writeln!(
                self.body,
                r##"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="#888888" fill-opacity="0.18"/>"##,
                f.x(a),
                f.top,
                f.x(b) - f.x(a),
                f.bottom - f.top
            );
        }
        for (i, (label, pts)) in series.iter().enumerate() {
            let col = SERIES[i % SERIES.len()];
            let d: Vec<String> = pts
                .iter()
                .map(|&(x, y)| format!("{:.2},{:.2}", f.x(x), f.y(y)))
                .collect();
            let _ = writeln!(
                self.body,
                r#"<polyline points="{}" fill="none" stroke="{col}" stroke-width="{}"/>"#,
                d.join(" "),
                if i == 0 { 0.7 } else { 0.4 }
            );
            if legend_w > 0.0 {
                let ly = f.top + 2.0 + 4.0 * i as f64;
                let lx = f.right + 3.0;
                let _ = writeln!(
                    self.body,
                    r#"<line x1="{lx:.2}" y1="{ly:.2}" x2="{:.2}" y2="{ly:.2}" stroke="{col}" stroke-width="0.7"/>"#,
                    lx + 4.0
                );
                self.text(lx + 5.0, ly + 1.0, 2.6, "start", label);
            }
        }
    }

    /// Rank scatter: one circle per point, and the diagonal.
    pub fn scatter(&mut self, title: &str, xl: &str, yl: &str, points: &[[f64; 2]]) {
        let n = points.iter().flat_map(|p| p.iter().copied()).fold(1.0f64, f64::max);
        let f = self.axes(
            [title, xl, yl],
            (0.0, n + 1.0),
            (0.0, n + 1.0),
            &nice_ticks(0.0, n + 1.0),
            0.0,
        );
        let _ = writeln!(
            self.body,
            r##"<line x1="{:.2}" y1="{:.2}" x2="{:.2}" y2="{:.2}" stroke="#888888" stroke-width="0.25" stroke-dasharray="1,1"/>"##,
            f.x(1.0),
            f.y(1.0),
            f.x(n),
            f.y(n)
        );
        let _ = writeln!(self.body, r#"<g fill="{}" fill-opacity="0.6">"#, SERIES[0]);
        for p in points {
            let _ = writeln!(
                self.body,
                r#"<circle cx="{:.2}" cy="{:.2}" r="0.6"/>"#,
                f.x(p[0]),
                f.y(p[1])
            );
        }
        self.body.push_str("</g>\n");
    }

    /// A matrix of values in [-1, 1], each cell labelled with its value.
    pub fn heatmap(
        &mut self,
        title: &str,
        xl: &str,
        yl: &str,
        cols: &[String],
        rows: &[String],
        cells: &[Vec<Option<f64>>],
    ) {
        self.text(self.w / 2.0, 5.5, 3.5, "middle", title);
        let label_w = rows.iter().map(|r| r.chars().count()).max().unwrap_or(1) as f64 * 1.6 + 8.0;
        let (left, top, right, bottom) = (label_w, 9.0, self.w - 3.0, self.h - 12.0);
        let cw = (right - left) / cols.len().max(1) as f64;
        let ch = (bottom - top) / rows.len().max(1) as f64;
        let font = (ch * 0.45).min(cw / 5.5 * 1.6).clamp(1.2, 3.0);
        for (i, row) in cells.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                let (x, y) = (left + j as f64 * cw, top + i as f64 * ch);
                let fill = v.map_or("none".to_string(), diverging);
                let _ = writeln!(
                    self.body,
                    r##"<rect x="{x:.2}" y="{y:.2}" width="{cw:.2}" height="{ch:.2}" fill="{fill}" stroke="#bbbbbb" stroke-width="0.15"/>"##
                );
                if let Some(v) = v {
                    let _ = writeln!(
                        self.body,
                        r##"<text x="{:.2}" y="{:.2}" font-size="{font:.2}" text-anchor="middle" fill="#000000">{v:.2}</text>"##,
                        x + cw / 2.0,
                        y + ch / 2.0 + font * 0.35
                    );
                }
            }
        }
        for (j, c) in cols.iter().enumerate() {
            self.text(left + (j as f64 + 0.5) * cw, bottom + 3.5, 2.4, "middle", c);
        }
        for (i, r) in rows.iter().enumerate() {
            self.text(left - 1.5, top + (i as f64 + 0.5) * ch + 0.9, 2.6, "end", r);
        }
        self.text((left + right) / 2.0, self.h - 2.5, 3.0, "middle", xl);
        let cy = (top + bottom) / 2.0;
        let _ = writeln!(
            self.body,
            r#"<text x="3" y="{cy:.2}" font-size="3" text-anchor="middle" fill="{}" transform="rotate(-90 3 {cy:.2})">{}</text>"#,
            self.fg,
            esc(yl)
        );
    }

    pub fn finish(self) -> String {
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}mm\" height=\"{h}mm\" viewBox=\"0 0 {w} {h}\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n{}</svg>\n",
            self.body,
            w = self.w,
            h = self.h
        )
    }
}
