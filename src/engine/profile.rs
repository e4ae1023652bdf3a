//! The per-architecture LayerProfile of SPEC.md: everything the window UI and
//! the analysis need to recompute L-SWAG for any depth window without
//! touching a network. Plain data, no tensors.

use serde::{Deserialize, Serialize};

/// Number of depth bins (percentiles of depth), SPEC's PERC_BINS.
pub const PERC_BINS: usize = 10;

/// Depth bin 1..=10 of weight layer `l` (1-based) out of `depth` layers:
/// `ceil(PERC_BINS * l / L)`.
pub fn depth_bin(l: usize, depth: usize) -> usize {
    (PERC_BINS * l).div_ceil(depth)
}

/// Statistics of one weight layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerStat {
    /// Depth bin 1..=10.
    pub bin: u8,
    /// `Lambda_l = log(sum_{sigma_w > 0} 1 / sigma_w)`; `None` for a dead
    /// layer (every sigma_w is 0), which contributes nothing.
    pub lambda: Option<f32>,
    /// Mean over weights with sigma_w > 0 of `log sigma_w`.
    pub mean_log_sigma: Option<f32>,
    /// Distinct activation patterns of the activations credited to this layer.
    pub psi: u32,
}

/// What is cached per architecture (a few hundred bytes to ~1 kB).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerProfile {
    /// Sum of `Lambda_l` over the layers of bin p (index p - 1).
    pub lambda_bin: [f64; PERC_BINS],
    /// `Psi[..p]`: distinct patterns over all layers with bin <= p.
    pub psi_upto: [u64; PERC_BINS],
    /// Distinct patterns over the layers of bin p alone.
    pub psi_bin: [u64; PERC_BINS],
    /// One entry per weight layer in execution order; `layers.len()` is L.
    pub layers: Vec<LayerStat>,
    /// Number of parameters of the network.
    pub params: u64,
    /// Forward FLOPs per image (multiply-accumulates counted once).
    pub flops: u64,
}

/// Which per-layer statistic a gradient-intensity curve shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum LayerStatistic {
    /// `Lambda_l`.
    #[default]
    Lambda,
    /// Mean `log sigma_w` of the layer.
    MeanLogSigma,
}

/// The fill of the pattern space (`LayerProfile::pattern_fill`) from which
/// a run says that Psi sits at its ceiling: there Psi is nearly the same
/// for every architecture and L-SWAG ranks by Lambda alone. Which is better
/// depends on the space (README, "pattern_samples 16 / 32 / 64": NB101 464
/// of 500 cells within 1% at 16 samples and better for it, TransNAS-Bench-101
/// macro at 128 px far worse), so the run says it and does not choose.
pub const PATTERN_FILL_NOTE: f64 = 0.99;

/// The architectures of a run whose Psi sits at the ceiling of its
/// `samples` pattern samples (`PATTERN_FILL_NOTE`): what `score` and the
/// app's Score… report.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PatternCeiling {
    pub samples: usize,
    /// Architectures at the ceiling so far.
    pub count: usize,
    /// The highest fill among them.
    pub highest: f64,
}

impl PatternCeiling {
    pub fn new(samples: usize) -> PatternCeiling {
        PatternCeiling {
            samples,
            ..PatternCeiling::default()
        }
    }

    /// Counts an architecture's profile when its Psi is at the ceiling;
    /// returns its fill then.
    pub fn record(&mut self, profile: Option<&LayerProfile>) -> Option<f64> {
        let fill = profile?
            .pattern_fill(self.samples)
            .filter(|&f| f >= PATTERN_FILL_NOTE)?;
        self.count += 1;
        self.highest = self.highest.max(fill);
        Some(fill)
    }

    /// What a fill near 1 means, to follow "Psi is at x% ".
    pub fn meaning(&self) -> String {
        let k = self.samples;
        format!(
            "of the 2^{k} activation patterns that {k} pattern samples can tell apart: nearly the same for every \
             architecture, so L-SWAG ranks by Lambda there"
        )
    }
}

impl LayerProfile {
    /// Psi over all layers as a fraction of the 2^k distinct patterns that
    /// k pattern samples can tell apart; `None` at 64 samples (a u64
    /// pattern, no ceiling within reach).
    pub fn pattern_fill(&self, samples: usize) -> Option<f64> {
        (samples < 64).then(|| self.psi_upto[PERC_BINS - 1] as f64 / (1u64 << samples) as f64)
    }

    /// Depth L (number of weight layers).
    pub fn depth(&self) -> usize {
        self.layers.len()
    }

    /// `Lambda[a..b]` for 1 <= a <= b <= 10.
    pub fn lambda_window(&self, a: usize, b: usize) -> f64 {
        debug_assert!(1 <= a && a <= b && b <= PERC_BINS);
        self.lambda_bin[a - 1..b].iter().sum()
    }

