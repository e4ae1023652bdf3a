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
pub mod nb301;
pub mod tnb101;

pub use autoformer::{AutoformerConfig, AutoformerSpace};
pub use nb101::{Nb101Config, Nb101Space};
pub use nb201::{Nb201Config, Nb201Space};
pub use nb301::{Nb301Config, Nb301Space};
pub use tnb101::{Tnb101Config, Tnb101MacroSpace, Tnb101MicroSpace};

/// One search space: what a search, a score run and the app do with its
/// architectures. A value carries its network settings.
pub trait ArchSpace: Clone + Send + Sync + 'static {
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
    /// What makes two spellings one architecture: the key, except where a
    /// space has several spellings of one network (NB101: nasbench's graph
    /// hash), so a search finds a mutant in a table that spells it another way.
    fn identity(&self, arch: &Self::Arch) -> String {
        arch.to_string()
    }
    /// The network and its (zero-initialised) parameters in execution order.
    fn build(&self, arch: &Self::Arch) -> (Box<dyn Network>, ParamStore);

    /// Every architecture, for spaces small enough to list.
    fn all(&self) -> Option<Vec<Self::Arch>> {
        None
    }

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

/// Settings of a space's networks that the command line and the app set
/// (`None`: keep the space's value).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetOverrides {
    pub channels: Option<usize>,
    pub cells: Option<usize>,
    pub classes: Option<usize>,
    pub image_size: Option<usize>,
}

impl NetOverrides {
    /// Overwrites each setting these overrides give, for a space that has
    /// all four (a skeleton of channels and cells, a head, an input size).
    pub fn set_all(&self, channels: &mut usize, cells: &mut usize, classes: &mut usize, image_size: &mut usize) {
        for (value, setting) in [
            (self.channels, channels),
            (self.cells, cells),
            (self.classes, classes),
            (self.image_size, image_size),
        ] {
            if let Some(v) = value {
                *setting = v;
            }
        }
    }
}

/// What every space's network settings answer.
/// Host memory of a CPU probe whose passes take gradients, fitted to the
/// peaks measured for a space (host RSS high-water, every proxy, one probe;
/// README, "Memory is estimated"): `fixed` bytes whatever the image size,
/// plus `per_output_float` (low, high) bytes per float of weight-layer
/// output in the batch (BN, ReLU and pooling outputs, the autodiff graph,
/// the per-sample and f64 passes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbeMemory {
    pub fixed: f64,
    pub per_output_float: (f64, f64),
}

/// The model of the spaces without one of their own: calibrated on NB201
/// and NB301 before the host convolutions (ratios 30-44), and still
/// bracketing NB101 (30), TransNAS-Bench-101's class heads (26-36) and
/// AutoFormer (which a 13 GB address space could not hold at 224 px,
/// batch 64, where it estimates 15.4 GiB).
pub const DEFAULT_PROBE_MEMORY: ProbeMemory = ProbeMemory {
    fixed: 0.0,
    per_output_float: (28.0, 46.0),
};

pub trait NetSettings {
    /// Side of the square input image.
    fn image_size(&self) -> usize;
    fn num_classes(&self) -> usize;
    /// Applies the overrides this space has; one it lacks is an error that
    /// names the option.
    fn apply(&mut self, o: &NetOverrides) -> Result<(), String>;
    /// Checks the settings; the message names the setting and what it allows.
    fn validate(&self) -> Result<(), String>;
    /// Whether architectures probed in parallel (one per core) raise the
    /// CPU backend's throughput over one probe at a time on every core
    /// (NB201: its small tensors' elementwise ops stay on one thread; with
    /// our convolution kernels the two now measure about the same, `bench`).
    /// Convolutions (`engine::host_ops`) and a ViT's large matrix products
    /// use the threads of one probe.
    fn parallel_probes(&self) -> bool {
        false
    }
    /// The memory model of a probe with gradient passes (see [`ProbeMemory`]).
    fn probe_memory(&self) -> ProbeMemory {
        DEFAULT_PROBE_MEMORY
    }
    /// Inputs the network runs per sample (TransNAS-Bench-101's jigsaw: its
    /// nine tiles through the one encoder), each with the layer outputs of
    /// one image: the memory estimate multiplies by it.
    fn inputs_per_sample(&self) -> usize {
        1
    }
    /// Whether the network takes procedural images at the size they were
    /// generated at (a benchmark of our own was trained that way) instead
    /// of resized to `image_size`.
    fn takes_procedural_as_is(&self) -> bool {
        false
    }
    /// The batch the task sees, made from the loaded images (`seed` picks
    /// any random part of it): the images themselves for most tasks;
    /// TransNAS-Bench-101's jigsaw shuffles their tiles and labels each with
    /// its permutation.
    fn task_batch(&self, batch: crate::engine::data::Batch, _seed: u64) -> crate::engine::data::Batch {
        batch
    }
    /// The targets the task's loss compares with, where they are not the
    /// labels (TransNAS-Bench-101's pixel and layout tasks): read from
    /// target images (`folder:DIR,targets:DIR`) or the procedural scene.
    fn task_targets(&self) -> Option<crate::engine::data::TargetKind> {
        None
    }
    /// How the benchmark's own builder initialises its weights, where the
    /// space records it (`InitScheme::Source`); `None`: `--init source` is
    /// refused for this space.
    fn source_init(&self) -> Option<&'static str> {
        None
    }
    /// The initialisation a score run takes when none is given: the
    /// builder's own where the space records it, else kaiming-normal (the
    /// paper's).
    fn default_init(&self) -> crate::engine::params::InitScheme {
        match self.source_init() {
            Some(_) => crate::engine::params::InitScheme::Source,
            None => crate::engine::params::InitScheme::KaimingNormal,
        }
    }
}

