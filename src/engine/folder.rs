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

use super::data::{Batch, DataError, Selection};

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
        for &i in &indices {
            let path = &self.files[i].0;
            let img = image::open(path).map_err(|e| DataError::Malformed {
                path: path.clone(),
                reason: format!("not a readable PNG or JPEG image: {e}"),
            })?;
            let (w, h) = (img.width(), img.height());
            let side = w.min(h);
            let square = img.crop_imm((w - side) / 2, (h - side) / 2, side, side).to_rgb8();
            let resized = image::imageops::resize(&square, size as u32, size as u32, image::imageops::Triangle);
            for c in 0..3 {
                images.extend(
                    resized
                        .pixels()
                        .map(|p| (p.0[c] as f32 / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]),
                );
            }
        }
        Ok(Batch {
            images,
            labels: indices.iter().map(|&i| self.files[i].1).collect(),
            shape: [count, 3, size, size],
            num_classes,
            source: format!(
                "folder:{} ({} images, {} classes), {count} {}, centre-cropped and resized to {size}x{size}",
                self.path.display(),
                self.len(),
                self.class_count(),
                match selection {
                    Selection::First => "first".to_string(),
                    Selection::Random(s) => format!("drawn with seed {s}"),
                }
            ),
        })
    }
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
}
