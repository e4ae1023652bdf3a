//! AutoFormer-Small encodings: a readable JSON key, uniform sampling (with
//! parameter limits), AutoFormer's mutation and crossover, and the
//! parameter count in closed form. Pure Rust, no tensors.
//!
//! The space (AutoFormer, Chen et al. 2021, supernet "small"): one embed dim
//! per network in {320, 384, 448}, depth in {12, 13, 14}, and per layer an
//! MLP ratio in {3, 3.5, 4} and a head count in {5, 6, 7}; every head has 64
//! dimensions, so q, k and v have `heads * 64` features whatever the embed
//! dim (AutoFormer's `change_qkv`).

use std::fmt;
use std::ops::RangeInclusive;

use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::Value;

/// Embed dims of AutoFormer-Small.
pub const EMBED_DIMS: [usize; 3] = [320, 384, 448];
/// Depths (number of transformer blocks).
pub const DEPTHS: [usize; 3] = [12, 13, 14];
/// Heads per block.
pub const HEADS: [usize; 3] = [5, 6, 7];
/// Dimensions of one attention head.
pub const HEAD_DIM: usize = 64;
/// Side of a square patch.
pub const PATCH: usize = 16;

/// The MLP ratio of a block: hidden = ratio * embed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MlpRatio {
    R3,
    R3_5,
    R4,
}

impl MlpRatio {
    pub const ALL: [MlpRatio; 3] = [MlpRatio::R3, MlpRatio::R3_5, MlpRatio::R4];

    pub fn value(self) -> f64 {
        match self {
            MlpRatio::R3 => 3.0,
            MlpRatio::R3_5 => 3.5,
            MlpRatio::R4 => 4.0,
        }
    }

    /// Hidden features of the MLP, `int(embed * ratio)` as in AutoFormer
    /// (exact for every embed dim of the space: all are even).
    pub fn hidden(self, embed: usize) -> usize {
        match self {
            MlpRatio::R3 => 3 * embed,
            MlpRatio::R3_5 => 7 * embed / 2,
            MlpRatio::R4 => 4 * embed,
        }
    }

    fn from_value(v: f64) -> Option<MlpRatio> {
        MlpRatio::ALL.into_iter().find(|r| r.value() == v)
    }
}

impl fmt::Display for MlpRatio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MlpRatio::R3 => "3",
            MlpRatio::R3_5 => "3.5",
            MlpRatio::R4 => "4",
        })
    }
}

/// One AutoFormer-Small architecture. The depth is `mlp.len()` (= `heads.len()`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AutoformerArch {
    pub embed: usize,
    /// MLP ratio of each block, in execution order.
    pub mlp: Vec<MlpRatio>,
    /// Heads of each block, in execution order.
    pub heads: Vec<usize>,
}

/// Why a string is not an AutoFormer-Small architecture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not an AutoFormer-Small key ({{\"embed\":384,\"depth\":13,\"mlp\":[..],\"heads\":[..]}}): {reason}"
)]
pub struct ParseAutoformerError {
    pub input: String,
    pub reason: String,
}

/// Image size and class count the parameter count refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountBasis {
    pub image_size: usize,
    pub num_classes: usize,
}

impl CountBasis {
    /// The setting of AutoFormer's and the L-SWAG paper's parameter counts
    /// (ImageNet: 224 x 224 inputs, 1000 classes): the 18-23 M window and
    /// AutoFormer-S's 22.9 M refer to it.
    pub const PAPER: CountBasis = CountBasis {
        image_size: 224,
        num_classes: 1000,
    };

    /// Tokens: one per 16 x 16 patch plus the class token.
    pub fn tokens(&self) -> usize {
        (self.image_size / PATCH).pow(2) + 1
    }
}

impl AutoformerArch {
    pub fn depth(&self) -> usize {
        self.mlp.len()
    }

