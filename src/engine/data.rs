//! Input batches: CIFAR-10 binary files, the procedural dataset, Gaussian
//! noise. Images are kept on the host as NCHW f32 so every backend sees the
//! same numbers.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::{Rng, SeedableRng, seq::index::sample};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::procedural;

/// CIFAR-10 channel means and standard deviations (the usual normalisation).
pub const CIFAR10_MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
pub const CIFAR10_STD: [f32; 3] = [0.2470, 0.2435, 0.2616];
const CIFAR_RECORD: usize = 1 + 3 * 32 * 32;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error(
        "data source `{0}`: expected `cifar10:PATH`, `folder:DIR`, `folder:DIR,targets:DIR`, `procedural[:SEED[:SIZE]]` or `gaussian`"
    )]
    UnknownSource(String),
    #[error("data source `{data}`: {reason}")]
    Unsuitable { data: String, reason: String },
    #[error("batch of {got} images requested but the source has {available}")]
    TooFew { got: usize, available: usize },
    #[error("image batch has shape {got:?}, expected {expected}")]
    Shape { got: Vec<usize>, expected: String },
}

/// Where the probe's images come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DataSource {
    /// A CIFAR-10 binary file (label byte + 3072 bytes per image).
    Cifar10(PathBuf),
    /// Standard normal pixels with uniformly random labels.
    Gaussian,
    /// The procedural shapes-and-textures dataset (`engine::procedural`),
    /// `size` x `size` RGB images generated from `seed`.
    Procedural { seed: u64, size: usize },
    /// A folder of PNG/JPEG images, one class per subfolder
    /// (`engine::folder`), read at the network's image size.
    Folder(PathBuf),
    /// An image folder and a parallel folder of per-pixel targets (the same
    /// relative paths, any of the image extensions): label maps or normal
    /// maps for TransNAS-Bench-101's pixel tasks (`folder:DIR,targets:DIR`).
    FolderTargets { images: PathBuf, targets: PathBuf },
}

impl FromStr for DataSource {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "gaussian" {
            Ok(DataSource::Gaussian)
        } else if let Some(path) = s.strip_prefix("cifar10:") {
            Ok(DataSource::Cifar10(PathBuf::from(path)))
        } else if let Some(path) = s.strip_prefix("folder:") {
            Ok(match path.split_once(",targets:") {
                Some((images, targets)) => DataSource::FolderTargets {
                    images: PathBuf::from(images),
                    targets: PathBuf::from(targets),
                },
                None => DataSource::Folder(PathBuf::from(path)),
            })
        } else if s == "procedural" || s.starts_with("procedural:") {
            let mut parts = s.split(':').skip(1);
            let bad = || DataError::UnknownSource(s.to_string());
            let seed = parts.next().map_or(Ok(0), |p| p.parse().map_err(|_| bad()))?;
            let size = parts
                .next()
                .map_or(Ok(procedural::DEFAULT_SIZE), |p| p.parse().map_err(|_| bad()))?;
            if parts.next().is_some() {
                return Err(bad());
            }
            // Two stride-2 reductions need at least 4 x 4 pixels.
            if !(4..=256).contains(&size) {
                return Err(DataError::Unsuitable {
                    data: s.to_string(),
                    reason: format!("image size {size} is outside 4..=256"),
                });
            }
            Ok(DataSource::Procedural { seed, size })
        } else {
            Err(DataError::UnknownSource(s.to_string()))
        }
    }
}

impl DataSource {
    /// The same source with its path made absolute and resolved (when the
    /// file exists), so that one file named two ways compares equal.
    pub fn canonical(&self) -> DataSource {
        let resolve = |p: &PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        match self {
            DataSource::Cifar10(p) => DataSource::Cifar10(resolve(p)),
            DataSource::Folder(p) => DataSource::Folder(resolve(p)),
            DataSource::FolderTargets { images, targets } => DataSource::FolderTargets {
                images: resolve(images),
                targets: resolve(targets),
            },
            other => other.clone(),
        }
    }
}

