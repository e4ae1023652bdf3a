//! NAS-Bench-201 cell encodings: arch strings, NASLib tuples, enumeration,
//! uniform sampling and mutation. Pure Rust, no tensors.

use std::fmt;
use std::str::FromStr;

use rand::Rng;

/// Number of edges of an NB201 cell: (0,1) (0,2) (1,2) (0,3) (1,3) (2,3)
/// in arch-string order, which is also the cell's execution order.
pub const NUM_EDGES: usize = 6;
/// Number of distinct cells: 5 ops on 6 edges.
pub const NUM_ARCHS: usize = 15_625;

/// One candidate operation on a cell edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    None,
    SkipConnect,
    NorConv1x1,
    NorConv3x3,
    AvgPool3x3,
}

impl Op {
    /// All ops in NB201's own order (the order of `index`).
    pub const ALL: [Op; 5] = [
        Op::None,
        Op::SkipConnect,
        Op::NorConv1x1,
        Op::NorConv3x3,
        Op::AvgPool3x3,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::None => "none",
            Op::SkipConnect => "skip_connect",
            Op::NorConv1x1 => "nor_conv_1x1",
            Op::NorConv3x3 => "nor_conv_3x3",
            Op::AvgPool3x3 => "avg_pool_3x3",
        }
    }

    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }

    /// Index in NB201's order (none, skip, 1x1, 3x3, pool).
    pub fn index(self) -> usize {
        self as usize
    }

    /// NASLib's op index: 0 skip_connect, 1 none, 2 nor_conv_3x3,
    /// 3 nor_conv_1x1, 4 avg_pool_3x3 (not NB201's order).
    pub fn naslib_index(self) -> u8 {
        match self {
            Op::SkipConnect => 0,
            Op::None => 1,
            Op::NorConv3x3 => 2,
            Op::NorConv1x1 => 3,
            Op::AvgPool3x3 => 4,
        }
    }

    pub fn from_naslib_index(i: u8) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.naslib_index() == i)
    }

    pub fn has_weights(self) -> bool {
        matches!(self, Op::NorConv1x1 | Op::NorConv3x3)
    }
}

/// Source and target node of each edge, in arch-string order.
pub const EDGES: [(usize, usize); NUM_EDGES] = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)];

/// NASLib's edge order over nodes numbered 1..4: (1,2),(1,3),(1,4),(2,3),(2,4),(3,4).
/// Entry i is the arch-string edge that NASLib's tuple position i names.
const NASLIB_TO_EDGE: [usize; NUM_EDGES] = [0, 1, 3, 2, 4, 5];

/// An NB201 cell: the op of each of the six edges, in arch-string order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nb201Arch {
    pub ops: [Op; NUM_EDGES],
}

/// Why a string is not an NB201 architecture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseArchError {
    #[error("`{input}` is not an NB201 arch string: {reason}")]
    ArchString { input: String, reason: String },
    #[error("`{input}` is not a NASLib NB201 tuple: {reason}")]
    Tuple { input: String, reason: String },
}

impl Nb201Arch {
    /// The cell with index `i` in 0..15625, edges as base-5 digits with
    /// edge 0 most significant (NB201's enumeration order is different;
    /// this order is only for iterating the space).
    pub fn from_index(mut i: usize) -> Nb201Arch {
        let mut ops = [Op::None; NUM_EDGES];
        for slot in ops.iter_mut().rev() {
            *slot = Op::ALL[i % 5];
            i /= 5;
        }
        Nb201Arch { ops }
    }

    pub fn index(&self) -> usize {
        self.ops.iter().fold(0, |acc, op| acc * 5 + op.index())
    }

    pub fn all() -> impl Iterator<Item = Nb201Arch> {
        (0..NUM_ARCHS).map(Nb201Arch::from_index)
    }

    pub fn sample(rng: &mut impl Rng) -> Nb201Arch {
        Nb201Arch::from_index(rng.random_range(0..NUM_ARCHS))
    }