    /// Checks that every gene is in the space.
    pub fn validate(&self) -> Result<(), String> {
        if !EMBED_DIMS.contains(&self.embed) {
            return Err(format!("embed {} is not one of {EMBED_DIMS:?}", self.embed));
        }
        if !DEPTHS.contains(&self.depth()) {
            return Err(format!("depth {} is not one of {DEPTHS:?}", self.depth()));
        }
        if self.heads.len() != self.mlp.len() {
            return Err(format!(
                "{} MLP ratios but {} head counts: one of each per block",
                self.mlp.len(),
                self.heads.len()
            ));
        }
        if let Some((i, h)) = self.heads.iter().enumerate().find(|(_, h)| !HEADS.contains(h)) {
            return Err(format!("heads[{i}] = {h} is not one of {HEADS:?}"));
        }
        Ok(())
    }

    /// Uniform over the space, as AutoFormer's `get_random_cand`: depth,
    /// then each block's MLP ratio and heads, then the embed dim.
    pub fn sample(rng: &mut impl Rng) -> AutoformerArch {
        let depth = *DEPTHS.choose(rng).unwrap_or(&DEPTHS[0]);
        let mlp = (0..depth).map(|_| random_ratio(rng)).collect();
        let heads = (0..depth).map(|_| random_heads(rng)).collect();
        let embed = *EMBED_DIMS.choose(rng).unwrap_or(&EMBED_DIMS[0]);
        AutoformerArch { embed, mlp, heads }
    }

    /// A uniform sample whose parameter count at `basis` lies in `limits`
    /// (rejection sampling); `None` after `tries` draws.
    pub fn sample_within(
        rng: &mut impl Rng,
        limits: &RangeInclusive<u64>,
        basis: CountBasis,
        tries: usize,
    ) -> Option<AutoformerArch> {
        (0..tries)
            .map(|_| AutoformerArch::sample(rng))
            .find(|a| limits.contains(&a.params(basis)))
    }

    /// AutoFormer's mutation (`evolution.py`): with probability `s_prob` a
    /// new depth (blocks cut off, or new blocks with random genes appended);
    /// each block's MLP ratio, then each block's heads, resampled with
    /// probability `m_prob`; with probability `s_prob` a new embed dim. A
    /// resampled gene may come out unchanged, as in AutoFormer.
    pub fn mutate(&self, m_prob: f64, s_prob: f64, rng: &mut impl Rng) -> AutoformerArch {
        let (m_prob, s_prob) = (m_prob.clamp(0.0, 1.0), s_prob.clamp(0.0, 1.0));
        let mut a = self.clone();
        if rng.random_bool(s_prob) {
            let depth = *DEPTHS.choose(rng).unwrap_or(&DEPTHS[0]);
            while a.mlp.len() < depth {
                a.mlp.push(random_ratio(rng));
            }
            while a.heads.len() < depth {
                a.heads.push(random_heads(rng));
            }
            a.mlp.truncate(depth);
            a.heads.truncate(depth);
        }
        for r in &mut a.mlp {
            if rng.random_bool(m_prob) {
                *r = random_ratio(rng);
            }
        }
        for h in &mut a.heads {
            if rng.random_bool(m_prob) {
                *h = random_heads(rng);
            }
        }
        if rng.random_bool(s_prob) {
            a.embed = *EMBED_DIMS.choose(rng).unwrap_or(&a.embed);
        }
        a
    }

    /// AutoFormer's crossover: every gene of the tuple (depth, ratios,
    /// heads, embed) from either parent with probability 1/2. AutoFormer
    /// only crosses parents of equal depth (it redraws parents up to 50
    /// times); for unequal depths the child takes its depth from a random
    /// parent and each block from either parent that has that block.
    pub fn cross(&self, other: &AutoformerArch, rng: &mut impl Rng) -> AutoformerArch {
        let depth = if rng.random_bool(0.5) {
            self.depth()
        } else {
            other.depth()
        };
        let (long, short) = if self.depth() >= other.depth() {
            (self, other)
        } else {
            (other, self)
        };
        // The parent block i comes from: either, when both have it.
        let mut parent = |i: usize| {
            if i < short.depth() && rng.random_bool(0.5) {
                short
            } else {
                long
            }
        };
        let mlp = (0..depth).map(|i| parent(i).mlp[i]).collect();
        let heads = (0..depth).map(|i| parent(i).heads[i]).collect();
        let embed = if rng.random_bool(0.5) { self.embed } else { other.embed };
        AutoformerArch { embed, mlp, heads }
    }

