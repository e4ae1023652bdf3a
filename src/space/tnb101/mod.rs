//! TransNAS-Bench-101 (Duan et al., CVPR 2021): the micro (cell) and macro (ResNet-style
//! skeleton) search spaces, their keys as Suite-Zero writes them, and the parameter count of
//! the network TransNAS-Bench-101's own model builder builds for each of the seven tasks
//! (`tnb101/model_builder.py` as NASLib vendors it), computed from the encoding alone.
//!
//! Encoder (`MacroNet(code, structure='backbone')`, input 224 x 224 in the builder):
//! stem = Conv3x3(3, 32, s2) + BN + ReLUConvBN3x3(32, 64, s2); then one layer per macro digit,
//! each two blocks; digit `t`: channels double when `t` is even (2, 4), stride 2 when `t > 2`.
//! Micro space: the macro code is fixed to 41414 and every block is the cell
//! `['', a, bc, def]`; macro space: every block is a ResNet basic block.

pub mod jigsaw;
pub mod net;

pub use net::{Skeleton, Tnb101Config, Tnb101Net};

use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

use super::{ArchSpace, NetConfig};
use crate::engine::params::ParamStore;
use crate::engine::probe::Network;

/// The seven tasks, named as the benchmark and Suite-Zero's files name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    ClassObject,
    ClassScene,
    RoomLayout,
    Jigsaw,
    Segmentsemantic,
    Autoencoder,
    Normal,
}

impl Task {
    /// The benchmark's input side for the task: Taskonomy's 256, the jigsaw's 255
    /// (`input_dim` of its config: three 85-pixel cells a side).
    pub fn default_image_size(self) -> usize {
        match self {
            Task::Jigsaw => 255,
            _ => 256,
        }
    }

    pub const ALL: [Task; 7] = [
        Task::ClassObject,
        Task::ClassScene,
        Task::RoomLayout,
        Task::Jigsaw,
        Task::Segmentsemantic,
        Task::Autoencoder,
        Task::Normal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Task::ClassObject => "class_object",
            Task::ClassScene => "class_scene",
            Task::RoomLayout => "room_layout",
            Task::Jigsaw => "jigsaw",
            Task::Segmentsemantic => "segmentsemantic",
            Task::Autoencoder => "autoencoder",
            Task::Normal => "normal",
        }
    }

    pub fn parse(s: &str) -> Result<Task, String> {
        Task::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Task::ALL.iter().map(|t| t.name()).collect();
            format!("unknown TransNAS-Bench-101 task {s:?} (one of {})", names.join(", "))
        })
    }
}

/// Micro cell ops as the benchmark's string codes them (`cell_ops.OPS`).
pub const MICRO_OPS: [&str; 4] = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3"];

/// A micro cell: six op indices, edges (0->1), (0->2), (1->2), (0->3), (1->3), (2->3), the
/// order of the benchmark's `64-41414-a_bc_def` string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MicroArch(pub [u8; 6]);

/// A macro skeleton: 4 to 6 layer digits in 1..=4 (1: keep, 2: double channels, 3: stride 2,
/// 4: both), 1 to 4 of them with stride 2 and 1 to 3 doubling channels (3,256 skeletons).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MacroArch(pub Vec<u8>);

/// Parses `(1, 0, 0, 2, 1, 0)` (or `[..]`, or bare comma-separated digits) into its numbers.
fn parse_tuple(key: &str, what: &str) -> Result<Vec<u8>, String> {
    let inner = key.trim().trim_start_matches(['(', '[']).trim_end_matches([')', ']']);
    inner
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<u8>()
                .map_err(|_| format!("{what} key {key:?}: {:?} is not a small non-negative integer", s.trim()))
        })
        .collect()
}

fn write_tuple(v: &[u8]) -> String {
    let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("({})", parts.join(", "))
}

impl MicroArch {
    pub fn parse(key: &str) -> Result<MicroArch, String> {
        let v = parse_tuple(key, "TransNAS-Bench-101 micro")?;
        if v.len() != 6 {
            return Err(format!(
                "TransNAS-Bench-101 micro key {key:?}: {} ops, a cell has 6",
                v.len()
            ));
        }
        if let Some((i, op)) = v.iter().enumerate().find(|(_, op)| **op > 3) {
            return Err(format!(
                "TransNAS-Bench-101 micro key {key:?}: op {op} at position {} of 6 is out of range 0..=3",
                i + 1
            ));
        }
        let mut ops = [0u8; 6];
        ops.copy_from_slice(&v);
        Ok(MicroArch(ops))
    }

