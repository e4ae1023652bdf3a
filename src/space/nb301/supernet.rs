//! The DARTS supernet of TE-NAS's pruning search: in each cell type every
//! edge (source node, target node) of the 14 carries a set of ops, and a
//! node sums all of them. Pruning removes ops until one is left per edge,
//! then edges until each intermediate node keeps two, which is a genotype.

use std::fmt;

use super::encoding::{Nb301Arch, Op, PAIRS_PER_CELL};

/// Intermediate nodes 2..=5 read every earlier node: 2 + 3 + 4 + 5 edges.
pub const EDGES_PER_CELL: usize = 14;
/// The first intermediate node and the node after the last one.
pub const NODES: std::ops::Range<usize> = 2..2 + PAIRS_PER_CELL / 2;

/// Index of edge source -> target (target in 2..=5, source < target).
pub fn edge_index(source: usize, target: usize) -> usize {
    debug_assert!(NODES.contains(&target) && source < target);
    (target - 2) * (target + 1) / 2 + source
}

/// (source, target) of an edge index.
pub fn edge_nodes(edge: usize) -> (usize, usize) {
    let target = NODES
        .clone()
        .find(|&t| edge < edge_index(0, t) + t)
        .unwrap_or_else(|| unreachable!("edge {edge} of {EDGES_PER_CELL}"));
    (edge - edge_index(0, target), target)
}

/// Op sets per edge (bit `op as usize`; 0 = the edge is gone), `masks[0]`
/// the normal cell, `masks[1]` the reduction cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Nb301Supernet {
    pub masks: [[u8; EDGES_PER_CELL]; 2],
}

/// One step of a prune: an op off an edge, or a whole edge off a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    Op { cell: usize, edge: usize, op: Op },
    Edge { cell: usize, edge: usize },
}

impl Nb301Supernet {
    const ALL_OPS: u8 = (1 << Op::ALL.len()) - 1;

    /// Every op on every edge of both cells.
    pub fn full() -> Nb301Supernet {
        Nb301Supernet {
            masks: [[Self::ALL_OPS; EDGES_PER_CELL]; 2],
        }
    }

    /// The genotype's edges, one op each.
    pub fn from_arch(arch: &Nb301Arch) -> Nb301Supernet {
        let mut masks = [[0u8; EDGES_PER_CELL]; 2];
        for (cell, pairs) in arch.cells.iter().enumerate() {
            for (j, &(source, op)) in pairs.iter().enumerate() {
                masks[cell][edge_index(source, 2 + j / 2)] |= 1 << op as usize;
            }
        }
        Nb301Supernet { masks }
    }

    /// The ops of one edge in NASLib's op order.
    pub fn ops(&self, cell: usize, edge: usize) -> impl Iterator<Item = Op> + use<> {
        let mask = self.masks[cell][edge];
        Op::ALL.into_iter().filter(move |&op| mask & (1 << op as usize) != 0)
    }

    /// The edges still reaching `target`.
    pub fn incoming(&self, cell: usize, target: usize) -> impl Iterator<Item = usize> + use<> {
        let masks = self.masks[cell];
        (0..target)
            .map(move |s| edge_index(s, target))
            .filter(move |&e| masks[e] != 0)
    }

    pub fn apply(&self, removal: Removal) -> Nb301Supernet {
        let mut out = *self;
        match removal {
            Removal::Op { cell, edge, op } => out.masks[cell][edge] &= !(1 << op as usize),
            Removal::Edge { cell, edge } => out.masks[cell][edge] = 0,
        }
        out
    }

    /// TE-NAS's next round, grouped (a group drops one removal per round):
    /// while an edge holds several ops, one group per such edge with one
    /// removal per op; then, while a node reads more than two edges, one
    /// group per such node with one removal per edge. Empty at a genotype.
    pub fn removal_groups(&self) -> Vec<Vec<Removal>> {
        let mut groups = Vec::new();
        for cell in 0..2 {
            for edge in 0..EDGES_PER_CELL {
                if self.ops(cell, edge).count() > 1 {
                    groups.push(self.ops(cell, edge).map(|op| Removal::Op { cell, edge, op }).collect());
                }
            }
        }
        if !groups.is_empty() {
            return groups;
        }
        for cell in 0..2 {
            for target in NODES {
                if self.incoming(cell, target).count() > 2 {
                    groups.push(
                        self.incoming(cell, target)
                            .map(|edge| Removal::Edge { cell, edge })
                            .collect(),
                    );
                }
            }
        }
        groups
    }

