//! A labelled colour matrix with a colour bar: the 10 x 10 window heatmap,
//! the correlation table, the IG matrix and the ablation grid. Cells are
//! clickable (and reachable by label for accessibility and tests); column
//! headers can be clickable (sorting).

use eframe::egui;
use std::f32::consts::FRAC_PI_2;

use egui::epaint::TextShape;
use egui::{Align2, Color32, FontId, Id, Pos2, Rect, Sense, Shape, Stroke, Ui, Vec2, WidgetInfo, pos2, vec2};

use crate::ui::theme::{self, Palette};

/// How values map to colours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    /// Signed, [-1, 1] (correlations).
    Diverging,
    /// Signed, [-limit, limit]: a diverging scale fitted to the data.
    DivergingTo(f64),
    /// [min, max] (information gain, ...).
    Sequential { min: f64, max: f64 },
}

impl Scale {
    /// The scale fitted to `values`: sequential over [min, max] when they
    /// share a sign (0.25..0.45 then spans the whole ramp), else diverging
    /// over +-max|v| (zero stays neutral); the full [-1, 1] when there are
    /// fewer than two distinct values.
    pub fn fitted(values: &[Vec<Option<f64>>]) -> Scale {
        let all = values.iter().flatten().flatten().copied().filter(|v| v.is_finite());
        let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        // hi <= lo also covers "no finite value" (lo = +inf, hi = -inf).
        if hi <= lo {
            Scale::Diverging
        } else if lo >= 0.0 || hi <= 0.0 {
            Scale::Sequential { min: lo, max: hi }
        } else {
            Scale::DivergingTo(lo.abs().max(hi.abs()))
        }
    }

    pub fn color(self, v: f64) -> Color32 {
        match self {
            Scale::Diverging => theme::diverging(v),
            Scale::DivergingTo(limit) => theme::diverging((v / limit).clamp(-1.0, 1.0)),
            Scale::Sequential { min, max } => {
                let span = if max > min { max - min } else { 1.0 };
                theme::sequential((v - min) / span)
            }
        }
    }

    fn range(self) -> (f64, f64) {
        match self {
            Scale::Diverging => (-1.0, 1.0),
            Scale::DivergingTo(limit) => (-limit, limit),
            Scale::Sequential { min, max } => (min, max),
        }
    }
}

/// `font`, made smaller when `text` would not fit in `width` (a cell's
/// "-0.20" stays inside it); never below 8 points.
pub fn fit_font(painter: &egui::Painter, text: &str, font: &FontId, width: f32) -> FontId {
    let w = painter
        .layout_no_wrap(text.to_string(), font.clone(), Color32::WHITE)
        .size()
        .x;
    if w <= width || w <= 0.0 {
        font.clone()
    } else {
        FontId::new((font.size * width / w).max(8.0), font.family.clone())
    }
}

/// What happened on a matrix this frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatrixResponse {
    pub clicked: Option<(usize, usize)>,
    pub hovered: Option<(usize, usize)>,
    pub header_clicked: Option<usize>,
    /// The whole matrix, legend included (for PNG export).
    pub rect: Rect,
}

/// A colour matrix. `values[row][col]`; `None` cells are drawn blank.
pub struct Matrix<'a> {
    id: Id,
    rows: &'a [String],
    cols: &'a [String],
    values: &'a [Vec<Option<f64>>],
    scale: Scale,
    decimals: usize,
    cell: Vec2,
    selected: Option<(usize, usize)>,
    row_title: Option<&'a str>,
    col_title: Option<&'a str>,
    legend: &'a str,
    label: Option<&'a dyn Fn(usize, usize) -> String>,
    headers_clickable: bool,
    sorted_col: Option<(usize, bool)>,
    show_values: bool,
}

impl<'a> Matrix<'a> {
    pub fn new(id: &str, rows: &'a [String], cols: &'a [String], values: &'a [Vec<Option<f64>>]) -> Self {
        Matrix {
            id: Id::unique(("matrix", id)),
            rows,
            cols,
            values,
            scale: Scale::Diverging,
            decimals: 2,
            cell: vec2(46.0, 24.0),
            selected: None,
            row_title: None,
            col_title: None,
            legend: "",
            label: None,
            headers_clickable: false,
            sorted_col: None,
            show_values: true,
        }
    }

    pub fn scale(mut self, scale: Scale) -> Self {
        self.scale = scale;
        self
    }

    pub fn decimals(mut self, decimals: usize) -> Self {
        self.decimals = decimals;
        self
    }

    pub fn cell_size(mut self, size: Vec2) -> Self {
        self.cell = size;
        self
    }

    pub fn selected(mut self, cell: Option<(usize, usize)>) -> Self {
        self.selected = cell;
        self
    }

    pub fn titles(mut self, rows: &'a str, cols: &'a str) -> Self {
        self.row_title = Some(rows);
        self.col_title = Some(cols);
        self
    }

    /// The colour bar's title (with the unit).
    pub fn legend(mut self, legend: &'a str) -> Self {
        self.legend = legend;
        self
    }

