//! Every colour the app paints comes from here: the light and dark palettes,
//! the series colours (Okabe-Ito, safe for colour-blind readers and for
//! grey-scale print), and the two colour scales (diverging for signed
//! correlations, sequential for information gain).

use eframe::egui;
use egui::{Color32, FontId, TextStyle};

/// Colours of one theme.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Palette {
    pub dark: bool,
    pub text: Color32,
    pub weak_text: Color32,
    /// Selected tab, primary series, links.
    pub accent: Color32,
    /// The draggable window handles and the selected window.
    pub handle: Color32,
    /// Shading of the selected window [l-hat, L-hat].
    pub window_fill: Color32,
    /// Shading of the +-1 std band around a mean curve.
    pub band_fill: Color32,
    /// Categorical series (curves per depth, bars per rule).
    pub series: [Color32; 8],
    /// Scatter markers (translucent so that 15k points show density).
    pub scatter: Color32,
    /// The identity line of a rank-vs-rank scatter.
    pub diagonal: Color32,
    pub good: Color32,
    pub warn: Color32,
    pub error: Color32,
    pub error_fill: Color32,
    pub info_fill: Color32,
    /// A cell with no value (undefined correlation, below the diagonal).
    pub missing_cell: Color32,
    pub cell_stroke: Color32,
}

const OKABE_ITO_LIGHT: [Color32; 8] = [
    Color32::from_rgb(0x00, 0x72, 0xB2), // blue
    Color32::from_rgb(0xE6, 0x9F, 0x00), // orange
    Color32::from_rgb(0x00, 0x9E, 0x73), // bluish green
    Color32::from_rgb(0xCC, 0x79, 0xA7), // reddish purple
    Color32::from_rgb(0x56, 0xB4, 0xE9), // sky blue
    Color32::from_rgb(0xD5, 0x5E, 0x00), // vermilion
    Color32::from_rgb(0x8C, 0x7A, 0x00), // dark yellow (yellow is unreadable on white)
    Color32::from_rgb(0x44, 0x44, 0x44), // grey
];

const OKABE_ITO_DARK: [Color32; 8] = [
    Color32::from_rgb(0x56, 0xB4, 0xE9), // sky blue
    Color32::from_rgb(0xE6, 0x9F, 0x00), // orange
    Color32::from_rgb(0x00, 0xB8, 0x86), // bluish green, lifted
    Color32::from_rgb(0xE0, 0x8F, 0xBD), // reddish purple, lifted
    Color32::from_rgb(0x9E, 0xCF, 0xF2), // pale blue
    Color32::from_rgb(0xF0, 0x7B, 0x2C), // vermilion, lifted
    Color32::from_rgb(0xF0, 0xE4, 0x42), // yellow
    Color32::from_rgb(0xC8, 0xC8, 0xC8), // light grey
];

/// The palette of a theme.
pub fn palette(dark: bool) -> Palette {
    if dark {
        Palette {
            dark,
            text: Color32::from_rgb(0xE6, 0xE6, 0xE6),
            weak_text: Color32::from_rgb(0xA0, 0xA0, 0xA0),
            accent: OKABE_ITO_DARK[0],
            handle: Color32::from_rgb(0xF0, 0x7B, 0x2C),
            window_fill: Color32::from_rgba_unmultiplied(0xF0, 0x7B, 0x2C, 24),
            band_fill: Color32::from_rgba_unmultiplied(0x56, 0xB4, 0xE9, 56),
            series: OKABE_ITO_DARK,
            scatter: Color32::from_rgba_unmultiplied(0x56, 0xB4, 0xE9, 150),
            diagonal: Color32::from_rgb(0x80, 0x80, 0x80),
            good: Color32::from_rgb(0x4C, 0xC3, 0x8A),
            warn: Color32::from_rgb(0xE6, 0xB4, 0x3C),
            error: Color32::from_rgb(0xFF, 0x8A, 0x80),
            error_fill: Color32::from_rgb(0x4A, 0x1F, 0x1F),
            info_fill: Color32::from_rgb(0x22, 0x30, 0x40),
            missing_cell: Color32::from_rgb(0x30, 0x30, 0x34),
            cell_stroke: Color32::from_rgb(0x1B, 0x1B, 0x1B),
        }
    } else {
        Palette {
            dark,
            text: Color32::from_rgb(0x1A, 0x1A, 0x1A),
            weak_text: Color32::from_rgb(0x5C, 0x5C, 0x5C),
            accent: OKABE_ITO_LIGHT[0],
            handle: Color32::from_rgb(0xD5, 0x5E, 0x00),
            window_fill: Color32::from_rgba_unmultiplied(0xD5, 0x5E, 0x00, 30),
            band_fill: Color32::from_rgba_unmultiplied(0x00, 0x72, 0xB2, 46),
            series: OKABE_ITO_LIGHT,
            scatter: Color32::from_rgba_unmultiplied(0x00, 0x72, 0xB2, 130),
            diagonal: Color32::from_rgb(0x90, 0x90, 0x90),
            good: Color32::from_rgb(0x00, 0x80, 0x50),
            warn: Color32::from_rgb(0x9A, 0x66, 0x00),
            error: Color32::from_rgb(0xB0, 0x1C, 0x1C),
            error_fill: Color32::from_rgb(0xFB, 0xE3, 0xE1),
            info_fill: Color32::from_rgb(0xE3, 0xEE, 0xF8),
            missing_cell: Color32::from_rgb(0xE4, 0xE4, 0xE4),
            cell_stroke: Color32::WHITE,
        }
    }
}