impl std::fmt::Display for DataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataSource::Cifar10(p) => write!(f, "cifar10:{}", p.display()),
            DataSource::Gaussian => write!(f, "gaussian"),
            DataSource::Procedural { seed, size } => write!(f, "procedural:{seed}:{size}"),
            DataSource::Folder(p) => write!(f, "folder:{}", p.display()),
            DataSource::FolderTargets { images, targets } => {
                write!(f, "folder:{},targets:{}", images.display(), targets.display())
            }
        }
    }
}

/// Which images of a file form the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selection {
    First,
    /// A seeded random subset (without replacement), in sampled order.
    Random(u64),
}

/// A batch of images and labels, NCHW, already normalised.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub images: Vec<f32>,
    pub labels: Vec<usize>,
    /// [S, C, H, W]
    pub shape: [usize; 4],
    pub num_classes: usize,
    /// Human-readable description for provenance.
    pub source: String,
    /// The task targets of the images, where the data has them (target
    /// images, the procedural scene's own).
    pub targets: Option<Targets>,
}

/// Task targets of a batch, sample-major: per sample
/// [`TargetKind::per_sample`] values at the images' side.
#[derive(Clone, Debug, PartialEq)]
pub struct Targets {
    pub kind: TargetKind,
    pub values: Vec<f32>,
}

/// What a task's targets are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// A class per pixel, below `classes` ([1, H, W]; a label map's pixel
    /// value, resized by nearest neighbour).
    Classes(usize),
    /// A unit normal per pixel in [-1, 1] ([3, H, W]; a normal map's RGB in
    /// 0..=255 as `v / 255 * 2 - 1`, resized bilinearly).
    Normals,
    /// Nine numbers per image (TransNAS-Bench-101's room layout).
    Layout,
}

impl TargetKind {
    /// Values per sample at an `h` x `w` image side.
    pub fn per_sample(self, h: usize, w: usize) -> usize {
        match self {
            TargetKind::Classes(_) => h * w,
            TargetKind::Normals => 3 * h * w,
            TargetKind::Layout => 9,
        }
    }

    pub fn describe(self) -> String {
        match self {
            TargetKind::Classes(k) => format!("label maps, {k} classes"),
            TargetKind::Normals => "normal maps".into(),
            TargetKind::Layout => "9-value layouts".into(),
        }
    }
}

impl Batch {
    pub fn len(&self) -> usize {
        self.shape[0]
    }

    pub fn is_empty(&self) -> bool {
        self.shape[0] == 0
    }

    /// Checks that the batch fits a network expecting `[C, H, W]` inputs.
    pub fn check_shape(&self, chw: [usize; 3]) -> Result<(), DataError> {
        if self.shape[1..] != chw || self.images.len() != self.shape.iter().product::<usize>() {
            return Err(DataError::Shape {
                got: self.shape.to_vec(),
                expected: format!("[S, {}, {}, {}]", chw[0], chw[1], chw[2]),
            });
        }
        if self.shape[0] == 0 || self.shape[0] > 64 {
            return Err(DataError::Shape {
                got: self.shape.to_vec(),
                expected: "1..=64 images (activation patterns are 64-bit)".to_string(),
            });
        }
        Ok(())
    }

    /// All-ones input of one image (synflow's data-free input).
    pub fn ones(chw: [usize; 3]) -> Batch {
        Batch {
            images: vec![1.0; chw.iter().product()],
            labels: vec![0],
            shape: [1, chw[0], chw[1], chw[2]],
            num_classes: 1,
            source: "ones".into(),
            targets: None,
        }
    }