    /// `Psi[..b]`.
    pub fn psi_upto(&self, b: usize) -> u64 {
        self.psi_upto[b - 1]
    }

    /// L-SWAG over the window [a, b]: `Lambda[a..b] * Psi[..b]`.
    pub fn lswag(&self, a: usize, b: usize) -> f64 {
        self.lambda_window(a, b) * self.psi_upto(b) as f64
    }

    /// The "layer-wise dot" variant: `sum_l Lambda_l * Psi_l` over the layers
    /// whose bin lies in [a, b].
    pub fn lswag_layerwise_dot(&self, a: usize, b: usize) -> f64 {
        self.layers
            .iter()
            .filter(|l| (a..=b).contains(&(l.bin as usize)))
            .map(|l| l.lambda.unwrap_or(0.0) as f64 * l.psi as f64)
            .sum()
    }

    /// Mean of `stat` over the live layers of each bin (`None` where a bin
    /// has no live layer, as happens for shallow networks).
    pub fn bin_means(&self, stat: LayerStatistic) -> [Option<f64>; PERC_BINS] {
        let mut sum = [0.0f64; PERC_BINS];
        let mut count = [0usize; PERC_BINS];
        for layer in &self.layers {
            let value = match stat {
                LayerStatistic::Lambda => layer.lambda,
                LayerStatistic::MeanLogSigma => layer.mean_log_sigma,
            };
            if let Some(v) = value {
                let p = layer.bin as usize - 1;
                sum[p] += v as f64;
                count[p] += 1;
            }
        }
        std::array::from_fn(|p| (count[p] > 0).then(|| sum[p] / count[p] as f64))
    }

    /// Number of dead layers (no weight with sigma_w > 0).
    pub fn dead_layers(&self) -> usize {
        self.layers.iter().filter(|l| l.lambda.is_none()).count()
    }

    /// Every layer dead (a cell cut off from its input): the `lswag` proxy
    /// is then undefined, while a window over the profile sums to 0.
    pub fn all_dead(&self) -> bool {
        self.dead_layers() == self.depth()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_fill_is_psi_over_the_two_to_the_samples_ceiling() {
        let mut p = LayerProfile {
            lambda_bin: [0.0; PERC_BINS],
            psi_upto: [0; PERC_BINS],
            psi_bin: [0; PERC_BINS],
            layers: Vec::new(),
            params: 0,
            flops: 0,
        };
        // 16 samples tell 2^16 = 65,536 patterns apart.
        p.psi_upto[PERC_BINS - 1] = 65_536;
        assert_eq!(p.pattern_fill(16), Some(1.0));
        p.psi_upto[PERC_BINS - 1] = 32_768;
        assert_eq!(p.pattern_fill(16), Some(0.5));
        assert_eq!(p.pattern_fill(32), Some(32_768.0 / 4_294_967_296.0));
        assert!(p.pattern_fill(16).unwrap() < PATTERN_FILL_NOTE);
        assert_eq!(p.pattern_fill(64), None);
        // A run counts the profiles at the ceiling (99% of 2^16 = 64,881):
        // 32,768 is not, 65,000 and 65,536 are.
        let mut ceiling = PatternCeiling::new(16);
        assert_eq!(ceiling.record(Some(&p)), None);
        assert_eq!(ceiling.record(None), None);
        p.psi_upto[PERC_BINS - 1] = 65_000;
        assert_eq!(ceiling.record(Some(&p)), Some(65_000.0 / 65_536.0));
        p.psi_upto[PERC_BINS - 1] = 65_536;
        assert_eq!(ceiling.record(Some(&p)), Some(1.0));
        assert_eq!((ceiling.count, ceiling.highest), (2, 1.0));
    }

    #[test]
    fn depth_bins_match_the_golden_network() {
        // golden.json: L = 17, bins of layers 1..17.
        let want = [1, 2, 2, 3, 3, 4, 5, 5, 6, 6, 7, 8, 8, 9, 9, 10, 10];
        let got: Vec<usize> = (1..=17).map(|l| depth_bin(l, 17)).collect();
        assert_eq!(got, want);
        // Every depth puts its last layer in bin 10 and its first in a bin >= 1.
        for depth in 1..200 {
            assert_eq!(depth_bin(depth, depth), PERC_BINS);
            assert!(depth_bin(1, depth) >= 1);
        }
    }

    #[test]
    fn windows_sum_bins_and_take_psi_at_the_window_end() {
        let profile = LayerProfile {
            lambda_bin: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
            psi_upto: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
            psi_bin: [10; PERC_BINS],
            layers: vec![],
            params: 0,
            flops: 0,
        };
        assert_eq!(profile.lswag(1, 10), 55.0 * 100.0);
        assert_eq!(profile.lswag(3, 5), 12.0 * 50.0);
        assert_eq!(profile.lswag(7, 7), 7.0 * 70.0);
    }
}
