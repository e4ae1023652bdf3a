//! The archives built into the binary, so that the app opens on data
//! without a download: our own procedural mini-benchmark (the example of a
//! benchmark built with `build-benchmark`) and NAS-Bench-Suite-Zero's NB201
//! file with the studio's own scores (real ground truth).

use serde::{Deserialize, Serialize};

use super::model::{Dataset, LoadError, Origin};

/// A built-in archive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Builtin {
    /// 200 NB201 cells of our own mini-benchmark on procedural images.
    #[default]
    Demo,
    /// NAS-Bench-Suite-Zero's 725 NB201 cells (3 tasks) with the studio's
    /// full-suite scores and layer profiles on CIFAR-10.
    SuiteZeroNb201,
}

/// The native archive of [`Builtin::Demo`]; README.md has the commands
/// that made it.
pub const DEMO_BYTES: &[u8] = include_bytes!("../../assets/demo.lswag");

/// The native archive of [`Builtin::SuiteZeroNb201`]; made by the commands
/// in `assets/evidence/nb201-suite-zero/README.md`.
pub const SUITE_ZERO_NB201_BYTES: &[u8] = include_bytes!("../../assets/suite-zero-nb201.lswag");

/// The Apache-2.0 licence and notice that come with Suite-Zero's data.
pub const SUITE_ZERO_LICENCE: &str = include_str!("../../assets/suite-zero-nb201.LICENSE");

/// What the demo is, said where it opens.
pub const DEMO_NOTE: &str = "The built-in demo is a benchmark of our own, made with build-benchmark: 200 NB201 cells \
(seed 0) in a reduced skeleton (C = 8 channels, N = 1 cell per stage), each trained for 2 epochs on 5,000 \
procedural 16 x 16 images; its ground truth, procedural_valid_2ep, is the validation accuracy on 1,000 other \
procedural images. Every proxy and layer profile was computed on the first 64 training images, from the \
initial weights that were trained. It opens without a download and shows how a benchmark of your own \
works; for the paper's numbers open the built-in Suite-Zero NB201 archive.";

/// What the Suite-Zero archive is, said where it opens.
pub const SUITE_ZERO_NOTE: &str = "NAS-Bench-Suite-Zero's NB201 file (725 cells; ground truth val_accuracy after \
200 epochs on CIFAR-10, CIFAR-100 and ImageNet16-120, with the file's own 12 proxies per task, params and flops among them) joined with the \
studio's own scores: every cell probed at full size (C = 16, N = 5) on the first 64 images of the CIFAR-10 test \
set, batch 64, seed 0, giving L-SWAG, its layer profiles, SWAP, ZiCO, Zen-NAS and the rest of the suite. Where a proxy is \
in both, the table shows Suite-Zero's value (its head matches each task; ours only where its evaluation failed); the studio's own columns and the layer \
profiles come from the CIFAR-10 probe and are the same on every task. Data: Apache-2.0, see Licence.";

impl Builtin {
    pub const ALL: [Builtin; 2] = [Builtin::Demo, Builtin::SuiteZeroNb201];

    /// The name `--builtin` takes.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Demo => "demo",
            Builtin::SuiteZeroNb201 => "suite-zero-nb201",
        }
    }

    /// Parses [`Self::name`] (case-insensitive).
    pub fn from_name(name: &str) -> Option<Builtin> {
        let n = name.trim().to_ascii_lowercase();
        Builtin::ALL.into_iter().find(|b| b.name() == n)
    }

    /// The heading it opens under.
    pub fn title(self) -> &'static str {
        match self {
            Builtin::Demo => "Demo: NB201 mini-benchmark, procedural images",
            Builtin::SuiteZeroNb201 => "NAS-Bench-Suite-Zero NB201 (725 cells) with the studio's CIFAR-10 scores",
        }
    }

    /// The label of the button that opens it.
    pub fn button(self) -> &'static str {
        match self {
            Builtin::Demo => "Demo archive",
            Builtin::SuiteZeroNb201 => "Suite-Zero NB201 (real data)",
        }
    }

    /// The button's hover text.
    pub fn hint(self) -> &'static str {
        match self {
            Builtin::Demo => {
                "Our own 200-cell NB201 mini-benchmark on procedural images: how a benchmark of your own works"
            }
            Builtin::SuiteZeroNb201 => {
                "NAS-Bench-Suite-Zero's 725 NB201 cells with real 200-epoch accuracies on three datasets, \
                 with the studio's L-SWAG layer profiles: the paper's curves and correlations"
            }
        }
    }

    /// What it is, shown where it opens.
    pub fn note(self) -> &'static str {
        match self {
            Builtin::Demo => DEMO_NOTE,
            Builtin::SuiteZeroNb201 => SUITE_ZERO_NOTE,
        }
    }

    /// The licence its data comes under, where that is not ours.
    pub fn licence(self) -> Option<&'static str> {
        match self {
            Builtin::Demo => None,
            Builtin::SuiteZeroNb201 => Some(SUITE_ZERO_LICENCE),
        }
    }

    /// The native archive's bytes.
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Builtin::Demo => DEMO_BYTES,
            Builtin::SuiteZeroNb201 => SUITE_ZERO_NB201_BYTES,
        }
    }

    /// The name messages give its bytes.
    pub fn source_name(self) -> String {
        format!("{}.lswag (built in)", self.name())
    }

    /// Decodes it.
    pub fn dataset(self) -> Result<Dataset, LoadError> {
        Dataset::from_bytes(self.bytes(), &self.source_name(), self.title(), Origin::Builtin(self))
    }
}