    /// Replace the op of one uniformly chosen edge by a different op.
    pub fn mutate(&self, rng: &mut impl Rng) -> Nb201Arch {
        let mut out = *self;
        let edge = rng.random_range(0..NUM_EDGES);
        let current = out.ops[edge];
        let others: Vec<Op> = Op::ALL.into_iter().filter(|&o| o != current).collect();
        out.ops[edge] = others[rng.random_range(0..others.len())];
        out
    }

    /// Uniform crossover: each edge from either parent with probability 1/2.
    pub fn cross(&self, other: &Nb201Arch, rng: &mut impl Rng) -> Nb201Arch {
        let mut ops = self.ops;
        for (slot, theirs) in ops.iter_mut().zip(other.ops) {
            if rng.random_bool(0.5) {
                *slot = theirs;
            }
        }
        Nb201Arch { ops }
    }

    /// The NASLib tuple: op indices in NASLib's edge and op order.
    pub fn to_naslib_tuple(&self) -> [u8; NUM_EDGES] {
        std::array::from_fn(|i| self.ops[NASLIB_TO_EDGE[i]].naslib_index())
    }

    pub fn from_naslib_tuple(t: [u8; NUM_EDGES]) -> Option<Nb201Arch> {
        let mut ops = [Op::None; NUM_EDGES];
        for (i, &v) in t.iter().enumerate() {
            ops[NASLIB_TO_EDGE[i]] = Op::from_naslib_index(v)?;
        }
        Some(Nb201Arch { ops })
    }

    /// Formats the NASLib tuple as Python prints it: `(0, 1, 2, 3, 4, 0)`.
    pub fn naslib_tuple_string(&self) -> String {
        let t = self.to_naslib_tuple();
        let parts: Vec<String> = t.iter().map(|v| v.to_string()).collect();
        format!("({})", parts.join(", "))
    }

    /// Parses `(0, 1, 2, 3, 4, 0)` (spaces optional, brackets optional).
    pub fn parse_naslib_tuple(s: &str) -> Result<Nb201Arch, ParseArchError> {
        let err = |reason: &str| ParseArchError::Tuple {
            input: s.to_string(),
            reason: reason.to_string(),
        };
        let inner = s.trim().trim_start_matches(['(', '[']).trim_end_matches([')', ']']);
        let values: Vec<&str> = inner.split(',').map(str::trim).filter(|v| !v.is_empty()).collect();
        if values.len() != NUM_EDGES {
            return Err(err(&format!("expected 6 op indices, found {}", values.len())));
        }
        let mut t = [0u8; NUM_EDGES];
        for (slot, v) in t.iter_mut().zip(&values) {
            *slot = v
                .parse::<u8>()
                .ok()
                .filter(|&x| x <= 4)
                .ok_or_else(|| err(&format!("`{v}` is not an op index 0..4")))?;
        }
        Nb201Arch::from_naslib_tuple(t).ok_or_else(|| err("unknown op index"))
    }

    /// Parses either an arch string or a NASLib tuple.
    pub fn parse_any(s: &str) -> Result<Nb201Arch, ParseArchError> {
        let t = s.trim();
        if t.starts_with('|') {
            t.parse()
        } else {
            Nb201Arch::parse_naslib_tuple(t)
        }
    }

    /// Number of weight layers inside one cell (conv ops).
    pub fn conv_edges(&self) -> usize {
        self.ops.iter().filter(|op| op.has_weights()).count()
    }
}

impl Nb201Arch {
    /// AutoFormer-style mutation: every edge is resampled with probability
    /// `m_prob` (possibly to the same op); retried until the child differs.
    pub fn mutate_genes(&self, m_prob: f64, rng: &mut impl Rng) -> Nb201Arch {
        loop {
            let mut out = *self;
            for slot in &mut out.ops {
                if rng.random_bool(m_prob) {
                    *slot = Op::ALL[rng.random_range(0..Op::ALL.len())];
                }
            }
            if out != *self {
                return out;
            }
        }
    }
}

