//! Host-side parameters in forward execution order: seeded initialisation
//! and import of weights trained or initialised elsewhere (safetensors).

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::data::standard_normal;

/// What a parameter is, which decides its initialisation and whether it is
/// a "weight layer" of SPEC.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamRole {
    ConvWeight,
    LinearWeight,
    Bias,
    NormWeight,
    NormBias,
    /// Class token or position embedding.
    Embedding,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParamEntry {
    pub name: String,
    pub shape: Vec<usize>,
    pub role: ParamRole,
    pub data: Vec<f32>,
    /// How the benchmark's own builder initialises this weight under
    /// [`InitScheme::Source`], where it has code for it (`None`: PyTorch's
    /// default, what a module without such code gets).
    pub source_init: Option<SourceInit>,
}

/// A weight rule of a benchmark's own builder (see [`InitScheme::Source`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceInit {
    /// `kaiming_normal_(mode='fan_out', nonlinearity='relu')`: N(0, 2 / fan_out).
    KaimingNormalFanOut,
}

impl ParamEntry {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Weight initialisation scheme for conv and linear weights; norms start at
/// (1, 0) and biases at 0 under every scheme.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum InitScheme {
    /// N(0, 2 / fan_in) (He et al., ReLU gain, fan-in mode).
    #[default]
    KaimingNormal,
    /// N(0, 2 / (fan_in + fan_out)) (Glorot).
    XavierNormal,
    /// N(0, 1), as Zen-NAS initialises.
    Gaussian,
    /// PyTorch's default for Conv2d and Linear (kaiming_uniform with
    /// a = sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and for
    /// the bias that follows a weight; what NAS-Bench-Suite-Zero's networks
    /// (and the golden case) were initialised with.
    TorchDefault,
    /// As the benchmark's own model builder initialises, for spaces that
    /// record it (`NetSettings::source_init`): TransNAS-Bench-101's encoder
    /// convolutions kaiming-normal in fan-out mode, its decoders and heads
    /// PyTorch's default (the builder has no init code for them).
    Source,
}

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error(
        "{path}: tensor {index} `{name}` has shape {got:?}, the network expects `{expected_name}` with {expected:?}"
    )]
    Shape {
        path: PathBuf,
        index: usize,
        name: String,
        got: Vec<usize>,
        expected_name: String,
        expected: Vec<usize>,
    },
}

/// Fills with U(-bound, bound).
fn uniform_fill(data: &mut [f32], bound: f64, rng: &mut impl rand::Rng) {
    for v in data {
        *v = ((2.0 * rng.random::<f64>() - 1.0) * bound) as f32;
    }
}

/// All parameters of a network, in forward execution order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParamStore {
    pub entries: Vec<ParamEntry>,
}

impl ParamStore {
    pub fn push(&mut self, name: impl Into<String>, shape: Vec<usize>, role: ParamRole) -> usize {
        let numel = shape.iter().product();
        let (name, fill) = (name.into(), if role == ParamRole::NormWeight { 1.0 } else { 0.0 });
        self.entries.push(ParamEntry {
            name,
            shape,
            role,
            data: vec![fill; numel],
            source_init: None,
        });
        self.entries.len() - 1
    }

    /// [`Self::push`] for a weight the benchmark's builder initialises by
    /// `rule` (used under [`InitScheme::Source`]).
    pub fn push_source(
        &mut self,
        name: impl Into<String>,
        shape: Vec<usize>,
        role: ParamRole,
        rule: SourceInit,
    ) -> usize {
        let i = self.push(name, shape, role);
        self.entries[i].source_init = Some(rule);
        i
    }

    pub fn num_params(&self) -> usize {
        self.entries.iter().map(ParamEntry::numel).sum()
    }

    /// Initialises every weight from one seed, in execution order, so the
    /// result does not depend on the backend or on threads.
    pub fn init(&mut self, scheme: InitScheme, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Fan-in of the last weight, for PyTorch's bias bound.
        let mut last_fan_in = 1usize;
        for e in &mut self.entries {
            let std = match e.role {
                ParamRole::ConvWeight | ParamRole::LinearWeight => {
                    let fan_in: usize = e.shape[1..].iter().product();
                    let fan_out = e.shape[0] * e.shape[2..].iter().product::<usize>();
                    last_fan_in = fan_in;
                    match (scheme, e.source_init) {
                        (InitScheme::KaimingNormal, _) => (2.0 / fan_in as f64).sqrt(),
                        (InitScheme::XavierNormal, _) => (2.0 / (fan_in + fan_out) as f64).sqrt(),
                        (InitScheme::Gaussian, _) => 1.0,
                        (InitScheme::Source, Some(SourceInit::KaimingNormalFanOut)) => (2.0 / fan_out as f64).sqrt(),
                        // PyTorch's fan-in is dim 1 times the kernel: for a transposed
                        // convolution ([in, out, k, k]) that is out * k * k, as here.
                        (InitScheme::TorchDefault | InitScheme::Source, _) => {
                            uniform_fill(&mut e.data, 1.0 / (fan_in as f64).sqrt(), &mut rng);
                            continue;
                        }
                    }
                }
                ParamRole::Bias if matches!(scheme, InitScheme::TorchDefault | InitScheme::Source) => {
                    uniform_fill(&mut e.data, 1.0 / (last_fan_in as f64).sqrt(), &mut rng);
                    continue;
                }
                ParamRole::Embedding => 0.02,
                ParamRole::NormWeight => {
                    e.data.fill(1.0);
                    continue;
                }
                ParamRole::Bias | ParamRole::NormBias => {
                    e.data.fill(0.0);
                    continue;
                }
            };
            for v in &mut e.data {
                *v = standard_normal(&mut rng) * std as f32;
            }
        }
    }