    /// The key as Suite-Zero writes it: `(1, 0, 0, 2, 1, 0)`.
    pub fn key(&self) -> String {
        write_tuple(&self.0)
    }

    /// The benchmark's own architecture string, `64-41414-a_bc_def`.
    pub fn arch_str(&self) -> String {
        let o = self.0;
        format!("64-41414-{}_{}{}_{}{}{}", o[0], o[1], o[2], o[3], o[4], o[5])
    }

    pub fn sample(rng: &mut impl Rng) -> MicroArch {
        MicroArch(std::array::from_fn(|_| rng.random_range(0..4u8)))
    }

    /// One edge changes to a different op (NASLib's `mutate`).
    pub fn mutate(&self, rng: &mut impl Rng) -> MicroArch {
        let mut ops = self.0;
        let e = rng.random_range(0..6);
        let others: Vec<u8> = (0..4u8).filter(|&o| o != ops[e]).collect();
        ops[e] = *others.choose(rng).unwrap_or(&ops[e]);
        MicroArch(ops)
    }

    /// Uniform crossover per edge.
    pub fn cross(&self, other: &MicroArch, rng: &mut impl Rng) -> MicroArch {
        MicroArch(std::array::from_fn(|i| {
            if rng.random_bool(0.5) { self.0[i] } else { other.0[i] }
        }))
    }

    /// Parameters of the task's network (encoder + the task's decoder), as a count.
    pub fn params(&self, task: Task) -> u64 {
        self.params_with(task, 64)
    }

    /// The count with `channels` base channels (the benchmark's 64).
    pub fn params_with(&self, task: Task, channels: u64) -> u64 {
        let enc = encoder(&[4, 1, 4, 1, 4], Block::Micro(self.0), channels);
        enc.params + decoder_params(task, enc.channels, enc.width)
    }
}

impl MacroArch {
    pub fn parse(key: &str) -> Result<MacroArch, String> {
        let v = parse_tuple(key, "TransNAS-Bench-101 macro")?;
        // Suite-Zero pads every skeleton to six digits with trailing zeros.
        let len = v.iter().rposition(|&d| d != 0).map_or(0, |p| p + 1);
        if v.len() > 6 {
            return Err(format!(
                "TransNAS-Bench-101 macro key {key:?}: {} digits, at most 6",
                v.len()
            ));
        }
        let layers = v[..len].to_vec();
        MacroArch::new(layers).map_err(|e| format!("TransNAS-Bench-101 macro key {key:?}: {e}"))
    }

    /// Checks the benchmark's rules: 4 to 6 layers, digits 1..=4, 1 to 4 stride-2 layers,
    /// 1 to 3 channel-doubling layers.
    pub fn new(layers: Vec<u8>) -> Result<MacroArch, String> {
        if !(4..=6).contains(&layers.len()) {
            return Err(format!("{} layers, a skeleton has 4 to 6", layers.len()));
        }
        if let Some((i, d)) = layers.iter().enumerate().find(|(_, d)| !(1..=4).contains(*d)) {
            return Err(format!(
                "layer digit {d} at position {} of {} is out of range 1..=4",
                i + 1,
                layers.len()
            ));
        }
        let strides = layers.iter().filter(|&&d| d > 2).count();
        let doubles = layers.iter().filter(|&&d| d % 2 == 0).count();
        if !(1..=4).contains(&strides) {
            return Err(format!(
                "{strides} stride-2 layers (digits 3, 4), the space allows 1 to 4"
            ));
        }
        if !(1..=3).contains(&doubles) {
            return Err(format!(
                "{doubles} channel-doubling layers (digits 2, 4), the space allows 1 to 3"
            ));
        }
        Ok(MacroArch(layers))
    }

    /// The key as Suite-Zero writes it: six digits, zero-padded, `(1, 2, 4, 2, 0, 0)`.
    pub fn key(&self) -> String {
        let mut v = self.0.clone();
        v.resize(6, 0);
        write_tuple(&v)
    }