    /// The accessible label and hover text of a cell.
    pub fn cell_label(mut self, label: &'a dyn Fn(usize, usize) -> String) -> Self {
        self.label = Some(label);
        self
    }

    /// Column headers become buttons (sorting); `sorted` marks one.
    pub fn sortable(mut self, sorted: Option<(usize, bool)>) -> Self {
        self.headers_clickable = true;
        self.sorted_col = sorted;
        self
    }

    pub fn show_values(mut self, show: bool) -> Self {
        self.show_values = show;
        self
    }

    pub fn ui(self, ui: &mut Ui, palette: &Palette) -> MatrixResponse {
        let font = FontId::proportional(13.0);
        let title_font = FontId::proportional(13.5);
        let painter = ui.painter().clone();
        let text = palette.text;
        let measure = |s: &str, f: &FontId| painter.layout_no_wrap(s.to_string(), f.clone(), text);

        let row_label_w = self
            .rows
            .iter()
            .map(|r| measure(r, &font).size().x)
            .fold(0.0f32, f32::max)
            + 8.0;
        let col_widths: Vec<f32> = self.cols.iter().map(|c| measure(c, &font).size().x).collect();
        let rotate = col_widths.iter().any(|w| *w > self.cell.x - 4.0);
        let header_h = if rotate {
            col_widths.iter().fold(0.0f32, |a, b| a.max(*b)) + 8.0
        } else {
            font.size + 8.0
        };
        let row_title_w = if self.row_title.is_some() {
            title_font.size + 8.0
        } else {
            0.0
        };
        let col_title_h = if self.col_title.is_some() {
            title_font.size + 6.0
        } else {
            0.0
        };
        let legend_w = 78.0;
        let grid_size = vec2(
            self.cell.x * self.cols.len() as f32,
            self.cell.y * self.rows.len() as f32,
        );
        let total = vec2(
            row_title_w + row_label_w + grid_size.x + 14.0 + legend_w,
            col_title_h + header_h + grid_size.y + 4.0,
        );
        let (rect, _) = ui.allocate_exact_size(total, Sense::hover());
        let grid_min = pos2(
            rect.min.x + row_title_w + row_label_w,
            rect.min.y + col_title_h + header_h,
        );
        let grid = Rect::from_min_size(grid_min, grid_size);
        let mut out = MatrixResponse {
            clicked: None,
            hovered: None,
            header_clicked: None,
            rect,
        };

        // Titles.
        if let Some(t) = self.col_title {
            painter.text(
                pos2(grid.center().x, rect.min.y),
                Align2::CENTER_TOP,
                t,
                title_font.clone(),
                palette.weak_text,
            );
        }
        if let Some(t) = self.row_title {
            let g = measure(t, &title_font);
            let pos = pos2(rect.min.x, grid.center().y + g.size().x / 2.0);
            painter.add(Shape::Text(
                TextShape::new(pos, g, palette.weak_text).with_angle(-FRAC_PI_2),
            ));
        }

        // Column headers.
        for (c, name) in self.cols.iter().enumerate() {
            let x0 = grid.min.x + c as f32 * self.cell.x;
            let header = Rect::from_min_max(pos2(x0, grid.min.y - header_h), pos2(x0 + self.cell.x, grid.min.y));
            let g = measure(name, &font);
            if let Some((sc, desc)) = self.sorted_col
                && sc == c
            {
                let y = if rotate { header.min.y + 6.0 } else { header.min.y + 4.0 };
                crate::ui::widgets::sort_arrow(&painter, pos2(header.center().x, y), desc, palette.handle);
            }
            if rotate {
                let pos = pos2(header.center().x - g.size().y / 2.0, header.max.y - 4.0);
                painter.add(Shape::Text(TextShape::new(pos, g, text).with_angle(-FRAC_PI_2)));
            } else {
                painter.galley(
                    pos2(header.center().x - g.size().x / 2.0, header.max.y - g.size().y - 3.0),
                    g,
                    text,
                );
            }
            if self.headers_clickable {
                let resp = ui
                    .interact(header, self.id.with(("header", c)), Sense::click())
                    .on_hover_text(format!("Sort by {name}"));
                resp.widget_info(|| WidgetInfo::labeled(egui::Role::Button, true, format!("Sort by {name}")));
                if resp.hovered() {
                    painter.rect_stroke(
                        header.shrink(1.0),
                        2.0,
                        Stroke::new(1.0, palette.accent),
                        egui::StrokeKind::Inside,
                    );
                }
                if resp.clicked() {
                    out.header_clicked = Some(c);
                }
            }
        }

        // Row labels.
        for (r, name) in self.rows.iter().enumerate() {
            let y = grid.min.y + (r as f32 + 0.5) * self.cell.y;
            painter.text(
                pos2(grid.min.x - 6.0, y),
                Align2::RIGHT_CENTER,
                name,
                font.clone(),
                text,
            );
        }

        // Cells.
        let value_font = FontId::monospace(12.0);
        for (r, row) in self.values.iter().enumerate().take(self.rows.len()) {
            for (c, v) in row.iter().enumerate().take(self.cols.len()) {
                let min = pos2(grid.min.x + c as f32 * self.cell.x, grid.min.y + r as f32 * self.cell.y);
                let cell = Rect::from_min_size(min, self.cell);
                let fill = v.map_or(palette.missing_cell, |v| self.scale.color(v));
                painter.rect_filled(cell.shrink(0.5), 0.0, fill);
                if self.show_values
                    && let Some(v) = v
                {
                    let text = format!("{v:.*}", self.decimals);
                    let font = fit_font(&painter, &text, &value_font, self.cell.x - 4.0);
                    painter.text(
                        cell.center(),
                        Align2::CENTER_CENTER,
                        text,
                        font,
                        theme::contrast_text(fill),
                    );
                }
                let label = match self.label {
                    Some(f) => f(r, c),
                    None => format!(
                        "{} / {}: {}",
                        self.rows[r],
                        self.cols[c],
                        v.map_or("-".to_string(), |v| format!("{v:.4}"))
                    ),
                };
                let resp = ui.interact(cell, self.id.with(("cell", r, c)), Sense::click());
                let info_label = label.clone();
                resp.widget_info(|| WidgetInfo::labeled(egui::Role::Button, true, &info_label));
                if resp.hovered() {
                    out.hovered = Some((r, c));
                    painter.rect_stroke(cell, 0.0, Stroke::new(2.0, palette.text), egui::StrokeKind::Inside);
                }
                let resp = resp.on_hover_text(label);
                if resp.clicked() {
                    out.clicked = Some((r, c));
                }
            }
        }
        if let Some((r, c)) = self.selected
            && r < self.rows.len()
            && c < self.cols.len()
        {
            let min = pos2(grid.min.x + c as f32 * self.cell.x, grid.min.y + r as f32 * self.cell.y);
            painter.rect_stroke(
                Rect::from_min_size(min, self.cell),
                0.0,
                Stroke::new(3.0, palette.handle),
                egui::StrokeKind::Inside,
            );
        }

        // Colour bar.
        let bar = Rect::from_min_size(
            pos2(grid.max.x + 14.0, grid.min.y),
            vec2(14.0, grid.height().max(60.0).min(rect.max.y - grid.min.y)),
        );
        self.colour_bar(&painter, bar, palette, &font);
        out
    }