    /// Loads fp32 tensors from a safetensors file, matched to this network's
    /// parameters by position after sorting the file's names (our exporter
    /// and the golden files prefix names with the execution index `NNN.`).
    // The error is large (a shape mismatch names both tensors) but comes once per file.
    #[allow(clippy::result_large_err)]
    pub fn load_safetensors(&mut self, path: &Path) -> Result<(), WeightsError> {
        let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let tensors = parse_safetensors(path, &bytes)?;
        if tensors.len() != self.entries.len() {
            return Err(WeightsError::Format {
                path: path.to_path_buf(),
                reason: format!(
                    "{} tensors, the network has {} parameters",
                    tensors.len(),
                    self.entries.len()
                ),
            });
        }
        for (index, ((name, shape, data), entry)) in tensors.into_iter().zip(&mut self.entries).enumerate() {
            if shape != entry.shape {
                return Err(WeightsError::Shape {
                    path: path.to_path_buf(),
                    index,
                    name,
                    got: shape,
                    expected_name: entry.name.clone(),
                    expected: entry.shape.clone(),
                });
            }
            entry.data = data;
        }
        Ok(())
    }
}

type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// Minimal safetensors reader for F32 tensors, sorted by name.
#[allow(clippy::result_large_err)]
fn parse_safetensors(path: &Path, bytes: &[u8]) -> Result<Vec<NamedTensor>, WeightsError> {
    let err = |reason: String| WeightsError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let header_len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()) as usize)
        .ok_or_else(|| err("shorter than the 8-byte header length".into()))?;
    let header = bytes
        .get(8..8usize.saturating_add(header_len))
        .ok_or_else(|| err(format!("header of {header_len} bytes runs past the end of the file")))?;
    let data = &bytes[8 + header_len..];
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| err(format!("header is not a JSON object: {e}")))?;
    let mut out = Vec::new();
    for (name, info) in header {
        if name == "__metadata__" {
            continue;
        }
        let dtype = info.get("dtype").and_then(|d| d.as_str()).unwrap_or("");
        if dtype != "F32" {
            return Err(err(format!(
                "tensor `{name}` has dtype `{dtype}`, only F32 is supported"
            )));
        }
        let shape: Vec<usize> = info
            .get("shape")
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .ok_or_else(|| err(format!("tensor `{name}` lacks a valid `shape`")))?;
        let offsets: [usize; 2] = info
            .get("data_offsets")
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .ok_or_else(|| err(format!("tensor `{name}` lacks valid `data_offsets`")))?;
        let numel: usize = shape.iter().product();
        let raw = data
            .get(offsets[0]..offsets[1])
            .filter(|r| r.len() == numel * 4)
            .ok_or_else(|| {
                err(format!(
                    "tensor `{name}`: offsets {offsets:?} do not hold {numel} f32 values"
                ))
            })?;
        let values = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.push((name, shape, values));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// A stable 64-bit seed for (run seed, architecture key): FNV-1a, so scores
/// never depend on order, shard, resume or the Rust version's hasher.
pub fn arch_seed(seed: u64, key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for b in key.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kaiming_init_has_the_expected_spread() {
        let mut store = ParamStore::default();
        store.push("w", vec![64, 32, 3, 3], ParamRole::ConvWeight);
        store.push("g", vec![64], ParamRole::NormWeight);
        store.init(InitScheme::KaimingNormal, 7);
        let w = &store.entries[0].data;
        let var = w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / w.len() as f64;
        // 2 / fan_in = 2 / 288; 18432 samples give a relative error of ~1%.
        assert!((var / (2.0 / 288.0) - 1.0).abs() < 0.05, "{var}");
        assert!(store.entries[1].data.iter().all(|&g| g == 1.0));
    }

    #[test]
    fn torch_default_init_is_uniform_with_pytorch_bounds() {
        let mut store = ParamStore::default();
        store.push("w", vec![64, 32, 3, 3], ParamRole::ConvWeight);
        store.push("fc", vec![10, 64], ParamRole::LinearWeight);
        store.push("b", vec![10], ParamRole::Bias);
        store.init(InitScheme::TorchDefault, 7);
        // U(-1/sqrt(288), 1/sqrt(288)): within the bound, variance bound^2 / 3.
        let (w, bound) = (&store.entries[0].data, 1.0 / 288f64.sqrt());
        assert!(w.iter().all(|v| (*v as f64).abs() <= bound));
        let var = w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / w.len() as f64;
        assert!((var / (bound * bound / 3.0) - 1.0).abs() < 0.05, "{var}");
        // The bias follows its linear layer: bound 1/sqrt(64) = 1/8.
        let b = &store.entries[2].data;
        assert!(b.iter().all(|v| v.abs() <= 0.125) && b.iter().any(|v| *v != 0.0));
    }

    #[test]
    fn arch_seed_depends_on_both_inputs() {
        assert_ne!(arch_seed(0, "a"), arch_seed(1, "a"));
        assert_ne!(arch_seed(0, "a"), arch_seed(0, "b"));
        assert_eq!(arch_seed(5, "abc"), arch_seed(5, "abc"));
    }

    #[test]
    fn truncated_safetensors_is_a_clear_error() {
        let mut store = ParamStore::default();
        let e = store
            .load_safetensors(Path::new("/nonexistent/w.safetensors"))
            .err()
            .unwrap();
        assert!(e.to_string().contains("/nonexistent/w.safetensors"));
        let e = parse_safetensors(Path::new("w.st"), &[200, 0, 0, 0, 0, 0, 0, 0, b'{'])
            .err()
            .unwrap();
        assert!(e.to_string().contains("runs past the end"), "{e}");
    }
}
