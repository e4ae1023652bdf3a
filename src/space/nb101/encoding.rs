//! NB101 cells: the key as NAS-Bench-Suite-Zero's `zc_nasbench101.json`
//! writes it (NASLib's `convert_spec_to_tuple`: the n x n adjacency matrix
//! flattened row by row, then one op code per vertex, n*n + n integers;
//! every cell of the file has n = 7 and is unpruned), nasbench's pruning and
//! validity rules, its graph hash, and its sampler.

use std::fmt;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::md5::md5_hex;

pub const MAX_VERTICES: usize = 7;
pub const MAX_EDGES: usize = 9;

/// NASLib's op codes (`all_ops` in conversions.py).
pub const INPUT: u8 = 0;
pub const OUTPUT: u8 = 1;
pub const MAXPOOL3X3: u8 = 2;
pub const CONV1X1: u8 = 3;
pub const CONV3X3: u8 = 4;
const INTERIOR_OPS: [u8; 3] = [MAXPOOL3X3, CONV1X1, CONV3X3];

/// A cell as spelled (`n` vertices), with its pruned form and hash.
#[derive(Clone, Debug)]
pub struct Nb101Arch {
    pub n: usize,
    pub matrix: [[bool; MAX_VERTICES]; MAX_VERTICES],
    pub ops: [u8; MAX_VERTICES],
    /// nasbench's `ModelSpec` pruning: only vertices on an input-to-output path.
    pub pruned: Pruned,
    /// `graph_util.hash_module` of the pruned cell.
    pub hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pruned {
    pub matrix: Vec<Vec<bool>>,
    pub ops: Vec<u8>,
}

impl Pruned {
    pub fn n(&self) -> usize {
        self.ops.len()
    }
    pub fn edges(&self) -> usize {
        self.matrix.iter().flatten().filter(|&&e| e).count()
    }
}

/// Two spellings of one graph are one architecture (nasbench's hash).
impl PartialEq for Nb101Arch {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
    }
}

impl fmt::Display for Nb101Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items: Vec<String> = Vec::with_capacity(self.n * self.n + self.n);
        for r in 0..self.n {
            items.extend((0..self.n).map(|c| u8::from(self.matrix[r][c]).to_string()));
        }
        items.extend(self.ops[..self.n].iter().map(|o| o.to_string()));
        write!(f, "({})", items.join(", "))
    }
}

fn op_name(op: u8) -> &'static str {
    match op {
        INPUT => "input",
        OUTPUT => "output",
        MAXPOOL3X3 => "maxpool3x3",
        CONV1X1 => "conv1x1-bn-relu",
        _ => "conv3x3-bn-relu",
    }
}