    fn colour_bar(&self, painter: &egui::Painter, bar: Rect, palette: &Palette, font: &FontId) {
        let (lo, hi) = self.scale.range();
        let steps = 48;
        for i in 0..steps {
            let t0 = i as f32 / steps as f32;
            let t1 = (i + 1) as f32 / steps as f32;
            let v = hi - (hi - lo) * (i as f64 + 0.5) / steps as f64;
            let r = Rect::from_min_max(
                pos2(bar.min.x, bar.min.y + bar.height() * t0),
                pos2(bar.max.x, bar.min.y + bar.height() * t1 + 0.5),
            );
            painter.rect_filled(r, 0.0, self.scale.color(v));
        }
        painter.rect_stroke(bar, 0.0, Stroke::new(1.0, palette.weak_text), egui::StrokeKind::Outside);
        let tick_font = FontId::proportional(11.5);
        for (t, v) in [(0.0f32, hi), (0.5, (lo + hi) / 2.0), (1.0, lo)] {
            let y = bar.min.y + bar.height() * t;
            painter.line_segment(
                [pos2(bar.max.x, y), pos2(bar.max.x + 3.0, y)],
                Stroke::new(1.0, palette.weak_text),
            );
            painter.text(
                pos2(bar.max.x + 5.0, y),
                Align2::LEFT_CENTER,
                format!("{v:.2}"),
                tick_font.clone(),
                palette.text,
            );
        }
        if !self.legend.is_empty() {
            let g = painter.layout_no_wrap(self.legend.to_string(), font.clone(), palette.weak_text);
            let pos = Pos2::new(
                bar.max.x + 44.0,
                bar.center().y + g.size().x.min(bar.height() + 40.0) / 2.0,
            );
            painter.add(Shape::Text(
                TextShape::new(pos, g, palette.weak_text).with_angle(-FRAC_PI_2),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fitted_scale_spans_the_values() {
        let same_sign = vec![vec![Some(0.25), Some(0.45)], vec![None, Some(0.3)]];
        assert_eq!(Scale::fitted(&same_sign), Scale::Sequential { min: 0.25, max: 0.45 });
        // 0.25 and 0.45 are the two ends of the ramp, not two near-equal blues.
        let s = Scale::fitted(&same_sign);
        assert_eq!(s.color(0.25), theme::sequential(0.0));
        assert_eq!(s.color(0.45), theme::sequential(1.0));
        let mixed = vec![vec![Some(-0.2), Some(0.5)]];
        assert_eq!(Scale::fitted(&mixed), Scale::DivergingTo(0.5));
        assert_eq!(Scale::fitted(&mixed).color(0.5), theme::diverging(1.0));
        assert_eq!(Scale::fitted(&mixed).color(0.0), theme::diverging(0.0));
        assert_eq!(Scale::fitted(&[vec![Some(0.3)]]), Scale::Diverging);
    }
}