    /// The benchmark's own architecture string, `64-1242-basic`.
    pub fn arch_str(&self) -> String {
        let digits: String = self.0.iter().map(|d| d.to_string()).collect();
        format!("64-{digits}-basic")
    }

    /// Uniform over the 3,256 valid skeletons: uniform length-weighted draws, rejected until
    /// the stride/doubling counts are valid (acceptance is above 0.5 for every length).
    pub fn sample(rng: &mut impl Rng) -> MacroArch {
        loop {
            // Lengths weighted by their valid counts (210, 750, 2296) keep the draw uniform.
            let r = rng.random_range(0..3256u32);
            let len = if r < 210 {
                4
            } else if r < 960 {
                5
            } else {
                6
            };
            let layers: Vec<u8> = (0..len).map(|_| rng.random_range(1..=4u8)).collect();
            if let Ok(a) = MacroArch::new(layers) {
                return a;
            }
        }
    }

    /// One valid neighbour: a digit changed, a layer inserted, or a layer removed.
    pub fn mutate(&self, rng: &mut impl Rng) -> MacroArch {
        loop {
            let mut v = self.0.clone();
            match rng.random_range(0..3) {
                0 => {
                    let i = rng.random_range(0..v.len());
                    v[i] = rng.random_range(1..=4);
                }
                1 => {
                    let i = rng.random_range(0..=v.len());
                    v.insert(i, rng.random_range(1..=4));
                }
                _ => {
                    let i = rng.random_range(0..v.len());
                    v.remove(i);
                }
            }
            if v != self.0
                && let Ok(a) = MacroArch::new(v)
            {
                return a;
            }
        }
    }

    /// One-point crossover on the layer sequences, retried until the child is valid (the
    /// parents themselves are valid children, so this terminates).
    pub fn cross(&self, other: &MacroArch, rng: &mut impl Rng) -> MacroArch {
        for _ in 0..64 {
            let i = rng.random_range(0..=self.0.len());
            let j = rng.random_range(0..=other.0.len());
            let mut v = self.0[..i].to_vec();
            v.extend_from_slice(&other.0[j..]);
            if let Ok(a) = MacroArch::new(v) {
                return a;
            }
        }
        self.clone()
    }

    pub fn params(&self, task: Task) -> u64 {
        self.params_with(task, 64)
    }

    /// The count with `channels` base channels (the benchmark's 64).
    pub fn params_with(&self, task: Task, channels: u64) -> u64 {
        let enc = encoder(&self.0, Block::Basic, channels);
        enc.params + decoder_params(task, enc.channels, enc.width)
    }
}

#[derive(Clone, Copy)]
enum Block {
    Micro([u8; 6]),
    Basic,
}

struct Encoder {
    params: u64,
    channels: u64,
    /// Output width at the builder's 224 x 224 input (the decoders size themselves from it).
    width: u64,
}

/// ReLU-Conv(k x k, no bias)-BN(affine).
fn relu_conv_bn(cin: u64, cout: u64, k: u64) -> u64 {
    k * k * cin * cout + 2 * cout
}

/// One micro edge (`cell_ops.OPS`): none, skip (FactorizedReduce when shape changes),
/// 1x1, 3x3.
fn micro_op(op: u8, cin: u64, cout: u64, stride: u64) -> u64 {
    match op {
        0 => 0,
        1 if stride == 1 && cin == cout => 0,
        // FactorizedReduce: two 1x1 convs of cout/2 each + BN(cout).
        1 => cin * (cout / 2) + cin * (cout - cout / 2) + 2 * cout,
        2 => relu_conv_bn(cin, cout, 1),
        _ => relu_conv_bn(cin, cout, 3),
    }
}

fn block_params(block: Block, cin: u64, cout: u64, stride: u64) -> u64 {
    match block {
        Block::Micro(o) => {
            // Edges leaving node 0 map cin -> cout with the block's stride; the rest cout -> cout.
            micro_op(o[0], cin, cout, stride)
                + micro_op(o[1], cin, cout, stride)
                + micro_op(o[2], cout, cout, 1)
                + micro_op(o[3], cin, cout, stride)
                + micro_op(o[4], cout, cout, 1)
                + micro_op(o[5], cout, cout, 1)
        }
        Block::Basic => {
            let shortcut = if stride != 1 || cin != cout {
                cin * cout + 2 * cout
            } else {
                0
            };
            relu_conv_bn(cin, cout, 3) + relu_conv_bn(cout, cout, 3) + shortcut
        }
    }
}