/// Applies a theme to the whole context: egui's light or dark visuals with
/// our accent, and text sizes that stay readable on a projector.
pub fn apply(ctx: &egui::Context, dark: bool) {
    ctx.all_styles_mut(|style| {
        style.text_styles = [
            (TextStyle::Small, FontId::proportional(11.5)),
            (TextStyle::Body, FontId::proportional(14.0)),
            (TextStyle::Button, FontId::proportional(14.0)),
            (TextStyle::Heading, FontId::proportional(19.0)),
            (TextStyle::Monospace, FontId::monospace(13.0)),
        ]
        .into();
        style.spacing.item_spacing = egui::vec2(8.0, 5.0);
    });
    for theme in [egui::Theme::Dark, egui::Theme::Light] {
        let p = palette(theme == egui::Theme::Dark);
        ctx.style_mut_of(theme, |style| {
            style.visuals.hyperlink_color = p.accent;
            style.visuals.selection.bg_fill = if p.dark {
                Color32::from_rgb(0x1F, 0x4E, 0x79)
            } else {
                Color32::from_rgb(0xC6, 0xDD, 0xF0)
            };
            style.visuals.selection.stroke.color = p.text;
        });
    }
    ctx.set_theme(if dark { egui::Theme::Dark } else { egui::Theme::Light });
}

/// Linear interpolation between colour stops spread evenly over [0, 1].
fn ramp(stops: &[[u8; 3]], t: f64) -> Color32 {
    let t = if t.is_nan() { 0.5 } else { t.clamp(0.0, 1.0) };
    let segments = stops.len() - 1;
    let x = t * segments as f64;
    let i = (x.floor() as usize).min(segments - 1);
    let f = x - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (stops[i], stops[i + 1]);
    Color32::from_rgb(mix(a[0], b[0]), mix(a[1], b[1]), mix(a[2], b[2]))
}

/// ColorBrewer RdBu, red for -1, near-white for 0, blue for +1 (the sign of
/// a correlation reads at a glance; safe for red-green colour blindness).
const RDBU: [[u8; 3]; 11] = [
    [0x67, 0x00, 0x1F],
    [0xB2, 0x18, 0x2B],
    [0xD6, 0x60, 0x4D],
    [0xF4, 0xA5, 0x82],
    [0xFD, 0xDB, 0xC7],
    [0xF7, 0xF7, 0xF7],
    [0xD1, 0xE5, 0xF0],
    [0x92, 0xC5, 0xDE],
    [0x43, 0x93, 0xC3],
    [0x21, 0x66, 0xAC],
    [0x05, 0x30, 0x61],
];

/// Viridis, 9 stops (perceptually uniform, prints in grey).
const VIRIDIS: [[u8; 3]; 9] = [
    [0x44, 0x01, 0x54],
    [0x47, 0x2D, 0x7B],
    [0x3B, 0x52, 0x8B],
    [0x2C, 0x72, 0x8E],
    [0x21, 0x91, 0x8C],
    [0x28, 0xAE, 0x80],
    [0x5E, 0xC9, 0x62],
    [0xAD, 0xDC, 0x30],
    [0xFD, 0xE7, 0x25],
];

/// Diverging scale for a value in [-1, 1].
pub fn diverging(v: f64) -> Color32 {
    ramp(&RDBU, (v + 1.0) / 2.0)
}

/// Sequential scale for a value in [0, 1].
pub fn sequential(t: f64) -> Color32 {
    ramp(&VIRIDIS, t)
}

/// Black or white, whichever reads better on `bg`.
pub fn contrast_text(bg: Color32) -> Color32 {
    let l = 0.2126 * bg.r() as f32 + 0.7152 * bg.g() as f32 + 0.0722 * bg.b() as f32;
    if l < 140.0 { Color32::WHITE } else { Color32::BLACK }
}

/// The same colour with another opacity (0..=255).
pub fn with_alpha(c: Color32, alpha: u8) -> Color32 {
    Color32::from_rgba_unmultiplied(c.r(), c.g(), c.b(), alpha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_hit_their_end_stops_and_clamp() {
        assert_eq!(diverging(-1.0), Color32::from_rgb(0x67, 0x00, 0x1F));
        assert_eq!(diverging(1.0), Color32::from_rgb(0x05, 0x30, 0x61));
        assert_eq!(diverging(0.0), Color32::from_rgb(0xF7, 0xF7, 0xF7));
        assert_eq!(diverging(7.0), diverging(1.0));
        assert_eq!(sequential(0.0), Color32::from_rgb(0x44, 0x01, 0x54));
        assert_eq!(sequential(1.0), Color32::from_rgb(0xFD, 0xE7, 0x25));
        assert_eq!(contrast_text(diverging(1.0)), Color32::WHITE);
        assert_eq!(contrast_text(diverging(0.0)), Color32::BLACK);
    }
}
