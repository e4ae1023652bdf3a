//! Search spaces. Each space lives in its own folder and implements
//! [`ArchSpace`]: its archive key (exactly the key form of that space's
//! NAS-Bench-Suite-Zero file), sampling, mutation and crossover, the
//! parameter count without building a network, the network settings it
//! takes, and the network on the engine's executor.
//!
//! [`Space`] names every space the studio knows; [`NetConfig`] is a space
//! with its network settings, and [`NetConfig::with`] is the one dispatch
//! from a space to its typed implementation. Nothing above this layer
//! compares space names.

use std::collections::HashSet;
use std::fmt::{self, Display};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::engine::params::ParamStore;
use crate::engine::probe::Network;

pub mod autoformer;
pub mod nb101;
pub mod nb201;

pub use autoformer::{AutoformerConfig, AutoformerSpace};
pub use nb101::{Nb101Config, Nb101Space};
pub use nb201::{Nb201Config, Nb201Space};

/// One search space: what a search, a score run and the app do with its
/// architectures. A value carries its network settings.
pub trait ArchSpace: Sync {
    type Arch: Clone + PartialEq + Display + Send + Sync;

    /// The network settings this value carries.
    fn config(&self) -> NetConfig;
    /// Parses an archive key (any spelling the space's benchmark files use).
    fn parse(&self, key: &str) -> Result<Self::Arch, String>;
    /// A uniformly drawn architecture (valid by construction).
    fn sample(&self, rng: &mut ChaCha8Rng) -> Self::Arch;
    /// `m_prob`: per ordinary gene; `s_prob`: per structural gene (depth,
    /// width), for spaces that have them.
    fn mutate(&self, arch: &Self::Arch, m_prob: f64, s_prob: f64, rng: &mut ChaCha8Rng) -> Self::Arch;
    fn cross(&self, a: &Self::Arch, b: &Self::Arch, rng: &mut ChaCha8Rng) -> Self::Arch;
    /// Parameters of the network, counted from the encoding.
    fn params(&self, arch: &Self::Arch) -> u64;
    /// The network and its (zero-initialised) parameters in execution order.
    fn build(&self, arch: &Self::Arch) -> (Box<dyn Network>, ParamStore);

    /// `n` distinct architectures drawn with `seed` whose parameter count
    /// lies in `limits`, in drawn order. The default draws with
    /// [`Self::sample`] and gives up after `100 x n + 100_000` draws.
    fn sample_distinct(&self, n: usize, seed: u64, limits: Option<(u64, u64)>) -> Result<Vec<Self::Arch>, String> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(n);
        let budget = 100 * n + 100_000;
        for _ in 0..budget {
            if out.len() == n {
                break;
            }
            let a = self.sample(&mut rng);
            if limits.is_some_and(|(lo, hi)| !(lo..=hi).contains(&self.params(&a))) {
                continue;
            }
            if seen.insert(a.to_string()) {
                out.push(a);
            }
        }
        if out.len() < n {
            return Err(format!(
                "{} space: found only {} distinct architectures{} in {budget} draws, {n} asked for",
                self.config().space(),
                out.len(),
                limits.map_or(String::new(), |(lo, hi)| format!(" with {lo}..={hi} parameters"))
            ));
        }
        Ok(out)
    }
}

/// A typed operation over whichever space a [`NetConfig`] names.
pub trait WithSpace {
    type Out;
    fn run<S: ArchSpace>(self, space: &S) -> Self::Out;
}

/// A space the studio can build networks of, with its network settings.
/// Serialised with a `space` tag: `{"space": "nb201", "channels": 16, ...}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "space", rename_all = "kebab-case")]
pub enum NetConfig {
    Nb201(Nb201Config),
    Autoformer(AutoformerConfig),
    Nb101(Nb101Config),
}

impl NetConfig {
    /// The space's typed implementation, handed to `f`: the one dispatch.
    pub fn with<F: WithSpace>(&self, f: F) -> F::Out {
        match *self {
            NetConfig::Nb201(c) => f.run(&Nb201Space::new(c)),
            NetConfig::Autoformer(c) => f.run(&AutoformerSpace::new(c)),
            NetConfig::Nb101(c) => f.run(&Nb101Space::new(c)),
        }
    }

    /// The default settings of a space, when its networks can be built.
    pub fn default_for(space: &Space) -> Option<NetConfig> {
        match space {
            Space::Nb201 => Some(NetConfig::Nb201(Nb201Config::default())),
            Space::AutoFormer => Some(NetConfig::Autoformer(AutoformerConfig::default())),
            Space::Nb101 => Some(NetConfig::Nb101(Nb101Config::default())),
            _ => None,
        }
    }

    pub fn space(&self) -> Space {
        match self {
            NetConfig::Nb201(_) => Space::Nb201,
            NetConfig::Autoformer(_) => Space::AutoFormer,
            NetConfig::Nb101(_) => Space::Nb101,
        }
    }

