//! The NB301 genotype: a normal and a reduction cell, each 8 (input, op)
//! pairs, two per intermediate node 2..=5 (inputs 0 and 1 are the cell's
//! two preprocessed inputs). The key is the form `zc_nasbench301.json`
//! writes: `[[(0, 0), (1, 5), ...], [(1, 0), ...]]`.

use std::fmt::{self, Display};

use rand::Rng;
use serde::{Deserialize, Serialize};

/// NASLib's nb301 op order (the `OPS` list of `convert_compact_to_genotype`
/// in its nasbench301 conversions): the index in a key is the position here.
/// DARTS' `none` is not a choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    MaxPool3x3,
    AvgPool3x3,
    SkipConnect,
    SepConv3x3,
    SepConv5x5,
    DilConv3x3,
    DilConv5x5,
}

impl Op {
    pub const ALL: [Op; 7] = [
        Op::MaxPool3x3,
        Op::AvgPool3x3,
        Op::SkipConnect,
        Op::SepConv3x3,
        Op::SepConv5x5,
        Op::DilConv3x3,
        Op::DilConv5x5,
    ];
}

pub const PAIRS_PER_CELL: usize = 8;

/// `cells[0]` normal, `cells[1]` reduction; each pair (input node, op).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Nb301Arch {
    pub cells: [[(usize, Op); PAIRS_PER_CELL]; 2],
}

/// The network's settings. NASLib's defaults (what Suite-Zero's `params`
/// count): 32 initial channels, 8 cells, reductions at cells 2 and 5 (1/3
/// and 2/3 of the depth), no auxiliary head, 10 classes.
///
/// What NASLib's source does (branch `zerocost`, 8c45f19, the branch
/// NAS-Bench-Suite-Zero was computed with; `Develop` has channels
/// [16, 32, 64] instead), `search_spaces/nasbench301/graph.py`:
/// - `self.channels = [32, 64, 128]`; the stem is `ops.Stem`: 3x3 conv
///   3 -> 3 * 32 (`stem_multiplier = 3`), no bias, then `BatchNorm2d` with
///   its default affine=True.
/// - Between cells (`_set_makrograph_ops(affine=True)`): `ReLUConvBN` 1x1
///   (affine BN) where the channels match, `FactorizedReduce(affine=True)`
///   from the cell before a reduction; a reduction cell's inputs are
///   projected straight to 2C.
/// - Cell ops (`_set_ops`): SepConv and DilConv with `affine=False` BNs;
///   `MaxPool`/`AvgPool(use_bn=True)` are the pool followed by
///   `BatchNorm2d(C, affine=False)` (no parameters, but they normalise);
///   skip_connect is `Identity` at stride 1 and
///   `FactorizedReduce(C, C, 2, affine=False)` at stride 2 (reduction-cell
///   edges from the two inputs only).
/// - The auxiliary head: `auxiliary=True` adds an output node whose edge
///   gets its head only in `prepare_evaluation()`; until then it is the
///   default `Identity` (no parameters). Suite-Zero's counts leave it out,
///   as our count does.
/// - Head: `AdaptiveAvgPool2d(1)`, `Flatten`, `Linear(4 * 128, classes)`
///   with bias; no ReLU or BN before the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nb301Config {
    pub channels: usize,
    pub cells: usize,
    pub num_classes: usize,
    pub image_size: usize,
}

impl Default for Nb301Config {
    fn default() -> Nb301Config {
        Nb301Config {
            channels: 32,
            cells: 8,
            num_classes: 10,
            image_size: 32,
        }
    }
}

impl Nb301Config {
    /// Checks the settings; the message names the setting and what it allows.
    pub fn validate(&self) -> Result<(), String> {
        if self.channels == 0 || !self.channels.is_multiple_of(2) || self.channels > 1024 {
            return Err(format!(
                "nb301 channels {}: expected an even number from 2 to 1024 (FactorizedReduce halves it)",
                self.channels
            ));
        }
        if self.cells < 3 || self.cells > 64 {
            return Err(format!(
                "nb301 cells {}: expected 3 to 64 (two reduction cells sit at 1/3 and 2/3 of the depth)",
                self.cells
            ));
        }
        if self.num_classes < 2 {
            return Err(format!(
                "nb301 classes {}: the head needs at least 2 (with one class every gradient of the loss is 0)",
                self.num_classes
            ));
        }
        // FactorizedReduce's two halves agree in size on even sides only,
        // before each of the two reductions.
        if self.image_size < 4 || !self.image_size.is_multiple_of(4) || self.image_size > 1024 {
            return Err(format!(
                "nb301 image size {}: expected a multiple of 4 from 4 to 1024 (two stride-2 reductions)",
                self.image_size
            ));
        }
        Ok(())
    }