/// A set of ops per edge (bit `op.index()` of each mask): the supernet of
/// TE-NAS's pruning search, where an edge sums the outputs of its ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Nb201Supernet {
    pub masks: [u8; NUM_EDGES],
}

impl Nb201Supernet {
    const ALL_OPS: u8 = (1 << Op::ALL.len()) - 1;

    /// Every op on every edge.
    pub fn full() -> Nb201Supernet {
        Nb201Supernet {
            masks: [Self::ALL_OPS; NUM_EDGES],
        }
    }

    pub fn from_arch(arch: Nb201Arch) -> Nb201Supernet {
        Nb201Supernet {
            masks: arch.ops.map(|op| 1 << op.index()),
        }
    }

    /// The ops of one edge in NB201's op order.
    pub fn ops(&self, edge: usize) -> impl Iterator<Item = Op> + use<> {
        let mask = self.masks[edge];
        Op::ALL.into_iter().filter(move |op| mask & (1 << op.index()) != 0)
    }

    pub fn without(&self, edge: usize, op: Op) -> Nb201Supernet {
        let mut out = *self;
        out.masks[edge] &= !(1 << op.index());
        out
    }

    /// The architecture, when every edge has exactly one op.
    pub fn single(&self) -> Option<Nb201Arch> {
        let mut ops = [Op::None; NUM_EDGES];
        for (e, slot) in ops.iter_mut().enumerate() {
            let mut it = self.ops(e);
            *slot = it.next()?;
            if it.next().is_some() {
                return None;
            }
        }
        Some(Nb201Arch { ops })
    }

    pub fn contains(&self, arch: &Nb201Arch) -> bool {
        arch.ops
            .iter()
            .zip(self.masks)
            .all(|(op, m)| m & (1 << op.index()) != 0)
    }
}