    /// Side of the square input image.
    pub fn image_size(&self) -> usize {
        match self {
            NetConfig::Nb201(c) => c.image_size,
            NetConfig::Autoformer(c) => c.image_size,
            NetConfig::Nb101(c) => c.image_size,
        }
    }

    pub fn num_classes(&self) -> usize {
        match self {
            NetConfig::Nb201(c) => c.num_classes,
            NetConfig::Autoformer(c) => c.num_classes,
            NetConfig::Nb101(c) => c.num_classes,
        }
    }

    /// The same network with another input size and head.
    pub fn with_input(&self, image_size: usize, num_classes: usize) -> NetConfig {
        let mut out = *self;
        match &mut out {
            NetConfig::Nb201(c) => (c.image_size, c.num_classes) = (image_size, num_classes),
            NetConfig::Autoformer(c) => (c.image_size, c.num_classes) = (image_size, num_classes),
            NetConfig::Nb101(c) => (c.image_size, c.num_classes) = (image_size, num_classes),
        }
        out
    }

    /// Checks the settings; the message names the setting and what it allows.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            NetConfig::Nb201(c) => c.validate(),
            NetConfig::Autoformer(c) => c.validate(),
            NetConfig::Nb101(c) => c.validate(),
        }
    }

    /// Whether one probe of this space is nearly serial on the CPU backend,
    /// so that architectures probed in parallel (one per core) raise the
    /// throughput (NB201: burn-flex's ops on its small tensors barely use a
    /// second thread). A ViT's large matrix products use the threads.
    pub fn parallel_probes(&self) -> bool {
        matches!(self, NetConfig::Nb201(_))
    }

    /// Whether a convolutional network takes procedural images at the size
    /// they were generated at (a benchmark of our own was trained that way)
    /// instead of resized to `image_size`.
    pub fn takes_procedural_as_is(&self) -> bool {
        matches!(self, NetConfig::Nb201(_))
    }

    /// The canonical key of an architecture of this space.
    pub fn canonical_key(&self, raw: &str) -> Result<String, String> {
        struct Canon<'a>(&'a str);
        impl WithSpace for Canon<'_> {
            type Out = Result<String, String>;
            fn run<S: ArchSpace>(self, space: &S) -> Self::Out {
                space.parse(self.0).map(|a| a.to_string())
            }
        }
        self.with(Canon(raw))
    }
}

/// A search space. [`Space::name`] is stable: it is what the native format
/// stores and what the CLI accepts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    Nb201,
    Nb101,
    Nb301,
    TransNasMicro,
    TransNasMacro,
    AutoFormer,
    Other(String),
}

impl Space {
    /// Every space the studio knows by name.
    pub const KNOWN: [Space; 6] = [
        Space::Nb201,
        Space::Nb101,
        Space::Nb301,
        Space::TransNasMicro,
        Space::TransNasMacro,
        Space::AutoFormer,
    ];

    pub fn name(&self) -> &str {
        match self {
            Space::Nb201 => "nb201",
            Space::Nb101 => "nb101",
            Space::Nb301 => "nb301",
            Space::TransNasMicro => "tnb101-micro",
            Space::TransNasMacro => "tnb101-macro",
            Space::AutoFormer => "autoformer",
            Space::Other(name) => name,
        }
    }

    /// Parses a name or a common alias (`nasbench201`, `transbench101_micro`,
    /// ...). Unknown names become `Other`, so `Other("nb201")` is never
    /// produced: names are normalised to the known variants.
    pub fn from_name(name: &str) -> Space {
        let n = name.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        match n.as_str() {
            "nb201" | "nasbench201" | "nas-bench-201" | "nats-tss" => Space::Nb201,
            "nb101" | "nasbench101" | "nas-bench-101" => Space::Nb101,
            "nb301" | "nasbench301" | "nas-bench-301" | "darts" => Space::Nb301,
            "tnb101-micro" | "transbench101-micro" | "transnas-micro" | "transnas-bench-101-micro" => {
                Space::TransNasMicro
            }
            "tnb101-macro" | "transbench101-macro" | "transnas-macro" | "transnas-bench-101-macro" => {
                Space::TransNasMacro
            }
            "autoformer" | "autoformer-small" => Space::AutoFormer,
            _ => Space::Other(name.trim().to_string()),
        }
    }

    /// The network settings of this space at their defaults; `None` for a
    /// space whose networks the studio cannot build.
    pub fn net_config(&self) -> Option<NetConfig> {
        NetConfig::default_for(self)
    }

    /// The canonical key of an architecture: the form the space prints
    /// (NB201: the arch string, NASLib tuples converted; AutoFormer: the
    /// compact JSON key). Spaces the studio cannot parse keep the key as
    /// given, trimmed (two spellings of one architecture stay two keys).
    pub fn canonical_key(&self, raw: &str) -> Result<String, String> {
        let t = raw.trim();
        if t.is_empty() {
            return Err("the key is empty".to_string());
        }
        match self.net_config() {
            Some(net) => net.canonical_key(t),
            None => Ok(t.to_string()),
        }
    }
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