    /// Whether cell `i` is a reduction cell (DARTS: at layers // 3 and 2 * layers // 3).
    pub fn is_reduction(&self, i: usize) -> bool {
        i == self.cells / 3 || i == 2 * self.cells / 3
    }

    /// Parameters of the network, from the encoding. BatchNorm affine
    /// parameters exist in the stem and the cell-input preprocessing
    /// (ReLU-Conv-BN, FactorizedReduce) only; the ops' BNs, the pools'
    /// included, are not affine (as NASLib builds them, see
    /// [`Nb301Config`]; this reproduces Suite-Zero's `params` on all 725
    /// cells, and all-affine BNs or an auxiliary head miss every cell).
    pub fn params(&self, arch: &Nb301Arch) -> u64 {
        let stem = 3 * self.channels;
        let (mut c_pp, mut c_p, mut c) = (stem, stem, self.channels);
        let mut total = 3 * stem * 9 + 2 * stem;
        let mut reduction_prev = false;
        for i in 0..self.cells {
            let reduction = self.is_reduction(i);
            if reduction {
                c *= 2;
            }
            // preprocess0: FactorizedReduce after a reduction (two 1x1 convs to c/2 each), else ReLU-Conv-BN.
            total += if reduction_prev { 2 * c_pp * (c / 2) } else { c_pp * c } + 2 * c;
            total += c_p * c + 2 * c;
            for &(input, op) in &arch.cells[usize::from(reduction)] {
                total += op_params(op, c, reduction && input < 2);
            }
            reduction_prev = reduction;
            (c_pp, c_p) = (c_p, 4 * c);
        }
        (total + c_p * self.num_classes + self.num_classes) as u64
    }
}

/// One op's parameters at `c` channels (non-affine BNs count nothing).
fn op_params(op: Op, c: usize, stride2: bool) -> usize {
    match op {
        Op::MaxPool3x3 | Op::AvgPool3x3 => 0,
        // A stride-2 skip is a FactorizedReduce: two 1x1 convs c -> c/2.
        Op::SkipConnect => {
            if stride2 {
                c * c
            } else {
                0
            }
        }
        // Two (depthwise k x k, pointwise 1 x 1, BN) blocks.
        Op::SepConv3x3 => 2 * (9 * c + c * c),
        Op::SepConv5x5 => 2 * (25 * c + c * c),
        Op::DilConv3x3 => 9 * c + c * c,
        Op::DilConv5x5 => 25 * c + c * c,
    }
}