    /// The images at `indices`, in that order (a training mini-batch).
    pub fn select(&self, indices: &[usize]) -> Batch {
        let per = self.shape[1..].iter().product::<usize>();
        let mut images = Vec::with_capacity(indices.len() * per);
        for &i in indices {
            images.extend_from_slice(&self.images[i * per..(i + 1) * per]);
        }
        Batch {
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            shape: [indices.len(), self.shape[1], self.shape[2], self.shape[3]],
            num_classes: self.num_classes,
            source: self.source.clone(),
            targets: self.targets.as_ref().map(|t| {
                let per = t.kind.per_sample(self.shape[2], self.shape[3]);
                Targets {
                    kind: t.kind,
                    values: indices
                        .iter()
                        .flat_map(|&i| t.values[i * per..(i + 1) * per].iter().copied())
                        .collect(),
                }
            }),
        }
    }

    /// Sum and absolute sum of the pixels, to compare with a reference.
    pub fn checksums(&self) -> (f64, f64) {
        self.images
            .iter()
            .fold((0.0, 0.0), |(s, a), &v| (s + v as f64, a + (v as f64).abs()))
    }
}

/// Raw CIFAR-10 records: (label, 3072 bytes RGB planes).
pub struct Cifar10File {
    pub path: PathBuf,
    pub labels: Vec<u8>,
    pub pixels: Vec<u8>,
}

