//! Image folders: the user's own PNG/JPEG images (Taskonomy's, say) as a
//! probe batch. One class per subfolder (subfolders sorted by name: the
//! i-th is class i), or a flat folder of images, all of class 0. Each image
//! is centre-cropped to a square and resized to the network's side with a
//! triangle (bilinear, antialiased) filter, so a folder of large photos
//! never sits in memory at full size.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;

use super::data::{Batch, DataError, Selection, TargetKind, Targets};

/// ImageNet's channel statistics: photographs, as Taskonomy's are.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The image files of a folder with their classes, in a fixed order
/// (class, then file name).
pub struct ImageFolder {
    pub path: PathBuf,
    pub files: Vec<(PathBuf, usize)>,
    /// Subfolder names; empty for a flat folder.
    pub classes: Vec<String>,
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let io = |source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()).map_err(io))
        .collect::<Result<_, _>>()?;
    out.sort();
    Ok(out)
}

impl ImageFolder {
    pub fn read(dir: &Path) -> Result<ImageFolder, DataError> {
        let entries = sorted_entries(dir)?;
        let subdirs: Vec<&PathBuf> = entries.iter().filter(|p| p.is_dir()).collect();
        let mut files = Vec::new();
        let mut classes = Vec::new();
        if subdirs.is_empty() {
            files.extend(entries.iter().filter(|p| is_image(p)).map(|p| (p.clone(), 0)));
        } else {
            for (class, sub) in subdirs.iter().enumerate() {
                classes.push(
                    sub.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                );
                files.extend(
                    sorted_entries(sub)?
                        .into_iter()
                        .filter(|p| is_image(p))
                        .map(|p| (p, class)),
                );
            }
        }
        if files.is_empty() {
            return Err(DataError::Malformed {
                path: dir.to_path_buf(),
                reason: "no .png, .jpg or .jpeg images in the folder or its subfolders (one per class)".into(),
            });
        }
        Ok(ImageFolder {
            path: dir.to_path_buf(),
            files,
            classes,
        })
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Classes the labels take: the subfolders, or 1 for a flat folder.
    pub fn class_count(&self) -> usize {
        self.classes.len().max(1)
    }

    /// `count` images (first or seeded random, as CIFAR-10's file), each
    /// `size` x `size`, normalised with ImageNet's statistics.
    pub fn batch(
        &self,
        count: usize,
        selection: Selection,
        size: usize,
        num_classes: usize,
    ) -> Result<Batch, DataError> {
        self.batch_with_targets(count, selection, size, num_classes, None)
    }

    /// [`Self::batch`], and with `targets` = (folder, kind) each image's
    /// target image too: the file of the same relative path (any of the
    /// image extensions) in the targets folder, cropped and resized as its
    /// image (label maps by nearest neighbour).
    pub fn batch_with_targets(
        &self,
        count: usize,
        selection: Selection,
        size: usize,
        num_classes: usize,
        targets: Option<(&Path, TargetKind)>,
    ) -> Result<Batch, DataError> {
        if count > self.len() {
            return Err(DataError::TooFew {
                got: count,
                available: self.len(),
            });
        }
        if self.class_count() > num_classes {
            return Err(DataError::Unsuitable {
                data: format!("folder:{}", self.path.display()),
                reason: format!(
                    "{} classes (subfolders) but the network's head has {num_classes}",
                    self.class_count()
                ),
            });
        }
        let indices: Vec<usize> = match selection {
            Selection::First => (0..count).collect(),
            Selection::Random(seed) => sample(&mut ChaCha8Rng::seed_from_u64(seed), self.len(), count).into_vec(),
        };
        let plane = size * size;
        let mut images = Vec::with_capacity(count * 3 * plane);
        let mut target_values = Vec::new();
        for &i in &indices {
            let path = &self.files[i].0;
            let resized = square_resized(path, size, image::imageops::Triangle)?;
            for c in 0..3 {
                images.extend(
                    resized
                        .pixels()
                        .map(|p| (p.0[c] as f32 / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]),
                );
            }
            if let Some((dir, kind)) = targets {
                let target = self.target_path(path, dir)?;
                read_target(&target, size, kind, &mut target_values)?;
            }
        }
        Ok(Batch {
            images,
            labels: indices.iter().map(|&i| self.files[i].1).collect(),
            shape: [count, 3, size, size],
            num_classes,
            source: format!(
                "folder:{} ({} images, {} classes){}, {count} {}, centre-cropped and resized to {size}x{size}",
                self.path.display(),
                self.len(),
                self.class_count(),
                targets.map_or(String::new(), |(dir, kind)| format!(
                    ", targets:{} ({})",
                    dir.display(),
                    kind.describe()
                )),
                match selection {
                    Selection::First => "first".to_string(),
                    Selection::Random(s) => format!("drawn with seed {s}"),
                }
            ),
            targets: targets.map(|(_, kind)| Targets {
                kind,
                values: target_values,
            }),
        })
    }

    /// The target of `image`: the same path relative to this folder, under
    /// `dir`, with any of the image extensions (PNG first: label maps must
    /// be lossless).
    fn target_path(&self, image: &Path, dir: &Path) -> Result<PathBuf, DataError> {
        let rel = image.strip_prefix(&self.path).unwrap_or(image);
        let base = dir.join(rel).with_extension("");
        ["png", "PNG", "jpg", "jpeg", "JPG", "JPEG"]
            .iter()
            .map(|e| base.with_extension(e))
            .find(|p| p.is_file())
            .ok_or_else(|| DataError::Malformed {
                path: image.to_path_buf(),
                reason: format!(
                    "no target image for it in the targets folder (expected {}.png or .jpg)",
                    base.display()
                ),
            })
    }
}

/// The image at `path`, centre-cropped to a square and resized to `size`.
fn square_resized(path: &Path, size: usize, filter: image::imageops::FilterType) -> Result<image::RgbImage, DataError> {
    let img = image::open(path).map_err(|e| DataError::Malformed {
        path: path.to_path_buf(),
        reason: format!("not a readable PNG or JPEG image: {e}"),
    })?;
    let (w, h) = (img.width(), img.height());
    let side = w.min(h);
    let square = img.crop_imm((w - side) / 2, (h - side) / 2, side, side).to_rgb8();
    Ok(image::imageops::resize(&square, size as u32, size as u32, filter))
}

/// Appends the target at `path` ([channels, size, size]) to `out`.
fn read_target(path: &Path, size: usize, kind: TargetKind, out: &mut Vec<f32>) -> Result<(), DataError> {
    match kind {
        TargetKind::Classes(k) => {
            let map = square_resized(path, size, image::imageops::Nearest)?;
            for p in map.pixels() {
                let class = p.0[0];
                if usize::from(class) >= k {
                    return Err(DataError::Malformed {
                        path: path.to_path_buf(),
                        reason: format!(
                            "label map pixel value {class}: the head has {k} classes, so labels are 0 to {}",
                            k - 1
                        ),
                    });
                }
                out.push(f32::from(class));
            }
        }
        TargetKind::Normals => {
            let map = square_resized(path, size, image::imageops::Triangle)?;
            for c in 0..3 {
                out.extend(map.pixels().map(|p| f32::from(p.0[c]) / 255.0 * 2.0 - 1.0));
            }
        }
        TargetKind::Layout => {
            return Err(DataError::Malformed {
                path: path.to_path_buf(),
                reason: "a room layout is nine numbers per image, not an image: no targets folder for it".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder of two classes with solid-colour images of known pixels.
    fn fixture(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lswag-folder-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (class, name, rgb, (w, h)) in [
            ("cat", "a.png", [255u8, 0, 0], (8, 6)),
            ("cat", "b.jpg", [0, 255, 0], (6, 6)),
            ("dog", "c.png", [0, 0, 255], (4, 10)),
        ] {
            std::fs::create_dir_all(dir.join(class)).unwrap();
            let img = image::RgbImage::from_pixel(w, h, image::Rgb(rgb));
            img.save(dir.join(class).join(name)).unwrap();
        }
        std::fs::write(dir.join("dog").join("notes.txt"), "not an image").unwrap();
        dir
    }

    #[test]
    fn subfolders_are_classes_and_pixels_are_normalised() {
        let dir = fixture("classes");
        let f = ImageFolder::read(&dir).unwrap();
        assert_eq!(f.classes, ["cat", "dog"]);
        assert_eq!(f.len(), 3);
        let b = f.batch(3, Selection::First, 4, 10).unwrap();
        assert_eq!(b.shape, [3, 3, 4, 4]);
        assert_eq!(b.labels, [0, 0, 1]);
        // A solid red PNG: its red plane is (1 - 0.485) / 0.229 everywhere,
        // whatever the crop and resize.
        let red = &b.images[..16];
        assert!(red.iter().all(|&v| (v - (1.0 - 0.485) / 0.229).abs() < 1e-5), "{red:?}");
        // A solid green JPEG: lossy, within a few levels of 255.
        let green = &b.images[48 + 16..48 + 32];
        assert!(
            green.iter().all(|&v| (v - (1.0 - 0.456) / 0.224).abs() < 0.1),
            "{green:?}"
        );
        // The last image is blue in its blue plane (JPEG is lossy, PNG not).
        let blue = &b.images[2 * 48 + 32..3 * 48];
        assert!(blue.iter().all(|&v| (v - (1.0 - 0.406) / 0.225).abs() < 1e-5));
        let r = f.batch(2, Selection::Random(1), 4, 10).unwrap();
        assert_eq!(r.shape, [2, 3, 4, 4]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_folders_name_the_problem() {
        let dir = fixture("bad");
        let f = ImageFolder::read(&dir).unwrap();
        let e = f.batch(4, Selection::First, 4, 10).err().unwrap().to_string();
        assert!(e.contains("4 images requested but the source has 3"), "{e}");
        let e = f.batch(2, Selection::First, 4, 1).err().unwrap().to_string();
        assert!(e.contains("2 classes") && e.contains("head has 1"), "{e}");
        std::fs::write(dir.join("cat").join("z.png"), b"not a png").unwrap();
        let f = ImageFolder::read(&dir).unwrap();
        let e = f.batch(3, Selection::First, 4, 10).err().unwrap().to_string();
        assert!(e.contains("z.png") && e.contains("not a readable PNG or JPEG"), "{e}");
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let e = ImageFolder::read(&empty).err().unwrap().to_string();
        assert!(e.contains("no .png, .jpg or .jpeg images"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Label maps and normal maps in a parallel folder: nearest-neighbour
    /// labels (a 2 x 2 map of classes 0, 1 / 2, 3 read at 4 x 4 is each
    /// class on a 2 x 2 block), normals mapped from 0..=255 to [-1, 1].
    #[test]
    fn target_images_follow_their_images() {
        let dir = fixture("targets");
        let f = ImageFolder::read(&dir).unwrap();
        let targets = dir.with_extension("targets");
        let _ = std::fs::remove_dir_all(&targets);
        for (class, name) in [("cat", "a.png"), ("cat", "b.png"), ("dog", "c.png")] {
            std::fs::create_dir_all(targets.join(class)).unwrap();
            let map = image::GrayImage::from_fn(2, 2, |x, y| image::Luma([(2 * y + x) as u8]));
            map.save(targets.join(class).join(name)).unwrap();
        }
        let b = f
            .batch_with_targets(3, Selection::First, 4, 17, Some((&targets, TargetKind::Classes(17))))
            .unwrap();
        let t = b.targets.as_ref().unwrap();
        assert_eq!((t.kind, t.values.len()), (TargetKind::Classes(17), 3 * 16));
        let first: Vec<f32> = t.values[..16].to_vec();
        #[rustfmt::skip]
        assert_eq!(first, [0., 0., 1., 1., 0., 0., 1., 1., 2., 2., 3., 3., 2., 2., 3., 3.]);
        assert!(
            b.source.contains("targets:") && b.source.contains("label maps, 17 classes"),
            "{}",
            b.source
        );
        // Three classes are too many for labels 0..=2 only where a pixel says 3.
        let e = f
            .batch_with_targets(1, Selection::First, 4, 17, Some((&targets, TargetKind::Classes(3))))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("a.png") && e.contains("pixel value 3") && e.contains("0 to 2"),
            "{e}"
        );
        // Normal maps: RGB (255, 0, 128) is (1, -1, 0.0039).
        let rgb = image::RgbImage::from_pixel(3, 3, image::Rgb([255, 0, 128]));
        rgb.save(targets.join("cat").join("a.png")).unwrap();
        let b = f
            .batch_with_targets(1, Selection::First, 4, 17, Some((&targets, TargetKind::Normals)))
            .unwrap();
        let t = b.targets.unwrap();
        assert_eq!((t.kind, t.values.len()), (TargetKind::Normals, 48));
        assert!(t.values[..16].iter().all(|&v| v == 1.0) && t.values[16..32].iter().all(|&v| v == -1.0));
        assert!(
            t.values[32..]
                .iter()
                .all(|&v| (v - (128.0 / 255.0 * 2.0 - 1.0)).abs() < 1e-6)
        );
        // A missing target names the image and where its target was looked for.
        std::fs::remove_file(targets.join("cat").join("b.png")).unwrap();
        let e = f
            .batch_with_targets(2, Selection::First, 4, 17, Some((&targets, TargetKind::Normals)))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("b.jpg") && e.contains("no target image") && e.contains("cat/b.png"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(&targets).unwrap();
    }
}
