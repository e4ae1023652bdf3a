//! A figure's SVG as a file: SVG as written, PDF through svg2pdf (text
//! stays selectable text in the embedded, subset font) and PNG through
//! resvg at a chosen resolution. Both read the SVG with usvg and only the
//! font shipped in the binary, so the output is the same on every machine.

use std::path::Path;

use resvg::{tiny_skia, usvg};

use super::svg::FONT;

/// usvg lays out SVG at 96 user units per inch.
const SVG_DPI: f32 = 96.0;

/// PNG resolutions accepted (dots per inch).
pub const DPI_RANGE: std::ops::RangeInclusive<f64> = 30.0..=2400.0;
/// Largest PNG side, in pixels (a 1 m wide figure at 500 dpi).
pub const MAX_PIXELS: u32 = 20_000;

/// The file formats of a figure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Format {
    Svg,
    Pdf,
    Png { dpi: f64 },
}

impl Format {
    /// The format `out`'s extension names; `dpi` is for PNG only (default
    /// 300). Errors name the option.
    pub fn from_path(out: &Path, dpi: Option<f64>) -> Result<Format, String> {
        let ext = out
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let format = match ext.as_str() {
            "svg" => Format::Svg,
            "pdf" => Format::Pdf,
            "png" => Format::Png {
                dpi: dpi.unwrap_or(300.0),
            },
            _ => {
                return Err(format!(
                    "--out {}: the extension chooses the format: .svg, .pdf or .png",
                    out.display()
                ));
            }
        };
        match (format, dpi) {
            (Format::Png { dpi }, _) => check_dpi(dpi)?,
            (_, Some(d)) => {
                return Err(format!(
                    "--dpi {d}: the resolution applies to PNG output only ({} is a vector format)",
                    ext.to_uppercase()
                ));
            }
            _ => {}
        }
        Ok(format)
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Svg => "svg",
            Format::Pdf => "pdf",
            Format::Png { .. } => "png",
        }
    }
}

/// An error naming `--dpi` unless `dpi` is a resolution we render.
pub fn check_dpi(dpi: f64) -> Result<(), String> {
    if DPI_RANGE.contains(&dpi) {
        Ok(())
    } else {
        Err(format!(
            "--dpi {dpi}: expected a resolution between {} and {} dots per inch",
            DPI_RANGE.start(),
            DPI_RANGE.end()
        ))
    }
}

/// Pixels of a side of `mm` millimetres at `dpi`.
pub fn pixels(mm: f64, dpi: f64) -> u32 {
    (mm * dpi / 25.4).round().max(1.0) as u32
}

/// The bytes of `svg` in `format`.
pub fn encode(svg: &str, format: Format) -> Result<Vec<u8>, String> {
    match format {
        Format::Svg => Ok(svg.as_bytes().to_vec()),
        Format::Pdf => pdf(svg),
        Format::Png { dpi } => png(svg, dpi),
    }
}

fn parse(svg: &str) -> Result<usvg::Tree, String> {
    let mut opts = usvg::Options {
        dpi: SVG_DPI,
        ..usvg::Options::default()
    };
    let db = opts.fontdb_mut();
    db.load_font_data(FONT.to_vec());
    // Every family the SVG names falls back to the embedded font.
    let family = db
        .faces()
        .next()
        .and_then(|f| f.families.first())
        .map(|(name, _)| name.clone())
        .ok_or("the embedded font has no family name")?;
    db.set_sans_serif_family(family.clone());
    opts.font_family = family;
    usvg::Tree::from_str(svg, &opts).map_err(|e| format!("the figure's SVG does not parse: {e}"))
}

fn pdf(svg: &str) -> Result<Vec<u8>, String> {
    let tree = parse(svg)?;
    let conv = svg2pdf::ConversionOptions {
        embed_text: true,
        ..svg2pdf::ConversionOptions::default()
    };
    // The page in points from the SVG's size in user units at 96 dpi.
    svg2pdf::to_pdf(&tree, conv, svg2pdf::PageOptions { dpi: SVG_DPI })
        .map_err(|e| format!("could not convert the figure to PDF: {e}"))
}

fn png(svg: &str, dpi: f64) -> Result<Vec<u8>, String> {
    check_dpi(dpi)?;
    let tree = parse(svg)?;
    let size = tree.size();
    let (w_mm, h_mm) = (
        size.width() as f64 * 25.4 / SVG_DPI as f64,
        size.height() as f64 * 25.4 / SVG_DPI as f64,
    );
    let (w, h) = (pixels(w_mm, dpi), pixels(h_mm, dpi));
    if w > MAX_PIXELS || h > MAX_PIXELS {
        return Err(format!(
            "--dpi {dpi}: {w} x {h} pixels is more than the {MAX_PIXELS} a side this writes"
        ));
    }
    let mut pixmap = tiny_skia::Pixmap::new(w, h).ok_or_else(|| format!("cannot allocate {w} x {h} pixels"))?;
    let t = tiny_skia::Transform::from_scale(w as f32 / size.width(), h as f32 / size.height());
    resvg::render(&tree, t, &mut pixmap.as_mut());
    let rgba: Vec<u8> = pixmap
        .pixels()
        .iter()
        .flat_map(|p| {
            let c = p.demultiply();
            [c.red(), c.green(), c.blue(), c.alpha()]
        })
        .collect();
    let mut out = Vec::new();
    {
        let mut enc = ::png::Encoder::new(&mut out, w, h);
        enc.set_color(::png::ColorType::Rgba);
        enc.set_depth(::png::BitDepth::Eight);
        // The resolution travels with the file (pHYs, pixels per metre), so
        // a word processor places it at its physical size.
        let ppm = (dpi / 0.0254).round() as u32;
        enc.set_pixel_dims(Some(::png::PixelDimensions {
            xppu: ppm,
            yppu: ppm,
            unit: ::png::Unit::Meter,
        }));
        let mut writer = enc.write_header().map_err(|e| format!("could not write PNG: {e}"))?;
        writer
            .write_image_data(&rgba)
            .map_err(|e| format!("could not write PNG: {e}"))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_chooses_the_format() {
        let f = |p: &str, dpi| Format::from_path(Path::new(p), dpi);
        assert_eq!(f("a.svg", None), Ok(Format::Svg));
        assert_eq!(f("a.PDF", None), Ok(Format::Pdf));
        assert_eq!(f("a.png", None), Ok(Format::Png { dpi: 300.0 }));
        assert_eq!(f("a.png", Some(600.0)), Ok(Format::Png { dpi: 600.0 }));
        assert!(f("a.eps", None).unwrap_err().contains(".svg, .pdf or .png"));
        assert!(f("a", None).unwrap_err().contains("--out a"));
        assert!(f("a.png", Some(0.0)).unwrap_err().contains("--dpi 0"));
        assert!(f("a.png", Some(f64::NAN)).unwrap_err().contains("--dpi NaN"));
        assert!(f("a.pdf", Some(300.0)).unwrap_err().contains("PNG output only"));
        // 120 mm at 300 dpi: 120 / 25.4 * 300 = 1417.3 pixels.
        assert_eq!(pixels(120.0, 300.0), 1417);
    }
}