impl Cifar10File {
    pub fn read(path: &Path) -> Result<Cifar10File, DataError> {
        let bytes = std::fs::read(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Cifar10File::parse(path, &bytes)
    }

    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Cifar10File, DataError> {
        let malformed = |reason: String| DataError::Malformed {
            path: path.to_path_buf(),
            reason,
        };
        if bytes.is_empty() || !bytes.len().is_multiple_of(CIFAR_RECORD) {
            return Err(malformed(format!(
                "size {} bytes is not a positive multiple of {CIFAR_RECORD} (1 label byte + 3072 pixel bytes)",
                bytes.len()
            )));
        }
        let n = bytes.len() / CIFAR_RECORD;
        let mut labels = Vec::with_capacity(n);
        let mut pixels = Vec::with_capacity(n * (CIFAR_RECORD - 1));
        for (i, rec) in bytes.chunks_exact(CIFAR_RECORD).enumerate() {
            if rec[0] >= 10 {
                return Err(malformed(format!("record {i} has label {} (expected 0..9)", rec[0])));
            }
            labels.push(rec[0]);
            pixels.extend_from_slice(&rec[1..]);
        }
        Ok(Cifar10File {
            path: path.to_path_buf(),
            labels,
            pixels,
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Record indices of a batch of `count` images.
    pub fn indices(&self, count: usize, selection: Selection) -> Result<Vec<usize>, DataError> {
        if count > self.len() {
            return Err(DataError::TooFew {
                got: count,
                available: self.len(),
            });
        }
        Ok(match selection {
            Selection::First => (0..count).collect(),
            Selection::Random(seed) => sample(&mut ChaCha8Rng::seed_from_u64(seed), self.len(), count).into_vec(),
        })
    }

    /// The normalised batch of the given records.
    pub fn batch(&self, indices: &[usize]) -> Batch {
        let plane = 32 * 32;
        let mut images = Vec::with_capacity(indices.len() * 3 * plane);
        for &i in indices {
            let rec = &self.pixels[i * 3 * plane..(i + 1) * 3 * plane];
            for c in 0..3 {
                images.extend(
                    rec[c * plane..(c + 1) * plane]
                        .iter()
                        .map(|&b| (b as f32 / 255.0 - CIFAR10_MEAN[c]) / CIFAR10_STD[c]),
                );
            }
        }
        Batch {
            images,
            labels: indices.iter().map(|&i| self.labels[i] as usize).collect(),
            shape: [indices.len(), 3, 32, 32],
            num_classes: 10,
            source: format!("cifar10:{} records {:?}", self.path.display(), summarize(indices)),
            targets: None,
        }
    }
}

fn summarize(indices: &[usize]) -> String {
    if indices.iter().enumerate().all(|(i, &v)| i == v) {
        format!("0..{}", indices.len())
    } else {
        format!("{indices:?}")
    }
}

/// Standard normal pixels and uniform labels, seeded.
pub fn gaussian_batch(count: usize, chw: [usize; 3], num_classes: usize, seed: u64) -> Batch {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = count * chw.iter().product::<usize>();
    let images = (0..n).map(|_| standard_normal(&mut rng)).collect();
    let labels = (0..count).map(|_| rng.random_range(0..num_classes)).collect();
    Batch {
        images,
        labels,
        shape: [count, chw[0], chw[1], chw[2]],
        num_classes,
        source: format!("gaussian seed {seed}"),
        targets: None,
    }
}

/// Box-Muller; keeps the stream identical across platforms and crate versions.
pub fn standard_normal(rng: &mut impl Rng) -> f32 {
    loop {
        let u1: f64 = rng.random();
        let u2: f64 = rng.random();
        if u1 > 1e-300 {
            return ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32;
        }
    }
}

/// Loads the batch a data source describes.
pub fn load_batch(
    source: &DataSource,
    count: usize,
    selection: Selection,
    num_classes: usize,
) -> Result<Batch, DataError> {
    match source {
        DataSource::Cifar10(path) => {
            let file = Cifar10File::read(path)?;
            let idx = file.indices(count, selection)?;
            Ok(file.batch(&idx))
        }
        DataSource::Gaussian => {
            let seed = match selection {
                Selection::First => 0,
                Selection::Random(s) => s,
            };
            Ok(gaussian_batch(count, [3, 32, 32], num_classes, seed))
        }
        DataSource::Procedural { seed, size } => {
            Ok(procedural::batch(*seed, *size, &procedural_indices(count, selection)))
        }
        // At CIFAR's side here; the probe's `config_batch` reads a folder
        // straight at the network's side.
        DataSource::Folder(path) => super::folder::ImageFolder::read(path)?.batch(count, selection, 32, num_classes),
        // Targets belong to a task: the probe's `config_batch` reads them with the kind its
        // network's task takes.
        DataSource::FolderTargets { .. } => Err(DataError::Unsuitable {
            data: source.to_string(),
            reason: "target images are read for a network's task, by a score run or a search".into(),
        }),
    }
}

/// The procedural images of a probe batch: from the training range (indices
/// below `PROCEDURAL_VAL_START`), like a CIFAR-10 batch from its file.
pub fn procedural_indices(count: usize, selection: Selection) -> Vec<u64> {
    match selection {
        Selection::First => (0..count as u64).collect(),
        Selection::Random(s) => sample(&mut ChaCha8Rng::seed_from_u64(s), PROCEDURAL_POOL, count)
            .into_iter()
            .map(|i| i as u64)
            .collect(),
    }
}

/// First index of the procedural validation images: training images are
/// `0..train`, validation images `PROCEDURAL_VAL_START..`, so the two never
/// overlap whatever the sizes.
pub const PROCEDURAL_VAL_START: u64 = 1 << 40;
/// Indices a random procedural probe batch is drawn from.
const PROCEDURAL_POOL: usize = 50_000;

/// A training set and a validation set from a source: procedural images
/// from two disjoint index ranges; a CIFAR-10 file's first `train` records
/// and its last `val` records (they must not overlap).
pub fn load_split(source: &DataSource, train: usize, val: usize) -> Result<(Batch, Batch), DataError> {
    match source {
        DataSource::Procedural { seed, size } => {
            let tr: Vec<u64> = (0..train as u64).collect();
            let va: Vec<u64> = (PROCEDURAL_VAL_START..PROCEDURAL_VAL_START + val as u64).collect();
            Ok((
                procedural::batch(*seed, *size, &tr),
                procedural::batch(*seed, *size, &va),
            ))
        }
        DataSource::Cifar10(path) => {
            let file = Cifar10File::read(path)?;
            if train + val > file.len() {
                return Err(DataError::Unsuitable {
                    data: source.to_string(),
                    reason: format!(
                        "{train} training + {val} validation images requested but {} holds {}",
                        path.display(),
                        file.len()
                    ),
                });
            }
            let tr: Vec<usize> = (0..train).collect();
            let va: Vec<usize> = (file.len() - val..file.len()).collect();
            Ok((file.batch(&tr), file.batch(&va)))
        }
        DataSource::Gaussian => Err(DataError::Unsuitable {
            data: source.to_string(),
            reason: "Gaussian noise has random labels, there is nothing to learn; use procedural or cifar10:PATH"
                .to_string(),
        }),
        DataSource::Folder(_) | DataSource::FolderTargets { .. } => Err(DataError::Unsuitable {
            data: source.to_string(),
            reason: "an image folder is a probe batch, with no training and validation split; \
                     use procedural or cifar10:PATH"
                .to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_sizes_and_labels_name_the_file_and_the_problem() {
        let p = Path::new("x.bin");
        let e = Cifar10File::parse(p, &[0u8; 100]).err().unwrap().to_string();
        assert!(e.contains("x.bin") && e.contains("3073"), "{e}");
        let mut rec = vec![0u8; 2 * CIFAR_RECORD];
        rec[CIFAR_RECORD] = 11;
        let e = Cifar10File::parse(p, &rec).err().unwrap().to_string();
        assert!(e.contains("record 1") && e.contains("label 11"), "{e}");
    }

    #[test]
    fn normalisation_uses_the_cifar_constants() {
        let mut rec = vec![0u8; CIFAR_RECORD];
        rec[0] = 3;
        rec[1] = 255; // first red pixel
        rec[1 + 1024] = 0; // first green pixel
        let f = Cifar10File::parse(Path::new("t"), &rec).unwrap();
        let b = f.batch(&[0]);
        assert_eq!(b.labels, vec![3]);
        assert!((b.images[0] - (1.0 - 0.4914) / 0.2470).abs() < 1e-6);
        assert!((b.images[1024] - (0.0 - 0.4822) / 0.2435).abs() < 1e-6);
    }

    #[test]
    fn procedural_sources_parse_and_print_back() {
        let p: DataSource = "procedural".parse().unwrap();
        assert_eq!(p, DataSource::Procedural { seed: 0, size: 32 });
        let p: DataSource = "procedural:7:16".parse().unwrap();
        assert_eq!(p, DataSource::Procedural { seed: 7, size: 16 });
        assert_eq!(p.to_string().parse::<DataSource>().unwrap(), p);
        assert!("procedural:x".parse::<DataSource>().is_err());
        let e = "procedural:1:2".parse::<DataSource>().unwrap_err().to_string();
        assert!(e.contains("size 2"), "{e}");
    }

    #[test]
    fn procedural_split_is_disjoint_and_batches_select() {
        let src = DataSource::Procedural { seed: 1, size: 8 };
        let (tr, va) = load_split(&src, 20, 10).unwrap();
        assert_eq!((tr.len(), va.len()), (20, 10));
        assert_eq!(tr.labels[..3], [0, 1, 2]);
        // 2^40 % 10 = 6: the validation range starts at label 6.
        assert_eq!(va.labels[0], 6);
        let b = tr.select(&[3, 1]);
        assert_eq!(b.labels, vec![3, 1]);
        assert_eq!(&b.images[..192], &tr.images[3 * 192..4 * 192]);
        let probe = load_batch(&src, 5, Selection::First, 10).unwrap();
        assert_eq!(&probe.images[..], &tr.images[..5 * 192]);
        assert!(load_split(&DataSource::Gaussian, 2, 2).is_err());
    }

    #[test]
    fn wrong_batch_shape_is_an_error() {
        let b = gaussian_batch(4, [3, 16, 16], 10, 1);
        assert!(b.check_shape([3, 16, 16]).is_ok());
        let e = b.check_shape([3, 32, 32]).err().unwrap().to_string();
        assert!(e.contains("[4, 3, 16, 16]") && e.contains("[S, 3, 32, 32]"), "{e}");
    }
}