fn encoder(layers: &[u8], block: Block, base: u64) -> Encoder {
    // Stem: Conv3x3(3, base/2, s2, no bias) + BN + ReLUConvBN3x3(base/2, base, s2).
    let mut params = 9 * 3 * (base / 2) + base + relu_conv_bn(base / 2, base, 3);
    let (mut c, mut w) = (base, 224u64 / 4);
    for &t in layers {
        let cout = if t % 2 == 0 { 2 * c } else { c };
        let stride = if t > 2 { 2 } else { 1 };
        w /= stride;
        params += block_params(block, c, cout, stride) + block_params(block, cout, cout, 1);
        c = cout;
    }
    Encoder {
        params,
        channels: c,
        width: w,
    }
}

/// Conv k x k with bias (the decoders' `ConvLayer`/`DeconvLayer`; a transposed conv has the
/// same count), plus BN(affine) when normalised.
fn conv_layer(cin: u64, cout: u64, bn: bool) -> u64 {
    9 * cin * cout + cout + if bn { 2 * cout } else { 0 }
}

/// The number of 2x upsamplings the pixel decoders use to reach 256 x 256:
/// `int(log2(256 / width))`, as `decoder.py` computes it.
fn num_upsample(width: u64) -> u32 {
    // floor(log2(256 / w)) for integer w: the largest n with w * 2^n <= 256.
    let mut n = 0;
    while width.max(1) << (n + 1) <= 256 {
        n += 1;
    }
    n
}

fn decoder_params(task: Task, c: u64, width: u64) -> u64 {
    match task {
        Task::ClassObject => c * 100 + 100,
        Task::ClassScene => c * 63 + 63,
        Task::RoomLayout => c * 9 + 9,
        // SiameseDecoder: Linear over the nine tiles' concatenated pooled features.
        Task::Jigsaw => 9 * c * 1000 + 1000,
        Task::Segmentsemantic => {
            let nu = num_upsample(width) as usize;
            let mut p = conv_layer(c, 1024, true);
            let mut t = 1024;
            for _ in 0..(6usize.saturating_sub(nu) + nu.saturating_sub(1)) {
                p += conv_layer(t, t / 2, true);
                t /= 2;
            }
            p + conv_layer(t, t, true) + conv_layer(t, 17, false)
        }
        // GenerativeDecoder (the GAN's discriminator is not part of the forward network and
        // Suite-Zero's counts leave it out).
        Task::Autoencoder | Task::Normal => {
            const CH: [(u64, u64); 12] = [
                (1024, 1024),
                (1024, 512),
                (512, 512),
                (512, 256),
                (256, 128),
                (128, 64),
                (64, 64),
                (64, 32),
                (32, 32),
                (32, 16),
                (16, 32),
                (32, 16),
            ];
            conv_layer(c, 1024, true)
                + CH.iter().map(|&(i, o)| conv_layer(i, o, true)).sum::<u64>()
                + conv_layer(16, 3, false)
        }
    }
}

/// The micro space (4,096 cells) with one task's network settings.
#[derive(Clone, Debug)]
pub struct Tnb101MicroSpace {
    pub config: Tnb101Config,
}

/// The macro space (3,256 skeletons) with one task's network settings.
#[derive(Clone, Debug)]
pub struct Tnb101MacroSpace {
    pub config: Tnb101Config,
}

impl Tnb101MicroSpace {
    pub fn new(config: Tnb101Config) -> Tnb101MicroSpace {
        Tnb101MicroSpace { config }
    }
}

impl Tnb101MacroSpace {
    pub fn new(config: Tnb101Config) -> Tnb101MacroSpace {
        Tnb101MacroSpace { config }
    }
}

impl std::fmt::Display for MicroArch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
    }
}

impl std::fmt::Display for MacroArch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
    }
}

impl ArchSpace for Tnb101MicroSpace {
    type Arch = MicroArch;