impl Nb101Arch {
    /// Parses a key `(a00, a01, ..., op0, ..., op(n-1))` (brackets optional).
    pub fn parse(key: &str) -> Result<Nb101Arch, String> {
        let err = |msg: String| format!("NB101 key {key}: {msg}");
        let inner = key.trim().trim_start_matches(['(', '[']).trim_end_matches([')', ']']);
        let values: Vec<i64> = inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<i64>().map_err(|_| err(format!("'{s}' is not an integer"))))
            .collect::<Result<_, _>>()?;
        let l = values.len();
        let n = (2..=MAX_VERTICES).find(|n| n * n + n == l).ok_or_else(|| {
            err(format!(
                "{l} values; a cell of n vertices (2 to 7) has n*n + n (6, 12, 20, 30, 42 or 56)"
            ))
        })?;
        let mut matrix = [[false; MAX_VERTICES]; MAX_VERTICES];
        for r in 0..n {
            for c in 0..n {
                match values[r * n + c] {
                    0 => {}
                    1 if c > r => matrix[r][c] = true,
                    1 => {
                        return Err(err(format!(
                            "the adjacency matrix is not upper triangular (edge {r} -> {c})"
                        )));
                    }
                    v => return Err(err(format!("adjacency entry ({r}, {c}) is {v}, expected 0 or 1"))),
                }
            }
        }
        let mut ops = [0u8; MAX_VERTICES];
        for (v, &code) in values[n * n..].iter().enumerate() {
            let expected: &[u8] = if v == 0 {
                &[INPUT]
            } else if v == n - 1 {
                &[OUTPUT]
            } else {
                &INTERIOR_OPS
            };
            match u8::try_from(code).ok().filter(|c| expected.contains(c)) {
                Some(c) => ops[v] = c,
                None => {
                    return Err(err(format!(
                        "unknown op {code} at vertex {v}; expected {}",
                        expected
                            .iter()
                            .map(|&c| format!("{c} ({})", op_name(c)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
        }
        Self::from_parts(n, matrix, ops).map_err(err)
    }

    /// Checks nasbench's rules (output reachable, at most 9 edges after pruning).
    pub fn from_parts(
        n: usize,
        matrix: [[bool; MAX_VERTICES]; MAX_VERTICES],
        ops: [u8; MAX_VERTICES],
    ) -> Result<Nb101Arch, String> {
        let pruned = prune(n, &matrix, &ops).ok_or_else(|| "the output is unreachable from the input".to_string())?;
        let edges = pruned.edges();
        if edges > MAX_EDGES {
            return Err(format!("{edges} edges after pruning, at most {MAX_EDGES}"));
        }
        let hash = hash_module(&pruned);
        Ok(Nb101Arch {
            n,
            matrix,
            ops,
            pruned,
            hash,
        })
    }

    /// nasbench's sampler: every upper-triangular edge and every interior op
    /// uniform, redrawn until the cell is valid.
    pub fn sample(rng: &mut ChaCha8Rng) -> Nb101Arch {
        loop {
            let mut matrix = [[false; MAX_VERTICES]; MAX_VERTICES];
            for (r, row) in matrix.iter_mut().enumerate() {
                for e in row.iter_mut().skip(r + 1) {
                    *e = rng.random_bool(0.5);
                }
            }
            let mut ops = [INPUT; MAX_VERTICES];
            for op in ops.iter_mut().take(MAX_VERTICES - 1).skip(1) {
                *op = INTERIOR_OPS[rng.random_range(0..3)];
            }
            ops[MAX_VERTICES - 1] = OUTPUT;
            if let Ok(a) = Self::from_parts(MAX_VERTICES, matrix, ops) {
                return a;
            }
        }
    }

    /// As a 7-vertex spelling (a smaller cell padded with unconnected
    /// vertices before the output), so that mutation and crossover work
    /// on one gene layout.
    fn padded(&self) -> ([[bool; MAX_VERTICES]; MAX_VERTICES], [u8; MAX_VERTICES]) {
        let mut m = [[false; MAX_VERTICES]; MAX_VERTICES];
        let mut ops = [CONV3X3; MAX_VERTICES];
        let last = MAX_VERTICES - 1;
        let map = |v: usize| if v == self.n - 1 { last } else { v };
        for r in 0..self.n {
            for c in 0..self.n {
                m[map(r)][map(c)] = self.matrix[r][c];
            }
            ops[map(r)] = self.ops[r];
        }
        (m, ops)
    }

    /// nasbench's mutation: each edge flipped and each interior op
    /// replaced by another with probability `p`, redrawn until the cell is
    /// valid and differs from the parent (gives up after 1000 draws and
    /// returns the parent).
    pub fn mutate(&self, p: f64, rng: &mut ChaCha8Rng) -> Nb101Arch {
        let (m0, o0) = self.padded();
        for _ in 0..1000 {
            let (mut m, mut ops) = (m0, o0);
            for (r, row) in m.iter_mut().enumerate() {
                for e in row.iter_mut().skip(r + 1) {
                    if rng.random_bool(p) {
                        *e = !*e;
                    }
                }
            }
            for op in ops.iter_mut().take(MAX_VERTICES - 1).skip(1) {
                if rng.random_bool(p) {
                    let others: Vec<u8> = INTERIOR_OPS.iter().copied().filter(|o| o != op).collect();
                    *op = others[rng.random_range(0..others.len())];
                }
            }
            if let Ok(a) = Self::from_parts(MAX_VERTICES, m, ops)
                && a != *self
            {
                return a;
            }
        }
        self.clone()
    }

    /// Uniform crossover of the 21 edge genes and 5 op genes, redrawn until
    /// valid (gives up after 1000 draws and returns `self`).
    pub fn cross(&self, other: &Nb101Arch, rng: &mut ChaCha8Rng) -> Nb101Arch {
        let (ma, oa) = self.padded();
        let (mb, ob) = other.padded();
        for _ in 0..1000 {
            let mut m = ma;
            let mut ops = oa;
            for r in 0..MAX_VERTICES {
                for c in r + 1..MAX_VERTICES {
                    if rng.random_bool(0.5) {
                        m[r][c] = mb[r][c];
                    }
                }
                if rng.random_bool(0.5) {
                    ops[r] = ob[r];
                }
            }
            if let Ok(a) = Self::from_parts(MAX_VERTICES, m, ops) {
                return a;
            }
        }
        self.clone()
    }
}

/// nasbench `ModelSpec._prune`: keeps the vertices reachable from the input
/// and reaching the output; `None` when the output is unreachable.
pub fn prune(n: usize, matrix: &[[bool; MAX_VERTICES]; MAX_VERTICES], ops: &[u8; MAX_VERTICES]) -> Option<Pruned> {
    let mut from_input = vec![false; n];
    from_input[0] = true;
    for v in 0..n {
        if from_input[v] {
            for w in v + 1..n {
                from_input[w] |= matrix[v][w];
            }
        }
    }
    let mut to_output = vec![false; n];
    to_output[n - 1] = true;
    for v in (0..n).rev() {
        if to_output[v] {
            for u in 0..v {
                to_output[u] |= matrix[u][v];
            }
        }
    }
    if !from_input[n - 1] {
        return None;
    }
    let keep: Vec<usize> = (0..n).filter(|&v| from_input[v] && to_output[v]).collect();
    Some(Pruned {
        matrix: keep
            .iter()
            .map(|&r| keep.iter().map(|&c| matrix[r][c]).collect())
            .collect(),
        ops: keep.iter().map(|&v| ops[v]).collect(),
    })
}

/// nasbench `graph_util.hash_module` with its labels (`-1` input, `-2`
/// output, the index in [conv3x3, conv1x1, maxpool3x3] otherwise).
pub fn hash_module(cell: &Pruned) -> String {
    let n = cell.n();
    let label = |op: u8| match op {
        INPUT => -1,
        OUTPUT => -2,
        CONV3X3 => 0,
        CONV1X1 => 1,
        _ => 2,
    };
    let m = &cell.matrix;
    let mut hashes: Vec<String> = (0..n)
        .map(|v| {
            let out_edges = m[v].iter().filter(|&&e| e).count();
            let in_edges = (0..n).filter(|&u| m[u][v]).count();
            // Python's str() of the tuple (out, in, label).
            md5_hex(format!("({out_edges}, {in_edges}, {})", label(cell.ops[v])).as_bytes())
        })
        .collect();
    for _ in 0..n {
        hashes = (0..n)
            .map(|v| {
                let mut ins: Vec<&str> = (0..n).filter(|&w| m[w][v]).map(|w| hashes[w].as_str()).collect();
                let mut outs: Vec<&str> = (0..n).filter(|&w| m[v][w]).map(|w| hashes[w].as_str()).collect();
                ins.sort_unstable();
                outs.sort_unstable();
                md5_hex(format!("{}|{}|{}", ins.concat(), outs.concat(), hashes[v]).as_bytes())
            })
            .collect();
    }
    hashes.sort_unstable();
    let listed: Vec<String> = hashes.iter().map(|h| format!("'{h}'")).collect();
    md5_hex(format!("[{}]", listed.join(", ")).as_bytes())
}

/// nasbench `compute_vertex_channels`: the output's channels split over the
/// vertices feeding it (the first ones get the remainder), an interior
/// vertex as wide as the widest vertex it feeds.
pub fn vertex_channels(cin: usize, cout: usize, cell: &Pruned) -> Vec<usize> {
    let n = cell.n();
    let m = &cell.matrix;
    let mut ch = vec![0; n];
    ch[0] = cin;
    ch[n - 1] = cout;
    if n == 2 {
        return ch;
    }
    let in_degree = (1..n).filter(|&v| m[v][n - 1]).count().max(1);
    let mut correction = cout % in_degree;
    for v in 1..n - 1 {
        if m[v][n - 1] {
            ch[v] = cout / in_degree;
            if correction > 0 {
                ch[v] += 1;
                correction -= 1;
            }
        }
    }
    for v in (1..n.saturating_sub(2)).rev() {
        if !m[v][n - 1] {
            for dst in v + 1..n - 1 {
                if m[v][dst] {
                    ch[v] = ch[v].max(ch[dst]);
                }
            }
        }
    }
    ch
}
