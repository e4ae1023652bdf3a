//! A procedural image dataset, so the app can build and ship a benchmark of
//! its own without any downloaded data.
//!
//! Every image is a pure function of `(seed, index, size)`: image `i` draws
//! from its own ChaCha8 stream seeded by `(seed, i)`, so any subset is
//! generated in any order, on any machine, with the same pixels. The label
//! of image `i` is `i % 10` (classes balanced in every run of 10 indices).
//!
//! # What an image contains (RGB, `size` x `size`, 32 by default)
//! - **The object** that defines the class, at a random position, scale
//!   (radius 28-42% of the image) and rotation. Its colour is a weak class
//!   cue, as colour is in natural images: the hue is `label / 10` plus
//!   Gaussian jitter of standard deviation 0.08 (so neighbouring classes'
//!   hues overlap heavily), saturation 0.55-1, value 0.6-1. The three
//!   texture classes add a second, random colour.
//! - **Background**: a random colour at least 0.25 (mean absolute
//!   difference) from the object's, shading linearly in a random direction
//!   to a colour up to 0.15 per channel away.
//! - **Distractors**: one to three thin line segments of random colour,
//!   length and direction, drawn under the object.
//! - **Noise**: 2x2 supersampled edges, then Gaussian pixel noise (sigma
//!   0.05), clamped to [0, 1], normalised as `(x - 0.5) / 0.25`.
//!
//! | label | class | what tells it apart |
//! |---|---|---|
//! | 0 | disc | round, solid |
//! | 1 | square | straight edges, 4 corners |
//! | 2 | triangle | 3 corners |
//! | 3 | ring | disc with a hole |
//! | 4 | cross | plus sign |
//! | 5 | star | 5 points |
//! | 6 | stripes | round patch of parallel stripes (period 0.55-0.7 radius) |
//! | 7 | checker | square patch of checks |
//! | 8 | dots | round patch with a grid of dots |
//! | 9 | crescent | disc with an offset bite |
//!
//! Stripes, checks and dots share their outline with the disc and the
//! square, and the ring, crescent and disc share theirs with each other, so
//! a network has to see texture and interior structure at a few pixels'
//! scale, which is where NB201 cells differ (3x3 convolutions against pools,
//! skips and 1x1 convolutions).

use std::f32::consts::PI;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::data::{Batch, TargetKind, Targets, standard_normal};

/// Number of classes.
pub const NUM_CLASSES: usize = 10;
/// Default image side in pixels.
pub const DEFAULT_SIZE: usize = 32;
/// Class names by label.
pub const CLASS_NAMES: [&str; NUM_CLASSES] = [
    "disc", "square", "triangle", "ring", "cross", "star", "stripes", "checker", "dots", "crescent",
];
/// Pixel normalisation: `(x - MEAN) / STD` for every channel.
const MEAN: f32 = 0.5;
const STD: f32 = 0.25;
const NOISE_STD: f32 = 0.05;
/// Standard deviation of the hue jitter around `label / 10`.
const HUE_JITTER: f32 = 0.08;

/// The stream of one image: FNV-style mix of (seed, index), so images do
/// not depend on which others were generated.
fn image_rng(seed: u64, index: u64) -> ChaCha8Rng {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for b in index.to_le_bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    ChaCha8Rng::seed_from_u64(h)
}

/// Label of image `index`.
pub fn label_of(index: u64) -> usize {
    (index % NUM_CLASSES as u64) as usize
}

fn random_colour(rng: &mut impl Rng) -> [f32; 3] {
    [rng.random(), rng.random(), rng.random()]
}