/// The error for an override a space does not have.
pub fn no_such_setting(space: &str, option: &str, value: Option<usize>) -> Result<(), String> {
    match value {
        Some(v) => Err(format!("--{option} {v}: the {space} space has no such setting")),
        None => Ok(()),
    }
}

/// Why `space` has no networks here, naming those that have.
pub fn cannot_build(space: &Space) -> String {
    format!(
        "the studio cannot build networks of the {space} space (it builds {})",
        NetConfig::buildable()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A space the studio can build networks of, with its network settings.
/// Serialised with a `space` tag: `{"space": "nb201", "channels": 16, ...}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "space", rename_all = "kebab-case")]
pub enum NetConfig {
    Nb201(Nb201Config),
    Autoformer(AutoformerConfig),
    Nb101(Nb101Config),
    Nb301(Nb301Config),
    Tnb101Micro(Tnb101Config),
    Tnb101Macro(Tnb101Config),
}

impl NetConfig {
    /// The space's typed implementation, handed to `f`: the one dispatch.
    pub fn with<F: WithSpace>(&self, f: F) -> F::Out {
        match *self {
            NetConfig::Nb201(c) => f.run(&Nb201Space::new(c)),
            NetConfig::Autoformer(c) => f.run(&AutoformerSpace::new(c)),
            NetConfig::Nb101(c) => f.run(&Nb101Space::new(c)),
            NetConfig::Nb301(c) => f.run(&Nb301Space::new(c)),
            NetConfig::Tnb101Micro(c) => f.run(&Tnb101MicroSpace::new(c)),
            NetConfig::Tnb101Macro(c) => f.run(&Tnb101MacroSpace::new(c)),
        }
    }

    /// The default settings of a space (CIFAR-10 inputs where the space
    /// takes images of any kind), when its networks can be built.
    pub fn default_for(space: &Space) -> Option<NetConfig> {
        match space {
            Space::Nb201 => Some(NetConfig::Nb201(Nb201Config::default())),
            Space::Nb301 => Some(NetConfig::Nb301(Nb301Config::default())),
            Space::AutoFormer => Some(NetConfig::Autoformer(AutoformerConfig {
                num_classes: 10,
                ..AutoformerConfig::default()
            })),
            // The task is a setting (`with_task`); an archive names it per task.
            Space::TransNasMicro => Some(NetConfig::Tnb101Micro(Tnb101Config::default())),
            Space::TransNasMacro => Some(NetConfig::Tnb101Macro(Tnb101Config::default())),
            Space::Nb101 => Some(NetConfig::Nb101(Nb101Config::default())),
            _ => None,
        }
    }

    pub fn space(&self) -> Space {
        match self {
            NetConfig::Nb201(_) => Space::Nb201,
            NetConfig::Autoformer(_) => Space::AutoFormer,
            NetConfig::Nb101(_) => Space::Nb101,
            NetConfig::Nb301(_) => Space::Nb301,
            NetConfig::Tnb101Micro(_) => Space::TransNasMicro,
            NetConfig::Tnb101Macro(_) => Space::TransNasMacro,
        }
    }

    pub fn settings(&self) -> &dyn NetSettings {
        match self {
            NetConfig::Nb201(c) => c,
            NetConfig::Autoformer(c) => c,
            NetConfig::Nb101(c) => c,
            NetConfig::Nb301(c) => c,
            NetConfig::Tnb101Micro(c) | NetConfig::Tnb101Macro(c) => c,
        }
    }

    fn settings_mut(&mut self) -> &mut dyn NetSettings {
        match self {
            NetConfig::Nb201(c) => c,
            NetConfig::Autoformer(c) => c,
            NetConfig::Nb101(c) => c,
            NetConfig::Nb301(c) => c,
            NetConfig::Tnb101Micro(c) | NetConfig::Tnb101Macro(c) => c,
        }
    }

    /// The same network for another task of its benchmark (TransNAS-Bench-101's seven,
    /// named as its files and Suite-Zero's name them), validated; spaces without tasks
    /// refuse one.
    pub fn with_task(&self, task: &str) -> Result<NetConfig, String> {
        let mut out = *self;
        match &mut out {
            NetConfig::Tnb101Micro(c) | NetConfig::Tnb101Macro(c) => {
                let new = tnb101::Task::parse(task)?;
                // The benchmark's input for the new task, unless a size of one's own was set.
                if c.image_size == c.task.default_image_size() {
                    c.image_size = new.default_image_size();
                }
                c.task = new;
            }
            _ => return Err(format!("--task {task}: the {} space has no tasks", self.space())),
        }
        out.validate()?;
        Ok(out)
    }

    /// The network for the archive task `task`: a TransNAS-Bench-101 archive's task names the
    /// network's task (an unknown one is an error); other spaces' tasks (datasets, whose
    /// inputs are settings of their own) leave the network as it is.
    pub fn for_archive_task(&self, task: &str) -> Result<NetConfig, String> {
        match self {
            NetConfig::Tnb101Micro(_) | NetConfig::Tnb101Macro(_) => self.with_task(task),
            _ => Ok(*self),
        }
    }

    /// The default settings of `space` for the archive task `task` (see `for_archive_task`).
    pub fn default_for_task(space: &Space, task: &str) -> Option<NetConfig> {
        NetConfig::default_for(space)?.for_archive_task(task).ok()
    }

    /// The settings of `space` with those of `overrides` that the space has
    /// (the app keeps one set of fields for every space), validated.
    pub fn from_overrides_lenient(space: &Space, o: &NetOverrides) -> Result<NetConfig, String> {
        let mut net = NetConfig::default_for(space).ok_or_else(|| cannot_build(space))?;
        let single = [
            NetOverrides {
                channels: o.channels,
                ..NetOverrides::default()
            },
            NetOverrides {
                cells: o.cells,
                ..NetOverrides::default()
            },
            NetOverrides {
                classes: o.classes,
                ..NetOverrides::default()
            },
            NetOverrides {
                image_size: o.image_size,
                ..NetOverrides::default()
            },
        ];
        for one in single {
            let mut trial = net;
            if trial.settings_mut().apply(&one).is_ok() {
                net = trial;
            }
        }
        net.validate()?;
        Ok(net)
    }

    /// The settings of `space` with `overrides` applied, validated.
    pub fn from_overrides(space: &Space, overrides: &NetOverrides) -> Result<NetConfig, String> {
        NetConfig::default_for(space)
            .ok_or_else(|| cannot_build(space))?
            .with_overrides(overrides)
    }

    /// The same network with `overrides` applied, validated. Choose the task
    /// first (`with_task`): an image size is checked against the task it is for.
    pub fn with_overrides(&self, overrides: &NetOverrides) -> Result<NetConfig, String> {
        let mut net = *self;
        net.settings_mut().apply(overrides)?;
        net.validate()?;
        Ok(net)
    }

    /// The spaces whose networks the studio builds.
    pub fn buildable() -> impl Iterator<Item = Space> {
        Space::KNOWN.into_iter().filter(|s| NetConfig::default_for(s).is_some())
    }

    /// The same network with another input size and head.
    pub fn with_input(&self, image_size: usize, num_classes: usize) -> Result<NetConfig, String> {
        let mut out = *self;
        out.settings_mut().apply(&NetOverrides {
            classes: Some(num_classes),
            image_size: Some(image_size),
            ..NetOverrides::default()
        })?;
        Ok(out)
    }

    /// Side of the square input image.
    pub fn image_size(&self) -> usize {
        self.settings().image_size()
    }

    pub fn num_classes(&self) -> usize {
        self.settings().num_classes()
    }

    pub fn validate(&self) -> Result<(), String> {
        self.settings().validate()
    }

    /// The canonical key of an architecture of this space.
    pub fn canonical_key(&self, raw: &str) -> Result<String, String> {
        self.key_parser()(raw)
    }

    /// A parser of keys into their canonical form, built once for many keys.
    pub fn key_parser(&self) -> KeyParser {
        struct Canon;
        impl WithSpace for Canon {
            type Out = KeyParser;
            fn run<S: ArchSpace>(self, space: &S) -> Self::Out {
                let space = space.clone();
                Box::new(move |k| space.parse(k).map(|a| a.to_string()))
            }
        }
        self.with(Canon)
    }

    /// A counter of parameters by key (`None` when a key does not parse),
    /// built once for many keys.
    pub fn param_counter(&self) -> ParamCounter {
        struct Count;
        impl WithSpace for Count {
            type Out = ParamCounter;
            fn run<S: ArchSpace>(self, space: &S) -> Self::Out {
                let space = space.clone();
                Box::new(move |k| space.parse(k).ok().map(|a| space.params(&a)))
            }
        }
        self.with(Count)
    }
}

/// A key in its canonical form, or why it is not one of the space's.
pub type KeyParser = Box<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// Parameter count of an architecture key, `None` when the key does not parse.
pub type ParamCounter = Box<dyn Fn(&str) -> Option<u64> + Send + Sync>;

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