    /// Parameters of the network at `basis` (the closed form of
    /// `AutoformerNet`'s parameter store; a test checks both agree):
    /// patch embedding `3 * 16 * 16 * E + E`, class token `E`, position
    /// embedding `tokens * E`; per block two LayerNorms `4E`, qkv
    /// `E * 3q + 3q`, proj `q * E + E` (q = 64 heads), fc1 `E * h + h`,
    /// fc2 `h * E + E` (h = ratio * E); final LayerNorm `2E`; head `E * C + C`.
    pub fn params(&self, basis: CountBasis) -> u64 {
        let e = self.embed as u64;
        let blocks: u64 = self
            .mlp
            .iter()
            .zip(&self.heads)
            .map(|(r, &h)| {
                let q = (h * HEAD_DIM) as u64;
                let hid = r.hidden(self.embed) as u64;
                4 * e + (e * 3 * q + 3 * q) + (q * e + e) + (e * hid + hid) + (hid * e + e)
            })
            .sum();
        let c = basis.num_classes as u64;
        let patch = (3 * PATCH * PATCH) as u64 * e + e;
        patch + e + basis.tokens() as u64 * e + blocks + 2 * e + e * c + c
    }

    /// Parses the JSON key (any spacing, keys in any order; `depth` may be
    /// left out, and must match the lists when given).
    pub fn parse(input: &str) -> Result<AutoformerArch, ParseAutoformerError> {
        let err = |reason: String| ParseAutoformerError {
            input: input.trim().to_string(),
            reason,
        };
        let v: Value = serde_json::from_str(input.trim()).map_err(|e| err(format!("not JSON: {e}")))?;
        let obj = v.as_object().ok_or_else(|| err("expected a JSON object".into()))?;
        if let Some(k) = obj
            .keys()
            .find(|k| !["embed", "depth", "mlp", "heads"].contains(&k.as_str()))
        {
            return Err(err(format!("unknown field `{k}`")));
        }
        let embed = obj
            .get("embed")
            .and_then(Value::as_u64)
            .ok_or_else(|| err("`embed` must be an integer".into()))? as usize;
        let list = |name: &str| {
            obj.get(name)
                .and_then(Value::as_array)
                .ok_or_else(|| err(format!("`{name}` must be a list with one entry per block")))
        };
        let mlp = list("mlp")?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_f64()
                    .and_then(MlpRatio::from_value)
                    .ok_or_else(|| err(format!("mlp[{i}] = {v} is not one of 3, 3.5, 4")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let heads = list("heads")?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_u64()
                    .map(|h| h as usize)
                    .ok_or_else(|| err(format!("heads[{i}] = {v} is not an integer")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(d) = obj.get("depth") {
            let d = d.as_u64().ok_or_else(|| err("`depth` must be an integer".into()))?;
            if d as usize != mlp.len() || d as usize != heads.len() {
                return Err(err(format!(
                    "depth {d} but {} MLP ratios and {} head counts",
                    mlp.len(),
                    heads.len()
                )));
            }
        }
        let arch = AutoformerArch { embed, mlp, heads };
        arch.validate().map_err(err)?;
        Ok(arch)
    }
}

fn random_ratio(rng: &mut impl Rng) -> MlpRatio {
    *MlpRatio::ALL.choose(rng).unwrap_or(&MlpRatio::R4)
}

fn random_heads(rng: &mut impl Rng) -> usize {
    *HEADS.choose(rng).unwrap_or(&HEADS[0])
}

/// The canonical key: compact JSON, fields in the order embed, depth, mlp,
/// heads, e.g. `{"embed":384,"depth":12,"mlp":[3,3.5,...],"heads":[5,...]}`.
impl fmt::Display for AutoformerArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |items: Vec<String>| items.join(",");
        write!(
            f,
            "{{\"embed\":{},\"depth\":{},\"mlp\":[{}],\"heads\":[{}]}}",
            self.embed,
            self.depth(),
            join(self.mlp.iter().map(ToString::to_string).collect()),
            join(self.heads.iter().map(ToString::to_string).collect())
        )
    }
}

impl std::str::FromStr for AutoformerArch {
    type Err = ParseAutoformerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AutoformerArch::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn arch(embed: usize, mlp: &[f64], heads: &[usize]) -> AutoformerArch {
        AutoformerArch {
            embed,
            mlp: mlp.iter().map(|&v| MlpRatio::from_value(v).unwrap()).collect(),
            heads: heads.to_vec(),
        }
    }

    #[test]
    fn key_round_trips_and_is_canonical() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..50 {
            let a = AutoformerArch::sample(&mut rng);
            let key = a.to_string();
            assert_eq!(key.parse::<AutoformerArch>().unwrap(), a);
            assert!(!key.contains(' '));
        }
        let a = arch(384, &[3.0; 12], &[6; 12]);
        assert_eq!(
            a.to_string(),
            "{\"embed\":384,\"depth\":12,\"mlp\":[3,3,3,3,3,3,3,3,3,3,3,3],\"heads\":[6,6,6,6,6,6,6,6,6,6,6,6]}"
        );
        // Spacing, field order, 3.0 for 3 and a missing depth all read.
        let loose = "{ \"heads\": [6,6,6,6,6,6,6,6,6,6,6,6], \"mlp\": [3.0,3,3,3,3,3,3,3,3,3,3,3], \"embed\": 384 }";
        assert_eq!(AutoformerArch::parse(loose).unwrap(), a);
    }

    #[test]
    fn bad_keys_say_what_is_wrong() {
        let cases = [
            ("[1,2]", "expected a JSON object"),
            ("{\"embed\":400,\"mlp\":[3;12],\"heads\":[]}", "not JSON"),
            (
                "{\"embed\":400,\"mlp\":[3,3,3,3,3,3,3,3,3,3,3,3],\"heads\":[5,5,5,5,5,5,5,5,5,5,5,5]}",
                "embed 400",
            ),
            (
                "{\"embed\":320,\"mlp\":[3,3,3,3,3,3,3,3,3,3,3,3],\"heads\":[5,5,5,5,5,5,5,5,5,5,5,8]}",
                "heads[11] = 8",
            ),
            (
                "{\"embed\":320,\"mlp\":[3,3,3,3,3,3,3,3,3,3,3,2.5],\"heads\":[5,5,5,5,5,5,5,5,5,5,5,5]}",
                "mlp[11] = 2.5",
            ),
            (
                "{\"embed\":320,\"mlp\":[3,3,3,3,3,3,3,3,3,3,3,3],\"heads\":[5,5,5,5,5,5,5,5,5,5,5]}",
                "12 MLP ratios but 11",
            ),
            (
                "{\"embed\":320,\"depth\":13,\"mlp\":[3,3,3,3,3,3,3,3,3,3,3,3],\"heads\":[5,5,5,5,5,5,5,5,5,5,5,5]}",
                "depth 13 but 12",
            ),
            (
                "{\"embed\":320,\"mlp\":[3,3,3],\"heads\":[5,5,5]}",
                "depth 3 is not one of",
            ),
            (
                "{\"embed\":320,\"mlp\":[],\"heads\":[],\"drop\":0}",
                "unknown field `drop`",
            ),
        ];
        for (input, says) in cases {
            let e = AutoformerArch::parse(input).unwrap_err().to_string();
            assert!(e.contains(says), "{input}: {e}");
        }
    }

    #[test]
    fn sampling_is_uniform_over_genes() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 3000;
        let (mut depth, mut embed, mut r4, mut h7, mut genes) = ([0usize; 3], [0usize; 3], 0, 0, 0);
        for _ in 0..n {
            let a = AutoformerArch::sample(&mut rng);
            a.validate().unwrap();
            depth[a.depth() - 12] += 1;
            embed[EMBED_DIMS.iter().position(|&e| e == a.embed).unwrap()] += 1;
            r4 += a.mlp.iter().filter(|r| **r == MlpRatio::R4).count();
            h7 += a.heads.iter().filter(|h| **h == 7).count();
            genes += a.depth();
        }
        // Each third within 4 standard deviations (sqrt(n * 2/9) = 26).
        for c in depth.iter().chain(&embed) {
            assert!((*c as f64 - 1000.0).abs() < 104.0, "{depth:?} {embed:?}");
        }
        for c in [r4, h7] {
            assert!((c as f64 / genes as f64 - 1.0 / 3.0).abs() < 0.02, "{c} of {genes}");
        }
    }