/// HSV (all in [0, 1]) to RGB.
fn hsv(h: f32, s: f32, v: f32) -> [f32; 3] {
    let h6 = h.rem_euclid(1.0) * 6.0;
    let f = h6 - h6.floor();
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    match h6 as u32 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

fn colour_distance(a: [f32; 3], b: [f32; 3]) -> f32 {
    a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f32>() / 3.0
}

/// A colour at least `min` (mean absolute difference) from `avoid`; gives
/// up after 32 draws and takes the last one (vanishingly rare).
fn contrasting_colour(rng: &mut impl Rng, avoid: [f32; 3], min: f32) -> [f32; 3] {
    let mut c = random_colour(rng);
    for _ in 0..32 {
        if colour_distance(c, avoid) >= min {
            break;
        }
        c = random_colour(rng);
    }
    c
}

/// Where a point of the object's unit frame is painted: `Some(true)` the
/// primary colour, `Some(false)` the secondary (textures), `None` outside.
fn class_paint(class: usize, x: f32, y: f32, detail: f32) -> Option<bool> {
    let r = (x * x + y * y).sqrt();
    let inside = |b: bool| if b { Some(true) } else { None };
    match class {
        0 => inside(r <= 1.0),
        1 => inside(x.abs().max(y.abs()) <= 0.8),
        2 => {
            // Equilateral triangle inscribed in the unit circle (a vertex at
            // -y): three sides at distance 0.5 (the inradius) along their normals.
            let ok = (0..3).all(|k| {
                let a = PI / 2.0 + k as f32 * 2.0 * PI / 3.0;
                x * a.cos() + y * a.sin() <= 0.5
            });
            inside(ok)
        }
        3 => inside((0.55..=1.0).contains(&r)),
        4 => inside((x.abs() <= 0.3 && y.abs() <= 1.0) || (y.abs() <= 0.3 && x.abs() <= 1.0)),
        5 => {
            let phi = y.atan2(x);
            let lobe = (1.0 + (5.0 * phi).cos()) / 2.0;
            inside(r <= 0.45 + 0.55 * lobe * lobe)
        }
        6 => (r <= 1.0).then(|| (x / detail).rem_euclid(1.0) < 0.5),
        7 => (x.abs().max(y.abs()) <= 0.85)
            .then(|| ((x / (0.7 * detail)).floor() as i64 + (y / (0.7 * detail)).floor() as i64) % 2 == 0),
        8 => (r <= 1.0).then(|| {
            let g = 0.9 * detail;
            let dx = (x / g).rem_euclid(1.0) - 0.5;
            let dy = (y / g).rem_euclid(1.0) - 0.5;
            (dx * dx + dy * dy).sqrt() * g <= 0.16
        }),
        9 => inside(r <= 1.0 && ((x - 0.45).powi(2) + y * y).sqrt() > 0.8),
        _ => None,
    }
}

/// A distractor: segment end points in pixels and its colour.
type Segment = ((f32, f32), (f32, f32), [f32; 3]);

/// Distance from point p to segment ab.
fn segment_distance(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (vx, vy) = (b.0 - a.0, b.1 - a.1);
    let len2 = vx * vx + vy * vy;
    let t = if len2 > 0.0 {
        (((p.0 - a.0) * vx + (p.1 - a.1) * vy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    ((p.0 - a.0 - t * vx).powi(2) + (p.1 - a.1 - t * vy).powi(2)).sqrt()
}

/// Renders image `index` as RGB planes in [0, 1] (`3 * size * size`).
pub fn render(seed: u64, index: u64, size: usize) -> Vec<f32> {
    render_scene(seed, index, size).rgb
}

/// Segment classes of the scene's targets: background, distractor lines,
/// then the object's class (`OBJECT_SEGMENT + label`), 12 in all.
pub const BACKGROUND_SEGMENT: usize = 0;
pub const LINE_SEGMENT: usize = 1;
pub const OBJECT_SEGMENT: usize = 2;

/// An image with the targets the scene defines exactly (TransNAS-Bench-101's
/// pixel and layout tasks on procedural images):
/// - `segments` [size * size]: the segment class at each pixel's centre;
/// - `normals` [3, size, size]: the background is a plane whose height is its
///   shading ramp, so its normal is `(-gx, -gy, 1) / norm` for shading
///   direction (gx, gy); lines and the object face the camera, (0, 0, 1);
/// - `layout` (9): object centre x and y and radius (fractions of the side),
///   the cosine and sine of its rotation, the shading direction (gx, gy),
///   and the mean of the background's and of the object's colour.
pub struct Scene {
    pub rgb: Vec<f32>,
    pub segments: Vec<f32>,
    pub normals: Vec<f32>,
    pub layout: [f32; 9],
}

/// Renders image `index` with its scene targets (the pixels of [`render`]).
pub fn render_scene(seed: u64, index: u64, size: usize) -> Scene {
    let mut rng = image_rng(seed, index);
    let class = label_of(index);
    let s = size as f32;
    // Object colour (the weak cue), then a contrasting shaded background.
    let hue = class as f32 / NUM_CLASSES as f32 + HUE_JITTER * standard_normal(&mut rng);
    let fg = hsv(hue, rng.random_range(0.55..1.0), rng.random_range(0.6..1.0));
    let bg0 = contrasting_colour(&mut rng, fg, 0.25);
    let bg1 = bg0.map(|c| (c + rng.random_range(-0.15..0.15)).clamp(0.0, 1.0));
    let angle: f32 = rng.random_range(0.0..2.0 * PI);
    let (gx, gy) = (angle.cos(), angle.sin());
    // Distractor segments, in pixels.
    let n_lines = rng.random_range(1..=3);
    let lines: Vec<Segment> = (0..n_lines)
        .map(|_| {
            let a = (rng.random_range(0.0..s), rng.random_range(0.0..s));
            let len = rng.random_range(0.2..0.5) * s;
            let th: f32 = rng.random_range(0.0..2.0 * PI);
            (a, (a.0 + len * th.cos(), a.1 + len * th.sin()), random_colour(&mut rng))
        })
        .collect();
    let line_half_width = 0.5 * (s / 32.0).max(1.0);
    // The object.
    let radius = rng.random_range(0.28..0.42) * s;
    let margin = 0.8 * radius;
    let cx = rng.random_range(margin..(s - margin).max(margin + 1e-3));
    let cy = rng.random_range(margin..(s - margin).max(margin + 1e-3));
    let rot: f32 = rng.random_range(0.0..2.0 * PI);
    let (rc, rs) = (rot.cos(), rot.sin());
    let fg2 = contrasting_colour(&mut rng, fg, 0.25);
    // Texture period in object units: 3-4 px at radius 5.5 px (16 x 16).
    let detail = rng.random_range(0.55..0.7);

    let plane = size * size;
    let mut out = vec![0f32; 3 * plane];
    let mut segments = vec![BACKGROUND_SEGMENT as f32; plane];
    let mut normals = vec![0f32; 3 * plane];
    let tilt = (gx * gx + gy * gy + 1.0).sqrt();
    let background_normal = [-gx / tilt, -gy / tilt, 1.0 / tilt];
    // What covers a point (pixels, unsupersampled): the object, a line, or the background.
    let segment_at = |x: f32, y: f32| {
        let (dx, dy) = ((x - cx) / radius, (y - cy) / radius);
        let (ux, uy) = (rc * dx + rs * dy, -rs * dx + rc * dy);
        if class_paint(class, ux, uy, detail).is_some() {
            OBJECT_SEGMENT + class
        } else if lines
            .iter()
            .any(|(a, b, _)| segment_distance((x, y), *a, *b) <= line_half_width)
        {
            LINE_SEGMENT
        } else {
            BACKGROUND_SEGMENT
        }
    };
    for py in 0..size {
        for px in 0..size {
            let seg = segment_at(px as f32 + 0.5, py as f32 + 0.5);
            let n = if seg == BACKGROUND_SEGMENT {
                background_normal
            } else {
                [0.0, 0.0, 1.0]
            };
            segments[py * size + px] = seg as f32;
            for k in 0..3 {
                normals[k * plane + py * size + px] = n[k];
            }
        }
    }
    const SUB: [f32; 2] = [0.25, 0.75];
    for py in 0..size {
        for px in 0..size {
            let mut acc = [0f32; 3];
            for sy in SUB {
                for sx in SUB {
                    let (x, y) = (px as f32 + sx, py as f32 + sy);
                    let t = ((x / s - 0.5) * gx + (y / s - 0.5) * gy + 0.5).clamp(0.0, 1.0);
                    let mut c = [0, 1, 2].map(|k| bg0[k] * (1.0 - t) + bg1[k] * t);
                    for (a, b, col) in &lines {
                        if segment_distance((x, y), *a, *b) <= line_half_width {
                            c = *col;
                        }
                    }
                    // Into the object's unit frame: translate, rotate, scale.
                    let (dx, dy) = ((x - cx) / radius, (y - cy) / radius);
                    let (ux, uy) = (rc * dx + rs * dy, -rs * dx + rc * dy);
                    match class_paint(class, ux, uy, detail) {
                        Some(true) => c = fg,
                        Some(false) => c = fg2,
                        None => {}
                    }
                    for k in 0..3 {
                        acc[k] += c[k] / 4.0;
                    }
                }
            }
            for (k, a) in acc.iter().enumerate() {
                out[k * plane + py * size + px] = a + NOISE_STD * standard_normal(&mut rng);
            }
        }
    }
    out.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
    let mean = |c: [f32; 3]| c.iter().sum::<f32>() / 3.0;
    Scene {
        rgb: out,
        segments,
        normals,
        layout: [cx / s, cy / s, radius / s, rc, rs, gx, gy, mean(bg0), mean(fg)],
    }
}

/// The normalised batch of the given image indices.
pub fn batch(seed: u64, size: usize, indices: &[u64]) -> Batch {
    scene_batch(seed, size, indices, None)
}

/// [`batch`] with the scenes' targets of `kind` (see [`Scene`]); a class map
/// with fewer classes than the scene's 12 segments clamps to the last class.
pub fn batch_with_targets(seed: u64, size: usize, indices: &[u64], kind: TargetKind) -> Batch {
    scene_batch(seed, size, indices, Some(kind))
}

fn scene_batch(seed: u64, size: usize, indices: &[u64], kind: Option<TargetKind>) -> Batch {
    let plane = size * size;
    let mut images = Vec::with_capacity(indices.len() * 3 * plane);
    let mut targets = Vec::new();
    for &i in indices {
        let scene = render_scene(seed, i, size);
        images.extend(scene.rgb.into_iter().map(|v| (v - MEAN) / STD));
        match kind {
            Some(TargetKind::Classes(k)) => targets.extend(scene.segments.iter().map(|&c| c.min((k - 1) as f32))),
            Some(TargetKind::Normals) => targets.extend(scene.normals),
            Some(TargetKind::Layout) => targets.extend(scene.layout),
            None => {}
        }
    }
    let range = match (indices.first(), indices.last()) {
        (Some(a), Some(b)) if indices.windows(2).all(|w| w[1] == w[0] + 1) => format!("{a}..{}", b + 1),
        _ => format!("{} indices", indices.len()),
    };
    Batch {
        images,
        labels: indices.iter().map(|&i| label_of(i)).collect(),
        shape: [indices.len(), 3, size, size],
        num_classes: NUM_CLASSES,
        source: format!(
            "procedural seed {seed} size {size} images {range}{}",
            kind.map_or(String::new(), |k| format!(", the scenes' {}", k.describe()))
        ),
        targets: kind.map(|kind| Targets { kind, values: targets }),
    }
}

/// A grid of samples as an RGB image: one row per class (label order),
/// `per_class` columns, each image scaled up `scale` times, 2-pixel gaps.
pub fn sample_grid(seed: u64, size: usize, per_class: usize, scale: usize) -> image::RgbImage {
    let gap = 2;
    let cell = size * scale + gap;
    let (w, h) = ((per_class * cell + gap) as u32, (NUM_CLASSES * cell + gap) as u32);
    let mut img = image::RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
    for class in 0..NUM_CLASSES {
        for col in 0..per_class {
            let index = (col * NUM_CLASSES + class) as u64;
            let pixels = render(seed, index, size);
            let plane = size * size;
            for y in 0..size * scale {
                for x in 0..size * scale {
                    let p = (y / scale) * size + x / scale;
                    let rgb = [0, 1, 2].map(|k| (pixels[k * plane + p] * 255.0).round() as u8);
                    let (ox, oy) = (gap + col * cell + x, gap + class * cell + y);
                    img.put_pixel(ox as u32, oy as u32, image::Rgb(rgb));
                }
            }
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_a_function_of_seed_and_index_only() {
        let a = batch(3, 32, &[5, 6, 7]);
        let b = batch(3, 32, &[7]);
        assert_eq!(&a.images[2 * 3072..], &b.images[..]);
        assert_eq!(a.labels, vec![5, 6, 7]);
        assert_ne!(batch(4, 32, &[7]).images, b.images);
        assert_eq!(a.shape, [3, 3, 32, 32]);
        assert!(a.source.contains("5..8"), "{}", a.source);
    }

    #[test]
    fn pixels_stay_in_range_and_use_the_canvas() {
        for i in 0..40 {
            let img = render(0, i, 16);
            assert_eq!(img.len(), 3 * 256);
            assert!(img.iter().all(|v| (0.0..=1.0).contains(v)));
            // Not a flat image: the object and the gradient vary.
            let mean = img.iter().sum::<f32>() / img.len() as f32;
            let var = img.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / img.len() as f32;
            assert!(var > 1e-3, "image {i} is nearly flat: var {var}");
        }
    }

    #[test]
    fn shapes_cover_what_their_definitions_say() {
        // The centre is inside the disc and in the ring's hole; the
        // crescent's bite is on the +x side.
        assert_eq!(class_paint(0, 0.0, 0.0, 0.5), Some(true));
        assert_eq!(class_paint(3, 0.0, 0.0, 0.5), None);
        assert_eq!(class_paint(3, 0.8, 0.0, 0.5), Some(true));
        assert_eq!(class_paint(9, 0.5, 0.0, 0.5), None);
        assert_eq!(class_paint(9, -0.9, 0.0, 0.5), Some(true));
        // Square corner (0.75, 0.75) is in, the disc's rim there is out.
        assert_eq!(class_paint(1, 0.75, 0.75, 0.5), Some(true));
        assert_eq!(class_paint(0, 0.75, 0.75, 0.5), None);
        // Triangle: top vertex direction (0, -1) reaches 1, the opposite side 0.5.
        assert_eq!(class_paint(2, 0.0, -0.9, 0.5), Some(true));
        assert_eq!(class_paint(2, 0.0, 0.6, 0.5), None);
        // Stripes alternate along x with the period.
        assert_eq!(class_paint(6, 0.1, 0.0, 0.5), Some(true));
        assert_eq!(class_paint(6, 0.35, 0.0, 0.5), Some(false));
    }

    /// The scene's targets agree with its pixels: a disc (class 0) covers
    /// about pi r^2 pixels of segment 2, its interior pixels have the mean
    /// colour the layout records, the background's normals are the unit
    /// normal of the shading direction the layout records, and the object's
    /// face the camera.
    #[test]
    fn scene_targets_agree_with_the_image() {
        let size = 64;
        let plane = size * size;
        for index in [0u64, 10, 20, 30] {
            let scene = render_scene(5, index, size);
            let [_, _, r, _, _, gx, gy, _, fg] = scene.layout;
            let r = r * size as f32;
            let object: Vec<usize> = (0..plane)
                .filter(|&p| scene.segments[p] == OBJECT_SEGMENT as f32)
                .collect();
            let area = PI * r * r;
            let ratio = object.len() as f32 / area;
            assert!(
                (0.8..1.05).contains(&ratio),
                "image {index}: {} pixels, pi r^2 = {area}",
                object.len()
            );
            // Interior: the pixel and its four neighbours are object.
            let inside = |p: usize| scene.segments.get(p) == Some(&(OBJECT_SEGMENT as f32));
            let interior: Vec<usize> = object
                .iter()
                .copied()
                .filter(|&p| p > size && inside(p - 1) && inside(p + 1) && inside(p - size) && inside(p + size))
                .collect();
            let mean = interior
                .iter()
                .map(|&p| (0..3).map(|k| scene.rgb[k * plane + p]).sum::<f32>() / 3.0)
                .sum::<f32>()
                / interior.len() as f32;
            assert!(
                (mean - fg).abs() < 0.02,
                "image {index}: interior mean {mean}, layout {fg}"
            );
            let norm = (gx * gx + gy * gy + 1.0).sqrt();
            for p in 0..plane {
                let n = [0, 1, 2].map(|k| scene.normals[k * plane + p]);
                let want = if scene.segments[p] == BACKGROUND_SEGMENT as f32 {
                    [-gx / norm, -gy / norm, 1.0 / norm]
                } else {
                    [0.0, 0.0, 1.0]
                };
                assert!(
                    n.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6),
                    "pixel {p}: {n:?}"
                );
            }
            assert_eq!(render(5, index, size), scene.rgb);
        }
        // A 17-class head sees the 12 segments as they are; a batch carries nine layout values
        // per image.
        let b = batch_with_targets(5, 32, &[0, 1, 2], TargetKind::Classes(17));
        let t = b.targets.unwrap();
        assert_eq!(t.values.len(), 3 * 32 * 32);
        assert!(t.values.iter().all(|&c| c.fract() == 0.0 && c < 12.0));
        assert!(
            t.values.contains(&((OBJECT_SEGMENT + 2) as f32)),
            "image 2 is a triangle"
        );
        let l = batch_with_targets(5, 32, &[0, 1], TargetKind::Layout).targets.unwrap();
        assert_eq!(l.values[9..], render_scene(5, 1, 32).layout);
    }
}