    fn config(&self) -> NetConfig {
        NetConfig::Tnb101Micro(self.config)
    }

    fn parse(&self, key: &str) -> Result<MicroArch, String> {
        MicroArch::parse(key)
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> MicroArch {
        MicroArch::sample(rng)
    }

    /// Each edge changes to another op with probability `m_prob`, at least one always.
    fn mutate(&self, arch: &MicroArch, m_prob: f64, _s_prob: f64, rng: &mut ChaCha8Rng) -> MicroArch {
        let mut out = arch.mutate(rng);
        for e in 0..6 {
            if out.0[e] == arch.0[e] && rng.random_bool(m_prob.clamp(0.0, 1.0)) {
                out.0[e] = (arch.0[e] + rng.random_range(1..4u8)) % 4;
            }
        }
        out
    }

    fn cross(&self, a: &MicroArch, b: &MicroArch, rng: &mut ChaCha8Rng) -> MicroArch {
        a.cross(b, rng)
    }

    fn params(&self, arch: &MicroArch) -> u64 {
        arch.params_with(self.config.task, self.config.channels as u64)
    }

    fn build(&self, arch: &MicroArch) -> (Box<dyn Network>, ParamStore) {
        let (net, params) = Tnb101Net::new(&Skeleton::Micro(arch.0), self.config);
        (Box::new(net), params)
    }

    fn all(&self) -> Option<Vec<MicroArch>> {
        Some(
            (0..4096u32)
                .map(|code| MicroArch(std::array::from_fn(|i| ((code >> (2 * (5 - i))) & 3) as u8)))
                .collect(),
        )
    }
}

impl ArchSpace for Tnb101MacroSpace {
    type Arch = MacroArch;

    fn config(&self) -> NetConfig {
        NetConfig::Tnb101Macro(self.config)
    }

    fn parse(&self, key: &str) -> Result<MacroArch, String> {
        MacroArch::parse(key)
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> MacroArch {
        MacroArch::sample(rng)
    }

    /// One valid neighbour (a digit changed, a layer inserted or removed); with probability
    /// `s_prob` a second step.
    fn mutate(&self, arch: &MacroArch, _m_prob: f64, s_prob: f64, rng: &mut ChaCha8Rng) -> MacroArch {
        let out = arch.mutate(rng);
        if rng.random_bool(s_prob.clamp(0.0, 1.0)) {
            let twice = out.mutate(rng);
            if twice != *arch {
                return twice;
            }
        }
        out
    }

    fn cross(&self, a: &MacroArch, b: &MacroArch, rng: &mut ChaCha8Rng) -> MacroArch {
        a.cross(b, rng)
    }

    fn params(&self, arch: &MacroArch) -> u64 {
        arch.params_with(self.config.task, self.config.channels as u64)
    }

    fn build(&self, arch: &MacroArch) -> (Box<dyn Network>, ParamStore) {
        let (net, params) = Tnb101Net::new(&Skeleton::Macro(arch.0.clone()), self.config);
        (Box::new(net), params)
    }

    fn all(&self) -> Option<Vec<MacroArch>> {
        let mut out = Vec::with_capacity(3256);
        for len in 4..=6u32 {
            for code in 0..4u32.pow(len) {
                let v: Vec<u8> = (0..len)
                    .map(|i| ((code / 4u32.pow(len - 1 - i)) % 4 + 1) as u8)
                    .collect();
                out.extend(MacroArch::new(v).ok());
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn num_upsample_matches_int_log2() {
        // int(log2(256 / w)) by hand: 56 -> 2.19, 28 -> 3.19, 14 -> 4.19, 7 -> 5.19, 3 -> 6.42.
        for (w, n) in [(56, 2), (28, 3), (14, 4), (7, 5), (3, 6)] {
            assert_eq!(num_upsample(w), n, "width {w}");
        }
    }

    #[test]
    fn macro_space_has_3256_skeletons() {
        let mut n = 0;
        for len in 4..=6u32 {
            for code in 0..4u32.pow(len) {
                let v: Vec<u8> = (0..len).map(|i| ((code / 4u32.pow(i)) % 4 + 1) as u8).collect();
                n += usize::from(MacroArch::new(v).is_ok());
            }
        }
        assert_eq!(n, 3256);
    }
}