impl fmt::Display for Nb201Supernet {
    /// The arch-string layout with the ops of an edge joined by `/`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut e = 0;
        for node in 1..4 {
            if node > 1 {
                write!(f, "+")?;
            }
            write!(f, "|")?;
            for src in 0..node {
                for (i, op) in self.ops(e).enumerate() {
                    if i > 0 {
                        f.write_str("/")?;
                    }
                    f.write_str(op.name())?;
                }
                write!(f, "~{src}|")?;
                e += 1;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Nb201Arch {
    /// The NB201 arch string `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|` (a
    /// supernet with one op per edge prints exactly that).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Nb201Supernet::from_arch(*self).fmt(f)
    }
}

impl FromStr for Nb201Arch {
    type Err = ParseArchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| ParseArchError::ArchString {
            input: s.to_string(),
            reason,
        };
        let nodes: Vec<&str> = s.trim().split('+').collect();
        if nodes.len() != 3 {
            return Err(err(format!("expected 3 nodes separated by `+`, found {}", nodes.len())));
        }
        let mut ops = [Op::None; NUM_EDGES];
        let mut e = 0;
        for (i, node) in nodes.iter().enumerate() {
            let items: Vec<&str> = node.split('|').filter(|p| !p.is_empty()).collect();
            if items.len() != i + 1 {
                return Err(err(format!(
                    "node {} needs {} inputs, found {}",
                    i + 1,
                    i + 1,
                    items.len()
                )));
            }
            for (src, item) in items.iter().enumerate() {
                let (name, idx) = item
                    .split_once('~')
                    .ok_or_else(|| err(format!("`{item}` lacks `~input`")))?;
                if idx != src.to_string() {
                    return Err(err(format!("`{item}` should read from node {src}")));
                }
                ops[e] = Op::from_name(name).ok_or_else(|| err(format!("unknown op `{name}`")))?;
                e += 1;
            }
        }
        Ok(Nb201Arch { ops })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn every_arch_round_trips_through_string_and_tuple() {
        let mut seen = std::collections::HashSet::new();
        for arch in Nb201Arch::all() {
            let s = arch.to_string();
            assert_eq!(s.parse::<Nb201Arch>().unwrap(), arch);
            let t = arch.to_naslib_tuple();
            assert_eq!(Nb201Arch::from_naslib_tuple(t).unwrap(), arch);
            assert_eq!(
                Nb201Arch::parse_naslib_tuple(&arch.naslib_tuple_string()).unwrap(),
                arch
            );
            assert_eq!(Nb201Arch::from_index(arch.index()), arch);
            assert!(seen.insert(s));
        }
        assert_eq!(seen.len(), NUM_ARCHS);
    }

    #[test]
    fn naslib_tuple_follows_the_documented_edge_and_op_order() {
        // The data README: the arch string is |t0~0|+|t1~0|t3~1|+|t2~0|t4~1|t5~2|
        // with 0 skip, 1 none, 2 conv3x3, 3 conv1x1, 4 pool.
        let arch = Nb201Arch::parse_naslib_tuple("(0, 1, 2, 3, 4, 2)").unwrap();
        assert_eq!(
            arch.to_string(),
            "|skip_connect~0|+|none~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|nor_conv_3x3~2|"
        );
    }

    #[test]
    fn malformed_strings_are_rejected_with_a_reason() {
        for bad in [
            "",
            "|nor_conv_3x3~0|",
            "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
            "(0, 1, 2)",
            "(0, 1, 2, 3, 4, 9)",
        ] {
            assert!(Nb201Arch::parse_any(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn mutation_changes_exactly_one_edge() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..200 {
            let a = Nb201Arch::sample(&mut rng);
            let b = a.mutate(&mut rng);
            let diff = a.ops.iter().zip(b.ops).filter(|(x, y)| **x != *y).count();
            assert_eq!(diff, 1);
        }
    }

    #[test]
    fn gene_mutation_resamples_edges_at_the_given_rate() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let parent = Nb201Arch::from_index(777);
        let mut changed_edges = 0usize;
        for _ in 0..2000 {
            let child = parent.mutate_genes(0.2, &mut rng);
            assert_ne!(child, parent);
            changed_edges += child.ops.iter().zip(parent.ops).filter(|(a, b)| **a != *b).count();
        }
        // Per edge: P(change) = 0.2 * 4/5 = 0.16; conditioned on at least one
        // change (1 - 0.84^6 = 0.649), E[changed edges] = 6 * 0.16 / 0.649 = 1.479.
        let mean = changed_edges as f64 / 2000.0;
        assert!((mean - 1.479).abs() < 0.05, "mean changed edges {mean}");
    }

    #[test]
    fn supernet_prunes_down_to_one_architecture() {
        let full = Nb201Supernet::full();
        assert_eq!(full.single(), None);
        assert_eq!(Nb201Arch::all().filter(|a| full.contains(a)).count(), NUM_ARCHS);
        let arch: Nb201Arch = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"
            .parse()
            .unwrap();
        let mut s = full;
        for (e, keep) in arch.ops.iter().enumerate() {
            for op in Op::ALL {
                if op != *keep {
                    s = s.without(e, op);
                }
            }
        }
        assert_eq!(s.single(), Some(arch));
        assert_eq!(Nb201Supernet::from_arch(arch), s);
        assert_eq!(s.to_string(), arch.to_string());
        // Two ops left on edge 0: 2 of the 5^0 * ... archs remain.
        let two = s.masks;
        let mut wide = Nb201Supernet { masks: two };
        wide.masks[0] |= 1 << Op::SkipConnect.index();
        assert_eq!(Nb201Arch::all().filter(|a| wide.contains(a)).count(), 2);
        assert!(wide.to_string().starts_with("|skip_connect/nor_conv_3x3~0|"));
    }
}