impl Nb301Arch {
    /// Parses a key; errors name the key and the problem.
    pub fn parse(key: &str) -> Result<Nb301Arch, String> {
        let bad = |why: String| format!("nb301 genotype {key:?}: {why}");
        let numbers: Vec<usize> = key
            .split(|ch: char| !ch.is_ascii_digit() && ch != '-')
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.parse::<usize>()
                    .map_err(|_| bad(format!("{t:?} is not a node or op index")))
            })
            .collect::<Result<_, _>>()?;
        let stripped: String = key.chars().filter(|c| !c.is_whitespace()).collect();
        if !stripped.starts_with("[[") || !stripped.ends_with("]]") || stripped.matches("],[").count() != 1 {
            return Err(bad(
                "expected two cells, [[(input, op), ...], [(input, op), ...]]".into()
            ));
        }
        let halves: Vec<&str> = stripped
            .trim_start_matches("[[")
            .trim_end_matches("]]")
            .split("],[")
            .collect();
        for (cell, half) in halves.iter().enumerate() {
            let pairs = half.matches('(').count();
            if pairs != PAIRS_PER_CELL {
                return Err(bad(format!(
                    "cell {cell} has {pairs} (input, op) pairs, expected {PAIRS_PER_CELL}"
                )));
            }
        }
        if numbers.len() != 4 * PAIRS_PER_CELL {
            return Err(bad(format!(
                "{} numbers, expected {} (two per pair)",
                numbers.len(),
                4 * PAIRS_PER_CELL
            )));
        }
        let mut cells = [[(0, Op::MaxPool3x3); PAIRS_PER_CELL]; 2];
        for (i, pair) in numbers.chunks(2).enumerate() {
            let op = *Op::ALL
                .get(pair[1])
                .ok_or_else(|| bad(format!("op index {} out of range 0..{}", pair[1], Op::ALL.len())))?;
            cells[i / PAIRS_PER_CELL][i % PAIRS_PER_CELL] = (pair[0], op);
        }
        let arch = Nb301Arch { cells };
        arch.validate().map_err(bad)?;
        Ok(arch)
    }

    /// Node n (2..=5) reads pairs 2(n-2), 2(n-2)+1: from distinct earlier nodes.
    pub fn validate(&self) -> Result<(), String> {
        for (cell, pairs) in self.cells.iter().enumerate() {
            for node in 2..2 + PAIRS_PER_CELL / 2 {
                let (a, b) = (pairs[2 * (node - 2)].0, pairs[2 * (node - 2) + 1].0);
                for input in [a, b] {
                    if input >= node {
                        return Err(format!(
                            "cell {cell} node {node} reads node {input}, not an earlier node"
                        ));
                    }
                }
                if a == b {
                    return Err(format!("cell {cell} node {node} reads node {a} twice"));
                }
            }
        }
        Ok(())
    }

    /// A uniformly drawn valid genotype (NASLib's sampler: two distinct
    /// earlier nodes per node, each with a uniform op).
    pub fn sample(rng: &mut impl Rng) -> Nb301Arch {
        let mut cells = [[(0, Op::MaxPool3x3); PAIRS_PER_CELL]; 2];
        for pairs in &mut cells {
            for node in 2..2 + PAIRS_PER_CELL / 2 {
                let a = rng.random_range(0..node);
                let b = (a + 1 + rng.random_range(0..node - 1)) % node;
                pairs[2 * (node - 2)] = (a, Op::ALL[rng.random_range(0..Op::ALL.len())]);
                pairs[2 * (node - 2) + 1] = (b, Op::ALL[rng.random_range(0..Op::ALL.len())]);
            }
        }
        Nb301Arch { cells }
    }

    /// Each pair changes with probability `m_prob`: its op to another op or
    /// its input to another earlier node not read by its sibling pair.
    pub fn mutate_genes(&self, m_prob: f64, rng: &mut impl Rng) -> Nb301Arch {
        let mut out = self.clone();
        for pairs in &mut out.cells {
            for i in 0..PAIRS_PER_CELL {
                if !rng.random_bool(m_prob) {
                    continue;
                }
                let node = 2 + i / 2;
                let sibling = pairs[i ^ 1].0;
                let inputs: Vec<usize> = (0..node).filter(|&n| n != sibling && n != pairs[i].0).collect();
                if rng.random_bool(0.5) && !inputs.is_empty() {
                    pairs[i].0 = inputs[rng.random_range(0..inputs.len())];
                } else {
                    let ops: Vec<Op> = Op::ALL.into_iter().filter(|&o| o != pairs[i].1).collect();
                    pairs[i].1 = ops[rng.random_range(0..ops.len())];
                }
            }
        }
        out
    }

    /// Uniform crossover per node (a node's two pairs travel together, so
    /// the child stays valid).
    pub fn cross(&self, other: &Nb301Arch, rng: &mut impl Rng) -> Nb301Arch {
        let mut out = self.clone();
        for (cell, pairs) in out.cells.iter_mut().enumerate() {
            for node in 0..PAIRS_PER_CELL / 2 {
                if rng.random_bool(0.5) {
                    pairs[2 * node] = other.cells[cell][2 * node];
                    pairs[2 * node + 1] = other.cells[cell][2 * node + 1];
                }
            }
        }
        out
    }
}

impl Display for Nb301Arch {
    /// The key exactly as `zc_nasbench301.json` writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (c, pairs) in self.cells.iter().enumerate() {
            write!(f, "{}[", if c > 0 { ", " } else { "" })?;
            for (i, &(input, op)) in pairs.iter().enumerate() {
                let index = op as usize;
                write!(f, "{}({input}, {index})", if i > 0 { ", " } else { "" })?;
            }
            write!(f, "]")?;
        }
        write!(f, "]")
    }
}