    #[test]
    fn mutation_follows_the_two_probabilities() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let a = arch(384, &[3.5; 13], &[6; 13]);
        // m_prob = s_prob = 0: unchanged.
        for _ in 0..20 {
            assert_eq!(a.mutate(0.0, 0.0, &mut rng), a);
        }
        // s_prob = 0: depth and embed never change; a gene changes with
        // probability m_prob * 2/3 (a resample may draw the same value).
        let n = 2000;
        let mut changed = 0;
        for _ in 0..n {
            let m = a.mutate(0.3, 0.0, &mut rng);
            assert_eq!((m.depth(), m.embed), (13, 384));
            changed += m.mlp.iter().filter(|r| **r != MlpRatio::R3_5).count();
        }
        let rate = changed as f64 / (n * 13) as f64;
        assert!((rate - 0.2).abs() < 0.01, "{rate}");
        // s_prob = 1, m_prob = 0: depth and embed redrawn, kept blocks kept.
        let (mut depth_changed, mut embed_changed) = (0, 0);
        for _ in 0..n {
            let m = a.mutate(0.0, 1.0, &mut rng);
            m.validate().unwrap();
            let kept = m.depth().min(13);
            assert_eq!(m.mlp[..kept], a.mlp[..kept]);
            assert_eq!(m.heads[..kept], a.heads[..kept]);
            depth_changed += usize::from(m.depth() != 13);
            embed_changed += usize::from(m.embed != 384);
        }
        for c in [depth_changed, embed_changed] {
            assert!((c as f64 / n as f64 - 2.0 / 3.0).abs() < 0.04, "{c}");
        }
    }

    #[test]
    fn crossover_takes_every_gene_from_a_parent() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let a = arch(320, &[3.0; 12], &[5; 12]);
        let b = arch(448, &[4.0; 14], &[7; 14]);
        let mut from_b = 0;
        for _ in 0..500 {
            let c = a.cross(&b, &mut rng);
            c.validate().unwrap();
            assert!([12, 14].contains(&c.depth()) && [320, 448].contains(&c.embed));
            for i in 0..c.depth() {
                assert!([MlpRatio::R3, MlpRatio::R4].contains(&c.mlp[i]) && [5, 7].contains(&c.heads[i]));
            }
            // Blocks 12 and 13 exist only in b.
            if c.depth() == 14 {
                assert_eq!((c.mlp[13], c.heads[13]), (MlpRatio::R4, 7));
            }
            from_b += c.heads[..12].iter().filter(|h| **h == 7).count();
        }
        assert!((from_b as f64 / 6000.0 - 0.5).abs() < 0.03, "{from_b}");
        assert_eq!(a.cross(&a, &mut rng), a);
    }

    #[test]
    fn sampling_within_limits_respects_them() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let limits = 18_000_000..=23_000_000;
        for _ in 0..50 {
            let a = AutoformerArch::sample_within(&mut rng, &limits, CountBasis::PAPER, 10_000).unwrap();
            assert!(limits.contains(&a.params(CountBasis::PAPER)));
        }
        assert!(AutoformerArch::sample_within(&mut rng, &(0..=1_000_000), CountBasis::PAPER, 100).is_none());
    }
}