    /// The genotype, when every edge left has one op and every node two
    /// edges (a node's pairs in source order).
    pub fn genotype(&self) -> Option<Nb301Arch> {
        let mut cells = [[(0, Op::MaxPool3x3); PAIRS_PER_CELL]; 2];
        for (cell, pairs) in cells.iter_mut().enumerate() {
            for target in NODES {
                let edges: Vec<usize> = self.incoming(cell, target).collect();
                if edges.len() != 2 {
                    return None;
                }
                for (k, &edge) in edges.iter().enumerate() {
                    let mut ops = self.ops(cell, edge);
                    let op = ops.next()?;
                    if ops.next().is_some() {
                        return None;
                    }
                    pairs[2 * (target - 2) + k] = (edge_nodes(edge).0, op);
                }
            }
        }
        Some(Nb301Arch { cells })
    }

    /// Whether every node reads at least one edge (the network is defined).
    pub fn is_connected(&self) -> bool {
        (0..2).all(|cell| NODES.into_iter().all(|t| self.incoming(cell, t).next().is_some()))
    }
}

impl fmt::Display for Nb301Supernet {
    /// A genotype prints as its Suite-Zero key; otherwise per cell (N
    /// normal, R reduction) and node `target<source:ops`, ops as NASLib's
    /// indices, e.g. `N[2<0:0123456,1:0123456; 3<...] R[...]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(arch) = self.genotype() {
            return arch.fmt(f);
        }
        for (cell, name) in ["N", "R"].into_iter().enumerate() {
            write!(f, "{}{name}[", if cell > 0 { " " } else { "" })?;
            for target in NODES {
                write!(f, "{}{target}<", if target > 2 { "; " } else { "" })?;
                for (k, edge) in self.incoming(cell, target).enumerate() {
                    write!(f, "{}{}:", if k > 0 { "," } else { "" }, edge_nodes(edge).0)?;
                    for op in self.ops(cell, edge) {
                        write!(f, "{}", op as usize)?;
                    }
                }
            }
            write!(f, "]")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_indices_enumerate_the_fourteen_edges() {
        let mut seen = Vec::new();
        for target in NODES {
            for source in 0..target {
                let e = edge_index(source, target);
                assert_eq!(edge_nodes(e), (source, target));
                seen.push(e);
            }
        }
        assert_eq!(seen, (0..EDGES_PER_CELL).collect::<Vec<_>>());
    }

    #[test]
    fn a_genotype_round_trips_through_the_supernet() {
        let key = "[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], \
                   [(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]";
        let arch = Nb301Arch::parse(key).unwrap();
        let s = Nb301Supernet::from_arch(&arch);
        assert!(s.removal_groups().is_empty());
        // Pairs come back in source order per node.
        assert_eq!(
            s.to_string(),
            "[[(0, 0), (1, 5), (0, 1), (1, 1), (0, 3), (1, 3), (1, 3), (3, 2)], \
             [(0, 2), (1, 0), (0, 3), (1, 3), (0, 1), (3, 0), (2, 0), (3, 6)]]"
        );
        assert_eq!(
            Nb301Arch::parse(&s.to_string()).map(|a| Nb301Supernet::from_arch(&a)),
            Ok(s)
        );
    }

    #[test]
    fn pruning_rounds_remove_ops_then_edges() {
        let full = Nb301Supernet::full();
        let groups = full.removal_groups();
        // One group per edge of both cells, 7 ops each.
        assert_eq!(groups.len(), 2 * EDGES_PER_CELL);
        assert!(groups.iter().all(|g| g.len() == 7));
        assert_eq!(full.to_string().matches("0123456").count(), 28);
        // Keep the first op of each edge: then nodes 3, 4, 5 have 3, 4, 5 edges.
        let mut s = full;
        for group in groups {
            for r in &group[1..] {
                s = s.apply(*r);
            }
        }
        let edge_groups = s.removal_groups();
        assert_eq!(edge_groups.iter().map(Vec::len).collect::<Vec<_>>(), [3, 4, 5, 3, 4, 5]);
        assert_eq!(s.genotype(), None);
        // Drop the two highest sources of each node: nodes keep inputs 0 and 1.
        for cell in 0..2 {
            for target in 3..6 {
                for source in 2..target {
                    s = s.apply(Removal::Edge {
                        cell,
                        edge: edge_index(source, target),
                    });
                }
            }
        }
        assert!(s.removal_groups().is_empty());
        assert!(s.is_connected());
        let cell = "[(0, 0), (1, 0), (0, 0), (1, 0), (0, 0), (1, 0), (0, 0), (1, 0)]";
        assert_eq!(s.to_string(), format!("[{cell}, {cell}]"));
    }
}
